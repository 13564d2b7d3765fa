// `onerec prepare --collaborative=CKPT`: a baseline's item embeddings decide the semantic IDs (alone or
// joined to the content embedding), and a checkpoint of another model or another catalog is refused.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_PREPARE_CONFIG, prepare } from '../../../models/data/prepare.ts';
import { loadPrepared } from '../../../models/data/prepared.ts';
import { seededRandom } from '../../../models/random.ts';
import { writeCheckpoint } from '../../../models/engine/checkpoint.ts';
import { joinEmbeddings } from '../../../models/embeddings/collaborative.ts';

const ITEMS = 40;

/** 40 items with attributes that say nothing of the clusters below; 30 users of 8 random items each. */
function dataset(): string {
  const dir = mkdtempSync(join(tmpdir(), 'onerec-cf-data-'));
  const r = seededRandom(3);
  writeFileSync(join(dir, 'items.jsonl'), Array.from({ length: ITEMS }, (_, i) => JSON.stringify({ item: `i${i}`, attributes: [`size:${i % 5}`] })).join('\n') + '\n');
  const lines = ['user,item,timestamp'];
  for (let u = 0; u < 30; u++) for (let k = 0; k < 8; k++) lines.push(`u${u},i${r.int(ITEMS)},${1_650_000_000 + u * 1000 + k * 60}`);
  writeFileSync(join(dir, 'interactions.csv'), lines.join('\n') + '\n');
  return dir;
}

/** A SASRec checkpoint whose item i sits near axis i % 4 of a 4-d space (row 0 = padding). */
function checkpoint(items: number, kind = 'sasrec'): string {
  const r = seededRandom(9);
  const data = new Float32Array((items + 1) * 4);
  for (let i = 0; i < items; i++) {
    for (let j = 0; j < 4; j++) data[(i + 1) * 4 + j] = 0.05 * r.normal();
    data[(i + 1) * 4 + (i % 4)] += 1;
  }
  const path = join(mkdtempSync(join(tmpdir(), 'onerec-cf-ckpt-')), 'best.ckpt');
  writeCheckpoint(path, { kind, config: {}, step: 0, rng: {} }, { item_emb: { shape: [items + 1, 4], data } });
  return path;
}

// 3 levels of K = 4: the first level has as many codes as there are clusters, the others split each cluster's 10
const SMALL = { ...DEFAULT_PREPARE_CONFIG, levels: 3, codebookSize: 4, idDim: 0, maxIterations: 30, evalPairs: 10, content: 'features', baseline: false, align: false };

test('the baseline\'s embeddings alone (weight 1): the first code is the embedding\'s cluster', async () => {
  const out = mkdtempSync(join(tmpdir(), 'onerec-cf-out-'));
  const report = await prepare({ ...SMALL, data: dataset(), out, collaborative: checkpoint(ITEMS), collaborativeWeight: 1 });
  assert.deepEqual((report.embeddings as { content: { kind: string } }).content.kind, 'none');
  const { codes, levels } = loadPrepared(out);
  for (let i = 0; i < ITEMS; i++) {
    for (let j = 0; j < ITEMS; j++) {
      assert.equal(codes[i * levels] === codes[j * levels], i % 4 === j % 4, `items ${i} and ${j}`);
    }
  }
});

test('joined to the content: squared distances mix as (1 − w)·content + w·collaborative', () => {
  const r = seededRandom(4);
  const n = 5, da = 3, db = 2, w = 0.3;
  const unit = (d: number) => {
    const v = Float32Array.from({ length: n * d }, () => r.normal());
    for (let i = 0; i < n; i++) {
      const norm = Math.hypot(...v.subarray(i * d, (i + 1) * d));
      for (let j = 0; j < d; j++) v[i * d + j] /= norm;
    }
    return v;
  };
  const a = unit(da), b = unit(db);
  const joined = joinEmbeddings(a, da, b, db, n, w);
  const d2 = (x: Float32Array, d: number, i: number, j: number) => x.subarray(i * d, (i + 1) * d).reduce((s, v, k) => s + (v - x[j * d + k]) ** 2, 0);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    assert.ok(Math.abs(d2(joined, da + db, i, j) - ((1 - w) * d2(a, da, i, j) + w * d2(b, db, i, j))) < 1e-5);
  }
  assert.throws(() => joinEmbeddings(a, da, b, db, n, 1.5), { name: 'CollaborativeEmbeddingError' });
});

test('another model\'s checkpoint or another catalog\'s is refused before any work', async () => {
  const out = mkdtempSync(join(tmpdir(), 'onerec-cf-out-'));
  await assert.rejects(prepare({ ...SMALL, data: dataset(), out, collaborative: checkpoint(ITEMS + 1) }), { name: 'CollaborativeEmbeddingError', message: /41 items, this dataset 40/ });
  await assert.rejects(prepare({ ...SMALL, data: dataset(), out, collaborative: checkpoint(ITEMS, 'seed') }), { name: 'CollaborativeEmbeddingError', message: /'seed' checkpoint/ });
  await assert.rejects(prepare({ ...SMALL, data: dataset(), out, collaborative: join(out, 'missing.ckpt') }), { name: 'CollaborativeEmbeddingError' });
});
