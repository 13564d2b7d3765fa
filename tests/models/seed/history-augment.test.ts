// --historyDropout: training batches whose encoder input leaves history items out at random, exactly as the draws
// say, with the targets untouched; 0 leaves the batch as it was.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeBatch, trainBatch, trainExamples, type SeedData } from '../../../models/seed/batches.ts';
import { Rng } from '../../../models/random.ts';

const codes = new Uint16Array(Array.from({ length: 10 * 2 }, (_, i) => (i * 7) % 4)); // [10, 2]
// user 0: items 0..8 (9 items), user 1: items 9, 3, 5, 7 (4 items)
const sequences = [Int32Array.from({ length: 9 }, (_, j) => j), Int32Array.from([9, 3, 5, 7])];
const data: SeedData = { itemCount: 10, levels: 2, codebookSize: 4, codes, sequences };

/** An rng that returns the given uniforms in order and fails if asked for more. */
function scripted(values: number[]): { next(): number; used(): number } {
  let i = 0;
  return {
    next: () => {
      assert.ok(i < values.length, 'more draws than the history has items');
      return values[i++];
    },
    used: () => i,
  };
}

test('each history item is dropped when its draw is below p; older items fill the window; targets stay', () => {
  const examples = trainExamples(data, 2); // user 0: targets at 1..5; user 1: none (4 items, window 2, 2 held out)
  const row = Int32Array.from([5]); // user 0, target window [5, 6], history items 0..4
  const rng = scripted([0.9, 0.1, 0.5, 0.29, 0.3]); // p 0.3: items 1 and 3 go (0.1, 0.29 < 0.3), 0.3 stays
  const got = trainBatch(data, examples, row, 3, 2, { dropout: 0.3, rng });
  assert.equal(rng.used(), 5, 'one draw per history item');
  // the expected batch: history [0, 2, 4] (maxHistory 3 keeps all three), targets [5, 6]
  const want = makeBatch({ ...data, sequences: [Int32Array.from([0, 2, 4, 5, 6])] }, [{ user: 0, targetStart: 3 }], 3, 2);
  for (const key of ['encoderTokens', 'historyItems', 'decoderTokens', 'targets', 'targetItems'] as const) assert.deepEqual(got[key], want[key], key);
});

test('a history thinned to nothing keeps its last item', () => {
  const examples = trainExamples(data, 1);
  const row = Int32Array.from([3]); // user 0, target 3, history 0..2
  const got = trainBatch(data, examples, row, 4, 1, { dropout: 0.5, rng: scripted([0, 0.1, 0.2]) });
  const want = makeBatch({ ...data, sequences: [Int32Array.from([2, 3])] }, [{ user: 0, targetStart: 1 }], 4, 1);
  assert.deepEqual(got.encoderTokens, want.encoderTokens);
  assert.deepEqual(got.targetItems, Int32Array.from([3]));
});

test('dropout 0 draws nothing and writes the plain batch; a seeded rng drops about p of the items', () => {
  const examples = trainExamples(data, 1);
  const rows = examples.rows;
  const plain = trainBatch(data, examples, rows, 8, 1);
  const rng = new Rng(3);
  const state = rng.state;
  assert.deepEqual(trainBatch(data, examples, rows, 8, 1, { dropout: 0, rng }), plain);
  assert.equal(rng.state, state);
  // many draws over the same rows: the share of history slots left empty approaches p over the full histories
  let kept = 0, total = 0;
  for (let i = 0; i < 400; i++) {
    const b = trainBatch(data, examples, rows, 8, 1, { dropout: 0.25, rng });
    kept += b.historyItems!.filter((v) => v > 0).length;
    total += plain.historyItems!.filter((v) => v > 0).length;
  }
  // histories here are ≤ 8 items, so the window never clips: an n-item history keeps 0.75 n items on average, plus
  // one when all n are drawn out (probability 0.25^n)
  const lengths = Array.from(plain.historyItems!).reduce((acc, v, i) => (v > 0 && (acc[Math.floor(i / 8)] = (acc[Math.floor(i / 8)] ?? 0) + 1), acc), [] as number[]);
  const expected = lengths.reduce((s, n) => s + 0.75 * n + 0.25 ** n, 0) / lengths.reduce((s, n) => s + n, 0);
  assert.ok(Math.abs(kept / total - expected) < 0.02, `kept ${kept / total}, expected ${expected}`);
});
