import { runtimeSpec } from './runtime-spec.ts';

// WebGPU here is SwiftShader (software): other reduction orders than the CPU kernels, so log-probs within 1e-3 and
// sessions compared where that cannot reorder them; one history per check (the wasm spec covers cold start). The
// WGSL model takes ~0.3 s per recommendation here, so 100 runs check the memory of its GPU buffers and mappings.
runtimeSpec({ device: 'webgpu', logProbTolerance: 1e-3, exactItems: false, memoryRuns: 100, memoryBoundBytes: 64 * 2 ** 20, histories: 1 });
