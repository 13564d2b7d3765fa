// Ranking metrics of the reward stage: ROC AUC of a tower's scores against binary labels.
import { ShapeError } from '../engine/errors.ts';

/**
 * ROC AUC = P(score of a random positive > score of a random negative), ties counted one half
 * (Mann–Whitney U with average ranks). Exact for any input; NaN when `labels` has no positive or no
 * negative (the AUC is undefined there — callers report it as null).
 */
export function auc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = scores.length;
  if (labels.length !== n) throw new ShapeError(`auc: ${n} scores but ${labels.length} labels; pass one label per score`);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let positives = 0;
  let rankSumPositive = 0; // Σ over positives of their 1-based average rank
  for (let start = 0; start < n; ) {
    let end = start + 1;
    while (end < n && scores[order[end]] === scores[order[start]]) end++;
    const averageRank = (start + 1 + end) / 2; // ranks start+1 … end share their mean
    for (let k = start; k < end; k++) {
      if (labels[order[k]]) {
        positives++;
        rankSumPositive += averageRank;
      }
    }
    start = end;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) return NaN;
  return (rankSumPositive - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Binary cross-entropy of probabilities `p` against 0/1 `labels`, mean over entries; p clamped to [1e-7, 1-1e-7]. */
export function meanBce(p: ArrayLike<number>, labels: ArrayLike<number>): number {
  if (p.length !== labels.length) throw new ShapeError(`meanBce: ${p.length} probabilities but ${labels.length} labels`);
  let total = 0;
  for (let i = 0; i < p.length; i++) {
    const q = Math.min(1 - 1e-7, Math.max(1e-7, p[i]));
    total -= labels[i] ? Math.log(q) : Math.log(1 - q);
  }
  return total / p.length;
}
