// From users' item sequences to the seed model's tensors, leave-one-out (the TIGER/S3-Rec protocol):
// per user (chronological) the last item is the test target, the one before it the validation target,
// and every earlier position is a training target whose history is everything before it.
// Training targets may be windows of m consecutive items (the session the decoder generates).
import { BOS, encoderTokens, tokenId } from '../../runtime/tokens.ts';

/** The slice of the prepared data the seed model reads. */
export interface SeedData {
  itemCount: number;
  levels: number;
  codebookSize: number;
  codes: Uint16Array; // [items, levels] semantic IDs (suffix level included)
  sequences: Int32Array[]; // [users][n] chronological item indices, validation and test items included
}

export type Split = 'train' | 'validation' | 'test';

/** One example: a user's history prefix length and the position of its first target. */
export interface Example {
  user: number;
  targetStart: number; // index in the user's sequence of the first target item; history = sequence[0 .. targetStart)
}

export class SplitError extends Error {
  override name = 'SplitError';
}

/** Training examples: every window of `window` items ending before the validation item, history ≥ 1 item. */
export function trainExamples(data: SeedData, window: number): Example[] {
  const out: Example[] = [];
  data.sequences.forEach((seq, user) => {
    const lastTrain = seq.length - 3; // index of the last training item
    for (let t = 1; t + window - 1 <= lastTrain; t++) out.push({ user, targetStart: t });
  });
  return out;
}

/** Validation / test examples: one per user with ≥ 3 items (the 5-core data always has them). */
export function evalExamples(data: SeedData, split: Exclude<Split, 'train'>): Example[] {
  const out: Example[] = [];
  data.sequences.forEach((seq, user) => {
    if (seq.length < 3) return;
    out.push({ user, targetStart: seq.length - (split === 'test' ? 1 : 2) });
  });
  if (out.length === 0) throw new SplitError(`no user has the 3 items that a leave-one-out ${split} example needs`);
  return out;
}

export interface Batch {
  size: number; // B
  encoderTokens: Int32Array; // [B, maxHistory * levels]
  decoderTokens: Int32Array; // [B, T], T = window * (levels + 1): [BOS c1 … cL] × window
  targets: Int32Array; // [B, T] next token at each position, -1 = ignored (BOS targets and the last position)
  targetItems: Int32Array; // [B, window]
}

/** Builds tensors for examples; `window` items of target per example (1 for evaluation). */
export function makeBatch(data: SeedData, examples: readonly Example[], maxHistory: number, window: number): Batch {
  const { levels, codebookSize: K, codes } = data;
  const B = examples.length;
  const S = maxHistory * levels;
  const T = window * (levels + 1);
  const enc = new Int32Array(B * S);
  const dec = new Int32Array(B * T);
  const targets = new Int32Array(B * T).fill(-1);
  const targetItems = new Int32Array(B * window);
  examples.forEach((ex, b) => {
    const seq = data.sequences[ex.user];
    enc.set(encoderTokens(seq.subarray(0, ex.targetStart), codes, levels, K, maxHistory), b * S);
    for (let i = 0; i < window; i++) {
      const item = seq[ex.targetStart + i];
      targetItems[b * window + i] = item;
      dec[b * T + i * (levels + 1)] = BOS;
      for (let l = 0; l < levels; l++) dec[b * T + i * (levels + 1) + 1 + l] = tokenId(l, codes[item * levels + l], K);
    }
    for (let p = 0; p + 1 < T; p++) {
      const next = dec[b * T + p + 1];
      if (next !== BOS) targets[b * T + p] = next;
    }
  });
  return { size: B, encoderTokens: enc, decoderTokens: dec, targets, targetItems };
}

