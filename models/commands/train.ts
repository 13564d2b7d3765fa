// onerec train — the OneRec seed model (encoder–decoder, MoE decoder) on the GPU through WebGPU.
//
//   onerec train --data runs/beauty --out runs/beauty/seed
//   onerec train --data runs/beauty --out runs/beauty/seed --resume             # continue from last.ckpt
//   onerec train --data runs/beauty --out runs/beauty/anneal --init=runs/beauty/seed/best.ckpt --lr=5e-4 --epochs=6   # a second stage
//   onerec train --data runs/beauty --out runs/beauty/refit --trainThrough=validation --epochs=30   # a refit: the validation items are targets too
//   onerec train --data runs/beauty --out runs/dense --experts=1 --expertsPerToken=1 --expertFfnDim=512
//   onerec train --data runs/beauty --out runs/itememb --itemEmbedding        # + a learned row per history item (not exportable yet)
//   onerec train --data runs/beauty --out runs/dense --denseHead --denseMix=1  # + a dense retrieval head, mixed into validation's ranking (not exportable yet)
//
// Writes OUT/best.ckpt (best validation NDCG@10; the exporter reads it), OUT/last.ckpt (with optimizer
// state, for --resume), OUT/history.json, OUT/report.html (loss and metric curves), and, unless --noTest,
// OUT/report.json with the best model's full test metrics (+ validation with --finalValidation).
//
// Training needs a GPU: a software adapter (SwiftShader, lavapipe) is refused with the CPU run's estimated cost
// unless --softwareGpu. --maxMinutes bounds the whole command: loading, steps, validation and the test passes
// all count; past it the epoch ends at its current step and no evaluation starts (one already running
// finishes), last.ckpt holds the weights and report.json says which evaluations were skipped.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPrepared } from '../data/prepared.ts';
import { createEngine } from '../engine/index.ts';
import { optionGiven, parseOptions } from '../options.ts';
import { seedDataFromPrepared, trainExampleCount } from '../seed/batches.ts';
import { DEFAULT_SEED_CONFIG, DEFAULT_TRAIN_CONFIG, parameterCount, validateSeedConfig, type SeedConfig } from '../seed/config.ts';
import { evaluateSplit } from '../seed/run-eval.ts';
import { checkDenseOptions, requireHardwareGpu, trainHeldOut, trainSeed, TrainError } from '../seed/train.ts';

export const summary = 'train the seed model (GPU), validate each epoch, write checkpoints and an HTML report';

const { codebookSize: _k, levels: _l, sessionLength: _s, ...MODEL_OPTIONS } = DEFAULT_SEED_CONFIG;
export const DEFAULT_TRAIN_OPTIONS = {
  ...DEFAULT_TRAIN_CONFIG,
  ...MODEL_OPTIONS,
  noTest: false, // skip the final evaluation (by default the best checkpoint is evaluated on the full test split → OUT/report.json)
  testUsers: 0, // final evaluation on a seeded subset of this many users (0 = the whole split; subsets are for smoke runs)
  finalValidation: false, // also evaluate the full validation split at the end (another pass as long as the test one)
  testExcludeHistory: false, // also report test metrics with the user's own history excluded from the beam
  itemEmbedding: false, // add a learned per-item row (enc.item_emb, SASRec's input embedding) to each of the item's code tokens in the encoder input; recorded in the checkpoint's config, and onerec export refuses it (the runtime does not read it)
  denseHead: false, // add a dense retrieval head (user vector from the decoder's state at BOS, item vectors Σ_l tok_emb[code_l], full softmax over the catalog, --denseWeight); recorded in the checkpoint's config, and onerec export refuses it (the runtime does not read it)
  softwareGpu: false, // train on a software adapter (SwiftShader, lavapipe: the CPU, hours per epoch of the default model) instead of refusing
};

