// Training of the session reward model on the CPU in float64, with a hand-written backward pass checked by
// finite differences (tests/models/reward/trainer.test.ts). The model is small (d 32, sessions of a few
// items: ~0.2 MFLOP per session forward + backward), so a few epochs over KuaiRand's ~10^4–10^5 training
// sessions take seconds on one core; the math is the one in models/reward/reference.ts.
//
// Loss per session: Σ_t BCE(p_t, y_t) = Σ_t softplus(logit_t) − y_t·logit_t; a batch takes the mean over
// sessions. Optimiser: Adam (β1 0.9, β2 0.999, ε 1e-8), optional decoupled weight decay.
import { rewardParameterShapes, usesCodes, validateRewardConfig, type RewardConfig } from './config.ts';
import { ShapeError } from '../engine/errors.ts';
import { Rng } from '../random.ts';
import { sumCodeRows, type RewardWeights } from './reference.ts';

/** One training row: a user's history before the session, the session's items and its tower labels. */
export interface RewardExample {
  history: Int32Array; // [≤ maxHistory] item indices, oldest first
  items: Int32Array;   // [sessionLength] item indices, −1 = padding
  labels: Uint8Array;  // [towers] 0/1 in config.towers order
}

export interface RewardTrainConfig {
  epochs: number;        // passes over the training sessions
  batchSize: number;     // sessions per Adam step
  learningRate: number;  // Adam step size
  weightDecay: number;   // decoupled (AdamW) decay per step, × learningRate
  seed: number;          // initialisation and shuffling
}

export const DEFAULT_REWARD_TRAIN: RewardTrainConfig = { epochs: 4, batchSize: 64, learningRate: 3e-3, weightDecay: 1e-4, seed: 5 };

type Params = Record<string, Float64Array>;

const softplus = (x: number): number => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));
const sigmoid = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

/** y[o] += Σ_i x[i] W[i, o]  (x [inDim], W [inDim, outDim]) */
function vecMat(x: Float64Array, W: Float64Array, inDim: number, outDim: number, y: Float64Array): void {
  for (let i = 0; i < inDim; i++) {
    const xi = x[i];
    if (xi === 0) continue;
    for (let o = 0; o < outDim; o++) y[o] += xi * W[i * outDim + o];
  }
}
/** dx[i] += Σ_o W[i, o] dy[o];  dW[i, o] += x[i] dy[o] */
function vecMatBackward(x: Float64Array, W: Float64Array, dy: Float64Array, inDim: number, outDim: number, dx: Float64Array | null, dW: Float64Array): void {
  for (let i = 0; i < inDim; i++) {
    let acc = 0;
    const xi = x[i];
    for (let o = 0; o < outDim; o++) {
      acc += W[i * outDim + o] * dy[o];
      dW[i * outDim + o] += xi * dy[o];
    }
    if (dx) dx[i] += acc;
  }
}

export class RewardTrainer {
  readonly config: RewardConfig;
  readonly params: Params = {};
  readonly grads: Params = {};
  private readonly adamM: Params = {};
  private readonly adamV: Params = {};
  private adamStep = 0;
  // With itemRepresentation 'codes': v_i for every item, rebuilt from code_emb after each step, and ∂loss/∂v_i,
  // scattered into code_emb's gradient at the step; with 'table' both are item_emb's own arrays.
  private readonly itemCodes: ArrayLike<number> | null = null; // [items, L]
  private itemVectors: Float64Array;  // [items, d]
  private itemGrads: Float64Array;    // [items, d]
  private readonly touched: Uint8Array | null = null; // [items] 1 = itemGrads row holds a gradient

