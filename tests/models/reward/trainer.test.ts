import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RewardConfig } from '../../../models/reward/config.ts';
import { auc } from '../../../models/reward/metrics.ts';
import { Rng } from '../../../models/random.ts';
import { checkRewardWeights, rewardForward } from '../../../models/reward/reference.ts';
import { RewardTrainer, type RewardExample } from '../../../models/reward/trainer.ts';
import { assertCentralDifferences, randomExample } from './gradient-check.ts';

const config: RewardConfig = { itemCount: 12, dModel: 8, heads: 2, towerHidden: 6, maxHistory: 4, sessionLength: 3, towers: ['swt', 'ltr'] };

test('hand-written backward matches central finite differences (float64)', () => {
  const trainer = new RewardTrainer(config, 1, [0.3, 0.6]);
  const rng = new Rng(2);
  // Perturb biases away from their init so that every path carries gradient.
  for (const p of Object.values(trainer.params)) for (let i = 0; i < p.length; i++) p[i] += 0.3 * rng.normal();
  const batch = [randomExample(rng, config), randomExample(rng, config), { history: new Int32Array(0), items: Int32Array.from([4, -1, -1]), labels: Uint8Array.from([1, 0]) }];
  const lossOf = () => batch.reduce((a, ex) => a + trainer.forwardBackward(ex, 0).loss, 0);
  trainer.zeroGrad();
  for (const ex of batch) trainer.forwardBackward(ex, 1);
  const checked = assertCentralDifferences(trainer.params, trainer.grads, lossOf, (_, length) => Math.max(1, Math.floor(length / 7)));
  assert.ok(checked > 100);
});

test('trainer forward equals the float32 reference forward (padding, empty and long histories)', () => {
  const trainer = new RewardTrainer(config, 3);
  const rng = new Rng(4);
  for (const p of Object.values(trainer.params)) for (let i = 0; i < p.length; i++) p[i] += 0.2 * rng.normal();
  const weights = trainer.weights();
  checkRewardWeights(weights, config);
  for (let trial = 0; trial < 5; trial++) {
    const history = trial === 0 ? new Int32Array(0) : Int32Array.from({ length: 1 + rng.int(8) }, () => rng.int(config.itemCount));
    const examples = Array.from({ length: 4 }, () => ({ ...randomExample(rng, config), history }));
    const sessions = new Int32Array(examples.length * config.sessionLength);
    examples.forEach((ex, n) => sessions.set(ex.items, n * config.sessionLength));
    const reference = rewardForward(weights, config, history, sessions);
    const trained = trainer.predict(examples);
    for (let i = 0; i < reference.length; i++) assert.ok(Math.abs(reference[i] - trained[i]) < 1e-5, `trial ${trial} value ${i}: ${reference[i]} vs ${trained[i]}`);
  }
  assert.throws(() => rewardForward(weights, config, [], Int32Array.from([1, 2])), (e: Error) => e.name === 'ShapeError');
  assert.throws(() => checkRewardWeights({ ...weights, 'tower.ltr.w2': new Float32Array(2) }, config), (e: Error) => e.name === 'RewardCheckpointError' && /tower\.ltr\.w2/.test(e.message));
});

test('towers learn a planted user × item target to within 0.03 AUC of the rule itself', () => {
  // Planted task: items and users each have a side (0/1); a session is liked when its items are on the
  // user's side. Every item is liked by half the users, so popularity sits near AUC 0.5.
  const c: RewardConfig = { itemCount: 40, dModel: 8, heads: 1, towerHidden: 8, maxHistory: 5, sessionLength: 2, towers: ['ltr'] };
  const rng = new Rng(9);
  const side = (item: number) => item % 2;
  const make = (count: number): RewardExample[] => Array.from({ length: count }, () => {
    const user = rng.int(2);
    const history = Int32Array.from({ length: 5 }, () => 2 * rng.int(c.itemCount / 2) + user); // history on the user's side
    const items = Int32Array.from({ length: 2 }, () => rng.int(c.itemCount));
    const match = (side(items[0]) === user ? 1 : 0) + (side(items[1]) === user ? 1 : 0);
    return { history, items, labels: Uint8Array.of(rng.next() < 0.1 + 0.4 * match ? 1 : 0) };
  });
  const train = make(3000);
  const test_ = make(1000);
  const trainer = new RewardTrainer(c, 1, [0.5]);
  const losses = trainer.fit(train, { epochs: 12, batchSize: 32, learningRate: 1e-2, weightDecay: 0, seed: 1 });
  assert.ok(losses[losses.length - 1] < losses[0], `loss ${losses.join(' → ')}`);
  const score = auc(trainer.predict(test_), test_.map((e) => e.labels[0]));
  const oracle = auc(test_.map((e) => Number(side(e.items[0]) === side(e.history[0])) + Number(side(e.items[1]) === side(e.history[0]))), test_.map((e) => e.labels[0]));
  assert.ok(score > oracle - 0.03, `AUC ${score} vs the planted rule's ${oracle}`);
  assert.ok(oracle > 0.75);
});