/** The prepared data's rows as per-user sequences; checks that the split is leave-one-out (…, validation, test). */
export function seedDataFromPrepared(p: {
  dir: string; levels: number; codebookSize: number; codes: Uint16Array; userOffsets: Int32Array; item: Int32Array;
  split: { kind: string; rowSplit: Uint8Array }; meta: { items: number };
}): SeedData {
  if (p.split.kind !== 'leave-one-out') {
    throw new SplitError(`${p.dir}: split '${p.split.kind}'; the seed model's next-item evaluation needs a leave-one-out split (onerec prepare --split=leave-one-out)`);
  }
  const users = p.userOffsets.length - 1;
  const sequences: Int32Array[] = [];
  for (let u = 0; u < users; u++) {
    const start = p.userOffsets[u];
    const end = p.userOffsets[u + 1];
    const n = end - start;
    // rowSplit: 0 train, 1 validation, 2 test; leave-one-out puts validation and test last.
    for (let r = start; r < end; r++) {
      const expected = n >= 3 && r === end - 2 ? 1 : n >= 2 && r === end - 1 ? 2 : 0;
      if (p.split.rowSplit[r] !== expected) {
        throw new SplitError(`${p.dir}: user ${u} row ${r - start} is split ${p.split.rowSplit[r]}, expected ${expected} (leave-one-out: last = test, second-to-last = validation)`);
      }
    }
    sequences.push(p.item.subarray(start, end));
  }
  return { itemCount: p.meta.items, levels: p.levels, codebookSize: p.codebookSize, codes: p.codes, sequences };
}

/**
 * History items as negatives for the unlikelihood term: per example up to `count` distinct items drawn from
 * the history the encoder sees (its last `maxHistory` items), never one of the example's target items.
 * Rows are teacher-forced decoder inputs for one item: tokens [BOS c1 … c(L−1)] predict targets [c1 … cL]
 * (only the last `lastLevels` of them; the others are −1, so that the term leaves shared prefixes alone).
 * A row with no negative (short history) has weight 0 and targets −1; the others share weight 1 / valid rows.
 */
export interface NegativeBatch {
  rows: number; // B · count
  rowExample: Int32Array; // [rows] index of the example (its encoder memory) in the batch
  tokens: Int32Array; // [rows, levels]
  targets: Int32Array; // [rows, levels]
  weight: Float32Array; // [rows] 1 / valid rows, 0 for empty rows
  items: Int32Array; // [rows] item index, −1 for empty rows
}

export function historyNegatives(data: SeedData, examples: readonly Example[], maxHistory: number, window: number, count: number, rng: { int(n: number): number }, lastLevels = data.levels): NegativeBatch {
  const { levels, codebookSize: K, codes } = data;
  const rows = examples.length * count;
  const rowExample = new Int32Array(rows);
  const tokens = new Int32Array(rows * levels);
  const targets = new Int32Array(rows * levels).fill(-1);
  const items = new Int32Array(rows).fill(-1);
  let valid = 0;
  examples.forEach((ex, b) => {
    const seq = data.sequences[ex.user];
    const from = Math.max(0, ex.targetStart - maxHistory);
    const targetSet = new Set(seq.subarray(ex.targetStart, ex.targetStart + window));
    const pool = [...new Set(seq.subarray(from, ex.targetStart))].filter((i) => !targetSet.has(i));
    for (let j = 0; j < count; j++) {
      const r = b * count + j;
      rowExample[r] = b;
      tokens[r * levels] = BOS;
      if (pool.length === 0) continue;
      const item = pool.splice(rng.int(pool.length), 1)[0]; // without replacement
      items[r] = item;
      valid++;
      for (let l = 0; l < levels; l++) {
        const id = tokenId(l, codes[item * levels + l], K);
        if (l >= levels - lastLevels) targets[r * levels + l] = id; // the term covers the item's last `lastLevels` codes
        if (l + 1 < levels) tokens[r * levels + l + 1] = id;
      }
    }
  });
  const weight = new Float32Array(rows);
  for (let r = 0; r < rows; r++) if (items[r] >= 0) weight[r] = 1 / valid;
  return { rows, rowExample, tokens, targets, weight, items };
}
