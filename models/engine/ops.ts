// Differentiable ops. Each op encodes its forward kernel(s) and records a backward closure on the tape.
// Shapes are row-major; "rows" means all leading dimensions flattened, the last dimension is the feature.
import { Engine, grid, numel, Tensor, type Kernel } from './engine.ts';
import { ShapeError } from './errors.ts';
import { launchMatmul } from './matmul.ts';
import type { Rng } from '../random.ts';

const ID = /* wgsl */ `@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32`;
const LINEAR = /* wgsl */ `let i = (wid.x + wid.y * nwg.x) * 256u + lid;`;
const ROW = /* wgsl */ `let row = wid.x + wid.y * nwg.x;`;

function k(name: string, params: Kernel['params'], bindings: Kernel['bindings'], code: string): Kernel {
  return { name, params, bindings, code };
}

/**
 * Rows (or reductions) of at most this many elements run on the 32-wide variant of their row-reduction kernel
 * (`narrow` for the 256-wide kernels, `narrowNorm` for the 64-wide norms). On such rows the wide kernel's other
 * threads only add zeros, so the variant gives its results bit for bit with fewer threads and barriers, each of
 * which costs CPU time on a software adapter.
 */
const NARROW = 32;

/** A row-reduction kernel (or a table of them) and its 32-wide variant; `byWidth` picks one for a row length. */
type WideNarrow<T> = { wide: T; narrow: T };

/** The variant for rows (or reductions) of n elements: narrow when n ≤ NARROW, else wide. */
function byWidth<T>(pair: WideNarrow<T>, n: number): T {
  return n <= NARROW ? pair.narrow : pair.wide;
}

/**
 * The 32-wide variant of a kernel that reduces one row per 256-thread workgroup with a halving tree: each thread
 * takes elements lid, lid + 256, … and the tree starts at 128. With ≤ 32 elements only threads 0..31 hold any, and
 * the 32-wide tree (from 16) adds the same pairs in the same order as the 256-wide one does after its steps over
 * zeros, so the results are bit for bit those of the wide kernel, with 8× fewer threads and 3 fewer barriers a row
 * (on a software adapter, where every invocation and barrier costs CPU time, several times faster).
 */
function narrow(kernel: Kernel): Kernel {
  const code = kernel.code.replace(/@workgroup_size\(256\)/g, '@workgroup_size(32)').replace(/\b256u\b/g, '32u')
    .replace(/array<f32, 256>/g, 'array<f32, 32>').replace(/var s = 128u/g, 'var s = 16u');
  if (code === kernel.code || /256|128u/.test(code)) throw new Error(`narrow(${kernel.name}): not a 256-wide row reduction`);
  return { ...kernel, name: `${kernel.name}_w32`, code };
}

/** A 256-wide row reduction and its `narrow` variant. */
function withNarrow(kernel: Kernel): WideNarrow<Kernel> {
  return { wide: kernel, narrow: narrow(kernel) };
}

const shapeStr = (s: readonly number[]) => `[${s.join(', ')}]`;
const lastDim = (t: Tensor) => t.shape[t.shape.length - 1] ?? 1;

function linearGrid(n: number): [number, number] {
  return grid(Math.ceil(n / 256));
}

// ------------------------------------------------------------------ broadcast elementwise

/** Numpy broadcasting reduced to ≤ 4 dims: output dims and per-operand element strides (0 = broadcast). */
function broadcast4(a: readonly number[], b: readonly number[], op: string): { out: number[]; dims: number[]; sa: number[]; sb: number[] } {
  const rank = Math.max(a.length, b.length);
  const pa = [...Array(rank - a.length).fill(1), ...a];
  const pb = [...Array(rank - b.length).fill(1), ...b];
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    if (pa[i] !== pb[i] && pa[i] !== 1 && pb[i] !== 1) {
      throw new ShapeError(`${op}: shapes ${shapeStr(a)} and ${shapeStr(b)} do not broadcast (dim ${i}: ${pa[i]} vs ${pb[i]}); reshape one operand`);
    }
    out.push(Math.max(pa[i], pb[i]));
  }
  // Merge neighbouring dims whose broadcast pattern (a broadcast?, b broadcast?) agrees.
  const dims: number[] = [];
  const flags: string[] = [];
  for (let i = 0; i < rank; i++) {
    if (out[i] === 1) continue;
    const f = `${pa[i] === 1 ? 0 : 1}${pb[i] === 1 ? 0 : 1}`;
    if (flags.length && flags[flags.length - 1] === f) dims[dims.length - 1] *= out[i];
    else { dims.push(out[i]); flags.push(f); }
  }
  if (dims.length > 4) throw new ShapeError(`${op}: broadcast of ${shapeStr(a)} and ${shapeStr(b)} needs more than 4 dims; reshape first`);
  while (dims.length < 4) { dims.unshift(1); flags.unshift('11'); }
  const strides = (which: 0 | 1) => {
    const s = [0, 0, 0, 0];
    let acc = 1;
    for (let i = 3; i >= 0; i--) {
      if (flags[i][which] === '1') { s[i] = acc; acc *= dims[i]; }
    }
    return s;
  };
  return { out, dims, sa: strides(0), sb: strides(1) };
}

const BINARY_PARAMS: Kernel['params'] = [['n', 'u32'], ['d1', 'u32'], ['d2', 'u32'], ['d3', 'u32'],
  ['a0', 'u32'], ['a1', 'u32'], ['a2', 'u32'], ['a3', 'u32'], ['b0', 'u32'], ['b1', 'u32'], ['b2', 'u32'], ['b3', 'u32'],
  ['alpha', 'f32'], ['beta', 'f32']];

function binaryKernel(op: 'add' | 'mul', same: boolean): Kernel {
  const index = same ? 'let ia = i; let ib = i;' : `
  let c3 = i % p.d3; let r3 = i / p.d3; let c2 = r3 % p.d2; let r2 = r3 / p.d2; let c1 = r2 % p.d1; let c0 = r2 / p.d1;
  let ia = c0 * p.a0 + c1 * p.a1 + c2 * p.a2 + c3 * p.a3;
  let ib = c0 * p.b0 + c1 * p.b1 + c2 * p.b2 + c3 * p.b3;`;
  const expr = op === 'add' ? 'p.alpha * A[ia] + p.beta * B[ib]' : 'p.alpha * A[ia] * B[ib]';
  return k(`${op}${same ? '' : 'Broadcast'}`, BINARY_PARAMS, ['read', 'read', 'rw'], /* wgsl */ `
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
@compute @workgroup_size(256) fn main(${ID}) {
  ${LINEAR}
  if (i >= p.n) { return; }
  ${index}
  O[i] = ${expr};
}`);
}
const KERNELS = {
  add: binaryKernel('add', true), addB: binaryKernel('add', false),
  mul: binaryKernel('mul', true), mulB: binaryKernel('mul', false),
};

const ADD_INTO = k('addInto', [['n', 'u32'], ['beta', 'f32']], ['read', 'rw'], /* wgsl */ `
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
@compute @workgroup_size(256) fn main(${ID}) {
  ${LINEAR}
  if (i >= p.n) { return; }
  O[i] += p.beta * B[i];
}`);

function binaryRaw(op: 'add' | 'mul', a: Tensor, b: Tensor, alpha: number, beta: number, name: string): Tensor {
  const e = a.engine;
  const bc = broadcast4(a.shape, b.shape, name);
  const out = e.empty(bc.out);
  const same = a.size === b.size && a.size === out.size;
  const kern = op === 'add' ? (same ? KERNELS.add : KERNELS.addB) : same ? KERNELS.mul : KERNELS.mulB;
  e.run(kern, [a, b, out], [out.size, bc.dims[1], bc.dims[2], bc.dims[3], ...bc.sa, ...bc.sb, alpha, beta], linearGrid(out.size));
  return out;
}

