// The runtime's core: ONNX sessions for one bundle → encoder once per request, a DecoderSession over
// decoder_step.onnx for the shared beam search, and reward.onnx to rerank the candidate sessions.
// It never imports an ONNX Runtime package: the `ort` module is a parameter, so Node (onnxruntime-node:
// `onerec eval --bundle`, parity tests, bench) and the browser (onnxruntime-web, runtime/onnx.ts) run
// this same code.
import type { InferenceSession, Tensor } from 'onnxruntime-common';
import { beamSearch, childOf, codeLogProbs, historyBiasTerm, historyPaths, logSumExpRow, scoreReader, type DecoderSession } from './beam-search.ts';
import { BOS, SPECIAL_TOKENS, encoderTokens, tokenId } from './tokens.ts';
import { SemanticIdTrie } from './semantic-id-trie.ts';
import { BundleFormatError, InvalidArgumentError, NoBackendError } from './errors.ts';
import { checkHistory, checkRecommendOptions, checkScoreArguments } from './arguments.ts';
import { WebGpuDecoder, WebGpuDecoderError, type WebGpuDecoderConfig } from './webgpu-decoder.ts';
import { WasmDecoder, WasmDecoderError, type SpawnWasmHelper } from './wasm-decoder.ts';
import { WasmReward, WasmRewardError } from './wasm-reward.ts';
import type { DecoderBackend, HistoryItem, RankedBy, RecommendedSession, RecommendOptions, RecommendResult, ScoreOptions, ScoreResult } from './recommender.ts';

/** The parts of an ONNX Runtime JS package (onnxruntime-web or onnxruntime-node) that the core uses. */
export interface OrtModule {
  InferenceSession: { create(model: Uint8Array, options?: InferenceSession.SessionOptions): Promise<InferenceSession> };
  Tensor: typeof Tensor;
}

/** Sizes the core needs, all from the bundle's manifest (never hard-coded). */
export interface ModelShape {
  levels: number; // codes per item (suffix level included)
  codebookSize: number; // K
  vocabSize: number; // 2 + levels * K
  maxHistory: number; // items the encoder sees
  sessionLength: number; // default items per generated session
  beamWidth: number; // default beam width
  decoderLayers: number;
  heads: number;
  headDim: number; // dModel / heads
}

/** The bundle's bytes, already verified against the manifest's sha256. */
export interface BundleModels {
  shape: ModelShape;
  encoder: Uint8Array;
  decoderStep: Uint8Array;
  reward: Uint8Array | null;
  trie: SemanticIdTrie;
  itemIds: string[]; // [items] external ids, catalog order
  towers: string[]; // reward tower names
  towerWeights: number[]; // [towers] weights of the combined reward
  historyBias: number[] | null; // [levels] the repeat-awareness layer's β (manifest historyBias), null = none
  members: WebGpuDecoderConfig[]; // the seed model's config, or an ensemble's members' (manifest.ensemble): what the WGSL model reads
}

export interface SessionsOptions {
  /**
   * A WebGPU device for the seed model's encoder and decoder steps (runtime/webgpu-decoder.ts); the reward model runs
   * on the wasm kernels (see wasmDecoder). If the WGSL model cannot run this bundle the ORT sessions do and
   * `fallbackReasons` says why.
   */
  gpuDevice?: GPUDevice;
  /** The Sessions destroy `gpuDevice` when released (a device made for them). */
  ownsGpuDevice?: boolean;
  /**
   * The seed model in the runtime's WebAssembly SIMD kernels (runtime/wasm-decoder.ts) instead of onnxruntime's
   * encoder and decoder sessions. Ignored when `gpuDevice` is given; if the kernels cannot run this bundle the ORT
   * sessions do and `fallbackReasons` says why. With either own engine the reward model runs on the wasm kernels too
   * (runtime/wasm-reward.ts), or on the ORT EP where they cannot read it.
   */
  wasmDecoder?: boolean;
  /** Threads for the wasm kernels (the caller and wasmThreads − 1 helpers started by spawnWasmHelper); default 1. */
  wasmThreads?: number;
  spawnWasmHelper?: SpawnWasmHelper;
}

