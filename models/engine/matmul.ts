// Register-blocked matmul: C[b] = alpha · op(A[b]) @ op(B[b]) (+ C[b] when accumulating), fp32.
//
// A workgroup of 256 threads computes a BM×BN tile of C; each thread an TM×TN block whose rows and columns
// are interleaved (row tr + i·BM/TM, column tc + j·BN/TN) so that neighbouring threads touch neighbouring
// shared-memory words (no bank conflicts) and neighbouring addresses of C (coalesced stores). K advances in
// steps of BK through shared-memory tiles. Edges (M, N, K not tile multiples) load zeros and mask stores.
// PLATFORM.md: 128×128 tiles with 8×8 per thread reached 27.9 TFLOP/s on the H200.
import { type Engine, type Kernel, type Tensor } from './engine.ts';

interface Tile { BM: number; BN: number; BK: number; TM: number; TN: number }
const BIG: Tile = { BM: 128, BN: 128, BK: 8, TM: 8, TN: 8 };
const MID: Tile = { BM: 64, BN: 64, BK: 8, TM: 4, TN: 4 };
const SMALL: Tile = { BM: 32, BN: 32, BK: 16, TM: 2, TN: 2 };

const kernels = new Map<string, Kernel>();

function matmulKernel(t: Tile, transA: boolean, transB: boolean): Kernel {
  const key = `${t.BM}x${t.BN}x${t.BK}/${t.TM}x${t.TN}/${transA}/${transB}`;
  let k = kernels.get(key);
  if (k) return k;
  const { BM, BN, BK, TM, TN } = t;
  const RT = BM / TM; // threads along rows
  const CT = BN / TN; // threads along columns
  // A(m, k): [M, K] row-major, or [K, M] when transposed. B(k, n): [K, N], or [N, K] when transposed.
  const loadA = transA
    ? `let kk = i / ${BM}u; let m = i % ${BM}u; let gm = row0 + m; let gk = k0 + kk;
       var v = 0.0; if (gm < p.M && gk < p.K) { v = A[aOff + gk * p.M + gm]; }
       As[kk * ${BM}u + m] = v;`
    : `let m = i / ${BK}u; let kk = i % ${BK}u; let gm = row0 + m; let gk = k0 + kk;
       var v = 0.0; if (gm < p.M && gk < p.K) { v = A[aOff + gm * p.K + gk]; }
       As[kk * ${BM}u + m] = v;`;
  const loadB = transB
    ? `let n = i / ${BK}u; let kk = i % ${BK}u; let gn = col0 + n; let gk = k0 + kk;
       var v = 0.0; if (gn < p.N && gk < p.K) { v = B[bOff + gn * p.K + gk]; }
       Bs[kk * ${BN}u + n] = v;`
    : `let kk = i / ${BN}u; let n = i % ${BN}u; let gn = col0 + n; let gk = k0 + kk;
       var v = 0.0; if (gn < p.N && gk < p.K) { v = B[bOff + gk * p.N + gn]; }
       Bs[kk * ${BN}u + n] = v;`;
  const code = /* wgsl */ `
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
var<workgroup> As: array<f32, ${BK * BM}>; // [BK][BM]
var<workgroup> Bs: array<f32, ${BK * BN}>; // [BK][BN]
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let batch = wid.z;
  let row0 = wid.y * ${BM}u;
  let col0 = wid.x * ${BN}u;
  let tr = lid / ${CT}u;
  let tc = lid % ${CT}u;
  let aOff = batch * p.strideA;
  let bOff = batch * p.strideB;
  let cOff = batch * p.M * p.N;
  var acc: array<f32, ${TM * TN}>;
  var a: array<f32, ${TM}>;
  var b: array<f32, ${TN}>;
  for (var k0 = 0u; k0 < p.K; k0 += ${BK}u) {
    for (var i = lid; i < ${BM * BK}u; i += 256u) { ${loadA} }
    for (var i = lid; i < ${BN * BK}u; i += 256u) { ${loadB} }
    workgroupBarrier();
    for (var kk = 0u; kk < ${BK}u; kk++) {
      for (var i = 0u; i < ${TM}u; i++) { a[i] = As[kk * ${BM}u + tr + i * ${RT}u]; }
      for (var j = 0u; j < ${TN}u; j++) { b[j] = Bs[kk * ${BN}u + tc + j * ${CT}u]; }
      for (var i = 0u; i < ${TM}u; i++) {
        for (var j = 0u; j < ${TN}u; j++) { acc[i * ${TN}u + j] = fma(a[i], b[j], acc[i * ${TN}u + j]); }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < ${TM}u; i++) {
    let r = row0 + tr + i * ${RT}u;
    if (r >= p.M) { continue; }
    for (var j = 0u; j < ${TN}u; j++) {
      let c = col0 + tc + j * ${CT}u;
      if (c >= p.N) { continue; }
      let o = cOff + r * p.N + c;
      var v = p.alpha * acc[i * ${TN}u + j];
      if (p.accumulate != 0u) { v += C[o]; }
      C[o] = v;
    }
  }
}`;
  k = {
    name: `matmul${BM}${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}`,
    code,
    params: [['M', 'u32'], ['N', 'u32'], ['K', 'u32'], ['strideA', 'u32'], ['strideB', 'u32'], ['alpha', 'f32'], ['accumulate', 'u32']],
    bindings: ['read', 'read', 'rw'],
  };
  kernels.set(key, k);
  return k;
}

export interface MatmulLaunch {
  M: number; N: number; K: number;
  batch: number;
  /** Elements between consecutive batches of A / B; 0 broadcasts one matrix over the batch. */
  strideA: number; strideB: number;
  transA: boolean; transB: boolean;
  alpha?: number;
  /** Add into C's existing contents instead of overwriting. */
  accumulate?: boolean;
  /** Force a tile size (benchmarks); otherwise chosen from the output size. */
  tile?: 'big' | 'mid' | 'small';
}

/** Encode one matmul dispatch into `c` ([batch, M, N] contiguous). */
export function launchMatmul(engine: Engine, a: Tensor, b: Tensor, c: Tensor, l: MatmulLaunch): void {
  const tiles = (t: Tile) => Math.ceil(l.M / t.BM) * Math.ceil(l.N / t.BN) * l.batch;
  // Big tiles only when they still fill the GPU (~132 SMs × 2); small problems want more workgroups.
  const t = l.tile === 'big' ? BIG : l.tile === 'mid' ? MID : l.tile === 'small' ? SMALL
    : tiles(BIG) >= 264 ? BIG : tiles(MID) >= 132 || l.M * l.N >= 64 * 64 ? MID : SMALL;
  engine.run(matmulKernel(t, l.transA, l.transB), [a, b, c],
    [l.M, l.N, l.K, l.strideA, l.strideB, l.alpha ?? 1, l.accumulate ? 1 : 0],
    [Math.ceil(l.N / t.BN), Math.ceil(l.M / t.BM), l.batch]);
}