/** `into += beta * b` (same size), in place. */
export function addInto(into: Tensor, b: Tensor, beta = 1): Tensor {
  if (into.size !== b.size) throw new ShapeError(`addInto: ${into} and ${b} differ in size`);
  into.engine.run(ADD_INTO, [b, into], [b.size, beta], linearGrid(b.size));
  return into;
}

/** Gradient accumulation used by backward(): a + b, or in place into `into`. */
export function accumulateAdd(a: Tensor, b: Tensor, into: Tensor | null): Tensor {
  if (into) return addInto(into, b);
  return binaryRaw('add', a, b.size === a.size ? view(b, a.shape) : b, 1, 1, 'grad accumulation');
}

/** Sum `g` down to `shape` (undo a broadcast). */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  if (numel(shape) === g.size) return g.engine.view(g, [...shape]);
  return reduceRaw(g, shape, 1);
}

/**
 * The gradient `coef · g` of input `x` (summed down to x's shape). For a packed parameter it is accumulated
 * straight into the parameter's gradient (returns null), saving a separate accumulation dispatch.
 */
function gradTo(g: Tensor, x: Tensor, coef = 1): Tensor | null {
  const target = x.engine.accumulateTarget(x);
  if (!target) return sumTo(coef === 1 ? g : scaleRaw(g, coef), x.shape);
  if (g.size === x.size) addInto(target, g, coef);
  else reduceRaw(g, x.shape, coef, target);
  return null;
}

/** alpha·a + beta·b with broadcasting. */
export function axpby(a: Tensor, b: Tensor, alpha: number, beta: number): Tensor {
  const out = binaryRaw('add', a, b, alpha, beta, 'add');
  return a.engine.record(out, [a, b], (g) => [
    a.requiresGrad ? gradTo(g, a, alpha) : null,
    b.requiresGrad ? gradTo(g, b, beta) : null,
  ]);
}
export const add = (a: Tensor, b: Tensor) => axpby(a, b, 1, 1);
export const sub = (a: Tensor, b: Tensor) => axpby(a, b, 1, -1);

export function mul(a: Tensor, b: Tensor): Tensor {
  const out = binaryRaw('mul', a, b, 1, 0, 'mul');
  return a.engine.record(out, [a, b], (g) => [
    a.requiresGrad ? sumTo(binaryRaw('mul', g, b, 1, 0, 'mul backward'), a.shape) : null,
    b.requiresGrad ? sumTo(binaryRaw('mul', g, a, 1, 0, 'mul backward'), b.shape) : null,
  ]);
}

// ------------------------------------------------------------------ unary

type UnaryOp = 'scale' | 'gelu' | 'silu' | 'sigmoid' | 'relu' | 'exp' | 'log' | 'square';
// Forward y = f(x); backward dx = g · f'(x). GELU is the tanh approximation (docs/architecture.md).
const GELU_C = 'const GELU_C: f32 = 0.7978845608028654;\nfn tanhSafe(z: f32) -> f32 { return tanh(clamp(z, -15.0, 15.0)); }';
const UNARY_FWD: Record<UnaryOp, string> = {
  scale: 'p.alpha * x + p.beta',
  gelu: '0.5 * x * (1.0 + tanhSafe(GELU_C * (x + 0.044715 * x * x * x)))',
  silu: 'x / (1.0 + exp(-x))',
  sigmoid: '1.0 / (1.0 + exp(-x))',
  relu: 'max(x, 0.0)',
  exp: 'exp(x)',
  log: 'log(x)',
  square: 'x * x',
};
const UNARY_BWD: Record<UnaryOp, string> = {
  scale: 'p.alpha',
  gelu: '0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_C * (1.0 + 3.0 * 0.044715 * x * x)',
  silu: 's * (1.0 + x * (1.0 - s))',
  sigmoid: 's * (1.0 - s)',
  relu: 'select(0.0, 1.0, x > 0.0)',
  exp: 'exp(x)',
  log: '1.0 / x',
  square: '2.0 * x',
};
const unaryKernels = new Map<string, Kernel>();
function unaryKernel(op: UnaryOp, backward: boolean): Kernel {
  const key = `${op}${backward}`;
  let kern = unaryKernels.get(key);
  if (kern) return kern;
  kern = backward
    ? k(`${op}Backward`, [['n', 'u32'], ['alpha', 'f32'], ['beta', 'f32']], ['read', 'read', 'rw'], /* wgsl */ `
${GELU_C}
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
@compute @workgroup_size(256) fn main(${ID}) {
  ${LINEAR}
  if (i >= p.n) { return; }
  let x = X[i];
  let s = 1.0 / (1.0 + exp(-x));
  let t = tanhSafe(GELU_C * (x + 0.044715 * x * x * x));
  O[i] = G[i] * (${UNARY_BWD[op]});
}`)
    : k(op, [['n', 'u32'], ['alpha', 'f32'], ['beta', 'f32']], ['read', 'rw'], /* wgsl */ `
${GELU_C}
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
@compute @workgroup_size(256) fn main(${ID}) {
  ${LINEAR}
  if (i >= p.n) { return; }
  let x = X[i];
  O[i] = ${UNARY_FWD[op]};
}`);
  unaryKernels.set(key, kern);
  return kern;
}

function unaryRaw(op: UnaryOp, x: Tensor, alpha = 1, beta = 0): Tensor {
  const out = x.engine.empty(x.shape);
  x.engine.run(unaryKernel(op, false), [x, out], [x.size, alpha, beta], linearGrid(x.size));
  return out;
}
function scaleRaw(x: Tensor, s: number): Tensor { return unaryRaw('scale', x, s, 0); }

function unary(op: UnaryOp, x: Tensor, alpha = 1, beta = 0): Tensor {
  const out = unaryRaw(op, x, alpha, beta);
  return x.engine.record(out, [x], (g) => {
    const dx = x.engine.empty(x.shape);
    x.engine.run(unaryKernel(op, true), [x, g, dx], [x.size, alpha, beta], linearGrid(x.size));
    return [dx];
  });
}
/** alpha·x + beta. */
export const scale = (x: Tensor, alpha: number, beta = 0) => unary('scale', x, alpha, beta);
export const gelu = (x: Tensor) => unary('gelu', x);
export const silu = (x: Tensor) => unary('silu', x);
export const sigmoid = (x: Tensor) => unary('sigmoid', x);
export const relu = (x: Tensor) => unary('relu', x);
export const exp = (x: Tensor) => unary('exp', x);
export const log = (x: Tensor) => unary('log', x);
export const square = (x: Tensor) => unary('square', x);
/** SwiGLU: silu(a) ⊙ b. */
export const swiglu = (a: Tensor, b: Tensor) => mul(silu(a), b);

// ------------------------------------------------------------------ reductions

const REDUCE = withNarrow(k('reduceSum', [['nOut', 'u32'], ['R', 'u32'], ['d0', 'u32'], ['d1', 'u32'], ['d2', 'u32'], ['d3', 'u32'], ['red', 'u32'], ['alpha', 'f32']],
  ['read', 'rw'], /* wgsl */ `
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
var<workgroup> partial: array<f32, 256>;
@compute @workgroup_size(256) fn main(${ID}) {
  let o = wid.x + wid.y * nwg.x;
  if (o >= p.nOut) { return; }
  var dims = array<u32, 4>(p.d0, p.d1, p.d2, p.d3);
  var kept = array<u32, 4>(0u, 0u, 0u, 0u);
  var rest = o;
  for (var d = 3; d >= 0; d--) {
    if (((p.red >> u32(d)) & 1u) == 0u) { kept[d] = rest % dims[d]; rest = rest / dims[d]; }
  }
  var acc = 0.0;
  for (var r = lid; r < p.R; r += 256u) {
    var rr = r;
    var idx = 0u;
    var stride = 1u;
    for (var d = 3; d >= 0; d--) {
      var c = kept[d];
      if (((p.red >> u32(d)) & 1u) != 0u) { c = rr % dims[d]; rr = rr / dims[d]; }
      idx += c * stride;
      stride *= dims[d];
    }
    acc += X[idx];
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid < s) { partial[lid] += partial[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { O[o] = p.alpha * partial[0]; }
}`));

