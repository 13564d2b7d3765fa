// A small generator that trains on the CPU: next-token logits from the current token and the user's
// context, so that `onerec align` and its tests run end to end without a GPU.
//
//   logits_p = A[token_p] + C[ctx(u)]          A, C: [vocab, vocab]
//   ctx(u)   = the level-0 code token of the user's most recent history item (BOS for an empty history)
//
// It speaks the same token layout as the seed transformer ([BOS c_1 … c_L] per item) and is searched by the
// same runtime/beam-search.ts under the same trie, so pairs, DPO and relevance are computed exactly as for
// the transformer; only the network differs. Trained with Adam on sums of per-token gradients
// w · (softmax(logits_p) − onehot(target)), which is both next-token CE (w > 0) and DPO (models/align/dpo.ts).
import type { DecoderSession } from '../../runtime/beam-search.ts';
import { BOS, SPECIAL_TOKENS, vocabSize } from '../../runtime/tokens.ts';
import { ShapeError } from '../engine/errors.ts';
import { Rng } from '../random.ts';
import { dpoBatch, dpoSequenceWeights } from './dpo.ts';
import { sessionTokens } from './log-prob.ts';
import type { AlignPolicy, DecoderBatch, DpoStepResult, ScoredPair } from './policy.ts';

export class BigramPolicy implements AlignPolicy {
  readonly vocab: number;
  readonly A: Float64Array; // [vocab, vocab]
  readonly C: Float64Array; // [vocab, vocab]
  private gA: Float64Array;
  private gC: Float64Array;
  private adam: { m: Float64Array; v: Float64Array }[];
  private steps = 0;

  constructor(readonly levels: number, readonly codebookSize: number, readonly codes: Uint16Array, seed: number) {
    this.vocab = vocabSize(levels, codebookSize);
    const V = this.vocab;
    const rng = new Rng(seed);
    this.A = Float64Array.from({ length: V * V }, () => 0.01 * rng.normal());
    this.C = Float64Array.from({ length: V * V }, () => 0.01 * rng.normal());
    this.gA = new Float64Array(V * V);
    this.gC = new Float64Array(V * V);
    this.adam = [0, 1].map(() => ({ m: new Float64Array(V * V), v: new Float64Array(V * V) }));
  }

  /** The context token of a history (level-0 code of its last item, BOS when empty). */
  context(history: ArrayLike<number>): number {
    for (let j = history.length - 1; j >= 0; j--) if (history[j] >= 0) return SPECIAL_TOKENS + this.codes[history[j] * this.levels];
    return BOS;
  }

  private logitsRow(token: number, ctx: number, out: Float64Array | Float32Array, at: number): void {
    const V = this.vocab;
    for (let k = 0; k < V; k++) out[at + k] = this.A[token * V + k] + this.C[ctx * V + k];
  }

  decoders(histories: readonly Int32Array[]): DecoderBatch {
    return { sessions: histories.map((h) => this.decoder(h)), finished: () => {}, release: () => {} };
  }

  decoder(history: Int32Array): DecoderSession {
    const ctx = this.context(history);
    const V = this.vocab;
    return {
      step: async (tokens) => {
        const out = new Float32Array(tokens.length * V); // [rows, vocab]
        tokens.forEach((t, b) => this.logitsRow(t, ctx, out, b * V));
        return out;
      },
    };
  }

  /** log π(session) and, when weight ≠ 0, accumulate weight · ∂(−log π)/∂θ. */
  private sessionLogProb(history: ArrayLike<number>, items: ArrayLike<number>, weight: number): number {
    const V = this.vocab;
    const tokens = sessionTokens(items, this.codes, this.levels, this.codebookSize);
    const ctx = this.context(history);
    const row = new Float64Array(V);
    let total = 0;
    for (let p = 0; p + 1 < tokens.length; p++) {
      const target = tokens[p + 1];
      if (target === BOS) continue;
      this.logitsRow(tokens[p], ctx, row, 0);
      let max = -Infinity;
      for (let k = 0; k < V; k++) max = Math.max(max, row[k]);
      let sum = 0;
      for (let k = 0; k < V; k++) sum += row[k] = Math.exp(row[k] - max);
      total += Math.log(row[target] / sum);
      if (weight !== 0) {
        for (let k = 0; k < V; k++) {
          const g = weight * (row[k] / sum - (k === target ? 1 : 0));
          this.gA[tokens[p] * V + k] += g;
          this.gC[ctx * V + k] += g;
        }
      }
    }
    return total;
  }

  async sequenceLogProbs(histories: readonly Int32Array[], sessions: Int32Array): Promise<Float64Array> {
    const B = histories.length;
    if (B === 0 || sessions.length % B !== 0) throw new ShapeError(`sequenceLogProbs: ${sessions.length} session items for ${B} histories`);
    const m = sessions.length / B;
    return Float64Array.from(histories, (h, b) => this.sessionLogProb(h, sessions.subarray(b * m, (b + 1) * m), 0));
  }

  private step(learningRate: number): void {
    this.steps++;
    const c1 = 1 - 0.9 ** this.steps;
    const c2 = 1 - 0.999 ** this.steps;
    [[this.A, this.gA], [this.C, this.gC]].forEach(([p, g], i) => {
      const { m, v } = this.adam[i];
      for (let k = 0; k < p.length; k++) {
        if (g[k] === 0 && m[k] === 0) continue;
        m[k] = 0.9 * m[k] + 0.1 * g[k];
        v[k] = 0.999 * v[k] + 0.001 * g[k] * g[k];
        p[k] -= (learningRate * (m[k] / c1)) / (Math.sqrt(v[k] / c2) + 1e-8);
      }
      g.fill(0);
    });
  }

  async ntpStep(histories: readonly Int32Array[], sessions: Int32Array, learningRate: number): Promise<number> {
    const B = histories.length;
    const m = sessions.length / B;
    const perSession = m * this.levels; // code tokens scored per session
    let loss = 0;
    histories.forEach((h, b) => { loss -= this.sessionLogProb(h, sessions.subarray(b * m, (b + 1) * m), 1 / (B * perSession)); });
    this.step(learningRate);
    return loss / (B * perSession);
  }

  async dpoStep(pairs: readonly ScoredPair[], beta: number, ntpWeight: number, learningRate: number): Promise<DpoStepResult> {
    const B = pairs.length;
    const logProbs = pairs.map((p) => ({
      policyChosen: this.sessionLogProb(p.history, p.chosen, 0), policyRejected: this.sessionLogProb(p.history, p.rejected, 0),
      refChosen: p.refChosen, refRejected: p.refRejected,
    }));
    const batch = dpoBatch(logProbs, beta);
    let ntp = 0;
    pairs.forEach((p, i) => {
      const w = dpoSequenceWeights(logProbs[i], beta);
      const perSession = p.chosen.length * this.levels;
      // DPO is a weight on −log π(chosen) and on −log π(rejected); the next-token term one on −log π(target).
      this.sessionLogProb(p.history, p.chosen, w.chosen / B);
      this.sessionLogProb(p.history, p.rejected, w.rejected / B);
      const target = p.anchor ?? { history: p.history, items: p.chosen };
      ntp -= this.sessionLogProb(target.history, target.items, ntpWeight / (B * perSession)) / perSession;
    });
    this.step(learningRate);
    ntp /= B;
    return { loss: batch.loss + ntpWeight * ntp, dpo: batch.loss, ntp, accuracy: batch.accuracy };
  }
}
