// The engine model against the executable spec (models/seed/reference.ts), on SwiftShader: tiny shapes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { BOS, encoderTokens, tokenId } from '../../../runtime/tokens.ts';
import { Engine } from '../../../models/engine/engine.ts';
import { type SeedConfig } from '../../../models/seed/config.ts';
import { historyNegatives, makeBatch, type SeedData } from '../../../models/seed/batches.ts';
import { accumulateAdd } from '../../../models/engine/ops.ts';
import { Rng } from '../../../models/random.ts';
import { SeedModel, teacherProbs, topkMask } from '../../../models/seed/model.ts';
import { decodeFull, encode, initSeedWeights } from '../../../models/seed/reference.ts';
import { historyLogitBias } from '../../../models/seed/history-bias.ts';
import { SemanticIdTrie } from '../../../runtime/semantic-id-trie.ts';

const TINY: SeedConfig = {
  codebookSize: 4, levels: 2, dModel: 8, heads: 2, encoderLayers: 2, decoderLayers: 2, ffnDim: 16,
  experts: 3, expertsPerToken: 2, expertFfnDim: 8, maxHistory: 3, sessionLength: 2, moeAuxWeight: 0.01, dropout: 0,
};
const V = 2 + 2 * 4;
const codes = new Uint16Array([0, 0, 0, 1, 1, 0, 2, 3, 2, 1, 3, 2]); // [6 items, 2 levels]
const data: SeedData = { itemCount: 6, levels: 2, codebookSize: 4, codes, sequences: [Int32Array.of(0, 1, 2, 3, 4, 5), Int32Array.of(5, 4)] };

let engine: Engine;
before(async () => { engine = await Engine.create({ quiet: true }); });
after(() => engine?.device.destroy());

// float32 GPU (fused attention, tanh GELU) vs the float64-accumulating reference
const TOL = 2e-4;

/** Mean cross-entropy of a batch's targets (2 examples × 6 positions) under the reference forward, `bias` [12, V] added to the logits. */
function referenceCrossEntropy(weights: ReturnType<typeof initSeedWeights>, batch: ReturnType<typeof makeBatch>, bias?: Float32Array): { mean: number; n: number } {
  let sum = 0;
  let n = 0;
  for (let b = 0; b < 2; b++) {
    const logits = decodeFull(weights, TINY, encode(weights, TINY, batch.encoderTokens.subarray(b * 6, b * 6 + 6)), batch.decoderTokens.subarray(b * 6, b * 6 + 6));
    for (let p = 0; p < 6; p++) {
      const t = batch.targets[b * 6 + p];
      if (t < 0) continue;
      const row = Array.from(logits.subarray(p * V, (p + 1) * V), (x, v) => x + (bias ? bias[(b * 6 + p) * V + v] : 0));
      const max = Math.max(...row);
      sum -= row[t] - max - Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
      n++;
    }
  }
  return { mean: sum / n, n };
}

test('decoder logits match the reference forward (incl. PAD masking, MoE routing)', async () => {
  const weights = initSeedWeights(TINY, 11, 0.3);
  const model = SeedModel.fromWeights(engine, TINY, weights);
  const histories = [[0, 1], [], [2, 3, 4, 5]]; // short (PAD), empty (BOS), truncated to the last 3
  const enc = new Int32Array(3 * 6);
  histories.forEach((h, u) => enc.set(encoderTokens(h, codes, 2, 4, 3), u * 6));
  const memory = await model.encode(enc, 3);
  // rows: user 2, user 0, user 2 with different prefixes of length 4: [BOS c c BOS]
  const prefixes = [[BOS, tokenId(0, 1, 4), tokenId(1, 0, 4), BOS], [BOS, tokenId(0, 2, 4), tokenId(1, 3, 4), BOS], [BOS, tokenId(0, 0, 4), tokenId(1, 1, 4), BOS]];
  const rowUser = Int32Array.of(2, 0, 2);
  const got = await model.decodeLast(memory, rowUser, Int32Array.from(prefixes.flat()), 3, 4); // [3, V]
  model.release(memory);
  for (let r = 0; r < 3; r++) {
    const ref = decodeFull(weights, TINY, encode(weights, TINY, enc.subarray(rowUser[r] * 6, rowUser[r] * 6 + 6)), Int32Array.from(prefixes[r]));
    const want = ref.subarray(3 * V, 4 * V);
    for (let v = 0; v < V; v++) assert.ok(Math.abs(got[r * V + v] - want[v]) < TOL, `row ${r} token ${v}: ${got[r * V + v]} vs ${want[v]}`);
  }
});