/** The runtime's own seed-model engines (WGSL on WebGPU, the wasm kernels on the CPU): what Sessions needs of them. */
interface ModelEngine {
  sessionFromTokens(historyTokens: Int32Array, maxRows: number): DecoderSession;
  dispose(): void;
}

/** reward.onnx, run by onnxruntime or the runtime's wasm kernels (runtime/wasm-reward.ts). */
interface RewardRunner {
  backend: 'onnx' | 'wasm-simd';
  H: number; // history_items [1, H]
  M: number; // session_items [N, M]
  /** Tower probabilities [n, towers] for history [H] and sessions [n, M] (item indices, −1 = padding). */
  towers(history: Int32Array, sessions: Int32Array, n: number): Promise<Float32Array>;
  release(): Promise<void>;
}

/** reward.onnx on an ORT session; its history and session lengths from the session's input metadata. */
function ortReward(ort: OrtModule, session: InferenceSession): RewardRunner {
  const dims = (name: string): readonly (number | string)[] => {
    const meta = session.inputMetadata.find((m) => m.name === name);
    if (!meta || !meta.isTensor) throw new BundleFormatError('reward.onnx', `has no tensor input "${name}"; re-export the bundle (onerec export)`);
    return meta.shape;
  };
  const [, H] = dims('history_items');
  const [, M] = dims('session_items');
  if (typeof H !== 'number' || typeof M !== 'number') throw new BundleFormatError('reward.onnx', `history_items [1, ${H}] and session_items [N, ${M}] must have static lengths; re-export the bundle`);
  return {
    backend: 'onnx',
    H,
    M,
    towers: async (history, sessions, n) => {
      const out = await session.run({
        history_items: new ort.Tensor('int64', toInt64(history), [1, H]),
        session_items: new ort.Tensor('int64', toInt64(sessions), [n, M]),
      });
      return (await tensorFloats(out.towers)).slice();
    },
    release: () => session.release(),
  };
}

/** reward.onnx on the wasm kernels, or null (the reason added to `reasons` as `[wasm-simd] …`) when they cannot run it. */
async function wasmReward(models: BundleModels, reasons: string[]): Promise<RewardRunner | null> {
  try {
    const model = await WasmReward.create(models.reward!, models.towers);
    return { backend: 'wasm-simd', H: model.historyLength, M: model.sessionLength, towers: async (history, sessions, n) => model.towers(history, sessions, n), release: async () => undefined };
  } catch (err) {
    if (!(err instanceof WasmRewardError)) throw err;
    reasons.push(`[wasm-simd] ${err.message}`);
    return null;
  }
}

/** encoder.onnx and decoder_step.onnx as ORT sessions. */
interface SeedGraphs {
  encoder: InferenceSession;
  decoder: InferenceSession;
}

/** Rewards (weighted sums of tower probabilities) closer than this rank as equal; float32 backends agree to ~1e-6. */
export const REWARD_TIE = 1e-5;

const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

const toInt64 = (values: ArrayLike<number>): BigInt64Array => {
  const out = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = BigInt(values[i]);
  return out;
};

async function tensorFloats(t: Tensor): Promise<Float32Array> {
  // CPU tensors expose .data; a GPU-resident output must be downloaded first.
  const data = t.location === 'cpu' ? t.data : await t.getData(true);
  return data as Float32Array;
}

/**
 * Create every session of the bundle on the first execution provider in `executionProviders` that can run
 * all of them; if none can, throw NoBackendError naming each EP's reason.
 */
