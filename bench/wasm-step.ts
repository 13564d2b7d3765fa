// The seed model on the CPU, one beam search (encoder + every decoder step) at a time: onnxruntime-node's CPU EP
// (1 thread) against the runtime's wasm SIMD kernels (runtime/wasm-decoder.ts) in the same Node process, interleaved
// rounds, medians; then where the kernels' time goes, kernel by kernel.
//
//   node --import tsx bench/wasm-step.ts --bundle=models/bundles/kuairand --out=bench/results/wasm-step-kuairand.json
//   node --import tsx bench/wasm-step.ts --bundle=.work/bench-recommend-bundle      # the synthetic one bench:recommend writes
//   node --experimental-wasm-relaxed-simd --import tsx bench/wasm-step.ts …          # the relaxed-SIMD build, as Chromium runs it
//
// Workload: beam 32, the bundle's session length unless given, histories of 50 random items (--history=).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import * as onnxruntimeNode from 'onnxruntime-node';
import { parseBundleItems, parseManifest } from '../runtime/bundle.ts';
import { beamSearch } from '../runtime/beam-search.ts';
import { encoderTokens } from '../runtime/tokens.ts';
import { WasmDecoder } from '../runtime/wasm-decoder.ts';
import { OnnxSeedModel } from '../runtime-node/node-session.ts';
import { ensembleContractConfig } from '../models/export/seed-graphs.ts';
import { parseArgs } from './args.ts';
import { median } from './stats.ts';

const defaults = { bundle: 'models/bundles/kuairand', beamWidth: 32, sessionLength: 0, history: 50, rounds: 7, calls: 10, out: '' };


const o = parseArgs(defaults, process.argv.slice(2));
const manifest = parseManifest(JSON.parse(readFileSync(join(o.bundle, 'manifest.json'), 'utf8')), join(o.bundle, 'manifest.json'));
const config = manifest.model;
const members = manifest.ensemble?.members ?? [config];
const sessionLength = o.sessionLength || config.sessionLength;
const [encoderBytes, decoderBytes] = [readFileSync(join(o.bundle, 'encoder.onnx')), readFileSync(join(o.bundle, 'decoder_step.onnx'))];
const { trie } = parseBundleItems(new Uint8Array(readFileSync(join(o.bundle, manifest.files.items!.path))), manifest.files.items!.path);
const codes = new Uint16Array(trie.itemCount * trie.levels);
for (let i = 0; i < trie.itemCount; i++) codes.set(trie.itemCodes(i), i * trie.levels);
const onnx = await OnnxSeedModel.create(ensembleContractConfig(members), encoderBytes, decoderBytes, { onnxRuntime: onnxruntimeNode });
const simd = await WasmDecoder.create(decoderBytes, encoderBytes, members);

// Each kernel call timed (a wrapper per export: adds ~0.1 µs per call, used for the breakdown rounds only).
const kernels = (simd as unknown as { k: Record<string, (...args: number[]) => unknown> });
const plain = kernels.k;
const perKernel: Record<string, number> = {};
const timed = Object.fromEntries(Object.entries(plain).map(([name, f]) => [name, typeof f !== 'function' ? f : (...args: number[]) => {
  const t = performance.now();
  const r = f(...args);
  perKernel[name] = (perKernel[name] ?? 0) + performance.now() - t;
  return r;
}]));

let seed = 1;
const random = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
const histories = Array.from({ length: o.calls }, () => Array.from({ length: o.history }, () => Math.floor(random() * trie.itemCount)));
const options = { beamWidth: o.beamWidth, sessionLength };
const tokensOf = (h: number[]): Int32Array => encoderTokens(Int32Array.from(h), codes, config.levels, config.codebookSize, config.maxHistory);
const runOnnx = async (h: number[]): Promise<void> => { await beamSearch(onnx.decoderSession(await onnx.encode(tokensOf(h)), { twoTokenSteps: true }), trie, options); };
const runSimd = async (h: number[]): Promise<void> => { await beamSearch(simd.sessionFromTokens(tokensOf(h), o.beamWidth), trie, options); };

for (const h of histories.slice(0, 3)) { await runOnnx(h); await runSimd(h); } // warm-up: JIT, ORT allocations
const loadBefore = loadavg()[0];
const ms: Record<'onnx' | 'simd', number[]> = { onnx: [], simd: [] };
for (let round = 0; round < o.rounds; round++) {
  for (const [name, run] of [['onnx', runOnnx], ['simd', runSimd]] as const) {
    const t = performance.now();
    for (const h of histories) await run(h);
    ms[name].push((performance.now() - t) / histories.length);
  }
}
kernels.k = timed;
simd.stats.steps = 0;
const t0 = performance.now();
for (const h of histories) await runSimd(h);
const breakdownCall = (performance.now() - t0) / histories.length;
kernels.k = plain;

const result = {
  date: new Date().toISOString(),
  command: `node --import tsx bench/wasm-step.ts ${process.argv.slice(2).join(' ')}`.trim(),
  machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, relaxed_simd: simd.relaxedSimd, load_average_1min: { before: +loadBefore.toFixed(1), after: +loadavg()[0].toFixed(1) } },
  bundle: { dir: o.bundle, name: manifest.name, quantization: manifest.quantization, model: config, members: members.length },
  workload: { beamWidth: o.beamWidth, sessionLength, history: o.history, calls_per_round: o.calls, rounds: o.rounds, steps_per_call: simd.stats.steps / histories.length },
  per_call_ms: { onnxruntime_node_cpu_1thread: +median(ms.onnx).toFixed(2), wasm_kernels: +median(ms.simd).toFixed(2) },
  ratio_kernels_to_onnxruntime: +(median(ms.simd) / median(ms.onnx)).toFixed(2),
  kernel_breakdown_ms_per_call: { total_with_timers: +breakdownCall.toFixed(2), ...Object.fromEntries(Object.entries(perKernel).sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, +(v / histories.length).toFixed(3)])) },
};
console.log(`${manifest.name}: beam ${o.beamWidth}, session ${sessionLength}, ${result.workload.steps_per_call} steps per call; relaxed SIMD ${simd.relaxedSimd}`);
console.log('| seed model (encoder + beam search) | ms per call (median of rounds) |\n|---|---|');
console.log(`| onnxruntime-node CPU EP, 1 thread | ${result.per_call_ms.onnxruntime_node_cpu_1thread} |\n| wasm SIMD kernels | ${result.per_call_ms.wasm_kernels} |`);
console.log(`ratio kernels / onnxruntime: ${result.ratio_kernels_to_onnxruntime}`);
console.log('| kernel | ms per call |\n|---|---|');
for (const [k, v] of Object.entries(result.kernel_breakdown_ms_per_call)) console.log(`| ${k} | ${v} |`);
if (o.out) {
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`wrote ${o.out}`);
}
simd.dispose();
await onnx.release();