test('training loss equals the reference cross-entropy over code tokens (+ aux term)', async () => {
  const weights = initSeedWeights(TINY, 5, 0.3);
  const model = SeedModel.fromWeights(engine, { ...TINY, moeAuxWeight: 0 }, weights);
  const batch = makeBatch(data, [{ user: 0, targetStart: 2 }, { user: 0, targetStart: 1 }], 3, 2);
  const { ce, load } = model.trainingLoss(batch, null);
  const got = (await engine.read(ce))[0];
  const loads = await Promise.all(load.map((l) => engine.read(l)));
  engine.endStep();
  const { mean, n } = referenceCrossEntropy(weights, batch);
  assert.equal(n, 8); // 2 examples × 2 items × 2 code tokens
  assert.ok(Math.abs(got - mean) < TOL, `${got} vs ${mean}`);
  for (const l of loads) {
    assert.ok(Math.abs(l.reduce((a, b) => a + b, 0) - 1) < 1e-6, 'top-2 slot fractions sum to 1');
    for (const f of l) assert.ok(f <= 0.5 + 1e-6, 'each token sends one slot at most to an expert (2 slots per token)');
  }
});

test('with the history layer in the loss: the reference cross-entropy of the biased logits', async () => {
  const weights = initSeedWeights(TINY, 5, 0.3);
  const model = SeedModel.fromWeights(engine, { ...TINY, moeAuxWeight: 0 }, weights);
  const examples = [{ user: 0, targetStart: 2 }, { user: 0, targetStart: 3 }];
  const batch = makeBatch(data, examples, 3, 2);
  const trie = SemanticIdTrie.build(codes, 2, 4);
  const bias = historyLogitBias(trie, data.sequences, examples, codes, 2, [0.9, -1.7]); // [B·T, V]
  assert.ok(bias.some((x) => x !== 0));
  const { ce } = model.trainingLoss(batch, null, undefined, bias);
  const got = (await engine.read(ce))[0];
  engine.endStep();
  const { mean } = referenceCrossEntropy(weights, batch, bias);
  assert.ok(Math.abs(got - mean) < TOL, `${got} vs ${mean}`);
});

