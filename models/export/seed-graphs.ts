// The seed model as two ONNX graphs (docs/architecture.md, "ONNX graphs"), built op by op from the same
// parameter names as models/seed/reference.ts, which they must match (tests/models/export/parity.test.ts).
//
//   encoder.onnx       history_tokens [1, S] → cross_k, cross_v [decoderLayers, 1, heads, S, dh], memory_bias [1, S]
//   decoder_step.onnx  token [B, T] (T = 1, or an item's last code + the next BOS), position [1], beam_parent [B],
//                      past_k/past_v [decoderLayers, Bprev, heads, P, dh], cross_k, cross_v, memory_bias
//                      → for each row's last token: logits [B, vocab], code_scores [B, K + 2] (the next level's K
//                      code logits, then max and Σ exp(logit − max) over the vocabulary);
//                      present_k/present_v [decoderLayers, B, heads, P+T, dh]
//
// Standard opset-17 ops plus com.microsoft FastGelu and SkipLayerNormalization (fewer ops per decoder call;
// onnxruntime-node's CPU EP and onnxruntime-web's wasm and WebGPU builds all have them), and MatMulNBits
// (the quantized head) when quantized. Quantized body weights are stored 4/8-bit and expanded by constant
// ops that ONNX Runtime folds at session creation (`SeedOps.weight`). The MoE is exported without MoE kernels: all experts' first layers run as one
// [d, E·F] MatMul and the second layers as one [E·F, d] MatMul on hidden units scaled by gates that are
// zero for unselected experts — the same sum over the same top-k experts.
//
// Ensembles (`buildEnsembleEncoderGraph` / `buildEnsembleDecoderStepGraph`): n independently trained members
// that share the token space, history window, session length, width and heads run side by side in the same
// two graphs under the same contract. The encoder stacks the members' cross keys/values along the layer axis
// (member 0's decoder layers first), the decoder step stacks their caches the same way, and `logits` is the mean
// of the members' logits — softmax(mean logits) ∝ Π p_j^(1/n), the product of the members' next-token
// distributions, renormalised. The runtime sees one model with Σ decoderLayers cache layers.
import { PAD, SPECIAL_TOKENS } from '../../runtime/tokens.ts';
import { ENSEMBLE_SHARED, memberPrefix } from '../../runtime/model-weights.ts';
import { checkSeedWeights, decoderLength, seedVocabSize, type SeedConfig, type SeedWeights } from '../seed/reference.ts';
import { GraphBuilder, MS_DOMAIN, TensorType, float } from './onnx-proto.ts';
import { dequantizeBlockwise, dequantizeRows, quantizeBlockwise, quantizeRows, type Quantization } from './quantize.ts';
import { sideBySide } from '../../runtime/dequantize.ts';

/** Block size of MatMulNBits: a power of two ≥ 16; 32 is the default of onnxruntime's own quantizer. */
export const QUANT_BLOCK_SIZE = 32;

/** Bits of the linear layers per quantization; the output head keeps 8 bits in int4 (it scores every token). */
function linearBits(quantization: Quantization, role: 'body' | 'head'): 0 | 4 | 8 {
  if (quantization === 'fp32') return 0;
  if (quantization === 'int8') return 8;
  return role === 'head' ? 8 : 4;
}

/** Shared helpers over one GraphBuilder: the model's building blocks as ONNX subgraphs. */
class SeedOps {
  /** The weights as the graph computes with them (dequantized), by parameter name, for those quantized. */
  readonly effective: SeedWeights = {};

  /**
   * `member` prefixes this member's initializer names ('' for member 0, `m1.` … for the others of an ensemble),
   * so that every weight keeps a name a reader can find (runtime/webgpu-decoder.ts reads them by name).
   */
  constructor(readonly g: GraphBuilder, readonly w: SeedWeights, readonly config: SeedConfig, readonly quantization: Quantization, readonly member = '') {}

  /** A weight of this member, stored under its member-prefixed name. */
  init(name: string, data: Parameters<GraphBuilder['initializer']>[1], dims: number[]): string {
    return this.g.initializer(this.member + name, data, dims);
  }

  /**
   * x [..., K] @ W [K, N] (+ b) → [..., N]. Quantized body weights are expanded once at session creation
   * (`weight`); the quantized head runs MatMulNBits at every step (see `weight` for the cost).
   */
  linear(x: string, name: string, K: number, N: number, bias?: string, role: 'body' | 'head' = 'body'): string {
    const { g, w } = this;
    const bits = linearBits(this.quantization, role);
    let y: string;
    if (role === 'head' && bits !== 0) {
      y = this.matMulNBits(x, name, w[name], K, N, bits);
      this.effective[name] = this.lastDequantized;
    } else {
      y = g.op('MatMul', [x, this.weight(name, w[name], K, N, bits)]);
    }
    return bias ? g.op('Add', [y, this.init(bias, w[bias], [N])]) : y;
  }

