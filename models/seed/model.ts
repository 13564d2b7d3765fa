// The OneRec seed model on the WebGPU training engine: the encoder–decoder of docs/architecture.md ("Seed
// model"), parameter for parameter (same names, same shapes, same math as models/seed/reference.ts), with
// autograd for training and a batched forward for beam search.
//
//   const model = SeedModel.init(engine, config, seed);          // or SeedModel.fromWeights(engine, config, w)
//   const { loss } = model.trainingLoss(batch, rng);             // batch from models/seed/batches.ts
//   engine.backward(loss, undefined, accumulateAdd);
//
// MoE: every expert runs on every decoder token and the non-selected experts get gate 0, which is exactly
// the spec's top-k mixture (g = p[top] / Σ p[top]). Decoder tokens are few (levels + 1 per item against
// maxHistory × levels encoder tokens), so the dense evaluation costs little and needs no scatter/gather.
import { BOS, PAD, tokenId } from '../../runtime/tokens.ts';
import { attention } from '../engine/attention.ts';
import { Engine, Tensor, type Kernel } from '../engine/engine.ts';
import * as op from '../engine/ops.ts';
import { Rng } from '../random.ts';
import { decoderLength, hasDenseHead, hasItemEmbedding, SeedConfigError, seedVocabSize, validateSeedConfig, type SeedConfig } from './config.ts';
import type { Batch, NegativeBatch } from './batches.ts';
import type { SeedForward } from './generate.ts';
import { checkSeedWeights, seedParameterShapes, type SeedWeights } from './reference.ts';

// Top-k mask of router probabilities, one thread per token: 1 for the k largest (ties → lower expert index).
const TOPK_MASK: Kernel = {
  name: 'moeTopkMask',
  params: [['rows', 'u32'], ['E', 'u32'], ['K', 'u32']],
  bindings: ['read', 'rw'],
  code: /* wgsl */ `
@group(0) @binding(1) var<storage, read> P: array<f32>;
@group(0) @binding(2) var<storage, read_write> M: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (row >= p.rows) { return; }
  let base = row * p.E;
  for (var e = 0u; e < p.E; e++) { M[base + e] = 0.0; }
  for (var t = 0u; t < p.K; t++) {
    var best = -1.0;
    var bi = 0u;
    for (var e = 0u; e < p.E; e++) {
      if (M[base + e] == 0.0 && P[base + e] > best) { best = P[base + e]; bi = e; }
    }
    M[base + bi] = 1.0;
  }
}`,
};

/** 1 at the k largest entries of each row (ties → lower index), 0 elsewhere; no gradient.  probs [N, E] → [N, E] */
export function topkMask(probs: Tensor, k: number): Tensor {
  const e = probs.engine;
  const E = probs.shape[probs.shape.length - 1];
  const rows = probs.size / E;
  const mask = e.empty(probs.shape);
  const groups = Math.ceil(rows / 64);
  e.run(TOPK_MASK, [probs, mask], [rows, E, k], groups <= 65535 ? [groups, 1] : [65535, Math.ceil(groups / 65535)]);
  return mask;
}

// [A, B, C] → [B, A, C]; its own inverse up to the shape, so backward runs the same kernel.
const SWAP_LEADING: Kernel = {
  name: 'swapLeadingAxes',
  params: [['A', 'u32'], ['B', 'u32'], ['C', 'u32']],
  bindings: ['read', 'rw'],
  code: /* wgsl */ `
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
@compute @workgroup_size(256) fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= p.A * p.B * p.C) { return; }
  let c = i % p.C;
  let b = (i / p.C) % p.B;
  let a = i / (p.C * p.B);
  O[(b * p.A + a) * p.C + c] = X[i];
}`,
};

function swapRaw(x: Tensor, A: number, B: number, C: number): Tensor {
  const e = x.engine;
  const out = e.empty([B, A, C]);
  const groups = Math.ceil((A * B * C) / 256);
  e.run(SWAP_LEADING, [x, out], [A, B, C], groups <= 65535 ? [groups, 1] : [65535, Math.ceil(groups / 65535)]);
  return out;
}

/** Differentiable transpose of the two leading axes.  x [A, B, C] → [B, A, C] */
export function swapLeadingAxes(x: Tensor): Tensor {
  const [A, B, C] = x.shape;
  const out = swapRaw(x, A, B, C);
  return x.engine.record(out, [x], (g) => [swapRaw(g, B, A, C)]);
}

