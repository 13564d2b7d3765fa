// Ranking metrics for leave-one-out next-item evaluation (one held-out item per user), computed from the
// constrained beam's ranked list. With beam ≥ K the @K figures equal full ranking over all items: the
// beam's first K items are the model's K most probable items under the search (items past the beam
// count as misses).

export interface RankingMetrics {
  'recall@5': number;
  'recall@10': number;
  'ndcg@5': number;
  'ndcg@10': number;
  valid_id_rate: number; // fraction of users whose unconstrained greedy decode is a catalog item
  users: number;
  'ndcg@10_se': number; // standard error of NDCG@10's mean over these users: gaps under ~2 of these are noise
}

/**
 * NDCG's gain of a hit at 0-based `rank` with one held-out item (the ideal DCG is then 1): 1 / log2(rank + 2).
 * RankingAccumulator and the transition fit's per-user figures (models/export/transitions-fit.ts) both use it, so the
 * fit's NDCG@10 is the one `onerec eval` reports.
 */
export function ndcgGain(rank: number): number {
  return 1 / Math.log2(rank + 2);
}

/** Accumulates per-user hits; `rank` is the 0-based position of the target in the ranked list (-1 = absent). */
export class RankingAccumulator {
  private sums = { r5: 0, r10: 0, n5: 0, n10: 0, n10Squared: 0, valid: 0 };
  users = 0;

  add(rank: number, validGreedy: boolean): void {
    this.users++;
    if (validGreedy) this.sums.valid++;
    if (rank < 0) return;
    const gain = ndcgGain(rank);
    if (rank < 5) {
      this.sums.r5++;
      this.sums.n5 += gain;
    }
    if (rank < 10) {
      this.sums.r10++;
      this.sums.n10 += gain;
      this.sums.n10Squared += gain * gain;
    }
  }

  result(): RankingMetrics {
    const n = Math.max(1, this.users);
    const mean = this.sums.n10 / n;
    return {
      'recall@5': this.sums.r5 / n,
      'recall@10': this.sums.r10 / n,
      'ndcg@5': this.sums.n5 / n,
      'ndcg@10': this.sums.n10 / n,
      valid_id_rate: this.sums.valid / n,
      users: this.users,
      'ndcg@10_se': Math.sqrt(Math.max(0, this.sums.n10Squared / n - mean * mean) / n),
    };
  }
}

/** 0-based rank of `target` among `ranked` (distinct items, best first), -1 when absent. */
export function rankOf(ranked: ArrayLike<number>, target: number): number {
  for (let i = 0; i < ranked.length; i++) if (ranked[i] === target) return i;
  return -1;
}
