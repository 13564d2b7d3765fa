// Principal components by randomized subspace iteration (Halko, Martinsson & Tropp 2011), seeded. Semantic
// IDs are clustered on the top components of the item embeddings: k-means cost grows with the width, and
// a few dozen components keep most of the variance (the report says how much).
import { seededRandom } from '../random.ts';

export interface Pca {
  projected: Float32Array; // [n, k] centred data on the components
  components: Float32Array; // [dim, k] orthonormal columns, strongest first
  mean: Float32Array; // [dim]
  varianceKept: number; // fraction of the total variance on the k components
}

export function pca(data: Float32Array, n: number, dim: number, k: number, seed: number, iterations = 4): Pca {
  const p = Math.min(dim, k + 8); // oversampled subspace
  const mean = new Float32Array(dim);
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) mean[d] += data[i * dim + d] / n;
  const x = new Float32Array(n * dim); // [n, dim] centred
  let total = 0;
  for (let i = 0; i < n * dim; i++) {
    x[i] = data[i] - mean[i % dim];
    total += x[i] * x[i];
  }
  const random = seededRandom(seed);
  let q = new Float64Array(dim * p); // [dim, p]
  for (let i = 0; i < q.length; i++) q[i] = random.normal();
  orthonormalize(q, dim, p);
  const z = new Float64Array(n * p); // [n, p]
  for (let it = 0; it < iterations; it++) {
    multiply(x, n, dim, q, p, z); // z = x q
    const next = new Float64Array(dim * p); // xᵀ z
    for (let i = 0; i < n; i++) {
      for (let d = 0; d < dim; d++) {
        const v = x[i * dim + d];
        if (v === 0) continue;
        for (let j = 0; j < p; j++) next[d * p + j] += v * z[i * p + j];
      }
    }
    orthonormalize(next, dim, p);
    q = next;
  }
  multiply(x, n, dim, q, p, z);
  // Covariance of the projection, p × p, then its eigenvectors (Jacobi).
  const c = new Float64Array(p * p);
  for (let i = 0; i < n; i++) for (let a = 0; a < p; a++) for (let b = a; b < p; b++) c[a * p + b] += z[i * p + a] * z[i * p + b];
  for (let a = 0; a < p; a++) for (let b = 0; b < a; b++) c[a * p + b] = c[b * p + a];
  const { values, vectors } = jacobiEigen(c, p);
  const order = Array.from({ length: p }, (_, i) => i).sort((a, b) => values[b] - values[a]).slice(0, k);
  const components = new Float32Array(dim * k); // [dim, k] = q · V[:, order]
  for (let d = 0; d < dim; d++) {
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let t = 0; t < p; t++) s += q[d * p + t] * vectors[t * p + order[j]];
      components[d * k + j] = s;
    }
  }
  const projected = new Float32Array(n * k); // [n, k]
  let kept = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let t = 0; t < p; t++) s += z[i * p + t] * vectors[t * p + order[j]];
      projected[i * k + j] = s;
      kept += s * s;
    }
  }
  return { projected, components, mean, varianceKept: total > 0 ? kept / total : 1 };
}

/** out = a · b for a: [n, dim] float32, b: [dim, p] → out: [n, p]. */
function multiply(a: Float32Array, n: number, dim: number, b: Float64Array, p: number, out: Float64Array): void {
  out.fill(0);
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < dim; d++) {
      const v = a[i * dim + d];
      if (v === 0) continue;
      for (let j = 0; j < p; j++) out[i * p + j] += v * b[d * p + j];
    }
  }
}

/**
 * Modified Gram–Schmidt on the p columns of m: [rows, p]. The columns are copied out contiguous first (a column of a
 * row-major matrix is a stride-p walk, a cache miss per element once m outgrows the cache: 100 k items × 72 columns
 * is 58 MB); every sum runs over the rows in the same order as on m itself, so the result is bit for bit the same.
 */
export function orthonormalize(m: Float64Array, rows: number, p: number): void {
  const columns = new Float64Array(rows * p); // [p, rows]
  for (let r = 0; r < rows; r++) for (let j = 0; j < p; j++) columns[j * rows + r] = m[r * p + j];
  for (let j = 0; j < p; j++) {
    const cj = columns.subarray(j * rows, (j + 1) * rows);
    for (let k = 0; k < j; k++) {
      const ck = columns.subarray(k * rows, (k + 1) * rows);
      let dot = 0;
      for (let r = 0; r < rows; r++) dot += cj[r] * ck[r];
      for (let r = 0; r < rows; r++) cj[r] -= dot * ck[r];
    }
    let norm = 0;
    for (let r = 0; r < rows; r++) norm += cj[r] ** 2;
    norm = Math.sqrt(norm) || 1;
    for (let r = 0; r < rows; r++) cj[r] /= norm;
  }
  for (let r = 0; r < rows; r++) for (let j = 0; j < p; j++) m[r * p + j] = columns[j * rows + r];
}

/** Eigen-decomposition of a symmetric p × p matrix by cyclic Jacobi rotations; vectors in columns. */
export function jacobiEigen(matrix: Float64Array, p: number): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(matrix);
  const v = new Float64Array(p * p);
  for (let i = 0; i < p; i++) v[i * p + i] = 1;
  for (let sweep = 0; sweep < 50; sweep++) {
    let off = 0;
    for (let i = 0; i < p; i++) for (let j = i + 1; j < p; j++) off += a[i * p + j] ** 2;
    if (off < 1e-20) break;
    for (let i = 0; i < p; i++) {
      for (let j = i + 1; j < p; j++) {
        const aij = a[i * p + j];
        if (Math.abs(aij) < 1e-30) continue;
        const theta = (a[j * p + j] - a[i * p + i]) / (2 * aij);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const cos = 1 / Math.sqrt(t * t + 1);
        const sin = t * cos;
        for (let k = 0; k < p; k++) {
          const aik = a[i * p + k];
          const ajk = a[j * p + k];
          a[i * p + k] = cos * aik - sin * ajk;
          a[j * p + k] = sin * aik + cos * ajk;
        }
        for (let k = 0; k < p; k++) {
          const aki = a[k * p + i];
          const akj = a[k * p + j];
          a[k * p + i] = cos * aki - sin * akj;
          a[k * p + j] = sin * aki + cos * akj;
        }
        for (let k = 0; k < p; k++) {
          const vki = v[k * p + i];
          const vkj = v[k * p + j];
          v[k * p + i] = cos * vki - sin * vkj;
          v[k * p + j] = sin * vki + cos * vkj;
        }
      }
    }
  }
  const values = new Float64Array(p);
  for (let i = 0; i < p; i++) values[i] = a[i * p + i];
  return { values, vectors: v };
}