// Column sums of a row-major [R, C] matrix (the bias-gradient pattern): a workgroup owns 64 adjacent
// columns (coalesced reads) and a chunk of rows in 4 lanes; chunks > 1 leave partial sums [chunks, C]
// that a second pass adds up.
const SUM_ROWS = k('sumRows', [['R', 'u32'], ['C', 'u32'], ['rowsPer', 'u32'], ['alpha', 'f32'], ['accumulate', 'u32']], ['read', 'rw'], /* wgsl */ `
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
var<workgroup> red: array<f32, 256>;
@compute @workgroup_size(256) fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let col = wid.x * 64u + lid % 64u;
  let lane = lid / 64u;
  let r0 = wid.y * p.rowsPer;
  let r1 = min(p.R, r0 + p.rowsPer);
  var acc = 0.0;
  if (col < p.C) {
    for (var r = r0 + lane; r < r1; r += 4u) { acc += X[r * p.C + col]; }
  }
  red[lid] = acc;
  workgroupBarrier();
  if (lane == 0u && col < p.C) {
    var v = p.alpha * (red[lid] + red[lid + 64u] + red[lid + 128u] + red[lid + 192u]);
    if (p.accumulate != 0u) { v += O[wid.y * p.C + col]; }
    O[wid.y * p.C + col] = v;
  }
}`);

function sumRows(x: Tensor, R: number, C: number, alpha: number, shape: readonly number[], into: Tensor | null): Tensor {
  const e = x.engine;
  const colBlocks = Math.ceil(C / 64);
  const chunks = Math.max(1, Math.min(Math.ceil(R / 256), Math.floor(1024 / colBlocks), 65535));
  if (chunks === 1) {
    const out = into ?? e.empty([...shape]);
    e.run(SUM_ROWS, [x, out], [R, C, R, alpha, into ? 1 : 0], [colBlocks, 1]);
    return out;
  }
  const rowsPer = Math.ceil(R / chunks);
  const used = Math.ceil(R / rowsPer);
  const partial = e.empty([used, C]);
  e.run(SUM_ROWS, [x, partial], [R, C, rowsPer, 1, 0], [colBlocks, used]);
  return sumRows(partial, used, C, alpha, shape, into);
}

/** Sum x over the dims where `shape` (right-aligned, padded with 1s) is 1; result has `shape`. */
function reduceRaw(x: Tensor, shape: readonly number[], alpha: number, into: Tensor | null = null): Tensor {
  const e = x.engine;
  const rank = x.shape.length;
  if (shape.length > rank) throw new ShapeError(`reduce: target ${shapeStr(shape)} has more dims than ${x}`);
  const ps = [...Array(rank - shape.length).fill(1), ...shape];
  const dims: number[] = [];
  const red: boolean[] = [];
  for (let i = 0; i < rank; i++) {
    if (ps[i] !== x.shape[i] && ps[i] !== 1) throw new ShapeError(`reduce: cannot sum ${x} to ${shapeStr(shape)}`);
    if (x.shape[i] === 1) continue;
    const r = ps[i] === 1;
    if (red.length && red[red.length - 1] === r) dims[dims.length - 1] *= x.shape[i];
    else { dims.push(x.shape[i]); red.push(r); }
  }
  if (dims.length > 4) throw new ShapeError(`reduce: ${x} → ${shapeStr(shape)} alternates reduced and kept dims more than 4 times`);
  while (dims.length < 4) { dims.unshift(1); red.unshift(false); }
  const R = dims.reduce((acc, d, i) => (red[i] ? acc * d : acc), 1);
  const firstKept = red.findIndex((r, i) => !r && dims.slice(i).every((d, j) => !red[i + j] || d === 1));
  if (red.some((r) => r) && firstKept >= 0 && red.slice(0, firstKept).every((r, i) => r || dims[i] === 1)) {
    return sumRows(x, R, x.size / R, alpha, shape, into); // reduce leading dims, keep trailing ones
  }
  if (into) return addInto(into, reduceRaw(x, shape, alpha));
  const out = e.empty([...shape]);
  e.run(byWidth(REDUCE, R), [x, out], [out.size, R, ...dims, red.reduce((m, r, i) => m | (r ? 1 << i : 0), 0), alpha], grid(out.size));
  return out;
}

/** Sum of all elements → [1], or over `axis` (dropped unless keepDim). */
export function sum(x: Tensor, axis?: number, keepDim = false): Tensor {
  return reduceOp(x, axis, keepDim, 1);
}
/** Mean of all elements → [1], or over `axis`. */
export function mean(x: Tensor, axis?: number, keepDim = false): Tensor {
  const n = axis === undefined ? x.size : x.shape[axis < 0 ? x.shape.length + axis : axis];
  return reduceOp(x, axis, keepDim, 1 / n);
}
function reduceOp(x: Tensor, axis: number | undefined, keepDim: boolean, alpha: number): Tensor {
  const e = x.engine;
  let target: number[];
  let outShape: number[];
  if (axis === undefined) { target = x.shape.map(() => 1); outShape = [1]; }
  else {
    const ax = axis < 0 ? x.shape.length + axis : axis;
    if (ax < 0 || ax >= x.shape.length) throw new ShapeError(`sum/mean: axis ${axis} out of range for ${x}`);
    target = x.shape.map((d, i) => (i === ax ? 1 : d));
    outShape = keepDim ? target : x.shape.filter((_, i) => i !== ax);
    if (outShape.length === 0) outShape = [1];
  }
  const r = reduceRaw(x, target, alpha);
  const out = e.view(r, outShape);
  return e.record(out, [x], (g) => [binaryRaw('add', e.view(g, target), zerosLike(x), alpha, 0, 'sum backward')]);
}

function zerosLike(x: Tensor): Tensor {
  const z = x.engine.empty(x.shape);
  x.engine.zero(z);
  return z;
}

// ------------------------------------------------------------------ shape ops

/** Reshape (a view; same element count). */
export function view(x: Tensor, shape: number[]): Tensor {
  const e = x.engine;
  const s = [...shape];
  const inferred = s.indexOf(-1);
  if (inferred >= 0) s[inferred] = x.size / numel(s.filter((d) => d !== -1));
  const out = e.view(x, s);
  return e.record(out, [x], (g) => [e.view(g, x.shape)]);
}
export const reshape = view;

const COPY_COLS = k('copyColumns', [['rows', 'u32'], ['cols', 'u32'], ['srcWidth', 'u32'], ['srcOffset', 'u32'], ['dstWidth', 'u32'], ['dstOffset', 'u32']],
  ['read', 'rw'], /* wgsl */ `
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
@compute @workgroup_size(256) fn main(${ID}) {
  ${LINEAR}
  if (i >= p.rows * p.cols) { return; }
  let r = i / p.cols;
  let c = i % p.cols;
  O[r * p.dstWidth + p.dstOffset + c] = X[r * p.srcWidth + p.srcOffset + c];
}`);

function axisSplit(shape: readonly number[], axis: number): { outer: number; mid: number; inner: number; ax: number } {
  const ax = axis < 0 ? shape.length + axis : axis;
  if (ax < 0 || ax >= shape.length) throw new ShapeError(`axis ${axis} out of range for shape ${shapeStr(shape)}`);
  return { outer: numel(shape.slice(0, ax)), mid: shape[ax], inner: numel(shape.slice(ax + 1)), ax };
}

