// The transition prior: how often item b followed item a in the training data (a bundle's optional transitions.bin),
// and the rerank of the beam's sessions with it.
//
// Why: the seed model reaches items only through their semantic IDs, so it spreads probability over items that share a
// prefix; which item a user takes after a given one is an item-level fact that the codes blur. Counted transitions
// carry exactly that fact. The rerank orders the candidates by
//
//   log P(session | history) + λ · Σ_t log(ε + prior_t) + η · |{t : item_t in the history}|,
//   prior_t = Σ_{j=1..k} decay^(j−1) · c(x_{−j} → item_t) / (out(x_{−j}) + α)
//
// where x_{−j} is the j-th item before item_t (the history, then the session's earlier items), c the training count
// of that transition, out(a) all of a's counted successors and α a smoothing count. η weighs repeats of the user's
// own items (it matters only where the history is not excluded). The candidates are the beam's sessions and, for
// sessions of one item, the table's own `candidates` most likely next items that the beam missed, each scored by the
// model (teacher forcing), so that log P is the model's for every candidate. λ and η are fitted on the validation
// split when the bundle is exported (models/export/transitions-fit.ts); λ = η = 0 is the beam's order.
import { BundleFormatError } from './errors.ts';

export const TRANSITIONS_MAGIC = 0x4e525430; // "0TRN" read as a little-endian u32
export const TRANSITIONS_VERSION = 1;
const HEADER_BYTES = 16; // magic, version, items, pairs (u32 each)

/** The manifest's `transitions`: the rerank's constants (see the top of this file). */
export interface TransitionParams {
  lambda: number; // λ ≥ 0
  window: number; // k: items before each session item that vote (1..16)
  decay: number; // weight of the j-th item before: decay^(j−1), in (0, 1]
  epsilon: number; // ε > 0: floor of the prior inside the log
  smoothing: number; // α ≥ 0: added to each item's successor total
  history?: number; // η: added per session item that is in the user's history (absent = 0)
  candidates?: number; // sessions of one item: the table's top items added to the beam's, 0..1000 (absent = 0)
}

/** The constants chosen on Amazon Beauty's validation split (bench/README.md #18); λ and η are fitted per bundle. */
export const DEFAULT_TRANSITION_PARAMS: Omit<TransitionParams, 'lambda'> = { window: 3, decay: 0.5, epsilon: 1e-3, smoothing: 1, history: 0, candidates: 10 };

/** At most this many extra candidates per call (TransitionParams.candidates). */
export const MAX_TRANSITION_CANDIDATES = 1000;

/**
 * Per item its most frequent successors (item ids ascending within an item, for binary search) and their counts, and
 * the total count of all its successors (the ones dropped by `maxPerItem` included).
 */
export class TransitionTable {
  constructor(
    readonly itemCount: number,
    readonly offsets: Uint32Array, // [items + 1] into next / counts
    readonly next: Uint16Array | Uint32Array, // [pairs] successor item, ascending per item (u16 when items ≤ 65,536)
    readonly counts: Uint16Array, // [pairs] transition counts, capped at 65,535
    readonly totals: Uint32Array, // [items] sum of all successor counts of the item
  ) {}

  get pairs(): number {
    return this.next.length;
  }

  /**
   * Counts consecutive pairs (a, b), a ≠ b, of each sequence (item indices, oldest first); keeps per item the
   * `maxPerItem` most frequent successors (ties: lower item first).
   */
  static build(sequences: Iterable<ArrayLike<number>>, itemCount: number, maxPerItem = 100): TransitionTable {
    const maps: (Map<number, number> | undefined)[] = new Array(itemCount);
    const totals = new Uint32Array(itemCount);
    for (const seq of sequences) {
      for (let t = 1; t < seq.length; t++) {
        const a = seq[t - 1];
        const b = seq[t];
        if (a === b) continue;
        if (!(a >= 0 && a < itemCount && b >= 0 && b < itemCount)) throw new RangeError(`transition ${a} → ${b}: item indices must be in 0..${itemCount - 1}`);
        const m = (maps[a] ??= new Map());
        m.set(b, (m.get(b) ?? 0) + 1);
        totals[a]++;
      }
    }
    const offsets = new Uint32Array(itemCount + 1);
    const kept: [number, number][][] = [];
    for (let a = 0; a < itemCount; a++) {
      const list = maps[a] ? [...maps[a]!.entries()].sort((x, y) => y[1] - x[1] || x[0] - y[0]).slice(0, maxPerItem).sort((x, y) => x[0] - y[0]) : [];
      kept.push(list);
      offsets[a + 1] = offsets[a] + list.length;
    }
    const pairs = offsets[itemCount];
    const next = itemCount <= 65_536 ? new Uint16Array(pairs) : new Uint32Array(pairs);
    const counts = new Uint16Array(pairs);
    kept.forEach((list, a) => list.forEach(([b, c], i) => {
      next[offsets[a] + i] = b;
      counts[offsets[a] + i] = Math.min(c, 65_535);
    }));
    return new TransitionTable(itemCount, offsets, next, counts, totals);
  }

