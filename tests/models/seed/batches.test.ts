// onerec train's batch stream from the compact examples (one Int32Array of flat rows, shuffled in place) is the
// stream the trainer made when every example was a { user, targetStart } object: the same examples in the same
// shuffled order, the same tensors to the last int, the same RNG draws, epoch after epoch. The old path is
// bench/train-batches.ts' reference (its before/after timings build the same two streams). Data: a small synthetic
// log (bench/synthetic-log.ts: Zipf items, heavy-tailed users, so some users have 3 items and no training example and
// others more than maxHistory) through onerec prepare.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DEFAULT_SYNTHETIC_LOG, writeSyntheticLog } from '../../../bench/synthetic-log.ts';
import { referenceBatch, referenceExamples } from '../../../bench/train-batches.ts';
import { DEFAULT_PREPARE_CONFIG, prepare } from '../../../models/data/prepare.ts';
import { loadPrepared, type PreparedData } from '../../../models/data/prepared.ts';
import { Rng } from '../../../models/random.ts';
import { batchExamples, historyNegatives, makeBatch, seedDataFromPrepared, trainBatch, trainExamples, type Batch, type Example, type SeedData } from '../../../models/seed/batches.ts';

function assertSameBatch(got: Batch, want: Batch, where: string): void {
  assert.equal(got.size, want.size, where);
  for (const key of ['encoderTokens', 'decoderTokens', 'targets', 'targetItems'] as const) assert.deepEqual(got[key], want[key], `${where}: ${key}`);
}

let root: string;
let prepared: PreparedData;
let data: SeedData;
before(async () => {
  root = mkdtempSync(join(tmpdir(), 'onerec-batches-'));
  const logs = join(root, 'log');
  await writeSyntheticLog({ ...DEFAULT_SYNTHETIC_LOG, out: logs, interactions: 2500, items: 200, users: 300, topics: 12, seed: 11 });
  await prepare({ ...DEFAULT_PREPARE_CONFIG, data: logs, out: join(root, 'prepared'), codebookSize: 16, levels: 2, semanticIds: 'balanced', baseline: false, idDim: 0, evalPairs: 20, maxIterations: 10 });
  prepared = loadPrepared(join(root, 'prepared'));
  data = seedDataFromPrepared(prepared);
});
after(() => rmSync(root, { recursive: true, force: true }));

test('the fixture has users too short for an example and users longer than the history', () => {
  const lengths = data.sequences.map((s) => s.length);
  assert.ok(lengths.some((n) => n <= 3), 'a user with no training example');
  assert.ok(lengths.some((n) => n > 12), 'a user past maxHistory');
});

test('the examples are the prepared rows of the old examples\' targets, in their order', () => {
  for (const window of [1, 2, 3]) {
    const examples = trainExamples(data, window);
    const reference = referenceExamples(data, window);
    assert.deepEqual(examples.userOffsets, prepared.userOffsets, 'the flat rows are rows-item.i32\'s');
    assert.equal(examples.item.buffer, prepared.item.buffer, 'rows-item.i32 itself, not a copy');
    assert.equal(examples.item.byteOffset, prepared.item.byteOffset);
    assert.equal(examples.rows.length, reference.length);
    assert.deepEqual(batchExamples(examples, examples.rows), reference, `window ${window}`);
    reference.forEach((ex, i) => assert.equal(prepared.item[examples.rows[i]], data.sequences[ex.user][ex.targetStart]));
  }
});

test('the epochs\' batch streams equal the old ones: same shuffles, same tensors, same RNG draws (unlikelihood negatives included)', () => {
  const maxHistory = 12, batchSize = 64, epochs = 3, seed = 42;
  for (const window of [1, 2]) {
    const reference = referenceExamples(data, window);
    const examples = trainExamples(data, window);
    const steps = Math.ceil(reference.length / batchSize);
    const oldRng = new Rng(seed);
    const newRng = new Rng(seed);
    for (let epoch = 0; epoch < epochs; epoch++) {
      // before: a fresh 0 … n − 1 order shuffled each epoch, batches of objects
      const order = Int32Array.from(reference.keys());
      oldRng.shuffle(order);
      // now: the rows refilled in canonical order and shuffled in place (as models/seed/train.ts does)
      trainExamples(data, window, examples);
      newRng.shuffle(examples.rows);
      for (let s = 0; s < steps; s++) {
        const where = `window ${window}, epoch ${epoch + 1}, step ${s + 1}`;
        const chunk = Array.from(order.subarray(s * batchSize, (s + 1) * batchSize), (i) => reference[i]);
        const rows = examples.rows.subarray(s * batchSize, (s + 1) * batchSize);
        assertSameBatch(trainBatch(data, examples, rows, maxHistory, window), referenceBatch(data, chunk, maxHistory, window), where);
        assert.deepEqual(batchExamples(examples, rows), chunk, where);
        // The unlikelihood term draws from the same RNG between shuffles; it must see the same examples.
        const oldNegatives = historyNegatives(data, chunk, maxHistory, window, 2, oldRng);
        const newNegatives = historyNegatives(data, batchExamples(examples, rows), maxHistory, window, 2, newRng);
        assert.deepEqual(newNegatives, oldNegatives, where);
        assert.equal(newRng.state, oldRng.state, where);
      }
    }
  }
});

test('heldOut 0 (onerec align\'s training-period sequences): every window of every sequence, history ≥ 1 item, in order', () => {
  for (const window of [1, 3]) {
    const examples = trainExamples(data, window, undefined, 0);
    const want: Example[] = [];
    data.sequences.forEach((seq, user) => {
      for (let t = 1; t + window <= seq.length; t++) want.push({ user, targetStart: t });
    });
    assert.deepEqual(batchExamples(examples, examples.rows), want, `window ${window}`);
    assert.ok(want.some((ex) => ex.targetStart + window === data.sequences[ex.user].length), 'windows reach the last item');
  }
});

test('makeBatch (evaluation\'s objects) writes the tensors it wrote before, for histories short, empty and past maxHistory', () => {
  const examples: Example[] = data.sequences.flatMap((seq, user) => [0, 1, Math.floor(seq.length / 2), seq.length - 1]
    .filter((t, i, all) => t < seq.length && all.indexOf(t) === i).map((targetStart) => ({ user, targetStart })));
  for (const maxHistory of [1, 3, 20]) assertSameBatch(makeBatch(data, examples, maxHistory, 1), referenceBatch(data, examples, maxHistory, 1), `maxHistory ${maxHistory}`);
});

test('refilling with another window is refused instead of leaving a stale order', () => {
  const examples = trainExamples(data, 1);
  assert.throws(() => trainExamples(data, 2, examples), RangeError);
});
