// The reward model with itemRepresentation 'codes' (v_i = Σ_l code_emb[l·K + c_il]): its gradient, its forward
// against the float32 reference, and its size, which does not depend on the catalog.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rewardParameterShapes, validateRewardConfig, type RewardConfig } from '../../../models/reward/config.ts';
import { Rng } from '../../../models/random.ts';
import { itemTable, rewardForward } from '../../../models/reward/reference.ts';
import { RewardTrainer } from '../../../models/reward/trainer.ts';
import { assertCentralDifferences, randomExample } from './gradient-check.ts';

const L = 3;
const K = 4;
const config: RewardConfig = { itemCount: 12, dModel: 8, heads: 2, towerHidden: 6, maxHistory: 4, sessionLength: 3, towers: ['swt', 'ltr'], itemRepresentation: 'codes', codeLevels: L, codebookSize: K };
// [items, L]: items share prefixes (item i: i % 4, (i >> 1) % 4, i % 3), as semantic IDs do.
const codes = Uint16Array.from({ length: config.itemCount * L }, (_, k) => { const i = Math.floor(k / L); return [i % 4, (i >> 1) % 4, i % 3][k % L]; });

test("'codes' backward matches central finite differences on code_emb and every other parameter (float64)", () => {
  const trainer = new RewardTrainer(config, 1, [0.3, 0.6], codes);
  const rng = new Rng(2);
  for (const p of Object.values(trainer.params)) for (let i = 0; i < p.length; i++) p[i] += 0.3 * rng.normal();
  trainer.load({}); // v_i from the perturbed code_emb
  const batch = [randomExample(rng, config), randomExample(rng, config), { history: new Int32Array(0), items: Int32Array.from([4, -1, -1]), labels: Uint8Array.from([1, 0]) }];
  const lossOf = () => { trainer.load({}); return batch.reduce((a, ex) => a + trainer.forwardBackward(ex, 0).loss, 0); };
  trainer.zeroGrad();
  for (const ex of batch) trainer.forwardBackward(ex, 1);
  trainer.scatterItemGrads();
  assert.deepEqual(Object.keys(trainer.params).filter((n) => n.endsWith('_emb')), ['code_emb']);
  const checked = assertCentralDifferences(trainer.params, trainer.grads, lossOf, (name, length) => (name === 'code_emb' ? 1 : Math.max(1, Math.floor(length / 7))));
  assert.ok(checked > L * K * config.dModel);
});

test("'codes' trainer forward equals the float32 reference forward, and training lowers the loss", () => {
  const trainer = new RewardTrainer(config, 3, [0.4, 0.5], codes);
  const rng = new Rng(4);
  const train = Array.from({ length: 64 }, () => randomExample(rng, config));
  const losses = trainer.fit(train, { epochs: 3, batchSize: 8, learningRate: 1e-2, weightDecay: 1e-4, seed: 1 });
  assert.ok(losses[2] < losses[0], `loss ${losses.join(' → ')}`);
  const weights = trainer.weights();
  const table = itemTable(weights, config, codes); // [items, d]
  for (let a = 0; a < config.dModel; a++) {
    const want = weights.code_emb[(0 * K + codes[5 * L]) * 8 + a] + weights.code_emb[(1 * K + codes[5 * L + 1]) * 8 + a] + weights.code_emb[(2 * K + codes[5 * L + 2]) * 8 + a];
    assert.ok(Math.abs(table[5 * 8 + a] - want) < 1e-6);
  }
  for (let trial = 0; trial < 4; trial++) {
    const history = trial === 0 ? new Int32Array(0) : Int32Array.from({ length: 1 + rng.int(8) }, () => rng.int(config.itemCount));
    const examples = Array.from({ length: 4 }, () => ({ ...randomExample(rng, config), history }));
    const sessions = new Int32Array(examples.length * config.sessionLength);
    examples.forEach((ex, n) => sessions.set(ex.items, n * config.sessionLength));
    const reference = rewardForward(weights, config, history, sessions, codes);
    const trained = trainer.predict(examples);
    for (let i = 0; i < reference.length; i++) assert.ok(Math.abs(reference[i] - trained[i]) < 1e-5, `trial ${trial} value ${i}: ${reference[i]} vs ${trained[i]}`);
  }
  assert.throws(() => rewardForward(weights, config, [], Int32Array.from([1, 2, 3])), (e: Error) => e.name === 'ShapeError' && /codes/.test(e.message));
  assert.throws(() => new RewardTrainer(config, 1, undefined, codes.subarray(3)), (e: Error) => e.name === 'ShapeError');
  assert.throws(() => new RewardTrainer(config, 1, undefined, Uint16Array.from(codes, (c) => c + K)), (e: Error) => e.name === 'ShapeError' && /outside/.test(e.message));
});

test("'codes' parameters do not grow with the catalog; 'table' and an absent option keep item_emb", () => {
  const size = (c: RewardConfig) => Object.values(rewardParameterShapes(c)).reduce((s, shape) => s + shape.reduce((a, b) => a * b, 1), 0);
  assert.equal(size({ ...config, itemCount: 1_000_000 }), size(config));
  assert.deepEqual(rewardParameterShapes(config).code_emb, [L * K, 8]);
  const { itemRepresentation: _, ...absent } = config;
  assert.deepEqual(rewardParameterShapes(absent).item_emb, [12, 8]);
  assert.deepEqual(rewardParameterShapes({ ...absent, itemRepresentation: 'table' }), rewardParameterShapes(absent));
  assert.equal(size({ ...absent, itemCount: 1012 }) - size(absent), 1000 * 8);
  assert.throws(() => validateRewardConfig({ ...config, codeLevels: undefined }), (e: Error) => e.name === 'RewardCheckpointError' && /codeLevels/.test(e.message));
  assert.throws(() => validateRewardConfig({ ...config, itemRepresentation: 'hash' as never }), (e: Error) => e.name === 'RewardCheckpointError' && /itemRepresentation/.test(e.message));
});
