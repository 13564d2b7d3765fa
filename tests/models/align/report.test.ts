import assert from 'node:assert/strict';
import { test } from 'node:test';
import { alignTable, relativeChange, selectedFields, selectModel, type AlignReport } from '../../../models/align/report.ts';

test('reward_gain / relevance_change are relative; the table has one row per model', () => {
  assert.ok(Math.abs(relativeChange(1.05, 1) - 0.05) < 1e-12);
  assert.equal(relativeChange(0, 0), 0);
  const model = (name: string, r: number, recall: number) => ({ name, towers: { swt: { mean: r / 2, max: r }, ltr: { mean: 0.1, max: 0.2 } }, reward: { mean: r, max: r }, 'recall@5': recall, 'recall@10': recall, 'ndcg@5': 0, 'ndcg@10': 0, users: 3 });
  const report = { models: [model('seed', 1, 0.1), model('iteration 1', 1.1, 0.099)], reward_gain: 0.1, relevance_change: -0.01, targets: { reward_gain: 0.05, relevance_change_within: 0.02 } } as unknown as AlignReport;
  const table = alignTable(report).split('\n');
  assert.equal(table[0], '| model | swt mean | swt max | ltr mean | ltr max | reward mean | recall@10 | ndcg@10 |');
  assert.equal(table[3], '| iteration 1 | 0.5500 | 1.1000 | 0.1000 | 0.2000 | 1.1000 | 0.0990 | 0.0000 |');
  assert.match(table[5], /reward_gain 10\.00 %.*relevance_change -1\.00 %/);
});

test('selectModel: the largest validation reward gain whose validation recall stays within the bound; else the seed', () => {
  const m = (reward: number, recall: number) => ({ name: '', towers: {}, reward: { mean: reward, max: reward }, 'recall@5': 0, 'recall@10': recall, 'ndcg@5': 0, 'ndcg@10': 0, 'recall@10_se': 0, users: 10 });
  const run = (validation: ReturnType<typeof m>[], test: ReturnType<typeof m>[]) => ({ alignLr: 1e-5, beta: 0.1, ntpWeight: 1, models: test, validation, iterations: [], reward_gain: 0, relevance_change: 0, stopped_early: false });
  const seed = m(1, 0.1);
  const runs = [
    run([seed, m(1.2, 0.099), m(1.5, 0.09)], [seed, m(1.1, 0.1), m(1.3, 0.08)]),   // iteration 2 gains most but loses 10 % recall
    run([seed, m(1.1, 0.0995), m(1.3, 0.0985)], [seed, m(1.05, 0.1), m(1.25, 0.101)]), // iteration 2: +30 %, −1.5 %: the pick
  ];
  const s = selectModel(runs, 0.02);
  assert.deepEqual([s.run, s.iteration], [1, 2]);
  assert.ok(Math.abs(s.validation_reward_gain - 0.3) < 1e-12 && Math.abs(s.validation_relevance_change + 0.015) < 1e-12);
  const fields = selectedFields(runs, s); // the headline figures are the test users' of the picked model
  assert.ok(Math.abs(fields.reward_gain - 0.25) < 1e-12 && Math.abs(fields.relevance_change - 0.01) < 1e-12);
  assert.equal(fields.last_iteration.reward_gain, 0);
  // Nothing within 1 %: the seed itself is reported (zero gain, zero change).
  const none = selectModel(runs, 0.001);
  assert.deepEqual([none.run, none.iteration], [0, 0]);
  assert.match(none.rule, /none qualified/);
  // Without validation users: the first setting's last iteration (the report before validation periods existed).
  const old = selectModel([run([], [seed, m(1.1, 0.1), m(1.3, 0.08)])], 0.02);
  assert.deepEqual([old.run, old.iteration], [0, 2]);
});

test('selectModel: the validation change must stay within the bound one paired standard error below its estimate', () => {
  const m = (reward: number, recall: number, changeSe?: number) => ({ name: '', towers: {}, reward: { mean: reward, max: reward }, 'recall@5': 0, 'recall@10': recall, 'ndcg@5': 0, 'ndcg@10': 0, 'recall@10_se': 0, users: 10, ...(changeSe === undefined ? {} : { 'recall@10_change_se': changeSe }) });
  const seed = m(1, 0.1);
  const run = { alignLr: 1e-5, beta: 0.1, ntpWeight: 1, models: [seed, m(1, 0.1), m(1, 0.1)], iterations: [], reward_gain: 0, relevance_change: 0, stopped_early: false,
    validation: [seed, m(1.1, 0.103, 0.02), m(1.2, 0.0999, 0.04)] }; // +3 % ± 2 % qualifies; −0.1 % ± 4 % does not
  const s = selectModel([run], 0.02);
  assert.deepEqual([s.run, s.iteration], [0, 1]);
  assert.match(s.rule, /one paired standard error/);
});
