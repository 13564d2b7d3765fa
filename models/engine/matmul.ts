// Register-blocked matmul: C[b] = alpha · op(A[b]) @ op(B[b]) (+ C[b] when accumulating), fp32.
//
// A workgroup of 256 threads computes a BM×BN tile of C; each thread an TM×TN block whose rows and columns
// are interleaved (row tr + i·BM/TM, column tc + j·BN/TN) so that neighbouring threads touch neighbouring
// shared-memory words (no bank conflicts) and neighbouring addresses of C (coalesced stores). K advances in
// steps of BK through shared-memory tiles. Edges (M, N, K not tile multiples) load zeros and mask stores.
// PLATFORM.md: 128×128 tiles with 8×8 per thread reached 27.9 TFLOP/s on the H200.
//
// Two generations of kernels, picked per engine (setMatmulVariant) or per launch (MatmulLaunch.variant):
// - 'v1': one shared tile per operand with BK 8, scalar global loads, split-K over 64×64 tiles. Kept so that
//   bench/matmul.ts can time both in one run.
// - 'v2' (default): BK 16 and two shared tiles per operand (the next tile is loaded from global memory into
//   registers while the current one is multiplied; one barrier per step), vec4 global loads of each operand
//   whose contiguous dimension is a multiple of 4 (scalar loads otherwise), vec4 stores of C when N is, a
//   load path per operand layout (a [K, M] operand such as Xᵀ of a weight gradient is read along M and
//   stored as is; a [M, K] one is read along K and transposed into shared memory), split-K over 128×128 tiles
//   when K is long enough to fill the GPU with them, and an optional bias gradient: the column sums of
//   B = dY (the same rows the weight gradient Xᵀ·dY reads) summed from the tiles as they are loaded and written
//   by the epilogue or by the split-K reduction, replacing separate column-sum dispatches.
import { grid, type Engine, type Kernel, type Tensor } from './engine.ts';
import { EngineError } from './errors.ts';

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

// ------------------------------------------------------------------ v2

// BK 16 with two shared tiles per operand: 128×128 takes 2 · 16 · (128 + 128) · 4 = 32 KiB of workgroup memory
// (the most SwiftShader and Dawn on NVIDIA offer); 64×64 takes 16 KiB, WebGPU's guaranteed minimum.
const BIG2: Tile = { BM: 128, BN: 128, BK: 16, TM: 8, TN: 8 };
const MID2: Tile = { BM: 64, BN: 64, BK: 16, TM: 4, TN: 4 };
const sharedBytes = (t: Tile) => 2 * t.BK * (t.BM + t.BN) * 4;

/** How one operand sits in memory and is read: see operandLoads. */
interface Operand {
  name: 'A' | 'B';
  /** Its dimension of C (M for A, N for B), the tile's extent along it and the tile's first index. */
  extent: 'M' | 'N'; BX: number; x0: 'row0' | 'col0';
  /** Rows are k ([K, M] for A, [K, N] for B): contiguous along the output dimension. Else contiguous along K. */
  kMajor: boolean;
  /** vec4 global loads (the contiguous dimension, the batch stride and the binding are multiples of 4 floats). */
  vec: boolean;
  off: string; ld: string;
}

interface V2Options { transA: boolean; transB: boolean; vecA: boolean; vecB: boolean; vecC: boolean; bias: boolean; biasGrad: boolean }

/**
 * One operand's staging between global and shared memory: `load` reads the tile at k0 into registers
 * (rA0.. / rB0.., zeros outside the matrix or past kEnd), `store` writes them into the shared tile at `dst`
 * ([BK][BX / 4] vec4s). For a k-major operand, thread lid always loads tile column lid mod (BX / lanes).
 */
