// SASRec (Kang & McAuley, 2018) on the WebGPU training engine: the classic yardstick that `onerec baseline`
// trains beside the generative model. Causal self-attention over item ids, trained on every position of
// every user's train sequence with full-softmax cross-entropy over the whole catalog (no sampled negatives:
// exact, and the catalogs this project targets for training fit a [positions, items] logit matrix); the
// output layer is the input item embedding (tied).
//
//   const model = SasrecModel.init(engine, config, seed);
//   const loss = model.trainingLoss(inputs, targets, rng);     // inputs/targets [B, L], 0 = padding
//   const ranks = model.targetRanks(histories, targets);       // evaluation: full ranking over all items
//
// Pre-LayerNorm blocks (x + Drop(Attn(LN x)), x + Drop(FFN(LN x)), final LN), learned positions, the item
// embedding scaled by √d as in the original. Item i of the catalog is row i + 1 of the table; row 0 pads.
import { attention } from '../engine/attention.ts';
import type { Checkpoint } from '../engine/checkpoint.ts';
import { Engine, Tensor, type Kernel } from '../engine/engine.ts';
import { ShapeError } from '../engine/errors.ts';
import * as op from '../engine/ops.ts';
import { Rng } from '../random.ts';

export interface SasrecConfig {
  items: number; // catalog size; the embedding table has items + 1 rows (row 0 = padding)
  dModel: number; // d: item embedding and hidden width
  heads: number; // attention heads (d must divide by it)
  blocks: number; // transformer blocks
  ffnDim: number; // feed-forward hidden width (GELU)
  maxLength: number; // L: items of history the model reads (the most recent ones)
  dropout: number; // on the input embeddings and every residual branch
}

export class SasrecConfigError extends Error {
  override name = 'SasrecConfigError';
}

export function validateSasrecConfig(c: SasrecConfig): void {
  const positive: (keyof SasrecConfig)[] = ['items', 'dModel', 'heads', 'blocks', 'ffnDim', 'maxLength'];
  for (const key of positive) {
    if (!Number.isInteger(c[key]) || c[key] < 1) throw new SasrecConfigError(`--${key}=${c[key]}: give an integer ≥ 1`);
  }
  if (c.dModel % c.heads !== 0) throw new SasrecConfigError(`--dModel=${c.dModel} must be a multiple of --heads=${c.heads}`);
  if (c.dModel / c.heads > 128) throw new SasrecConfigError(`--dModel / --heads = ${c.dModel / c.heads}: the attention kernel takes heads of at most 128`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new SasrecConfigError(`--dropout=${c.dropout}: give a value in [0, 1)`);
}

/** Parameter names and shapes (the checkpoint's tensors). */
export function sasrecParameterShapes(c: SasrecConfig): Record<string, number[]> {
  const d = c.dModel;
  const shapes: Record<string, number[]> = { item_emb: [c.items + 1, d], pos_emb: [c.maxLength, d] };
  for (let i = 0; i < c.blocks; i++) {
    const pre = `block.${i}`;
    Object.assign(shapes, {
      [`${pre}.ln1.g`]: [d], [`${pre}.ln1.b`]: [d],
      [`${pre}.attn.wq`]: [d, d], [`${pre}.attn.bq`]: [d], [`${pre}.attn.wk`]: [d, d], [`${pre}.attn.bk`]: [d],
      [`${pre}.attn.wv`]: [d, d], [`${pre}.attn.bv`]: [d], [`${pre}.attn.wo`]: [d, d], [`${pre}.attn.bo`]: [d],
      [`${pre}.ln2.g`]: [d], [`${pre}.ln2.b`]: [d],
      [`${pre}.ffn.w1`]: [d, c.ffnDim], [`${pre}.ffn.b1`]: [c.ffnDim], [`${pre}.ffn.w2`]: [c.ffnDim, d], [`${pre}.ffn.b2`]: [d],
    });
  }
  shapes['ln_f.g'] = [d];
  shapes['ln_f.b'] = [d];
  return shapes;
}

export function sasrecParameterCount(c: SasrecConfig): number {
  return Object.values(sasrecParameterShapes(c)).reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0);
}

// Rank of each row's target among columns 1..V-1 (column 0 is padding), ties broken by index: the number of
// items scoring higher, plus those scoring equal with a lower index. One workgroup per row.
const TARGET_RANK: Kernel = {
  name: 'sasrecTargetRank',
  params: [['rows', 'u32'], ['V', 'u32']],
  bindings: ['read', 'read', 'rw'],
  code: /* wgsl */ `
@group(0) @binding(1) var<storage, read> S: array<f32>;
@group(0) @binding(2) var<storage, read> T: array<i32>;
@group(0) @binding(3) var<storage, read_write> R: array<f32>;
var<workgroup> red: array<u32, 256>;
@compute @workgroup_size(256) fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.V;
  let t = u32(T[row]);
  let st = S[base + t];
  var n = 0u;
  for (var c = 1u + lid; c < p.V; c += 256u) {
    let s = S[base + c];
    if (s > st || (s == st && c < t)) { n++; }
  }
  red[lid] = n;
  workgroupBarrier();
  for (var k = 128u; k > 0u; k >>= 1u) { if (lid < k) { red[lid] += red[lid + k]; } workgroupBarrier(); }
  if (lid == 0u) { R[row] = f32(red[0]); }
}`,
};

