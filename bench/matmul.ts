// fp32 matmul throughput of the engine's kernels, both generations of models/engine/matmul.ts ('v1': BK 8, one
// shared tile, scalar loads; 'v2': BK 16, double-buffered, vec4 loads, fused bias gradient) in one run (issue 19):
//   1. N × N × N per tile and the automatic choice (bench/train-step-all.ts reads these as `results`);
//   2. every matmul shape of the seed model's training step at default:1024:2 (the profile in
//      results/seed-step-h100-before.json), with its calls per step: forward (+ bias), dX = dY·Wᵀ, and the
//      weight gradients Xᵀ·dY, whose bias gradient is v1's separate column sums (sumTo → sumRows) and v2's fused one;
//   3. a linear layer's forward + backward at the encoder's and decoder's shapes, through ops.linear and backward.
// Per measurement: wall-clock ms per launch (launches encoded back to back, a submit every few, then one wait), TFLOP/s
// (2·M·N·K, the bias sums not counted), dispatches per launch, and, where the adapter has timestamp queries, the
// GPU time of its kernels from a second, profiled engine. `--check` (on by default) also runs v1 and v2 once on
// the same inputs at every shape of 2. and records their largest relative difference.
//   node --import tsx bench/matmul.ts --out=matmul.json                         # everything, on a GPU
//   node --import tsx bench/matmul.ts --sizes= --rows=2048 --decoderRows=256 --targetMs=1 --minReps=1 --gpuTime=false   # a CPU smoke run
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseOptions } from '../models/options.ts';
import { relDiff, timeGpu, timeWall } from './engine-timing.ts';
import { AdamW, backward, createEngine, linear, Rng, sumTo, type Engine, type Tensor } from '../models/engine/index.ts';
import { launchMatmul, matmulPlanV2, setMatmulVariant, type MatmulLaunch, type MatmulVariant } from '../models/engine/matmul.ts';

const opts = parseOptions(process.argv.slice(2), {
  sizes: '1024,2048,4096', // N of the N × N × N squares ('' = none)
  shapes: true, // the seed model's matmul shapes (2.) and linear layers (3.)
  variants: 'v1,v2', // kernel generations to time
  rows: 81920, // encoder rows: B 1024 × 80 history tokens (default:1024:2)
  decoderRows: 10240, // decoder rows: B 1024 × sessionLength 2 × (BOS + 4 codes)
  dModel: 128, ffnDim: 512, moeHidden: 1024, vocab: 1026, // default config: experts × expertFfnDim = 4 × 256; 4 × 256 codes + 2
  targetMs: 200, // wall-clock time to fill per measurement (reps = targetMs ÷ the warm-up's time per launch)
  minReps: 5, maxReps: 500,
  gpuTime: true, // also GPU time per launch from a profiled engine (timestamp-query)
  gpuReps: 10, // launches per GPU-time measurement
  check: true, // v2 against v1 at every shape (largest relative difference)
  out: '', // JSON file ('' = none)
}, 'bench/matmul.ts: fp32 matmul throughput of the engine\'s kernels, v1 against v2 (issue 19); see the header of the file');
if (!opts) process.exit(0);
const o = opts;
const variants = o.variants.split(',').filter(Boolean) as MatmulVariant[];
for (const v of variants) if (v !== 'v1' && v !== 'v2') throw new Error(`--variants: '${v}' is not v1 or v2`);

/** One matmul of the step; A, B and C as launchMatmul reads them (A [M, K] or [K, M] with transA, B [K, N] or [N, K]). */
interface Shape {
  name: string; M: number; N: number; K: number; transA: boolean; transB: boolean;
  /** A forward bias in the epilogue, or the bias gradient (column sums of B = dY) beside a weight gradient. */
  bias?: 'forward' | 'grad';
  /** Launches of this shape in one training step at default:1024:2. */
  calls: number;
}