  /**
   * The weight W [K, N] the graph computes with: an fp32 initializer, or the MatMulNBits initializers
   * (same layout and values) dequantized by plain opset-17 ops — (q − zero) · scale per block of K, i.e.
   * `dequantizeBlockwise` exactly. Every input of that subgraph is constant, so ONNX Runtime folds it
   * into an fp32 initializer when the session is created: the file keeps 4/8-bit weights, each decoder
   * step runs an fp32 MatMul. MatMulNBits itself dequantizes all its weights on every call on wasm (no
   * 4-bit GEMM kernel there): the int4 Beauty bundle ran 3.7× slower in Chromium than natively
   * (bench/README.md, "recommend() latency"). The head keeps MatMulNBits, which the graph contract names.
   */
  weight(name: string, W: Float32Array, K: number, N: number, bits: 0 | 4 | 8): string {
    const { g } = this;
    if (bits === 0) return this.init(name, W, [K, N]);
    const q = quantizeBlockwise(W, K, N, bits, QUANT_BLOCK_SIZE);
    this.effective[name] = this.lastDequantized = dequantizeBlockwise(q);
    const kBlocks = Math.ceil(K / QUANT_BLOCK_SIZE);
    const blob = (QUANT_BLOCK_SIZE * bits) / 8;
    const asFloat = (t: string): string => g.op('Cast', [t], { to: TensorType.FLOAT });
    // Nibbles low first: [rows, n] bytes → [rows, 2n] values.
    const unpackNibbles = (bytes: string): string => {
      const high = g.op('Floor', [g.op('Div', [bytes, g.scalar(16)])]);
      const low = g.op('Sub', [bytes, g.op('Mul', [high, g.scalar(16)])]);
      const pairs = g.op('Concat', [g.op('Unsqueeze', [low, g.int64([-1])]), g.op('Unsqueeze', [high, g.int64([-1])])], { axis: -1 });
      return g.op('Flatten', [pairs], { axis: 1 }); // 2-D in, 2-D out
    };
    let values = asFloat(this.init(`${name}.q${bits}`, q.packed, [N, kBlocks, blob])); // [N, kBlocks, blob]
    let zeros = asFloat(this.init(`${name}.zero_points`, q.zeroPoints, [N, q.zeroPoints.length / N])); // [N, bytes per column]
    if (bits === 4) {
      values = g.op('Reshape', [unpackNibbles(g.op('Reshape', [values, g.int64([N * kBlocks, blob])])), g.int64([N, kBlocks, QUANT_BLOCK_SIZE])]);
      zeros = g.op('Slice', [unpackNibbles(zeros), g.int64([0]), g.int64([kBlocks]), g.int64([1])]); // [N, kBlocks]
    }
    const scales = this.init(`${name}.scales`, q.scales, [N, kBlocks, 1]);
    const dequantized = g.op('Mul', [g.op('Sub', [values, g.op('Unsqueeze', [zeros, g.int64([-1])])]), scales]); // [N, kBlocks, block]
    let columns = g.op('Reshape', [dequantized, g.int64([N, kBlocks * QUANT_BLOCK_SIZE])]); // [N, K padded to blocks]
    if (kBlocks * QUANT_BLOCK_SIZE !== K) columns = g.op('Slice', [columns, g.int64([0]), g.int64([K]), g.int64([1])]);
    return g.op('Transpose', [columns], { perm: [1, 0] }); // [K, N]
  }

  private lastDequantized: Float32Array = new Float32Array(0);

  matMulNBits(x: string, name: string, W: Float32Array, K: number, N: number, bits: 4 | 8): string {
    const { g } = this;
    const q = quantizeBlockwise(W, K, N, bits, QUANT_BLOCK_SIZE);
    this.lastDequantized = dequantizeBlockwise(q);
    const kBlocks = Math.ceil(K / QUANT_BLOCK_SIZE);
    return g.op(
      'MatMulNBits',
      [
        x,
        this.init(`${name}.q${bits}`, q.packed, [N, kBlocks, (QUANT_BLOCK_SIZE * bits) / 8]),
        this.init(`${name}.scales`, q.scales, [N * kBlocks]),
        this.init(`${name}.zero_points`, q.zeroPoints, [q.zeroPoints.length]),
      ],
      { K, N, bits, block_size: QUANT_BLOCK_SIZE, domain: MS_DOMAIN },
    );
  }

