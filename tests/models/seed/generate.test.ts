import assert from 'node:assert/strict';
import { test } from 'node:test';
import { beamSearch } from '../../../runtime/beam-search.ts';
import { SemanticIdTrie } from '../../../runtime/semantic-id-trie.ts';
import { encoderTokens } from '../../../runtime/tokens.ts';
import { batchExamples, evalExamples, makeBatch, trainExampleCount, trainExamples, type SeedData } from '../../../models/seed/batches.ts';
import { type SeedConfig } from '../../../models/seed/config.ts';
import { evaluateRanking, ReferenceForward } from '../../../models/seed/generate.ts';
import { RankingAccumulator } from '../../../models/seed/metrics.ts';
import { initSeedWeights, ReferenceDecoderSession } from '../../../models/seed/reference.ts';

const TINY: SeedConfig = {
  codebookSize: 4, levels: 2, dModel: 8, heads: 2, encoderLayers: 1, decoderLayers: 1, ffnDim: 16,
  experts: 3, expertsPerToken: 2, expertFfnDim: 8, maxHistory: 3, sessionLength: 1, moeAuxWeight: 0, dropout: 0,
};
const codes = new Uint16Array([0, 0, 0, 1, 1, 0, 2, 3, 2, 1, 3, 2]); // [6 items, 2 levels]
const data: SeedData = {
  itemCount: 6, levels: 2, codebookSize: 4, codes,
  sequences: [Int32Array.of(0, 1, 2, 3, 4), Int32Array.of(5, 4, 3), Int32Array.of(2, 0, 5, 1)],
};

test('leave-one-out examples and batch tensors', () => {
  // user 0: train targets at positions 1, 2 (history ≥ 1, before validation item 3); user 2: position 1.
  // Flat rows, the sequences end to end (offsets 0, 5, 8): user 0's positions 1, 2 are rows 1, 2; user 2's position 1 is row 9.
  const examples = trainExamples(data, 1);
  assert.deepEqual(Array.from(examples.userOffsets), [0, 5, 8, 12]);
  assert.deepEqual(Array.from(examples.item), [0, 1, 2, 3, 4, 5, 4, 3, 2, 0, 5, 1]); // separate arrays: copied end to end
  assert.deepEqual(Array.from(examples.rows), [1, 2, 9]);
  assert.deepEqual(batchExamples(examples, examples.rows), [{ user: 0, targetStart: 1 }, { user: 0, targetStart: 2 }, { user: 2, targetStart: 1 }]);
  assert.deepEqual(Array.from(trainExamples(data, 2).rows), [1]);
  assert.equal(trainExampleCount(data, 1), 3);
  assert.deepEqual(evalExamples(data, 'test').map((e) => e.targetStart), [4, 2, 3]);
  assert.deepEqual(evalExamples(data, 'validation').map((e) => e.targetStart), [3, 1, 2]);
  const batch = makeBatch(data, [{ user: 0, targetStart: 1 }], 3, 2); // targets items 1, 2
  // tokenId(l, c) = 2 + 4l + c: item 1 = codes (0, 1) → [BOS 2 7], item 2 = (1, 0) → [BOS 3 6]
  assert.deepEqual(Array.from(batch.decoderTokens), [1, 2, 7, 1, 3, 6]);
  assert.deepEqual(Array.from(batch.targets), [2, 7, -1, 3, 6, -1]);
  assert.deepEqual(Array.from(batch.targetItems), [1, 2]);
  assert.deepEqual(Array.from(batch.encoderTokens), [0, 0, 0, 0, 2, 6]); // item 0 right-aligned
});

test('batched lockstep generation equals one incremental reference session per user', async () => {
  const weights = initSeedWeights(TINY, 3, 0.5);
  const trie = SemanticIdTrie.build(codes, 2, 4);
  const examples = evalExamples(data, 'test');
  const got: Int32Array[] = [];
  const metrics = await evaluateRanking(new ReferenceForward(weights, TINY), data, trie, examples, {
    beamWidth: 4, usersPerBatch: 2, excludeHistory: true, onResult: (i, r) => { got[i] = r.items; },
  });
  const acc = new RankingAccumulator();
  for (const [i, ex] of examples.entries()) {
    const history = data.sequences[ex.user].subarray(0, ex.targetStart);
    const exclude = new Uint8Array(6);
    for (const item of history) exclude[item] = 1;
    const session = new ReferenceDecoderSession(weights, TINY, encoderTokens(history, codes, 2, 4, 3));
    const expected = await beamSearch(session, trie, { beamWidth: 4, sessionLength: 1, exclude });
    assert.deepEqual(Array.from(got[i]), Array.from(expected.items), `user ${ex.user}`);
    for (const item of history) assert.ok(!got[i].includes(item), 'history excluded');
    acc.add(Array.from(expected.items).indexOf(data.sequences[ex.user][ex.targetStart]), true);
  }
  const want = acc.result();
  for (const key of ['recall@5', 'recall@10', 'ndcg@5', 'ndcg@10'] as const) assert.equal(metrics[key], want[key]);
  assert.equal(metrics.users, 3);
});

test('ranking metrics: recall and NDCG of known ranks', () => {
  const acc = new RankingAccumulator();
  acc.add(0, true); // hit at 1: ndcg 1
  acc.add(6, false); // hit at 7: recall@10 only, ndcg 1/log2(8) = 1/3
  acc.add(-1, true);
  acc.add(12, true);
  const m = acc.result();
  assert.equal(m['recall@5'], 0.25);
  assert.equal(m['recall@10'], 0.5);
  assert.equal(m['ndcg@5'], 0.25);
  assert.ok(Math.abs(m['ndcg@10'] - (1 + 1 / 3) / 4) < 1e-12);
  assert.equal(m.valid_id_rate, 0.75);
  // per-user gains 1, 1/3, 0, 0: mean 1/3, population variance (1 + 1/9) / 4 − 1/9 = 1/6, standard error √(1/6 / 4)
  assert.ok(Math.abs(m['ndcg@10_se'] - Math.sqrt(1 / 24)) < 1e-12, `${m['ndcg@10_se']}`);
});
