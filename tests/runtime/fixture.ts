// A tiny bundle made by the project's own code (seeded random weights → the exporter's ONNX graphs, a
// trie of seeded random semantic IDs, a catalog), written to a temp dir for the runtime tests and bench.
// TODO(#6): switch to models/export's exportBundle() once it lands; the manifest layout is the contract's.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { initSeedWeights, seededUniform, type SeedWeights } from '../../models/seed/reference.ts';
import { buildDecoderStepGraph, buildEncoderGraph } from '../../models/export/seed-graphs.ts';
import { DEFAULT_SEED_CONFIG, type SeedConfig } from '../../models/seed/config.ts';
import { SemanticIdTrie } from '../../runtime/semantic-id-trie.ts';
import { vocabSize } from '../../runtime/tokens.ts';

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
}

/** Write a bundle of `items` items with seeded random weights (std: large enough for peaked logits). */
export function writeTestBundle(dir: string, options: { items?: number; seed?: number; std?: number; beamWidth?: number; config?: SeedConfig } = {}): TestBundle {
  const config = options.config ?? TINY_CONFIG;
  const items = options.items ?? 60;
  const { levels, codebookSize: K } = config;
  const uniform = seededUniform(options.seed ?? 7);
  // Seeded random unique codes: L-1 random levels plus a suffix level that separates collisions.
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
  const trie = SemanticIdTrie.build(codes, levels, K);
  const weights = initSeedWeights(config, options.seed ?? 7, options.std ?? 0.3);
  const files: Record<string, Uint8Array> = {
    'encoder.onnx': buildEncoderGraph(weights, config, 'fp32').bytes,
    'decoder_step.onnx': buildDecoderStepGraph(weights, config, 'fp32').bytes,
    'semantic-ids.bin': trie.toBytes(),
    'items.json': new TextEncoder().encode(JSON.stringify(Array.from({ length: items }, (_, i) => ({ id: `item-${i}`, title: `Item ${i}` })))),
  };
  mkdirSync(dir, { recursive: true });
  const entry = (path: string) => {
    writeFileSync(join(dir, path), files[path]);
    return { path, bytes: files[path].length, sha256: createHash('sha256').update(files[path]).digest('hex') };
  };
  const manifest = {
    format: 'onerec-bundle', version: 1, name: 'tiny-test', created: '2026-11-28T00:00:00Z',
    model: config,
    tokens: { pad: 0, bos: 1, special: 2, levels, codebookSize: K, vocabSize: vocabSize(levels, K) },
    generation: { sessionLength: config.sessionLength, beamWidth: options.beamWidth ?? 8, maxHistory: config.maxHistory },
    quantization: 'fp32',
    files: { encoder: entry('encoder.onnx'), decoderStep: entry('decoder_step.onnx'), trie: entry('semantic-ids.bin'), catalog: entry('items.json') },
  };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
  return { dir, items, codes, config, weights };
}
