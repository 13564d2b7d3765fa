// Two whole training steps of the toy transformer (forward, loss, backward, AdamW with clipping, weight
// decay and warm-up) on the GPU against a float64 CPU reference: loss by direct evaluation, gradients of every
// parameter by central finite differences, the AdamW update re-implemented on the CPU.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { AdamW, backward, createEngine, learningRate, read, Rng, type Engine } from '../../../models/engine/index.ts';
import { toyInit, toyLoss, toyParams, toyShapes, type ToyConfig } from '../../../bench/train-step-model.ts';
import { attentionRef, crossEntropyRef, GELU, layerNormRef, matmulRef, type F64 } from './cpu-reference.ts';

let e: Engine;
before(async () => { e = await createEngine({ quiet: true }); });

const C: ToyConfig = { vocab: 23, dim: 8, heads: 2, blocks: 2, seq: 6, batch: 3 };

function cpuLoss(P: Record<string, F64>, c: ToyConfig, tokens: Int32Array, targets: Int32Array): number {
  const { batch: B, seq: T, dim: D, vocab: V } = c;
  const N = B * T;
  const bias = (y: F64, b: F64) => y.map((v, i) => v + b[i % b.length]);
  const lin = (x: F64, w: string, b: string, inD: number, outD: number) => bias(matmulRef(x, P[w], N, inD, outD), P[b]);
  let x = new Float64Array(N * D);
  for (let r = 0; r < N; r++) for (let d = 0; d < D; d++) x[r * D + d] = P.tok[tokens[r] * D + d] + P.pos[(r % T) * D + d];
  for (let i = 0; i < c.blocks; i++) {
    const h = layerNormRef(x, P[`b${i}.ln1.g`], P[`b${i}.ln1.b`], D, 1e-5);
    const q = lin(h, `b${i}.wq`, `b${i}.bq`, D, D), k = lin(h, `b${i}.wk`, `b${i}.bk`, D, D), v = lin(h, `b${i}.wv`, `b${i}.bv`, D, D);
    const a = lin(attentionRef(q, k, v, B, T, T, D, c.heads, true, null), `b${i}.wo`, `b${i}.bo`, D, D);
    x = x.map((s, j) => s + a[j]);
    const h2 = layerNormRef(x, P[`b${i}.ln2.g`], P[`b${i}.ln2.b`], D, 1e-5);
    const m = lin(lin(h2, `b${i}.w1`, `b${i}.b1`, D, 4 * D).map(GELU), `b${i}.w2`, `b${i}.b2`, 4 * D, D);
    x = x.map((s, j) => s + m[j]);
  }
  const logits = matmulRef(layerNormRef(x, P['lnf.g'], P['lnf.b'], D, 1e-5), P.head, N, D, V);
  return crossEntropyRef(logits, targets, V, -100);
}

