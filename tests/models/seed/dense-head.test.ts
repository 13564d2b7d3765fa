// The seed model's optional dense retrieval head (config.denseHead: LIGER-style hybrid of generative and dense
// retrieval), on the engine (SwiftShader) against the CPU reference: shapes, the dense cross-entropy and its gradient
// on the code-token table, a short training run, the hybrid ranking (generate.ts mixDense), and the default path.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { BOS } from '../../../runtime/tokens.ts';
import { SemanticIdTrie } from '../../../runtime/semantic-id-trie.ts';
import { AdamW } from '../../../models/engine/index.ts';
import { Engine } from '../../../models/engine/engine.ts';
import { accumulateAdd } from '../../../models/engine/ops.ts';
import { Rng } from '../../../models/random.ts';
import { makeBatch, trainExamples, type Batch, type SeedData } from '../../../models/seed/batches.ts';
import { parameterCount, SeedConfigError, validateSeedConfig, type SeedConfig } from '../../../models/seed/config.ts';
import { denseTop, evaluateRanking, logSoftmax, mixDense, ReferenceForward } from '../../../models/seed/generate.ts';
import { SeedModel } from '../../../models/seed/model.ts';
import { denseItemVectors, denseLogProbs, denseUserVector, encode, initSeedWeights, seedParameterShapes, type SeedWeights } from '../../../models/seed/reference.ts';
import { trainEpoch, trainSeedEpochs } from '../../../models/seed/train.ts';

const OFF: SeedConfig = {
  codebookSize: 5, levels: 2, dModel: 8, heads: 2, encoderLayers: 2, decoderLayers: 2, ffnDim: 16,
  experts: 3, expertsPerToken: 2, expertFfnDim: 8, maxHistory: 3, sessionLength: 2, moeAuxWeight: 0, dropout: 0,
};
const ON: SeedConfig = { ...OFF, denseHead: true };
const d = 8;
// [6 items, 2 levels]; K = 5 so that code 4 of either level belongs to no item: tokens 2 + 4 = 6 and 2 + 5 + 4 = 11.
const codes = new Uint16Array([0, 0, 0, 1, 1, 0, 2, 3, 2, 1, 3, 2]);
const data: SeedData = { itemCount: 6, levels: 2, codebookSize: 5, codes, sequences: [Int32Array.of(0, 1, 2, 3, 4, 5), Int32Array.of(5, 4), Int32Array.of(3, 0, 2, 1)] };
// user 0 before its 3rd item (history 0 1, window 2 3), user 1 before its 2nd (history 5, window 4 + none)
const EXAMPLES = [{ user: 0, targetStart: 2 }, { user: 1, targetStart: 1 }];
const FIRST_TARGETS = [2, 4];
const NO_ITEM_TOKENS = [6, 11]; // code 4 of each level: no catalog item has it
// Catalog code tokens that neither history holds: (item 2: l0 c1 = 3), (items 3, 4: l0 c2 = 4), (item 3: l1 c3 = 10).
// The dense term reaches them only through the item vectors (the decoder's state at BOS sees no target code).
const ITEM_ONLY_TOKENS = [3, 4, 10];

let engine: Engine;
before(async () => { engine = await Engine.create({ quiet: true }); });
after(() => engine?.device.destroy());

const TOL = 2e-4; // float32 GPU (fused attention, tanh GELU) vs the float64-accumulating reference

/** The reference's user vectors of a batch.  → [B][d] */
function referenceUsers(w: SeedWeights, config: SeedConfig, batch: Batch): Float32Array[] {
  const S = config.maxHistory * config.levels;
  return Array.from({ length: batch.size }, (_, b) => denseUserVector(w, config, encode(w, config, batch.encoderTokens.subarray(b * S, (b + 1) * S))));
}

/** Mean dense cross-entropy of the batch's first target items under the reference forward. */
function referenceDenseCe(w: SeedWeights, config: SeedConfig, batch: Batch): number {
  const items = denseItemVectors(w, config, codes);
  const window = batch.targetItems.length / batch.size;
  const users = referenceUsers(w, config, batch);
  return -users.reduce((s, u, b) => s + denseLogProbs(u, items)[batch.targetItems[b * window]], 0) / batch.size;
}

