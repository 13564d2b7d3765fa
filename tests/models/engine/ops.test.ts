// Gradient checks of every engine op and fused kernel against float64 CPU references, on whatever adapter
// Dawn finds (SwiftShader in CI). Shapes are deliberately not multiples of the tile sizes (matmul tiles
// 32/64/128, attention tiles 32, row reductions 64/256).
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import {
  add, attention, axpby, backward, bceWithLogits, concat, createEngine, crossEntropy, dropout, embedding, exp, gelu, layerNorm,
  linear, log, logProbGather, matmul, mean, moe, mul, read, relu, rmsNorm, Rng, scale, sigmoid, silu, slice, softCrossEntropy, softmax, square,
  sub, sum, sumTo, swiglu, view, AdamW, type Engine, type Tensor, ShapeError,
} from '../../../models/engine/index.ts';
import type { Kernel } from '../../../models/engine/engine.ts';
import { launchMatmul, matmulPlan } from '../../../models/engine/matmul.ts';
import {
  attentionRef, broadcastRef, crossEntropyRef, GELU, layerNormRef, logProbRef, matmulRef, moeRef, SIGMOID, SILU, softmaxRef,
  type F64,
} from './cpu-reference.ts';
import { gradCheck } from './grad-check.ts';

let e: Engine;
before(async () => { e = await createEngine({ quiet: true }); });

/** A step tensor of its own holding `values` (an upload shares the upload arena with the operands, so it cannot be written). */
function owned(values: ArrayLike<number>, shape: number[]): Tensor {
  const t = e.empty(shape);
  e.copy(e.upload(Float32Array.from(values), shape), t);
  return t;
}

/** Every kernel that `encode` dispatches, in order. */
function kernelsRun(encode: () => void): Kernel[] {
  const kernels: Kernel[] = [];
  const run = e.run;
  e.run = (k, ...rest) => { kernels.push(k); return run.call(e, k, ...rest); };
  try { encode(); } finally { e.run = run; }
  return kernels;
}

/** max |got − want| / max(1, max |want|). */
function maxRelError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let err = 0, scale = 1;
  for (let i = 0; i < want.length; i++) { err = Math.max(err, Math.abs(got[i] - want[i])); scale = Math.max(scale, Math.abs(want[i])); }
  return err / scale;
}

const map = (x: F64, f: (v: number) => number) => x.map(f);

