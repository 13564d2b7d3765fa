// Seeded synthetic semantic IDs for the scale benches (bench/bundle-scale.ts, bench/runtime-scale.ts): levels − 1
// uniform codes per item and a suffix level counting the earlier items with that prefix, as RQ-KMeans' collision
// level does. Same seed, same codes.
import { seededUniform } from '../models/random.ts';

/** `codes: Uint16Array // [items, levels]`; an Error when more than K items share a prefix (use more levels). */
export function syntheticCodes(items: number, levels: number, codebookSize: number, seed: number): Uint16Array {
  const uniform = seededUniform(seed);
  const K = codebookSize;
  const codes = new Uint16Array(items * levels); // [items, levels]
  const seen = new Map<number, number>();
  for (let i = 0; i < items; i++) {
    let key = 0;
    for (let l = 0; l < levels - 1; l++) {
      const c = Math.floor(uniform() * K);
      codes[i * levels + l] = c;
      key = key * K + c;
    }
    const suffix = seen.get(key) ?? 0;
    if (suffix >= K) throw new Error(`more than ${K} items share a prefix at ${items} items; use more levels`);
    seen.set(key, suffix + 1);
    codes[i * levels + levels - 1] = suffix;
  }
  return codes;
}