test('config: dense.user.w [d, d] and dense.user.b [d] are the last parameters, counted; denseHead must be a boolean', () => {
  assert.deepEqual(Object.entries(seedParameterShapes(ON)).slice(-2), [['dense.user.w', [8, 8]], ['dense.user.b', [8]]]);
  assert.deepEqual(Object.keys(seedParameterShapes(ON)).slice(0, -2), Object.keys(seedParameterShapes(OFF)));
  assert.equal(parameterCount(ON) - parameterCount(OFF), 8 * 8 + 8); // nothing grows with the catalog
  assert.equal(parameterCount({ ...OFF, denseHead: false }), parameterCount(OFF));
  assert.throws(() => validateSeedConfig({ ...OFF, denseHead: 1 as unknown as boolean }), (e: Error) => e instanceof SeedConfigError && /denseHead/.test(e.message));
});

test('shapes and values: item vectors [items, d], user scores [users, items] and the dense cross-entropy [1] equal the reference\'s', async () => {
  const w = initSeedWeights(ON, 11, 0.3);
  const model = SeedModel.fromWeights(engine, ON, w);
  const E = model.denseItemMatrix(codes);
  assert.deepEqual(E.shape, [6, d]);
  const items = await engine.read(E);
  engine.endStep();
  const want = denseItemVectors(w, ON, codes);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(items[i] - want[i]) < 1e-6, `e[${i}]`);
  // item 3 = codes (2, 3): the sum of tok_emb rows 2 + 2 = 4 and 2 + 5 + 3 = 10
  for (let j = 0; j < d; j++) assert.ok(Math.abs(want[3 * d + j] - (w.tok_emb[4 * d + j] + w.tok_emb[10 * d + j])) < 1e-7);

  const batch = makeBatch(data, EXAMPLES, 3, 2);
  const out = model.trainingLoss(batch, null, undefined, undefined, undefined, { codes, weight: 1 });
  assert.deepEqual(out.dense!.shape, [1]);
  const [dense, ce, loss] = [(await engine.read(out.dense!))[0], (await engine.read(out.ce))[0], (await engine.read(out.loss))[0]];
  engine.endStep();
  const reference = referenceDenseCe(w, ON, batch);
  assert.ok(Math.abs(dense - reference) < TOL, `dense ce ${dense} vs reference ${reference}`);
  assert.ok(Math.abs(loss - (ce + dense)) < 1e-5, 'loss = ce + 1 · dense (moeAuxWeight 0)');
  const half = model.trainingLoss(batch, null, undefined, undefined, undefined, { codes, weight: 0.5 });
  assert.ok(Math.abs((await engine.read(half.loss))[0] - (ce + 0.5 * dense)) < 1e-5, 'denseWeight scales the term');
  engine.endStep();
  assert.equal(model.trainingLoss(batch, null, undefined, undefined, undefined, { codes, weight: 0 }).dense, null);
  engine.endStep();
  assert.throws(() => model.trainingLoss(batch, null), (e: Error) => e instanceof SeedConfigError && /DenseTerm/.test(e.message));

  const memory = await model.encode(batch.encoderTokens, 2);
  const scores = await model.denseLogits(memory, 2, codes);
  model.release(memory);
  assert.equal(scores.length, 2 * 6);
  const cpu = await new ReferenceForward(w, ON).denseLogits(await new ReferenceForward(w, ON).encode(batch.encoderTokens, 2), 2, codes);
  for (let i = 0; i < cpu.length; i++) assert.ok(Math.abs(scores[i] - cpu[i]) < TOL, `score ${i}: ${scores[i]} vs ${cpu[i]}`);
});

