// The in-thread Recommender over an injected ONNX backend: runtime/index.ts gives it onnxruntime-web
// (createRecommender), Node code gives it onnxruntime-node (models/, tests, bench) — same code either way.
// Calls are chained: a second call waits for the first, so runs on one ORT session never overlap.
import { NotLoadedError, toRuntimeError } from './errors.ts';
import { checkLoadArguments } from './arguments.ts';
import { fetchBundle } from './loader.ts';
import type { BundleModels, Sessions } from './sessions.ts';
import type { Device, HistoryItem, LoadInfo, LoadOptions, Recommender, RecommendOptions, RecommendResult, ScoreOptions, ScoreResult } from './recommender.ts';

export interface RuntimeBackend {
  /** Sessions for the verified bundle on the device asked for (the backend's own EP order and fallback). */
  createSessions(models: BundleModels, options: { device: Device; threads: number; gpuDecoder: boolean; wasmDecoder: boolean }): Promise<Sessions>;
  fetch?: typeof fetch; // for Node: a fetch that also reads file: URLs
}

export function createRecommenderWith(backend: RuntimeBackend): Recommender {
  let sessions: Sessions | null = null;
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
  const loaded = (call: string): Sessions => {
    if (!sessions) throw new NotLoadedError(call);
    return sessions;
  };

  return {
    load: (bundleUrl: string, loadOptions: LoadOptions = {}): Promise<LoadInfo> => chain('load', async () => {
      const t0 = performance.now();
      const options = checkLoadArguments(bundleUrl, loadOptions);
      const bundle = await fetchBundle(bundleUrl, { fetch: backend.fetch, cache: options.cache, onProgress: options.onProgress });
      options.onProgress?.({ progress: 1, text: 'creating ONNX sessions' });
      const next = await backend.createSessions(bundle.models, { device: options.device ?? 'auto', threads: options.threads ?? 1, gpuDecoder: options.gpuDecoder ?? true, wasmDecoder: options.wasmDecoder ?? true });
      await sessions?.release();
      sessions = next;
      options.onProgress?.({ progress: 1, text: `ready on ${next.executionProvider}${next.decoderBackend === 'wgsl' ? ' (seed model in WGSL)' : next.decoderBackend === 'wasm-simd' ? ' (seed model in wasm SIMD kernels)' : ''}` });
      return {
        name: bundle.manifest.name,
        executionProvider: next.executionProvider,
        decoder: next.decoderBackend,
        rewardBackend: next.rewardBackend,
        kernelThreads: next.kernelThreads,
        fallbackReasons: [...next.fallbackReasons],
        fromCache: bundle.fromCache,
        fromNetwork: bundle.fromNetwork,
        warnings: bundle.warnings,
        items: bundle.models.trie.itemCount,
        towers: bundle.models.towers,
        loadMs: performance.now() - t0,
      };
    }),
    recommend: (history: HistoryItem[], options?: RecommendOptions): Promise<RecommendResult> =>
      chain('recommend', async () => loaded('recommend').recommend(history, options)),
    score: (history: HistoryItem[], sessionsToScore: HistoryItem[][], options?: ScoreOptions): Promise<ScoreResult> =>
      chain('score', async () => loaded('score').score(history, sessionsToScore, options)),
    dispose: (): Promise<void> => chain('dispose', async () => {
      await sessions?.release();
      sessions = null;
    }),
  };
}
