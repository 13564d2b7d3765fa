// The toy training step (bench/train-step-model.ts) on this engine: ms/step and tokens/s per config, then a
// profiled run (timestamp-query around every dispatch) that says where the GPU time goes. Run by
// bench/train-step-all.ts; alone:
//   node --import tsx bench/train-step.ts --configs=64x128,256x256 --steps=50 --out=engine.json
import { writeFileSync } from 'node:fs';
import { parseOptions } from '../models/options.ts';
import { AdamW, backward, createEngine, Rng, type Engine } from '../models/engine/index.ts';
import { toyInit, toyLoss, toyParams, type ToyConfig } from './train-step-model.ts';

const opts = parseOptions(process.argv.slice(2), {
  configs: '64x128,256x256', // BATCHxWIDTH, comma-separated
  steps: 50, // timed steps per config
  warmup: 10, // untimed steps first (pipeline compilation, pool fill)
  profileSteps: 5, // steps under timestamp queries (0 = skip the profile)
  vocab: 1024,
  seq: 32,
  out: '', // JSON path
});
if (!opts) process.exit(0);

async function measure(engine: Engine, c: ToyConfig, steps: number, warmup: number) {
  const params = toyParams(engine, c, toyInit(c, new Rng(1)));
  const opt = new AdamW(engine, Object.values(params), { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8 }); // = Adam: no decay, no clip
  const rng = new Rng(2);
  const n = c.batch * c.seq;
  const batches = Array.from({ length: 8 }, () => {
    const tokens = Int32Array.from({ length: n }, () => rng.int(c.vocab));
    return [tokens, tokens.map((t) => (t * 7 + 3) % c.vocab)]; // a learnable mapping, the same for every system
  });
  const step = (s: number, readLoss: boolean) => {
    const [tokens, targets] = batches[s % batches.length];
    const loss = toyLoss(params, c, engine.upload(tokens, [c.batch, c.seq]), engine.upload(targets, [c.batch, c.seq]));
    backward(loss);
    opt.update();
    const value = readLoss ? engine.read(loss) : null;
    engine.endStep();
    return value;
  };
  const first = (await step(0, true))![0];
  for (let s = 1; s < warmup; s++) step(s, false);
  await engine.sync();
  const dispatches0 = engine.stats.dispatches;
  const t0 = performance.now();
  let encodeMs = 0;
  let last: Promise<Float32Array> | null = null;
  for (let s = 0; s < steps; s++) {
    const e0 = performance.now();
    last = step(warmup + s, s === steps - 1);
    encodeMs += performance.now() - e0;
  }
  const lastLoss = (await last!)[0];
  await engine.sync();
  const ms = (performance.now() - t0) / steps;
  return { ms, encodeMs: encodeMs / steps, first, lastLoss, dispatches: (engine.stats.dispatches - dispatches0) / steps, params: Object.values(params) };
}

const engine = await createEngine();
const profiler = opts.profileSteps > 0 ? await createEngine({ profile: true, quiet: true }) : null;
const results: Record<string, unknown>[] = [];
for (const spec of opts.configs.split(',')) {
  const [batch, dim] = spec.split('x').map(Number);
  const c: ToyConfig = { vocab: opts.vocab, dim, heads: 4, blocks: 2, seq: opts.seq, batch };
  const m = await measure(engine, c, opts.steps, opts.warmup);
  const r: Record<string, unknown> = {
    config: `B${batch}_D${dim}`, batch, dim, ms_per_step: m.ms, tokens_per_s: (batch * c.seq * 1000) / m.ms,
    encode_ms_per_step: m.encodeMs, dispatches_per_step: m.dispatches, first_loss: m.first, last_loss: m.lastLoss, steps: opts.steps,
  };
  console.log(`[engine] ${r.config}: ${m.ms.toFixed(2)} ms/step (CPU encode ${m.encodeMs.toFixed(2)} ms), ${Math.round(r.tokens_per_s as number)} tokens/s, ` +
    `${m.dispatches} dispatches/step, loss ${m.first.toFixed(3)} → ${m.lastLoss.toFixed(3)}`);
  if (profiler?.profile) {
    profiler.profile.clear();
    await measure(profiler, c, opts.profileSteps, 2);
    const prof = profiler.profile;
    prof.clear();
    await measure(profiler, c, opts.profileSteps, 0).catch(() => null);
    const stepsProfiled = opts.profileSteps + 1; // measure() runs a first step (loss read) plus the timed steps
    const kernels = [...prof.entries()].map(([name, [ns, count]]) => ({ name, ms_per_step: ns / 1e6 / stepsProfiled, calls_per_step: count / stepsProfiled }))
      .sort((a, b) => b.ms_per_step - a.ms_per_step);
    const gpuMs = kernels.reduce((s, k) => s + k.ms_per_step, 0);
    r.gpu_kernel_ms_per_step = gpuMs;
    r.kernels = kernels.map((k) => ({ ...k, share: k.ms_per_step / gpuMs }));
    console.log(`  GPU kernel time ${gpuMs.toFixed(2)} ms/step; top: ${kernels.slice(0, 6).map((k) => `${k.name} ${k.ms_per_step.toFixed(2)}`).join(', ')}`);
  }
  results.push(r);
}
const out = { system: 'onerec-engine', adapter: engine.adapter, results };
if (opts.out) writeFileSync(opts.out, JSON.stringify(out, null, 2));
process.exit(0);
