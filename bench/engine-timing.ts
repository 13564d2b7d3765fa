// Timing helpers the engine's kernel benches share (bench/matmul.ts, bench/attention.ts): wall-clock ms per launch
// with the repetitions sized to a time target, GPU ms per launch from timestamp queries, and the relative
// difference of two outputs.
import type { Engine } from '../models/engine/index.ts';

export interface WallTiming { targetMs: number; minReps: number; maxReps: number }

/**
 * Wall-clock ms per call of `launch` (which encodes one launch), and dispatches per call: one untimed call, three
 * to estimate, then as many as fill `targetMs` (within [minReps, maxReps]). Every `every` calls endStep() returns the
 * step's temporaries to the pool (1: after each call).
 */
export async function timeWall(engine: Engine, launch: () => void, t: WallTiming, every = 1): Promise<{ ms: number; reps: number; dispatches: number }> {
  const run = (n: number) => { for (let i = 0; i < n; i++) { launch(); if ((i + 1) % every === 0) engine.endStep(); } engine.endStep(); };
  const d0 = engine.stats.dispatches;
  run(1);
  const dispatches = engine.stats.dispatches - d0;
  await engine.sync();
  const w0 = performance.now();
  run(3);
  await engine.sync();
  const estimate = (performance.now() - w0) / 3;
  const reps = Math.max(t.minReps, Math.min(t.maxReps, Math.ceil(t.targetMs / Math.max(estimate, 1e-3))));
  const t0 = performance.now();
  run(reps);
  await engine.sync();
  return { ms: (performance.now() - t0) / reps, reps, dispatches };
}

/** GPU ms per call of `launch` on a profiled engine over `reps` calls: the sum of its kernels' timestamps, and per kernel name. */
export async function timeGpu(engine: Engine, launch: () => void, reps: number): Promise<{ gpu_ms: number; kernels: Record<string, number> }> {
  launch();
  engine.endStep();
  await engine.sync();
  engine.profile!.clear();
  for (let i = 0; i < reps; i++) { launch(); engine.endStep(); }
  await engine.sync();
  const kernels: Record<string, number> = {};
  let total = 0;
  for (const [name, [ns]] of engine.profile!) { kernels[name] = ns / 1e6 / reps; total += ns / 1e6 / reps; }
  return { gpu_ms: total, kernels };
}

/** Largest |x − y| / max(1, max |y|). */
export function relDiff(x: Float32Array, y: Float32Array): number {
  let err = 0, scale = 1;
  for (let i = 0; i < y.length; i++) { err = Math.max(err, Math.abs(x[i] - y[i])); scale = Math.max(scale, Math.abs(y[i])); }
  return err / scale;
}