/** x[..., start:start+length, ...] along `axis`. */
export function slice(x: Tensor, axis: number, start: number, length: number): Tensor {
  const e = x.engine;
  const { outer, mid, inner, ax } = axisSplit(x.shape, axis);
  if (start < 0 || length < 0 || start + length > mid) throw new ShapeError(`slice: [${start}, ${start + length}) outside axis ${axis} of ${x}`);
  const shape = x.shape.map((d, i) => (i === ax ? length : d));
  const out = e.empty(shape);
  e.run(COPY_COLS, [x, out], [outer, length * inner, mid * inner, start * inner, length * inner, 0], linearGrid(outer * length * inner));
  return e.record(out, [x], (g) => {
    const dx = zerosLike(x);
    e.run(COPY_COLS, [g, dx], [outer, length * inner, length * inner, 0, mid * inner, start * inner], linearGrid(outer * length * inner));
    return [dx];
  });
}

/** Concatenate along `axis` (other dims equal). */
export function concat(xs: Tensor[], axis: number): Tensor {
  const e = xs[0].engine;
  const { outer, inner, ax } = axisSplit(xs[0].shape, axis);
  let total = 0;
  for (const x of xs) {
    if (x.shape.length !== xs[0].shape.length || x.shape.some((d, i) => i !== ax && d !== xs[0].shape[i])) {
      throw new ShapeError(`concat: ${x} does not match ${xs[0]} outside axis ${axis}`);
    }
    total += x.shape[ax];
  }
  const out = e.empty(xs[0].shape.map((d, i) => (i === ax ? total : d)));
  let offset = 0;
  const offsets: number[] = [];
  for (const x of xs) {
    offsets.push(offset);
    const w = x.shape[ax] * inner;
    e.run(COPY_COLS, [x, out], [outer, w, w, 0, total * inner, offset * inner], linearGrid(outer * w));
    offset += x.shape[ax];
  }
  return e.record(out, xs, (g) => xs.map((x, i) => {
    if (!x.requiresGrad) return null;
    const dx = e.empty(x.shape);
    const w = x.shape[ax] * inner;
    e.run(COPY_COLS, [g, dx], [outer, w, total * inner, offsets[i] * inner, w, 0], linearGrid(outer * w));
    return dx;
  }));
}

// ------------------------------------------------------------------ matmul

/**
 * Batched matmul: a [..., M, K] (or [..., K, M] with transA), b [..., K, N] (or [..., N, K] with transB).
 * A 2-D operand is broadcast over the other's batch; a batched `a` times a 2-D `b` is one big matmul
 * (a linear layer: [B, T, in] @ [in, out] → [B, T, out]).
 */
export function matmul(a: Tensor, b: Tensor, options: { transA?: boolean; transB?: boolean } = {}): Tensor {
  const e = a.engine;
  const transA = options.transA ?? false;
  const transB = options.transB ?? false;
  if (a.shape.length < 2 || b.shape.length < 2) throw new ShapeError(`matmul: operands need ≥ 2 dims, got ${a} and ${b}`);
  const ar = a.shape.length, br = b.shape.length;
  const [am, ak] = transA ? [a.shape[ar - 1], a.shape[ar - 2]] : [a.shape[ar - 2], a.shape[ar - 1]];
  const [bk, bn] = transB ? [b.shape[br - 1], b.shape[br - 2]] : [b.shape[br - 2], b.shape[br - 1]];
  if (ak !== bk) throw new ShapeError(`matmul: inner dims differ: ${a}${transA ? 'ᵀ' : ''} @ ${b}${transB ? 'ᵀ' : ''} (${ak} vs ${bk})`);
  const batchA = a.shape.slice(0, -2), batchB = b.shape.slice(0, -2);
  const nA = numel(batchA), nB = numel(batchB);
  const K = ak, N = bn;
  // Linear layer: fold a's batch into M.
  if (br === 2 && !transA) {
    const M = numel(a.shape.slice(0, -1));
    const out = e.empty([...a.shape.slice(0, -1), N]);
    launchMatmul(e, a, b, out, { M, N, K, batch: 1, strideA: 0, strideB: 0, transA: false, transB });
    return e.record(out, [a, b], (g) => {
      let da: Tensor | null = null;
      if (a.requiresGrad) {
        da = e.empty(a.shape);
        // dA = dC @ op(B)ᵀ: [M, N] @ [N, K]
        launchMatmul(e, g, b, da, { M, N: K, K: N, batch: 1, strideA: 0, strideB: 0, transA: false, transB: !transB });
      }
      let db: Tensor | null = null;
      if (b.requiresGrad) {
        const target = e.accumulateTarget(b);
        const dst = target ?? e.empty(b.shape);
        // dB = Aᵀ @ dC ([K, N]) or, when transB, dCᵀ @ A ([N, K])
        if (!transB) launchMatmul(e, a, g, dst, { M: K, N, K: M, batch: 1, strideA: 0, strideB: 0, transA: true, transB: false, accumulate: Boolean(target) });
        else launchMatmul(e, g, a, dst, { M: N, N: K, K: M, batch: 1, strideA: 0, strideB: 0, transA: true, transB: false, accumulate: Boolean(target) });
        db = target ? null : dst;
      }
      return [da, db];
    });
  }
  let batchShape: number[];
  if (nA === nB && batchA.length === batchB.length && batchA.every((d, i) => d === batchB[i])) batchShape = batchA;
  else if (ar === 2) batchShape = batchB;
  else if (br === 2) batchShape = batchA;
  else throw new ShapeError(`matmul: batch dims ${shapeStr(batchA)} and ${shapeStr(batchB)} differ; they must match or one operand must be 2-D`);
  const batch = numel(batchShape);
  const M = am;
  const sA = ar === 2 ? 0 : M * K, sB = br === 2 ? 0 : K * N;
  const out = e.empty([...batchShape, M, N]);
  launchMatmul(e, a, b, out, { M, N, K, batch, strideA: sA, strideB: sB, transA, transB });
  return e.record(out, [a, b], (g) => {
    let da: Tensor | null = null, db: Tensor | null = null;
    if (a.requiresGrad) {
      const full = e.empty([...batchShape, ...a.shape.slice(-2)]);
      // op(A) = A: dA = dC @ op(B)ᵀ   [M, K];   op(A) = Aᵀ: dA = op(B) @ dCᵀ   [K, M]
      if (!transA) launchMatmul(e, g, b, full, { M, N: K, K: N, batch, strideA: M * N, strideB: sB, transA: false, transB: !transB });
      else launchMatmul(e, b, g, full, { M: K, N: M, K: N, batch, strideA: sB, strideB: M * N, transA: transB, transB: true });
      da = sA === 0 ? reduceRaw(full, a.shape, 1) : full;
    }
    if (b.requiresGrad) {
      const full = e.empty([...batchShape, ...b.shape.slice(-2)]);
      // op(B) = B: dB = op(A)ᵀ @ dC   [K, N];   op(B) = Bᵀ: dB = dCᵀ @ op(A)   [N, K]
      if (!transB) launchMatmul(e, a, g, full, { M: K, N, K: M, batch, strideA: sA, strideB: M * N, transA: !transA, transB: false });
      else launchMatmul(e, g, a, full, { M: N, N: K, K: M, batch, strideA: M * N, strideB: sA, transA: true, transB: transA });
      db = sB === 0 ? reduceRaw(full, b.shape, 1) : full;
    }
    return [da, db];
  });
}

