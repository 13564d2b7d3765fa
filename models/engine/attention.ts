// Fused multi-head attention (flash-style, fp32): q [B, Tq, D], k and v [B, Tk, D] → [B, Tq, D], heads of
// dh = D / heads, scale 1/√dh, optional causal mask (key j visible to query i iff j ≤ i) and key padding mask
// keyMask [B, Tk] (nonzero = attend). Heads are read in place from the [B, T, D] layout: no transposes.
//
// Forward: one thread per query row, a workgroup per (32 queries, head, batch); key/value tiles of 32 rows are
// staged in shared memory and folded into an online softmax, so scores never reach memory. The row's
// log-sum-exp is kept for backward. A query whose keys are all masked outputs zeros.
// Backward: kernel 1 (a thread per query) recomputes probabilities from the log-sum-exp and forms dQ and
// Dᵢ = dOᵢ·Oᵢ; kernel 2 (a thread per key) forms dK and dV. No atomics: every output is written once.
//
// Two generations of the three kernels, picked per engine (setAttentionVariant) or per call (options.variant):
// - 'v1': the loops over the head dimension index per-thread arrays (q, acc, dq, …) with a loop variable and
//   read shared memory one float per FMA. Kept so that bench/attention.ts can time both in one run.
// - 'v2' (default where dh is a multiple of 4): the same algorithm with the head dimension written out as
//   vec4 registers (constant indices, generated here, so that the compiler keeps them in registers: a dynamic
//   index put matmul's accumulators in local memory on NVIDIA), shared tiles of vec4 (one shared read feeds
//   4 FMAs), the forward's scores of a 16-key tile in named registers, and for dh > 32 the dK/dV kernel splits
//   the head dimension of its accumulators over two threads per key (each holds the whole k and v rows and
//   recomputes the scores) so that no thread needs more than 3·dh accumulator and operand registers. With at
//   most 16 queries (the decoder's 10 tokens) a forward or dQ workgroup takes ⌊32 / Tq⌋ sequences of one head,
//   where v1 left 22 of 32 lanes idle; the forward skips a key tile with no visible key.
import { type Engine, type Kernel, type Tensor } from './engine.ts';
import { EngineError, ShapeError } from './errors.ts';

const QB = 32; // queries per workgroup (one per thread)
const KB = 32; // keys per shared-memory tile

const PARAMS: Kernel['params'] = [['Tq', 'u32'], ['Tk', 'u32'], ['D', 'u32'], ['scale', 'f32'], ['causal', 'u32'], ['hasMask', 'u32']];
const kernels = new Map<string, Kernel>();

