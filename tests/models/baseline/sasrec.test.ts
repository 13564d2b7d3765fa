// The SASRec baseline on the engine (SwiftShader): its training windows cover every transition once, its
// rank kernel follows the ties-by-index rule exactly, and a tiny model learns a deterministic catalog walk
// until every held-out item ranks first; a resumed run continues where the first stopped.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Engine } from '../../../models/engine/engine.ts';
import { readCheckpoint } from '../../../models/engine/checkpoint.ts';
import { Rng } from '../../../models/random.ts';
import { SasrecModel, targetRanks, type SasrecConfig } from '../../../models/baseline/sasrec.ts';
import { autoMaxLength, DEFAULT_BASELINE_TRAIN, evaluateSasrec, heldOutBatch, trainingWindows, trainSasrec, windowBatch, type BaselineData } from '../../../models/baseline/train.ts';

let engine: Engine;
let dir: string;
before(async () => {
  engine = await Engine.create({ quiet: true });
  dir = mkdtempSync(join(tmpdir(), 'sasrec-'));
});
after(() => {
  engine?.device.destroy();
  rmSync(dir, { recursive: true, force: true });
});

test('training windows: every transition exactly once, cut from the end, left-padded, items shifted by one', () => {
  const train = [Int32Array.from([5, 6, 7, 8, 9, 10]), Int32Array.from([3]), Int32Array.from([1, 2])];
  const windows = trainingWindows(train, 3);
  assert.deepEqual(Array.from(windows.offsets), [0, 6, 7, 9]);
  assert.deepEqual(Array.from(windows.ends), [5, 2, 8], 'flat position of each window\'s last target');
  const rows = windowBatch(train, windows, windows.ends, 3);
  assert.deepEqual([0, 1, 2].map((b) => [Array.from(rows.inputs.subarray(b * 3, b * 3 + 3)), Array.from(rows.targets.subarray(b * 3, b * 3 + 3))]), [
    [[8, 9, 10], [9, 10, 11]], // 7→8, 8→9, 9→10 as index + 1
    [[0, 6, 7], [0, 7, 8]], // 5→6, 6→7
    [[0, 0, 2], [0, 0, 3]], // the one-item user has no target; 1→2
  ]);
  const { histories, targets } = heldOutBatch([{ user: 0, history: Int32Array.from([4, 5, 6, 7]), targets: Int32Array.from([9]) }, { user: 1, history: Int32Array.from([2]), targets: Int32Array.from([3, 4]) }], 3);
  assert.deepEqual(Array.from(histories), [6, 7, 8, 0, 0, 3]);
  assert.deepEqual(Array.from(targets), [10, 4]);
});

test('history length from the data: the 80th percentile, within [50, 200]', () => {
  const seqs = (n: number, len: number) => Array.from({ length: n }, () => new Int32Array(len));
  assert.equal(autoMaxLength(seqs(10, 8)), 50);
  assert.equal(autoMaxLength([...seqs(7, 10), ...seqs(3, 137)]), 140);
  assert.equal(autoMaxLength(seqs(5, 900)), 200);
});

test('rank kernel: items scoring higher plus equal ones with a lower index, column 0 (padding) ignored', async () => {
  const rng = new Rng(5);
  const rows = 37, V = 300;
  const scores = new Float32Array(rows * V).map(() => Math.round(rng.normal() * 4) / 4); // many ties
  const targets = Int32Array.from({ length: rows }, () => 1 + Math.floor(rng.next() * (V - 1)));
  const got = await engine.read(targetRanks(engine.upload(scores, [rows, V]), engine.upload(targets, [rows])));
  engine.endStep();
  for (let r = 0; r < rows; r++) {
    const t = targets[r], st = scores[r * V + t];
    let expected = 0;
    for (let c = 1; c < V; c++) if (scores[r * V + c] > st || (scores[r * V + c] === st && c < t)) expected++;
    assert.equal(got[r], expected, `row ${r}`);
  }
});

