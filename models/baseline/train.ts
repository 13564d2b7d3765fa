// SASRec's training loop (used by `onerec baseline`): every position of every user's train sequence is a
// target, AdamW, full-catalog validation NDCG@10 after every epoch, early stopping, best.ckpt / last.ckpt with
// resume, and the same ranking metrics as `onerec eval` (full ranking over all items, the history not excluded).
import { mkdirSync } from 'node:fs';
import type { PreparedData } from '../data/prepared.ts';
import { sequenceOffsets, userOfRow } from '../data/flat-rows.ts';
import { heldOutExamples, TEST, trainSequences, VALIDATION, type HeldOutExample } from '../data/splits.ts';
import { AdamW, type Schedule } from '../engine/index.ts';
import type { Engine } from '../engine/engine.ts';
import { accumulateAdd, addInto } from '../engine/ops.ts';
import { Rng } from '../random.ts';
import { progressBar } from '../progress.ts';
import { RankingAccumulator, type RankingMetrics } from '../seed/metrics.ts';
import { TrainingRun } from '../training-run.ts';
import { SasrecModel, sasrecParameterCount, type SasrecConfig } from './sasrec.ts';

export const CHECKPOINT_KIND = 'sasrec';

export class BaselineError extends Error {
  override name = 'BaselineError';
}

export const DEFAULT_BASELINE_TRAIN = {
  lr: 1e-3, // AdamW peak learning rate
  batchSize: 128, // training windows (sequences of ≤ maxLength positions) per step
  epochs: 200, // upper bound; early stopping usually ends the run first
  patience: 20, // validations (every evalEvery epochs) without a better NDCG@10 before stopping
  warmupSteps: 100, // linear learning-rate warm-up (steps)
  decay: 'constant', // learning rate after warm-up: 'constant' | 'cosine' (to 10 % over all epochs) | 'linear'
  weightDecay: 0, // decoupled AdamW weight decay on matrices and embeddings
  gradClip: 1, // global gradient-norm clip (0 = none)
  evalEvery: 1, // validate every N epochs
  evalUsers: 0, // validate on a seeded subset of this many users (0 = the whole validation split)
  seed: 42, // initialisation, shuffling and dropout
  maxMinutes: 0, // stop training after this many minutes of this process (0 = no bound); last.ckpt is written
  resume: false, // continue from OUT/last.ckpt
  trainThrough: 'train', // 'train', or 'validation': every target but the test split's, for exactly --epochs epochs with no validation, best.ckpt the last epoch's (a refit once a run on 'train' has chosen the epochs)
};
export type BaselineTrainConfig = typeof DEFAULT_BASELINE_TRAIN & { out: string };

/** What SASRec reads from the prepared data: train sequences and the held-out examples of both splits. */
export interface BaselineData {
  items: number;
  maxLength: number; // L: history items per example (given, or autoMaxLength of the train sequences)
  train: Int32Array[]; // [users][n] catalog indices of each user's train rows, oldest first
  validation: HeldOutExample[];
  test: HeldOutExample[];
}

/**
 * `maxLength` 0: from the data (autoMaxLength of the train sequences). `through` 'validation': each user's train
 * sequence ends with the validation item (a refit's data); the history length is still the train split's, so a refit
 * has the config of the run that chose its epochs.
 */
export function baselineData(prepared: PreparedData, maxLength: number, through: 'train' | 'validation' = 'train'): BaselineData {
  const trainOnly = trainSequences(prepared, prepared.split);
  if (maxLength <= 0) maxLength = autoMaxLength(trainOnly);
  const train = through === 'train' ? trainOnly : trainSequences(prepared, prepared.split, VALIDATION);
  return {
    items: prepared.meta.items,
    maxLength,
    train,
    // Whole histories: the model reads their last maxLength items (heldOutBatch), and --testExcludeHistory leaves
    // every one of them out of the ranking, as the seed model's evaluation and the runtime do.
    validation: heldOutExamples(prepared, prepared.split, VALIDATION, Infinity),
    test: heldOutExamples(prepared, prepared.split, TEST, Infinity),
  };
}

/**
 * History length from the data when not given: the 80th percentile of train-sequence lengths, clamped to
 * [50, 200] (SASRec's own choices: 50 for sparse Amazon logs, 200 for MovieLens).
 */