function operandLoads(o: Operand, BK: number): { regs: number; lanes: number; decl: string; load: string; store: string } {
  const X = o.name, Xs = `${X}s`, R = `r${X}`;
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  const lanes = o.vec ? 4 : 1;
  const regs = (BK * o.BX) / lanes / 256;
  const type = o.vec ? 'vec4<f32>' : 'f32';
  const zero = o.vec ? 'vec4<f32>(0.0)' : '0.0';
  const decl = range(regs).map((r) => `var ${R}${r}: ${type};`).join(' ');
  const fetch = (index: string) => (o.vec ? `${X}[(${index}) / 4u]` : `${X}[${index}]`);
  let load: string, store: string;
  if (o.kMajor) {
    // i = kk · (BX / lanes) + x / lanes: consecutive threads read consecutive addresses of one row k.
    const perRow = o.BX / lanes;
    load = range(regs).map((r) => `
      { let i = lid + ${256 * r}u; let gk = k0 + i / ${perRow}u; let gx = ${o.x0} + (i % ${perRow}u) * ${lanes}u;
        ${R}${r} = ${zero}; if (gx < p.${o.extent} && gk < kEnd) { ${R}${r} = ${fetch(`${o.off} + gk * ${o.ld} + gx`)}; } }`).join('');
    store = range(regs).map((r) => o.vec
      ? `\n      ${Xs}[dst + lid + ${256 * r}u] = ${R}${r};`
      : `\n      { let i = lid + ${256 * r}u; ${Xs}[dst + i / 4u][i % 4u] = ${R}${r}; }`).join('');
  } else {
    // i = x · (BK / lanes) + k / lanes: each row x is read along k and transposed into the [BK][BX] tile.
    const perRow = BK / lanes;
    load = range(regs).map((r) => `
      { let i = lid + ${256 * r}u; let gx = ${o.x0} + i / ${perRow}u; let gk = k0 + (i % ${perRow}u) * ${lanes}u;
        ${R}${r} = ${zero}; if (gx < p.${o.extent} && gk < kEnd) { ${R}${r} = ${fetch(`${o.off} + gx * ${o.ld} + gk`)}; } }`).join('');
    store = range(regs).map((r) => `
      { let i = lid + ${256 * r}u; let x = i / ${perRow}u; let kq = (i % ${perRow}u) * ${lanes}u;${o.vec
        ? range(4).map((j) => ` ${Xs}[dst + (kq + ${j}u) * ${o.BX / 4}u + x / 4u][x % 4u] = ${R}${r}.${'xyzw'[j]};`).join('')
        : ` ${Xs}[dst + kq * ${o.BX / 4}u + x / 4u][x % 4u] = ${R}${r};`} }`).join('');
  }
  return { regs, lanes, decl, load, store };
}

/**
 * The v2 kernel for a tile with TM, TN multiples of 4: a thread owns TM/4 × TN/4 blocks of 4×4 (rows
 * g·BM/(TM/4) + 4·tr + i, columns h·BN/(TN/4) + 4·tc + j) and multiplies vec4s read from shared memory, as
 * the v1 vec4 kernel does; what differs is the staging (module header).
 */