export async function createSessions(ort: OrtModule, models: BundleModels, executionProviders: string[], sessionOptions: InferenceSession.SessionOptions = {}, extra: SessionsOptions = {}): Promise<Sessions> {
  const keepOnGpu = (ep: string): boolean => ep === 'webgpu';
  const reasons: string[] = [];
  for (const ep of executionProviders) {
    const created: InferenceSession[] = [];
    try {
      const options = (outputsOnGpu: string[]): InferenceSession.SessionOptions => ({
        graphOptimizationLevel: 'all',
        logSeverityLevel: 3, // errors only: ORT's node-placement warnings are expected on WebGPU (shape ops run on CPU)
        ...sessionOptions,
        executionProviders: [ep],
        // On WebGPU the caches stay on the GPU between decoder steps instead of a round trip per step.
        ...(keepOnGpu(ep) && outputsOnGpu.length > 0
          ? { preferredOutputLocation: Object.fromEntries(outputsOnGpu.map((name) => [name, 'gpu-buffer' as const])) }
          : {}),
      });
      // reward.onnx: on the wasm kernels where the runtime's own model runs the seed model (then no graph may be left for
      // onnxruntime, whose wasm is then never fetched), else, or where the kernels cannot read it, on the EP.
      const ownModel = Boolean(extra.gpuDevice || extra.wasmDecoder);
      const notes: string[] = [];
      let reward: RewardRunner | null = models.reward && ownModel ? await wasmReward(models, notes) : null;
      if (models.reward && !reward) {
        const session = await ort.InferenceSession.create(models.reward, options([]));
        created.push(session);
        reward = ortReward(ort, session);
      }
      // The seed graphs: created here unless the runtime's own model runs the seed model, then only if it cannot
      // (or stops: a lost GPU device), on the call that first needs them.
      const seedGraphs = async (): Promise<SeedGraphs> => {
        const encoder = await ort.InferenceSession.create(models.encoder, options(['cross_k', 'cross_v', 'memory_bias']));
        try {
          return { encoder, decoder: await ort.InferenceSession.create(models.decoderStep, options(['present_k', 'present_v'])) };
        } catch (err) {
          await encoder.release().catch(() => undefined);
          throw err;
        }
      };
      const eager = ownModel ? null : await seedGraphs();
      if (eager) created.push(eager.encoder, eager.decoder);
      const sessions = new Sessions(ort, models, ep, [...reasons, ...notes], eager, seedGraphs, reward);
      const attached = extra.gpuDevice ? await sessions.attachGpuDecoder(extra.gpuDevice, { ownsDevice: extra.ownsGpuDevice }) : extra.wasmDecoder ? await sessions.attachWasmDecoder({ threads: extra.wasmThreads, spawnHelper: extra.spawnWasmHelper }) : false;
      if (ownModel && !attached) created.push(...Object.values(await sessions.seedGraphs()));
      return sessions;
    } catch (err) {
      reasons.push(`[${ep}] ${err instanceof Error ? err.message : String(err)}`);
      await Promise.all(created.map((s) => s.release().catch(() => undefined)));
    }
  }
  throw new NoBackendError(reasons);
}

/**
 * decoder_step.onnx as the beam search's DecoderSession; the KV cache stays in ORT tensors between steps.
 * The runtime's and Node's (models/export/node-session.ts) decoder: one implementation of the graph contract.
 */
export class OnnxDecoderSession implements DecoderSession {
  private position = 0; // decoder sequence position of the next token fed
  private pastK: Tensor; // [decoderLayers, Bprev, heads, P, dh]
  private pastV: Tensor;
  /** Present when the graph has `code_scores` (or, exported 2026-11-29, `code_logits` + `logit_max_sum`; before that only `logits`). */
  readonly stepCodeLogProbs?: (tokens: Int32Array, parents: Int32Array) => Promise<Float64Array>; // → [rows, K]
  /** The graph's `token` input is [B, T] (bundles exported before it take one token per row). */
  readonly twoTokenSteps: boolean;

