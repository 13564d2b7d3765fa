// Fused multi-head attention (flash-style, fp32): q [B, Tq, D], k and v [B, Tk, D] → [B, Tq, D], heads of
// dh = D / heads, scale 1/√dh, optional causal mask (key j visible to query i iff j ≤ i) and key padding mask
// keyMask [B, Tk] (nonzero = attend). Heads are read in place from the [B, T, D] layout: no transposes.
//
// Forward: one thread per query row, a workgroup per (32 queries, head, batch); key/value tiles of 32 rows are
// staged in shared memory and folded into an online softmax, so scores never reach memory. The row's
// log-sum-exp is kept for backward. A query whose keys are all masked outputs zeros.
// Backward: kernel 1 (a thread per query) recomputes probabilities from the log-sum-exp and forms dQ and
// Dᵢ = dOᵢ·Oᵢ; kernel 2 (a thread per key) forms dK and dV. No atomics: every output is written once.
import { type Kernel, type Tensor } from './engine.ts';
import { ShapeError } from './errors.ts';

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

function cached(kind: string, dh: number, make: (dh: number) => Kernel): Kernel {
  const key = `${kind}${dh}`;
  let kern = kernels.get(key);
  if (!kern) { kern = make(dh); kernels.set(key, kern); }
  return kern;
}

export interface AttentionOptions {
  heads: number;
  /** Query i sees keys j ≤ i (self-attention, Tq = Tk). */
  causal?: boolean;
  /** [B, Tk] f32, nonzero = attend, 0 = padding (masked to −∞ before softmax). */
  keyMask?: Tensor;
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
  const out = e.empty([B, Tq, D]);
  const lse = e.empty([B, heads, Tq]);
  e.run(cached('f', dh, forwardKernel), [q, k, v, mask ?? q, out, lse], params, [Math.ceil(Tq / QB), heads, B]);
  return e.record(out, [q, k, v], (g) => {
    const dq = e.empty(q.shape), dvec = e.empty([B, heads, Tq]);
    e.run(cached('q', dh, backwardQueryKernel), [q, k, v, mask ?? q, out, lse, g, dq, dvec], params, [Math.ceil(Tq / QB), heads, B]);
    const dk = e.empty(k.shape), dv = e.empty(v.shape);
    e.run(cached('k', dh, backwardKeyKernel), [q, k, v, mask ?? q, lse, dvec, g, dk, dv], params, [Math.ceil(Tk / KB), heads, B]);
    return [dq, dk, dv];
  });
}
