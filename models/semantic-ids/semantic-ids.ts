// Semantic IDs by residual k-means (OneRec §2.1): level 1 clusters the item embeddings, each next level
// clusters what the previous levels left over (the residual), and a final suffix code numbers the items
// that still share all L codes, so every item's ID is unique. levels in the token layout = L + 1.
//
// Plain k-means puts no bound on a bucket, and the suffix has only K slots: on a 100,000-item co-occurrence log
// (bench/README.md, "Scale: prepare on a synthetic log") 1,520 items have bitwise-identical embeddings — items whose
// only train neighbour is the same popular item get proportional PPMI rows, so the same direction — and no level
// can separate them. When a bucket holds more than K items, its surplus moves to the nearest last-level code that
// still has room under the same first L − 1 codes (capLastLevel); where no bucket exceeds K nothing moves, so the
// IDs of catalogs that fit are the same as before.
import type { Engine } from '../engine/index.ts';
import { squaredNorm } from './distance-kernel.mjs';
import { KMeansDeviceError } from './errors.ts';
import { balancedKMeans, plainKMeans, type KMeansOptions, type KMeansResult } from './kmeans.ts';

export interface SemanticIdOptions {
  levels: number; // L, residual k-means levels (the suffix level comes on top)
  codebookSize: number; // K, clusters per level (and suffix slots)
  balanced: boolean; // OneRec's balanced k-means, or plain k-means (the baseline)
  maxIterations: number; // per level
  seed: number;
  threads?: number; // k-means distance passes over this many threads (0 or absent: one per core for large catalogs); IDs do not depend on it
  onLevel?: (level: number, iteration: number, changed: number) => void;
}

export interface SemanticIds {
  codes: Uint16Array; // [items, L + 1]  L cluster codes, then the suffix
  codebooks: Float32Array[]; // L × [K, dim] centroids
  residual: Float32Array; // [items, dim] what L levels did not explain
  iterations: number[]; // [L] k-means passes per level
  converged: boolean[]; // [L]
  lastChanged: number[]; // [L] items that still moved in the last pass
  suffixOverflow: number; // items whose suffix would be ≥ K (their suffix is clamped; 0 unless a group of L − 1 codes holds more than K² items)
  capacityMoved: number; // items moved off their nearest last-level code because its bucket held more than K items (0 when none did)
}

export function residualKMeans(embeddings: Float32Array, items: number, dim: number, options: SemanticIdOptions): SemanticIds {
  const state = new ResidualLevels(embeddings, items, dim, options);
  for (let level = 0; level < options.levels; level++) {
    const run = options.balanced ? balancedKMeans : plainKMeans;
    state.add(level, run(state.residual, items, dim, state.kmeansOptions(level)));
  }
  return state.finish();
}

/**
 * residualKMeans with plain k-means' assignment passes on the WebGPU engine (gpu-kmeans.ts); the seeding, centroid
 * update, capacity cap and suffix are the CPU path's, so IDs are unique on both. Balanced k-means has no GPU path.
 */
export async function residualKMeansGpu(embeddings: Float32Array, items: number, dim: number, options: SemanticIdOptions & { engine: Engine; chunkRows?: number }): Promise<SemanticIds> {
  if (options.balanced) throw new KMeansDeviceError('balanced k-means runs on the CPU only: use --kmeansDevice=cpu with --semanticIds=balanced');
  const { plainKMeansGpu } = await import('./gpu-kmeans.ts'); // loads the engine (Dawn) only when the GPU path runs
  const state = new ResidualLevels(embeddings, items, dim, options);
  for (let level = 0; level < options.levels; level++) {
    state.add(level, await plainKMeansGpu(options.engine, state.residual, items, dim, { ...state.kmeansOptions(level), chunkRows: options.chunkRows }));
  }
  return state.finish();
}

/** The levels of one residualKMeans run as they are added: each level's codes, centroids and what it leaves over. */
class ResidualLevels {
  readonly residual: Float32Array; // [items, dim]
  readonly codes: Uint16Array; // [items, L + 1]
  readonly codebooks: Float32Array[] = [];
  readonly iterations: number[] = [];
  readonly converged: boolean[] = [];
  readonly lastChanged: number[] = [];

  constructor(embeddings: Float32Array, readonly items: number, readonly dim: number, readonly options: SemanticIdOptions) {
    this.residual = Float32Array.from(embeddings);
    this.codes = new Uint16Array(items * (options.levels + 1));
  }