export function autoMaxLength(train: Int32Array[]): number {
  const lengths = train.map((s) => s.length).sort((a, b) => a - b);
  const p80 = lengths.length ? lengths[Math.min(lengths.length - 1, Math.floor(0.8 * lengths.length))] : 0;
  return Math.min(200, Math.max(50, Math.ceil(p80 / 10) * 10));
}

/**
 * SASRec's training windows without an array per window: every transition of every train sequence exactly once,
 * cut from the end into windows of ≤ L transitions (a sequence of n items gives n − 1 targets; the most recent window
 * has the longest context). A window is the flat position of its last target, counting the train sequences end to end
 * (sequenceOffsets); its inputs are the ≤ L items before that target in the same sequence.
 */
export interface TrainingWindows {
  offsets: Int32Array; // [users + 1] user u's train sequence is flat positions offsets[u] .. offsets[u + 1) − 1
  ends: Int32Array; // [windows] flat position of each window's last target: users in order, each from its last window back
}

/** Windows of ≤ L transitions per train sequence: ⌈(n − 1) / L⌉ for n items. */
export function trainingWindowCount(train: readonly Int32Array[], L: number): number {
  let count = 0;
  for (const seq of train) count += Math.ceil(Math.max(0, seq.length - 1) / L);
  return count;
}

/**
 * The windows in canonical order (users in order, each user's from the end back). `into` (from an earlier call with
 * the same sequences and L) is refilled in that order instead of allocated: the trainer restarts every epoch's shuffle
 * from it, as it shuffled a fresh 0 … n − 1 permutation of a window list before.
 */
export function trainingWindows(train: readonly Int32Array[], L: number, into?: TrainingWindows): TrainingWindows {
  const offsets = into?.offsets ?? sequenceOffsets(train);
  const ends = into?.ends ?? new Int32Array(trainingWindowCount(train, L));
  let k = 0;
  train.forEach((seq, user) => {
    for (let end = seq.length - 1; end > 0; end -= L) ends[k++] = offsets[user] + end;
  });
  if (k !== ends.length) throw new RangeError(`trainingWindows: ${k} windows for ${ends.length} slots; refill only with the sequences and L that made them`);
  return { offsets, ends };
}

/** Left-padded rows of windows `ends` (a slice of TrainingWindows.ends): inputs[i] is followed by targets[i]; both catalog index + 1, 0 = padding. */
export function windowBatch(train: readonly Int32Array[], windows: TrainingWindows, ends: Int32Array, L: number): { inputs: Int32Array; targets: Int32Array } {
  const inputs = new Int32Array(ends.length * L); // [B, L]
  const targets = new Int32Array(ends.length * L); // [B, L]
  for (let b = 0; b < ends.length; b++) {
    const user = userOfRow(windows.offsets, ends[b]);
    const seq = train[user];
    const end = ends[b] - windows.offsets[user]; // index of the last target in seq
    const start = Math.max(0, end - L);
    const n = end - start;
    for (let i = 0; i < n; i++) {
      inputs[b * L + L - n + i] = seq[start + i] + 1;
      targets[b * L + L - n + i] = seq[start + i + 1] + 1;
    }
  }
  return { inputs, targets };
}

/** Left-padded history rows [B, L] and targets [B] (catalog index + 1) of held-out examples (first target each). */
export function heldOutBatch(examples: readonly HeldOutExample[], L: number): { histories: Int32Array; targets: Int32Array } {
  const histories = new Int32Array(examples.length * L);
  const targets = new Int32Array(examples.length);
  examples.forEach((ex, b) => {
    const h = ex.history.subarray(Math.max(0, ex.history.length - L));
    for (let i = 0; i < h.length; i++) histories[b * L + L - h.length + i] = h[i] + 1;
    targets[b] = ex.targets[0] + 1;
  });
  return { histories, targets };
}

/** Full-catalog Recall/NDCG@5/10 of the first target of each example (valid-ID rate is 1: every score is an item). */
/**
 * Full-catalog ranking metrics of held-out examples. `excludeHistory`: every item of the user's whole history (not
 * only the window the model reads) is left out of the ranking, as the runtime does by default and as
 * `onerec train --testExcludeHistory` reports for the seed model; a target the user already had is then a miss.
 */
