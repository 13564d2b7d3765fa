// k-means on row-major float32 points, two ways:
//  - balancedKMeans: OneRec's balanced k-means. Every cluster gets exactly w = ⌊N/K⌋ points (the first
//    N mod K clusters one more). Each pass visits the centroids in turn; centroid k takes the w nearest
//    points not yet taken, then moves to their mean. Passes repeat until no assignment changes.
//  - plainKMeans: Lloyd's algorithm (nearest centroid, then means), the unbalanced baseline; an empty
//    cluster keeps its centroid, so the imbalance it produces stays visible.
// Both start from the same seeded k-means++ centroids. The distance passes run over worker threads (parallel.ts)
// for large inputs; each point's distances come from the same kernel on any thread, so the assignments, centroids
// and iteration counts do not depend on the thread count.
import { seededRandom } from '../random.ts';
import { centroidNorms, squaredDistanceRows } from './distance-kernel.mjs';
import { DistancePool, threadsFor } from './parallel.ts';

export interface KMeansResult {
  assignment: Int32Array; // [points] cluster of each point
  centroids: Float32Array; // [clusters, dim]
  iterations: number; // passes run
  converged: boolean; // false when maxIterations stopped it first
  lastChanged: number; // points whose cluster changed in the last pass (0 when converged)
}

export interface KMeansOptions {
  clusters: number; // K
  maxIterations: number; // passes at most
  seed: number; // k-means++ choices
  threads?: number; // distance passes over this many threads (0 or absent: one per core for large inputs, 1 for small)
  onIteration?: (iteration: number, changed: number) => void;
}

/** Squared distances of every point to every centroid: [points, clusters]. */
export function squaredDistances(points: Float32Array, n: number, dim: number, centroids: Float32Array, k: number, out = new Float32Array(n * k)): Float32Array {
  squaredDistanceRows(points, dim, centroids, centroidNorms(centroids, k, dim), k, 0, n, out);
  return out;
}

/** k-means++ seeding: the first centroid uniformly, each next one with probability ∝ squared distance. */
export function kMeansPlusPlus(points: Float32Array, n: number, dim: number, k: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  const centroids = new Float32Array(k * dim); // [clusters, dim]
  const nearest = new Float64Array(n).fill(Infinity); // [points] squared distance to the nearest chosen centroid
  let pick = random.int(n);
  for (let c = 0; c < k; c++) {
    centroids.set(points.subarray(pick * dim, (pick + 1) * dim), c * dim);
    let total = 0;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let d = 0, p = i * dim, q = c * dim; d < dim; d++) {
        const t = points[p + d] - centroids[q + d];
        s += t * t;
      }
      if (s < nearest[i]) nearest[i] = s;
      total += nearest[i];
    }
    if (c + 1 === k) break;
    if (total <= 0) {
      pick = random.int(n); // every point sits on a centroid already: any choice is as good
      continue;
    }
    let target = random.next() * total;
    pick = n - 1;
    for (let i = 0; i < n; i++) {
      target -= nearest[i];
      if (target < 0) {
        pick = i;
        break;
      }
    }
  }
  return centroids;
}

/** Mean of the points of cluster c into centroids[c]; an empty cluster keeps its centroid. */
function updateCentroids(points: Float32Array, n: number, dim: number, assignment: Int32Array, centroids: Float32Array, k: number): void {
  const sums = new Float64Array(k * dim); // [clusters, dim]
  const counts = new Int32Array(k);
  for (let i = 0; i < n; i++) {
    const c = assignment[i];
    counts[c]++;
    for (let d = 0, p = i * dim, q = c * dim; d < dim; d++) sums[q + d] += points[p + d];
  }
  for (let c = 0; c < k; c++) {
    if (counts[c] === 0) continue;
    for (let d = 0; d < dim; d++) centroids[c * dim + d] = sums[c * dim + d] / counts[c];
  }
}

/**
 * The second half of a Lloyd's pass, shared by the CPU and GPU paths: copies `nearest` into `assignment`, moves each
 * centroid to its points' mean (float64 sums) and returns how many points changed cluster.
 */
export function lloydUpdate(nearest: Int32Array, assignment: Int32Array, points: Float32Array, n: number, dim: number, centroids: Float32Array, k: number): number {
  let changed = 0;
  for (let i = 0; i < n; i++) {
    if (assignment[i] !== nearest[i]) changed++;
    assignment[i] = nearest[i];
  }
  updateCentroids(points, n, dim, assignment, centroids, k);
  return changed;
}

