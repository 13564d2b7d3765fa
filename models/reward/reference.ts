// The session reward model R(u, S)'s executable specification: a plain float32 CPU forward, written for
// clarity. The trainer (models/reward/trainer.ts) and the exporter (reward.onnx, #6) are tested against it.
//
//   const towers = rewardForward(weights, config, history, sessions);   // [N, T] probabilities
//
// Math (OneRec §3.3), for one user with history items h_1..h_H and N sessions of m items (−1 = padding):
//   v_i     = item_emb[i], or Σ_l code_emb[l·K + c_il] with itemRepresentation 'codes'
//   hbar    = mean over valid j of v[h_j]                     [d]   (0 when the history is empty)
//   u       = hbar @ user.w + user.b                                 [d]
//   e_i     = v[s_i] ⊙ u                                             [m, d]  target-aware item representation
//   x       = e + (MHA(e) @ attn.wo + attn.bo)                       [m, d]  self-attention across the session;
//             heads of d/heads, scale 1/√(d/heads), padded items masked as keys (−1e9 before softmax)
//   z       = mean over valid i of x_i                               [d]    (0 when the session is all padding)
//   p_t     = σ(relu(z @ w1_t + b1_t) @ w2_t + b2_t)                 one tower per target t
// Training loss: Σ_t BCE(p_t, y_t) (models/reward/trainer.ts). Padded query rows are computed by an ONNX
// graph but never pooled, so they do not matter.
import { attend, linear, MASKED } from '../seed/reference.ts';
import { rewardParameterShapes, usesCodes, validateRewardConfig, type RewardConfig } from './config.ts';
import { RewardCheckpointError } from './errors.ts';
import { ShapeError } from '../engine/errors.ts';

export type RewardWeights = Record<string, Float32Array>;

export function checkRewardWeights(w: RewardWeights, c: RewardConfig): void {
  validateRewardConfig(c);
  for (const [name, shape] of Object.entries(rewardParameterShapes(c))) {
    const size = shape.reduce((a, b) => a * b, 1);
    if (!w[name]) throw new RewardCheckpointError(`reward weights lack '${name}' [${shape.join(', ')}]; was the checkpoint trained with towers ${c.towers.join(',')}?`);
    if (w[name].length !== size) throw new RewardCheckpointError(`reward weight '${name}' holds ${w[name].length} values, expected [${shape.join(', ')}] = ${size}`);
  }
}

/**
 * v_i for every item `[items, d]`: item_emb itself ('table'), or Σ_l code_emb[l·K + c_il] ('codes', `itemCodes`
 * [items, L] the items' semantic-ID codes, e.g. the prepared codes.u16). Summed in float32 in level order.
 */
export function itemTable(w: RewardWeights, c: RewardConfig, itemCodes?: ArrayLike<number>): Float32Array {
  if (!usesCodes(c)) return w.item_emb;
  const d = c.dModel;
  const L = c.codeLevels!;
  const K = c.codebookSize!;
  if (!itemCodes || itemCodes.length !== c.itemCount * L) throw new ShapeError(`a reward model with itemRepresentation 'codes' needs the items' codes [${c.itemCount}, ${L}], got ${itemCodes ? itemCodes.length : 'none'} values`);
  for (let j = 0; j < itemCodes.length; j++) {
    if (itemCodes[j] >= K) throw new ShapeError(`item ${Math.floor(j / L)} has code ${itemCodes[j]} at level ${j % L}, outside 0..${K - 1}`);
  }
  return sumCodeRows(w.code_emb, itemCodes, L, K, d, new Float32Array(c.itemCount * d)); // [items, d]
}

/**
 * `out[i] = Σ_l codeEmb[l·K + codes[i·L + l]]` ([items, d], rows added in level order in `out`'s precision), the
 * 'codes' item vectors for the reference (float32) and the CPU trainer (float64).
 */
