// Iterative preference alignment (OneRec §3.3) over any AlignPolicy:
//
//   for t = 0 … iterations−1:
//     U_t   = a seeded sample of `userFraction` of the training users
//     for u in U_t: beam-search N sessions with M_t, score them with the reward model, keep (best, worst)
//     log π_ref = log M_t of both sessions (computed once, before any update: M_t is the reference)
//     M_{t+1} = M_t trained for `dpoEpochs` over the pairs on DPO(β) + ntpWeight · NTP(chosen)
//
// and the evaluation of each model on held-out users: reward-model towers over the generated sessions
// (per user the mean and the max over its `evalBeams` sessions, then averaged over users) and the
// next-session relevance (models/align/relevance.ts).
import { beamSearch, type BeamSearchResult, type TrieView } from '../../runtime/beam-search.ts';
import type { Progress } from '../progress.ts';
import { Rng } from '../random.ts';
import { combineTowers, preferencePair } from './pairs.ts';
import type { AlignPolicy, ScoredPair } from './policy.ts';
import { ndcgAt, rankedItems, recallAt } from './relevance.ts';

/** Reward-model scores of N sessions of one user.  sessions [N, m] → [N, T] probabilities */
export interface SessionScorer {
  readonly towers: readonly string[];
  readonly weights: readonly number[]; // [T] weights of the scalar reward Σ_t w_t p_t
  score(history: Int32Array, sessions: Int32Array): Float64Array;
}

export interface AlignUser {
  user: number;
  history: Int32Array;   // items before the point of generation, oldest first
  target?: Int32Array;   // held-out next session (evaluation users only)
  anchor?: { history: Int32Array; items: Int32Array }; // a real session of a training user, the next-token target during DPO
}

export interface IterateOptions {
  sessionLength: number;   // items per generated session (m)
  sessions: number;        // N: beams per user when building pairs (paper: 128)
  userFraction: number;    // fraction of training users sampled per iteration (paper: 1 %)
  beta: number;            // DPO temperature
  ntpWeight: number;       // weight of the next-token loss on the chosen sessions
  learningRate: number;    // optimiser step size during DPO
  dpoEpochs: number;       // passes over an iteration's pairs
  batchSize: number;       // pairs per optimiser step
  evalBeams: number;       // beams per held-out user at evaluation (≥ 10 for @10 figures of 1-item sessions)
  usersPerBatch: number;   // users searched together (a batched backend serves their steps with one forward)
  excludeHistory: boolean; // never generate an item of the user's history
  seed: number;
}

export interface ModelReport {
  name: string;                                          // 'seed', 'iteration 1', …
  towers: Record<string, { mean: number; max: number }>; // RM tower probabilities over generated sessions
  reward: { mean: number; max: number };                 // Σ_t w_t p_t, same averaging
  'recall@5': number; 'recall@10': number; 'ndcg@5': number; 'ndcg@10': number;
  'recall@10_se': number;                                // standard error of the recall@10 mean over users
  'recall@10_change_se'?: number;                        // paired standard error of the recall@10 change vs the seed (same users)
  users: number;
}

/** Per-user recall@10 of an evaluated model, in user order: kept beside its report, never serialized. */
const perUserRecallOf = new WeakMap<ModelReport, Float64Array>();

/**
 * Relevance change of `model` over `seed` evaluated on the same users: relative change of the recall@10 means
 * and the paired standard error of that relative change (per-user differences, so the users' shared
 * difficulty cancels). Null when either report has no per-user recalls (e.g. read back from JSON).
 */
export function pairedRecallChange(model: ModelReport, seed: ModelReport): { change: number; se: number } | null {
  const a = perUserRecallOf.get(model);
  const b = perUserRecallOf.get(seed);
  if (!a || !b || a.length !== b.length || a.length < 2) return null;
  const n = a.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += a[i] - b[i];
  mean /= n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (a[i] - b[i] - mean) ** 2;
  const base = seed['recall@10'];
  if (base === 0) return null;
  return { change: mean / base, se: Math.sqrt(v / (n - 1) / n) / base };
}

