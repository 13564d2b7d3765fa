// EarlyStopping counts validations, not epochs, and a resumed run picks up the count the uninterrupted run had.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EarlyStopping, type BestEpoch } from '../../models/early-stopping.ts';
import type { RankingMetrics } from '../../models/seed/metrics.ts';

const metrics = (ndcg: number) => ({ 'ndcg@10': ndcg }) as unknown as RankingMetrics;

test('a resumed run counts only the validated epochs since the best one', () => {
  // evalEvery 5: epochs 5, 10, 15 validated, 1–4, 6–9, 11–14 and 16–17 not; the best was epoch 5.
  const history = Array.from({ length: 17 }, (_, i) => ({ epoch: i + 1, ...((i + 1) % 5 === 0 ? { validation: metrics(i === 4 ? 0.05 : 0.04) } : {}) }));
  const best: BestEpoch = { epoch: 5, validation: metrics(0.05) };
  const stopping = new EarlyStopping(best, history, 'unused');
  assert.equal(stopping.sinceBest, 2);
  assert.equal(stopping.exhausted(2), true);
  assert.equal(stopping.exhausted(3), false);
});

test('a run with no best yet counts every validation; a fresh run counts none', () => {
  const history = [{ epoch: 1 }, { epoch: 2, validation: metrics(0) }, { epoch: 3 }];
  assert.equal(new EarlyStopping(null, history, 'unused').sinceBest, 1);
  assert.equal(new EarlyStopping(null, [], 'unused').sinceBest, 0);
});
