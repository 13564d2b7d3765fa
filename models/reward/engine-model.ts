// The session reward model R(u, S) on the WebGPU engine: the math of models/reward/reference.ts as engine
// ops with autograd, for training a batch of sessions per step on the GPU. Parameters carry the contract
// names (models/reward/config.ts), so checkpoints and reward.onnx read them the same way.
//
//   const model = EngineRewardModel.fromWeights(engine, config, trainer.weights());   // or any RewardWeights
//   const logits = model.logits(batch);          // [B, T]; loss = T · bceWithLogits(logits, labels)
//
// Padding (−1) is gathered as row 0 and masked: history rows out of the mean, session rows as attention keys
// and out of the pooled mean; an all-padding history gives hbar = 0 (u = user.b), as in the reference.
import { AdamW, backward, type Engine, type Tensor } from '../engine/index.ts';
import * as op from '../engine/ops.ts';
import { attention } from '../engine/attention.ts';
import { rewardParameterShapes, usesCodes, validateRewardConfig, type RewardConfig } from './config.ts';
import { ShapeError } from '../engine/errors.ts';
import { checkRewardWeights, type RewardWeights } from './reference.ts';
import type { RewardExample } from './trainer.ts';

export class EngineRewardModel {
  readonly params: Record<string, Tensor> = {};
  private readonly codeRows: Int32Array | null = null; // [items, L] code_emb row of each item's level-l code, l·K + c_il ('codes')

  private constructor(readonly engine: Engine, readonly config: RewardConfig, weights: RewardWeights, itemCodes?: ArrayLike<number>) {
    validateRewardConfig(config);
    checkRewardWeights(weights, config);
    for (const [name, shape] of Object.entries(rewardParameterShapes(config))) this.params[name] = engine.param(name, shape, weights[name]);
    if (usesCodes(config)) {
      const L = config.codeLevels!;
      if (!itemCodes || itemCodes.length !== config.itemCount * L) throw new ShapeError(`itemRepresentation 'codes' needs the items' codes [${config.itemCount}, ${L}], got ${itemCodes ? itemCodes.length : 'none'} values`);
      this.codeRows = Int32Array.from(itemCodes, (code, k) => (k % L) * config.codebookSize! + code);
    }
  }

  /** `itemCodes` [items, L]: the items' semantic-ID codes, needed with itemRepresentation 'codes'. */
  static fromWeights(engine: Engine, config: RewardConfig, weights: RewardWeights, itemCodes?: ArrayLike<number>): EngineRewardModel {
    return new EngineRewardModel(engine, config, weights, itemCodes);
  }

  /** v_i of `ids` [A, n]: item_emb rows, or with 'codes' the sum of each item's L code_emb rows → [A, n, d]. */
  private itemVectors(ids: Int32Array, A: number, n: number): Tensor {
    const e = this.engine;
    if (!this.codeRows) return op.embedding(this.params.item_emb, e.upload(ids, [A, n]));
    const L = this.config.codeLevels!;
    const rows = new Int32Array(A * n * L); // [A·n, L]
    ids.forEach((item, j) => rows.set(this.codeRows!.subarray(item * L, (item + 1) * L), j * L));
    const summed = op.sum(op.embedding(this.params.code_emb, e.upload(rows, [A * n, L])), 1); // [A·n, d]
    return op.view(summed, [A, n, this.config.dModel]);
  }

  parameterList(): Tensor[] {
    return Object.keys(rewardParameterShapes(this.config)).map((n) => this.params[n]);
  }

  async weights(): Promise<RewardWeights> {
    const out: RewardWeights = {};
    for (const t of this.parameterList()) out[t.name] = await this.engine.read(t);
    return out;
  }

