// What the worker exposes over comlink: the in-thread Recommender with its progress callback taken as a
// separate argument (comlink proxies top-level arguments only) and its results' typed arrays transferred.
import { transfer } from 'comlink';
import { createRecommender } from '../runtime/index.ts';
import type { HistoryItem, LoadInfo, LoadOptions, ProgressReport, RecommendOptions, RecommendResult, ScoreOptions, ScoreResult } from '../runtime/recommender.ts';

export type WorkerLoadOptions = Omit<LoadOptions, 'onProgress'>;

export interface WorkerEndpoint {
  load(bundleUrl: string, options: WorkerLoadOptions, onProgress?: (report: ProgressReport) => void): Promise<LoadInfo>;
  recommend(history: HistoryItem[], options?: RecommendOptions): Promise<RecommendResult>;
  score(history: HistoryItem[], sessions: HistoryItem[][], options?: ScoreOptions): Promise<ScoreResult>;
  dispose(): Promise<void>;
}

/** `wasmHelperUrl`: the kernels' helper-thread script (worker/worker.ts passes dist/wasm-helper.js, its neighbour). */
export function workerEndpoint(wasmHelperUrl?: URL): WorkerEndpoint {
  const recommender = createRecommender({ wasmHelperUrl });
  return {
    load: (bundleUrl, options, onProgress) => recommender.load(bundleUrl, { ...options, onProgress }),
    async recommend(history, options) {
      const result = await recommender.recommend(history, options);
      const buffers = result.sessions.flatMap((s) => [s.items.buffer, ...(s.towers ? [s.towers.buffer] : [])]);
      return transfer(result, buffers as ArrayBuffer[]);
    },
    async score(history, sessions, options) {
      const result = await recommender.score(history, sessions, options);
      const buffers = [result.logProb, result.towers, result.reward].flatMap((a) => (a ? [a.buffer] : []));
      return transfer(result, buffers as ArrayBuffer[]);
    },
    dispose: () => recommender.dispose(),
  };
}
