// The seed model's executable specification: a plain float32 CPU forward of the encoder–decoder described
// in docs/architecture.md ("Seed model"), written for clarity, not speed. The trainer (models/seed/model.ts),
// the ONNX graphs (models/export/) and the browser runtime are all tested against this file.
//
//   const weights = initSeedWeights(config, 7);
//   const session = new ReferenceDecoderSession(weights, config, encoderTokens(history, codes, …));
//   const logits = await session.step(Int32Array.of(BOS), Int32Array.of(0));   // [1, vocab]
//
// Weights are a `Record<name, Float32Array>` with the contract's parameter names, row-major; a linear
// layer is `y = x @ W + b` with `W: [in, out]`.
import { logSumExpRow, type DecoderSession } from '../../runtime/beam-search.ts';
import { BOS, PAD, tokenId } from '../../runtime/tokens.ts';
import { decoderLength, hasDenseHead, hasItemEmbedding, seedVocabSize, type SeedConfig } from './config.ts';
import { seededUniform } from '../random.ts';

export { decoderLength, seedVocabSize, type SeedConfig };

/** Parameters by contract name, row-major float32. */
export type SeedWeights = Record<string, Float32Array>;

export class SeedWeightsError extends Error {
  override name = 'SeedWeightsError';
}

export const LAYER_NORM_EPS = 1e-5;
/** Additive attention bias of a masked key. exp(-1e9 - max) is exactly 0 in float32, like -∞. */
export const MASKED = -1e9;

/** Every parameter's shape, in the contract's order. */
export function seedParameterShapes(config: SeedConfig): Record<string, number[]> {
  const d = config.dModel;
  const V = seedVocabSize(config);
  const shapes: Record<string, number[]> = {
    tok_emb: [V, d],
    'enc.item_pos': [config.maxHistory, d],
    'enc.level_emb': [config.levels, d],
  };
  const attention = (prefix: string): void => {
    for (const w of ['wq', 'wk', 'wv', 'wo']) shapes[`${prefix}.${w}`] = [d, d];
    for (const b of ['bq', 'bk', 'bv', 'bo']) shapes[`${prefix}.${b}`] = [d];
  };
  const norm = (prefix: string): void => {
    shapes[`${prefix}.g`] = [d];
    shapes[`${prefix}.b`] = [d];
  };
  for (let i = 0; i < config.encoderLayers; i++) {
    norm(`enc.${i}.ln1`);
    attention(`enc.${i}.attn`);
    norm(`enc.${i}.ln2`);
    shapes[`enc.${i}.ffn.w1`] = [d, config.ffnDim];
    shapes[`enc.${i}.ffn.b1`] = [config.ffnDim];
    shapes[`enc.${i}.ffn.w2`] = [config.ffnDim, d];
    shapes[`enc.${i}.ffn.b2`] = [d];
  }
  norm('enc.ln_f');
  shapes['dec.pos'] = [decoderLength(config), d];
  const E = config.experts;
  const F = config.expertFfnDim;
  for (let i = 0; i < config.decoderLayers; i++) {
    norm(`dec.${i}.ln1`);
    attention(`dec.${i}.self`);
    norm(`dec.${i}.ln2`);
    attention(`dec.${i}.cross`);
    norm(`dec.${i}.ln3`);
    shapes[`dec.${i}.moe.router`] = [d, E];
    shapes[`dec.${i}.moe.w1`] = [E, d, F];
    shapes[`dec.${i}.moe.b1`] = [E, F];
    shapes[`dec.${i}.moe.w2`] = [E, F, d];
    shapes[`dec.${i}.moe.b2`] = [E, d];
  }
  norm('dec.ln_f');
  shapes.lm_head = [d, V];
  // Last, so that a seeded init draws every other parameter as it does without the table.
  if (hasItemEmbedding(config)) shapes['enc.item_emb'] = [config.itemCount! + 1, d];
  if (hasDenseHead(config)) { // the dense head's user projection, after the table for the same reason
    shapes['dense.user.w'] = [d, d];
    shapes['dense.user.b'] = [d];
  }
  return shapes;
}