export async function run(argv: string[]): Promise<void> {
  const commandStarted = Date.now(); // --maxMinutes counts from here
  const o = parseOptions(argv, DEFAULT_TRAIN_OPTIONS, `onerec train --data PREPARED --out DIR [--key=value …]\n${summary}`, { required: ['data', 'out'] });
  if (!o) return;
  if (o.trainThrough === 'validation') {
    // A refit validates nothing: its length must come from a run on the training split (that run's best epoch).
    if (!optionGiven(argv, 'epochs')) throw new TrainError('--trainThrough=validation trains a fixed number of epochs with no validation to stop it: give --epochs (the best epoch of the same recipe on --trainThrough=train)');
    if (o.finalValidation) throw new TrainError('--finalValidation with --trainThrough=validation: the model trained on the validation targets, so its validation figures would count them');
  }
  trainHeldOut(o); // an unknown --trainThrough or a gap with a refit is refused before the data is read
  const prepared = loadPrepared(o.data);
  const data = seedDataFromPrepared(prepared);
  const config: SeedConfig = {
    codebookSize: prepared.codebookSize, levels: prepared.levels, dModel: o.dModel, heads: o.heads,
    encoderLayers: o.encoderLayers, decoderLayers: o.decoderLayers, ffnDim: o.ffnDim, experts: o.experts,
    expertsPerToken: o.expertsPerToken, expertFfnDim: o.expertFfnDim, maxHistory: o.maxHistory,
    sessionLength: Math.max(1, o.trainWindow), moeAuxWeight: o.moeAuxWeight, dropout: o.dropout,
    ...(o.itemEmbedding && { itemEmbedding: true, itemCount: data.itemCount }), // absent when off: the config (and checkpoint) of a run without it is as before
    ...(o.denseHead && { denseHead: true }), // likewise
  };
  validateSeedConfig(config, 'onerec train options');
  checkDenseOptions(config, o);
  const engine = await createEngine();
  requireHardwareGpu(engine, { allowSoftware: o.softwareGpu, parameters: parameterCount(config), examplesPerEpoch: trainExampleCount(data, o.trainWindow, trainHeldOut(o)), epochs: o.epochs });
  mkdirSync(o.out, { recursive: true });
  const deadline = o.maxMinutes > 0 ? commandStarted + o.maxMinutes * 60_000 : Infinity;
  const started = Date.now();
  const result = await trainSeed(engine, data, prepared.trie, config, o, { deadline });
  if (o.noTest) return;
  const skipped: string[] = []; // evaluations not started because the budget was spent
  const inTime = <T>(name: string, evaluation: () => Promise<T>): Promise<T | null> => {
    if (Date.now() <= deadline) return evaluation();
    skipped.push(name);
    return Promise.resolve(null);
  };
  const bestPath = join(o.out, 'best.ckpt');
  const report: Record<string, unknown> = {
    dataset: prepared.meta.dataset,
    prepared: o.data,
    checkpoint: existsSync(bestPath) ? bestPath : null,
    config,
    parameters: parameterCount(config),
    train: { ...o, ...(o.trainThrough === 'validation' ? { kept_epoch: result.history.length } : { best_epoch: result.best?.epoch }), epochs_run: result.history.length, stop_reason: result.stopReason, train_seconds: (Date.now() - started) / 1000, final_train_loss: result.history.at(-1)?.trainLoss, expert_load: result.history.at(-1)?.expertLoad },
    validation: o.finalValidation ? await inTime('validation', () => evaluateSplit(result.model, data, prepared.trie, 'validation', o.evalBeam, false, o.testUsers, false, o.denseMix)) : result.best?.validation,
    test: await inTime('test', () => evaluateSplit(result.model, data, prepared.trie, 'test', o.evalBeam, false, o.testUsers, false, o.denseMix)),
  };
  if (o.testExcludeHistory) report.test_exclude_history = await inTime('test_exclude_history', () => evaluateSplit(result.model, data, prepared.trie, 'test', o.evalBeam, true, o.testUsers, false, o.denseMix));
  if (skipped.length > 0) report.skipped_past_max_minutes = skipped;
  writeFileSync(join(o.out, 'report.json'), JSON.stringify(report, null, 1));
  const t = report.test as Record<string, number> | null;
  if (!t) {
    console.log(`--maxMinutes=${o.maxMinutes} spent: no ${skipped.join(', ')} evaluation → ${join(o.out, 'report.json')}; ${report.checkpoint
      ? `evaluate later with onerec eval --data ${o.data} --checkpoint ${bestPath} --split test --out DIR`
      : `no validated checkpoint yet: continue with --resume (from ${join(o.out, 'last.ckpt')})`}`);
    return;
  }
  console.log(`test: R@5 ${t['recall@5'].toFixed(4)} R@10 ${t['recall@10'].toFixed(4)} N@5 ${t['ndcg@5'].toFixed(4)} N@10 ${t['ndcg@10'].toFixed(4)} valid ${t.valid_id_rate.toFixed(4)} → ${join(o.out, 'report.json')}`);
}