test('distillation: the term is the cross-entropy against the softmax of the teachers\' mean logits (the reference forward\'s), and against one-hot targets the hard cross-entropy', async () => {
  const weights = initSeedWeights(TINY, 5, 0.3);
  const other = initSeedWeights(TINY, 8, 0.3);
  const config = { ...TINY, moeAuxWeight: 0 };
  const model = SeedModel.fromWeights(engine, config, weights);
  const teacher = SeedModel.fromWeights(engine, config, other);
  const batch = makeBatch(data, [{ user: 0, targetStart: 2 }, { user: 0, targetStart: 1 }], 3, 2);
  // Reference: per kept row, q = softmax((z_model + z_other) / 2); the term is −Σ q log softmax(z_model).
  let expected = 0;
  let n = 0;
  for (let b = 0; b < 2; b++) {
    const enc = batch.encoderTokens.subarray(b * 6, b * 6 + 6);
    const dec = batch.decoderTokens.subarray(b * 6, b * 6 + 6);
    const za = decodeFull(weights, TINY, encode(weights, TINY, enc), dec);
    const zb = decodeFull(other, TINY, encode(other, TINY, enc), dec);
    for (let p = 0; p < 6; p++) {
      if (batch.targets[b * 6 + p] < 0) continue;
      const logSoftmax = (z: number[]): number[] => { const m = Math.max(...z); const l = m + Math.log(z.reduce((s, x) => s + Math.exp(x - m), 0)); return z.map((x) => x - l); };
      const student = logSoftmax(Array.from(za.subarray(p * V, (p + 1) * V)));
      const q = logSoftmax(Array.from({ length: V }, (_, v) => (za[p * V + v] + zb[p * V + v]) / 2)).map(Math.exp);
      expected -= q.reduce((s, qv, v) => s + qv * student[v], 0);
      n++;
    }
  }
  const out = model.trainingLoss(batch, null, undefined, undefined, { probs: teacherProbs([model, teacher], batch), weight: 0.4 });
  const [ce, distill, loss] = await Promise.all([engine.read(out.ce), engine.read(out.distill!), engine.read(out.loss)]);
  engine.endStep();
  assert.ok(Math.abs(distill[0] - expected / n) < TOL, `${distill[0]} vs ${expected / n}`);
  assert.ok(Math.abs(loss[0] - (0.6 * ce[0] + 0.4 * distill[0])) < 1e-5, 'loss = (1 − α) ce + α distill');
  // One-hot teacher at the targets: the term is the cross-entropy itself.
  const oneHot = new Float32Array(batch.targets.length * V);
  batch.targets.forEach((t, r) => { if (t >= 0) oneHot[r * V + t] = 1; });
  const hard = model.trainingLoss(batch, null, undefined, undefined, { probs: engine.upload(oneHot, [batch.targets.length, V]), weight: 0.4 });
  const [ce2, distill2] = await Promise.all([engine.read(hard.ce), engine.read(hard.distill!)]);
  engine.endStep();
  assert.ok(Math.abs(ce2[0] - distill2[0]) < 1e-5, `${ce2[0]} vs ${distill2[0]}`);
});

