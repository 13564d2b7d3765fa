// fp32 matmul throughput of the engine's kernels (models/engine/matmul.ts), against a naive kernel (one thread per
// element of C, K summed from global memory: the floor any tiling has to beat, and an independent result):
//   1. N × N × N per tile and the automatic choice (bench/train-step-all.ts reads these as `results`), and the naive kernel;
//   2. every matmul shape of the seed model's training step at default:1024:2 (the profile in
//      results/seed-step-h100-before.json), with its calls per step: forward (+ bias), dX = dY·Wᵀ, and the
//      weight gradients Xᵀ·dY with their fused bias gradient (the naive side sums the columns separately: sumTo);
//   3. a linear layer's forward + backward at the encoder's and decoder's shapes, through ops.linear and backward.
// Per measurement: wall-clock ms per launch (launches encoded back to back, a submit every few, then one wait), TFLOP/s
// (2·M·N·K, the bias sums not counted), dispatches per launch, and, where the adapter has timestamp queries, the
// GPU time of its kernels from a second, profiled engine. `--check` (on by default) also records, at every shape of
// 2., the largest relative difference between the engine's output and the naive kernel's (and its bias gradient
// against the separate column sum). The engine's earlier kernel generation ('v1'), which this script timed against
// the current one, was removed after that comparison: bench/README.md, issue 19.
//   node --import tsx bench/matmul.ts --out=matmul.json                         # everything, on a GPU
//   node --import tsx bench/matmul.ts --sizes= --rows=2048 --decoderRows=256 --targetMs=1 --minReps=1 --gpuTime=false   # a CPU smoke run
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseOptions } from '../models/options.ts';
import { relDiff, timeGpu, timeWall } from './engine-timing.ts';
import { AdamW, backward, createEngine, linear, Rng, sumTo, type Engine, type Tensor } from '../models/engine/index.ts';
import type { Kernel } from '../models/engine/engine.ts';
import { launchMatmul, matmulPlan, type MatmulLaunch } from '../models/engine/matmul.ts';

const opts = parseOptions(process.argv.slice(2), {
  sizes: '1024,2048,4096', // N of the N × N × N squares ('' = none)
  shapes: true, // the seed model's matmul shapes (2.) and linear layers (3.)
  naive: true, // also time the naive kernel (1. and 2.)
  rows: 81920, // encoder rows: B 1024 × 80 history tokens (default:1024:2)
  decoderRows: 10240, // decoder rows: B 1024 × sessionLength 2 × (BOS + 4 codes)
  dModel: 128, ffnDim: 512, moeHidden: 1024, vocab: 1026, // default config: experts × expertFfnDim = 4 × 256; 4 × 256 codes + 2
  targetMs: 200, // wall-clock time to fill per measurement (reps = targetMs ÷ the warm-up's time per launch)
  minReps: 5, maxReps: 500,
  gpuTime: true, // also GPU time per launch from a profiled engine (timestamp-query)
  gpuReps: 10, // launches per GPU-time measurement
  check: true, // the engine against the naive kernel at every shape of 2. (largest relative difference)
  out: '', // JSON file ('' = none)
}, 'bench/matmul.ts: fp32 matmul throughput of the engine\'s kernels against a naive kernel; see the header of the file');
if (!opts) process.exit(0);
const o = opts;
/** What runs at each shape: the engine's launchMatmul, and the naive kernel (with --naive or --check). */
type Side = 'engine' | 'naive';
const sides: Side[] = o.naive ? ['engine', 'naive'] : ['engine'];

// C[b] = op(A[b]) @ op(B[b]) (+ bias): one thread per element of C, every operand read from global memory.
const NAIVE: Kernel = {
  name: 'matmulNaive',
  params: [['M', 'u32'], ['N', 'u32'], ['K', 'u32'], ['strideA', 'u32'], ['strideB', 'u32'], ['transA', 'u32'], ['transB', 'u32'], ['hasBias', 'u32']],
  bindings: ['read', 'read', 'rw', 'read'],
  code: /* wgsl */ `
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(4) var<storage, read> BIAS: array<f32>;
@compute @workgroup_size(16, 16) fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let n = id.x;
  let m = id.y;
  if (m >= p.M || n >= p.N) { return; }
  let aOff = id.z * p.strideA;
  let bOff = id.z * p.strideB;
  var s = 0.0;
  for (var k = 0u; k < p.K; k++) {
    var a: f32;
    if (p.transA != 0u) { a = A[aOff + k * p.M + m]; } else { a = A[aOff + m * p.K + k]; }
    var b: f32;
    if (p.transB != 0u) { b = B[bOff + n * p.K + k]; } else { b = B[bOff + k * p.N + n]; }
    s = fma(a, b, s);
  }
  if (p.hasBias != 0u) { s += BIAS[n]; }
  C[(id.z * p.M + m) * p.N + n] = s;
}`,
};

