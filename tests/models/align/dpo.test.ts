import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dpoBatch, dpoSequenceWeights, dpoTerms } from '../../../models/align/dpo.ts';
import { gatherSequenceLogProb, sessionTokens } from '../../../models/align/log-prob.ts';
import { combineTowers, preferencePair } from '../../../models/align/pairs.ts';
import { Rng } from '../../../models/random.ts';

test('DPO loss by hand: z = 0.5·((−2+3) − (−4+3.5)) = 0.75, L = ln(1 + e^−0.75)', () => {
  const t = dpoTerms({ policyChosen: -2, refChosen: -3, policyRejected: -4, refRejected: -3.5 }, 0.5);
  assert.equal(t.z, 0.75);
  assert.ok(Math.abs(t.loss - 0.38687100611489994) < 1e-15);
  assert.ok(Math.abs(t.gradChosen - -0.1604106504123035) < 1e-15); // −β σ(−z) = −0.5 / (1 + e^0.75)
  assert.equal(t.gradRejected, -t.gradChosen);
  const batch = dpoBatch([{ policyChosen: -2, refChosen: -3, policyRejected: -4, refRejected: -3.5 }, { policyChosen: -1, refChosen: -1, policyRejected: -1, refRejected: -1 }], 0.5);
  assert.ok(Math.abs(batch.loss - (0.38687100611489994 + Math.LN2) / 2) < 1e-15);
  assert.equal(batch.accuracy, 0.5);
});

test('DPO at β → 0: loss → log 2 and the gradient vanishes like β/2', () => {
  const pair = { policyChosen: -1.3, refChosen: -7.2, policyRejected: -9.1, refRejected: -2.4 };
  for (const beta of [1e-3, 1e-6, 1e-9]) {
    const t = dpoTerms(pair, beta);
    assert.ok(Math.abs(t.loss - Math.LN2) < 10 * beta, `beta ${beta}: loss ${t.loss}`);
    assert.ok(Math.abs(t.gradChosen / beta + 0.5) < 10 * beta);
  }
  assert.equal(dpoTerms(pair, 0).loss, Math.LN2);
  assert.equal(dpoTerms(pair, 0).gradChosen, -0);
  // Policy = reference: z = 0 whatever β is.
  assert.equal(dpoTerms({ policyChosen: -3, refChosen: -3, policyRejected: -5, refRejected: -5 }, 10).loss, Math.LN2);
  assert.throws(() => dpoTerms(pair, -1), (e: Error) => e.name === 'ShapeError' && /beta/.test(e.message));
});

test('DPO is stable for large margins (no overflow)', () => {
  const big = dpoTerms({ policyChosen: 0, refChosen: -1e4, policyRejected: -1e4, refRejected: 0 }, 1);
  assert.ok(big.loss >= 0 && big.loss < 1e-300);
  const bad = dpoTerms({ policyChosen: -1e4, refChosen: 0, policyRejected: 0, refRejected: -1e4 }, 1);
  assert.equal(bad.loss, 2e4);
});

test('pairs: best vs worst, ties to the lower index, none when there is no preference', () => {
  assert.deepEqual(preferencePair([0.2, 0.9, 0.1, 0.9, 0.1]), { chosen: 1, rejected: 2, chosenReward: 0.9, rejectedReward: 0.1 });
  assert.equal(preferencePair([0.4, 0.4, 0.4]), null);
  assert.equal(preferencePair([0.4]), null);
  const sessions = Int32Array.from([1, 2, 3, 4, 1, 2]); // [3 sessions, 2 items]
  assert.equal(preferencePair([0.1, 0.5, 0.9], Int32Array.from([1, 2, 3, 4, 1, 2]), 2), null); // best and worst are the same items
  const pair = preferencePair([0.1, 0.5, 0.3], sessions, 2);
  assert.ok(pair && pair.chosen !== pair.rejected && pair.chosenReward > pair.rejectedReward);
  assert.deepEqual([...combineTowers([0.5, 0.1, 0.2, 0.4], [1, 2])], [0.7, 1.0]);
});

test('log-probability gathering skips BOS targets and equals the sum of hand log-softmaxes', () => {
  // 2 levels, K = 2 → vocab 6; items 0 → codes (1, 0), 1 → codes (0, 1).
  const codes = Uint16Array.from([1, 0, 0, 1]);
  const tokens = sessionTokens([0, 1], codes, 2, 2);
  assert.deepEqual([...tokens], [1, 3, 4, 1, 2, 5]);
  const vocab = 6;
  const rng = new Rng(3);
  const logits = Float32Array.from({ length: tokens.length * vocab }, () => rng.normal());
  const logSoftmax = (p: number, k: number) => {
    let s = 0;
    for (let j = 0; j < vocab; j++) s += Math.exp(logits[p * vocab + j]);
    return logits[p * vocab + k] - Math.log(s);
  };
  const expected = logSoftmax(0, 3) + logSoftmax(1, 4) + logSoftmax(3, 2) + logSoftmax(4, 5); // position 2 predicts BOS: skipped
  assert.ok(Math.abs(gatherSequenceLogProb(logits, tokens, vocab) - expected) < 1e-9);
  assert.throws(() => gatherSequenceLogProb(logits.subarray(1), tokens, vocab), (e: Error) => e.name === 'ShapeError');
});

test('DPO through weighted cross-entropy: the weights reproduce ∂L/∂logits (finite differences, float64)', () => {
  // A "policy" whose parameters are its logits directly: [P, vocab] for the chosen and for the rejected session.
  const vocab = 6;
  const codes = Uint16Array.from([1, 0, 0, 1, 1, 1]);
  const chosen = sessionTokens([0, 1], codes, 2, 2);
  const rejected = sessionTokens([2, 0], codes, 2, 2);
  const rng = new Rng(11);
  const lc = Float64Array.from({ length: chosen.length * vocab }, () => rng.normal());
  const lr = Float64Array.from({ length: rejected.length * vocab }, () => rng.normal());
  const refChosen = -6.1;
  const refRejected = -4.2;
  const beta = 0.7;
  const loss = () => dpoTerms({ policyChosen: gatherSequenceLogProb(lc, chosen, vocab), refChosen, policyRejected: gatherSequenceLogProb(lr, rejected, vocab), refRejected }, beta).loss;
  const w = dpoSequenceWeights({ policyChosen: gatherSequenceLogProb(lc, chosen, vocab), refChosen, policyRejected: gatherSequenceLogProb(lr, rejected, vocab), refRejected }, beta);
  // Analytic: ∂(w·CE)/∂logits_p = w · (softmax(logits_p) − onehot(target)).
  const analytic = (logits: Float64Array, tokens: Int32Array, weight: number, p: number, k: number) => {
    const target = tokens[p + 1];
    if (p + 1 >= tokens.length || target === 1) return 0;
    let s = 0;
    for (let j = 0; j < vocab; j++) s += Math.exp(logits[p * vocab + j]);
    return weight * (Math.exp(logits[p * vocab + k]) / s - (k === target ? 1 : 0));
  };
  const h = 1e-6;
  for (const [logits, tokens, weight] of [[lc, chosen, w.chosen], [lr, rejected, w.rejected]] as const) {
    for (let i = 0; i < logits.length; i++) {
      const keep = logits[i];
      logits[i] = keep + h;
      const up = loss();
      logits[i] = keep - h;
      const down = loss();
      logits[i] = keep;
      const numeric = (up - down) / (2 * h);
      assert.ok(Math.abs(numeric - analytic(logits, tokens, weight, Math.floor(i / vocab), i % vocab)) < 1e-7, `logit ${i}: ${numeric}`);
    }
  }
});