function matmulKernelV2(t: Tile, o: V2Options): Kernel {
  const key = `v2/${t.BM}x${t.BN}x${t.BK}/${t.TM}x${t.TN}/${JSON.stringify(o)}`;
  let k = kernels.get(key);
  if (k) return k;
  const { BM, BN, BK, TM, TN } = t;
  const GM = TM / 4, GN = TN / 4; // 4×4 blocks per thread along rows / columns
  const RT = BM / TM, CT = BN / TN; // threads along rows / columns
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  const comp = ['x', 'y', 'z', 'w'];
  const A = operandLoads({ name: 'A', extent: 'M', BX: BM, x0: 'row0', kMajor: o.transA, vec: o.vecA, off: 'aOff', ld: 'p.lda' }, BK);
  const B = operandLoads({ name: 'B', extent: 'N', BX: BN, x0: 'col0', kMajor: !o.transB, vec: o.vecB, off: 'bOff', ld: 'p.ldb' }, BK);
  // Bias gradient: B = dY is [K, N], k-major; thread lid always loads tile column (lid mod Q) (in lanes of
  // B's loads), so it adds up what it loads; the 256 / Q threads of a column are summed in order at the end.
  const Q = BN / B.lanes;
  const biasSum = o.biasGrad ? range(B.regs).map((r) => ` dbias += rB${r};`).join('') : '';
  const inner = [
    ...range(GM).map((g) => `let a${g} = As[aCur + kk * ${BM / 4}u + ${g * RT}u + tr];`),
    ...range(GN).map((h) => `let b${h} = Bs[bCur + kk * ${BN / 4}u + ${h * CT}u + tc];`),
    ...range(GM).flatMap((g) => range(4).flatMap((i) => range(GN).map((h) =>
      `acc[${(g * 4 + i) * GN + h}] = fma(vec4<f32>(a${g}.${comp[i]}), b${h}, acc[${(g * 4 + i) * GN + h}]);`))),
  ].join('\n        ');
  const biasAt = (c: string) => (o.bias ? ` + BIAS[${c}]` : '');
  const store = range(GM).flatMap((g) => range(4).map((i) => `
  {
    let r = row0 + ${g * RT * 4 + i}u + tr * 4u;
    if (r < p.M) {${range(GN).map((h) => o.vecC ? `
      { let c = col0 + ${h * CT * 4}u + tc * 4u; if (c < p.N) { let o = (cOff + r * p.N + c) / 4u; var v = p.alpha * acc[${(g * 4 + i) * GN + h}]${o.bias ? ' + vec4<f32>(BIAS[c], BIAS[c + 1u], BIAS[c + 2u], BIAS[c + 3u])' : ''}; if (p.accumulate != 0u) { v += C[o]; } C[o] = v; } }`
    : range(4).map((j) => `
      { let c = col0 + ${h * CT * 4 + j}u + tc * 4u; if (c < p.N) { let o = cOff + r * p.N + c; var v = p.alpha * acc[${(g * 4 + i) * GN + h}].${comp[j]}${biasAt('c')}; if (p.accumulate != 0u) { v += C[o]; } C[o] = v; } }`).join('')).join('')}
    }
  }`)).join('');
  // Column sums of B, written by the workgroups of the first row of tiles (all rows load the same B): [splits, N]
  // partial sums under split-K (z = split, batch 1), else the gradient itself (+ its old value when accumulating).
  const biasGradStore = !o.biasGrad ? '' : `
  As[lid] = ${B.lanes === 4 ? 'dbias' : 'vec4<f32>(dbias, 0.0, 0.0, 0.0)'};
  workgroupBarrier();
  if (wid.y == 0u && lid < ${Q}u) {
    var s = As[lid];
    for (var q = 1u; q < ${256 / Q}u; q++) { s += As[q * ${Q}u + lid]; }
    let c = col0 + lid * ${B.lanes}u;
    if (c < p.N) {${range(B.lanes).map((j) => `
      { let o = z * p.N + c + ${j}u; var v = s.${comp[j]}; if (p.accumulateBias != 0u) { v += DB[o]; } DB[o] = v; }`).join('')}
    }
  }`;
  const array = (vec: boolean) => (vec ? 'array<vec4<f32>>' : 'array<f32>');
  const code = /* wgsl */ `
@group(0) @binding(1) var<storage, read> A: ${array(o.vecA)};
@group(0) @binding(2) var<storage, read> B: ${array(o.vecB)};
@group(0) @binding(3) var<storage, read_write> C: ${array(o.vecC)};
${o.bias ? '@group(0) @binding(4) var<storage, read> BIAS: array<f32>;' : ''}${o.biasGrad ? '@group(0) @binding(4) var<storage, read_write> DB: array<f32>;' : ''}
var<workgroup> As: array<vec4<f32>, ${(2 * BK * BM) / 4}>; // two [BK][BM / 4] tiles
var<workgroup> Bs: array<vec4<f32>, ${(2 * BK * BN) / 4}>; // two [BK][BN / 4] tiles
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let z = wid.z; // batch * splits + split
  let batch = z / p.splits;
  let kBegin = (z % p.splits) * p.kChunk;
  let kEnd = min(p.K, kBegin + p.kChunk);
  let steps = (max(kEnd, kBegin) - kBegin + ${BK - 1}u) / ${BK}u;
  let row0 = wid.y * ${BM}u;
  let col0 = wid.x * ${BN}u;
  let tr = lid / ${CT}u;
  let tc = lid % ${CT}u;
  let aOff = batch * p.strideA;
  let bOff = batch * p.strideB;
  let cOff = z * p.M * p.N;
  var acc: array<vec4<f32>, ${GM * 4 * GN}>;
  ${A.decl} ${B.decl}${o.biasGrad ? `\n  var dbias = ${B.lanes === 4 ? 'vec4<f32>(0.0)' : '0.0'};` : ''}
  {
    let k0 = kBegin;${A.load}${B.load}${biasSum}
    let dst = 0u;${A.store}${B.store}
  }
  workgroupBarrier();
  for (var kStep = 0u; kStep < steps; kStep++) {
    let aCur = (kStep % 2u) * ${(BK * BM) / 4}u;
    let bCur = (kStep % 2u) * ${(BK * BN) / 4}u;
    let more = kStep + 1u < steps;
    if (more) {
      let k0 = kBegin + (kStep + 1u) * ${BK}u;${A.load}${B.load}${biasSum}
    }
    for (var kk = 0u; kk < ${BK}u; kk++) {
        ${inner}
    }
    if (more) {
      {
        let dst = ${(BK * BM) / 4}u - aCur;${A.store}
      }
      {
        let dst = ${(BK * BN) / 4}u - bCur;${B.store}
      }
    }
    workgroupBarrier();
  }${biasGradStore}${store}
}`;
  k = {
    name: `matmul${BM}${o.transA ? 'T' : 'N'}${o.transB ? 'T' : 'N'}${o.bias ? 'Bias' : ''}${o.biasGrad ? 'BiasGrad' : ''}V2`,
    code,
    params: [['M', 'u32'], ['N', 'u32'], ['K', 'u32'], ['lda', 'u32'], ['ldb', 'u32'], ['strideA', 'u32'], ['strideB', 'u32'],
      ['splits', 'u32'], ['kChunk', 'u32'], ['alpha', 'f32'], ['accumulate', 'u32'], ['accumulateBias', 'u32']],
    bindings: o.bias ? ['read', 'read', 'rw', 'read'] : o.biasGrad ? ['read', 'read', 'rw', 'rw'] : ['read', 'read', 'rw'],
  };
  kernels.set(key, k);
  return k;
}