const ones = (n: number): Float32Array => new Float32Array(n).fill(1);

/** Weights for training from scratch: N(0, 0.02²) matrices and embeddings, zero biases, unit LayerNorm gains. */
export function trainingInit(config: SeedConfig, seed: number, std = 0.02): SeedWeights {
  const rng = new Rng(seed);
  const weights: SeedWeights = {};
  for (const [name, shape] of Object.entries(seedParameterShapes(config))) {
    const w = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (/\.g$/.test(name)) w.fill(1);
    else if (/\.b$|\.b[qkvo12]$/.test(name)) w.fill(0);
    else for (let i = 0; i < w.length; i++) w[i] = std * rng.normal();
    weights[name] = w;
  }
  return weights;
}

export interface TrainingLoss {
  loss: Tensor; // [1] ce + moeAuxWeight · aux
  ce: Tensor; // [1] next-token cross-entropy over code tokens
  aux: Tensor | null; // [1] Σ over layers of E · Σ_e f_e P_e (null for a dense decoder)
  load: Tensor[]; // per decoder layer [E]: fraction of top-k slots routed to each expert (no grad)
  unlikelihood: Tensor | null; // [1] mean over negatives of −log(1 − p(item)) (null without negatives)
  distill: Tensor | null; // [1] cross-entropy against the teacher's distribution (null without a teacher)
  dense: Tensor | null; // [1] the dense head's full-softmax cross-entropy of the first target item (null without denseHead or at weight 0)
}

/**
 * The dense head's training term (config.denseHead): the catalog's codes, from which the item vectors are rebuilt
 * every step (e_i = Σ_l tok_emb[code_l(i)], so the gradient reaches tok_emb), and its weight in the loss.
 */
export interface DenseTerm {
  codes: Uint16Array; // [items, levels] every catalog item's semantic ID (SeedData.codes)
  weight: number; // loss += weight · dense cross-entropy
}

/**
 * Distillation: the teacher's next-token distribution at every decoder position of the batch ([B·T, vocab], no
 * gradient; `teacherProbs` makes it) and its weight α: the loss becomes (1 − α) · ce + α · distill (+ the rest).
 */
export interface Distill {
  probs: Tensor;
  weight: number;
}

/** softmax of the mean of the teachers' logits — an ensemble's distribution (their product, renormalised) — on the batch. */
export function teacherProbs(teachers: SeedModel[], batch: Batch): Tensor {
  const e = teachers[0].engine;
  return e.noGrad(() => {
    const logits = teachers.map((t) => t.batchLogits(batch));
    const sum = logits.reduce((a, b) => op.add(a, b));
    return op.softmax(logits.length === 1 ? sum : op.scale(sum, 1 / logits.length));
  });
}

/** The history-unlikelihood term of trainingLoss: negatives from historyNegatives() and the term's weight. */
export interface Unlikelihood {
  negatives: NegativeBatch;
  weight: number;
}

/** Keeps 1 − p away from 0 in −log(1 − p + ε): a history item the model is sure of costs at most −log ε. */
const UNLIKELIHOOD_EPS = 1e-4;

/** Encoder output for a batch of users. */
export interface Memory {
  users: number;
  cross: { k: Tensor; v: Tensor }[]; // per decoder layer [users, S, d] cross-attention keys / values
  keyMask: Tensor; // [users, S] 1 = real token, 0 = PAD
}

export class SeedModel implements SeedForward {
  readonly params: Record<string, Tensor> = {};
  private readonly S: number; // encoder length maxHistory × levels
  private readonly denseTokenCache = new WeakMap<Uint16Array, Int32Array[]>(); // codes → denseTokens(codes)

  private constructor(readonly engine: Engine, readonly config: SeedConfig, weights: SeedWeights) {
    validateSeedConfig(config);
    checkSeedWeights(weights, config);
    for (const [name, shape] of Object.entries(seedParameterShapes(config))) {
      const t = engine.persistent(shape, weights[name]);
      t.name = name;
      t.isParam = true;
      t.requiresGrad = true;
      this.params[name] = t;
    }
    this.S = config.maxHistory * config.levels;
  }

  static fromWeights(engine: Engine, config: SeedConfig, weights: SeedWeights): SeedModel {
    return new SeedModel(engine, config, weights);
  }