  /** c(a → b): the kept count, 0 when b is not among a's kept successors. */
  count(a: number, b: number): number {
    let lo = this.offsets[a];
    let hi = this.offsets[a + 1];
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const v = this.next[mid];
      if (v === b) return this.counts[mid];
      if (v < b) lo = mid + 1;
      else hi = mid;
    }
    return 0;
  }

  /** transitions.bin: the header, offsets, totals, successors, counts (little-endian). */
  encode(): Uint8Array {
    const idBytes = this.next.BYTES_PER_ELEMENT;
    const bytes = new Uint8Array(HEADER_BYTES + 4 * (this.itemCount + 1) + 4 * this.itemCount + idBytes * this.pairs + 2 * this.pairs);
    const view = new DataView(bytes.buffer);
    view.setUint32(0, TRANSITIONS_MAGIC, true);
    view.setUint32(4, TRANSITIONS_VERSION, true);
    view.setUint32(8, this.itemCount, true);
    view.setUint32(12, this.pairs, true);
    let at = HEADER_BYTES;
    const put = (a: ArrayLike<number>, width: 2 | 4): void => {
      for (let i = 0; i < a.length; i++, at += width) (width === 4 ? view.setUint32(at, a[i], true) : view.setUint16(at, a[i], true));
    };
    put(this.offsets, 4);
    put(this.totals, 4);
    put(this.next, idBytes as 2 | 4);
    put(this.counts, 2);
    return bytes;
  }

  /** Parses transitions.bin; a BundleFormatError naming `url` for anything that is not a table over `itemCount` items. */
  static decode(bytes: Uint8Array, itemCount: number, url: string): TransitionTable {
    const fail = (reason: string): never => {
      throw new BundleFormatError(url, `${reason}; re-export the bundle (onerec export)`);
    };
    if (bytes.length < HEADER_BYTES) fail(`${bytes.length} bytes: too short for a transition table`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (view.getUint32(0, true) !== TRANSITIONS_MAGIC) fail('not a transition table (bad magic)');
    if (view.getUint32(4, true) !== TRANSITIONS_VERSION) fail(`transition table version ${view.getUint32(4, true)}, this runtime reads ${TRANSITIONS_VERSION}`);
    const items = view.getUint32(8, true);
    const pairs = view.getUint32(12, true);
    if (items !== itemCount) fail(`a transition table over ${items} items, the bundle has ${itemCount}`);
    const idBytes = items <= 65_536 ? 2 : 4;
    const want = HEADER_BYTES + 4 * (items + 1) + 4 * items + idBytes * pairs + 2 * pairs;
    if (bytes.length !== want) fail(`${bytes.length} bytes where ${items} items and ${pairs} pairs take ${want}`);
    let at = HEADER_BYTES;
    const take = (n: number, width: 2 | 4): Uint16Array | Uint32Array => {
      const out = width === 4 ? new Uint32Array(n) : new Uint16Array(n);
      for (let i = 0; i < n; i++, at += width) out[i] = width === 4 ? view.getUint32(at, true) : view.getUint16(at, true);
      return out;
    };
    const offsets = take(items + 1, 4) as Uint32Array;
    const totals = take(items, 4) as Uint32Array;
    const next = take(pairs, idBytes);
    const counts = take(pairs, 2) as Uint16Array;
    if (offsets[0] !== 0 || offsets[items] !== pairs) fail('offsets do not span the pairs');
    for (let a = 0; a < items; a++) {
      if (offsets[a + 1] < offsets[a]) fail(`offsets decrease at item ${a}`);
      let sum = 0;
      for (let p = offsets[a]; p < offsets[a + 1]; p++) {
        if (next[p] >= items) fail(`item ${a} has successor ${next[p]}, past the ${items} items`);
        if (p > offsets[a] && next[p] <= next[p - 1]) fail(`item ${a}'s successors are not strictly ascending`);
        sum += counts[p];
      }
      if (sum > totals[a]) fail(`item ${a}'s kept counts add up to ${sum}, more than its total ${totals[a]}`);
    }
    return new TransitionTable(items, offsets, next, counts, totals);
  }
}

/**
 * One window item a's vote in prior_t (the top of this file): decay^(j−1) · c(a → b) / (out(a) + α), given
 * `weight` = decay^(j−1), `count` = c(a → b) and `out` = out(a) > 0. The rerank's prior and the table's candidates
 * both add these votes, so they must round alike: the product first, then the division.
 */
function windowVote(weight: number, count: number, out: number, smoothing: number): number {
  return (weight * count) / (out + smoothing);
}

/**
 * Σ_t log(ε + prior_t) of one session (item indices) after `history` (oldest first): each session item is voted for
 * by the `window` items before it, the history's last items and then the session's own earlier items.
 */
export function transitionLogPrior(table: TransitionTable, params: Omit<TransitionParams, 'lambda'>, history: ArrayLike<number>, session: ArrayLike<number>): number {
  let total = 0;
  for (let t = 0; t < session.length; t++) {
    let prior = 0;
    let w = 1;
    for (let j = 1; j <= params.window; j++, w *= params.decay) {
      const k = t - j; // the j-th item before session item t: the session's own while k ≥ 0, then the history's
      const a = k >= 0 ? session[k] : history[history.length + k];
      if (a === undefined) break;
      const out = table.totals[a];
      if (out > 0) prior += windowVote(w, table.count(a, session[t]), out, params.smoothing);
    }
    total += Math.log(params.epsilon + prior);
  }
  return total;
}