  /**
   * `options.twoTokenSteps` (default true) offers two-token steps when the graph takes them; false keeps one token
   * per call, whose scores equal to the last float32 bit those of older bundles' sessions (models/align's
   * OnnxPolicy compares the two).
   */
  constructor(
    private readonly ort: OrtModule,
    private readonly session: InferenceSession,
    private readonly cross: Record<'cross_k' | 'cross_v' | 'memory_bias', Tensor>,
    shape: Pick<ModelShape, 'decoderLayers' | 'heads' | 'headDim' | 'codebookSize'>,
    options: { twoTokenSteps?: boolean } = {},
  ) {
    const empty = [shape.decoderLayers, 1, shape.heads, 0, shape.headDim]; // P = 0 before the first step
    this.pastK = new ort.Tensor('float32', new Float32Array(0), empty);
    this.pastV = new ort.Tensor('float32', new Float32Array(0), empty);
    const tokenInput = session.inputMetadata.find((m) => m.name === 'token');
    this.twoTokenSteps = (options.twoTokenSteps ?? true) && tokenInput !== undefined && tokenInput.isTensor && typeof tokenInput.shape[1] === 'string';
    const K = shape.codebookSize;
    if (session.outputNames.includes('code_scores')) {
      this.stepCodeLogProbs = async (tokens, parents) => codeLogProbs((await this.run(tokens, parents, ['code_scores']))[0], K);
    } else if (session.outputNames.includes('code_logits')) {
      this.stepCodeLogProbs = async (tokens, parents) => {
        const [codeLogits, maxSum] = await this.run(tokens, parents, ['code_logits', 'logit_max_sum']); // [rows, K], [rows, 2]
        const rows = maxSum.length / 2;
        const packed = new Float32Array(rows * (K + 2)); // the code_scores layout
        for (let r = 0; r < rows; r++) {
          packed.set(codeLogits.subarray(r * K, (r + 1) * K), r * (K + 2));
          packed[r * (K + 2) + K] = maxSum[2 * r];
          packed[r * (K + 2) + K + 1] = maxSum[2 * r + 1];
        }
        return codeLogProbs(packed, K);
      };
    }
  }

  async step(tokens: Int32Array /* [rows] */, parents: Int32Array /* [rows] */): Promise<Float32Array> /* [rows, vocab] */ {
    return (await this.run(tokens, parents, ['logits']))[0];
  }

  /** One decoder call; only `outputs` and the cache are fetched. */
  private async run(tokens: Int32Array /* [rows, T] */, parents: Int32Array /* [rows] */, outputs: string[]): Promise<Float32Array[]> {
    const rows = parents.length;
    const perRow = tokens.length / rows; // T
    const { Tensor } = this.ort;
    const feeds = {
      token: new Tensor('int64', toInt64(tokens), [rows, perRow]),
      position: new Tensor('int64', toInt64([this.position]), [1]),
      beam_parent: new Tensor('int64', toInt64(parents), [rows]),
      past_k: this.pastK,
      past_v: this.pastV,
      ...this.cross,
    };
    const out = await this.session.run(feeds, [...outputs, 'present_k', 'present_v']);
    this.pastK.dispose();
    this.pastV.dispose();
    this.pastK = out.present_k;
    this.pastV = out.present_v;
    this.position += perRow;
    return Promise.all(outputs.map((name) => tensorFloats(out[name])));
  }

  dispose(): void {
    this.pastK.dispose();
    this.pastV.dispose();
  }
}

/** `decoder` with the time of each of its steps reported to `add` (ms). */
function timed(decoder: DecoderSession, add: (ms: number) => void): DecoderSession {
  const time = <A extends unknown[], R>(call: (...args: A) => Promise<R>) => async (...args: A): Promise<R> => {
    const t = now();
    try {
      return await call(...args);
    } finally {
      add(now() - t);
    }
  };
  return {
    step: time((tokens: Int32Array, parents: Int32Array) => decoder.step(tokens, parents)),
    stepCodeLogProbs: decoder.stepCodeLogProbs && time((tokens: Int32Array, parents: Int32Array) => decoder.stepCodeLogProbs!(tokens, parents)),
    twoTokenSteps: decoder.twoTokenSteps,
  };
}

