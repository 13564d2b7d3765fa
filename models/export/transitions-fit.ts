// The transition prior of a bundle (runtime/transitions.ts): its table, counted on the training split of the prepared
// data, and its weight λ, chosen on the validation split from the bundle's own beams.
//
// λ is the one number fitted per bundle: each validation user's beam (recommend() with the prior off) is reranked at
// every λ of a fixed grid, and the smallest λ within one standard error of the best NDCG@10 is kept (fitTransitionLambda).
// The beams are computed once; the reranks are arithmetic. The table holds training transitions only, so no validation or test target is counted.
import type { SeedData } from '../seed/batches.ts';
import { rankOf } from '../seed/metrics.ts';
import { DEFAULT_TRANSITION_PARAMS, rerankByTransitions, TransitionTable, type TransitionParams } from '../../runtime/transitions.ts';

export const LAMBDA_GRID = [0, 0.25, 0.5, 1, 2, 4, 8];

/** The training part of each user's sequence: all but the last two items (validation and test) of leave-one-out data. */
export function trainingSequences(data: SeedData): Int32Array[] {
  return data.sequences.map((seq) => seq.subarray(0, Math.max(0, seq.length - 2)));
}

/** The table of the training transitions (per item its `maxPerItem` most frequent successors). */
export function trainTransitionTable(data: SeedData, maxPerItem = 100): TransitionTable {
  return TransitionTable.build(trainingSequences(data), data.itemCount, maxPerItem);
}

/** One validation user's beam: history (item indices, oldest first), the target, the beam's items and log-probabilities. */
export interface BeamOfUser {
  history: ArrayLike<number>;
  target: number;
  items: Int32Array; // [beams] next-item candidates, beam order
  logProb: ArrayLike<number>; // [beams]
}

export interface LambdaFit {
  lambda: number;
  users: number;
  grid: { lambda: number; 'ndcg@10': number; 'recall@10': number }[];
}

/** NDCG@10 and recall@10 of the beams reranked with `params` (λ included), and each user's NDCG@10 term. */
export function rerankedMetrics(table: TransitionTable, params: TransitionParams, beams: readonly BeamOfUser[]): { 'ndcg@10': number; 'recall@10': number; perUser: Float64Array } {
  const perUser = new Float64Array(beams.length);
  let hits = 0;
  beams.forEach((b, u) => {
    const { order } = rerankByTransitions(table, params, b.history, b.items, b.items.length, 1, b.logProb);
    const rank = rankOf(Int32Array.from(order, (i) => b.items[i]), b.target);
    if (rank >= 0 && rank < 10) {
      perUser[u] = 1 / Math.log2(rank + 2);
      hits++;
    }
  });
  const n = Math.max(1, beams.length);
  return { 'ndcg@10': perUser.reduce((a, v) => a + v, 0) / n, 'recall@10': hits / n, perUser };
}

/**
 * λ of the grid by the one-standard-error rule: the smallest λ whose NDCG@10 is below the best one's by less than the
 * standard error of the per-user difference (the same users, so the paired error). Past the point where the prior
 * decides most orders, larger λ differ by noise; the smallest of them leaves the generative model the most say.
 */
export function fitTransitionLambda(table: TransitionTable, beams: readonly BeamOfUser[], grid: readonly number[] = LAMBDA_GRID, base: Omit<TransitionParams, 'lambda'> = DEFAULT_TRANSITION_PARAMS): LambdaFit {
  const runs = grid.map((lambda) => ({ lambda, ...rerankedMetrics(table, { ...base, lambda }, beams) }));
  const best = runs.reduce((a, b) => (b['ndcg@10'] > a['ndcg@10'] ? b : a));
  const n = beams.length;
  const within = (r: (typeof runs)[number]): boolean => {
    if (r === best) return true;
    let mean = 0;
    for (let u = 0; u < n; u++) mean += best.perUser[u] - r.perUser[u];
    mean /= Math.max(1, n);
    let sq = 0;
    for (let u = 0; u < n; u++) sq += (best.perUser[u] - r.perUser[u] - mean) ** 2;
    const se = n > 1 ? Math.sqrt(sq / (n - 1) / n) : 0;
    return mean < se;
  };
  const chosen = [...runs].sort((a, b) => a.lambda - b.lambda).find(within)!;
  return { lambda: chosen.lambda, users: n, grid: runs.map((r) => ({ lambda: r.lambda, 'ndcg@10': r['ndcg@10'], 'recall@10': r['recall@10'] })) };
}