/** Throws SeedWeightsError naming the first missing or mis-sized parameter. */
export function checkSeedWeights(weights: SeedWeights, config: SeedConfig): void {
  if (config.dModel % config.heads !== 0) {
    throw new SeedWeightsError(`dModel ${config.dModel} is not divisible by heads ${config.heads}; pick heads that divide dModel`);
  }
  if (config.expertsPerToken < 1 || config.expertsPerToken > config.experts) {
    throw new SeedWeightsError(`expertsPerToken is ${config.expertsPerToken} with ${config.experts} experts; use 1 ≤ expertsPerToken ≤ experts (the contract's default is 2)`);
  }
  for (const [name, shape] of Object.entries(seedParameterShapes(config))) {
    const w = weights[name];
    const size = shape.reduce((a, b) => a * b, 1);
    if (!w) throw new SeedWeightsError(`parameter '${name}' [${shape}] is missing`);
    if (w.length !== size) throw new SeedWeightsError(`parameter '${name}' has ${w.length} values, expected [${shape}] = ${size}; was the checkpoint written with another config?`);
  }
}

/**
 * Seeded random weights (for tests and for exporting before training): every matrix and bias
 * N(0, std²), LayerNorm gains 1 + N(0, std²) and biases N(0, std²) — biases and norms are perturbed on
 * purpose so that parity tests exercise them.
 */
export function initSeedWeights(config: SeedConfig, seed: number, std = 0.02): SeedWeights {
  const uniform = seededUniform(seed);
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  const weights: SeedWeights = {};
  for (const [name, shape] of Object.entries(seedParameterShapes(config))) {
    const w = new Float32Array(shape.reduce((a, b) => a * b, 1));
    const gain = /\.ln\w*\.g$|ln_f\.g$/.test(name);
    for (let i = 0; i < w.length; i++) w[i] = (gain ? 1 : 0) + std * normal();
    weights[name] = w;
  }
  return weights;
}

// ---- building blocks (x is row-major [n, width]) ----

/** y = x @ W + b.  x [n, inDim], W [inDim, outDim], b [outDim] or undefined → [n, outDim] */
export function linear(x: Float32Array, n: number, inDim: number, W: Float32Array, b: Float32Array | undefined, outDim: number): Float32Array {
  const y = new Float32Array(n * outDim);
  const row = new Float64Array(outDim);
  for (let r = 0; r < n; r++) {
    if (b) for (let o = 0; o < outDim; o++) row[o] = b[o];
    else row.fill(0);
    for (let i = 0; i < inDim; i++) {
      const xi = x[r * inDim + i];
      if (xi === 0) continue;
      const w = i * outDim;
      for (let o = 0; o < outDim; o++) row[o] += xi * W[w + o];
    }
    for (let o = 0; o < outDim; o++) y[r * outDim + o] = row[o];
  }
  return y;
}

/** LayerNorm over the last axis, eps 1e-5.  x [n, d] → [n, d] */
export function layerNorm(x: Float32Array, n: number, d: number, g: Float32Array, b: Float32Array): Float32Array {
  const y = new Float32Array(n * d);
  for (let r = 0; r < n; r++) {
    let mean = 0;
    for (let i = 0; i < d; i++) mean += x[r * d + i];
    mean /= d;
    let variance = 0;
    for (let i = 0; i < d; i++) variance += (x[r * d + i] - mean) ** 2;
    variance /= d;
    const inv = 1 / Math.sqrt(variance + LAYER_NORM_EPS);
    for (let i = 0; i < d; i++) y[r * d + i] = (x[r * d + i] - mean) * inv * g[i] + b[i];
  }
  return y;
}

/** GELU, tanh approximation, in place. */
export function gelu(x: Float32Array): Float32Array {
  const c = Math.sqrt(2 / Math.PI);
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    x[i] = 0.5 * v * (1 + Math.tanh(c * (v + 0.044715 * v * v * v)));
  }
  return x;
}

function addInPlace(x: Float32Array, y: Float32Array): void {
  for (let i = 0; i < x.length; i++) x[i] += y[i];
}

/** Softmax of a row, in float64. */
function softmax(row: Float64Array): Float64Array {
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let sum = 0;
  const out = new Float64Array(row.length);
  for (let i = 0; i < row.length; i++) sum += out[i] = Math.exp(row[i] - max);
  for (let i = 0; i < row.length; i++) out[i] /= sum;
  return out;
}

