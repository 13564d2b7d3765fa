// What the worker exposes over comlink: the in-thread Recommender with its progress callback taken as a
// separate argument (comlink proxies top-level arguments only) and its results' typed arrays transferred.
import { transfer } from 'comlink';
import { createRecommender } from '../runtime/index.ts';
import type { HistoryItem, LoadInfo, LoadOptions, ProgressReport, Recommender, RecommendOptions, RecommendResult, ScoreOptions, ScoreResult } from '../runtime/recommender.ts';
import type { SpawnWasmHelper } from '../runtime/wasm-decoder.ts';

export type WorkerLoadOptions = Omit<LoadOptions, 'onProgress'>;

/** What the page says about its files before the first call (worker/client.ts WorkerRecommenderOptions). */
export interface WorkerSetup {
  wasmPaths?: string; // absolute URL prefix of onnxruntime-web's ort-wasm-*.mjs/.wasm files
}

export interface WorkerEndpoint {
  /** Called once, first, by the client; the recommender is made on the first call after it. */
  configure(setup: WorkerSetup): void;
  load(bundleUrl: string, options: WorkerLoadOptions, onProgress?: (report: ProgressReport) => void): Promise<LoadInfo>;
  recommend(history: HistoryItem[], options?: RecommendOptions): Promise<RecommendResult>;
  score(history: HistoryItem[], sessions: HistoryItem[][], options?: ScoreOptions): Promise<ScoreResult>;
  dispose(): Promise<void>;
}

/** `spawnWasmHelper`: starts a helper thread of the kernels (worker/worker.ts: wasm-helper.js, its neighbour). */
export function workerEndpoint(spawnWasmHelper?: SpawnWasmHelper): WorkerEndpoint {
  let setup: WorkerSetup = {};
  let made: Recommender | null = null;
  const recommender = (): Recommender => (made ??= createRecommender({ wasmPaths: setup.wasmPaths, spawnWasmHelper }));
  return {
    configure: (next) => { setup = next; },
    load: (bundleUrl, options, onProgress) => recommender().load(bundleUrl, { ...options, onProgress }),
    async recommend(history, options) {
      const result = await recommender().recommend(history, options);
      const buffers = result.sessions.flatMap((s) => [s.items.buffer, ...(s.towers ? [s.towers.buffer] : [])]);
      return transfer(result, buffers as ArrayBuffer[]);
    },
    async score(history, sessions, options) {
      const result = await recommender().score(history, sessions, options);
      const buffers = [result.logProb, result.towers, result.reward].flatMap((a) => (a ? [a.buffer] : []));
      return transfer(result, buffers as ArrayBuffer[]);
    },
    dispose: () => made?.dispose() ?? Promise.resolve(),
  };
}
