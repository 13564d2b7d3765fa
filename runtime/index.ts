// Public entry of the on-device runtime (re-exports, plus the in-thread factory over onnxruntime-web).
//
//   import { createWorkerRecommender } from 'onerec-web/worker'; // or createRecommender() from 'onerec-web', in-thread
//   const recommender = createWorkerRecommender();
//   await recommender.load('/bundles/beauty/', { device: 'auto', onProgress: ({ progress, text }) => … });
//   const { sessions, coldStart, rankedBy } = await recommender.recommend(['B00EXAMPLE', 42]);
//
// The worker bundle (dist/worker.js) and onnxruntime-web's files (dist/ort/) come from `npm run build`;
// serve them cross-origin isolated (runtime-node/serve.ts) for wasm threads.
import { createRecommenderWith } from './local-recommender.ts';
import { createWebRunner, defaultWasmPaths } from './onnx.ts';
import type { Recommender } from './recommender.ts';
import type { SpawnWasmHelper, WasmHelperInit } from './wasm-decoder.ts';

export type * from './recommender.ts';
export {
  RuntimeError, BundleFetchError, BundleIntegrityError, BundleFormatError, BundleVersionError, InvalidDeviceError, WebGpuUnavailableError,
  NoBackendError, NotLoadedError, InvalidArgumentError, WorkerTerminatedError, InferenceError, OutOfMemoryError,
  RUNTIME_ERROR_NAMES, INTERNAL_ERROR_NAMES, toRuntimeError, type RuntimeErrorName,
} from './errors.ts';
export { RUNTIME_LIMITS } from './limits.ts';
export { hasBundleInCache, deleteBundleFromCache } from './cache.ts';
export { manifestUrlOf } from './loader.ts';
export { deviceToExecutionProviders } from './onnx.ts';

/**
 * The in-thread Recommender (onnxruntime-web). `wasmPaths`: URL prefix of onnxruntime-web's ort-wasm-*.mjs/.wasm files,
 * default ./ort/ next to this module (fetched only when a graph runs on onnxruntime-web, not when the runtime's own
 * kernels run the bundle). Helper threads of the kernels, for LoadOptions.threads > 1 in a cross-origin isolated worker:
 * `spawnWasmHelper` starts one (worker/worker.ts passes one that writes `new Worker(new URL('./wasm-helper.js',
 * import.meta.url))` literally, so that bundlers follow it), or `wasmHelperUrl` names the helper script to start.
 */
export function createRecommender(options: { wasmPaths?: string; wasmHelperUrl?: string | URL; spawnWasmHelper?: SpawnWasmHelper } = {}): Recommender {
  const wasmPaths = options.wasmPaths ?? defaultWasmPaths();
  const helperUrl = options.wasmHelperUrl;
  const spawnWasmHelper = options.spawnWasmHelper ?? (helperUrl === undefined ? undefined : (init: WasmHelperInit) => {
    const worker = new Worker(helperUrl, { type: 'module', name: 'onerec wasm kernels' });
    worker.postMessage(init);
    return { terminate: () => worker.terminate() };
  });
  return createRecommenderWith({
    createRunner: (models, { device, threads, engine, gpuDecoder, wasmDecoder, probe }) => createWebRunner(models, device, { threads, wasmPaths, engine, gpuDecoder, wasmDecoder, spawnWasmHelper, probe }),
  });
}