/** 0-based rank of targets[r] in each row of scores [rows, V] over columns 1..V-1, ties → lower index first. */
export function targetRanks(scores: Tensor, targets: Tensor): Tensor {
  const e = scores.engine;
  const V = scores.shape[scores.shape.length - 1];
  const rows = scores.size / V;
  if (targets.dtype !== 'i32' || targets.size !== rows) throw new ShapeError(`targetRanks: targets must be i32 [${rows}], got ${targets}`);
  const out = e.empty([rows]);
  e.run(TARGET_RANK, [scores, targets, out], [rows, V], rows <= 65535 ? [rows, 1] : [65535, Math.ceil(rows / 65535)]);
  return out;
}

// Scores of excluded (row, item column) pairs set to −∞ before ranking: the user's own history, when the ranking
// leaves it out as the runtime does by default. A target among them ranks behind every other item (a miss).
const EXCLUDE: Kernel = {
  name: 'sasrecExcludeScores',
  params: [['pairs', 'u32'], ['V', 'u32']],
  bindings: ['read', 'rw'],
  code: /* wgsl */ `
@group(0) @binding(1) var<storage, read> PAIRS: array<i32>;
@group(0) @binding(2) var<storage, read_write> S: array<f32>;
@compute @workgroup_size(256) fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= p.pairs) { return; }
  S[u32(PAIRS[2u * i]) * p.V + u32(PAIRS[2u * i + 1u])] = -3.0e38;
}`,
};

export class SasrecModel {
  private constructor(readonly engine: Engine, readonly config: SasrecConfig, private readonly params: Map<string, Tensor>) {}

  /** N(0, 0.02²) matrices and embeddings, zero biases, unit LayerNorm gains. */
  static init(engine: Engine, config: SasrecConfig, seed: number): SasrecModel {
    validateSasrecConfig(config);
    const rng = new Rng(seed);
    const params = new Map<string, Tensor>();
    for (const [name, shape] of Object.entries(sasrecParameterShapes(config))) {
      const init = /\.g$/.test(name) ? 'ones' : /\.b[qkvo12]?$/.test(name) ? 'zeros' : { normal: 0.02 };
      params.set(name, engine.param(name, shape, init, rng));
    }
    return new SasrecModel(engine, config, params);
  }

  /** A model with a checkpoint's weights (e.g. a frozen distillation teacher); the tensor names must match the config. */
  static fromCheckpoint(engine: Engine, config: SasrecConfig, ckpt: Checkpoint): SasrecModel {
    validateSasrecConfig(config);
    const params = new Map<string, Tensor>();
    for (const [name, shape] of Object.entries(sasrecParameterShapes(config))) {
      const t = ckpt.tensors[name];
      if (!t || t.shape.join(',') !== shape.join(',')) throw new ShapeError(`SASRec checkpoint: ${name} is ${t ? `[${t.shape.join(', ')}]` : 'missing'}, the config needs [${shape.join(', ')}]`);
      params.set(name, engine.param(name, shape, t.data));
    }
    return new SasrecModel(engine, config, params);
  }

  /**
   * Destroy the parameters' buffers: for a model whose parameters own them (initialized or loaded, e.g. a frozen
   * teacher). A model under an optimizer lives in the optimizer's packed buffer: free it with the optimizer's
   * dispose() instead.
   */
  dispose(): void {
    this.engine.destroy(...this.parameterList());
  }

  parameterList(): Tensor[] {
    return [...this.params.values()];
  }

  private p(name: string): Tensor {
    const t = this.params.get(name);
    if (!t) throw new ShapeError(`SASRec has no parameter ${name}`);
    return t;
  }

