// One k-means worker thread (parallel.ts): computes its rows with distance-kernel.mjs over shared memory, then
// counts itself done on the shared counter and wakes the caller, which waits synchronously (Atomics.wait).
import { parentPort } from 'node:worker_threads';
import { nearestRows, nearestRowsBounded, squaredDistanceRows } from './distance-kernel.mjs';

parentPort.on('message', (job) => {
  const done = new Int32Array(job.done);
  try {
    compute(job);
  } catch (error) {
    Atomics.store(done, 1, 1); // the caller throws instead of using a half-written result
    console.error(error);
  }
  Atomics.add(done, 0, 1);
  Atomics.notify(done, 0);
});

function compute(job) {
  const points = new Float32Array(job.points);
  const centroids = new Float32Array(job.centroids);
  const norms = new Float64Array(job.norms);
  if (job.kind === 'bounded') {
    nearestRowsBounded(points, job.dim, centroids, norms, job.k, job.from, job.to, new Int32Array(job.out), new Float64Array(job.upper), new Float32Array(job.lower), new Float64Array(job.moved), job.maxMoved, job.absoluteSlack, new Float64Array(job.half));
  } else if (job.kind === 'nearest') nearestRows(points, job.dim, centroids, norms, job.k, job.from, job.to, new Int32Array(job.out));
  else squaredDistanceRows(points, job.dim, centroids, norms, job.k, job.from, job.to, new Float32Array(job.out));
}