describe('matmul', () => {
  test('plain, linear-folded, transposed, batched and broadcast forms', async () => {
    await gradCheck(e, 'mm', [{ shape: [5, 7], grad: true }, { shape: [7, 9], grad: true }], ([a, b]) => matmul(a, b),
      ([a, b]) => matmulRef(a, b, 5, 7, 9));
    await gradCheck(e, 'linear', [{ shape: [2, 3, 5], grad: true }, { shape: [5, 6], grad: true }], ([a, b]) => matmul(a, b),
      ([a, b]) => matmulRef(a, b, 6, 5, 6));
    await gradCheck(e, 'linearT', [{ shape: [3, 4, 5], grad: true }, { shape: [6, 5], grad: true }], ([a, b]) => matmul(a, b, { transB: true }),
      ([a, b]) => matmulRef(a, b, 12, 5, 6, false, true));
    await gradCheck(e, 'linearBias', [{ shape: [2, 3, 5], grad: true }, { shape: [5, 6], grad: true }, { shape: [6], grad: true }],
      ([x, w, b]) => linear(x, w, b), ([x, w, b]) => matmulRef(x, w, 6, 5, 6).map((v, i) => v + b[i % 6]));
    await gradCheck(e, 'batched', [{ shape: [3, 5, 4], grad: true }, { shape: [3, 4, 6], grad: true }], ([a, b]) => matmul(a, b),
      ([a, b]) => matmulRef(a, b, 5, 4, 6, false, false, 3));
    await gradCheck(e, 'batchedTT', [{ shape: [2, 4, 5], grad: true }, { shape: [2, 3, 4], grad: true }], ([a, b]) => matmul(a, b, { transA: true, transB: true }),
      ([a, b]) => matmulRef(a, b, 5, 4, 3, true, true, 2));
    await gradCheck(e, 'broadcastA', [{ shape: [5, 4], grad: true }, { shape: [3, 4, 6], grad: true }], ([a, b]) => matmul(a, b),
      ([a, b]) => matmulRef(a, b, 5, 4, 6, false, false, 3, 0));
    await gradCheck(e, 'broadcastB-transA', [{ shape: [3, 4, 5], grad: true }, { shape: [4, 6], grad: true }], ([a, b]) => matmul(a, b, { transA: true }),
      ([a, b]) => matmulRef(a, b, 5, 4, 6, true, false, 3, 20, 0));
  });

  test('every tile size, with and without the bias epilogue, is exact at ragged edges', async () => {
    const rng = new Rng(3);
    const [M, N, K, batch] = [131, 67, 21, 2];
    const a = Float64Array.from({ length: batch * M * K }, () => Math.fround(rng.normal()));
    const b = Float64Array.from({ length: batch * K * N }, () => Math.fround(rng.normal()));
    const bias = Float64Array.from({ length: N }, () => Math.fround(rng.normal()));
    const ref = matmulRef(a, b, M, K, N, false, true, batch, M * K, K * N);
    // The 32×32 kernel with and without the bias; the 128×128 and 64×64 ones with it (the layout test below runs
    // them without). Each distinct kernel takes SwiftShader seconds to compile.
    const runs = [
      ...[false, true].map((withBias) => ({ tile: 'small' as const, withBias })),
      ...(['big', 'mid'] as const).map((tile) => ({ tile, withBias: true })),
    ];
    for (const { tile, withBias } of runs) {
      const c = e.empty([batch, M, N]);
      launchMatmul(e, e.upload(Float32Array.from(a), [batch, M, K]), e.upload(Float32Array.from(b), [batch, N, K]), c,
        { M, N, K, batch, strideA: M * K, strideB: K * N, transA: false, transB: true, tile, bias: withBias ? e.upload(Float32Array.from(bias), [N]) : undefined });
      const got = await read(c);
      let err = 0;
      for (let i = 0; i < ref.length; i++) err = Math.max(err, Math.abs(got[i] - ref[i] - (withBias ? bias[i % N] : 0)));
      assert.ok(err < 1e-4, `${tile} tile${withBias ? ' + bias' : ''}: max error ${err}`);
      e.endStep();
    }
  });

  test('split-K (small output, long K) with transposed A and accumulation', async () => {
    const rng = new Rng(4);
    const [M, N, K] = [9, 70, 1500];
    const a = Float64Array.from({ length: K * M }, () => Math.fround(rng.normal()));
    const b = Float64Array.from({ length: K * N }, () => Math.fround(rng.normal()));
    const c0 = Float64Array.from({ length: M * N }, () => Math.fround(rng.normal()));
    const ref = matmulRef(a, b, M, K, N, true, false).map((v, i) => 0.5 * v + c0[i]);
    const c = e.upload(Float32Array.from(c0), [M, N]);
    const [ta, tb] = [e.upload(Float32Array.from(a), [K, M]), e.upload(Float32Array.from(b), [K, N])];
    const before = e.stats.dispatches;
    launchMatmul(e, ta, tb, c, { M, N, K, batch: 1, strideA: 0, strideB: 0, transA: true, transB: false, alpha: 0.5, accumulate: true });
    assert.equal(e.stats.dispatches - before, 2, 'partial products + their reduction');
    const got = await read(c);
    let err = 0;
    for (let i = 0; i < ref.length; i++) err = Math.max(err, Math.abs(got[i] - ref[i]));
    assert.ok(err < 2e-4, `split-K max error ${err}`);
    e.endStep();
  });

  // The 128×128 and 64×64 kernels load an operand by vec4s when its contiguous dimension is a multiple of 4 and by scalars
  // otherwise, along M or N for a [K, M] / [K, N] operand (transposed A, plain B) and along K for the others.
  // With the ragged test above (both operands by scalars, along K) these three cover every load path of each
  // operand and both stores of C in both tiles. Few distinct kernels: SwiftShader takes seconds to compile one.
  test('vec4 and scalar loads of every operand layout, aligned and ragged sizes, bias and accumulation', async () => {
    const rng = new Rng(11);
    const cases = [
      { M: 131, N: 68, K: 36, transA: false, transB: false, bias: true, accumulate: true }, // A along K by vec4, B along N by vec4, C by vec4
      { M: 132, N: 67, K: 21, transA: true, transB: false }, // A along M by vec4, B along N by scalars, C by scalars
      { M: 65, N: 68, K: 36, transA: true, transB: true, batch: 2, broadcastB: true }, // A along M by scalars, B along K by vec4
    ];
    for (const { M, N, K, transA, transB, batch = 1, broadcastB = false, bias = false, accumulate = false } of cases) {
      const sA = M * K, sB = broadcastB ? 0 : K * N;
      const a = Float64Array.from({ length: batch * sA }, () => Math.fround(rng.normal()));
      const b = Float64Array.from({ length: broadcastB ? K * N : batch * sB }, () => Math.fround(rng.normal()));
      const c0 = Float64Array.from({ length: batch * M * N }, () => Math.fround(rng.normal()));
      const bv = Float64Array.from({ length: N }, () => Math.fround(rng.normal()));
      const ref = matmulRef(a, b, M, K, N, transA, transB, batch, sA, sB).map((v, i) => 0.5 * v + (bias ? bv[i % N] : 0) + (accumulate ? c0[i] : 0));
      for (const tile of ['big', 'mid'] as const) {
        const c = owned(c0, [batch, M, N]);
        const kernels = kernelsRun(() => launchMatmul(e, e.upload(Float32Array.from(a), [a.length]), e.upload(Float32Array.from(b), [b.length]), c,
          { M, N, K, batch, strideA: sA, strideB: sB, transA, transB, alpha: 0.5, accumulate, tile, bias: bias ? e.upload(Float32Array.from(bv), [N]) : undefined }));
        const what = `${M}×${N}×${K}${transA ? ' Aᵀ' : ''}${transB ? ' Bᵀ' : ''} ${tile}`;
        assert.equal(kernels.length, 1, what);
        assert.equal(kernels[0].code.includes('A: array<vec4<f32>>'), (transA ? M : K) % 4 === 0, `${what}: A's loads`);
        assert.equal(kernels[0].code.includes('B: array<vec4<f32>>'), (transB ? K : N) % 4 === 0, `${what}: B's loads`);
        assert.equal(kernels[0].code.includes('C: array<vec4<f32>>'), N % 4 === 0, `${what}: C's stores`);
        const got = await read(c);
        assert.ok(maxRelError(got, ref) < 1e-5, `${what}: max relative error ${maxRelError(got, ref)}`);
        e.endStep();
      }
    }
  });

  test('weight gradient Xᵀ·dY with ragged K under split-K: the fused bias gradient equals a separate column sum', async () => {
    const rng = new Rng(12);
    // [in, out, rows]: 64×64 tiles with 31 chunks of 272 rows (the last ragged), sizes that are not multiples of 4
    // (scalar loads), and 128×128 tiles in 3 chunks (what a long K gets; forced here, SwiftShader is slow).
    const cases = [
      { M: 128, N: 128, K: 8203, accumulate: false },
      { M: 9, N: 70, K: 1500, accumulate: true },
      { M: 130, N: 132, K: 701, accumulate: true, tile: 'big' as const, splits: 3 },
    ];
    for (const { M, N, K, accumulate, tile, splits } of cases) {
      const x = Float64Array.from({ length: K * M }, () => Math.fround(rng.normal())); // [K, M]
      const dy = Float64Array.from({ length: K * N }, () => Math.fround(rng.normal())); // [K, N]
      const c0 = Float64Array.from({ length: M * N }, () => Math.fround(rng.normal()));
      const b0 = Float64Array.from({ length: N }, () => Math.fround(rng.normal()));
      const ref = matmulRef(x, dy, M, K, N, true, false).map((v, i) => v + (accumulate ? c0[i] : 0));
      const [tx, tdy] = [e.upload(Float32Array.from(x), [K, M]), e.upload(Float32Array.from(dy), [K, N])];
      const [dw, db] = [owned(c0, [M, N]), owned(b0, [N])];
      const l = { M, N, K, batch: 1, strideA: 0, strideB: 0, transA: true, transB: false, accumulate, tile, splits };
      const plan = matmulPlan(e, { ...l, biasGrad: db });
      const kernels = kernelsRun(() => launchMatmul(e, tx, tdy, dw, { ...l, biasGrad: db, accumulateBiasGrad: accumulate }));
      const what = `${M}×${N}×${K} (${plan.tile} tiles, ${plan.splits} chunks of ${plan.kChunk})`;
      assert.ok(plan.splits > 1 && kernels.length === 2, `${what}: split-K partial products + one reduction`);
      const separate = sumTo(tdy, [N]); // the column-sum kernel linear() used before
      const [gotW, gotB, sep] = [await read(dw), await read(db), await read(separate)];
      assert.ok(maxRelError(gotW, ref) < 1e-5, `${what} weight gradient: ${maxRelError(gotW, ref)}`);
      const sepTotal = Float64Array.from(sep, (v, n) => v + (accumulate ? b0[n] : 0));
      assert.ok(maxRelError(gotB, sepTotal) < 1e-4, `${what} bias gradient vs the separate column sum: ${maxRelError(gotB, sepTotal)}`);
      const exact = new Float64Array(N).map((_, n) => { let s = accumulate ? b0[n] : 0; for (let k = 0; k < K; k++) s += dy[k * N + n]; return s; });
      assert.ok(maxRelError(gotB, exact) < 1e-5, `${what} bias gradient vs float64: ${maxRelError(gotB, exact)}`);
      e.endStep();
    }
    // The seed model's encoder weight gradients (K = 1,024 × 80 tokens): 128×128 tiles, ~264 workgroups.
    const plan = (M: number, N: number) => matmulPlan(e, { M, N, K: 81920, batch: 1, strideA: 0, strideB: 0, transA: true, transB: false });
    assert.deepEqual(plan(128, 128), { tile: 'big', splits: 256, kChunk: 320 });
    assert.deepEqual(plan(128, 512), { tile: 'big', splits: 66, kChunk: 1248 });
  });

  test('linear backward sums the bias gradient in the weight-gradient kernels (also into packed gradients)', async () => {
    const rng = new Rng(13);
    const [rows, K, N] = [2100, 36, 20];
    const xv = Float32Array.from({ length: rows * K }, () => rng.normal());
    const gv = Float32Array.from({ length: rows * N }, () => rng.normal());
    const wv = Float32Array.from({ length: K * N }, () => rng.normal());
    const bv = Float32Array.from({ length: N }, () => rng.normal());
    const wantW = matmulRef(Float64Array.from(xv), Float64Array.from(gv), K, rows, N, true, false); // Xᵀ·dY [K, N]
    const wantB = new Float64Array(N).map((_, n) => { let s = 0; for (let r = 0; r < rows; r++) s += gv[r * N + n]; return s; });
    for (const packed of [false, true]) {
      const w = e.param(`w-${packed}`, [K, N], wv), b = e.param(`b-${packed}`, [N], bv);
      if (packed) new AdamW(e, [w, b], { lr: 0 }); // gradient slots: views of one buffer, accumulated into
      const passes = packed ? 2 : 1;
      let names: string[] = [];
      for (let pass = 0; pass < passes; pass++) {
        const x = e.upload(xv, [3, rows / 3, K]);
        x.requiresGrad = true;
        const y = linear(x, w, b);
        names = kernelsRun(() => backward(y, e.upload(gv, [3, rows / 3, N]))).map((k) => k.name);
      }
      const what = packed ? 'packed' : 'unpacked';
      // dX = dY·Wᵀ, then Xᵀ·dY under split-K (K = 2,100 rows) and one reduction that also adds up the bias's partial sums
      assert.deepEqual(names, ['matmul64NT', 'matmul64TNBiasGrad', 'matmulSplitKReduceBias'], `${what}: ${names.join(', ')}`);
      const [gotW, gotB] = [await read(w.grad!), await read(b.grad!)];
      assert.ok(maxRelError(gotW, wantW.map((v) => passes * v)) < 1e-5, `${what} weight gradient: ${maxRelError(gotW, wantW.map((v) => passes * v))}`);
      assert.ok(maxRelError(gotB, wantB.map((v) => passes * v)) < 1e-5, `${what} bias gradient: ${maxRelError(gotB, wantB.map((v) => passes * v))}`);
      e.endStep();
    }
  });

  test('mismatched inner dims throw ShapeError naming the shapes', () => {
    assert.throws(() => matmul(e.empty([2, 3]), e.empty([4, 5])), (err: Error) => err instanceof ShapeError && /3 vs 4/.test(err.message));
    e.endStep();
  });
});

