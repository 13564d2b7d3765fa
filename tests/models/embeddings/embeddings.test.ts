import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '../../../models/random.ts';
import { pca } from '../../../models/embeddings/pca.ts';
import { alignEmbeddings, cooccurrenceGraph, holdOutLastPairs, itemToItemHitRate } from '../../../models/embeddings/align.ts';
import { featureEmbeddings } from '../../../models/embeddings/features.ts';
import { itemText, textsHash } from '../../../models/embeddings/text-encoder.ts';

test('pca finds the planted directions and the variance they hold', () => {
  // 400 points: variance 100 along e0+e1, 25 along e2, noise 0.01 elsewhere (dim 10)
  const r = seededRandom(1);
  const n = 400;
  const dim = 10;
  const x = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const a = r.normal() * 10;
    const b = r.normal() * 5;
    x[i * dim] = a / Math.SQRT2 + 3;
    x[i * dim + 1] = a / Math.SQRT2;
    x[i * dim + 2] = b;
    for (let d = 3; d < dim; d++) x[i * dim + d] = r.normal() * 0.1;
  }
  const p = pca(x, n, dim, 2, 7);
  const c0 = [p.components[0], p.components[2], p.components[4]]; // column 0, rows 0..2 (k = 2)
  assert.ok(Math.abs(Math.abs(c0[0]) - Math.SQRT1_2) < 0.02 && Math.abs(Math.abs(c0[1]) - Math.SQRT1_2) < 0.02, `first component ${c0}`);
  assert.ok(Math.abs(Math.abs(p.components[5]) - 1) < 0.02, 'second component is e2');
  assert.ok(p.varianceKept > 0.99, `variance kept ${p.varianceKept}`);
  assert.ok(Math.abs(p.mean[0] - 3) < 1.5);
  // deterministic under the seed
  assert.deepEqual(pca(x, n, dim, 2, 7).projected, p.projected);
});

test('co-occurrence graph: window, 1/distance weights, symmetric', () => {
  const g = cooccurrenceGraph([Int32Array.from([0, 1, 2, 3])], 4, 2);
  const edges = (i: number) => [...g.neighbours.subarray(g.offsets[i], g.offsets[i + 1])].map((j, e) => [j, g.weights[g.offsets[i] + e]]);
  assert.deepEqual(edges(0), [[1, 1], [2, 0.5]]);
  assert.deepEqual(edges(1), [[0, 1], [2, 1], [3, 0.5]]);
  assert.deepEqual(edges(3), [[1, 0.5], [2, 1]]);
});

test('alignment pulls co-occurring items together; isolated items keep their content', () => {
  // 6 items with random content; users always consume 0→1 and 2→3; items 4, 5 never co-occur.
  const r = seededRandom(3);
  const dim = 16;
  const content = new Float32Array(6 * dim).map(() => r.normal());
  const sequences = Array.from({ length: 10 }, (_, u) => Int32Array.from(u % 2 ? [0, 1] : [2, 3]));
  const graph = cooccurrenceGraph(sequences, 6, 1);
  const aligned = alignEmbeddings(content, 6, dim, graph, { window: 1, weight: 1, hops: 2 });
  const cos = (x: Float32Array, i: number, j: number) => {
    let s = 0, a = 0, b = 0;
    for (let d = 0; d < dim; d++) { s += x[i * dim + d] * x[j * dim + d]; a += x[i * dim + d] ** 2; b += x[j * dim + d] ** 2; }
    return s / Math.sqrt(a * b);
  };
  assert.ok(cos(aligned, 0, 1) > cos(content, 0, 1) + 0.3);
  assert.ok(cos(aligned, 0, 1) > 0.99);
  for (let d = 0; d < dim; d++) assert.ok(Math.abs(aligned[4 * dim + d] - content[4 * dim + d] / Math.hypot(...content.subarray(4 * dim, 5 * dim))) < 1e-6);
  // The hit-rate metric sees it: item 1 is item 0's nearest neighbour after alignment.
  assert.deepEqual(itemToItemHitRate(aligned, 6, dim, Int32Array.from([0, 2]), Int32Array.from([1, 3]), [1]), [1]);
});

test('holdOutLastPairs removes exactly the held-out transition from the graph input', () => {
  const train = [Int32Array.from([0, 1, 2]), Int32Array.from([3, 4]), Int32Array.from([5, 6, 7, 8])];
  const h = holdOutLastPairs(train, 10, 1);
  assert.deepEqual([...h.queries], [1, 7]);
  assert.deepEqual([...h.answers], [2, 8]);
  assert.deepEqual(h.sequences.map((s) => [...s]), [[0, 1], [3, 4], [5, 6, 7]]);
});

test('feature embeddings: log-standardised numbers, one-hot frequent attributes, balanced blocks', () => {
  const items = [{ id: 'a', attributes: ['t:1', 'rare'] }, { id: 'b', attributes: ['t:1'] }, { id: 'c', attributes: ['t:2'] }];
  const f = featureEmbeddings(items, { names: ['views'], values: Float32Array.from([0, Math.E - 1, Number.NaN]) }, 1);
  assert.deepEqual(f.columns, ['log:views', 'attr:rare', 'attr:t:1', 'attr:t:2']);
  assert.equal(f.embeddings[2 * 4], 0); // missing value → the mean
  assert.ok(f.embeddings[0] < 0 && f.embeddings[4] > 0);
  assert.equal(featureEmbeddings(items, undefined, 2).columns.join(), 'attr:t:1');
});

test('item text and its cache key', () => {
  assert.equal(itemText({ title: 'OPI Red', attributes: ['OPI', 'Unknown', 'Nails'] }), 'OPI Red. OPI. Nails');
  assert.equal(itemText({}), '');
  assert.equal(textsHash(['a', 'b']), textsHash(['a', 'b']));
  assert.notEqual(textsHash(['a', 'b']), textsHash(['ab']));
});
