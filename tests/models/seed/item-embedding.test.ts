// The seed model's optional per-item encoder table (config.itemEmbedding, enc.item_emb), on the engine (SwiftShader):
// the batch's slot items, the forward against the reference, the table's gradient rows, a short training run, and the
// default path (the field absent or false) unchanged.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { BOS, PAD } from '../../../runtime/tokens.ts';
import { Engine } from '../../../models/engine/engine.ts';
import { accumulateAdd } from '../../../models/engine/ops.ts';
import { makeBatch, type Batch, type SeedData } from '../../../models/seed/batches.ts';
import { parameterCount, SeedConfigError, validateSeedConfig, type SeedConfig } from '../../../models/seed/config.ts';
import { SeedModel } from '../../../models/seed/model.ts';
import { decodeFull, encode, initSeedWeights, seedParameterShapes, type SeedWeights } from '../../../models/seed/reference.ts';
import { trainSeedEpochs } from '../../../models/seed/train.ts';

const OFF: SeedConfig = {
  codebookSize: 4, levels: 2, dModel: 8, heads: 2, encoderLayers: 2, decoderLayers: 2, ffnDim: 16,
  experts: 3, expertsPerToken: 2, expertFfnDim: 8, maxHistory: 3, sessionLength: 2, moeAuxWeight: 0, dropout: 0,
};
const ON: SeedConfig = { ...OFF, itemEmbedding: true, itemCount: 6 };
const V = 2 + 2 * 4;
const codes = new Uint16Array([0, 0, 0, 1, 1, 0, 2, 3, 2, 1, 3, 2]); // [6 items, 2 levels]
const data: SeedData = { itemCount: 6, levels: 2, codebookSize: 4, codes, sequences: [Int32Array.of(0, 1, 2, 3, 4, 5), Int32Array.of(5, 4), Int32Array.of(3, 0, 2, 1)] };
// user 0 before its 3rd item: history 0 1 (one PAD slot); user 1 before its 2nd: history 5 (two PAD slots)
const EXAMPLES = [{ user: 0, targetStart: 2 }, { user: 1, targetStart: 1 }];
const HISTORY_ROWS = [1, 2, 6]; // enc.item_emb rows (item + 1) of the items those histories hold

let engine: Engine;
before(async () => { engine = await Engine.create({ quiet: true }); });
after(() => engine?.device.destroy());

const TOL = 2e-4; // float32 GPU (fused attention, tanh GELU) vs the float64-accumulating reference

/** Mean cross-entropy of a batch's code targets under the reference forward. */
function referenceCrossEntropy(w: SeedWeights, config: SeedConfig, batch: Batch): number {
  const S = config.maxHistory * config.levels;
  const T = batch.decoderTokens.length / batch.size;
  let sum = 0;
  let n = 0;
  for (let b = 0; b < batch.size; b++) {
    const memory = encode(w, config, batch.encoderTokens.subarray(b * S, (b + 1) * S), batch.historyItems!.subarray(b * config.maxHistory, (b + 1) * config.maxHistory));
    const logits = decodeFull(w, config, memory, batch.decoderTokens.subarray(b * T, (b + 1) * T));
    for (let p = 0; p < T; p++) {
      const t = batch.targets[b * T + p];
      if (t < 0) continue;
      const row = Array.from(logits.subarray(p * V, (p + 1) * V));
      const max = Math.max(...row);
      sum -= row[t] - max - Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
      n++;
    }
  }
  return sum / n;
}

test('the batch names each history slot\'s item (item + 1, 0 where PAD or an empty history\'s BOS), right-aligned like the tokens', () => {
  // user 0 before item 5: the last 3 of 0 1 2 3 4; user 1 before its 2nd item: 5; user 2 before its 1st: empty
  const batch = makeBatch(data, [{ user: 0, targetStart: 5 }, { user: 1, targetStart: 1 }, { user: 2, targetStart: 0 }], 3, 1);
  assert.deepEqual([...batch.historyItems!], [3, 4, 5, 0, 0, 6, 0, 0, 0]);
  assert.deepEqual([...batch.encoderTokens.subarray(12, 18)], [PAD, PAD, PAD, PAD, BOS, PAD]);
});

