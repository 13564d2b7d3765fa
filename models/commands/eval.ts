// onerec eval — leave-one-out Recall@5/10, NDCG@5/10 (full ranking from the constrained beam) and the
// valid-ID rate of a trained checkpoint (GPU engine) or of an exported bundle (the runtime's recommend() in Node, on its
// wasm kernels as a browser without WebGPU runs them: models/export/evaluate.ts).
//
//   onerec eval --data runs/beauty --checkpoint runs/beauty/seed/best.ckpt --split test --out runs/beauty/eval
//   onerec eval --data runs/beauty --checkpoint runs/beauty/dense/best.ckpt --split validation --denseMix=0.5 --out runs/beauty/eval-dense  # a denseHead model's hybrid ranking
//   onerec eval --data runs/beauty --bundle models/bundles/beauty --split test --out runs/beauty/eval-int4
//   (a bundle's users are split over worker threads, one per core up to 4, --workers=N; the report does not change)
//
// Writes OUT/report.json: { "recall@5", "recall@10", "ndcg@5", "ndcg@10", "valid_id_rate", users, … }; a bundle's report also has
// `diagnostics`: the rank histogram over the beam and how many of the user's own history items the first 10 hold.
// `ndcg@10_se` is NDCG@10's standard error over the users evaluated.
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { EvaluationLeakError } from '../data/errors.ts';
import { loadPrepared } from '../data/prepared.ts';
import { checkpointWeights, createEngine, readCheckpoint } from '../engine/index.ts';
import { parseOptions } from '../options.ts';
import { progressBar, type Progress } from '../progress.ts';
import { seedDataFromPrepared, type Example, type SeedData } from '../seed/batches.ts';
import { hasDenseHead, validateSeedConfig, type SeedConfig } from '../seed/config.ts';
import { parseHistoryBias } from '../seed/history-bias.ts';
import { SeedModel } from '../seed/model.ts';
import { evaluateSplit } from '../seed/run-eval.ts';
import type { RankDiagnostics } from '../export/evaluate.ts';
import type { BeamSearchResult } from '../../runtime/beam-search.ts';

export const summary = 'evaluate a seed checkpoint (GPU) or an exported bundle: Recall/NDCG@5/10, valid-ID rate';

export class EvalOptionError extends Error {
  override name = 'EvalOptionError';
}

export const DEFAULT_EVAL_OPTIONS = {
  data: '', // prepared data directory (onerec prepare --out)
  checkpoint: '', // a seed checkpoint (best.ckpt of onerec train)
  bundle: '', // or an exported bundle directory (evaluated through the runtime's recommend())
  split: 'test', // 'test' | 'validation'
  out: '', // report directory: OUT/report.json
  beam: 20, // beam width (≥ 20: exact @10)
  excludeHistory: false, // never rank an item of the user's own history
  historyBias: 'auto', // --bundle: the repeat-awareness layer's β per level: 'auto' (the bundle's historyBias unless --excludeHistory, as the runtime does), 'manifest' (the bundle's, always), 'none', or 'b1,b2,…'
  users: 0, // a seeded subset of users (0 = all)
  denseMix: 0, // --checkpoint of a denseHead model: λ of the hybrid ranking (beam ∪ dense top-beam, log P_gen + λ · log softmax_dense); 0 = the beam's ranking
  transitions: true, // --bundle: rerank with the bundle's transition prior where it has one (false: the beam's order)
  rankings: '', // also write each user's ranked items to this file, one JSON line per user: { user, target, items, logProb } (the beam's order; fusion and error analysis offline)
  workers: 0, // --bundle: worker threads splitting the users (0 = one per core, at most 4); the metrics do not depend on it
};

/** One --rankings line: the user, the split's target item, the ranked items (best first) and their log-probabilities. */
function rankingLine(data: SeedData, { user, targetStart }: Example, items: ArrayLike<number>, logProb: ArrayLike<number>): string {
  return JSON.stringify({ user, target: data.sequences[user][targetStart], items: Array.from(items), logProb: Array.from(logProb, (v) => Math.round(v * 1e4) / 1e4) });
}

