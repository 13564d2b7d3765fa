// The repeat-awareness layer: one logit bias per semantic-ID level for the codes that continue the prefix
// along one of the user's own history items (runtime/beam-search.ts, BeamSearchOptions.historyBias).
//
// Why: the seed model sees the history's codes and copies them. On Amazon 5-core data no target is ever one
// of its user's history items, yet the shipped Beauty model puts 0.8 of them in every top 10. The bias lets
// the data say how much a history path should count at each level (RepeatNet's repeat-vs-explore, reduced
// to L numbers); where repeats are real, as in short-video watch logs, it learns that too.
//
// Fitting, with the network frozen: for each user's last *training* transition (history → target, the step
// before the validation item), teacher-force the target's codes and record, per level l, the model's
// probability mass S on the codes that continue a history path (among the trie children of the target's
// prefix) and whether the target's own code is one of them (y). With bias β the target's log-probability
// changes by β·y − log((1 − S) + S·e^β), so the log-likelihood is concave in β and each level's maximum is
// found by bisection on its derivative; β stays in [−bound, bound] (a level whose targets never continue a
// history path has its maximum at −∞).
import { biasLogNormaliser, childOf, historyMass, historyPaths, logSumExpRow, onHistoryPath, scoreReader, type DecoderSession, type TrieView } from '../../runtime/beam-search.ts';
import { BOS, SPECIAL_TOKENS } from '../../runtime/tokens.ts';

export interface LevelStatistics {
  S: Float64Array; // [examples] model probability on the codes that continue a history path
  y: Uint8Array; // [examples] 1 = the target's code is one of them
}

export interface HistoryBiasFit {
  bias: number[]; // [levels] the fitted β
  bound: number;
  examples: number;
  levels: {
    on_path_targets: number; // fraction of targets whose code at this level continues a history path
    mean_history_mass: number; // mean S: the model's own probability on those codes
    log_likelihood_gain: number; // mean per-example gain of the target's log-probability at this level
  }[];
}

/**
 * Teacher-forces `target` (an item index) after `history` through `session` (fresh, BOS not yet fed) and
 * returns, per level, S and y, from the full-vocabulary log-softmax as the beam search scores it.
 */
export async function levelStatistics(session: DecoderSession, trie: TrieView, history: ArrayLike<number>, target: number, codes: Uint16Array): Promise<{ S: number[]; y: number[] }> {
  const { levels, codebookSize: K } = trie;
  const reader = scoreReader(session);
  const vocab = SPECIAL_TOKENS + levels * K;
  const paths = historyPaths(trie, history);
  const S: number[] = [];
  const y: number[] = [];
  let node = 0;
  let token = BOS;
  for (let level = 0; level < levels; level++) {
    const out = await reader.feed(Int32Array.of(token), Int32Array.of(0), false); // [1, K] or [1, vocab]
    const offset = reader.normalised ? 0 : SPECIAL_TOKENS + level * K;
    const logZ = reader.normalised ? 0 : logSumExpRow(out, 0, vocab);
    const code = codes[target * levels + level];
    const { S: mass, onPath } = historyMass(trie, paths, node, level === levels - 1, code, (c) => out[offset + c] - logZ);
    const next = childOf(trie, node, code);
    if (next < 0) throw new Error(`item ${target}'s code ${code} at level ${level + 1} is not in the trie`);
    S.push(Math.min(1, mass));
    y.push(onPath ? 1 : 0);
    node = next;
    token = SPECIAL_TOKENS + level * K + code;
  }
  return { S, y };
}

/** A command line's 'b1,b2,…' as one finite β per level, or null when the text is not that. */
export function parseHistoryBias(text: string, levels: number): number[] | null {
  const bias = text.split(',').map(Number);
  return bias.length === levels && bias.every(Number.isFinite) ? bias : null;
}

/** The maximum-likelihood β of one level in [−bound, bound]. */
export function fitLevel(stats: LevelStatistics, bound: number): number {
  let positives = 0;
  for (const v of stats.y) positives += v;
  // d/dβ Σ [β·y − log((1 − S) + S·e^β)] = Σ y − Σ S·e^β / ((1 − S) + S·e^β), decreasing in β.
  const slope = (beta: number): number => {
    const eb = Math.exp(beta);
    let g = positives;
    for (let i = 0; i < stats.S.length; i++) {
      const s = stats.S[i];
      g -= (s * eb) / (Math.max(0, 1 - s) + s * eb);
    }
    return g;
  };
  if (slope(-bound) <= 0) return -bound;
  if (slope(bound) >= 0) return bound;
  let lo = -bound;
  let hi = bound;
  for (let it = 0; it < 60; it++) {
    const mid = (lo + hi) / 2;
    if (slope(mid) > 0) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

export function fitHistoryBias(levels: LevelStatistics[], bound = 8): HistoryBiasFit {
  const bias = levels.map((l) => fitLevel(l, bound));
  const n = levels[0]?.S.length ?? 0;
  return {
    bias,
    bound,
    examples: n,
    levels: levels.map((l, i) => {
      let y = 0;
      let s = 0;
      let gain = 0;
      for (let k = 0; k < l.S.length; k++) {
        y += l.y[k];
        s += l.S[k];
        gain += bias[i] * l.y[k] - biasLogNormaliser(l.S[k], bias[i]);
      }
      return { on_path_targets: y / Math.max(1, n), mean_history_mass: s / Math.max(1, n), log_likelihood_gain: gain / Math.max(1, n) };
    }),
  };
}

/**
 * The layer as an additive logit bias for teacher-forced training (`onerec train --historyBias`): for a batch made by
 * makeBatch (window items per example, T = window · (levels + 1) positions), row b·T + p of the result [B·T, vocab]
 * holds bias[l] at every code that continues a history path where position p predicts the level-l code of a
 * target item, 0 elsewhere (and on rows predicting BOS or nothing). The history is everything before the
 * example's first target item, as at inference.
 */
export function historyLogitBias(trie: TrieView, sequences: Int32Array[], examples: readonly { user: number; targetStart: number }[], codes: Uint16Array, window: number, bias: ArrayLike<number>): Float32Array {
  const { levels, codebookSize: K } = trie;
  const vocab = SPECIAL_TOKENS + levels * K;
  const T = window * (levels + 1);
  const out = new Float32Array(examples.length * T * vocab); // [B·T, vocab]
  examples.forEach((ex, b) => {
    const seq = sequences[ex.user];
    const history = seq.subarray(0, ex.targetStart);
    if (history.length === 0) return;
    const paths = historyPaths(trie, history);
    for (let i = 0; i < window; i++) {
      const item = seq[ex.targetStart + i];
      let node = 0;
      for (let l = 0; l < levels; l++) {
        const row = (b * T + i * (levels + 1) + l) * vocab; // position of BOS (l = 0) or of code l − 1: predicts code l
        const last = l === levels - 1;
        let next = -1;
        for (let e = trie.childStart[node]; e < trie.childStart[node + 1]; e++) {
          const child = trie.childNode[e];
          if (bias[l] !== 0 && onHistoryPath(paths, child, last)) out[row + SPECIAL_TOKENS + l * K + trie.childCode[e]] = bias[l];
          if (trie.childCode[e] === codes[item * levels + l]) next = child;
        }
        node = next;
      }
    }
  });
  return out;
}