test('the dense loss\'s gradient on tok_emb: zero on codes of no item, the item side exactly on the catalog codes, central differences elsewhere', async () => {
  const w = initSeedWeights(ON, 5, 0.3);
  const batch = makeBatch(data, EXAMPLES, 3, 2);
  const model = SeedModel.fromWeights(engine, ON, w);
  engine.backward(model.trainingLoss(batch, null, undefined, undefined, undefined, { codes, weight: 1 }).dense!, undefined, accumulateAdd);
  const grad = await engine.read(model.params['tok_emb'].grad!); // [V, d]
  engine.endStep();
  const row = (t: number): Float32Array => grad.subarray(t * d, (t + 1) * d);
  for (const t of NO_ITEM_TOKENS) assert.equal(Math.hypot(...row(t)), 0, `token ${t} is no item's code`);
  assert.ok(Math.hypot(...row(BOS)) > 1e-4, 'BOS (the user vector\'s decoder input) gets a gradient');
  // Item side on the CPU: ∂ce/∂e_i = mean_b (p_bi − [i = t_b]) u_b, and ∂ce/∂tok_emb[t] = Σ over items with code token t.
  const items = denseItemVectors(w, ON, codes);
  const users = referenceUsers(w, ON, batch);
  const itemGrad = new Float64Array(6 * d);
  users.forEach((u, b) => {
    const p = denseLogProbs(u, items).map(Math.exp);
    for (let i = 0; i < 6; i++) for (let j = 0; j < d; j++) itemGrad[i * d + j] += ((p[i] - (i === FIRST_TARGETS[b] ? 1 : 0)) * u[j]) / users.length;
  });
  for (const t of ITEM_ONLY_TOKENS) {
    const want = new Float64Array(d);
    for (let i = 0; i < 6; i++) for (let l = 0; l < 2; l++) if (2 + l * 5 + codes[i * 2 + l] === t) for (let j = 0; j < d; j++) want[j] += itemGrad[i * d + j];
    assert.ok(Math.hypot(...want) > 1e-3, `token ${t} moves the loss`);
    for (let j = 0; j < d; j++) assert.ok(Math.abs(row(t)[j] - want[j]) < TOL, `∂dense/∂tok_emb[${t}, ${j}]: ${row(t)[j]} vs ${want[j]}`);
  }
  // Central differences of the reference's dense loss: an item-only row, a history item's row (item and encoder side), BOS.
  for (const index of [4 * d + 1, 5 * d + 2, BOS * d + 3]) {
    const h = 1e-3;
    const at = (delta: number): number => {
      const table = Float32Array.from(w.tok_emb);
      table[index] += delta;
      return referenceDenseCe({ ...w, tok_emb: table }, ON, batch);
    };
    const numeric = (at(h) - at(-h)) / (2 * h);
    assert.ok(Math.abs(numeric) > 1e-4, `tok_emb[${index}] moves the loss`);
    assert.ok(Math.abs(grad[index] - numeric) < 2e-3 + 0.02 * Math.abs(numeric), `∂dense/∂tok_emb[${index}]: ${grad[index]} vs ${numeric}`);
  }
  const userGrad = await engine.read(model.params['dense.user.w'].grad!);
  engine.endStep();
  assert.ok(Math.hypot(...userGrad) > 1e-4, 'dense.user.w trains');
});

// 10 windows of 2 items, one step per epoch (a step is ~1–2 s on SwiftShader).
const TRAIN_DATA: SeedData = { ...data, sequences: [Int32Array.of(0, 1, 2, 3, 4, 5), Int32Array.of(5, 4, 3, 2), Int32Array.of(3, 0, 2, 1), Int32Array.of(1, 5, 0, 4)] };