export interface IterationReport {
  iteration: number;
  users: number;            // users sampled
  pairs: number;            // pairs with best ≠ worst
  mean_reward_gap: number;  // mean (best − worst) scalar reward of the pairs
  dpo_loss: number[];       // per epoch, mean over steps
  ntp_loss: number[];
  pair_accuracy: number[];  // fraction of pairs with z > 0, per epoch (before each step)
  seconds: number;
}

/** Beam-search every user (in batches of usersPerBatch), results in user order. */
export async function searchUsers(policy: AlignPolicy, trie: TrieView, users: readonly AlignUser[], beamWidth: number, options: IterateOptions, progress?: Progress): Promise<BeamSearchResult[]> {
  const out: BeamSearchResult[] = [];
  for (let start = 0; start < users.length; start += options.usersPerBatch) {
    const chunk = users.slice(start, start + options.usersPerBatch);
    const batch = policy.decoders(chunk.map((u) => u.history));
    try {
      out.push(...await Promise.all(chunk.map(async (u, i) => {
        try {
          return await beamSearch(batch.sessions[i], trie, { beamWidth, sessionLength: options.sessionLength, exclude: excludeOf(u.history, trie.itemCount, options.excludeHistory) });
        } finally {
          batch.finished(i);
        }
      })));
    } finally {
      batch.release();
    }
    progress?.update(out.length);
  }
  progress?.stop();
  return out;
}

function excludeOf(history: Int32Array, itemCount: number, on: boolean): Uint8Array | undefined {
  if (!on) return undefined;
  const ex = new Uint8Array(itemCount);
  for (const v of history) if (v >= 0) ex[v] = 1;
  return ex;
}

/** `baseline`: a report of another model on the same users; the result then carries `recall@10_change_se` against it. */
export async function evaluatePolicy(
  name: string, policy: AlignPolicy, trie: TrieView, users: readonly AlignUser[], scorer: SessionScorer, options: IterateOptions, progress?: Progress,
  baseline?: ModelReport,
): Promise<ModelReport> {
  return evaluateSessions(name, await searchUsers(policy, trie, users, options.evalBeams, options, progress), users, scorer, options, baseline);
}

/**
 * The report of one model from its generated sessions (results[i]: user i's, best first): reward towers over them and
 * the relevance of their items to each user's held-out session. Policies and exported bundles (models/align/bundle-eval.ts) share it.
 */
export function evaluateSessions(name: string, results: readonly BeamSearchResult[], users: readonly AlignUser[], scorer: SessionScorer, options: IterateOptions, baseline?: ModelReport): ModelReport {
  const T = scorer.towers.length;
  const sums = { mean: new Float64Array(T), max: new Float64Array(T), rMean: 0, rMax: 0, r5: 0, r10: 0, n5: 0, n10: 0 };
  const perUserRecall: number[] = [];
  for (const [ui, u] of users.entries()) {
    const result = results[ui];
    const N = result.items.length / options.sessionLength;
    const towers = scorer.score(u.history, result.items); // [N, T]
    const reward = combineTowers(towers, scorer.weights);
    for (let t = 0; t < T; t++) {
      let s = 0;
      let mx = -Infinity;
      for (let n = 0; n < N; n++) { s += towers[n * T + t]; mx = Math.max(mx, towers[n * T + t]); }
      sums.mean[t] += s / N;
      sums.max[t] += mx;
    }
    sums.rMean += reward.reduce((a, b) => a + b, 0) / N;
    sums.rMax += Math.max(...reward);
    if (u.target) {
      const ranked = rankedItems(result.items);
      sums.r5 += recallAt(ranked, u.target, 5);
      const r10 = recallAt(ranked, u.target, 10);
      perUserRecall.push(r10);
      sums.r10 += r10;
      sums.n5 += ndcgAt(ranked, u.target, 5);
      sums.n10 += ndcgAt(ranked, u.target, 10);
    }
  }
  const n = Math.max(1, users.length);
  const mean10 = perUserRecall.reduce((a, b) => a + b, 0) / Math.max(1, perUserRecall.length);
  const variance = perUserRecall.reduce((a, b) => a + (b - mean10) ** 2, 0) / Math.max(1, perUserRecall.length - 1);
  const report: ModelReport = {
    name,
    towers: Object.fromEntries(scorer.towers.map((t, k) => [t, { mean: sums.mean[k] / n, max: sums.max[k] / n }])),
    reward: { mean: sums.rMean / n, max: sums.rMax / n },
    'recall@5': sums.r5 / n, 'recall@10': sums.r10 / n, 'ndcg@5': sums.n5 / n, 'ndcg@10': sums.n10 / n,
    'recall@10_se': Math.sqrt(variance / Math.max(1, perUserRecall.length)),
    users: users.length,
  };
  perUserRecallOf.set(report, Float64Array.from(perUserRecall));
  const paired = baseline ? pairedRecallChange(report, baseline) : null;
  if (paired) report['recall@10_change_se'] = paired.se;
  return report;
}

