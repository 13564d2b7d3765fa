// Attention kernel generations against each other and against float64 host references: the forward output and the
// gradients of L = Σ O ⊙ R (R random) from an analytic float64 backward, at shapes that are not multiples of the
// tiles (v1: 32 queries and keys; v2: 32 queries, 16-key tiles, 32 keys and 16-query tiles in dK/dV), with causal
// masks, padded keys and a query row that sees no key, for head sizes 32 (one thread per key in dK/dV) and 64
// (two threads per key), and with queries short enough that a workgroup takes several sequences.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { attention, backward, createEngine, mul, read, Rng, setAttentionVariant, sum, type AttentionVariant, type Engine } from '../../../models/engine/index.ts';
import { attentionRef, type F64 } from './cpu-reference.ts';
import { gradCheck } from './grad-check.ts';

let e: Engine;
before(async () => { e = await createEngine({ quiet: true }); });

interface Shape { B: number; Tq: number; Tk: number; D: number; heads: number; causal: boolean; mask: number[] | null }

/** dQ, dK, dV of L = Σ O ⊙ R in float64: dP = R Vᵀ, dS = P ⊙ (dP − rowsum(P ⊙ dP)), dQ = dS K / √dh, dK = dSᵀ Q / √dh, dV = Pᵀ R. */
function attentionGradRef(q: F64, k: F64, v: F64, r: F64, s: Shape): [F64, F64, F64] {
  const { B, Tq, Tk, D, heads, causal, mask } = s;
  const dh = D / heads, scale = 1 / Math.sqrt(dh);
  const dq = new Float64Array(q.length), dk = new Float64Array(k.length), dv = new Float64Array(v.length);
  const qi = (b: number, i: number, h: number) => (b * Tq + i) * D + h * dh;
  const kj = (b: number, j: number, h: number) => (b * Tk + j) * D + h * dh;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < Tq; i++) {
        const visible = (j: number) => (!causal || j <= i) && (!mask || mask[b * Tk + j] !== 0);
        const sc = Array.from({ length: Tk }, (_, j) => {
          if (!visible(j)) return -Infinity;
          let dot = 0;
          for (let d = 0; d < dh; d++) dot += q[qi(b, i, h) + d] * k[kj(b, j, h) + d];
          return dot * scale;
        });
        const m = Math.max(...sc);
        if (m === -Infinity) continue;
        const ex = sc.map((x) => Math.exp(x - m));
        const z = ex.reduce((a, c) => a + c, 0);
        const P = ex.map((x) => x / z);
        const dP = Array.from({ length: Tk }, (_, j) => {
          let dot = 0;
          for (let d = 0; d < dh; d++) dot += r[qi(b, i, h) + d] * v[kj(b, j, h) + d];
          return dot;
        });
        const rowDot = P.reduce((a, p, j) => a + p * dP[j], 0);
        for (let j = 0; j < Tk; j++) {
          if (P[j] === 0) continue;
          const dS = P[j] * (dP[j] - rowDot) * scale;
          for (let d = 0; d < dh; d++) {
            dq[qi(b, i, h) + d] += dS * k[kj(b, j, h) + d];
            dk[kj(b, j, h) + d] += dS * q[qi(b, i, h) + d];
            dv[kj(b, j, h) + d] += P[j] * r[qi(b, i, h) + d];
          }
        }
      }
    }
  }
  return [dq, dk, dv];
}

/** max |got − want| / max(1, max |want|). */
function relError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let err = 0, scale = 1;
  for (let i = 0; i < want.length; i++) { err = Math.max(err, Math.abs(got[i] - want[i])); scale = Math.max(scale, Math.abs(want[i])); }
  return err / scale;
}