function forwardKernel(dh: number): Kernel {
  return {
    name: 'attention', params: PARAMS, bindings: ['read', 'read', 'read', 'read', 'rw', 'rw'], code: /* wgsl */ `
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<f32>;
@group(0) @binding(3) var<storage, read> V: array<f32>;
@group(0) @binding(4) var<storage, read> MASK: array<f32>;
@group(0) @binding(5) var<storage, read_write> O: array<f32>;
@group(0) @binding(6) var<storage, read_write> LSE: array<f32>;
var<workgroup> Ks: array<f32, ${KB * dh}>;
var<workgroup> Vs: array<f32, ${KB * dh}>;
var<workgroup> Ms: array<f32, ${KB}>;
@compute @workgroup_size(${QB}) fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3<u32>) {
  let b = wid.z;
  let h = wid.y;
  let H = nwg.y;
  let i = wid.x * ${QB}u + lid;
  let valid = i < p.Tq;
  let qBase = (b * p.Tq + min(i, p.Tq - 1u)) * p.D + h * ${dh}u;
  var q: array<f32, ${dh}>;
  var acc: array<f32, ${dh}>;
  for (var d = 0u; d < ${dh}u; d++) { q[d] = Q[qBase + d] * p.scale; acc[d] = 0.0; }
  var m = -1e30;
  var l = 0.0;
  var keyEnd = p.Tk;
  if (p.causal != 0u) { keyEnd = min(p.Tk, (wid.x + 1u) * ${QB}u); }
  var sc: array<f32, ${KB}>;
  for (var k0 = 0u; k0 < keyEnd; k0 += ${KB}u) {
    for (var x = lid; x < ${KB * dh}u; x += ${QB}u) {
      let j = k0 + x / ${dh}u;
      let src = (b * p.Tk + min(j, p.Tk - 1u)) * p.D + h * ${dh}u + x % ${dh}u;
      Ks[x] = K[src];
      Vs[x] = V[src];
    }
    for (var x = lid; x < ${KB}u; x += ${QB}u) {
      let j = k0 + x;
      var keep = j < p.Tk;
      if (keep && p.hasMask != 0u) { keep = MASK[b * p.Tk + j] != 0.0; }
      Ms[x] = select(0.0, 1.0, keep);
    }
    workgroupBarrier();
    var mt = m;
    for (var j = 0u; j < ${KB}u; j++) {
      var s = -1e30;
      if (Ms[j] != 0.0 && (p.causal == 0u || k0 + j <= i)) {
        s = 0.0;
        for (var d = 0u; d < ${dh}u; d++) { s = fma(q[d], Ks[j * ${dh}u + d], s); }
      }
      sc[j] = s;
      mt = max(mt, s);
    }
    if (mt > -1e29) {
      let corr = exp(m - mt);
      l *= corr;
      for (var d = 0u; d < ${dh}u; d++) { acc[d] *= corr; }
      for (var j = 0u; j < ${KB}u; j++) {
        if (sc[j] > -1e29) {
          let pj = exp(sc[j] - mt);
          l += pj;
          for (var d = 0u; d < ${dh}u; d++) { acc[d] = fma(pj, Vs[j * ${dh}u + d], acc[d]); }
        }
      }
      m = mt;
    }
    workgroupBarrier();
  }
  if (valid) {
    let inv = select(0.0, 1.0 / l, l > 0.0);
    for (var d = 0u; d < ${dh}u; d++) { O[qBase + d] = acc[d] * inv; }
    LSE[(b * H + h) * p.Tq + i] = select(1e30, m + log(l), l > 0.0);
  }
}`,
  };
}

function backwardQueryKernel(dh: number): Kernel {
  return {
    name: 'attentionBackwardQ', params: PARAMS, bindings: ['read', 'read', 'read', 'read', 'read', 'read', 'read', 'rw', 'rw'], code: /* wgsl */ `
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<f32>;
@group(0) @binding(3) var<storage, read> V: array<f32>;
@group(0) @binding(4) var<storage, read> MASK: array<f32>;
@group(0) @binding(5) var<storage, read> O: array<f32>;
@group(0) @binding(6) var<storage, read> LSE: array<f32>;
@group(0) @binding(7) var<storage, read> DO: array<f32>;
@group(0) @binding(8) var<storage, read_write> DQ: array<f32>;
@group(0) @binding(9) var<storage, read_write> DVEC: array<f32>;
var<workgroup> Ks: array<f32, ${KB * dh}>;
var<workgroup> Vs: array<f32, ${KB * dh}>;
var<workgroup> Ms: array<f32, ${KB}>;
@compute @workgroup_size(${QB}) fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3<u32>) {
  let b = wid.z;
  let h = wid.y;
  let H = nwg.y;
  let i = wid.x * ${QB}u + lid;
  let valid = i < p.Tq;
  let ic = min(i, p.Tq - 1u);
  let qBase = (b * p.Tq + ic) * p.D + h * ${dh}u;
  var q: array<f32, ${dh}>;
  var go: array<f32, ${dh}>;
  var dq: array<f32, ${dh}>;
  var Di = 0.0;
  for (var d = 0u; d < ${dh}u; d++) {
    q[d] = Q[qBase + d] * p.scale;
    go[d] = DO[qBase + d];
    Di = fma(go[d], O[qBase + d], Di);
    dq[d] = 0.0;
  }
  let lse = LSE[(b * H + h) * p.Tq + ic];
  var keyEnd = p.Tk;
  if (p.causal != 0u) { keyEnd = min(p.Tk, (wid.x + 1u) * ${QB}u); }
  for (var k0 = 0u; k0 < keyEnd; k0 += ${KB}u) {
    for (var x = lid; x < ${KB * dh}u; x += ${QB}u) {
      let j = k0 + x / ${dh}u;
      let src = (b * p.Tk + min(j, p.Tk - 1u)) * p.D + h * ${dh}u + x % ${dh}u;
      Ks[x] = K[src];
      Vs[x] = V[src];
    }
    for (var x = lid; x < ${KB}u; x += ${QB}u) {
      let j = k0 + x;
      var keep = j < p.Tk;
      if (keep && p.hasMask != 0u) { keep = MASK[b * p.Tk + j] != 0.0; }
      Ms[x] = select(0.0, 1.0, keep);
    }
    workgroupBarrier();
    for (var j = 0u; j < ${KB}u; j++) {
      if (Ms[j] != 0.0 && (p.causal == 0u || k0 + j <= i)) {
        var s = 0.0;
        var dp = 0.0;
        for (var d = 0u; d < ${dh}u; d++) {
          s = fma(q[d], Ks[j * ${dh}u + d], s);
          dp = fma(go[d], Vs[j * ${dh}u + d], dp);
        }
        let ds = exp(s - lse) * (dp - Di);
        for (var d = 0u; d < ${dh}u; d++) { dq[d] = fma(ds, Ks[j * ${dh}u + d], dq[d]); }
      }
    }
    workgroupBarrier();
  }
  if (valid) {
    for (var d = 0u; d < ${dh}u; d++) { DQ[qBase + d] = dq[d] * p.scale; }
    DVEC[(b * H + h) * p.Tq + i] = Di;
  }
}`,
  };
}