  /** Tower logits `[B, T]` of a batch of examples (a graph node; gradients when recording). */
  logits(batch: readonly RewardExample[]): Tensor {
    const e = this.engine;
    const c = this.config;
    const B = batch.length;
    const d = c.dModel;
    const H = c.maxHistory;
    const m = c.sessionLength;
    const historyIds = new Int32Array(B * H); // [B, H], padding → 0 (masked)
    const historyWeight = new Float32Array(B * H); // [B, H] 1/count on real items
    const sessionIds = new Int32Array(B * m); // [B, m]
    const sessionMask = new Float32Array(B * m); // [B, m] 1 = real item
    const poolWeight = new Float32Array(B * m); // [B, m] 1/valid on real items
    batch.forEach((ex, b) => {
      const real = Array.from(ex.history).filter((v) => v >= 0).slice(-H);
      real.forEach((v, j) => { historyIds[b * H + j] = v; historyWeight[b * H + j] = 1 / real.length; });
      const valid = Array.from(ex.items).filter((v) => v >= 0).length;
      for (let i = 0; i < m; i++) {
        if (ex.items[i] < 0) continue;
        sessionIds[b * m + i] = ex.items[i];
        sessionMask[b * m + i] = 1;
        poolWeight[b * m + i] = 1 / valid;
      }
    });
    const hist = this.itemVectors(historyIds, B, H); // [B, H, d]
    const hbar = op.sum(op.mul(hist, e.upload(historyWeight, [B, H, 1])), 1); // [B, d]
    const u = op.linear(hbar, this.params['user.w'], this.params['user.b']); // [B, d]
    const v = this.itemVectors(sessionIds, B, m); // [B, m, d]
    const eTarget = op.mul(v, op.view(u, [B, 1, d])); // [B, m, d]  e_i = v_i ⊙ u
    const q = op.linear(eTarget, this.params['attn.wq'], this.params['attn.bq']);
    const k = op.linear(eTarget, this.params['attn.wk'], this.params['attn.bk']);
    const vv = op.linear(eTarget, this.params['attn.wv'], this.params['attn.bv']);
    const a = attention(q, k, vv, { heads: c.heads, keyMask: e.upload(sessionMask, [B, m]) }); // [B, m, d]
    const x = op.add(eTarget, op.linear(a, this.params['attn.wo'], this.params['attn.bo'])); // [B, m, d]
    const z = op.sum(op.mul(x, e.upload(poolWeight, [B, m, 1])), 1); // [B, d]
    const towers = c.towers.map((t) => {
      const h = op.relu(op.linear(z, this.params[`tower.${t}.w1`], this.params[`tower.${t}.b1`])); // [B, hidden]
      return op.linear(h, this.params[`tower.${t}.w2`], this.params[`tower.${t}.b2`]); // [B, 1]
    });
    return towers.length === 1 ? towers[0] : op.concat(towers, 1); // [B, T]
  }

  /** Σ_t BCE averaged over the batch (the CPU trainer's loss): T · mean over [B, T]. */
  loss(batch: readonly RewardExample[]): Tensor {
    const T = this.config.towers.length;
    const labels = new Float32Array(batch.length * T);
    batch.forEach((ex, b) => ex.labels.forEach((y, t) => { labels[b * T + t] = y; }));
    return op.scale(op.bceWithLogits(this.logits(batch), this.engine.upload(labels, [batch.length, T])), T);
  }

  /** Tower probabilities `[examples, T]` (no grad), in batches. */
  async predict(examples: readonly RewardExample[], batchSize = 1024): Promise<Float32Array> {
    const T = this.config.towers.length;
    const out = new Float32Array(examples.length * T);
    for (let s = 0; s < examples.length; s += batchSize) {
      const chunk = examples.slice(s, s + batchSize);
      const p = this.engine.noGrad(() => op.sigmoid(this.logits(chunk)));
      out.set(await this.engine.read(p), s * T);
      this.engine.endStep();
    }
    return out;
  }
}

/** Train on the engine with AdamW (same schedule as the CPU trainer: constant rate, seeded shuffles). */
export async function trainOnEngine(model: EngineRewardModel, examples: readonly RewardExample[], epochs: number, batchSize: number, learningRate: number, weightDecay: number, shuffle: (order: number[]) => void, onStep?: (step: number, steps: number) => void): Promise<number[]> {
  const e = model.engine;
  const optimizer = new AdamW(e, model.parameterList(), { lr: learningRate, decay: 'constant', weightDecay, decayed: (t) => !/\.b\w*$/.test(t.name) });
  const steps = Math.ceil(examples.length / batchSize);
  const order = examples.map((_, i) => i);
  const losses: number[] = [];
  for (let epoch = 0; epoch < epochs; epoch++) {
    shuffle(order);
    const pending: Promise<Float32Array>[] = [];
    for (let s = 0; s < steps; s++) {
      const loss = model.loss(order.slice(s * batchSize, (s + 1) * batchSize).map((i) => examples[i]));
      backward(loss);
      optimizer.update();
      pending.push(e.read(loss));
      e.endStep();
      onStep?.(epoch * steps + s + 1, epochs * steps);
    }
    let sum = 0;
    for (const p of pending) sum += (await p)[0];
    losses.push(sum / steps);
  }
  return losses;
}
