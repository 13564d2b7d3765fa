// trainSeed's GPU memory on every way out (SwiftShader, no training steps): the distillation teachers and the
// optimizer's state are freed when it returns, and a run that fails frees everything it made, the student too.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { SemanticIdTrie } from '../../../runtime/semantic-id-trie.ts';
import { Engine } from '../../../models/engine/engine.ts';
import { saveCheckpoint } from '../../../models/engine/checkpoint.ts';
import type { SeedData } from '../../../models/seed/batches.ts';
import { DEFAULT_TRAIN_CONFIG, type SeedConfig, type TrainConfig } from '../../../models/seed/config.ts';
import { SeedModel } from '../../../models/seed/model.ts';
import { CHECKPOINT_KIND, trainSeed } from '../../../models/seed/train.ts';

const TINY: SeedConfig = {
  codebookSize: 4, levels: 2, dModel: 16, heads: 2, encoderLayers: 1, decoderLayers: 1, ffnDim: 32,
  experts: 2, expertsPerToken: 1, expertFfnDim: 16, maxHistory: 3, sessionLength: 1, moeAuxWeight: 0.01, dropout: 0,
};
const codes = new Uint16Array([0, 0, 0, 1, 1, 0, 1, 1, 2, 0, 2, 3, 3, 1, 3, 2]); // 8 items × 2 levels
const sequences = Array.from({ length: 8 }, (_, u) => Int32Array.from({ length: 6 }, (_, j) => (u + j) % 8));
const data: SeedData = { itemCount: 8, levels: 2, codebookSize: 4, codes, sequences };
const trie = SemanticIdTrie.build(codes, 2, 4);
const quiet = { quiet: true, log: () => {} };

let engine: Engine;
let dir: string;
let teacherPath: string;
before(async () => {
  engine = await Engine.create({ quiet: true });
  dir = mkdtempSync(join(tmpdir(), 'seed-train-memory-'));
  teacherPath = join(dir, 'teacher.ckpt');
  const teacher = SeedModel.init(engine, TINY, 5);
  await saveCheckpoint(teacherPath, engine, teacher.parameterList(), { kind: CHECKPOINT_KIND, config: TINY, step: 0 });
  teacher.dispose();
});
after(() => {
  engine?.device.destroy();
  rmSync(dir, { recursive: true, force: true });
});

test('trainSeed keeps only the returned model\'s parameters: teachers, running sums and optimizer state are freed; a failed run frees all', async () => {
  const train: TrainConfig = {
    ...DEFAULT_TRAIN_CONFIG, data: 'synthetic', out: join(dir, 'run'), trainWindow: 1, epochs: 0, batchSize: 4, evalBeam: 4, evalUsers: 0, seed: 2,
  };
  const before = engine.stats.persistentBytes;
  const plain = await trainSeed(engine, data, trie, TINY, train, quiet);
  // AdamW packs the parameters into one buffer, each padded to 64 floats; the engine rounds buffers to 256 bytes.
  const packed = plain.model.parameterList().reduce((n, t) => n + Math.ceil(t.size / 64) * 64, 0);
  assert.equal(engine.stats.persistentBytes - before, Math.ceil((packed * 4) / 256) * 256, 'the packed parameters, nothing else');

  const withTeacher = await trainSeed(engine, data, trie, TINY, { ...train, out: join(dir, 'distilled'), distill: teacherPath }, quiet);
  assert.equal(engine.stats.persistentBytes - before, 2 * Math.ceil((packed * 4) / 256) * 256, 'the teacher freed: two students\' parameters remain');
  assert.deepEqual(withTeacher.model.parameterList().map((t) => t.shape), plain.model.parameterList().map((t) => t.shape));

  // A run that fails after the teacher, the student and its optimizer exist (--init of another model) gives it all back.
  const held = engine.stats.persistentBytes;
  await assert.rejects(
    trainSeed(engine, data, trie, { ...TINY, ffnDim: 24 }, { ...train, out: join(dir, 'failed'), distill: teacherPath, init: teacherPath }, quiet),
    (e: Error) => e.name === 'TrainError' && /--init=/.test(e.message),
  );
  assert.equal(engine.stats.persistentBytes, held, 'nothing left behind by the failed run');
  // The returned models still evaluate: their parameters are intact after the optimizer's state went.
  const weights = await plain.model.weights();
  assert.ok(Object.values(weights).every((w) => w.every(Number.isFinite)));
});