  kmeansOptions(level: number): KMeansOptions {
    const { options } = this;
    return {
      clusters: options.codebookSize,
      maxIterations: options.maxIterations,
      seed: options.seed * 1000 + level,
      threads: options.threads,
      onIteration: (it, changed) => options.onLevel?.(level, it, changed),
    };
  }

  add(level: number, result: KMeansResult): void {
    const { items, dim, residual } = this;
    const stride = this.options.levels + 1;
    for (let i = 0; i < items; i++) {
      const c = result.assignment[i];
      this.codes[i * stride + level] = c;
      for (let d = 0; d < dim; d++) residual[i * dim + d] -= result.centroids[c * dim + d];
    }
    this.codebooks.push(result.centroids);
    this.iterations.push(result.iterations);
    this.converged.push(result.converged);
    this.lastChanged.push(result.lastChanged);
  }

  finish(): SemanticIds {
    const { items, dim, residual, codes, codebooks } = this;
    const L = this.options.levels;
    const K = this.options.codebookSize;
    const capacityMoved = capLastLevel(residual, codes, codebooks[L - 1], items, dim, L, K);
    const suffixOverflow = assignSuffix(codes, items, L, K);
    return { codes, codebooks, residual, iterations: this.iterations, converged: this.converged, lastChanged: this.lastChanged, suffixOverflow, capacityMoved };
  }
}

/**
 * Bounds every bucket (items sharing all L codes) at K items, so the suffix can number them. In each bucket above
 * K, the K items nearest its last-level centroid stay (ties: lower item index); the others, in item-index order,
 * move to the nearest last-level centroid (ties: lower code) whose bucket under the same first L − 1 codes has
 * fewer than K items, and their residual follows. Codebooks are not refitted. An item of a group (same first L − 1
 * codes) of more than K² items may find no room; it stays, and assignSuffix counts it as overflow. Returns the
 * number of items moved; codes and residual are untouched when no bucket exceeds K.
 */
export function capLastLevel(residual: Float32Array, codes: Uint16Array, lastCentroids: Float32Array, items: number, dim: number, L: number, K: number): number {
  const stride = L + 1;
  const buckets = new Map<string, number[]>(); // L codes → items, in index order
  for (let i = 0; i < items; i++) {
    const key = codes.subarray(i * stride, i * stride + L).join(',');
    const members = buckets.get(key);
    if (members) members.push(i);
    else buckets.set(key, [i]);
  }
  const movers: number[] = [];
  const parentsWithOverflow = new Set<string>();
  for (const members of buckets.values()) {
    if (members.length <= K) continue;
    parentsWithOverflow.add(codes.subarray(members[0] * stride, members[0] * stride + L - 1).join(','));
    // ‖residual‖² is the distance to the bucket's own last-level centroid.
    const distance = new Map(members.map((i) => [i, squaredNorm(residual, i * dim, dim)]));
    const nearestFirst = [...members].sort((a, b) => distance.get(a)! - distance.get(b)! || a - b);
    movers.push(...nearestFirst.slice(K));
  }
  if (movers.length === 0) return 0;
  const room = new Map<string, Int32Array>(); // first L − 1 codes → [K] items on each last-level code
  for (const [key, members] of buckets) {
    const parent = key.split(',').slice(0, L - 1).join(',');
    if (!parentsWithOverflow.has(parent)) continue;
    let counts = room.get(parent);
    if (!counts) room.set(parent, (counts = new Int32Array(K)));
    counts[codes[members[0] * stride + L - 1]] = members.length;
  }
  movers.sort((a, b) => a - b);
  const before = new Float32Array(dim); // [dim] the mover's residual before the last level
  let moved = 0;
  for (const i of movers) {
    const counts = room.get(codes.subarray(i * stride, i * stride + L - 1).join(','))!;
    const from = codes[i * stride + L - 1];
    for (let d = 0; d < dim; d++) before[d] = residual[i * dim + d] + lastCentroids[from * dim + d];
    let best = -1;
    let bestDistance = Infinity;
    for (let c = 0; c < K; c++) {
      if (counts[c] >= K) continue;
      let s = 0;
      for (let d = 0; d < dim; d++) {
        const t = before[d] - lastCentroids[c * dim + d];
        s += t * t;
      }
      if (s < bestDistance) {
        bestDistance = s;
        best = c;
      }
    }
    if (best < 0) continue;
    counts[from]--;
    counts[best]++;
    codes[i * stride + L - 1] = best;
    for (let d = 0; d < dim; d++) residual[i * dim + d] = before[d] - lastCentroids[best * dim + d];
    moved++;
  }
  return moved;
}

