// Seed-model training and beam-search throughput on synthetic Beauty-shaped data (12,101 items, 4 × 256
// codes, histories ≤ 20), to plan epochs and batch size for the real run.
//
//   node --import tsx bench/seed-throughput.ts --batches=256,512,1024 --steps=20 --evalUsers=512
import { SemanticIdTrie } from '../runtime/semantic-id-trie.ts';
import { createEngine, AdamW, Rng } from '../models/engine/index.ts';
import { accumulateAdd } from '../models/engine/ops.ts';
import { parseOptions } from '../models/options.ts';
import { trainBatch, trainExamples, evalExamples, type SeedData } from '../models/seed/batches.ts';
import { DEFAULT_SEED_CONFIG, parameterCount } from '../models/seed/config.ts';
import { evaluateRanking } from '../models/seed/generate.ts';
import { SeedModel } from '../models/seed/model.ts';

const o = parseOptions(process.argv.slice(2), { batches: '256,512,1024', steps: 20, evalUsers: 512, experts: 4, expertsPerToken: 2, expertFfnDim: 256 })!;
const rng = new Rng(1);
const items = 12101, L = 4, K = 256;
const codes = new Uint16Array(items * L);
for (let i = 0; i < items; i++) { codes[i * L] = rng.int(K); codes[i * L + 1] = rng.int(K); codes[i * L + 2] = rng.int(K); codes[i * L + 3] = i % 4; }
const trie = SemanticIdTrie.build(codes, L, K);
const sequences = Array.from({ length: 22363 }, () => Int32Array.from({ length: 5 + rng.int(8) }, () => rng.int(items)));
const data: SeedData = { itemCount: items, levels: L, codebookSize: K, codes, sequences };
const engine = await createEngine();
void engine.device.lost.then((info) => { console.error('device lost:', info.reason, info.message); process.exit(3); });
const config = { ...DEFAULT_SEED_CONFIG, experts: o.experts, expertsPerToken: o.expertsPerToken, expertFfnDim: o.expertFfnDim };
const model = SeedModel.init(engine, config, 1);
const opt = new AdamW(engine, model.parameterList(), { lr: 1e-3, clipNorm: 1 });
const examples = trainExamples(data, 1);
const result: Record<string, unknown> = { parameters: parameterCount(config), adapter: engine.adapter, config };
for (const B of o.batches.split(',').map(Number)) {
  let t0 = 0;
  let loss = 0;
  for (let s = 0; s < o.steps + 3; s++) {
    if (s === 3) { await engine.sync(); t0 = performance.now(); }
    const rows = Int32Array.from({ length: B }, () => examples.rows[rng.int(examples.rows.length)]); // [B]
    const out = model.trainingLoss(trainBatch(data, examples, rows, 20, 1), rng);
    engine.backward(out.loss, undefined, accumulateAdd);
    opt.update();
    const r = s === o.steps + 2 ? engine.read(out.ce) : null;
    engine.endStep();
    if (r) loss = (await r)[0];
  }
  await engine.sync();
  const ms = (performance.now() - t0) / o.steps;
  result[`train_B${B}`] = { ms_per_step: ms, examples_per_s: (1000 * B) / ms, epoch_s_beauty: (131413 / B) * ms / 1000, loss };
  console.log(JSON.stringify({ B, ms_per_step: ms.toFixed(1), examples_per_s: ((1000 * B) / ms).toFixed(0), epoch_s: ((131413 / B) * ms / 1000).toFixed(1), loss }));
}
const ex = evalExamples(data, 'test').slice(0, o.evalUsers);
const t1 = performance.now();
const m = await evaluateRanking(model, data, trie, ex, { beamWidth: 20, usersPerBatch: 256, excludeHistory: false });
const evalS = (performance.now() - t1) / 1000;
result.eval = { users: ex.length, seconds: evalS, users_per_s: ex.length / evalS, metrics: m };
console.log(JSON.stringify(result.eval));
if (process.env.OUT) (await import('node:fs')).writeFileSync(`${process.env.OUT}/seed-throughput-${o.experts}.json`, JSON.stringify(result, null, 1));
process.exit(0);
