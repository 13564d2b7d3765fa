// Ranking many users at once with the shared beam search (runtime/beam-search.ts). Each user gets its own
// DecoderSession; their step() calls are gathered and run as one batched decoder forward, so the GPU sees
// [users × beam] rows per step instead of one user at a time. The backend (`SeedForward`) is the engine
// model on the GPU, or the CPU reference in tests.
import { beamSearch, logSumExpRow, type BeamSearchResult, type DecoderSession, type TrieView } from '../../runtime/beam-search.ts';
import { BOS, SPECIAL_TOKENS } from '../../runtime/tokens.ts';
import { makeBatch, type Example, type SeedData } from './batches.ts';
import { RankingAccumulator, rankOf, type RankingMetrics } from './metrics.ts';
import { encode, decodeFull, denseItemVectors, denseUserVector, type SeedWeights } from './reference.ts';
import { hasDenseHead, seedVocabSize, SeedConfigError, type SeedConfig } from './config.ts';

/** What generation needs from a model: encode a batch of users, then decode rows against their memory. */
export interface SeedForward {
  readonly config: SeedConfig;
  /**
   * Encoder over `users` histories.  tokens [users, maxHistory * levels], historyItems [users, maxHistory] (item + 1
   * per slot, Batch.historyItems; read by models with itemEmbedding) → a handle for decodeLast
   */
  encode(tokens: Int32Array, users: number, historyItems?: Int32Array): Promise<unknown>;
  /**
   * Teacher-forced decoder over `rows` prefixes of `length` tokens, row r attending to user rowUser[r]'s
   * memory; returns the logits at the last position.  tokens [rows, length] → [rows, vocab]
   */
  decodeLast(memory: unknown, rowUser: Int32Array, tokens: Int32Array, rows: number, length: number): Promise<Float32Array>;
  /** Frees a handle from encode (GPU buffers). */
  release?(memory: unknown): void;
  /**
   * A denseHead model's dense scores u · e_i of every catalog item (before the softmax) for each encoded user.
   * codes [items, levels] → [users, items]
   */
  denseLogits?(memory: unknown, users: number, codes: Uint16Array): Promise<Float32Array>;
}

/** The CPU reference as a SeedForward (tests, and a check of the GPU backend). */
export class ReferenceForward implements SeedForward {
  constructor(readonly weights: SeedWeights, readonly config: SeedConfig) {}
  async encode(tokens: Int32Array, users: number, historyItems?: Int32Array): Promise<unknown> {
    const S = tokens.length / users;
    const H = this.config.maxHistory;
    return Array.from({ length: users }, (_, u) => encode(this.weights, this.config, tokens.subarray(u * S, (u + 1) * S), historyItems?.subarray(u * H, (u + 1) * H)));
  }
  async decodeLast(memory: unknown, rowUser: Int32Array, tokens: Int32Array, rows: number, length: number): Promise<Float32Array> {
    const V = seedVocabSize(this.config);
    const out = new Float32Array(rows * V); // [rows, vocab]
    const encoded = memory as ReturnType<typeof encode>[];
    for (let r = 0; r < rows; r++) {
      const logits = decodeFull(this.weights, this.config, encoded[rowUser[r]], tokens.subarray(r * length, (r + 1) * length));
      out.set(logits.subarray((length - 1) * V, length * V), r * V);
    }
    return out;
  }
  async denseLogits(memory: unknown, users: number, codes: Uint16Array): Promise<Float32Array> {
    if (!hasDenseHead(this.config)) throw new SeedConfigError('denseLogits: this model has no dense head (train it with --denseHead)');
    const d = this.config.dModel;
    const items = denseItemVectors(this.weights, this.config, codes); // [items, d]
    const n = items.length / d;
    const out = new Float32Array(users * n); // [users, items]
    (memory as ReturnType<typeof encode>[]).forEach((encoded, u) => {
      const user = denseUserVector(this.weights, this.config, encoded); // [d]
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += user[j] * items[i * d + j];
        out[u * n + i] = s;
      }
    });
    return out;
  }
}

/** log softmax of one row of dense scores, in float64.  [items] → [items] */
export function logSoftmax(scores: ArrayLike<number>): Float64Array {
  const lse = logSumExpRow(scores, 0, scores.length);
  return Float64Array.from(scores, (s) => s - lse);
}

/** The `width` best items of `scores` that `exclude` allows, best first (ties → lower index); one pass, O(items × width) at worst. */
export function denseTop(scores: Float64Array, width: number, exclude?: Uint8Array): number[] {
  const top: number[] = []; // best first
  for (let item = 0; item < scores.length; item++) {
    if (exclude?.[item]) continue;
    if (top.length === width && !(scores[item] > scores[top[width - 1]])) continue; // a tie with the last stays out: lower index wins
    let at = top.length === width ? width - 1 : top.length;
    while (at > 0 && scores[item] > scores[top[at - 1]]) at--;
    if (top.length === width) top.pop();
    top.splice(at, 0, item);
  }
  return top;
}

