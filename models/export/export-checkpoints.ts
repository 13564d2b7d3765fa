// The export stage behind `onerec export` (models/commands/export.ts parses the options): trained seed-model
// checkpoints (or seeded random weights) + the prepared data they were trained on → a bundle directory (ONNX graphs,
// trie, catalog, manifest.json; models/export/bundle-writer.ts), with the repeat-awareness β fitted on the graphs as
// written (models/export/history-bias.ts) unless --historyBias says otherwise.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPrepared } from '../data/prepared.ts';
import { checkpointWeights, readCheckpoint } from '../engine/checkpoint.ts';
import { checkExportable, exportBundle } from './bundle-writer.ts';
import { QUANTIZATIONS, type Quantization } from './quantize.ts';
import { OptionError } from '../options.ts';
import { progressBar, type Progress } from '../progress.ts';
import { DEFAULT_SEED_CONFIG, validateSeedConfig, type SeedConfig } from '../seed/config.ts';
import { parseHistoryBias } from '../seed/history-bias.ts';
import { checkSeedWeights, initSeedWeights, type SeedWeights } from '../seed/reference.ts';
import type { RewardConfig } from '../reward/config.ts';
import { checkRewardWeights, type RewardWeights } from '../reward/reference.ts';
import type { BundleManifest, CatalogEntry } from '../../runtime/bundle.ts';
import { DEFAULT_TRANSITION_PARAMS, MAX_TRANSITION_CANDIDATES } from '../../runtime/transitions.ts';
import { TRANSITIONS_THROUGH, type TransitionsThrough } from './transitions-fit.ts';
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';

/** What the stage needs (the options of onerec export, models/commands/export.ts). */
export interface ExportOptions {
  checkpoint: string; data: string; out: string; quantization: string; name: string; beamWidth: number; seed: number;
  reward: string; metrics: string; historyBias: string; historyBiasUsers: number; transitions: string; transitionsUsers: number; transitionsCandidates: number; transitionsThrough: string; transitionsHistory: number;
}

export class ExportCommandError extends Error {
  override name = 'ExportCommandError';
}

/** Seed-model weights and config from a checkpoint (parameters only; optimizer moments skipped). */
export function readSeedCheckpoint(path: string): { weights: SeedWeights; config: SeedConfig; refit: boolean } {
  const checkpoint = readCheckpoint(path);
  const { meta } = checkpoint;
  if (meta.kind !== 'seed') throw new ExportCommandError(`${path} is a '${meta.kind}' checkpoint; onerec export needs a seed-model checkpoint (onerec train)`);
  const config = meta.config as SeedConfig;
  validateSeedConfig(config, `${path} meta.config`);
  checkExportable(config, path);
  const weights: SeedWeights = checkpointWeights(checkpoint);
  checkSeedWeights(weights, config);
  return { weights, config, refit: meta.trainThrough === 'validation' };
}

/** Reward-model weights, config and tower weights from `onerec align`'s reward.ckpt. */
export function readRewardCheckpoint(path: string): { weights: RewardWeights; config: RewardConfig; towerWeights: number[] } {
  const checkpoint = readCheckpoint(path);
  const { meta } = checkpoint;
  if (meta.kind !== 'reward') throw new ExportCommandError(`${path} is a '${meta.kind}' checkpoint; --reward needs the reward model's (onerec align writes reward.ckpt)`);
  const config = meta.config as RewardConfig;
  const towerWeights = meta.weights as number[] | undefined;
  if (!Array.isArray(towerWeights) || towerWeights.length !== config.towers.length) {
    throw new ExportCommandError(`${path}: meta.weights must hold one rerank weight per tower (${config.towers.join(',')}); re-run onerec align`);
  }
  const weights: RewardWeights = checkpointWeights(checkpoint);
  checkRewardWeights(weights, config);
  return { weights, config, towerWeights };
}

function readMetrics(path: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new ExportCommandError(`--metrics=${path}: cannot read the eval report (${(e as Error).message}); pass OUT/report.json of onerec eval --bundle`);
  }
}

