// SASRec as the seed model's distillation teacher (SwiftShader): the code-level conditionals the GPU kernel writes
// equal the ones summed on the host from SASRec's own item scores after the same histories, at the positions that
// predict a code, zeros elsewhere; the history read back from the encoder tokens is the seed model's window;
// dispose() gives the teacher's buffers back, and the trainer calls it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { SemanticIdTrie } from '../../../runtime/semantic-id-trie.ts';
import { SPECIAL_TOKENS, vocabSize } from '../../../runtime/tokens.ts';
import { SasrecModel, type SasrecConfig } from '../../../models/baseline/sasrec.ts';
import { saveCheckpoint } from '../../../models/engine/checkpoint.ts';
import { Engine } from '../../../models/engine/engine.ts';
import { makeBatch, type Example, type SeedData } from '../../../models/seed/batches.ts';
import { DEFAULT_TRAIN_CONFIG, type SeedConfig, type TrainConfig } from '../../../models/seed/config.ts';
import { trainSeed } from '../../../models/seed/train.ts';
import { codeGroups, SasrecTeacher, TeacherError } from '../../../models/seed/sasrec-teacher.ts';

// 9 items, 3 levels (2 codes + a suffix), K 4: items 0–2 share the prefix (1, 2), items 3 and 4 share (1, 0).
const codes = new Uint16Array([
  1, 2, 0, 1, 2, 1, 1, 2, 2, // items 0, 1, 2
  1, 0, 0, 1, 0, 1, // 3, 4
  0, 3, 0, 2, 2, 0, 3, 1, 0, 3, 3, 0, // 5, 6, 7, 8
]);
const L = 3, K = 4, ITEMS = 9;
const data: SeedData = { itemCount: ITEMS, levels: L, codebookSize: K, codes, sequences: [Int32Array.of(0, 3, 5, 1, 7, 2, 8, 4), Int32Array.of(6, 2, 1, 0)] };
const CONFIG: SasrecConfig = { items: ITEMS, dModel: 8, heads: 2, blocks: 2, ffnDim: 16, maxLength: 6, dropout: 0 };

let engine: Engine;
let dir: string;
before(async () => {
  engine = await Engine.create({ quiet: true });
  dir = mkdtempSync(join(tmpdir(), 'sasrec-teacher-'));
});
after(() => {
  engine?.device.destroy();
  rmSync(dir, { recursive: true, force: true });
});

test('codeGroups: items grouped by their code at each level, offsets per code', () => {
  const { list, start } = codeGroups(codes, L, K);
  assert.deepEqual(Array.from(start), [0, 1, 6, 7, 9, 0, 2, 3, 7, 9, 0, 6, 8, 9, 9]);
  assert.deepEqual(Array.from(list), [5, 0, 1, 2, 3, 4, 6, 7, 8, 3, 4, 7, 0, 1, 2, 6, 5, 8, 0, 3, 5, 6, 7, 8, 1, 4, 2]);
});

/** Host reference: for target i of example ex, SASRec's softmax after history + earlier targets, summed per code. */
async function referenceProbs(model: SasrecModel, examples: Example[], maxHistory: number, window: number, temperature: number): Promise<Float32Array> {
  const T = window * (L + 1);
  const V = vocabSize(L, K);
  const out = new Float32Array(examples.length * T * V);
  const Ls = CONFIG.maxLength;
  for (let b = 0; b < examples.length; b++) {
    const seq = Array.from(data.sequences[examples[b].user]);
    const t0 = examples[b].targetStart;
    const history = seq.slice(Math.max(0, t0 - maxHistory), t0);
    for (let i = 0; i < window; i++) {
      const input = [...history, ...seq.slice(t0, t0 + i)].slice(-Ls);
      const row = new Int32Array(Ls);
      input.forEach((item, j) => { row[Ls - input.length + j] = item + 1; });
      const scores = await engine.read(model.scores(row, 1));
      engine.endStep();
      const z = Array.from(scores.subarray(1), (s) => s / temperature);
      const max = Math.max(...z);
      const p = z.map((s) => Math.exp(s - max));
      const target = seq[t0 + i];
      for (let l = 0; l < L; l++) {
        const mass = new Float64Array(K);
        for (let item = 0; item < ITEMS; item++) {
          let same = true;
          for (let q = 0; q < l; q++) if (codes[item * L + q] !== codes[target * L + q]) same = false;
          if (same) mass[codes[item * L + l]] += p[item];
        }
        const total = mass.reduce((a, c) => a + c, 0);
        for (let c = 0; c < K; c++) out[(b * T + i * (L + 1) + l) * V + SPECIAL_TOKENS + l * K + c] = mass[c] / total;
      }
    }
  }
  return out;
}

for (const temperature of [1, 2]) {
  test(`probs(batch) equals the host sums of SASRec's item softmax per code level (τ ${temperature}), zeros where no code is predicted`, async () => {
    const model = SasrecModel.fromCheckpoint(engine, CONFIG, { meta: { kind: 'sasrec' } as never, tensors: randomTensors(3) });
    const teacher = SasrecTeacher.fromModel(engine, model, codes, L, K, temperature);
    const maxHistory = 4, window = 2;
    // user 0 at 1 (one item of history), at 6 (history longer than maxHistory: cut), user 1 at 1
    const examples: Example[] = [{ user: 0, targetStart: 1 }, { user: 0, targetStart: 6 }, { user: 1, targetStart: 1 }];
    const batch = makeBatch(data, examples, maxHistory, window);
    assert.deepEqual(Array.from(teacher.historyItems(batch, maxHistory)), [-1, -1, -1, 0, 5, 1, 7, 2, -1, -1, -1, 6]);
    const got = await engine.read(teacher.probs(batch, window, maxHistory));
    engine.endStep();
    const want = await referenceProbs(model, examples, maxHistory, window, temperature);
    assert.equal(got.length, want.length);
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
    assert.ok(worst < 1e-5, `largest difference ${worst}`);
    const T = window * (L + 1), V = vocabSize(L, K);
    for (let r = 0; r < examples.length * T; r++) {
      const sum = got.subarray(r * V, (r + 1) * V).reduce((a, c) => a + c, 0);
      const predictsCode = r % (L + 1) < L;
      assert.ok(predictsCode ? Math.abs(sum - 1) < 1e-5 : sum === 0, `row ${r}: sum ${sum}`);
    }
  });
}

