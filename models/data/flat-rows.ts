// Per-user sequences laid end to end, so that a training example can be one int (its flat row) instead of
// an object: the trainers keep an epoch's examples in one Int32Array and shuffle it in place. For sequences
// cut from prepared data (every row of every user), the flat rows are the rows of rows-item.i32 and the
// offsets are rows-user-offsets.i32.

/** [users + 1] offsets of `sequences` laid end to end: user u's positions are flat rows offsets[u] .. offsets[u + 1) − 1. */
export function sequenceOffsets(sequences: readonly { length: number }[]): Int32Array {
  const offsets = new Int32Array(sequences.length + 1);
  for (let u = 0; u < sequences.length; u++) offsets[u + 1] = offsets[u] + sequences[u].length;
  return offsets;
}

/** The user whose positions hold flat row `row` (0 ≤ row < offsets[users]): binary search; users with no rows never match. */
export function userOfRow(offsets: Int32Array, row: number): number {
  let lo = 0;
  let hi = offsets.length - 2; // the last user
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (offsets[mid] <= row) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