/** Output and input gradients of one variant on the same inputs. */
async function run(variant: AttentionVariant, s: Shape, x: Float32Array[]): Promise<Float32Array[]> {
  const { B, Tq, Tk, D } = s;
  setAttentionVariant(e, variant);
  const names: string[] = [];
  const dispatch = e.run;
  e.run = (k, ...rest) => { names.push(k.name); return dispatch.call(e, k, ...rest); };
  try {
    const q = e.param(`q.${variant}`, [B, Tq, D], x[0]), k = e.param(`k.${variant}`, [B, Tk, D], x[1]), v = e.param(`v.${variant}`, [B, Tk, D], x[2]);
    const out = attention(q, k, v, { heads: s.heads, causal: s.causal, keyMask: s.mask ? e.upload(Float32Array.from(s.mask), [B, Tk]) : undefined });
    backward(sum(mul(out, e.upload(x[3], [B, Tq, D]))));
    const suffix = variant === 'v2' ? 'V2' : '';
    assert.deepEqual(names.filter((n) => n.startsWith('attention')), ['attention', 'attentionBackwardQ', 'attentionBackwardKV'].map((n) => n + suffix));
    const result = [await read(out), await read(q.grad!), await read(k.grad!), await read(v.grad!)];
    e.endStep();
    return result;
  } finally {
    e.run = dispatch;
    setAttentionVariant(e, 'v2');
  }
}

async function compare(name: string, s: Shape): Promise<void> {
  const rng = new Rng(99);
  const { B, Tq, Tk, D } = s;
  const x = [B * Tq * D, B * Tk * D, B * Tk * D, B * Tq * D].map((n) => Float32Array.from({ length: n }, () => rng.normal()));
  const f64 = x.map((a) => Float64Array.from(a));
  const want = [attentionRef(f64[0], f64[1], f64[2], B, Tq, Tk, D, s.heads, s.causal, s.mask ? Float64Array.from(s.mask) : null),
    ...attentionGradRef(f64[0], f64[1], f64[2], f64[3], s)];
  const v1 = await run('v1', s, x);
  const v2 = await run('v2', s, x);
  ['O', 'dQ', 'dK', 'dV'].forEach((what, n) => {
    const e2 = relError(v2[n], want[n]), e1 = relError(v1[n], want[n]), e21 = relError(v2[n], v1[n]);
    assert.ok(e2 <= 2e-5, `${name} ${what}: v2 vs float64 ${e2}`);
    assert.ok(e1 <= 2e-5, `${name} ${what}: v1 vs float64 ${e1}`);
    assert.ok(e21 <= 2e-5, `${name} ${what}: v2 vs v1 ${e21}`);
  });
}

describe('attention v2 against v1 and float64', () => {
  test('causal self-attention, dh 32, T 37 (ragged in every tile)', async () => {
    await compare('causal', { B: 2, Tq: 37, Tk: 37, D: 64, heads: 2, causal: true, mask: null });
  });

  test('cross-attention with padded keys, dh 64 (two threads per key), one batch seeing no key', async () => {
    const B = 2, Tk = 43;
    const mask = Array.from({ length: B * Tk }, (_, i) => (i < Tk ? (i % 5 === 0 ? 0 : 1) : 0));
    await compare('crossMasked', { B, Tq: 21, Tk, D: 128, heads: 2, causal: false, mask });
  });

  test('masked self-attention over 80 tokens as in the seed encoder, dh 64', async () => {
    const B = 1, T = 80;
    const mask = Array.from({ length: B * T }, (_, i) => (i >= 56 ? 0 : 1)); // the last 6 items of 20 are padding
    await compare('encoder', { B, Tq: T, Tk: T, D: 64, heads: 1, causal: false, mask });
  });

  test('short queries, several sequences per workgroup (the last one partly filled): cross dh 32, causal self dh 64', async () => {
    const B = 7, Tk = 19;
    const mask = Array.from({ length: B * Tk }, (_, i) => (Math.floor(i / Tk) === 3 || i % 4 === 1 ? 0 : 1)); // sequence 3 sees no key
    await compare('crossPacked', { B, Tq: 5, Tk, D: 64, heads: 2, causal: false, mask });
    await compare('causalPacked', { B: 4, Tq: 10, Tk: 10, D: 128, heads: 2, causal: true, mask: null });
  });

  test('v2 gradient check by finite differences, dh 64, causal', async () => {
    const [B, T, D] = [1, 6, 64];
    await gradCheck(e, 'v2causal64', [{ shape: [B, T, D], grad: true }, { shape: [B, T, D], grad: true }, { shape: [B, T, D], grad: true }],
      ([q, k, v]) => attention(q, k, v, { heads: 1, causal: true, variant: 'v2' }), ([q, k, v]) => attentionRef(q, k, v, B, T, T, D, 1, true, null));
  });
});