test('load: a seed checkpoint or a catalog of another size is refused with a TeacherError', async () => {
  const model = SasrecModel.fromCheckpoint(engine, CONFIG, { meta: { kind: 'sasrec' } as never, tensors: randomTensors(4) });
  const path = join(dir, 'seed.ckpt');
  await saveCheckpoint(path, engine, model.parameterList(), { kind: 'seed', config: CONFIG, step: 0, rng: {} } as never);
  assert.throws(() => SasrecTeacher.load(engine, path, codes, L, K), (e: Error) => e instanceof TeacherError && /'seed' checkpoint/.test(e.message));
  assert.throws(() => SasrecTeacher.fromModel(engine, model, codes.subarray(0, 8 * L), L, K), (e: Error) => e instanceof TeacherError && /9 items/.test(e.message));
  const sasrec = join(dir, 'sasrec.ckpt');
  await saveCheckpoint(sasrec, engine, model.parameterList(), { kind: 'sasrec', config: CONFIG, step: 0, rng: {} } as never);
  const loaded = SasrecTeacher.load(engine, sasrec, codes, L, K);
  assert.equal(loaded.model.config.items, ITEMS);
});

test('dispose() destroys the teacher\'s code tables and its model\'s weights; probs() then throws', () => {
  const tensors = randomTensors(6);
  const before = engine.stats.persistentBytes;
  const teacher = SasrecTeacher.fromModel(engine, SasrecModel.fromCheckpoint(engine, CONFIG, { meta: { kind: 'sasrec' } as never, tensors }), codes, L, K);
  assert.ok(engine.stats.persistentBytes > before);
  teacher.dispose();
  assert.equal(engine.stats.persistentBytes, before, 'persistent bytes back to what they were before the teacher');
  const batch = makeBatch(data, [{ user: 0, targetStart: 1 }], 4, 2);
  assert.throws(() => teacher.probs(batch, 2, 4), (e: Error) => e.name === 'EngineError' && /released/.test(e.message));
  engine.endStep();
});

function randomTensors(seed: number): Record<string, { shape: number[]; data: Float32Array }> {
  let s = seed;
  const next = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  const model = SasrecModel.init(engine, CONFIG, seed);
  return Object.fromEntries(model.parameterList().map((p) => [p.name!, { shape: p.shape, data: Float32Array.from({ length: p.size }, () => (/\.g$/.test(p.name!) ? 1 + 0.1 * next() : 0.5 * next())) }]));
}

test('onerec train --distill=<SASRec checkpoint>: the student fits the teacher\'s code-level distribution; a teacher of another catalog is refused', async () => {
  const seedConfig: SeedConfig = {
    codebookSize: K, levels: L, dModel: 16, heads: 2, encoderLayers: 1, decoderLayers: 1, ffnDim: 32,
    experts: 2, expertsPerToken: 1, expertFfnDim: 16, maxHistory: 4, sessionLength: 2, moeAuxWeight: 0.01, dropout: 0,
  };
  const teacherModel = SasrecModel.fromCheckpoint(engine, CONFIG, { meta: { kind: 'sasrec' } as never, tensors: randomTensors(5) });
  const path = join(dir, 'teacher.ckpt');
  await saveCheckpoint(path, engine, teacherModel.parameterList(), { kind: 'sasrec', config: CONFIG, step: 0, rng: {} } as never);
  const trie = SemanticIdTrie.build(codes, L, K);
  const train: TrainConfig = {
    ...DEFAULT_TRAIN_CONFIG, data: 'synthetic', out: join(dir, 'student'), trainWindow: 2, epochs: 6, batchSize: 8, lr: 1e-2, warmupSteps: 1,
    weightDecay: 0, evalBeam: 4, evalUsers: 0, evalEvery: 100, patience: 100, seed: 3, distill: path, distillWeight: 1,
  };
  const dispose = SasrecTeacher.prototype.dispose;
  let disposed = 0;
  SasrecTeacher.prototype.dispose = function (this: SasrecTeacher) { disposed++; dispose.call(this); };
  let student;
  try {
    student = await trainSeed(engine, data, trie, seedConfig, train, { quiet: true, log: () => {} });
  } finally {
    SasrecTeacher.prototype.dispose = dispose;
  }
  assert.equal(disposed, 1, 'trainSeed disposes the SASRec teacher it made when training ends');
  const losses = student.history.map((h) => h.distillLoss!);
  assert.ok(losses.every(Number.isFinite) && losses.at(-1)! < losses[0], `distillation loss ${losses.join(' → ')}`);
  const other = join(dir, 'other.ckpt');
  const small = SasrecModel.init(engine, { ...CONFIG, items: 8 }, 1);
  await saveCheckpoint(other, engine, small.parameterList(), { kind: 'sasrec', config: { ...CONFIG, items: 8 }, step: 0, rng: {} } as never);
  await assert.rejects(trainSeed(engine, data, trie, seedConfig, { ...train, distill: other }, { quiet: true, log: () => {} }), (e: Error) => e.name === 'TrainError' && /ranks 8 items; these semantic IDs describe 9/.test(e.message));
});
