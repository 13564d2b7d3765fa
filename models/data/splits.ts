// Train / validation / test splits, as one label per interaction row.
//  - leave-one-out (TIGER): per user, last row = test, second-last = validation, the rest = train.
//  - time (KuaiRand): the last `testDays` days = test, the `validationDays` before them = validation.
// Held-out examples give the model the user's history before the target, capped at `historyCap` items
// (20 in the TIGER protocol).
import type { Dataset } from './dataset.ts';

export const TRAIN = 0;
export const VALIDATION = 1;
export const TEST = 2;

export type SplitKind = 'leave-one-out' | 'time';

export interface Split {
  kind: SplitKind;
  rowSplit: Uint8Array; // [rows] TRAIN | VALIDATION | TEST
  validationDay?: number; // time split: first validation day (day index, see Dataset.day)
  testDay?: number; // time split: first test day
}

type Rows = Pick<Dataset, 'userOffsets' | 'item' | 'day'>;

/** Users with ≥ 3 rows give one validation and one test row; 2 rows: test only; 1 row: train only. */
export function leaveOneOutSplit(data: Rows): Split {
  const rowSplit = new Uint8Array(data.item.length); // [rows]
  const users = data.userOffsets.length - 1;
  for (let u = 0; u < users; u++) {
    const start = data.userOffsets[u];
    const end = data.userOffsets[u + 1];
    if (end - start >= 2) rowSplit[end - 1] = TEST;
    if (end - start >= 3) rowSplit[end - 2] = VALIDATION;
  }
  return { kind: 'leave-one-out', rowSplit };
}

/** Rows on the last `testDays` days are test, the `validationDays` days before them validation. */
export function timeSplit(data: Rows, validationDays: number, testDays: number): Split {
  let lastDay = 0;
  for (let i = 0; i < data.day.length; i++) if (data.day[i] > lastDay) lastDay = data.day[i];
  const testDay = lastDay - testDays + 1;
  const validationDay = testDay - validationDays;
  const rowSplit = new Uint8Array(data.item.length); // [rows]
  for (let i = 0; i < rowSplit.length; i++) rowSplit[i] = data.day[i] >= testDay ? TEST : data.day[i] >= validationDay ? VALIDATION : TRAIN;
  return { kind: 'time', rowSplit, validationDay, testDay };
}

export interface HeldOutExample {
  user: number;
  history: Int32Array; // [≤ historyCap] item indices, oldest → newest, all before the first target
  targets: Int32Array; // [≥ 1] the user's rows of this split, in order (one item under leave-one-out)
}

/**
 * One example per user that has rows in `which` (VALIDATION or TEST): the history is every earlier row
 * of that user (validation rows included in a test example's history, as in TIGER), capped to the most
 * recent `historyCap` items.
 */
export function heldOutExamples(data: Rows, split: Split, which: number, historyCap: number): HeldOutExample[] {
  const out: HeldOutExample[] = [];
  const users = data.userOffsets.length - 1;
  for (let u = 0; u < users; u++) {
    const start = data.userOffsets[u];
    const end = data.userOffsets[u + 1];
    let first = -1;
    const targets: number[] = [];
    for (let r = start; r < end; r++) {
      if (split.rowSplit[r] !== which) continue;
      if (first < 0) first = r;
      targets.push(data.item[r]);
    }
    if (first < 0) continue;
    out.push({ user: u, history: data.item.slice(Math.max(start, first - historyCap), first), targets: Int32Array.from(targets) });
  }
  return out;
}

/**
 * The train rows' items of every user (the only rows that may build embeddings or co-occurrence); with `through`
 * VALIDATION, the validation rows' too (a refit's targets: every row but the test split's).
 */
export function trainSequences(data: Rows, split: Split, through: typeof TRAIN | typeof VALIDATION = TRAIN): Int32Array[] {
  const users = data.userOffsets.length - 1;
  const out: Int32Array[] = [];
  for (let u = 0; u < users; u++) {
    const items: number[] = [];
    for (let r = data.userOffsets[u]; r < data.userOffsets[u + 1]; r++) if (split.rowSplit[r] <= through) items.push(data.item[r]);
    out.push(Int32Array.from(items));
  }
  return out;
}
