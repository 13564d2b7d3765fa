// The in-thread Recommender over an injected ONNX backend: runtime/index.ts gives it onnxruntime-web
// (createRecommender), Node code gives it onnxruntime-node (models/, tests, bench) — same code either way.
// Calls are chained: a second call waits for the first, so runs on one ORT session never overlap.
import { NotLoadedError, toRuntimeError } from './errors.ts';
import { checkLoadArguments } from './arguments.ts';
import { fetchBundle } from './loader.ts';
import type { BundleRunner } from './bundle-runner.ts';
import type { BundleModels } from './loader.ts';
import type { Device, Engine, HistoryItem, LoadInfo, LoadOptions, Recommender, RecommendOptions, RecommendResult, ScoreOptions, ScoreResult } from './recommender.ts';

/** The engine choice of one load: `engine`, or the deprecated booleans (LoadOptions). */
export interface RunnerOptions {
  device: Device;
  threads: number;
  engine?: Engine;
  gpuDecoder?: boolean; // deprecated
  wasmDecoder?: boolean; // deprecated
  probe?: boolean; // LoadOptions.probe: false skips the load-time timing of WGSL against the wasm kernels
}

export interface RuntimeBackend {
  /** A runner for the verified bundle on the device and engine asked for (the backend's own candidate list: runtime/backends.ts). */
  createRunner(models: BundleModels, options: RunnerOptions): Promise<BundleRunner>;
  fetch?: typeof fetch; // for Node: a fetch that also reads file: URLs
}

export function createRecommenderWith(backend: RuntimeBackend): Recommender {
  let runner: BundleRunner | null = null;
  let queue: Promise<unknown> = Promise.resolve();
  // Every call rejects only with runtime/errors.ts's classes: toRuntimeError turns anything else (an onnxruntime or
  // kernel error, an allocation failure) into an InferenceError or OutOfMemoryError naming the call.
  const chain = <T>(name: string, call: () => Promise<T>): Promise<T> => {
    const guarded = (): Promise<T> => call().catch((err: unknown) => {
      throw toRuntimeError(err, name);
    });
    const result = queue.then(guarded, guarded);
    queue = result.catch(() => undefined);
    return result;
  };
  const loaded = (call: string): BundleRunner => {
    if (!runner) throw new NotLoadedError(call);
    return runner;
  };

  return {
    load: (bundleUrl: string, loadOptions: LoadOptions = {}): Promise<LoadInfo> => chain('load', async () => {
      const t0 = performance.now();
      const options = checkLoadArguments(bundleUrl, loadOptions);
      const bundle = await fetchBundle(bundleUrl, { fetch: backend.fetch, cache: options.cache, catalog: options.catalog, onProgress: options.onProgress });
      options.onProgress?.({ progress: 1, text: 'creating ONNX sessions' });
      const t1 = performance.now();
      const next = await backend.createRunner(bundle.models, { device: options.device ?? 'auto', threads: options.threads ?? 1, engine: options.engine, gpuDecoder: options.gpuDecoder, wasmDecoder: options.wasmDecoder, probe: options.probe });
      const runnerMs = performance.now() - t1;
      await runner?.release();
      runner = next;
      options.onProgress?.({ progress: 1, text: `ready on ${next.executionProvider}${next.decoderBackend === 'wgsl' ? ' (seed model in WGSL)' : next.decoderBackend === 'wasm-simd' ? ' (seed model in wasm SIMD kernels)' : ''}` });
      return {
        name: bundle.manifest.name,
        manifestUrl: bundle.manifestUrl,
        manifest: bundle.manifest,
        catalog: bundle.catalog,
        executionProvider: next.executionProvider,
        decoder: next.decoderBackend,
        rewardBackend: next.rewardBackend,
        kernelThreads: next.kernelThreads,
        fallbackReasons: [...next.fallbackReasons],
        probe: next.probe && { ...next.probe },
        fromCache: bundle.fromCache,
        fromNetwork: bundle.fromNetwork,
        warnings: bundle.warnings,
        items: bundle.models.trie.itemCount,
        towers: bundle.models.towers,
        loadMs: performance.now() - t0,
        timings: { ...bundle.timings, runnerMs },
      };
    }),
    recommend: (history: HistoryItem[], options?: RecommendOptions): Promise<RecommendResult> =>
      chain('recommend', async () => loaded('recommend').recommend(history, options)),
    score: (history: HistoryItem[], sessionsToScore: HistoryItem[][], options?: ScoreOptions): Promise<ScoreResult> =>
      chain('score', async () => loaded('score').score(history, sessionsToScore, options)),
    dispose: (): Promise<void> => chain('dispose', async () => {
      await runner?.release();
      runner = null;
    }),
  };
}
