// Buckets above K: items with identical embeddings share every k-means code, and the suffix has only K slots.
// residualKMeans moves each such bucket's surplus to the nearest last-level code with room (capLastLevel), so
// the IDs stay unique; where no bucket exceeds K, nothing moves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '../../../models/random.ts';
import { capLastLevel, residualKMeans } from '../../../models/semantic-ids/semantic-ids.ts';

/** `n` Gaussian points in `dim` dims, of which items 10 … 10 + copies − 1 are the same point. */
function withCopies(n: number, dim: number, copies: number, seed: number): Float32Array {
  const r = seededRandom(seed);
  const x = Float32Array.from({ length: n * dim }, () => r.normal());
  for (let i = 11; i < 10 + copies; i++) x.copyWithin(i * dim, 10 * dim, 11 * dim);
  return x;
}

function uniqueIds(codes: Uint16Array, items: number, levels: number): number {
  return new Set(Array.from({ length: items }, (_, i) => codes.subarray(i * levels, (i + 1) * levels).join(','))).size;
}

test('plain residual k-means: 20 identical items and K = 8 — the 8 lowest indexes keep their code, 12 move, every ID unique', () => {
  const n = 60;
  const dim = 4;
  const K = 8;
  const L = 2;
  const ids = residualKMeans(withCopies(n, dim, 20, 5), n, dim, { levels: L, codebookSize: K, balanced: false, maxIterations: 50, seed: 1 });
  assert.equal(ids.suffixOverflow, 0);
  assert.equal(uniqueIds(ids.codes, n, L + 1), n);
  const stride = L + 1;
  const first = ids.codes[10 * stride + L - 1];
  const copies = Array.from({ length: 20 }, (_, t) => 10 + t);
  // The copies all sit at the same distance from their centroid, so the 8 lowest indexes stay.
  for (const i of copies.slice(0, K)) assert.equal(ids.codes[i * stride + L - 1], first, `item ${i}`);
  for (const i of copies.slice(K)) assert.notEqual(ids.codes[i * stride + L - 1], first, `item ${i}`);
  assert.ok(ids.capacityMoved >= 12, `moved ${ids.capacityMoved}`);
  // No bucket of L codes holds more than K items.
  const buckets = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const key = ids.codes.subarray(i * stride, i * stride + L).join(',');
    buckets.set(key, (buckets.get(key) ?? 0) + 1);
  }
  assert.ok(Math.max(...buckets.values()) <= K);
});

test('capLastLevel: no bucket above K leaves codes and residual as they are', () => {
  const n = 200;
  const dim = 3;
  const x = withCopies(n, dim, 1, 9);
  const ids = residualKMeans(x, n, dim, { levels: 2, codebookSize: 16, balanced: false, maxIterations: 30, seed: 2 });
  assert.equal(ids.capacityMoved, 0);
  const codes = Uint16Array.from(ids.codes);
  const residual = Float32Array.from(ids.residual);
  assert.equal(capLastLevel(residual, codes, ids.codebooks[1], n, dim, 2, 16), 0);
  assert.deepEqual(codes, ids.codes);
  assert.deepEqual(residual, ids.residual);
});

test('capLastLevel: exact moves on a hand-made bucket (L = 1, K = 2)', () => {
  // Four items on code 0 (the first three at the centroid, the fourth at 0.5), codes 1 free; K = 2 so two must move.
  const centroids = Float32Array.from([0, 0, 1, 0]); // [2, dim 2]
  const points = [[0, 0], [0, 0], [0, 0], [0.5, 0]];
  const residual = Float32Array.from(points.flat()); // code 0's centroid is the origin: residual = point
  const codes = Uint16Array.from([0, 0, 0, 0, 0, 0, 0, 0]); // [4, L + 1]
  assert.equal(capLastLevel(residual, codes, centroids, 4, 2, 1, 2), 2);
  // Items 0 and 1 (nearest, then lower index) stay; 2 and 3 move to code 1, the only one with room.
  assert.deepEqual([...codes], [0, 0, 0, 0, 1, 0, 1, 0]);
  assert.deepEqual([...residual], [0, 0, 0, 0, -1, 0, -0.5, 0]);
});
