// Collaborative item embeddings without training: the top eigenvectors of the positive pointwise mutual
// information (PPMI) of the train co-occurrence graph, by randomized subspace iteration (the classic
// word-embedding factorization, Levy & Goldberg 2014, applied to items). For catalogs with neither text nor
// attributes (Amazon Toys and Sports as distributed) this gives semantic IDs a behavioural geometry from the
// start, where seeded random vectors only get one through smoothing.
import { seededRandom } from '../random.ts';
import type { CooccurrenceGraph } from './align.ts';
import { normalizeRows } from './align.ts';
import { jacobiEigen, orthonormalize } from './pca.ts';

/** PPMI(i, j) = max(0, log(w_ij · W / (w_i · w_j))) on the graph's edges, in its edge order.  → [edges] */
export function ppmiWeights(graph: CooccurrenceGraph, items: number): Float64Array {
  const degree = new Float64Array(items);
  for (let i = 0; i < items; i++) for (let e = graph.offsets[i]; e < graph.offsets[i + 1]; e++) degree[i] += graph.weights[e];
  const total = degree.reduce((a, b) => a + b, 0);
  const out = new Float64Array(graph.neighbours.length);
  for (let i = 0; i < items; i++) {
    for (let e = graph.offsets[i]; e < graph.offsets[i + 1]; e++) {
      const j = graph.neighbours[e];
      out[e] = Math.max(0, Math.log((graph.weights[e] * total) / (degree[i] * degree[j])));
    }
  }
  return out;
}

/**
 * Unit-length rows [items, dim]: the PPMI matrix's `dim` largest eigenpairs, rows of U·√λ. Items without
 * neighbours get seeded random directions, so that they spread over codes instead of sharing one.
 */
export function spectralEmbeddings(graph: CooccurrenceGraph, items: number, dim: number, seed: number, iterations = 6): Float32Array {
  const weights = ppmiWeights(graph, items);
  const p = dim + 8; // oversampled subspace
  const random = seededRandom(seed);
  let q: Float64Array = Float64Array.from({ length: items * p }, () => random.normal()); // [items, p]
  const multiply = (x: Float64Array): Float64Array => {
    const y = new Float64Array(items * p); // M x, M symmetric and sparse
    for (let i = 0; i < items; i++) {
      for (let e = graph.offsets[i]; e < graph.offsets[i + 1]; e++) {
        const w = weights[e];
        if (w === 0) continue;
        const j = graph.neighbours[e];
        for (let t = 0; t < p; t++) y[i * p + t] += w * x[j * p + t];
      }
    }
    return y;
  };
  orthonormalize(q, items, p);
  for (let it = 0; it < iterations; it++) {
    q = multiply(q);
    orthonormalize(q, items, p);
  }
  const mq = multiply(q);
  const b = new Float64Array(p * p); // Qᵀ M Q
  for (let i = 0; i < items; i++) for (let s = 0; s < p; s++) for (let t = s; t < p; t++) b[s * p + t] += q[i * p + s] * mq[i * p + t];
  for (let s = 0; s < p; s++) for (let t = 0; t < s; t++) b[s * p + t] = b[t * p + s];
  const { values, vectors } = jacobiEigen(b, p);
  const order = Array.from({ length: p }, (_, i) => i).sort((x, y) => values[y] - values[x]).slice(0, dim);
  const out = new Float32Array(items * dim); // [items, dim]
  for (let i = 0; i < items; i++) {
    const isolated = graph.offsets[i + 1] === graph.offsets[i];
    for (let k = 0; k < dim; k++) {
      if (isolated) { out[i * dim + k] = random.normal(); continue; }
      let s = 0;
      for (let t = 0; t < p; t++) s += q[i * p + t] * vectors[t * p + order[k]];
      out[i * dim + k] = s * Math.sqrt(Math.max(0, values[order[k]]));
    }
  }
  return normalizeRows(out, items, dim);
}