  static init(engine: Engine, config: SeedConfig, seed: number): SeedModel {
    return new SeedModel(engine, config, trainingInit(config, seed));
  }

  /** Parameters in the contract's order. */
  parameterList(): Tensor[] {
    return Object.keys(seedParameterShapes(this.config)).map((n) => this.params[n]);
  }

  /**
   * Destroy the parameters' buffers: for a model whose parameters own them (loaded or initialized, e.g. a frozen
   * distillation teacher). A model under an optimizer lives in the optimizer's packed buffer: free it with the
   * optimizer's dispose() instead.
   */
  dispose(): void {
    this.engine.destroy(...this.parameterList());
  }

  /** Current weights on the host, by contract name. */
  async weights(): Promise<SeedWeights> {
    const out: SeedWeights = {};
    for (const t of this.parameterList()) out[t.name] = await this.engine.read(t);
    return out;
  }

  private p(name: string): Tensor {
    return this.params[name];
  }

  // ---------------------------------------------------------------- encoder

  /**
   * Encoder over host tokens.  tokens [B, S] → memory [B, S, d], keyMask [B, S]. historyItems [B, maxHistory]
   * (Batch.historyItems: item + 1 per slot, 0 = none) is read only with config.itemEmbedding, and needed then.
   */
  encodeTokens(tokens: Int32Array, B: number, rng: Rng | null, historyItems?: Int32Array): { memory: Tensor; keyMask: Tensor } {
    const e = this.engine;
    const { levels, maxHistory, heads } = this.config;
    const S = this.S;
    const itemRows = hasItemEmbedding(this.config) ? this.itemRows(historyItems, B) : null; // [B, S] enc.item_emb row of each token
    const maskHost = new Float32Array(B * S); // [B, S]
    for (let i = 0; i < B * S; i++) maskHost[i] = tokens[i] === PAD ? 0 : 1;
    const keyMask = e.upload(maskHost, [B, S]);
    const recency = new Int32Array(S); // [S] enc.item_pos row of each position
    const level = new Int32Array(S); // [S] enc.level_emb row
    for (let s = 0; s < S; s++) {
      recency[s] = maxHistory - 1 - Math.floor(s / levels);
      level[s] = s % levels;
    }
    const position = op.add(op.embedding(this.p('enc.item_pos'), e.upload(recency, [S])), op.embedding(this.p('enc.level_emb'), e.upload(level, [S]))); // [S, d]
    let tokenInput = op.embedding(this.p('tok_emb'), e.upload(tokens, [B, S])); // [B, S, d]
    if (itemRows) tokenInput = op.add(tokenInput, op.embedding(this.p('enc.item_emb'), e.upload(itemRows, [B, S]))); // + the token's item row
    let x = op.add(tokenInput, position); // [B, S, d]
    const drop = (t: Tensor): Tensor => (rng && this.config.dropout > 0 ? op.dropout(t, this.config.dropout, rng) : t);
    x = drop(x);
    for (let i = 0; i < this.config.encoderLayers; i++) {
      const pre = `enc.${i}`;
      const h1 = op.layerNorm(x, this.p(`${pre}.ln1.g`), this.p(`${pre}.ln1.b`));
      const q = op.linear(h1, this.p(`${pre}.attn.wq`), this.p(`${pre}.attn.bq`));
      const k = op.linear(h1, this.p(`${pre}.attn.wk`), this.p(`${pre}.attn.bk`));
      const v = op.linear(h1, this.p(`${pre}.attn.wv`), this.p(`${pre}.attn.bv`));
      const a = attention(q, k, v, { heads, keyMask }); // [B, S, d]
      x = op.add(x, drop(op.linear(a, this.p(`${pre}.attn.wo`), this.p(`${pre}.attn.bo`))));
      const h2 = op.layerNorm(x, this.p(`${pre}.ln2.g`), this.p(`${pre}.ln2.b`));
      const hidden = op.gelu(op.linear(h2, this.p(`${pre}.ffn.w1`), this.p(`${pre}.ffn.b1`))); // [B, S, ffnDim]
      x = op.add(x, drop(op.linear(hidden, this.p(`${pre}.ffn.w2`), this.p(`${pre}.ffn.b2`))));
    }
    return { memory: op.layerNorm(x, this.p('enc.ln_f.g'), this.p('enc.ln_f.b')), keyMask };
  }

