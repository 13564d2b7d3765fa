// The seed transformer as an alignment policy on the WebGPU engine (SwiftShader here), against the CPU
// reference forward and the float64 DPO math.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { beamSearch } from '../../../runtime/beam-search.ts';
import { encoderTokens } from '../../../runtime/tokens.ts';
import { SemanticIdTrie } from '../../../runtime/semantic-id-trie.ts';
import { Engine } from '../../../models/engine/engine.ts';
import type { SeedConfig } from '../../../models/seed/config.ts';
import { SeedModel } from '../../../models/seed/model.ts';
import { decodeFull, encode, initSeedWeights, ReferenceDecoderSession } from '../../../models/seed/reference.ts';
import { gatherSequenceLogProb, sessionTokens } from '../../../models/align/log-prob.ts';
import { nextTokenTargets, SeedPolicy } from '../../../models/align/seed-policy.ts';

const TINY: SeedConfig = {
  codebookSize: 4, levels: 2, dModel: 8, heads: 2, encoderLayers: 1, decoderLayers: 1, ffnDim: 16,
  experts: 2, expertsPerToken: 2, expertFfnDim: 8, maxHistory: 3, sessionLength: 2, moeAuxWeight: 0, dropout: 0,
};
const V = 2 + 2 * 4;
const codes = Uint16Array.from({ length: 24 }, (_, j) => (j % 2 === 0 ? (j >> 1) % 4 : (j >> 1) >> 2)); // 12 items
const trie = SemanticIdTrie.build(codes, 2, 4);

let engine: Engine;
before(async () => { engine = await Engine.create({ quiet: true }); });
after(() => engine?.device.destroy());

test('next-token targets skip BOS and the last position', () => {
  assert.deepEqual([...nextTokenTargets(Int32Array.from([1, 3, 7, 1, 2, 9]))], [3, 7, -1, 2, 9, -1]);
});

test('GPU session log-probabilities equal the reference forward\'s; batched beam search equals the reference session\'s', async () => {
  const weights = initSeedWeights(TINY, 5, 0.3);
  const policy = new SeedPolicy(SeedModel.fromWeights(engine, TINY, weights), codes);
  const histories = [Int32Array.of(0, 1), Int32Array.of(), Int32Array.of(7, 8, 9, 10)];
  const sessions = Int32Array.of(3, 4, 5, 6, 11, 2); // [3, 2]
  const got = await policy.sequenceLogProbs(histories, sessions);
  histories.forEach((h, b) => {
    const enc = encode(weights, TINY, encoderTokens(h, codes, 2, 4, 3));
    const tokens = sessionTokens(sessions.subarray(2 * b, 2 * b + 2), codes, 2, 4);
    const want = gatherSequenceLogProb(decodeFull(weights, TINY, enc, tokens), tokens, V);
    assert.ok(Math.abs(got[b] - want) < 1e-3, `row ${b}: ${got[b]} vs ${want}`);
  });
  const batch = policy.decoders(histories);
  const results = await Promise.all(histories.map(async (_, i) => {
    try { return await beamSearch(batch.sessions[i], trie, { beamWidth: 4, sessionLength: 2 }); } finally { batch.finished(i); }
  }));
  batch.release();
  for (const [i, h] of histories.entries()) {
    const reference = await beamSearch(new ReferenceDecoderSession(weights, TINY, encoderTokens(h, codes, 2, 4, 3)), trie, { beamWidth: 4, sessionLength: 2 });
    assert.deepEqual([...results[i].items], [...reference.items], `user ${i}`);
  }
});

test('DPO on the engine: log 2 at θ = ref, then the chosen session gains on the rejected one', async () => {
  const policy = new SeedPolicy(SeedModel.fromWeights(engine, TINY, initSeedWeights(TINY, 8, 0.3)), codes);
  const history = Int32Array.of(1, 2);
  const chosen = Int32Array.of(3, 4);
  const rejected = Int32Array.of(5, 6);
  const [refChosen, refRejected] = await policy.sequenceLogProbs([history, history], Int32Array.of(...chosen, ...rejected));
  const pair = { history, chosen, rejected, refChosen, refRejected };
  const first = await policy.dpoStep([pair], 0.5, 0, 1e-2);
  assert.ok(Math.abs(first.dpo - Math.LN2) < 1e-5, `first DPO loss ${first.dpo}`);
  assert.equal(first.accuracy, 0); // z = 0 exactly
  let last = first;
  for (let s = 0; s < 5; s++) last = await policy.dpoStep([pair], 0.5, 0, 1e-2);
  assert.ok(last.dpo < first.dpo - 0.05 && last.accuracy === 1, `DPO loss ${first.dpo} → ${last.dpo}`);
  const [nowChosen, nowRejected] = await policy.sequenceLogProbs([history, history], Int32Array.of(...chosen, ...rejected));
  assert.ok(nowChosen - refChosen - (nowRejected - refRejected) > 0.1);
  const frozen = await policy.dpoStep([pair], 0.5, 1, 0); // learning rate 0: the loss at the current θ
  assert.ok(Math.abs(frozen.dpo - Math.log1p(Math.exp(-0.5 * (nowChosen - refChosen - (nowRejected - refRejected))))) < 1e-4, `${frozen.dpo}`);
  assert.ok(Math.abs(frozen.ntp - -nowChosen / 4) < 1e-4); // mean CE over the chosen session's 4 code tokens
  const anchor = { history: Int32Array.of(9), items: Int32Array.of(10, 11) }; // a real session: the next-token target
  const [anchorLogProb] = await policy.sequenceLogProbs([anchor.history], anchor.items);
  const withAnchor = await policy.dpoStep([{ ...pair, anchor }], 0.5, 1, 0);
  assert.ok(Math.abs(withAnchor.ntp - -anchorLogProb / 4) < 1e-4, `${withAnchor.ntp} vs ${-anchorLogProb / 4}`);
  assert.ok(Math.abs(withAnchor.dpo - frozen.dpo) < 1e-5);
});