export function sumCodeRows<T extends Float32Array | Float64Array>(codeEmb: ArrayLike<number>, codes: ArrayLike<number>, L: number, K: number, d: number, out: T): T {
  out.fill(0);
  const items = out.length / d;
  for (let i = 0; i < items; i++) {
    for (let l = 0; l < L; l++) {
      const row = (l * K + codes[i * L + l]) * d;
      for (let a = 0; a < d; a++) out[i * d + a] += codeEmb[row + a];
    }
  }
  return out;
}

/** The user representation u `[d]` from a history of item indices (−1 entries skipped; the most recent maxHistory kept). */
export function userVector(w: RewardWeights, c: RewardConfig, history: ArrayLike<number>, table = itemTable(w, c)): Float32Array {
  const d = c.dModel;
  const hbar = new Float32Array(d); // [d]
  let count = 0;
  for (let j = Math.max(0, history.length - c.maxHistory); j < history.length; j++) {
    const v = history[j];
    if (v < 0) continue;
    if (v >= c.itemCount) throw new ShapeError(`history item ${v} at position ${j} is outside 0..${c.itemCount - 1}`);
    for (let a = 0; a < d; a++) hbar[a] += table[v * d + a];
    count++;
  }
  if (count > 0) for (let a = 0; a < d; a++) hbar[a] /= count;
  return linear(hbar, 1, d, w['user.w'], w['user.b'], d);
}

/**
 * Tower probabilities `[N, T]` for `sessions` `[N, m]` (row-major, −1 = padding) of one user; `itemCodes` [items, L]
 * with itemRepresentation 'codes' (see itemTable).
 */
export function rewardForward(w: RewardWeights, c: RewardConfig, history: ArrayLike<number>, sessions: Int32Array, itemCodes?: ArrayLike<number>): Float32Array {
  const d = c.dModel;
  const m = c.sessionLength;
  const T = c.towers.length;
  if (sessions.length % m !== 0) throw new ShapeError(`sessions hold ${sessions.length} items, not a multiple of sessionLength ${m}`);
  const N = sessions.length / m;
  const table = itemTable(w, c, itemCodes); // [items, d]
  const u = userVector(w, c, history, table); // [d]
  const out = new Float32Array(N * T); // [N, T]
  for (let n = 0; n < N; n++) {
    const items = sessions.subarray(n * m, (n + 1) * m);
    const e = new Float32Array(m * d); // [m, d]
    for (let i = 0; i < m; i++) {
      const v = items[i];
      if (v < 0) continue;
      if (v >= c.itemCount) throw new ShapeError(`session ${n} item ${v} at slot ${i} is outside 0..${c.itemCount - 1}`);
      for (let a = 0; a < d; a++) e[i * d + a] = table[v * d + a] * u[a];
    }
    const q = linear(e, m, d, w['attn.wq'], w['attn.bq'], d); // [m, d]
    const k = linear(e, m, d, w['attn.wk'], w['attn.bk'], d); // [m, d]
    const vv = linear(e, m, d, w['attn.wv'], w['attn.bv'], d); // [m, d]
    const a = attend(q, m, k, vv, m, d, c.heads, (_i, j) => (items[j] < 0 ? MASKED : 0)); // [m, d]
    const o = linear(a, m, d, w['attn.wo'], w['attn.bo'], d); // [m, d]
    const z = new Float32Array(d); // [d]
    let valid = 0;
    for (let i = 0; i < m; i++) {
      if (items[i] < 0) continue;
      valid++;
      for (let b = 0; b < d; b++) z[b] += e[i * d + b] + o[i * d + b];
    }
    if (valid > 0) for (let b = 0; b < d; b++) z[b] /= valid;
    c.towers.forEach((t, ti) => {
      const h = linear(z, 1, d, w[`tower.${t}.w1`], w[`tower.${t}.b1`], c.towerHidden); // [hidden]
      for (let j = 0; j < h.length; j++) h[j] = Math.max(0, h[j]);
      const logit = linear(h, 1, c.towerHidden, w[`tower.${t}.w2`], w[`tower.${t}.b2`], 1)[0];
      out[n * T + ti] = 1 / (1 + Math.exp(-logit));
    });
  }
  return out;
}
