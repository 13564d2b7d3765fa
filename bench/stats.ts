// The order statistics the benches report, one definition for every bench JSON: the nearest-rank value at ⌊q · n⌋ of
// the ascending sample (for n even, `median` is the upper of the two middle values).

/** The value at ⌊q · n⌋ of `sorted` (ascending), the last one at most. */
export const percentile = (sorted: readonly number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

/** `percentile` of an unsorted sample (left unchanged). */
export const quantile = (xs: readonly number[], q: number): number => percentile([...xs].sort((a, b) => a - b), q);

/** The sample's median as the benches report it: quantile 0.5. */
export const median = (xs: readonly number[]): number => quantile(xs, 0.5);
