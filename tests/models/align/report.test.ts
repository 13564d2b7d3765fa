import assert from 'node:assert/strict';
import { test } from 'node:test';
import { positionalCodes } from '../../../models/align/codes.ts';
import { alignTable, relativeChange, type AlignReport } from '../../../models/align/report.ts';
import { SemanticIdTrie } from '../../../runtime/semantic-id-trie.ts';

test('positional fallback codes: base-K digits plus a zero suffix, unique, a valid trie', () => {
  const { codes, levels } = positionalCodes(10, 3); // 3² = 9 < 10 → 3 digits + suffix
  assert.equal(levels, 4);
  assert.deepEqual([...codes.subarray(7 * 4, 8 * 4)], [0, 2, 1, 0]); // 7 = 0·9 + 2·3 + 1
  const trie = SemanticIdTrie.build(codes, levels, 3);
  assert.equal(trie.itemCount, 10);
  assert.throws(() => positionalCodes(5, 1), (e: Error) => e.name === 'RewardDataError');
});

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
