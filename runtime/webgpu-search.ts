/// <reference types="@webgpu/types" preserve="true" />
// The beam search's steps on the GPU, for the WGSL seed model (runtime/webgpu-decoder.ts): a selection kernel that takes
// the place of the CPU's top-k between two decoder steps, the trie and the request's exclusions in GPU buffers, and the
// host-side mirror of the beams that lets one read-back per call (or per generated item) serve the shared CPU search.
//
// How a call runs (WebGpuDecoder.searchSession): at the search's first call the decoder records every step of the
// session in one submit, with this kernel between two steps choosing the next beams (log-softmax at the allowed codes
// of each beam's trie node, beam score + code score, the history bias, top-k in the CPU's tie order) and writing their
// tokens, parents and state where the next step reads them; the next step gathers each beam's KV cache from its parent.
// At an item's last level the kernel applies the session rules the CPU search applies there: an item neither excluded
// (the request's exclusions as a bitset) nor already in the beam's session (each row carries its session's items and
// trie paths, gathered from its parent at every selection), and the history bias on the history's own items. One
// read-back returns every step's code scores and the kernel's choices. The CPU search (runtime/beam-search.ts,
// unchanged) then runs its own steps on those scores, in float64, and the session serves each of its calls from the
// read-back while the search feeds exactly the beams the kernel chose. Where they differ (the kernel sums in float32,
// so a near-tie can go the other way; or `renormalize`, which the kernel does not apply), the decoder runs the
// remaining steps again from the search's own choice, from the KV cache the last agreeing step left (each step of a
// session writes its own cache buffer): one more submit and read-back per disagreement. Sessions are therefore the CPU search's by construction: the search reads the same
// float32 scores either way, and the GPU only saves the round trips.
//
// One read-back per item instead (each submit ending at the item's last level, whose selection is then the CPU's):
// with `searchReadBacks: 'item'` at WebGpuDecoder.create; where a whole session's caches would pass the decoder's
// SESSION_CACHE_BYTES (runtime/webgpu-decoder.ts); and for a request whose alive counts exclude items but whose
// SearchContext lacks `exclude` (the counts alone do not tell which items of a trie node are excluded). A disagreement
// then costs a re-run of at most the rest of one item.
import { BOS, SPECIAL_TOKENS } from './tokens.ts';
import { biasLogNormaliser, historyMass, type TrieView } from './beam-search.ts';
import { WG } from './webgpu-kernels.ts';

/** i32 slots of the Params header at the head of every step's inputs slot (the decoder's and this kernel's). */
export const PARAMS = 12;
/** Params field indices (the WGSL struct's order). */
export const P = { T: 0, position: 1, codeStart: 2, cap: 3, tokens: 4, parents: 5, rows: 6, level: 7, item: 8, beamWidth: 9, state: 10 } as const;

/** What the search session must know of the request: the trie it walks, the beams it keeps, the items it must not emit. */
export interface SearchContext {
  trie: TrieView;
  beamWidth: number;
  sessionLength: number;
  alive: Int32Array; // [nodes] items below each trie node that the search may still emit (runtime/beam-search.ts aliveLeafCounts)
  /**
   * The search's `exclude` ([items], 1 = never generate), where it has one: the kernel's rule at an item's last level.
   * Without it, a request whose alive counts exclude any item (alive[0] < itemCount) reads back once per item.
   */
  exclude?: Uint8Array;
  /** The search's historyBias, when it applies one: β per level and the history's paths (beam-search.ts historyPaths). */
  historyBias?: { bias: ArrayLike<number>; paths: { onPath: Uint8Array; inHistory: Uint8Array } };
}

/** Whether the kernel can make an item's last choice for this request: it knows which items are excluded. */
export function lastLevelKnown(context: SearchContext): boolean {
  return context.exclude !== undefined || context.alive[0] === context.trie.itemCount;
}

/**
 * The request buffer of the selection kernel: β per level (f32 bits), the words of an item bitset, alive [nodes],
 * onPath [nodes], then two item bitsets: excluded, in the history (the history bias's last level).
 */