/**
 * The order of `n` sessions ([n, m] item indices, beam order) by logProb + λ · transitionLogPrior + η · (session items
 * in the history), best first; equal scores keep the given order. Returns the session indices and each one's score.
 */
export function rerankByTransitions(table: TransitionTable, params: TransitionParams, history: ArrayLike<number>, sessions: Int32Array, n: number, m: number, logProb: ArrayLike<number>): { order: number[]; score: Float64Array } {
  const eta = params.history ?? 0;
  const seen = eta !== 0 ? new Set(Array.from(history)) : null;
  const score = new Float64Array(n);
  for (let s = 0; s < n; s++) {
    const session = sessions.subarray(s * m, (s + 1) * m);
    score[s] = logProb[s] + params.lambda * transitionLogPrior(table, params, history, session);
    if (seen) for (const item of session) if (seen.has(item)) score[s] += eta;
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => score[b] - score[a] || a - b);
  return { order, score };
}

/**
 * The `n` items most likely to follow `history` by the table alone (prior_t of a session's first item, the top of
 * this file), best first, ties to the lower item; items with no counted transition from the window are never
 * returned, nor those `skip` refuses. At most k · 100 items have a count, so this is cheap.
 */
export function transitionCandidates(table: TransitionTable, params: Omit<TransitionParams, 'lambda'>, history: ArrayLike<number>, n: number, skip?: (item: number) => boolean): Int32Array {
  if (n <= 0) return new Int32Array(0);
  const prior = new Map<number, number>();
  let w = 1;
  for (let j = 1; j <= params.window; j++, w *= params.decay) {
    const a = history[history.length - j];
    if (a === undefined) break;
    const out = table.totals[a];
    if (out === 0) continue;
    for (let p = table.offsets[a]; p < table.offsets[a + 1]; p++) {
      const b = table.next[p];
      prior.set(b, (prior.get(b) ?? 0) + windowVote(w, table.counts[p], out, params.smoothing));
    }
  }
  const ranked = [...prior.entries()].filter(([item]) => !skip?.(item)).sort((x, y) => y[1] - x[1] || x[0] - y[0]);
  return Int32Array.from(ranked.slice(0, n), ([item]) => item);
}

/**
 * The extra candidates of a one-item session (recommend()'s pool; the weights' fit reads the same): the table's
 * `params.candidates` likeliest next items that are neither among `pooled` (the beams' items) nor `excluded`.
 */
export function extraCandidates(table: TransitionTable, params: Omit<TransitionParams, 'lambda'>, history: ArrayLike<number>, pooled: ArrayLike<number>, excluded?: (item: number) => boolean): Int32Array {
  const inPool = new Set(Array.from(pooled));
  return transitionCandidates(table, params, history, params.candidates ?? 0, (item) => inPool.has(item) || excluded?.(item) === true);
}

/** A manifest's `transitions` as TransitionParams, or the reason it is not. */
export function checkTransitionParams(value: unknown): TransitionParams | string {
  if (typeof value !== 'object' || value === null) return 'must be { lambda, window, decay, epsilon, smoothing, history?, candidates? }';
  const v = value as Record<string, unknown>;
  const num = (key: string): number => (typeof v[key] === 'number' && Number.isFinite(v[key]) ? (v[key] as number) : Number.NaN);
  const p: TransitionParams = { lambda: num('lambda'), window: num('window'), decay: num('decay'), epsilon: num('epsilon'), smoothing: num('smoothing') };
  if (!(p.lambda >= 0)) return `"lambda" must be a number ≥ 0, got ${JSON.stringify(v.lambda)}`;
  if (!(Number.isInteger(p.window) && p.window >= 1 && p.window <= 16)) return `"window" must be a whole number in 1..16, got ${JSON.stringify(v.window)}`;
  if (!(p.decay > 0 && p.decay <= 1)) return `"decay" must be in (0, 1], got ${JSON.stringify(v.decay)}`;
  if (!(p.epsilon > 0)) return `"epsilon" must be a number > 0, got ${JSON.stringify(v.epsilon)}`;
  if (!(p.smoothing >= 0)) return `"smoothing" must be a number ≥ 0, got ${JSON.stringify(v.smoothing)}`;
  if (v.history !== undefined) {
    p.history = num('history');
    if (!Number.isFinite(p.history)) return `"history" must be a finite number, got ${JSON.stringify(v.history)}`;
  }
  if (v.candidates !== undefined) {
    p.candidates = num('candidates');
    if (!(Number.isInteger(p.candidates) && p.candidates >= 0 && p.candidates <= MAX_TRANSITION_CANDIDATES)) return `"candidates" must be a whole number in 0..${MAX_TRANSITION_CANDIDATES}, got ${JSON.stringify(v.candidates)}`;
  }
  return p;
}
