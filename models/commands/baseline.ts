// onerec baseline — SASRec, the classic sequential recommender, trained by the same engine on the same
// prepared data and split, so that every generative figure has a strong yardstick beside it.
//
//   onerec baseline --data runs/beauty --out runs/beauty/sasrec
//   onerec baseline --data runs/beauty --out runs/beauty/sasrec --resume          # continue from last.ckpt
//
// Full-softmax cross-entropy over the whole catalog at every position (models/baseline/sasrec.ts). Writes
// OUT/best.ckpt, OUT/last.ckpt, OUT/history.json and OUT/report.json: the test metrics at the top level
// with the keys of `onerec eval` (recall@5/10, ndcg@5/10, ndcg@10_se, valid_id_rate, users, split), and the
// full validation split's metrics under `validation`.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPrepared } from '../data/prepared.ts';
import { createEngine } from '../engine/index.ts';
import { parseOptions } from '../options.ts';
import { progressBar } from '../progress.ts';
import { SasrecModel, sasrecParameterCount, validateSasrecConfig, type SasrecConfig } from '../baseline/sasrec.ts';
import { readCheckpoint } from '../engine/checkpoint.ts';
import type { Engine } from '../engine/engine.ts';
import { baselineData, BaselineError, CHECKPOINT_KIND, DEFAULT_BASELINE_TRAIN, evaluateSasrec, trainSasrec } from '../baseline/train.ts';
import type { HeldOutExample } from '../data/splits.ts';
import { requireHardwareGpu } from '../seed/train.ts';
import { checkOptionValues, type OptionRange } from '../data/prepare-options.ts';

export const summary = 'train the SASRec baseline (GPU) on prepared data and report its test metrics beside the seed model\'s';

export const DEFAULT_BASELINE_OPTIONS = {
  data: '', // prepared data directory (`onerec prepare --out`)
  out: '', // output directory: checkpoints, history.json, report.json
  dModel: 64, // item embedding and hidden width
  heads: 1, // attention heads
  blocks: 2, // transformer blocks
  ffnDim: 256, // feed-forward hidden width
  maxLength: 0, // items of history read (0 = from the data: 80th percentile of train lengths, within [50, 200])
  dropout: 0.5, // input and residual dropout
  ...DEFAULT_BASELINE_TRAIN,
  noTest: false, // stop after training (no test evaluation)
  testExcludeHistory: false, // also report test metrics with the user's own history left out of the ranking (the runtime's default)
  checkpoint: '', // evaluate this onerec baseline checkpoint (its best.ckpt) on the test split instead of training; '' = train
  softwareGpu: false, // train on a software adapter (SwiftShader, lavapipe: the CPU) instead of refusing
};

const int = (min: number, max: number, why?: string): OptionRange => ({ min, max, integer: true, why });
const real = (min: number, max: number, why?: string): OptionRange => ({ min, max, integer: false, why });

/** Every numeric option's valid range, checked before the data is read (a test checks that none is missing). */
export const BASELINE_OPTION_RANGES: Record<string, OptionRange> = {
  dModel: int(1, 4096), heads: int(1, 64), blocks: int(1, 64), ffnDim: int(1, 65_536),
  maxLength: int(0, 10_000, '0 = from the data; the runtime takes at most 10000 history items'), dropout: real(0, 0.99),
  lr: real(1e-9, 1), batchSize: int(1, 65_536), epochs: int(0, 100_000), patience: int(1, 100_000), warmupSteps: int(0, 1e9),
  weightDecay: real(0, 10), gradClip: real(0, 1e6, '0 = no clipping'), evalEvery: int(1, 100_000), evalUsers: int(0, 1e9, '0 = all'),
  seed: int(0, 2 ** 32 - 1, 'a 32-bit seed'), maxMinutes: real(0, 1e6, '0 = no bound'),
};

async function evaluate(model: SasrecModel, examples: HeldOutExample[], split: 'validation' | 'test', excludeHistory = false) {
  const bar = progressBar(`SASRec ${split}${excludeHistory ? ', history excluded' : ''}`, examples.length);
  const started = Date.now();
  const metrics = await evaluateSasrec(model, examples, { excludeHistory, onProgress: (done) => bar.update(done) });
  bar.stop();
  return { split, ...metrics, seconds: (Date.now() - started) / 1000 };
}

