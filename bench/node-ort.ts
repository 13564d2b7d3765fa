// ONNX Runtime in Node, the pipeline's two choices in one process: onnxruntime-node's native CPU EP (what the pipeline
// ran before; the repo keeps it as a devDependency) against onnxruntime-web's wasm backend (models/onnx-runtime.ts, what
// onerec-pipeline runs now), both on 1 thread, interleaved rounds, medians. Two workloads on one bundle:
//   greedy     — `onerec eval --bundle`'s valid-ID check: encoder + one decoder step per code level, batch 1, full
//                logits, argmax (models/export/evaluate.ts greedyIsItem), per history;
//   recommend  — createNodeRecommender({ engine: 'onnxruntime' }).recommend(history): every graph on that ONNX Runtime
//                (the default engine of createNodeRecommender), beam 32, per call; and for scale the same call with
//                engine: 'wasm', the runtime's wasm kernels, which use no ONNX Runtime for the seed model.
// Each history's greedy tokens and each call's item ids must be the same on both ONNX Runtimes, or the run fails.
//
//   node --import tsx bench/node-ort.ts --bundle=models/bundles/beauty --out=bench/results/node-ort-beauty.json
//   node --import tsx bench/node-ort.ts --bundle=models/bundles/kuairand
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname } from 'node:path';
import * as onnxruntimeNode from 'onnxruntime-node';
import { BOS, SPECIAL_TOKENS, encoderTokens } from '../runtime/tokens.ts';
import type { OrtModule } from '../runtime/onnx-decoder-session.ts';
import type { Recommender } from '../runtime/recommender.ts';
import { readBundle } from '../runtime-node/bundle-reader.ts';
import { OnnxSeedModel } from '../runtime-node/node-session.ts';
import { createNodeRecommender } from '../runtime-node/node-recommender.ts';
import type { SeedConfig } from '../models/seed/config.ts';
import { parseArgs } from './args.ts';
import { median } from './stats.ts';

const defaults = {
  bundle: 'models/bundles/beauty',
  histories: 40, // random histories per round (seeded)
  history: 20, // items per history
  rounds: 5,
  beamWidth: 32, // recommend()
  out: '',
};


const o = parseArgs(defaults, process.argv.slice(2));
const bundle = await readBundle(o.bundle);
const config = bundle.manifest.model as SeedConfig;
const { levels, codebookSize: K } = config;
const vocab = bundle.manifest.tokens.vocabSize;
const itemCount = bundle.trie.itemCount;
const codes = new Uint16Array(itemCount * levels); // [items, levels]
for (let i = 0; i < itemCount; i++) codes.set(bundle.trie.itemCodes(i), i * levels);

let seed = 1;
const random = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
const histories = Array.from({ length: o.histories }, () => Array.from({ length: o.history }, () => Math.floor(random() * itemCount)));
const tokensOf = (h: number[]): Int32Array => encoderTokens(Int32Array.from(h), codes, levels, K, config.maxHistory);

type Name = 'onnxruntime_node_cpu' | 'onnxruntime_web_wasm';
const NAMES: Name[] = ['onnxruntime_node_cpu', 'onnxruntime_web_wasm'];
const modules: Record<Name, OrtModule | undefined> = { onnxruntime_node_cpu: onnxruntimeNode, onnxruntime_web_wasm: undefined };

/** The greedy decode's tokens over the full vocabulary, one per level (what greedyIsItem then looks up in the trie). */
async function greedy(model: OnnxSeedModel, history: number[]): Promise<number[]> {
  const session = await model.session(tokensOf(history));
  const out: number[] = [];
  let token = BOS;
  for (let level = 0; level < levels; level++) {
    const logits = await session.step(Int32Array.of(token), Int32Array.of(0)); // [1, vocab]
    let best = 0;
    for (let v = 1; v < vocab; v++) if (logits[v] > logits[best]) best = v;
    out.push(best);
    if (best - SPECIAL_TOKENS - level * K < 0 || best - SPECIAL_TOKENS - level * K >= K) break; // not a code of this level
    token = best;
  }
  session.dispose?.();
  return out;
}

const createMs = {} as Record<Name, { greedy: number; recommend: number }>;
const models = {} as Record<Name, OnnxSeedModel>;
const recommenders = {} as Record<Name, Recommender>;
for (const name of NAMES) {
  const t0 = performance.now();
  models[name] = await OnnxSeedModel.create(config, bundle.files.encoder!, bundle.files.decoderStep!, { onnxRuntime: modules[name] });
  const t1 = performance.now();
  recommenders[name] = createNodeRecommender({ engine: 'onnxruntime', onnxRuntime: modules[name] });
  const info = await recommenders[name].load(o.bundle);
  if (info.decoder !== 'onnx') throw new Error(`${name}: the seed model ran on ${info.decoder}, not ONNX Runtime`);
  createMs[name] = { greedy: t1 - t0, recommend: performance.now() - t1 };
}

