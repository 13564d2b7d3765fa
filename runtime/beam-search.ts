// Trie-constrained beam search over semantic IDs: one implementation shared by the Node evaluator (engine
// model or ONNX Runtime in Node) and the browser worker (onnxruntime-web). Pure TypeScript, no Node or DOM.
//
// A session is `sessionLength` items; each item is `levels` code tokens preceded by BOS:
//   [BOS c1 … cL] [BOS c1 … cL] …
// The search feeds BOS itself (never scores it), extends beams only along trie edges, never emits an
// item twice within one beam's session nor an item marked in `exclude`, and keeps the `beamWidth` best
// partial sessions by summed log-softmax (over the full vocabulary). Top-k is deterministic: equal scores
// are ordered by lower parent row, then lower code.
import { BOS, SPECIAL_TOKENS } from './tokens.ts';
import { BeamSearchOptionError, DecoderOutputError } from './errors.ts';

/** One request's decoder, whatever runs it (engine model, the runtime's kernels, onnxruntime-web or onnxruntime-node). */
export interface DecoderSession {
  /**
   * Append tokens[b] to the beam that row b continues (parents[b] = its row in the previous call) and
   * return next-token logits. First call: tokens = [BOS], parents = [0], one row.
   */
  step(tokens: Int32Array /* [rows] */, parents: Int32Array /* [rows] */): Promise<Float32Array> /* [rows, vocab] */;
  /**
   * Optional, the same step returning only what the search reads: the log-softmax over the full
   * vocabulary at the `codebookSize` code tokens of the level that follows the fed token (any values
   * after an item's last code, where BOS follows). A decoder that computes the normaliser itself
   * (decoder_step.onnx's `code_scores`, see `codeLogProbs`) spares the search an exp
   * over every row's vocabulary.
   */
  stepCodeLogProbs?(tokens: Int32Array /* [rows] */, parents: Int32Array /* [rows] */): Promise<Float32Array | Float64Array> /* [rows, codebookSize] */;
  /**
   * True when stepCodeLogProbs also takes two tokens per row (tokens [rows, 2]: an item's last code, then
   * the next BOS) and returns the code log-probabilities after the second: one decoder call per item
   * boundary instead of two.
   */
  readonly twoTokenSteps?: boolean;
  dispose?(): void;
}

/**
 * Log-softmax over the full vocabulary at one level's K codes, in float64, from decoder_step.onnx's
 * `code_scores` (per row the K code logits, then the row's max logit and Σ exp(logit − max), computed in the
 * graph): logit − max − log Σ.
 */
export function codeLogProbs(codeScores: Float32Array /* [rows, K + 2] */, K: number): Float64Array /* [rows, K] */ {
  const rows = codeScores.length / (K + 2);
  const out = new Float64Array(rows * K);
  for (let r = 0; r < rows; r++) {
    const base = r * (K + 2);
    const logZ = codeScores[base + K] + Math.log(codeScores[base + K + 1]);
    for (let c = 0; c < K; c++) out[r * K + c] = codeScores[base + c] - logZ;
  }
  return out;
}

/**
 * How the search and Sessions.score() read a decoder: the next level's code log-probabilities ([rows, K])
 * when the session offers them, else full logits ([rows, vocab]) that the reader normalises. `feed` appends
 * one token per row (row b continues row parents[b]); when the tokens end an item it also feeds the BOS that
 * begins the next one (in the same call where the graph takes two tokens), so that what comes back always
 * scores a code.
 */
export interface ScoreReader {
  readonly normalised: boolean;
  feed(tokens: Int32Array /* [rows] */, parents: Int32Array /* [rows] */, endsItem: boolean): Promise<Float32Array | Float64Array> /* [rows, K or vocab] */;
}

export function scoreReader(session: DecoderSession): ScoreReader {
  const normalised = session.stepCodeLogProbs !== undefined;
  const step = (tokens: Int32Array, parents: Int32Array): Promise<Float32Array | Float64Array> =>
    normalised ? session.stepCodeLogProbs!(tokens, parents) : session.step(tokens, parents);
  return {
    normalised,
    async feed(tokens, parents, endsItem) {
      const rows = tokens.length;
      if (!endsItem) return step(tokens, parents);
      if (normalised && session.twoTokenSteps) {
        const pairs = new Int32Array(2 * rows).fill(BOS); // [rows, 2]: the item's last code, then BOS
        for (let b = 0; b < rows; b++) pairs[2 * b] = tokens[b];
        return session.stepCodeLogProbs!(pairs, parents);
      }
      // The scores after an item's last code predict BOS, which is fed, never scored.
      await step(tokens, parents);
      return step(new Int32Array(rows).fill(BOS), Int32Array.from({ length: rows }, (_, b) => b));
    },
  };
}