function backwardKeyKernel(dh: number): Kernel {
  return {
    name: 'attentionBackwardKV', params: PARAMS, bindings: ['read', 'read', 'read', 'read', 'read', 'read', 'read', 'rw', 'rw'], code: /* wgsl */ `
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<f32>;
@group(0) @binding(3) var<storage, read> V: array<f32>;
@group(0) @binding(4) var<storage, read> MASK: array<f32>;
@group(0) @binding(5) var<storage, read> LSE: array<f32>;
@group(0) @binding(6) var<storage, read> DVEC: array<f32>;
@group(0) @binding(7) var<storage, read> DO: array<f32>;
@group(0) @binding(8) var<storage, read_write> DK: array<f32>;
@group(0) @binding(9) var<storage, read_write> DV: array<f32>;
var<workgroup> Qs: array<f32, ${QB * dh}>;
var<workgroup> Gs: array<f32, ${QB * dh}>;
var<workgroup> Ls: array<f32, ${QB}>;
var<workgroup> Ds: array<f32, ${QB}>;
@compute @workgroup_size(${KB}) fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3<u32>) {
  let b = wid.z;
  let h = wid.y;
  let H = nwg.y;
  let j = wid.x * ${KB}u + lid;
  let jc = min(j, p.Tk - 1u);
  let kBase = (b * p.Tk + jc) * p.D + h * ${dh}u;
  var keep = j < p.Tk;
  if (keep && p.hasMask != 0u) { keep = MASK[b * p.Tk + jc] != 0.0; }
  var kk: array<f32, ${dh}>;
  var vv: array<f32, ${dh}>;
  var dk: array<f32, ${dh}>;
  var dv: array<f32, ${dh}>;
  for (var d = 0u; d < ${dh}u; d++) { kk[d] = K[kBase + d]; vv[d] = V[kBase + d]; dk[d] = 0.0; dv[d] = 0.0; }
  var q0 = 0u;
  if (p.causal != 0u) { q0 = (wid.x * ${KB}u / ${QB}u) * ${QB}u; }
  for (; q0 < p.Tq; q0 += ${QB}u) {
    for (var x = lid; x < ${QB * dh}u; x += ${KB}u) {
      let i = min(q0 + x / ${dh}u, p.Tq - 1u);
      let src = (b * p.Tq + i) * p.D + h * ${dh}u + x % ${dh}u;
      Qs[x] = Q[src] * p.scale;
      Gs[x] = DO[src];
    }
    for (var x = lid; x < ${QB}u; x += ${KB}u) {
      let i = min(q0 + x, p.Tq - 1u);
      Ls[x] = LSE[(b * H + h) * p.Tq + i];
      Ds[x] = DVEC[(b * H + h) * p.Tq + i];
    }
    workgroupBarrier();
    if (keep) {
      for (var x = 0u; x < ${QB}u; x++) {
        let i = q0 + x;
        if (i < p.Tq && (p.causal == 0u || j <= i)) {
          var s = 0.0;
          var dp = 0.0;
          for (var d = 0u; d < ${dh}u; d++) {
            s = fma(Qs[x * ${dh}u + d], kk[d], s);
            dp = fma(Gs[x * ${dh}u + d], vv[d], dp);
          }
          let pr = exp(s - Ls[x]);
          let ds = pr * (dp - Ds[x]);
          for (var d = 0u; d < ${dh}u; d++) {
            dv[d] = fma(pr, Gs[x * ${dh}u + d], dv[d]);
            dk[d] = fma(ds, Qs[x * ${dh}u + d], dk[d]);
          }
        }
      }
    }
    workgroupBarrier();
  }
  if (j < p.Tk) {
    // Qs already carries the scale, so dk is complete.
    for (var d = 0u; d < ${dh}u; d++) { DK[kBase + d] = dk[d]; DV[kBase + d] = dv[d]; }
  }
}`,
  };
}