const results = { greedy: {} as Record<Name, number[][]>, recommend: {} as Record<Name, string[][]> };
const ms = { greedy: { onnxruntime_node_cpu: [], onnxruntime_web_wasm: [] } as Record<Name, number[]>, recommend: { onnxruntime_node_cpu: [], onnxruntime_web_wasm: [] } as Record<Name, number[]> };
const recommendOptions = { beamWidth: o.beamWidth, sessionLength: 1, rerank: false, excludeHistory: false, historyBias: false };
for (const name of NAMES) { // warm-up: JIT, ORT's allocations
  await greedy(models[name], histories[0]);
  await recommenders[name].recommend(histories[0], recommendOptions);
}
const kernels = createNodeRecommender({ engine: 'wasm' });
await kernels.load(o.bundle);
await kernels.recommend(histories[0], recommendOptions);
const kernelMs: number[] = [];
let kernelIds: string[][] = [];
const loadBefore = loadavg()[0];
for (let round = 0; round < o.rounds; round++) {
  for (const name of NAMES) {
    let t = performance.now();
    const tokens: number[][] = [];
    for (const h of histories) tokens.push(await greedy(models[name], h));
    ms.greedy[name].push((performance.now() - t) / histories.length);
    t = performance.now();
    const ids: string[][] = [];
    for (const h of histories) ids.push((await recommenders[name].recommend(h, recommendOptions)).sessions.map((s) => s.ids.join(',')));
    ms.recommend[name].push((performance.now() - t) / histories.length);
    results.greedy[name] = tokens;
    results.recommend[name] = ids;
  }
  const t = performance.now();
  kernelIds = [];
  for (const h of histories) kernelIds.push((await kernels.recommend(h, recommendOptions)).sessions.map((s) => s.ids.join(',')));
  kernelMs.push((performance.now() - t) / histories.length);
}
const sameKernels = histories.filter((_, i) => results.recommend.onnxruntime_node_cpu[i].join(';') === kernelIds[i].join(';')).length;
const sameGreedy = histories.filter((_, i) => results.greedy.onnxruntime_node_cpu[i].join() === results.greedy.onnxruntime_web_wasm[i].join()).length;
const sameRecommend = histories.filter((_, i) => results.recommend.onnxruntime_node_cpu[i].join(';') === results.recommend.onnxruntime_web_wasm[i].join(';')).length;

const per = (xs: Record<Name, number[]>) => Object.fromEntries(NAMES.map((n) => [n, +median(xs[n]).toFixed(2)]));
const result = {
  date: new Date().toISOString(),
  command: `node --import tsx bench/node-ort.ts ${process.argv.slice(2).join(' ')}`.trim(),
  machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, load_average_1min: { before: +loadBefore.toFixed(1), after: +loadavg()[0].toFixed(1) } },
  versions: { onnxruntime_node: (onnxruntimeNode.env.versions as Record<string, string>).node, onnxruntime_web: (await import('onnxruntime-web')).env.versions.web },
  bundle: { dir: o.bundle, name: bundle.manifest.name, quantization: bundle.manifest.quantization },
  workload: { histories: o.histories, history: o.history, rounds: o.rounds, beamWidth: o.beamWidth, threads: 1 },
  first_sessions_ms: Object.fromEntries(NAMES.map((n) => [n, { greedy: +createMs[n].greedy.toFixed(0), recommend_load: +createMs[n].recommend.toFixed(0) }])),
  greedy_ms_per_history: per(ms.greedy),
  recommend_ms_per_call: { ...per(ms.recommend), runtime_wasm_kernels: +median(kernelMs).toFixed(2) },
  same: { greedy_tokens: `${sameGreedy} / ${histories.length}`, recommend_ids: `${sameRecommend} / ${histories.length}`, recommend_ids_kernels_vs_onnxruntime_node: `${sameKernels} / ${histories.length}` },
};
console.log(JSON.stringify(result, null, 2));
if (o.out) {
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, JSON.stringify(result, null, 2) + '\n');
}
if (sameGreedy !== histories.length || sameRecommend !== histories.length) {
  console.error('onnxruntime-web and onnxruntime-node disagree (see `same`)');
  process.exitCode = 1;
}