/** Resolved history: catalog item indices (oldest → newest) and the entries that are not in the catalog. */
export interface ResolvedHistory {
  items: Int32Array;
  ignored: HistoryItem[];
}

/** The loaded bundle's sessions. Callers must not overlap calls (the Recommender chains them). */
export class Sessions {
  private readonly itemCodes: Uint16Array; // [items, levels]
  private readonly idToItem: Map<string, number>;
  private engine: { backend: DecoderBackend; model: ModelEngine } | null = null; // the runtime's own seed model, when attached
  /** Threads running the wasm kernels' decoder steps (1 unless attachWasmDecoder started helpers). */
  kernelThreads = 1;
  private gpuDevice: GPUDevice | null = null; // destroyed on release when attachGpuDecoder was given it to own

  constructor(
    private readonly ort: OrtModule,
    readonly models: BundleModels,
    readonly executionProvider: string,
    readonly fallbackReasons: string[],
    private graphs: SeedGraphs | null, // null until seedGraphs() first runs, when the runtime's own model was to run the seed model
    private readonly createSeedGraphs: () => Promise<SeedGraphs>,
    private readonly reward: RewardRunner | null,
  ) {
    const { trie } = models;
    this.itemCodes = new Uint16Array(trie.itemCount * trie.levels);
    for (let i = 0; i < trie.itemCount; i++) this.itemCodes.set(trie.itemCodes(i), i * trie.levels);
    this.idToItem = new Map(models.itemIds.map((id, i) => [id, i]));
  }

  /** What runs reward.onnx: the wasm kernels ('wasm-simd'), onnxruntime ('onnx'), or nothing (no reward model). */
  get rewardBackend(): 'wasm-simd' | 'onnx' | null {
    return this.reward?.backend ?? null;
  }

  /** What runs the seed model: 'wgsl' after a successful attachGpuDecoder, 'wasm-simd' after attachWasmDecoder, else 'onnx'. */
  get decoderBackend(): DecoderBackend {
    return this.engine?.backend ?? 'onnx';
  }

  /**
   * Run the encoder and decoder steps on `device` with runtime/webgpu-decoder.ts from now on. Returns false, keeping
   * the ORT sessions, when the bundle's model cannot run there (a kernel limit, a shader error, graphs whose weights
   * it cannot find, e.g. an ensemble exported before its members' weights had prefixed names); the reason is added
   * to fallbackReasons as `[wgsl] …`.
   */
  async attachGpuDecoder(device: GPUDevice, options: { ownsDevice?: boolean } = {}): Promise<boolean> {
    try {
      const engine = { backend: 'wgsl' as const, model: await WebGpuDecoder.create(device, this.models.decoderStep, this.models.members, { encoderOnnx: this.models.encoder }) };
      this.releaseEngine();
      this.engine = engine;
      if (options.ownsDevice) this.gpuDevice = device;
      // A lost device (a GPU reset, the browser reclaiming it) hands the next calls back to the ORT sessions.
      void device.lost.then((info) => {
        if (this.engine !== engine) return; // released or replaced meanwhile
        this.engine = null;
        this.gpuDevice = null;
        this.fallbackReasons.push(`[wgsl] the WebGPU device was lost (${info.reason}: ${info.message}); the ONNX sessions run the model now`);
      });
      return true;
    } catch (err) {
      if (!(err instanceof WebGpuDecoderError)) throw err;
      this.fallbackReasons.push(`[wgsl] ${err.message}`);
      return false;
    }
  }

  /**
   * Run the encoder and decoder steps in the runtime's WebAssembly SIMD kernels (runtime/wasm-decoder.ts) from now on.
   * Returns false, keeping the ORT sessions, when they cannot run this bundle; the reason is added to fallbackReasons
   * as `[wasm-simd] …`.
   */
  async attachWasmDecoder(options: { threads?: number; spawnHelper?: SpawnWasmHelper } = {}): Promise<boolean> {
    try {
      const model = await WasmDecoder.create(this.models.decoderStep, this.models.encoder, this.models.members, options);
      this.releaseEngine();
      this.engine = { backend: 'wasm-simd', model };
      this.kernelThreads = model.threads;
      if (model.threadsNote) this.fallbackReasons.push(`[wasm-simd] ${options.threads} threads asked for, 1 runs: ${model.threadsNote}`);
      return true;
    } catch (err) {
      if (!(err instanceof WasmDecoderError)) throw err;
      this.fallbackReasons.push(`[wasm-simd] ${err.message}`);
      return false;
    }
  }

