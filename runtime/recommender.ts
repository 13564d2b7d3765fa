// The Recommender interface: one interface, two implementations — in-thread (`createRecommender`,
// runtime/index.ts) and behind a Web Worker (`createWorkerRecommender`, worker/client.ts), so callers move
// generation off the main thread without other changes. Only plain objects and typed arrays appear here,
// so every value crosses the worker boundary by structured clone (typed arrays are transferred).
import type { BundleManifest, CatalogEntry } from './bundle.ts';

/** Where the ONNX graphs run. 'auto' tries WebGPU, then wasm. */
export type Device = 'auto' | 'webgpu' | 'wasm';

/**
 * Which engine runs the seed model (encoder and decoder steps): 'auto' (default) tries the runtime's WGSL model on
 * WebGPU, then onnxruntime's WebGPU EP, then the runtime's wasm SIMD kernels, then onnxruntime's wasm EP (as `device`
 * allows); 'wgsl' and 'wasm' run only that engine of the runtime's, 'onnxruntime' every graph on onnxruntime.
 */
export type Engine = 'auto' | 'wgsl' | 'wasm' | 'onnxruntime';

/**
 * What runs the seed model (encoder and decoder steps): 'wgsl', the runtime's WGSL model on WebGPU (the reward model in
 * WGSL too); 'wasm-simd', the runtime's WebAssembly SIMD kernels on the CPU (the reward model on them too); or 'onnx',
 * the bundle's graphs on the execution provider. LoadInfo.rewardBackend says where the reward model runs.
 */
export type DecoderBackend = 'wgsl' | 'wasm-simd' | 'onnx';

/** A loading report: `progress` in [0, 1] over all bytes of the bundle, `text` for people. */
export interface ProgressReport {
  progress: number;
  text: string;
}

export interface LoadOptions {
  device?: Device; // default 'auto'
  onProgress?: (report: ProgressReport) => void;
  /**
   * wasm threads (needs cross-origin isolation: COOP same-origin + COEP require-corp); default 1. The wasm kernels split
   * each decoder step's beams among them (helper workers; in a worker recommender only), onnxruntime-web its graphs.
   */
  threads?: number;
  /** false: do not read or write the IndexedDB model cache (always fetch). Default true. */
  cache?: boolean;
  /**
   * true: also fetch the bundle's display catalog (titles, attributes; catalog.bin) into LoadInfo.catalog. Default false:
   * generation needs only items.bin (ids and semantic IDs), and an app with its own item service skips the catalog's bytes.
   */
  catalog?: boolean;
  /**
   * Which engine runs the seed model; default 'auto' (see Engine). With the runtime's own engines (WGSL, wasm kernels)
   * the reward model runs on the same engine, so onnxruntime-web's wasm is not even fetched. LoadInfo.decoder says
   * which ran, LoadInfo.fallbackReasons why the ones before it did not. A named engine that cannot run the bundle is a
   * NoBackendError.
   */
  engine?: Engine;
  /**
   * @deprecated since the engine option; read for one release. false = `engine: 'auto'` without the WGSL model
   * (onnxruntime's WebGPU EP runs every graph on WebGPU). Not allowed together with `engine`.
   */
  gpuDecoder?: boolean;
  /**
   * @deprecated since the engine option; read for one release. false = `engine: 'auto'` without the wasm kernels
   * (onnxruntime's wasm EP runs every graph on wasm). Not allowed together with `engine`.
   */
  wasmDecoder?: boolean;
  /**
   * false: no load-time probe. With `device: 'auto'` (engine 'auto') on a hardware adapter, load() builds both the WGSL
   * model and the wasm kernels, times one small recommendation on each (LoadInfo.probe), keeps the faster and releases
   * the other (runtime/backends.ts probedCandidate). Default true; a named device or engine never probes.
   */
  probe?: boolean;
}

/** LoadInfo.probe: the load-time timing that chose between the WGSL model and the wasm kernels. */
export interface BackendProbe {
  wgslMs: number; // best timed call on the WGSL model, ms: the encoder and `levels` decoder steps at the bundle's beam width
  wasmMs: number; // the same call on the wasm kernels, ms
  rounds: number; // timed calls per engine after one warm-up each: 3, fewer where warm-ups and calls pass 150 ms (1 at least)
  chosen: 'wgsl' | 'wasm-simd'; // 'wasm-simd' only when wgslMs > PROBE_MARGIN × wasmMs: near-ties keep WebGPU
  probeMs: number; // what the probe added to load(): the kernels' build, the warm-ups, the timed calls, the loser's release
}

export type { BundleManifest, CatalogEntry } from './bundle.ts';

/** Where load()'s time went, ms (wall time on the thread that loads: the worker's, behind a worker recommender). */
export interface LoadTimings {
  manifestMs: number; // fetching (or reading the cached) manifest.json and validating it
  readMs: number; // the files' bytes: IndexedDB reads, and network fetches of what was not cached
  sha256Ms: number; // hashing them against the manifest (with the ONNX files' structure check on a network fetch)
  cacheWriteMs: number; // storing fetched files in IndexedDB
  itemsMs: number; // decoding items.bin: codes and external ids
  trieMs: number; // building the prefix trie from the codes
  checkMs: number; // the graphs' inputs and outputs against the manifest, and the display catalog when fetched
  runnerMs?: number; // the engines (kernels compiled, sessions created) and the runner's item tables; in LoadInfo only
}