/** The fields of runtime/semantic-id-trie.ts's SemanticIdTrie that the search reads (CSR, BFS order, root 0). */
export interface TrieView {
  readonly levels: number; // codes per item (the suffix level included)
  readonly codebookSize: number; // K: slots per level
  readonly itemCount: number;
  readonly childStart: Int32Array; // [nodes + 1]
  readonly childCode: Uint16Array; // [edges], ascending within a node
  readonly childNode: Int32Array; // [edges]; at the last level the item index
}

export interface BeamSearchOptions {
  beamWidth: number; // beams kept after every step; also the number of sessions returned (at most)
  sessionLength: number; // items per generated session
  exclude?: Uint8Array; // [items], 1 = never generate (e.g. the user's history)
  // Score each code by its probability among the codes the search may take there (the trie's children that
  // are still allowed), i.e. the log-softmax renormalised over them, instead of over the full vocabulary.
  renormalize?: boolean;
  // The learned repeat-awareness layer (a bundle's manifest `historyBias`, fitted by models/seed/history-bias.ts):
  // at level l, every code that extends the prefix along one of the user's history items gets bias[l] added to
  // its logit, and the level's distribution is renormalised: p'(c) = p(c) · e^(bias[l] · onPath(c)) / Z'.
  historyBias?: HistoryBias;
}

/** See BeamSearchOptions.historyBias. */
export interface HistoryBias {
  bias: ArrayLike<number>; // [levels] logit offset per level for codes on a history item's path
  history: ArrayLike<number>; // the user's history item indices (any order, repeats allowed)
}

export interface BeamSearchResult {
  items: Int32Array; // [beams, sessionLength] item indices, best session first
  logProb: Float32Array; // [beams] summed log-probabilities of the code tokens
}

/** Float64 rounding slack when comparing a candidate with its row's score (both sums of ~10–100 log-probabilities). */
const PRUNE_SLACK = 1e-9;

/** What the search needs of a trie's shape, computed once per trie: levels, parents, and leaf counts. */
interface TrieShape {
  depth: Int32Array; // [nodes] level of the code chosen on leaving this node
  parent: Int32Array; // [nodes] −1 at the root
  leafParent: Int32Array; // [items] the node whose edge ends at the item
  alive: Int32Array; // [nodes] items below each node (no exclusions)
  spare: Int32Array | null; // [nodes] a copy of `alive` that one search at a time borrows (leaseAliveCounts); made at first use
  spareLent: boolean; // a search holds `spare` now
}

const shapes = new WeakMap<TrieView, TrieShape>();

function trieShape(trie: TrieView): TrieShape {
  let shape = shapes.get(trie);
  if (shape) return shape;
  const nodes = trie.childStart.length - 1;
  const depth = new Int32Array(nodes);
  const parent = new Int32Array(nodes).fill(-1);
  const leafParent = new Int32Array(trie.itemCount).fill(-1);
  for (let n = 0; n < nodes; n++) {
    for (let e = trie.childStart[n]; e < trie.childStart[n + 1]; e++) {
      if (depth[n] === trie.levels - 1) leafParent[trie.childNode[e]] = n;
      else {
        depth[trie.childNode[e]] = depth[n] + 1;
        parent[trie.childNode[e]] = n;
      }
    }
  }
  const alive = new Int32Array(nodes);
  // BFS order: every child has a higher index than its parent, so one reverse pass sums bottom-up.
  for (let n = nodes - 1; n >= 0; n--) {
    const last = depth[n] === trie.levels - 1;
    for (let e = trie.childStart[n]; e < trie.childStart[n + 1]; e++) alive[n] += last ? 1 : alive[trie.childNode[e]];
  }
  shape = { depth, parent, leafParent, alive, spare: null, spareLent: false };
  shapes.set(trie, shape);
  return shape;
}

/**
 * Per trie node: how many items below it are not excluded. The trie's counts less one at every ancestor of each
 * excluded item: O(excluded × levels) per search, not a pass over the trie.
 */