/**
 * Multi-head attention of projected queries over projected keys/values (heads are column blocks of
 * width d/heads). `bias(qi, kj)` is the additive score bias (0 or MASKED).
 * q [nq, d], k [nk, d], v [nk, d] → [nq, d]
 */
export function attend(q: Float32Array, nq: number, k: Float32Array, v: Float32Array, nk: number, d: number, heads: number, bias: (qi: number, kj: number) => number): Float32Array {
  const dh = d / heads;
  const scale = 1 / Math.sqrt(dh);
  const out = new Float32Array(nq * d);
  const scores = new Float64Array(nk);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < nq; i++) {
      for (let j = 0; j < nk; j++) {
        let s = 0;
        for (let c = 0; c < dh; c++) s += q[i * d + h * dh + c] * k[j * d + h * dh + c];
        scores[j] = s * scale + bias(i, j);
      }
      const p = softmax(scores);
      for (let c = 0; c < dh; c++) {
        let acc = 0;
        for (let j = 0; j < nk; j++) acc += p[j] * v[j * d + h * dh + c];
        out[i * d + h * dh + c] = acc;
      }
    }
  }
  return out;
}

/** Q/K/V projections then attention then the output projection of the layer `prefix` (e.g. 'enc.0.attn'). */
function attentionBlock(w: SeedWeights, prefix: string, xq: Float32Array, nq: number, xkv: Float32Array, nk: number, d: number, heads: number, bias: (qi: number, kj: number) => number): Float32Array {
  const q = linear(xq, nq, d, w[`${prefix}.wq`], w[`${prefix}.bq`], d); // [nq, d]
  const k = linear(xkv, nk, d, w[`${prefix}.wk`], w[`${prefix}.bk`], d); // [nk, d]
  const v = linear(xkv, nk, d, w[`${prefix}.wv`], w[`${prefix}.bv`], d); // [nk, d]
  const a = attend(q, nq, k, v, nk, d, heads, bias); // [nq, d]
  return linear(a, nq, d, w[`${prefix}.wo`], w[`${prefix}.bo`], d);
}

/** Top-k experts of one token's router probabilities, ties to the lower expert index. */
export function topExperts(p: ArrayLike<number>, k: number): number[] {
  const order = Array.from({ length: p.length }, (_, e) => e);
  order.sort((a, b) => p[b] - p[a] || a - b);
  return order.slice(0, k);
}

/** Mixture of experts of decoder layer `layer` on normalized inputs.  h [n, d] → [n, d] */
export function moe(w: SeedWeights, config: SeedConfig, layer: number, h: Float32Array, n: number): Float32Array {
  const { dModel: d, experts: E, expertFfnDim: F, expertsPerToken } = config;
  const prefix = `dec.${layer}.moe`;
  const routerLogits = linear(h, n, d, w[`${prefix}.router`], undefined, E); // [n, E]
  const out = new Float32Array(n * d);
  for (let r = 0; r < n; r++) {
    const p = softmax(Float64Array.from(routerLogits.subarray(r * E, (r + 1) * E))); // [E]
    const top = topExperts(p, expertsPerToken);
    const total = top.reduce((s, e) => s + p[e], 0);
    const hr = h.subarray(r * d, (r + 1) * d); // [1, d]
    for (const e of top) {
      const gate = p[e] / total;
      const hidden = gelu(linear(hr, 1, d, w[`${prefix}.w1`].subarray(e * d * F, (e + 1) * d * F), w[`${prefix}.b1`].subarray(e * F, (e + 1) * F), F)); // [1, F]
      const y = linear(hidden, 1, F, w[`${prefix}.w2`].subarray(e * F * d, (e + 1) * F * d), w[`${prefix}.b2`].subarray(e * d, (e + 1) * d), d); // [1, d]
      for (let i = 0; i < d; i++) out[r * d + i] += gate * y[i];
    }
  }
  return out;
}

// ---- encoder ----

export interface EncoderOutput {
  memory: Float32Array; // [S, d] encoder output after enc.ln_f, S = maxHistory * levels
  memoryBias: Float32Array; // [S] 0 for a visible key, MASKED for PAD
}

/**
 * Encoder forward over the static input of runtime/tokens.ts `encoderTokens`.  tokens [S]; historyItems [maxHistory]
 * (item + 1 of each history slot, 0 = none: batches.ts Batch.historyItems) only for a config with itemEmbedding, whose
 * input adds enc.item_emb[historyItems[slot]] to each of the slot's tokens.
 */