describe('elementwise and reductions', () => {
  test('broadcast add / sub / mul / axpby', async () => {
    await gradCheck(e, 'add', [{ shape: [3, 4, 5], grad: true }, { shape: [5], grad: true }], ([a, b]) => add(a, b),
      ([a, b]) => broadcastRef(a, [3, 4, 5], b, [5], (x, y) => x + y).out);
    await gradCheck(e, 'sub', [{ shape: [3, 1, 5], grad: true }, { shape: [4, 1], grad: true }], ([a, b]) => sub(a, b),
      ([a, b]) => broadcastRef(a, [3, 1, 5], b, [4, 1], (x, y) => x - y).out);
    await gradCheck(e, 'mul', [{ shape: [3, 7], grad: true }, { shape: [3, 1], grad: true }], ([a, b]) => mul(a, b),
      ([a, b]) => broadcastRef(a, [3, 7], b, [3, 1], (x, y) => x * y).out);
    await gradCheck(e, 'mulSame', [{ shape: [300], grad: true }], ([a]) => mul(a, a), ([a]) => map(a, (x) => x * x));
    await gradCheck(e, 'axpby', [{ shape: [2, 6], grad: true }, { shape: [2, 6], grad: true }], ([a, b]) => axpby(a, b, 0.5, -2),
      ([a, b]) => a.map((x, i) => 0.5 * x - 2 * b[i]));
  });

  test('a non-parameter leaf marked requiresGrad receives its gradient', async () => {
    const x = e.upload(Float32Array.from([1, -2, 3]), [3]);
    x.requiresGrad = true;
    backward(sum(mul(x, x)));
    assert.deepEqual(Array.from(await read(x.grad!)), [2, -4, 6]);
    e.endStep();
  });

  test('keep() carries uploads and views across endStep(); later uploads do not overwrite them', async () => {
    const mask = e.keep(e.upload(Float32Array.from([1, 0, 1]), [3]));
    const doubled = e.keep(view(scale(e.upload(Float32Array.from([1, 2, 3, 4]), [4]), 2), [2, 2]));
    e.endStep();
    scale(e.upload(Float32Array.from([9, 9, 9, 9]), [4]), 1); // reuses the arena slot and, likely, the pooled buffer
    assert.deepEqual(Array.from(await read(mask)), [1, 0, 1]);
    assert.deepEqual(Array.from(await read(doubled)), [2, 4, 6, 8]);
    e.endStep();
    e.free(mask);
    e.free(doubled);
  });

  test('unary ops', async () => {
    const shape = [3, 83];
    await gradCheck(e, 'gelu', [{ shape, grad: true }], ([x]) => gelu(x), ([x]) => map(x, GELU));
    await gradCheck(e, 'silu', [{ shape, grad: true }], ([x]) => silu(x), ([x]) => map(x, SILU));
    await gradCheck(e, 'sigmoid', [{ shape, grad: true }], ([x]) => sigmoid(x), ([x]) => map(x, SIGMOID));
    await gradCheck(e, 'relu', [{ shape, grad: true }], ([x]) => relu(x), ([x]) => map(x, (v) => Math.max(v, 0)));
    await gradCheck(e, 'exp', [{ shape, grad: true }], ([x]) => exp(x), ([x]) => map(x, Math.exp));
    const positive = Array.from({ length: 249 }, (_, i) => 0.5 + (i % 17) / 7);
    await gradCheck(e, 'log', [{ shape, grad: true, data: positive }], ([x]) => log(x), ([x]) => map(x, Math.log));
    await gradCheck(e, 'square', [{ shape, grad: true }], ([x]) => square(x), ([x]) => map(x, (v) => v * v));
    await gradCheck(e, 'scale', [{ shape, grad: true }], ([x]) => scale(x, -1.5, 0.25), ([x]) => map(x, (v) => -1.5 * v + 0.25));
    await gradCheck(e, 'swiglu', [{ shape: [4, 9], grad: true }, { shape: [4, 9], grad: true }], ([a, b]) => swiglu(a, b),
      ([a, b]) => a.map((x, i) => SILU(x) * b[i]));
  });

  test('sum / mean, view, slice, concat', async () => {
    await gradCheck(e, 'sumAll', [{ shape: [3, 4, 5], grad: true }], ([x]) => sum(x), ([x]) => Float64Array.of(x.reduce((s, v) => s + v, 0)));
    await gradCheck(e, 'sumAxis1', [{ shape: [3, 4, 5], grad: true }], ([x]) => sum(x, 1), ([x]) => {
      const o = new Float64Array(15);
      for (let i = 0; i < 3; i++) for (let j = 0; j < 4; j++) for (let k = 0; k < 5; k++) o[i * 5 + k] += x[(i * 4 + j) * 5 + k];
      return o;
    });
    await gradCheck(e, 'meanLast', [{ shape: [3, 7], grad: true }], ([x]) => mean(x, -1), ([x]) =>
      Float64Array.from({ length: 3 }, (_, i) => x.subarray(i * 7, i * 7 + 7).reduce((s, v) => s + v, 0) / 7));
    await gradCheck(e, 'viewSlice', [{ shape: [2, 3, 10], grad: true }], ([x]) => slice(view(x, [6, 10]), 1, 3, 5), ([x]) =>
      Float64Array.from({ length: 30 }, (_, i) => x[Math.floor(i / 5) * 10 + 3 + (i % 5)]));
    await gradCheck(e, 'concat', [{ shape: [2, 3, 2], grad: true }, { shape: [2, 3, 4], grad: true }], ([a, b]) => concat([a, b], 2), ([a, b]) =>
      Float64Array.from({ length: 36 }, (_, i) => { const r = Math.floor(i / 6), c = i % 6; return c < 2 ? a[r * 2 + c] : b[r * 4 + c - 2]; }));
  });
});