// Counted from one step of the seed model (default config, B 1024, sessionLength 2) with every dispatch recorded;
// they match the profile's calls (its 69 matmul64TN launches are the 65 weight gradients below and 4 of shape
// [10240, 4]). The router's and the gates' matmuls (an output or K of 1 or 4) are left out.
function seedShapes(): Shape[] {
  const { rows: R, decoderRows: D, dModel: d, ffnDim: F, moeHidden: H, vocab: V } = o;
  const linear = (name: string, rows: number, inDim: number, outDim: number, calls: number, bias: boolean): Shape[] => [
    { name: `${name} forward`, M: rows, N: outDim, K: inDim, transA: false, transB: false, bias: bias ? 'forward' : undefined, calls },
    { name: `${name} dX`, M: rows, N: inDim, K: outDim, transA: false, transB: true, calls },
    { name: `${name} dW`, M: inDim, N: outDim, K: rows, transA: true, transB: false, bias: bias ? 'grad' : undefined, calls },
  ];
  return [
    ...linear('encoder q/k/v/o, cross k/v', R, d, d, 24, true),
    ...linear('encoder FFN w1', R, d, F, 4, true),
    ...linear('encoder FFN w2', R, F, d, 4, true),
    ...linear('decoder q/k/v/o, cross q/o', D, d, d, 24, true),
    ...linear('decoder MoE w1 (all experts)', D, d, H, 4, false),
    ...linear('decoder MoE w2 (all experts)', D, H, d, 4, false),
    ...linear('lm_head', D, d, V, 1, false),
  ];
}

const rng = new Rng(1);
const data = (n: number) => Float32Array.from({ length: n }, () => rng.next() - 0.5);

/** Persistent operands of a shape, and a launcher per variant (a weight gradient's bias: separate column sums in v1). */
function shapeLauncher(engine: Engine, s: Shape) {
  const keep = (t: Tensor) => engine.keep(t);
  const a = keep(engine.upload(data(s.M * s.K), s.transA ? [s.K, s.M] : [s.M, s.K]));
  const b = keep(engine.upload(data(s.K * s.N), s.transB ? [s.N, s.K] : [s.K, s.N]));
  const bias = s.bias === 'forward' ? keep(engine.upload(data(s.N), [s.N])) : undefined;
  const c = { v1: keep(engine.empty([s.M, s.N])), v2: keep(engine.empty([s.M, s.N])) };
  const biasGrad = s.bias === 'grad' ? keep(engine.empty([s.N])) : undefined; // v2's; v1's is a step tensor of sumTo
  let v1BiasGrad: Tensor | null = null;
  const l: MatmulLaunch = { M: s.M, N: s.N, K: s.K, batch: 1, strideA: 0, strideB: 0, transA: s.transA, transB: s.transB, bias };
  const launchOf = (v: MatmulVariant) => (v === 'v2'
    ? () => launchMatmul(engine, a, b, c.v2, { ...l, variant: v, biasGrad })
    : () => {
      launchMatmul(engine, a, b, c.v1, { ...l, variant: v });
      if (s.bias === 'grad') v1BiasGrad = sumTo(b, [s.N]); // what linear() did: gradTo → sumRows
    });
  /** Both variants' outputs of their last launches (read before the step ends). */
  const outputs = () => ({ v1: c.v1, v2: c.v2, v1BiasGrad, v2BiasGrad: biasGrad ?? null });
  const plan = matmulPlanV2(engine, { ...l, biasGrad });
  const free = () => { for (const t of [a, b, bias, c.v1, c.v2, biasGrad]) if (t) engine.free(t); };
  return { launchOf, outputs, plan, free };
}

/** A linear layer's forward + backward (x requires grad; W and b packed by AdamW as in training). */
function layerLauncher(engine: Engine, name: string, rows: number, inDim: number, outDim: number) {
  const x = engine.keep(engine.upload(data(rows * inDim), [rows, inDim]));
  x.requiresGrad = true;
  const dy = engine.keep(engine.upload(data(rows * outDim), [rows, outDim]));
  const w = engine.param(`${name}.w`, [inDim, outDim], data(inDim * outDim));
  const b = engine.param(`${name}.b`, [outDim], data(outDim));
  new AdamW(engine, [w, b], { lr: 0 }); // gradients accumulate into packed slots; update() is never called
  const launchOf = (v: MatmulVariant) => () => {
    setMatmulVariant(engine, v);
    backward(linear(x, w, b), dy);
  };
  return { launchOf, free: () => { engine.free(x); engine.free(dy); } };
}

