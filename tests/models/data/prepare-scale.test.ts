// `onerec prepare`'s behaviour where the catalog grows (bench/README.md, "Scale: prepare on a synthetic log").
//
// With its default flags on a catalog where 300 items have the same embedding: each is seen once in
// train, right before the same popular item, so its only co-occurrence neighbour is that item; its PPMI row, its
// eigenvector row and its smoothed embedding then have the same direction as the 299 others'. No k-means level can
// separate them, and one bucket of 300 items is more than the suffix's K = 256 slots: the surplus moves to other
// last-level codes (models/semantic-ids/semantic-ids.ts capLastLevel), so every item still gets a unique ID.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_PREPARE_CONFIG, prepare } from '../../../models/data/prepare.ts';
import { loadPrepared } from '../../../models/data/prepared.ts';

const COLD = 300; // items c0 … c299, each with the hub as its only train neighbour
const OTHERS = 20; // items o0 … o19, the validation and test items

function hubLog(): string {
  const dir = mkdtempSync(join(tmpdir(), 'onerec-duplicates-'));
  writeFileSync(join(dir, 'items.jsonl'), [...Array.from({ length: COLD }, (_, i) => `c${i}`), 'hub', ...Array.from({ length: OTHERS }, (_, i) => `o${i}`)].map((id) => JSON.stringify({ item: id })).join('\n') + '\n');
  const rows = ['user,item,timestamp'];
  for (let u = 0; u < COLD; u++) {
    const t = 1_700_000_000 + u * 1000;
    // train: c_u, hub; validation: o_(u mod 20); test: o_(u+1 mod 20) (leave-one-out)
    rows.push(`u${u},c${u},${t}`, `u${u},hub,${t + 60}`, `u${u},o${u % OTHERS},${t + 120}`, `u${u},o${(u + 1) % OTHERS},${t + 180}`);
  }
  writeFileSync(join(dir, 'interactions.csv'), rows.join('\n') + '\n');
  return dir;
}

test('prepare, default flags: 300 items with one embedding still get 300 unique semantic IDs', async () => {
  const data = hubLog();
  const out = mkdtempSync(join(tmpdir(), 'onerec-duplicates-out-'));
  try {
    const report = await prepare({ ...DEFAULT_PREPARE_CONFIG, data, out });
    const items = COLD + 1 + OTHERS;
    assert.equal(report.items, items);
    assert.equal(report.codebook_size, 256);
    assert.equal((report.embeddings as { content: { kind: string } }).content.kind, 'cooccurrence');
    const prepared = loadPrepared(out);
    const dim = prepared.embeddings.length / items;
    // The 300 cold items' embeddings are one vector (to float32 rounding).
    for (let i = 1; i < COLD; i++) {
      for (let d = 0; d < dim; d++) assert.ok(Math.abs(prepared.embeddings[i * dim + d] - prepared.embeddings[d]) < 1e-6, `item ${i}, dim ${d}`);
    }
    const stride = prepared.levels;
    const ids = new Set(Array.from({ length: items }, (_, i) => prepared.codes.subarray(i * stride, (i + 1) * stride).join(',')));
    assert.equal(ids.size, items);
    assert.equal(report.unique_ids, items);
    assert.equal(report.suffix_overflow, 0);
    // k-means puts the hub in the cold items' bucket too: 301 items, 45 of them past K.
    assert.equal(report.capacity_moved, COLD + 1 - 256);
    assert.equal(report.max_suffix, 255);
  } finally {
    rmSync(data, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  }
});

test('prepare: above --baselineMaxItems the baseline is skipped and said so; above --evalCandidates the hit rate ranks among a sample', async () => {
  const data = hubLog();
  const out = mkdtempSync(join(tmpdir(), 'onerec-duplicates-out-'));
  try {
    const lines: string[] = [];
    const report = await prepare({ ...DEFAULT_PREPARE_CONFIG, data, out, baselineMaxItems: 320, evalCandidates: 100 }, (l) => lines.push(l));
    assert.equal(report.baseline, null);
    assert.equal(report.baseline_skipped, 'not run: 321 items > --baselineMaxItems=320 (balanced k-means scans [items, K] and selects serially every pass)');
    assert.ok(lines.includes(`baseline: ${report.baseline_skipped}`), lines.join('\n'));
    assert.equal(report.unique_ids, 321);
    const alignment = (report.embeddings as { alignment: { hit_rate_candidates: number } }).alignment;
    assert.equal(alignment.hit_rate_candidates, 100);
    assert.ok(!('balanced k-means' in (report.timing_s as Record<string, number>)));
  } finally {
    rmSync(data, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  }
});

test('prepare: a catalog within both bounds runs the baseline and ranks among every item', async () => {
  const data = hubLog();
  const out = mkdtempSync(join(tmpdir(), 'onerec-duplicates-out-'));
  try {
    const report = await prepare({ ...DEFAULT_PREPARE_CONFIG, data, out, baselineMaxItems: 321, evalCandidates: 321 });
    assert.equal((report.baseline as { kind: string; unique_ids: number }).kind, 'balanced');
    assert.equal((report.baseline as { unique_ids: number }).unique_ids, 321);
    assert.ok(!('baseline_skipped' in report));
    assert.equal((report.embeddings as { alignment: { hit_rate_candidates: number } }).alignment.hit_rate_candidates, 321);
  } finally {
    rmSync(data, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  }
});
