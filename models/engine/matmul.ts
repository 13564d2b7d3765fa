// Register-blocked matmul: C[b] = alpha · op(A[b]) @ op(B[b]) (+ C[b] when accumulating), fp32.
//
// A workgroup of 256 threads computes a BM×BN tile of C. K advances in steps of BK through two shared tiles per
// operand: the next tile is loaded from global memory into registers while the current one is multiplied (one
// barrier per step). Each thread owns TM/4 × TN/4 blocks of 4×4 outputs whose rows and columns are interleaved
// across threads, so that neighbouring threads touch neighbouring shared-memory words (no bank conflicts) and
// neighbouring addresses of C (coalesced stores), and one vec4 read from shared memory feeds 4 FMAs. Operands
// whose contiguous dimension is a multiple of 4 are loaded by vec4s (scalars otherwise), along the dimension
// they lie in (a [K, M] operand such as Xᵀ of a weight gradient is read along M and stored as is; a [M, K] one
// is read along K and transposed into shared memory); C is stored by vec4s when N is a multiple of 4. Edges
// (M, N, K not tile multiples) load zeros and mask stores. Split-K runs on 128×128 tiles when K is long enough
// to fill the GPU with them, and a weight gradient Xᵀ·dY can also write the column sums of B = dY (a linear
// layer's bias gradient), summed from the tiles as they are loaded, instead of separate column-sum dispatches.
//
// Outputs too small for 64×64 tiles to fill the GPU use a 32×32 kernel: 2×2 outputs per thread (4×4 blocks
// cannot tile 32×32 with 256 threads), one shared tile per operand, scalar loads, no bias gradient.
//
// There is one generation of kernels. The earlier one (BK 8, one shared tile, scalar loads, split-K over 64×64
// tiles, bias gradients by separate column sums) is gone because it was slower: on an H100 the seed model's step
// matmuls (Σ calls × time at default:1024:2) took 216.1 ms with it and 86.6 ms with these (bench/README.md,
// issue 19). Its 32×32 kernel is the one above.
import { grid, type Engine, type Kernel, type Tensor } from './engine.ts';
import { EngineError } from './errors.ts';

interface Tile { BM: number; BN: number; BK: number; TM: number; TN: number }
// BK 16 with two shared tiles per operand: 128×128 takes 2 · 16 · (128 + 128) · 4 = 32 KiB of workgroup memory
// (the most SwiftShader and Dawn on NVIDIA offer); 64×64 takes 16 KiB, WebGPU's guaranteed minimum.
const BIG: Tile = { BM: 128, BN: 128, BK: 16, TM: 8, TN: 8 };
const MID: Tile = { BM: 64, BN: 64, BK: 16, TM: 4, TN: 4 };
const SMALL: Tile = { BM: 32, BN: 32, BK: 16, TM: 2, TN: 2 }; // one shared tile per operand
const sharedBytes = (t: Tile) => 2 * t.BK * (t.BM + t.BN) * 4;

const kernels = new Map<string, Kernel>();
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

// Both kernels' parameters, in the order launchMatmul passes them.
const PARAMS: Kernel['params'] = [['M', 'u32'], ['N', 'u32'], ['K', 'u32'], ['lda', 'u32'], ['ldb', 'u32'], ['strideA', 'u32'], ['strideB', 'u32'],
  ['splits', 'u32'], ['kChunk', 'u32'], ['alpha', 'f32'], ['accumulate', 'u32'], ['accumulateBias', 'u32']];

/** The bindings (A, B, C as f32 or vec4 arrays, then a forward bias or a bias gradient) and bind-group layout. */
function bindings(vecA: boolean, vecB: boolean, vecC: boolean, bias: boolean, biasGrad: boolean): { code: string; layout: Kernel['bindings'] } {
  const array = (vec: boolean) => (vec ? 'array<vec4<f32>>' : 'array<f32>');
  return {
    code: `
@group(0) @binding(1) var<storage, read> A: ${array(vecA)};
@group(0) @binding(2) var<storage, read> B: ${array(vecB)};
@group(0) @binding(3) var<storage, read_write> C: ${array(vecC)};
${bias ? '@group(0) @binding(4) var<storage, read> BIAS: array<f32>;' : ''}${biasGrad ? '@group(0) @binding(4) var<storage, read_write> DB: array<f32>;' : ''}`,
    layout: bias ? ['read', 'read', 'rw', 'read'] : biasGrad ? ['read', 'read', 'rw', 'rw'] : ['read', 'read', 'rw'],
  };
}

