// Register-blocked matmul: C[b] = alpha · op(A[b]) @ op(B[b]) (+ C[b] when accumulating), fp32.
//
// A workgroup of 256 threads computes a BM×BN tile of C; each thread an TM×TN block whose rows and columns
// are interleaved (row tr + i·BM/TM, column tc + j·BN/TN) so that neighbouring threads touch neighbouring
// shared-memory words (no bank conflicts) and neighbouring addresses of C (coalesced stores). K advances in
// steps of BK through shared-memory tiles. Edges (M, N, K not tile multiples) load zeros and mask stores.
// PLATFORM.md: 128×128 tiles with 8×8 per thread reached 27.9 TFLOP/s on the H200.
import { grid, type Engine, type Kernel, type Tensor } from './engine.ts';

interface Tile { BM: number; BN: number; BK: number; TM: number; TN: number }
const BIG: Tile = { BM: 128, BN: 128, BK: 8, TM: 8, TN: 8 };
const MID: Tile = { BM: 64, BN: 64, BK: 8, TM: 4, TN: 4 };
const SMALL: Tile = { BM: 32, BN: 32, BK: 16, TM: 2, TN: 2 };

const kernels = new Map<string, Kernel>();

// The per-thread block is written out statement by statement (JS-side unrolling) so that every index into
// the accumulator is a constant: a loop with dynamic indices made the NVIDIA compiler put the 8×8 block in
// local memory (1–2 TFLOP/s measured on the H200 before this).
function matmulKernel(t: Tile, transA: boolean, transB: boolean, bias: boolean): Kernel {
  const key = `${t.BM}x${t.BN}x${t.BK}/${t.TM}x${t.TN}/${transA}/${transB}/${bias}`;
  let k = kernels.get(key);
  if (k) return k;
  const { BM, BN, BK, TM, TN } = t;
  const RT = BM / TM; // threads along rows
  const CT = BN / TN; // threads along columns
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  // A(m, k): [M, K] row-major (row stride lda), or [K, M] when transposed. B(k, n): [K, N], or [N, K].
  const loadA = transA
    ? `let kk = i / ${BM}u; let m = i % ${BM}u; let gm = row0 + m; let gk = k0 + kk;
       var v = 0.0; if (gm < p.M && gk < kEnd) { v = A[aOff + gk * p.lda + gm]; }
       As[kk * ${BM}u + m] = v;`
    : `let m = i / ${BK}u; let kk = i % ${BK}u; let gm = row0 + m; let gk = k0 + kk;
       var v = 0.0; if (gm < p.M && gk < kEnd) { v = A[aOff + gm * p.lda + gk]; }
       As[kk * ${BM}u + m] = v;`;
  const loadB = transB
    ? `let n = i / ${BK}u; let kk = i % ${BK}u; let gn = col0 + n; let gk = k0 + kk;
       var v = 0.0; if (gn < p.N && gk < kEnd) { v = B[bOff + gn * p.ldb + gk]; }
       Bs[kk * ${BN}u + n] = v;`
    : `let kk = i / ${BN}u; let n = i % ${BN}u; let gn = col0 + n; let gk = k0 + kk;
       var v = 0.0; if (gn < p.N && gk < kEnd) { v = B[bOff + gk * p.ldb + gn]; }
       Bs[kk * ${BN}u + n] = v;`;
  const inner = [
    ...range(TM).map((i) => `let a${i} = As[kk * ${BM}u + tr + ${i * RT}u];`),
    ...range(TN).map((j) => `let b${j} = Bs[kk * ${BN}u + tc + ${j * CT}u];`),
    ...range(TM).flatMap((i) => range(TN).map((j) => `acc[${i * TN + j}] = fma(a${i}, b${j}, acc[${i * TN + j}]);`)),
  ].join('\n      ');
  const store = range(TM).map((i) => `
  {
    let r = row0 + tr + ${i * RT}u;
    if (r < p.M) {${range(TN).map((j) => `
      { let c = col0 + tc + ${j * CT}u; if (c < p.N) { let o = cOff + r * p.N + c; var v = p.alpha * acc[${i * TN + j}]${bias ? ' + BIAS[c]' : ''}; if (p.accumulate != 0u) { v += C[o]; } C[o] = v; } }`).join('')}
    }
  }`).join('');
  k = matmulKernelFrom(t, transA, transB, bias, { element: 'f32', lanes: 1, accumulator: `array<f32, ${TM * TN}>`, loadA, loadB, inner, store });
  kernels.set(key, k);
  return k;
}

