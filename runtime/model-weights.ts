// The seed model's weights as the runtime's own model engines compute with them (runtime/webgpu-decoder.ts on
// WebGPU, runtime/wasm-decoder.ts on the CPU): read from the bundle's encoder.onnx and decoder_step.onnx initializers
// (runtime/onnx-initializers.ts) and expanded to the float32 values ONNX Runtime computes with (runtime/dequantize.ts),
// each graph's tensors in one Float32Array. A bundle ships each weight once.
import { dequantizeBlockwise, dequantizeRows, sideBySide } from './dequantize.ts';
import { readInitializers, type Initializer } from './onnx-initializers.ts';
import { SPECIAL_TOKENS } from './tokens.ts';
import type { EngineModelConfig } from './model-config.ts';
import { WeightsError } from './errors.ts';

/**
 * The initializer-name prefix of ensemble member j in the exported graphs ('' for member 0, whose names are the
 * parameters' own; models/export/seed-graphs.ts names every member's weights with it).
 */
export function memberPrefix(j: number): string {
  return j === 0 ? '' : `m${j}.`;
}

/** What an ensemble's members must share: one token space, history window, session, width and head layout. */
export const ENSEMBLE_SHARED = ['codebookSize', 'levels', 'maxHistory', 'sessionLength', 'dModel', 'heads'] as const;

/** The runtime engines' reason to refuse members that do not share ENSEMBLE_SHARED, or false. */
export function ensembleProblem(members: EngineModelConfig[]): string | false {
  return members.some((m) => ENSEMBLE_SHARED.some((key) => m[key] !== members[0][key])) && `ensemble members differ in ${ENSEMBLE_SHARED.join('/')}`;
}

const BLOCK = 32; // MatMulNBits block size of the exported graphs (models/export/seed-graphs.ts QUANT_BLOCK_SIZE)

/** The decoder's float32 weights in one buffer, and where each tensor starts. */
export interface PackedWeights {
  data: Float32Array;
  offset: Record<string, number>;
}

/**
 * An exported graph's weights as the graph computes with them: fp32 initializers as they are, 4/8-bit linear
 * layers (`name.q4|q8`, `.scales`, `.zero_points`) and 8-bit embedding rows (`.q8`, `.zero`, `.scale`) expanded
 * exactly as the graph's constant-folded subgraphs and MatMulNBits expand them. Collected into one buffer.
 */
class WeightReader {
  private readonly inits: Map<string, Initializer>;
  private readonly parts: [string, Float32Array][] = [];

  constructor(onnx: Uint8Array, private readonly file: string, private readonly d: number) {
    try {
      this.inits = readInitializers(onnx);
    } catch (err) {
      throw new WeightsError(`${file} does not parse (${(err as Error).message})`);
    }
  }

  private need(name: string): Initializer {
    const t = this.inits.get(name);
    if (!t) throw new WeightsError(`${this.file} has no initializer "${name}"`);
    return t;
  }

  floats(name: string, size: number): Float32Array {
    const t = this.need(name);
    if (!(t.data instanceof Float32Array) || t.data.length !== size) throw new WeightsError(`${this.file}: initializer "${name}" is not ${size} float32 values`);
    return t.data;
  }

  /** W [Kin, N] of a linear layer: fp32, or MatMulNBits' layout at 4 or 8 bits. */
  matrix(name: string, Kin: number, N: number): Float32Array {
    if (this.inits.has(name)) return this.floats(name, Kin * N);
    const bits = this.inits.has(`${name}.q4`) ? 4 : this.inits.has(`${name}.q8`) ? 8 : 0;
    if (bits === 0) throw new WeightsError(`${this.file} has no weight "${name}" (fp32, .q4 or .q8)`);
    const packed = this.need(`${name}.q${bits}`).data;
    const zeroPoints = this.need(`${name}.zero_points`).data;
    const scales = this.need(`${name}.scales`).data;
    if (!(packed instanceof Uint8Array) || !(zeroPoints instanceof Uint8Array) || !(scales instanceof Float32Array)) throw new WeightsError(`${this.file}: weight "${name}" is not MatMulNBits' uint8/float32 layout`);
    return dequantizeBlockwise({ K: Kin, N, bits, blockSize: BLOCK, packed, scales, zeroPoints });
  }

