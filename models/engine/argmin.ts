// argminRows: the column of each row's smallest `offset[j] + scale · x[r, j]`, ties to the lower column, as int32.
// Nearest-centroid search is its use: with x = X·Cᵀ, offset = ‖c‖² and scale = −2 the value is ‖x − c‖² − ‖x‖²,
// whose argmin over c is the nearest centroid (models/semantic-ids/gpu-kmeans.ts). Not differentiable: it records
// nothing on the tape.
import { grid, type Engine, type Kernel, type Tensor } from './engine.ts';
import { ShapeError } from './errors.ts';

// One thread per row scans the row's columns in order, so the first smallest value wins (strict <). A row is at most a
// few hundred columns here (K centroids), and a chunk of rows keeps thousands of threads busy.
const ARGMIN: Kernel = {
  name: 'argminRows',
  params: [['rows', 'u32'], ['n', 'u32'], ['scale', 'f32'], ['hasOffset', 'u32']],
  bindings: ['read', 'read', 'rw'],
  code: /* wgsl */ `
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> offset: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<i32>;
@compute @workgroup_size(256) fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let r = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (r >= p.rows) { return; }
  var best = 0i;
  var bestValue = 0.0;
  for (var j = 0u; j < p.n; j++) {
    var v = p.scale * X[r * p.n + j];
    if (p.hasOffset != 0u) { v += offset[j]; }
    if (j == 0u || v < bestValue) { best = i32(j); bestValue = v; }
  }
  O[r] = best;
}`,
};

/**
 * Per row r of x [rows, n]: the j minimizing offset[j] + scale · x[r, j] (ties: the lower j) → int32 [rows]. `offset`
 * is an optional [n] tensor; `out`, when given, is an int32 [rows] tensor written in place (e.g. a view into a larger
 * buffer), else a new step tensor.
 */
export function argminRows(x: Tensor, options: { offset?: Tensor; scale?: number; out?: Tensor } = {}): Tensor {
  const e: Engine = x.engine;
  if (x.shape.length !== 2) throw new ShapeError(`argminRows: x must be [rows, n], got ${x}`);
  const [rows, n] = x.shape;
  if (options.offset && options.offset.size !== n) throw new ShapeError(`argminRows: offset ${options.offset} must have ${n} values, one per column of ${x}`);
  const out = options.out ?? e.empty([rows], 'i32');
  if (out.size !== rows) throw new ShapeError(`argminRows: out ${out} must have ${rows} values, one per row of ${x}`);
  if (rows === 0) return out;
  e.run(ARGMIN, [x, options.offset ?? x, out], [rows, n, options.scale ?? 1, options.offset ? 1 : 0], grid(Math.ceil(rows / 256)));
  return out;
}
