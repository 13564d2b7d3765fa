// Plain (Lloyd's) k-means with its assignment passes on the WebGPU engine, for catalogs too large for the CPU path
// (issue #22: 1 M items × K 256 × 64 dims). Per pass, in chunks of rows so that no [items, K] matrix is ever
// allocated: scores = X_chunk · Cᵀ (the engine's matmul, [chunk, K]), then argminRows picks the c minimizing
// ‖c‖² − 2 x·c (= ‖x − c‖² − ‖x‖², so the same nearest centroid, ties to the lower index) into an int32 [items]
// buffer on the GPU; only that buffer is read back, once per pass. The centroid update stays on the CPU in float64
// sums (lloydUpdate, shared with the CPU path): O(items × dim) per pass, a small part of the O(items × K × dim)
// assignment, and the same code the CPU path runs. k-means++ seeding is the CPU path's too (same seed, same start).
//
// Exactness: the CPU path computes distances in float64 from float32 inputs; the GPU sums x·c in float32 in the
// matmul's order. Points that are not near a tie get the same centroid; a point within float32 rounding of being
// equidistant to two centroids may take the other one, and the passes then differ from there on. Well-separated data
// gives identical codes (tests/models/semantic-ids/gpu-kmeans.test.ts); random data gives a quantization error
// within a stated tolerance of the CPU's.
import { argminRows, matmul, Tensor, type Engine } from '../engine/index.ts';
import { centroidNorms } from './distance-kernel.mjs';
import { KMeansDeviceError } from './errors.ts';
import { kMeansPlusPlus, lloydUpdate, type KMeansOptions, type KMeansResult } from './kmeans.ts';

/** Rows per matmul + argmin dispatch pair: the [chunk, K] scores take chunk × K × 4 bytes (64 MiB at K 256). */
export const DEFAULT_CHUNK_ROWS = 65_536;
/**
 * WebGPU binds storage buffers at offsets that are multiples of 256 bytes: a chunk's first row of int32 assignments
 * sits at chunk × 4 bytes, so chunks are multiples of 64 rows.
 */
const CHUNK_ALIGN = 64;

/**
 * The points of one k-means run, uploaded once, and the buffers a pass needs. nearest(centroids) runs one assignment
 * pass; close() frees the GPU memory.
 */
export class GpuAssigner {
  private readonly points: Tensor; // [n, dim] persistent
  private readonly centroids: Tensor; // [k, dim] persistent, rewritten each pass
  private readonly norms: Tensor; // [k] ‖c‖², rewritten each pass
  private readonly assignment: Tensor; // [n] int32 bits, persistent
  private readonly chunkRows: number;

  constructor(readonly engine: Engine, points: Float32Array, readonly n: number, readonly dim: number, readonly k: number, chunkRows = DEFAULT_CHUNK_ROWS) {
    if (!Number.isInteger(chunkRows) || chunkRows <= 0 || chunkRows % CHUNK_ALIGN !== 0) {
      throw new KMeansDeviceError(`GPU k-means: chunkRows ${chunkRows} must be a positive multiple of ${CHUNK_ALIGN} (WebGPU's 256-byte binding offsets)`);
    }
    this.chunkRows = chunkRows;
    this.points = engine.persistent([n, dim], points.subarray(0, n * dim));
    this.centroids = engine.persistent([k, dim]);
    this.norms = engine.persistent([k]);
    this.assignment = engine.persistent([n]);
  }

  /** Nearest centroid of every point (ties: the lower index), [n] int32, for centroids [k, dim]. */
  async nearest(centroids: Float32Array): Promise<Int32Array> {
    const { engine, n, dim, k } = this;
    const norms = Float32Array.from(centroidNorms(centroids, k, dim)); // [k] the CPU path's, summed in float64
    engine.write(this.centroids, centroids);
    engine.write(this.norms, norms);
    engine.noGrad(() => {
      for (let from = 0; from < n; from += this.chunkRows) {
        const rows = Math.min(this.chunkRows, n - from);
        const x = new Tensor(engine, [rows, dim], 'f32', this.points.buffer, this.points.offset + from * dim * 4, 'view'); // [rows, dim]
        const out = new Tensor(engine, [rows], 'i32', this.assignment.buffer, this.assignment.offset + from * 4, 'view'); // [rows]
        const scores = matmul(x, this.centroids, { transB: true }); // [rows, k] x·c
        argminRows(scores, { offset: this.norms, scale: -2, out });
        engine.endStep(); // submit; the scores go back to the pool for the next chunk (the queue runs in order)
      }
    });
    return engine.readInt(this.assignment);
  }

  close(): void {
    this.engine.destroy(this.points, this.centroids, this.norms, this.assignment);
  }
}

/** plainKMeans (kmeans.ts) with the assignment passes on the GPU: same seeding, same update, same stopping rule. */
export async function plainKMeansGpu(engine: Engine, points: Float32Array, n: number, dim: number, options: KMeansOptions & { chunkRows?: number }): Promise<KMeansResult> {
  const k = options.clusters;
  const assigner = new GpuAssigner(engine, points, n, dim, k, options.chunkRows);
  const centroids = kMeansPlusPlus(points, n, dim, k, options.seed); // [clusters, dim]
  const assignment = new Int32Array(n).fill(-1);
  let iterations = 0;
  let converged = false;
  let lastChanged = n;
  try {
    while (iterations < options.maxIterations) {
      iterations++;
      const changed = lloydUpdate(await assigner.nearest(centroids), assignment, points, n, dim, centroids, k);
      lastChanged = changed;
      options.onIteration?.(iterations, changed);
      if (changed === 0) {
        converged = true;
        break;
      }
    }
  } finally {
    assigner.close();
  }
  return { assignment, centroids, iterations, converged, lastChanged };
}
