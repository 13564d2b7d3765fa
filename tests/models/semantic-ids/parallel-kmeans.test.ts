// k-means over worker threads with Elkan's bounds (models/semantic-ids/parallel.ts, distance-kernel.mjs) gives
// exactly what the serial Lloyd's and balanced passes give: same assignments, centroids and pass counts for 1, 2
// and 3 threads, and the same as a plain reference Lloyd's written here. ~5 s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '../../../models/random.ts';
import { balancedKMeans, kMeansPlusPlus, plainKMeans, squaredDistances, type KMeansResult } from '../../../models/semantic-ids/kmeans.ts';
import { residualKMeans } from '../../../models/semantic-ids/semantic-ids.ts';

/** n points around 30 seeded centres, with exact duplicates (ties) among them. */
function points(n: number, dim: number, seed: number): Float32Array {
  const r = seededRandom(seed);
  const centres = Array.from({ length: 30 }, () => Array.from({ length: dim }, () => r.normal() * 2));
  const x = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    if (i % 50 === 49) {
      x.copyWithin(i * dim, (i - 1) * dim, i * dim); // a duplicate of the previous point
      continue;
    }
    const c = centres[r.int(30)];
    for (let d = 0; d < dim; d++) x[i * dim + d] = c[d] + r.normal();
  }
  return x;
}

/** Lloyd's as the serial code has always run it: the full distance matrix, argmin (ties: lower index), means. */
function referenceLloyd(x: Float32Array, n: number, dim: number, k: number, maxIterations: number, seed: number): KMeansResult {
  const centroids = kMeansPlusPlus(x, n, dim, k, seed);
  const assignment = new Int32Array(n).fill(-1);
  let iterations = 0;
  let changed = n;
  while (iterations < maxIterations && changed > 0) {
    iterations++;
    const distances = squaredDistances(x, n, dim, centroids, k);
    changed = 0;
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let c = 1; c < k; c++) if (distances[i * k + c] < distances[i * k + best]) best = c;
      if (assignment[i] !== best) changed++;
      assignment[i] = best;
    }
    const sums = new Float64Array(k * dim);
    const counts = new Int32Array(k);
    for (let i = 0; i < n; i++) {
      counts[assignment[i]]++;
      for (let d = 0; d < dim; d++) sums[assignment[i] * dim + d] += x[i * dim + d];
    }
    for (let c = 0; c < k; c++) if (counts[c] > 0) for (let d = 0; d < dim; d++) centroids[c * dim + d] = sums[c * dim + d] / counts[c];
  }
  return { assignment, centroids, iterations, converged: changed === 0, lastChanged: changed };
}

function assertSame(a: KMeansResult, b: KMeansResult, what: string): void {
  assert.equal(a.iterations, b.iterations, `${what}: passes`);
  assert.equal(a.converged, b.converged, `${what}: converged`);
  assert.deepEqual(a.assignment, b.assignment, `${what}: assignment`);
  assert.deepEqual(a.centroids, b.centroids, `${what}: centroids`);
}

const n = 4000, dim = 12, k = 32;
const x = points(n, dim, 11);

test('plain k-means with bounds on 1, 2 and 3 threads equals the reference Lloyd\'s exactly', () => {
  const reference = referenceLloyd(x, n, dim, k, 40, 5);
  assert.ok(reference.iterations > 5, 'enough passes for the bounds to skip points');
  for (const threads of [1, 2, 3]) assertSame(plainKMeans(x, n, dim, { clusters: k, maxIterations: 40, seed: 5, threads }), reference, `${threads} threads`);
});

test('plain k-means with bounds equals the reference on residual-like data: 300 identical points, K 128, unit rows', () => {
  // The shape of the synthetic log's second level: many more clusters than blobs, one big group of equal points.
  const m = 3000;
  const d = 16;
  const r = seededRandom(21);
  const y = Float32Array.from({ length: m * d }, () => r.normal());
  for (let i = 0; i < m; i++) {
    if (i >= 100 && i < 400) y.copyWithin(i * d, 99 * d, 100 * d);
    let s = 0;
    for (let t = 0; t < d; t++) s += y[i * d + t] ** 2;
    for (let t = 0; t < d; t++) y[i * d + t] /= Math.sqrt(s);
  }
  const reference = referenceLloyd(y, m, d, 128, 60, 8);
  assert.ok(reference.iterations > 10, 'enough passes for the bounds to skip points');
  for (const threads of [1, 2]) assertSame(plainKMeans(y, m, d, { clusters: 128, maxIterations: 60, seed: 8, threads }), reference, `${threads} threads`);
});

test('balanced k-means on 2 and 3 threads equals 1 thread exactly', () => {
  const one = balancedKMeans(x, n, dim, { clusters: k, maxIterations: 15, seed: 5, threads: 1 });
  for (const threads of [2, 3]) assertSame(balancedKMeans(x, n, dim, { clusters: k, maxIterations: 15, seed: 5, threads }), one, `${threads} threads`);
});

test('residual k-means codes do not depend on the thread count', () => {
  for (const balanced of [false, true]) {
    const options = { levels: 2, codebookSize: 16, balanced, maxIterations: 20, seed: 3 };
    const one = residualKMeans(x, n, dim, { ...options, threads: 1 });
    const two = residualKMeans(x, n, dim, { ...options, threads: 2 });
    assert.deepEqual(two.codes, one.codes, balanced ? 'balanced' : 'plain');
  }
});