/**
 * The hybrid ranking of a generative beam and a dense head (LIGER-style): the candidates are the beam's items and the
 * dense head's top `width` items that `exclude` allows (ties → lower index); each scores log P_gen + λ · log softmax_dense,
 * where a dense-only candidate (not in the beam) takes the beam's lowest log-probability as its log P_gen (0 when the
 * beam is empty). Ranked by that score (ties keep beam order, then dense order), cut to `width`. λ = 0 returns `beam`
 * itself: the generative ranking, unchanged. Sessions of one item only (next-item ranking).
 */
export function mixDense(beam: BeamSearchResult, denseLogProb: Float64Array /* [items] */, lambda: number, width: number, exclude?: Uint8Array): BeamSearchResult {
  if (lambda === 0) return beam;
  if (beam.items.length !== beam.logProb.length) throw new RangeError(`mixDense ranks one-item sessions; the beam has ${beam.items.length / Math.max(1, beam.logProb.length)} items per session`);
  const floor = beam.logProb.length > 0 ? Math.min(...beam.logProb) : 0;
  const candidates: { item: number; gen: number }[] = Array.from(beam.items, (item, b) => ({ item, gen: beam.logProb[b] }));
  const inBeam = new Set(beam.items);
  for (const item of denseTop(denseLogProb, width, exclude)) if (!inBeam.has(item)) candidates.push({ item, gen: floor });
  const scored = candidates.map((c, index) => ({ item: c.item, score: c.gen + lambda * denseLogProb[c.item], index }));
  scored.sort((a, b) => b.score - a.score || a.index - b.index);
  const kept = scored.slice(0, width);
  return { items: Int32Array.from(kept, (c) => c.item), logProb: Float32Array.from(kept, (c) => c.score) };
}

/**
 * Runs one beamSearch per user in lockstep: every user's step() waits until all live users have asked,
 * then one decodeLast serves them all (full recompute of the short decoder prefix).
 */
class LockstepDecoder {
  private pending: { user: number; tokens: Int32Array; resolve: (logits: Float32Array) => void; reject: (e: unknown) => void }[] = [];
  private prefixes: Int32Array[][]; // [user][row] token prefix
  live: number;

  constructor(private forward: SeedForward, private memory: unknown, users: number) {
    this.prefixes = Array.from({ length: users }, () => [new Int32Array(0)]);
    this.live = users;
  }

  session(user: number): DecoderSession {
    return {
      step: (tokens, parents) => {
        const previous = this.prefixes[user];
        this.prefixes[user] = Array.from(tokens, (t, b) => {
          const p = new Int32Array(previous[parents[b]].length + 1);
          p.set(previous[parents[b]]);
          p[p.length - 1] = t;
          return p;
        });
        return new Promise<Float32Array>((resolve, reject) => {
          this.pending.push({ user, tokens, resolve, reject });
          this.maybeFlush();
        });
      },
    };
  }

  finished(): void {
    this.live--;
    this.maybeFlush();
  }

  private maybeFlush(): void {
    if (this.pending.length === 0 || this.pending.length < this.live) return;
    const batch = this.pending;
    this.pending = [];
    void this.run(batch);
  }

  private async run(batch: typeof this.pending): Promise<void> {
    try {
      const V = seedVocabSize(this.forward.config);
      // Group rows by prefix length (all equal in lockstep, but stay correct if not).
      const byLength = new Map<number, { entry: number; row: number }[]>();
      batch.forEach((e, entry) => this.prefixes[e.user].forEach((p, row) => {
        const list = byLength.get(p.length) ?? [];
        list.push({ entry, row });
        byLength.set(p.length, list);
      }));
      const outputs = batch.map((e) => new Float32Array(e.tokens.length * V));
      for (const [length, list] of byLength) {
        const tokens = new Int32Array(list.length * length); // [rows, length]
        const rowUser = new Int32Array(list.length); // [rows]
        list.forEach(({ entry, row }, r) => {
          tokens.set(this.prefixes[batch[entry].user][row], r * length);
          rowUser[r] = batch[entry].user;
        });
        const logits = await this.forward.decodeLast(this.memory, rowUser, tokens, list.length, length); // [rows, vocab]
        list.forEach(({ entry, row }, r) => outputs[entry].set(logits.subarray(r * V, (r + 1) * V), row * V));
      }
      batch.forEach((e, i) => e.resolve(outputs[i]));
    } catch (error) {
      for (const e of batch) e.reject(error);
    }
  }
}