// Vectorized variant for TM, TN multiples of 4: shared tiles are vec4 arrays and a thread owns TM/4 × TN/4
// blocks of 4×4 (rows g·BM/(TM/4) + 4·tr + i, columns h·BN/(TN/4) + 4·tc + j), so one vec4 shared-memory
// read feeds 4 FMAs per operand instead of one. With scalar reads the 64×64 tile was bound by shared-memory
// loads (2 loads per FMA); this form does 1 load per 4–8 FMAs.
function matmulKernelVec4(t: Tile, transA: boolean, transB: boolean, bias: boolean): Kernel {
  const key = `v4/${t.BM}x${t.BN}x${t.BK}/${t.TM}x${t.TN}/${transA}/${transB}/${bias}`;
  let k = kernels.get(key);
  if (k) return k;
  const { BM, BN, BK, TM, TN } = t;
  const GM = TM / 4, GN = TN / 4; // 4×4 blocks per thread along rows / columns
  const RT = BM / TM, CT = BN / TN; // threads along rows / columns
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  const loadA = transA
    ? `let kk = i / ${BM}u; let m = i % ${BM}u; let gm = row0 + m; let gk = k0 + kk;
       var v = 0.0; if (gm < p.M && gk < kEnd) { v = A[aOff + gk * p.lda + gm]; }
       As[kk * ${BM / 4}u + m / 4u][m % 4u] = v;`
    : `let m = i / ${BK}u; let kk = i % ${BK}u; let gm = row0 + m; let gk = k0 + kk;
       var v = 0.0; if (gm < p.M && gk < kEnd) { v = A[aOff + gm * p.lda + gk]; }
       As[kk * ${BM / 4}u + m / 4u][m % 4u] = v;`;
  const loadB = transB
    ? `let n = i / ${BK}u; let kk = i % ${BK}u; let gn = col0 + n; let gk = k0 + kk;
       var v = 0.0; if (gn < p.N && gk < kEnd) { v = B[bOff + gn * p.ldb + gk]; }
       Bs[kk * ${BN / 4}u + n / 4u][n % 4u] = v;`
    : `let kk = i / ${BN}u; let n = i % ${BN}u; let gn = col0 + n; let gk = k0 + kk;
       var v = 0.0; if (gn < p.N && gk < kEnd) { v = B[bOff + gk * p.ldb + gn]; }
       Bs[kk * ${BN / 4}u + n / 4u][n % 4u] = v;`;
  const comp = ['x', 'y', 'z', 'w'];
  // acc[(g*4 + i) * GN + h] holds row (g, i), columns (h, 0..3)
  const inner = [
    ...range(GM).map((g) => `let a${g} = As[kk * ${BM / 4}u + ${g * RT}u + tr];`),
    ...range(GN).map((h) => `let b${h} = Bs[kk * ${BN / 4}u + ${h * CT}u + tc];`),
    ...range(GM).flatMap((g) => range(4).flatMap((i) => range(GN).map((h) =>
      `acc[${(g * 4 + i) * GN + h}] = fma(vec4<f32>(a${g}.${comp[i]}), b${h}, acc[${(g * 4 + i) * GN + h}]);`))),
  ].join('\n      ');
  const store = range(GM).flatMap((g) => range(4).map((i) => `
  {
    let r = row0 + ${g * RT * 4 + i}u + tr * 4u;
    if (r < p.M) {${range(GN).flatMap((h) => range(4).map((j) => `
      { let c = col0 + ${h * CT * 4 + j}u + tc * 4u; if (c < p.N) { let o = cOff + r * p.N + c; var v = p.alpha * acc[${(g * 4 + i) * GN + h}].${comp[j]}${bias ? ' + BIAS[c]' : ''}; if (p.accumulate != 0u) { v += C[o]; } C[o] = v; } }`)).join('')}
    }
  }`)).join('');
  k = matmulKernelFrom(t, transA, transB, bias, { element: 'vec4<f32>', lanes: 4, accumulator: `array<vec4<f32>, ${GM * 4 * GN}>`, loadA, loadB, inner, store });
  kernels.set(key, k);
  return k;
}

// What both variants share: bindings, shared-memory tiles, the workgroup's tile of C, the K loop over shared
// tiles, and the kernel's parameters. They differ in the tiles' element (`lanes` floats each), the per-thread
// accumulator, the tile loads, the FMA block and the store.
function matmulKernelFrom(t: Tile, transA: boolean, transB: boolean, bias: boolean,
  parts: { element: string; lanes: number; accumulator: string; loadA: string; loadB: string; inner: string; store: string }): Kernel {
  const { BM, BN, BK, TN } = t;
  const CT = BN / TN; // threads along columns
  const code = /* wgsl */ `
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
${bias ? '@group(0) @binding(4) var<storage, read> BIAS: array<f32>;' : ''}
var<workgroup> As: array<${parts.element}, ${(BK * BM) / parts.lanes}>; // [BK][BM / lanes]
var<workgroup> Bs: array<${parts.element}, ${(BK * BN) / parts.lanes}>; // [BK][BN / lanes]
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let z = wid.z; // batch * splits + split
  let batch = z / p.splits;
  let kBegin = (z % p.splits) * p.kChunk;
  let kEnd = min(p.K, kBegin + p.kChunk);
  let row0 = wid.y * ${BM}u;
  let col0 = wid.x * ${BN}u;
  let tr = lid / ${CT}u;
  let tc = lid % ${CT}u;
  let aOff = batch * p.strideA;
  let bOff = batch * p.strideB;
  let cOff = z * p.M * p.N;
  var acc: ${parts.accumulator};
  for (var k0 = kBegin; k0 < kEnd; k0 += ${BK}u) {
    for (var i = lid; i < ${BM * BK}u; i += 256u) { ${parts.loadA} }
    for (var i = lid; i < ${BN * BK}u; i += 256u) { ${parts.loadB} }
    workgroupBarrier();
    for (var kk = 0u; kk < ${BK}u; kk++) {
      ${parts.inner}
    }
    workgroupBarrier();
  }${parts.store}
}`;
  return {
    name: `matmul${BM}${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}${bias ? 'Bias' : ''}`,
    code,
    params: [['M', 'u32'], ['N', 'u32'], ['K', 'u32'], ['lda', 'u32'], ['ldb', 'u32'], ['strideA', 'u32'], ['strideB', 'u32'],
      ['splits', 'u32'], ['kChunk', 'u32'], ['alpha', 'f32'], ['accumulate', 'u32']],
    bindings: bias ? ['read', 'read', 'rw', 'read'] : ['read', 'read', 'rw'],
  };
}