const V2_QB = 32; // forward and dQ: queries per workgroup (one per thread)
const V2_KB = 16; // forward and dQ: keys per shared tile
const V2_KB_PACKED = 8; // forward and dQ with several sequences per workgroup: keys per shared tile of each
const V2_KEYS = 32; // dK/dV: keys per workgroup
const V2_QT = 16; // dK/dV: queries per shared tile

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
/** Σ_c dot(a_c, b(c)) over the n vec4 pieces of a head row, as one expression. */
const dots = (n: number, a: string, b: (c: number) => string) => range(n).map((c) => `dot(${a}${c}, ${b(c)})`).join(' + ');
/** A vec4 of four consecutive floats of `buf` from index `at`. */
const load4 = (buf: string, at: string) => `vec4<f32>(${buf}[${at}], ${buf}[${at} + 1u], ${buf}[${at} + 2u], ${buf}[${at} + 3u])`;

const PARAMS_V2: Kernel['params'] = [...PARAMS, ['B', 'u32']];

/**
 * Sequences per workgroup of the v2 forward and dQ kernels: with few queries (the decoder's 10 tokens) a workgroup
 * of 32 lanes takes ⌊32 / Tq⌋ sequences of one head (8-key tiles of each in shared memory, at most 16 KB), so that
 * most lanes have a query; otherwise one sequence per workgroup, 32 queries of it.
 */
function sequencesPerGroup(Tq: number, dh: number): number {
  if (Tq > V2_QB / 2) return 1;
  return Math.max(1, Math.min(Math.floor(V2_QB / Tq), Math.floor(16384 / (V2_KB_PACKED * dh * 8 + V2_KB_PACKED * 4))));
}

/** Lane → sequence b (its index grp in the workgroup) and query i, for G sequences per workgroup. */
function queryLanes(G: number): string {
  if (G === 1) return `  let grp = 0u;
  let b = wid.z;
  let i = wid.x * ${V2_QB}u + lid;
  let valid = i < p.Tq;`;
  return `  let grp = min(lid / p.Tq, ${G - 1}u);
  let i = select(p.Tq, lid % p.Tq, lid < ${G}u * p.Tq);
  let valid = i < p.Tq && wid.z * ${G}u + grp < p.B;
  let b = min(wid.z * ${G}u + grp, p.B - 1u);`;
}

/**
 * The start of a kernel over query tiles (forward and dQ): the shared key tiles of the workgroup's G sequences, the
 * entry point, the head, this lane's query (queryLanes) and where its sequence's keys and mask sit in the tiles.
 */
function queryTileStart(G: number, KB: number, n: number): string {
  return `var<workgroup> Ks: array<vec4<f32>, ${G * KB * n}>;
var<workgroup> Vs: array<vec4<f32>, ${G * KB * n}>;
var<workgroup> Ms: array<f32, ${G * KB}>;
@compute @workgroup_size(${V2_QB}) fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3<u32>) {
  let h = wid.y;
  let H = nwg.y;
${queryLanes(G)}
  let kb = grp * ${KB * n}u; // this sequence's staged keys
  let mb = grp * ${KB}u;`;
}