/** x @ W + b for x [..., in], W [in, out], b [out] (optional); the bias is added in the matmul's epilogue. */
export function linear(x: Tensor, w: Tensor, b?: Tensor): Tensor {
  if (!b || w.shape.length !== 2 || b.size !== w.shape[1] || lastDim(x) !== w.shape[0]) {
    const y = matmul(x, w);
    return b ? add(y, b) : y;
  }
  const e = x.engine;
  const [K, N] = w.shape;
  const M = x.size / K;
  const out = e.empty([...x.shape.slice(0, -1), N]);
  launchMatmul(e, x, w, out, { M, N, K, batch: 1, strideA: 0, strideB: 0, transA: false, transB: false, bias: b });
  return e.record(out, [x, w, b], (g) => {
    let dx: Tensor | null = null;
    if (x.requiresGrad) {
      dx = e.empty(x.shape);
      launchMatmul(e, g, w, dx, { M, N: K, K: N, batch: 1, strideA: 0, strideB: 0, transA: false, transB: true }); // dC @ Wᵀ
    }
    let dw: Tensor | null = null;
    let db: Tensor | null = null;
    // The bias gradient Σ_rows dC is summed by the weight-gradient kernel from the dC tiles it loads anyway,
    // instead of a column-sum dispatch of its own (two for long inputs).
    const fused = w.requiresGrad && b.requiresGrad;
    if (w.requiresGrad) {
      const target = e.accumulateTarget(w);
      const dst = target ?? e.empty(w.shape);
      const biasTarget = fused ? e.accumulateTarget(b) : null;
      const biasDst = fused ? biasTarget ?? e.empty(b.shape) : undefined;
      launchMatmul(e, x, g, dst, { M: K, N, K: M, batch: 1, strideA: 0, strideB: 0, transA: true, transB: false, accumulate: Boolean(target),
        biasGrad: biasDst, accumulateBiasGrad: Boolean(biasTarget) }); // Xᵀ @ dC (and Σ_rows dC)
      dw = target ? null : dst;
      db = biasTarget || !biasDst ? null : biasDst;
    }
    return [dx, dw, fused ? db : b.requiresGrad ? gradTo(g, b) : null];
  });
}

// ------------------------------------------------------------------ embedding

const GATHER = k('embeddingGather', [['rows', 'u32'], ['D', 'u32']], ['read', 'read', 'rw'], /* wgsl */ `
@group(0) @binding(1) var<storage, read> W: array<f32>;
@group(0) @binding(2) var<storage, read> ids: array<i32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
@compute @workgroup_size(256) fn main(${ID}) {
  ${LINEAR}
  if (i >= p.rows * p.D) { return; }
  let r = i / p.D;
  O[i] = W[u32(ids[r]) * p.D + i % p.D];
}`);

// One workgroup per distinct id sums that id's rows in a fixed order: deterministic, no float atomics.
const SCATTER = k('embeddingScatterAdd', [['unique', 'u32'], ['D', 'u32']], ['read', 'read', 'read', 'read', 'rw'], /* wgsl */ `
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read> uniq: array<i32>;
@group(0) @binding(3) var<storage, read> start: array<i32>;
@group(0) @binding(4) var<storage, read> rows: array<i32>;
@group(0) @binding(5) var<storage, read_write> O: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let u = wid.x + wid.y * nwg.x;
  if (u >= p.unique) { return; }
  let id = u32(uniq[u]);
  let s = u32(start[u]);
  let t = u32(start[u + 1u]);
  for (var c = lid; c < p.D; c += 64u) {
    var acc = 0.0;
    for (var j = s; j < t; j++) { acc += G[u32(rows[j]) * p.D + c]; }
    O[id * p.D + c] += acc;
  }
}`);

// An id that many rows share (a frequent token: the suffix code most items have, BOS, a position) would leave
// one workgroup summing thousands of rows in sequence while the others idle. Those groups are cut into chunks
// of at most SCATTER_CHUNK rows: one workgroup per chunk writes its partial sum, then one per id adds its
// chunks in order. Still a fixed summation order: deterministic, no float atomics.
const SCATTER_CHUNK = 64;
const SCATTER_PARTIAL = k('embeddingScatterPartial', [['chunks', 'u32'], ['D', 'u32']], ['read', 'read', 'read', 'rw'], /* wgsl */ `
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read> chunkStart: array<i32>;
@group(0) @binding(3) var<storage, read> rows: array<i32>;
@group(0) @binding(4) var<storage, read_write> P: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let c = wid.x + wid.y * nwg.x;
  if (c >= p.chunks) { return; }
  let s = u32(chunkStart[c]);
  let t = u32(chunkStart[c + 1u]);
  for (var col = lid; col < p.D; col += 64u) {
    var acc = 0.0;
    for (var j = s; j < t; j++) { acc += G[u32(rows[j]) * p.D + col]; }
    P[c * p.D + col] = acc;
  }
}`);
const SCATTER_COMBINE = k('embeddingScatterCombine', [['unique', 'u32'], ['D', 'u32']], ['read', 'read', 'read', 'rw'], /* wgsl */ `
@group(0) @binding(1) var<storage, read> P: array<f32>;
@group(0) @binding(2) var<storage, read> uniq: array<i32>;
@group(0) @binding(3) var<storage, read> uChunk: array<i32>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let u = wid.x + wid.y * nwg.x;
  if (u >= p.unique) { return; }
  let id = u32(uniq[u]);
  let s = u32(uChunk[u]);
  let t = u32(uChunk[u + 1u]);
  for (var col = lid; col < p.D; col += 64u) {
    var acc = 0.0;
    for (var c = s; c < t; c++) { acc += P[c * p.D + col]; }
    O[id * p.D + col] += acc;
  }
}`);

/**
 * Host-side grouping of ids by counting sort (stable): [uniqueIds, rowStart (unique+1), rowsSortedById], and when
 * some id has more than SCATTER_CHUNK rows also [chunkStart (chunks+1), chunkRange (unique+1)]: each id's rows cut
 * into chunks of at most SCATTER_CHUNK, chunkRange[u] … chunkRange[u+1] being id u's chunks.
 */
function groupIds(e: Engine, ids: Tensor, V: number): Tensor[] {
  if (ids.groups && !ids.groups.some((t) => t.released)) return ids.groups;
  const host = ids.host!;
  const count = new Int32Array(V + 1);
  for (let j = 0; j < host.length; j++) count[host[j] + 1]++;
  let unique = 0;
  let longest = 0;
  for (let v = 1; v <= V; v++) { if (count[v]) unique++; longest = Math.max(longest, count[v]); count[v] += count[v - 1]; }
  const order = new Int32Array(host.length);
  const next = count.slice(0, V);
  for (let j = 0; j < host.length; j++) order[next[host[j]]++] = j;
  const uniq = new Int32Array(unique);
  const start = new Int32Array(unique + 1);
  let u = 0;
  for (let v = 0; v < V; v++) {
    if (count[v + 1] > count[v]) { uniq[u] = v; start[u] = count[v]; u++; }
  }
  start[unique] = host.length;
  ids.groups = [e.upload(uniq, [unique]), e.upload(start, [unique + 1]), e.upload(order, [order.length])];
  if (longest > SCATTER_CHUNK) {
    const range = new Int32Array(unique + 1);
    let chunks = 0;
    for (let g = 0; g < unique; g++) { range[g] = chunks; chunks += Math.ceil((start[g + 1] - start[g]) / SCATTER_CHUNK); }
    range[unique] = chunks;
    const chunkStart = new Int32Array(chunks + 1);
    for (let g = 0, c = 0; g < unique; g++) for (let r = start[g]; r < start[g + 1]; r += SCATTER_CHUNK) chunkStart[c++] = r;
    chunkStart[chunks] = host.length;
    ids.groups.push(e.upload(chunkStart, [chunks + 1]), e.upload(range, [unique + 1]));
  }
  return ids.groups;
}