export interface LoadInfo {
  name: string; // the bundle's name (manifest)
  manifestUrl: string; // the manifest's absolute URL (the files' URLs resolve against it)
  manifest: BundleManifest; // the bundle's manifest.json, validated (runtime/bundle.ts): model config, files, reward towers, …
  // [items] the bundle's display catalog (id, title, attributes), index = item index, when load() asked for it
  // (LoadOptions.catalog) and the bundle has one; else null — recommend() still returns each item's external id.
  catalog: CatalogEntry[] | null;
  executionProvider: string; // the onnxruntime EP that runs the ONNX graphs, 'webgpu' or 'wasm'
  decoder: DecoderBackend;
  /**
   * What runs reward.onnx: 'wgsl', the runtime's WGSL on the seed model's device (with decoder 'wgsl'); 'wasm-simd',
   * the runtime's kernels (with decoder 'wasm-simd', or 'wgsl' where the WGSL reward model cannot run the graph) — with
   * either onnxruntime-web's wasm is not even fetched; 'onnx'; or null for a bundle without a reward model.
   */
  rewardBackend: 'wgsl' | 'wasm-simd' | 'onnx' | null;
  /** Threads running the wasm kernels' decoder steps: LoadOptions.threads where cross-origin isolated in a worker, else 1. */
  kernelThreads: number;
  fallbackReasons: string[]; // `[ep] reason` for every EP tried before it
  probe: BackendProbe | null; // the load-time timing of WGSL against the wasm kernels, when one ran (LoadOptions.probe)
  fromCache: string[]; // roles whose bytes came from IndexedDB
  fromNetwork: string[]; // roles fetched over the network
  warnings: string[]; // cache problems that fell back to the network, etc.
  items: number; // items the bundle can recommend (items.bin)
  towers: string[]; // reward tower names ([] without a reward model)
  loadMs: number;
  timings: LoadTimings; // where loadMs went
}

/** A history entry: an item index (0..items-1) or an external id from the catalog (ASIN, video id). */
export type HistoryItem = number | string;

export interface RecommendOptions {
  sessionLength?: number; // items per session; default the manifest's generation.sessionLength
  beamWidth?: number; // beams kept per decoder step; default the manifest's generation.beamWidth
  candidates?: number; // how many of the final beams are reranked and returned; default all of them
  rerank?: boolean; // false: keep beam order (log-probability) even when the bundle has a reward model; default true
  excludeHistory?: boolean; // true: never recommend an item already in the history; default true
  // Apply the bundle's repeat-awareness layer (manifest historyBias). Default: only when the history is not excluded —
  // the layer demotes history paths, which the exclusion already removes (with both, Beauty's NDCG@10 was lower).
  historyBias?: boolean;
  // Rerank the candidates with the bundle's transition prior (manifest transitions, runtime/transitions.ts) before the
  // reward model, one-item sessions with the table's extra candidates among them; default true where the bundle has
  // one. false: the beam alone, in its log-probability order.
  transitions?: boolean;
}

export interface ScoreOptions {
  historyBias?: boolean; // apply the bundle's repeat-awareness layer; default true (the model's probability without the history filter)
}

export interface RecommendedSession {
  items: Int32Array; // [sessionLength] item indices, in session order
  ids: string[]; // [sessionLength] external ids from the catalog
  logProb: number; // sum of log-softmax of the session's code tokens under the seed model
  reward: number | null; // Σ weights[t] · towers[t]; null without reward rerank
  towers: Float32Array | null; // [towers] probabilities from reward.onnx, order of `towers` in LoadInfo
}

/** How the result was made: the reward model, the transition prior's rerank of the candidates, or the beam's own order. */
export type RankedBy = 'reward' | 'transitions' | 'log-prob';

export interface RecommendResult {
  sessions: RecommendedSession[]; // best first
  coldStart: boolean; // no usable history (empty, or every item unknown): generated from the BOS-only encoder input
  rankedBy: RankedBy; // 'reward' when reward.onnx reranked the candidates, 'transitions' when the transition prior did, else beam log-probability
  ignoredHistory: HistoryItem[]; // history entries not in the catalog (ignored, not fatal)
  // searchMs includes decoderMs, the time spent in decoder steps (the rest is the beam search's own JS). With the
  // WGSL decoder (LoadInfo.decoder 'wgsl') the encoder runs in the first step's submit: encodeMs ≈ 0, decoderMs has it.
  timings: { encodeMs: number; searchMs: number; decoderMs: number; rerankMs: number; totalMs: number };
}

export interface ScoreResult {
  logProb: Float32Array; // [sessions] log P(session | history) under the seed model (teacher forcing)
  towers: Float32Array | null; // [sessions, towers] reward tower probabilities, or null without a reward model
  reward: Float32Array | null; // [sessions] Σ weights[t] · towers[t]
  ignoredHistory: HistoryItem[];
}

export interface Recommender {
  load(bundleUrl: string, options?: LoadOptions): Promise<LoadInfo>;
  recommend(history: HistoryItem[], options?: RecommendOptions): Promise<RecommendResult>;
  /** Score given sessions (arrays of item indices or ids) for one history. */
  score(history: HistoryItem[], sessions: HistoryItem[][], options?: ScoreOptions): Promise<ScoreResult>;
  dispose(): Promise<void>;
}
