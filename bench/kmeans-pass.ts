// One plain k-means assignment pass (nearest centroid of every point) on the CPU path and on the engine's GPU path
// (issue #22), from the same seeded points and k-means++ centroids; checks that the two agree:
//
//   node --import tsx bench/kmeans-pass.ts --points=100000 --dim=64 --clusters=256
//   node --import tsx bench/kmeans-pass.ts --points=1000000 --dim=64 --clusters=256 --threads=16   # the GPU machine
//
// CPU: DistancePool.nearest (worker threads, float64 distances, no bounds: what a first Lloyd's pass costs).
// GPU: GpuAssigner.nearest (chunks of matmul + argminRows, one int32 readback); the first pass compiles the
// kernels, so the GPU figure is the best of --repeat passes after it. Centroids are seeded by sampling points
// (k-means++ at these sizes is a separate cost, the same on both paths).
import { createEngine } from '../models/engine/index.ts';
import { seededRandom } from '../models/random.ts';
import { GpuAssigner } from '../models/semantic-ids/gpu-kmeans.ts';
import { DistancePool, threadsFor } from '../models/semantic-ids/parallel.ts';
import { parseArgs } from './args.ts';

const args = parseArgs({ points: 100_000, dim: 64, clusters: 256, threads: 0, repeat: 3, chunkRows: 65_536, seed: 7 }, process.argv.slice(2));
const { points: n, dim, clusters: k } = args;
const random = seededRandom(args.seed);
const points = Float32Array.from({ length: n * dim }, () => random.normal()); // [n, dim]
const centroids = new Float32Array(k * dim); // [k, dim] distinct sampled points
for (let c = 0; c < k; c++) {
  const p = random.int(n);
  centroids.set(points.subarray(p * dim, (p + 1) * dim), c * dim);
}

const threads = threadsFor(n, k, args.threads);
const pool = new DistancePool(points, n, dim, k, threads);
pool.centroids.set(centroids);
let started = performance.now();
const cpu = Int32Array.from(pool.nearest());
const cpuMs = performance.now() - started;
pool.close();

const engine = await createEngine();
const assigner = new GpuAssigner(engine, points, n, dim, k, args.chunkRows);
started = performance.now();
let gpu = await assigner.nearest(centroids);
const firstMs = performance.now() - started;
let bestMs = Infinity;
for (let r = 0; r < args.repeat; r++) {
  started = performance.now();
  gpu = await assigner.nearest(centroids);
  bestMs = Math.min(bestMs, performance.now() - started);
}
assigner.close();
let differ = 0;
for (let i = 0; i < n; i++) if (gpu[i] !== cpu[i]) differ++;
const gflop = (2 * n * k * dim) / 1e9;
console.log(JSON.stringify({
  points: n, dim, clusters: k, adapter: engine.adapter,
  cpu: { threads, ms: Math.round(cpuMs) },
  gpu: { chunk_rows: args.chunkRows, first_pass_ms: Math.round(firstMs), best_ms: Math.round(bestMs), gflop_per_s: Number((gflop / (bestMs / 1000)).toFixed(2)) },
  assignments_differing: differ,
}));
process.exit(0);