export async function run(argv: string[]): Promise<void> {
  const o = parseOptions(argv, DEFAULT_EVAL_OPTIONS, `onerec eval --data PREPARED (--checkpoint FILE | --bundle DIR) --split test --out DIR\n${summary}`, { required: ['data', 'out'] });
  if (!o) return;
  if (o.split !== 'test' && o.split !== 'validation') throw new EvalOptionError(`--split must be 'test' or 'validation', got '${o.split}'`);
  if (Boolean(o.checkpoint) === Boolean(o.bundle)) throw new EvalOptionError('give exactly one of --checkpoint FILE (GPU) or --bundle DIR (the runtime, CPU)');
  if (o.checkpoint.includes(',')) throw new EvalOptionError(`--checkpoint=${o.checkpoint}: one checkpoint here; to evaluate an ensemble, export it (onerec export --checkpoint=a,b --out DIR) and evaluate --bundle DIR`);
  const prepared = loadPrepared(o.data);
  const data = seedDataFromPrepared(prepared);
  if (!(Number.isFinite(o.denseMix) && o.denseMix >= 0)) throw new EvalOptionError(`--denseMix=${o.denseMix}: give λ ≥ 0 (0 = the generative ranking)`);
  if (o.bundle && o.denseMix > 0) throw new EvalOptionError(`--denseMix=${o.denseMix} reads a dense head, which bundles do not have; use it with --checkpoint`);
  let report: Record<string, unknown>;
  const lines: string[] = []; // --rankings
  if (o.bundle) {
    const { readBundle } = await import('../../runtime-node/bundle-reader.ts');
    const { evaluateBundle } = await import('../export/evaluate.ts');
    const bundle = await readBundle(o.bundle);
    const named = ['auto', 'manifest', 'none'].includes(o.historyBias);
    const given = named ? null : parseHistoryBias(o.historyBias, bundle.trie.levels);
    if (!named && !given) {
      throw new EvalOptionError(`--historyBias=${o.historyBias}: give 'auto', 'manifest', 'none' or ${bundle.trie.levels} comma-separated numbers (one per level)`);
    }
    const historyBias = o.historyBias === 'none' || (o.historyBias === 'auto' && o.excludeHistory) ? null
      : named ? (bundle.manifest.historyBias?.bias ?? null)
      : given;
    let bar: Progress | null = null;
    const r = await evaluateBundle(bundle, data, {
      split: o.split, beamWidth: o.beam, users: o.users, seed: 1, excludeHistory: o.excludeHistory, historyBias, rankings: Boolean(o.rankings), transitions: o.transitions,
      workers: o.workers > 0 ? o.workers : Math.min(4, availableParallelism()),
      onProgress: (done, total) => (bar ??= progressBar(`${o.split} (beam ${o.beam})`, total)).update(done),
    });
    (bar as Progress | null)?.stop();
    const { rankings, ...rest } = r;
    for (const x of rankings ?? []) lines.push(rankingLine(data, x, x.items, x.logProb));
    report = { ...r.metrics, ...rest, history_bias: historyBias, transitions: o.transitions ? (bundle.manifest.transitions ?? null) : null, data: o.data };
  } else {
    const checkpoint = readCheckpoint(o.checkpoint);
    const { meta } = checkpoint;
    if (meta.kind !== 'seed') throw new EvalOptionError(`${o.checkpoint} is a '${meta.kind}' checkpoint, not a seed model's`);
    if (meta.trainThrough === 'validation' && o.split === 'validation') throw new EvaluationLeakError(`${o.checkpoint} is a refit (trainThrough validation): it trained on the validation targets, so --split=validation would rank what it learnt; evaluate --split=test`);
    const config = meta.config as SeedConfig;
    validateSeedConfig(config, o.checkpoint);
    if (config.levels !== prepared.levels || config.codebookSize !== prepared.codebookSize) {
      throw new EvalOptionError(`${o.checkpoint} was trained on ${config.levels} levels × K ${config.codebookSize}, ${o.data} has ${prepared.levels} × ${prepared.codebookSize}; evaluate on the prepared data it was trained on`);
    }
    if (o.denseMix > 0 && !hasDenseHead(config)) throw new EvalOptionError(`--denseMix=${o.denseMix}: ${o.checkpoint} has no dense head (train with --denseHead); leave --denseMix at 0`);
    const engine = await createEngine();
    const model = SeedModel.fromWeights(engine, config, checkpointWeights(checkpoint));
    const onResult = o.rankings ? (example: Example, r: BeamSearchResult) => lines.push(rankingLine(data, example, r.items, r.logProb)) : undefined;
    report = { ...(await evaluateSplit(model, data, prepared.trie, o.split, o.beam, o.excludeHistory, o.users, false, o.denseMix, onResult)), checkpoint: o.checkpoint, data: o.data, config };
  }
  mkdirSync(o.out, { recursive: true });
  writeFileSync(join(o.out, 'report.json'), JSON.stringify(report, null, 1));
  if (o.rankings) {
    mkdirSync(dirname(o.rankings), { recursive: true });
    writeFileSync(o.rankings, lines.join('\n') + '\n');
  }
  const m = report as Record<string, number>;
  const engine = (report as { engine?: string }).engine;
  console.log(`${o.split} (${m.users} users${engine ? `, seed model on ${engine}` : ''}): R@5 ${m['recall@5'].toFixed(4)} R@10 ${m['recall@10'].toFixed(4)} N@5 ${m['ndcg@5'].toFixed(4)} N@10 ${m['ndcg@10'].toFixed(4)} valid ${m.valid_id_rate.toFixed(4)} → ${join(o.out, 'report.json')}`);
  const d = (report as { diagnostics?: RankDiagnostics }).diagnostics;
  console.log(`  N@10 standard error ${m['ndcg@10_se'].toFixed(4)}${d ? `; own-history items per top 10: ${d.history_items_in_top10.toFixed(3)}, first item from the history: ${(100 * d.top1_in_history).toFixed(1)} %` : ''}`);
}
