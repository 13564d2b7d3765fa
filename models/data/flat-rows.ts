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

/**
 * `sequences` as one flat item array and its offsets (sequenceOffsets). Sequences that already lie end to end in one
 * buffer, as seedDataFromPrepared's views of rows-item.i32 do, give a view of that buffer (no copy); others a copy.
 */
export function flatRows(sequences: readonly Int32Array[]): { item: Int32Array; offsets: Int32Array } {
  const offsets = sequenceOffsets(sequences);
  const rows = offsets[sequences.length];
  if (sequences.length > 0) {
    const { buffer, byteOffset } = sequences[0];
    if (sequences.every((seq, u) => seq.buffer === buffer && seq.byteOffset === byteOffset + offsets[u] * Int32Array.BYTES_PER_ELEMENT)) {
      return { item: new Int32Array(buffer, byteOffset, rows), offsets };
    }
  }
  const item = new Int32Array(rows);
  sequences.forEach((seq, u) => item.set(seq, offsets[u]));
  return { item, offsets };
}