/** Sample ⌈fraction · |users|⌉ users without replacement (seeded). */
export function sampleUsers<T>(users: readonly T[], fraction: number, rng: Rng): T[] {
  const count = Math.min(users.length, Math.max(1, Math.ceil(fraction * users.length)));
  return rng.shuffle([...users]).slice(0, count);
}

/** Build one iteration's preference pairs with the current model M_t (also the DPO reference). */
export async function buildPairs(policy: AlignPolicy, trie: TrieView, users: readonly AlignUser[], scorer: SessionScorer, options: IterateOptions, progress?: Progress): Promise<{ pairs: ScoredPair[]; gap: number }> {
  const m = options.sessionLength;
  const pending: Omit<ScoredPair, 'refChosen' | 'refRejected'>[] = [];
  const withAnchor = (u: AlignUser) => (u.anchor && u.anchor.items.length === m ? { anchor: u.anchor } : {});
  let gap = 0;
  const results = await searchUsers(policy, trie, users, options.sessions, options, progress);
  for (const [ui, u] of users.entries()) {
    const result = results[ui];
    const reward = combineTowers(scorer.score(u.history, result.items), scorer.weights);
    const pair = preferencePair(reward, result.items, m);
    if (!pair) continue;
    gap += pair.chosenReward - pair.rejectedReward;
    pending.push({ ...withAnchor(u), history: u.history, chosen: result.items.slice(pair.chosen * m, (pair.chosen + 1) * m), rejected: result.items.slice(pair.rejected * m, (pair.rejected + 1) * m) });
  }
  if (pending.length === 0) return { pairs: [], gap: 0 };
  const histories = pending.map((p) => p.history);
  const join = (key: 'chosen' | 'rejected') => { const out = new Int32Array(pending.length * m); pending.forEach((p, i) => out.set(p[key], i * m)); return out; };
  const refChosen = await policy.sequenceLogProbs(histories, join('chosen'));
  const refRejected = await policy.sequenceLogProbs(histories, join('rejected'));
  return { pairs: pending.map((p, i) => ({ ...p, refChosen: refChosen[i], refRejected: refRejected[i] })), gap: gap / pending.length };
}

/** Train M_{t+1} from M_t on the pairs (in place on `policy`). */
export async function trainOnPairs(policy: AlignPolicy, pairs: readonly ScoredPair[], options: IterateOptions, rng: Rng, progress?: Progress): Promise<Pick<IterationReport, 'dpo_loss' | 'ntp_loss' | 'pair_accuracy'>> {
  const out = { dpo_loss: [] as number[], ntp_loss: [] as number[], pair_accuracy: [] as number[] };
  const order = pairs.map((_, i) => i);
  if (order.length === 0) return out;
  let done = 0;
  for (let epoch = 0; epoch < options.dpoEpochs; epoch++) {
    rng.shuffle(order);
    let dpo = 0;
    let ntp = 0;
    let accuracy = 0;
    let steps = 0;
    for (let s = 0; s < order.length; s += options.batchSize) {
      const batch = order.slice(s, s + options.batchSize).map((i) => pairs[i]);
      const r = await policy.dpoStep(batch, options.beta, options.ntpWeight, options.learningRate);
      dpo += r.dpo;
      ntp += r.ntp;
      accuracy += r.accuracy;
      steps++;
      progress?.update(++done, { dpo: r.dpo.toFixed(4) });
    }
    out.dpo_loss.push(dpo / steps);
    out.ntp_loss.push(ntp / steps);
    out.pair_accuracy.push(accuracy / steps);
  }
  progress?.stop();
  return out;
}
