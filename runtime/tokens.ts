// The token vocabulary shared by the trainer, the exporter and the on-device runtime.
// An item is `levels` tokens (L residual codes + 1 suffix code); every level has `codebookSize` slots.

export const PAD = 0; // padding (masked as an attention key)
export const BOS = 1; // begins every item of a generated session
export const SPECIAL_TOKENS = 2; // number of ids before the first code token

/** Token id of `code` at `level`. */
export function tokenId(level: number, code: number, codebookSize: number): number {
  return SPECIAL_TOKENS + level * codebookSize + code;
}

/** Inverse of tokenId for code tokens: [level, code]. */
export function tokenLevelCode(token: number, codebookSize: number): [number, number] {
  const t = token - SPECIAL_TOKENS;
  return [Math.floor(t / codebookSize), t % codebookSize];
}

export function vocabSize(levels: number, codebookSize: number): number {
  return SPECIAL_TOKENS + levels * codebookSize;
}

/**
 * The encoder's static input for one user: `maxHistory * levels` tokens, history right-aligned
 * (most recent item in the last slot), left-padded with PAD. Longer histories keep their most recent
 * `maxHistory` items. An empty history becomes one BOS in the last slot so one key is always visible.
 * `itemCodes` is `[items, levels]`.
 */
export function encoderTokens(history: ArrayLike<number>, itemCodes: Uint16Array, levels: number, codebookSize: number, maxHistory: number): Int32Array {
  const out = new Int32Array(maxHistory * levels); // [maxHistory * levels], PAD-filled
  const n = Math.min(history.length, maxHistory);
  if (n === 0) {
    out[(maxHistory - 1) * levels] = BOS;
    return out;
  }
  for (let j = 0; j < n; j++) {
    const item = history[history.length - n + j];
    const slot = maxHistory - n + j;
    for (let l = 0; l < levels; l++) out[slot * levels + l] = tokenId(l, itemCodes[item * levels + l], codebookSize);
  }
  return out;
}