  /** Rows of an embedding table: fp32 Gather, or 8-bit rows dequantized after the Gather. indices [...] → [..., d] */
  embedding(name: string, indices: string, rows: number): string {
    const { g, w } = this;
    const d = this.config.dModel;
    if (this.quantization === 'fp32') return g.op('Gather', [this.init(name, w[name], [rows, d]), indices]);
    const t = quantizeRows(w[name], rows, d);
    this.effective[name] = dequantizeRows(t);
    const q = g.op('Cast', [g.op('Gather', [this.init(`${name}.q8`, t.q, [rows, d]), indices])], { to: TensorType.FLOAT });
    const zero = g.op('Unsqueeze', [g.op('Gather', [this.init(`${name}.zero`, t.zero, [rows]), indices]), g.int64([-1])]);
    const scale = g.op('Unsqueeze', [g.op('Gather', [this.init(`${name}.scale`, t.scale, [rows]), indices]), g.int64([-1])]);
    return g.op('Mul', [g.op('Sub', [q, zero]), scale]);
  }

  layerNorm(x: string, prefix: string): string {
    const { g, w } = this;
    const d = this.config.dModel;
    return g.op('LayerNormalization', [x, this.init(`${prefix}.g`, w[`${prefix}.g`], [d]), this.init(`${prefix}.b`, w[`${prefix}.b`], [d])], {
      axis: -1,
      epsilon: float(1e-5),
    });
  }

  /**
   * [LN(x + skip + bias), x + skip + bias]: the residual add, the sublayer's output bias and the next
   * LayerNorm as one com.microsoft SkipLayerNormalization (all three EPs have it) instead of three nodes.
   * x, skip [B, T, d].
   */
  skipLayerNorm(x: string, skip: string, prefix: string, bias?: string): [normed: string, sum: string] {
    const { g, w } = this;
    const d = this.config.dModel;
    const inputs = [x, skip, this.init(`${prefix}.g`, w[`${prefix}.g`], [d]), this.init(`${prefix}.b`, w[`${prefix}.b`], [d])];
    if (bias) inputs.push(this.init(bias, w[bias], [d]));
    const [normed, , , sum] = g.opMulti('SkipLayerNormalization', inputs, 4, { domain: MS_DOMAIN, epsilon: float(1e-5) });
    return [normed, sum];
  }

  /**
   * Several linear layers on the same input as one MatMul (+ one bias Add): x [..., K] → [..., Σ Ns], the
   * layers' outputs side by side in the order given. Quantized, each column is quantized as it would be
   * alone (blocks run along K), so the effective weights are the separate layers' own.
   */
  fusedLinear(x: string, names: string[], biases: string[], K: number, N: number): string {
    const { g, w } = this;
    const total = names.length * N;
    const W = sideBySide(names.map((name) => w[name]), K, N); // [K, names * N]
    const bits = linearBits(this.quantization, 'body');
    const y = g.op('MatMul', [x, this.weight(names.join('+'), W, K, total, bits)]);
    if (bits !== 0) {
      splitSideBySide(this.lastDequantized, K, N, names.length).forEach((part, j) => { this.effective[names[j]] = part; });
      delete this.effective[names.join('+')];
    }
    const b = new Float32Array(total);
    for (const [j, name] of biases.entries()) b.set(w[name], j * N);
    return g.op('Add', [y, this.init(biases.join('+'), b, [total])]);
  }

  /**
   * gelu(x + b) with GELU's tanh form 0.5 u (1 + tanh(√(2/π)(u + 0.044715 u³))): one com.microsoft
   * FastGelu node (that formula, bias included). onnxruntime-node's CPU EP and onnxruntime-web's wasm and
   * WebGPU builds all have it; written with opset-17 ops it took ten elementwise passes over [B, E·F],
   * which onnxruntime-web's wasm kernels run several times slower than native.
   */
  biasGelu(x: string, bias: string, size: number): string {
    const { g, w } = this;
    return g.op('FastGelu', [x, this.init(bias, w[bias], [size])], { domain: MS_DOMAIN });
  }

  /** [N, T, d] → [N, heads, T, dh] */
  splitHeads(x: string): string {
    const { heads, dModel } = this.config;
    const g = this.g;
    return g.op('Transpose', [g.op('Reshape', [x, g.int64([0, 0, heads, dModel / heads])])], { perm: [0, 2, 1, 3] });
  }