  /**
   * One request's encoder and decoder; `rows` bounds its beams. With the runtime's own model (WGSL or the wasm kernels)
   * the encoder runs there too (on WebGPU recorded in front of the first decoder step: no ORT run, no upload).
   */
  private async encodeForDecoder(history: Int32Array, rows: number): Promise<{ decoder: DecoderSession; release: () => void }> {
    if (this.engine) {
      const { levels, codebookSize, maxHistory } = this.models.shape;
      return { decoder: this.engine.model.sessionFromTokens(encoderTokens(history, this.itemCodes, levels, codebookSize, maxHistory), rows), release: () => undefined };
    }
    const { decoder } = await this.seedGraphs();
    const cross = await this.encode(history);
    return { decoder: new OnnxDecoderSession(this.ort, decoder, cross, this.models.shape), release: () => Sessions.disposeAll(cross) };
  }

  private pendingGraphs: Promise<SeedGraphs> | null = null;

  /** The ORT seed sessions, created on first use where the runtime's own model was to run the seed model. */
  async seedGraphs(): Promise<SeedGraphs> {
    if (this.graphs) return this.graphs;
    this.pendingGraphs ??= this.createSeedGraphs().finally(() => { this.pendingGraphs = null; });
    this.graphs = await this.pendingGraphs;
    return this.graphs;
  }

  /** Whether encoder.onnx and decoder_step.onnx have ORT sessions (not made while the runtime's own model runs them). */
  get hasSeedGraphs(): boolean {
    return this.graphs !== null;
  }

  /** Item indices for history entries (numbers are indices, strings external ids); unknown ones reported. */
  resolveHistory(history: HistoryItem[]): ResolvedHistory {
    const items: number[] = [];
    const ignored: HistoryItem[] = [];
    const count = this.models.trie.itemCount;
    for (const h of history) {
      const item = typeof h === 'number' ? (Number.isInteger(h) && h >= 0 && h < count ? h : -1) : (this.idToItem.get(h) ?? -1);
      if (item < 0) ignored.push(h);
      else items.push(item);
    }
    return { items: Int32Array.from(items), ignored };
  }

  private async encode(history: Int32Array): Promise<Record<'cross_k' | 'cross_v' | 'memory_bias', Tensor>> {
    const { levels, codebookSize, maxHistory } = this.models.shape;
    const tokens = encoderTokens(history, this.itemCodes, levels, codebookSize, maxHistory); // [maxHistory * levels]
    const { encoder } = await this.seedGraphs();
    const out = await encoder.run({ history_tokens: new this.ort.Tensor('int64', toInt64(tokens), [1, tokens.length]) });
    return { cross_k: out.cross_k, cross_v: out.cross_v, memory_bias: out.memory_bias };
  }

  private static disposeAll(tensors: Record<string, Tensor>): void {
    for (const t of Object.values(tensors)) t.dispose();
  }

  /**
   * reward.onnx on `sessions` ([n, m] item indices): tower probabilities [n, towers] and weighted sums [n].
   * The graph's history length H and session length M are its static input shapes: the history is
   * right-aligned into H slots and sessions padded to M with −1 (longer sessions: the first M items).
   */
  private async rewardTowers(history: Int32Array, sessions: Int32Array, n: number, m: number): Promise<{ towers: Float32Array; reward: Float32Array }> {
    const { H, M } = this.reward!;
    const recent = history.subarray(Math.max(0, history.length - H));
    const historyItems = new Int32Array(H).fill(-1); // [H] right-aligned, −1 = padding
    historyItems.set(recent, H - recent.length);
    const padded = new Int32Array(n * M).fill(-1); // [n, M]
    for (let s = 0; s < n; s++) padded.set(sessions.subarray(s * m, s * m + Math.min(m, M)), s * M);
    const towers = await this.reward!.towers(historyItems, padded, n); // [n, T]
    const weights = this.models.towerWeights;
    const T = weights.length;
    const reward = new Float32Array(n); // [n]
    for (let s = 0; s < n; s++) for (let t = 0; t < T; t++) reward[s] += weights[t] * towers[s * T + t];
    return { towers, reward };
  }

