// Mixture-of-Experts feed-forward (docs/architecture.md, "MoE"):
//   p = softmax(h @ router); top-k experts by p (ties → lower expert index); gates g = p[top] / Σ p[top];
//   out = Σ_k g_k (W2_k gelu(W1_k h + b1_k) + b2_k)
// plus the Switch-style load-balancing term E · Σ_e f_e P_e (f = fraction of top-k slots routed to e,
// P = mean router probability), returned unweighted as `aux` (the caller multiplies by moeAuxWeight).
//
// The experts run densely: every expert sees every token through one batched matmul ([E, N, F]) and the
// combine weights non-selected experts by 0. That costs E/k times the FLOPs of a routed implementation but
// is a handful of large dispatches; with the seed model's few experts this is the faster choice on a GPU.
import { grid, type Kernel, type Tensor } from './engine.ts';
import { ShapeError } from './errors.ts';
import { add, gelu, matmul, mean, mul, scale, softmax, sum, view } from './ops.ts';

const ID = '@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32';

const TOPK: Kernel = {
  name: 'moeTopK', params: [['N', 'u32'], ['E', 'u32'], ['k', 'u32']], bindings: ['read', 'rw', 'rw'], code: /* wgsl */ `
@group(0) @binding(1) var<storage, read> P: array<f32>;
@group(0) @binding(2) var<storage, read_write> GATE: array<f32>;
@group(0) @binding(3) var<storage, read_write> SEL: array<f32>;
@compute @workgroup_size(64) fn main(${ID}) {
  let n = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (n >= p.N) { return; }
  let base = n * p.E;
  for (var e = 0u; e < p.E; e++) { SEL[base + e] = 0.0; GATE[base + e] = 0.0; }
  var total = 0.0;
  for (var r = 0u; r < p.k; r++) {
    var best = 0u;
    var bestP = -1.0;
    for (var e = 0u; e < p.E; e++) {
      let v = P[base + e];
      if (SEL[base + e] == 0.0 && v > bestP) { best = e; bestP = v; }
    }
    SEL[base + best] = 1.0;
    total += bestP;
  }
  for (var e = 0u; e < p.E; e++) {
    if (SEL[base + e] != 0.0) { GATE[base + e] = P[base + e] / total; }
  }
}`,
};
// dP_j = (dG_j − Σ_e dG_e g_e) / Σ p[top] for selected j, else 0.
const TOPK_B: Kernel = {
  name: 'moeTopKBackward', params: [['N', 'u32'], ['E', 'u32']], bindings: ['read', 'read', 'read', 'read', 'rw'], code: /* wgsl */ `
@group(0) @binding(1) var<storage, read> P: array<f32>;
@group(0) @binding(2) var<storage, read> GATE: array<f32>;
@group(0) @binding(3) var<storage, read> SEL: array<f32>;
@group(0) @binding(4) var<storage, read> DG: array<f32>;
@group(0) @binding(5) var<storage, read_write> DP: array<f32>;
@compute @workgroup_size(64) fn main(${ID}) {
  let n = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (n >= p.N) { return; }
  let base = n * p.E;
  var total = 0.0;
  var dot = 0.0;
  for (var e = 0u; e < p.E; e++) {
    if (SEL[base + e] != 0.0) { total += P[base + e]; dot += DG[base + e] * GATE[base + e]; }
  }
  for (var e = 0u; e < p.E; e++) {
    DP[base + e] = select(0.0, (DG[base + e] - dot) / total, SEL[base + e] != 0.0);
  }
}`,
};
// out[n, c] = Σ_e G[n, e] · Y[e, n, c]
const COMBINE: Kernel = {
  name: 'moeCombine', params: [['N', 'u32'], ['E', 'u32'], ['D', 'u32']], bindings: ['read', 'read', 'rw'], code: /* wgsl */ `
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read> Y: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
@compute @workgroup_size(256) fn main(${ID}) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= p.N * p.D) { return; }
  let n = i / p.D;
  var s = 0.0;
  for (var e = 0u; e < p.E; e++) {
    let g = G[n * p.E + e];
    if (g != 0.0) { s = fma(g, Y[e * p.N * p.D + i], s); }
  }
  O[i] = s;
}`,
};
// dY[e, n, c] = G[n, e] · dO[n, c]
const COMBINE_DY: Kernel = {
  name: 'moeCombineBackwardY', params: [['N', 'u32'], ['E', 'u32'], ['D', 'u32']], bindings: ['read', 'read', 'rw'], code: /* wgsl */ `
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read> DO: array<f32>;
@group(0) @binding(3) var<storage, read_write> DY: array<f32>;
@compute @workgroup_size(256) fn main(${ID}) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= p.E * p.N * p.D) { return; }
  let e = i / (p.N * p.D);
  let r = i % (p.N * p.D);
  DY[i] = G[(r / p.D) * p.E + e] * DO[r];
}`,
};
// dG[n, e] = Σ_c dO[n, c] · Y[e, n, c]   (a workgroup per (n, e))
const COMBINE_DG: Kernel = {
  name: 'moeCombineBackwardG', params: [['N', 'u32'], ['E', 'u32'], ['D', 'u32']], bindings: ['read', 'read', 'rw'], code: /* wgsl */ `
@group(0) @binding(1) var<storage, read> Y: array<f32>;
@group(0) @binding(2) var<storage, read> DO: array<f32>;
@group(0) @binding(3) var<storage, read_write> DG: array<f32>;
var<workgroup> red: array<f32, 64>;
@compute @workgroup_size(64) fn main(${ID}) {
  let o = wid.x + wid.y * nwg.x;
  if (o >= p.N * p.E) { return; }
  let n = o / p.E;
  let e = o % p.E;
  var s = 0.0;
  for (var c = lid; c < p.D; c += 64u) { s = fma(DO[n * p.D + c], Y[(e * p.N + n) * p.D + c], s); }
  red[lid] = s;
  workgroupBarrier();
  for (var k = 32u; k > 0u; k >>= 1u) { if (lid < k) { red[lid] += red[lid + k]; } workgroupBarrier(); }
  if (lid == 0u) { DG[o] = red[0]; }
}`,
};

