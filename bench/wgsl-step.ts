// The WGSL seed model's step (runtime/webgpu-decoder.ts) inside real beam searches: GPU time per step (timestamp
// queries), and the host's share (record + submit, wait for the read-back, read it), for several `unroll` values
// (partial sums per dot product) interleaved round by round, medians over rounds. Needs a WebGPU adapter (Dawn):
// on the GPU machine, or SwiftShader here (correct, meaningless times).
//
//   node --import tsx bench/wgsl-step.ts --out=$OUT/wgsl-step-h200.json
//   node --import tsx bench/wgsl-step.ts --bundles=models/bundles/kuairand:5 --unrolls=4,16 --rounds=4
//
// `synthetic` in --bundles is bench/recommend.ts's Beauty-sized bundle (.work/bench-recommend-bundle, written by a
// run of bench/recommend.ts without --bundle).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { openDevice } from '../models/engine/device.ts';
import { WebGpuDecoder } from '../runtime/webgpu-decoder.ts';
import { beamSearch } from '../runtime/beam-search.ts';
import { parseBundleItems } from '../runtime/bundle.ts';
import { encoderTokens } from '../runtime/tokens.ts';
import { parseOptions } from '../models/options.ts';

const parsed = parseOptions(process.argv.slice(2), {
  bundles: 'models/bundles/kuairand:5,models/bundles/beauty:2,synthetic:5', // dir:sessionLength, comma-separated
  unrolls: '4,8,16',
  rounds: 8, // the first is warm-up
  searches: 12, // beam searches per configuration and round
  beamWidth: 32,
  out: 'bench/results/wgsl-step.json',
});
if (!parsed) process.exit(0);
const o = parsed;

const median = (a: number[]): number => a.slice().sort((x, y) => x - y)[a.length >> 1];

const gpu = await openDevice({ quiet: true });
const unrolls = o.unrolls.split(',').map(Number);
const results: Record<string, Record<string, Record<string, number>>> = {};
console.log(`adapter: ${gpu.adapter}`);
console.log('bundle'.padEnd(28) + 'unroll  GPU µs/step  wall µs/step  submit µs   wait µs   read µs  search ms');
for (const spec of o.bundles.split(',')) {
  const [name, length] = spec.split(':');
  const dir = name === 'synthetic' ? '.work/bench-recommend-bundle' : name;
  const sessionLength = Number(length);
  const config = JSON.parse(readFileSync(`${dir}/manifest.json`, 'utf8')).model;
  const { trie } = parseBundleItems(readFileSync(`${dir}/items.bin`), `${dir}/items.bin`);
  const [encoderOnnx, decoderOnnx] = [readFileSync(`${dir}/encoder.onnx`), readFileSync(`${dir}/decoder_step.onnx`)];
  const codes = new Uint16Array(trie.itemCount * trie.levels);
  for (let i = 0; i < trie.itemCount; i++) codes.set(trie.itemCodes(i), i * trie.levels);
  const models = await Promise.all(unrolls.map((unroll) => WebGpuDecoder.create(gpu.device, decoderOnnx, config, { encoderOnnx, timestamps: true, unroll })));
  const rounds = unrolls.map(() => ({ gpu: [] as number[], wall: [] as number[], submit: [] as number[], wait: [] as number[], read: [] as number[], search: [] as number[] }));
  for (let round = 0; round < o.rounds; round++) {
    for (const [k, model] of models.entries()) {
      Object.assign(model.stats, { steps: 0, submitMs: 0, waitMs: 0, readMs: 0, gpuNs: 0 });
      const t0 = performance.now();
      for (let u = 0; u < o.searches; u++) {
        const history = Int32Array.from({ length: 20 }, (_, i) => (u * 7919 + i * 104729 + round) % trie.itemCount);
        const tokens = encoderTokens(history, codes, config.levels, config.codebookSize, config.maxHistory);
        await beamSearch(model.sessionFromTokens(tokens, o.beamWidth), trie, { beamWidth: o.beamWidth, sessionLength });
      }
      if (round === 0) continue;
      const { steps, submitMs, waitMs, readMs, gpuNs } = model.stats;
      const r = rounds[k];
      r.gpu.push(gpuNs / steps / 1000);
      r.submit.push((1000 * submitMs) / steps);
      r.wait.push((1000 * waitMs) / steps);
      r.read.push((1000 * readMs) / steps);
      r.wall.push((1000 * (submitMs + waitMs + readMs)) / steps);
      r.search.push((performance.now() - t0) / o.searches);
    }
  }
  results[name] = {};
  for (const [k, unroll] of unrolls.entries()) {
    const r = rounds[k];
    const row = { step_gpu_us: median(r.gpu), step_wall_us: median(r.wall), submit_us: median(r.submit), wait_us: median(r.wait), read_us: median(r.read), search_ms: median(r.search) };
    results[name][`unroll${unroll}`] = Object.fromEntries(Object.entries(row).map(([key, v]) => [key, +v.toFixed(key === 'search_ms' ? 2 : 1)]));
    console.log(`${name.padEnd(28)}${String(unroll).padStart(6)}${row.step_gpu_us.toFixed(1).padStart(13)}${row.step_wall_us.toFixed(1).padStart(14)}${row.submit_us.toFixed(1).padStart(11)}${row.wait_us.toFixed(1).padStart(10)}${row.read_us.toFixed(1).padStart(10)}${row.search_ms.toFixed(2).padStart(11)}`);
  }
  models.forEach((m) => m.dispose());
}
const report = {
  date: new Date().toISOString(),
  command: `node --import tsx bench/wgsl-step.ts ${process.argv.slice(2).join(' ')}`.trim(),
  adapter: gpu.adapter,
  workload: { beamWidth: o.beamWidth, historyItems: 20, searchesPerRound: o.searches, rounds: o.rounds - 1, note: 'medians over rounds; configurations interleaved within each round; step_wall_us = submit + wait + read' },
  results,
};
mkdirSync(dirname(o.out), { recursive: true });
writeFileSync(o.out, `${JSON.stringify(report, null, 2)}\n`);
console.log(`wrote ${o.out}`);