/** The workgroup's batch, K chunk [kBegin, kEnd), tile origin of C and thread coordinates, and the operands' offsets. */
function tileOrigin(t: Tile): string {
  return `
  let z = wid.z; // batch * splits + split
  let batch = z / p.splits;
  let kBegin = (z % p.splits) * p.kChunk;
  let kEnd = min(p.K, kBegin + p.kChunk);
  let row0 = wid.y * ${t.BM}u;
  let col0 = wid.x * ${t.BN}u;
  let tr = lid / ${t.BN / t.TN}u;
  let tc = lid % ${t.BN / t.TN}u;
  let aOff = batch * p.strideA;
  let bOff = batch * p.strideB;
  let cOff = z * p.M * p.N;`;
}

// The 32×32 kernel. Its per-thread block is written out statement by statement (JS-side unrolling) so that every
// index into the accumulator is a constant: a loop with dynamic indices made the NVIDIA compiler put the block
// in local memory (1–2 TFLOP/s measured on the H200 before this).
function smallKernel(transA: boolean, transB: boolean, bias: boolean): Kernel {
  const key = `small/${transA}/${transB}/${bias}`;
  let k = kernels.get(key);
  if (k) return k;
  const t = SMALL;
  const { BM, BN, BK, TM, TN } = t;
  const RT = BM / TM; // threads along rows
  const CT = BN / TN; // threads along columns
  // One element of an operand's [BK][BX] shared tile per step of i: A(m, k) from [M, K] row-major (row stride lda),
  // or [K, M] when transposed (k-major); B(k, n) from [K, N] (k-major), or [N, K] when transposed.
  const load = (X: 'A' | 'B', BX: number, x0: string, extent: string, off: string, ld: string, kMajor: boolean) => kMajor
    ? `let kk = i / ${BX}u; let x = i % ${BX}u; let gx = ${x0} + x; let gk = k0 + kk;
       var v = 0.0; if (gx < p.${extent} && gk < kEnd) { v = ${X}[${off} + gk * ${ld} + gx]; }
       ${X}s[kk * ${BX}u + x] = v;`
    : `let x = i / ${BK}u; let kk = i % ${BK}u; let gx = ${x0} + x; let gk = k0 + kk;
       var v = 0.0; if (gx < p.${extent} && gk < kEnd) { v = ${X}[${off} + gx * ${ld} + gk]; }
       ${X}s[kk * ${BX}u + x] = v;`;
  const loadA = load('A', BM, 'row0', 'M', 'aOff', 'p.lda', transA);
  const loadB = load('B', BN, 'col0', 'N', 'bOff', 'p.ldb', !transB);
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
  const b = bindings(false, false, false, bias, false);
  const code = /* wgsl */ `${b.code}
var<workgroup> As: array<f32, ${BK * BM}>; // [BK][BM]
var<workgroup> Bs: array<f32, ${BK * BN}>; // [BK][BN]
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {${tileOrigin(t)}
  var acc: array<f32, ${TM * TN}>;
  for (var k0 = kBegin; k0 < kEnd; k0 += ${BK}u) {
    for (var i = lid; i < ${BM * BK}u; i += 256u) { ${loadA} }
    for (var i = lid; i < ${BN * BK}u; i += 256u) { ${loadB} }
    workgroupBarrier();
    for (var kk = 0u; kk < ${BK}u; kk++) {
      ${inner}
    }
    workgroupBarrier();
  }${store}
}`;
  k = { name: `matmul${BM}${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}${bias ? 'Bias' : ''}`, code, params: PARAMS, bindings: b.layout };
  kernels.set(key, k);
  return k;
}

// Element i of C = alpha · Σ_s P[b, s] (+ C when accumulating), P the [batch · splits, M, N] partial products.
const REDUCE_ELEMENT = /* wgsl */ `
  let b = i / p.MN;
  let r = i % p.MN;
  var s = 0.0;
  for (var k = 0u; k < p.splits; k++) { s += P[(b * p.splits + k) * p.MN + r]; }
  var v = p.alpha * s;
  if (p.accumulate != 0u) { v += C[i]; }
  C[i] = v;`;

