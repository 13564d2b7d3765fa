// Where a decoder call's time goes under onnxruntime-node's WebGPU EP: the fixed cost of one run() and the
// cost of each node, against the CPU EP in the same process (the baseline). Graphs: a chain of N elementwise
// Adds on [32, 64] and a chain of N MatMuls [32, 128] × [128, 128] (the size of one decoder step's ops at
// beam 32), output read back to the CPU as the beam search does; then one real decoder step of a bundle.
//
//   node --import tsx bench/webgpu-overhead.ts --eps=cpu,webgpu --bundle=models/bundles/kuairand --out=bench/results/webgpu-overhead.json
//   node --import tsx bench/webgpu-overhead.ts --eps=cpu,webgpu,webgpu:wgpuOnly,webgpu:disabled --profile=/tmp/prof …
//
// `webgpu:MODE` is the WebGPU EP with that validationMode (basic — the default —, wgpuOnly, disabled, full).
// `web-wasm` is onnxruntime-web's wasm build (the browser's CPU path) in this Node process, 1 thread:
//   node --import tsx bench/webgpu-overhead.ts --eps=cpu,web-wasm --out=bench/results/wasm-overhead.json
// --profile=DIR also profiles the decoder step per EP with ORT's profiler (per-node times; the WebGPU EP adds its
// GPU timestamps where the adapter has timestamp queries) and adds a per-op-type summary to the JSON.
//
// Prints a table (median ms per run) and writes JSON. On the GPU machine: source .device/setup.sh first.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, TensorType } from '../models/export/onnx-proto.ts';
import { parseOptions } from '../models/options.ts';

const parsed = parseOptions(process.argv.slice(2), {
  eps: 'cpu', // execution providers to compare, comma-separated (cpu is the baseline)
  bundle: 'models/bundles/kuairand', // its decoder_step.onnx is timed at beam 32 ('' = skip)
  runs: 200, // timed runs per graph (after 20 warm-up runs)
  out: '', // JSON file ('' = print only)
  profile: '', // directory for ORT profiles of the decoder step ('' = no profiling)
});
if (!parsed) process.exit(0);
const o = parsed;

function chain(op: 'Add' | 'MatMul', n: number): Uint8Array {
  const g = new GraphBuilder(`${op}x${n}`);
  const width = op === 'Add' ? 64 : 128;
  let x = g.input('x', TensorType.FLOAT, [32, width]);
  const w = g.initializer(op === 'Add' ? 'b' : 'w', Float32Array.from({ length: op === 'Add' ? width : width * width }, (_, i) => ((i % 7) - 3) * 0.01), op === 'Add' ? [width] : [width, width]);
  for (let i = 0; i < n; i++) x = g.op(op, [x, w]);
  g.output(x, 'y', TensorType.FLOAT, [32, width]);
  return g.toModel();
}

async function median(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>, runs: number, fetches?: string[]): Promise<number> {
  const run = () => (fetches ? session.run(feeds, fetches) : session.run(feeds));
  for (let i = 0; i < 20; i++) for (const v of Object.values(await run())) v.dispose();
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const out = await run();
    for (const v of Object.values(out)) if (v.location === 'cpu') void v.data; // the read-back the search needs
    ms.push(performance.now() - t);
    for (const v of Object.values(out)) v.dispose();
  }
  ms.sort((a, b) => a - b);
  return +ms[Math.floor(runs / 2)].toFixed(3);
}

/** The decoder step's feeds at beam 32 after 2 items of 4 codes (P = 10 cached positions). */
function decoderFeeds(session: ort.InferenceSession, manifest: { model: Record<string, number> }, lib: OrtLib): Record<string, ort.Tensor> {
  const { decoderLayers: L, heads: H, dModel: d } = manifest.model;
  const B = 32, P = Math.min(10, manifest.model.sessionLength * (manifest.model.levels + 1) - 1), S = 20 * manifest.model.levels, dh = d / H;
  const f = (dims: number[]) => new lib.Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b, 1)).map((_, i) => Math.sin(i) * 0.1), dims);
  const i64 = (values: number[], dims: number[]) => new lib.Tensor('int64', BigInt64Array.from(values.map(BigInt)), dims);
  const feeds: Record<string, ort.Tensor> = {};
  for (const m of session.inputMetadata) {
    if (!m.isTensor) continue;
    const name = m.name;
    if (name === 'token') feeds[name] = i64(Array(B).fill(2), [B, 1]);
    else if (name === 'position') feeds[name] = i64([P], [1]);
    else if (name === 'beam_parent') feeds[name] = i64(Array.from({ length: B }, (_, i) => i), [B]);
    else if (name === 'past_k' || name === 'past_v') feeds[name] = f([L, B, H, P, dh]);
    else if (name === 'cross_k' || name === 'cross_v') feeds[name] = f([L, 1, H, S, dh]);
    else if (name === 'memory_bias') feeds[name] = f([1, S]);
    else throw new Error(`decoder input ${name} is not known to this bench; update decoderFeeds (docs/architecture.md has the contract)`);
  }
  return feeds;
}

/** onnxruntime-node, or onnxruntime-web's wasm build (loaded only when asked for: the GPU machine's pack lacks it). */
type OrtLib = Pick<typeof ort, 'InferenceSession' | 'Tensor'>;
const libFor = async (ep: string): Promise<OrtLib> => {
  if (ep !== 'web-wasm') return ort;
  const web = await import('onnxruntime-web/wasm');
  web.env.wasm.numThreads = 1;
  return web as unknown as OrtLib;
};