/** Greedy decoding with no trie constraint: is the argmax path (over the full vocab) a catalog item? */
async function greedyValid(forward: SeedForward, memory: unknown, users: number, trie: TrieView): Promise<boolean[]> {
  const { levels, codebookSize: K } = trie;
  const V = seedVocabSize(forward.config);
  const rowUser = Int32Array.from({ length: users }, (_, u) => u);
  const prefixes = new Int32Array(users * (levels + 1)); // [users, levels + 1]
  const node = new Int32Array(users); // trie node, -1 once off the trie
  for (let u = 0; u < users; u++) prefixes[u * (levels + 1)] = BOS;
  for (let level = 0; level < levels; level++) {
    const length = level + 1;
    const tokens = new Int32Array(users * length);
    for (let u = 0; u < users; u++) tokens.set(prefixes.subarray(u * (levels + 1), u * (levels + 1) + length), u * length);
    const logits = await forward.decodeLast(memory, rowUser, tokens, users, length); // [users, vocab]
    for (let u = 0; u < users; u++) {
      let best = 0;
      for (let v = 1; v < V; v++) if (logits[u * V + v] > logits[u * V + best]) best = v;
      prefixes[u * (levels + 1) + length] = best;
      if (node[u] < 0) continue;
      const code = best - SPECIAL_TOKENS - level * K;
      let next = -1;
      if (code >= 0 && code < K) {
        for (let e = trie.childStart[node[u]]; e < trie.childStart[node[u] + 1]; e++) if (trie.childCode[e] === code) next = level === levels - 1 ? 0 : trie.childNode[e];
      }
      node[u] = next;
    }
  }
  return Array.from(node, (n) => n >= 0);
}

export interface RankOptions {
  beamWidth: number; // ≥ 20 for exact @10 figures
  usersPerBatch: number; // users decoded together (rows per step = usersPerBatch × beamWidth)
  excludeHistory: boolean; // never recommend an item of the user's own history
  historyBias?: number[] | null; // [levels] the repeat-awareness layer (BeamSearchOptions.historyBias)
  denseMix?: number; // λ: rank beam ∪ dense top-beamWidth by log P_gen + λ · log softmax_dense (mixDense); 0 or absent = the beam's ranking (a denseHead model's only)
  onProgress?: (done: number) => void;
  onResult?: (example: number, result: BeamSearchResult, validGreedy: boolean) => void; // per-user output, in example order
}

/** Leave-one-out metrics of `examples` (one target item each) from the constrained beam. */
export async function evaluateRanking(forward: SeedForward, data: SeedData, trie: TrieView, examples: readonly Example[], options: RankOptions): Promise<RankingMetrics> {
  const acc = new RankingAccumulator();
  const { maxHistory } = forward.config;
  for (let start = 0; start < examples.length; start += options.usersPerBatch) {
    const chunk = examples.slice(start, start + options.usersPerBatch);
    const batch = makeBatch(data, chunk, maxHistory, 1);
    const memory = await forward.encode(batch.encoderTokens, chunk.length, batch.historyItems);
    try {
      const lambda = options.denseMix ?? 0;
      let dense: Float32Array | null = null; // [users, items]
      if (lambda !== 0) {
        if (!forward.denseLogits || !hasDenseHead(forward.config)) throw new SeedConfigError(`denseMix = ${lambda} needs a model with a dense head (denseHead); this one has none`);
        dense = await forward.denseLogits(memory, chunk.length, data.codes);
      }
      const valid = await greedyValid(forward, memory, chunk.length, trie);
      const lockstep = new LockstepDecoder(forward, memory, chunk.length);
      const results = await Promise.all(chunk.map(async (ex, u) => {
        let exclude: Uint8Array | undefined;
        if (options.excludeHistory) {
          exclude = new Uint8Array(data.itemCount);
          for (const item of data.sequences[ex.user].subarray(0, ex.targetStart)) exclude[item] = 1;
        }
        try {
          const history = data.sequences[ex.user].subarray(0, ex.targetStart);
          const beam = await beamSearch(lockstep.session(u), trie, { beamWidth: options.beamWidth, sessionLength: 1, exclude, historyBias: options.historyBias ? { bias: options.historyBias, history } : undefined });
          return dense ? mixDense(beam, logSoftmax(dense.subarray(u * data.itemCount, (u + 1) * data.itemCount)), lambda, options.beamWidth, exclude) : beam;
        } finally {
          lockstep.finished();
        }
      }));
      results.forEach((r, u) => {
        acc.add(rankOf(r.items, batch.targetItems[u]), valid[u]);
        options.onResult?.(start + u, r, valid[u]);
      });
    } finally {
      forward.release?.(memory);
    }
    options.onProgress?.(Math.min(examples.length, start + chunk.length));
  }
  return acc.result();
}