export function aliveLeafCounts(trie: TrieView, exclude: Uint8Array | undefined): Int32Array {
  const { alive: all, parent, leafParent } = trieShape(trie);
  if (!exclude) return all; // read only
  const alive = all.slice();
  for (const item of excludedItems(exclude)) for (let n = leafParent[item]; n >= 0; n = parent[n]) alive[n]--;
  return alive;
}

/** The items set in `exclude` ([items], 1 = excluded), ascending; zero words skipped 4 bytes at a time. */
function excludedItems(exclude: Uint8Array): number[] {
  const items: number[] = [];
  let item = 0;
  if (exclude.byteOffset % 4 === 0) {
    const words = new Uint32Array(exclude.buffer, exclude.byteOffset, exclude.length >> 2);
    for (let w = 0; w < words.length; w++) {
      if (words[w] === 0) continue;
      for (let b = 4 * w; b < 4 * w + 4; b++) if (exclude[b]) items.push(b);
    }
    item = 4 * words.length;
  }
  for (; item < exclude.length; item++) if (exclude[item]) items.push(item);
  return items;
}

/**
 * aliveLeafCounts for the length of one search, without copying the trie's counts: the trie's spare copy with the
 * excluded items' ancestors decremented, given back (incremented again) by `release`. A second search on the same trie
 * while the spare is lent gets a copy of its own. At 1 M items that saves a 4 MB copy per search.
 */
function leaseAliveCounts(trie: TrieView, exclude: Uint8Array | undefined): { alive: Int32Array; release: () => void } {
  const shape = trieShape(trie);
  if (!exclude) return { alive: shape.alive, release: () => undefined }; // read only
  if (shape.spareLent) return { alive: aliveLeafCounts(trie, exclude), release: () => undefined };
  const spare = (shape.spare ??= shape.alive.slice());
  shape.spareLent = true;
  const { parent, leafParent } = shape;
  const items = excludedItems(exclude);
  for (const item of items) for (let n = leafParent[item]; n >= 0; n = parent[n]) spare[n]--;
  return {
    alive: spare,
    release: () => {
      for (const item of items) for (let n = leafParent[item]; n >= 0; n = parent[n]) spare[n]++;
      shape.spareLent = false;
    },
  };
}

/**
 * Which trie nodes and items lie on a history item's path: onPath[node] = 1 when the node's prefix is a prefix
 * of some history item (the root excluded), inHistory[item] = 1 for the items themselves.
 */
export function historyPaths(trie: TrieView, history: ArrayLike<number>): { onPath: Uint8Array; inHistory: Uint8Array } {
  const up = trieShape(trie);
  const onPath = new Uint8Array(trie.childStart.length - 1);
  const inHistory = new Uint8Array(trie.itemCount);
  for (let h = 0; h < history.length; h++) {
    const item = history[h];
    if (!(item >= 0 && item < trie.itemCount)) throw new BeamSearchOptionError(`historyBias.history holds ${item}, not an item index in 0..${trie.itemCount - 1}`);
    inHistory[item] = 1;
    for (let n = up.leafParent[item]; n > 0 && !onPath[n]; n = up.parent[n]) onPath[n] = 1;
  }
  return { onPath, inHistory };
}

/** Whether trie child `child` (an item when `last`) lies on a history item's path (see historyPaths). */
export function onHistoryPath(paths: { onPath: Uint8Array; inHistory: Uint8Array }, child: number, last: boolean): boolean {
  return (last ? paths.inHistory[child] : paths.onPath[child]) === 1;
}

/**
 * At one trie node: S, the probability (exp of `logProb(code)`) of the node's children on a history path, and
 * whether `code` is one of them.
 */
export function historyMass(trie: TrieView, paths: { onPath: Uint8Array; inHistory: Uint8Array }, node: number, last: boolean, code: number, logProb: (code: number) => number): { S: number; onPath: boolean } {
  let S = 0;
  let onPath = false;
  for (let e = trie.childStart[node]; e < trie.childStart[node + 1]; e++) {
    if (!onHistoryPath(paths, trie.childNode[e], last)) continue;
    S += Math.exp(logProb(trie.childCode[e]));
    if (trie.childCode[e] === code) onPath = true;
  }
  return { S, onPath };
}