// The split-K reduction with the bias gradient: elements [0, total) of the output as SPLIT_K_REDUCE, then N more
// threads add up the [splits, N] partial column sums into DB (+ DB when accumulating): one dispatch for both.
const SPLIT_K_REDUCE_BIAS: Kernel = {
  name: 'matmulSplitKReduceBias',
  params: [['MN', 'u32'], ['total', 'u32'], ['splits', 'u32'], ['alpha', 'f32'], ['accumulate', 'u32'], ['N', 'u32'], ['accumulateBias', 'u32']],
  bindings: ['read', 'rw', 'read', 'rw'], code: /* wgsl */ `
@group(0) @binding(1) var<storage, read> P: array<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@group(0) @binding(3) var<storage, read> PB: array<f32>;
@group(0) @binding(4) var<storage, read_write> DB: array<f32>;
@compute @workgroup_size(256) fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i < p.total) {
    let b = i / p.MN;
    let r = i % p.MN;
    var s = 0.0;
    for (var k = 0u; k < p.splits; k++) { s += P[(b * p.splits + k) * p.MN + r]; }
    var v = p.alpha * s;
    if (p.accumulate != 0u) { v += C[i]; }
    C[i] = v;
  } else if (i < p.total + p.N) {
    let n = i - p.total;
    var s = 0.0;
    for (var k = 0u; k < p.splits; k++) { s += PB[k * p.N + n]; }
    if (p.accumulateBias != 0u) { s += DB[n]; }
    DB[n] = s;
  }
}`,
};