export async function evaluateSasrec(model: SasrecModel, examples: readonly HeldOutExample[], options: { usersPerBatch?: number; excludeHistory?: boolean; onProgress?: (done: number) => void; onRank?: (index: number, rank: number) => void } = {}): Promise<RankingMetrics> {
  const per = options.usersPerBatch ?? 1024;
  const acc = new RankingAccumulator();
  for (let start = 0; start < examples.length; start += per) {
    const chunk = examples.slice(start, start + per);
    const { histories, targets } = heldOutBatch(chunk, model.config.maxLength);
    let exclude: Int32Array | undefined;
    if (options.excludeHistory) {
      const pairs: number[] = [];
      chunk.forEach((ex, b) => { for (const item of new Set(ex.history)) pairs.push(b, item + 1); });
      exclude = Int32Array.from(pairs);
    }
    const ranks = await model.targetRanks(histories, targets, chunk.length, exclude);
    ranks.forEach((r, i) => {
      acc.add(r, true);
      options.onRank?.(start + i, r);
    });
    options.onProgress?.(Math.min(examples.length, start + per));
  }
  return acc.result();
}

/** A fixed seeded subset (all when n = 0 or n ≥ length), in the split's order. */
function subset<T>(all: readonly T[], n: number, seed: number): T[] {
  if (n <= 0 || n >= all.length) return [...all];
  const order = Int32Array.from(all.keys());
  new Rng(seed ^ 0x5eed).shuffle(order);
  return Array.from(order.subarray(0, n)).sort((a, b) => a - b).map((i) => all[i]);
}

export interface BaselineEpoch {
  epoch: number;
  step: number;
  trainLoss: number;
  seconds: number; // training time so far (resumed runs included)
  validation?: RankingMetrics;
}

export interface BaselineResult {
  model: SasrecModel; // holds the best weights when the run ends
  best: { epoch: number; validation: RankingMetrics } | null;
  history: BaselineEpoch[];
  stopReason: string;
}

export interface BaselineHooks {
  log?: (line: string) => void;
  quiet?: boolean; // no progress bar
}

