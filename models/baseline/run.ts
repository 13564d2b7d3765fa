// The baseline stage behind `onerec baseline` (models/commands/baseline.ts declares, parses and checks the options): train
// SASRec on the prepared data (or read a trained checkpoint), evaluate it on the test split with the keys of
// `onerec eval`, and write OUT/report.json beside the checkpoints.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPrepared } from '../data/prepared.ts';
import { createEngine } from '../engine/index.ts';
import { progressBar } from '../progress.ts';
import { SasrecModel, sasrecParameterCount, validateSasrecConfig, type SasrecConfig } from './sasrec.ts';
import { readCheckpoint } from '../engine/checkpoint.ts';
import { baselineData, BaselineError, CHECKPOINT_KIND, evaluateSasrec, trainSasrec } from './train.ts';
import type { HeldOutExample } from '../data/splits.ts';
import { requireHardwareGpu } from '../seed/train.ts';
import type { BaselineOptions } from '../commands/baseline.ts';

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

/** One onerec baseline run: train (or read --checkpoint), test, report. */
export async function runBaseline(o: BaselineOptions): Promise<void> {
  const prepared = loadPrepared(o.data);
  // A checkpoint is evaluated with the history length it was trained with.
  const ckpt = o.checkpoint ? readBaselineCheckpoint(o.checkpoint) : null;
  const trainedLength = (ckpt?.meta.config as SasrecConfig | undefined)?.maxLength;
  if (trainedLength !== undefined && o.maxLength > 0 && o.maxLength !== trainedLength) throw new BaselineError(`--maxLength=${o.maxLength}, but --checkpoint=${o.checkpoint} was trained with ${trainedLength}: leave --maxLength out`);
  const data = baselineData(prepared, trainedLength ?? o.maxLength, o.checkpoint ? 'train' : (o.trainThrough as 'train' | 'validation'));
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
    requireHardwareGpu(engine, { allowSoftware: o.softwareGpu, parameters: sasrecParameterCount(model.config), examplesPerEpoch: 0, epochs: 0, evaluatedUsers: data.test.length * (o.testExcludeHistory ? 2 : 1) });
    trainInfo = { evaluated_checkpoint: o.checkpoint };
  } else {
    const config: SasrecConfig = { items: data.items, dModel: o.dModel, heads: o.heads, blocks: o.blocks, ffnDim: o.ffnDim, maxLength: data.maxLength, dropout: o.dropout };
    validateSasrecConfig(config);
    requireHardwareGpu(engine, { allowSoftware: o.softwareGpu, parameters: sasrecParameterCount(config), examplesPerEpoch: data.train.reduce((n, s) => n + Math.max(0, s.length - 1), 0), epochs: o.epochs });
    const result = await trainSasrec(engine, data, config, o);
    if (o.noTest) return;
    model = result.model;
    const refit = o.trainThrough === 'validation'; // trained on the validation targets: no validation figures, the last epoch's weights
    validation = refit ? undefined : o.evalUsers > 0 ? await evaluate(model, data.validation, 'validation') : { split: 'validation', ...result.best?.validation };
    trainInfo = { ...o, ...(refit ? { kept_epoch: result.history.length } : { best_epoch: result.best?.epoch }), epochs_run: result.history.length, stop_reason: result.stopReason, train_seconds: (Date.now() - started) / 1000 };
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
