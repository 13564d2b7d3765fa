// `onerec prepare` on a catalog smaller than the codebook: K is adapted to the catalog (a logged note, the
// report keeps the K asked for), so both kinds of residual k-means, balanced included, run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { codebookSizeFor, DEFAULT_PREPARE_CONFIG, prepare } from '../../../models/data/prepare.ts';
import { loadPrepared } from '../../../models/data/prepared.ts';
import { tinyLogs } from './tiny-logs.ts';

test('codebookSizeFor: the largest power of two ≤ the catalog when it is smaller than K; a catalog of one item is refused', () => {
  const notes: string[] = [];
  assert.equal(codebookSizeFor(12_101, 256, (l) => notes.push(l)), 256);
  assert.equal(codebookSizeFor(256, 256, (l) => notes.push(l)), 256);
  assert.equal(notes.length, 0, notes.join('\n'));
  assert.equal(codebookSizeFor(255, 256, (l) => notes.push(l)), 128);
  assert.equal(codebookSizeFor(40, 256, (l) => notes.push(l)), 32);
  assert.equal(codebookSizeFor(2, 256), 2);
  assert.match(notes[1], /the catalog has 40 items, fewer than --codebookSize=256; using K = 32 codes per level/);
  assert.throws(() => codebookSizeFor(1, 256), (e: Error) => e.name === 'PrepareError' && /at least 2 items/.test(e.message));
});

test('prepare: a 40-item catalog with the default codebookSize builds balanced and plain IDs with K = 32', async () => {
  const data = tinyLogs(40, 24);
  const out = mkdtempSync(join(tmpdir(), 'onerec-prepare-small-'));
  try {
    const lines: string[] = [];
    const report = await prepare({ ...DEFAULT_PREPARE_CONFIG, data, out, semanticIds: 'balanced', baseline: true, content: 'features', idDim: 0, evalPairs: 20, maxIterations: 20 }, (l) => lines.push(l));
    assert.ok(lines.some((l) => /using K = 32 codes per level/.test(l)), lines.join('\n'));
    assert.equal(report.codebook_size, 32);
    assert.equal(report.codebook_size_requested, 256);
    assert.equal(report.unique_ids, 40);
    assert.equal((report.baseline as { codebook_size: number }).codebook_size, 32);
    const prepared = loadPrepared(out);
    assert.equal(prepared.codebookSize, 32);
    assert.equal(prepared.items.length, 40);
  } finally {
    rmSync(data, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  }
});
