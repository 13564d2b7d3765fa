import assert from 'node:assert/strict';
import { test } from 'node:test';
import { beamSearch } from '../../../runtime/beam-search.ts';
import { SemanticIdTrie } from '../../../runtime/semantic-id-trie.ts';
import { BigramPolicy } from '../../../models/align/bigram-policy.ts';
import { buildPairs, evaluatePolicy, sampleUsers, trainOnPairs, type AlignUser, type IterateOptions, type SessionScorer } from '../../../models/align/iterate.ts';
import { ndcgAt, rankedItems, recallAt } from '../../../models/align/relevance.ts';
import { Rng } from '../../../models/random.ts';

// 12 items, 2 levels, K = 4: item i ↦ codes (i mod 4, ⌊i/4⌋).
const ITEMS = 12;
const codes = Uint16Array.from({ length: ITEMS * 2 }, (_, j) => (j % 2 === 0 ? (j >> 1) % 4 : (j >> 1) >> 2));
const trie = SemanticIdTrie.build(codes, 2, 4);

const options: IterateOptions = {
  sessionLength: 2, sessions: 8, userFraction: 1, beta: 0.5, ntpWeight: 0, learningRate: 0.05, dpoEpochs: 3, batchSize: 4, evalBeams: 4, usersPerBatch: 5, excludeHistory: true, seed: 1,
};

// A reward that likes even items: p = fraction of even items in the session.
const scorer: SessionScorer = {
  towers: ['even'],
  weights: [1],
  score: (_history, sessions) => Float64Array.from({ length: sessions.length / 2 }, (_, n) => ((sessions[2 * n] % 2 === 0 ? 1 : 0) + (sessions[2 * n + 1] % 2 === 0 ? 1 : 0)) / 2),
};

test('relevance: ranked items, recall and NDCG by hand', () => {
  const ranked = rankedItems(Int32Array.from([5, 3, 3, 9, 1, 5]));
  assert.deepEqual([...ranked], [5, 3, 9, 1]);
  assert.equal(recallAt(ranked, [9, 7], 5), 0.5);
  assert.equal(recallAt(ranked, [9, 7], 2), 0);
  assert.ok(Math.abs(ndcgAt(ranked, [9, 7], 5) - (1 / Math.log2(4)) / (1 + 1 / Math.log2(3))) < 1e-12);
  assert.equal(ndcgAt(ranked, [5], 1), 1);
});

test('the policy\'s gathered log-probability equals the beam search\'s score of the same session', async () => {
  const policy = new BigramPolicy(2, 4, codes, 3);
  const rng = new Rng(5);
  for (let i = 0; i < policy.A.length; i++) { policy.A[i] = rng.normal(); policy.C[i] = rng.normal(); }
  const history = Int32Array.from([7, 2]);
  const result = await beamSearch(policy.decoder(history), trie, { beamWidth: 5, sessionLength: 3 });
  const gathered = await policy.sequenceLogProbs([history, history, history, history, history], result.items);
  for (let b = 0; b < 5; b++) assert.ok(Math.abs(gathered[b] - result.logProb[b]) < 1e-4, `beam ${b}: ${gathered[b]} vs ${result.logProb[b]}`);
});

test('DPO iterations raise the reward of generated sessions; pairs are best ≠ worst', async () => {
  const policy = new BigramPolicy(2, 4, codes, 7);
  const rng = new Rng(options.seed);
  const users: AlignUser[] = Array.from({ length: 12 }, (_, u) => ({ user: u, history: Int32Array.of(u), target: Int32Array.of((u + 2) % ITEMS) }));
  const before = await evaluatePolicy('seed', policy, trie, users, scorer, options);
  let after = before;
  for (let t = 0; t < 2; t++) {
    const { pairs, gap } = await buildPairs(policy, trie, sampleUsers(users, options.userFraction, rng), scorer, options);
    if (t === 0) assert.ok(pairs.length > 0 && gap > 0, `iteration ${t}: ${pairs.length} pairs, gap ${gap}`);
    if (pairs.length === 0) break; // every beam already has the same reward: nothing left to prefer
    for (const p of pairs) {
      assert.notDeepEqual([...p.chosen], [...p.rejected]);
      assert.ok(scorer.score(p.history, p.chosen)[0] > scorer.score(p.history, p.rejected)[0], `pair ${p.chosen} vs ${p.rejected}`);
    }
    const log = await trainOnPairs(policy, pairs, options, rng);
    assert.ok(log.dpo_loss[log.dpo_loss.length - 1] < Math.LN2, `dpo loss ${log.dpo_loss}`); // log 2 at θ = ref, lower once trained
    after = await evaluatePolicy(`iteration ${t + 1}`, policy, trie, users, scorer, options);
  }
  assert.ok(after.reward.mean > before.reward.mean + 0.1, `reward ${before.reward.mean} → ${after.reward.mean}`);
  assert.equal(after.users, 12);
  assert.ok(after.towers.even.max >= after.towers.even.mean);
});
