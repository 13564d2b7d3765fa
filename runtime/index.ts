// Public entry of the on-device runtime (re-exports only, plus the in-thread factory over onnxruntime-web).
import { createRecommenderWith } from './local-recommender.ts';
import { createWebSessions, defaultWasmPaths } from './onnx.ts';
import type { Recommender } from './recommender.ts';

export type * from './recommender.ts';
export * from './errors.ts';
export { hasBundleInCache, deleteBundleFromCache } from './cache.ts';
export { manifestUrlOf } from './loader.ts';
export { deviceToExecutionProviders } from './onnx.ts';

/** The in-thread Recommender (onnxruntime-web). `wasmPaths`: URL prefix of the ort-wasm files, default ./ort/. */
export function createRecommender(options: { wasmPaths?: string } = {}): Recommender {
  const wasmPaths = options.wasmPaths ?? defaultWasmPaths();
  return createRecommenderWith({
    createSessions: (models, { device, threads }) => createWebSessions(models, device, { threads, wasmPaths }),
  });
}
