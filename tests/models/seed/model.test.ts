// The engine model against the executable spec (models/seed/reference.ts), on SwiftShader: tiny shapes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { BOS, encoderTokens, tokenId } from '../../../runtime/tokens.ts';
import { Engine } from '../../../models/engine/engine.ts';
import { type SeedConfig } from '../../../models/seed/config.ts';
import { makeBatch, type SeedData } from '../../../models/seed/batches.ts';
import { SeedModel, topkMask } from '../../../models/seed/model.ts';
import { decodeFull, encode, initSeedWeights } from '../../../models/seed/reference.ts';

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
  let sum = 0;
  let n = 0;
  for (let b = 0; b < 2; b++) {
    const logits = decodeFull(weights, TINY, encode(weights, TINY, batch.encoderTokens.subarray(b * 6, b * 6 + 6)), batch.decoderTokens.subarray(b * 6, b * 6 + 6));
    for (let p = 0; p < 6; p++) {
      const t = batch.targets[b * 6 + p];
      if (t < 0) continue;
      const row = Array.from(logits.subarray(p * V, (p + 1) * V));
      const max = Math.max(...row);
      sum -= row[t] - max - Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
      n++;
    }
  }
  assert.equal(n, 8); // 2 examples × 2 items × 2 code tokens
  assert.ok(Math.abs(got - sum / n) < TOL, `${got} vs ${sum / n}`);
  for (const l of loads) {
    assert.ok(Math.abs(l.reduce((a, b) => a + b, 0) - 1) < 1e-6, 'top-2 slot fractions sum to 1');
    for (const f of l) assert.ok(f <= 0.5 + 1e-6, 'each token sends one slot at most to an expert (2 slots per token)');
  }
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
