// Finite-difference gradient check of a GPU op against its float64 CPU reference.
//
// For an op y = f(x₁, …) with random inputs, the GPU computes L = Σ y ⊙ R (R random) and its analytic
// gradients; the CPU differentiates the same L of the float64 reference by central differences. Forward
// outputs and gradients must agree within the stated relative tolerances (the GPU runs in float32).
import assert from 'node:assert/strict';
import { backward, mul, read, Rng, sum, type Engine, type Tensor } from '../../../models/engine/index.ts';
import type { F64 } from './cpu-reference.ts';

export interface CheckInput {
  shape: number[];
  /** Differentiate with respect to this input (it becomes a parameter). */
  grad?: boolean;
  /** Integer input (ids, targets): uploaded as i32, never differentiated. */
  int?: Int32Array;
  /** Fixed values (else N(0, 1) from the seeded RNG). */
  data?: ArrayLike<number>;
}

export interface CheckOptions {
  /** max |gpu − ref| / max(1, max |ref|) allowed for the forward output. */
  forwardTol?: number;
  /** max |analytic − numeric| / max(1e-3, max |numeric|) allowed per input gradient. */
  gradTol?: number;
  /** Finite-difference step. */
  h?: number;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

let counter = 0;

export async function gradCheck(e: Engine, name: string, inputs: CheckInput[], gpu: (t: Tensor[]) => Tensor, cpu: (x: F64[], ints: Int32Array[]) => F64, options: CheckOptions = {}): Promise<void> {
  const rng = new Rng(1234 + counter++);
  const f32 = (v: ArrayLike<number>) => Float64Array.from(Float32Array.from(v));
  const xs: F64[] = [];
  const ints: Int32Array[] = [];
  const tensors: Tensor[] = [];
  inputs.forEach((inp, i) => {
    const n = inp.shape.reduce((a, b) => a * b, 1);
    if (inp.int) {
      ints.push(inp.int);
      xs.push(new Float64Array(0));
      tensors.push(e.upload(inp.int, inp.shape));
      return;
    }
    const x = f32(inp.data ?? Array.from({ length: n }, () => rng.normal()));
    xs.push(x);
    tensors.push(inp.grad ? e.param(`${name}.${i}`, inp.shape, Float32Array.from(x)) : e.upload(Float32Array.from(x), inp.shape));
  });
  const out = gpu(tensors);
  const ref = cpu(xs, ints);
  assert.equal(out.size, ref.length, `${name}: GPU output ${out} vs reference length ${ref.length}`);
  const got = await read(out);
  let err = 0;
  for (let i = 0; i < ref.length; i++) err = Math.max(err, Math.abs(got[i] - ref[i]));
  const fTol = options.forwardTol ?? 1e-4;
  assert.ok(err / Math.max(1, maxAbs(ref)) <= fTol, `${name}: forward max error ${err} (max |ref| ${maxAbs(ref)}) over ${fTol}`);
  if (!inputs.some((i) => i.grad)) { e.endStep(); return; }

  const R = f32(Array.from({ length: ref.length }, () => rng.normal()));
  const loss = sum(mul(out, e.upload(Float32Array.from(R), out.shape)));
  backward(loss);
  const h = options.h ?? 1e-6;
  const L = (x: F64[]) => { const y = cpu(x, ints); let s = 0; for (let i = 0; i < y.length; i++) s += y[i] * R[i]; return s; };
  for (let i = 0; i < inputs.length; i++) {
    if (!inputs[i].grad) continue;
    const t = tensors[i];
    assert.ok(t.grad, `${name}: input ${i} got no gradient`);
    const g = await read(t.grad);
    const numeric = new Float64Array(g.length);
    for (let j = 0; j < g.length; j++) {
      const saved = xs[i][j];
      xs[i][j] = saved + h;
      const up = L(xs);
      xs[i][j] = saved - h;
      const down = L(xs);
      xs[i][j] = saved;
      numeric[j] = (up - down) / (2 * h);
    }
    let gErr = 0;
    for (let j = 0; j < g.length; j++) gErr = Math.max(gErr, Math.abs(g[j] - numeric[j]));
    const tol = options.gradTol ?? 2e-3;
    const rel = gErr / Math.max(1e-3, maxAbs(numeric));
    assert.ok(rel <= tol, `${name}: gradient of input ${i} max error ${gErr} (max |numeric| ${maxAbs(numeric)}, relative ${rel}) over ${tol}`);
  }
  e.endStep();
}