describe('embedding, norms, softmax', () => {
  test('embedding gather with repeated ids (scatter-add backward)', async () => {
    const ids = Int32Array.from([3, 0, 7, 3, 3, 10, 0, 2, 7, 3]);
    await gradCheck(e, 'embedding', [{ shape: [11, 6], grad: true }, { shape: [2, 5], int: ids }], ([w, i]) => embedding(w, i), ([w]) =>
      Float64Array.from({ length: 60 }, (_, k) => w[ids[Math.floor(k / 6)] * 6 + (k % 6)]));
    assert.throws(() => embedding(e.param('emb.bad', [4, 2], 'zeros'), e.upload(Int32Array.from([1, 4]), [2])), /id 4 at position 1/);
    e.endStep();
  });

  test('embedding backward when ids repeat past one chunk (64 rows): chunked partial sums, then per id', async () => {
    // id 2 on 200 rows (4 chunks, the last partial), id 4 on 70 (2 chunks), id 0 on 30, id 1 once; shuffled.
    const rng = new Rng(5);
    const ids = Int32Array.from([...Array(200).fill(2), ...Array(70).fill(4), ...Array(30).fill(0), 1]);
    rng.shuffle(ids);
    await gradCheck(e, 'embeddingChunked', [{ shape: [5, 3], grad: true }, { shape: [ids.length], int: ids }], ([w, i]) => embedding(w, i), ([w]) =>
      Float64Array.from({ length: ids.length * 3 }, (_, k) => w[ids[Math.floor(k / 3)] * 3 + (k % 3)]));
    e.endStep();
  });

  test('layerNorm and rmsNorm', async () => {
    await gradCheck(e, 'layerNorm', [{ shape: [3, 4, 77], grad: true }, { shape: [77], grad: true }, { shape: [77], grad: true }],
      ([x, g, b]) => layerNorm(x, g, b), ([x, g, b]) => layerNormRef(x, g, b, 77, 1e-5), { gradTol: 3e-3 });
    await gradCheck(e, 'rmsNorm', [{ shape: [5, 13], grad: true }, { shape: [13], grad: true }],
      ([x, g]) => rmsNorm(x, g), ([x, g]) => layerNormRef(x, g, null, 13, 1e-6));
  });

  test('softmax over rows longer than a workgroup', async () => {
    await gradCheck(e, 'softmax', [{ shape: [4, 300], grad: true }], ([x]) => softmax(x), ([x]) => softmaxRef(x, 300));
  });

  // Rows of ≤ 32 elements take 32-wide variants of the 256-wide row kernels and the 64-wide norms (several times
  // cheaper on a software adapter); their sums pair the same elements in the same order, so outputs and gradients
  // are equal bit for bit.
  test('rows of ≤ 32 elements: the 32-wide kernels, bit for bit the wide ones, forward and backward', async () => {
    const rng = new Rng(77);
    const ops: [string, (n: number) => Tensor[]][] = [
      ['softmax', (n) => { const x = e.param('x', [6, n], Float32Array.from({ length: 6 * n }, () => rng.normal())); return [softmax(x), x]; }],
      ['crossEntropy', (n) => { const x = e.param('x', [6, n], Float32Array.from({ length: 6 * n }, () => rng.normal())); return [crossEntropy(x, e.upload(Int32Array.from([0, 3, n - 1, -100, 5, 1]), [6])), x]; }],
      ['logProbGather', (n) => { const x = e.param('x', [6, n], Float32Array.from({ length: 6 * n }, () => rng.normal())); return [logProbGather(x, e.upload(Int32Array.from([2, 0, n - 1, 4, 1, 3]), [6])), x]; }],
      ['softCrossEntropy', (n) => {
        const x = e.param('x', [6, n], Float32Array.from({ length: 6 * n }, () => rng.normal()));
        const q = Float32Array.from({ length: 6 * n }, () => rng.next());
        return [softCrossEntropy(x, e.upload(q, [6, n]), e.upload(Int32Array.from([0, 1, 2, -100, 4, 5]), [6])), x];
      }],
      ['sum over a middle axis', (n) => { const x = e.param('x', [3, n, 5], Float32Array.from({ length: 15 * n }, () => rng.normal())); return [sum(x, 1), x]; }],
      // The norms' wide kernels are 64 threads; rows of ≤ 32 take their 32-wide variants alike.
      ['layerNorm', (n) => {
        const x = e.param('x', [6, n], Float32Array.from({ length: 6 * n }, () => rng.normal()));
        return [layerNorm(x, e.upload(Float32Array.from({ length: n }, () => 1 + rng.normal()), [n]), e.upload(Float32Array.from({ length: n }, () => rng.normal()), [n])), x];
      }],
      ['rmsNorm', (n) => { const x = e.param('x', [6, n], Float32Array.from({ length: 6 * n }, () => rng.normal())); return [rmsNorm(x, e.upload(Float32Array.from({ length: n }, () => 1 + rng.normal()), [n])), x]; }],
    ];
    // The wide kernels by name, from the same ops on rows of 40.
    const wide = new Map<string, Kernel>();
    for (const [, op] of ops) kernelsRun(() => { const [y] = op(40); backward(sum(mul(y, y))); }).forEach((k) => wide.set(k.name, k));
    for (const [name, op] of ops) {
      const outputs = async (asWide: boolean): Promise<{ kernels: string[]; y: Float32Array; grad: Float32Array }> => {
        const run = e.run;
        const kernels: string[] = [];
        e.run = (k, ...rest) => {
          const use = asWide && k.name.endsWith('_w32') ? wide.get(k.name.slice(0, -4)) : k;
          assert.ok(use, `${name}: no wide kernel ${k.name.slice(0, -4)} among ${[...wide.keys()].join(', ')}`);
          kernels.push(use.name);
          return run.call(e, use, ...rest);
        };
        try {
          const [y, x] = op(20);
          backward(sum(mul(y, y)));
          return { kernels, y: await read(y), grad: await read(x.grad!) };
        } finally { e.run = run; }
      };
      const seeded = rng.state;
      const narrowRun = await outputs(false);
      rng.state = seeded;
      const wideRun = await outputs(true);
      assert.ok(narrowRun.kernels.some((k) => k.endsWith('_w32')), `${name}: a 32-wide kernel ran (${narrowRun.kernels.join(', ')})`);
      assert.ok(!wideRun.kernels.some((k) => k.endsWith('_w32')), `${name}: the substituted run is all wide`);
      assert.deepEqual(narrowRun.y, wideRun.y, `${name}: forward`);
      assert.deepEqual(narrowRun.grad, wideRun.grad, `${name}: gradient`);
    }
  });
});

