// The reward model's item representation (models/reward/config.ts itemRepresentation): 'table' (a row of item_emb
// per item) against 'codes' (v_i = Σ_l code_emb[l·K + c_il] over the item's semantic-ID codes), trained on the same
// prepared KuaiRand sessions with the same seed and schedule as `onerec align` (CPU float64 trainer, 2 epochs, batch
// 64, lr 3e-3, decay 1e-4, seed 1, d 32, 2 heads, hidden 32, history 50). Both train on days < trainEnd (align's
// reward training set without its test days); --split=validation scores the validation days (for choosing),
// --split=test the test days (once, for the choice). Also the reward model's parameter bytes (float32) at the
// catalog and at --bigCatalog items.
//
//   node --import tsx bench/reward-items.ts --split=validation --out=bench/results/reward-items-validation.json
//   node --import tsx bench/reward-items.ts --split=test --out=bench/results/reward-items-test.json
//   node --import tsx bench/reward-items.ts --split=bytes --out=bench/results/reward-items-bytes.json   # reward.onnx bytes only
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { loadPrepared } from '../models/data/prepared.ts';
import { buildRewardGraph } from '../models/export/reward-graph.ts';
import { rewardParameterShapes, type RewardConfig } from '../models/reward/config.ts';
import { fitRewardModel } from '../models/reward/fit.ts';
import { parseTowers } from '../models/reward/labels.ts';
import { observedSessions, splitDay } from '../models/reward/sessions.ts';
import { parseArgs } from './args.ts';

const o = parseArgs({
  prepared: 'runs/kuairand',
  split: 'validation', // 'validation' (the valDays before the test days), 'test' (the last testDays) or 'bytes' (reward.onnx sizes only, no training)
  representations: 'table,codes',
  testDays: 4, valDays: 1, // as onerec align
  epochs: 2, seed: 1,
  bigCatalog: 1_000_000,
  out: 'bench/results/reward-items-validation.json',
}, process.argv.slice(2));

const prepared = loadPrepared(o.prepared);
if (o.split === 'bytes') {
  // reward.onnx as onerec export writes it (fp32 and int8: the latter stores item_emb 8-bit per row), six towers, zero
  // weights (the size does not depend on the values), at the catalog's size and at --bigCatalog items.
  const sizes: Record<string, Record<string, number>> = {};
  for (const representation of o.representations.split(',')) {
    for (const itemCount of [prepared.items.length, o.bigCatalog]) {
      const config: RewardConfig = {
        itemCount, dModel: 32, heads: 2, towerHidden: 32, maxHistory: 50, sessionLength: prepared.meta.rewardSessions!.rules.sessionLength, towers: parseTowers('swt,vtr,wtr,ltr,cmt,fwd'),
        ...(representation === 'codes' ? { itemRepresentation: 'codes' as const, codeLevels: prepared.meta.levels, codebookSize: prepared.meta.codebookSize } : {}),
      };
      const weights = Object.fromEntries(Object.entries(rewardParameterShapes(config)).map(([n, shape]) => [n, new Float32Array(shape.reduce((a, b) => a * b, 1))]));
      for (const quantization of ['fp32', 'int8'] as const) sizes[`${representation} ${quantization}`] = { ...sizes[`${representation} ${quantization}`], [itemCount]: buildRewardGraph(weights, config, quantization).bytes.length };
    }
  }
  console.log(JSON.stringify(sizes));
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, JSON.stringify({ what: 'reward.onnx bytes by item representation and quantization, at the KuaiRand catalog and a synthetic big one (d 32, 6 towers, H 50)', command: `node --import tsx bench/reward-items.ts ${process.argv.slice(2).join(' ')}`, catalog: prepared.items.length, big_catalog: o.bigCatalog, reward_onnx_bytes: sizes }, null, 2) + '\n');
  process.exit(0);
}
const sessionLength = prepared.meta.rewardSessions!.rules.sessionLength;
const sessions = observedSessions(prepared, 50);
const testSplit = splitDay(sessions, o.testDays);
const trainEnd = splitDay(sessions, o.testDays + o.valDays);
// Training sessions are days < trainEnd either way; the held-out ones are the validation or the test days.
const used = o.split === 'validation' ? sessions.filter((s) => s.day < testSplit) : sessions.filter((s) => s.day < trainEnd || s.day >= testSplit);
const heldOutFrom = o.split === 'validation' ? trainEnd : testSplit;
if (o.split !== 'validation' && o.split !== 'test') throw new Error(`--split=${o.split}: use validation, test or bytes`);

const bytes = (c: RewardConfig): number => Object.values(rewardParameterShapes(c)).reduce((s, shape) => s + 4 * shape.reduce((a, b) => a * b, 1), 0);
const results: Record<string, unknown> = {};
for (const representation of o.representations.split(',')) {
  const model = {
    itemCount: prepared.items.length, dModel: 32, heads: 2, towerHidden: 32, maxHistory: 50, sessionLength,
    ...(representation === 'codes' ? { itemRepresentation: 'codes' as const, codeLevels: prepared.meta.levels, codebookSize: prepared.meta.codebookSize } : {}),
  };
  const { report, trainer } = await fitRewardModel(used, heldOutFrom, parseTowers('swt,vtr,wtr,ltr,cmt,fwd'), model,
    { epochs: o.epochs, batchSize: 64, learningRate: 3e-3, weightDecay: 1e-4, seed: o.seed }, 30, undefined, undefined, prepared.codes);
  const auc = Object.fromEntries(Object.entries(report.towers).map(([t, r]) => [t, r.auc]));
  results[representation] = {
    auc, popularity_auc: Object.fromEntries(Object.entries(report.towers).map(([t, r]) => [t, r.popularity_auc])),
    parameter_bytes: bytes(trainer.config), parameter_bytes_at_big_catalog: bytes({ ...trainer.config, itemCount: o.bigCatalog }),
    train_sessions: report.train_sessions, held_out_sessions: report.test_sessions, epoch_loss: report.epoch_loss, seconds: report.seconds,
  };
  console.log(representation, JSON.stringify(results[representation]));
}
mkdirSync(dirname(o.out), { recursive: true });
writeFileSync(o.out, JSON.stringify({
  what: 'reward model item representation: table vs semantic-ID codes, held-out AUC per tower',
  command: `node --import tsx bench/reward-items.ts ${process.argv.slice(2).join(' ')}`,
  split: o.split, held_out: o.split === 'validation' ? `${trainEnd} <= day < ${testSplit}` : `day >= ${testSplit}`, train: `day < ${trainEnd}`,
  catalog: prepared.items.length, levels: prepared.meta.levels, codebook_size: prepared.meta.codebookSize, big_catalog: o.bigCatalog,
  results,
}, null, 2) + '\n');
