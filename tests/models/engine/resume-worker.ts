// Child process of checkpoint.test.ts: each RUN (DIR:STEPS[:KILL_AT]), in order on one engine, trains the toy model
// from its initial weights for STEPS steps, checkpointing after every step to DIR/ckpt.bin and resuming from it if
// present; with KILL_AT it SIGKILLs the process right after that step's checkpoint, like a run killed mid-training.
// Runs share the process so that the toy model's kernels are compiled once (per device on SwiftShader).
//   node --import tsx tests/models/engine/resume-worker.ts RUN...
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AdamW, backward, createEngine, loadCheckpoint, Rng, saveCheckpoint } from '../../../models/engine/index.ts';
import { toyInit, toyLoss, toyParams, type ToyConfig } from '../../../bench/train-step-model.ts';

const config: ToyConfig = { vocab: 29, dim: 16, heads: 2, blocks: 2, seq: 7, batch: 4 };
const engine = await createEngine({ quiet: true });
for (const run of process.argv.slice(2)) {
  const [, dir, stepsArg, killArg] = /^(.+?):(\d+)(?::(\d+))?$/.exec(run)!; // DIR may hold a colon (a drive letter)
  const steps = Number(stepsArg);
  const killAt = killArg === undefined ? -1 : Number(killArg);
  const initRng = new Rng(5);
  const params = toyParams(engine, config, toyInit(config, initRng));
  const list = Object.values(params);
  const opt = new AdamW(engine, list, { lr: 3e-3, warmupSteps: 2, totalSteps: steps, weightDecay: 0.01, clipNorm: 1 });
  const dataRng = new Rng(77);
  const path = join(dir, 'ckpt.bin');
  let start = 0;
  if (existsSync(path)) {
    const meta = loadCheckpoint(path, engine, list, opt);
    start = meta.step;
    dataRng.state = meta.rng.data;
  }
  for (let step = start; step < steps; step++) {
    const tokens = Int32Array.from({ length: config.batch * config.seq }, () => dataRng.int(config.vocab));
    const targets = Int32Array.from({ length: config.batch * config.seq }, () => dataRng.int(config.vocab));
    backward(toyLoss(params, config, engine.upload(tokens, [config.batch, config.seq]), engine.upload(targets, [config.batch, config.seq])));
    opt.update();
    engine.endStep();
    await saveCheckpoint(path, engine, list, { kind: 'toy', config, step: step + 1, rng: { data: dataRng.state } }, opt);
    if (step + 1 === killAt) process.kill(process.pid, 'SIGKILL');
  }
  console.log(`${dir}: done at step ${steps}`);
}