/** Stages keys k0 … k0 + KB − 1 of the workgroup's G sequences: K and V rows of the head as vec4 [G, KB, dh/4], the mask [G, KB]. */
function stageKeys(G: number, KB: number, dh: number): string {
  const n = dh / 4;
  return `    for (var x = lid; x < ${G * KB * n}u; x += ${V2_QB}u) {
      let r = x % ${KB * n}u;
      let j = k0 + r / ${n}u;
      let bb = min(wid.z * ${G}u + x / ${KB * n}u, p.B - 1u);
      let src = (bb * p.Tk + min(j, p.Tk - 1u)) * p.D + h * ${dh}u + (r % ${n}u) * 4u;
      Ks[x] = ${load4('K', 'src')};
      Vs[x] = ${load4('V', 'src')};
    }
    for (var x = lid; x < ${G * KB}u; x += ${V2_QB}u) {
      let j = k0 + x % ${KB}u;
      let bb = wid.z * ${G}u + x / ${KB}u;
      var keep = j < p.Tk && bb < p.B;
      if (keep && p.hasMask != 0u) { keep = MASK[bb * p.Tk + j] != 0.0; }
      Ms[x] = select(0.0, 1.0, keep);
    }`;
}

function forwardKernelV2(dh: number, G: number): Kernel {
  const n = dh / 4, QB = V2_QB, KB = G > 1 ? V2_KB_PACKED : V2_KB;
  const keys = range(KB);
  return {
    name: 'attentionV2', params: PARAMS_V2, bindings: ['read', 'read', 'read', 'read', 'rw', 'rw'], code: /* wgsl */ `
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<f32>;
@group(0) @binding(3) var<storage, read> V: array<f32>;
@group(0) @binding(4) var<storage, read> MASK: array<f32>;
@group(0) @binding(5) var<storage, read_write> O: array<f32>;
@group(0) @binding(6) var<storage, read_write> LSE: array<f32>;
${queryTileStart(G, KB, n)}
  let qBase = (b * p.Tq + min(i, p.Tq - 1u)) * p.D + h * ${dh}u;
${range(n).map((c) => `  let q${c} = ${load4('Q', `qBase + ${4 * c}u`)} * p.scale;\n  var a${c} = vec4<f32>(0.0);`).join('\n')}
  var m = -1e30;
  var l = 0.0;
  var keyEnd = p.Tk;
  if (p.causal != 0u) { keyEnd = min(p.Tk, (wid.x + 1u) * ${QB}u); }
  for (var k0 = 0u; k0 < keyEnd; k0 += ${KB}u) {
${stageKeys(G, KB, dh)}
    workgroupBarrier();
    // A tile of padding keys only (short histories), or past this query under the causal mask, is skipped.
    let anyKey = ${keys.map((j) => `Ms[mb + ${j}u]`).join(' + ')} != 0.0;
    if (anyKey && (p.causal == 0u || k0 <= i)) {
${keys.map((j) => `    let s${j} = select(-1e30, ${dots(n, 'q', (c) => `Ks[kb + ${j * n + c}u]`)}, Ms[mb + ${j}u] != 0.0 && (p.causal == 0u || k0 + ${j}u <= i));`).join('\n')}
    let mt = max(m, ${keys.slice(1).reduce((acc, j) => `max(${acc}, s${j})`, 's0')});
    if (mt > -1e29) {
      let corr = exp(m - mt);
${keys.map((j) => `      let p${j} = select(0.0, exp(s${j} - mt), s${j} > -1e29);`).join('\n')}
      l = l * corr + ${keys.map((j) => `p${j}`).join(' + ')};
${range(n).map((c) => `      a${c} *= corr;\n${keys.map((j) => `      a${c} = fma(vec4<f32>(p${j}), Vs[kb + ${j * n + c}u], a${c});`).join('\n')}`).join('\n')}
      m = mt;
    }
    }
    workgroupBarrier();
  }
  if (valid) {
    let inv = select(0.0, 1.0 / l, l > 0.0);
${range(n).map((c) => `    { let o = a${c} * inv; O[qBase + ${4 * c}u] = o.x; O[qBase + ${4 * c + 1}u] = o.y; O[qBase + ${4 * c + 2}u] = o.z; O[qBase + ${4 * c + 3}u] = o.w; }`).join('\n')}
    LSE[(b * H + h) * p.Tq + i] = select(1e30, m + log(l), l > 0.0);
  }
}`,
  };
}

