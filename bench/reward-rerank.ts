// The reward model's rerank (reward.onnx over a recommend()'s candidate sessions) on each engine that runs it: in WGSL
// (runtime/webgpu-reward.ts, the WGSL path's), on the wasm kernels (runtime/wasm-reward.ts: the wasm path's, and the
// WGSL path's before the WGSL reward model) and on onnxruntime-node's CPU EP (the reference). Wall ms per call (upload,
// dispatch and read-back included for WGSL), medians over rounds with the engines interleaved, and the largest
// |Δ| of each engine's towers from onnxruntime's. Needs a WebGPU adapter (Dawn): on SwiftShader (software, the CPU)
// the WGSL times say nothing about a GPU.
//
//   node --import tsx bench/reward-rerank.ts
//   node --import tsx bench/reward-rerank.ts --candidates=10,32,128 --rounds=20 --out=$OUT/reward-rerank-h100.json
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadavg } from 'node:os';
import * as ort from 'onnxruntime-node';
import { openDevice } from '../models/engine/device.ts';
import { WasmReward } from '../runtime/wasm-reward.ts';
import { WebGpuReward } from '../runtime/webgpu-reward.ts';
import { parseArgs } from './args.ts';
import { median } from './stats.ts';

const o = parseArgs({
  bundle: 'models/bundles/kuairand', // a bundle with reward.onnx
  candidates: '10,32', // sessions per call: the KuaiRand manifest's beam, and bench/recommend.ts's
  rounds: 15, // the first is warm-up
  history: 50, // history items per call
  items: 6361, // item indices are drawn below this: the KuaiRand catalog's size
  out: 'bench/results/reward-rerank.json',
}, process.argv.slice(2));

const now = (): number => performance.now();

const gpu = await openDevice({ quiet: true });
const manifest = JSON.parse(readFileSync(join(o.bundle, 'manifest.json'), 'utf8'));
const towers: string[] = manifest.reward.towers.map((t: { name: string }) => t.name);
const graph = readFileSync(join(o.bundle, 'reward.onnx'));
let t = now();
const wgsl = await WebGpuReward.create(gpu.device, graph, towers);
const createWgslMs = now() - t;
t = now();
const kernels = await WasmReward.create(graph, towers);
const createWasmMs = now() - t;
const session = await ort.InferenceSession.create(graph, { intraOpNumThreads: 1, interOpNumThreads: 1 });
const H = wgsl.historyLength, M = wgsl.sessionLength;
const catalog = o.items;
const history = new Int32Array(H).fill(-1); // [H] right-aligned
for (let i = 0; i < Math.min(H, o.history); i++) history[H - 1 - i] = (i * 977 + 13) % catalog;
console.log(`adapter: ${gpu.adapter}; load average ${loadavg()[0].toFixed(1)}; create: WGSL ${createWgslMs.toFixed(0)} ms (kernel compile), wasm ${createWasmMs.toFixed(0)} ms`);
console.log('candidates   WGSL ms   wasm ms   onnxruntime ms   |Δ| WGSL   |Δ| wasm');
const results: Record<string, Record<string, number>> = {};
for (const n of o.candidates.split(',').map(Number)) {
  const sessions = Int32Array.from({ length: n * M }, (_, i) => (Math.floor(i / M) * 131 + (i % M) * 17 + 5) % catalog); // [n, M]
  const run = {
    wgsl: () => wgsl.towers(history, sessions, n),
    wasm: async () => kernels.towers(history, sessions, n),
    onnxruntime: async () => {
      const out = await session.run({ history_items: new ort.Tensor('int64', BigInt64Array.from(history, BigInt), [1, H]), session_items: new ort.Tensor('int64', BigInt64Array.from(sessions, BigInt), [n, M]) });
      return out.towers.data as Float32Array;
    },
  };
  const times: Record<keyof typeof run, number[]> = { wgsl: [], wasm: [], onnxruntime: [] };
  for (let round = 0; round < o.rounds; round++) {
    for (const engine of Object.keys(run) as (keyof typeof run)[]) {
      t = now();
      await run[engine]();
      if (round > 0) times[engine].push(now() - t);
    }
  }
  const want = await run.onnxruntime();
  const largest = (got: Float32Array): number => Math.max(...Array.from(want, (v, i) => Math.abs(v - got[i])));
  const row = { wgslMs: median(times.wgsl), wasmMs: median(times.wasm), onnxruntimeMs: median(times.onnxruntime), maxDiffWgsl: largest(await run.wgsl()), maxDiffWasm: largest(await run.wasm()) };
  results[n] = row;
  console.log(`${String(n).padStart(10)}  ${row.wgslMs.toFixed(2).padStart(8)}  ${row.wasmMs.toFixed(2).padStart(8)}  ${row.onnxruntimeMs.toFixed(2).padStart(15)}  ${row.maxDiffWgsl.toExponential(1).padStart(9)}  ${row.maxDiffWasm.toExponential(1).padStart(9)}`);
}
mkdirSync(dirname(o.out), { recursive: true });
writeFileSync(o.out, `${JSON.stringify({ adapter: gpu.adapter, software: gpu.isFallback, loadAverage: loadavg()[0], bundle: o.bundle, H, M, rounds: o.rounds, createWgslMs, createWasmMs, perCandidates: results }, null, 2)}\n`);
wgsl.dispose();
await session.release();
process.exit(0);