export function encode(w: SeedWeights, config: SeedConfig, tokens: Int32Array, historyItems?: Int32Array): EncoderOutput {
  const { dModel: d, levels, maxHistory, heads } = config;
  const S = maxHistory * levels;
  if (tokens.length !== S) throw new SeedWeightsError(`encoder input has ${tokens.length} tokens, expected maxHistory * levels = ${S}`);
  const itemTable = hasItemEmbedding(config) ? w['enc.item_emb'] : null;
  if (itemTable && historyItems?.length !== maxHistory) throw new SeedWeightsError(`a model with itemEmbedding needs the history's items: ${maxHistory} slots (Batch.historyItems), got ${historyItems?.length ?? 'none'}`);
  const x = new Float32Array(S * d); // [S, d]
  const memoryBias = new Float32Array(S);
  for (let s = 0; s < S; s++) {
    const slot = Math.floor(s / levels);
    const level = s % levels;
    const recency = maxHistory - 1 - slot;
    memoryBias[s] = tokens[s] === PAD ? MASKED : 0;
    for (let i = 0; i < d; i++) {
      x[s * d + i] = w.tok_emb[tokens[s] * d + i] + (itemTable ? itemTable[historyItems![slot] * d + i] : 0) + w['enc.item_pos'][recency * d + i] + w['enc.level_emb'][level * d + i];
    }
  }
  const keyBias = (_qi: number, kj: number): number => memoryBias[kj];
  for (let i = 0; i < config.encoderLayers; i++) {
    const p = `enc.${i}`;
    const h1 = layerNorm(x, S, d, w[`${p}.ln1.g`], w[`${p}.ln1.b`]);
    addInPlace(x, attentionBlock(w, `${p}.attn`, h1, S, h1, S, d, heads, keyBias));
    const h2 = layerNorm(x, S, d, w[`${p}.ln2.g`], w[`${p}.ln2.b`]);
    const hidden = gelu(linear(h2, S, d, w[`${p}.ffn.w1`], w[`${p}.ffn.b1`], config.ffnDim)); // [S, ffnDim]
    addInPlace(x, linear(hidden, S, config.ffnDim, w[`${p}.ffn.w2`], w[`${p}.ffn.b2`], d));
  }
  return { memory: layerNorm(x, S, d, w['enc.ln_f.g'], w['enc.ln_f.b']), memoryBias };
}

/** Cross-attention keys and values of every decoder layer, computed once per request.  each [S, d] */
export function crossKeysValues(w: SeedWeights, config: SeedConfig, memory: Float32Array): { k: Float32Array; v: Float32Array }[] {
  const d = config.dModel;
  const S = memory.length / d;
  return Array.from({ length: config.decoderLayers }, (_, i) => ({
    k: linear(memory, S, d, w[`dec.${i}.cross.wk`], w[`dec.${i}.cross.bk`], d),
    v: linear(memory, S, d, w[`dec.${i}.cross.wv`], w[`dec.${i}.cross.bv`], d),
  }));
}

// ---- decoder ----

/**
 * Full (teacher-forced) decoder forward: logits at every position.  tokens [T] (T ≤ sessionLength *
 * (levels + 1)), memory [S, d], memoryBias [S] → [T, vocab]; row p predicts token p + 1.
 */
export function decodeFull(w: SeedWeights, config: SeedConfig, encoder: EncoderOutput, tokens: Int32Array): Float32Array {
  return linear(decoderHidden(w, config, encoder, tokens), tokens.length, config.dModel, w.lm_head, undefined, seedVocabSize(config));
}