const command = `node --import tsx bench/matmul.ts ${process.argv.slice(2).join(' ')}`.trim();
const engine = await createEngine();
const profiler = o.gpuTime ? await createEngine({ profile: true, quiet: true }) : null;
if (profiler && !profiler.profile) console.warn('[matmul] this adapter has no timestamp-query: wall-clock times only');
const gpu = profiler?.profile ? profiler : null;
const flops = (M: number, N: number, K: number) => 2 * M * N * K;
const tflops = (f: number, ms: number) => f / (ms * 1e-3) / 1e12;
const fmt = (x: number | null | undefined, digits = 3) => (x === null || x === undefined ? '–' : x.toFixed(digits));

// ---------------------------------------------------------------- 1. squares
const results: { n: number; tile: string; variant: MatmulVariant; ms: number; tflops: number }[] = [];
for (const n of o.sizes.split(',').filter(Boolean).map(Number)) {
  const a = engine.keep(engine.upload(data(n * n), [n, n])), b = engine.keep(engine.upload(data(n * n), [n, n]));
  const c = engine.keep(engine.empty([n, n]));
  for (const variant of variants) {
    for (const tile of ['auto', 'big', 'mid'] as const) {
      const launch = () => launchMatmul(engine, a, b, c, { M: n, N: n, K: n, batch: 1, strideA: 0, strideB: 0, transA: false, transB: false, tile: tile === 'auto' ? undefined : tile, variant });
      const t = await timeWall(engine, launch, o, Infinity);
      console.log(`[matmul] ${n}×${n}×${n} ${variant} ${tile}: ${t.ms.toFixed(3)} ms, ${tflops(flops(n, n, n), t.ms).toFixed(2)} TFLOP/s`);
      results.push({ n, tile, variant, ms: t.ms, tflops: tflops(flops(n, n, n), t.ms) });
    }
  }
  for (const t of [a, b, c]) engine.free(t);
  engine.endStep();
}

