// The GPU-resident search (runtime/webgpu-search.ts) against the one-step-per-call session of the same WGSL model
// (runtime/webgpu-decoder.ts), in one run: the seed-model part of a recommend() (encoder + the shared beam search), per
// bundle, the sessions interleaved call by call: the per-step session, then the GPU search reading back once per call
// ('session') and once per generated item ('item'), each mode on its own WebGpuDecoder (WebGpuDecoder.create's
// searchReadBacks); read-backs per call, ms per call (median), and whether every call gave the per-step session's
// sessions (items and log-probabilities, exactly). Needs a WebGPU adapter (Dawn): SwiftShader here (correct; its
// times say little about a GPU, where a read-back's round trip is what the search saves).
//
//   node --import tsx bench/gpu-search.ts
//   node --import tsx bench/gpu-search.ts --bundles=models/bundles/kuairand:5 --calls=10 --beamWidth=32 --modes=item,session
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { openDevice } from '../models/engine/device.ts';
import { WebGpuDecoder, type SearchReadBacks } from '../runtime/webgpu-decoder.ts';
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
  modes: 'session,item', // the GPU search's read-back modes to time beside the per-step session, in this order each call
  out: 'bench/results/gpu-search.json',
});
if (!parsed) process.exit(0);
const o = parsed;
const modes = o.modes.split(',') as SearchReadBacks[];
for (const mode of modes) if (mode !== 'session' && mode !== 'item') throw new Error(`--modes: '${mode}' is not 'session' or 'item'`);

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
  const decoders = new Map<SearchReadBacks, WebGpuDecoder>();
  for (const mode of modes) decoders.set(mode, await WebGpuDecoder.create(gpu.device, readFileSync(`${dir}/decoder_step.onnx`), members, { encoderOnnx: readFileSync(`${dir}/encoder.onnx`), searchReadBacks: mode }));
  const perStepModel = decoders.get(modes[0])!;
  const { levels, codebookSize, maxHistory } = members[0];
  type Kind = 'perStep' | SearchReadBacks;
  const kinds = new Map<Kind, { ms: number[]; readBacks: number; steps: number; mispredictions: number; same: number }>();
  for (const kind of ['perStep', ...modes] as Kind[]) kinds.set(kind, { ms: [], readBacks: 0, steps: 0, mispredictions: 0, same: 0 });
  for (let call = 0; call <= o.calls; call++) {
    const history = Int32Array.from({ length: o.history }, (_, i) => (call * 7919 + i * 104729) % trie.itemCount);
    const exclude = new Uint8Array(trie.itemCount);
    for (const item of history) exclude[item] = 1;
    const options = { beamWidth: o.beamWidth, sessionLength, exclude };
    const outcome = new Map<Kind, string>();
    for (const [kind, k] of kinds) {
      const model = kind === 'perStep' ? perStepModel : decoders.get(kind)!;
      const before = { ...model.stats };
      const t0 = performance.now();
      const tokens = encoderTokens(history, codes, levels, codebookSize, maxHistory);
      const session = kind === 'perStep' ? model.sessionFromTokens(tokens, o.beamWidth) : model.searchSession(tokens, o.beamWidth, { trie, beamWidth: o.beamWidth, sessionLength, alive: aliveLeafCounts(trie, exclude), exclude });
      const found = await beamSearch(session, trie, options);
      session.dispose?.();
      const ms = performance.now() - t0;
      outcome.set(kind, JSON.stringify({ items: Array.from(found.items), logProb: Array.from(found.logProb) }));
      if (call === 0) continue; // warm-up
      k.ms.push(ms);
      k.readBacks += model.stats.readBacks - before.readBacks;
      k.steps += model.stats.steps - before.steps;
      k.mispredictions += model.stats.mispredictions - before.mispredictions;
      if (outcome.get(kind) === outcome.get('perStep')) k.same++;
    }
  }
  for (const model of decoders.values()) model.dispose();
  const row = (k: { ms: number[]; readBacks: number; steps: number; mispredictions: number; same: number }) => ({ ms_per_call_median: +median(k.ms).toFixed(1), ms_per_call: k.ms.map((ms) => Math.round(ms)), read_backs_per_call: k.readBacks / o.calls, gpu_steps_per_call: k.steps / o.calls, mispredictions: k.mispredictions, same_sessions: `${k.same}/${o.calls}` });
  const entry: Record<string, unknown> = { items: trie.itemCount, sessionLength, per_step: row(kinds.get('perStep')!) };
  for (const mode of modes) entry[`gpu_search_per_${mode}`] = row(kinds.get(mode)!);
  results[dir] = entry;
  console.log(dir, JSON.stringify(entry));
}
const report = {
  date: new Date().toISOString(),
  command: `node --import tsx bench/gpu-search.ts ${process.argv.slice(2).join(' ')}`.trim(),
  adapter: gpu.adapter,
  workload: { beamWidth: o.beamWidth, historyItems: o.history, calls: o.calls, note: 'per call: encoder + beam search (the seed-model part of recommend()), the per-step session and the GPU search in each read-back mode interleaved call by call (one decoder per mode, the per-step session on the first); medians; SwiftShader runs the kernels on the CPU' },
  results,
};
mkdirSync(dirname(o.out), { recursive: true });
writeFileSync(o.out, `${JSON.stringify(report, null, 2)}\n`);
console.log(`wrote ${o.out}`);
