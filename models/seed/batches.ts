// From users' item sequences to the seed model's tensors, leave-one-out (the TIGER/S3-Rec protocol):
// per user (chronological) the last item is the test target, the one before it the validation target,
// and every earlier position is a training target whose history is everything before it.
// Training targets may be windows of m consecutive items (the session the decoder generates).
import { BOS, tokenId } from '../../runtime/tokens.ts';
import { flatRows, userOfRow } from '../data/flat-rows.ts';

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

/**
 * The training examples without one object per example (a log of 10 M interactions has ~10 M): each is the flat row
 * of its first target item in the users' sequences laid end to end. For data from seedDataFromPrepared those are
 * rows-item.i32 and rows-user-offsets.i32 themselves (no copy; see flatRows).
 */
export interface TrainExamples {
  item: Int32Array; // [rows] item of each flat row: user u's sequence is item[userOffsets[u] .. userOffsets[u + 1])
  userOffsets: Int32Array; // [users + 1]
  rows: Int32Array; // [examples] flat row of each example's first target; its history is the user's rows before it
}

/** How many training examples trainExamples() makes: max(0, n − heldOut − window) per user of n items. */
export function trainExampleCount(data: SeedData, window: number, heldOut = 2): number {
  let count = 0;
  for (const seq of data.sequences) count += Math.max(0, seq.length - heldOut - window);
  return count;
}

/**
 * Training examples: every window of `window` items ending before the last `heldOut` items of each sequence (2, the
 * validation and test items; 0 for sequences that hold training items only), history ≥ 1 item, in canonical order
 * (users in order, positions ascending: ascending rows). `into` (from an earlier call with the same data, window and
 * heldOut) is refilled in that order instead of allocated: the trainer restarts every epoch's shuffle from it, as it
 * shuffled a fresh 0 … n − 1 permutation of an example list before.
 */
export function trainExamples(data: SeedData, window: number, into?: TrainExamples, heldOut = 2): TrainExamples {
  const { item, offsets: userOffsets } = into ? { item: into.item, offsets: into.userOffsets } : flatRows(data.sequences);
  const rows = into?.rows ?? new Int32Array(trainExampleCount(data, window, heldOut));
  let k = 0;
  data.sequences.forEach((seq, user) => {
    const lastTrain = seq.length - 1 - heldOut; // index of the last training item
    for (let t = 1; t + window - 1 <= lastTrain; t++) rows[k++] = userOffsets[user] + t;
  });
  if (k !== rows.length) throw new RangeError(`trainExamples: ${k} examples for ${rows.length} slots; refill only with the data and window that made them`);
  return { item, userOffsets, rows };
}

/** Training examples `rows` (a slice of TrainExamples.rows) as Example objects: for the per-batch terms that take them. */
export function batchExamples(examples: TrainExamples, rows: Int32Array): Example[] {
  return Array.from(rows, (row) => {
    const user = userOfRow(examples.userOffsets, row);
    return { user, targetStart: row - examples.userOffsets[user] };
  });
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
  historyItems?: Int32Array; // [B, maxHistory] item + 1 of each history slot of encoderTokens (0 = no item: PAD, or an empty history's BOS), the rows of enc.item_emb; makeBatch and trainBatch always fill it, a batch built without it serves only models without itemEmbedding
  decoderTokens: Int32Array; // [B, T], T = window * (levels + 1): [BOS c1 … cL] × window
  targets: Int32Array; // [B, T] next token at each position, -1 = ignored (BOS targets and the last position)
  targetItems: Int32Array; // [B, window]
}

function emptyBatch(data: SeedData, size: number, maxHistory: number, window: number): Batch & { historyItems: Int32Array } {
  const T = window * (data.levels + 1);
  return {
    size,
    encoderTokens: new Int32Array(size * maxHistory * data.levels),
    historyItems: new Int32Array(size * maxHistory),
    decoderTokens: new Int32Array(size * T),
    targets: new Int32Array(size * T).fill(-1),
    targetItems: new Int32Array(size * window),
  };
}

