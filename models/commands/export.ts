// onerec export: a trained seed-model checkpoint (or seeded random weights) + the prepared data it was
// trained on → a bundle directory (ONNX graphs, trie, catalog, manifest.json) that the browser runtime loads.
//
//   onerec export --checkpoint runs/beauty/seed/best.ckpt --data runs/beauty --out runs/beauty/bundle-int4 --quantization=int4
//   onerec export --checkpoint random --data runs/beauty --out runs/beauty/bundle-random   # untrained, for wiring tests
//   onerec export --checkpoint runs/beauty/seed-a/best.ckpt,runs/beauty/seed-b/best.ckpt --data runs/beauty --out runs/beauty/bundle-ens   # an ensemble
//   onerec export --checkpoint runs/kuairand/align/aligned.ckpt --reward runs/kuairand/align/reward.ckpt --data runs/kuairand --out runs/kuairand/bundle
//   onerec eval --bundle runs/beauty/bundle-int4 --data runs/beauty --split test --out runs/beauty/eval-int4
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPrepared } from '../data/prepared.ts';
import { checkpointWeights, readCheckpoint } from '../engine/checkpoint.ts';
import { exportBundle } from '../export/bundle-writer.ts';
import { QUANTIZATIONS, type Quantization } from '../export/quantize.ts';
import { OptionError, parseOptions } from '../options.ts';
import { progressBar, type Progress } from '../progress.ts';
import { DEFAULT_SEED_CONFIG, validateSeedConfig, type SeedConfig } from '../seed/config.ts';
import { parseHistoryBias } from '../seed/history-bias.ts';
import { checkSeedWeights, initSeedWeights, type SeedWeights } from '../seed/reference.ts';
import type { RewardConfig } from '../reward/config.ts';
import { checkRewardWeights, type RewardWeights } from '../reward/reference.ts';
import type { CatalogEntry } from '../../runtime/bundle.ts';

export const summary = 'export a seed-model checkpoint as an ONNX bundle (fp32 | int8 | int4) with trie, catalog and manifest';

const DEFAULTS = {
  checkpoint: '', // seed checkpoint (models/engine/checkpoint.ts), several comma-separated for an ensemble (their logits averaged), or "random" for seeded untrained weights
  data: '', // prepared data dir (onerec prepare --out): its trie and item catalog go into the bundle
  out: '', // bundle directory to write
  quantization: 'int4', // fp32 | int8 | int4 (MatMulNBits; see docs/architecture.md "ONNX graphs")
  name: '', // bundle name shown by the demo; default: the data directory's name + quantization
  beamWidth: 10, // the runtime's default beams (manifest.generation.beamWidth)
  seed: 1, // RNG seed of --checkpoint random
  reward: '', // optional reward-model checkpoint (onerec align's reward.ckpt): adds reward.onnx and manifest.reward
  metrics: '', // optional report.json of `onerec eval --bundle` on this bundle, copied into manifest.metrics
  historyBias: 'fit', // the repeat-awareness layer (manifest.historyBias): 'fit' on the training data (models/seed/history-bias.ts), 'none', or 'b1,b2,…'
  historyBiasUsers: 5000, // users whose last training transition the fit uses (0 = all)
};

export class ExportCommandError extends Error {
  override name = 'ExportCommandError';
}

/** Seed-model weights and config from a checkpoint (parameters only; optimizer moments skipped). */
export function readSeedCheckpoint(path: string): { weights: SeedWeights; config: SeedConfig } {
  const checkpoint = readCheckpoint(path);
  const { meta } = checkpoint;
  if (meta.kind !== 'seed') throw new ExportCommandError(`${path} is a '${meta.kind}' checkpoint; onerec export needs a seed-model checkpoint (onerec train)`);
  const config = meta.config as SeedConfig;
  validateSeedConfig(config, `${path} meta.config`);
  const weights: SeedWeights = checkpointWeights(checkpoint);
  checkSeedWeights(weights, config);
  return { weights, config };
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

export async function run(argv: string[]): Promise<void> {
  const options = parseOptions(argv, DEFAULTS, `onerec export --checkpoint FILE --data PREPARED --out DIR [--key=value …]\n${summary}`, { required: ['checkpoint', 'data', 'out'] });
  if (!options) return;
  if (!(QUANTIZATIONS as readonly string[]).includes(options.quantization)) {
    throw new OptionError(`--quantization=${options.quantization} is not one of ${QUANTIZATIONS.join(', ')}`);
  }
  const prepared = loadPrepared(options.data);
  const { trie } = prepared;
  const catalog: CatalogEntry[] = prepared.items;
  const [{ weights, config }, ...moreMembers] = options.checkpoint === 'random'
    ? (() => {
        const c: SeedConfig = { ...DEFAULT_SEED_CONFIG, levels: trie.levels, codebookSize: trie.codebookSize };
        return [{ config: c, weights: initSeedWeights(c, options.seed) }];
      })()
    : options.checkpoint.split(',').map((path) => readSeedCheckpoint(path.trim()));
  const namedBias = ['fit', 'none'].includes(options.historyBias);
  const manualBias = namedBias ? null : parseHistoryBias(options.historyBias, config.levels);
  if (!namedBias && !manualBias) {
    throw new OptionError(`--historyBias=${options.historyBias}: give 'fit', 'none' or ${config.levels} comma-separated numbers`);
  }
  const quantization = options.quantization as Quantization;
  const started = performance.now();
  const exported = await exportBundle({
    weights,
    config,
    moreMembers,
    trie,
    catalog,
    quantization,
    outDir: options.out,
    name: options.name || `${options.data.replace(/\/+$/, '').split('/').pop()}-${quantization}${options.checkpoint === 'random' ? '-untrained' : ''}`,
    beamWidth: options.beamWidth,
    ...(options.reward ? { reward: readRewardCheckpoint(options.reward) } : {}),
    ...(options.metrics ? { metrics: readMetrics(options.metrics) } : {}),
  });
  if (options.historyBias !== 'none' && options.checkpoint !== 'random') {
    const manifest = exported.manifest;
    const { seedDataFromPrepared, SplitError } = await import('../seed/batches.ts');
    let data: ReturnType<typeof seedDataFromPrepared> | null = null;
    if (options.historyBias === 'fit') {
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
        split: 'train', users: options.historyBiasUsers, seed: 7, bound: 8, onProgress: (done, total) => (bar ??= progressBar('history bias fit', total)).update(done),
      });
      (bar as Progress | null)?.stop();
      const { bias, ...rest } = fit;
      manifest.historyBias = { bias, fit: { method: 'maximum likelihood per level, network frozen, each user\'s last training transition', ...rest } };
    } else if (manualBias) {
      manifest.historyBias = { bias: manualBias };
    }
    if (manifest.historyBias) {
      writeFileSync(join(options.out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
      console.log(`history bias (β per level): ${manifest.historyBias.bias.map((b) => b.toFixed(3)).join(', ')}`);
    }
  }
  const lines = Object.entries(exported.manifest.files).map(([role, f]) => `  ${role.padEnd(12)} ${f!.path.padEnd(18)} ${(f!.bytes / 1024).toFixed(1).padStart(9)} KiB`);
  console.log(`wrote ${options.out} (${quantization}${moreMembers.length > 0 ? `, an ensemble of ${moreMembers.length + 1}` : ''}) in ${((performance.now() - started) / 1000).toFixed(1)} s\n${lines.join('\n')}\n  total        ${' '.repeat(18)} ${(exported.totalBytes / 1024).toFixed(1).padStart(9)} KiB (${(exported.totalBytes / 1e6).toFixed(2)} MB)`);
}