function backwardQueryKernelV2(dh: number, G: number): Kernel {
  const n = dh / 4, QB = V2_QB, KB = G > 1 ? V2_KB_PACKED : V2_KB;
  return {
    name: 'attentionBackwardQV2', params: PARAMS_V2, bindings: ['read', 'read', 'read', 'read', 'read', 'read', 'read', 'rw', 'rw'], code: /* wgsl */ `
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<f32>;
@group(0) @binding(3) var<storage, read> V: array<f32>;
@group(0) @binding(4) var<storage, read> MASK: array<f32>;
@group(0) @binding(5) var<storage, read> O: array<f32>;
@group(0) @binding(6) var<storage, read> LSE: array<f32>;
@group(0) @binding(7) var<storage, read> DO: array<f32>;
@group(0) @binding(8) var<storage, read_write> DQ: array<f32>;
@group(0) @binding(9) var<storage, read_write> DVEC: array<f32>;
${queryTileStart(G, KB, n)}
  let ic = min(i, p.Tq - 1u);
  let qBase = (b * p.Tq + ic) * p.D + h * ${dh}u;
${range(n).map((c) => `  let q${c} = ${load4('Q', `qBase + ${4 * c}u`)} * p.scale;\n  let g${c} = ${load4('DO', `qBase + ${4 * c}u`)};\n  var dq${c} = vec4<f32>(0.0);`).join('\n')}
  let Di = ${dots(n, 'g', (c) => load4('O', `qBase + ${4 * c}u`))};
  let lse = LSE[(b * H + h) * p.Tq + ic];
  var keyEnd = p.Tk;
  if (p.causal != 0u) { keyEnd = min(p.Tk, (wid.x + 1u) * ${QB}u); }
  for (var k0 = 0u; k0 < keyEnd; k0 += ${KB}u) {
${stageKeys(G, KB, dh)}
    workgroupBarrier();
    for (var j = 0u; j < ${KB}u; j++) {
      if (Ms[mb + j] != 0.0 && (p.causal == 0u || k0 + j <= i)) {
        let kj = kb + j * ${n}u;
        let s = ${dots(n, 'q', (c) => `Ks[kj + ${c}u]`)};
        let dp = ${dots(n, 'g', (c) => `Vs[kj + ${c}u]`)};
        let ds = vec4<f32>(exp(s - lse) * (dp - Di));
${range(n).map((c) => `        dq${c} = fma(ds, Ks[kj + ${c}u], dq${c});`).join('\n')}
      }
    }
    workgroupBarrier();
  }
  if (valid) {
${range(n).map((c) => `    { let o = dq${c} * p.scale; DQ[qBase + ${4 * c}u] = o.x; DQ[qBase + ${4 * c + 1}u] = o.y; DQ[qBase + ${4 * c + 2}u] = o.z; DQ[qBase + ${4 * c + 3}u] = o.w; }`).join('\n')}
    DVEC[(b * H + h) * p.Tq + i] = Di;
  }
}`,
  };
}

/** Threads per key in the v2 dK/dV kernel: each owns dh / split of the key's dK and dV accumulators. */
const keySplit = (dh: number) => (dh > 32 && dh % 8 === 0 ? 2 : 1);