const EPOCHS = 24;
test('training with the dense head (trainEpoch, denseWeight 1) lowers the dense loss below the first targets\' entropy', async () => {
  const model = SeedModel.init(engine, ON, 3);
  const optimizer = new AdamW(engine, model.parameterList(), { lr: 1e-2, warmupSteps: 1, totalSteps: EPOCHS, decay: 'cosine', weightDecay: 0.01, clipNorm: 1 });
  const examples = trainExamples(TRAIN_DATA, 2, undefined, 0);
  const dense: number[] = [];
  const firsts: number[] = [];
  for (let epoch = 0; epoch < EPOCHS; epoch++) {
    const pending: Promise<Float32Array>[] = [];
    await trainEpoch(engine, model, optimizer, { data: TRAIN_DATA, examples, rows: examples.rows, batchSize: 16, maxHistory: 3, window: 2, rng: new Rng(epoch), denseWeight: 1 }, {
      terms: (_rows, batch) => {
        if (epoch === 0) for (let b = 0; b < batch.size; b++) firsts.push(batch.targetItems[b * 2]);
        return [undefined, undefined, undefined];
      },
      record: (out) => { pending.push(engine.read(out.dense!)); },
    });
    dense.push((await pending[0])[0]);
  }
  // The best loss that ignores the user: the entropy of the first targets' frequencies.
  const counts = new Map<number, number>();
  for (const item of firsts) counts.set(item, (counts.get(item) ?? 0) + 1);
  const entropy = -[...counts.values()].reduce((s, c) => s + (c / firsts.length) * Math.log(c / firsts.length), 0);
  const curve = dense.map((l) => l.toFixed(3)).join(' → ');
  assert.equal(firsts.length, 10);
  assert.ok(Math.abs(dense[0] - Math.log(6)) < 0.01, `starts at log 6 (near-uniform over 6 items): ${curve}`);
  // SwiftShader: 1.792 → 1.518 at step 24, entropy 1.748; slow for ~12 steps while the BOS state learns to depend on the user.
  assert.ok(dense[EPOCHS - 1] < entropy - 0.1, `dense loss ${curve}, first targets' entropy ${entropy.toFixed(3)}`);
});

test('the default path is unchanged: without the field, with denseHead: false, and the generative logits of a denseHead model', async () => {
  const options = { epochs: 2, batchSize: 16, learningRate: 1e-2, maxExamples: 0, maxSeconds: 0, seed: 3 };
  const runOf = async (config: SeedConfig) => {
    const run = await trainSeedEpochs(engine, config, TRAIN_DATA, options);
    return { loss: run.loss, weights: await run.model.weights() };
  };
  const absent = await runOf({ ...OFF, dropout: 0.1 });
  const off = await runOf({ ...OFF, dropout: 0.1, denseHead: false });
  assert.deepEqual(off.loss, absent.loss);
  for (const name of Object.keys(absent.weights)) assert.deepEqual(off.weights[name], absent.weights[name], name);
  // The head adds parameters after every other one and reads the decoder without changing it: same logits.
  const w = initSeedWeights(ON, 11, 0.3);
  const { 'dense.user.w': _w, 'dense.user.b': _b, ...generative } = w;
  const batch = makeBatch(data, EXAMPLES, 3, 2);
  const logitsOf = async (config: SeedConfig, weights: SeedWeights) => {
    const out = await engine.read(SeedModel.fromWeights(engine, config, weights).batchLogits(batch));
    engine.endStep();
    return out;
  };
  assert.deepEqual(await logitsOf(ON, w), await logitsOf(OFF, generative));
});

