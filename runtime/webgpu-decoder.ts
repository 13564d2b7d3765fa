// The seed model's decoder step in WGSL: the computation of decoder_step.onnx (models/export/seed-graphs.ts)
// as one compute dispatch per step instead of ~160 ONNX nodes, with the KV cache in GPU buffers and one
// read-back of the beams' code scores per step.
//
// Why: under onnxruntime's WebGPU EP a decoder call costs ~7.7 ms on an H200 of which 1.0 ms is GPU work;
// the rest is the EP's host-side work per node and its waits (bench/README.md, "#7"). Here one workgroup per
// beam carries the beam's new tokens from the embedding through every layer to the head in workgroup
// memory, so a step is one dispatch, one submit and one map of [rows, K + 2] floats.
//
// The weights come from the bundle's own decoder_step.onnx (runtime/onnx-initializers.ts), expanded to the
// float32 values ONNX Runtime computes with (runtime/dequantize.ts): a bundle ships each weight once. Only
// the graphs of one model are read; an ensemble's members share parameter names, and the initializer names
// of the second member onward are the builder's (`_N` suffixes), so ensembles stay on onnxruntime.
//
// The runtime's DecoderSession contract (runtime/beam-search.ts) is kept: stepCodeLogProbs(tokens, parents)
// with one or two tokens per row, returning the next level's code log-probabilities; the shared beam search
// runs unchanged. It is not bit-identical to onnxruntime (other summation orders): scores agree to ~1e-5.
import { codeLogProbs, type DecoderSession } from './beam-search.ts';
import { dequantizeBlockwise, dequantizeRows } from './dequantize.ts';
import { readInitializers, type Initializer } from './onnx-initializers.ts';
import { SPECIAL_TOKENS } from './tokens.ts';
import { RuntimeError } from './errors.ts';

/** The model's sizes, from the bundle manifest's `model`. */
export interface WebGpuDecoderConfig {
  dModel: number;
  heads: number;
  decoderLayers: number;
  experts: number;
  expertsPerToken: number;
  expertFfnDim: number;
  codebookSize: number;
  levels: number;
  maxHistory: number;
  sessionLength: number;
}

/** The bundle's decoder cannot run as WGSL (ensemble, a missing weight, sizes past the kernels' limits, a shader error). */
export class WebGpuDecoderError extends RuntimeError {
  constructor(reason: string) {
    super('WebGpuDecoderError', `the WGSL decoder cannot run this bundle: ${reason}. Its decoder_step.onnx runs on onnxruntime instead (device 'wasm', or the WebGPU EP).`);
  }
}

/** Bytes per buffer row are multiples of 4; WebGPU usage and map flags (numeric: no globals needed in Node). */
const USAGE = { MAP_READ: 1, COPY_SRC: 4, COPY_DST: 8, UNIFORM: 0x40, STORAGE: 0x80, QUERY_RESOLVE: 0x200 } as const;
const MAP_READ = 1;
const PARAMS = 8; // i32 slots of the Params struct at the head of the inputs buffer
const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

