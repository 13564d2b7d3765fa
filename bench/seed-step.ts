// The seed model's real training step on this engine against a PyTorch reference of the same model
// (bench/seed_step_torch.py), in one run on one GPU (issue 19). Per row (config, B, sessionLength): our engine's
// step exactly as trainSeed takes it (SeedModel.trainingLoss with dropout → backward → AdamW.update with
// clipping → the running loss sums → endStep), and PyTorch eager fp32 (TF32 off), TF32 and bf16 autocast on the
// same initial weights and the same batches, which this script writes to exchange files (bench/seed-step-data.ts).
// PyTorch runs first, on every row, and has exited before our engine's rows start: the two processes never hold
// GPU memory at the same time.
//
//   node --import tsx bench/seed-step.ts                                   # the full table → bench/results/seed-step-h200.json
//   node --import tsx bench/seed-step.ts --rows=default:1024:2 --steps=10  # a subset
//   node --import tsx bench/seed-step.ts --rows= --curve=200               # loss curves only → bench/results/seed-curve-h200.json
//   node --import tsx bench/seed-step.ts --rows= --curve=10 --curveRow=tiny:16:2 --python=python3 --out=… --curveOut=…   # the CPU check
//
// Timing: `warmup` untimed steps, then `steps` timed steps in windows of `window`; each window ends by reading
// the last step's loss (the GPU has then finished every step of the window); ms/step = median over windows.
// PyTorch is timed the same way with torch.cuda.synchronize() around each window. Where the engine's time goes:
// dispatches, copy/clear commands and submits per step (engine.stats), the CPU time to encode a step (the
// step's JavaScript up to endStep(), whose submit does not wait for the GPU), and for the `profile` rows the GPU
// time per kernel (timestamp queries around every dispatch, a second engine; slower, so timed apart).
//
// Loss-curve agreement (--curve=N): our SeedModel initialised with `seed`, its weights read back from the GPU
// and written with N batches in a fixed order; both engines train N steps on them from those weights, dropout off,
// fp32, the trainer's AdamW (lr 2e-3, weight decay 0.1, clip 1, warm-up N/10 steps, cosine to lr/10 at step N);
// the JSON has both curves and the largest relative difference of the loss (target ≤ 1 %).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { AdamW, createEngine, Rng, type Engine } from '../models/engine/index.ts';
import { accumulateAdd, addInto } from '../models/engine/ops.ts';
import { parseOptions } from '../models/options.ts';
import { parameterCount, type SeedConfig } from '../models/seed/config.ts';
import { SeedModel, trainingInit } from '../models/seed/model.ts';
import { fixedBatches, SEED_STEP_CONFIGS, syntheticSeedData, trainerSchedule, writeExchange, type Exchange } from './seed-step-data.ts';

const FULL_TABLE = ['default', 'large'].flatMap((c) => [1, 2].flatMap((m) => [256, 512, 1024].map((B) => `${c}:${B}:${m}`))).join(',');

const opts = parseOptions(process.argv.slice(2), {
  rows: 'all', // CONFIG:B:SESSIONLENGTH, comma-separated (configs: default, large, tiny); 'all' = the 12 rows of issue 19; '' = none
  warmup: 3, // untimed steps per row and system (pipeline compilation, pool fill, cuBLAS autotuning)
  steps: 20, // timed steps per row and system
  window: 5, // steps per timed window (median over windows)
  batches: 4, // distinct batches per row, cycled
  modes: 'fp32,tf32,bf16', // PyTorch modes
  torch: true, // also run the PyTorch reference (false: the engine alone)
  python: 'python3', // the interpreter that has torch
  profile: 'default:1024:2,large:1024:2', // rows whose GPU time per kernel is measured ('' = none)
  profileSteps: 3,
  curve: 0, // N > 0: also the loss-curve agreement over N steps
  curveRow: 'default:256:2', // CONFIG:B:SESSIONLENGTH of the curve (the trainer's batch size and window)
  curveWarmup: -1, // warm-up steps of the curve's schedule (−1: N/10)
  seed: 1, // init, data and dropout
  out: 'bench/results/seed-step-h200.json',
  curveOut: 'bench/results/seed-curve-h200.json',
  work: '', // directory for the exchange files (kept); '' = a temporary one, removed at the end
  zeroWorkgroup: false, // true: the engine's devices zero workgroup memory as browsers do (what skipping it saves)
}, 'bench/seed-step.ts: the seed model\'s training step, this engine vs PyTorch (issue 19); see the header of the file');
if (!opts) process.exit(0);
const o = opts;