export type MatmulVariant = 'v1' | 'v2';
const variants = new WeakMap<object, MatmulVariant>();

/** Which kernels this engine's matmuls use from now on ('v2' unless set): bench/matmul.ts times both. */
export function setMatmulVariant(engine: Engine, variant: MatmulVariant): void {
  variants.set(engine, variant);
}

export function matmulVariant(engine: Engine): MatmulVariant {
  return variants.get(engine) ?? 'v2';
}

/** Whether launchMatmul can fold a bias gradient into a weight gradient on this engine (MatmulLaunch.biasGrad). */
export function fusesBiasGrad(engine: Engine): boolean {
  return matmulVariant(engine) === 'v2';
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
  /** Add bias[n] to every row of C (a linear layer's epilogue). */
  bias?: Tensor;
  /**
   * Also write the column sums of B ([K, N], not transposed; batch 1) into this [N] tensor: a linear layer's
   * bias gradient Σ_rows dY beside its weight gradient Xᵀ·dY. v2 only (fusesBiasGrad). Not scaled by alpha.
   */
  biasGrad?: Tensor;
  /** Add the column sums into biasGrad's contents instead of overwriting. */
  accumulateBiasGrad?: boolean;
  /** Force a tile size (benchmarks, tests; no split-K unless `splits`); otherwise chosen from the output size. */
  tile?: 'big' | 'mid' | 'small';
  /** Force the number of K chunks (tests; v2 only); otherwise chosen from the output's tiles and K. */
  splits?: number;
  /** Kernel generation for this launch; otherwise the engine's (setMatmulVariant, default 'v2'). */
  variant?: MatmulVariant;
}

