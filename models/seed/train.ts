// The seed model's one training loop, `trainEpoch` (a batch's loss, backward, AdamW), and its two callers:
// `trainSeed` (onerec train: AdamW with warm-up + cosine decay, validation NDCG@10 from the constrained beam after
// every epoch, early stopping, checkpoints (best.ckpt, last.ckpt) with resume, an HTML report with loss/metric
// curves) and `trainSeedEpochs` (onerec align's seed when no checkpoint is given: a fixed number of epochs over every
// window of the training-period sequences, nothing validated or written).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TrieView } from '../../runtime/beam-search.ts';
import { AdamW, checkpointWeights, GpuRequiredError, loadCheckpoint, readCheckpoint } from '../engine/index.ts';
import type { Engine, Tensor } from '../engine/engine.ts';
import { accumulateAdd, addInto } from '../engine/ops.ts';
import { Rng } from '../random.ts';
import { progressBar } from '../progress.ts';
import type { Progress } from '../progress.ts';
import { TrainingRun } from '../training-run.ts';
import { batchExamples, evalExamples, historyNegatives, trainBatch, trainExamples, type Batch, type Example, type SeedData, type TrainExamples } from './batches.ts';
import { hasDenseHead, hasItemEmbedding, parameterCount, type SeedConfig, type TrainConfig } from './config.ts';
import { evaluateRanking } from './generate.ts';
import { historyLogitBias, parseHistoryBias } from './history-bias.ts';
import type { RankingMetrics } from './metrics.ts';
import { SeedModel, teacherProbs, type DenseTerm, type Distill, type TrainingLoss, type Unlikelihood } from './model.ts';
import { isSasrecCheckpoint, SasrecTeacher } from './sasrec-teacher.ts';
import { SasrecModel, type SasrecConfig } from '../baseline/sasrec.ts';
import { trainingReport, type EpochRecord } from './report.ts';

export const CHECKPOINT_KIND = 'seed';

export class TrainError extends Error {
  override name = 'TrainError';
}

export interface TrainResult {
  model: SeedModel; // holds the best weights when the run ends
  best: { epoch: number; validation: RankingMetrics } | null;
  history: EpochRecord[];
  stopReason: string;
}

/** A fixed seeded subset of validation (or test) examples (all when n = 0 or n ≥ users). */
export function validationSubset(data: SeedData, n: number, seed: number, split: 'validation' | 'test' = 'validation'): Example[] {
  const all = evalExamples(data, split);
  if (n <= 0 || n >= all.length) return all;
  const order = Int32Array.from(all.keys());
  new Rng(seed ^ 0x5eed).shuffle(order);
  return Array.from(order.subarray(0, n)).sort((a, b) => a - b).map((i) => all[i]);
}

// What one training example costs on a software adapter, per million parameters: on the 2-core development
// machine SwiftShader's progress bar put one Beauty epoch of the default model (109,050 examples with
// trainWindow 2, 2.65 M parameters) at about 3 hours, ≈ 99 ms per example. An order of magnitude, not a promise.
const SOFTWARE_MS_PER_EXAMPLE_PER_MPARAM = 37;

// What evaluating one held-out user against the whole catalog costs on a software adapter: `onerec baseline
// --checkpoint` on MovieLens-1M (SASRec, histories of 200, 3,706 items) ranked 1,024 of 2,999 test users in ~10 min on
// the 2-core development machine, ≈ 0.6 s a user. An order of magnitude, not a promise.
const SOFTWARE_SECONDS_PER_EVALUATED_USER = 0.6;

/**
 * Refuses to train on a software adapter (SwiftShader, lavapipe: the CPU) unless `allowSoftware`: the message
 * says that training needs a GPU and what this run would cost on the CPU (examples × epochs, scaled by size). A run
 * that only evaluates a checkpoint gives `evaluatedUsers` (users × passes) instead, and the message speaks of that.
 */
