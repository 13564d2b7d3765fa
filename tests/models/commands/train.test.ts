// `onerec train` as a user meets it: a software adapter is refused with what the CPU run would cost unless
// --softwareGpu, and --maxMinutes bounds the whole command (a checkpoint is written when it trips, and no
// evaluation starts past it).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_PREPARE_CONFIG, prepare } from '../../../models/data/prepare.ts';
import { run } from '../../../models/commands/train.ts';
import { createEngine, readCheckpoint } from '../../../models/engine/index.ts';
import { requireHardwareGpu } from '../../../models/seed/train.ts';
import { tinyLogs } from './tiny-logs.ts';

const TINY_MODEL = ['--dModel=16', '--heads=2', '--encoderLayers=1', '--decoderLayers=1', '--ffnDim=32', '--experts=2', '--expertFfnDim=16', '--maxHistory=4',
  '--batchSize=8', '--epochs=3', '--trainWindow=1', '--evalUsers=0', '--evalBeam=4', '--warmupSteps=1'];

let root: string;
let prepared: string;
before(async () => {
  root = mkdtempSync(join(tmpdir(), 'onerec-train-command-'));
  const logs = tinyLogs(16, 24);
  prepared = join(root, 'prepared');
  await prepare({ ...DEFAULT_PREPARE_CONFIG, data: logs, out: prepared, codebookSize: 4, levels: 2, content: 'features', idDim: 0, evalPairs: 10, maxIterations: 10 });
  rmSync(logs, { recursive: true, force: true });
});
after(() => rmSync(root, { recursive: true, force: true }));

test('a software adapter is refused with the CPU cost and the opt-in; a GPU or --softwareGpu passes', () => {
  const run = { allowSoftware: false, parameters: 2_650_000, examplesPerEpoch: 109_050, epochs: 30 };
  const swiftshader = { adapter: 'google swiftshader (software fallback)', isFallback: true };
  assert.throws(() => requireHardwareGpu(swiftshader, run), (e: Error) => e.name === 'GpuRequiredError'
    && /^training needs a GPU, and WebGPU found only a software adapter \(google swiftshader \(software fallback\)\)/.test(e.message)
    && /about 3\.0 h per epoch, 89\.1 h for 30 epochs \(109,050 examples per epoch, 2\.65 M parameters/.test(e.message)
    && /pass --softwareGpu/.test(e.message));
  assert.throws(() => requireHardwareGpu(swiftshader, { ...run, parameters: 50_000, examplesPerEpoch: 100, epochs: 2 }), /about 1 min per epoch, 1 min for 2 epochs/);
  // Evaluating a checkpoint (onerec baseline --checkpoint): the message speaks of ranking users, ~0.6 s each there.
  assert.throws(() => requireHardwareGpu(swiftshader, { ...run, examplesPerEpoch: 0, epochs: 0, evaluatedUsers: 5_998 }), (e: Error) => e.name === 'GpuRequiredError'
    && /^evaluating a checkpoint needs a GPU/.test(e.message) && /Ranking 5,998 held-out users against the catalog would take about 60 min there/.test(e.message) && /pass --softwareGpu/.test(e.message));
  requireHardwareGpu(swiftshader, { ...run, allowSoftware: true });
  requireHardwareGpu(swiftshader, { ...run, evaluatedUsers: 10, allowSoftware: true });
  requireHardwareGpu({ adapter: 'nvidia hopper', isFallback: false }, run);
});

test('onerec train on this machine\'s adapter: refused when it is a software one, unless --softwareGpu', async (t) => {
  const engine = await createEngine({ quiet: true });
  const software = engine.isFallback;
  engine.device.destroy();
  if (!software) return t.skip('a hardware GPU: nothing to refuse');
  await assert.rejects(run([`--data=${prepared}`, `--out=${join(root, 'refused')}`, ...TINY_MODEL]), (e: Error) => e.name === 'GpuRequiredError' && /--softwareGpu/.test(e.message));
  assert.ok(!existsSync(join(root, 'refused')), 'refused before anything is written');
});

test('--maxMinutes bounds the whole command: the epoch ends at the step that trips it, last.ckpt is written, no evaluation starts', async () => {
  const out = join(root, 'budget');
  const started = Date.now();
  // 3 ms: spent before the first step ends, so exactly one step runs.
  await run([`--data=${prepared}`, `--out=${out}`, '--softwareGpu', '--maxMinutes=0.00005', ...TINY_MODEL]);
  const seconds = (Date.now() - started) / 1000;
  const last = readCheckpoint(join(out, 'last.ckpt'));
  assert.equal(last.meta.step, 1, 'one optimizer step');
  assert.equal(last.meta.epoch, 0);
  assert.ok(!existsSync(join(out, 'best.ckpt')), 'no validation ran, so no best checkpoint');
  const history = JSON.parse(readFileSync(join(out, 'history.json'), 'utf8')) as { history: { validation?: unknown }[] };
  assert.equal(history.history.length, 1);
  assert.equal(history.history[0].validation, undefined);
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as Record<string, unknown> & { train: Record<string, unknown> };
  assert.equal(report.test, null);
  assert.equal(report.checkpoint, null);
  assert.deepEqual(report.skipped_past_max_minutes, ['test']);
  assert.match(String(report.train.stop_reason), /time budget of 0\.00005 min reached/);
  assert.ok(seconds < 120, `${seconds} s`);
});