test('config: the table is the last parameter, counted by parameterCount; itemEmbedding needs itemCount', () => {
  const size = (c: SeedConfig): number => Object.values(seedParameterShapes(c)).reduce((s, shape) => s + shape.reduce((a, b) => a * b, 1), 0);
  assert.deepEqual(Object.entries(seedParameterShapes(ON)).at(-1), ['enc.item_emb', [7, 8]]);
  assert.deepEqual(Object.keys(seedParameterShapes(ON)).slice(0, -1), Object.keys(seedParameterShapes(OFF)));
  assert.equal(parameterCount(ON), size(ON));
  assert.equal(parameterCount(ON) - parameterCount(OFF), 7 * 8);
  assert.equal(parameterCount({ ...OFF, itemEmbedding: false, itemCount: 6 }), parameterCount(OFF));
  assert.throws(() => validateSeedConfig({ ...OFF, itemEmbedding: true }), (e: Error) => e instanceof SeedConfigError && /itemCount/.test(e.message));
});

test('a zero table gives exactly the outputs of the model without it; a random one the reference forward\'s', async () => {
  const off = initSeedWeights(OFF, 11, 0.3);
  const on = initSeedWeights(ON, 11, 0.3);
  for (const name of Object.keys(off)) assert.deepEqual(on[name], off[name], `${name}: the table is drawn after every other parameter`);
  const batch = makeBatch(data, EXAMPLES, 3, 2);
  const logitsOf = async (config: SeedConfig, w: SeedWeights): Promise<Float32Array> => {
    const out = await engine.read(SeedModel.fromWeights(engine, config, w).batchLogits(batch)); // [B·T, V]
    engine.endStep();
    return out;
  };
  const without = await logitsOf(OFF, off);
  assert.deepEqual(await logitsOf(ON, { ...on, 'enc.item_emb': new Float32Array(7 * 8) }), without);
  const withTable = await logitsOf(ON, on);
  let moved = 0;
  for (let b = 0; b < 2; b++) {
    const memory = encode(on, ON, batch.encoderTokens.subarray(b * 6, b * 6 + 6), batch.historyItems!.subarray(b * 3, b * 3 + 3));
    const want = decodeFull(on, ON, memory, batch.decoderTokens.subarray(b * 6, b * 6 + 6)); // [6, V]
    for (let i = 0; i < want.length; i++) {
      assert.ok(Math.abs(withTable[b * want.length + i] - want[i]) < TOL, `example ${b} logit ${i}: ${withTable[b * want.length + i]} vs ${want[i]}`);
      moved = Math.max(moved, Math.abs(withTable[b * want.length + i] - without[b * want.length + i]));
    }
  }
  assert.ok(moved > 0.05, `the table changes the logits (largest change ${moved})`);
  // Beam search's path (encode + decodeLast) reads the slots' items too, and refuses a call without them.
  const model = SeedModel.fromWeights(engine, ON, on);
  const memory = await model.encode(batch.encoderTokens, 2, batch.historyItems);
  const last = await model.decodeLast(memory, Int32Array.of(0, 1), batch.decoderTokens, 2, 6); // [2, V]
  model.release(memory);
  for (let b = 0; b < 2; b++) for (let v = 0; v < V; v++) assert.ok(Math.abs(last[b * V + v] - withTable[(b * 6 + 5) * V + v]) < 1e-5);
  await assert.rejects(() => model.encode(batch.encoderTokens, 2), (e: Error) => e instanceof SeedConfigError && /historyItems/.test(e.message));
});