/** table [V, D] gathered at integer ids [...] → [..., D]. Ids must come from the host (engine.upload(Int32Array)). */
export function embedding(table: Tensor, ids: Tensor): Tensor {
  const e = table.engine;
  if (ids.dtype !== 'i32' || !ids.host) throw new ShapeError(`embedding: ids must be an i32 tensor uploaded from the host (engine.upload(Int32Array, shape)), got ${ids}`);
  if (table.shape.length !== 2) throw new ShapeError(`embedding: table must be [vocab, dim], got ${table}`);
  const [V, D] = table.shape;
  for (let j = 0; j < ids.host.length; j++) {
    const id = ids.host[j];
    if (!(id >= 0 && id < V)) throw new ShapeError(`embedding ${table.name || ''}: id ${id} at position ${j} is outside [0, ${V}); check the token mapping`);
  }
  const out = e.empty([...ids.shape, D]);
  e.run(GATHER, [table, ids, out], [ids.size, D], linearGrid(out.size));
  return e.record(out, [table], (g) => {
    const [uniq, start, rows, chunkStart, chunkRange] = groupIds(e, ids, V);
    const target = e.accumulateTarget(table);
    const dst = target ?? zerosLike(table);
    if (chunkStart) {
      const chunks = chunkStart.size - 1;
      const partial = e.empty([chunks, D]);
      e.run(SCATTER_PARTIAL, [g, chunkStart, rows, partial], [chunks, D], grid(chunks));
      e.run(SCATTER_COMBINE, [partial, uniq, chunkRange, dst], [uniq.size, D], grid(uniq.size));
    } else {
      e.run(SCATTER, [g, uniq, start, rows, dst], [uniq.size, D], grid(uniq.size));
    }
    return [target ? null : dst];
  });
}

// ------------------------------------------------------------------ normalization and softmax

function normKernel(rms: boolean, backward: boolean): Kernel {
  const stats = rms ? 'let mu = 0.0;' : `
  var s = 0.0;
  for (var c = lid; c < D; c += 64u) { s += X[base + c]; }
  let mu = rowSum(s, lid) / f32(D);`;
  const body = backward ? `
  let mu = Mean[row];
  let rstd = Rstd[row];
  var s1 = 0.0; var s2 = 0.0;
  for (var c = lid; c < D; c += 64u) {
    let xh = (X[base + c] - mu) * rstd;
    let dyg = G[base + c] * Gamma[c];
    s1 += dyg; s2 += dyg * xh;
  }
  let m1 = ${rms ? '0.0; _ = rowSum(s1, lid)' : 'rowSum(s1, lid) / f32(D)'};
  let m2 = rowSum(s2, lid) / f32(D);
  for (var c = lid; c < D; c += 64u) {
    let xh = (X[base + c] - mu) * rstd;
    let dy = G[base + c];
    DX[base + c] = rstd * (dy * Gamma[c] - m1 - xh * m2);
    DYX[base + c] = dy * xh;
  }` : `
  ${stats}
  var v = 0.0;
  for (var c = lid; c < D; c += 64u) { let d = X[base + c] - mu; v += d * d; }
  let rstd = inverseSqrt(rowSum(v, lid) / f32(D) + p.eps);
  for (var c = lid; c < D; c += 64u) {
    O[base + c] = (X[base + c] - mu) * rstd * Gamma[c]${rms ? '' : ' + Beta[c]'};
  }
  if (lid == 0u) { Mean[row] = mu; Rstd[row] = rstd; }`;
  const bindings = backward
    ? `@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read> Gamma: array<f32>;
@group(0) @binding(4) var<storage, read> Mean: array<f32>;
@group(0) @binding(5) var<storage, read> Rstd: array<f32>;
@group(0) @binding(6) var<storage, read_write> DX: array<f32>;
@group(0) @binding(7) var<storage, read_write> DYX: array<f32>;`
    : `@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> Gamma: array<f32>;
@group(0) @binding(3) var<storage, read> Beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;
@group(0) @binding(5) var<storage, read_write> Mean: array<f32>;
@group(0) @binding(6) var<storage, read_write> Rstd: array<f32>;`;
  return k(`${rms ? 'rmsNorm' : 'layerNorm'}${backward ? 'Backward' : ''}`, [['rows', 'u32'], ['D', 'u32'], ['eps', 'f32']],
    backward ? ['read', 'read', 'read', 'read', 'read', 'rw', 'rw'] : ['read', 'read', 'read', 'rw', 'rw', 'rw'], /* wgsl */ `
${bindings}
var<workgroup> red: array<f32, 64>;
fn rowSum(v: f32, lid: u32) -> f32 {
  workgroupBarrier();
  red[lid] = v;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  return red[0];
}
@compute @workgroup_size(64) fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  ${ROW}
  if (row >= p.rows) { return; }
  let D = p.D;
  let base = row * D;
  ${body}
}`);
}
const NORM_WIDE = { ln: normKernel(false, false), lnB: normKernel(false, true), rms: normKernel(true, false), rmsB: normKernel(true, true) };

/**
 * The 32-wide variant of a 64-wide norm kernel, for rows of ≤ 32: as `narrow` for the 256-wide kernels, only threads
 * 0..31 hold elements, and the tree from 16 adds the same pairs in the same order as the one from 32 after its step
 * over zeros, so the results are bit for bit the 64-wide kernel's.
 */
function narrowNorm(kernel: Kernel): Kernel {
  const code = kernel.code.replace(/var s = 32u/g, 'var s = 16u').replace(/@workgroup_size\(64\)/g, '@workgroup_size(32)')
    .replace(/\b64u\b/g, '32u').replace(/array<f32, 64>/g, 'array<f32, 32>');
  if (code === kernel.code || /\b64\b|64u|var s = 32u/.test(code)) throw new Error(`narrowNorm(${kernel.name}): not a 64-wide norm kernel`);
  return { ...kernel, name: `${kernel.name}_w32`, code };
}
const NORM: WideNarrow<typeof NORM_WIDE> = {
  wide: NORM_WIDE,
  narrow: { ln: narrowNorm(NORM_WIDE.ln), lnB: narrowNorm(NORM_WIDE.lnB), rms: narrowNorm(NORM_WIDE.rms), rmsB: narrowNorm(NORM_WIDE.rmsB) },
};

function norm(x: Tensor, gamma: Tensor, beta: Tensor | null, eps: number): Tensor {
  const e = x.engine;
  const D = lastDim(x);
  if (gamma.size !== D || (beta && beta.size !== D)) throw new ShapeError(`${beta ? 'layerNorm' : 'rmsNorm'}: gain/bias must have ${D} elements (last dim of ${x}), got ${gamma}${beta ? ` / ${beta}` : ''}`);
  const rows = x.size / D;
  const kernels = byWidth(NORM, D);
  const out = e.empty(x.shape);
  const mu = e.empty([rows]), rstd = e.empty([rows]);
  e.run(beta ? kernels.ln : kernels.rms, [x, gamma, beta ?? gamma, out, mu, rstd], [rows, D, eps], grid(rows));
  const inputs = beta ? [x, gamma, beta] : [x, gamma];
  return e.record(out, inputs, (g) => {
    const dx = e.empty(x.shape), dyx = e.empty(x.shape);
    e.run(beta ? kernels.lnB : kernels.rmsB, [x, g, gamma, mu, rstd, dx, dyx], [rows, D, eps], grid(rows));
    const grads: (Tensor | null)[] = [dx, gamma.requiresGrad ? gradTo(dyx, gamma) : null];
    if (beta) grads.push(beta.requiresGrad ? gradTo(g, beta) : null);
    return grads;
  });
}
/** LayerNorm over the last dim: (x − mean) / √(var + eps) · g + b. */
export const layerNorm = (x: Tensor, g: Tensor, b: Tensor, eps = 1e-5) => norm(x, g, b, eps);
/** RMSNorm over the last dim: x / √(mean(x²) + eps) · g. */
export const rmsNorm = (x: Tensor, g: Tensor, eps = 1e-6) => norm(x, g, null, eps);

const ROW_REDUCE = /* wgsl */ `
var<workgroup> red: array<f32, 256>;
fn rowMax(v: f32, lid: u32) -> f32 {
  workgroupBarrier();
  red[lid] = v;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  return red[0];
}
fn rowSum(v: f32, lid: u32) -> f32 {
  workgroupBarrier();
  red[lid] = v;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  return red[0];
}`;