test('history excluded: the user\'s items (whole history, not only the window) drop behind every other item before ranking', async () => {
  const config: SasrecConfig = { items: 7, dModel: 8, heads: 2, blocks: 1, ffnDim: 16, maxLength: 3, dropout: 0 };
  const model = SasrecModel.init(engine, config, 4);
  // user 0 read 5 items (the window sees the last 3), user 1 read its own target once before
  const examples = [
    { user: 0, history: Int32Array.from([0, 1, 2, 3, 4]), targets: Int32Array.from([5]) },
    { user: 1, history: Int32Array.from([6, 2]), targets: Int32Array.from([6]) },
  ];
  const { histories, targets } = heldOutBatch(examples, 3);
  const scores = await engine.read(model.scores(histories, 2));
  engine.endStep();
  const hostRanks = (exclude: boolean) => examples.map((ex, b) => {
    const s = Array.from(scores.subarray(b * 8, b * 8 + 8), (v, c) => (exclude && c > 0 && ex.history.includes(c - 1) ? -Infinity : v));
    const t = targets[b];
    let rank = 0;
    for (let c = 1; c < 8; c++) if (c !== t && (s[c] > s[t] || (s[c] === s[t] && c < t))) rank++;
    return rank;
  });
  const expected = hostRanks(true);
  assert.equal(expected[1], 6, 'a target from the history ranks last');
  const ranks: number[] = [];
  await evaluateSasrec(model, examples, { excludeHistory: true, onRank: (_, r) => ranks.push(r) });
  assert.deepEqual(ranks, expected);
  const plain: number[] = [];
  await evaluateSasrec(model, examples, { onRank: (_, r) => plain.push(r) });
  assert.deepEqual(plain, hostRanks(false), 'without exclusion the scores rank as they are');
});

/**
 * 10 items; user u walks u → u+1 → … (mod 10) for `length` items, so the next item is a function of the last one. The
 * train sequences leave out the last `heldOut` items (2: validation and test; 1: a refit's, test only).
 */
function catalogWalk(length: number, heldOut: number): { data: BaselineData; config: SasrecConfig } {
  const items = 10;
  const seqs = Array.from({ length: 10 }, (_, u) => Int32Array.from({ length }, (_, j) => (u + j) % items));
  const held = (back: number) => seqs.map((s, user) => ({ user, history: s.slice(0, s.length - back), targets: Int32Array.from([s[s.length - back]]) }));
  return {
    data: { items, maxLength: 4, train: seqs.map((s) => s.slice(0, s.length - heldOut)), validation: held(2), test: held(1) },
    config: { items, dModel: 16, heads: 2, blocks: 1, ffnDim: 32, maxLength: 4, dropout: 0 },
  };
}

test('learns a catalog walk: every validation and test item ranked first; resume continues the run', async () => {
  const { data, config } = catalogWalk(7, 2);
  // Validation at the end of each run (epochs 20 and 40), not every epoch: 38 fewer passes over the held-out users.
  const train = { ...DEFAULT_BASELINE_TRAIN, out: dir, lr: 1e-2, batchSize: 4, warmupSteps: 5, epochs: 40, evalEvery: 20, patience: 1000, seed: 3 };
  const held = engine.stats.persistentBytes;
  const first = await trainSasrec(engine, data, config, { ...train, epochs: 20 }, { quiet: true, log: () => {} });
  assert.equal(first.history.length, 20);
  // What a run leaves on the GPU is the returned model's parameters, in AdamW's packed buffer (each tensor padded to
  // 64 floats, the buffer to 256 bytes): the running sum, the gradients and the moments are freed.
  const packed = Math.ceil((first.model.parameterList().reduce((n, t) => n + Math.ceil(t.size / 64) * 64, 0) * 4) / 256) * 256;
  assert.equal(engine.stats.persistentBytes - held, packed, 'the packed parameters, nothing else');
  const resumed = await trainSasrec(engine, data, config, { ...train, resume: true }, { quiet: true, log: () => {} });
  assert.equal(engine.stats.persistentBytes - held, 2 * packed, 'two models\' parameters');
  assert.equal(resumed.history.length, 40, 'resumed at epoch 21');
  assert.equal(resumed.history[20].step, 21 * 3, '3 steps per epoch (10 windows, batch 4), steps continue');
  assert.ok(resumed.history[39].trainLoss < resumed.history[0].trainLoss / 10, `loss ${resumed.history[0].trainLoss} → ${resumed.history[39].trainLoss}`);
  for (const split of ['validation', 'test'] as const) {
    const ranks: number[] = [];
    const m = await evaluateSasrec(resumed.model, data[split], { usersPerBatch: 3, onRank: (_, r) => ranks.push(r) });
    assert.deepEqual(ranks, Array(10).fill(0), `${split}: every target first`);
    assert.equal(m['ndcg@10'], 1);
    assert.equal(m.users, 10);
  }
  const best = readCheckpoint(join(dir, 'best.ckpt'));
  assert.equal(best.meta.kind, 'sasrec');
  assert.deepEqual(best.meta.config, config);
  const beforeFailure = engine.stats.persistentBytes;
  await assert.rejects(trainSasrec(engine, data, { ...config, dModel: 8 }, { ...train, resume: true }, { quiet: true, log: () => {} }), { name: /CheckpointError|BaselineError/ });
  assert.equal(engine.stats.persistentBytes, beforeFailure, 'a run that fails after its optimizer exists frees it and the parameters');
});

