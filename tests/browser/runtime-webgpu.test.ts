import { runtimeSpec } from './runtime-spec.ts';

// WebGPU here is SwiftShader (software, ~2 s per recommendation): other reduction orders than the CPU
// kernels, so log-probs within 1e-3 and beams compared where that cannot reorder them; two histories
// (one a cold start) per check and 10 runs for the memory check keep the file near a minute and a half.
runtimeSpec({ device: 'webgpu', logProbTolerance: 1e-3, exactItems: false, memoryRuns: 10, memoryBoundBytes: 64 * 2 ** 20, histories: 2 });
