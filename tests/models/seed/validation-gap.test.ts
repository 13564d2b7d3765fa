// --validationGap: the items just before each user's validation target stay out of training, so a validation
// history ends, as a test history does, with an item that was never that user's training target. And the other way:
// --trainThrough=validation, a refit whose targets include each user's validation item (only the test item held out).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { readCheckpoint } from '../../../models/engine/checkpoint.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { SemanticIdTrie } from '../../../runtime/semantic-id-trie.ts';
import { Engine } from '../../../models/engine/engine.ts';
import { trainExampleCount, trainExamples, type SeedData } from '../../../models/seed/batches.ts';
import { DEFAULT_TRAIN_CONFIG, type SeedConfig } from '../../../models/seed/config.ts';
import { trainHeldOut, TrainError, trainSeed } from '../../../models/seed/train.ts';

const codes = new Uint16Array([0, 0, 0, 1, 1, 0, 1, 1, 2, 0, 2, 3, 3, 1, 3, 2]); // [8, 2]
// users of 7, 5 and 3 items: item j of user u is (u + j) % 8
const sequences = [7, 5, 3].map((n, u) => Int32Array.from({ length: n }, (_, j) => (u + j) % 8));
const data: SeedData = { itemCount: 8, levels: 2, codebookSize: 4, codes, sequences };

test('trainHeldOut: the test and validation items plus the gap; a gap that is not a whole number ≥ 0 is refused', () => {
  assert.equal(trainHeldOut({ validationGap: 0 }), 2);
  assert.equal(trainHeldOut({ validationGap: 1 }), 3);
  for (const bad of [-1, 0.5, Number.NaN]) assert.throws(() => trainHeldOut({ validationGap: bad }), TrainError);
  assert.equal(trainHeldOut({ validationGap: 0, trainThrough: 'validation' }), 1);
  assert.throws(() => trainHeldOut({ validationGap: 1, trainThrough: 'validation' }), /no validation to keep a gap before/);
  assert.throws(() => trainHeldOut({ validationGap: 0, trainThrough: 'test' as 'train' }), /trainThrough = test/);
});

test('with a gap of 1, windows end before the item that precedes the validation target', () => {
  // user 0 (7 items, validation target at index 5): windows of 2 start at 1, 2, 3 without a gap (the last one
  // is [3, 4]: index 4 is a target) and at 1, 2 with it (index 4 never is)
  const rows = (heldOut: number) => Array.from(trainExamples(data, 2, undefined, heldOut).rows);
  assert.deepEqual(rows(2), [1, 2, 3, 7 + 1]); // user 1 (5 items, flat rows 7..11): one window, [1, 2]
  assert.deepEqual(rows(3), [1, 2]); // user 1 has none left; user 2 (3 items) never had one
  assert.equal(trainExampleCount(data, 2, 3), 2);
  assert.equal(trainExampleCount(data, 1, 3), 3 + 1);
  // a refit (1 held out): user 0's windows reach its validation target (index 5), user 1's too (index 3)
  assert.deepEqual(Array.from(trainExamples(data, 2, undefined, 1).rows), [1, 2, 3, 4, 7 + 1, 7 + 2]);
});

let engine: Engine;
let dir: string;
before(async () => {
  engine = await Engine.create({ quiet: true });
  dir = mkdtempSync(join(tmpdir(), 'seed-gap-'));
});
after(() => {
  engine?.device.destroy();
  rmSync(dir, { recursive: true, force: true });
});

test('trainSeed trains on the examples the gap leaves (its log counts them) and refuses data it empties', async () => {
  const tiny: SeedConfig = {
    codebookSize: 4, levels: 2, dModel: 16, heads: 2, encoderLayers: 1, decoderLayers: 1, ffnDim: 16,
    experts: 1, expertsPerToken: 1, expertFfnDim: 16, maxHistory: 3, sessionLength: 1, moeAuxWeight: 0, dropout: 0,
  };
  const trie = SemanticIdTrie.build(codes, 2, 4);
  const run = { ...DEFAULT_TRAIN_CONFIG, data: 'synthetic', out: dir, trainWindow: 1, epochs: 0, batchSize: 4, evalUsers: 0 };
  const lines: string[] = [];
  await trainSeed(engine, data, trie, tiny, { ...run, validationGap: 1 }, { quiet: true, log: (s) => lines.push(s) });
  assert.match(lines.join('\n'), / 4 training examples, 1 steps\/epoch/); // user 0: targets 1..3, user 1: target 1
  lines.length = 0;
  await trainSeed(engine, data, trie, tiny, { ...run, validationGap: 0 }, { quiet: true, log: (s) => lines.push(s) });
  assert.match(lines.join('\n'), / 6 training examples, 2 steps\/epoch/);
  await assert.rejects(trainSeed(engine, data, trie, tiny, { ...run, validationGap: 4 }, { quiet: true, log: () => {} }), TrainError);
});

test('a refit trains the epochs it is given on the validation targets too, validates nothing, keeps the last epoch in best.ckpt (marked a refit)', async () => {
  const tiny: SeedConfig = {
    codebookSize: 4, levels: 2, dModel: 16, heads: 2, encoderLayers: 1, decoderLayers: 1, ffnDim: 16,
    experts: 1, expertsPerToken: 1, expertFfnDim: 16, maxHistory: 3, sessionLength: 1, moeAuxWeight: 0, dropout: 0,
  };
  const trie = SemanticIdTrie.build(codes, 2, 4);
  const out = join(dir, 'refit');
  const lines: string[] = [];
  // evalEvery 1 and patience 1: a run that validated would stop early; a refit does not validate
  const result = await trainSeed(engine, data, trie, tiny, { ...DEFAULT_TRAIN_CONFIG, data: 'synthetic', out, trainWindow: 1, epochs: 2, batchSize: 4, warmupSteps: 1, evalEvery: 1, patience: 1, evalUsers: 0, trainThrough: 'validation' }, { quiet: true, log: (s) => lines.push(s) });
  assert.match(lines.join('\n'), / 9 training examples, 3 steps\/epoch/); // user 0: targets 1..5, user 1: 1..3, user 2: 1
  assert.equal(result.history.length, 2);
  assert.ok(result.history.every((h) => h.validation === undefined), 'no epoch validated');
  assert.equal(result.best, null);
  const kept = readCheckpoint(join(out, 'best.ckpt'));
  assert.deepEqual([kept.meta.epoch, kept.meta.trainThrough], [1, 'validation']);
  for (const p of result.model.parameterList()) assert.deepEqual(Array.from(await engine.read(p)), Array.from(kept.tensors[p.name].data), p.name);
  result.model.dispose();
});

test('onerec train --trainThrough=validation needs --epochs and refuses --finalValidation, a gap or another split, before the data is read', async () => {
  const { run } = await import('../../../models/commands/train.ts');
  const base = ['--data', join(dir, 'no-such-prepared-folder'), '--out', join(dir, 'x')];
  await assert.rejects(run([...base, '--trainThrough=validation']), { name: 'TrainError', message: /give --epochs/ });
  await assert.rejects(run([...base, '--trainThrough=validation', '--epochs=3', '--finalValidation']), { name: 'TrainError', message: /--finalValidation/ });
  await assert.rejects(run([...base, '--trainThrough=validation', '--epochs=3', '--validationGap=1']), { name: 'TrainError', message: /no validation to keep a gap/ });
  await assert.rejects(run([...base, '--trainThrough=test']), { name: 'TrainError', message: /trainThrough = test/ });
  await assert.rejects(run([...base, '--trainThrough=validation', '--epochs=3']), { name: 'PreparedDataError' }, 'valid options reach the data');
});