test('onerec baseline: every numeric option has a range, and a value outside it fails before the data is read', async () => {
  const { BASELINE_OPTION_RANGES, DEFAULT_BASELINE_OPTIONS, run } = await import('../../../models/commands/baseline.ts');
  const numeric = Object.entries(DEFAULT_BASELINE_OPTIONS).filter(([, v]) => typeof v === 'number').map(([k]) => k).sort();
  assert.deepEqual(Object.keys(BASELINE_OPTION_RANGES).sort(), numeric);
  const missing = join(dir, 'no-such-prepared-folder');
  for (const bad of ['--dropout=1', '--heads=0', '--lr=0', '--batchSize=2.5', '--maxLength=-1', '--decay=step']) {
    await assert.rejects(run(['--data', missing, '--out', join(dir, 'x'), bad]), { name: 'OptionError', message: new RegExp(bad.slice(2, bad.indexOf('='))) }, bad);
  }
  await assert.rejects(run(['--data', missing, '--out', join(dir, 'x')]), { name: 'PreparedDataError' }, 'valid options reach the data');
});

test('a refit (trainThrough validation) trains the epochs it is given on the validation targets too, validates nothing and keeps the last epoch in best.ckpt', async () => {
  // Walks of 5 items; the refit's sequences are the first 4 (train items + the validation item).
  const { data, config } = catalogWalk(5, 1);
  const out = join(dir, 'refit');
  const train = { ...DEFAULT_BASELINE_TRAIN, out, lr: 1e-2, batchSize: 4, warmupSteps: 5, epochs: 3, evalEvery: 1, patience: 1, seed: 3, trainThrough: 'validation' };
  const result = await trainSasrec(engine, { ...data, validation: [] }, config, train, { quiet: true, log: () => {} });
  assert.equal(result.history.length, 3, 'patience 1 does not stop a run that validates nothing');
  assert.ok(result.history.every((h) => h.validation === undefined), 'no epoch validated');
  assert.equal(result.best, null);
  assert.equal(result.history[2].step, 3 * 3, '10 windows (one per user: 3 targets ≤ L), batch 4: 3 steps an epoch');
  const kept = readCheckpoint(join(out, 'best.ckpt'));
  assert.deepEqual([kept.meta.epoch, kept.meta.trainThrough], [2, 'validation'], 'best.ckpt: the last epoch (0-based 2), marked as a refit');
  for (const p of result.model.parameterList()) assert.deepEqual(Array.from(await engine.read(p)), Array.from(kept.tensors[p.name].data), `${p.name}: the returned model is the last epoch's`);
  result.model.dispose();
});

test('onerec baseline --trainThrough=validation needs --epochs and refuses --checkpoint', async () => {
  const { run } = await import('../../../models/commands/baseline.ts');
  const missing = join(dir, 'no-such-prepared-folder');
  await assert.rejects(run(['--data', missing, '--out', join(dir, 'x'), '--trainThrough=validation']), { name: 'BaselineError', message: /--epochs/ });
  await assert.rejects(run(['--data', missing, '--out', join(dir, 'x'), '--trainThrough=validation', '--epochs=3', '--checkpoint=x.ckpt']), { name: 'BaselineError', message: /--checkpoint/ });
  await assert.rejects(run(['--data', missing, '--out', join(dir, 'x'), '--trainThrough=test']), { name: 'OptionError', message: /trainThrough/ });
  await assert.rejects(run(['--data', missing, '--out', join(dir, 'x'), '--trainThrough=validation', '--epochs=3']), { name: 'PreparedDataError' }, 'valid options reach the data');
});
