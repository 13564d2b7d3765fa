// Checkpoint format round trip (no GPU needed to read), typed errors on bad files, and a run SIGKILLed after
// step 3 that resumes from its checkpoint and ends bit-identical to an uninterrupted run of the same seed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CheckpointError, readCheckpoint, writeCheckpoint } from '../../../models/engine/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'onerec-ckpt-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('writeCheckpoint / readCheckpoint round trip and typed errors', () => {
  const path = join(dir, 'a.bin');
  const w = Float32Array.from([1.5, -2, 3.25, 0, 7, 8]);
  writeCheckpoint(path, { kind: 'seed', config: { dModel: 3 }, step: 12, rng: { data: 99 } }, {
    w: { shape: [2, 3], data: w }, b: { shape: [1], data: Float32Array.of(0.5) },
  });
  const { meta, tensors } = readCheckpoint(path);
  assert.equal(meta.kind, 'seed');
  assert.equal(meta.step, 12);
  assert.deepEqual(meta.config, { dModel: 3 });
  assert.equal(meta.rng.data, 99);
  assert.deepEqual(tensors.w.shape, [2, 3]);
  assert.deepEqual(Array.from(tensors.w.data), Array.from(w));
  assert.deepEqual(Array.from(tensors.b.data), [0.5]);

  writeFileSync(join(dir, 'bad.bin'), 'not a checkpoint');
  assert.throws(() => readCheckpoint(join(dir, 'bad.bin')), (e: Error) => e.name === 'CheckpointError' && /magic/.test(e.message));
  const bytes = readFileSync(path);
  writeFileSync(join(dir, 'cut.bin'), bytes.subarray(0, bytes.length - 8));
  assert.throws(() => readCheckpoint(join(dir, 'cut.bin')), (e: Error) => e instanceof CheckpointError && /truncated/.test(e.message));
});

test('a run killed after step 3 resumes to the same parameters as an uninterrupted run', () => {
  const worker = join(import.meta.dirname, 'resume-worker.ts');
  const run = (...runs: string[]) => spawnSync(process.execPath, ['--import', 'tsx', worker, ...runs], { encoding: 'utf8', env: process.env });
  const whole = join(dir, 'whole'), killed = join(dir, 'killed');
  for (const d of [whole, killed]) rmSync(d, { recursive: true, force: true });
  spawnSync('mkdir', ['-p', whole, killed]);
  // One process runs the uninterrupted run, then the one killed after step 3; a fresh process resumes the latter.
  const a = run(`${whole}:5`, `${killed}:5:3`);
  assert.equal(a.signal, 'SIGKILL', `the worker should have been killed: ${a.stderr}`);
  assert.equal(readCheckpoint(join(whole, 'ckpt.bin')).meta.step, 5);
  assert.equal(readCheckpoint(join(killed, 'ckpt.bin')).meta.step, 3);
  const c = run(`${killed}:5`);
  assert.equal(c.status, 0, c.stderr);
  const x = readCheckpoint(join(whole, 'ckpt.bin')), y = readCheckpoint(join(killed, 'ckpt.bin'));
  assert.equal(y.meta.step, 5);
  assert.equal(y.meta.optimizerStep, 5);
  for (const name of Object.keys(x.tensors)) {
    assert.deepEqual(y.tensors[name].data, x.tensors[name].data, `tensor ${name} differs after resume`);
  }
});