/**
 * Suffix code = rank of the item among the items sharing its L codes, in item-index order (0 for an item
 * alone in its bucket). Returns how many items would need a suffix ≥ K; those are clamped to K-1.
 */
export function assignSuffix(codes: Uint16Array, items: number, L: number, K: number): number {
  const seen = new Map<string, number>();
  let overflow = 0;
  for (let i = 0; i < items; i++) {
    const key = codes.subarray(i * (L + 1), i * (L + 1) + L).join(',');
    const rank = seen.get(key) ?? 0;
    seen.set(key, rank + 1);
    if (rank >= K) overflow++;
    codes[i * (L + 1) + L] = Math.min(rank, K - 1);
  }
  return overflow;
}

export interface SemanticIdStats {
  items: number;
  levels: number; // L + 1, the token layout's levels
  codebook_size: number;
  code_usage: number[]; // [L] fraction of the K codes used at each k-means level
  bucket_min: number[]; // [L] fewest items on one code of the level (0 = an unused code)
  bucket_max: number[]; // [L] most items on one code of the level
  code_perplexity: number[]; // [L] exp(entropy) of the level's code distribution (K = perfectly even)
  collision_rate: number; // before the suffix: 1 − distinct L-code prefixes / items
  max_suffix: number; // largest suffix code used (largest bucket − 1)
  suffix_overflow: number; // items that would need a suffix ≥ K (their IDs are then not unique)
  capacity_moved: number; // items given another last-level code than their nearest, to keep every bucket ≤ K items
  unique_ids: number; // distinct full IDs, suffix included (= items when every ID is unique)
  quantization_error: number; // mean over items of ‖x − Σ_l c_l‖² after the L levels
  quantization_error_relative: number; // the same divided by the mean ‖x − mean(x)‖²
  iterations: number[]; // [L] passes per level
  converged: boolean[]; // [L]
  last_changed: number[]; // [L] items still moving when the passes stopped (0 = converged)
}

export function semanticIdStats(ids: SemanticIds, embeddings: Float32Array, items: number, dim: number, K: number): SemanticIdStats {
  const L = ids.codebooks.length;
  const stride = L + 1;
  const usage: number[] = [];
  const bucketMin: number[] = [];
  const bucketMax: number[] = [];
  const perplexity: number[] = [];
  for (let l = 0; l < L; l++) {
    const counts = new Int32Array(K);
    for (let i = 0; i < items; i++) counts[ids.codes[i * stride + l]]++;
    let used = 0;
    let entropy = 0;
    for (const c of counts) {
      if (c > 0) {
        used++;
        const p = c / items;
        entropy -= p * Math.log(p);
      }
    }
    usage.push(used / K);
    bucketMin.push(Math.min(...counts));
    bucketMax.push(Math.max(...counts));
    perplexity.push(Math.exp(entropy));
  }
  const prefixes = new Set<string>();
  const full = new Set<string>();
  let maxSuffix = 0;
  for (let i = 0; i < items; i++) {
    const row = ids.codes.subarray(i * stride, (i + 1) * stride);
    prefixes.add(row.subarray(0, L).join(','));
    full.add(row.join(','));
    maxSuffix = Math.max(maxSuffix, row[L]);
  }
  const mean = new Float64Array(dim);
  for (let i = 0; i < items; i++) for (let d = 0; d < dim; d++) mean[d] += embeddings[i * dim + d] / items;
  let error = 0;
  let spread = 0;
  for (let i = 0; i < items * dim; i++) {
    error += ids.residual[i] * ids.residual[i];
    const t = embeddings[i] - mean[i % dim];
    spread += t * t;
  }
  return {
    items,
    levels: L + 1,
    codebook_size: K,
    code_usage: usage,
    bucket_min: bucketMin,
    bucket_max: bucketMax,
    code_perplexity: perplexity.map((p) => Number(p.toFixed(2))),
    collision_rate: items > 0 ? 1 - prefixes.size / items : 0,
    max_suffix: maxSuffix,
    suffix_overflow: ids.suffixOverflow,
    capacity_moved: ids.capacityMoved,
    unique_ids: full.size,
    quantization_error: error / items,
    quantization_error_relative: spread > 0 ? error / spread : 0,
    iterations: ids.iterations,
    converged: ids.converged,
    last_changed: ids.lastChanged,
  };
}