const eps = o.eps.split(',').filter(Boolean);
const rows: Record<string, Record<string, number | string>> = {};
const sizes = [1, 32, 128];
/** 'webgpu:disabled' → the WebGPU EP with validationMode 'disabled'; other names as they are. */
function provider(spec: string): ort.InferenceSession.ExecutionProviderConfig {
  if (spec === 'web-wasm') return 'wasm';
  const [name, validationMode] = spec.split(':');
  return validationMode ? ({ name, validationMode } as ort.InferenceSession.ExecutionProviderConfig) : name;
}

/** Total and mean duration per (category, op type) of an ORT profile (Chrome trace events, µs). */
function profileSummary(file: string): Record<string, { calls: number; total_us: number }> {
  const events = JSON.parse(readFileSync(file, 'utf8')) as { cat: string; name: string; dur?: number; args?: { op_name?: string } }[];
  const out: Record<string, { calls: number; total_us: number }> = {};
  for (const ev of events) {
    if (ev.dur === undefined || ev.cat === 'Session') continue;
    // Node events (host side) carry the op type in args; the WebGPU EP's GPU events ("Api") are named node&op&kernel.
    const key = `${ev.cat}:${ev.args?.op_name ?? ev.name.split('&')[1] ?? ev.name}`;
    const row = (out[key] ??= { calls: 0, total_us: 0 });
    row.calls++;
    row.total_us += ev.dur;
  }
  return Object.fromEntries(Object.entries(out).sort((a, b) => b[1].total_us - a[1].total_us));
}

const profiles: Record<string, unknown> = {};
for (const ep of eps) {
  const lib = await libFor(ep);
  const options: ort.InferenceSession.SessionOptions = { executionProviders: [provider(ep)], intraOpNumThreads: 1, interOpNumThreads: 1 };
  for (const op of ['Add', 'MatMul'] as const) {
    for (const n of sizes) {
      const session = await lib.InferenceSession.create(chain(op, n), options);
      const width = op === 'Add' ? 64 : 128;
      const x = new lib.Tensor('float32', new Float32Array(32 * width).fill(0.5), [32, width]);
      (rows[`${op} × ${n}`] ??= {})[ep] = await median(session, { x }, o.runs);
      await session.release();
    }
  }
  if (o.bundle) {
    const manifest = JSON.parse(readFileSync(join(o.bundle, 'manifest.json'), 'utf8'));
    // As the runtime does: the caches stay where the EP computed them; only the search's two outputs come back.
    const model = readFileSync(join(o.bundle, manifest.files.decoderStep.path));
    const stepOptions: ort.InferenceSession.SessionOptions = {
      ...options, ...(ep.startsWith('webgpu') ? { preferredOutputLocation: { present_k: 'gpu-buffer', present_v: 'gpu-buffer' } } : {}),
    };
    const session = await lib.InferenceSession.create(model, stepOptions);
    const fetches = ['code_scores', 'code_logits', 'logit_max_sum', 'present_k', 'present_v'].filter((n) => session.outputNames.includes(n));
    try {
      (rows[`decoder_step (${manifest.name}, B 32)`] ??= {})[ep] = await median(session, decoderFeeds(session, manifest, lib), Math.min(o.runs, 100), fetches);
    } catch (e) {
      (rows[`decoder_step (${manifest.name}, B 32)`] ??= {})[ep] = `failed: ${(e as Error).message.split('\n')[0]}`;
    }
    await session.release();
    if (o.profile) {
      mkdirSync(o.profile, { recursive: true });
      const profiled = await lib.InferenceSession.create(model, { ...stepOptions, enableProfiling: true, profileFilePrefix: join(o.profile, `decoder-${ep.replace(':', '-')}`) });
      await median(profiled, decoderFeeds(profiled, manifest, lib), 20, fetches); // 20 warm-up + 20 profiled runs
      profiled.endProfiling();
      await profiled.release();
      const file = readdirSync(o.profile).filter((f) => f.startsWith(`decoder-${ep.replace(':', '-')}`) && f.endsWith('.json')).sort().at(-1);
      profiles[ep] = file ? { file, per_op_over_40_runs: profileSummary(join(o.profile, file)) } : 'no profile file written';
    }
  }
}

console.log(['graph', ...eps.map((e) => `${e} ms`)].join(' | '));
for (const [name, r] of Object.entries(rows)) console.log([name, ...eps.map((e) => r[e])].join(' | '));
const perNode = (ep: string, op: string): number | null => {
  const a = rows[`${op} × 1`]?.[ep], b = rows[`${op} × 128`]?.[ep];
  return typeof a === 'number' && typeof b === 'number' ? +((b - a) / 127 * 1000).toFixed(1) : null;
};
const summary = Object.fromEntries(eps.map((ep) => [ep, { fixed_ms_per_run: rows['Add × 1'][ep], us_per_add_node: perNode(ep, 'Add'), us_per_matmul_node: perNode(ep, 'MatMul') }]));
console.log(JSON.stringify(summary));
if (o.out) writeFileSync(o.out, JSON.stringify({ date: new Date().toISOString(), command: `node --import tsx bench/webgpu-overhead.ts ${process.argv.slice(2).join(' ')}`, median_ms_per_run: rows, summary, ...(o.profile && { profiles }) }, null, 2) + '\n');