  async recommend(input: HistoryItem[], recommendOptions: RecommendOptions = {}): Promise<RecommendResult> {
    const t0 = now();
    // Types and bounds (runtime/limits.ts, the manifest's sessionLength) before anything is allocated.
    const options = checkRecommendOptions(recommendOptions, this.models.shape);
    const { sessionLength, beamWidth, candidates } = options;
    const { items: history, ignored } = this.resolveHistory(checkHistory(input));

    const { decoder, release } = await this.encodeForDecoder(history, beamWidth);
    const t1 = now();
    let decoderMs = 0;
    let exclude: Uint8Array | undefined;
    if (options.excludeHistory ?? true) {
      exclude = new Uint8Array(this.models.trie.itemCount); // [items]
      for (const item of history) exclude[item] = 1;
    }
    let found;
    try {
      const bias = (options.historyBias ?? !exclude) ? this.models.historyBias : null;
      found = await beamSearch(timed(decoder, (ms) => { decoderMs += ms; }), this.models.trie, { beamWidth, sessionLength, exclude, historyBias: bias ? { bias, history } : undefined });
    } finally {
      decoder.dispose?.();
      release();
    }
    const t2 = now();

    const n = Math.min(candidates, found.logProb.length);
    const sessionItems = found.items.subarray(0, n * sessionLength); // [n, sessionLength]
    const rankedBy: RankedBy = this.reward && options.rerank !== false && n > 0 ? 'reward' : 'log-prob';
    let towers: Float32Array | null = null; // [n, T]
    let reward: Float32Array | null = null; // [n]
    let order = Array.from({ length: n }, (_, i) => i); // beam order = log-prob order, best first
    if (rankedBy === 'reward') {
      ({ towers, reward } = await this.rewardTowers(history, sessionItems, n, sessionLength));
      // Rewards closer than REWARD_TIE are ties and keep the beam order (higher log-probability first):
      // the reward model is nearly order-invariant, so permutations of one item set score equal up to
      // float noise, and that noise differs between backends (wasm vs native vs WebGPU).
      order = order.sort((a, b) => (Math.abs(reward![b] - reward![a]) > REWARD_TIE ? reward![b] - reward![a] : a - b));
    }
    const T = this.models.towers.length;
    const sessions: RecommendedSession[] = order.map((s) => {
      const items = sessionItems.slice(s * sessionLength, (s + 1) * sessionLength);
      return {
        items,
        ids: Array.from(items, (i) => this.models.itemIds[i]),
        logProb: found.logProb[s],
        reward: reward ? reward[s] : null,
        towers: towers ? towers.slice(s * T, (s + 1) * T) : null,
      };
    });
    const t3 = now();
    return {
      sessions,
      coldStart: history.length === 0,
      rankedBy,
      ignoredHistory: ignored,
      timings: { encodeMs: t1 - t0, searchMs: t2 - t1, decoderMs, rerankMs: t3 - t2, totalMs: t3 - t0 },
    };
  }