describe('attention', () => {
  test('causal self-attention across several tiles', async () => {
    const [B, T, D, H] = [2, 37, 12, 3];
    await gradCheck(e, 'selfCausal', [{ shape: [B, T, D], grad: true }, { shape: [B, T, D], grad: true }, { shape: [B, T, D], grad: true }],
      ([q, k, v]) => attention(q, k, v, { heads: H, causal: true }), ([q, k, v]) => attentionRef(q, k, v, B, T, T, D, H, true, null));
  });

  test('cross-attention with key padding (one query row sees no key)', async () => {
    const [B, Tq, Tk, D, H] = [2, 5, 40, 16, 1];
    const mask = Array.from({ length: B * Tk }, (_, i) => (i < Tk ? (i % 3 === 0 ? 0 : 1) : 0));
    mask[Tk + 39] = 1; // batch 1 sees only its last key
    await gradCheck(e, 'crossMasked', [{ shape: [B, Tq, D], grad: true }, { shape: [B, Tk, D], grad: true }, { shape: [B, Tk, D], grad: true }, { shape: [B, Tk], data: mask }],
      ([q, k, v, m]) => attention(q, k, v, { heads: H, keyMask: m }), ([q, k, v, m]) => attentionRef(q, k, v, B, Tq, Tk, D, H, false, m));
    const none = new Array(B * Tk).fill(0);
    await gradCheck(e, 'allMasked', [{ shape: [B, 3, 8], grad: true }, { shape: [B, Tk, 8] }, { shape: [B, Tk, 8] }, { shape: [B, Tk], data: none }],
      ([q, k, v, m]) => attention(q, k, v, { heads: 2, keyMask: m }), () => new Float64Array(B * 3 * 8));
  });
});