/** The decoder's final-LayerNorm states (what lm_head reads).  tokens [T] → [T, d] */
export function decoderHidden(w: SeedWeights, config: SeedConfig, encoder: EncoderOutput, tokens: Int32Array): Float32Array {
  const { dModel: d, heads } = config;
  const T = tokens.length;
  const S = encoder.memoryBias.length;
  if (T > decoderLength(config)) throw new SeedWeightsError(`decoder input has ${T} tokens, at most ${decoderLength(config)} positions exist`);
  const x = new Float32Array(T * d); // [T, d]
  for (let p = 0; p < T; p++) {
    for (let i = 0; i < d; i++) x[p * d + i] = w.tok_emb[tokens[p] * d + i] + w['dec.pos'][p * d + i];
  }
  const causal = (qi: number, kj: number): number => (kj <= qi ? 0 : MASKED);
  const memoryKeys = (_qi: number, kj: number): number => encoder.memoryBias[kj];
  for (let i = 0; i < config.decoderLayers; i++) {
    const p = `dec.${i}`;
    const h1 = layerNorm(x, T, d, w[`${p}.ln1.g`], w[`${p}.ln1.b`]);
    addInPlace(x, attentionBlock(w, `${p}.self`, h1, T, h1, T, d, heads, causal));
    const h2 = layerNorm(x, T, d, w[`${p}.ln2.g`], w[`${p}.ln2.b`]);
    addInPlace(x, attentionBlock(w, `${p}.cross`, h2, T, encoder.memory, S, d, heads, memoryKeys));
    const h3 = layerNorm(x, T, d, w[`${p}.ln3.g`], w[`${p}.ln3.b`]);
    addInPlace(x, moe(w, config, i, h3, T));
  }
  return layerNorm(x, T, d, w['dec.ln_f.g'], w['dec.ln_f.b']);
}

// ---- dense retrieval head (config.denseHead) ----

/**
 * The dense head's item vectors, no per-item parameter: e_i = Σ_l tok_emb[token of code_l(i)], summed in level
 * order in float32 (as the engine's adds).  codes [items, levels] → [items, d]
 */
export function denseItemVectors(w: SeedWeights, config: SeedConfig, codes: Uint16Array): Float32Array {
  const { dModel: d, levels, codebookSize } = config;
  const items = codes.length / levels;
  const out = new Float32Array(items * d);
  for (let i = 0; i < items; i++) {
    for (let l = 0; l < levels; l++) {
      const row = tokenId(l, codes[i * levels + l], codebookSize) * d;
      for (let j = 0; j < d; j++) out[i * d + j] += w.tok_emb[row + j];
    }
  }
  return out;
}

/** The dense head's user vector: dense.user applied to the decoder's final state at BOS (the state that predicts c1).  → [d] */
export function denseUserVector(w: SeedWeights, config: SeedConfig, encoder: EncoderOutput): Float32Array {
  const d = config.dModel;
  return linear(decoderHidden(w, config, encoder, Int32Array.of(BOS)), 1, d, w['dense.user.w'], w['dense.user.b'], d);
}

/** log softmax over the catalog of u · e_i (temperature 1), float64.  user [d], items [items, d] → [items] */
export function denseLogProbs(user: Float32Array, items: Float32Array): Float64Array {
  const d = user.length;
  const n = items.length / d;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += user[j] * items[i * d + j];
    out[i] = s;
  }
  const lse = logSumExpRow(out, 0, n);
  for (let i = 0; i < n; i++) out[i] -= lse;
  return out;
}

/**
 * One request's incremental decoder over the reference forward, with a self-attention KV cache per beam
 * row. Implements the contract's `DecoderSession` (runtime/beam-search.ts): `step(tokens, parents)`
 * appends tokens[b] to the row parents[b] of the previous call and returns next-token logits.
 */
export class ReferenceDecoderSession implements DecoderSession {
  readonly vocab: number;
  readonly encoder: EncoderOutput;
  private readonly cross: { k: Float32Array; v: Float32Array }[];
  /** cache[layer][row] = the keys / values of that row's tokens so far, one [d] vector per position */
  private keys: Float32Array[][][] = [];
  private values: Float32Array[][][] = [];
  private position = 0;

  constructor(private readonly weights: SeedWeights, private readonly config: SeedConfig, historyTokens: Int32Array) {
    checkSeedWeights(weights, config);
    this.vocab = seedVocabSize(config);
    this.encoder = encode(weights, config, historyTokens);
    this.cross = crossKeysValues(weights, config, this.encoder.memory);
    for (let i = 0; i < config.decoderLayers; i++) {
      this.keys.push([[]]);
      this.values.push([[]]);
    }
  }