export interface MoeWeights {
  router: Tensor; // [d, E]
  w1: Tensor; // [E, d, F]
  b1: Tensor; // [E, F]
  w2: Tensor; // [E, F, d]
  b2: Tensor; // [E, d]
}
export interface MoeResult {
  out: Tensor; // shaped like h
  /** E · Σ_e f_e P_e, [1], differentiable through P (multiply by moeAuxWeight and add to the loss). */
  aux: Tensor;
  /** f_e: fraction of the top-k slots routed to each expert, [E] (no gradient). */
  load: Tensor;
}

/** Top-k gates [N, E] (zeros off the top k) and the selection mask [N, E] from router probabilities. */
function topKGates(probs: Tensor, k: number): { gates: Tensor; selected: Tensor } {
  const e = probs.engine;
  const [N, E] = probs.shape;
  const gates = e.empty([N, E]), selected = e.empty([N, E]);
  e.run(TOPK, [probs, gates, selected], [N, E, k], grid(Math.ceil(N / 64)));
  e.record(gates, [probs], (g) => {
    const dp = e.empty([N, E]);
    e.run(TOPK_B, [probs, gates, selected, g, dp], [N, E], grid(Math.ceil(N / 64)));
    return [dp];
  });
  return { gates, selected };
}

function combine(gates: Tensor, y: Tensor): Tensor {
  const e = gates.engine;
  const [E, N, D] = y.shape;
  const out = e.empty([N, D]);
  e.run(COMBINE, [gates, y, out], [N, E, D], grid(Math.ceil((N * D) / 256)));
  return e.record(out, [gates, y], (g) => {
    let dg: Tensor | null = null, dy: Tensor | null = null;
    if (y.requiresGrad) {
      dy = e.empty([E, N, D]);
      e.run(COMBINE_DY, [gates, g, dy], [N, E, D], grid(Math.ceil((E * N * D) / 256)));
    }
    if (gates.requiresGrad) {
      dg = e.empty([N, E]);
      e.run(COMBINE_DG, [y, g, dg], [N, E, D], grid(N * E));
    }
    return [dg, dy];
  });
}

/** MoE feed-forward on h [..., d] with top-k routing (k = 2 in the seed model). */
export function moe(h: Tensor, w: MoeWeights, options: { topK?: number } = {}): MoeResult {
  const k = options.topK ?? 2;
  const d = h.shape[h.shape.length - 1];
  const [E, , F] = w.w1.shape;
  if (w.router.shape.join() !== `${d},${E}` || w.w1.shape.join() !== `${E},${d},${F}` || w.b1.shape.join() !== `${E},${F}` ||
      w.w2.shape.join() !== `${E},${F},${d}` || w.b2.shape.join() !== `${E},${d}`) {
    throw new ShapeError(`moe: weights must be router [${d}, E], w1 [E, ${d}, F], b1 [E, F], w2 [E, F, ${d}], b2 [E, ${d}]; got ` +
      `${w.router}, ${w.w1}, ${w.b1}, ${w.w2}, ${w.b2}`);
  }
  if (!Number.isInteger(k) || k < 1 || k > E) throw new ShapeError(`moe: topK ${k} must be in [1, ${E}]`);
  const N = h.size / d;
  const x = view(h, [N, d]);
  const probs = softmax(matmul(x, w.router)); // [N, E]
  const { gates, selected } = topKGates(probs, k); // [N, E]
  const hidden = gelu(add(matmul(x, w.w1), view(w.b1, [E, 1, F]))); // [E, N, F]
  const y = add(matmul(hidden, w.w2), view(w.b2, [E, 1, d])); // [E, N, d]
  const out = view(combine(gates, y), h.shape);
  const e = h.engine;
  const load = e.noGrad(() => scale(sum(selected, 0), 1 / (k * N))); // [E]
  const aux = scale(sum(mul(mean(probs, 0), load)), E); // [1]
  return { out, aux, load };
}
