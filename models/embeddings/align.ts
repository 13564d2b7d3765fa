// Behaviour alignment of content embeddings.
//
// OneRec aligns its multimodal item embeddings with user–item behaviour before tokenising them, so that
// items users consume together get nearby semantic IDs. Here: a co-occurrence graph is built from the
// TRAIN rows only (items within `window` positions of each other in a user's sequence, weight 1/distance),
// and each item's content embedding is smoothed over it, LightGCN-style without training:
//     h⁰ = c (unit length),  hᵗ⁺¹_i = normalise(hᵗ_i + λ · Σ_j w_ij hᵗ_j / Σ_j w_ij),   t < hops
// Items without train neighbours keep their content embedding, so cold items still get a sensible ID.
//
// The report measures it: hold out the last train pair (a, b) of each user, build the graph without it,
// and count how often b is among the `topK` nearest items (cosine) of a — content only vs aligned.
import { seededRandom } from '../random.ts';

export interface AlignOptions {
  window: number; // co-occurrence window in positions of a user's train sequence
  weight: number; // λ: how much the neighbours' mean counts against the item itself
  hops: number; // smoothing rounds
}

export const DEFAULT_ALIGN_OPTIONS: AlignOptions = { window: 3, weight: 1, hops: 2 };

/** Sparse symmetric co-occurrence graph in CSR form. */
export interface CooccurrenceGraph {
  offsets: Int32Array; // [items + 1]
  neighbours: Int32Array; // [edges]
  weights: Float32Array; // [edges]
}

export function cooccurrenceGraph(sequences: Int32Array[], items: number, window: number): CooccurrenceGraph {
  const maps: Map<number, number>[] = Array.from({ length: items }, () => new Map());
  for (const seq of sequences) {
    for (let a = 0; a < seq.length; a++) {
      for (let b = a + 1; b < Math.min(seq.length, a + window + 1); b++) {
        const i = seq[a];
        const j = seq[b];
        if (i === j) continue;
        const w = 1 / (b - a);
        maps[i].set(j, (maps[i].get(j) ?? 0) + w);
        maps[j].set(i, (maps[j].get(i) ?? 0) + w);
      }
    }
  }
  const offsets = new Int32Array(items + 1);
  for (let i = 0; i < items; i++) offsets[i + 1] = offsets[i] + maps[i].size;
  const neighbours = new Int32Array(offsets[items]);
  const weights = new Float32Array(offsets[items]);
  for (let i = 0; i < items; i++) {
    const entries = [...maps[i].entries()].sort((x, y) => x[0] - y[0]);
    entries.forEach(([j, w], e) => {
      neighbours[offsets[i] + e] = j;
      weights[offsets[i] + e] = w;
    });
  }
  return { offsets, neighbours, weights };
}

export function normalizeRows(x: Float32Array, n: number, dim: number): Float32Array {
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += x[i * dim + d] ** 2;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let d = 0; d < dim; d++) x[i * dim + d] *= inv;
  }
  return x;
}

/** The aligned embeddings [items, dim] (a new array; `content` is left as is). */
export function alignEmbeddings(content: Float32Array, items: number, dim: number, graph: CooccurrenceGraph, options: AlignOptions): Float32Array {
  let h = normalizeRows(Float32Array.from(content), items, dim); // [items, dim]
  for (let hop = 0; hop < options.hops; hop++) {
    const next = Float32Array.from(h);
    for (let i = 0; i < items; i++) {
      const start = graph.offsets[i];
      const end = graph.offsets[i + 1];
      if (start === end) continue;
      let total = 0;
      for (let e = start; e < end; e++) total += graph.weights[e];
      const scale = options.weight / total;
      for (let e = start; e < end; e++) {
        const j = graph.neighbours[e];
        const w = graph.weights[e] * scale;
        for (let d = 0; d < dim; d++) next[i * dim + d] += w * h[j * dim + d];
      }
    }
    h = normalizeRows(next, items, dim);
  }
  return h;
}

export interface HeldOutPairs {
  sequences: Int32Array[]; // train sequences without their last item (build the graph from these)
  queries: Int32Array; // [pairs] a = second-last train item
  answers: Int32Array; // [pairs] b = last train item
}

/** `count` distinct items of `items`, a seeded uniform sample, in index order. */
export function sampleCandidates(items: number, count: number, seed: number): Int32Array {
  const all = Array.from({ length: items }, (_, i) => i);
  seededRandom(seed).shuffle(all);
  return Int32Array.from(all.slice(0, count)).sort();
}

/** Hold out each user's last train transition (a → b); at most `maxPairs`, chosen with `seed`. */
export function holdOutLastPairs(trainSequences: Int32Array[], maxPairs: number, seed: number): HeldOutPairs {
  const candidates: number[] = [];
  trainSequences.forEach((s, u) => {
    if (s.length >= 3 && s[s.length - 1] !== s[s.length - 2]) candidates.push(u);
  });
  seededRandom(seed).shuffle(candidates);
  const chosen = new Set(candidates.slice(0, maxPairs));
  const sequences = trainSequences.map((s, u) => (chosen.has(u) ? s.subarray(0, s.length - 1) : s));
  const users = [...chosen].sort((a, b) => a - b);
  return {
    sequences,
    queries: Int32Array.from(users, (u) => trainSequences[u][trainSequences[u].length - 2]),
    answers: Int32Array.from(users, (u) => trainSequences[u][trainSequences[u].length - 1]),
  };
}

/**
 * Fraction of queries whose answer is among the topK most cosine-similar other items, per topK. With
 * `candidates`, the answer is ranked among those items only (the answer and the query excluded from them):
 * a sampled hit rate, for catalogs where a scan of every item per query costs minutes.
 */
export function itemToItemHitRate(embeddings: Float32Array, items: number, dim: number, queries: Int32Array, answers: Int32Array, topKs: number[], onProgress?: (done: number) => void, candidates?: Int32Array): number[] {
  const x = normalizeRows(Float32Array.from(embeddings), items, dim);
  const hits = topKs.map(() => 0);
  const scores = new Float32Array(items);
  const pool = candidates ?? null; // null: every item
  const count = pool ? pool.length : items;
  for (let q = 0; q < queries.length; q++) {
    const a = queries[q];
    for (let t = 0; t < count; t++) {
      const j = pool ? pool[t] : t;
      let s = 0;
      for (let d = 0; d < dim; d++) s += x[a * dim + d] * x[j * dim + d];
      scores[t] = s;
    }
    let target = 0; // the answer's score, float32 like the others
    for (let d = 0; d < dim; d++) target += x[a * dim + d] * x[answers[q] * dim + d];
    target = Math.fround(target);
    // Rank of the answer among the other items (ties counted against it; the query item excluded).
    let better = 0;
    for (let t = 0; t < count; t++) {
      const j = pool ? pool[t] : t;
      if (j !== a && j !== answers[q] && scores[t] >= target) better++;
    }
    topKs.forEach((k, t) => {
      if (better < k) hits[t]++;
    });
    if (q % 50 === 49) onProgress?.(q + 1);
  }
  return hits.map((h) => (queries.length > 0 ? h / queries.length : 0));
}