  /** [N, heads, T, dh] → [N, T, d] */
  mergeHeads(x: string): string {
    const g = this.g;
    return g.op('Reshape', [g.op('Transpose', [x], { perm: [0, 2, 1, 3] }), g.int64([0, 0, this.config.dModel])]);
  }

  /** softmax(q kᵀ / √dh + bias) v.  q [N, h, Tq, dh], k/v [N|1, h, Tk, dh], bias broadcastable to [N, h, Tq, Tk] */
  attend(q: string, k: string, v: string, bias?: string): string {
    const g = this.g;
    const dh = this.config.dModel / this.config.heads;
    let scores = g.op('Mul', [g.op('MatMul', [q, g.op('Transpose', [k], { perm: [0, 1, 3, 2] })]), g.scalar(1 / Math.sqrt(dh))]);
    if (bias) scores = g.op('Add', [scores, bias]);
    return g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), v]);
  }

  /** Top-k MoE of decoder layer i.  h [N, d] → [N, d] */
  moe(h: string, layer: number): string {
    const { g, w, config } = this;
    const { dModel: d, experts: E, expertFfnDim: F, expertsPerToken: k } = config;
    const p = `dec.${layer}.moe`;
    const probs = g.op('Softmax', [g.op('MatMul', [h, this.init(`${p}.router`, w[`${p}.router`], [d, E])])], { axis: -1 }); // [N, E]
    const [topValues] = g.opMulti('TopK', [probs, g.int64([k])], 2, { axis: -1, largest: 1, sorted: 1 }); // [N, k] values (indices unused)
    // Dense over experts with the gates in [N, E] (the top-k probabilities renormalised, zero elsewhere): every expert's
    // first layer as one [d, E·F] MatMul and the second as one [E·F, d] MatMul on hidden units scaled by
    // the gates. Gathering the top-k experts' weights per token ([N, k, d, F]) moved more memory per step
    // than the E/k extra multiply-adds cost.
    // The selected experts are those at or above the k-th largest probability (float ops only: a scatter of
    // TopK's int64 indices cost ~0.3 ms of host time per call under the WebGPU EP). An exact tie at the k-th
    // value selects both, where TopK would take the lower index; float router probabilities practically never tie.
    const kth = g.op('Slice', [topValues, g.int64([k - 1]), g.int64([k]), g.int64([1])]); // [N, 1]
    const selected = g.op('Mul', [probs, g.op('Cast', [g.op('GreaterOrEqual', [probs, kth])], { to: TensorType.FLOAT })]); // [N, E]
    const dense = g.op('Div', [selected, g.op('ReduceSum', [selected, g.int64([-1])], { keepdims: 1 })]); // [N, E]
    const experts = (t: Float32Array, size: number): Float32Array[] => Array.from({ length: E }, (_, e) => t.subarray(e * size, (e + 1) * size));
    const w1All = sideBySide(experts(w[`${p}.w1`], d * F), d, F); // [d, E*F]: expert e's W1 in columns e*F..
    const w2All = w[`${p}.w2`]; // [E, F, d] = [E*F, d]: expert e's W2 in rows e*F..
    const bits = linearBits(this.quantization, 'body');
    const hidden1 = g.op('MatMul', [h, this.weight(`${p}.w1`, w1All, d, E * F, bits)]); // [N, E*F], bias added by biasGelu
    if (bits !== 0) {
      const w1Effective = new Float32Array(E * d * F); // back to [E, d, F]
      splitSideBySide(this.lastDequantized, d, F, E).forEach((part, e) => w1Effective.set(part, e * d * F));
      this.effective[`${p}.w1`] = w1Effective;
    }
    const hidden = g.op('Reshape', [this.biasGelu(hidden1, `${p}.b1`, E * F), g.int64([0, E, F])]); // [N, E, F]
    const gated = g.op('Reshape', [g.op('Mul', [hidden, g.op('Unsqueeze', [dense, g.int64([2])])]), g.int64([0, E * F])]); // [N, E*F]
    const y = g.op('MatMul', [gated, this.weight(`${p}.w2`, w2All, E * F, d, bits)]); // [N, d]
    return g.op('Add', [y, g.op('MatMul', [dense, this.init(`${p}.b2`, w[`${p}.b2`], [E, d])])]);
  }
}

