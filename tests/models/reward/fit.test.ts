import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fitRewardModel, padItems } from '../../../models/reward/fit.ts';
import type { SessionWithHistory } from '../../../models/reward/sessions.ts';
import { Rng } from '../../../models/random.ts';

// Planted data: items 0..19; even items get long views, liked sessions are those with item 0.
function sessions(count: number, day: number, rng: Rng): SessionWithHistory[] {
  return Array.from({ length: count }, (_, i) => {
    const items = Int32Array.from({ length: 2 + rng.int(2) }, () => rng.int(20));
    const even = Uint8Array.from(items, (v) => (v % 2 === 0 ? 1 : 0));
    return {
      user: i, day, items, history: Int32Array.of(rng.int(20)),
      playTimeMs: Float64Array.from(items, (v) => (v % 2 === 0 ? 20000 : 1000)), durationMs: Float64Array.from(items, () => 10000),
      longView: even, like: Uint8Array.from(items, (v) => (v === 0 ? 1 : 0)), follow: new Uint8Array(items.length), comment: new Uint8Array(items.length), forward: new Uint8Array(items.length),
    };
  });
}

test('fitRewardModel: held-out AUC per tower beside popularity; towers without positives are dropped', async () => {
  const rng = new Rng(3);
  const all = [...sessions(600, 1, rng), ...sessions(300, 2, rng)];
  const { report, trainer } = await fitRewardModel(all, 2, ['swt', 'vtr', 'ltr', 'wtr'], { itemCount: 20, dModel: 8, heads: 2, towerHidden: 8, maxHistory: 4, sessionLength: 3 },
    { epochs: 6, batchSize: 32, learningRate: 1e-2, weightDecay: 0, seed: 1 }, 5);
  assert.deepEqual(trainer.config.towers, ['swt', 'vtr', 'ltr']);
  assert.deepEqual(Object.keys(report.dropped_towers), ['wtr']);
  assert.equal(report.train_sessions, 600);
  assert.equal(report.test_sessions, 300);
  for (const t of ['swt', 'vtr', 'ltr']) {
    assert.ok(report.towers[t].auc! > 0.85, `${t}: AUC ${report.towers[t].auc}`); // item-determined labels: both should rank well
    assert.ok(report.towers[t].popularity_auc! > 0.85, `${t}: popularity AUC ${report.towers[t].popularity_auc}`);
  }
  assert.deepEqual([...padItems([4, 5], 3)], [4, 5, -1]);
  await assert.rejects(fitRewardModel(all, 3, ['swt'], trainer.config, { epochs: 1, batchSize: 8, learningRate: 1e-3, weightDecay: 0, seed: 1 }, 1), (e: Error) => e.name === 'RewardDataError' && /split day 3/.test(e.message));
});
