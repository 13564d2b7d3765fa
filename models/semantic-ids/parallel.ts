// Row-parallel k-means distances over worker_threads, called synchronously: the caller posts each worker a range
// of points, computes the first range itself, then blocks on a shared counter (Atomics.wait) until every worker has
// finished. Every row runs the same kernel (distance-kernel.mjs) whichever thread takes it, so results are
// identical for any thread count, 1 included; only the wall time changes.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { centroidNorms, nearestRows, nearestRowsBounded, squaredDistanceRows } from './distance-kernel.mjs';

/** Below this many point × cluster pairs a pass takes a few milliseconds and threads only add their start-up. */
const MIN_PARALLEL_WORK = 1 << 20;
/** How long a pass may go without any worker finishing before the caller gives up (ms). */
const WORKER_SILENCE_MS = 300_000;

/** Threads for `n` points and `k` clusters: one per core (or `requested` when > 0), 1 for small problems. */
export function threadsFor(n: number, k: number, requested = 0): number {
  if (requested > 0) return requested;
  return n * k < MIN_PARALLEL_WORK ? 1 : Math.max(1, availableParallelism());
}

export class DistancePool {
  readonly points: Float32Array; // [points, dim] in shared memory
  readonly centroids: Float32Array; // [clusters, dim] shared: write the centroids here before each pass
  private readonly norms: Float64Array; // [clusters]
  private readonly done = new Int32Array(new SharedArrayBuffer(8)); // [finished workers, failed]
  private readonly workers: Worker[] = [];
  private out: Float32Array | Int32Array | null = null;
  private bounds: { upper: Float64Array; lower: Float32Array; moved: Float64Array; half: Float64Array; previous: Float32Array; absoluteSlack: number } | null = null;

  constructor(points: Float32Array, readonly n: number, readonly dim: number, readonly k: number, threads: number) {
    const shared = threads > 1;
    this.points = shared ? new Float32Array(new SharedArrayBuffer(n * dim * 4)) : points;
    if (shared) this.points.set(points.subarray(0, n * dim));
    this.centroids = new Float32Array(shared ? new SharedArrayBuffer(k * dim * 4) : new ArrayBuffer(k * dim * 4));
    this.norms = new Float64Array(shared ? new SharedArrayBuffer(k * 8) : new ArrayBuffer(k * 8));
    for (let t = 1; t < threads; t++) {
      const worker = new Worker(new URL('./distance-worker.mjs', import.meta.url));
      worker.unref();
      this.workers.push(worker);
    }
  }

  /** Squared distances of every point to every centroid: [points, clusters], float32 (shared when threaded). */
  distances(): Float32Array {
    if (!(this.out instanceof Float32Array)) this.out = new Float32Array(this.buffer(this.n * this.k * 4));
    this.run('distances', this.out);
    return this.out;
  }

  /** Nearest centroid of every point (ties to the lower index): [points]. */
  nearest(): Int32Array {
    if (!(this.out instanceof Int32Array)) this.out = new Int32Array(this.buffer(this.n * 4));
    this.run('nearest', this.out);
    return this.out;
  }