export function requireHardwareGpu(adapter: { adapter: string; isFallback: boolean }, run: { allowSoftware: boolean; parameters: number; examplesPerEpoch: number; epochs: number; evaluatedUsers?: number }): void {
  if (!adapter.isFallback || run.allowSoftware) return;
  if (run.evaluatedUsers !== undefined) {
    const minutes = Math.max(1, Math.round((run.evaluatedUsers * SOFTWARE_SECONDS_PER_EVALUATED_USER) / 60));
    throw new GpuRequiredError(
      `evaluating a checkpoint needs a GPU, and WebGPU found only a software adapter (${adapter.adapter}), which runs on the CPU. ` +
        `Ranking ${run.evaluatedUsers.toLocaleString('en')} held-out users against the catalog would take about ${minutes} min there ` +
        `(seconds on a GPU). Run it on a machine with a GPU, or pass --softwareGpu to evaluate on the CPU anyway`);
  }
  const epochSeconds = (run.examplesPerEpoch * SOFTWARE_MS_PER_EXAMPLE_PER_MPARAM * run.parameters) / 1e9;
  const hours = (s: number) => (s >= 3600 ? `${(s / 3600).toFixed(1)} h` : `${Math.max(1, Math.round(s / 60))} min`);
  throw new GpuRequiredError(
    `training needs a GPU, and WebGPU found only a software adapter (${adapter.adapter}), which runs on the CPU. ` +
      `On a CPU this run would take about ${hours(epochSeconds)} per epoch, ${hours(epochSeconds * run.epochs)} for ${run.epochs} epochs ` +
      `(${run.examplesPerEpoch.toLocaleString('en')} examples per epoch, ${(run.parameters / 1e6).toFixed(2)} M parameters; ` +
      `one GPU takes seconds to minutes per epoch). Run it on a machine with a GPU, or pass --softwareGpu to train on the CPU anyway ` +
      `(small models and smoke tests)`);
}

/** Throws TrainError for a dense-head option the model cannot honour (--denseMix needs --denseHead). */
export function checkDenseOptions(config: SeedConfig, train: Pick<TrainConfig, 'denseWeight' | 'denseMix'>): void {
  if (!(Number.isFinite(train.denseWeight) && train.denseWeight >= 0)) throw new TrainError(`--denseWeight=${train.denseWeight}: give a weight ≥ 0`);
  if (!(Number.isFinite(train.denseMix) && train.denseMix >= 0)) throw new TrainError(`--denseMix=${train.denseMix}: give λ ≥ 0 (0 = the generative ranking)`);
  if (train.denseMix > 0 && !hasDenseHead(config)) throw new TrainError(`--denseMix=${train.denseMix} mixes in the dense head's scores, and this model has none; add --denseHead or leave --denseMix at 0`);
}

/** What one epoch of `trainEpoch` trains on. */
export interface EpochPlan {
  data: SeedData;
  examples: TrainExamples;
  rows: Int32Array; // [n] the epoch's examples (flat rows of `examples`), in the order they are trained
  batchSize: number; // examples per step
  maxHistory: number; // history items per example (the model's)
  window: number; // target items per example
  rng: Rng; // dropout (and the history augmentation's draws)
  historyDropout?: number; // TrainConfig.historyDropout (0 or absent = the whole history)
  denseWeight?: number; // a denseHead model's dense loss weight (TrainConfig.denseWeight; default 1)
}

/** The caller's part of each step of `trainEpoch`. */
export interface StepHooks {
  /** The optional loss terms of a batch (onerec train's unlikelihood, history bias, distillation), made before its loss. */
  terms?: (rows: Int32Array, batch: Batch) => [Unlikelihood | undefined, Float32Array | undefined, Distill | undefined];
  /** After the update, before the step is submitted: accumulate `out` on the GPU or encode its read-back. */
  record: (out: TrainingLoss, step: number) => void;
  /** After the submit (await read-backs, progress). */
  settle?: (step: number) => Promise<void>;
  /** Checked after each step: true ends the epoch there. */
  stop?: () => boolean;
}