/** log Σ exp over logits[base … base + vocab), stably: one row's log-softmax normaliser. */
export function logSumExpRow(logits: ArrayLike<number>, base: number, vocab: number): number {
  let max = -Infinity;
  for (let v = 0; v < vocab; v++) max = Math.max(max, logits[base + v]);
  let sum = 0;
  for (let v = 0; v < vocab; v++) sum += Math.exp(logits[base + v] - max);
  return max + Math.log(sum);
}

/** The trie node reached from `node` along code `code`, or −1 (at the last level: the item index). */
export function childOf(trie: TrieView, node: number, code: number): number {
  for (let e = trie.childStart[node]; e < trie.childStart[node + 1]; e++) if (trie.childCode[e] === code) return trie.childNode[e];
  return -1;
}

/**
 * historyBias at one trie node, for teacher forcing: the change of the log-probability of taking `code` there,
 * β·onPath(code) − log((1 − S) + S·e^β), where S sums `logProb(c)` exponentiated over the node's children on a
 * history path (the full-vocabulary normaliser, as the beam search without `renormalize`).
 */
export function historyBiasTerm(trie: TrieView, onHistory: { onPath: Uint8Array; inHistory: Uint8Array }, node: number, last: boolean, beta: number, code: number, logProb: (code: number) => number): number {
  const { S, onPath } = historyMass(trie, onHistory, node, last, code, logProb);
  return (onPath ? beta : 0) - biasLogNormaliser(S, beta);
}

/**
 * log((1 − S) + S · e^β): the change of a level's log-normaliser when the codes holding probability S get β
 * added to their logits (> 0 even when rounding puts S a hair above 1).
 */
export function biasLogNormaliser(S: number, beta: number): number {
  return Math.log(Math.max(0, 1 - S) + S * Math.exp(beta));
}

function checkOptions(trie: TrieView, options: BeamSearchOptions): void {
  const { beamWidth, sessionLength, exclude } = options;
  if (!Number.isInteger(beamWidth) || beamWidth < 1) {
    throw new BeamSearchOptionError(`beamWidth must be a positive integer, got ${beamWidth}`);
  }
  if (!Number.isInteger(sessionLength) || sessionLength < 1) {
    throw new BeamSearchOptionError(`sessionLength must be a positive integer, got ${sessionLength}`);
  }
  if (exclude && exclude.length !== trie.itemCount) {
    throw new BeamSearchOptionError(
      `exclude has ${exclude.length} entries but the trie has ${trie.itemCount} items; pass one byte per catalog item`,
    );
  }
  const bias = options.historyBias?.bias;
  if (bias && (bias.length !== trie.levels || !Array.from(bias).every(Number.isFinite))) {
    throw new BeamSearchOptionError(`historyBias.bias must hold ${trie.levels} finite numbers (one per level), got [${Array.from(bias)}]`);
  }
}

/** Generate the `beamWidth` best sessions (fewer if the catalog cannot fill them). */
export async function beamSearch(session: DecoderSession, trie: TrieView, options: BeamSearchOptions): Promise<BeamSearchResult> {
  checkOptions(trie, options);
  const lease = leaseAliveCounts(trie, options.exclude);
  try {
    return await searchWith(session, trie, options, lease.alive);
  } finally {
    lease.release();
  }
}

