// Semantic IDs for the alignment run when no prepared KuaiRand data (`onerec prepare`, #2) is given:
// positional codes — item index i written in base K over the fewest digits that fit, plus the suffix level
// (always 0, every code is unique). They carry no content semantics; they exist so that the alignment
// machinery can run and be measured before the real semantic IDs land. Reports name which IDs were used.
import { RewardDataError } from '../reward/errors.ts';

export function positionalCodes(itemCount: number, codebookSize: number): { codes: Uint16Array; levels: number } {
  if (itemCount < 1 || codebookSize < 2) throw new RewardDataError(`positionalCodes: need ≥ 1 item and K ≥ 2, got ${itemCount} items, K ${codebookSize}`);
  let digits = 1;
  while (codebookSize ** digits < itemCount) digits++;
  const levels = digits + 1;
  const codes = new Uint16Array(itemCount * levels); // [items, levels]
  for (let i = 0; i < itemCount; i++) {
    let rest = i;
    for (let l = digits - 1; l >= 0; l--) {
      codes[i * levels + l] = rest % codebookSize;
      rest = Math.floor(rest / codebookSize);
    }
  }
  return { codes, levels };
}