/**
 * The one training loop of the seed model: `plan.rows` in batches of `batchSize`; per batch its loss (and optional
 * terms), backward, one AdamW update, the caller's record, the submit. Returns the steps taken and whether `stop` ended
 * the epoch early.
 */
export async function trainEpoch(engine: Engine, model: SeedModel, optimizer: AdamW, plan: EpochPlan, hooks: StepHooks): Promise<{ steps: number; stopped: boolean }> {
  const steps = Math.ceil(plan.rows.length / plan.batchSize);
  for (let s = 0; s < steps; s++) {
    const rows = plan.rows.subarray(s * plan.batchSize, (s + 1) * plan.batchSize); // [B]
    const batch = trainBatch(plan.data, plan.examples, rows, plan.maxHistory, plan.window, plan.historyDropout ? { dropout: plan.historyDropout, rng: plan.rng } : undefined);
    const [unlikelihood, logitBias, distill] = hooks.terms?.(rows, batch) ?? [undefined, undefined, undefined];
    const dense: DenseTerm | undefined = hasDenseHead(model.config) ? { codes: plan.data.codes, weight: plan.denseWeight ?? 1 } : undefined;
    const out = model.trainingLoss(batch, plan.rng, unlikelihood, logitBias, distill, dense);
    engine.backward(out.loss, undefined, accumulateAdd);
    optimizer.update();
    hooks.record(out, s);
    engine.endStep();
    await hooks.settle?.(s);
    if (hooks.stop?.()) return { steps: s + 1, stopped: true };
  }
  return { steps, stopped: false };
}

export interface TrainHooks {
  log?: (line: string) => void;
  quiet?: boolean; // no progress bar (tests)
  deadline?: number; // Date.now() past which the epoch ends at its current step and no evaluation starts (onerec train: its own start + maxMinutes); default: this call's start + maxMinutes
}

/**
 * Items at the end of each sequence that are never training targets: the test and validation items, and
 * `validationGap` more before the validation item; a refit (trainThrough 'validation') holds out the test item only.
 * TrainError for a gap that is not a whole number ≥ 0, another trainThrough, or a gap with a refit.
 */
export function trainHeldOut(train: Pick<TrainConfig, 'validationGap'> & Partial<Pick<TrainConfig, 'trainThrough'>>): number {
  const gap = train.validationGap ?? 0;
  if (!Number.isInteger(gap) || gap < 0) throw new TrainError(`validationGap = ${gap}; it must be a whole number ≥ 0 (0 = every item before the validation target is a training target)`);
  const through = train.trainThrough ?? 'train';
  if (through !== 'train' && through !== 'validation') throw new TrainError(`trainThrough = ${through}; give train or validation`);
  if (through === 'validation') {
    if (gap > 0) throw new TrainError(`validationGap = ${gap} with trainThrough validation: a refit trains on the validation targets, so there is no validation to keep a gap before`);
    return 1;
  }
  return 2 + gap;
}

/**
 * Train `model` config `config` on `data`; writes OUT/{best,last}.ckpt, history.json, report.html.
 * `config.sessionLength` must be ≥ train.trainWindow (dec.pos covers the training window).
 */