  /** Each encoder token's enc.item_emb row: its history slot's item + 1, repeated over the slot's levels.  [B, maxHistory] → [B, S] */
  private itemRows(historyItems: Int32Array | undefined, B: number): Int32Array {
    const { levels, maxHistory } = this.config;
    if (!historyItems || historyItems.length !== B * maxHistory) {
      throw new SeedConfigError(`this model has itemEmbedding: its encoder needs the item of each history slot, [${B}, ${maxHistory}] (Batch.historyItems from models/seed/batches.ts), got ${historyItems ? historyItems.length : 'none'}`);
    }
    const rows = new Int32Array(B * this.S);
    for (let slot = 0; slot < B * maxHistory; slot++) rows.fill(historyItems[slot], slot * levels, (slot + 1) * levels);
    return rows;
  }

  /** Cross-attention keys/values of every decoder layer.  memory [B, S, d] → per layer [B, S, d] */
  crossKeysValues(memory: Tensor): { k: Tensor; v: Tensor }[] {
    return Array.from({ length: this.config.decoderLayers }, (_, i) => ({
      k: op.linear(memory, this.p(`dec.${i}.cross.wk`), this.p(`dec.${i}.cross.bk`)),
      v: op.linear(memory, this.p(`dec.${i}.cross.wv`), this.p(`dec.${i}.cross.bv`)),
    }));
  }

  // ---------------------------------------------------------------- decoder

  /** Mixture of experts of layer `i`.  h [N, d] → out [N, d], router probs [N, E], top-k mask [N, E] */
  private moe(i: number, h: Tensor): { out: Tensor; probs: Tensor; mask: Tensor } {
    const { experts: E, expertsPerToken, expertFfnDim: F, dModel: d } = this.config;
    const N = h.shape[0];
    const pre = `dec.${i}.moe`;
    const probs = op.softmax(op.matmul(h, this.p(`${pre}.router`))); // [N, E]
    const mask = topkMask(probs, expertsPerToken); // [N, E], no grad
    const masked = op.mul(probs, mask); // [N, E]
    const total = op.matmul(masked, this.constant(ones(E), [E, 1])); // [N, 1]  (sums as matmuls: no slow reductions)
    const gates = op.mul(masked, op.exp(op.scale(op.log(total), -1))); // [N, E] = p[top] / Σ p[top]
    // All experts at once: W1 [E, d, F] → [d, E·F] so that one matmul gives every expert's hidden layer.
    const w1 = op.view(swapLeadingAxes(this.p(`${pre}.w1`)), [d, E * F]); // [d, E·F]
    const hidden = op.gelu(op.add(op.matmul(h, w1), op.view(this.p(`${pre}.b1`), [E * F]))); // [N, E·F]
    const gated = op.mul(op.view(hidden, [N, E, F]), op.view(gates, [N, E, 1])); // [N, E, F]
    // Σ_e g_e (W2_e a_e + b2_e) = [g_1 a_1 … g_E a_E] @ W2 viewed [E·F, d] + g @ b2
    const out = op.add(
      op.matmul(op.view(gated, [N, E * F]), op.view(this.p(`${pre}.w2`), [E * F, d])), // [N, d]
      op.matmul(gates, this.p(`${pre}.b2`)), // [N, d]
    );
    return { out, probs, mask };
  }

  private constant(data: Float32Array, shape: number[]): Tensor {
    return this.engine.upload(data, shape);
  }

