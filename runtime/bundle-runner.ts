// A loaded bundle, ready to run: the seed model on one engine (the runtime's WGSL model, its wasm kernels, or the
// bundle's graphs on ONNX Runtime), the reward model on its runner, and the two calls the Recommender makes —
// recommend() (the shared beam search, then the rerank) and score() (teacher forcing). Which engine runs is decided
// by runtime/backends.ts; this file never imports an ONNX Runtime package (`ort` is a parameter).
import { aliveLeafCounts, beamSearch, childOf, historyBiasTerm, historyPaths, logSumExpRow, scoreReader, type DecoderSession } from './beam-search.ts';
import { BOS, SPECIAL_TOKENS, encoderTokens, tokenId } from './tokens.ts';
import { InvalidArgumentError } from './errors.ts';
import { checkHistory, checkRecommendOptions, checkScoreArguments } from './arguments.ts';
import { onnxRequest, type OrtModule, type SeedGraphs } from './onnx-decoder-session.ts';
import { REWARD_TIE, rewardTowers, type RewardRunner } from './reward-runner.ts';
import { extraCandidates, rerankByTransitions } from './transitions.ts';
import type { BundleModels } from './loader.ts';
import type { SearchContext } from './webgpu-search.ts';
import type { BackendProbe, DecoderBackend, HistoryItem, RankedBy, RecommendedSession, RecommendOptions, RecommendResult, ScoreOptions, ScoreResult } from './recommender.ts';

/** The runtime's own seed-model engines (WGSL on WebGPU, the wasm kernels on the CPU): what a BundleRunner needs of them. */
export interface ModelEngine {
  /** `sameHistory`: the previous session of this call had the same tokens, so an engine may reuse their encoding. */
  sessionFromTokens(historyTokens: Int32Array, maxRows: number, sameHistory?: boolean): DecoderSession;
  /** Optional: the same session for the beam search over `search.trie`, when the engine runs the search's steps itself (runtime/webgpu-search.ts). */
  searchSession?(historyTokens: Int32Array, maxRows: number, search: SearchContext): DecoderSession;
  dispose(): void;
}

/** A seed-model engine as runtime/backends.ts hands it over. */
export interface SeedEngine {
  backend: Exclude<DecoderBackend, 'onnx'>;
  model: ModelEngine;
  threads: number; // threads running its decoder steps
  /** The WGSL model's device: when it is lost the ONNX sessions take over; destroyed on release when `ownsDevice`. */
  device?: GPUDevice;
  ownsDevice?: boolean;
}

const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

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

/**
 * A loaded bundle: its seed-model engine, its reward runner and the calls on them. Callers must not overlap calls (the
 * Recommender chains them). Made by runtime/backends.ts.
 */
export class BundleRunner {
  private readonly itemCodes: Uint16Array; // [items, levels], the trie's own array
  private engine: SeedEngine | null; // the runtime's own seed model, null when the ONNX graphs run it
  /** Threads running the wasm kernels' decoder steps (1 unless the kernels started helpers). */
  readonly kernelThreads: number;
  /** The load-time timing that chose this runner over the other engine of the runtime's (runtime/backends.ts probedCandidate), or null. */
  probe: BackendProbe | null = null;

  constructor(
    private readonly ort: OrtModule,
    readonly models: BundleModels,
    readonly executionProvider: string, // the ONNX Runtime EP of the graphs left to it
    readonly fallbackReasons: string[],
    engine: SeedEngine | null,
    private graphs: SeedGraphs | null, // the seed graphs' sessions; null until seedGraphs() first runs where an engine runs the seed model
    private readonly createSeedGraphs: () => Promise<SeedGraphs>,
    private readonly reward: RewardRunner | null,
  ) {
    this.itemCodes = models.trie.allItemCodes;
    this.engine = engine;
    this.kernelThreads = engine?.backend === 'wasm-simd' ? engine.threads : 1;
    // A lost device (a GPU reset, the browser reclaiming it) hands the next calls back to the ORT sessions.
    if (engine?.device) {
      void engine.device.lost.then((info) => {
        if (this.engine !== engine) return; // released meanwhile
        this.engine = null;
        this.fallbackReasons.push(`[wgsl] the WebGPU device was lost (${info.reason}: ${info.message}); the ONNX sessions run the model now`);
      });
    }
  }

  /** What runs reward.onnx: WGSL on the seed model's device ('wgsl'), the wasm kernels ('wasm-simd'), onnxruntime ('onnx'), or nothing (no reward model). */
  get rewardBackend(): RewardRunner['backend'] | null {
    return this.reward?.backend ?? null;
  }

