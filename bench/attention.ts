// Attention kernels of models/engine/attention.ts, both generations ('v1': per-thread arrays indexed in loops, one
// shared float per FMA; 'v2': the head dimension in generated vec4 registers, vec4 shared tiles, dK/dV split over two
// threads per key for dh > 32) in one run (issue 19), at the seed model's attention shapes with B 1024 and
// sessionLength 2: encoder self-attention over 20 items × 4 codes = 80 tokens with PAD keys masked, decoder causal
// self-attention over 2 × (BOS + 4 codes) = 10 tokens, and cross-attention of those 10 onto the 80 encoder tokens;
// for the default config (d 128, 4 heads of 32) and the large one (d 256, 4 heads of 64), each 4 encoder and 4
// decoder layers (4 calls per shape and step).
// Per shape and variant: wall-clock ms of the forward alone and of forward + backward (launches encoded back to back,
// then one wait), and, where the adapter has timestamp queries, the GPU time per kernel from a second, profiled
// engine; `--check` also runs v1 and v2 on the same inputs and records the largest relative difference of the
// output and of dQ, dK, dV. `per_step` is Σ calls × (forward + backward) over the shapes of a config.
//   node --import tsx bench/attention.ts --out=attention.json                                          # on a GPU
//   node --import tsx bench/attention.ts --batch=8 --targetMs=1 --minReps=1 --gpuTime=false            # a CPU smoke run
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseOptions } from '../models/options.ts';
import { relDiff, timeGpu, timeWall } from './engine-timing.ts';
import { attention, backward, createEngine, Rng, setAttentionVariant, type AttentionVariant, type Engine, type Tensor } from '../models/engine/index.ts';

const opts = parseOptions(process.argv.slice(2), {
  configs: 'default:128:4,large:256:4', // NAME:dModel:heads, comma-separated
  batch: 1024, // sequences per step (B)
  encoderTokens: 80, // maxHistory 20 × 4 codes
  decoderTokens: 10, // sessionLength 2 × (BOS + 4 codes)
  calls: 4, // layers: calls of each shape per step
  variants: 'v1,v2', // kernel generations to time
  targetMs: 200, // wall-clock time to fill per measurement (reps = targetMs ÷ the warm-up's time per launch)
  minReps: 5, maxReps: 500,
  gpuTime: true, // also GPU time per launch from a profiled engine (timestamp-query)
  gpuReps: 10, // launches per GPU-time measurement
  check: true, // v2 against v1 at every shape (largest relative difference of O, dQ, dK, dV)
  out: '', // JSON file ('' = none)
}, 'bench/attention.ts: the engine\'s attention kernels, v1 against v2, at the seed model\'s shapes (issue 19); see the header of the file');
if (!opts) process.exit(0);
const o = opts;
const variants = o.variants.split(',').filter(Boolean) as AttentionVariant[];
for (const v of variants) if (v !== 'v1' && v !== 'v2') throw new Error(`--variants: '${v}' is not v1 or v2`);
const configs = o.configs.split(',').filter(Boolean).map((s) => {
  const [name, d, heads] = s.split(':');
  if (!name || !(Number(d) > 0) || !(Number(heads) > 0) || Number(d) % Number(heads) !== 0) throw new Error(`--configs: '${s}' is not NAME:dModel:heads with heads dividing dModel`);
  return { name, d: Number(d), heads: Number(heads) };
});

interface Shape { name: string; Tq: number; Tk: number; causal: boolean; masked: boolean }
const shapes: Shape[] = [
  { name: 'encoder self (PAD keys masked)', Tq: o.encoderTokens, Tk: o.encoderTokens, causal: false, masked: true },
  { name: 'decoder self (causal)', Tq: o.decoderTokens, Tk: o.decoderTokens, causal: true, masked: false },
  { name: 'decoder cross (PAD keys masked)', Tq: o.decoderTokens, Tk: o.encoderTokens, causal: false, masked: true },
];

const rng = new Rng(1);
const data = (n: number) => Float32Array.from({ length: n }, () => rng.next() - 0.5);

/** Key mask [B, Tk]: sequence b keeps its last 20 − (b mod 10) items of 4 codes (histories of 11 to 20 items). */
function keyMask(B: number, Tk: number): Float32Array {
  const m = new Float32Array(B * Tk);
  for (let b = 0; b < B; b++) {
    const pad = Math.min(Tk - 1, 4 * (b % 10));
    for (let j = pad; j < Tk; j++) m[b * Tk + j] = 1;
  }
  return m;
}

/** Persistent q, k, v, dO and mask of a shape, and launchers of the forward and of forward + backward per variant. */
function launcher(engine: Engine, s: Shape, d: number, heads: number) {
  const B = o.batch;
  const keep = (values: Float32Array, shape: number[], grad = false) => {
    const t = engine.keep(engine.upload(values, shape));
    t.requiresGrad = grad;
    return t;
  };
  const q = keep(data(B * s.Tq * d), [B, s.Tq, d], true), k = keep(data(B * s.Tk * d), [B, s.Tk, d], true), v = keep(data(B * s.Tk * d), [B, s.Tk, d], true);
  const dy = keep(data(B * s.Tq * d), [B, s.Tq, d]);
  const mask = s.masked ? keep(keyMask(B, s.Tk), [B, s.Tk]) : undefined;
  const forward = (variant: AttentionVariant) => attention(q, k, v, { heads, causal: s.causal, keyMask: mask, variant });
  let last: Tensor[] = [];
  const launchOf = (variant: AttentionVariant, withBackward: boolean) => () => {
    const out = forward(variant);
    if (!withBackward) { last = [out]; return; }
    for (const t of [q, k, v]) t.grad = null;
    backward(out, dy);
    last = [out, q.grad!, k.grad!, v.grad!];
  };
  return { launchOf, outputs: () => last, free: () => { for (const t of [q, k, v, dy, mask]) if (t) engine.free(t); } };
}