/** beamSearch's body, over `alive` (aliveLeafCounts of the options' exclusions; read only). */
async function searchWith(session: DecoderSession, trie: TrieView, options: BeamSearchOptions, alive: Int32Array): Promise<BeamSearchResult> {
  const { beamWidth, sessionLength, exclude } = options;
  const { levels, codebookSize: K } = trie;
  const vocab = SPECIAL_TOKENS + levels * K;
  const onHistory = options.historyBias && options.historyBias.history.length > 0 ? historyPaths(trie, options.historyBias.history) : null;
  const bias = options.historyBias?.bias;

  // Beam state, one row per live beam (rows ordered best first).
  let rows = 1;
  let node = new Int32Array([0]); // [rows] trie node of the item being generated
  let score = new Float64Array([0]); // [rows]
  let items = new Int32Array(sessionLength); // [rows, sessionLength] finished items
  let paths = new Int32Array(sessionLength * levels); // [rows, sessionLength, levels] trie node entered at each level (items' ancestors)

  // Per row the search reads either full logits ([rows, vocab], normalised here) or the next level's code
  // log-probabilities ([rows, K], already normalised) when the session offers them.
  const reader = scoreReader(session);
  const { normalised } = reader;
  const width = normalised ? K : vocab;
  const checkLogits = (logits: Float32Array | Float64Array, n: number): void => {
    if (logits.length !== n * width) {
      const what = normalised ? 'code log-probabilities' : 'logits';
      throw new DecoderOutputError(`decoder step returned ${logits.length} ${what} for ${n} rows; expected rows × ${normalised ? 'codebookSize' : 'vocab'} = ${n} × ${width}`);
    }
  };

  // The selection heap (root = worst kept candidate): score, candidate index, row and trie edge per slot.
  const heapScore = new Float64Array(beamWidth);
  const heapIndex = new Int32Array(beamWidth);
  const heapRow = new Int32Array(beamWidth);
  const heapEdge = new Int32Array(beamWidth);
  const worse = (a: number, b: number): boolean => heapScore[a] < heapScore[b] || (heapScore[a] === heapScore[b] && heapIndex[a] > heapIndex[b]);
  const swap = (a: number, b: number): void => {
    const s = heapScore[a]; heapScore[a] = heapScore[b]; heapScore[b] = s;
    const c = heapIndex[a]; heapIndex[a] = heapIndex[b]; heapIndex[b] = c;
    const r = heapRow[a]; heapRow[a] = heapRow[b]; heapRow[b] = r;
    const e = heapEdge[a]; heapEdge[a] = heapEdge[b]; heapEdge[b] = e;
  };
  const heapPush = (at: number, s: number, c: number, r: number, e: number): void => {
    heapScore[at] = s; heapIndex[at] = c; heapRow[at] = r; heapEdge[at] = e;
    for (let i = at; i > 0;) {
      const parent = (i - 1) >> 1;
      if (!worse(i, parent)) break;
      swap(i, parent);
      i = parent;
    }
  };
  const heapReplaceRoot = (size: number, s: number, c: number, r: number, e: number): void => {
    heapScore[0] = s; heapIndex[0] = c; heapRow[0] = r; heapEdge[0] = e;
    for (let i = 0; ;) {
      const left = 2 * i + 1;
      if (left >= size) break;
      const child = left + 1 < size && worse(left + 1, left) ? left + 1 : left;
      if (!worse(child, i)) break;
      swap(i, child);
      i = child;
    }
  };

  // Whether row r may take trie edge e at item i, level `level`: at the last level the item must be neither
  // excluded nor already in the row's session; above it, some item below the edge must still be possible.
  // (Defined once: a closure per row cost ~10 % of the search.)
  const edgeAllowed = (r: number, e: number, i: number, level: number, last: boolean): boolean => {
    const child = trie.childNode[e];
    if (last) {
      if (exclude && exclude[child]) return false;
      for (let j = 0; j < i; j++) if (items[r * sessionLength + j] === child) return false;
      return true;
    }
    // Skip prefixes whose remaining items are all excluded or already in this beam's session.
    let used = 0;
    for (let j = 0; j < i; j++) if (paths[(r * sessionLength + j) * levels + level + 1] === child) used++;
    return alive[child] - used > 0;
  };

  let logits = await reader.feed(new Int32Array([BOS]), new Int32Array([0]), false); // [1, width]
  checkLogits(logits, 1);
  if (alive[0] === 0) return { items: new Int32Array(0), logProb: new Float32Array(0) };

  for (let i = 0; i < sessionLength; i++) {
    for (let level = 0; level < levels; level++) {
      const last = level === levels - 1;
      // Keep the `beamWidth` best valid (row, edge) candidates in a heap whose root is the worst kept one.
      // Order: higher score first, then lower candidate index; candidates are produced in (row, code) order,
      // so a new candidate that only ties the root is the worse of the two.
      let kept = 0;
      let produced = 0; // candidates seen so far = the next candidate's index
      for (let r = 0; r < rows; r++) {
        // Rows are ordered best first and a candidate never scores above its row (log-probabilities ≤ 0):
        // once the heap is full with a root above this row's score, no later row can enter it.
        if (kept === beamWidth && heapScore[0] > score[r] + PRUNE_SLACK) break;
        const base = r * width;
        // Code c of this level is at base + offset + c.
        const offset = normalised ? 0 : SPECIAL_TOKENS + level * K;
        // Full logits: the log-softmax normaliser over the vocabulary, computed on the row's first candidate
        // that could enter the heap (the exponentials are most of the search's own time), and logZ ≥ max
        // bounds every candidate of the row by score + logit − max without them. Normalised rows: 0. With
        // `renormalize`, both come from the allowed children instead (the full-vocabulary pass is skipped).
        let max = 0;
        let logZ = 0;
        const n = node[r];
        if (options.renormalize) {
          // log-softmax over the allowed children's logits (any per-row constant, such as the full-vocabulary
          // normaliser, cancels): value − log Σ_allowed exp(value).
          let top = -Infinity;
          for (let e = trie.childStart[n]; e < trie.childStart[n + 1]; e++) if (edgeAllowed(r, e, i, level, last)) top = Math.max(top, logits[base + offset + trie.childCode[e]]);
          let sum = 0;
          for (let e = trie.childStart[n]; e < trie.childStart[n + 1]; e++) if (edgeAllowed(r, e, i, level, last)) sum += Math.exp(logits[base + offset + trie.childCode[e]] - top);
          max = top;
          logZ = top + Math.log(sum);
        } else if (!normalised) {
          max = -Infinity;
          for (let v = 0; v < vocab; v++) if (logits[base + v] > max) max = logits[base + v];
          logZ = NaN;
        }
        // historyBias: the codes on a history item's path get beta added; `shift` renormalises the level
        // (over the full vocabulary, or over the allowed children with `renormalize`).
        const beta = bias ? bias[level] : 0;
        let shift = 0;
        if (onHistory && beta !== 0) {
          let S = 0;
          for (let e = trie.childStart[n]; e < trie.childStart[n + 1]; e++) {
            if (!onHistoryPath(onHistory, trie.childNode[e], last) || (options.renormalize && !edgeAllowed(r, e, i, level, last))) continue;
            if (Number.isNaN(logZ)) logZ = logSumExpRow(logits, base, vocab);
            S += Math.exp(logits[base + offset + trie.childCode[e]] - logZ);
          }
          shift = -biasLogNormaliser(S, beta);
        }
        for (let e = trie.childStart[n]; e < trie.childStart[n + 1]; e++) {
          if (!edgeAllowed(r, e, i, level, last)) continue;
          const value = logits[base + offset + trie.childCode[e]] + shift + (beta !== 0 && onHistory !== null && onHistoryPath(onHistory, trie.childNode[e], last) ? beta : 0);
          const c = produced++;
          if (kept === beamWidth && score[r] + value - max < heapScore[0] - PRUNE_SLACK) continue;
          if (Number.isNaN(logZ)) logZ = logSumExpRow(logits, base, vocab);
          const s = score[r] + value - logZ;
          if (kept < beamWidth) {
            heapPush(kept++, s, c, r, e);
          } else if (s > heapScore[0]) {
            heapReplaceRoot(kept, s, c, r, e);
          }
        }
      }
      if (kept === 0) return { items: new Int32Array(0), logProb: new Float32Array(0) };
      // The kept candidates best first.
      const order = Array.from({ length: kept }, (_, h) => h);
      order.sort((a, b) => heapScore[b] - heapScore[a] || heapIndex[a] - heapIndex[b]);

      const nextNode = new Int32Array(kept);
      const nextScore = new Float64Array(kept);
      const nextItems = new Int32Array(kept * sessionLength);
      const nextPaths = new Int32Array(kept * sessionLength * levels);
      const tokens = new Int32Array(kept); // [kept]
      const parents = new Int32Array(kept); // [kept]
      for (let b = 0; b < kept; b++) {
        const h = order[b];
        const r = heapRow[h];
        const e = heapEdge[h];
        nextItems.set(items.subarray(r * sessionLength, (r + 1) * sessionLength), b * sessionLength);
        nextPaths.set(paths.subarray(r * sessionLength * levels, (r + 1) * sessionLength * levels), b * sessionLength * levels);
        nextScore[b] = heapScore[h];
        if (last) {
          nextItems[b * sessionLength + i] = trie.childNode[e];
          nextNode[b] = 0;
        } else {
          nextNode[b] = trie.childNode[e];
          nextPaths[(b * sessionLength + i) * levels + level + 1] = trie.childNode[e];
        }
        tokens[b] = SPECIAL_TOKENS + level * K + trie.childCode[e];
        parents[b] = r;
      }
      rows = kept;
      node = nextNode;
      score = nextScore;
      items = nextItems;
      paths = nextPaths;

      if (last && i === sessionLength - 1) break; // the final code needs no further logits
      logits = await reader.feed(tokens, parents, last);
      checkLogits(logits, rows);
    }
  }
  return { items, logProb: Float32Array.from(score) };
}