  /**
   * Teacher-forced decoder.  tokens [R, T] (host), cross k/v per layer [R, S, d], keyMask [R, S]
   * → logits [R, T, vocab], per-layer router probabilities and masks ([R·T, E]).
   */
  decode(tokens: Int32Array, R: number, T: number, cross: { k: Tensor; v: Tensor }[], keyMask: Tensor, rng: Rng | null): { logits: Tensor; hidden: Tensor; probs: Tensor[]; masks: Tensor[] } {
    const e = this.engine;
    const { dModel: d, heads } = this.config;
    if (T > decoderLength(this.config)) throw new SeedConfigError(`decoder input of ${T} tokens exceeds the ${decoderLength(this.config)} positions of dec.pos (sessionLength ${this.config.sessionLength} × (levels + 1)); train with a larger --trainWindow or decode fewer items`);
    const drop = (t: Tensor): Tensor => (rng && this.config.dropout > 0 ? op.dropout(t, this.config.dropout, rng) : t);
    let x = op.add(op.embedding(this.p('tok_emb'), e.upload(tokens, [R, T])), op.slice(this.p('dec.pos'), 0, 0, T)); // [R, T, d]
    x = drop(x);
    const probs: Tensor[] = [];
    const masks: Tensor[] = [];
    for (let i = 0; i < this.config.decoderLayers; i++) {
      const pre = `dec.${i}`;
      const h1 = op.layerNorm(x, this.p(`${pre}.ln1.g`), this.p(`${pre}.ln1.b`));
      const q = op.linear(h1, this.p(`${pre}.self.wq`), this.p(`${pre}.self.bq`));
      const k = op.linear(h1, this.p(`${pre}.self.wk`), this.p(`${pre}.self.bk`));
      const v = op.linear(h1, this.p(`${pre}.self.wv`), this.p(`${pre}.self.bv`));
      x = op.add(x, drop(op.linear(attention(q, k, v, { heads, causal: true }), this.p(`${pre}.self.wo`), this.p(`${pre}.self.bo`))));
      const h2 = op.layerNorm(x, this.p(`${pre}.ln2.g`), this.p(`${pre}.ln2.b`));
      const qc = op.linear(h2, this.p(`${pre}.cross.wq`), this.p(`${pre}.cross.bq`));
      const ac = attention(qc, cross[i].k, cross[i].v, { heads, keyMask }); // [R, T, d]
      x = op.add(x, drop(op.linear(ac, this.p(`${pre}.cross.wo`), this.p(`${pre}.cross.bo`))));
      const h3 = op.layerNorm(x, this.p(`${pre}.ln3.g`), this.p(`${pre}.ln3.b`));
      const m = this.moe(i, op.view(h3, [R * T, d]));
      probs.push(m.probs);
      masks.push(m.mask);
      x = op.add(x, drop(op.view(m.out, [R, T, d])));
    }
    const final = op.layerNorm(x, this.p('dec.ln_f.g'), this.p('dec.ln_f.b'));
    return { logits: op.matmul(final, this.p('lm_head')), hidden: final, probs, masks }; // logits [R, T, vocab], hidden [R, T, d]
  }

  // ---------------------------------------------------------------- dense retrieval head (config.denseHead)

  /** Every catalog item's vector from the code-token table: Σ_l tok_emb[code_l(i)].  codes [items, levels] → [items, d] */
  denseItemMatrix(codes: Uint16Array): Tensor {
    const items = codes.length / this.config.levels;
    let sum: Tensor | null = null;
    for (const tokens of this.denseTokens(codes)) {
      const rows = op.embedding(this.p('tok_emb'), this.engine.upload(tokens, [items])); // [items, d], scatter-add backward
      sum = sum ? op.add(sum, rows) : rows;
    }
    return sum!;
  }

  /** Per level, each item's token of that level's code: [levels][items], made once per codes array (every step reads it). */
  private denseTokens(codes: Uint16Array): Int32Array[] {
    let perLevel = this.denseTokenCache.get(codes);
    if (!perLevel) {
      const { levels, codebookSize } = this.config;
      const items = codes.length / levels;
      perLevel = Array.from({ length: levels }, (_, l) => Int32Array.from({ length: items }, (_, i) => tokenId(l, codes[i * levels + l], codebookSize)));
      this.denseTokenCache.set(codes, perLevel);
    }
    return perLevel;
  }

  /** User vectors: dense.user over the decoder's final state at position `position` of each row.  hidden [R, T, d] → [R, d] */
  private denseUser(hidden: Tensor, position: number): Tensor {
    const [R, T, d] = hidden.shape;
    const at = op.embedding(op.view(hidden, [R * T, d]), this.engine.upload(Int32Array.from({ length: R }, (_, r) => r * T + position), [R])); // [R, d]
    return op.linear(at, this.p('dense.user.w'), this.p('dense.user.b'));
  }

  // ---------------------------------------------------------------- training

  /** Teacher-forced logits of a batch without dropout or recording: [B·T, vocab] (a distillation teacher's forward). */
  batchLogits(batch: Batch): Tensor {
    return this.engine.noGrad(() => {
      const B = batch.size;
      const T = batch.decoderTokens.length / B;
      const { memory, keyMask } = this.encodeTokens(batch.encoderTokens, B, null, batch.historyItems);
      const { logits } = this.decode(batch.decoderTokens, B, T, this.crossKeysValues(memory), keyMask, null);
      return op.view(logits, [B * T, seedVocabSize(this.config)]);
    });
  }

