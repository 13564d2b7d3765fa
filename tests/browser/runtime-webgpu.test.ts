import { runtimeSpec } from './runtime-spec.ts';

// WebGPU here is SwiftShader (software): other reduction orders than the CPU kernels, so log-probs within 1e-3 and
// sessions compared where that cannot reorder them; one history per check (the wasm spec covers cold start). The
// WGSL model takes ~0.3 s per recommendation here, so 100 runs check the memory of its GPU buffers and mappings.
// Slow tier: that test alone is 110 recommendations on SwiftShader, which shares the machine's two cores with the
// other test worker — over 60 s, and at a load average of 10 it ran into its 180 s timeout. The bound is 64 MiB over
// 100 calls, a leak of 0.64 MiB per call; fewer calls would let larger leaks through.
runtimeSpec({ device: 'webgpu', logProbTolerance: 1e-3, exactItems: false, memoryRuns: 100, memoryBoundBytes: 64 * 2 ** 20, histories: 1 });
