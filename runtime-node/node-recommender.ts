// The runtime/ Recommender in Node: the same code the browser worker runs (runtime/bundle-runner.ts,
// runtime/beam-search.ts), with ONNX Runtime injected — onnxruntime-web's wasm backend (models/onnx-runtime.ts), or the
// module given as `onnxRuntime` (onnxruntime-node for its native CPU EP or its WebGPU EP). Used by the parity tests,
// bench/recommend.ts, and the evaluations that must measure what the browser runs: `onerec eval --bundle`
// (models/export/evaluate.ts), `onerec align --evalBundles` (models/align/bundle-eval.ts) and the history-bias fit
// (models/export/history-bias.ts), all on `engine: 'auto'` — the runtime's wasm kernels, as a browser without WebGPU runs them.
//
//   const recommender = createNodeRecommender();            // onnxruntime-web's wasm EP
//   await recommender.load('models/bundles/beauty');         // a folder, a manifest path or a URL
//   const { sessions } = await recommender.recommend([12, 7, 40]);
//   createNodeRecommender({ gpuDevice: (await openDevice()).device });   // the seed model in WGSL on Dawn
//   createNodeRecommender({ engine: 'wasm' });                // the seed model in the runtime's wasm SIMD kernels
//   createNodeRecommender({ onnxRuntime: await import('onnxruntime-node'), executionProviders: ['webgpu', 'cpu'] });
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { createRecommenderWith } from '../runtime/local-recommender.ts';
import { createBundleRunner } from '../runtime/backends.ts';
import type { OrtModule } from '../runtime/onnx-decoder-session.ts';
import { wasmOrt } from '../models/onnx-runtime.ts';
import type { EngineModelConfig } from '../runtime/model-config.ts';
import type { Engine, LoadInfo, LoadOptions, Recommender } from '../runtime/recommender.ts';
import { WasmDecoder } from '../runtime/wasm-decoder.ts';
import type { SpawnWasmHelper } from '../runtime/wasm-threads.ts';

/**
 * A helper thread of the wasm kernels in Node: runtime-node/wasm-helper-node.ts on worker_threads (as .js where this file
 * is compiled; from TypeScript, through tsx's loader registered in the thread: workers do not inherit `--import tsx`).
 */
export const spawnNodeWasmHelper: SpawnWasmHelper = (init) => {
  const extension = extname(fileURLToPath(import.meta.url));
  const entry = new URL(`./wasm-helper-node${extension}`, import.meta.url);
  const worker = extension === '.ts'
    ? new Worker(`import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); })`, { eval: true, workerData: init })
    : new Worker(entry, { workerData: init });
  worker.unref(); // blocked in Atomics.wait between steps: it must not keep the process alive
  return { terminate: () => void worker.terminate() };
};

/** fetch() that also reads file: URLs (Node's own fetch does not). */
export async function fileAwareFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
  if (url.protocol !== 'file:') return fetch(input, init);
  try {
    return new Response(await readFile(url));
  } catch (err) {
    return new Response(String(err), { status: 404, statusText: 'Not Found' });
  }
}

export interface NodeRecommenderOptions {
  /**
   * The ONNX Runtime module that runs the graphs, e.g. `await import('onnxruntime-node')` (install it yourself: its
   * install script downloads from outside the npm registry unless `allowScripts` denies it). Default: onnxruntime-web's
   * wasm backend (models/onnx-runtime.ts), which the package carries.
   */
  onnxRuntime?: OrtModule;
  /**
   * Execution providers of that module in order, e.g. ['cpu'] or ['webgpu', 'cpu'] for onnxruntime-node; default
   * ['wasm'] (onnxruntime-web's, also where onnxruntime-node is loaded: 'cpu' is then onnxruntime-node's), ['cpu'] with `onnxRuntime`.
   */
  executionProviders?: string[];
  /**
   * CPU threads per session, and for the wasm kernels their threads; default 1 (the machines here are shared; the
   * browser comparison uses 1 too). onnxruntime-web's wasm backend takes its threads once per process, from the first
   * recommender or OnnxSeedModel that starts it.
   */
  threads?: number;
  /** Run the seed model (encoder and decoder steps) as WGSL on this WebGPU device (runtime/webgpu-decoder.ts; Dawn: models/engine/device.ts openDevice); the reward model then runs on the wasm kernels (runtime/wasm-reward.ts), or on the EPs above where they cannot read it. */
  gpuDevice?: GPUDevice;
  /**
   * Which engine runs the seed model (runtime/backends.ts): 'wasm', the runtime's WebAssembly SIMD kernels as the
   * browser runs them on wasm (the reward model too, runtime/wasm-reward.ts); 'wgsl', the WGSL model on `gpuDevice`;
   * 'onnxruntime', the graphs on the EPs above; 'auto', those in that order (wgsl only with a gpuDevice). A named
   * engine that cannot run the bundle fails load() with NoBackendError. Default: 'onnxruntime', with the WGSL model
   * first where `gpuDevice` is given.
   */
  engine?: Engine;
  /** @deprecated use `engine: 'auto'`; read for one release. true: the wasm kernels first, then onnxruntime. */
  wasmDecoder?: boolean;
}

/** A Recommender whose load() takes a folder or manifest path (or any URL) and ignores `device` and `engine` (the options above choose). */
export function createNodeRecommender(options: NodeRecommenderOptions = {}): Recommender {
  const eps = options.executionProviders ?? (options.onnxRuntime ? ['cpu'] : ['wasm']);
  const inner = createRecommenderWith({
    createRunner: (models) => createBundleRunner(options.onnxRuntime ?? wasmOrt(options.threads ?? 1).ort, models, eps, { intraOpNumThreads: options.threads ?? 1, interOpNumThreads: 1 }, { engine: options.engine, gpuDevice: options.gpuDevice, wasmDecoder: options.wasmDecoder, wasmThreads: options.threads ?? 1, spawnWasmHelper: spawnNodeWasmHelper }),
    fetch: fileAwareFetch as typeof fetch,
  });
  return {
    ...inner,
    load: (bundle: string, loadOptions?: LoadOptions): Promise<LoadInfo> =>
      // A URL (a scheme of two letters or more, so that C:\ stays a path) or anything but a non-empty path goes to the
      // runtime as it is, whose argument check names it; a path is taken relative to the working directory.
      inner.load(typeof bundle !== 'string' || bundle.trim() === '' || /^[a-z][a-z\d+.-]+:/i.test(bundle) ? bundle : pathToFileURL(bundle).href, { ...loadOptions, cache: false }),
  };
}

/**
 * The seed model alone on the engine createNodeRecommender({ engine: 'auto' }) runs on the CPU, the runtime's wasm kernels
 * (runtime/wasm-decoder.ts), for what the Recommender does not expose: a teacher-forced decoder
 * (`sessionFromTokens(encoderTokens, rows)`, code log-probabilities per step) for the history-bias fit. `members`: the
 * model's config, or an ensemble's members' (manifest.ensemble). A graph the kernels cannot read is a WasmDecoderError.
 */
export function createNodeSeedEngine(graphs: { encoder: Uint8Array; decoderStep: Uint8Array }, members: EngineModelConfig[], threads = 1): Promise<WasmDecoder> {
  return WasmDecoder.create(graphs.decoderStep, graphs.encoder, members, { threads, spawnHelper: spawnNodeWasmHelper });
}