  /** What runs the seed model: 'wgsl', 'wasm-simd' (the runtime's own engines), or 'onnx' (the bundle's graphs). */
  get decoderBackend(): DecoderBackend {
    return this.engine?.backend ?? 'onnx';
  }

  /**
   * One request's encoder and decoder; `rows` bounds its beams. With the runtime's own model (WGSL or the wasm kernels)
   * the encoder runs there too (on WebGPU recorded in front of the first decoder step: no ORT run, no upload).
   */
  private async encodeForDecoder(history: Int32Array, rows: number, search?: SearchContext, sameHistory = false): Promise<{ decoder: DecoderSession; release: () => void }> {
    const { levels, codebookSize, maxHistory } = this.models.shape;
    const tokens = encoderTokens(history, this.itemCodes, levels, codebookSize, maxHistory); // [maxHistory * levels]
    const model = this.engine?.model;
    if (model?.searchSession && search) return { decoder: model.searchSession(tokens, rows, search), release: () => undefined };
    if (model) return { decoder: model.sessionFromTokens(tokens, rows, sameHistory), release: () => undefined };
    return onnxRequest(this.ort, await this.seedGraphs(), tokens, this.models.shape);
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
      const item = typeof h === 'number' ? (Number.isInteger(h) && h >= 0 && h < count ? h : -1) : this.models.itemIds.itemOf(h);
      if (item < 0) ignored.push(h);
      else items.push(item);
    }
    return { items: Int32Array.from(items), ignored };
  }

  private rewardTowers(history: Int32Array, sessions: Int32Array, n: number, m: number): Promise<{ towers: Float32Array; reward: Float32Array }> {
    return rewardTowers(this.reward!, this.models.towerWeights, history, sessions, n, m);
  }

  async recommend(input: HistoryItem[], recommendOptions: RecommendOptions = {}): Promise<RecommendResult> {
    const t0 = now();
    // Types and bounds (runtime/limits.ts, the manifest's sessionLength) before anything is allocated.
    const options = checkRecommendOptions(recommendOptions, this.models.shape);
    const { sessionLength, beamWidth, candidates } = options;
    const { items: history, ignored } = this.resolveHistory(checkHistory(input));

    let exclude: Uint8Array | undefined;
    if (options.excludeHistory ?? true) {
      exclude = new Uint8Array(this.models.trie.itemCount); // [items]
      for (const item of history) exclude[item] = 1;
    }
    const { trie } = this.models;
    const bias = (options.historyBias ?? !exclude) ? this.models.historyBias : null;
    // The GPU-resident search's context, only for an engine that runs it: its alive counts and history paths are O(trie
    // nodes + items) per call (at 1 M items a 4 MB copy and a 1 M-byte scan), which the CPU search computes on its own;
    // `exclude` lets its kernel make each item's last choice, so the whole session comes back in one read-back.
    const search = this.engine?.model.searchSession
      ? { trie, beamWidth, sessionLength, alive: aliveLeafCounts(trie, exclude), exclude, historyBias: bias && history.length > 0 ? { bias, paths: historyPaths(trie, history) } : undefined }
      : undefined;
    const { decoder, release } = await this.encodeForDecoder(history, beamWidth, search);
    const t1 = now();
    let decoderMs = 0;
    let found;
    try {
      found = await beamSearch(timed(decoder, (ms) => { decoderMs += ms; }), this.models.trie, { beamWidth, sessionLength, exclude, historyBias: bias ? { bias, history } : undefined });
    } finally {
      decoder.dispose?.();
      release();
    }
    // The first `candidates` beams go on (all of them by default).
    const beams = Math.min(candidates, found.logProb.length);
    let pool = found.items.subarray(0, beams * sessionLength); // [pooled, sessionLength]
    let poolLogProb: ArrayLike<number> = found.logProb.subarray(0, beams); // [pooled]
    const prior = options.transitions !== false && beams > 0 ? this.models.transitions : null;
    // Sessions of one item: the table's own likeliest next items that the beams missed join them, scored by the model
    // (teacher forcing, with the beam's history bias), so that every candidate's log P is the model's.
    const extraCount = prior && sessionLength === 1 ? (prior.params.candidates ?? 0) : 0;
    if (extraCount > 0) {
      const extra = extraCandidates(prior!.table, prior!.params, history, pool, exclude && ((item) => exclude[item] === 1));
      if (extra.length > 0) {
        const extraLogProb = await this.teacherForce(history, extra, extra.length, 1, bias, true);
        const joined = new Int32Array(pool.length + extra.length);
        joined.set(pool);
        joined.set(extra, pool.length);
        pool = joined;
        poolLogProb = Float64Array.from([...Array.from(poolLogProb), ...extraLogProb]);
      }
    }
    const t2 = now();

    // The transition prior orders the pool (else the beam's order stands) and its best `candidates` are kept.
    const pooled = poolLogProb.length;
    const ranked = prior ? rerankByTransitions(prior.table, prior.params, history, pool, pooled, sessionLength, poolLogProb).order : Array.from({ length: pooled }, (_, i) => i);
    const n = Math.min(candidates, pooled);
    const sessionItems = new Int32Array(n * sessionLength); // [n, sessionLength] in that order
    const logProb = new Float32Array(n); // [n] as score() reports them
    for (let i = 0; i < n; i++) {
      sessionItems.set(pool.subarray(ranked[i] * sessionLength, (ranked[i] + 1) * sessionLength), i * sessionLength);
      logProb[i] = poolLogProb[ranked[i]];
    }
    const rankedBy: RankedBy = this.reward && options.rerank !== false && n > 0 ? 'reward' : prior ? 'transitions' : 'log-prob';
    let towers: Float32Array | null = null; // [n, T]
    let reward: Float32Array | null = null; // [n]
    let order = Array.from({ length: n }, (_, i) => i);
    if (rankedBy === 'reward') {
      ({ towers, reward } = await this.rewardTowers(history, sessionItems, n, sessionLength));
      // Rewards closer than REWARD_TIE are ties and keep the order they had (the prior's, else the beam's):
      // the reward model is nearly order-invariant, so permutations of one item set score equal up to
      // float noise, and that noise differs between backends (wasm vs native vs WebGPU).
      order = order.sort((a, b) => (Math.abs(reward![b] - reward![a]) > REWARD_TIE ? reward![b] - reward![a] : a - b));
    }
    const T = this.models.towers.length;
    const sessions: RecommendedSession[] = order.map((s) => {
      const items = sessionItems.slice(s * sessionLength, (s + 1) * sessionLength);
      return {
        items,
        ids: Array.from(items, (i) => this.models.itemIds.idOf(i)),
        logProb: logProb[s],
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
    const { shape } = this.models;
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

    const bias = options.historyBias === false ? null : this.models.historyBias;
    const logProb = await this.teacherForce(resolved.items, items, n, m, bias);
    const rewarded = this.reward ? await this.rewardTowers(resolved.items, items, n, m) : null;
    return { logProb: Float32Array.from(logProb), towers: rewarded?.towers ?? null, reward: rewarded?.reward ?? null, ignoredHistory: resolved.ignored };
  }

  /**
   * log P(session | history) of `n` given sessions ([n, m] item indices) by teacher forcing: the same scores as the beam
   * search, with the repeat-awareness layer `bias` (the manifest's historyBias, or null) applied as recommend() applies it.
   * `sameHistory`: called right after this history's beam search in the same call (its encoding may be reused).
   */
  private async teacherForce(history: Int32Array, items: Int32Array, n: number, m: number, bias: number[] | null, sameHistory = false): Promise<Float64Array> {
    const { shape, trie } = this.models;
    const { decoder, release } = await this.encodeForDecoder(history, n, undefined, sameHistory);
    const logProb = new Float64Array(n); // [n]
    const { levels, codebookSize: K, vocabSize: vocab } = shape;
    const rowsIdentity = Int32Array.from({ length: n }, (_, i) => i);
    try {
      // The code log-probabilities ([rows, K]) when the graph gives their parts, else the log-softmax of the logits
      // ([rows, vocab]) computed here.
      const reader = scoreReader(decoder);
      const { normalised } = reader;
      const width = normalised ? K : vocab;
      // Every row starts from the single BOS row of the first call; afterwards row b continues row b.
      let logits = await reader.feed(new Int32Array([BOS]), new Int32Array([0]), false);
      let single = true;
      const onHistory = bias && history.length > 0 ? historyPaths(trie, history) : null;
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
    return logProb;
  }

  private releaseEngine(): void {
    const engine = this.engine;
    this.engine = null;
    engine?.model.dispose();
    if (engine?.ownsDevice) engine.device?.destroy();
  }

  async release(): Promise<void> {
    this.releaseEngine();
    const graphs = this.graphs ?? (this.pendingGraphs ? await this.pendingGraphs.catch(() => null) : null);
    this.graphs = null;
    await Promise.all([graphs?.encoder.release(), graphs?.decoder.release(), this.reward?.release()]);
  }
}