interface RowSpec { config: string; B: number; sessionLength: number }

function parseRow(spec: string): RowSpec {
  const [config, B, m] = spec.split(':');
  if (!(config in SEED_STEP_CONFIGS) || !(Number(B) > 0) || !(Number(m) > 0)) {
    throw new Error(`row '${spec}': write CONFIG:B:SESSIONLENGTH with CONFIG one of ${Object.keys(SEED_STEP_CONFIGS).join(', ')}, e.g. default:256:2`);
  }
  return { config, B: Number(B), sessionLength: Number(m) };
}
const rowName = (r: RowSpec): string => `${r.config}:${r.B}:${r.sessionLength}`;
const rowConfig = (r: RowSpec, dropout = true): SeedConfig => ({ ...SEED_STEP_CONFIGS[r.config], sessionLength: r.sessionLength, ...(dropout ? {} : { dropout: 0 }) });

/** A timing row's inputs: trainer init with `seed`, `count` fixed batches, the trainer's schedule, dropout on. */
function timingExchange(r: RowSpec, count: number): Exchange {
  const config = rowConfig(r);
  const data = syntheticSeedData(config, o.seed);
  return {
    config, weights: trainingInit(config, o.seed), batches: fixedBatches(data, config, r.B, count, r.sessionLength, o.seed),
    schedule: trainerSchedule(30 * Math.ceil(131413 / r.B)), dropout: true, // 30 Beauty epochs: the schedule of `onerec train`
  };
}

/** trainSeed's step on pre-built batches: returns step(s, read) whose promise (when read) is [loss, ce, aux]. */
function trainer(engine: Engine, x: Exchange) {
  const model = SeedModel.fromWeights(engine, x.config, x.weights);
  const optimizer = new AdamW(engine, model.parameterList(), x.schedule);
  const rng = new Rng(o.seed); // dropout
  // trainSeed keeps running sums on the GPU so that a step never waits for a readback; they are part of its step.
  const ceSum = engine.persistent([1]);
  const auxSum = engine.persistent([1]);
  const loadSum = Array.from({ length: x.config.decoderLayers }, () => engine.persistent([x.config.experts]));
  for (const t of [ceSum, auxSum, ...loadSum]) engine.zero(t);
  const step = (s: number, read: boolean): Promise<Float32Array[]> | null => {
    const out = model.trainingLoss(x.batches[s % x.batches.length], x.dropout ? rng : null);
    engine.backward(out.loss, undefined, accumulateAdd);
    optimizer.update();
    addInto(ceSum, out.ce);
    if (out.aux) addInto(auxSum, out.aux);
    out.load.forEach((l, i) => addInto(loadSum[i], l));
    const values = read ? engine.readMany([out.loss, out.ce, ...(out.aux ? [out.aux] : [])]) : null;
    engine.endStep();
    return values;
  };
  const release = () => { for (const t of [ceSum, auxSum, ...loadSum]) t.buffer.destroy(); };
  return { step, release };
}

async function timeEngine(engine: Engine, x: Exchange) {
  const { step, release } = trainer(engine, x);
  const first = (await step(0, true)!)[0][0];
  for (let s = 1; s < o.warmup; s++) step(s, false);
  await engine.sync();
  const before = { ...engine.stats };
  const windows: number[] = [];
  let encodeMs = 0;
  let last = NaN;
  for (let s = Math.max(1, o.warmup); s < Math.max(1, o.warmup) + o.steps;) {
    const n = Math.min(o.window, Math.max(1, o.warmup) + o.steps - s);
    const t0 = performance.now();
    let values: Promise<Float32Array[]> | null = null;
    for (let j = 0; j < n; j++, s++) {
      const e0 = performance.now();
      values = step(s, j === n - 1);
      encodeMs += performance.now() - e0;
    }
    last = (await values!)[0][0];
    windows.push((performance.now() - t0) / n);
  }
  const per = (key: keyof typeof before) => (engine.stats[key] - before[key]) / o.steps;
  release();
  return {
    ms: median(windows), windows_ms: windows, encode_ms_per_step: encodeMs / o.steps,
    dispatches_per_step: per('dispatches'), copies_per_step: per('copies'), submits_per_step: per('submits'),
    first_loss: first, last_loss: last,
  };
}