/** Encodes the naive kernel for launch `l` into `c` (alpha 1, no accumulation); a bias-free launch binds `c` as a dummy bias. */
function launchNaive(engine: Engine, a: Tensor, b: Tensor, c: Tensor, l: MatmulLaunch, dummyBias: Tensor): void {
  engine.run(NAIVE, [a, b, c, l.bias ?? dummyBias], [l.M, l.N, l.K, l.strideA, l.strideB, l.transA ? 1 : 0, l.transB ? 1 : 0, l.bias ? 1 : 0],
    [Math.ceil(l.N / 16), Math.ceil(l.M / 16), l.batch]);
}

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

/** Persistent operands of a shape, and a launcher per side (the naive side sums a weight gradient's bias separately). */
function shapeLauncher(engine: Engine, s: Shape) {
  const keep = (t: Tensor) => engine.keep(t);
  const a = keep(engine.upload(data(s.M * s.K), s.transA ? [s.K, s.M] : [s.M, s.K]));
  const b = keep(engine.upload(data(s.K * s.N), s.transB ? [s.N, s.K] : [s.K, s.N]));
  const bias = s.bias === 'forward' ? keep(engine.upload(data(s.N), [s.N])) : undefined;
  const c = { engine: keep(engine.empty([s.M, s.N])), naive: keep(engine.empty([s.M, s.N])) };
  const biasGrad = s.bias === 'grad' ? keep(engine.empty([s.N])) : undefined; // the engine's; the naive side's is a step tensor of sumTo
  const dummyBias = keep(engine.empty([1]));
  let naiveBiasGrad: Tensor | null = null;
  const l: MatmulLaunch = { M: s.M, N: s.N, K: s.K, batch: 1, strideA: 0, strideB: 0, transA: s.transA, transB: s.transB, bias };
  const launchOf = (side: Side) => (side === 'engine'
    ? () => launchMatmul(engine, a, b, c.engine, { ...l, biasGrad })
    : () => {
      launchNaive(engine, a, b, c.naive, l, dummyBias);
      if (s.bias === 'grad') naiveBiasGrad = sumTo(b, [s.N]); // the column-sum kernels (sumRows)
    });
  /** Both sides' outputs of their last launches (read before the step ends). */
  const outputs = () => ({ engine: c.engine, naive: c.naive, engineBiasGrad: biasGrad ?? null, naiveBiasGrad });
  const plan = matmulPlan(engine, { ...l, biasGrad });
  const free = () => { for (const t of [a, b, bias, c.engine, c.naive, biasGrad, dummyBias]) if (t) engine.free(t); };
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
  const launch = () => backward(linear(x, w, b), dy);
  return { launch, free: () => { engine.free(x); engine.free(dy); } };
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
const results: { n: number; tile: string; ms: number; tflops: number }[] = [];
for (const n of o.sizes.split(',').filter(Boolean).map(Number)) {
  const a = engine.keep(engine.upload(data(n * n), [n, n])), b = engine.keep(engine.upload(data(n * n), [n, n]));
  const c = engine.keep(engine.empty([n, n]));
  const dummyBias = engine.keep(engine.empty([1]));
  const l: MatmulLaunch = { M: n, N: n, K: n, batch: 1, strideA: 0, strideB: 0, transA: false, transB: false };
  const tiles: ('auto' | 'big' | 'mid' | 'naive')[] = ['auto', 'big', 'mid', ...(o.naive ? ['naive' as const] : [])];
  for (const tile of tiles) {
    const launch = tile === 'naive' ? () => launchNaive(engine, a, b, c, l, dummyBias)
      : () => launchMatmul(engine, a, b, c, { ...l, tile: tile === 'auto' ? undefined : tile });
    const t = await timeWall(engine, launch, o, Infinity);
    console.log(`[matmul] ${n}×${n}×${n} ${tile}: ${t.ms.toFixed(3)} ms, ${tflops(flops(n, n, n), t.ms).toFixed(2)} TFLOP/s`);
    results.push({ n, tile, ms: t.ms, tflops: tflops(flops(n, n, n), t.ms) });
  }
  for (const t of [a, b, c, dummyBias]) engine.free(t);
  engine.endStep();
}

// ---------------------------------------------------------------- 2. the seed model's shapes
interface ShapeResult {
  shape: string; M: number; N: number; K: number; transA: boolean; transB: boolean; bias: string | null; calls_per_step: number;
  plan: ReturnType<typeof matmulPlan>;
  sides: Partial<Record<Side, { ms: number; tflops: number; reps: number; dispatches: number; gpu_ms: number | null; gpu_tflops: number | null; gpu_kernels: Record<string, number> | null }>>;
  max_rel_diff_vs_naive: number | null; bias_max_rel_diff_vs_column_sum: number | null;
}
const shapeResults: ShapeResult[] = [];
const layerResults: { layer: string; rows: number; in: number; out: number; ms: number; reps: number; dispatches: number; gpu_ms: number | null }[] = [];
if (o.shapes) {
  for (const s of seedShapes()) {
    const host = shapeLauncher(engine, s);
    const device = gpu ? shapeLauncher(gpu, s) : null;
    const r: ShapeResult = {
      shape: s.name, M: s.M, N: s.N, K: s.K, transA: s.transA, transB: s.transB, bias: s.bias ?? null, calls_per_step: s.calls,
      plan: host.plan, sides: {}, max_rel_diff_vs_naive: null, bias_max_rel_diff_vs_column_sum: null,
    };
    for (const side of sides) {
      const t = await timeWall(engine, host.launchOf(side), o, 32);
      const g = device ? await timeGpu(gpu!, device.launchOf(side), o.gpuReps) : null;
      r.sides[side] = {
        ms: t.ms, tflops: tflops(flops(s.M, s.N, s.K), t.ms), reps: t.reps, dispatches: t.dispatches,
        gpu_ms: g?.gpu_ms ?? null, gpu_tflops: g ? tflops(flops(s.M, s.N, s.K), g.gpu_ms) : null, gpu_kernels: g?.kernels ?? null,
      };
    }
    if (o.check) {
      host.launchOf('engine')();
      host.launchOf('naive')();
      const out = host.outputs();
      r.max_rel_diff_vs_naive = relDiff(await engine.read(out.engine), await engine.read(out.naive));
      if (out.engineBiasGrad && out.naiveBiasGrad) r.bias_max_rel_diff_vs_column_sum = relDiff(await engine.read(out.engineBiasGrad), await engine.read(out.naiveBiasGrad));
      engine.endStep();
    }
    host.free();
    device?.free();
    engine.endStep();
    gpu?.endStep();
    const line = sides.map((side) => `${side} ${fmt(r.sides[side]!.ms)} ms (${fmt(r.sides[side]!.tflops, 2)} TFLOP/s${gpu ? `, GPU ${fmt(r.sides[side]!.gpu_ms)} ms` : ''}, ${r.sides[side]!.dispatches} dispatches)`).join(', ');
    const check = r.max_rel_diff_vs_naive === null ? '' : `; engine − naive ${r.max_rel_diff_vs_naive.toExponential(1)}${r.bias_max_rel_diff_vs_column_sum === null ? '' : `, bias ${r.bias_max_rel_diff_vs_column_sum.toExponential(1)}`}`;
    console.log(`[matmul] ${s.name} ${s.M}×${s.N}×${s.K}${s.transA ? ' Aᵀ' : ''}${s.transB ? ' Bᵀ' : ''}${s.bias ? ` +bias ${s.bias}` : ''} ×${s.calls}/step, ${r.plan.tile} tiles × ${r.plan.splits}: ${line}${check}`);
    shapeResults.push(r);
  }

  // ---------------------------------------------------------------- 3. linear layers, forward + backward
  for (const [layer, rows, inDim, outDim] of [['encoder q/k/v/o', o.rows, o.dModel, o.dModel], ['encoder FFN w1', o.rows, o.dModel, o.ffnDim],
    ['encoder FFN w2', o.rows, o.ffnDim, o.dModel], ['decoder q/k/v/o', o.decoderRows, o.dModel, o.dModel]] as const) {
    const host = layerLauncher(engine, layer, rows, inDim, outDim);
    const device = gpu ? layerLauncher(gpu, layer, rows, inDim, outDim) : null;
    const t = await timeWall(engine, host.launch, o, 4);
    const g = device ? await timeGpu(gpu!, device.launch, o.gpuReps) : null;
    host.free();
    device?.free();
    engine.endStep();
    gpu?.endStep();
    console.log(`[matmul] linear ${layer} [${rows}, ${inDim}] → ${outDim}, forward + backward: ${fmt(t.ms)} ms${gpu ? ` (GPU ${fmt(g?.gpu_ms)})` : ''}, ${t.dispatches} dispatches`);
    layerResults.push({ layer, rows, in: inDim, out: outDim, ms: t.ms, reps: t.reps, dispatches: t.dispatches, gpu_ms: g?.gpu_ms ?? null });
  }
}

// Σ calls × time over the shapes of 2.: the step's matmul time (bias sums included) at default:1024:2.
const perStep: Partial<Record<Side, { ms: number; gpu_ms: number | null; dispatches: number }>> = {};
for (const side of sides) {
  const total = (f: (r: ShapeResult) => number) => shapeResults.reduce((acc, r) => acc + r.calls_per_step * f(r), 0);
  perStep[side] = { ms: total((r) => r.sides[side]!.ms), gpu_ms: gpu ? total((r) => r.sides[side]!.gpu_ms!) : null, dispatches: total((r) => r.sides[side]!.dispatches) };
}
if (shapeResults.length) {
  console.log(`[matmul] the step's matmuls (Σ calls × time): ${sides.map((side) => `${side} ${fmt(perStep[side]!.ms, 2)} ms${gpu ? ` (GPU ${fmt(perStep[side]!.gpu_ms, 2)})` : ''}, ${perStep[side]!.dispatches} dispatches`).join(', ')}`);
}
if (o.out) {
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, `${JSON.stringify({
    what: 'fp32 matmul kernels of models/engine/matmul.ts against a naive kernel, at N×N×N and at the seed model\'s training-step shapes',
    date: new Date().toISOString(), command, adapter: engine.adapter, options: o,
    results, shapes: shapeResults, layers: layerResults, per_step: perStep,
  }, null, 1)}\n`);
  console.log(`wrote ${o.out}`);
}
process.exit(0);
