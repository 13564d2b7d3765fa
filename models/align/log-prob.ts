// Log-probability of a whole generated session under the generator, gathered from teacher-forced logits.
//
// The decoder sequence (docs/architecture.md, "Seed model") is [BOS c_1 … c_L] × sessionLength; position p
// predicts token p+1; targets that are BOS are not scored (BOS is always fed, never sampled). So
//
//   log π(S | u) = Σ_{p : tokens[p+1] ≠ BOS} log softmax(logits[p])[tokens[p+1]]
//
// the same sum of full-vocab log-softmax that runtime/beam-search.ts reports as a beam's `logProb`.
import { BOS, SPECIAL_TOKENS } from '../../runtime/tokens.ts';
import { ShapeError } from '../engine/errors.ts';

/** Decoder input tokens for a session: `[sessionLength * (levels + 1)]` = [BOS, code tokens of item 1, BOS, …]. */
export function sessionTokens(items: ArrayLike<number>, codes: Uint16Array, levels: number, codebookSize: number): Int32Array {
  const out = new Int32Array(items.length * (levels + 1));
  for (let j = 0; j < items.length; j++) {
    const v = items[j];
    if (v < 0 || (v + 1) * levels > codes.length) throw new ShapeError(`sessionTokens: item ${v} at slot ${j} has no semantic ID (codes hold ${codes.length / levels} items)`);
    out[j * (levels + 1)] = BOS;
    for (let l = 0; l < levels; l++) out[j * (levels + 1) + 1 + l] = SPECIAL_TOKENS + l * codebookSize + codes[v * levels + l];
  }
  return out;
}

/**
 * Σ log softmax(logits[p])[tokens[p+1]] over positions whose target is not BOS, in float64.
 * `logits` `[P, vocab]` (P = tokens.length; the last row predicts past the end and is unused).
 */
export function gatherSequenceLogProb(logits: Float32Array | Float64Array, tokens: Int32Array, vocab: number): number {
  const P = tokens.length;
  if (logits.length !== P * vocab) throw new ShapeError(`gatherSequenceLogProb: logits hold ${logits.length} values, expected [${P}, ${vocab}] = ${P * vocab}`);
  let total = 0;
  for (let p = 0; p + 1 < P; p++) {
    const target = tokens[p + 1];
    if (target === BOS) continue;
    if (target < 0 || target >= vocab) throw new ShapeError(`gatherSequenceLogProb: token ${target} at position ${p + 1} is outside the vocabulary 0..${vocab - 1}`);
    let max = -Infinity;
    for (let k = 0; k < vocab; k++) max = Math.max(max, logits[p * vocab + k]);
    let sum = 0;
    for (let k = 0; k < vocab; k++) sum += Math.exp(logits[p * vocab + k] - max);
    total += logits[p * vocab + target] - max - Math.log(sum);
  }
  return total;
}