async function profileEngine(engine: Engine, x: Exchange) {
  const { step, release } = trainer(engine, x);
  await step(0, true); // pipelines compiled outside the profile
  engine.profile!.clear();
  for (let s = 1; s <= o.profileSteps; s++) step(s, false);
  await engine.sync();
  const kernels = [...engine.profile!.entries()].map(([name, [ns, count]]) => ({ name, ms_per_step: ns / 1e6 / o.profileSteps, calls_per_step: count / o.profileSteps }))
    .sort((a, b) => b.ms_per_step - a.ms_per_step);
  const total = kernels.reduce((s, k) => s + k.ms_per_step, 0);
  release();
  return { gpu_kernel_ms_per_step: total, kernels: kernels.map((k) => ({ ...k, share: k.ms_per_step / total })) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Runs bench/seed_step_torch.py; its stdout is one JSON document (progress goes to our stderr). */
function runTorch(args: string[]): { result: Record<string, unknown> | null; error: string | null; seconds: number } {
  const t0 = Date.now();
  const r = spawnSync(o.python, ['bench/seed_step_torch.py', ...args, '--json'], { stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 28, env: { ...process.env, PYTHONUNBUFFERED: '1' } });
  const seconds = (Date.now() - t0) / 1000;
  if (r.error) return { result: null, error: `${o.python}: ${r.error.message}`, seconds };
  if (r.status !== 0) return { result: null, error: `${o.python} bench/seed_step_torch.py exited with ${r.status ?? r.signal} (its stderr is in this run's log)`, seconds };
  try {
    return { result: JSON.parse(r.stdout.toString()), error: null, seconds };
  } catch (e) {
    return { result: null, error: `unreadable output of bench/seed_step_torch.py: ${(e as Error).message}`, seconds };
  }
}

function writeJson(path: string, value: unknown, say = true): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(value, null, 1)}\n`);
  if (say) console.log(`wrote ${path}`);
}

function webgpuVersion(): string | null {
  const path = join('node_modules', 'webgpu', 'package.json');
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version : null;
}

const work = o.work || mkdtempSync(join(tmpdir(), 'seed-step-'));
mkdirSync(work, { recursive: true });
const engine = await createEngine({ zeroWorkgroupMemory: o.zeroWorkgroup });
void engine.device.lost.then((info) => { if (info.reason !== 'destroyed') { console.error('device lost:', info.reason, info.message); process.exit(3); } });
const versions = { node: process.version, webgpu: webgpuVersion() };
const command = `node --import tsx bench/seed-step.ts ${process.argv.slice(2).join(' ')}`.trim();

// ---------------------------------------------------------------- the timing table
const rows = (o.rows === 'all' ? FULL_TABLE : o.rows).split(',').filter(Boolean).map(parseRow);
if (rows.length > 0) {
  // Every row's inputs first, then PyTorch on all of them, then our engine: PyTorch's process (and its GPU memory)
  // is gone before the engine's buffer pools grow, so the two never hold the GPU's memory at the same time.
  const files = rows.map((r) => {
    const file = join(work, `${rowName(r).replaceAll(':', '-')}.ckpt`);
    writeExchange(file, timingExchange(r, o.batches));
    return file;
  });
  let pytorch: ReturnType<typeof runTorch> | null = null;
  if (o.torch) {
    pytorch = runTorch(['time', '--modes', o.modes, '--warmup', String(o.warmup), '--steps', String(o.steps), '--window', String(o.window), ...files]);
    if (pytorch.error) console.error(`[pytorch] ${pytorch.error}`);
  }
  type EngineTiming = Awaited<ReturnType<typeof timeEngine>>;
  type ModeResult = { ms: number | null; [k: string]: unknown };
  const torchRows = (pytorch?.result?.rows ?? []) as { modes: Record<string, ModeResult> }[];
  const engineRows: (EngineTiming | null)[] = rows.map(() => null);
  const profiles: Record<string, unknown>[] = [];
  const configs = Object.fromEntries([...new Set(rows.map((r) => r.config))].map((c) => [c, { ...SEED_STEP_CONFIGS[c], sessionLength: 'per row', parameters_at_sessionLength_1: parameterCount({ ...SEED_STEP_CONFIGS[c], sessionLength: 1 }) }]));
  // Written after PyTorch and again after every engine row, so that a run cut short keeps what it measured.
  const table = () => rows.map((r, i) => {
    const modes = torchRows[i]?.modes ?? {};
    const ms = (mode: string) => modes[mode]?.ms ?? null;
    const fp32 = ms('fp32'), bf16 = ms('bf16');
    const t = engineRows[i];
    const engineMs = t ? t.ms : null;
    return {
      config: r.config, B: r.B, sessionLength: r.sessionLength,
      engine_ms: engineMs, pytorch_fp32_ms: fp32, pytorch_tf32_ms: ms('tf32'), pytorch_bf16_ms: bf16,
      ratio_to_pytorch_fp32: fp32 === null || engineMs === null ? null : fp32 / engineMs,
      ratio_to_pytorch_bf16: bf16 === null || engineMs === null ? null : bf16 / engineMs,
      engine_examples_per_s: engineMs === null ? null : (1000 * r.B) / engineMs, engine: t, pytorch: modes,
    };
  });
  const save = (say = false) => {
    const rowsNow = table();
    const ratios = (config: string | null, B: number | null, key: 'ratio_to_pytorch_fp32' | 'ratio_to_pytorch_bf16') => {
      const picked = rowsNow.filter((t) => (config === null || t.config === config) && (B === null || t.B === B));
      const values = picked.map((t) => t[key]);
      return picked.length > 0 && values.every((v) => v !== null) ? (values as number[]) : null; // null: not measured (yet)
    };
    const all = (values: number[] | null, bound: number) => (values ? values.every((v) => v >= bound) : null);
    writeJson(o.out, {
      what: 'the seed model\'s training step (trainingLoss with dropout + backward + AdamW with clipping), this engine vs PyTorch eager on the same GPU, same weights and batches; ms per step = median over windows; ratio = PyTorch ms ÷ engine ms (> 1: the engine is faster)',
      date: new Date().toISOString(), command, adapter: engine.adapter,
      versions: { ...versions, pytorch: pytorch?.result?.versions ?? null },
      configs, schedule: { ...trainerSchedule(0), totalSteps: '30 epochs of 131,413 examples at the row\'s B (onerec train\'s schedule)' }, data: 'synthetic Beauty-shaped (bench/seed-step-data.ts syntheticSeedData): 12,101 items, 22,363 users of 5–12 items',
      timing: { warmup: o.warmup, steps: o.steps, window: o.window, batches_per_row: o.batches },
      rows: rowsNow,
      targets: {
        every_row_at_least_pytorch_fp32: all(ratios(null, null, 'ratio_to_pytorch_fp32'), 1),
        default_B1024_at_least_2x_pytorch_fp32: all(ratios('default', 1024, 'ratio_to_pytorch_fp32'), 2),
        large_at_least_half_pytorch_bf16: all(ratios('large', null, 'ratio_to_pytorch_bf16'), 0.5),
      },
      profile: profiles,
      pytorch_seconds: pytorch?.seconds ?? null,
      ...(pytorch?.error ? { pytorch_error: pytorch.error } : {}),
    }, say);
  };
  save();
  for (const [i, r] of rows.entries()) {
    const t = await timeEngine(engine, timingExchange(r, o.batches));
    console.log(`[engine] ${rowName(r)}: ${t.ms.toFixed(2)} ms/step (windows ${t.windows_ms.map((w) => w.toFixed(1)).join(', ')}), ` +
      `CPU encode ${t.encode_ms_per_step.toFixed(2)} ms/step, ${t.dispatches_per_step} dispatches + ${t.copies_per_step} copies/step, loss ${t.first_loss.toFixed(4)} → ${t.last_loss.toFixed(4)}`);
    engineRows[i] = t;
    save();
  }
  const profileRows = o.profile.split(',').filter(Boolean).map(parseRow);
  if (profileRows.length > 0 && o.profileSteps > 0) {
    const profiler = await createEngine({ profile: true, quiet: true, zeroWorkgroupMemory: o.zeroWorkgroup });
    if (!profiler.profile) console.warn('[engine] this adapter has no timestamp-query: no per-kernel profile');
    else {
      for (const r of profileRows) {
        const p = await profileEngine(profiler, timingExchange(r, o.batches));
        console.log(`[engine] profile ${rowName(r)}: GPU kernels ${p.gpu_kernel_ms_per_step.toFixed(2)} ms/step; ` +
          p.kernels.slice(0, 6).map((k) => `${k.name} ${k.ms_per_step.toFixed(2)} (${k.calls_per_step})`).join(', '));
        profiles.push({ row: rowName(r), steps: o.profileSteps, ...p });
      }
      save();
    }
    profiler.device.destroy(); // its buffer pool goes with it
  }
  save(true);
  const fixed = (v: number | null) => (v === null ? '' : v.toFixed(2));
  console.table(table().map((t) => ({ row: `${t.config}:${t.B}:${t.sessionLength}`, engine: fixed(t.engine_ms), fp32: fixed(t.pytorch_fp32_ms), tf32: fixed(t.pytorch_tf32_ms), bf16: fixed(t.pytorch_bf16_ms), ratio: fixed(t.ratio_to_pytorch_fp32) })));
}

// ---------------------------------------------------------------- loss-curve agreement
if (o.curve > 0) {
  const r = parseRow(o.curveRow);
  const config = rowConfig(r, false); // dropout off: both engines compute the same function
  const model = SeedModel.init(engine, config, o.seed);
  const weights = await model.weights(); // what our engine starts from, read back from the GPU
  const data = syntheticSeedData(config, o.seed);
  const x: Exchange = {
    config, weights, batches: fixedBatches(data, config, r.B, o.curve, r.sessionLength, o.seed),
    schedule: trainerSchedule(o.curve, o.curveWarmup >= 0 ? o.curveWarmup : Math.max(1, Math.round(o.curve / 10))), dropout: false,
  };
  const file = join(work, 'curve.ckpt');
  writeExchange(file, x);
  const { step, release } = trainer(engine, x);
  const ours = { loss: [] as number[], ce: [] as number[], aux: [] as (number | null)[] };
  const t0 = performance.now();
  for (let s = 0; s < o.curve; s++) {
    const [loss, ce, aux] = await step(s, true)!;
    ours.loss.push(loss[0]);
    ours.ce.push(ce[0]);
    ours.aux.push(aux ? aux[0] : null);
    if (s % 25 === 0) console.log(`[engine] curve step ${s}: loss ${loss[0].toFixed(6)}`);
  }
  const engineSeconds = (performance.now() - t0) / 1000;
  release();
  const torch = runTorch(['curve', file]);
  if (torch.error) console.error(`[pytorch] ${torch.error}`);
  const theirs = torch.result as { loss: number[]; ce: number[]; aux: (number | null)[]; versions: unknown } | null;
  const relative = (a: number[], b: number[]) => a.map((v, i) => Math.abs(v - b[i]) / Math.abs(b[i]));
  const rel = theirs ? relative(ours.loss, theirs.loss) : [];
  const worst = rel.reduce((w, v, i) => (v > rel[w] ? i : w), 0);
  const maxRel = theirs ? rel[worst] : null;
  writeJson(o.curveOut, {
    what: 'loss curves of this engine and the PyTorch reference (bench/seed_step_torch.py curve) from the same initial weights on the same batches in the same order, dropout off, fp32 (TF32 off); relative difference = |engine − pytorch| / pytorch per step',
    date: new Date().toISOString(), command, adapter: engine.adapter,
    versions: { ...versions, pytorch: theirs?.versions ?? null },
    row: r, config, parameters: parameterCount(config), seed: o.seed, steps: o.curve, schedule: x.schedule,
    max_relative_difference: maxRel, at_step: theirs ? worst : null,
    max_relative_difference_ce: theirs ? Math.max(...relative(ours.ce, theirs.ce)) : null,
    target: 0.01, within_target: maxRel === null ? null : maxRel <= 0.01,
    engine: { ...ours, seconds: engineSeconds }, pytorch: theirs ? { loss: theirs.loss, ce: theirs.ce, aux: theirs.aux, seconds: torch.seconds } : null,
    ...(torch.error ? { pytorch_error: torch.error } : {}),
  });
  if (maxRel !== null) console.log(`[curve] ${o.curve} steps: loss ${ours.loss[0].toFixed(6)} → ${ours.loss.at(-1)!.toFixed(6)} (engine), ${theirs!.loss[0].toFixed(6)} → ${theirs!.loss.at(-1)!.toFixed(6)} (pytorch); max relative difference ${maxRel.toExponential(3)} at step ${worst}`);
}

if (!o.work) rmSync(work, { recursive: true, force: true });
process.exit(0);
