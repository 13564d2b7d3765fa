import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seededRandom } from '../../../models/random.ts';
import { loadPrepared } from '../../../models/data/prepared.ts';
import { readDataset } from '../../../models/data/readers.ts';
import { leaveOneOutSplit, TEST } from '../../../models/data/splits.ts';
import { DEFAULT_PREPARE_CONFIG, prepare } from '../../../models/data/prepare.ts';
import { ALL_RULES } from '../../../models/data/sessions.ts';

/** 40 items in 4 attribute groups; 30 users who each browse inside one group, with play time and likes. */
function tinyDataset(withPlayTime: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), 'onerec-prepared-'));
  const r = seededRandom(5);
  const items = Array.from({ length: 40 }, (_, i) => JSON.stringify({ item: `i${i}`, attributes: [`group:${i % 4}`, `shade:${i % 3}`, `size:${i % 5}`] }));
  writeFileSync(join(dir, 'items.jsonl'), items.join('\n') + '\n');
  const lines = [withPlayTime ? 'user,item,timestamp,play_time_ms,like' : 'user,item,timestamp'];
  for (let u = 0; u < 30; u++) {
    const group = u % 4;
    for (let k = 0; k < 8; k++) {
      const item = group + 4 * r.int(10);
      const t = 1_650_000_000 + u * 10 + k * 60; // one session per user, a minute apart
      lines.push(withPlayTime ? `u${u},i${item},${t},${5000 + r.int(20000)},${k === 3 ? 1 : 0}` : `u${u},i${item},${t}`);
    }
  }
  writeFileSync(join(dir, 'interactions.csv'), lines.join('\n') + '\n');
  return dir;
}

const SMALL = { ...DEFAULT_PREPARE_CONFIG, semanticIds: 'balanced', levels: 2, codebookSize: 8, idDim: 0, maxIterations: 20, evalPairs: 20, content: 'features' }; // balanced: every bucket exactly K/items

test('prepare → loadPrepared round-trips every file, and the figures hold', async () => {
  const data = tinyDataset(true);
  const out = mkdtempSync(join(tmpdir(), 'onerec-out-'));
  const report = await prepare({ ...SMALL, data, out });
  assert.equal(report.items, 40);
  assert.equal(report.levels, 3);
  assert.deepEqual(report.code_usage, [1, 1]);
  // 40 items / K 8: every code holds exactly 5 items, so a bucket never needs a suffix ≥ 5 < K.
  assert.deepEqual(report.bucket_min, [5, 5]);
  assert.deepEqual(report.bucket_max, [5, 5]);
  assert.equal(report.unique_ids, 40);
  for (const key of ['collision_rate', 'quantization_error', 'baseline']) assert.ok(key in report, key);

  const p = loadPrepared(out);
  const ds = await readDataset(data);
  assert.equal(p.items.length, 40);
  assert.deepEqual(p.items[7], ds.items[7]);
  assert.deepEqual(p.users, ds.users);
  assert.deepEqual(p.item, ds.item);
  assert.deepEqual(p.userOffsets, ds.userOffsets);
  assert.deepEqual(p.timeMs, ds.timeMs);
  assert.deepEqual(p.signals.play_time_ms, ds.signals.play_time_ms);
  assert.deepEqual(p.split.rowSplit, leaveOneOutSplit(ds).rowSplit);
  assert.equal(p.split.historyCap, 20);
  assert.equal(p.codes.length, 40 * 3);
  for (let i = 0; i < 40; i++) assert.deepEqual(p.trie.itemCodes(i), p.codes.subarray(i * 3, i * 3 + 3));
  assert.equal(p.embeddings.length, 40 * p.embeddingDim);
  // One gap session per user (rows a minute apart), 8 consumed, ≥ 40 s, one like → all rules.
  assert.equal(p.sessions.kind, 'time-gap');
  assert.equal(p.sessions.user.length, 30);
  assert.ok(p.sessions.flags.every((f) => f === ALL_RULES));
  assert.equal(p.meta.sessions.counts.high_quality, 30);
  // The reward model's sessions: each user's run of 8 cut into chunks of 5 and 3 (rewardSessionLength 5), in row order.
  const reward = p.rewardSessions!;
  assert.equal(reward.kind, 'reward');
  assert.deepEqual(p.meta.rewardSessions?.rules, { gapHours: 24, sessionLength: 5, minItems: 2 });
  assert.deepEqual([...reward.offsets.subarray(0, 5)], [0, 5, 8, 13, 16]);
  assert.deepEqual(reward.rows, Int32Array.from({ length: 240 }, (_, r) => r));
  assert.deepEqual([...reward.user.subarray(0, 4)], [0, 0, 1, 1]);
  assert.equal(p.priorHistory, undefined); // only KuaiRand has pre-period histories
  // Deterministic: a second run writes the same codes.
  const again = mkdtempSync(join(tmpdir(), 'onerec-out-'));
  await prepare({ ...SMALL, data, out: again });
  assert.deepEqual(loadPrepared(again).codes, p.codes);
});