/** The inverse of sideBySide: [K, n·N] → n matrices [K, N]. */
function splitSideBySide(W: Float32Array, K: number, N: number, n: number): Float32Array[] {
  const total = n * N;
  return Array.from({ length: n }, (_, j) => {
    const part = new Float32Array(K * N);
    for (let r = 0; r < K; r++) part.set(W.subarray(r * total + j * N, r * total + (j + 1) * N), r * N);
    return part;
  });
}

export interface BuiltGraph {
  bytes: Uint8Array; // the .onnx file
  weightBytes: number; // bytes of initializer data in it
  effective: SeedWeights; // dequantized values of the parameters it quantized (empty in fp32); member 0's in an ensemble
  memberEffective?: SeedWeights[]; // [members] the same per member (seed graphs)
}

/** One member of an exported model: its weights and config (an ensemble has several, a plain bundle one). */
export interface SeedMember {
  weights: SeedWeights;
  config: SeedConfig;
}

export class EnsembleConfigError extends Error {
  override name = 'EnsembleConfigError';
}

/**
 * The config the graph contract (and the bundle manifest's `model`) describes: member 0's, with decoderLayers
 * = the stacked cache layers of all members. Throws EnsembleConfigError when the members cannot share one
 * token space, history window, session, width and head layout.
 */
export function ensembleContractConfig(members: SeedConfig[]): SeedConfig {
  if (members.length === 0) throw new EnsembleConfigError('an exported model needs at least one member');
  const first = members[0];
  for (const [j, c] of members.entries()) {
    const differ = ENSEMBLE_SHARED.filter((key) => c[key] !== first[key]);
    if (differ.length > 0) {
      throw new EnsembleConfigError(`ensemble member ${j} differs from member 0 in ${differ.map((key) => `${key} (${c[key]} vs ${first[key]})`).join(', ')}; members must share ${ENSEMBLE_SHARED.join(', ')} (their layers, FFN and experts may differ)`);
    }
  }
  return { ...first, decoderLayers: members.reduce((sum, c) => sum + c.decoderLayers, 0) };
}

/** encoder.onnx: history_tokens [1, S] → cross_k, cross_v [decoderLayers, 1, heads, S, dh], memory_bias [1, S] */
export function buildEncoderGraph(w: SeedWeights, config: SeedConfig, quantization: Quantization): BuiltGraph {
  return buildEnsembleEncoderGraph([{ weights: w, config }], quantization);
}

/** encoder.onnx of one or more members: each member's cross keys/values, stacked along the layer axis in member order. */
export function buildEnsembleEncoderGraph(members: SeedMember[], quantization: Quantization): BuiltGraph {
  for (const m of members) checkSeedWeights(m.weights, m.config);
  const contract = ensembleContractConfig(members.map((m) => m.config));
  const { dModel: d, levels, maxHistory, decoderLayers, heads } = contract;
  const S = maxHistory * levels;
  const dh = d / heads;
  const g = new GraphBuilder('onerec_seed_encoder');
  const tokens = g.input('history_tokens', TensorType.INT64, [1, S]);
  const memoryBias = g.op('Where', [g.op('Equal', [tokens, g.int64([PAD], [])]), g.scalar(-1e9), g.scalar(0)]); // [1, S]
  const keyBias = g.op('Reshape', [memoryBias, g.int64([1, 1, 1, S])]);
  // Static positions: token s belongs to item slot ⌊s/levels⌋ (recency maxHistory-1-slot) at level s mod levels.
  const recency = g.int64(Array.from({ length: S }, (_, s) => maxHistory - 1 - Math.floor(s / levels)));
  const level = g.int64(Array.from({ length: S }, (_, s) => s % levels));
  const crossK: string[] = [];
  const crossV: string[] = [];
  const effective: SeedWeights[] = [];
  for (const [j, { weights: w, config }] of members.entries()) {
    const ops = new SeedOps(g, w, config, quantization, memberPrefix(j));
    const position = g.op('Add', [
      g.op('Gather', [ops.init('enc.item_pos', w['enc.item_pos'], [maxHistory, d]), recency]),
      g.op('Gather', [ops.init('enc.level_emb', w['enc.level_emb'], [levels, d]), level]),
    ]); // [S, d]
    let x = g.op('Add', [ops.embedding('tok_emb', tokens, seedVocabSize(config)), position]); // [1, S, d]
    for (let i = 0; i < config.encoderLayers; i++) {
      const p = `enc.${i}`;
      const h1 = ops.layerNorm(x, `${p}.ln1`);
      const q = ops.splitHeads(ops.linear(h1, `${p}.attn.wq`, d, d, `${p}.attn.bq`));
      const k = ops.splitHeads(ops.linear(h1, `${p}.attn.wk`, d, d, `${p}.attn.bk`));
      const v = ops.splitHeads(ops.linear(h1, `${p}.attn.wv`, d, d, `${p}.attn.bv`));
      x = g.op('Add', [x, ops.linear(ops.mergeHeads(ops.attend(q, k, v, keyBias)), `${p}.attn.wo`, d, d, `${p}.attn.bo`)]);
      const h2 = ops.layerNorm(x, `${p}.ln2`);
      const hidden = ops.biasGelu(ops.linear(h2, `${p}.ffn.w1`, d, config.ffnDim), `${p}.ffn.b1`, config.ffnDim);
      x = g.op('Add', [x, ops.linear(hidden, `${p}.ffn.w2`, config.ffnDim, d, `${p}.ffn.b2`)]);
    }
    const memory = ops.layerNorm(x, 'enc.ln_f'); // [1, S, d]
    for (let i = 0; i < config.decoderLayers; i++) {
      const p = `dec.${i}.cross`;
      crossK.push(g.op('Unsqueeze', [ops.splitHeads(ops.linear(memory, `${p}.wk`, d, d, `${p}.bk`)), g.int64([0])]));
      crossV.push(g.op('Unsqueeze', [ops.splitHeads(ops.linear(memory, `${p}.wv`, d, d, `${p}.bv`)), g.int64([0])]));
    }
    effective.push(ops.effective);
  }
  const crossShape = [decoderLayers, 1, heads, S, dh];
  g.output(decoderLayers > 1 ? g.op('Concat', crossK, { axis: 0 }) : crossK[0], 'cross_k', TensorType.FLOAT, crossShape);
  g.output(decoderLayers > 1 ? g.op('Concat', crossV, { axis: 0 }) : crossV[0], 'cross_v', TensorType.FLOAT, crossShape);
  g.output(memoryBias, 'memory_bias', TensorType.FLOAT, [1, S]);
  const doc = members.length > 1 ? `onerec seed encoder, an ensemble of ${members.length}: history tokens → cross-attention keys/values` : 'onerec seed encoder: history tokens → cross-attention keys/values';
  return { bytes: g.toModel({ quantization }, doc), weightBytes: g.initializerBytes, effective: effective[0], memberEffective: effective };
}

