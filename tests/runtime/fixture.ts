// Tiny bundles made by the project's own exporter (models/export exportBundle) from seeded random
// weights: a seed model, optionally a reward model, a trie of seeded random semantic IDs and a catalog.
// Written to a temp dir by the runtime tests, the browser specs and the bench.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initSeedWeights, type SeedWeights } from '../../models/seed/reference.ts';
import { seededUniform } from '../../models/random.ts';
import { DEFAULT_SEED_CONFIG, type SeedConfig } from '../../models/seed/config.ts';
import { exportBundle } from '../../models/export/bundle-writer.ts';
import { rewardParameterShapes, type RewardConfig } from '../../models/reward/config.ts';
import type { RewardWeights } from '../../models/reward/reference.ts';
import { SemanticIdTrie } from '../../runtime/semantic-id-trie.ts';

export const TINY_CONFIG: SeedConfig = {
  ...DEFAULT_SEED_CONFIG,
  codebookSize: 8, levels: 3, dModel: 32, heads: 2, encoderLayers: 1, decoderLayers: 2, ffnDim: 64,
  experts: 4, expertsPerToken: 2, expertFfnDim: 32, maxHistory: 8, sessionLength: 4, dropout: 0,
};

export interface TestBundle {
  dir: string;
  items: number;
  codes: Uint16Array; // [items, levels]
  config: SeedConfig;
  weights: SeedWeights; // the float32 weights the graphs were built from (for the reference forward)
  reward: { config: RewardConfig; weights: RewardWeights; towerWeights: number[] } | null;
}

export interface TestBundleOptions {
  items?: number; // catalog size; default 60
  seed?: number; // weights and codes; default 7
  std?: number; // weight scale: large enough for peaked logits (random-init ties would make beams fragile)
  beamWidth?: number; // manifest default; default 8
  config?: SeedConfig;
  reward?: boolean; // also export a reward model (default: 3 towers, d 16, H 10)
  rewardConfig?: Partial<RewardConfig>; // overrides of that reward model's config
  historyBias?: number[]; // [levels] written into manifest.historyBias (the repeat-awareness layer)
  ids?: (item: number) => string; // external id of each item; default `item-${i}`
}

/** Seeded random unique semantic IDs: levels−1 random codes plus a suffix code separating collisions. */
function randomCodes(items: number, levels: number, K: number, uniform: () => number): Uint16Array {
  const codes = new Uint16Array(items * levels); // [items, levels]
  const seen = new Map<string, number>();
  for (let i = 0; i < items; i++) {
    let key = '';
    for (let l = 0; l < levels - 1; l++) {
      codes[i * levels + l] = Math.floor(uniform() * K);
      key += `${codes[i * levels + l]},`;
    }
    const suffix = seen.get(key) ?? 0;
    if (suffix >= K) throw new Error(`test bundle: more than ${K} items share the prefix ${key}; use fewer items`);
    seen.set(key, suffix + 1);
    codes[i * levels + levels - 1] = suffix;
  }
  return codes;
}

export async function writeTestBundle(dir: string, options: TestBundleOptions = {}): Promise<TestBundle> {
  const config = options.config ?? TINY_CONFIG;
  const items = options.items ?? 60;
  const seed = options.seed ?? 7;
  const uniform = seededUniform(seed);
  const codes = randomCodes(items, config.levels, config.codebookSize, uniform);
  const trie = SemanticIdTrie.build(codes, config.levels, config.codebookSize);
  const weights = initSeedWeights(config, seed, options.std ?? 0.3);
  let reward: TestBundle['reward'] = null;
  if (options.reward) {
    // H = 10 ≠ the seed's maxHistory on purpose: the runtime must read H and m from reward.onnx.
    const rewardConfig: RewardConfig = { itemCount: items, dModel: 16, heads: 2, towerHidden: 16, maxHistory: 10, sessionLength: config.sessionLength, towers: ['swt', 'vtr', 'ltr'], ...options.rewardConfig };
    const normal = (): number => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
    const rewardWeights: RewardWeights = {};
    for (const [name, shape] of Object.entries(rewardParameterShapes(rewardConfig))) {
      rewardWeights[name] = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => 0.5 * normal());
    }
    reward = { config: rewardConfig, weights: rewardWeights, towerWeights: rewardConfig.towers.map((_, t) => [1, 0.5, 2][t % 3]) };
  }
  const { manifest } = await exportBundle({
    weights, config, trie, quantization: 'fp32', outDir: dir, name: 'tiny-test', beamWidth: options.beamWidth ?? 8,
    catalog: Array.from({ length: items }, (_, i) => ({ id: options.ids?.(i) ?? `item-${i}`, title: `Item ${i}` })),
    ...(reward ? { reward } : {}),
  });
  if (options.historyBias) writeFileSync(join(dir, 'manifest.json'), `${JSON.stringify({ ...manifest, historyBias: { bias: options.historyBias } }, null, 2)}\n`);
  return { dir, items, codes, config, weights, reward };
}