// Row r's offset `base` and its maximum `m` over X's W columns (one workgroup per row; needs ROW_REDUCE, ROW).
const ROW_MAX = (W: 'D' | 'V'): string => /* wgsl */ `
  let base = row * p.${W};
  var m = -3.4e38;
  for (var c = lid; c < p.${W}; c += 256u) { m = max(m, X[base + c]); }
  m = rowMax(m, lid);
`;

const SOFTMAX = withNarrow(k('softmax', [['rows', 'u32'], ['D', 'u32']], ['read', 'rw'], /* wgsl */ `
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
${ROW_REDUCE}
@compute @workgroup_size(256) fn main(${ID}) {
  ${ROW}
  if (row >= p.rows) { return; }
  ${ROW_MAX('D')}
  var s = 0.0;
  for (var c = lid; c < p.D; c += 256u) { s += exp(X[base + c] - m); }
  let inv = 1.0 / rowSum(s, lid);
  for (var c = lid; c < p.D; c += 256u) { O[base + c] = exp(X[base + c] - m) * inv; }
}`));
const SOFTMAX_B = withNarrow(k('softmaxBackward', [['rows', 'u32'], ['D', 'u32']], ['read', 'read', 'rw'], /* wgsl */ `
@group(0) @binding(1) var<storage, read> Y: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
${ROW_REDUCE}
@compute @workgroup_size(256) fn main(${ID}) {
  ${ROW}
  if (row >= p.rows) { return; }
  let base = row * p.D;
  var s = 0.0;
  for (var c = lid; c < p.D; c += 256u) { s += Y[base + c] * G[base + c]; }
  s = rowSum(s, lid);
  for (var c = lid; c < p.D; c += 256u) { O[base + c] = Y[base + c] * (G[base + c] - s); }
}`));

/** Softmax over the last dim. */
export function softmax(x: Tensor): Tensor {
  const e = x.engine;
  const D = lastDim(x), rows = x.size / D;
  const out = e.empty(x.shape);
  e.run(byWidth(SOFTMAX, D), [x, out], [rows, D], grid(rows));
  return e.record(out, [x], (g) => {
    const dx = e.empty(x.shape);
    e.run(byWidth(SOFTMAX_B, D), [out, g, dx], [rows, D], grid(rows));
    return [dx];
  });
}

// ------------------------------------------------------------------ losses

// Per row: lse = log Σ exp(x), lp = x[target] − lse (0 for ignored targets).
const ROW_LOGPROB = withNarrow(k('rowLogProb', [['rows', 'u32'], ['V', 'u32'], ['ignore', 'i32']], ['read', 'read', 'rw', 'rw'], /* wgsl */ `
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> T: array<i32>;
@group(0) @binding(3) var<storage, read_write> LP: array<f32>;
@group(0) @binding(4) var<storage, read_write> LSE: array<f32>;
${ROW_REDUCE}
@compute @workgroup_size(256) fn main(${ID}) {
  ${ROW}
  if (row >= p.rows) { return; }
  ${ROW_MAX('V')}
  var s = 0.0;
  for (var c = lid; c < p.V; c += 256u) { s += exp(X[base + c] - m); }
  let lse = m + log(rowSum(s, lid));
  if (lid == 0u) {
    let t = T[row];
    LSE[row] = lse;
    LP[row] = select(X[base + u32(max(t, 0))] - lse, 0.0, t == p.ignore || t < 0 || u32(t) >= p.V);
  }
}`));

// Mean of −lp over rows whose target is not ignored → loss[0]; the count → count[0].
const CE_MEAN = k('crossEntropyMean', [['rows', 'u32'], ['V', 'u32'], ['ignore', 'i32']], ['read', 'read', 'rw', 'rw'], /* wgsl */ `
@group(0) @binding(1) var<storage, read> LP: array<f32>;
@group(0) @binding(2) var<storage, read> T: array<i32>;
@group(0) @binding(3) var<storage, read_write> L: array<f32>;
@group(0) @binding(4) var<storage, read_write> COUNT: array<f32>;
${ROW_REDUCE}
@compute @workgroup_size(256) fn main(${ID}) {
  var s = 0.0;
  var n = 0.0;
  for (var r = lid; r < p.rows; r += 256u) {
    let t = T[r];
    if (t != p.ignore && t >= 0 && u32(t) < p.V) { s -= LP[r]; n += 1.0; }
  }
  s = rowSum(s, lid);
  n = rowSum(n, lid);
  if (lid == 0u) { L[0] = s / max(n, 1.0); COUNT[0] = n; }
}`);

// dX[row, v] = c_row · (softmax(x)[v] − [v == target]); c_row from the loss gradient (mode below).
function logProbBackwardKernel(meanMode: boolean): Kernel {
  return k(meanMode ? 'crossEntropyBackward' : 'logProbGatherBackward', [['rows', 'u32'], ['V', 'u32'], ['ignore', 'i32']],
    ['read', 'read', 'read', 'read', 'read', 'rw'], /* wgsl */ `
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> T: array<i32>;
@group(0) @binding(3) var<storage, read> LSE: array<f32>;
@group(0) @binding(4) var<storage, read> G: array<f32>;
@group(0) @binding(5) var<storage, read> COUNT: array<f32>;
@group(0) @binding(6) var<storage, read_write> DX: array<f32>;
@compute @workgroup_size(256) fn main(${ID}) {
  ${ROW}
  if (row >= p.rows) { return; }
  let t = T[row];
  let valid = t != p.ignore && t >= 0 && u32(t) < p.V;
  let c = select(0.0, ${meanMode ? 'G[0] / max(COUNT[0], 1.0)' : '-G[row]'}, valid);
  let base = row * p.V;
  let lse = LSE[row];
  for (var v = lid; v < p.V; v += 256u) {
    DX[base + v] = c * (exp(X[base + v] - lse) - select(0.0, 1.0, i32(v) == t));
  }
}`);
}
const CE_BACKWARD = withNarrow(logProbBackwardKernel(true));
const LP_BACKWARD = withNarrow(logProbBackwardKernel(false));

function checkTargets(op: string, logits: Tensor, targets: Tensor): { rows: number; V: number } {
  const V = lastDim(logits), rows = logits.size / V;
  if (targets.dtype !== 'i32' || targets.size !== rows) {
    throw new ShapeError(`${op}: targets must be i32 with one entry per row of ${logits} (${rows}), got ${targets}`);
  }
  return { rows, V };
}

/**
 * Softmax cross-entropy over the last dim, mean over rows whose target ≠ ignoreIndex → [1].
 * logits [..., V], targets i32 [...] (same leading shape).
 */
export function crossEntropy(logits: Tensor, targets: Tensor, ignoreIndex = -100): Tensor {
  const e = logits.engine;
  const { rows, V } = checkTargets('crossEntropy', logits, targets);
  const lp = e.empty([rows]), lse = e.empty([rows]), loss = e.empty([1]), count = e.empty([1]);
  e.run(byWidth(ROW_LOGPROB, V), [logits, targets, lp, lse], [rows, V, ignoreIndex], grid(rows));
  e.run(CE_MEAN, [lp, targets, loss, count], [rows, V, ignoreIndex], [1]);
  return e.record(loss, [logits], (g) => {
    const dx = e.empty(logits.shape);
    e.run(byWidth(CE_BACKWARD, V), [logits, targets, lse, g, count, dx], [rows, V, ignoreIndex], grid(rows));
    return [dx];
  });
}

/** Per-row log-softmax at the target: logits [..., V], targets i32 [...] → [...] (0 where ignored). For DPO. */
export function logProbGather(logits: Tensor, targets: Tensor, ignoreIndex = -100): Tensor {
  const e = logits.engine;
  const { rows, V } = checkTargets('logProbGather', logits, targets);
  const lp = e.empty(targets.shape), lse = e.empty([rows]);
  e.run(byWidth(ROW_LOGPROB, V), [logits, targets, lp, lse], [rows, V, ignoreIndex], grid(rows));
  return e.record(lp, [logits], (g) => {
    const dx = e.empty(logits.shape);
    e.run(byWidth(LP_BACKWARD, V), [logits, targets, lse, g, lse, dx], [rows, V, ignoreIndex], grid(rows));
    return [dx];
  });
}