function backwardKeyKernelV2(dh: number): Kernel {
  const n = dh / 4, split = keySplit(dh), ns = n / split, KEYS = V2_KEYS, QT = V2_QT, threads = KEYS * split;
  return {
    name: 'attentionBackwardKVV2', params: PARAMS, bindings: ['read', 'read', 'read', 'read', 'read', 'read', 'read', 'rw', 'rw'], code: /* wgsl */ `
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<f32>;
@group(0) @binding(3) var<storage, read> V: array<f32>;
@group(0) @binding(4) var<storage, read> MASK: array<f32>;
@group(0) @binding(5) var<storage, read> LSE: array<f32>;
@group(0) @binding(6) var<storage, read> DVEC: array<f32>;
@group(0) @binding(7) var<storage, read> DO: array<f32>;
@group(0) @binding(8) var<storage, read_write> DK: array<f32>;
@group(0) @binding(9) var<storage, read_write> DV: array<f32>;
var<workgroup> Qs: array<vec4<f32>, ${QT * n}>;
var<workgroup> Gs: array<vec4<f32>, ${QT * n}>;
var<workgroup> Ls: array<f32, ${QT}>;
var<workgroup> Ds: array<f32, ${QT}>;
@compute @workgroup_size(${threads}) fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(num_workgroups) nwg: vec3<u32>) {
  let b = wid.z;
  let h = wid.y;
  let H = nwg.y;
  let part = lid / ${KEYS}u; // which ${ns} vec4 of the head row this thread accumulates
  let j = wid.x * ${KEYS}u + lid % ${KEYS}u;
  let jc = min(j, p.Tk - 1u);
  let kBase = (b * p.Tk + jc) * p.D + h * ${dh}u;
  var keep = j < p.Tk;
  if (keep && p.hasMask != 0u) { keep = MASK[b * p.Tk + jc] != 0.0; }
${range(n).map((c) => `  let k${c} = ${load4('K', `kBase + ${4 * c}u`)};\n  let v${c} = ${load4('V', `kBase + ${4 * c}u`)};`).join('\n')}
${range(ns).map((c) => `  var dk${c} = vec4<f32>(0.0);\n  var dv${c} = vec4<f32>(0.0);`).join('\n')}
  var q0 = 0u;
  if (p.causal != 0u) { q0 = (wid.x * ${KEYS}u / ${QT}u) * ${QT}u; }
  for (; q0 < p.Tq; q0 += ${QT}u) {
    for (var x = lid; x < ${QT * n}u; x += ${threads}u) {
      let i = min(q0 + x / ${n}u, p.Tq - 1u);
      let src = (b * p.Tq + i) * p.D + h * ${dh}u + (x % ${n}u) * 4u;
      Qs[x] = ${load4('Q', 'src')} * p.scale;
      Gs[x] = ${load4('DO', 'src')};
    }
    for (var x = lid; x < ${QT}u; x += ${threads}u) {
      let i = min(q0 + x, p.Tq - 1u);
      Ls[x] = LSE[(b * H + h) * p.Tq + i];
      Ds[x] = DVEC[(b * H + h) * p.Tq + i];
    }
    workgroupBarrier();
    if (keep) {
      for (var x = 0u; x < ${QT}u; x++) {
        let i = q0 + x;
        if (i < p.Tq && (p.causal == 0u || j <= i)) {
          let qb = x * ${n}u;
          let s = ${dots(n, 'k', (c) => `Qs[qb + ${c}u]`)};
          let dp = ${dots(n, 'v', (c) => `Gs[qb + ${c}u]`)};
          let pr = exp(s - Ls[x]);
          let ds = vec4<f32>(pr * (dp - Ds[x]));
          let ob = qb + part * ${ns}u;
${range(ns).map((c) => `          dv${c} = fma(vec4<f32>(pr), Gs[ob + ${c}u], dv${c});\n          dk${c} = fma(ds, Qs[ob + ${c}u], dk${c});`).join('\n')}
        }
      }
    }
    workgroupBarrier();
  }
  if (j < p.Tk) {
    // Qs already carries the scale, so dk is complete.
    let ob = kBase + part * ${4 * ns}u;
${range(ns).map((c) => `    DK[ob + ${4 * c}u] = dk${c}.x; DK[ob + ${4 * c + 1}u] = dk${c}.y; DK[ob + ${4 * c + 2}u] = dk${c}.z; DK[ob + ${4 * c + 3}u] = dk${c}.w;
    DV[ob + ${4 * c}u] = dv${c}.x; DV[ob + ${4 * c + 1}u] = dv${c}.y; DV[ob + ${4 * c + 2}u] = dv${c}.z; DV[ob + ${4 * c + 3}u] = dv${c}.w;`).join('\n')}
  }
}`,
  };
}

export type AttentionVariant = 'v1' | 'v2';
const variants = new WeakMap<object, AttentionVariant>();

/** Kernel generation of every later attention() on this engine (default 'v2'); bench/attention.ts times both. */
export function setAttentionVariant(engine: Engine, variant: AttentionVariant): void {
  if (variant !== 'v1' && variant !== 'v2') throw new EngineError(`setAttentionVariant: '${variant}' is not 'v1' or 'v2'`);
  variants.set(engine, variant);
}