test('two toy-transformer training steps match a float64 CPU reference', async () => {
  const rng = new Rng(42);
  const init = toyInit(C, rng);
  // Larger-than-default init so that every gradient is well above float32 noise.
  for (const [name, shape] of toyShapes(C)) if (shape.length === 2) init[name] = init[name].map((v) => v * 15);
  const params = toyParams(e, C, init);
  const list = Object.values(params);
  const opts = { lr: 0.01, warmupSteps: 2, totalSteps: 10, decay: 'cosine' as const, weightDecay: 0.1, clipNorm: 0.5, eps: 1e-3 };
  const opt = new AdamW(e, list, opts);

  const cpu: Record<string, F64> = {};
  for (const [name] of toyShapes(C)) cpu[name] = Float64Array.from(init[name]);
  const m: Record<string, F64> = {}, v: Record<string, F64> = {};
  for (const name in cpu) { m[name] = new Float64Array(cpu[name].length); v[name] = new Float64Array(cpu[name].length); }

  for (let step = 0; step < 2; step++) {
    const tokens = Int32Array.from({ length: C.batch * C.seq }, () => rng.int(C.vocab));
    const targets = Int32Array.from({ length: C.batch * C.seq }, () => rng.int(C.vocab));
    const loss = toyLoss(params, C, e.upload(tokens, [C.batch, C.seq]), e.upload(targets, [C.batch, C.seq]));
    backward(loss);
    const gpuLoss = (await read(loss))[0];
    const gpuGrads: Record<string, Float32Array> = {};
    for (const name in params) gpuGrads[name] = await read(params[name].grad!);

    const refLoss = cpuLoss(cpu, C, tokens, targets);
    assert.ok(Math.abs(gpuLoss - refLoss) <= 1e-5 * Math.abs(refLoss), `step ${step}: loss ${gpuLoss} vs ${refLoss}`);

    // Gradients by central differences on the float64 reference.
    const grads: Record<string, F64> = {};
    let gmax = 0, sq = 0;
    for (const name in cpu) {
      const p = cpu[name];
      grads[name] = new Float64Array(p.length);
      for (let j = 0; j < p.length; j++) {
        const s = p[j];
        p[j] = s + 1e-5; const up = cpuLoss(cpu, C, tokens, targets);
        p[j] = s - 1e-5; const down = cpuLoss(cpu, C, tokens, targets);
        p[j] = s;
        grads[name][j] = (up - down) / 2e-5;
        gmax = Math.max(gmax, Math.abs(grads[name][j]));
        sq += grads[name][j] ** 2;
      }
    }
    for (const name in cpu) {
      let err = 0;
      for (let j = 0; j < cpu[name].length; j++) err = Math.max(err, Math.abs(gpuGrads[name][j] - grads[name][j]));
      assert.ok(err <= 1e-3 * gmax, `step ${step}: gradient of ${name} off by ${err} (largest gradient ${gmax})`);
    }

    opt.update();
    // AdamW on the CPU: global-norm clip, bias-corrected moments, decoupled decay on matrices.
    const lr = learningRate(opts, step);
    const coef = Math.min(1, opts.clipNorm / (Math.sqrt(sq) + 1e-6));
    for (const name in cpu) {
      const decay = params[name].shape.length >= 2 ? opts.weightDecay : 0;
      for (let j = 0; j < cpu[name].length; j++) {
        const g = grads[name][j] * coef;
        m[name][j] = 0.9 * m[name][j] + 0.1 * g;
        v[name][j] = 0.999 * v[name][j] + 0.001 * g * g;
        const mh = m[name][j] / (1 - 0.9 ** (step + 1)), vh = v[name][j] / (1 - 0.999 ** (step + 1));
        cpu[name][j] -= lr * (mh / (Math.sqrt(vh) + opts.eps) + decay * cpu[name][j]);
      }
    }
    e.endStep();
  }
  for (const name in cpu) {
    const got = await read(params[name]);
    let err = 0;
    for (let j = 0; j < got.length; j++) err = Math.max(err, Math.abs(got[j] - cpu[name][j]));
    assert.ok(err <= 2e-5, `parameter ${name} after 2 steps off by ${err} (lr ${opts.lr})`);
  }
  e.endStep();
});

test('a long training loop reuses pooled buffers: no growth after the first steps', async () => {
  const c: ToyConfig = { vocab: 17, dim: 8, heads: 2, blocks: 1, seq: 5, batch: 2 };
  const rng = new Rng(8);
  const params = toyParams(e, c, toyInit(c, rng));
  const opt = new AdamW(e, Object.values(params), { lr: 1e-2 });
  const bytes: number[] = [];
  let loss = NaN;
  for (let step = 0; step < 6; step++) {
    const tokens = Int32Array.from({ length: c.batch * c.seq }, () => rng.int(c.vocab));
    const l = toyLoss(params, c, e.upload(tokens, [c.batch, c.seq]), e.upload(tokens, [c.batch, c.seq]));
    backward(l);
    opt.update();
    const shown = read(l);
    e.endStep();
    loss = (await shown)[0];
    bytes.push(e.stats.pooledBytes);
  }
  assert.ok(Number.isFinite(loss));
  assert.deepEqual(bytes.slice(2), new Array(4).fill(bytes[1]), `pool bytes per step: ${bytes.join(', ')}`);
});

test('learning-rate schedule: linear warm-up, cosine and linear decay to minLrRatio', () => {
  const s = { lr: 1, warmupSteps: 4, totalSteps: 104, minLrRatio: 0.1 };
  assert.equal(learningRate(s, 0), 0.25);
  assert.equal(learningRate(s, 3), 1);
  assert.ok(Math.abs(learningRate(s, 54) - 0.55) < 1e-12, 'cosine midpoint is halfway between lr and min');
  assert.ok(Math.abs(learningRate(s, 104) - 0.1) < 1e-12);
  assert.ok(Math.abs(learningRate({ ...s, decay: 'linear' }, 29) - 0.775) < 1e-12);
  assert.equal(learningRate({ lr: 2 }, 1000), 2);
});
