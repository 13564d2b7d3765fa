// TensorFlow.js (webgpu backend on Dawn) baseline of the toy training step in bench/train-step-model.ts:
// the same model, init scheme, data and Adam. Run by bench/train-step-all.ts; alone:
//   node --import tsx bench/train-step-tfjs.ts --configs=64x128,256x256 --steps=10 --out=tfjs.json
import { writeFileSync } from 'node:fs';
import { gpuInstance } from '../models/engine/device.ts';
import { parseOptions } from '../models/options.ts';
import { Rng } from '../models/engine/index.ts';
import { toyInit, toyShapes, type ToyConfig } from './train-step-model.ts';

const opts = parseOptions(process.argv.slice(2), { configs: '64x128,256x256', steps: 10, warmup: 3, vocab: 1024, seq: 32, out: '' });
if (!opts) process.exit(0);
Object.defineProperty(globalThis, 'navigator', { value: { gpu: gpuInstance(), userAgent: 'node' }, configurable: true });
const tf = await import('@tensorflow/tfjs');
await import('@tensorflow/tfjs-backend-webgpu');
await tf.setBackend('webgpu');
await tf.ready();

type T = import('@tensorflow/tfjs').Tensor;
const results: Record<string, unknown>[] = [];
for (const spec of opts.configs.split(',')) {
  const [batch, dim] = spec.split('x').map(Number);
  const c: ToyConfig = { vocab: opts.vocab, dim, heads: 4, blocks: 2, seq: opts.seq, batch };
  const init = toyInit(c, new Rng(1));
  const p: Record<string, import('@tensorflow/tfjs').Variable> = {};
  for (const [name, shape] of toyShapes(c)) p[name] = tf.variable(tf.tensor(init[name], shape));
  const { batch: B, seq: T, dim: D, heads: H, vocab: V } = c;
  const dh = D / H;
  const causal = tf.linalg.bandPart(tf.ones([T, T]), -1, 0).sub(1).mul(1e9); // 0 on/below the diagonal, -1e9 above
  const ln = (x: T, g: string, b: string) => {
    const { mean, variance } = tf.moments(x, -1, true);
    return x.sub(mean).mul(tf.rsqrt(variance.add(1e-5))).mul(p[g]).add(p[b]);
  };
  const gelu = (x: T) => x.mul(0.5).mul(tf.tanh(x.add(x.pow(3).mul(0.044715)).mul(Math.sqrt(2 / Math.PI))).add(1));
  const lin = (x: T, w: string, b?: string) => { const y = tf.matMul(x.reshape([-1, x.shape[x.shape.length - 1]]), p[w]); return b ? y.add(p[b]) : y; };
  const heads = (x: T) => x.reshape([B, T, H, dh]).transpose([0, 2, 1, 3]);
  const lossFn = (tokens: T, targets: T) => {
    let x = tf.gather(p.tok, tokens.reshape([-1])).reshape([B, T, D]).add(p.pos);
    for (let i = 0; i < c.blocks; i++) {
      const h = ln(x, `b${i}.ln1.g`, `b${i}.ln1.b`);
      const q = heads(lin(h, `b${i}.wq`, `b${i}.bq`)), k = heads(lin(h, `b${i}.wk`, `b${i}.bk`)), v = heads(lin(h, `b${i}.wv`, `b${i}.bv`));
      const att = tf.softmax(tf.matMul(q, k, false, true).mul(1 / Math.sqrt(dh)).add(causal));
      const a = tf.matMul(att, v).transpose([0, 2, 1, 3]).reshape([B * T, D]);
      x = x.add(lin(a, `b${i}.wo`, `b${i}.bo`).reshape([B, T, D]));
      const h2 = ln(x, `b${i}.ln2.g`, `b${i}.ln2.b`);
      x = x.add(lin(gelu(lin(h2, `b${i}.w1`, `b${i}.b1`)), `b${i}.w2`, `b${i}.b2`).reshape([B, T, D]));
    }
    const logits = lin(ln(x, 'lnf.g', 'lnf.b'), 'head');
    return tf.losses.softmaxCrossEntropy(tf.oneHot(targets.reshape([-1]), V), logits) as import('@tensorflow/tfjs').Scalar;
  };
  const optimizer = tf.train.adam(1e-3, 0.9, 0.999, 1e-8);
  const rng = new Rng(2);
  const batches = Array.from({ length: 8 }, () => {
    const tokens = Int32Array.from({ length: B * T }, () => rng.int(V));
    const targets = tokens.map((t) => (t * 7 + 3) % V); // a learnable mapping, the same for every system
    return [tf.tensor2d(tokens, [B, T], 'int32'), tf.tensor2d(targets, [B, T], 'int32')];
  });
  let first = NaN, last = NaN;
  const step = (s: number, keep: boolean) => {
    const [tk, tg] = batches[s % batches.length];
    const loss = optimizer.minimize(() => lossFn(tk, tg), keep);
    return loss;
  };
  for (let s = 0; s < opts.warmup; s++) { const l = step(s, s === 0); if (l) { first = (await l.data())[0]; l.dispose(); } }
  await tf.ready();
  const t0 = performance.now();
  let l: T | null = null;
  for (let s = 0; s < opts.steps; s++) { l?.dispose(); l = step(opts.warmup + s, true); }
  last = (await l!.data())[0];
  const ms = (performance.now() - t0) / opts.steps;
  const r = { config: `B${B}_D${D}`, batch: B, dim: D, ms_per_step: ms, tokens_per_s: (B * T * 1000) / ms, first_loss: first, last_loss: last, steps: opts.steps };
  console.log(`[tfjs] ${r.config}: ${ms.toFixed(2)} ms/step, ${Math.round(r.tokens_per_s)} tokens/s, loss ${first.toFixed(3)} → ${last.toFixed(3)}`);
  results.push(r);
  l!.dispose();
  for (const v of Object.values(p)) v.dispose();
  optimizer.dispose();
}
const out = { system: 'tfjs-webgpu', version: tf.version.tfjs, results };
if (opts.out) writeFileSync(opts.out, JSON.stringify(out, null, 2));
process.exit(0);
