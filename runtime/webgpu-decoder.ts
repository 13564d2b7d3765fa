/// <reference types="@webgpu/types" preserve="true" />
// The seed model in WGSL: the computation of decoder_step.onnx (models/export/seed-graphs.ts) as one compute
// dispatch per step instead of ~160 ONNX nodes, with the KV cache in GPU buffers and one read-back of the
// beams' code scores per step — per call under the beam search, whose steps then all run on the GPU with a selection
// kernel choosing the beams between them (searchSession, runtime/webgpu-search.ts; or one read-back per generated item,
// `searchReadBacks: 'item'`); and, optionally, encoder.onnx's computation (1 + encoderLayers dispatches,
// recorded in front of the first step, writing the cross inputs where the step reads them).
//
// Why: under onnxruntime's WebGPU EP a decoder call costs ~7.7 ms on an H200 of which 1.0 ms is GPU work;
// the rest is the EP's host-side work per node and its waits (bench/README.md, "#7"). Here one workgroup per
// beam carries the beam's new tokens from the embedding through every layer to the head in workgroup
// memory, so a step is one dispatch, one submit and one map of [rows, K + 2] floats. The encoder runs one
// workgroup per history token.
//
// The weights come from the bundle's own decoder_step.onnx and encoder.onnx (runtime/model-weights.ts), expanded
// to the float32 values ONNX Runtime computes with: a bundle ships each weight once. An
// ensemble's members (their weights under `memberPrefix` names) run in turn in the same kernels, each over its own
// layers of the stacked cache, and their logits are averaged as the exported graph averages them.
//
// The runtime's DecoderSession contract (runtime/beam-search.ts) is kept: stepCodeLogProbs(tokens, parents)
// with one or two tokens per row, returning the next level's code log-probabilities; the shared beam search
// runs unchanged (searchSession answers its calls from the session's read-back). It is not bit-identical to onnxruntime (other summation orders): scores agree to ~1e-5.
import { codeLogProbs, type DecoderSession } from './beam-search.ts';
import { ensembleProblem, memberPrefix, readSeedWeights, type PackedWeights } from './model-weights.ts';
import type { EngineModelConfig } from './model-config.ts';
import { PAD, SPECIAL_TOKENS } from './tokens.ts';
import { WebGpuDecoderError } from './errors.ts';
import { COMPUTE_STAGE, DEFAULT_UNROLL, MAP_READ, USAGE, WG, WGSL_HELPERS, compilePipelines, makeBuffer, storage, unrolledSum, upload } from './webgpu-kernels.ts';
import { BeamMirror, P, PARAMS, lastLevelKnown, packTrie, requestHead, selectKernel, slotInts, type SearchContext } from './webgpu-search.ts';

export { WebGpuDecoderError };

/** The model's sizes, from the bundle manifest's `model` (runtime/model-weights.ts). */
export type WebGpuDecoderConfig = EngineModelConfig;

/** How often a search session reads back: once for the whole session, or once per generated item (runtime/webgpu-search.ts). */
export type SearchReadBacks = 'session' | 'item';

/**
 * KV-cache bytes above which a search reads back once per item: reading back once per session keeps every step's cache
 * (sessionLength × levels + 1 buffers against levels + 1), so that a step can run again from any of them.
 */
export const SESSION_CACHE_BYTES = 256 * 2 ** 20;

const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());
const toError = (reason: string): Error => new WebGpuDecoderError(reason);

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
 * and Σ exp over the vocabulary. An ensemble's members run in turn, each over its own layers of the stacked
 * cache; their logits are summed in `lsum` and averaged. Sizes and weight offsets are constants; per-step values
 * come from `prm`.
 */
