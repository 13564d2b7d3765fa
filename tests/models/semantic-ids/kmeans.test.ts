import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '../../../models/random.ts';
import { balancedKMeans, balancedSizes, plainKMeans, squaredDistances } from '../../../models/semantic-ids/kmeans.ts';
import { assignSuffix, residualKMeans, semanticIdStats } from '../../../models/semantic-ids/semantic-ids.ts';
import { SemanticIdTrie } from '../../../runtime/semantic-id-trie.ts';

/** n points in `dim` dims around `blobs` centres of very different sizes (so plain k-means is unbalanced). */
function blobs(n: number, dim: number, seed: number): Float32Array {
  const r = seededRandom(seed);
  const centres = Array.from({ length: 4 }, () => Array.from({ length: dim }, () => r.normal() * 10));
  const x = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const b = i % 10 < 7 ? 0 : i % 10 < 9 ? 1 : i % 20 === 9 ? 2 : 3; // 70 % / 20 % / 5 % / 5 %
    for (let d = 0; d < dim; d++) x[i * dim + d] = centres[b][d] + r.normal();
  }
  return x;
}

test('squaredDistances matches the definition', () => {
  const x = Float32Array.from([0, 0, 3, 4, 1, 1]); // 3 points, dim 2
  const c = Float32Array.from([0, 0, 1, 0]); // 2 centroids
  const d = squaredDistances(x, 3, 2, c, 2);
  assert.deepEqual([...d], [0, 1, 25, 20, 2, 1]);
});

test('balanced sizes: w = ⌊N/K⌋, the first N mod K clusters one more', () => {
  assert.deepEqual([...balancedSizes(10, 4)], [3, 3, 2, 2]);
  assert.deepEqual([...balancedSizes(12, 4)], [3, 3, 3, 3]);
});

test('balanced k-means gives every cluster exactly its size, also when K does not divide N', () => {
  for (const [n, k] of [[203, 8], [256, 16], [100, 7]]) {
    const x = blobs(n, 5, n);
    const result = balancedKMeans(x, n, 5, { clusters: k, maxIterations: 20, seed: 3 });
    const counts = new Array(k).fill(0);
    for (const a of result.assignment) counts[a]++;
    assert.deepEqual(counts, [...balancedSizes(n, k)], `n=${n} k=${k}`);
  }
});

test('balanced k-means on well-separated equal clusters recovers them exactly', () => {
  // 4 tight clusters of 25 points far apart: the balanced partition must be the true one.
  const r = seededRandom(11);
  const n = 100;
  const x = new Float32Array(n * 2);
  const truth = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    truth[i] = i % 4;
    x[i * 2] = (i % 4) * 100 + r.normal() * 0.1;
    x[i * 2 + 1] = r.normal() * 0.1;
  }
  const result = balancedKMeans(x, n, 2, { clusters: 4, maxIterations: 20, seed: 5 });
  assert.ok(result.converged);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) assert.equal(result.assignment[i] === result.assignment[j], truth[i] === truth[j]);
});

test('plain k-means converges on the same blobs and is unbalanced', () => {
  const x = blobs(400, 4, 1);
  const result = plainKMeans(x, 400, 4, { clusters: 8, maxIterations: 50, seed: 2 });
  assert.ok(result.converged);
  const counts = new Array(8).fill(0);
  for (const a of result.assignment) counts[a]++;
  assert.ok(Math.max(...counts) - Math.min(...counts) > 1);
});

test('residual k-means: deterministic under a seed, different under another', () => {
  const x = blobs(300, 6, 4);
  const options = { levels: 2, codebookSize: 8, balanced: true, maxIterations: 10, seed: 9 };
  const a = residualKMeans(x, 300, 6, options);
  const b = residualKMeans(x, 300, 6, options);
  const c = residualKMeans(x, 300, 6, { ...options, seed: 10 });
  assert.deepEqual(a.codes, b.codes);
  assert.notDeepEqual(a.codes, c.codes);
});

test('balanced residual IDs: full usage, buckets within 1, unique after the suffix, trie builds', () => {
  const n = 300;
  const K = 16;
  const x = blobs(n, 6, 7);
  const ids = residualKMeans(x, n, 6, { levels: 3, codebookSize: K, balanced: true, maxIterations: 15, seed: 1 });
  const stats = semanticIdStats(ids, x, n, 6, K);
  assert.deepEqual(stats.code_usage, [1, 1, 1]);
  for (let l = 0; l < 3; l++) assert.ok(stats.bucket_max[l] - stats.bucket_min[l] <= 1, `level ${l}`);
  assert.deepEqual(stats.bucket_min, [18, 18, 18]); // ⌊300/16⌋
  assert.equal(stats.suffix_overflow, 0);
  assert.equal(stats.unique_ids, n);
  assert.equal(stats.levels, 4);
  const trie = SemanticIdTrie.build(ids.codes, 4, K);
  assert.equal(trie.itemCount, n);
  // The residual shrinks the error: quantization error below the data's spread.
  assert.ok(stats.quantization_error_relative < 1);
  const plain = semanticIdStats(residualKMeans(x, n, 6, { levels: 3, codebookSize: K, balanced: false, maxIterations: 30, seed: 1 }), x, n, 6, K);
  assert.ok(plain.bucket_max[0] - plain.bucket_min[0] > 1);
});

test('suffix numbers the items of a bucket in index order and counts overflow', () => {
  const codes = Uint16Array.from([1, 2, 0, 1, 2, 0, 0, 0, 0, 1, 2, 0]); // 4 items, L = 2, suffix column last
  assert.equal(assignSuffix(codes, 4, 2, 4), 0);
  assert.deepEqual([...codes], [1, 2, 0, 1, 2, 1, 0, 0, 0, 1, 2, 2]);
  const crowded = new Uint16Array(5 * 2); // 5 items on one bucket, K = 2
  assert.equal(assignSuffix(crowded, 5, 1, 2), 3);
});