// Soft targets (distillation): per row lse = log Σ exp(x), LP = Σ_v q_v x_v − (Σ_v q_v) · lse = Σ_v q_v log softmax(x)_v
// (0 for rows whose target is ignored); the mean of −LP over kept rows is CE_MEAN's.
const ROW_SOFT_LOGPROB = withNarrow(k('rowSoftLogProb', [['rows', 'u32'], ['V', 'u32'], ['ignore', 'i32']], ['read', 'read', 'read', 'rw', 'rw'], /* wgsl */ `
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> Q: array<f32>;
@group(0) @binding(3) var<storage, read> T: array<i32>;
@group(0) @binding(4) var<storage, read_write> LP: array<f32>;
@group(0) @binding(5) var<storage, read_write> LSE: array<f32>;
${ROW_REDUCE}
@compute @workgroup_size(256) fn main(${ID}) {
  ${ROW}
  if (row >= p.rows) { return; }
  ${ROW_MAX('V')}
  var s = 0.0;
  var qx = 0.0;
  var qs = 0.0;
  for (var c = lid; c < p.V; c += 256u) {
    s += exp(X[base + c] - m);
    qx += Q[base + c] * (X[base + c] - m);
    qs += Q[base + c];
  }
  let logZ = log(rowSum(s, lid));
  qx = rowSum(qx, lid);
  qs = rowSum(qs, lid);
  if (lid == 0u) {
    let t = T[row];
    LSE[row] = m + logZ;
    LP[row] = select(qx - qs * logZ, 0.0, t == p.ignore || t < 0 || u32(t) >= p.V);
  }
}`));

// dX[row, v] = c · ((Σ q) · softmax(x)[v] − q[v]) for kept rows, c = G / count.
const SOFT_CE_BACKWARD = withNarrow(k('softCrossEntropyBackward', [['rows', 'u32'], ['V', 'u32'], ['ignore', 'i32']], ['read', 'read', 'read', 'read', 'read', 'read', 'rw'], /* wgsl */ `
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> Q: array<f32>;
@group(0) @binding(3) var<storage, read> T: array<i32>;
@group(0) @binding(4) var<storage, read> LSE: array<f32>;
@group(0) @binding(5) var<storage, read> G: array<f32>;
@group(0) @binding(6) var<storage, read> COUNT: array<f32>;
@group(0) @binding(7) var<storage, read_write> DX: array<f32>;
${ROW_REDUCE}
@compute @workgroup_size(256) fn main(${ID}) {
  ${ROW}
  if (row >= p.rows) { return; }
  let t = T[row];
  let valid = t != p.ignore && t >= 0 && u32(t) < p.V;
  let c = select(0.0, G[0] / max(COUNT[0], 1.0), valid);
  let base = row * p.V;
  var qs = 0.0;
  for (var v = lid; v < p.V; v += 256u) { qs += Q[base + v]; }
  qs = rowSum(qs, lid);
  let lse = LSE[row];
  for (var v = lid; v < p.V; v += 256u) {
    DX[base + v] = c * (qs * exp(X[base + v] - lse) - Q[base + v]);
  }
}`));

/**
 * Cross-entropy against soft targets (distillation): mean over rows whose target ≠ ignoreIndex of
 * −Σ_v q_v log softmax(logits)_v → [1]. logits [..., V]; probs [..., V], no gradient (a teacher's
 * distribution, rows summing to 1); targets i32 [...] only say which rows count, as in crossEntropy.
 */
export function softCrossEntropy(logits: Tensor, probs: Tensor, targets: Tensor, ignoreIndex = -100): Tensor {
  const e = logits.engine;
  const { rows, V } = checkTargets('softCrossEntropy', logits, targets);
  if (probs.size !== logits.size) throw new ShapeError(`softCrossEntropy: probs must be shaped like ${logits}, got ${probs}`);
  const lp = e.empty([rows]), lse = e.empty([rows]), loss = e.empty([1]), count = e.empty([1]);
  e.run(byWidth(ROW_SOFT_LOGPROB, V), [logits, probs, targets, lp, lse], [rows, V, ignoreIndex], grid(rows));
  e.run(CE_MEAN, [lp, targets, loss, count], [rows, V, ignoreIndex], [1]);
  return e.record(loss, [logits], (g) => {
    const dx = e.empty(logits.shape);
    e.run(byWidth(SOFT_CE_BACKWARD, V), [logits, probs, targets, lse, g, count, dx], [rows, V, ignoreIndex], grid(rows));
    return [dx];
  });
}

const BCE = k('bceWithLogits', [['n', 'u32']], ['read', 'read', 'rw'], /* wgsl */ `
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> Y: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
@compute @workgroup_size(256) fn main(${ID}) {
  ${LINEAR}
  if (i >= p.n) { return; }
  let x = X[i];
  O[i] = max(x, 0.0) - x * Y[i] + log(1.0 + exp(-abs(x)));
}`);
const BCE_B = k('bceWithLogitsBackward', [['n', 'u32'], ['scale', 'f32']], ['read', 'read', 'read', 'rw'], /* wgsl */ `
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> Y: array<f32>;
@group(0) @binding(3) var<storage, read> G: array<f32>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;
@compute @workgroup_size(256) fn main(${ID}) {
  ${LINEAR}
  if (i >= p.n) { return; }
  O[i] = G[0] * p.scale * (1.0 / (1.0 + exp(-X[i])) - Y[i]);
}`);

/** Mean binary cross-entropy of logits against targets in [0, 1] (same shape) → [1]. */
export function bceWithLogits(logits: Tensor, targets: Tensor): Tensor {
  const e = logits.engine;
  if (targets.size !== logits.size || targets.dtype !== 'f32') throw new ShapeError(`bceWithLogits: targets must be f32 shaped like ${logits}, got ${targets}`);
  const each = e.empty(logits.shape);
  e.run(BCE, [logits, targets, each], [logits.size], linearGrid(logits.size));
  const loss = reduceRaw(each, logits.shape.map(() => 1), 1 / logits.size);
  const out = e.view(loss, [1]);
  return e.record(out, [logits], (g) => {
    const dx = e.empty(logits.shape);
    e.run(BCE_B, [logits, targets, g, dx], [logits.size, 1 / logits.size], linearGrid(logits.size));
    return [dx];
  });
}

// ------------------------------------------------------------------ dropout

const DROPOUT = k('dropout', [['n', 'u32'], ['seed', 'u32'], ['p', 'f32'], ['scale', 'f32']], ['read', 'rw'], /* wgsl */ `
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
fn hash(v: u32) -> u32 { // PCG output permutation
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}
@compute @workgroup_size(256) fn main(${ID}) {
  ${LINEAR}
  if (i >= p.n) { return; }
  let u = f32(hash(i ^ hash(p.seed)) >> 8u) / 16777216.0;
  O[i] = select(X[i] * p.scale, 0.0, u < p.p);
}`);

/** Inverted dropout with a seed drawn from `rng` (the same mask is used in backward). Identity when p = 0 or in noGrad. */
export function dropout(x: Tensor, p: number, rng: Rng): Tensor {
  const e = x.engine;
  if (p <= 0 || !e.gradEnabled) return x;
  if (p >= 1) throw new ShapeError(`dropout: p must be < 1, got ${p}`);
  const seed = rng.nextU32();
  const out = e.empty(x.shape);
  e.run(DROPOUT, [x, out], [x.size, seed, p, 1 / (1 - p)], linearGrid(x.size));
  return e.record(out, [x], (g) => {
    const dx = e.empty(x.shape);
    e.run(DROPOUT, [g, dx], [x.size, seed, p, 1 / (1 - p)], linearGrid(x.size));
    return [dx];
  });
}