export async function trainSeed(engine: Engine, data: SeedData, trie: TrieView, config: SeedConfig, train: TrainConfig, hooks: TrainHooks = {}): Promise<TrainResult> {
  const log = hooks.log ?? ((s: string) => console.log(s));
  if (config.sessionLength < train.trainWindow) {
    throw new TrainError(`trainWindow = ${train.trainWindow} needs sessionLength ≥ ${train.trainWindow} (dec.pos rows), got ${config.sessionLength}`);
  }
  if (hasItemEmbedding(config) && config.itemCount !== data.itemCount) {
    throw new TrainError(`itemEmbedding: config.itemCount = ${config.itemCount} but the data has ${data.itemCount} items; set itemCount from the prepared data`);
  }
  checkDenseOptions(config, train);
  mkdirSync(train.out, { recursive: true });
  const heldOut = trainHeldOut(train);
  const historyDropout = train.historyDropout ?? 0;
  if (!(historyDropout >= 0 && historyDropout < 1)) throw new TrainError(`historyDropout = ${historyDropout}; it must be in [0, 1) (0 = off)`);
  const examples = trainExamples(data, train.trainWindow, undefined, heldOut);
  if (examples.rows.length === 0) throw new TrainError(`no training examples: every user needs ≥ ${train.trainWindow + heldOut + 1} items`);
  // A refit trains on the validation targets: validating would rank them after training on them, so it validates
  // nothing, trains the epochs it is given and keeps the last (TrainingRun's refit).
  const refit = train.trainThrough === 'validation';
  const validation = refit ? [] : validationSubset(data, train.evalUsers, train.seed);
  const stepsPerEpoch = Math.ceil(examples.rows.length / train.batchSize);
  const historyBias = train.historyBias ? parseHistoryBias(train.historyBias, config.levels) : null;
  if (train.historyBias && !historyBias) {
    throw new TrainError(`--historyBias=${train.historyBias}: give ${config.levels} comma-separated numbers (one per level), or leave it empty`);
  }
  // Distillation teachers, frozen on the same engine and run without dropout on every batch: seed models (their
  // logits averaged: an ensemble) or one SASRec baseline (its item softmax written per code level). They, the
  // running sums and the optimizer's state are freed on every way out (a failed run frees the student too).
  let sasrecTeacher: SasrecTeacher | null = null;
  const teachers: SeedModel[] = [];
  const sums: Tensor[] = [];
  let student: SeedModel | null = null;
  let studentOptimizer: AdamW | null = null;
  let finished = false;
  try {
    const teacherPaths = train.distill ? train.distill.split(',').map((path) => path.trim()) : [];
    for (const path of teacherPaths) {
      let ckpt;
      try {
        ckpt = readCheckpoint(path);
      } catch (e) {
        throw new TrainError(`--distill=${train.distill}: ${(e as Error).message}`);
      }
      if (isSasrecCheckpoint(ckpt)) {
        if (teacherPaths.length > 1) throw new TrainError(`--distill=${train.distill}: a SASRec teacher (${path}) distils alone; give it without other teachers`);
        try {
          sasrecTeacher = SasrecTeacher.fromModel(engine, SasrecModel.fromCheckpoint(engine, ckpt.meta.config as SasrecConfig, ckpt), data.codes, config.levels, config.codebookSize);
        } catch (e) {
          throw new TrainError(`--distill=${path}: ${(e as Error).message}`);
        }
        continue;
      }
      const c = ckpt.meta.config as SeedConfig;
      if (ckpt.meta.kind !== CHECKPOINT_KIND || c.levels !== config.levels || c.codebookSize !== config.codebookSize || c.maxHistory !== config.maxHistory || c.sessionLength < train.trainWindow) {
        throw new TrainError(`--distill: ${path} is not a seed model over ${config.levels} levels × K ${config.codebookSize} with history ${config.maxHistory} and sessionLength ≥ ${train.trainWindow}, nor an onerec baseline (SASRec) checkpoint`);
      }
      if (hasItemEmbedding(c) && c.itemCount !== data.itemCount) {
        throw new TrainError(`--distill: ${path} has item embeddings for ${c.itemCount} items, this data has ${data.itemCount}; distil from a teacher trained on the same prepared data`);
      }
      teachers.push(SeedModel.fromWeights(engine, c, checkpointWeights(ckpt)));
    }
    const distilling = teachers.length > 0 || sasrecTeacher !== null;
    if (distilling && !(train.distillWeight > 0 && train.distillWeight <= 1)) throw new TrainError(`--distillWeight=${train.distillWeight}: give α in (0, 1]`);
    const model = SeedModel.init(engine, config, train.seed);
    student = model;
    const params = model.parameterList();
    const optimizer = new AdamW(engine, params, {
      lr: train.lr, warmupSteps: train.warmupSteps, totalSteps: stepsPerEpoch * train.epochs, decay: 'cosine', minLrRatio: 0.1,
      weightDecay: train.weightDecay, clipNorm: train.gradClip,
    });
    studentOptimizer = optimizer;
    const rng = new Rng(train.seed); // shuffling and dropout
    const run = new TrainingRun<EpochRecord>({ out: train.out, kind: CHECKPOINT_KIND, config, train, engine, params, optimizer, rng, log, refit });
    if (train.init && !(train.resume && existsSync(run.last))) {
      let meta;
      try {
        meta = loadCheckpoint(train.init, engine, params); // weights only: the optimizer and schedule start fresh
      } catch (e) {
        throw new TrainError(`--init=${(e as Error).message}; pass the same model flags it was trained with`);
      }
      log(`initialized from ${train.init} (epoch ${meta.epoch ?? '?'}); optimizer and schedule start fresh`);
    }
    run.resume(train.resume);
    log(`seed model: ${parameterCount(config).toLocaleString('en')} parameters, ${examples.rows.length.toLocaleString('en')} training examples, ${stepsPerEpoch} steps/epoch, ${validation.length} validation users`);

    // Running sums on the GPU so that a step never waits for a readback.
    const [ceSum, auxSum, ulSum, distillSum, denseSum] = Array.from({ length: 5 }, () => engine.persistent([1]));
    const loadSum = Array.from({ length: config.decoderLayers }, () => engine.persistent([config.experts]));
    sums.push(ceSum, auxSum, ulSum, distillSum, denseSum, ...loadSum);
    const start = Date.now() - run.elapsedBefore * 1000;
    const seconds = (): number => (Date.now() - start) / 1000; // training time, resumed runs included
    // maxMinutes counts this process only, so that a resumed run gets its own budget. It is checked after each
    // step, so every epoch this process starts takes at least one step and ends with last.ckpt written.
    const deadline = hooks.deadline ?? (train.maxMinutes > 0 ? Date.now() + train.maxMinutes * 60_000 : Infinity);
    const pastDeadline = (): boolean => Date.now() > deadline;

    for (let epoch = run.startEpoch; epoch < train.epochs; epoch++) {
      // Back to the canonical order, then shuffled in place: the same permutation of the same list every epoch as when
      // the examples were objects and a fresh 0 … n − 1 order was shuffled, so runs and checkpoints are unchanged.
      trainExamples(data, train.trainWindow, examples, heldOut);
      rng.shuffle(examples.rows);
      for (const t of [ceSum, auxSum, ulSum, distillSum, denseSum, ...loadSum]) engine.zero(t);
      const bar = hooks.quiet ? null : progressBar(`epoch ${epoch + 1}/${train.epochs}`, stepsPerEpoch);
      let shownLoss = NaN;
      let pending: Promise<Float32Array> | null = null;
      let show: Promise<Float32Array> | null = null;
      const epochRun = await trainEpoch(engine, model, optimizer, { data, examples, rows: examples.rows, batchSize: train.batchSize, maxHistory: config.maxHistory, window: train.trainWindow, rng, historyDropout: train.historyDropout, denseWeight: train.denseWeight }, {
        terms: (rows, batch) => {
          const chunk = train.unlikelihood > 0 || historyBias ? batchExamples(examples, rows) : []; // the optional terms take objects
          const ul = train.unlikelihood > 0
            ? { weight: train.unlikelihood, negatives: historyNegatives(data, chunk, config.maxHistory, train.trainWindow, train.unlikelihoodItems, rng, train.unlikelihoodLevels > 0 ? Math.min(config.levels, train.unlikelihoodLevels) : config.levels) }
            : undefined;
          const distill = !distilling ? undefined : {
            probs: sasrecTeacher ? (sasrecTeacher as SasrecTeacher).probs(batch, train.trainWindow, config.maxHistory) : teacherProbs(teachers, batch),
            weight: train.distillWeight,
          };
          return [ul, historyBias ? historyLogitBias(trie, data.sequences, chunk, data.codes, train.trainWindow, historyBias) : undefined, distill];
        },
        record: (out, s) => {
          addInto(ceSum, out.ce);
          if (out.aux) addInto(auxSum, out.aux);
          if (out.unlikelihood) addInto(ulSum, out.unlikelihood);
          if (out.distill) addInto(distillSum, out.distill);
          if (out.dense) addInto(denseSum, out.dense);
          out.load.forEach((l, i) => addInto(loadSum[i], l));
          show = s % 25 === 0 ? engine.read(out.ce) : null;
        },
        settle: async (s) => {
          if (!show) return;
          if (pending) shownLoss = (await pending)[0];
          pending = show;
          bar?.update(s + 1, { loss: Number.isNaN(shownLoss) ? '…' : shownLoss.toFixed(4), lr: optimizer.lr.toExponential(2) });
        },
        stop: pastDeadline,
      });
      const steps = epochRun.steps;
      let outOfTime = epochRun.stopped;
      if (pending) shownLoss = (await pending)[0];
      bar?.update(steps, { loss: shownLoss.toFixed(4) });
      bar?.stop();
      const trainLoss = (await engine.read(ceSum))[0] / steps;
      const auxLoss = (await engine.read(auxSum))[0] / steps;
      const ulLoss = train.unlikelihood > 0 ? (await engine.read(ulSum))[0] / steps : undefined;
      const distillLoss = distilling ? (await engine.read(distillSum))[0] / steps : undefined;
      const denseLoss = hasDenseHead(config) && train.denseWeight > 0 ? (await engine.read(denseSum))[0] / steps : undefined;
      const expertLoad = await Promise.all(loadSum.map(async (t) => Array.from(await engine.read(t), (v) => v / steps)));
      const record: EpochRecord = { epoch: epoch + 1, step: optimizer.step, trainLoss, auxLoss, ...(ulLoss !== undefined && { unlikelihoodLoss: ulLoss }), ...(distillLoss !== undefined && { distillLoss }), ...(denseLoss !== undefined && { denseLoss }), expertLoad, seconds: seconds() };
      if (!Number.isFinite(trainLoss)) throw new TrainError(`training loss is ${trainLoss} at epoch ${epoch + 1}; lower --lr or raise --warmupSteps`);
      // Past the budget no validation starts: the partial epoch goes to last.ckpt unvalidated (--resume continues it).
      outOfTime ||= pastDeadline();
      const evaluate = !refit && !outOfTime && ((epoch + 1) % train.evalEvery === 0 || epoch + 1 === train.epochs);
      if (evaluate) {
        const figures = await evaluateRanking(model, data, trie, validation, { beamWidth: train.evalBeam, usersPerBatch: 256, excludeHistory: false, historyBias, ...(train.denseMix > 0 && { denseMix: train.denseMix }) });
        await run.validated(epoch, record, figures, seconds());
      }
      const v = record.validation;
      await run.endEpoch(epoch, record, `epoch ${epoch + 1}: loss ${trainLoss.toFixed(4)} aux ${auxLoss.toFixed(3)} ${ulLoss !== undefined ? `ul ${ulLoss.toFixed(4)} ` : ''}${denseLoss !== undefined ? `dense ${denseLoss.toFixed(4)} ` : ''}${v ? `val R@10 ${v['recall@10'].toFixed(4)} N@10 ${v['ndcg@10'].toFixed(4)} ± ${v['ndcg@10_se'].toFixed(4)} valid ${v.valid_id_rate.toFixed(3)}` : ''} (${record.seconds.toFixed(0)} s)`);
      writeFileSync(join(train.out, 'report.html'), trainingReport(`seed model — ${train.data}`, { model: config, train }, run.history, { best: run.best, parameters: parameterCount(config) }));
      if (run.stops(outOfTime)) break;
    }
    const outcome = run.finish();
    finished = true;
    return { model, ...outcome };
  } finally {
    engine.destroy(...sums);
    for (const t of teachers) t.dispose();
    (sasrecTeacher as SasrecTeacher | null)?.dispose();
    if (finished) studentOptimizer?.releaseState(); // the returned model keeps its parameters, not the training state
    else if (studentOptimizer) studentOptimizer.dispose();
    else student?.dispose();
  }
}