  /** tokens [rows], parents [rows] → logits [rows, vocab] */
  async step(tokens: Int32Array, parents: Int32Array): Promise<Float32Array> {
    const { weights: w, config } = this;
    const { dModel: d, heads } = config;
    const rows = tokens.length;
    const p = this.position;
    if (p >= decoderLength(config)) throw new SeedWeightsError(`step ${p + 1} is past the last decoder position ${decoderLength(config)}`);
    const previousRows = this.keys[0]?.length ?? 1;
    for (const parent of parents) {
      if (parent < 0 || parent >= previousRows) throw new SeedWeightsError(`beam parent ${parent} is not a row of the previous step (0..${previousRows - 1})`);
    }
    const x = new Float32Array(rows * d); // [rows, d]
    for (let b = 0; b < rows; b++) {
      for (let i = 0; i < d; i++) x[b * d + i] = w.tok_emb[tokens[b] * d + i] + w['dec.pos'][p * d + i];
    }
    const S = this.encoder.memoryBias.length;
    const memoryKeys = (_qi: number, kj: number): number => this.encoder.memoryBias[kj];
    for (let i = 0; i < config.decoderLayers; i++) {
      const pre = `dec.${i}`;
      const h1 = layerNorm(x, rows, d, w[`${pre}.ln1.g`], w[`${pre}.ln1.b`]);
      const q = linear(h1, rows, d, w[`${pre}.self.wq`], w[`${pre}.self.bq`], d); // [rows, d]
      const k = linear(h1, rows, d, w[`${pre}.self.wk`], w[`${pre}.self.bk`], d); // [rows, d]
      const v = linear(h1, rows, d, w[`${pre}.self.wv`], w[`${pre}.self.bv`], d); // [rows, d]
      // Gather the cache by beam parent, then append this position: row b sees its own history only.
      const keys = Array.from({ length: rows }, (_, b) => [...this.keys[i][parents[b]], k.slice(b * d, (b + 1) * d)]);
      const values = Array.from({ length: rows }, (_, b) => [...this.values[i][parents[b]], v.slice(b * d, (b + 1) * d)]);
      this.keys[i] = keys;
      this.values[i] = values;
      const a = new Float32Array(rows * d); // [rows, d]
      for (let b = 0; b < rows; b++) {
        const kb = concatRows(keys[b], d); // [p + 1, d]
        const vb = concatRows(values[b], d);
        a.set(attend(q.subarray(b * d, (b + 1) * d), 1, kb, vb, p + 1, d, heads, () => 0), b * d);
      }
      addInPlace(x, linear(a, rows, d, w[`${pre}.self.wo`], w[`${pre}.self.bo`], d));
      const h2 = layerNorm(x, rows, d, w[`${pre}.ln2.g`], w[`${pre}.ln2.b`]);
      const qc = linear(h2, rows, d, w[`${pre}.cross.wq`], w[`${pre}.cross.bq`], d); // [rows, d]
      const ac = attend(qc, rows, this.cross[i].k, this.cross[i].v, S, d, heads, memoryKeys);
      addInPlace(x, linear(ac, rows, d, w[`${pre}.cross.wo`], w[`${pre}.cross.bo`], d));
      const h3 = layerNorm(x, rows, d, w[`${pre}.ln3.g`], w[`${pre}.ln3.b`]);
      addInPlace(x, moe(w, config, i, h3, rows));
    }
    this.position++;
    const final = layerNorm(x, rows, d, w['dec.ln_f.g'], w['dec.ln_f.b']);
    return linear(final, rows, d, w.lm_head, undefined, this.vocab);
  }

  dispose(): void {
    this.keys = [];
    this.values = [];
  }
}

function concatRows(rows: Float32Array[], d: number): Float32Array {
  const out = new Float32Array(rows.length * d);
  rows.forEach((r, i) => out.set(r, i * d));
  return out;
}

/** The decoder's input for teacher forcing: `[BOS c1 … c_levels]` per item.  items → [items * (levels + 1)] */
export function decoderTokens(sessionItems: ArrayLike<number>, itemCodes: Uint16Array, levels: number, codebookSize: number): Int32Array {
  const out = new Int32Array(sessionItems.length * (levels + 1));
  for (let n = 0; n < sessionItems.length; n++) {
    out[n * (levels + 1)] = BOS;
    for (let l = 0; l < levels; l++) out[n * (levels + 1) + 1 + l] = tokenId(l, itemCodes[sessionItems[n] * levels + l], codebookSize);
  }
  return out;
}