  /**
   * nearest() for Lloyd's iterations: the same assignment, but points whose centroid cannot have changed since the
   * previous call (Elkan's bounds, distance-kernel.mjs: one lower bound per point and centroid, [points, clusters] float32) are not rescanned. Returns the pool's own array, which
   * carries the bounds' assignment from call to call: read it, do not write it.
   */
  nearestBounded(): Int32Array {
    const { n, k, dim } = this;
    if (this.bounds === null) {
      let largest = 0;
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let d = 0; d < dim; d++) s += this.points[i * dim + d] * this.points[i * dim + d];
        largest = Math.max(largest, s);
      }
      this.bounds = {
        upper: new Float64Array(this.buffer(n * 8)), // [points] ≥ distance to the assigned centroid
        lower: new Float32Array(this.buffer(n * k * 4)), // [points, clusters] ≤ distance to each centroid
        moved: new Float64Array(this.buffer(k * 8)), // [clusters] how far each centroid moved since the last call
        half: new Float64Array(this.buffer(k * 8)), // [clusters] half the distance to the nearest other centroid
        previous: Float32Array.from(this.centroids), // [clusters, dim] the centroids of the last call
        absoluteSlack: 1e-6 * (1 + Math.sqrt(largest)),
      };
      this.out = new Int32Array(this.buffer(n * 4)).fill(-1);
    }
    const { moved, previous } = this.bounds;
    let maxMoved = 0;
    for (let c = 0; c < k; c++) {
      let s = 0;
      for (let d = 0, q = c * dim; d < dim; d++) {
        const t = this.centroids[q + d] - previous[q + d];
        s += t * t;
      }
      moved[c] = Math.sqrt(s);
      maxMoved = Math.max(maxMoved, moved[c]);
    }
    previous.set(this.centroids);
    const { half } = this.bounds;
    half.fill(Infinity);
    for (let c = 0; c < k; c++) {
      for (let e = c + 1; e < k; e++) {
        let s = 0;
        for (let d = 0, p = c * dim, q = e * dim; d < dim; d++) {
          const t = this.centroids[p + d] - this.centroids[q + d];
          s += t * t;
        }
        const h = Math.sqrt(s) / 2;
        if (h < half[c]) half[c] = h;
        if (h < half[e]) half[e] = h;
      }
    }
    this.run('bounded', this.out as Int32Array, maxMoved);
    return this.out as Int32Array;
  }

  close(): void {
    for (const worker of this.workers) void worker.terminate();
    this.workers.length = 0;
  }

  private buffer(bytes: number): ArrayBufferLike {
    return this.workers.length > 0 ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
  }

  private run(kind: 'distances' | 'nearest' | 'bounded', out: Float32Array | Int32Array, maxMoved = 0): void {
    centroidNorms(this.centroids, this.k, this.dim, this.norms);
    const parts = this.workers.length + 1;
    const bounds = Array.from({ length: parts + 1 }, (_, t) => Math.round((t * this.n) / parts));
    Atomics.store(this.done, 0, 0);
    Atomics.store(this.done, 1, 0);
    for (const [t, worker] of this.workers.entries()) {
      worker.postMessage({
        kind, dim: this.dim, k: this.k, from: bounds[t + 1], to: bounds[t + 2],
        points: this.points.buffer, centroids: this.centroids.buffer, norms: this.norms.buffer, out: out.buffer, done: this.done.buffer,
        upper: this.bounds?.upper.buffer, lower: this.bounds?.lower.buffer, moved: this.bounds?.moved.buffer, half: this.bounds?.half.buffer, maxMoved, absoluteSlack: this.bounds?.absoluteSlack,
      });
    }
    const b = this.bounds;
    if (kind === 'bounded' && b) nearestRowsBounded(this.points, this.dim, this.centroids, this.norms, this.k, 0, bounds[1], out as Int32Array, b.upper, b.lower, b.moved, maxMoved, b.absoluteSlack, b.half);
    else if (kind === 'nearest') nearestRows(this.points, this.dim, this.centroids, this.norms, this.k, 0, bounds[1], out as Int32Array);
    else squaredDistanceRows(this.points, this.dim, this.centroids, this.norms, this.k, 0, bounds[1], out as Float32Array);
    for (let finished = Atomics.load(this.done, 0); finished < this.workers.length; finished = Atomics.load(this.done, 0)) {
      // A worker that never starts (its module failed to load) would leave this wait forever: give up after five quiet minutes.
      if (Atomics.wait(this.done, 0, finished, WORKER_SILENCE_MS) === 'timed-out') {
        this.close();
        throw new Error(`a k-means worker thread gave no answer for ${WORKER_SILENCE_MS / 1000} s; run with --threads=1 to stay on one thread`);
      }
    }
    if (Atomics.load(this.done, 1) !== 0) {
      this.close();
      throw new Error('a k-means worker thread failed (its error is printed above); run with --threads=1 to stay on one thread');
    }
  }
}