  /**
   * Initialisation: item_emb N(0, 0.1²); user.w N(0, (0.5/√d)²) and user.b = 1 so that u starts near 1 and
   * e_i near v_i; attention matrices N(0, 1/d); tower w1 N(0, 2/d) (He), w2 N(0, 1/hidden); biases 0, except
   * b2_t = logit(prior_t) when `priors` are given (the towers start at the training positive rates). With
   * itemRepresentation 'codes', code_emb N(0, 0.1²/L) so that v_i (a sum of L rows) starts as item_emb would, and
   * `itemCodes` [items, L] (the prepared codes.u16) are required.
   */
  constructor(config: RewardConfig, seed: number, priors?: ArrayLike<number>, itemCodes?: ArrayLike<number>) {
    validateRewardConfig(config);
    this.config = config;
    const rng = new Rng(seed);
    const d = config.dModel;
    for (const [name, shape] of Object.entries(rewardParameterShapes(config))) {
      const size = shape.reduce((a, b) => a * b, 1);
      const p = new Float64Array(size);
      let std = 0;
      if (name === 'item_emb') std = 0.1;
      else if (name === 'code_emb') std = 0.1 / Math.sqrt(config.codeLevels!);
      else if (name === 'user.w') std = 0.5 / Math.sqrt(d);
      else if (/^attn\.w/.test(name)) std = 1 / Math.sqrt(d);
      else if (/\.w1$/.test(name)) std = Math.sqrt(2 / d);
      else if (/\.w2$/.test(name)) std = 1 / Math.sqrt(config.towerHidden);
      for (let i = 0; i < size; i++) p[i] = std * rng.normal();
      if (name === 'user.b') p.fill(1);
      this.params[name] = p;
      this.grads[name] = new Float64Array(size);
      this.adamM[name] = new Float64Array(size);
      this.adamV[name] = new Float64Array(size);
    }
    if (priors) {
      config.towers.forEach((t, k) => {
        const q = Math.min(1 - 1e-4, Math.max(1e-4, priors[k]));
        this.params[`tower.${t}.b2`][0] = Math.log(q / (1 - q));
      });
    }
    if (usesCodes(config)) {
      const L = config.codeLevels!;
      if (!itemCodes || itemCodes.length !== config.itemCount * L) throw new ShapeError(`itemRepresentation 'codes' needs the items' codes [${config.itemCount}, ${L}], got ${itemCodes ? itemCodes.length : 'none'} values`);
      for (let i = 0; i < itemCodes.length; i++) if (itemCodes[i] >= config.codebookSize!) throw new ShapeError(`item ${Math.floor(i / L)} has code ${itemCodes[i]} at level ${i % L}, outside 0..${config.codebookSize! - 1}`);
      this.itemCodes = itemCodes;
      this.itemVectors = new Float64Array(config.itemCount * d);
      this.itemGrads = new Float64Array(config.itemCount * d);
      this.touched = new Uint8Array(config.itemCount);
      this.rebuildItemVectors();
    } else {
      this.itemVectors = this.params.item_emb;
      this.itemGrads = this.grads.item_emb;
    }
  }

  /** v_i = Σ_l code_emb[l·K + c_il] for every item ('codes' only). */
  private rebuildItemVectors(): void {
    const c = this.config;
    sumCodeRows(this.params.code_emb, this.itemCodes!, c.codeLevels!, c.codebookSize!, c.dModel, this.itemVectors);
  }

  /**
   * ∂/∂code_emb += Σ over touched items of ∂/∂v_i at each of its code rows ('codes' only; adam() calls it, a
   * gradient check calls it before reading grads.code_emb); clears the per-item gradients.
   */
  scatterItemGrads(): void {
    if (!this.touched) return;
    const c = this.config;
    const d = c.dModel;
    const L = c.codeLevels!;
    const K = c.codebookSize!;
    const codes = this.itemCodes!;
    const g = this.grads.code_emb;
    for (let i = 0; i < c.itemCount; i++) {
      if (!this.touched![i]) continue;
      for (let l = 0; l < L; l++) {
        const row = (l * K + codes[i * L + l]) * d;
        for (let a = 0; a < d; a++) g[row + a] += this.itemGrads[i * d + a];
      }
      this.itemGrads.fill(0, i * d, (i + 1) * d);
      this.touched![i] = 0;
    }
  }

  zeroGrad(): void {
    for (const g of Object.values(this.grads)) g.fill(0);
    if (this.touched) { this.itemGrads.fill(0); this.touched.fill(0); }
  }

