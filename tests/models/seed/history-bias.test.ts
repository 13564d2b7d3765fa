// The repeat-awareness layer's fit (models/seed/history-bias.ts): per-level statistics by teacher forcing on a
// hand-built trie, and the maximum-likelihood β against its closed form.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitHistoryBias, fitLevel, historyLogitBias, levelStatistics } from '../../../models/seed/history-bias.ts';
import { biasLogNormaliser, type DecoderSession, type TrieView } from '../../../runtime/beam-search.ts';
import { BOS, tokenId, vocabSize } from '../../../runtime/tokens.ts';

// levels 2, K 4: root ─0→ n1 (item0 [0,0], item1 [0,1]); ─1→ n2 (item2 [1,0]); ─2→ n3 (item4 [2,1], item3 [2,3])
const K = 4;
const VOCAB = vocabSize(2, K);
const trie: TrieView = {
  levels: 2, codebookSize: K, itemCount: 5,
  childStart: new Int32Array([0, 3, 5, 6, 8]),
  childCode: new Uint16Array([0, 1, 2, 0, 1, 0, 1, 3]),
  childNode: new Int32Array([1, 2, 3, 0, 1, 2, 4, 3]),
};
const CODES = Uint16Array.from([0, 0, 0, 1, 1, 0, 2, 3, 2, 1]); // [items, levels]

/** Logits: level 0 codes 0, 1, 2 at log 1, 2, 3 (others 0); level 1 codes at c (any prefix). */
class Fixed implements DecoderSession {
  async step(tokens: Int32Array): Promise<Float32Array> {
    const out = new Float32Array(VOCAB);
    const level = tokens[0] === BOS ? 0 : 1;
    for (let c = 0; c < K; c++) out[tokenId(level, c, K)] = level === 0 ? (c < 3 ? Math.log(c + 1) : 0) : c;
    return out;
  }
}

test('levelStatistics: the model mass on history paths and whether the target follows one, per level', async () => {
  // History item1 [0,1] and item3 [2,3]; target item4 [2,1]: level 0 follows item3's path, level 1 does not.
  const { S, y } = await levelStatistics(new Fixed(), trie, [1, 3], 4, CODES);
  // Level 0: exp-logits of codes 0..2 are 1, 2, 3 and 1 at the other 7 vocabulary slots (float32 logits: 1e-6).
  const z0 = 1 + 2 + 3 + (VOCAB - 3);
  assert.ok(Math.abs(S[0] - (1 + 3) / z0) < 1e-6, `${S[0]}`); // codes 0 (item1) and 2 (item3)
  // Level 1 under n3: children item4 (code 1) and item3 (code 3, in the history).
  const z1 = Math.exp(0) + Math.exp(1) + Math.exp(2) + Math.exp(3) + (VOCAB - K);
  assert.ok(Math.abs(S[1] - Math.exp(3) / z1) < 1e-6, `${S[1]}`);
  assert.deepEqual(y, [1, 0]);
});

test('fitLevel: the closed-form maximum when every example has the same S; the bound when no target follows a path', () => {
  for (const [s, q] of [[0.2, 0.1], [0.05, 0.3], [0.6, 0.6]]) {
    const n = 1000;
    const stats = { S: new Float64Array(n).fill(s), y: Uint8Array.from({ length: n }, (_, i) => (i < q * n ? 1 : 0)) };
    const beta = fitLevel(stats, 8);
    const want = Math.log((q * (1 - s)) / (s * (1 - q))); // q = s·e^β / ((1 − s) + s·e^β)
    assert.ok(Math.abs(beta - want) < 1e-9, `S ${s}, q ${q}: ${beta} vs ${want}`);
  }
  const none = { S: Float64Array.of(0.1, 0.4, 0), y: new Uint8Array(3) };
  assert.equal(fitLevel(none, 8), -8);
  const fit = fitHistoryBias([none, { S: Float64Array.of(0.5, 0.5, 0.5), y: Uint8Array.of(1, 1, 0) }], 8);
  assert.equal(fit.bias[0], -8);
  assert.ok(Math.abs(fit.bias[1] - Math.log(2)) < 1e-9);
  // The gain is the mean log-likelihood change, ≥ 0 at the maximum (β = 0 is a candidate).
  assert.ok(Math.abs(fit.levels[0].log_likelihood_gain + (biasLogNormaliser(0.1, -8) + biasLogNormaliser(0.4, -8)) / 3) < 1e-12);
  assert.ok(fit.levels.every((l) => l.log_likelihood_gain >= 0));
  assert.deepEqual(fit.levels.map((l) => l.on_path_targets), [0, 2 / 3]);
});

test('historyLogitBias: β at exactly the history-path codes of each teacher-forced position', () => {
  // User sequence [1, 3, 4, 0]: the example's history is items 1 and 3, its targets item 4 then item 0 (window 2).
  const sequences = [Int32Array.of(1, 3, 4, 0)];
  const bias = [0.5, -2];
  const out = historyLogitBias(trie, sequences, [{ user: 0, targetStart: 2 }], CODES, 2, bias); // [T = 6, V]
  const at = (p: number): Record<number, number> => Object.fromEntries(Array.from(out.subarray(p * VOCAB, (p + 1) * VOCAB)).flatMap((x, v) => (x !== 0 ? [[v, x]] : [])));
  // Item 4 = [2, 1]: after BOS the first codes of items 1 and 3 (0 and 2); after code 2 (n3), item3's code 3.
  assert.deepEqual(at(0), { [tokenId(0, 0, K)]: 0.5, [tokenId(0, 2, K)]: 0.5 });
  assert.deepEqual(at(1), { [tokenId(1, 3, K)]: -2 });
  assert.deepEqual(at(2), {}); // predicts BOS
  // Item 0 = [0, 0]: first codes as before; under n1 (code 0) item1's code 1.
  assert.deepEqual(at(3), { [tokenId(0, 0, K)]: 0.5, [tokenId(0, 2, K)]: 0.5 });
  assert.deepEqual(at(4), { [tokenId(1, 1, K)]: -2 });
  assert.deepEqual(at(5), {});
});
