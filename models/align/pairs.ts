// Preference pairs for DPO (OneRec §3.3, "iterative preference alignment"): beam-search N sessions for a
// user, score each with the reward model, and keep the best as `chosen` and the worst as `rejected`.
import { ShapeError } from '../engine/errors.ts';

export interface PreferencePair {
  chosen: number;        // index of the highest-reward session among the N
  rejected: number;      // index of the lowest-reward session
  chosenReward: number;
  rejectedReward: number;
}

/**
 * Scalar reward per session: Σ_t weights[t] · towers[n, t]. `towers` is `[N, T]` row-major probabilities
 * (the reward model's output), `weights` `[T]`.
 */
export function combineTowers(towers: ArrayLike<number>, weights: ArrayLike<number>): Float64Array {
  const T = weights.length;
  if (T === 0 || towers.length % T !== 0) throw new ShapeError(`combineTowers: ${towers.length} tower values do not split into rows of ${T} weights`);
  const N = towers.length / T;
  const out = new Float64Array(N); // [N]
  for (let n = 0; n < N; n++) {
    let r = 0;
    for (let t = 0; t < T; t++) r += weights[t] * towers[n * T + t];
    out[n] = r;
  }
  return out;
}

/**
 * Best vs worst of `rewards` `[N]`. Ties go to the lower index for both (deterministic). Returns null when no
 * pair carries a preference: fewer than two sessions, or the best reward equals the worst (a DPO step on
 * such a "pair" would push two equally good sessions apart), or the two sessions are the same items
 * (`sessions`, optional `[N, m]` item rows, checks that).
 */
export function preferencePair(rewards: ArrayLike<number>, sessions?: Int32Array, sessionLength?: number): PreferencePair | null {
  const N = rewards.length;
  if (N < 2) return null;
  let best = 0;
  let worst = 0;
  for (let n = 1; n < N; n++) {
    if (rewards[n] > rewards[best]) best = n;
    if (rewards[n] < rewards[worst]) worst = n;
  }
  if (!(rewards[best] > rewards[worst])) return null;
  if (sessions && sessionLength) {
    if (sessions.length !== N * sessionLength) throw new ShapeError(`preferencePair: ${N} rewards but ${sessions.length} session items (expected ${N}×${sessionLength})`);
    let same = true;
    for (let j = 0; j < sessionLength && same; j++) same = sessions[best * sessionLength + j] === sessions[worst * sessionLength + j];
    if (same) return null;
  }
  return { chosen: best, rejected: worst, chosenReward: rewards[best], rejectedReward: rewards[worst] };
}