/**
 * Writes one example into row b of `batch`: history items[historyStart .. target), targets items[target .. target +
 * window). The encoder row is runtime/tokens.ts encoderTokens' layout (history right-aligned, PAD = 0 on the left, a
 * lone BOS for an empty history), written in place rather than through a fresh array per example.
 */
function writeExample(data: SeedData, batch: Batch & { historyItems: Int32Array }, b: number, items: Int32Array, historyStart: number, target: number, maxHistory: number, window: number): void {
  const { levels, codebookSize: K, codes } = data;
  const S = maxHistory * levels;
  const T = window * (levels + 1);
  const enc = batch.encoderTokens;
  const n = Math.min(target - historyStart, maxHistory);
  if (n === 0) enc[b * S + (maxHistory - 1) * levels] = BOS;
  for (let j = 0; j < n; j++) {
    const item = items[target - n + j];
    const slot = b * S + (maxHistory - n + j) * levels;
    batch.historyItems[b * maxHistory + maxHistory - n + j] = item + 1;
    for (let l = 0; l < levels; l++) enc[slot + l] = tokenId(l, codes[item * levels + l], K);
  }
  const dec = batch.decoderTokens;
  for (let i = 0; i < window; i++) {
    const item = items[target + i];
    batch.targetItems[b * window + i] = item;
    dec[b * T + i * (levels + 1)] = BOS;
    for (let l = 0; l < levels; l++) dec[b * T + i * (levels + 1) + 1 + l] = tokenId(l, codes[item * levels + l], K);
  }
  for (let p = 0; p + 1 < T; p++) {
    const next = dec[b * T + p + 1];
    if (next !== BOS) batch.targets[b * T + p] = next;
  }
}

/** Builds tensors for examples; `window` items of target per example (1 for evaluation). */
export function makeBatch(data: SeedData, examples: readonly Example[], maxHistory: number, window: number): Batch {
  const batch = emptyBatch(data, examples.length, maxHistory, window);
  examples.forEach((ex, b) => writeExample(data, batch, b, data.sequences[ex.user], 0, ex.targetStart, maxHistory, window));
  return batch;
}

/**
 * Training-time history augmentation: each history item is left out of the encoder input with probability `dropout`
 * (at least one item stays; older items move up into the freed slots of the maxHistory window). The targets are
 * untouched. A model that sees a user's exact prefix only once per epoch can still learn it by heart; a thinned copy
 * asks for what the history's items say, not which user it is (item masking/cropping as in CL4SRec, as plain
 * training noise).
 */
export interface HistoryAugment {
  dropout: number; // [0, 1)
  rng: { next(): number };
}

/** makeBatch for training examples `rows` (a slice of TrainExamples.rows), read straight from the flat rows. */
export function trainBatch(data: SeedData, examples: TrainExamples, rows: Int32Array, maxHistory: number, window: number, augment?: HistoryAugment): Batch {
  const batch = emptyBatch(data, rows.length, maxHistory, window);
  for (let b = 0; b < rows.length; b++) {
    const start = examples.userOffsets[userOfRow(examples.userOffsets, rows[b])];
    if (augment && augment.dropout > 0) {
      const [items, target] = thinnedHistory(examples.item, start, rows[b], window, augment);
      writeExample(data, batch, b, items, 0, target, maxHistory, window);
    } else {
      writeExample(data, batch, b, examples.item, start, rows[b], maxHistory, window);
    }
  }
  return batch;
}

/** items[start .. target) with each item kept with probability 1 − dropout (the last kept if none is), then the window's targets. */
function thinnedHistory(items: Int32Array, start: number, target: number, window: number, augment: HistoryAugment): [Int32Array, number] {
  const out = new Int32Array(target - start + window);
  let n = 0;
  for (let r = start; r < target; r++) if (augment.rng.next() >= augment.dropout) out[n++] = items[r];
  if (n === 0 && target > start) out[n++] = items[target - 1];
  out.set(items.subarray(target, target + window), n);
  return [out.subarray(0, n + window), n];
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