test('the loss\'s gradient reaches exactly the table rows of the batch\'s history items, and equals central differences of the reference', async () => {
  const weights = initSeedWeights(ON, 5, 0.3);
  const batch = makeBatch(data, EXAMPLES, 3, 2);
  const model = SeedModel.fromWeights(engine, ON, weights);
  engine.backward(model.trainingLoss(batch, null).ce, undefined, accumulateAdd);
  const grad = await engine.read(model.params['enc.item_emb'].grad!); // [7, 8]
  engine.endStep();
  for (let row = 0; row < 7; row++) {
    const norm = Math.hypot(...grad.subarray(row * 8, row * 8 + 8));
    if (HISTORY_ROWS.includes(row)) assert.ok(norm > 1e-4, `row ${row} (a history item) gets a gradient, |g| = ${norm}`);
    else assert.equal(norm, 0, `row ${row} is no history item of the batch (PAD slots' row 0 included)`);
  }
  for (const index of [1 * 8 + 3, 6 * 8 + 0]) {
    const h = 1e-3;
    const at = (delta: number): number => {
      const table = Float32Array.from(weights['enc.item_emb']);
      table[index] += delta;
      return referenceCrossEntropy({ ...weights, 'enc.item_emb': table }, ON, batch);
    };
    const numeric = (at(h) - at(-h)) / (2 * h);
    assert.ok(Math.abs(numeric) > 1e-4, `enc.item_emb[${index}] moves the loss`);
    assert.ok(Math.abs(grad[index] - numeric) < 2e-3 + 0.02 * Math.abs(numeric), `∂ce/∂enc.item_emb[${index}]: ${grad[index]} vs ${numeric}`);
  }
});

// 10 windows of 2 items, one step per epoch (a step is ~1–2 s on SwiftShader).
const TRAIN_DATA: SeedData = { ...data, sequences: [Int32Array.of(0, 1, 2, 3, 4, 5), Int32Array.of(5, 4, 3, 2), Int32Array.of(3, 0, 2, 1), Int32Array.of(1, 5, 0, 4)] };
const options = (epochs: number) => ({ epochs, batchSize: 16, learningRate: 1e-2, maxExamples: 0, maxSeconds: 0, seed: 3 });

test('a short training run with the table lowers the loss and moves the table', async () => {
  const config = { ...ON, dropout: 0.1 };
  const run = await trainSeedEpochs(engine, config, TRAIN_DATA, options(8));
  const table = (await run.model.weights())['enc.item_emb'];
  assert.equal(run.loss.length, 8);
  const curve = run.loss.map((l) => l.toFixed(3)).join(' → ');
  for (let epoch = 1; epoch < 8; epoch++) assert.ok(run.loss[epoch] < run.loss[epoch - 1], `loss ${curve}`);
  assert.ok(run.loss[7] < 0.9 * run.loss[0], `loss ${curve}`); // SwiftShader: 2.307 → 1.991
  const start = SeedModel.init(engine, config, 3);
  const initial = (await start.weights())['enc.item_emb'];
  let change = 0;
  for (let i = 0; i < table.length; i++) change = Math.max(change, Math.abs(table[i] - initial[i]));
  assert.ok(change > 1e-3, `the table trained (largest change ${change})`);
});

test('the default path is unchanged: a config without the field trains exactly as one with itemEmbedding: false', async () => {
  const runOf = async (config: SeedConfig): Promise<{ loss: number[]; weights: SeedWeights }> => {
    const run = await trainSeedEpochs(engine, config, TRAIN_DATA, options(2));
    return { loss: run.loss, weights: await run.model.weights() };
  };
  const absent = await runOf({ ...OFF, dropout: 0.1 });
  const off = await runOf({ ...OFF, dropout: 0.1, itemEmbedding: false, itemCount: 6 });
  assert.deepEqual(off.loss, absent.loss);
  assert.deepEqual(Object.keys(off.weights), Object.keys(absent.weights));
  for (const name of Object.keys(absent.weights)) assert.deepEqual(off.weights[name], absent.weights[name], name);
});