  /** log P(session | history) by teacher forcing through decoder_step.onnx, plus the reward towers. */
  async score(history: HistoryItem[], sessionsToScore: HistoryItem[][], scoreOptions: ScoreOptions = {}): Promise<ScoreResult> {
    const { shape, trie } = this.models;
    const resolved = this.resolveHistory(checkHistory(history));
    const { sessions, options } = checkScoreArguments(sessionsToScore, scoreOptions, shape.sessionLength);
    const n = sessions.length;
    if (n === 0) return { logProb: new Float32Array(0), towers: null, reward: null, ignoredHistory: resolved.ignored };
    const m = sessions[0].length;
    if (m < 1 || m > shape.sessionLength || sessions.some((s) => s.length !== m)) {
      throw new InvalidArgumentError('sessions[i].length', sessions.map((s) => s.length), `give every session the same length, 1..${shape.sessionLength} items`);
    }
    const items = new Int32Array(n * m); // [n, m]
    sessions.forEach((s, i) => {
      const r = this.resolveHistory(s);
      if (r.ignored.length > 0) throw new InvalidArgumentError(`sessions[${i}]`, r.ignored, 'every session item must be in the catalog (an item index or external id)');
      items.set(r.items, i * m);
    });

    const { decoder, release } = await this.encodeForDecoder(resolved.items, n);
    const logProb = new Float64Array(n); // [n]
    const { levels, codebookSize: K, vocabSize: vocab } = shape;
    const rowsIdentity = Int32Array.from({ length: n }, (_, i) => i);
    try {
      // The same scores as the beam search: the code log-probabilities ([rows, K]) when the graph gives
      // their parts, else the log-softmax of the logits ([rows, vocab]) computed here.
      const reader = scoreReader(decoder);
      const { normalised } = reader;
      const width = normalised ? K : vocab;
      // Every row starts from the single BOS row of the first call; afterwards row b continues row b.
      let logits = await reader.feed(new Int32Array([BOS]), new Int32Array([0]), false);
      let single = true;
      // The bundle's repeat-awareness layer, as recommend() applies it without the history exclusion (then the log-probabilities agree).
      const bias = options.historyBias === false ? null : this.models.historyBias;
      const onHistory = bias && resolved.items.length > 0 ? historyPaths(trie, resolved.items) : null;
      const node = new Int32Array(n); // [n] trie node of each session's current item
      for (let i = 0; i < m; i++) {
        for (let l = 0; l < levels; l++) {
          const tokens = new Int32Array(n); // [n]
          for (let b = 0; b < n; b++) {
            const code = trie.itemCodes(items[b * m + i])[l];
            const token = tokenId(l, code, K);
            const base = single ? 0 : b * width;
            const logZ = normalised ? 0 : logSumExpRow(logits, base, vocab); // full logits: the row's log-softmax normaliser
            const offset = normalised ? 0 : SPECIAL_TOKENS + l * K;
            logProb[b] += logits[base + offset + code] - logZ;
            if (onHistory && bias![l] !== 0) logProb[b] += historyBiasTerm(trie, onHistory, node[b], l === levels - 1, bias![l], code, (c) => logits[base + offset + c] - logZ);
            node[b] = l === levels - 1 ? 0 : childOf(trie, node[b], code);
            tokens[b] = token;
          }
          if (i === m - 1 && l === levels - 1) break;
          const parents = single ? new Int32Array(n) : rowsIdentity;
          single = false;
          logits = await reader.feed(tokens, parents, l === levels - 1); // fed as the beam search feeds them
        }
      }
    } finally {
      decoder.dispose?.();
      release();
    }
    const rewarded = this.reward ? await this.rewardTowers(resolved.items, items, n, m) : null;
    return { logProb: Float32Array.from(logProb), towers: rewarded?.towers ?? null, reward: rewarded?.reward ?? null, ignoredHistory: resolved.ignored };
  }

  private releaseEngine(): void {
    this.engine?.model.dispose();
    this.gpuDevice?.destroy();
    this.engine = null;
    this.gpuDevice = null;
  }

  async release(): Promise<void> {
    this.releaseEngine();
    const graphs = this.graphs ?? (this.pendingGraphs ? await this.pendingGraphs.catch(() => null) : null);
    this.graphs = null;
    await Promise.all([graphs?.encoder.release(), graphs?.decoder.release(), this.reward?.release()]);
  }
}
