// The transition prior of a bundle (runtime/transitions.ts): its table, counted on the training split of the prepared
// data, and its weights λ (the prior) and η (repeats of the user's history), chosen on the validation split from the
// bundle's own candidates.
//
// Each validation user's candidates (recommend()'s beam with the prior off, plus the table's own top items that the
// beam missed, scored by the model) are reranked at every (λ, η) of a fixed grid; the one-standard-error rule picks
// the weights (fitTransitionWeights). The candidates are computed once; the reranks are arithmetic. The fit's table holds
// training transitions only, so no validation target is counted where the weights are chosen. The table the bundle
// ships is counted through the validation split by default (transitionTable): at test time the validation item is
// part of the user's history and its transition is data the logs hold, and each user's most recent pair is worth the
// most (bench/transitions-recency.ts: on Beauty's validation split the table alone ranks 13 % better with each user's
// last training pair than without it). No test target is counted either way.
import type { SeedData } from '../seed/batches.ts';
import { ndcgGain, rankOf } from '../seed/metrics.ts';
import { DEFAULT_TRANSITION_PARAMS, rerankByTransitions, TransitionTable, type TransitionParams } from '../../runtime/transitions.ts';

export const LAMBDA_GRID = [0, 0.25, 0.5, 1, 2, 4, 8];
export const HISTORY_GRID = [0, -1, -2, -4, -8];

/** Which transitions a bundle's table counts: the training split's, or those through the validation split (never test's). */
export const TRANSITIONS_THROUGH = ['train', 'validation'] as const;
export type TransitionsThrough = (typeof TRANSITIONS_THROUGH)[number];

/**
 * Each user's sequence up to the end of `through` in leave-one-out data: 'train' leaves out the last two items
 * (validation and test), 'validation' only the last (test).
 */
export function sequencesThrough(data: SeedData, through: TransitionsThrough): Int32Array[] {
  const held = through === 'train' ? 2 : 1;
  return data.sequences.map((seq) => seq.subarray(0, Math.max(0, seq.length - held)));
}

/** The training part of each user's sequence: all but the last two items (validation and test) of leave-one-out data. */
export function trainingSequences(data: SeedData): Int32Array[] {
  return sequencesThrough(data, 'train');
}

/** The table of the training transitions (per item its `maxPerItem` most frequent successors). */
export function trainTransitionTable(data: SeedData, maxPerItem = 100): TransitionTable {
  return transitionTable(data, 'train', maxPerItem);
}

/** The table of each user's transitions up to the end of `through` ('validation': the pair into each validation item counted). */
export function transitionTable(data: SeedData, through: TransitionsThrough, maxPerItem = 100): TransitionTable {
  return TransitionTable.build(sequencesThrough(data, through), data.itemCount, maxPerItem);
}

/**
 * One validation user's candidates: history (item indices, oldest first), the target, the beam's items and
 * log-probabilities, and the table's extra candidates (runtime/transitions.ts transitionCandidates, in its order) with theirs.
 */
export interface BeamOfUser {
  history: ArrayLike<number>;
  target: number;
  items: Int32Array; // [beams] next-item candidates, beam order
  logProb: ArrayLike<number>; // [beams]
  extra?: { items: Int32Array; logProb: ArrayLike<number> };
}

export interface TransitionFit {
  lambda: number;
  history: number; // η
  candidates: number;
  users: number;
  grid: { lambda: number; history: number; 'ndcg@10': number; 'recall@10': number }[];
}

/**
 * NDCG@10 and recall@10 of the candidates reranked with `params` (λ, η, and the first `params.candidates` extras, as
 * recommend() pools them), and each user's NDCG@10 term.
 */
export function rerankedMetrics(table: TransitionTable, params: TransitionParams, beams: readonly BeamOfUser[]): { 'ndcg@10': number; 'recall@10': number; perUser: Float64Array } {
  const perUser = new Float64Array(beams.length);
  let hits = 0;
  beams.forEach((b, u) => {
    const take = Math.min(params.candidates ?? 0, b.extra?.items.length ?? 0);
    const items = take > 0 ? Int32Array.from([...b.items, ...b.extra!.items.subarray(0, take)]) : b.items;
    const logProb = take > 0 ? [...Array.from(b.logProb), ...Array.from(b.extra!.logProb).slice(0, take)] : b.logProb;
    const { order } = rerankByTransitions(table, params, b.history, items, items.length, 1, logProb);
    const rank = rankOf(Int32Array.from(order, (i) => items[i]), b.target);
    if (rank >= 0 && rank < 10) {
      perUser[u] = ndcgGain(rank);
      hits++;
    }
  });
  const n = Math.max(1, beams.length);
  return { 'ndcg@10': perUser.reduce((a, v) => a + v, 0) / n, 'recall@10': hits / n, perUser };
}

/**
 * λ and η of the grid by the one-standard-error rule: from the best pair by NDCG@10, the smallest λ (at the best η),
 * then the η nearest 0 (at that λ), whose NDCG@10 is below the best one's by less than the standard error of the
 * per-user difference (the same users, so the paired error). Past the point where the prior decides most orders,
 * larger weights differ by noise; the smallest of them leave the generative model the most say.
 */
export function fitTransitionWeights(table: TransitionTable, beams: readonly BeamOfUser[], lambdas: readonly number[] = LAMBDA_GRID, histories: readonly number[] = HISTORY_GRID, base: Omit<TransitionParams, 'lambda'> = DEFAULT_TRANSITION_PARAMS): TransitionFit {
  const runs = lambdas.flatMap((lambda) => histories.map((history) => ({ lambda, history, ...rerankedMetrics(table, { ...base, lambda, history }, beams) })));
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
  const lambda = runs.filter((r) => r.history === best.history && within(r)).sort((a, b) => a.lambda - b.lambda)[0].lambda;
  const history = runs.filter((r) => r.lambda === lambda && within(r)).sort((a, b) => Math.abs(a.history) - Math.abs(b.history) || b.history - a.history)[0]?.history ?? best.history;
  return {
    lambda, history, candidates: base.candidates ?? 0, users: n,
    grid: runs.map((r) => ({ lambda: r.lambda, history: r.history, 'ndcg@10': r['ndcg@10'], 'recall@10': r['recall@10'] })),
  };
}