export interface SeedEpochsOptions {
  epochs: number;       // passes over the examples
  batchSize: number;    // examples per step
  learningRate: number; // AdamW peak rate (cosine decay, 5 % warm-up)
  maxExamples: number;  // cap on examples per epoch (0 = all), seeded sample
  maxSeconds: number;   // stop training after this long (0 = no limit); the steps done are reported
  seed: number;
}

/**
 * The seed model for `onerec align` when no seed checkpoint is given: next-session prediction over every window of
 * `config.sessionLength` items of each (training-period) sequence, history = everything before it, through
 * `trainEpoch` for a fixed number of epochs (each a seeded sample of ≤ maxExamples windows); no validation, nothing
 * written. `loss` is each epoch's mean cross-entropy, read back every step.
 */
export async function trainSeedEpochs(engine: Engine, config: SeedConfig, data: SeedData, options: SeedEpochsOptions, progress?: (total: number) => Progress): Promise<{ model: SeedModel; loss: number[]; steps: number }> {
  const examples = trainExamples(data, config.sessionLength, undefined, 0);
  const shuffle = new Rng(options.seed);
  const perEpoch = options.maxExamples > 0 ? Math.min(options.maxExamples, examples.rows.length) : examples.rows.length;
  const total = Math.ceil(perEpoch / options.batchSize) * options.epochs;
  const model = SeedModel.init(engine, config, options.seed);
  const optimizer = new AdamW(engine, model.parameterList(), { lr: options.learningRate, warmupSteps: Math.ceil(0.05 * total), totalSteps: total, decay: 'cosine', weightDecay: 0.01, clipNorm: 1 });
  const plan = { data, examples, rows: examples.rows, batchSize: options.batchSize, maxHistory: config.maxHistory, window: config.sessionLength, rng: new Rng(options.seed + 1) };
  const bar = progress?.(total);
  const losses: number[] = [];
  let step = 0;
  const started = Date.now();
  const outOfTime = (): boolean => options.maxSeconds > 0 && (Date.now() - started) / 1000 > options.maxSeconds;
  for (let epoch = 0; epoch < options.epochs && !outOfTime(); epoch++) {
    trainExamples(data, config.sessionLength, examples, 0); // canonical order, then this epoch's shuffle and sample
    plan.rows = shuffle.shuffle(examples.rows).subarray(0, perEpoch);
    let sum = 0;
    const pending: Promise<Float32Array>[] = [];
    const run = await trainEpoch(engine, model, optimizer, plan, {
      record: (out) => { pending.push(engine.read(out.ce)); },
      settle: async () => {
        step++;
        bar?.update(step);
        if (pending.length >= 16) for (const p of pending.splice(0)) sum += (await p)[0];
      },
      stop: outOfTime,
    });
    for (const p of pending.splice(0)) sum += (await p)[0];
    losses.push(sum / run.steps);
  }
  bar?.stop();
  return { model, loss: losses, steps: step };
}