/** An `onerec baseline` checkpoint, checked to be one. */
function readBaselineCheckpoint(path: string): ReturnType<typeof readCheckpoint> {
  let ckpt;
  try {
    ckpt = readCheckpoint(path);
  } catch (e) {
    throw new BaselineError(`--checkpoint=${path}: ${(e as Error).message}`);
  }
  if (ckpt.meta.kind !== CHECKPOINT_KIND) throw new BaselineError(`--checkpoint=${path}: a '${String(ckpt.meta.kind)}' checkpoint, not an onerec baseline one`);
  return ckpt;
}

export async function run(argv: string[]): Promise<void> {
  const o = parseOptions(argv, DEFAULT_BASELINE_OPTIONS, `onerec baseline --data PREPARED --out DIR [--key=value …]\n${summary}`);
  if (!o) return;
  if (!o.data || !o.out) throw new BaselineError('give --data PREPARED (an `onerec prepare` output) and --out DIR');
  checkOptionValues(o, BASELINE_OPTION_RANGES, { decay: ['constant', 'cosine', 'linear'] });
  const prepared = loadPrepared(o.data);
  // A checkpoint is evaluated with the history length it was trained with.
  const ckpt = o.checkpoint ? readBaselineCheckpoint(o.checkpoint) : null;
  const trainedLength = (ckpt?.meta.config as SasrecConfig | undefined)?.maxLength;
  if (trainedLength !== undefined && o.maxLength > 0 && o.maxLength !== trainedLength) throw new BaselineError(`--maxLength=${o.maxLength}, but --checkpoint=${o.checkpoint} was trained with ${trainedLength}: leave --maxLength out`);
  const data = baselineData(prepared, trainedLength ?? o.maxLength);
  const engine = await createEngine();
  mkdirSync(o.out, { recursive: true });
  const started = Date.now();
  let model: SasrecModel;
  let trainInfo: Record<string, unknown>;
  let validation: Record<string, unknown> | undefined;
  if (o.checkpoint) {
    const config = ckpt!.meta.config as SasrecConfig;
    if (config.items !== data.items) throw new BaselineError(`--checkpoint=${o.checkpoint}: trained on ${config.items} items; this prepared data has ${data.items}`);
    model = SasrecModel.fromCheckpoint(engine, config, ckpt!);
    requireHardwareGpu(engine, { allowSoftware: o.softwareGpu, parameters: sasrecParameterCount(model.config), examplesPerEpoch: 0, epochs: 0 });
    trainInfo = { evaluated_checkpoint: o.checkpoint };
  } else {
    const config: SasrecConfig = { items: data.items, dModel: o.dModel, heads: o.heads, blocks: o.blocks, ffnDim: o.ffnDim, maxLength: data.maxLength, dropout: o.dropout };
    validateSasrecConfig(config);
    requireHardwareGpu(engine, { allowSoftware: o.softwareGpu, parameters: sasrecParameterCount(config), examplesPerEpoch: data.train.reduce((n, s) => n + Math.max(0, s.length - 1), 0), epochs: o.epochs });
    const result = await trainSasrec(engine, data, config, o);
    if (o.noTest) return;
    model = result.model;
    validation = o.evalUsers > 0 ? await evaluate(model, data.validation, 'validation') : { split: 'validation', ...result.best?.validation };
    trainInfo = { ...o, best_epoch: result.best?.epoch, epochs_run: result.history.length, stop_reason: result.stopReason, train_seconds: (Date.now() - started) / 1000 };
  }
  const test = await evaluate(model, data.test, 'test');
  const excluded = o.testExcludeHistory ? await evaluate(model, data.test, 'test', true) : undefined;
  const report = {
    ...test,
    model: 'SASRec',
    loss: 'full-softmax cross-entropy over all items at every position',
    ranking: 'full catalog, history items not excluded (as onerec eval)',
    ...(excluded && { test_exclude_history: excluded }),
    dataset: prepared.meta.dataset,
    prepared: o.data,
    checkpoint: o.checkpoint || join(o.out, 'best.ckpt'),
    config: model.config,
    parameters: sasrecParameterCount(model.config),
    train: trainInfo,
    ...(validation && { validation }),
  };
  writeFileSync(join(o.out, 'report.json'), JSON.stringify(report, null, 1));
  const line = (m: typeof test) => `R@5 ${m['recall@5'].toFixed(4)} R@10 ${m['recall@10'].toFixed(4)} N@5 ${m['ndcg@5'].toFixed(4)} N@10 ${m['ndcg@10'].toFixed(4)} ± ${m['ndcg@10_se'].toFixed(4)} (${m.users} users)`;
  console.log(`test: ${line(test)} → ${join(o.out, 'report.json')}`);
  if (excluded) console.log(`test, history excluded: ${line(excluded)}`);
}