export function attentionVariant(engine: Engine): AttentionVariant {
  return variants.get(engine) ?? 'v2';
}

function cached(kind: string, dh: number, make: (dh: number, G: number) => Kernel, G = 1): Kernel {
  const key = `${kind}${dh}/${G}`;
  let kern = kernels.get(key);
  if (!kern) { kern = make(dh, G); kernels.set(key, kern); }
  return kern;
}

export interface AttentionOptions {
  heads: number;
  /** Query i sees keys j ≤ i (self-attention, Tq = Tk). */
  causal?: boolean;
  /** [B, Tk] f32, nonzero = attend, 0 = padding (masked to −∞ before softmax). */
  keyMask?: Tensor;
  /** Kernel generation for this call; otherwise the engine's (setAttentionVariant, default 'v2'). v2 needs dh % 4 = 0, else v1 runs. */
  variant?: AttentionVariant;
}

/** Multi-head scaled dot-product attention on [B, T, D] tensors (projections are done by the caller). */
export function attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions): Tensor {
  const e = q.engine;
  const { heads } = options;
  if (q.shape.length !== 3 || k.shape.length !== 3 || v.shape.length !== 3) throw new ShapeError(`attention: q, k, v must be [B, T, D], got ${q}, ${k}, ${v}`);
  const [B, Tq, D] = q.shape;
  const Tk = k.shape[1];
  if (k.shape[0] !== B || v.shape[0] !== B || k.shape[2] !== D || v.shape[2] !== D || v.shape[1] !== Tk) {
    throw new ShapeError(`attention: k ${k} and v ${v} must be [${B}, Tk, ${D}] to match q ${q}`);
  }
  if (!Number.isInteger(heads) || heads < 1 || D % heads !== 0) throw new ShapeError(`attention: heads ${heads} must divide D = ${D}`);
  if (options.causal && Tq !== Tk) throw new ShapeError(`attention: causal needs Tq = Tk, got ${Tq} and ${Tk}`);
  const mask = options.keyMask;
  if (mask && (mask.size !== B * Tk || mask.dtype !== 'f32')) throw new ShapeError(`attention: keyMask must be f32 [${B}, ${Tk}], got ${mask}`);
  const dh = D / heads;
  const params = [Tq, Tk, D, 1 / Math.sqrt(dh), options.causal ? 1 : 0, mask ? 1 : 0];
  const v2 = (options.variant ?? attentionVariant(e)) === 'v2' && dh % 4 === 0;
  const G = v2 ? sequencesPerGroup(Tq, dh) : 1;
  const queryGrid: [number, number, number] = v2 ? [Math.ceil(Tq / V2_QB), heads, Math.ceil(B / G)] : [Math.ceil(Tq / QB), heads, B];
  const paramsV2 = [...params, B];
  const out = e.empty([B, Tq, D]);
  const lse = e.empty([B, heads, Tq]);
  if (v2) e.run(cached('f2/', dh, forwardKernelV2, G), [q, k, v, mask ?? q, out, lse], paramsV2, queryGrid);
  else e.run(cached('f', dh, forwardKernel), [q, k, v, mask ?? q, out, lse], params, queryGrid);
  return e.record(out, [q, k, v], (g) => {
    const dq = e.empty(q.shape), dvec = e.empty([B, heads, Tq]);
    if (v2) e.run(cached('q2/', dh, backwardQueryKernelV2, G), [q, k, v, mask ?? q, out, lse, g, dq, dvec], paramsV2, queryGrid);
    else e.run(cached('q', dh, backwardQueryKernel), [q, k, v, mask ?? q, out, lse, g, dq, dvec], params, queryGrid);
    const dk = e.empty(k.shape), dv = e.empty(v.shape);
    e.run(v2 ? cached('k2/', dh, backwardKeyKernelV2) : cached('k', dh, backwardKeyKernel), [q, k, v, mask ?? q, lse, dvec, g, dk, dv], params, [Math.ceil(Tk / (v2 ? V2_KEYS : KB)), heads, B]);
    return [dq, dk, dv];
  });
}
