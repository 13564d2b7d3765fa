// Training the seed transformer on KuaiRand's training-period sequences (next-session prediction), used by
// `onerec align` when no seed checkpoint is given. Examples: every position t ≥ 1 of a user's chronological
// training-period sequence with sessionLength items after it; history = everything before t.
import { AdamW, backward, Rng as EngineRng, type Engine } from '../engine/index.ts';
import { makeBatch, type Example, type SeedData } from '../seed/batches.ts';
import type { SeedConfig } from '../seed/config.ts';
import { SeedModel } from '../seed/model.ts';
import type { Progress } from '../progress.ts';
import { Rng } from '../random.ts';

export interface SeedTrainOptions {
  epochs: number;       // passes over the examples
  batchSize: number;    // examples per step
  learningRate: number; // AdamW peak rate (cosine decay, 5 % warm-up)
  maxExamples: number;  // cap on examples per epoch (0 = all), seeded sample
  maxSeconds: number;   // stop training after this long (0 = no limit); the steps done are reported
  seed: number;
}

export function windowExamples(data: SeedData, window: number): Example[] {
  const out: Example[] = [];
  data.sequences.forEach((seq, user) => {
    for (let t = 1; t + window <= seq.length; t++) out.push({ user, targetStart: t });
  });
  return out;
}

export async function trainSeed(engine: Engine, config: SeedConfig, data: SeedData, options: SeedTrainOptions, progress?: (total: number) => Progress): Promise<{ model: SeedModel; loss: number[]; steps: number }> {
  const all = windowExamples(data, config.sessionLength);
  const rng = new Rng(options.seed);
  const perEpoch = options.maxExamples > 0 ? Math.min(options.maxExamples, all.length) : all.length;
  const stepsPerEpoch = Math.ceil(perEpoch / options.batchSize);
  const total = stepsPerEpoch * options.epochs;
  const model = SeedModel.init(engine, config, options.seed);
  const optimizer = new AdamW(engine, model.parameterList(), { lr: options.learningRate, warmupSteps: Math.ceil(0.05 * total), totalSteps: total, decay: 'cosine', weightDecay: 0.01, clipNorm: 1 });
  const dropoutRng = new EngineRng(options.seed + 1);
  const bar = progress?.(total);
  const losses: number[] = [];
  let step = 0;
  const started = Date.now();
  const outOfTime = (): boolean => options.maxSeconds > 0 && (Date.now() - started) / 1000 > options.maxSeconds;
  for (let epoch = 0; epoch < options.epochs && !outOfTime(); epoch++) {
    const examples = rng.shuffle([...all]).slice(0, perEpoch);
    let sum = 0;
    let done = 0;
    const pending: Promise<Float32Array>[] = [];
    for (let s = 0; s < stepsPerEpoch && !outOfTime(); s++) {
      const batch = makeBatch(data, examples.slice(s * options.batchSize, (s + 1) * options.batchSize), config.maxHistory, config.sessionLength);
      const { loss, ce } = model.trainingLoss(batch, dropoutRng);
      backward(loss);
      optimizer.update();
      pending.push(engine.read(ce));
      engine.endStep();
      bar?.update(++step);
      done++;
      if (pending.length >= 16) for (const p of pending.splice(0)) sum += (await p)[0];
    }
    for (const p of pending.splice(0)) sum += (await p)[0];
    if (done > 0) losses.push(sum / done);
  }
  bar?.stop();
  return { model, loss: losses, steps: step };
}
