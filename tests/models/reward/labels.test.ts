import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RewardDataError } from '../../../models/reward/errors.ts';
import { fitSwtThreshold, parseTowers, sessionLabel, sessionLabels, towersSupported, type ObservedSession } from '../../../models/reward/labels.ts';
import { auc, meanBce } from '../../../models/reward/metrics.ts';
import { fitPopularity, scorePopularity } from '../../../models/reward/popularity.ts';
import { Rng } from '../../../models/random.ts';

function session(items: number[], play: number[], flags: Partial<Record<'longView' | 'like' | 'follow' | 'comment' | 'forward', number[]>> = {}, user = 0, day = 20220425): ObservedSession {
  const zeros = items.map(() => 0);
  return {
    user, day, items: Int32Array.from(items), playTimeMs: Float64Array.from(play), durationMs: Float64Array.from(items.map(() => 10000)),
    longView: Uint8Array.from(flags.longView ?? zeros), like: Uint8Array.from(flags.like ?? zeros), follow: Uint8Array.from(flags.follow ?? zeros),
    comment: Uint8Array.from(flags.comment ?? zeros), forward: Uint8Array.from(flags.forward ?? zeros),
  };
}

test('labels follow their documented definitions on KuaiRand columns', () => {
  const rules = { swtThresholdMs: 20000 };
  const s = session([3, 5, 7], [9000, 8000, 4000], { longView: [1, 1, 0], like: [0, 1, 0], follow: [0, 0, 0], comment: [0, 0, 1] });
  assert.equal(sessionLabel(s, 'swt', rules), 1); // 21 000 ms > 20 000
  assert.equal(sessionLabel(s, 'swt', { swtThresholdMs: 21000 }), 0); // strictly above
  assert.equal(sessionLabel(s, 'vtr', rules), 1); // 2 of 3 long views
  assert.equal(sessionLabel(session([1, 2], [0, 0], { longView: [1, 0] }), 'vtr', rules), 1); // exactly half
  assert.equal(sessionLabel(session([1, 2, 3], [0, 0, 0], { longView: [1, 0, 0] }), 'vtr', rules), 0);
  assert.equal(sessionLabel(s, 'ltr', rules), 1);
  assert.equal(sessionLabel(s, 'wtr', rules), 0);
  assert.equal(sessionLabel(s, 'cmt', rules), 1);
  assert.equal(sessionLabel(s, 'fwd', rules), 0);
  assert.deepEqual([...sessionLabels([s], ['swt', 'wtr', 'ltr'], rules)], [1, 0, 1]);
});

test('swt threshold is the median of the training sessions', () => {
  const train = [100, 400, 200, 300, 500].map((t, i) => session([i], [t]));
  assert.equal(fitSwtThreshold(train), 300);
  assert.equal(fitSwtThreshold(train.slice(0, 4)), 200); // lower median
});

test('bad sessions and tower lists raise RewardDataError naming the value', () => {
  const bad = session([1, 2], [1, 2]);
  bad.like = new Uint8Array(1);
  assert.throws(() => sessionLabel(bad, 'ltr', { swtThresholdMs: 0 }), (e: Error) => e.name === 'RewardDataError' && /2 items but 1 like/.test(e.message));
  assert.throws(() => parseTowers('swt,share'), (e: Error) => e instanceof RewardDataError && /'share'/.test(e.message));
  assert.deepEqual(parseTowers('swt, ltr'), ['swt', 'ltr']);
});

test('towersSupported drops a tower without enough positives on either side of the split', () => {
  const train = Array.from({ length: 20 }, (_, i) => session([i], [i], { like: [i % 2], follow: [i === 0 ? 1 : 0] }));
  const test_ = Array.from({ length: 10 }, (_, i) => session([i], [i], { like: [i % 2], follow: [0] }));
  const { kept, counts } = towersSupported(['ltr', 'wtr'], train, test_, { swtThresholdMs: 0 }, 3);
  assert.deepEqual(kept, ['ltr']);
  assert.equal(counts.wtr.trainPositive, 1);
  assert.equal(counts.ltr.testPositive, 5);
});

test('AUC: hand example, ties count one half, and agreement with the pairwise definition', () => {
  assert.equal(auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.75);
  assert.equal(auc([0.5, 0.5], [1, 0]), 0.5);
  assert.equal(auc([0.9, 0.1], [0, 1]), 0);
  assert.ok(Number.isNaN(auc([0.2, 0.3], [1, 1])));
  const rng = new Rng(7);
  const scores = Array.from({ length: 300 }, () => Math.round(rng.next() * 20) / 20); // many ties
  const labels = scores.map((s) => (rng.next() < 0.3 + 0.4 * s ? 1 : 0));
  let wins = 0;
  let pairs = 0;
  for (let i = 0; i < scores.length; i++) for (let j = 0; j < scores.length; j++) {
    if (labels[i] === 1 && labels[j] === 0) {
      pairs++;
      wins += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    }
  }
  assert.ok(Math.abs(auc(scores, labels) - wins / pairs) < 1e-12);
  assert.ok(Math.abs(meanBce([0.5, 0.5], [1, 0]) - Math.log(2)) < 1e-12);
});

test('popularity baseline: smoothed per-item rate, session = mean over its items', () => {
  const rules = { swtThresholdMs: 0 };
  // item 0 liked in both its sessions, item 1 never, item 2 unseen.
  const train = [session([0, 1], [1, 1], { like: [1, 0] }), session([0], [1], { like: [1] }), session([1], [1]), session([1], [1])];
  const model = fitPopularity(train, ['ltr'], rules, 3, 2);
  const prior = 2 / 4;
  assert.equal(model.prior[0], prior);
  assert.ok(Math.abs(model.rate[0] - (2 + 2 * prior) / (2 + 2)) < 1e-12);
  assert.ok(Math.abs(model.rate[1] - (1 + 2 * prior) / (3 + 2)) < 1e-12);
  assert.equal(model.rate[2], prior);
  const scores = scorePopularity(model, [Int32Array.from([0, 1]), Int32Array.from([2, -1])]);
  assert.ok(Math.abs(scores[0] - (model.rate[0] + model.rate[1]) / 2) < 1e-12);
  assert.equal(scores[1], prior);
});