export function requestHead(context: SearchContext): Int32Array {
  const { levels, itemCount } = context.trie;
  const nodes = context.trie.childStart.length - 1;
  const words = Math.ceil(itemCount / 32);
  const head = new Int32Array(levels + 1 + 2 * nodes + 2 * words);
  const bias = new Float32Array(head.buffer, 0, levels);
  head[levels] = words;
  head.set(context.alive, levels + 1);
  const excludedAt = levels + 1 + 2 * nodes;
  // Zero words of `flags` skipped 4 bytes at a time (at 1 M items most of the array).
  const setBits = (flags: Uint8Array, at: number): void => {
    const aligned = flags.byteOffset % 4 === 0 ? new Uint32Array(flags.buffer, flags.byteOffset, itemCount >> 2) : new Uint32Array(0);
    for (let w = 0; w < aligned.length; w++) {
      if (aligned[w] === 0) continue;
      for (let item = 4 * w; item < 4 * w + 4; item++) if (flags[item]) head[at + (item >> 5)] |= 1 << (item & 31);
    }
    for (let item = 4 * aligned.length; item < itemCount; item++) if (flags[item]) head[at + (item >> 5)] |= 1 << (item & 31);
  };
  if (context.exclude) setBits(context.exclude, excludedAt);
  if (context.historyBias) {
    for (let l = 0; l < levels; l++) bias[l] = context.historyBias.bias[l];
    head.set(context.historyBias.paths.onPath, levels + 1 + nodes);
    setBits(context.historyBias.paths.inHistory, excludedAt + words);
  }
  return head;
}

/** The trie as one i32 buffer: [nodes, edges, codeAt, nodeAt], childStart [nodes + 1], childCode [edges], childNode [edges]. */
export function packTrie(trie: TrieView): Int32Array {
  const nodes = trie.childStart.length - 1;
  const edges = trie.childCode.length;
  const codeAt = 4 + nodes + 1;
  const nodeAt = codeAt + edges;
  const out = new Int32Array(nodeAt + edges);
  out.set([nodes, edges, codeAt, nodeAt]);
  out.set(trie.childStart, 4);
  out.set(trie.childCode, codeAt);
  out.set(trie.childNode, nodeAt);
  return out;
}

/**
 * The optional device features the selection kernel uses, of those `adapter` offers: ask for them at requestDevice()
 * (the runtime's WGSL device, and the engine's Node device, which tests and benches run the search on). An adapter
 * without a features set (a test's stand-in) offers none.
 */
export function searchFeatures(adapter: { features?: ReadonlySet<string> }): GPUFeatureName[] {
  return adapter.features?.has('subgroups') ? ['subgroups'] : [];
}

/** Rows whose candidates each thread of the selection kernel keeps in registers (beam widths up to this never rescan global memory). */
export const SELECT_CACHE_ROWS = 32;

/**
 * i32s of one step's inputs slot for `cap` rows: Params, tokens [cap, 2], parents [cap], then the beams' state: score
 * (f32 bits), trie node, history-bias shift [cap] each, and paths [cap, sessionLength, levels] (per earlier item of
 * the row's session: the item at [0], the trie node entered after level l's code at [l + 1], as BeamMirror.paths).
 */
export function slotInts(cap: number, sessionLength: number, levels: number): number {
  return PARAMS + 6 * cap + cap * sessionLength * levels;
}

/**
 * WGSL of the selection between two steps, one workgroup: reads the step's code scores ([rows, K + 2]: the level's K
 * code logits, the row's max logit and Σ exp) and its beams' state from the step's inputs slot (slotInts); writes the
 * next step's rows, tokens, parents and state into the next slot. Above an item's last level a code is allowed where
 * the trie has an edge and some item below it is still possible for the beam (alive − the beam's earlier items through
 * that node > 0); at the last level where the item is neither excluded nor one of the beam's earlier items: the CPU
 * search's edgeAllowed. The history bias's codes are those on a history item's path (onPath; at the last level the
 * history's items). Top-k: beamWidth rounds, each taking the best candidate after the previous one in the order higher
 * score, then lower (row, code): the CPU search's order. After the last level the next step's tokens are the code and
 * BOS, and its rows start the next item at the trie's root.
 *
 * Each thread owns the candidates at its edge offsets (e − the row's first edge ≡ lid mod WG). With K ≤ WG and at most
 * `cacheRows` rows, it computes them once into registers (score, index, child); a round then costs the winner's owner
 * a pass over those registers, not over global memory (scores, trie, alive counts, logs). The owner of each round's
 * winner writes the next step's token, parent, state and its own path entry; after the rounds every thread copies the
 * rest of the kept rows' paths from their parents. Wider beams rescan global memory.
 */