describe('losses, dropout, MoE', () => {
  const V = 300;
  const targets = Int32Array.from([5, -100, 299, 0, 17, -100, 123]);
  test('cross-entropy with ignore index (mean over kept rows)', async () => {
    await gradCheck(e, 'crossEntropy', [{ shape: [7, V], grad: true }, { shape: [7], int: targets }], ([x, t]) => crossEntropy(x, t, -100),
      ([x]) => Float64Array.of(crossEntropyRef(x, targets, V, -100)));
  });
  test('soft-target cross-entropy (distillation): −Σ q log softmax(x), mean over kept rows; equals crossEntropy on one-hot q', async () => {
    const rng = new Rng(11);
    const q = Array.from({ length: 7 * V }, () => Math.exp(2 * rng.normal()));
    for (let r = 0; r < 7; r++) {
      const z = q.slice(r * V, (r + 1) * V).reduce((a, b) => a + b, 0);
      for (let c = 0; c < V; c++) q[r * V + c] /= z;
    }
    await gradCheck(e, 'softCrossEntropy', [{ shape: [7, V], grad: true }, { shape: [7, V], data: q }, { shape: [7], int: targets }], ([x, p, t]) => softCrossEntropy(x, p, t, -100),
      ([x, p]) => {
        let s = 0, n = 0;
        for (let r = 0; r < 7; r++) {
          if (targets[r] === -100) continue;
          const lse = logProbRef(x.subarray(r * V, (r + 1) * V), Int32Array.of(0), V, -100)[0] - x[r * V]; // −log Σ exp
          for (let c = 0; c < V; c++) s -= p[r * V + c] * (x[r * V + c] + lse);
          n++;
        }
        return Float64Array.of(s / n);
      });
    // One-hot q at the targets: the hard cross-entropy, value and gradient.
    const x = e.param('soft.x', [7, V], Float32Array.from({ length: 7 * V }, () => rng.normal()));
    const oneHot = new Float32Array(7 * V);
    targets.forEach((t, r) => { if (t >= 0) oneHot[r * V + t] = 1; });
    const soft = softCrossEntropy(x, e.upload(oneHot, [7, V]), e.upload(targets, [7]), -100);
    backward(soft);
    const [softValue, softGrad] = [(await read(soft))[0], await read(x.grad!)];
    x.grad = null;
    const hard = crossEntropy(x, e.upload(targets, [7]), -100);
    backward(hard);
    const [hardValue, hardGrad] = [(await read(hard))[0], await read(x.grad!)];
    assert.ok(Math.abs(softValue - hardValue) < 1e-5, `${softValue} vs ${hardValue}`);
    let worst = 0;
    for (let i = 0; i < softGrad.length; i++) worst = Math.max(worst, Math.abs(softGrad[i] - hardGrad[i]));
    assert.ok(worst < 1e-6, `max |Δ grad| ${worst}`);
    e.endStep();
  });
  test('log-softmax gather (per-row log-prob of the target)', async () => {
    await gradCheck(e, 'logProbGather', [{ shape: [7, V], grad: true }, { shape: [7], int: targets }], ([x, t]) => logProbGather(x, t, -100),
      ([x]) => logProbRef(x, targets, V, -100));
  });
  test('BCE with logits', async () => {
    const y = Array.from({ length: 30 }, (_, i) => (i % 3) / 2);
    await gradCheck(e, 'bce', [{ shape: [30], grad: true }, { shape: [30], data: y }], ([x, t]) => bceWithLogits(x, t),
      ([x, t]) => Float64Array.of(x.reduce((s, v, i) => s + Math.max(v, 0) - v * t[i] + Math.log(1 + Math.exp(-Math.abs(v))), 0) / 30));
  });
  test('dropout: mask from the seed, same mask in backward, identity without grad', async () => {
    const rng = new Rng(9);
    const x = e.param('drop.x', [1000], Float32Array.from({ length: 1000 }, (_, i) => 1 + i / 1000));
    const y = dropout(x, 0.25, rng);
    backward(sum(y));
    const [yv, xv, g] = [await read(y), await read(x), await read(x.grad!)];
    let dropped = 0;
    for (let i = 0; i < 1000; i++) {
      const kept = yv[i] !== 0;
      if (!kept) dropped++;
      assert.ok(Math.abs(yv[i] - (kept ? xv[i] / 0.75 : 0)) < 1e-5, `element ${i}`);
      assert.ok(Math.abs(g[i] - (kept ? 1 / 0.75 : 0)) < 1e-5, `grad ${i}`);
    }
    assert.ok(dropped > 180 && dropped < 320, `dropped ${dropped} of 1000 at p = 0.25`);
    const again = dropout(x, 0.25, new Rng(9));
    assert.deepEqual(await read(again), yv, 'same seed, same mask');
    assert.equal(e.noGrad(() => dropout(x, 0.25, rng)), x);
    e.endStep();
  });
  test('MoE top-2: output and load-balancing loss', async () => {
    const [N, d, E, F] = [9, 6, 4, 5];
    const shapes = [[N, d], [d, E], [E, d, F], [E, F], [E, F, d], [E, d]];
    const inputs = shapes.map((shape) => ({ shape, grad: true }));
    const run = (t: ReturnType<typeof e.empty>[]) => moe(t[0], { router: t[1], w1: t[2], b1: t[3], w2: t[4], b2: t[5] });
    const ref = (x: F64[]) => moeRef(x[0], x[1], x[2], x[3], x[4], x[5], N, d, E, F, 2);
    await gradCheck(e, 'moeOut', inputs, (t) => run(t).out, (x) => ref(x).out, { gradTol: 3e-3 });
    await gradCheck(e, 'moeAux', inputs.map((i, k) => ({ ...i, grad: k <= 1 })), (t) => run(t).aux, (x) => Float64Array.of(ref(x).aux));
    const { load } = run(shapes.map((s) => e.upload(new Float32Array(s.reduce((a, b) => a * b, 1)).fill(0.1), s)));
    const l = await read(load);
    assert.deepEqual(Array.from(l), [0.5, 0.5, 0, 0], 'equal probabilities: ties go to the lower expert indices');
    e.endStep();
  });
});
