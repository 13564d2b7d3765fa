// The GPU-resident search (runtime/webgpu-search.ts) against the one-step-per-call session of the same WGSL model
// (runtime/webgpu-decoder.ts), in one run: the seed-model part of a recommend() (encoder + the shared beam search), per
// bundle, the two sessions interleaved call by call on one WebGpuDecoder; read-backs per call, ms per call (median),
// and whether every call gave the same sessions (items and log-probabilities, exactly). Needs a WebGPU adapter (Dawn):
// SwiftShader here (correct; its times say little about a GPU, where a read-back's round trip is what the search saves).
//
//   node --import tsx bench/gpu-search.ts
//   node --import tsx bench/gpu-search.ts --bundles=models/bundles/kuairand:5 --calls=10 --beamWidth=32
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { openDevice } from '../models/engine/device.ts';
import { WebGpuDecoder } from '../runtime/webgpu-decoder.ts';
import { aliveLeafCounts, beamSearch } from '../runtime/beam-search.ts';
import { parseBundleItems, parseManifest } from '../runtime/bundle.ts';
import { encoderTokens } from '../runtime/tokens.ts';
import { parseOptions } from '../models/options.ts';
import { median } from './stats.ts';

const parsed = parseOptions(process.argv.slice(2), {
  bundles: 'models/bundles/kuairand:5,models/bundles/beauty:2', // dir:sessionLength, comma-separated
  calls: 10, // timed calls per session kind (after one warm-up call each)
  beamWidth: 32,
  history: 20, // history items per call (excluded from the sessions, as recommend() does by default)
  out: 'bench/results/gpu-search.json',
});
if (!parsed) process.exit(0);
const o = parsed;

const gpu = await openDevice({ quiet: true });
console.log(`adapter: ${gpu.adapter}`);
const results: Record<string, unknown> = {};
for (const spec of o.bundles.split(',')) {
  const [dir, length] = spec.split(':');
  const sessionLength = Number(length);
  const manifest = parseManifest(JSON.parse(readFileSync(`${dir}/manifest.json`, 'utf8')), dir);
  const members = manifest.ensemble?.members ?? [manifest.model];
  const { trie } = parseBundleItems(readFileSync(`${dir}/items.bin`), `${dir}/items.bin`);
  const codes = new Uint16Array(trie.itemCount * trie.levels);
  for (let i = 0; i < trie.itemCount; i++) codes.set(trie.itemCodes(i), i * trie.levels);
  const model = await WebGpuDecoder.create(gpu.device, readFileSync(`${dir}/decoder_step.onnx`), members, { encoderOnnx: readFileSync(`${dir}/encoder.onnx`) });
  const { levels, codebookSize, maxHistory } = members[0];
  const kinds = { perStep: { ms: [] as number[], readBacks: 0, steps: 0 }, gpuSearch: { ms: [] as number[], readBacks: 0, steps: 0, mispredictions: 0 } };
  let same = 0;
  for (let call = 0; call <= o.calls; call++) {
    const history = Int32Array.from({ length: o.history }, (_, i) => (call * 7919 + i * 104729) % trie.itemCount);
    const exclude = new Uint8Array(trie.itemCount);
    for (const item of history) exclude[item] = 1;
    const options = { beamWidth: o.beamWidth, sessionLength, exclude };
    const outcome: Record<string, { items: number[]; logProb: number[] }> = {};
    for (const kind of ['perStep', 'gpuSearch'] as const) {
      const before = { ...model.stats };
      const t0 = performance.now();
      const tokens = encoderTokens(history, codes, levels, codebookSize, maxHistory);
      const session = kind === 'perStep' ? model.sessionFromTokens(tokens, o.beamWidth) : model.searchSession(tokens, o.beamWidth, { trie, beamWidth: o.beamWidth, sessionLength, alive: aliveLeafCounts(trie, exclude) });
      const found = await beamSearch(session, trie, options);
      session.dispose?.();
      const ms = performance.now() - t0;
      outcome[kind] = { items: Array.from(found.items), logProb: Array.from(found.logProb) };
      if (call === 0) continue; // warm-up
      const k = kinds[kind];
      k.ms.push(ms);
      k.readBacks += model.stats.readBacks - before.readBacks;
      k.steps += model.stats.steps - before.steps;
      if (kind === 'gpuSearch') kinds.gpuSearch.mispredictions += model.stats.mispredictions - before.mispredictions;
    }
    if (call > 0 && JSON.stringify(outcome.perStep) === JSON.stringify(outcome.gpuSearch)) same++;
  }
  model.dispose();
  const row = (k: { ms: number[]; readBacks: number; steps: number }) => ({ ms_per_call_median: +median(k.ms).toFixed(1), ms_per_call: k.ms.map((ms) => Math.round(ms)), read_backs_per_call: k.readBacks / o.calls, gpu_steps_per_call: k.steps / o.calls });
  const entry = { items: trie.itemCount, sessionLength, per_step: row(kinds.perStep), gpu_search: { ...row(kinds.gpuSearch), mispredictions: kinds.gpuSearch.mispredictions }, same_sessions: `${same}/${o.calls}` };
  results[dir] = entry;
  console.log(dir, JSON.stringify(entry));
}
const report = {
  date: new Date().toISOString(),
  command: `node --import tsx bench/gpu-search.ts ${process.argv.slice(2).join(' ')}`.trim(),
  adapter: gpu.adapter,
  workload: { beamWidth: o.beamWidth, historyItems: o.history, calls: o.calls, note: 'per call: encoder + beam search (the seed-model part of recommend()), the two session kinds interleaved call by call on one model; medians; SwiftShader runs the kernels on the CPU' },
  results,
};
mkdirSync(dirname(o.out), { recursive: true });
writeFileSync(o.out, `${JSON.stringify(report, null, 2)}\n`);
console.log(`wrote ${o.out}`);