// ---------------------------------------------------------------- 2. the seed model's shapes
interface ShapeResult {
  shape: string; M: number; N: number; K: number; transA: boolean; transB: boolean; bias: string | null; calls_per_step: number;
  plan_v2: ReturnType<typeof matmulPlanV2>;
  variants: Record<string, { ms: number; tflops: number; reps: number; dispatches: number; gpu_ms: number | null; gpu_tflops: number | null; gpu_kernels: Record<string, number> | null }>;
  max_rel_diff_v2_vs_v1: number | null; bias_max_rel_diff_v2_vs_v1: number | null;
}
const shapeResults: ShapeResult[] = [];
const layerResults: { layer: string; rows: number; in: number; out: number; variants: Record<string, { ms: number; reps: number; dispatches: number; gpu_ms: number | null }> }[] = [];
if (o.shapes) {
  for (const s of seedShapes()) {
    const host = shapeLauncher(engine, s);
    const device = gpu ? shapeLauncher(gpu, s) : null;
    const r: ShapeResult = {
      shape: s.name, M: s.M, N: s.N, K: s.K, transA: s.transA, transB: s.transB, bias: s.bias ?? null, calls_per_step: s.calls,
      plan_v2: host.plan, variants: {}, max_rel_diff_v2_vs_v1: null, bias_max_rel_diff_v2_vs_v1: null,
    };
    for (const v of variants) {
      const t = await timeWall(engine, host.launchOf(v), o, 32);
      const g = device ? await timeGpu(gpu!, device.launchOf(v), o.gpuReps) : null;
      r.variants[v] = {
        ms: t.ms, tflops: tflops(flops(s.M, s.N, s.K), t.ms), reps: t.reps, dispatches: t.dispatches,
        gpu_ms: g?.gpu_ms ?? null, gpu_tflops: g ? tflops(flops(s.M, s.N, s.K), g.gpu_ms) : null, gpu_kernels: g?.kernels ?? null,
      };
    }
    if (o.check && variants.includes('v1') && variants.includes('v2')) {
      host.launchOf('v1')();
      host.launchOf('v2')();
      const out = host.outputs();
      r.max_rel_diff_v2_vs_v1 = relDiff(await engine.read(out.v2), await engine.read(out.v1));
      if (out.v1BiasGrad && out.v2BiasGrad) r.bias_max_rel_diff_v2_vs_v1 = relDiff(await engine.read(out.v2BiasGrad), await engine.read(out.v1BiasGrad));
      engine.endStep();
    }
    host.free();
    device?.free();
    engine.endStep();
    gpu?.endStep();
    const line = variants.map((v) => `${v} ${fmt(r.variants[v].ms)} ms (${fmt(r.variants[v].tflops, 2)} TFLOP/s${gpu ? `, GPU ${fmt(r.variants[v].gpu_ms)} ms` : ''}, ${r.variants[v].dispatches} dispatches)`).join(' → ');
    const check = r.max_rel_diff_v2_vs_v1 === null ? '' : `; v2 − v1 ${r.max_rel_diff_v2_vs_v1.toExponential(1)}${r.bias_max_rel_diff_v2_vs_v1 === null ? '' : `, bias ${r.bias_max_rel_diff_v2_vs_v1.toExponential(1)}`}`;
    console.log(`[matmul] ${s.name} ${s.M}×${s.N}×${s.K}${s.transA ? ' Aᵀ' : ''}${s.transB ? ' Bᵀ' : ''}${s.bias ? ` +bias ${s.bias}` : ''} ×${s.calls}/step: ${line}${check}`);
    shapeResults.push(r);
  }

  // ---------------------------------------------------------------- 3. linear layers, forward + backward
  for (const [layer, rows, inDim, outDim] of [['encoder q/k/v/o', o.rows, o.dModel, o.dModel], ['encoder FFN w1', o.rows, o.dModel, o.ffnDim],
    ['encoder FFN w2', o.rows, o.ffnDim, o.dModel], ['decoder q/k/v/o', o.decoderRows, o.dModel, o.dModel]] as const) {
    const host = layerLauncher(engine, layer, rows, inDim, outDim);
    const device = gpu ? layerLauncher(gpu, layer, rows, inDim, outDim) : null;
    const entry: (typeof layerResults)[number] = { layer, rows, in: inDim, out: outDim, variants: {} };
    for (const v of variants) {
      const t = await timeWall(engine, host.launchOf(v), o, 4);
      const g = device ? await timeGpu(gpu!, device.launchOf(v), o.gpuReps) : null;
      entry.variants[v] = { ms: t.ms, reps: t.reps, dispatches: t.dispatches, gpu_ms: g?.gpu_ms ?? null };
    }
    setMatmulVariant(engine, 'v2');
    if (gpu) setMatmulVariant(gpu, 'v2');
    host.free();
    device?.free();
    engine.endStep();
    gpu?.endStep();
    console.log(`[matmul] linear ${layer} [${rows}, ${inDim}] → ${outDim}, forward + backward: ` +
      variants.map((v) => `${v} ${fmt(entry.variants[v].ms)} ms${gpu ? ` (GPU ${fmt(entry.variants[v].gpu_ms)})` : ''}, ${entry.variants[v].dispatches} dispatches`).join(' → '));
    layerResults.push(entry);
  }
}

// Σ calls × time over the shapes of 2.: the step's matmul time (bias sums included) at default:1024:2.
const perStep: Record<string, { ms: number; gpu_ms: number | null; dispatches: number }> = {};
for (const v of variants) {
  const total = (f: (r: ShapeResult) => number) => shapeResults.reduce((acc, r) => acc + r.calls_per_step * f(r), 0);
  perStep[v] = { ms: total((r) => r.variants[v].ms), gpu_ms: gpu ? total((r) => r.variants[v].gpu_ms!) : null, dispatches: total((r) => r.variants[v].dispatches) };
}
if (shapeResults.length) {
  console.log(`[matmul] the step's matmuls (Σ calls × time): ${variants.map((v) => `${v} ${fmt(perStep[v].ms, 2)} ms${gpu ? ` (GPU ${fmt(perStep[v].gpu_ms, 2)})` : ''}, ${perStep[v].dispatches} dispatches`).join(' → ')}`);
}
if (o.out) {
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, `${JSON.stringify({
    what: 'fp32 matmul kernels of models/engine/matmul.ts, v1 against v2, at N×N×N and at the seed model\'s training-step shapes (issue 19)',
    date: new Date().toISOString(), command, adapter: engine.adapter, options: o,
    results, shapes: shapeResults, layers: layerResults, per_step: perStep,
  }, null, 1)}\n`);
  console.log(`wrote ${o.out}`);
}
process.exit(0);
