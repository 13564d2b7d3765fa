// Co-occurrence (PPMI) eigenvector embeddings for catalogs without content: items that users take together end
// up close, communities that never meet end up apart, items without neighbours get their own directions, and
// `onerec prepare` picks them by itself for a catalog with neither text nor attributes.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_PREPARE_CONFIG, prepare } from '../../../models/data/prepare.ts';
import { cooccurrenceGraph } from '../../../models/embeddings/align.ts';
import { ppmiWeights, spectralEmbeddings } from '../../../models/embeddings/spectral.ts';
import { seededRandom } from '../../../models/random.ts';

/** 60 users; user u browses only community u % 3 (items c, c + 3, c + 6, … < 30); items 30 and 31 are never seen. */
function sequences(): Int32Array[] {
  const r = seededRandom(8);
  return Array.from({ length: 60 }, (_, u) => Int32Array.from({ length: 8 }, () => (u % 3) + 3 * r.int(10)));
}

const cos = (x: Float32Array, d: number, i: number, j: number) => {
  let s = 0;
  for (let k = 0; k < d; k++) s += x[i * d + k] * x[j * d + k];
  return s;
};

test('PPMI eigenvectors: one community\'s items closer to each other than to any other community\'s; unseen items apart', () => {
  const items = 32, dim = 8;
  const graph = cooccurrenceGraph(sequences(), items, 3);
  const e = spectralEmbeddings(graph, items, dim, 5);
  for (let i = 0; i < 30; i++) {
    let worstInside = 1, bestAcross = -1;
    for (let j = 0; j < 30; j++) {
      if (j === i) continue;
      if (j % 3 === i % 3) worstInside = Math.min(worstInside, cos(e, dim, i, j));
      else bestAcross = Math.max(bestAcross, cos(e, dim, i, j));
    }
    assert.ok(worstInside > bestAcross, `item ${i}: inside ${worstInside.toFixed(3)} ≤ across ${bestAcross.toFixed(3)}`);
  }
  for (let i = 0; i < items; i++) assert.ok(Math.abs(cos(e, dim, i, i) - 1) < 1e-5, `row ${i} has unit length`);
  assert.ok(Math.abs(cos(e, dim, 30, 31)) < 0.99, 'the two unseen items do not share a direction');
  assert.deepEqual(spectralEmbeddings(graph, items, dim, 5), e, 'seeded: the same embeddings again');
});

test('PPMI: log(w·W / (w_i·w_j)), clipped at 0', () => {
  // A path 0 – 1 – 2 with weights 1 and 3: W = 2·(1 + 3) = 8, degrees 1, 4, 3.
  const graph = { offsets: Int32Array.from([0, 1, 3, 4]), neighbours: Int32Array.from([1, 0, 2, 1]), weights: Float32Array.from([1, 1, 3, 3]) };
  const w = ppmiWeights(graph, 3);
  const expected = [Math.log((1 * 8) / (1 * 4)), Math.log((1 * 8) / (4 * 1)), Math.max(0, Math.log((3 * 8) / (4 * 3))), Math.max(0, Math.log((3 * 8) / (3 * 4)))];
  w.forEach((v, k) => assert.ok(Math.abs(v - expected[k]) < 1e-12, `edge ${k}: ${v} vs ${expected[k]}`));
});

test('onerec prepare: a catalog with neither text nor attributes gets co-occurrence embeddings by itself', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'onerec-cooc-'));
  const lines = ['user,item,timestamp'];
  const r = seededRandom(2); // users who roam the whole catalog: no community is so tight that k-means cannot split it
  for (let u = 0; u < 60; u++) for (let k = 0; k < 8; k++) lines.push(`u${u},i${r.int(30)},${1_650_000_000 + u * 1000 + k * 60}`);
  writeFileSync(join(dir, 'interactions.csv'), lines.join('\n') + '\n');
  const report = await prepare({ ...DEFAULT_PREPARE_CONFIG, data: dir, out: join(dir, 'out'), levels: 3, codebookSize: 4, idDim: 0, maxIterations: 20, evalPairs: 10, baseline: false, randomDim: 8 });
  assert.equal((report.embeddings as { content: { kind: string } }).content.kind, 'cooccurrence');
});