  /**
   * Forward one session; when `gradScale` ≠ 0 also accumulate gradScale · ∂loss/∂θ into `grads`.
   * Returns the session's loss (Σ_t BCE) and its tower logits `[T]`.
   */
  forwardBackward(ex: RewardExample, gradScale: number): { loss: number; logits: Float64Array } {
    const c = this.config;
    const P = this.params;
    const G = this.grads;
    const d = c.dModel;
    const m = c.sessionLength;
    const T = c.towers.length;
    const H = c.towerHidden;
    const heads = c.heads;
    const dh = d / heads;
    const scale = 1 / Math.sqrt(dh);
    if (ex.items.length !== m) throw new ShapeError(`reward example has ${ex.items.length} session items, expected sessionLength ${m}`);
    if (ex.labels.length !== T) throw new ShapeError(`reward example has ${ex.labels.length} labels, expected one per tower (${c.towers.join(',')})`);
    const emb = this.itemVectors; // [items, d] v_i

    // u = mean(item_emb[history]) @ user.w + user.b
    const hbar = new Float64Array(d);
    const hist: number[] = [];
    for (let j = Math.max(0, ex.history.length - c.maxHistory); j < ex.history.length; j++) if (ex.history[j] >= 0) hist.push(ex.history[j]);
    for (const v of hist) for (let a = 0; a < d; a++) hbar[a] += emb[v * d + a];
    if (hist.length) for (let a = 0; a < d; a++) hbar[a] /= hist.length;
    const u = Float64Array.from(P['user.b']);
    vecMat(hbar, P['user.w'], d, d, u);

    // Session rows: only valid items take part (padding is masked as keys and never pooled).
    const rows: number[] = [];
    for (let i = 0; i < m; i++) if (ex.items[i] >= 0) rows.push(ex.items[i]);
    const n = rows.length;
    const e = rows.map((v) => { const r = new Float64Array(d); for (let a = 0; a < d; a++) r[a] = emb[v * d + a] * u[a]; return r; }); // n × [d]
    const proj = (name: string) => e.map((r) => { const y = Float64Array.from(P[`attn.b${name}`]); vecMat(r, P[`attn.w${name}`], d, d, y); return y; });
    const q = proj('q');
    const k = proj('k');
    const vv = proj('v');
    const prob: Float64Array[] = []; // [n] rows of [heads * n]: attention of query i
    const att = q.map(() => new Float64Array(d)); // n × [d]
    for (let i = 0; i < n; i++) {
      const pi = new Float64Array(heads * n);
      for (let h = 0; h < heads; h++) {
        let max = -Infinity;
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let cc = 0; cc < dh; cc++) s += q[i][h * dh + cc] * k[j][h * dh + cc];
          pi[h * n + j] = s * scale;
          max = Math.max(max, s * scale);
        }
        let sum = 0;
        for (let j = 0; j < n; j++) sum += pi[h * n + j] = Math.exp(pi[h * n + j] - max);
        for (let j = 0; j < n; j++) {
          pi[h * n + j] /= sum;
          for (let cc = 0; cc < dh; cc++) att[i][h * dh + cc] += pi[h * n + j] * vv[j][h * dh + cc];
        }
      }
      prob.push(pi);
    }
    const z = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      const o = Float64Array.from(P['attn.bo']);
      vecMat(att[i], P['attn.wo'], d, d, o);
      for (let a = 0; a < d; a++) z[a] += (e[i][a] + o[a]) / n;
    }
    const hidden: Float64Array[] = [];
    const logits = new Float64Array(T);
    let loss = 0;
    c.towers.forEach((t, ti) => {
      const h = Float64Array.from(P[`tower.${t}.b1`]);
      vecMat(z, P[`tower.${t}.w1`], d, H, h);
      for (let j = 0; j < H; j++) h[j] = Math.max(0, h[j]);
      let logit = P[`tower.${t}.b2`][0];
      for (let j = 0; j < H; j++) logit += h[j] * P[`tower.${t}.w2`][j];
      hidden.push(h);
      logits[ti] = logit;
      loss += softplus(logit) - ex.labels[ti] * logit;
    });
    if (gradScale === 0) return { loss, logits };

    // ---- backward ----
    const dz = new Float64Array(d);
    c.towers.forEach((t, ti) => {
      const dlogit = gradScale * (sigmoid(logits[ti]) - ex.labels[ti]);
      G[`tower.${t}.b2`][0] += dlogit;
      const dhid = new Float64Array(H);
      for (let j = 0; j < H; j++) {
        G[`tower.${t}.w2`][j] += hidden[ti][j] * dlogit;
        dhid[j] = hidden[ti][j] > 0 ? P[`tower.${t}.w2`][j] * dlogit : 0;
        G[`tower.${t}.b1`][j] += dhid[j];
      }
      vecMatBackward(z, P[`tower.${t}.w1`], dhid, d, H, dz, G[`tower.${t}.w1`]);
    });
    if (n === 0) return { loss, logits };
    const dx = new Float64Array(d); // ∂/∂x_i, the same for every valid i (mean pooling)
    for (let a = 0; a < d; a++) dx[a] = dz[a] / n;
    const de = e.map(() => Float64Array.from(dx)); // residual path
    const datt = att.map(() => new Float64Array(d));
    for (let i = 0; i < n; i++) {
      for (let a = 0; a < d; a++) G['attn.bo'][a] += dx[a];
      vecMatBackward(att[i], P['attn.wo'], dx, d, d, datt[i], G['attn.wo']);
    }
    const dq = e.map(() => new Float64Array(d));
    const dk = e.map(() => new Float64Array(d));
    const dv = e.map(() => new Float64Array(d));
    for (let i = 0; i < n; i++) {
      for (let h = 0; h < heads; h++) {
        const dp = new Float64Array(n);
        let dot = 0;
        for (let j = 0; j < n; j++) {
          const pij = prob[i][h * n + j];
          let s = 0;
          for (let cc = 0; cc < dh; cc++) {
            s += datt[i][h * dh + cc] * vv[j][h * dh + cc];
            dv[j][h * dh + cc] += pij * datt[i][h * dh + cc];
          }
          dp[j] = s;
          dot += pij * s;
        }
        for (let j = 0; j < n; j++) {
          const ds = prob[i][h * n + j] * (dp[j] - dot) * scale;
          for (let cc = 0; cc < dh; cc++) {
            dq[i][h * dh + cc] += ds * k[j][h * dh + cc];
            dk[j][h * dh + cc] += ds * q[i][h * dh + cc];
          }
        }
      }
    }
    for (let i = 0; i < n; i++) {
      for (const [name, dy] of [['q', dq[i]], ['k', dk[i]], ['v', dv[i]]] as const) {
        for (let a = 0; a < d; a++) G[`attn.b${name}`][a] += dy[a];
        vecMatBackward(e[i], P[`attn.w${name}`], dy, d, d, de[i], G[`attn.w${name}`]);
      }
    }
    // e_i = v_i ⊙ u
    const du = new Float64Array(d);
    const gEmb = this.itemGrads;
    if (this.touched) {
      for (const v of rows) this.touched[v] = 1;
      for (const v of hist) this.touched[v] = 1;
    }
    rows.forEach((v, i) => {
      for (let a = 0; a < d; a++) {
        du[a] += de[i][a] * emb[v * d + a];
        gEmb[v * d + a] += de[i][a] * u[a];
      }
    });
    for (let a = 0; a < d; a++) G['user.b'][a] += du[a];
    const dhbar = new Float64Array(d);
    vecMatBackward(hbar, P['user.w'], du, d, d, dhbar, G['user.w']);
    if (hist.length) for (const v of hist) for (let a = 0; a < d; a++) gEmb[v * d + a] += dhbar[a] / hist.length;
    return { loss, logits };
  }

  /** One Adam(W) step with the accumulated gradients; then zeroes them. */
  adam(learningRate: number, weightDecay: number): void {
    this.scatterItemGrads();
    this.adamStep++;
    const b1 = 0.9;
    const b2 = 0.999;
    const c1 = 1 - b1 ** this.adamStep;
    const c2 = 1 - b2 ** this.adamStep;
    for (const [name, p] of Object.entries(this.params)) {
      const g = this.grads[name];
      const mm = this.adamM[name];
      const vv = this.adamV[name];
      const decay = /\.b\w*$|user\.b/.test(name) ? 0 : weightDecay;
      for (let i = 0; i < p.length; i++) {
        mm[i] = b1 * mm[i] + (1 - b1) * g[i];
        vv[i] = b2 * vv[i] + (1 - b2) * g[i] * g[i];
        p[i] -= learningRate * ((mm[i] / c1) / (Math.sqrt(vv[i] / c2) + 1e-8) + decay * p[i]);
      }
    }
    this.zeroGrad();
    if (this.itemCodes) this.rebuildItemVectors();
  }

  /** Sets parameters by contract name (e.g. weights trained elsewhere) and keeps v_i in step with them. */
  load(weights: RewardWeights): void {
    for (const [name, w] of Object.entries(weights)) this.params[name].set(w);
    if (this.itemCodes) this.rebuildItemVectors();
  }

  /** Train for `train.epochs` over `examples` (seeded shuffle); `onStep(step, steps, meanLoss)` reports progress. */
  fit(examples: readonly RewardExample[], train: RewardTrainConfig, onStep?: (step: number, steps: number, loss: number) => void): number[] {
    const rng = new Rng(train.seed);
    const order = examples.map((_, i) => i);
    const stepsPerEpoch = Math.ceil(examples.length / train.batchSize);
    const losses: number[] = [];
    let step = 0;
    for (let epoch = 0; epoch < train.epochs; epoch++) {
      rng.shuffle(order);
      let epochLoss = 0;
      for (let s = 0; s < stepsPerEpoch; s++) {
        const batch = order.slice(s * train.batchSize, (s + 1) * train.batchSize);
        let batchLoss = 0;
        for (const i of batch) batchLoss += this.forwardBackward(examples[i], 1 / batch.length).loss;
        this.adam(train.learningRate, train.weightDecay);
        epochLoss += batchLoss;
        onStep?.(++step, stepsPerEpoch * train.epochs, batchLoss / batch.length);
      }
      losses.push(epochLoss / examples.length);
    }
    return losses;
  }

  /** Tower probabilities `[examples, T]` (labels ignored). */
  predict(examples: readonly RewardExample[]): Float64Array {
    const T = this.config.towers.length;
    const out = new Float64Array(examples.length * T);
    examples.forEach((ex, i) => {
      const { logits } = this.forwardBackward(ex, 0);
      for (let t = 0; t < T; t++) out[i * T + t] = sigmoid(logits[t]);
    });
    return out;
  }

  /** The trained parameters as float32 weights by contract name (reference.ts, checkpoints, export). */
  weights(): RewardWeights {
    const w: RewardWeights = {};
    for (const [name, p] of Object.entries(this.params)) w[name] = Float32Array.from(p);
    return w;
  }
}
