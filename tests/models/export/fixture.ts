// A tiny seed model, trie and catalog made by the project itself (seeded), shared by the export tests.
import { initSeedWeights, type SeedConfig } from '../../../models/seed/reference.ts';
import { seededUniform } from '../../../models/random.ts';
import type { CatalogEntry } from '../../../runtime/bundle.ts';
import { SemanticIdTrie } from '../../../runtime/semantic-id-trie.ts';

export const TINY: SeedConfig = {
  codebookSize: 8, levels: 3, dModel: 32, heads: 2, encoderLayers: 1, decoderLayers: 2, ffnDim: 64, experts: 4,
  expertsPerToken: 2, expertFfnDim: 32, maxHistory: 5, sessionLength: 2, moeAuxWeight: 0.01, dropout: 0,
};
export const ITEMS = 30;

/** [ITEMS, levels] codes: two random residual levels plus a suffix that makes every item unique. */
export function tinyCodes(seed = 3): Uint16Array {
  const uniform = seededUniform(seed);
  const codes = new Uint16Array(ITEMS * TINY.levels);
  const used = new Map<string, number>();
  for (let i = 0; i < ITEMS; i++) {
    const a = Math.floor(uniform() * 4);
    const b = Math.floor(uniform() * TINY.codebookSize);
    const key = `${a},${b}`;
    const suffix = used.get(key) ?? 0;
    used.set(key, suffix + 1);
    codes.set([a, b, suffix], i * TINY.levels);
  }
  return codes;
}

export function tinyModel(std = 0.3) {
  const codes = tinyCodes();
  const trie = SemanticIdTrie.build(codes, TINY.levels, TINY.codebookSize);
  const catalog: CatalogEntry[] = Array.from({ length: ITEMS }, (_, i) => ({ id: `item-${i}`, title: `Item ${i}`, attributes: ['brand', `category ${i % 3}`] }));
  return { config: TINY, weights: initSeedWeights(TINY, 17, std), codes, trie, catalog };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