/** Encode a matmul into `c` ([batch, M, N] contiguous): one dispatch, or two with split-K. */
export function launchMatmul(engine: Engine, a: Tensor, b: Tensor, c: Tensor, l: MatmulLaunch): void {
  const variant = l.variant ?? matmulVariant(engine);
  if (variant === 'v2') { launchMatmulV2(engine, a, b, c, l); return; }
  if (l.biasGrad) throw new EngineError('internal: the v1 matmul kernels have no fused bias gradient (check fusesBiasGrad first)');
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

/** The tile, split count and K chunk a v2 launch uses (bench/ and tests read it to say what ran). */
export function matmulPlanV2(engine: Engine, l: MatmulLaunch): { tile: 'big' | 'mid' | 'small'; splits: number; kChunk: number } {
  const big = sharedBytes(BIG2) <= engine.device.limits.maxComputeWorkgroupStorageSize ? BIG2 : MID2;
  const tiles = (t: Tile) => Math.ceil(l.M / t.BM) * Math.ceil(l.N / t.BN) * l.batch;
  // As v1: big tiles when they fill the GPU (~132 SMs × 2), else 64×64, else the v1 32×32 kernel (which has no
  // bias gradient, so a launch that asks for one keeps 64×64).
  let t: Tile = l.tile === 'big' ? big : l.tile === 'mid' ? MID2 : l.tile === 'small' ? SMALL
    : tiles(big) >= 264 ? big : tiles(MID2) >= 132 || l.M * l.N >= 64 * 64 || l.biasGrad ? MID2 : SMALL;
  let splits = l.splits ?? 1;
  if (l.splits === undefined && !l.tile && !l.bias && tiles(t) < 132 && l.K >= 1024) {
    // Split-K (weight gradients: output [in, out], K = tokens). Chunks of at least 256 of K; 128×128 tiles when
    // K is long enough to give them ~264 workgroups (8×8 per thread: twice the FMAs per shared-memory read of
    // 4×4), else the tile chosen above.
    if (tiles(big) * Math.floor(l.K / 256) >= 264) t = big;
    splits = Math.max(1, Math.min(Math.ceil(264 / tiles(t)), Math.floor(l.K / 256), t === SMALL ? 64 : Infinity));
  }
  const kChunk = Math.max(t.BK, Math.ceil(l.K / splits / t.BK) * t.BK);
  splits = Math.max(1, Math.ceil(l.K / kChunk));
  return { tile: t === SMALL ? 'small' : t === MID2 ? 'mid' : 'big', splits, kChunk };
}

function launchMatmulV2(engine: Engine, a: Tensor, b: Tensor, c: Tensor, l: MatmulLaunch): void {
  if (l.biasGrad && (l.transB || l.batch !== 1 || l.bias || l.tile === 'small' || l.biasGrad.size !== l.N)) {
    throw new EngineError(`internal: a fused bias gradient needs B = dY [K, N] untransposed, batch 1, no forward bias, a v2 tile and an [N] output (got ${l.biasGrad} for N ${l.N})`);
  }
  const plan = matmulPlanV2(engine, l);
  const { splits, kChunk } = plan;
  // The partial-sum kernel has no bias binding, and a bias added per split would be added `splits` times.
  if (splits > 1 && l.bias) throw new EngineError(`internal: split-K (${splits} splits) with a forward bias; only bias-free launches split K`);
  const lda = l.transA ? l.M : l.K;
  const ldb = l.transB ? l.K : l.N;
  const params = (sp: number, alpha: number, acc: boolean, accBias: boolean) =>
    [l.M, l.N, l.K, lda, ldb, l.strideA, l.strideB, sp, sp === 1 ? l.K : kChunk, alpha, acc ? 1 : 0, accBias ? 1 : 0];
  if (plan.tile === 'small') {
    // Outputs too small for 64×64 tiles (and without a bias gradient) keep the v1 32×32 path, split-K included.
    launchMatmul(engine, a, b, c, { ...l, variant: 'v1' });
    return;
  }
  const t = plan.tile === 'big' ? BIG2 : MID2;
  // vec4 loads need the contiguous dimension (= the leading dimension), the batch stride and the binding's
  // offset to be multiples of 4 floats; an operand that is not is loaded by scalars.
  const aligned = (x: Tensor, ld: number, stride: number) => ld % 4 === 0 && stride % 4 === 0 && x.offset % 16 === 0;
  const options: V2Options = {
    transA: l.transA, transB: l.transB, vecA: aligned(a, lda, l.strideA), vecB: aligned(b, ldb, l.strideB),
    vecC: l.N % 4 === 0 && c.offset % 16 === 0, bias: Boolean(l.bias), biasGrad: Boolean(l.biasGrad),
  };
  const groups: [number, number, number] = [Math.ceil(l.N / t.BN), Math.ceil(l.M / t.BM), l.batch * splits];
  if (splits === 1) {
    const kernel = matmulKernelV2(t, options);
    const extra = l.bias ? [l.bias] : l.biasGrad ? [l.biasGrad] : [];
    engine.run(kernel, [a, b, c, ...extra], params(1, l.alpha ?? 1, Boolean(l.accumulate), Boolean(l.accumulateBiasGrad)), groups);
    return;
  }
  const partial = engine.empty([l.batch * splits, l.M, l.N]);
  const kernel = matmulKernelV2(t, { ...options, vecC: l.N % 4 === 0 });
  const total = l.batch * l.M * l.N;
  if (!l.biasGrad) {
    engine.run(kernel, [a, b, partial], params(splits, 1, false, false), groups);
    engine.run(SPLIT_K_REDUCE, [partial, c], [l.M * l.N, total, splits, l.alpha ?? 1, l.accumulate ? 1 : 0], grid(Math.ceil(total / 256)));
    return;
  }
  const partialBias = engine.empty([splits, l.N]);
  engine.run(kernel, [a, b, partial, partialBias], params(splits, 1, false, false), groups);
  engine.run(SPLIT_K_REDUCE_BIAS, [partial, c, partialBias, l.biasGrad],
    [l.M * l.N, total, splits, l.alpha ?? 1, l.accumulate ? 1 : 0, l.N, l.accumulateBiasGrad ? 1 : 0], grid(Math.ceil((total + l.N) / 256)));
}