// C[b] = alpha · Σ_s P[b, s] (+ C[b]): adds up split-K partial products.
const SPLIT_K_REDUCE: Kernel = {
  name: 'matmulSplitKReduce', params: [['MN', 'u32'], ['total', 'u32'], ['splits', 'u32'], ['alpha', 'f32'], ['accumulate', 'u32']],
  bindings: ['read', 'rw'], code: /* wgsl */ `
@group(0) @binding(1) var<storage, read> P: array<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@compute @workgroup_size(256) fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= p.total) { return; }
  let b = i / p.MN;
  let r = i % p.MN;
  var s = 0.0;
  for (var k = 0u; k < p.splits; k++) { s += P[(b * p.splits + k) * p.MN + r]; }
  var v = p.alpha * s;
  if (p.accumulate != 0u) { v += C[i]; }
  C[i] = v;
}`,
};

export interface MatmulLaunch {
  M: number; N: number; K: number;
  batch: number;
  /** Elements between consecutive batches of A / B; 0 broadcasts one matrix over the batch. */
  strideA: number; strideB: number;
  transA: boolean; transB: boolean;
  alpha?: number;
  /** Add into C's existing contents instead of overwriting. */
  accumulate?: boolean;
  /** Add bias[n] to every row of C (a linear layer's epilogue). */
  bias?: Tensor;
  /** Force a tile size (benchmarks); otherwise chosen from the output size. */
  tile?: 'big' | 'mid' | 'small';
}

/** Encode a matmul into `c` ([batch, M, N] contiguous): one dispatch, or two with split-K. */
export function launchMatmul(engine: Engine, a: Tensor, b: Tensor, c: Tensor, l: MatmulLaunch): void {
  const tiles = (t: Tile) => Math.ceil(l.M / t.BM) * Math.ceil(l.N / t.BN) * l.batch;
  // Big tiles only when they still fill the GPU (~132 SMs × 2); small problems want more workgroups.
  const t = l.tile === 'big' ? BIG : l.tile === 'mid' ? MID : l.tile === 'small' ? SMALL
    : tiles(BIG) >= 264 ? BIG : tiles(MID) >= 132 || l.M * l.N >= 64 * 64 ? MID : SMALL;
  // Split-K when the output has too few tiles to fill the GPU but K is long (weight gradients: K = tokens).
  let splits = 1;
  if (!l.tile && !l.bias && tiles(t) < 132 && l.K >= 1024) splits = Math.min(Math.ceil(264 / tiles(t)), Math.floor(l.K / 256), 64);
  const kChunk = Math.ceil(l.K / splits / t.BK) * t.BK;
  splits = Math.ceil(l.K / kChunk);
  const lda = l.transA ? l.M : l.K;
  const ldb = l.transB ? l.K : l.N;
  const groups: [number, number, number] = [Math.ceil(l.N / t.BN), Math.ceil(l.M / t.BM), l.batch * splits];
  const kernel = (t.TM % 4 === 0 && t.TN % 4 === 0 ? matmulKernelVec4 : matmulKernel)(t, l.transA, l.transB, Boolean(l.bias));
  if (splits === 1) {
    engine.run(kernel, l.bias ? [a, b, c, l.bias] : [a, b, c], [l.M, l.N, l.K, lda, ldb, l.strideA, l.strideB, 1, l.K, l.alpha ?? 1, l.accumulate ? 1 : 0], groups);
    return;
  }
  const partial = engine.empty([l.batch * splits, l.M, l.N]);
  engine.run(kernel, [a, b, partial], [l.M, l.N, l.K, lda, ldb, l.strideA, l.strideB, splits, kChunk, 1, 0], groups);
  const total = l.batch * l.M * l.N;
  engine.run(SPLIT_K_REDUCE, [partial, c], [l.M * l.N, total, splits, l.alpha ?? 1, l.accumulate ? 1 : 0], grid(Math.ceil(total / 256)));
}