/** Writes the bundle of `o.checkpoint` (one, several for an ensemble, or 'random') over `o.data` to `o.out`. */
export async function exportCheckpoints(o: ExportOptions): Promise<void> {
  if (!(QUANTIZATIONS as readonly string[]).includes(o.quantization)) {
    throw new OptionError(`--quantization=${o.quantization} is not one of ${QUANTIZATIONS.join(', ')}`);
  }
  const prepared = loadPrepared(o.data);
  const { trie } = prepared;
  const catalog: CatalogEntry[] = prepared.items;
  const [{ weights, config, refit }, ...moreMembers] = o.checkpoint === 'random'
    ? (() => {
        const c: SeedConfig = { ...DEFAULT_SEED_CONFIG, levels: trie.levels, codebookSize: trie.codebookSize };
        return [{ config: c, weights: initSeedWeights(c, o.seed), refit: false }];
      })()
    : o.checkpoint.split(',').map((path) => readSeedCheckpoint(path.trim()));
  const transitions = parseTransitionsOption(o.transitions); // refused before the graphs are built
  checkTransitionsCandidates(o.transitionsCandidates);
  checkTransitionsThrough(o.transitionsThrough);
  checkTransitionsHistory(o.transitionsHistory, transitions);
  // A refit (onerec train --trainThrough=validation) trained on the validation targets: nothing may be fitted on them.
  const trainedThroughValidation = refit || moreMembers.some((m) => m.refit);
  if (trainedThroughValidation && transitions === 'fit') {
    throw new ExportCommandError(`${o.checkpoint} is a refit (trained on the validation targets), so the transition prior's weights cannot be fitted on them: pass --transitions=λ --transitionsHistory=η, the weights fitted for a bundle of the run that chose its epochs (its manifest's transitions), or --transitions=none`);
  }
  const namedBias = ['fit', 'none'].includes(o.historyBias);
  const manualBias = namedBias ? null : parseHistoryBias(o.historyBias, config.levels);
  if (!namedBias && !manualBias) {
    throw new OptionError(`--historyBias=${o.historyBias}: give 'fit', 'none' or ${config.levels} comma-separated numbers`);
  }
  const quantization = o.quantization as Quantization;
  const started = performance.now();
  const exported = await exportBundle({
    weights,
    config,
    moreMembers,
    trie,
    catalog,
    quantization,
    outDir: o.out,
    name: o.name || `${o.data.replace(/\/+$/, '').split('/').pop()}-${quantization}${o.checkpoint === 'random' ? '-untrained' : ''}`,
    beamWidth: o.beamWidth,
    ...(o.reward ? { reward: readRewardCheckpoint(o.reward) } : {}),
    ...(o.metrics ? { metrics: readMetrics(o.metrics) } : {}),
  });
  if (trainedThroughValidation) {
    exported.manifest.trainedThrough = 'validation';
    writeFileSync(join(o.out, 'manifest.json'), `${JSON.stringify(exported.manifest, null, 2)}\n`);
  }
  if (o.historyBias !== 'none' && o.checkpoint !== 'random') {
    const manifest = exported.manifest;
    const { seedDataFromPrepared, SplitError } = await import('../seed/batches.ts');
    let data: ReturnType<typeof seedDataFromPrepared> | null = null;
    if (o.historyBias === 'fit') {
      try {
        data = seedDataFromPrepared(prepared);
      } catch (e) {
        if (!(e instanceof SplitError)) throw e;
        console.warn(`history bias not fitted: ${(e as Error).message}. The bundle has none; pass --historyBias=b1,b2,… to set one`);
      }
    }
    if (data) {
      const { fitBundleHistoryBias } = await import('../export/history-bias.ts');
      let bar: Progress | null = null;
      // The graphs as written (quantized where the bundle is): β is fitted to what the runtime will run.
      const fit = await fitBundleHistoryBias(exported.config, manifest.ensemble?.members ?? [exported.config], exported.graphs, trie, data, {
        split: 'train', users: o.historyBiasUsers, seed: 7, bound: 8, onProgress: (done, total) => (bar ??= progressBar('history bias fit', total)).update(done),
      });
      (bar as Progress | null)?.stop();
      const { bias, ...rest } = fit;
      manifest.historyBias = { bias, fit: { method: 'maximum likelihood per level, network frozen, each user\'s last training transition', ...rest } };
    } else if (manualBias) {
      manifest.historyBias = { bias: manualBias };
    }
    if (manifest.historyBias) {
      writeFileSync(join(o.out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
      console.log(`history bias (β per level): ${manifest.historyBias.bias.map((b) => b.toFixed(3)).join(', ')}`);
    }
  }
  const manifest = transitions !== 'none' && o.checkpoint !== 'random' ? await addTransitions(o.out, prepared, transitions, o.transitionsUsers, o.transitionsCandidates, o.transitionsThrough, o.transitionsHistory) : exported.manifest;
  const totalBytes = Object.values(manifest.files).reduce((sum, f) => sum + (f?.bytes ?? 0), 0); // transitions.bin included
  const lines = Object.entries(manifest.files).map(([role, f]) => `  ${role.padEnd(12)} ${f!.path.padEnd(18)} ${(f!.bytes / 1024).toFixed(1).padStart(9)} KiB`);
  console.log(`wrote ${o.out} (${quantization}${moreMembers.length > 0 ? `, an ensemble of ${moreMembers.length + 1}` : ''}) in ${((performance.now() - started) / 1000).toFixed(1)} s\n${lines.join('\n')}\n  total        ${' '.repeat(18)} ${(totalBytes / 1024).toFixed(1).padStart(9)} KiB (${(totalBytes / 1e6).toFixed(2)} MB)`);
}

/** `--transitionsHistory`: η, a finite number, given with a fixed λ (`--transitions=λ`); the fit chooses its own. */
export function checkTransitionsHistory(eta: number, transitions: number | 'fit' | 'none'): void {
  if (!Number.isFinite(eta)) throw new OptionError(`--transitionsHistory=${eta}: give a finite number η (the weight per session item the user already has; the fit's grid is 0, −1, −2, −4, −8)`);
  if (eta !== 0 && typeof transitions !== 'number') throw new OptionError(`--transitionsHistory=${eta} goes with a fixed weight --transitions=λ; with --transitions=${transitions} ${transitions === 'fit' ? 'η is fitted' : 'there is no prior'}`);
}

/** `--transitionsThrough`: 'train' or 'validation' (OptionError otherwise). */
export function checkTransitionsThrough(through: string): asserts through is TransitionsThrough {
  if (!(TRANSITIONS_THROUGH as readonly string[]).includes(through)) {
    throw new OptionError(`--transitionsThrough=${through}: give 'validation' (the table counts every transition but the test split's, the default) or 'train' (the training split's only; the bundle can then be evaluated on validation)`);
  }
}

/** `--transitionsCandidates`: a whole number in 0..MAX_TRANSITION_CANDIDATES (OptionError otherwise). */
export function checkTransitionsCandidates(candidates: number): void {
  if (!(Number.isInteger(candidates) && candidates >= 0 && candidates <= MAX_TRANSITION_CANDIDATES)) {
    throw new OptionError(`--transitionsCandidates=${candidates}: give a whole number of extra candidates in 0..${MAX_TRANSITION_CANDIDATES} (0: the prior only reorders the beam)`);
  }
}

/** `--transitions`: 'fit', 'none' or a weight λ ≥ 0 (OptionError otherwise). */
export function parseTransitionsOption(text: string): number | 'fit' | 'none' {
  if (text === 'fit' || text === 'none') return text;
  const lambda = Number(text);
  if (!(text.trim() !== '' && lambda >= 0)) throw new OptionError(`--transitions=${text}: give 'fit', 'none' or a weight λ ≥ 0`);
  return lambda;
}

/**
 * Gives the bundle in `dir` its transition prior (runtime/transitions.ts) and returns the manifest it wrote:
 * transitions.bin from the item pairs of `prepared` (the data the bundle was exported from) through `through`, and λ
 * and η — given (`eta`), or fitted on `users` validation users' candidates of the bundle as it is (its beam with the
 * history bias, any earlier prior off, plus the training table's extra candidates scored by the model); a refit's
 * bundle (manifest trainedThrough 'validation') cannot be fitted, only given its weights. Data without a leave-one-out split gets none (a warning says so; the manifest is returned unchanged).
 */
export async function addTransitions(dir: string, prepared: ReturnType<typeof loadPrepared>, transitions: number | 'fit', users: number, candidates = DEFAULT_TRANSITION_PARAMS.candidates!, through: TransitionsThrough = 'validation', eta = 0): Promise<BundleManifest> {
  checkTransitionsCandidates(candidates);
  checkTransitionsThrough(through);
  checkTransitionsHistory(eta, transitions);
  const params = { ...DEFAULT_TRANSITION_PARAMS, candidates };
  const { readBundle } = await import('../../runtime-node/bundle-reader.ts');
  const bundle = await readBundle(dir); // checks the bundle as the runtime would
  const manifest: BundleManifest = JSON.parse(JSON.stringify(bundle.manifest));
  if (transitions === 'fit' && manifest.trainedThrough === 'validation') {
    throw new ExportCommandError(`${dir}: its network is a refit (manifest trainedThrough 'validation'), trained on the validation targets, so λ and η cannot be fitted on them: pass --transitions=λ --transitionsHistory=η (the weights of a bundle of the run that chose its epochs)`);
  }
  if (prepared.trie.itemCount !== bundle.trie.itemCount) {
    throw new OptionError(`${prepared.dir} has ${prepared.trie.itemCount} items, the bundle ${bundle.trie.itemCount}: give the prepared data the bundle was exported from`);
  }
  const { seedDataFromPrepared, SplitError } = await import('../seed/batches.ts');
  let data: ReturnType<typeof seedDataFromPrepared>;
  try {
    data = seedDataFromPrepared(prepared);
  } catch (e) {
    if (!(e instanceof SplitError)) throw e;
    console.warn(`transition prior not added: ${(e as Error).message}`);
    return manifest;
  }
  const { trainTransitionTable, transitionTable, fitTransitionWeights } = await import('./transitions-fit.ts');
  // λ and η are chosen on validation users with the training table (their targets uncounted); the bundle then ships
  // the table counted through `through`.
  const fitTable = trainTransitionTable(data);
  const table = through === 'train' ? fitTable : transitionTable(data, through);
  const bytes = table.encode();
  let lambda = transitions === 'fit' ? 0 : transitions;
  let history = transitions === 'fit' ? 0 : eta;
  let fit: Record<string, unknown> | undefined;
  if (transitions === 'fit') {
    const { evaluateBundle } = await import('./evaluate.ts');
    let bar: Progress | null = null;
    const report = await evaluateBundle(bundle, data, {
      split: 'validation', beamWidth: 20, users, seed: 7, excludeHistory: false, historyBias: manifest.historyBias?.bias ?? null,
      transitions: false, rankings: true, transitionPool: { table: fitTable.encode(), params }, workers: Math.min(4, availableParallelism()),
      onProgress: (done, total) => (bar ??= progressBar('transition prior fit', total)).update(done),
    });
    (bar as Progress | null)?.stop();
    const beams = report.rankings!.map((r) => {
      const seq = data.sequences[r.user];
      return { history: seq.subarray(0, r.targetStart), target: seq[r.targetStart], items: r.items, logProb: r.logProb, extra: r.extra };
    });
    const result = fitTransitionWeights(fitTable, beams, undefined, undefined, params);
    ({ lambda, history } = result);
    fit = { method: `NDCG@10 of the candidates (the beam of width 20, history kept, the bundle's history bias, and the table's top ${result.candidates} items it missed, scored by the model) reranked at each (λ, η) of the grid, validation split`, ...result };
  }
  writeFileSync(join(dir, 'transitions.bin'), bytes);
  manifest.files.transitions = { path: 'transitions.bin', bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
  manifest.transitions = { ...params, lambda, history, through, ...(fit ? { fit } : {}) };
  writeFileSync(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  console.log(`transition prior: ${table.pairs} item pairs counted through the ${through} split (${(bytes.length / 1024).toFixed(1)} KiB), λ ${lambda}, η ${history}, ${candidates} extra candidates${fit ? ` (fitted on ${(fit as { users: number }).users} validation users)` : ''}`);
  return manifest;
}