  /**
   * Loss of a batch (dropout from `rng`; pass null for a deterministic forward). With `ul`, adds the
   * sequence-level unlikelihood of items from the user's own history (Welleck et al. 2020, at the item level):
   * ul.weight · mean_n −log(1 − p(item_n | history)), p = Π_l p(c_l | c_<l) teacher-forced on the item's codes.
   * On data where a target never repeats a history item (5-core Amazon), this teaches the model what a
   * history filter would do, so that an unfiltered ranking stops spending its top ranks on history items.
   * With `distill`, the cross-entropy part becomes (1 − α) · ce + α · the cross-entropy against the teachers'
   * distribution (`teacherProbs`).
   */
  trainingLoss(batch: Batch, rng: Rng | null, ul?: Unlikelihood, logitBias?: Float32Array /* [B·T, vocab], added to the logits (historyLogitBias) */, distill?: Distill, dense?: DenseTerm): TrainingLoss {
    const e = this.engine;
    const B = batch.size;
    const T = batch.decoderTokens.length / B;
    const { memory, keyMask } = this.encodeTokens(batch.encoderTokens, B, rng, batch.historyItems);
    const cross = this.crossKeysValues(memory);
    const { logits, hidden, probs, masks } = this.decode(batch.decoderTokens, B, T, cross, keyMask, rng);
    const V = seedVocabSize(this.config);
    const flat = op.view(logits, [B * T, V]);
    const scored = logitBias ? op.add(flat, e.upload(logitBias, [B * T, V])) : flat;
    const targets = e.upload(batch.targets, [B * T]);
    const ce = op.crossEntropy(scored, targets, -1);
    const soft = distill && distill.weight > 0 ? op.softCrossEntropy(scored, distill.probs, targets, -1) : null;
    const E = this.config.experts;
    const load: Tensor[] = [];
    let aux: Tensor | null = null;
    for (let i = 0; i < probs.length; i++) {
      const N = probs[i].shape[0];
      const perToken = e.upload(new Float32Array(N).fill(1 / N), [1, N]); // [1, N] row of 1/N: means as matmuls
      const f = e.noGrad(() => op.scale(op.matmul(perToken, masks[i]), 1 / this.config.expertsPerToken)); // [1, E]
      load.push(op.view(f, [E]));
      if (E > 1) {
        const P = op.matmul(perToken, probs[i]); // [1, E] mean router probability
        const term = op.scale(op.view(op.matmul(P, f, { transB: true }), [1]), E); // [1] E · Σ_e f_e P_e
        aux = aux ? op.add(aux, term) : term;
      }
    }
    let loss = soft ? op.axpby(ce, soft, 1 - distill!.weight, distill!.weight) : ce;
    if (aux && this.config.moeAuxWeight > 0) loss = op.add(loss, op.scale(aux, this.config.moeAuxWeight));
    let unlikelihood: Tensor | null = null;
    if (ul && ul.weight > 0 && ul.negatives.rows > 0) {
      unlikelihood = this.unlikelihood(ul.negatives, cross, keyMask, B, rng);
      loss = op.add(loss, op.scale(unlikelihood, ul.weight));
    }
    let denseCe: Tensor | null = null;
    if (hasDenseHead(this.config)) {
      if (!dense) throw new SeedConfigError('this model has denseHead: trainingLoss needs the catalog\'s codes and the term\'s weight (DenseTerm, e.g. { codes: data.codes, weight: 1 })');
      if (dense.weight > 0) {
        // Position 0 is the first target item's BOS: its state predicts c1, and here the item itself over the catalog.
        const window = batch.targetItems.length / B;
        const first = Int32Array.from({ length: B }, (_, b) => batch.targetItems[b * window]); // [B]
        const scores = op.matmul(this.denseUser(hidden, 0), this.denseItemMatrix(dense.codes), { transB: true }); // [B, items], temperature 1
        denseCe = op.crossEntropy(scores, e.upload(first, [B]));
        loss = op.add(loss, op.scale(denseCe, dense.weight));
      }
    }
    return { loss, ce, aux, load, unlikelihood, distill: soft, dense: denseCe };
  }