function stepKernel(members: WebGpuDecoderConfig[], w: PackedWeights, unroll: number): string {
  const config = members[0]; // the members share width, heads, tokens, history and session (WebGpuDecoder.create checks)
  const { dModel: D, heads: H, codebookSize: K, levels } = config;
  const DH = D / H;
  const V = SPECIAL_TOKENS + levels * K;
  const S = config.maxHistory * levels;
  const LT = members.reduce((sum, m) => sum + m.decoderLayers, 0); // cache and cross layers of all members
  const EMAX = Math.max(...members.map((m) => m.experts));
  const unrolled = unrolledSum(unroll);
  const TMAX = config.sessionLength * (levels + 1);
  const o = (name: string): string => `${w.offset[name]}u`;
  const layers: string[] = [];
  const bodies: string[] = [];
  let base = 0; // the member's first layer in the stacked cache and cross inputs
  for (const [m, member] of members.entries()) {
    const P0 = memberPrefix(m);
    const { decoderLayers: L, experts: E, expertsPerToken: KTOP, expertFfnDim: F } = member;
    for (let i = 0; i < L; i++) {
      const p = (name: string): string => o(`${P0}dec.${i}.${name}`);
      const next = i + 1 < L ? `${P0}dec.${i + 1}.ln1` : `${P0}dec.ln_f`;
      const id = `${m}_${i}`;
      const layer = base + i;
      // An attention sublayer's end: its heads (pool[ATT …], [T, D]) through the output projection, added to the
      // residual stream, then the next LayerNorm into hw.
      const projectAndNormalize = (sublayer: string, norm: string): string => /* wgsl */ `
    for (var i = lid; i < T * D; i += WG) {
      let t = i / D; let c = i % D;
      var y = w[${p(`${sublayer}.bo`)} + c];
      ${unrolled('y', D, (x) => `pool[ATT + t * D + ${x}] * w[${p(`${sublayer}.wo`)} + ${x} * D + c]`)}
      xw[i] += y;
    }
    workgroupBarrier();
    for (var t = 0u; t < T; t++) { layerNorm(t, ${p(`${norm}.g`)}, ${p(`${norm}.b`)}, lid); }`;
      layers.push(/* wgsl */ `
  // Member ${m}, layer ${i}, self-attention: the T new tokens attend to the parent's cached keys and to each other, causally.
  fn selfAttention${id}(b: u32, lid: u32) {
    let T = prm.T; let P = prm.position; // past length: one cache entry per token fed before this step
    let par = u32(inp[prm.parents + b]);
    let vOff = ${LT}u * prm.cap * H * TMAX * DH;
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
      let src = cacheAt(${layer}u, par, hh) + rest; let dst = cacheAt(${layer}u, b, hh) + rest;
      cacheNew[dst] = cacheOld[src]; cacheNew[vOff + dst] = cacheOld[vOff + src];
    }
    for (var i = lid; i < T * D; i += WG) {
      let t = i / D; let c = i % D; let hh = c / DH; let e = c % DH;
      let dst = cacheAt(${layer}u, b, hh) + (P + t) * DH + e;
      cacheNew[dst] = pool[QKV + t * 3u * D + D + c]; cacheNew[vOff + dst] = pool[QKV + t * 3u * D + 2u * D + c];
    }
    let NK = P + T;
    for (var i = lid; i < T * H * NK; i += WG) {
      let t = i / (H * NK); let hh = (i / NK) % H; let j = i % NK;
      if (j <= P + t) {
        var dot = 0.0;
        for (var e = 0u; e < DH; e++) {
          var key: f32;
          if (j < P) { key = cacheOld[cacheAt(${layer}u, par, hh) + j * DH + e]; } else { key = pool[QKV + (j - P) * 3u * D + D + hh * DH + e]; }
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
        if (j < P) { value = cacheOld[vOff + cacheAt(${layer}u, par, hh) + j * DH + e]; } else { value = pool[QKV + (j - P) * 3u * D + 2u * D + c]; }
        acc += pool[SC + (t * H + hh) * TMAX + j] * value;
      }
      pool[ATT + i] = acc;
    }
    workgroupBarrier();
  ${projectAndNormalize('self', 'ln2')}
  }

  // Member ${m}, layer ${i}, cross-attention: every beam attends to the same S encoder positions.
  fn crossAttention${id}(lid: u32) {
    let T = prm.T;
    let kOff = ${layer}u * H * S * DH; let vOff = ${LT}u * H * S * DH + kOff; let biasOff = 2u * ${LT}u * H * S * DH;
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
    for (var i = lid; i < T * D; i += WG) {
      let t = i / D; let c = i % D; let hh = c / DH; let e = c % DH;
      var acc = 0.0;
      ${unrolled('acc', S, (x) => `pool[SC + (t * H + hh) * S + ${x}] * cross[vOff + (hh * S + ${x}) * DH + e]`)}
      pool[ATT + i] = acc;
    }
    workgroupBarrier();
  ${projectAndNormalize('cross', 'ln3')}
  }

  // Member ${m}, layer ${i}, MoE: router softmax, the top-k gates (probabilities ≥ the k-th largest, renormalised, as the graph
  // selects them), then only the selected experts' two layers.
  fn moe${id}(lid: u32) {
    let T = prm.T;
    const E = ${E}u; const F = ${F}u; const KTOP = ${KTOP}u;
    const GATE = 0u; const HID = ${2 * E}u; const PART = ${2 * E + 2 * E * F}u;
    for (var i = lid; i < T * E; i += WG) {
      let t = i / E; let e = i % E;
      var acc = 0.0;
      ${unrolled('acc', D, (x) => `hw[t * D + ${x}] * w[${p('moe.router')} + ${x} * E + e]`)}
      pool[GATE + i] = acc;
    }
    workgroupBarrier();
    if (lid < T) { topKGates(GATE + lid * E, E, KTOP); }
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
    const calls = Array.from({ length: L }, (_, i) => `  selfAttention${m}_${i}(b, lid);\n  crossAttention${m}_${i}(lid);\n  moe${m}_${i}(lid);`).join('\n');
    // This member's pass over the beam's rows: embedding, its layers, its logits of the last row in pool[0 … V).
    bodies.push(/* wgsl */ `
    // Member ${m}.
    for (var i = lid; i < T * D; i += WG) {
      let t = i / D; let c = i % D;
      let tok = u32(inp[prm.tokens + b * T + t]);
      xw[i] = w[${o(`${P0}tok_emb`)} + tok * D + c] + w[${o(`${P0}dec.pos`)} + (prm.position + t) * D + c];
    }
    workgroupBarrier();
    for (var t = 0u; t < T; t++) { layerNorm(t, ${o(`${P0}dec.0.ln1.g`)}, ${o(`${P0}dec.0.ln1.b`)}, lid); }
  ${calls}
    for (var v = lid; v < V; v += WG) {
      var acc = 0.0;
      ${unrolled('acc', D, (x) => `hw[(T - 1u) * D + ${x}] * w[${o(`${P0}lm_head`)} + ${x} * V + v]`)}
      ${members.length === 1 ? 'pool[v] = acc;' : m === 0 ? 'lsum[b * V + v] = acc;' : m < members.length - 1 ? 'lsum[b * V + v] += acc;' : `pool[v] = (lsum[b * V + v] + acc) * ${1 / members.length};`}
    }
    workgroupBarrier();`);
    base += L;
  }
  return /* wgsl */ `
struct Params { T: u32, position: u32, codeStart: u32, cap: u32, tokens: u32, parents: u32, rows: u32, level: u32, item: u32, beamWidth: u32, state: u32, pad: u32 }
@group(0) @binding(0) var<storage, read> w: array<f32>;
@group(0) @binding(1) var<storage, read> cacheOld: array<f32>; // K then V: [L, cap, H, TMAX, DH] each
@group(0) @binding(2) var<storage, read_write> cacheNew: array<f32>;
@group(0) @binding(3) var<storage, read> inp: array<i32>; // the step's slot: Params, then tokens [B, T] at prm.tokens, parents [B] at prm.parents
@group(0) @binding(4) var<storage, read> cross: array<f32>; // cross K [L, H, S, DH], cross V, memory bias [S]
@group(0) @binding(5) var<storage, read_write> outp: array<f32>; // [B, K + 2]
@group(0) @binding(6) var<storage, read> prm: Params; // the same buffer as inp: one upload per step
@group(0) @binding(7) var<storage, read_write> lsum: array<f32>; // an ensemble's running sum of its members' logits [cap, V]
const D = ${D}u; const H = ${H}u; const DH = ${DH}u; const S = ${S}u; const TMAX = ${TMAX}u; const WG = ${WG}u;
const V = ${V}u; const K = ${K}u; const EMAX = ${EMAX}u;
const SCALE = ${1 / Math.sqrt(DH)};
var<workgroup> xw: array<f32, ${2 * D}>; // the beam's rows' residual stream [T, D]
var<workgroup> hw: array<f32, ${2 * D}>; // its LayerNorm: the next sublayer's input [T, D]
var<workgroup> red: array<f32, ${WG}>;
var<workgroup> pool: array<f32, ${Math.max(...members.map(scratchFloats))}>; // each phase's scratch

${WGSL_HELPERS}
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
// Router logits at base → gates: softmax, kept where at most KTOP − 1 others are larger, renormalised.
fn topKGates(base: u32, E: u32, KTOP: u32) {
  softmaxInPlace(base, E);
  var kept: array<f32, EMAX>;
  var total = 0.0;
  for (var e = 0u; e < E; e++) {
    var above = 0u;
    for (var f = 0u; f < E; f++) { if (pool[base + f] > pool[base + e]) { above++; } }
    kept[e] = select(0.0, pool[base + e], above < KTOP);
    total += kept[e];
  }
  for (var e = 0u; e < E; e++) { pool[base + e] = kept[e] / total; }
}
fn cacheAt(layer: u32, beam: u32, hh: u32) -> u32 { return ((layer * prm.cap + beam) * H + hh) * TMAX * DH; }
${layers.join('\n')}

@compute @workgroup_size(${WG}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) li: vec3u) {
  let b = wid.x; let lid = li.x; let T = prm.T;
  if (b >= prm.rows) { return; } // the search's selection kernel may keep fewer beams than the workgroups dispatched
${bodies.join('\n')}
  // The last row's logits (an ensemble's: the members' mean) in pool: max and Σ exp over the vocabulary.
  var m = -3.4e38;
  for (var v = lid; v < V; v += WG) { m = max(m, pool[v]); }
  let mx = wgMax(m, lid);
  var s = 0.0;
  for (var v = lid; v < V; v += WG) { s += exp(pool[v] - mx); }
  let total = wgSum(s, lid);
  for (var j = lid; j < K; j += WG) { outp[b * (K + 2u) + j] = pool[prm.codeStart + j]; }
  if (lid == 0u) { outp[b * (K + 2u) + K] = mx; outp[b * (K + 2u) + K + 1u] = total; }
}`;
}

/** Workgroup scratch floats of an encoder kernel: attention scores (H · S), then the FFN's hidden units. */
function encoderScratch(config: WebGpuDecoderConfig): number {
  return Math.max(config.heads * config.maxHistory * config.levels, config.ffnDim, 2 * config.dModel);
}

/**
 * WGSL of the encoder (encoder.onnx's computation), one workgroup per history token s: `embed` writes the
 * embedding, the first layer's q/k/v and the memory bias; `layers[i]` runs layer i's attention over every
 * token's keys (from the previous kernel), its FFN, then the next layer's q/k/v — or, after the last layer,
 * ln_f and every decoder layer's cross keys and values, straight into the decoder's cross buffer (at the member's
 * layers of the stack). One set of kernels per ensemble member, run in member order.
 */
function encoderKernels(members: WebGpuDecoderConfig[], w: PackedWeights, unroll: number): { embed: string; layers: string[] }[] {
  const LT = members.reduce((sum, m) => sum + m.decoderLayers, 0); // cross layers of all members
  let base = 0; // this member's first layer in the stacked cross inputs
  return members.map((config, m) => {
    const P0 = memberPrefix(m);
    const { dModel: D, heads: H, encoderLayers: NL, decoderLayers: L, ffnDim: FF, levels, maxHistory } = config;
    const DH = D / H;
    const S = maxHistory * levels;
    const o = (name: string): string => `${w.offset[`${P0}${name}`]}u`;
    const unrolled = unrolledSum(unroll);
    const BASE = base;
    base += L;
    const header = /* wgsl */ `
  @group(0) @binding(0) var<storage, read> w: array<f32>;
  @group(0) @binding(1) var<storage, read_write> X: array<f32>; // residual stream [S, D]
  @group(0) @binding(2) var<storage, read> qkvIn: array<f32>; // this layer's q, k, v [S, 3D]
  @group(0) @binding(3) var<storage, read_write> qkvOut: array<f32>; // the next layer's
  @group(0) @binding(4) var<storage, read> tokens: array<i32>; // [S]
  @group(0) @binding(5) var<storage, read_write> cross: array<f32>; // cross K [L, H, S, DH], cross V, memory bias [S]
  const D = ${D}u; const H = ${H}u; const DH = ${DH}u; const S = ${S}u; const L = ${L}u; const LT = ${LT}u; const FF = ${FF}u; const WG = ${WG}u;
  const SCALE = ${1 / Math.sqrt(DH)};
  const BIAS = ${2 * LT * H * S * DH}u; // memory bias offset in cross
  var<workgroup> red: array<f32, ${WG}>;
  var<workgroup> pool: array<f32, ${encoderScratch(config)}>;
  var<workgroup> xs: array<f32, ${D}>; // this token's residual stream
  var<workgroup> hs: array<f32, ${D}>; // its LayerNorm
  var<workgroup> att: array<f32, ${D}>;
  ${WGSL_HELPERS}
  // hs = LayerNorm(xs) (epsilon 1e-5).
  fn layerNorm(g: u32, b: u32, lid: u32) {
    var s = 0.0;
    for (var c = lid; c < D; c += WG) { s += xs[c]; }
    let mean = wgSum(s, lid) / f32(D);
    var q = 0.0;
    for (var c = lid; c < D; c += WG) { let z = xs[c] - mean; q += z * z; }
    let inv = 1.0 / sqrt(wgSum(q, lid) / f32(D) + 1e-5);
    for (var c = lid; c < D; c += WG) { hs[c] = (xs[c] - mean) * inv * w[g + c] + w[b + c]; }
    workgroupBarrier();
  }
  // [q k v] of token s = hs · W + b with W, b the side-by-side weights at wq, bq.
  fn qkvOf(s: u32, wq: u32, bq: u32, lid: u32) {
    for (var j = lid; j < 3u * D; j += WG) {
      var acc = w[bq + j];
      ${unrolled('acc', D, (x) => `hs[${x}] * w[wq + ${x} * 3u * D + j]`)}
      qkvOut[s * 3u * D + j] = acc;
    }
  }`;
    const embed = /* wgsl */ `${header}
  @compute @workgroup_size(${WG}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) li: vec3u) {
    let s = wid.x; let lid = li.x;
    let tok = tokens[s];
    let recency = ${maxHistory - 1}u - s / ${levels}u; let level = s % ${levels}u; // item slot (newest last) and code level
    for (var c = lid; c < D; c += WG) {
      let x = w[${o('tok_emb')} + u32(tok) * D + c] + (w[${o('enc.item_pos')} + recency * D + c] + w[${o('enc.level_emb')} + level * D + c]);
      xs[c] = x; X[s * D + c] = x;
    }
    if (lid == 0u) { cross[BIAS + s] = select(0.0, -1e9, tok == ${PAD}); }
    workgroupBarrier();
    layerNorm(${o('enc.0.ln1.g')}, ${o('enc.0.ln1.b')}, lid);
    qkvOf(s, ${o('enc.0.attn.qkv.w')}, ${o('enc.0.attn.qkv.b')}, lid);
  }`;
    const layers: string[] = [];
    for (let i = 0; i < NL; i++) {
      const p = (name: string): string => o(`enc.${i}.${name}`);
      const tail = i + 1 < NL
        ? `  layerNorm(${o(`enc.${i + 1}.ln1.g`)}, ${o(`enc.${i + 1}.ln1.b`)}, lid);\n  qkvOf(s, ${o(`enc.${i + 1}.attn.qkv.w`)}, ${o(`enc.${i + 1}.attn.qkv.b`)}, lid);`
        : `  layerNorm(${o('enc.ln_f.g')}, ${o('enc.ln_f.b')}, lid);
    // Every decoder layer's cross keys and values of this token: [K | V] = memory · [Wk | Wv] + [bk | bv].
    for (var i = lid; i < L * 2u * D; i += WG) {
      let l = i / (2u * D); let j = i % (2u * D);
      var wkv: u32; var bkv: u32;
      switch l { ${Array.from({ length: L }, (_, l) => `case ${l}u: { wkv = ${o(`dec.${l}.cross.kv.w`)}; bkv = ${o(`dec.${l}.cross.kv.b`)}; }`).join(' ')} default: { wkv = 0u; bkv = 0u; } }
      var acc = w[bkv + j];
      ${unrolled('acc', D, (x) => `hs[${x}] * w[wkv + ${x} * 2u * D + j]`)}
      let c = j % D; let hh = c / DH; let e = c % DH;
      cross[(j / D) * LT * H * S * DH + (((${BASE}u + l) * H + hh) * S + s) * DH + e] = acc; // this member's layers of the stack
    }`;
      layers.push(/* wgsl */ `${header}
  @compute @workgroup_size(${WG}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) li: vec3u) {
    let s = wid.x; let lid = li.x;
    for (var c = lid; c < D; c += WG) { xs[c] = X[s * D + c]; }
    // Attention of token s over all S tokens, PAD keys masked by the memory bias.
    for (var i = lid; i < H * S; i += WG) {
      let hh = i / S; let j = i % S;
      var dot = 0.0;
      ${unrolled('dot', DH, (x) => `qkvIn[s * 3u * D + hh * DH + ${x}] * qkvIn[j * 3u * D + D + hh * DH + ${x}]`)}
      pool[i] = dot * SCALE + cross[BIAS + j];
    }
    workgroupBarrier();
    rowsSoftmax(0u, H, S, lid);
    for (var c = lid; c < D; c += WG) {
      let hh = c / DH;
      var acc = 0.0;
      ${unrolled('acc', S, (x) => `pool[hh * S + ${x}] * qkvIn[${x} * 3u * D + 2u * D + c]`)}
      att[c] = acc;
    }
    workgroupBarrier();
    for (var c = lid; c < D; c += WG) {
      var y = w[${p('attn.bo')} + c];
      ${unrolled('y', D, (x) => `att[${x}] * w[${p('attn.wo')} + ${x} * D + c]`)}
      xs[c] += y;
    }
    workgroupBarrier();
    layerNorm(${p('ln2.g')}, ${p('ln2.b')}, lid);
    for (var f = lid; f < FF; f += WG) {
      var u = w[${p('ffn.b1')} + f];
      ${unrolled('u', D, (x) => `hs[${x}] * w[${p('ffn.w1')} + ${x} * FF + f]`)}
      pool[f] = fastGelu(u);
    }
    workgroupBarrier();
    for (var c = lid; c < D; c += WG) {
      var y = w[${p('ffn.b2')} + c];
      ${unrolled('y', FF, (x) => `pool[${x}] * w[${p('ffn.w2')} + ${x} * D + c]`)}
      xs[c] += y;
      X[s * D + c] = xs[c];
    }
    workgroupBarrier();
  ${tail}
  }`);
    }
    return { embed, layers };
  });
}

/** Cross-attention inputs from encoder.onnx: cross_k, cross_v [L, 1, H, S, dh] and memory_bias [1, S]. */
export interface CrossInputs {
  crossK: Float32Array;
  crossV: Float32Array;
  memoryBias: Float32Array;
}

/** A request's GPU buffers, `slots` of each per-step one (WebGpuDecoder.ensureCapacity). */
interface Buffers {
  slots: number; // M: step g runs in slot g mod M
  cache: GPUBuffer[]; // K then V: [L, cap, H, TMAX, DH] each, one per slot
  inputs: GPUBuffer; // per slot: Params, tokens [cap, 2], parents [cap], beam state (webgpu-search.ts slotInts)
  inputBytes: number;
  inputStride: number; // bytes between slots (the device's storage offset alignment)
  out: GPUBuffer; // per slot: code scores [cap, K + 2]
  outBytes: number;
  outStride: number;
  pickBytes: number; // the head of an inputs slot that a read-back returns: Params, tokens, parents
  staging: GPUBuffer; // one read-back: every step's code scores, then the heads of the selection kernel's inputs slots
  logitSums: GPUBuffer;
  bind: GPUBindGroup[]; // per slot: the step kernel's bindings
}

/**
 * Whether the search feeds the beams the selection kernel chose: its next slot's rows, tokens (T per row: two after an
 * item's last level) and parents.
 */
function matches(picked: Int32Array, tokens: Int32Array, parents: Int32Array): boolean {
  const rows = picked[P.rows];
  const n = rows * picked[P.T];
  if (rows !== parents.length || tokens.length !== n) return false;
  for (let i = 0; i < n; i++) if (picked[picked[P.tokens] + i] !== tokens[i]) return false;
  for (let b = 0; b < rows; b++) if (picked[picked[P.parents] + b] !== parents[b]) return false;
  return true;
}

/** The encoder's kernels and buffers, when the WebGpuDecoder was given encoder.onnx. */
interface GpuEncoder {
  weights: GPUBuffer;
  residual: GPUBuffer; // [S, D]
  qkv: [GPUBuffer, GPUBuffer]; // [S, 3D] each, alternating between layers
  tokens: GPUBuffer; // [S] i32
  members: { embed: GPUComputePipeline; layers: GPUComputePipeline[] }[]; // each member's kernels, run in turn
  bind: [GPUBindGroup, GPUBindGroup]; // [q/k/v in A → out B, in B → out A]
}

/**
 * A bundle's seed model on a GPUDevice: weights uploaded once, kernels compiled once; per request
 * `session(cross, rows)` over cross inputs computed elsewhere (onnxruntime's encoder.onnx), or, when created
 * with the encoder, `sessionFromTokens(historyTokens, rows)`, whose first step also runs the encoder. Requests
 * must not overlap (the runtime chains them): the buffers are shared.
 */
export class WebGpuDecoder {
  private cap = 0; // beam rows the state and cache buffers hold
  private buffers: Buffers | null = null;
  private readonly tries = new WeakMap<SearchContext['trie'], GPUBuffer>(); // packTrie's buffer per trie
  private readonly trieBuffers: GPUBuffer[] = [];
  private select: GPUComputePipeline | null = null; // the search's selection kernel (runtime/webgpu-search.ts)
  private searchReadBacks: SearchReadBacks = 'session';
  private selectLayout: GPUBindGroupLayout | null = null;
  private readonly crossBuffer: GPUBuffer;
  private readonly K: number;
  private readonly S: number;
  private readonly Tmax: number;
  private readonly timer: { queries: GPUQuerySet; resolve: GPUBuffer } | null = null;
  private encoder: GpuEncoder | null = null;
  /**
   * For benchmarks and tests: decoder steps run on the GPU; read-backs (mapAsync calls); a search's re-runs of its
   * remaining steps (of the session, or of the item) from a choice of the CPU search unlike the selection kernel's; host time to record and submit the steps, waiting for the
   * read-backs and reading them (ms); with `timestamps`, the GPU time of the kernels (ns; a first submit's includes
   * the encoder).
   */
  readonly stats = { steps: 0, readBacks: 0, mispredictions: 0, submitMs: 0, waitMs: 0, readMs: 0, gpuNs: 0 };

  private constructor(
    readonly device: GPUDevice,
    readonly config: WebGpuDecoderConfig, // the graph contract's: decoderLayers = all members' cache layers
    private readonly memberCount: number,
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

  /** The encoder runs here too (created with `encoderOnnx`): use sessionFromTokens. */
  get hasEncoder(): boolean {
    return this.encoder !== null;
  }

  /**
   * Checks the sizes, reads the weights from decoder_step.onnx (and encoder.onnx when given), uploads them and
   * compiles the kernels. `config`: the model's, or an ensemble's members' in order (manifest.ensemble.members; they
   * share width, heads, tokens, history and session; their logits are averaged as the exported graph does).
   * `timestamps`: time each step's kernels on the GPU into `stats` (needs the device's 'timestamp-query').
   * `unroll`: partial sums per dot product (benchmarks).
   * `selectCacheRows`: beam widths up to which the search's selection kernel keeps each thread's candidates in registers
   * (webgpu-search.ts SELECT_CACHE_ROWS; tests and benchmarks set it to run the rescanning path). `selectSubgroups`: its
   * round reduction by subgroup operations (default: where the device has the 'subgroups' feature). `searchReadBacks`:
   * 'session' (default), one submit and one read-back for all of a search's steps, or 'item', one per generated item
   * (runtime/webgpu-search.ts; benchmarks time the two).
   */
  static async create(device: GPUDevice, decoderStepOnnx: Uint8Array, config: WebGpuDecoderConfig | WebGpuDecoderConfig[], options: { encoderOnnx?: Uint8Array; timestamps?: boolean; unroll?: number; selectCacheRows?: number; selectSubgroups?: boolean; searchReadBacks?: SearchReadBacks } = {}): Promise<WebGpuDecoder> {
    const members = Array.isArray(config) ? config : [config];
    if (members.length === 0) throw new WebGpuDecoderError('no model config');
    const contract: WebGpuDecoderConfig = { ...members[0], decoderLayers: members.reduce((sum, m) => sum + m.decoderLayers, 0) };
    const { dModel: D, heads: H } = contract;
    const unroll = options.unroll ?? DEFAULT_UNROLL;
    const floats = Math.max(4 * D + WG + Math.max(...members.map(scratchFloats)), options.encoderOnnx ? 3 * D + WG + Math.max(...members.map(encoderScratch)) : 0); // workgroup memory of the largest kernel
    const problems = [
      D % H !== 0 && `dModel ${D} is not a multiple of heads ${H}`,
      ((H & (H - 1)) !== 0 || 2 * H > WG) && `${H} heads is not a power of two up to ${WG / 2}`,
      members.some((m) => m.experts > WG) && `more experts than the ${WG} threads of a workgroup`,
      ensembleProblem(members),
      4 * floats > device.limits.maxComputeWorkgroupStorageSize && `the kernels need ${4 * floats} bytes of workgroup memory, the device allows ${device.limits.maxComputeWorkgroupStorageSize}`,
    ].filter(Boolean);
    if (problems.length) throw new WebGpuDecoderError(problems.join('; '));
    const { decoder: packed, encoder: encoderPacked } = readSeedWeights(decoderStepOnnx, options.encoderOnnx, members, (reason) => new WebGpuDecoderError(reason));
    const layout = device.createBindGroupLayout({
      entries: [
        { binding: 0, visibility: COMPUTE_STAGE, buffer: storage(true) }, // weights
        { binding: 1, visibility: COMPUTE_STAGE, buffer: storage(true) }, // the previous step's cache
        { binding: 2, visibility: COMPUTE_STAGE, buffer: storage(false) }, // this step's cache
        { binding: 3, visibility: COMPUTE_STAGE, buffer: storage(true) }, // tokens and parents
        { binding: 4, visibility: COMPUTE_STAGE, buffer: storage(true) }, // cross K, V, memory bias
        { binding: 5, visibility: COMPUTE_STAGE, buffer: storage(false) }, // code scores
        { binding: 6, visibility: COMPUTE_STAGE, buffer: storage(true) }, // the step's Params: the head of binding 3's buffer
        { binding: 7, visibility: COMPUTE_STAGE, buffer: storage(false) }, // an ensemble's logit sums
      ],
    });
    const [pipeline] = await compilePipelines(device, layout, [stepKernel(members, packed, unroll)], toError);
    const encoderLayout = encoderPacked && device.createBindGroupLayout({
      entries: [true, false, true, false, true, false].map((readOnly, binding) => ({ binding, visibility: COMPUTE_STAGE, buffer: storage(readOnly) })),
    });
    const encoderSources = encoderPacked && encoderKernels(members, encoderPacked, unroll);
    const encoderPipelines = encoderLayout && encoderSources ? await compilePipelines(device, encoderLayout, encoderSources.flatMap((k) => [k.embed, ...k.layers]), toError) : null;
    const weights = makeBuffer(device, packed.data.byteLength, USAGE.STORAGE | USAGE.COPY_DST);
    upload(device, weights, 0, packed.data);
    const decoder = new WebGpuDecoder(device, contract, members.length, weights, layout, pipeline, Boolean(options.timestamps) && device.features.has('timestamp-query'));
    if (options.searchReadBacks !== undefined && options.searchReadBacks !== 'session' && options.searchReadBacks !== 'item') {
      throw new WebGpuDecoderError(`searchReadBacks '${options.searchReadBacks}': use 'session' or 'item'`);
    }
    decoder.searchReadBacks = options.searchReadBacks ?? 'session';
    if (encoderPacked) {
      // The search's selection kernel: scores (read), this and the next inputs slot (read-write: one buffer), trie, request.
      decoder.selectLayout = device.createBindGroupLayout({ entries: [true, false, false, true, true].map((readOnly, binding) => ({ binding, visibility: COMPUTE_STAGE, buffer: storage(readOnly) })) });
      [decoder.select] = await compilePipelines(device, decoder.selectLayout, [selectKernel(contract.codebookSize, contract.levels, contract.sessionLength, options.selectCacheRows, options.selectSubgroups ?? device.features.has('subgroups'))], toError);
    }
    if (encoderPacked && encoderLayout && encoderPipelines) {
      const S = decoder.S;
      const encoderWeightBuffer = makeBuffer(device, encoderPacked.data.byteLength, USAGE.STORAGE | USAGE.COPY_DST);
      upload(device, encoderWeightBuffer, 0, encoderPacked.data);
      const residual = makeBuffer(device, 4 * S * D, USAGE.STORAGE);
      const qkv: [GPUBuffer, GPUBuffer] = [makeBuffer(device, 4 * S * 3 * D, USAGE.STORAGE), makeBuffer(device, 4 * S * 3 * D, USAGE.STORAGE)];
      const tokens = makeBuffer(device, 4 * S, USAGE.STORAGE | USAGE.COPY_DST);
      const group = (from: GPUBuffer, to: GPUBuffer): GPUBindGroup => device.createBindGroup({
        layout: encoderLayout,
        entries: [encoderWeightBuffer, residual, from, to, tokens, decoder.crossBuffer].map((buffer, binding) => ({ binding, resource: { buffer } })),
      });
      let next = 0;
      const kernels = members.map((m) => ({ embed: encoderPipelines[next++], layers: Array.from({ length: m.encoderLayers }, () => encoderPipelines[next++]) }));
      decoder.encoder = { weights: encoderWeightBuffer, residual, qkv, tokens, members: kernels, bind: [group(qkv[0], qkv[1]), group(qkv[1], qkv[0])] };
    }
    return decoder;
  }

  /**
   * Buffers for `rows` beam rows (grown, never shrunk). Step g of a request runs in slot g mod M: it reads cache[g mod M]
   * and writes cache[(g + 1) mod M], its tokens, parents and beam state in inputs slot g mod M, its code scores in out
   * slot g mod M. M = sessionLength × levels + 1 where a search reads back once per session (every step of the longest
   * session, if those caches fit SESSION_CACHE_BYTES), else levels + 1 (an item's steps). A submit of up to M − 1 steps
   * thus leaves every step's cache intact until the next submit, so a step can be run again from any of them.
   */
  private ensureCapacity(rows: number): Buffers {
    if (this.buffers && this.cap >= rows) return this.buffers;
    this.destroyBuffers();
    const { device, config } = this;
    const { decoderLayers: L, heads: H, dModel: D, levels } = config;
    const cap = Math.max(rows, 1);
    const align = device.limits.minStorageBufferOffsetAlignment;
    const cacheBytes = 4 * 2 * L * cap * H * this.Tmax * (D / H); // K and V
    const sessionSlots = config.sessionLength * levels + 1;
    const slots = this.select && this.searchReadBacks === 'session' && sessionSlots * cacheBytes <= SESSION_CACHE_BYTES ? sessionSlots : levels + 1;
    const cache = Array.from({ length: slots }, () => makeBuffer(device, cacheBytes, USAGE.STORAGE));
    const inputBytes = 4 * slotInts(cap, config.sessionLength, levels);
    const inputStride = Math.ceil(inputBytes / align) * align;
    const inputs = makeBuffer(device, slots * inputStride, USAGE.STORAGE | USAGE.COPY_DST | USAGE.COPY_SRC);
    const outBytes = 4 * cap * (this.K + 2);
    const outStride = Math.ceil(outBytes / align) * align;
    const out = makeBuffer(device, slots * outStride, USAGE.STORAGE | USAGE.COPY_SRC);
    const pickBytes = 4 * (PARAMS + 3 * cap); // what the host reads of a slot the kernel wrote: Params, tokens, parents
    const staging = makeBuffer(device, (slots - 1) * (outBytes + pickBytes) + 24, USAGE.MAP_READ | USAGE.COPY_DST); // + the kernels' two timestamps, 8-byte aligned
    const V = SPECIAL_TOKENS + levels * this.K;
    const logitSums = makeBuffer(device, this.memberCount > 1 ? 4 * cap * V : 16, USAGE.STORAGE); // [cap, V] for an ensemble's mean
    const bind = Array.from({ length: slots }, (_, j) => device.createBindGroup({
      layout: this.layout,
      entries: [
        { buffer: this.weights }, { buffer: cache[j] }, { buffer: cache[(j + 1) % slots] },
        { buffer: inputs, offset: j * inputStride, size: inputBytes }, { buffer: this.crossBuffer },
        { buffer: out, offset: j * outStride, size: outBytes }, { buffer: inputs, offset: j * inputStride, size: inputBytes }, { buffer: logitSums },
      ].map((resource, binding) => ({ binding, resource })),
    }));
    this.cap = cap;
    this.buffers = { slots, cache, inputs, inputBytes, inputStride, out, outBytes, outStride, pickBytes, staging, logitSums, bind };
    return this.buffers;
  }

  private destroyBuffers(): void {
    if (!this.buffers) return;
    const { cache, inputs, out, staging, logitSums } = this.buffers;
    for (const b of [...cache, inputs, out, staging, logitSums]) b.destroy();
    this.buffers = null;
  }

  /** One request's DecoderSession over the encoder's cross inputs; `maxRows` bounds the beams of any step. */
  session(cross: CrossInputs, maxRows: number): DecoderSession {
    const { decoderLayers: L, heads: H, dModel: D } = this.config;
    const crossFloats = L * H * this.S * (D / H);
    if (cross.crossK.length !== crossFloats || cross.crossV.length !== crossFloats || cross.memoryBias.length !== this.S) {
      throw new WebGpuDecoderError(`cross inputs of ${cross.crossK.length}/${cross.crossV.length}/${cross.memoryBias.length} floats, expected ${crossFloats}/${crossFloats}/${this.S}`);
    }
    upload(this.device, this.crossBuffer, 0, cross.crossK);
    upload(this.device, this.crossBuffer, 4 * crossFloats, cross.crossV);
    upload(this.device, this.crossBuffer, 8 * crossFloats, cross.memoryBias);
    return this.stepper(maxRows, false, null);
  }

  /**
   * One request's DecoderSession from the encoder's input, history_tokens [S] (runtime/tokens.ts encoderTokens):
   * the encoder's kernels are recorded in front of the first step's (needs `hasEncoder`). Each call runs one step and
   * reads its code scores back (score()'s teacher forcing, tests).
   */
  sessionFromTokens(historyTokens: Int32Array, maxRows: number): DecoderSession {
    this.uploadHistory(historyTokens);
    return this.stepper(maxRows, true, null);
  }

  /**
   * The same DecoderSession for the shared beam search over `search.trie`: the session's steps run on the GPU with the
   * selection kernel between them (runtime/webgpu-search.ts), one submit and one read-back per call (per generated item
   * with `searchReadBacks: 'item'`, or where that file says) while the search feeds the beams the kernel chose; the
   * sessions are the CPU search's (see that file).
   */
  searchSession(historyTokens: Int32Array, maxRows: number, search: SearchContext): DecoderSession {
    if (!this.select) throw new WebGpuDecoderError('created without encoder.onnx; use session(cross, rows)');
    const { trie } = search;
    if (trie.levels !== this.config.levels || trie.codebookSize !== this.K || search.sessionLength > this.config.sessionLength) {
      throw new WebGpuDecoderError(`a trie of ${trie.levels} levels × ${trie.codebookSize} codes and sessions of ${search.sessionLength} items; the model has ${this.config.levels} × ${this.K} and ${this.config.sessionLength}`);
    }
    this.uploadHistory(historyTokens);
    return this.stepper(Math.max(maxRows, search.beamWidth), true, search);
  }

  private uploadHistory(historyTokens: Int32Array): void {
    if (!this.encoder) throw new WebGpuDecoderError('created without encoder.onnx; use session(cross, rows)');
    if (historyTokens.length !== this.S) throw new WebGpuDecoderError(`history_tokens has ${historyTokens.length} tokens, the encoder takes ${this.S}`);
    upload(this.device, this.encoder.tokens, 0, historyTokens);
  }

  /** The encoder's dispatches (one workgroup per history token), cross inputs left in crossBuffer. */
  private recordEncoder(pass: GPUComputePassEncoder): void {
    const enc = this.encoder!;
    for (const member of enc.members) {
      pass.setPipeline(member.embed);
      pass.setBindGroup(0, enc.bind[1]); // writes q/k/v into A
      pass.dispatchWorkgroups(this.S);
      member.layers.forEach((pipeline, i) => {
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, enc.bind[i % 2]); // layer i reads the q/k/v the previous kernel wrote
        pass.dispatchWorkgroups(this.S);
      });
    }
  }

  /** The trie's GPU buffer (packTrie), uploaded once per trie. */
  private trieBuffer(trie: SearchContext['trie']): GPUBuffer {
    let buffer = this.tries.get(trie);
    if (!buffer) {
      const packed = packTrie(trie);
      buffer = makeBuffer(this.device, packed.byteLength, USAGE.STORAGE | USAGE.COPY_DST);
      upload(this.device, buffer, 0, packed);
      this.tries.set(trie, buffer);
      this.trieBuffers.push(buffer);
    }
    return buffer;
  }

  /**
   * Records steps g, g + 1, … (`steps` of them; the first feeds `tokens`/`parents`, each later one the beams the
   * selection kernel chose after the previous step: one token per row, or an item's last code and BOS after its last
   * level) in one submit and reads back every step's code scores and, for the later steps, the kernel's choices: the
   * head of their inputs slots (Params, tokens, parents) [steps − 1].
   */
  private async runSteps(buffers: Buffers, run: { g: number; position: number; tokens: Int32Array; parents: Int32Array; steps: number; item: number; encode: boolean; search: { context: SearchContext; state: Int32Array; bind: GPUBindGroup[] } | null }): Promise<{ scores: Float32Array[]; picks: Int32Array[] }> {
    const { device, cap, K } = this;
    const { levels } = this.config;
    const { slots, inputStride, outBytes, pickBytes } = buffers;
    const B = run.parents.length;
    const T = run.tokens.length / B;
    const t0 = now();
    // Every step's Params (and the first step's tokens, parents and beam state) in one upload per run of consecutive
    // slots; the rest of a later step's slot is the selection kernel's to write, after this upload in queue order.
    const stride = inputStride / 4;
    const first = run.g % slots;
    const contiguous = Math.min(run.steps, slots - first);
    const upload0 = new Int32Array(Math.max((contiguous - 1) * stride + PARAMS, buffers.inputBytes / 4)); // slots first … first + contiguous − 1
    const upload1 = run.steps > contiguous ? new Int32Array((run.steps - contiguous - 1) * stride + PARAMS) : null; // the rest, from slot 0
    let position = run.position;
    let level = Math.min((position + T - 1) % (levels + 1), levels - 1);
    let item = run.item;
    for (let k = 0; k < run.steps; k++) {
      const Tk = k === 0 ? T : level === 0 ? 2 : 1;
      const params = k < contiguous ? upload0.subarray(k * stride) : upload1!.subarray((k - contiguous) * stride);
      params.set([Tk, position, SPECIAL_TOKENS + level * K, cap, PARAMS, PARAMS + 2 * cap, k === 0 ? B : 0, level, item, run.search?.context.beamWidth ?? 0, PARAMS + 3 * cap, 0]);
      if (k === 0) {
        params.set(run.tokens, PARAMS);
        params.set(run.parents, PARAMS + 2 * cap);
        if (run.search) params.set(run.search.state, PARAMS + 3 * cap);
      }
      position += Tk;
      if (++level === levels) {
        level = 0;
        item++;
      }
    }
    upload(device, buffers.inputs, first * inputStride, upload0);
    if (upload1) upload(device, buffers.inputs, 0, upload1);
    const encoder = device.createCommandEncoder();
    const timer = this.timer;
    const pass = timer ? encoder.beginComputePass({ timestampWrites: { querySet: timer.queries, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } }) : encoder.beginComputePass();
    if (run.encode) this.recordEncoder(pass);
    for (let k = 0; k < run.steps; k++) {
      const slot = (run.g + k) % slots;
      if (k > 0) {
        pass.setPipeline(this.select!);
        pass.setBindGroup(0, run.search!.bind[(slot + slots - 1) % slots]);
        pass.dispatchWorkgroups(1);
      }
      pass.setBindGroup(0, buffers.bind[slot]);
      pass.setPipeline(this.pipeline);
      pass.dispatchWorkgroups(k === 0 ? B : Math.min(cap, run.search!.context.beamWidth));
    }
    pass.end();
    let at = 0;
    for (let k = 0; k < run.steps; k++) {
      encoder.copyBufferToBuffer(buffers.out, ((run.g + k) % slots) * buffers.outStride, buffers.staging, at, k === 0 ? 4 * B * (K + 2) : outBytes);
      at += outBytes;
    }
    for (let k = 1; k < run.steps; k++) {
      encoder.copyBufferToBuffer(buffers.inputs, ((run.g + k) % slots) * inputStride, buffers.staging, at, pickBytes);
      at += pickBytes;
    }
    const stamped = timer ? at + (at % 8) + 16 : at; // timestamps after the rest, 8-byte aligned
    if (timer) {
      encoder.resolveQuerySet(timer.queries, 0, 2, timer.resolve, 0);
      encoder.copyBufferToBuffer(timer.resolve, 0, buffers.staging, stamped - 16, 16);
    }
    device.queue.submit([encoder.finish()]);
    const t1 = now();
    await buffers.staging.mapAsync(MAP_READ, 0, stamped);
    const t2 = now();
    const mapped = buffers.staging.getMappedRange(0, stamped);
    const copy = mapped.slice(0, at); // one copy out of the mapping; the steps' arrays are views of it
    const scores: Float32Array[] = [];
    const picks: Int32Array[] = [];
    for (let k = 0; k < run.steps; k++) scores.push(new Float32Array(copy, k * outBytes, outBytes / 4));
    for (let k = 1; k < run.steps; k++) picks.push(new Int32Array(copy, run.steps * outBytes + (k - 1) * pickBytes, pickBytes / 4));
    if (timer) {
      const [begin, end] = new BigUint64Array(mapped, stamped - 16, 2);
      this.stats.gpuNs += Number(end - begin);
    }
    buffers.staging.unmap();
    const { stats } = this;
    Object.assign(stats, { steps: stats.steps + run.steps, readBacks: stats.readBacks + 1, submitMs: stats.submitMs + t1 - t0, waitMs: stats.waitMs + t2 - t1, readMs: stats.readMs + now() - t2 });
    return { scores, picks };
  }

  /**
   * The request's DecoderSession. Without `search` every call runs one step. With it, the search's first call runs
   * every step of the session at once (or, reading back once per item, of the item), as does a call that departs from
   * the beams the kernel chose (the steps from there); the calls that follow are answered from that read-back while the
   * search feeds the beams the kernel chose.
   */
  private stepper(maxRows: number, encodeFirst: boolean, search: SearchContext | null): DecoderSession {
    const buffers = this.ensureCapacity(maxRows);
    const { levels, sessionLength: modelSessionLength } = this.config;
    const K = this.K;
    const cap = this.cap;
    const { slots } = buffers;
    let position = 0;
    let g = 0; // the next step's index: slot g mod slots
    let encode = encodeFirst;
    // The search's request buffer (requestHead) and the selection kernel's bind groups.
    let request: { buffer: GPUBuffer; bind: GPUBindGroup[] } | null = null;
    let mirror: BeamMirror | null = null;
    // Steps of the whole session, when one submit records them all (else each submit ends at an item's last level).
    const sessionSteps = search ? search.sessionLength * levels : 0;
    const wholeSession = search !== null && sessionSteps < slots && lastLevelKnown(search);
    if (search) {
      const head = requestHead(search);
      const buffer = makeBuffer(this.device, head.byteLength, USAGE.STORAGE | USAGE.COPY_DST);
      upload(this.device, buffer, 0, head);
      const trieBuffer = this.trieBuffer(search.trie);
      const { inputs, inputStride, inputBytes, out, outStride, outBytes } = buffers;
      const bind = Array.from({ length: slots }, (_, j) => this.device.createBindGroup({
        layout: this.selectLayout!,
        entries: [
          { buffer: out, offset: j * outStride, size: outBytes },
          { buffer: inputs, offset: j * inputStride, size: inputBytes },
          { buffer: inputs, offset: ((j + 1) % slots) * inputStride, size: inputBytes },
          { buffer: trieBuffer }, { buffer },
        ].map((resource, binding) => ({ binding, resource })),
      }));
      request = { buffer, bind };
      mirror = new BeamMirror(search.trie, modelSessionLength, search.historyBias);
    }
    // The read-back being served: its steps' code scores, the kernel's choices, and the next step it answers.
    let pending: { scores: Float32Array[]; picks: Int32Array[]; next: number } | null = null;
    let previous: Float64Array | null = null; // the code log-probabilities the last call returned [rows, K]
    const step = async (tokens: Int32Array, parents: Int32Array): Promise<Float64Array> => {
      const B = parents.length;
      const T = tokens.length / B;
      if (B > cap || (T !== 1 && T !== 2) || position + T > this.Tmax) throw new WebGpuDecoderError(`a step of ${B} rows × ${T} tokens at position ${position} exceeds the session's ${cap} rows, 2 tokens and ${this.Tmax} positions`);
      const nextLevel = Math.min((position + T - 1) % (levels + 1), levels - 1);
      if (mirror && previous) mirror.feed(T === 2 ? tokens.filter((_, i) => i % 2 === 0) : tokens, parents, previous);
      let answer: Float32Array;
      if (pending && pending.next < pending.scores.length && matches(pending.picks[pending.next - 1], tokens, parents)) {
        answer = pending.scores[pending.next++];
      } else {
        if (pending && pending.next < pending.scores.length) this.stats.mispredictions++;
        let state: Int32Array | null = null;
        if (search && mirror) {
          // Each row's score (float32 bits), trie node and session paths (webgpu-search.ts slotInts; the kernel writes
          // the shift column).
          state = new Int32Array(3 * cap + cap * modelSessionLength * levels);
          const score = new Float32Array(state.buffer, 0, cap);
          for (let b = 0; b < B; b++) score[b] = mirror.score[b];
          state.set(mirror.node, cap);
          state.set(mirror.paths, 3 * cap);
        }
        const steps = !search ? 1 : wholeSession ? Math.max(1, sessionSteps - g) : levels - nextLevel;
        const { scores, picks } = await this.runSteps(buffers, { g, position, tokens, parents, steps, item: mirror?.item ?? 0, encode, search: search && state ? { context: search, state, bind: request!.bind } : null });
        encode = false;
        pending = { scores, picks, next: 1 };
        answer = scores[0];
      }
      position += T;
      g++;
      previous = codeLogProbs(answer.subarray(0, B * (K + 2)), K);
      return previous;
    };
    return {
      twoTokenSteps: true,
      stepCodeLogProbs: step,
      step: () => Promise.reject(new WebGpuDecoderError('full logits are not computed; use stepCodeLogProbs')),
      dispose: () => request?.buffer.destroy(),
    };
  }

  dispose(): void {
    this.destroyBuffers();
    for (const b of this.trieBuffers) b.destroy();
    if (this.encoder) for (const b of [this.encoder.weights, this.encoder.residual, ...this.encoder.qkv, this.encoder.tokens]) b.destroy();
    this.weights.destroy();
    this.crossBuffer.destroy();
    this.timer?.queries.destroy();
    this.timer?.resolve.destroy();
  }
}