test('MoE routing: exactly top-k experts per token, ties to the lower expert index', async () => {
  // [5 tokens, 4 experts]
  const probs = Float32Array.of(
    0.1, 0.4, 0.3, 0.2,
    0.25, 0.25, 0.25, 0.25, // all tied → experts 0 and 1
    0.5, 0.1, 0.1, 0.3,
    0.1, 0.3, 0.3, 0.3, // three tied for first → 1 and 2
    0.0, 0.0, 0.2, 0.8,
  );
  const masks = await Promise.all([1, 2, 3].map((k) => engine.read(topkMask(engine.upload(probs, [5, 4]), k))));
  engine.endStep();
  assert.deepEqual(Array.from(masks[1]), [0, 1, 1, 0, 1, 1, 0, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0, 0, 1, 1]);
  assert.deepEqual(Array.from(masks[0]), [0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
  for (let r = 0; r < 5; r++) assert.equal(masks[2].subarray(r * 4, r * 4 + 4).reduce((a, b) => a + b, 0), 3);
});

test('history negatives: distinct items of the visible history, never a target, exact teacher-forcing rows', () => {
  const rng = new Rng(3);
  // user 0 = 0 1 2 3 4 5; target 4 (window 1), maxHistory 3 → visible history 1 2 3; 5 slots → 3 filled, 2 empty
  const n = historyNegatives(data, [{ user: 0, targetStart: 4 }], 3, 1, 5, rng);
  assert.equal(n.rows, 5);
  assert.deepEqual([...n.items].filter((i) => i >= 0).sort(), [1, 2, 3]);
  assert.deepEqual([...n.items].slice(3), [-1, -1]);
  for (let r = 0; r < 5; r++) {
    const item = n.items[r];
    assert.equal(n.weight[r], item >= 0 ? Math.fround(1 / 3) : 0);
    assert.equal(n.tokens[r * 2], BOS);
    if (item < 0) { assert.deepEqual([...n.targets.subarray(r * 2, r * 2 + 2)], [-1, -1]); continue; }
    const c = [tokenId(0, codes[item * 2], 4), tokenId(1, codes[item * 2 + 1], 4)];
    assert.deepEqual([...n.targets.subarray(r * 2, r * 2 + 2)], c);
    assert.equal(n.tokens[r * 2 + 1], c[0]);
  }
  // a repeat: the target (item 0, in a window of 2 with item 3) is also in the history → never a negative
  const repeat: SeedData = { ...data, sequences: [Int32Array.of(0, 1, 0, 0, 3, 5)] };
  const m = historyNegatives(repeat, [{ user: 0, targetStart: 3 }], 3, 2, 2, rng);
  assert.deepEqual([...m.items].sort(), [-1, 1]);
  assert.deepEqual([...m.rowExample], [0, 0]);
  // lastLevels 1: only the item's last code carries the term; the shared first level is left alone
  const last = historyNegatives(data, [{ user: 0, targetStart: 4 }], 3, 1, 1, new Rng(3), 1);
  const item = last.items[0];
  assert.deepEqual([...last.targets], [-1, tokenId(1, codes[item * 2 + 1], 4)]);
  assert.deepEqual([...last.tokens], [BOS, tokenId(0, codes[item * 2], 4)]);
});

test('history unlikelihood equals −log(1 − p(item) + ε) of the reference forward, gradient included', async () => {
  const weights = initSeedWeights(TINY, 7, 0.3);
  const config = { ...TINY, moeAuxWeight: 0 };
  const model = SeedModel.fromWeights(engine, config, weights);
  const examples = [{ user: 0, targetStart: 4 }, { user: 1, targetStart: 1 }];
  const batch = makeBatch(data, examples, 3, 1);
  const negatives = historyNegatives(data, examples, 3, 1, 2, new Rng(1)); // user 0: 2 of {1, 2, 3}; user 1: {5} and an empty row
  assert.equal(negatives.items.filter((i) => i >= 0).length, 3);
  const pItem = (w: typeof weights, b: number, item: number): number => {
    const tokens = Int32Array.of(BOS, tokenId(0, codes[item * 2], 4));
    const logits = decodeFull(w, config, encode(w, config, batch.encoderTokens.subarray(b * 6, b * 6 + 6)), tokens);
    let lp = 0;
    for (let l = 0; l < 2; l++) {
      const row = Array.from(logits.subarray(l * V, (l + 1) * V));
      const max = Math.max(...row);
      lp += row[tokenId(l, codes[item * 2 + l], 4)] - max - Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
    }
    return Math.exp(lp);
  };
  const { unlikelihood } = model.trainingLoss(batch, null, { weight: 1, negatives });
  const got = (await engine.read(unlikelihood!))[0];
  engine.endStep();
  let want = 0;
  for (let r = 0; r < negatives.rows; r++) if (negatives.items[r] >= 0) want += -Math.log(1 - pItem(weights, negatives.rowExample[r], negatives.items[r]) + 1e-4) / 3;
  assert.ok(Math.abs(got - want) < TOL, `${got} vs ${want}`);

  // its gradient, through the decoder and through the gathered cross-attention keys/values into the encoder,
  // against central differences of the float64 reference
  const ul = (w: typeof weights): number => {
    let sum = 0;
    for (let r = 0; r < negatives.rows; r++) if (negatives.items[r] >= 0) sum += -Math.log(1 - pItem(w, negatives.rowExample[r], negatives.items[r]) + 1e-4) / 3;
    return sum;
  };
  const probe = SeedModel.fromWeights(engine, config, weights);
  engine.backward(probe.trainingLoss(batch, null, { weight: 1, negatives }).unlikelihood!, undefined, accumulateAdd);
  for (const [name, index] of [['lm_head', 5], ['dec.1.cross.wv', 3], ['enc.0.ffn.w1', 2], ['tok_emb', 9]] as const) {
    const grad = (await engine.read(probe.params[name].grad!))[index];
    const h = 1e-3;
    const plus = { ...weights, [name]: Float32Array.from(weights[name]) };
    const minus = { ...weights, [name]: Float32Array.from(weights[name]) };
    plus[name][index] += h;
    minus[name][index] -= h;
    const numeric = (ul(plus) - ul(minus)) / (2 * h);
    assert.ok(Math.abs(grad - numeric) < 2e-3 + 0.02 * Math.abs(numeric), `∂UL/∂${name}[${index}]: ${grad} vs ${numeric}`);
    assert.ok(Math.abs(numeric) > 1e-4, `${name}[${index}] is a probe that moves the term`);
  }
  engine.endStep();
});
