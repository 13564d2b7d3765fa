import { runtimeSpec } from './runtime-spec.ts';

// WebGPU here is SwiftShader (software, ~2 s per recommendation): other reduction orders than the CPU
// kernels, so log-probs within 1e-3 and sessions compared where that cannot reorder them; one history
// per check (the wasm spec covers cold start) and 5 runs for the memory check keep the file near two minutes.
runtimeSpec({ device: 'webgpu', logProbTolerance: 1e-3, exactItems: false, memoryRuns: 5, memoryBoundBytes: 64 * 2 ** 20, histories: 1 });