function upload(device: GPUDevice, buffer: GPUBuffer, offset: number, data: Float32Array | Int32Array | Uint32Array): void {
  device.queue.writeBuffer(buffer, offset, data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
}
const COMPUTE_STAGE = 4;
const WG = 256; // threads per workgroup (the most WebGPU guarantees); the kernel loops over outputs with this stride
const BLOCK = 32; // MatMulNBits block size of the exported graphs (models/export/seed-graphs.ts QUANT_BLOCK_SIZE)

/** The decoder's float32 weights in one buffer, and where each tensor starts. */
interface PackedWeights {
  data: Float32Array;
  offset: Record<string, number>;
}

/**
 * decoder_step.onnx's weights as the graph computes with them: fp32 initializers as they are, 4/8-bit
 * linear layers (`name.q4|q8`, `.scales`, `.zero_points`) and 8-bit embedding rows (`.q8`, `.zero`, `.scale`)
 * expanded exactly as the graph's constant-folded subgraphs and MatMulNBits expand them.
 */
export function decoderWeights(onnx: Uint8Array, config: WebGpuDecoderConfig): PackedWeights {
  const { dModel: d, decoderLayers: L, experts: E, expertFfnDim: F, codebookSize: K, levels } = config;
  const V = SPECIAL_TOKENS + levels * K;
  const Tmax = config.sessionLength * (levels + 1);
  let inits: Map<string, Initializer>;
  try {
    inits = readInitializers(onnx);
  } catch (err) {
    throw new WebGpuDecoderError(`decoder_step.onnx does not parse (${(err as Error).message})`);
  }
  const need = (name: string): Initializer => {
    const t = inits.get(name);
    if (!t) throw new WebGpuDecoderError(`decoder_step.onnx has no initializer "${name}"`);
    return t;
  };
  const floats = (name: string, size: number): Float32Array => {
    const t = need(name);
    if (!(t.data instanceof Float32Array) || t.data.length !== size) throw new WebGpuDecoderError(`initializer "${name}" is not ${size} float32 values`);
    return t.data;
  };
  /** W [Kin, N] of a linear layer: fp32, or MatMulNBits' layout at 4 or 8 bits. */
  const matrix = (name: string, Kin: number, N: number): Float32Array => {
    if (inits.has(name)) return floats(name, Kin * N);
    const bits = inits.has(`${name}.q4`) ? 4 : inits.has(`${name}.q8`) ? 8 : 0;
    if (bits === 0) throw new WebGpuDecoderError(`decoder_step.onnx has no weight "${name}" (fp32, .q4 or .q8)`);
    const packed = need(`${name}.q${bits}`).data;
    const zeroPoints = need(`${name}.zero_points`).data;
    const scales = need(`${name}.scales`).data;
    if (!(packed instanceof Uint8Array) || !(zeroPoints instanceof Uint8Array) || !(scales instanceof Float32Array)) throw new WebGpuDecoderError(`weight "${name}" is not MatMulNBits' uint8/float32 layout`);
    return dequantizeBlockwise({ K: Kin, N, bits, blockSize: BLOCK, packed, scales, zeroPoints });
  };
  const embedding = (name: string, rows: number): Float32Array => {
    if (inits.has(name)) return floats(name, rows * d);
    const q = need(`${name}.q8`).data;
    if (!(q instanceof Uint8Array)) throw new WebGpuDecoderError(`embedding "${name}.q8" is not uint8`);
    return dequantizeRows({ rows, cols: d, q, zero: floats(`${name}.zero`, rows), scale: floats(`${name}.scale`, rows) });
  };
  const parts: [string, Float32Array][] = [['tok_emb', embedding('tok_emb', V)], ['dec.pos', floats('dec.pos', Tmax * d)]];
  const vec = (name: string, size = d): void => { parts.push([name, floats(name, size)]); };
  vec('dec.0.ln1.g');
  vec('dec.0.ln1.b');
  for (let i = 0; i < L; i++) {
    const p = `dec.${i}`;
    const qkv = [`${p}.self.wq`, `${p}.self.wk`, `${p}.self.wv`];
    parts.push([`${p}.self.wqkv`, matrix(qkv.join('+'), d, 3 * d)]);
    parts.push([`${p}.self.bqkv`, floats([`${p}.self.bq`, `${p}.self.bk`, `${p}.self.bv`].join('+'), 3 * d)]);
    parts.push([`${p}.self.wo`, matrix(`${p}.self.wo`, d, d)]);
    vec(`${p}.self.bo`);
    vec(`${p}.ln2.g`);
    vec(`${p}.ln2.b`);
    parts.push([`${p}.cross.wq`, matrix(`${p}.cross.wq`, d, d)]);
    vec(`${p}.cross.bq`);
    parts.push([`${p}.cross.wo`, matrix(`${p}.cross.wo`, d, d)]);
    vec(`${p}.cross.bo`);
    vec(`${p}.ln3.g`);
    vec(`${p}.ln3.b`);
    vec(`${p}.moe.router`, d * E);
    parts.push([`${p}.moe.w1`, matrix(`${p}.moe.w1`, d, E * F)]);
    vec(`${p}.moe.b1`, E * F);
    parts.push([`${p}.moe.w2`, matrix(`${p}.moe.w2`, E * F, d)]);
    vec(`${p}.moe.b2`, E * d);
    const next = i + 1 < L ? `dec.${i + 1}.ln1` : 'dec.ln_f';
    vec(`${next}.g`);
    vec(`${next}.b`);
  }
  parts.push(['lm_head', matrix('lm_head', d, V)]);
  const offset: Record<string, number> = {};
  let total = 0;
  for (const [name, values] of parts) { offset[name] = total; total += values.length; }
  const data = new Float32Array(total);
  for (const [name, values] of parts) data.set(values, offset[name]);
  return { data, offset };
}

/** Workgroup scratch floats of the step kernel: the largest of its phases (self-attention, cross-attention, MoE, head). */
function scratchFloats(config: WebGpuDecoderConfig): number {
  const { dModel: D, heads: H, experts: E, expertFfnDim: F, codebookSize: K, levels } = config;
  const S = config.maxHistory * levels;
  const TMAX = config.sessionLength * (levels + 1);
  return Math.max(2 * 3 * D + 2 * D + 2 * H * TMAX, 4 * D + 2 * H * S, 2 * E + 2 * E * F + 2 * D * config.expertsPerToken, SPECIAL_TOKENS + levels * K);
}

/**
 * WGSL of the step: one kernel, one workgroup per beam b. It holds the beam's T rows (T = 1, or an item's last
 * code and the next BOS) in workgroup memory from the embedding to the head: per layer self-attention over
 * the parent's cache and the new tokens (writing row b of the new cache), cross-attention, the MoE, each with
 * its residual add and the next LayerNorm; then the last row's logits → the level's K code logits, the max
 * and Σ exp over the vocabulary. Sizes and weight offsets are constants; per-step values come from `prm`.
 */
function stepKernel(config: WebGpuDecoderConfig, w: PackedWeights): string {
  const { dModel: D, heads: H, decoderLayers: L, experts: E, expertsPerToken: KTOP, expertFfnDim: F, codebookSize: K, levels } = config;
  const DH = D / H;
  const V = SPECIAL_TOKENS + levels * K;
  const S = config.maxHistory * levels;
  // `acc += Σ_{x < n} term(x)` with up to four independent partial sums: a dot product's loads are then in
  // flight together instead of each waiting for the previous multiply-add (the step is latency-bound).
  const unrolled = (acc: string, n: number, term: (x: string) => string): string => {
    const ways = [4, 2, 1].find((u) => n % u === 0)!;
    const parts = Array.from({ length: ways }, (_, u) => `p${u} += ${term(u === 0 ? 'x' : `(x + ${u}u)`)};`).join(' ');
    const sum = Array.from({ length: ways }, (_, u) => `p${u}`).join(' + ');
    return `{ ${Array.from({ length: ways }, (_, u) => `var p${u} = 0.0;`).join(' ')} for (var x = 0u; x < ${n}u; x += ${ways}u) { ${parts} } ${acc} += ${sum}; }`;
  };
  const TMAX = config.sessionLength * (levels + 1);
  const o = (name: string): string => `${w.offset[name]}u`;
  const layers: string[] = [];
  for (let i = 0; i < L; i++) {
    const p = (name: string): string => o(`dec.${i}.${name}`);
    const next = i + 1 < L ? `dec.${i + 1}.ln1` : 'dec.ln_f';
    layers.push(/* wgsl */ `
// Layer ${i}, self-attention: the T new tokens attend to the parent's cached keys and to each other, causally.
fn selfAttention${i}(b: u32, lid: u32) {
  let T = prm.T; let P = prm.P;
  let par = u32(inp[prm.parents + b]);
  let vOff = ${L}u * prm.cap * H * TMAX * DH;
  const QKV = 0u; const ATT = ${6 * D}u; const SC = ${8 * D}u;
  for (var i = lid; i < T * 3u * D; i += WG) {
    let t = i / (3u * D); let j = i % (3u * D);
    var acc = w[${p('self.bqkv')} + j];
    ${unrolled('acc', D, (x) => `hw[t * D + ${x}] * w[${p('self.wqkv')} + ${x} * 3u * D + j]`)}
    pool[QKV + i] = acc;
  }
  workgroupBarrier();
  // Row b of the new cache: the parent's entries, then this step's keys and values.
  for (var i = lid; i < H * P * DH; i += WG) {
    let hh = i / (P * DH); let rest = i % (P * DH);
    let src = cacheAt(${i}u, par, hh) + rest; let dst = cacheAt(${i}u, b, hh) + rest;
    cacheNew[dst] = cacheOld[src]; cacheNew[vOff + dst] = cacheOld[vOff + src];
  }
  for (var i = lid; i < T * D; i += WG) {
    let t = i / D; let c = i % D; let hh = c / DH; let e = c % DH;
    let dst = cacheAt(${i}u, b, hh) + (P + t) * DH + e;
    cacheNew[dst] = pool[QKV + t * 3u * D + D + c]; cacheNew[vOff + dst] = pool[QKV + t * 3u * D + 2u * D + c];
  }
  let NK = P + T;
  for (var i = lid; i < T * H * NK; i += WG) {
    let t = i / (H * NK); let hh = (i / NK) % H; let j = i % NK;
    if (j <= P + t) {
      var dot = 0.0;
      for (var e = 0u; e < DH; e++) {
        var key: f32;
        if (j < P) { key = cacheOld[cacheAt(${i}u, par, hh) + j * DH + e]; } else { key = pool[QKV + (j - P) * 3u * D + D + hh * DH + e]; }
        dot += pool[QKV + t * 3u * D + hh * DH + e] * key;
      }
      pool[SC + (t * H + hh) * TMAX + j] = dot * SCALE;
    }
  }
  workgroupBarrier();
  if (lid < T * H) { softmaxInPlace(SC + lid * TMAX, P + lid / H + 1u); }
  workgroupBarrier();
  for (var i = lid; i < T * D; i += WG) {
    let t = i / D; let c = i % D; let hh = c / DH; let e = c % DH;
    var acc = 0.0;
    for (var j = 0u; j <= P + t; j++) {
      var value: f32;
      if (j < P) { value = cacheOld[vOff + cacheAt(${i}u, par, hh) + j * DH + e]; } else { value = pool[QKV + (j - P) * 3u * D + 2u * D + c]; }
      acc += pool[SC + (t * H + hh) * TMAX + j] * value;
    }
    pool[ATT + i] = acc;
  }
  workgroupBarrier();
  for (var i = lid; i < T * D; i += WG) {
    let t = i / D; let c = i % D;
    var y = w[${p('self.bo')} + c];
    ${unrolled('y', D, (x) => `pool[ATT + t * D + ${x}] * w[${p('self.wo')} + ${x} * D + c]`)}
    xw[i] += y;
  }
  workgroupBarrier();
  for (var t = 0u; t < T; t++) { layerNorm(t, ${p('ln2.g')}, ${p('ln2.b')}, lid); }
}

// Layer ${i}, cross-attention: every beam attends to the same S encoder positions.
fn crossAttention${i}(lid: u32) {
  let T = prm.T;
  let kOff = ${i}u * H * S * DH; let vOff = ${L}u * H * S * DH + kOff; let biasOff = 2u * ${L}u * H * S * DH;
  const Q = 0u; const ATT = ${2 * D}u; const SC = ${4 * D}u;
  for (var i = lid; i < T * D; i += WG) {
    let t = i / D; let j = i % D;
    var acc = w[${p('cross.bq')} + j];
    ${unrolled('acc', D, (x) => `hw[t * D + ${x}] * w[${p('cross.wq')} + ${x} * D + j]`)}
    pool[Q + i] = acc;
  }
  workgroupBarrier();
  for (var i = lid; i < T * H * S; i += WG) {
    let t = i / (H * S); let hh = (i / S) % H; let s = i % S;
    var dot = 0.0;
    ${unrolled('dot', DH, (x) => `pool[Q + t * D + hh * DH + ${x}] * cross[kOff + (hh * S + s) * DH + ${x}]`)}
    pool[SC + i] = dot * SCALE + cross[biasOff + s];
  }
  workgroupBarrier();
  rowsSoftmax(SC, T * H, S, lid);
  workgroupBarrier();
  for (var i = lid; i < T * D; i += WG) {
    let t = i / D; let c = i % D; let hh = c / DH; let e = c % DH;
    var acc = 0.0;
    ${unrolled('acc', S, (x) => `pool[SC + (t * H + hh) * S + ${x}] * cross[vOff + (hh * S + ${x}) * DH + e]`)}
    pool[ATT + i] = acc;
  }
  workgroupBarrier();
  for (var i = lid; i < T * D; i += WG) {
    let t = i / D; let c = i % D;
    var y = w[${p('cross.bo')} + c];
    ${unrolled('y', D, (x) => `pool[ATT + t * D + ${x}] * w[${p('cross.wo')} + ${x} * D + c]`)}
    xw[i] += y;
  }
  workgroupBarrier();
  for (var t = 0u; t < T; t++) { layerNorm(t, ${p('ln3.g')}, ${p('ln3.b')}, lid); }
}

// Layer ${i}, MoE: router softmax, the top-k gates (probabilities ≥ the k-th largest, renormalised, as the graph
// selects them), then only the selected experts' two layers.
fn moe${i}(lid: u32) {
  let T = prm.T;
  const GATE = 0u; const HID = ${2 * E}u; const PART = ${2 * E + 2 * E * F}u;
  for (var i = lid; i < T * E; i += WG) {
    let t = i / E; let e = i % E;
    var acc = 0.0;
    ${unrolled('acc', D, (x) => `hw[t * D + ${x}] * w[${p('moe.router')} + ${x} * E + e]`)}
    pool[GATE + i] = acc;
  }
  workgroupBarrier();
  if (lid < T) { topKGates(GATE + lid * E); }
  workgroupBarrier();
  for (var i = lid; i < T * E * F; i += WG) {
    let t = i / (E * F); let j = i % (E * F);
    let g = pool[GATE + t * E + j / F];
    var value = 0.0;
    if (g != 0.0) {
      var u = w[${p('moe.b1')} + j];
      ${unrolled('u', D, (x) => `hw[t * D + ${x}] * w[${p('moe.w1')} + ${x} * E * F + j]`)}
      value = fastGelu(u) * g;
    }
    pool[HID + i] = value;
  }
  workgroupBarrier();
  // Second layers: thread (t, c, s) sums the s-th, (s + KTOP)-th, … selected experts of row t (KTOP of them unless
  // the k-th probability ties), then the KTOP partial sums are added.
  for (var i = lid; i < T * D * KTOP; i += WG) {
    let s = i / (T * D); let t = (i / D) % T; let c = i % D;
    var y = 0.0;
    var seen = 0u;
    for (var e = 0u; e < E; e++) {
      let g = pool[GATE + t * E + e];
      if (g != 0.0) {
        if (seen % KTOP == s) {
          y += g * w[${p('moe.b2')} + e * D + c];
          ${unrolled('y', F, (x) => `pool[HID + t * E * F + e * F + ${x}] * w[${p('moe.w2')} + (e * F + ${x}) * D + c]`)}
        }
        seen++;
      }
    }
    pool[PART + i] = y;
  }
  workgroupBarrier();
  for (var i = lid; i < T * D; i += WG) {
    var y = 0.0;
    for (var s = 0u; s < KTOP; s++) { y += pool[PART + s * T * D + i]; }
    xw[i] += y;
  }
  workgroupBarrier();
  for (var t = 0u; t < T; t++) { layerNorm(t, ${o(`${next}.g`)}, ${o(`${next}.b`)}, lid); }
}`);
  }
  const calls = Array.from({ length: L }, (_, i) => `  selfAttention${i}(b, lid);\n  crossAttention${i}(lid);\n  moe${i}(lid);`).join('\n');
  return /* wgsl */ `
struct Params { B: u32, T: u32, P: u32, position: u32, codeStart: u32, cap: u32, tokens: u32, parents: u32 }
@group(0) @binding(0) var<storage, read> w: array<f32>;
@group(0) @binding(1) var<storage, read> cacheOld: array<f32>; // K then V: [L, cap, H, TMAX, DH] each
@group(0) @binding(2) var<storage, read_write> cacheNew: array<f32>;
@group(0) @binding(3) var<storage, read> inp: array<i32>; // the Params, then tokens [B, T] at prm.tokens, parents [B] at prm.parents
@group(0) @binding(4) var<storage, read> cross: array<f32>; // cross K [L, H, S, DH], cross V, memory bias [S]
@group(0) @binding(5) var<storage, read_write> outp: array<f32>; // [B, K + 2]
@group(0) @binding(6) var<storage, read> prm: Params; // the same buffer as inp: one upload per step
const D = ${D}u; const H = ${H}u; const DH = ${DH}u; const S = ${S}u; const TMAX = ${TMAX}u; const WG = ${WG}u;
const E = ${E}u; const F = ${F}u; const KTOP = ${KTOP}u; const V = ${V}u; const K = ${K}u;
const SCALE = ${1 / Math.sqrt(DH)};
var<workgroup> xw: array<f32, ${2 * D}>; // the beam's rows' residual stream [T, D]
var<workgroup> hw: array<f32, ${2 * D}>; // its LayerNorm: the next sublayer's input [T, D]
var<workgroup> red: array<f32, ${WG}>;
var<workgroup> pool: array<f32, ${scratchFloats(config)}>; // each phase's scratch

fn wgSum(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) { if (lid < s) { red[lid] += red[lid + s]; } workgroupBarrier(); }
  let r = red[0];
  workgroupBarrier();
  return r;
}
fn wgMax(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) { if (lid < s) { red[lid] = max(red[lid], red[lid + s]); } workgroupBarrier(); }
  let r = red[0];
  workgroupBarrier();
  return r;
}
// hw[t] = LayerNorm(xw[t]) with gamma at g, beta at b (epsilon 1e-5, as the graph's LayerNormalization).
fn layerNorm(t: u32, g: u32, b: u32, lid: u32) {
  var s = 0.0;
  for (var c = lid; c < D; c += WG) { s += xw[t * D + c]; }
  let mean = wgSum(s, lid) / f32(D);
  var q = 0.0;
  for (var c = lid; c < D; c += WG) { let z = xw[t * D + c] - mean; q += z * z; }
  let inv = 1.0 / sqrt(wgSum(q, lid) / f32(D) + 1e-5);
  for (var c = lid; c < D; c += WG) { hw[t * D + c] = (xw[t * D + c] - mean) * inv * w[g + c] + w[b + c]; }
  workgroupBarrier();
}
fn softmaxInPlace(base: u32, n: u32) {
  var m = pool[base];
  for (var j = 1u; j < n; j++) { m = max(m, pool[base + j]); }
  var s = 0.0;
  for (var j = 0u; j < n; j++) { let e = exp(pool[base + j] - m); pool[base + j] = e; s += e; }
  for (var j = 0u; j < n; j++) { pool[base + j] = pool[base + j] / s; }
}
// Softmax of each of the rows (n values each, row-major at base), each row by WG / rows threads with tree reductions in
// red (rows a power of two ≤ WG; the caller's T · H, T ∈ {1, 2}).
fn rowsSoftmax(base: u32, rows: u32, n: u32, lid: u32) {
  let seg = WG / rows; let row = lid / seg; let j0 = lid % seg;
  var m = -3.4e38;
  for (var j = j0; j < n; j += seg) { m = max(m, pool[base + row * n + j]); }
  red[lid] = m;
  workgroupBarrier();
  for (var s = seg / 2u; s > 0u; s = s >> 1u) { if (j0 < s) { red[lid] = max(red[lid], red[lid + s]); } workgroupBarrier(); }
  let mx = red[row * seg];
  workgroupBarrier();
  var sum = 0.0;
  for (var j = j0; j < n; j += seg) { let e = exp(pool[base + row * n + j] - mx); pool[base + row * n + j] = e; sum += e; }
  red[lid] = sum;
  workgroupBarrier();
  for (var s = seg / 2u; s > 0u; s = s >> 1u) { if (j0 < s) { red[lid] += red[lid + s]; } workgroupBarrier(); }
  let total = red[row * seg];
  workgroupBarrier();
  for (var j = j0; j < n; j += seg) { pool[base + row * n + j] = pool[base + row * n + j] / total; }
}
// Router logits at base → gates: softmax, kept where at most KTOP − 1 others are larger, renormalised.
fn topKGates(base: u32) {
  softmaxInPlace(base, E);
  var kept: array<f32, ${E}>;
  var total = 0.0;
  for (var e = 0u; e < E; e++) {
    var above = 0u;
    for (var f = 0u; f < E; f++) { if (pool[base + f] > pool[base + e]) { above++; } }
    kept[e] = select(0.0, pool[base + e], above < KTOP);
    total += kept[e];
  }
  for (var e = 0u; e < E; e++) { pool[base + e] = kept[e] / total; }
}
fn fastGelu(u: f32) -> f32 {
  let a = clamp(0.7978845608028654 * (u + 0.044715 * u * u * u), -15.0, 15.0); // tanh(±15) is ±1 in f32
  return 0.5 * u * (1.0 + tanh(a));
}
fn cacheAt(layer: u32, beam: u32, hh: u32) -> u32 { return ((layer * prm.cap + beam) * H + hh) * TMAX * DH; }
${layers.join('\n')}

@compute @workgroup_size(${WG}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) li: vec3u) {
  let b = wid.x; let lid = li.x; let T = prm.T;
  for (var i = lid; i < T * D; i += WG) {
    let t = i / D; let c = i % D;
    let tok = u32(inp[prm.tokens + b * T + t]);
    xw[i] = w[${o('tok_emb')} + tok * D + c] + w[${o('dec.pos')} + (prm.position + t) * D + c];
  }
  workgroupBarrier();
  for (var t = 0u; t < T; t++) { layerNorm(t, ${o('dec.0.ln1.g')}, ${o('dec.0.ln1.b')}, lid); }
${calls}
  // The last row's logits over the vocabulary.
  let last = T - 1u;
  var m = -3.4e38;
  for (var v = lid; v < V; v += WG) {
    var acc = 0.0;
    ${unrolled('acc', D, (x) => `hw[last * D + ${x}] * w[${o('lm_head')} + ${x} * V + v]`)}
    pool[v] = acc;
    m = max(m, acc);
  }
  let mx = wgMax(m, lid);
  var s = 0.0;
  for (var v = lid; v < V; v += WG) { s += exp(pool[v] - mx); }
  let total = wgSum(s, lid);
  for (var j = lid; j < K; j += WG) { outp[b * (K + 2u) + j] = pool[prm.codeStart + j]; }
  if (lid == 0u) { outp[b * (K + 2u) + K] = mx; outp[b * (K + 2u) + K + 1u] = total; }
}`;
}

/** Cross-attention inputs from encoder.onnx: cross_k, cross_v [L, 1, H, S, dh] and memory_bias [1, S]. */
export interface CrossInputs {
  crossK: Float32Array;
  crossV: Float32Array;
  memoryBias: Float32Array;
}

/**
 * A bundle's decoder on a GPUDevice: weights uploaded once, pipelines compiled once; `session(cross, rows)`
 * per request. Requests must not overlap (the runtime chains them): the state buffers are shared.
 */
export class WebGpuDecoder {
  private cap = 0; // beam rows the state and cache buffers hold
  private buffers: { cache: [GPUBuffer, GPUBuffer]; inputs: GPUBuffer; out: GPUBuffer; staging: GPUBuffer; bind: [GPUBindGroup, GPUBindGroup] } | null = null;
  private readonly crossBuffer: GPUBuffer;
  private readonly K: number;
  private readonly S: number;
  private readonly Tmax: number;
  private readonly timer: { queries: GPUQuerySet; resolve: GPUBuffer } | null = null;
  /**
   * For benchmarks: steps run; host time to record and submit them, waiting for the read-back, and reading it
   * (ms); with `timestamps`, the GPU time of their kernels (ns).
   */
  readonly stats = { steps: 0, submitMs: 0, waitMs: 0, readMs: 0, gpuNs: 0 };

  private constructor(
    readonly device: GPUDevice,
    readonly config: WebGpuDecoderConfig,
    private readonly weights: GPUBuffer,
    private readonly layout: GPUBindGroupLayout,
    private readonly pipeline: GPUComputePipeline,
    timestamps: boolean,
  ) {
    const { decoderLayers: L, heads: H, dModel: D, levels } = config;
    this.K = config.codebookSize;
    this.S = config.maxHistory * levels;
    this.Tmax = config.sessionLength * (levels + 1);
    this.crossBuffer = device.createBuffer({ size: 4 * (2 * L * H * this.S * (D / H) + this.S), usage: USAGE.STORAGE | USAGE.COPY_DST });
    if (timestamps) this.timer = { queries: device.createQuerySet({ type: 'timestamp', count: 2 }), resolve: device.createBuffer({ size: 16, usage: USAGE.QUERY_RESOLVE | USAGE.COPY_SRC }) };
  }

  /**
   * Checks the sizes, reads the weights from decoder_step.onnx, uploads them and compiles the kernel.
   * `timestamps`: time each step's kernel on the GPU into `stats` (needs the device's 'timestamp-query').
   */
  static async create(device: GPUDevice, decoderStepOnnx: Uint8Array, config: WebGpuDecoderConfig, options: { timestamps?: boolean } = {}): Promise<WebGpuDecoder> {
    const { dModel: D, heads: H, experts: E, expertFfnDim: F, codebookSize: K, levels } = config;
    const S = config.maxHistory * levels;
    const Tmax = config.sessionLength * (levels + 1);
    const V = SPECIAL_TOKENS + levels * K;
    const floats = 4 * D + WG + scratchFloats(config); // the kernel's workgroup memory
    const problems = [
      D % H !== 0 && `dModel ${D} is not a multiple of heads ${H}`,
      ((H & (H - 1)) !== 0 || 2 * H > WG) && `${H} heads is not a power of two up to ${WG / 2}`,
      E > WG && `${E} experts exceed the ${WG} threads of a workgroup`,
      4 * floats > device.limits.maxComputeWorkgroupStorageSize && `the kernels need ${4 * floats} bytes of workgroup memory, the device allows ${device.limits.maxComputeWorkgroupStorageSize}`,
    ].filter(Boolean);
    if (problems.length) throw new WebGpuDecoderError(problems.join('; '));
    const packed = decoderWeights(decoderStepOnnx, config);
    const weights = device.createBuffer({ size: packed.data.byteLength, usage: USAGE.STORAGE | USAGE.COPY_DST });
    upload(device, weights, 0, packed.data);
    const storage = (readOnly: boolean): GPUBindGroupLayoutEntry['buffer'] => ({ type: readOnly ? 'read-only-storage' : 'storage' });
    const layout = device.createBindGroupLayout({
      entries: [
        { binding: 0, visibility: COMPUTE_STAGE, buffer: storage(true) }, // weights
        { binding: 1, visibility: COMPUTE_STAGE, buffer: storage(true) }, // the previous step's cache
        { binding: 2, visibility: COMPUTE_STAGE, buffer: storage(false) }, // this step's cache
        { binding: 3, visibility: COMPUTE_STAGE, buffer: storage(true) }, // tokens and parents
        { binding: 4, visibility: COMPUTE_STAGE, buffer: storage(true) }, // cross K, V, memory bias
        { binding: 5, visibility: COMPUTE_STAGE, buffer: storage(false) }, // code scores
        { binding: 6, visibility: COMPUTE_STAGE, buffer: storage(true) }, // the step's Params: the head of binding 3's buffer
      ],
    });
    const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [layout] });
    device.pushErrorScope('validation');
    let pipeline: GPUComputePipeline;
    try {
      const module = device.createShaderModule({ code: stepKernel(config, packed) });
      pipeline = await device.createComputePipelineAsync({ layout: pipelineLayout, compute: { module, entryPoint: 'main' } });
    } catch (err) {
      await device.popErrorScope();
      weights.destroy();
      throw new WebGpuDecoderError(`the kernel did not compile (${(err as Error).message})`);
    }
    const error = await device.popErrorScope();
    if (error) {
      weights.destroy();
      throw new WebGpuDecoderError(`the kernel did not compile (${error.message})`);
    }
    return new WebGpuDecoder(device, config, weights, layout, pipeline, Boolean(options.timestamps) && device.features.has('timestamp-query'));
  }

  /** Buffers for `rows` beam rows (grown, never shrunk). */
  private ensureCapacity(rows: number): NonNullable<WebGpuDecoder['buffers']> {
    if (this.buffers && this.cap >= rows) return this.buffers;
    this.destroyBuffers();
    const { device, config } = this;
    const { decoderLayers: L, heads: H, dModel: D } = config;
    const cap = Math.max(rows, 1);
    const cacheBytes = 4 * 2 * L * cap * H * this.Tmax * (D / H); // K and V
    const make = (size: number, usage: number): GPUBuffer => device.createBuffer({ size: Math.max(16, size), usage });
    const cache: [GPUBuffer, GPUBuffer] = [make(cacheBytes, USAGE.STORAGE | USAGE.COPY_SRC), make(cacheBytes, USAGE.STORAGE | USAGE.COPY_SRC)];
    const inputs = make(4 * (PARAMS + 3 * cap), USAGE.STORAGE | USAGE.COPY_DST); // Params, tokens [cap, 2], parents [cap]
    const outBytes = 4 * cap * (this.K + 2);
    const out = make(outBytes, USAGE.STORAGE | USAGE.COPY_SRC);
    const staging = make(outBytes + 24, USAGE.MAP_READ | USAGE.COPY_DST); // + the kernel's two timestamps, 8-byte aligned
    const group = (old: GPUBuffer, next: GPUBuffer): GPUBindGroup => device.createBindGroup({
      layout: this.layout,
      entries: [this.weights, old, next, inputs, this.crossBuffer, out, inputs].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    this.cap = cap;
    this.buffers = { cache, inputs, out, staging, bind: [group(cache[0], cache[1]), group(cache[1], cache[0])] };
    return this.buffers;
  }

  private destroyBuffers(): void {
    if (!this.buffers) return;
    const { cache, inputs, out, staging } = this.buffers;
    for (const b of [...cache, inputs, out, staging]) b.destroy();
    this.buffers = null;
  }

  /** One request's DecoderSession over the encoder's cross inputs; `maxRows` bounds the beams of any step. */
  session(cross: CrossInputs, maxRows: number): DecoderSession {
    const buffers = this.ensureCapacity(maxRows);
    const { device } = this;
    const { decoderLayers: L, heads: H, dModel: D, levels } = this.config;
    const crossFloats = L * H * this.S * (D / H);
    if (cross.crossK.length !== crossFloats || cross.crossV.length !== crossFloats || cross.memoryBias.length !== this.S) {
      throw new WebGpuDecoderError(`cross inputs of ${cross.crossK.length}/${cross.crossV.length}/${cross.memoryBias.length} floats, expected ${crossFloats}/${crossFloats}/${this.S}`);
    }
    upload(device, this.crossBuffer, 0, cross.crossK);
    upload(device, this.crossBuffer, 4 * crossFloats, cross.crossV);
    upload(device, this.crossBuffer, 8 * crossFloats, cross.memoryBias);
    const K = this.K;
    const cap = this.cap;
    let position = 0;
    let parity = 0;
    const inputs = new Int32Array(PARAMS + 3 * cap);
    const step = async (tokens: Int32Array, parents: Int32Array): Promise<Float64Array> => {
      const B = parents.length;
      const T = tokens.length / B;
      if (B > cap || (T !== 1 && T !== 2) || position + T > this.Tmax) throw new WebGpuDecoderError(`a step of ${B} rows × ${T} tokens at position ${position} exceeds the session's ${cap} rows, 2 tokens and ${this.Tmax} positions`);
      const t0 = now();
      const lastPosition = position + T - 1;
      const nextLevel = Math.min(lastPosition % (levels + 1), levels - 1);
      inputs.set([B, T, position, position, SPECIAL_TOKENS + nextLevel * K, cap, PARAMS, PARAMS + 2 * cap]); // Params
      inputs.set(tokens, PARAMS);
      inputs.set(parents, PARAMS + 2 * cap);
      upload(device, buffers.inputs, 0, inputs);
      // P (past length) equals the position of the first new token: one cache entry per token fed.
      const encoder = device.createCommandEncoder();
      const timer = this.timer;
      const pass = timer ? encoder.beginComputePass({ timestampWrites: { querySet: timer.queries, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } }) : encoder.beginComputePass();
      pass.setBindGroup(0, buffers.bind[parity]);
      pass.setPipeline(this.pipeline);
      pass.dispatchWorkgroups(B);
      pass.end();
      const bytes = 4 * B * (K + 2);
      const stamped = timer ? bytes + (bytes % 8) + 16 : bytes; // timestamps after the scores, 8-byte aligned
      encoder.copyBufferToBuffer(buffers.out, 0, buffers.staging, 0, bytes);
      if (timer) {
        encoder.resolveQuerySet(timer.queries, 0, 2, timer.resolve, 0);
        encoder.copyBufferToBuffer(timer.resolve, 0, buffers.staging, stamped - 16, 16);
      }
      device.queue.submit([encoder.finish()]);
      const t1 = now();
      await buffers.staging.mapAsync(MAP_READ, 0, stamped);
      const t2 = now();
      const mapped = buffers.staging.getMappedRange(0, stamped);
      const logProbs = codeLogProbs(new Float32Array(mapped, 0, bytes / 4), K); // read in place: no copy of the mapping
      if (timer) {
        const [begin, end] = new BigUint64Array(mapped, stamped - 16, 2);
        this.stats.gpuNs += Number(end - begin);
      }
      buffers.staging.unmap();
      position += T;
      parity ^= 1;
      Object.assign(this.stats, { steps: this.stats.steps + 1, submitMs: this.stats.submitMs + t1 - t0, waitMs: this.stats.waitMs + t2 - t1, readMs: this.stats.readMs + now() - t2 });
      return logProbs;
    };
    return {
      twoTokenSteps: true,
      stepCodeLogProbs: step,
      step: () => Promise.reject(new WebGpuDecoderError('full logits are not computed; use stepCodeLogProbs')),
    };
  }

  dispose(): void {
    this.destroyBuffers();
    this.weights.destroy();
    this.crossBuffer.destroy();
    this.timer?.queries.destroy();
    this.timer?.resolve.destroy();
  }
}