test('data without play time gets window sessions from train rows only', async () => {
  const out = mkdtempSync(join(tmpdir(), 'onerec-out-'));
  await prepare({ ...SMALL, data: tinyDataset(false), out, windowLength: 3, baseline: false });
  const p = loadPrepared(out);
  assert.equal(p.sessions.kind, 'windows');
  assert.equal(p.sessions.user.length, 30 * 4); // 6 train rows per user → 4 windows of 3
  for (const row of p.sessions.rows) assert.notEqual(p.split.rowSplit[row], TEST);
});

test('loadPrepared names the missing or truncated file', async () => {
  const out = mkdtempSync(join(tmpdir(), 'onerec-out-'));
  await prepare({ ...SMALL, data: tinyDataset(true), out, baseline: false, align: false });
  truncateSync(join(out, 'rows-item.i32'), 8);
  assert.throws(() => loadPrepared(out), (e: Error) => e.name === 'PreparedDataError' && /rows-item\.i32: 8 bytes/.test(e.message));
  assert.throws(() => loadPrepared(join(out, 'nowhere')), /prepared\.json is missing; run `onerec prepare/);
});

test('--semanticIds=plain: the plain k-means IDs become the IDs and balanced becomes the baseline, figure for figure', async () => {
  const data = tinyDataset(true);
  const balancedOut = mkdtempSync(join(tmpdir(), 'onerec-out-'));
  const plainOut = mkdtempSync(join(tmpdir(), 'onerec-out-'));
  const balanced = await prepare({ ...SMALL, data, out: balancedOut });
  const plain = await prepare({ ...SMALL, data, out: plainOut, semanticIds: 'plain' });
  assert.equal(balanced.semantic_ids_kind, 'balanced');
  assert.equal(plain.semantic_ids_kind, 'plain');
  const figures = ['unique_ids', 'code_usage', 'bucket_min', 'bucket_max', 'collision_rate', 'quantization_error'];
  const b = balanced.baseline as Record<string, unknown>;
  const p = plain.baseline as Record<string, unknown>;
  assert.equal(b.kind, 'plain');
  assert.equal(p.kind, 'balanced');
  for (const key of figures) {
    assert.deepEqual(plain[key], b[key], `plain run's ${key} = balanced run's baseline ${key}`);
    assert.deepEqual(p[key], balanced[key], `plain run's baseline ${key} = balanced run's ${key}`);
  }
  assert.equal(plain.unique_ids, 40);
  const codesB = loadPrepared(balancedOut).codes;
  const codesP = loadPrepared(plainOut).codes;
  assert.notDeepEqual(Array.from(codesP), Array.from(codesB), 'different IDs');
  await assert.rejects(prepare({ ...SMALL, data, out: plainOut, semanticIds: 'lloyd' }), /--semanticIds=lloyd/);
});
