// onerec baseline's batch stream from the compact windows (one Int32Array of flat positions, shuffled in place) is
// the stream SASRec's trainer made when every window was an object with its own [L] inputs and targets: the same
// windows in the same shuffled order, the same [B, L] rows to the last int, the same RNG state, epoch after epoch.
// The old path is bench/train-batches.ts' reference (its before/after timings build the same two streams). Data: a
// small synthetic log (bench/synthetic-log.ts: heavy-tailed users, so one user gives several windows of L) through
// onerec prepare.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DEFAULT_SYNTHETIC_LOG, writeSyntheticLog } from '../../../bench/synthetic-log.ts';
import { referenceWindows } from '../../../bench/train-batches.ts';
import { baselineData, trainingWindowCount, trainingWindows, windowBatch, type BaselineData } from '../../../models/baseline/train.ts';
import { DEFAULT_PREPARE_CONFIG, prepare } from '../../../models/data/prepare.ts';
import { loadPrepared } from '../../../models/data/prepared.ts';
import { Rng } from '../../../models/random.ts';

let root: string;
let data: BaselineData;
before(async () => {
  root = mkdtempSync(join(tmpdir(), 'onerec-windows-'));
  const logs = join(root, 'log');
  await writeSyntheticLog({ ...DEFAULT_SYNTHETIC_LOG, out: logs, interactions: 2500, items: 200, users: 300, topics: 12, seed: 11 });
  await prepare({ ...DEFAULT_PREPARE_CONFIG, data: logs, out: join(root, 'prepared'), codebookSize: 16, levels: 2, semanticIds: 'balanced', baseline: false, idDim: 0, evalPairs: 20, maxIterations: 10 });
  data = baselineData(loadPrepared(join(root, 'prepared')), 0);
});
after(() => rmSync(root, { recursive: true, force: true }));

test('the epochs\' batch streams equal the old ones: same shuffles, same [B, L] rows, same RNG state', () => {
  const batchSize = 32, epochs = 3, seed = 43;
  const longest = Math.max(...data.train.map((s) => s.length));
  for (const L of [4, 50]) {
    const reference = referenceWindows(data.train, L);
    const windows = trainingWindows(data.train, L);
    assert.equal(windows.ends.length, reference.length);
    assert.equal(trainingWindowCount(data.train, L), reference.length);
    if (L === 4) assert.ok(longest > 2 * L, 'a user with several windows');
    const steps = Math.ceil(reference.length / batchSize);
    const oldRng = new Rng(seed);
    const newRng = new Rng(seed);
    for (let epoch = 0; epoch < epochs; epoch++) {
      // before: a fresh 0 … n − 1 order shuffled each epoch, rows copied from the window objects
      const order = Int32Array.from(reference.keys());
      oldRng.shuffle(order);
      // now: the flat positions refilled in canonical order and shuffled in place (as models/baseline/train.ts does)
      trainingWindows(data.train, L, windows);
      newRng.shuffle(windows.ends);
      assert.equal(newRng.state, oldRng.state);
      for (let s = 0; s < steps; s++) {
        const chunk = order.subarray(s * batchSize, (s + 1) * batchSize);
        const inputs = new Int32Array(chunk.length * L);
        const labels = new Int32Array(chunk.length * L);
        chunk.forEach((w, b) => { inputs.set(reference[w].inputs, b * L); labels.set(reference[w].targets, b * L); });
        const got = windowBatch(data.train, windows, windows.ends.subarray(s * batchSize, (s + 1) * batchSize), L);
        const where = `L ${L}, epoch ${epoch + 1}, step ${s + 1}`;
        assert.deepEqual(got.inputs, inputs, `${where}: inputs`);
        assert.deepEqual(got.targets, labels, `${where}: targets`);
      }
    }
  }
});

test('refilling with another L is refused instead of leaving a stale order', () => {
  const windows = trainingWindows(data.train, 4);
  assert.throws(() => trainingWindows(data.train, 50, windows), RangeError);
});

test('held-out examples carry the whole history (the model reads its last maxLength items; exclusion covers all)', () => {
  const short = baselineData(loadPrepared(join(root, 'prepared')), 4);
  assert.equal(short.maxLength, 4);
  assert.equal(short.test.length, data.test.length);
  let longer = 0;
  short.test.forEach((ex, i) => {
    // test's history is every row before the test target: the user's train rows and its validation row
    assert.deepEqual(ex.history, data.test[i].history, `user ${ex.user}: the same history whatever maxLength`);
    assert.equal(ex.history.length, data.train[ex.user].length + 1, `user ${ex.user}: train rows + the validation row`);
    if (ex.history.length > 4) longer++;
  });
  assert.ok(longer > 0, 'some histories are longer than maxLength');
});

test('a refit\'s data (--trainThrough=validation): each train sequence ends with the user\'s validation item, the history length is the train split\'s', () => {
  const refit = baselineData(loadPrepared(join(root, 'prepared')), 0, 'validation');
  assert.equal(refit.maxLength, data.maxLength);
  const validationOf = new Map(data.validation.map((ex) => [ex.user, ex.targets[0]]));
  let users = 0;
  refit.train.forEach((seq, u) => {
    const target = validationOf.get(u);
    if (target === undefined) return assert.deepEqual(seq, data.train[u], `user ${u} has no validation row`);
    users++;
    assert.deepEqual(Array.from(seq), [...data.train[u], target], `user ${u}: the train items, then the validation item`);
  });
  assert.equal(users, data.validation.length);
  // The test example's history is everything before the test item: exactly a refit's sequence, so no test item is a target.
  for (const ex of refit.test) assert.deepEqual(Array.from(refit.train[ex.user]), Array.from(ex.history), `user ${ex.user}`);
});