  embedding(name: string, rows: number): Float32Array {
    if (this.inits.has(name)) return this.floats(name, rows * this.d);
    const q = this.need(`${name}.q8`).data;
    if (!(q instanceof Uint8Array)) throw new WeightsError(`${this.file}: embedding "${name}.q8" is not uint8`);
    return dequantizeRows({ rows, cols: this.d, q, zero: this.floats(`${name}.zero`, rows), scale: this.floats(`${name}.scale`, rows) });
  }

  add(name: string, values: Float32Array): void {
    this.parts.push([name, values]);
  }

  /** A vector initializer (LayerNorm gains, biases), size d unless given. */
  vec(name: string, size = this.d): void {
    this.add(name, this.floats(name, size));
  }

  /** Several linear layers on the same input side by side, as one [Kin, n·N] matrix (and their biases as one vector). */
  sideBySide(name: string, names: string[], biases: string[], Kin: number, N: number): void {
    this.add(`${name}.w`, sideBySide(names.map((m) => this.matrix(m, Kin, N)), Kin, N));
    const b = new Float32Array(biases.length * N);
    biases.forEach((m, j) => b.set(this.floats(m, N), j * N));
    this.add(`${name}.b`, b);
  }

  packed(): PackedWeights {
    const offset: Record<string, number> = {};
    let total = 0;
    for (const [name, values] of this.parts) { offset[name] = total; total += values.length; }
    const data = new Float32Array(total);
    for (const [name, values] of this.parts) data.set(values, offset[name]);
    return { data, offset };
  }
}

/**
 * An engine's weights: decoder_step.onnx's, and encoder.onnx's when given; a WeightsError becomes the engine's own
 * typed error (`toError(reason)`).
 */
export function readSeedWeights(decoderOnnx: Uint8Array, encoderOnnx: Uint8Array | undefined, members: EngineModelConfig[], toError: (reason: string) => Error): { decoder: PackedWeights; encoder: PackedWeights | null } {
  try {
    return { decoder: decoderWeights(decoderOnnx, members), encoder: encoderOnnx ? encoderWeights(encoderOnnx, members) : null };
  } catch (err) {
    throw err instanceof WeightsError ? toError(err.reason) : err;
  }
}

