// Direct Preference Optimization (Rafailov et al. 2023) as OneRec uses it (§3.3), in float64 on the CPU.
//
// For a pair (chosen y_w, rejected y_l) of sessions generated for user u, with policy π_θ = M_{t+1} being
// trained and the frozen reference π_ref = M_t:
//
//   z    = β · [ (log π_θ(y_w|u) − log π_ref(y_w|u)) − (log π_θ(y_l|u) − log π_ref(y_l|u)) ]
//   L    = −log σ(z) = softplus(−z)
//   ∂L/∂log π_θ(y_w) = −β σ(−z),   ∂L/∂log π_θ(y_l) = +β σ(−z)
//
// Since log π(y) = Σ_p log softmax(logits_p)[y_{p+1}], ∂ log π(y)/∂ logits_p = onehot(y_{p+1}) − softmax(logits_p):
// the DPO gradient at the logits is the next-token cross-entropy gradient of y_w scaled by `weightChosen` =
// β σ(−z) plus that of y_l scaled by `weightRejected` = −β σ(−z). A trainer that takes one weight per
// sequence in its cross-entropy loss therefore trains DPO exactly (dpoSequenceWeights).
//
// β → 0: z → 0, L → log 2 for every pair, and the gradient vanishes like β/2 · (∇ log π(y_w) − ∇ log π(y_l)).
// At θ = ref (the first step of every iteration) z = 0 whatever β is.
import { ShapeError } from '../engine/errors.ts';

export interface PairLogProbs {
  policyChosen: number;    // log π_θ(y_w | u), summed over the session's code tokens
  policyRejected: number;  // log π_θ(y_l | u)
  refChosen: number;       // log π_ref(y_w | u)
  refRejected: number;     // log π_ref(y_l | u)
}

export interface DpoTerms {
  z: number;               // β · (chosen log-ratio − rejected log-ratio)
  loss: number;            // −log σ(z)
  gradChosen: number;      // ∂L/∂ log π_θ(y_w) = −β σ(−z)
  gradRejected: number;    // ∂L/∂ log π_θ(y_l) = +β σ(−z)
}

/** log σ(x), stable for large |x|. */
export function logSigmoid(x: number): number {
  return x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x));
}

export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

export function dpoTerms(pair: PairLogProbs, beta: number): DpoTerms {
  if (!(beta >= 0) || !Number.isFinite(beta)) throw new ShapeError(`dpo: beta must be a finite number ≥ 0, got ${beta}`);
  const z = beta * ((pair.policyChosen - pair.refChosen) - (pair.policyRejected - pair.refRejected));
  const s = sigmoid(-z);
  return { z, loss: -logSigmoid(z), gradChosen: -beta * s, gradRejected: beta * s };
}

/** Mean DPO loss over pairs, the mean implicit-reward margin z/β, and the fraction of pairs with z > 0. */
export function dpoBatch(pairs: readonly PairLogProbs[], beta: number): { loss: number; accuracy: number; terms: DpoTerms[] } {
  if (pairs.length === 0) throw new ShapeError('dpo: no pairs in the batch');
  const terms = pairs.map((p) => dpoTerms(p, beta));
  return {
    loss: terms.reduce((a, t) => a + t.loss, 0) / pairs.length,
    accuracy: terms.filter((t) => t.z > 0).length / pairs.length,
    terms,
  };
}

/**
 * Per-sequence weights that turn a weighted next-token cross-entropy into the DPO gradient (see the header):
 * minimising Σ_i w_i · CE(y_i) with w_chosen = −gradChosen = β σ(−z) and w_rejected = −gradRejected = −β σ(−z)
 * has, at the current θ, the same gradient as L_DPO (CE(y) = −log π_θ(y), so ∂(w·CE)/∂ log π = −w).
 * The weights are treated as constants for the step, as autograd would (σ(−z) only rescales).
 */
export function dpoSequenceWeights(pair: PairLogProbs, beta: number): { chosen: number; rejected: number } {
  const t = dpoTerms(pair, beta);
  return { chosen: -t.gradChosen, rejected: -t.gradRejected };
}