/** Train SASRec on `data`; writes OUT/{best,last}.ckpt and OUT/history.json. */
export async function trainSasrec(engine: Engine, data: BaselineData, config: SasrecConfig, train: BaselineTrainConfig, hooks: BaselineHooks = {}): Promise<BaselineResult> {
  const log = hooks.log ?? ((s: string) => console.log(s));
  if (!['constant', 'cosine', 'linear'].includes(train.decay)) throw new BaselineError(`--decay=${train.decay}: give constant, cosine or linear`);
  if (!(train.batchSize >= 1) || !(train.lr > 0)) throw new BaselineError(`--batchSize=${train.batchSize} --lr=${train.lr}: give a batch ≥ 1 and a learning rate > 0`);
  mkdirSync(train.out, { recursive: true });
  const windows = trainingWindows(data.train, config.maxLength);
  if (windows.ends.length === 0) throw new BaselineError('no training targets: every user has fewer than 2 train items');
  if (!['train', 'validation'].includes(train.trainThrough)) throw new BaselineError(`--trainThrough=${train.trainThrough}: give train or validation`);
  // A refit trains on the validation targets, so validating would rank them after training on them: it trains the
  // epochs it is given and keeps the last.
  const refit = train.trainThrough === 'validation';
  if (!refit && data.validation.length === 0) throw new BaselineError('no validation examples: the prepared split has no validation rows');
  const validation = refit ? [] : subset(data.validation, train.evalUsers, train.seed);
  const stepsPerEpoch = Math.ceil(windows.ends.length / train.batchSize);
  const model = SasrecModel.init(engine, config, train.seed);
  const params = model.parameterList();
  // Everything made on the GPU is freed on every way out: on return the running sum and the optimizer's state (the
  // model keeps its parameters), on failure the optimizer and the parameters too.
  const lossSum = engine.persistent([1]);
  let trainer: AdamW | null = null;
  let finished = false;
  try {
    const optimizer = new AdamW(engine, params, {
      lr: train.lr, warmupSteps: train.warmupSteps, totalSteps: stepsPerEpoch * train.epochs, decay: train.decay as Schedule['decay'], minLrRatio: 0.1,
      weightDecay: train.weightDecay, clipNorm: train.gradClip,
    });
    trainer = optimizer;
    const rng = new Rng(train.seed + 1); // shuffling and dropout
    const run = new TrainingRun<BaselineEpoch>({ out: train.out, kind: CHECKPOINT_KIND, config, train, engine, params, optimizer, rng, log, refit });
    run.resume(train.resume, (meta) => {
      if (JSON.stringify(meta.config) !== JSON.stringify(config)) throw new BaselineError(`${run.last} was trained with another config (${JSON.stringify(meta.config)}); resume with the same flags or drop --resume`);
    });
    const targets = data.train.reduce((n, seq) => n + Math.max(0, seq.length - 1), 0);
    log(`SASRec: ${sasrecParameterCount(config).toLocaleString('en')} parameters, ${targets.toLocaleString('en')} training targets in ${windows.ends.length.toLocaleString('en')} windows of ≤ ${config.maxLength}, ${stepsPerEpoch} steps/epoch, ${refit ? 'a refit through the validation split: no validation, the last epoch kept' : `${validation.length} validation users`}`);
    const start = Date.now() - run.elapsedBefore * 1000;
    const processStart = Date.now();
    const L = config.maxLength;
    for (let epoch = run.startEpoch; epoch < train.epochs; epoch++) {
      // Back to the canonical order, then shuffled in place: the same permutation of the same list every epoch as when
      // the windows were objects and a fresh 0 … n − 1 order was shuffled, so runs and checkpoints are unchanged.
      trainingWindows(data.train, L, windows);
      rng.shuffle(windows.ends);
      engine.zero(lossSum);
      const bar = hooks.quiet ? null : progressBar(`SASRec epoch ${epoch + 1}/${train.epochs}`, stepsPerEpoch);
      let steps = 0;
      let outOfTime = false;
      for (let s = 0; s < stepsPerEpoch; s++) {
        const chunk = windows.ends.subarray(s * train.batchSize, (s + 1) * train.batchSize); // [B]
        const { inputs, targets: labels } = windowBatch(data.train, windows, chunk, L); // [B, L] each
        const loss = model.trainingLoss(inputs, labels, chunk.length, rng);
        engine.backward(loss, undefined, accumulateAdd);
        optimizer.update();
        addInto(lossSum, loss);
        engine.endStep();
        steps++;
        if (s % 25 === 0) bar?.update(s + 1, { lr: optimizer.lr.toExponential(2) });
        if (train.maxMinutes > 0 && Date.now() - processStart > train.maxMinutes * 60_000) { outOfTime = true; break; }
      }
      bar?.update(steps);
      bar?.stop();
      const trainLoss = (await engine.read(lossSum))[0] / steps;
      if (!Number.isFinite(trainLoss)) throw new BaselineError(`training loss is ${trainLoss} at epoch ${epoch + 1}; lower --lr or raise --warmupSteps`);
      const record: BaselineEpoch = { epoch: epoch + 1, step: optimizer.step, trainLoss, seconds: (Date.now() - start) / 1000 };
      if (!refit && ((epoch + 1) % train.evalEvery === 0 || outOfTime || epoch + 1 === train.epochs)) {
        const figures = await evaluateSasrec(model, validation);
        await run.validated(epoch, record, figures, (Date.now() - start) / 1000);
      }
      const v = record.validation;
      await run.endEpoch(epoch, record, `epoch ${epoch + 1}: loss ${trainLoss.toFixed(4)}${v ? ` val R@10 ${v['recall@10'].toFixed(4)} N@10 ${v['ndcg@10'].toFixed(4)} ± ${v['ndcg@10_se'].toFixed(4)}` : ''} (${record.seconds.toFixed(0)} s)`);
      if (run.stops(outOfTime)) break;
    }
    const outcome = run.finish();
    finished = true;
    return { model, ...outcome };
  } finally {
    engine.destroy(lossSum); // through the engine, so that stats.persistentBytes counts it back
    if (finished) trainer?.releaseState(); // the returned model keeps its parameters, not the training state
    else if (trainer) trainer.dispose();
    else model.dispose();
  }
}
