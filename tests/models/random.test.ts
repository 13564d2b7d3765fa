import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, seededRandom, seededUniform } from '../../models/random.ts';

// Prepared data (PCA, k-means, splits), initial weights and the shipped bundles depend on these exact streams.
test('both seedings give the streams that prepared data and checkpoints were made with', () => {
  const rng = new Rng(7);
  assert.deepEqual([rng.nextU32(), rng.nextU32(), rng.nextU32()], [50271532, 266108690, 4195786334]);
  const data = seededRandom(7);
  assert.deepEqual([data.nextU32(), data.nextU32(), data.nextU32()], [4219351720, 1435059229, 2960320187]);
  const uniform = seededUniform(7);
  assert.deepEqual([uniform(), uniform()], [0.011704753153026104, 0.06195825757458806]);
});

test('a generator continues from its saved state, as a resumed training run does', () => {
  const a = new Rng(123);
  for (let i = 0; i < 10; i++) a.next();
  const b = new Rng(a.state);
  assert.deepEqual([a.normal(), a.int(1000), a.shuffle([0, 1, 2, 3, 4, 5])], [b.normal(), b.int(1000), b.shuffle([0, 1, 2, 3, 4, 5])]);
});

test('int(n) stays in [0, n) and shuffle permutes typed and plain arrays', () => {
  const rng = seededRandom(3);
  for (let i = 0; i < 1000; i++) {
    const k = rng.int(7);
    assert.ok(Number.isInteger(k) && k >= 0 && k < 7);
  }
  const shuffled = rng.shuffle(Int32Array.from({ length: 50 }, (_, i) => i));
  assert.deepEqual([...shuffled].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
  assert.notDeepEqual([...shuffled], Array.from({ length: 50 }, (_, i) => i));
});