test('mixDense: a hand-built case where the dense scores reorder the candidates; λ = 0 is the beam; denseTop ties → lower index', () => {
  const beam = { items: Int32Array.of(3, 1, 4), logProb: Float32Array.of(-1, -1.5, -3) };
  const dense = Float64Array.of(-5, -0.2, -6, -2, -1, -0.5); // log softmax_dense by item (hand-picked)
  // candidates: beam 3 (−1 − 2 = −3), 1 (−1.5 − 0.2 = −1.7), 4 (−3 − 1 = −4); dense top 3 = 1, 5, 4: 5 is dense-only,
  // so it takes the beam's lowest log P, −3: −3 − 0.5 = −3.5. Ranked 1, 3, 5, 4; cut to 3.
  const mixed = mixDense(beam, dense, 1, 3);
  assert.deepEqual([...mixed.items], [1, 3, 5]);
  assert.deepEqual([...mixed.logProb], [-1.7, -3, -3.5].map(Math.fround));
  // With item 5 excluded the dense top 3 are 1, 4, 0: 0 scores −3 − 5 = −8.
  const exclude = Uint8Array.of(0, 0, 0, 0, 0, 1);
  assert.deepEqual([...mixDense(beam, dense, 1, 3, exclude).items], [1, 3, 4]);
  // λ = 2: 1 (−1.9), 3 (−5), 5 (−4), 4 (−5): 3 and 4 tie at −5, the beam's order keeps 3 first.
  assert.deepEqual([...mixDense(beam, dense, 2, 4).items], [1, 5, 3, 4]);
  assert.equal(mixDense(beam, dense, 0, 3), beam);
  assert.deepEqual(denseTop(Float64Array.of(1, 3, 3, 2, 3), 2), [1, 2]);
  assert.deepEqual(denseTop(Float64Array.of(1, 3, 3, 2, 3), 4, Uint8Array.of(0, 1)), [2, 4, 3, 0]);
  assert.deepEqual([...logSoftmax([0, Math.log(3)])].map((x) => Math.exp(x)).map((p) => p.toFixed(6)), ['0.250000', '0.750000']);
});

test('ranking: denseMix 0 (or absent) is today\'s beam ranking exactly; λ > 0 is mixDense of the beam and the dense head', async () => {
  const trie = SemanticIdTrie.build(codes, 2, 5);
  const examples = [{ user: 0, targetStart: 3 }, { user: 2, targetStart: 2 }, { user: 1, targetStart: 1 }];
  const w = initSeedWeights(ON, 7, 0.3);
  const { 'dense.user.w': _w, 'dense.user.b': _b, ...generative } = w;
  const rankings = async (forward: ReferenceForward | SeedModel, denseMix?: number, excludeHistory = true) => {
    const lists: number[][] = [];
    const metrics = await evaluateRanking(forward, data, trie, examples, { beamWidth: 3, usersPerBatch: 2, excludeHistory, ...(denseMix !== undefined && { denseMix }), onResult: (i, r) => { lists[i] = [...r.items]; } });
    return { lists, metrics };
  };
  const today = await rankings(new ReferenceForward(generative, OFF));
  assert.deepEqual(await rankings(new ReferenceForward(w, ON)), today);
  assert.deepEqual(await rankings(new ReferenceForward(w, ON), 0), today);
  const onEngine = SeedModel.fromWeights(engine, ON, w);
  assert.deepEqual((await rankings(onEngine, 0)).lists, today.lists);
  // λ = 1: each user's list is mixDense of its beam list and its dense scores, history excluded from both.
  const cpu = new ReferenceForward(w, ON);
  const mixed = await rankings(cpu, 1);
  assert.notDeepEqual(mixed.lists, today.lists, 'the dense scores change some list (else this test checks nothing)');
  const beams = await (async () => {
    const out: { items: Int32Array; logProb: Float32Array }[] = [];
    await evaluateRanking(cpu, data, trie, examples, { beamWidth: 3, usersPerBatch: 2, excludeHistory: true, onResult: (i, r) => { out[i] = r; } });
    return out;
  })();
  for (const [i, ex] of examples.entries()) {
    const batch = makeBatch(data, [ex], 3, 1);
    const scores = await cpu.denseLogits(await cpu.encode(batch.encoderTokens, 1), 1, codes);
    const exclude = new Uint8Array(6);
    for (const item of data.sequences[ex.user].subarray(0, ex.targetStart)) exclude[item] = 1;
    assert.deepEqual(mixed.lists[i], [...mixDense(beams[i], logSoftmax(scores), 1, 3, exclude).items]);
    for (const item of mixed.lists[i]) assert.equal(exclude[item], 0, `user ${ex.user}: history item ${item} ranked`);
  }
  await assert.rejects(() => rankings(new ReferenceForward(generative, OFF), 1), (e: Error) => e instanceof SeedConfigError && /dense head/.test(e.message));
});