/** Cluster sizes of the balanced split: w = ⌊n/k⌋, the first n mod k clusters get w + 1. */
export function balancedSizes(n: number, k: number): Int32Array {
  const w = Math.floor(n / k);
  const sizes = new Int32Array(k);
  for (let c = 0; c < k; c++) sizes[c] = w + (c < n % k ? 1 : 0);
  return sizes;
}

/**
 * Moves the `count` candidates nearest by `key` (ties: lower point index) to candidates[0..count).
 * Quickselect with a median-of-three pivot: expected O(length).
 */
function selectNearest(candidates: Int32Array, length: number, count: number, key: Float32Array, stride: number, column: number): void {
  const less = (a: number, b: number): boolean => {
    const ka = key[a * stride + column];
    const kb = key[b * stride + column];
    return ka < kb || (ka === kb && a < b);
  };
  let lo = 0;
  let hi = length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    // median of three to candidates[hi]
    if (less(candidates[mid], candidates[lo])) swap(candidates, mid, lo);
    if (less(candidates[hi], candidates[lo])) swap(candidates, hi, lo);
    if (less(candidates[mid], candidates[hi])) swap(candidates, mid, hi);
    const pivot = candidates[hi];
    let store = lo;
    for (let i = lo; i < hi; i++) if (less(candidates[i], pivot)) swap(candidates, i, store++);
    swap(candidates, store, hi);
    if (store === count - 1 || store === count) return;
    if (store < count) lo = store + 1;
    else hi = store - 1;
  }
}

function swap(a: Int32Array, i: number, j: number): void {
  const t = a[i];
  a[i] = a[j];
  a[j] = t;
}

export function balancedKMeans(points: Float32Array, n: number, dim: number, options: KMeansOptions): KMeansResult {
  const k = options.clusters;
  if (n < k) throw new RangeError(`balanced k-means needs at least as many points (${n}) as clusters (${k})`);
  const sizes = balancedSizes(n, k);
  const pool = new DistancePool(points, n, dim, k, threadsFor(n, k, options.threads));
  const centroids = pool.centroids; // [clusters, dim]
  centroids.set(kMeansPlusPlus(points, n, dim, k, options.seed));
  const assignment = new Int32Array(n).fill(-1);
  const previous = new Int32Array(n);
  const candidates = new Int32Array(n); // [points] unassigned points, compacted after each cluster
  let iterations = 0;
  let converged = false;
  let lastChanged = n;
  while (iterations < options.maxIterations) {
    iterations++;
    previous.set(assignment);
    const distances = pool.distances(); // [points, clusters]
    for (let i = 0; i < n; i++) candidates[i] = i;
    let remaining = n;
    for (let c = 0; c < k; c++) {
      const take = sizes[c];
      if (take < remaining) selectNearest(candidates, remaining, take, distances, k, c);
      // Members of c: candidates[0..take). Update c's centroid from them; compact the rest.
      const sum = new Float64Array(dim);
      for (let t = 0; t < take; t++) {
        const i = candidates[t];
        assignment[i] = c;
        for (let d = 0, p = i * dim; d < dim; d++) sum[d] += points[p + d];
      }
      for (let d = 0; d < dim; d++) centroids[c * dim + d] = sum[d] / take;
      candidates.copyWithin(0, take, remaining);
      remaining -= take;
    }
    let changed = 0;
    for (let i = 0; i < n; i++) if (assignment[i] !== previous[i]) changed++;
    lastChanged = changed;
    options.onIteration?.(iterations, changed);
    if (changed === 0) {
      converged = true;
      break;
    }
  }
  pool.close();
  return { assignment, centroids: Float32Array.from(centroids), iterations, converged, lastChanged };
}

export function plainKMeans(points: Float32Array, n: number, dim: number, options: KMeansOptions): KMeansResult {
  const k = options.clusters;
  const pool = new DistancePool(points, n, dim, k, threadsFor(n, k, options.threads));
  const centroids = pool.centroids; // [clusters, dim]
  centroids.set(kMeansPlusPlus(points, n, dim, k, options.seed));
  const assignment = new Int32Array(n).fill(-1);
  let iterations = 0;
  let converged = false;
  let lastChanged = n;
  while (iterations < options.maxIterations) {
    iterations++;
    const nearest = pool.nearestBounded(); // [points] ties to the lower cluster index, as an argmin over squaredDistances
    const changed = lloydUpdate(nearest, assignment, points, n, dim, centroids, k);
    lastChanged = changed;
    options.onIteration?.(iterations, changed);
    if (changed === 0) {
      converged = true;
      break;
    }
  }
  pool.close();
  return { assignment, centroids: Float32Array.from(centroids), iterations, converged, lastChanged };
}
