// The alignment check's sampled hit rate (models/embeddings/align.ts): ranking among every item as candidates is
// the full scan, to the bit; a sample is seeded, distinct and sorted; a hand-made case counts exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '../../../models/random.ts';
import { itemToItemHitRate, sampleCandidates } from '../../../models/embeddings/align.ts';

test('itemToItemHitRate: every item as candidates gives the full scan\'s figures', () => {
  const items = 500;
  const dim = 8;
  const r = seededRandom(3);
  const x = Float32Array.from({ length: items * dim }, () => r.normal());
  const queries = Int32Array.from({ length: 60 }, (_, q) => q * 7);
  const answers = Int32Array.from({ length: 60 }, (_, q) => (q * 13 + 1) % items);
  const full = itemToItemHitRate(x, items, dim, queries, answers, [10, 50, 200]);
  const all = Int32Array.from({ length: items }, (_, i) => i);
  assert.deepEqual(itemToItemHitRate(x, items, dim, queries, answers, [10, 50, 200], undefined, all), full);
});

test('sampleCandidates: seeded, distinct, sorted, of the size asked', () => {
  const a = sampleCandidates(1000, 100, 9);
  assert.equal(a.length, 100);
  assert.equal(new Set(a).size, 100);
  assert.deepEqual(a, sampleCandidates(1000, 100, 9));
  assert.notDeepEqual(a, sampleCandidates(1000, 100, 10));
  for (let i = 1; i < a.length; i++) assert.ok(a[i - 1] < a[i]);
});

test('itemToItemHitRate with candidates: the answer ranked among those items only', () => {
  // 1-D directions: item 0 the query at angle 0, item 1 the answer at 0.3 rad, items 2..5 at 0.1, 0.2, 0.4, 0.5.
  const angles = [0, 0.3, 0.1, 0.2, 0.4, 0.5];
  const x = Float32Array.from(angles.flatMap((a) => [Math.cos(a), Math.sin(a)]));
  const q = Int32Array.from([0]);
  const a = Int32Array.from([1]);
  assert.deepEqual(itemToItemHitRate(x, 6, 2, q, a, [1, 2, 3]), [0, 0, 1]); // 2 and 3 beat it
  assert.deepEqual(itemToItemHitRate(x, 6, 2, q, a, [1, 2, 3], undefined, Int32Array.from([0, 1, 3, 4, 5])), [0, 1, 1]); // only 3
  assert.deepEqual(itemToItemHitRate(x, 6, 2, q, a, [1], undefined, Int32Array.from([4, 5])), [1]);
});