const command = `node --import tsx bench/attention.ts ${process.argv.slice(2).join(' ')}`.trim();
const engine = await createEngine();
const profiler = o.gpuTime ? await createEngine({ profile: true, quiet: true }) : null;
if (profiler && !profiler.profile) console.warn('[attention] this adapter has no timestamp-query: wall-clock times only');
const gpu = profiler?.profile ? profiler : null;
const fmt = (x: number | null | undefined, digits = 3) => (x === null || x === undefined ? '–' : x.toFixed(digits));

interface Timing { ms: number; reps: number; dispatches: number; gpu_ms: number | null; gpu_kernels: Record<string, number> | null }
interface ShapeResult {
  config: string; shape: string; B: number; Tq: number; Tk: number; dModel: number; heads: number; dh: number; causal: boolean; masked: boolean; calls_per_step: number;
  variants: Record<string, { forward: Timing; forward_backward: Timing }>;
  max_rel_diff_v2_vs_v1: Record<'O' | 'dQ' | 'dK' | 'dV', number> | null;
}
const shapeResults: ShapeResult[] = [];
const perStep: Record<string, Record<string, { ms: number; gpu_ms: number | null }>> = {};
for (const c of configs) {
  perStep[c.name] = {};
  for (const s of shapes) {
    const host = launcher(engine, s, c.d, c.heads);
    const device = gpu ? launcher(gpu, s, c.d, c.heads) : null;
    const r: ShapeResult = {
      config: c.name, shape: s.name, B: o.batch, Tq: s.Tq, Tk: s.Tk, dModel: c.d, heads: c.heads, dh: c.d / c.heads, causal: s.causal, masked: s.masked,
      calls_per_step: o.calls, variants: {}, max_rel_diff_v2_vs_v1: null,
    };
    for (const v of variants) {
      const time = async (withBackward: boolean): Promise<Timing> => {
        const t = await timeWall(engine, host.launchOf(v, withBackward), o);
        const g = device ? await timeGpu(gpu!, device.launchOf(v, withBackward), o.gpuReps) : null;
        return { ...t, gpu_ms: g?.gpu_ms ?? null, gpu_kernels: g?.kernels ?? null };
      };
      r.variants[v] = { forward: await time(false), forward_backward: await time(true) };
    }
    if (o.check && variants.includes('v1') && variants.includes('v2')) {
      host.launchOf('v1', true)();
      const v1 = await Promise.all(host.outputs().map((t) => engine.read(t)));
      host.launchOf('v2', true)();
      const v2 = await Promise.all(host.outputs().map((t) => engine.read(t)));
      r.max_rel_diff_v2_vs_v1 = { O: relDiff(v2[0], v1[0]), dQ: relDiff(v2[1], v1[1]), dK: relDiff(v2[2], v1[2]), dV: relDiff(v2[3], v1[3]) };
      engine.endStep();
    }
    host.free();
    device?.free();
    engine.endStep();
    gpu?.endStep();
    const line = variants.map((v) => {
      const { forward: f, forward_backward: fb } = r.variants[v];
      return `${v} forward ${fmt(f.ms)} ms${gpu ? ` (GPU ${fmt(f.gpu_ms)})` : ''}, + backward ${fmt(fb.ms)} ms${gpu ? ` (GPU ${fmt(fb.gpu_ms)})` : ''}`;
    }).join(' → ');
    const check = r.max_rel_diff_v2_vs_v1 ? `; v2 − v1 ${Object.entries(r.max_rel_diff_v2_vs_v1).map(([k, x]) => `${k} ${x.toExponential(1)}`).join(', ')}` : '';
    console.log(`[attention] ${c.name} ${s.name} B ${o.batch} Tq ${s.Tq} Tk ${s.Tk} heads ${c.heads}×${c.d / c.heads} ×${o.calls}/step: ${line}${check}`);
    shapeResults.push(r);
  }
  for (const v of variants) {
    const rows = shapeResults.filter((r) => r.config === c.name);
    perStep[c.name][v] = {
      ms: rows.reduce((a, r) => a + r.calls_per_step * r.variants[v].forward_backward.ms, 0),
      gpu_ms: gpu ? rows.reduce((a, r) => a + r.calls_per_step * r.variants[v].forward_backward.gpu_ms!, 0) : null,
    };
  }
  console.log(`[attention] ${c.name}: the step's attention (Σ calls × forward + backward): ${variants.map((v) => `${v} ${fmt(perStep[c.name][v].ms, 2)} ms${gpu ? ` (GPU ${fmt(perStep[c.name][v].gpu_ms, 2)})` : ''}`).join(' → ')}`);
}
if (o.out) {
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, `${JSON.stringify({
    what: 'fp32 attention kernels of models/engine/attention.ts, v1 against v2, at the seed model\'s attention shapes (issue 19)',
    date: new Date().toISOString(), command, adapter: engine.adapter, options: o, shapes: shapeResults, per_step: perStep,
  }, null, 1)}\n`);
  console.log(`wrote ${o.out}`);
}
process.exit(0);