/** decoder_step.onnx's weights, as the step kernel reads them (an ensemble's members' under their name prefixes). */
export function decoderWeights(onnx: Uint8Array, config: EngineModelConfig | EngineModelConfig[]): PackedWeights {
  const members = Array.isArray(config) ? config : [config];
  const r = new WeightReader(onnx, 'decoder_step.onnx', members[0].dModel);
  for (const [m, member] of members.entries()) {
    const P = memberPrefix(m);
    const { dModel: d, decoderLayers: L, experts: E, expertFfnDim: F, codebookSize: K, levels } = member;
    const V = SPECIAL_TOKENS + levels * K;
    const Tmax = member.sessionLength * (levels + 1);
    r.add(`${P}tok_emb`, r.embedding(`${P}tok_emb`, V));
    r.vec(`${P}dec.pos`, Tmax * d);
    r.vec(`${P}dec.0.ln1.g`);
    r.vec(`${P}dec.0.ln1.b`);
    for (let i = 0; i < L; i++) {
      const p = `${P}dec.${i}`;
      const q = `dec.${i}`; // the fused names carry the prefix once, in front
      r.add(`${p}.self.wqkv`, r.matrix(`${P}${[`${q}.self.wq`, `${q}.self.wk`, `${q}.self.wv`].join('+')}`, d, 3 * d)); // the graph's fused q/k/v MatMul
      r.add(`${p}.self.bqkv`, r.floats(`${P}${[`${q}.self.bq`, `${q}.self.bk`, `${q}.self.bv`].join('+')}`, 3 * d));
      r.add(`${p}.self.wo`, r.matrix(`${p}.self.wo`, d, d));
      for (const name of [`${p}.self.bo`, `${p}.ln2.g`, `${p}.ln2.b`]) r.vec(name);
      r.add(`${p}.cross.wq`, r.matrix(`${p}.cross.wq`, d, d));
      r.vec(`${p}.cross.bq`);
      r.add(`${p}.cross.wo`, r.matrix(`${p}.cross.wo`, d, d));
      for (const name of [`${p}.cross.bo`, `${p}.ln3.g`, `${p}.ln3.b`]) r.vec(name);
      r.vec(`${p}.moe.router`, d * E);
      r.add(`${p}.moe.w1`, r.matrix(`${p}.moe.w1`, d, E * F));
      r.vec(`${p}.moe.b1`, E * F);
      r.add(`${p}.moe.w2`, r.matrix(`${p}.moe.w2`, E * F, d));
      r.vec(`${p}.moe.b2`, E * d);
      const next = i + 1 < L ? `${P}dec.${i + 1}.ln1` : `${P}dec.ln_f`;
      r.vec(`${next}.g`);
      r.vec(`${next}.b`);
    }
    r.add(`${P}lm_head`, r.matrix(`${P}lm_head`, d, V));
  }
  return r.packed();
}

/** encoder.onnx's weights, as the encoder kernels read them (q, k and v side by side, like the decoder's; members prefixed). */
export function encoderWeights(onnx: Uint8Array, config: EngineModelConfig | EngineModelConfig[]): PackedWeights {
  const members = Array.isArray(config) ? config : [config];
  const r = new WeightReader(onnx, 'encoder.onnx', members[0].dModel);
  for (const [m, member] of members.entries()) {
    const P = memberPrefix(m);
    const { dModel: d, encoderLayers, decoderLayers: L, ffnDim, codebookSize: K, levels, maxHistory } = member;
    r.add(`${P}tok_emb`, r.embedding(`${P}tok_emb`, SPECIAL_TOKENS + levels * K));
    r.vec(`${P}enc.item_pos`, maxHistory * d);
    r.vec(`${P}enc.level_emb`, levels * d);
    for (let i = 0; i < encoderLayers; i++) {
      const p = `${P}enc.${i}`;
      for (const name of [`${p}.ln1.g`, `${p}.ln1.b`]) r.vec(name);
      r.sideBySide(`${p}.attn.qkv`, [`${p}.attn.wq`, `${p}.attn.wk`, `${p}.attn.wv`], [`${p}.attn.bq`, `${p}.attn.bk`, `${p}.attn.bv`], d, d);
      r.add(`${p}.attn.wo`, r.matrix(`${p}.attn.wo`, d, d));
      for (const name of [`${p}.attn.bo`, `${p}.ln2.g`, `${p}.ln2.b`]) r.vec(name);
      r.add(`${p}.ffn.w1`, r.matrix(`${p}.ffn.w1`, d, ffnDim));
      r.vec(`${p}.ffn.b1`, ffnDim);
      r.add(`${p}.ffn.w2`, r.matrix(`${p}.ffn.w2`, ffnDim, d));
      r.vec(`${p}.ffn.b2`);
    }
    r.vec(`${P}enc.ln_f.g`);
    r.vec(`${P}enc.ln_f.b`);
    for (let i = 0; i < L; i++) r.sideBySide(`${P}dec.${i}.cross.kv`, [`${P}dec.${i}.cross.wk`, `${P}dec.${i}.cross.wv`], [`${P}dec.${i}.cross.bk`, `${P}dec.${i}.cross.bv`], d, d);
  }
  return r.packed();
}