export function selectKernel(codebookSize: number, levels: number, sessionLength: number, cacheRows = SELECT_CACHE_ROWS, subgroups = false): string {
  const C = Math.max(1, cacheRows);
  // The candidate of row r at edge e into (s, idx, child), or `continue` when the code is not allowed: the row's
  // prologue (n, base, logZ, s0, shift) is in scope.
  const candidate = `let child = trie[nodeAt + e];
          if (!allowed(r, child, level, item, last, st, cap)) { continue; }
          let code = u32(trie[codeAt + e]);
          let s = s0 + (scores[base + code] - logZ + shift + select(0.0, beta, onHistory(child, last)));
          let idx = r * K + code;`;
  const row = `let n = u32(cur[st + cap + r]);
        let base = r * (K + 2u);
        let logZ = scores[base + K] + log(scores[base + K + 1u]);
        let s0 = bitcast<f32>(cur[st + r]);
        let shift = bitcast<f32>(cur[st + 2u * cap + r]);`;
  return /* wgsl */ `${subgroups ? '\nenable subgroups;' : ''}
@group(0) @binding(0) var<storage, read> scores: array<f32>; // this step's code scores [rows, K + 2]
@group(0) @binding(1) var<storage, read_write> cur: array<i32>; // this step's inputs slot (slotInts)
@group(0) @binding(2) var<storage, read_write> nxt: array<i32>; // the next step's inputs slot
@group(0) @binding(3) var<storage, read> trie: array<i32>; // packTrie's layout
@group(0) @binding(4) var<storage, read> req: array<i32>; // requestHead's layout
const WG = ${WG}u; const K = ${codebookSize}u; const L = ${levels}u; const SL = ${sessionLength}u; const TOKEN0 = ${SPECIAL_TOKENS}u; const BOS = ${BOS};
const SPAN = SL * L; // a row's paths
const C = ${C}u; // rows cached per thread
const NONE = 0xffffffffu;
var<workgroup> bestScore: array<f32, WG>;
var<workgroup> bestIndex: array<u32, WG>;
var<workgroup> width: u32;${subgroups ? `
var<workgroup> slots: atomic<u32>; // subgroups that wrote their best this round
var<workgroup> winScore: f32;
var<workgroup> winIndex: u32;` : ''}
var<private> cacheScore: array<f32, C>;
var<private> cacheIndex: array<u32, C>; // NONE: no allowed candidate of this thread in that row
var<private> cacheChild: array<i32, C>;
var<private> ALIVE: u32; var<private> ONPATH: u32; var<private> EXCLUDED: u32; var<private> IN_HISTORY: u32;

// (s, i) comes before (t, j): a higher score, or the same score and a lower (row, code) index.
fn before(s: f32, i: u32, t: f32, j: u32) -> bool {
  return i != NONE && (j == NONE || s > t || (s == t && i < j));
}

fn bit(at: u32, item: u32) -> bool { return (u32(req[at + item / 32u]) & (1u << (item % 32u))) != 0u; }

// Whether trie child \`child\` (an item at the last level) lies on a history item's path.
fn onHistory(child: i32, last: bool) -> bool {
  if (last) { return bit(IN_HISTORY, u32(child)); }
  return req[ONPATH + u32(child)] != 0;
}

// Whether row r may take the edge to \`child\` at item \`item\`: the CPU search's edgeAllowed, over the row's paths.
fn allowed(r: u32, child: i32, level: u32, item: u32, last: bool, st: u32, cap: u32) -> bool {
  let paths = st + 3u * cap + r * SPAN;
  if (last) {
    if (bit(EXCLUDED, u32(child))) { return false; }
    for (var j = 0u; j < item; j++) { if (cur[paths + j * L] == child) { return false; } }
    return true;
  }
  var used = 0;
  for (var j = 0u; j < item; j++) { if (cur[paths + j * L + level + 1u] == child) { used++; } }
  return req[ALIVE + u32(child)] - used > 0;
}

@compute @workgroup_size(${WG}) fn main(@builtin(local_invocation_id) li: vec3u${subgroups ? ', @builtin(subgroup_invocation_id) sid: u32' : ''}) {
  let lid = li.x;
  let cap = u32(cur[${P.cap}]); let rows = u32(cur[${P.rows}]); let level = u32(cur[${P.level}]); let item = u32(cur[${P.item}]);
  let st = u32(cur[${P.state}]);
  let last = level == L - 1u;
  let nodes = u32(trie[0]); let codeAt = u32(trie[2]); let nodeAt = u32(trie[3]);
  let words = u32(req[L]);
  ALIVE = L + 1u; ONPATH = ALIVE + nodes; EXCLUDED = ONPATH + nodes; IN_HISTORY = EXCLUDED + words;
  // History bias: the level's β on the codes along a history item's path, each row renormalised by its shift (the
  // state's third column): −log((1 − S) + S e^β), S the row's probability on those codes, as the CPU search.
  let beta = bitcast<f32>(req[level]);
  for (var r = lid; r < rows; r += WG) {
    var shift = 0.0;
    if (beta != 0.0) {
      let n = u32(cur[st + cap + r]);
      let base = r * (K + 2u);
      let logZ = scores[base + K] + log(scores[base + K + 1u]);
      var S = 0.0;
      for (var e = u32(trie[4u + n]); e < u32(trie[5u + n]); e++) {
        if (onHistory(trie[nodeAt + e], last)) { S += exp(scores[base + u32(trie[codeAt + e])] - logZ); }
      }
      shift = -log(max(0.0, 1.0 - S) + S * exp(beta));
    }
    cur[st + 2u * cap + r] = bitcast<i32>(shift);
  }
  storageBarrier();
  if (lid == 0u) { width = u32(cur[${P.beamWidth}]);${subgroups ? ' atomicStore(&slots, 0u);' : ''} }
  let rounds = workgroupUniformLoad(&width);
  // A row's edges are at most K, so with K ≤ WG a thread owns at most one candidate per row.
  let cached = K <= WG && rows <= C;
  if (cached) {
    for (var r = 0u; r < rows; r++) {
      cacheIndex[r] = NONE;
      ${row}
      for (var e = u32(trie[4u + n]) + lid; e < u32(trie[5u + n]); e += WG) {
          ${candidate}
          cacheScore[r] = s; cacheIndex[r] = idx; cacheChild[r] = child;
      }
    }
  }
  // The entry of the row's paths that this level writes: the item at [0], else the node entered at [level + 1].
  let entry = item * L + select(level + 1u, 0u, last);
  let nst = u32(nxt[${P.state}]);
  // Each thread holds its best candidate after the previous round's winner; only the winner's owner looks again.
  var prevScore = 0.0; var prevIndex = NONE; var first = true;
  var kept = 0u;
  var bs = 0.0; var bi = NONE; var bc = -1; var stale = true;
  for (var t = 0u; t < rounds; t++) {
    if (stale) {
      bs = 0.0; bi = NONE;
      if (cached) {
        for (var r = 0u; r < rows; r++) {
          let s = cacheScore[r]; let idx = cacheIndex[r];
          if ((first || before(prevScore, prevIndex, s, idx)) && before(s, idx, bs, bi)) { bs = s; bi = idx; bc = cacheChild[r]; }
        }
      } else {
        for (var r = 0u; r < rows; r++) {
          ${row}
          for (var e = u32(trie[4u + n]) + lid; e < u32(trie[5u + n]); e += WG) {
            ${candidate}
            if ((first || before(prevScore, prevIndex, s, idx)) && before(s, idx, bs, bi)) { bs = s; bi = idx; bc = child; }
          }
        }
      }
    }
${subgroups ? `    // Each subgroup's best (the highest score, then the lowest index) without barriers; one slot per subgroup.
    // A lane without a candidate offers the lowest finite f32; candidates' scores are finite (log-softmax of finite logits).
    let m = subgroupMax(select(-3.4028234e38, bs, bi != NONE));
    let mi = subgroupMin(select(NONE, bi, bi != NONE && bs == m));
    if (sid == 0u) { let slot = atomicAdd(&slots, 1u); bestScore[slot] = m; bestIndex[slot] = mi; }
    workgroupBarrier();
    if (lid == 0u) {
      var ws0 = 0.0; var wi0 = NONE;
      for (var g = 0u; g < atomicLoad(&slots); g++) { if (before(bestScore[g], bestIndex[g], ws0, wi0)) { ws0 = bestScore[g]; wi0 = bestIndex[g]; } }
      winScore = ws0; winIndex = wi0;
      atomicStore(&slots, 0u);
    }
    let wi = workgroupUniformLoad(&winIndex);
    if (wi == NONE) { break; }
    let ws = winScore;` : `    bestScore[lid] = bs; bestIndex[lid] = bi;
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half = half >> 1u) {
      if (lid < half && before(bestScore[lid + half], bestIndex[lid + half], bestScore[lid], bestIndex[lid])) {
        bestScore[lid] = bestScore[lid + half]; bestIndex[lid] = bestIndex[lid + half];
      }
      workgroupBarrier();
    }
    let wi = workgroupUniformLoad(&bestIndex[0]);
    if (wi == NONE) { break; }
    let ws = bestScore[0];`}
    // Indices are unique, so exactly one thread holds the winner: it writes the next step's row t.
    if (bi == wi) {
      let r = wi / K; let code = wi % K;
      let token = i32(TOKEN0 + level * K + code);
      let tokens = u32(nxt[${P.tokens}]);
      if (last) { nxt[tokens + 2u * t] = token; nxt[tokens + 2u * t + 1u] = BOS; } else { nxt[tokens + t] = token; }
      nxt[u32(nxt[${P.parents}]) + t] = i32(r);
      nxt[nst + t] = bitcast<i32>(ws);
      nxt[nst + cap + t] = select(bc, 0, last); // after the last level the next item starts at the root
      nxt[nst + 3u * cap + t * SPAN + entry] = bc;
    }
    prevScore = ws; prevIndex = wi; first = false; stale = bi == wi;
    kept = t + 1u;${subgroups ? '' : `
    workgroupBarrier(); // bestScore[0], read above, is written again at the next round's start`}
  }
  if (lid == 0u) { nxt[${P.rows}] = i32(kept); }
  storageBarrier(); // the kept rows' parents, written by the rounds' winners
  // The kept rows' paths up to this item, from their parents (the entry this level wrote excepted).
  let parents = u32(nxt[${P.parents}]);
  let copied = (item + 1u) * L;
  for (var i = lid; i < kept * copied; i += WG) {
    let t = i / copied; let x = i % copied;
    if (x != entry) { nxt[nst + 3u * cap + t * SPAN + x] = cur[st + 3u * cap + u32(nxt[parents + t]) * SPAN + x]; }
  }
}`;
}

/**
 * The beams as the search fed them, kept by the session from the tokens and parents of each call: per row its score
 * (float64, the code log-probabilities with the history bias, summed in the search's order), its trie node, and its
 * session's items and the trie nodes they passed through; a submit's first step starts from them. `sessionLength`: the
 * kernel's (the model's), which sets the rows' stride in `paths`.
 */
export class BeamMirror {
  rows = 1;
  item = 0; // items completed by every row
  score = new Float64Array(1); // [rows]
  node = new Int32Array(1); // [rows] trie node of the item being generated
  paths: Int32Array; // [rows, sessionLength, levels] per earlier item: the item at [0], the trie node entered after level l's code at [l + 1] (as beam-search.ts's `paths`, and its `items` at [0])

  constructor(private readonly trie: TrieView, private readonly sessionLength: number, private readonly historyBias?: SearchContext['historyBias']) {
    this.paths = new Int32Array(sessionLength * trie.levels);
  }

  /** Row b now continues row parents[b] with code token codes[b] (tokens of level `level`); logProbs: [rows, K] the parents' scores. */
  feed(codeTokens: ArrayLike<number>, parents: Int32Array, logProbs: Float32Array | Float64Array): void {
    const { levels, codebookSize: K, childStart, childCode, childNode } = this.trie;
    const rows = parents.length;
    const span = this.sessionLength * levels;
    const score = new Float64Array(rows);
    const node = new Int32Array(rows);
    const paths = new Int32Array(rows * span);
    let last = false;
    for (let b = 0; b < rows; b++) {
      const p = parents[b];
      const level = Math.floor((codeTokens[b] - SPECIAL_TOKENS) / K);
      const code = (codeTokens[b] - SPECIAL_TOKENS) % K;
      let value = logProbs[p * K + code];
      last = level === levels - 1;
      const beta = this.historyBias ? this.historyBias.bias[level] : 0;
      if (this.historyBias && beta !== 0) {
        const { S, onPath } = historyMass(this.trie, this.historyBias.paths, this.node[p], last, code, (c) => logProbs[p * K + c]);
        value += (onPath ? beta : 0) - biasLogNormaliser(S, beta);
      }
      score[b] = this.score[p] + value;
      paths.set(this.paths.subarray(p * span, (p + 1) * span), b * span);
      let child = -1;
      for (let e = childStart[this.node[p]]; e < childStart[this.node[p] + 1]; e++) if (childCode[e] === code) child = childNode[e];
      node[b] = last ? 0 : child;
      paths[b * span + this.item * levels + (last ? 0 : level + 1)] = child;
    }
    if (last) this.item++;
    Object.assign(this, { rows, score, node, paths });
  }
}
