// Float64 CPU references of the engine's ops (row-major), written for clarity: the gradient checks
// differentiate these by finite differences and compare with the GPU's analytic gradients.
export type F64 = Float64Array;

export function matmulRef(a: F64, b: F64, M: number, K: number, N: number, transA = false, transB = false, batch = 1, strideA = M * K, strideB = K * N): F64 {
  const out = new Float64Array(batch * M * N);
  for (let z = 0; z < batch; z++) {
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const av = transA ? a[z * strideA + k * M + i] : a[z * strideA + i * K + k];
          const bv = transB ? b[z * strideB + j * K + k] : b[z * strideB + k * N + j];
          s += av * bv;
        }
        out[z * M * N + i * N + j] = s;
      }
    }
  }
  return out;
}

/** Elementwise f(a, b) with numpy broadcasting; returns the output. */
export function broadcastRef(a: F64, as: number[], b: F64, bs: number[], f: (x: number, y: number) => number): { out: F64; shape: number[] } {
  const rank = Math.max(as.length, bs.length);
  const pa = [...Array(rank - as.length).fill(1), ...as];
  const pb = [...Array(rank - bs.length).fill(1), ...bs];
  const shape = pa.map((d, i) => Math.max(d, pb[i]));
  const n = shape.reduce((x, y) => x * y, 1);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let rest = i, ia = 0, ib = 0, sa = 1, sb = 1;
    for (let d = rank - 1; d >= 0; d--) {
      const c = rest % shape[d];
      rest = Math.floor(rest / shape[d]);
      ia += (pa[d] === 1 ? 0 : c) * sa;
      ib += (pb[d] === 1 ? 0 : c) * sb;
      sa *= pa[d];
      sb *= pb[d];
    }
    out[i] = f(a[ia], b[ib]);
  }
  return { out, shape };
}

export const GELU = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
export const SILU = (x: number) => x / (1 + Math.exp(-x));
export const SIGMOID = (x: number) => 1 / (1 + Math.exp(-x));

export function layerNormRef(x: F64, g: F64, b: F64 | null, D: number, eps: number): F64 {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / D; r++) {
    const row = x.subarray(r * D, (r + 1) * D);
    const mu = b ? row.reduce((s, v) => s + v, 0) / D : 0;
    const v = row.reduce((s, x0) => s + (x0 - mu) ** 2, 0) / D;
    const rstd = 1 / Math.sqrt(v + eps);
    for (let c = 0; c < D; c++) out[r * D + c] = (row[c] - mu) * rstd * g[c] + (b ? b[c] : 0);
  }
  return out;
}

export function softmaxRef(x: F64, D: number): F64 {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / D; r++) {
    let m = -Infinity;
    for (let c = 0; c < D; c++) m = Math.max(m, x[r * D + c]);
    let s = 0;
    for (let c = 0; c < D; c++) s += Math.exp(x[r * D + c] - m);
    for (let c = 0; c < D; c++) out[r * D + c] = Math.exp(x[r * D + c] - m) / s;
  }
  return out;
}

/** Per-row log-softmax at targets (0 where ignored). */
export function logProbRef(x: F64, t: Int32Array, V: number, ignore: number): F64 {
  const out = new Float64Array(t.length);
  for (let r = 0; r < t.length; r++) {
    if (t[r] === ignore || t[r] < 0 || t[r] >= V) continue;
    let m = -Infinity;
    for (let c = 0; c < V; c++) m = Math.max(m, x[r * V + c]);
    let s = 0;
    for (let c = 0; c < V; c++) s += Math.exp(x[r * V + c] - m);
    out[r] = x[r * V + t[r]] - m - Math.log(s);
  }
  return out;
}

export function crossEntropyRef(x: F64, t: Int32Array, V: number, ignore: number): number {
  const lp = logProbRef(x, t, V, ignore);
  let n = 0, s = 0;
  for (let r = 0; r < t.length; r++) if (!(t[r] === ignore || t[r] < 0 || t[r] >= V)) { s -= lp[r]; n++; }
  return s / Math.max(n, 1);
}

export function attentionRef(q: F64, k: F64, v: F64, B: number, Tq: number, Tk: number, D: number, heads: number, causal: boolean, mask: F64 | null): F64 {
  const dh = D / heads;
  const out = new Float64Array(B * Tq * D);
  const scale = 1 / Math.sqrt(dh);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < Tq; i++) {
        const s: number[] = [];
        for (let j = 0; j < Tk; j++) {
          let visible = !causal || j <= i;
          if (mask && mask[b * Tk + j] === 0) visible = false;
          if (!visible) { s.push(-Infinity); continue; }
          let dot = 0;
          for (let d = 0; d < dh; d++) dot += q[(b * Tq + i) * D + h * dh + d] * k[(b * Tk + j) * D + h * dh + d];
          s.push(dot * scale);
        }
        const m = Math.max(...s);
        if (m === -Infinity) continue; // nothing visible: zeros
        const e = s.map((x) => Math.exp(x - m));
        const z = e.reduce((a, c) => a + c, 0);
        for (let d = 0; d < dh; d++) {
          let acc = 0;
          for (let j = 0; j < Tk; j++) acc += (e[j] / z) * v[(b * Tk + j) * D + h * dh + d];
          out[(b * Tq + i) * D + h * dh + d] = acc;
        }
      }
    }
  }
  return out;
}

/** Seed-model MoE on h [N, d]: returns out [N, d] and aux = E Σ f_e P_e. */
export function moeRef(h: F64, router: F64, w1: F64, b1: F64, w2: F64, b2: F64, N: number, d: number, E: number, F: number, k: number): { out: F64; aux: number } {
  const probs = softmaxRef(matmulRef(h, router, N, d, E), E);
  const out = new Float64Array(N * d);
  const f = new Float64Array(E);
  const P = new Float64Array(E);
  for (let n = 0; n < N; n++) {
    const p = Array.from(probs.subarray(n * E, (n + 1) * E));
    for (let e = 0; e < E; e++) P[e] += p[e] / N;
    const order = p.map((v, e) => [v, e]).sort((x, y) => y[0] - x[0] || x[1] - y[1]).slice(0, k).map((x) => x[1]);
    const total = order.reduce((s, e) => s + p[e], 0);
    for (const e of order) {
      f[e] += 1 / (k * N);
      const g = p[e] / total;
      const hid = new Float64Array(F);
      for (let j = 0; j < F; j++) {
        let s = b1[e * F + j];
        for (let i = 0; i < d; i++) s += h[n * d + i] * w1[(e * d + i) * F + j];
        hid[j] = GELU(s);
      }
      for (let c = 0; c < d; c++) {
        let s = b2[e * d + c];
        for (let j = 0; j < F; j++) s += hid[j] * w2[(e * F + j) * d + c];
        out[n * d + c] += g * s;
      }
    }
  }
  let aux = 0;
  for (let e = 0; e < E; e++) aux += f[e] * P[e];
  return { out, aux: aux * E };
}