  /** Hidden states of token rows [B, L] (catalog index + 1, 0 = padding, left-padded) → [B, L, d]. */
  hidden(tokens: Int32Array, B: number, rng?: Rng): Tensor {
    const e = this.engine;
    const { maxLength: L, dModel: d, heads } = this.config;
    if (tokens.length !== B * L) throw new ShapeError(`SASRec: ${tokens.length} tokens for [${B}, ${L}]`);
    const maskHost = new Float32Array(B * L); // [B, L] 1 = an item, 0 = padding
    for (let i = 0; i < B * L; i++) maskHost[i] = tokens[i] === 0 ? 0 : 1;
    const keyMask = e.upload(maskHost, [B, L]);
    const drop = (t: Tensor): Tensor => (rng && this.config.dropout > 0 ? op.dropout(t, this.config.dropout, rng) : t);
    let x = op.add(op.scale(op.embedding(this.p('item_emb'), e.upload(tokens, [B, L])), Math.sqrt(d)), this.p('pos_emb')); // [B, L, d]
    x = drop(x);
    for (let i = 0; i < this.config.blocks; i++) {
      const pre = `block.${i}`;
      const h1 = op.layerNorm(x, this.p(`${pre}.ln1.g`), this.p(`${pre}.ln1.b`));
      const q = op.linear(h1, this.p(`${pre}.attn.wq`), this.p(`${pre}.attn.bq`));
      const k = op.linear(h1, this.p(`${pre}.attn.wk`), this.p(`${pre}.attn.bk`));
      const v = op.linear(h1, this.p(`${pre}.attn.wv`), this.p(`${pre}.attn.bv`));
      const a = attention(q, k, v, { heads, causal: true, keyMask }); // [B, L, d]
      x = op.add(x, drop(op.linear(a, this.p(`${pre}.attn.wo`), this.p(`${pre}.attn.bo`))));
      const h2 = op.layerNorm(x, this.p(`${pre}.ln2.g`), this.p(`${pre}.ln2.b`));
      const f = op.gelu(op.linear(h2, this.p(`${pre}.ffn.w1`), this.p(`${pre}.ffn.b1`))); // [B, L, ffnDim]
      x = op.add(x, drop(op.linear(f, this.p(`${pre}.ffn.w2`), this.p(`${pre}.ffn.b2`))));
    }
    return op.layerNorm(x, this.p('ln_f.g'), this.p('ln_f.b'));
  }

  /**
   * Mean cross-entropy of the next item over every non-padding target. inputs/targets [B, L] (targets[i] is the
   * item after inputs[i], both as catalog index + 1, 0 = no target). Only the rows with a target reach the
   * [rows, items + 1] logit matrix.
   */
  trainingLoss(inputs: Int32Array, targets: Int32Array, B: number, rng?: Rng): Tensor {
    const e = this.engine;
    const { maxLength: L, dModel: d } = this.config;
    const rows: number[] = [];
    const labels: number[] = [];
    for (let i = 0; i < B * L; i++) if (targets[i] !== 0) { rows.push(i); labels.push(targets[i]); }
    if (rows.length === 0) throw new ShapeError('SASRec trainingLoss: the batch has no target');
    const h = op.view(this.hidden(inputs, B, rng), [B * L, d]);
    const picked = op.embedding(h, e.upload(Int32Array.from(rows), [rows.length])); // [n, d]
    const logits = op.matmul(picked, this.p('item_emb'), { transB: true }); // [n, items + 1]
    return op.crossEntropy(logits, e.upload(Int32Array.from(labels), [labels.length]));
  }

  /** Scores of hidden states [n, d] against every catalog row (the tied item table): [n, items + 1]. */
  itemLogits(h: Tensor): Tensor {
    return op.matmul(h, this.p('item_emb'), { transB: true });
  }

  /** Scores of every catalog row after each history (its last position): [B, items + 1], no gradient. */
  scores(histories: Int32Array, B: number): Tensor {
    return this.engine.noGrad(() => {
      const { maxLength: L, dModel: d } = this.config;
      const h = op.view(this.hidden(histories, B), [B * L, d]);
      const last = op.embedding(h, this.engine.upload(Int32Array.from({ length: B }, (_, b) => b * L + L - 1), [B])); // [B, d]
      return op.matmul(last, this.p('item_emb'), { transB: true });
    });
  }

  /**
   * 0-based full-catalog rank of each target (catalog index + 1) after its history row [B, L]. `exclude`: flat
   * (row, column) pairs whose scores drop to −∞ first (the users' own histories, columns as catalog index + 1).
   */
  async targetRanks(histories: Int32Array, targets: Int32Array, B: number, exclude?: Int32Array): Promise<Float32Array> {
    const scores = this.scores(histories, B);
    if (exclude && exclude.length > 0) {
      const pairs = exclude.length / 2;
      const groups = Math.ceil(pairs / 256);
      this.engine.run(EXCLUDE, [this.engine.upload(exclude, [exclude.length]), scores], [pairs, this.config.items + 1], groups <= 65535 ? [groups, 1] : [65535, Math.ceil(groups / 65535)]);
    }
    const ranks = targetRanks(scores, this.engine.upload(targets, [B]));
    const out = this.engine.read(ranks);
    this.engine.endStep();
    return out;
  }
}