/** decoder_step.onnx: one token per beam, the self-attention cache gathered by beam_parent then extended. */
export function buildDecoderStepGraph(w: SeedWeights, config: SeedConfig, quantization: Quantization): BuiltGraph {
  return buildEnsembleDecoderStepGraph([{ weights: w, config }], quantization);
}

/** decoder_step.onnx of one or more members: their caches stacked along the layer axis, `logits` their mean. */
export function buildEnsembleDecoderStepGraph(members: SeedMember[], quantization: Quantization): BuiltGraph {
  for (const m of members) checkSeedWeights(m.weights, m.config);
  const contract = ensembleContractConfig(members.map((m) => m.config));
  const { dModel: d, levels, maxHistory, decoderLayers: L, heads } = contract;
  const S = maxHistory * levels;
  const dh = d / heads;
  const V = seedVocabSize(contract);
  const g = new GraphBuilder('onerec_seed_decoder_step');
  const token = g.input('token', TensorType.INT64, ['B', 'T']);
  const position = g.input('position', TensorType.INT64, [1]);
  const beamParent = g.input('beam_parent', TensorType.INT64, ['B']);
  const pastK = g.input('past_k', TensorType.FLOAT, [L, 'Bprev', heads, 'P', dh]);
  const pastV = g.input('past_v', TensorType.FLOAT, [L, 'Bprev', heads, 'P', dh]);
  const crossK = g.input('cross_k', TensorType.FLOAT, [L, 1, heads, S, dh]);
  const crossV = g.input('cross_v', TensorType.FLOAT, [L, 1, heads, S, dh]);
  const memoryBias = g.input('memory_bias', TensorType.FLOAT, [1, S]);
  // T tokens per row (1, or an item's last code and the next BOS) at positions position … position + T − 1.
  const T = g.op('Gather', [g.op('Shape', [token]), g.int64([1])]); // [1]
  const gatheredK = g.op('Gather', [pastK, beamParent], { axis: 1 }); // [L, B, heads, P, dh]
  const gatheredV = g.op('Gather', [pastV, beamParent], { axis: 1 });
  // Causal mask over [P cached + T new] keys for the T queries: query t sees keys ≤ P + t. A constant
  // M[i][j] = j > i ? −1e9 : 0 of the decoder's full length Tmax, sliced at rows Tmax − T …, columns
  // Tmax − T − P …: entry (t, c) is masked iff c − P > t.
  const Tmax = decoderLength(contract);
  const mask = new Float32Array(Tmax * Tmax);
  for (let i = 0; i < Tmax; i++) for (let j = i + 1; j < Tmax; j++) mask[i * Tmax + j] = -1e9;
  const P = g.op('Gather', [g.op('Shape', [pastK]), g.int64([3])]); // [1]
  const firstRow = g.op('Sub', [g.int64([Tmax]), T]); // [1]
  const causalBias = g.op('Slice', [g.initializer('dec.causal', mask, [Tmax, Tmax]), g.op('Concat', [firstRow, g.op('Sub', [firstRow, P])], { axis: 0 }), g.int64([Tmax, Tmax]), g.int64([0, 1])]); // [T, P + T]
  // Only the last token's next-token distribution is read (an item's last code predicts BOS, never scored).
  const lastToken = g.op('Sub', [T, g.int64([1])]); // [1]
  const presentK: string[] = [];
  const presentV: string[] = [];
  const memberLogits: string[] = [];
  const effective: SeedWeights[] = [];
  let layerBase = 0; // this member's first layer in the stacked caches
  for (const [j, { weights: w, config }] of members.entries()) {
    const ops = new SeedOps(g, w, config, quantization, memberPrefix(j));
    // Index arithmetic stays on shapes and Slice bounds (host-side under a GPU EP); a Gather or Where over
    // indices computed on the host would upload them on every step (ORT's profile on the H200: ~0.4 ms each).
    const positionEmbedding = g.op('Slice', [ops.init('dec.pos', w['dec.pos'], [Tmax, d]), position, g.op('Add', [position, T]), g.int64([0])]); // [T, d]
    let x = g.op('Add', [ops.embedding('tok_emb', token, V), positionEmbedding]); // [B, T, d]
    // The residual stream x is carried through SkipLayerNormalization nodes, which also add each sublayer's
    // output bias and apply the next LayerNorm (the next layer's ln1, or ln_f after the last).
    let h = ops.layerNorm(x, 'dec.0.ln1'); // [B, T, d]
    for (let i = 0; i < config.decoderLayers; i++) {
      const p = `dec.${i}`;
      const layer = g.int64([layerBase + i], []);
      const qkv = ops.fusedLinear(h, [`${p}.self.wq`, `${p}.self.wk`, `${p}.self.wv`], [`${p}.self.bq`, `${p}.self.bk`, `${p}.self.bv`], d, d); // [B, T, 3d]
      const heads3 = g.op('Transpose', [g.op('Reshape', [qkv, g.int64([0, 0, 3 * heads, dh])])], { perm: [0, 2, 1, 3] }); // [B, 3 heads, T, dh]
      const [q, kNew, vNew] = g.opMulti('Split', [heads3, g.int64([heads, heads, heads])], 3, { axis: 1 }); // [B, heads, T, dh] each
      const k = g.op('Concat', [g.op('Gather', [gatheredK, layer], { axis: 0 }), kNew], { axis: 2 }); // [B, heads, P+T, dh]
      const v = g.op('Concat', [g.op('Gather', [gatheredV, layer], { axis: 0 }), vNew], { axis: 2 });
      presentK.push(g.op('Unsqueeze', [k, g.int64([0])]));
      presentV.push(g.op('Unsqueeze', [v, g.int64([0])]));
      const selfOut = ops.linear(ops.mergeHeads(ops.attend(q, k, v, causalBias)), `${p}.self.wo`, d, d); // [B, T, d], bias added below
      let h2: string;
      [h2, x] = ops.skipLayerNorm(x, selfOut, `${p}.ln2`, `${p}.self.bo`);
      // Cross-attention: every beam attends to the same S keys, so the B·T queries are the query sequence of
      // one [heads, B·T, dh] × [heads, dh, S] product per layer instead of B broadcast [T, dh] × [dh, S] products.
      const qc = g.op('Transpose', [g.op('Reshape', [ops.linear(h2, `${p}.cross.wq`, d, d, `${p}.cross.bq`), g.int64([-1, heads, dh])])], { perm: [1, 0, 2] }); // [heads, B·T, dh]
      const kc = g.op('Reshape', [g.op('Gather', [crossK, layer], { axis: 0 }), g.int64([heads, S, dh])]); // [heads, S, dh]
      const vc = g.op('Reshape', [g.op('Gather', [crossV, layer], { axis: 0 }), g.int64([heads, S, dh])]);
      const scores = g.op('Add', [g.op('Mul', [g.op('MatMul', [qc, g.op('Transpose', [kc], { perm: [0, 2, 1] })]), g.scalar(1 / Math.sqrt(dh))]), memoryBias]); // [heads, B·T, S]
      const attended = g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), vc]); // [heads, B·T, dh]
      const crossOut = ops.linear(g.op('Reshape', [g.op('Transpose', [attended], { perm: [1, 0, 2] }), g.op('Shape', [x])]), `${p}.cross.wo`, d, d); // [B, T, d]
      let h3: string;
      [h3, x] = ops.skipLayerNorm(x, crossOut, `${p}.ln3`, `${p}.cross.bo`);
      const moe = g.op('Reshape', [ops.moe(g.op('Reshape', [h3, g.int64([-1, d])]), i), g.op('Shape', [x])]); // [B, T, d]
      [h, x] = ops.skipLayerNorm(x, moe, i + 1 < config.decoderLayers ? `dec.${i + 1}.ln1` : 'dec.ln_f');
    }
    const final = g.op('Reshape', [g.op('Slice', [h, lastToken, T, g.int64([1])]), g.int64([-1, d])]); // [B, d], after dec.ln_f
    memberLogits.push(ops.linear(final, 'lm_head', d, V, undefined, 'head')); // [B, V]
    effective.push(ops.effective);
    layerBase += config.decoderLayers;
  }
  // The ensemble's logits: the members' mean (a per-row constant apart, the mean of their log-softmaxes).
  // A chain of Add (ops the graph already uses on every EP) rather than a variadic Sum.
  const logits = memberLogits.length === 1 ? memberLogits[0] : g.op('Mul', [memberLogits.reduce((sum, z) => g.op('Add', [sum, z])), g.scalar(1 / memberLogits.length)]); // [B, V]
  g.output(logits, 'logits', TensorType.FLOAT, ['B', V]);
  // What the beam search needs of this step's logits: the K code logits of the level that follows this
  // position, and per row the max and Σ exp(logit − max) over the full vocabulary, from which the runtime
  // forms the log-softmax in float64 (log-probability = logit − max − log Σ). The exp pass over every row's
  // vocabulary runs here instead of in JS, and K + 2 floats per row leave the graph instead of V. Position p
  // of an item's [BOS c1 … c_levels] is followed by level p mod (levels + 1); after its last code (BOS
  // follows, never scored) the last level's slice is returned and ignored. Not the log-softmax itself in
  // float32: rounding it at |log Z| ≈ 10–30 moved summed log-probabilities by up to 8e-5 (one KuaiRand
  // candidate set in 300 changed), and float64 ops do not exist in onnxruntime-web's WebGPU build.
  const K = contract.codebookSize;
  const lastPosition = g.op('Add', [position, lastToken]); // [1]
  const nextLevel = g.op('Min', [g.op('Mod', [lastPosition, g.int64([levels + 1])]), g.int64([levels - 1])]); // [1]
  const start = g.op('Add', [g.op('Mul', [nextLevel, g.int64([K])]), g.int64([SPECIAL_TOKENS])]); // [1]
  const codeLogits = g.op('Slice', [logits, start, g.op('Add', [start, g.int64([K])]), g.int64([1])]); // [B, K]
  const max = g.op('ReduceMax', [logits], { axes: [1], keepdims: 1 }); // [B, 1]
  const sum = g.op('ReduceSum', [g.op('Exp', [g.op('Sub', [logits, max])]), g.int64([1])], { keepdims: 1 }); // [B, 1]
  // One output, so that a step is one read-back on a GPU (each costs a round trip under the WebGPU EP).
  g.output(g.op('Concat', [codeLogits, max, sum], { axis: 1 }), 'code_scores', TensorType.FLOAT, ['B', K + 2]);
  const presentShape = [L, 'B', heads, 'P1', dh];
  g.output(L > 1 ? g.op('Concat', presentK, { axis: 0 }) : presentK[0], 'present_k', TensorType.FLOAT, presentShape);
  g.output(L > 1 ? g.op('Concat', presentV, { axis: 0 }) : presentV[0], 'present_v', TensorType.FLOAT, presentShape);
  const doc = members.length > 1 ? `onerec seed decoder step, an ensemble of ${members.length}: one token per beam with a gathered KV cache` : 'onerec seed decoder step: one token per beam with a gathered KV cache';
  return { bytes: g.toModel({ quantization }, doc), weightBytes: g.initializerBytes, effective: effective[0], memberEffective: effective };
}