  /** mean_n −log(1 − p(item_n) + ε) over the weighted negative rows → [1] (see trainingLoss). */
  private unlikelihood(neg: NegativeBatch, cross: { k: Tensor; v: Tensor }[], keyMask: Tensor, B: number, rng: Rng | null): Tensor {
    const e = this.engine;
    const { levels } = this.config;
    const S = this.S;
    const d = this.config.dModel;
    const R = neg.rows;
    const ids = e.upload(neg.rowExample, [R]);
    const gather = (t: Tensor, width: number): Tensor => op.embedding(op.view(t, [B, width]), ids); // [R, width], scatter-add backward
    const rowCross = cross.map((c) => ({ k: op.view(gather(c.k, S * d), [R, S, d]), v: op.view(gather(c.v, S * d), [R, S, d]) }));
    const rowMask = e.noGrad(() => gather(keyMask, S)); // [R, S]
    const { logits } = this.decode(neg.tokens, R, levels, rowCross, rowMask, rng); // [R, levels, V]
    const V = seedVocabSize(this.config);
    const lp = op.logProbGather(op.view(logits, [R * levels, V]), e.upload(neg.targets, [R * levels]), -1); // [R·levels], 0 where ignored
    const seq = op.matmul(op.view(lp, [R, levels]), this.constant(ones(levels), [levels, 1])); // [R, 1] log p(item)
    const each = op.scale(op.log(op.scale(op.exp(seq), -1, 1 + UNLIKELIHOOD_EPS)), -1); // [R, 1] −log(1 − p + ε)
    return op.view(op.matmul(this.constant(neg.weight, [1, R]), each), [1]); // [1] weighted mean (empty rows weigh 0)
  }

  // ---------------------------------------------------------------- generation (SeedForward)

  /** Encoder for beam search; the handle holds per-layer cross keys/values (kept until release()). */
  async encode(tokens: Int32Array, users: number, historyItems?: Int32Array): Promise<unknown> {
    return this.engine.noGrad(() => {
      const { memory, keyMask } = this.encodeTokens(tokens, users, null, historyItems);
      const cross = this.crossKeysValues(memory);
      for (const c of cross) {
        this.engine.keep(c.k);
        this.engine.keep(c.v);
      }
      this.engine.keep(keyMask);
      const handle: Memory = { users, cross, keyMask };
      return handle;
    });
  }

  async decodeLast(memory: unknown, rowUser: Int32Array, tokens: Int32Array, rows: number, length: number): Promise<Float32Array> {
    const e = this.engine;
    const m = memory as Memory;
    const S = this.S;
    const d = this.config.dModel;
    const V = seedVocabSize(this.config);
    const logits = e.noGrad(() => {
      const ids = e.upload(rowUser, [rows]);
      const gather = (t: Tensor, width: number): Tensor => op.embedding(e.view(t, [m.users, width]), ids); // [rows, width]
      const cross = m.cross.map((c) => ({ k: op.view(gather(c.k, S * d), [rows, S, d]), v: op.view(gather(c.v, S * d), [rows, S, d]) }));
      const keyMask = gather(m.keyMask, S); // [rows, S]
      const out = this.decode(tokens, rows, length, cross, keyMask, null).logits; // [rows, length, V]
      return op.view(op.slice(out, 1, length - 1, 1), [rows, V]);
    });
    const host = await e.read(logits);
    e.endStep();
    return host;
  }

  /**
   * The dense head's scores of every catalog item for each encoded user: u · e_i (temperature 1, before the softmax),
   * u from a one-token decoder pass (BOS).  → [users, items]
   */
  async denseLogits(memory: unknown, users: number, codes: Uint16Array): Promise<Float32Array> {
    const e = this.engine;
    const m = memory as Memory;
    if (!hasDenseHead(this.config)) throw new SeedConfigError('denseLogits: this model has no dense head (train it with --denseHead)');
    const scores = e.noGrad(() => {
      const { hidden } = this.decode(new Int32Array(users).fill(BOS), users, 1, m.cross, m.keyMask, null); // [users, 1, d]
      return op.matmul(this.denseUser(hidden, 0), this.denseItemMatrix(codes), { transB: true }); // [users, items]
    });
    const host = await e.read(scores);
    e.endStep();
    return host;
  }

  release(memory: unknown): void {
    const m = memory as Memory;
    for (const c of m.cross) {
      this.engine.free(c.k);
      this.engine.free(c.v);
    }
    this.engine.free(m.keyMask);
  }
}