// C[b] = alpha · Σ_s P[b, s] (+ C[b]): adds up split-K partial products.
const SPLIT_K_REDUCE: Kernel = {
  name: 'matmulSplitKReduce', params: [['MN', 'u32'], ['total', 'u32'], ['splits', 'u32'], ['alpha', 'f32'], ['accumulate', 'u32']],
  bindings: ['read', 'rw'], code: /* wgsl */ `
@group(0) @binding(1) var<storage, read> P: array<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@compute @workgroup_size(256) fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= p.total) { return; }${REDUCE_ELEMENT}
}`,
};

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

interface KernelOptions { transA: boolean; transB: boolean; vecA: boolean; vecB: boolean; vecC: boolean; bias: boolean; biasGrad: boolean }

/**
 * One operand's staging between global and shared memory: `load` reads the tile at k0 into registers
 * (rA0.. / rB0.., zeros outside the matrix or past kEnd), `store` writes them into the shared tile at `dst`
 * ([BK][BX / 4] vec4s). For a k-major operand, thread lid always loads tile column lid mod (BX / lanes).
 */
function operandLoads(o: Operand, BK: number): { regs: number; lanes: number; decl: string; load: string; store: string } {
  const X = o.name, Xs = `${X}s`, R = `r${X}`;
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
 * The kernel for a tile with TM, TN multiples of 4: a thread owns TM/4 × TN/4 blocks of 4×4 (rows
 * g·BM/(TM/4) + 4·tr + i, columns h·BN/(TN/4) + 4·tc + j) and multiplies vec4s read from shared memory
 * (module header). The blocks are written out statement by statement so that every accumulator index is a
 * constant (a loop with dynamic indices put the accumulators in local memory on NVIDIA: 1–2 TFLOP/s).
 */
function matmulKernel(t: Tile, o: KernelOptions): Kernel {
  const key = `${t.BM}x${t.BN}x${t.BK}/${t.TM}x${t.TN}/${JSON.stringify(o)}`;
  let k = kernels.get(key);
  if (k) return k;
  const { BM, BN, BK, TM, TN } = t;
  const GM = TM / 4, GN = TN / 4; // 4×4 blocks per thread along rows / columns
  const RT = BM / TM, CT = BN / TN; // threads along rows / columns
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
  const b = bindings(o.vecA, o.vecB, o.vecC, o.bias, o.biasGrad);
  const code = /* wgsl */ `${b.code}
var<workgroup> As: array<vec4<f32>, ${(2 * BK * BM) / 4}>; // two [BK][BM / 4] tiles
var<workgroup> Bs: array<vec4<f32>, ${(2 * BK * BN) / 4}>; // two [BK][BN / 4] tiles
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {${tileOrigin(t)}
  let steps = (max(kEnd, kBegin) - kBegin + ${BK - 1}u) / ${BK}u;
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
  k = { name: `matmul${BM}${o.transA ? 'T' : 'N'}${o.transB ? 'T' : 'N'}${o.bias ? 'Bias' : ''}${o.biasGrad ? 'BiasGrad' : ''}`, code, params: PARAMS, bindings: b.layout };
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
  if (i < p.total) {${REDUCE_ELEMENT}
  } else if (i < p.total + p.N) {
    let n = i - p.total;
    var s = 0.0;
    for (var k = 0u; k < p.splits; k++) { s += PB[k * p.N + n]; }
    if (p.accumulateBias != 0u) { s += DB[n]; }
    DB[n] = s;
  }
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
  /**
   * Also write the column sums of B ([K, N], not transposed; batch 1) into this [N] tensor: a linear layer's
   * bias gradient Σ_rows dY beside its weight gradient Xᵀ·dY. Not with the 32×32 tile. Not scaled by alpha.
   */
  biasGrad?: Tensor;
  /** Add the column sums into biasGrad's contents instead of overwriting. */
  accumulateBiasGrad?: boolean;
  /** Force a tile size (benchmarks, tests; no split-K unless `splits`); otherwise chosen from the output size. */
  tile?: 'big' | 'mid' | 'small';
  /** Force the number of K chunks (tests); otherwise chosen from the output's tiles and K. */
  splits?: number;
}

/** The tile, split count and K chunk a launch uses (bench/ and tests read it to say what ran). */
export function matmulPlan(engine: Engine, l: MatmulLaunch): { tile: 'big' | 'mid' | 'small'; splits: number; kChunk: number } {
  const big = sharedBytes(BIG) <= engine.device.limits.maxComputeWorkgroupStorageSize ? BIG : MID;
  const tiles = (t: Tile) => Math.ceil(l.M / t.BM) * Math.ceil(l.N / t.BN) * l.batch;
  // Big tiles when they fill the GPU (~132 SMs × 2), else 64×64, else 32×32 (which has no bias gradient, so a
  // launch that asks for one keeps 64×64).
  let t: Tile = l.tile === 'big' ? big : l.tile === 'mid' ? MID : l.tile === 'small' ? SMALL
    : tiles(big) >= 264 ? big : tiles(MID) >= 132 || l.M * l.N >= 64 * 64 || l.biasGrad ? MID : SMALL;
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
  return { tile: t === SMALL ? 'small' : t === MID ? 'mid' : 'big', splits, kChunk };
}

/** Encode a matmul into `c` ([batch, M, N] contiguous): one dispatch, or two with split-K. */
export function launchMatmul(engine: Engine, a: Tensor, b: Tensor, c: Tensor, l: MatmulLaunch): void {
  if (l.biasGrad && (l.transB || l.batch !== 1 || l.bias || l.tile === 'small' || l.biasGrad.size !== l.N)) {
    throw new EngineError(`internal: a fused bias gradient needs B = dY [K, N] untransposed, batch 1, no forward bias, a 64×64 or 128×128 tile and an [N] output (got ${l.biasGrad} for N ${l.N})`);
  }
  const plan = matmulPlan(engine, l);
  const { splits, kChunk } = plan;
  // The partial-sum kernel has no bias binding, and a bias added per split would be added `splits` times.
  if (splits > 1 && l.bias) throw new EngineError(`internal: split-K (${splits} splits) with a forward bias; only bias-free launches split K`);
  const lda = l.transA ? l.M : l.K;
  const ldb = l.transB ? l.K : l.N;
  const params = (sp: number, alpha: number, acc: boolean, accBias: boolean) =>
    [l.M, l.N, l.K, lda, ldb, l.strideA, l.strideB, sp, sp === 1 ? l.K : kChunk, alpha, acc ? 1 : 0, accBias ? 1 : 0];
  const t = plan.tile === 'big' ? BIG : plan.tile === 'mid' ? MID : SMALL;
  // vec4 loads need the contiguous dimension (= the leading dimension), the batch stride and the binding's
  // offset to be multiples of 4 floats; an operand that is not is loaded by scalars.
  const aligned = (x: Tensor, ld: number, stride: number) => ld % 4 === 0 && stride % 4 === 0 && x.offset % 16 === 0;
  const options: KernelOptions = {
    transA: l.transA, transB: l.transB, vecA: aligned(a, lda, l.strideA), vecB: aligned(b, ldb, l.strideB),
    vecC: l.N % 4 === 0 && c.offset % 16 === 0, bias: Boolean(l.bias), biasGrad: Boolean(l.biasGrad),
  };
  const kernelFor = (o: KernelOptions) => (t === SMALL ? smallKernel(o.transA, o.transB, o.bias) : matmulKernel(t, o));
  const groups: [number, number, number] = [Math.ceil(l.N / t.BN), Math.ceil(l.M / t.BM), l.batch * splits];
  if (splits === 1) {
    const extra = l.bias ? [l.bias] : l.biasGrad ? [l.biasGrad] : [];
    engine.run(kernelFor(options), [a, b, c, ...extra], params(1, l.alpha ?? 1, Boolean(l.accumulate), Boolean(l.accumulateBiasGrad)), groups);
    return;
  }
  const partial = engine.empty([l.batch * splits, l.M, l.N]);
  const kernel = kernelFor({ ...options, vecC: l.N % 4 === 0 });
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
