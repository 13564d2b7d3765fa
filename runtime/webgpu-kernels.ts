/// <reference types="@webgpu/types" preserve="true" />
// What the runtime's WGSL kernels share, the seed model's (runtime/webgpu-decoder.ts) and the reward model's
// (runtime/webgpu-reward.ts): buffer and pipeline helpers, workgroup reductions and softmaxes in WGSL, unrolled dot
// products.

/** WebGPU buffer usage and map flags as numbers (the GPUBufferUsage globals need not exist in Node). */
export const USAGE = { MAP_READ: 1, COPY_SRC: 4, COPY_DST: 8, STORAGE: 0x80, QUERY_RESOLVE: 0x200 } as const;
export const MAP_READ = 1;
export const DEFAULT_UNROLL = 16; // partial sums per dot product: fewest GPU µs per step on the H200 for all three bundles (bench/README.md #7)

/** A buffer of at least 16 bytes (a binding may not be empty: an unused ensemble sum, a tiny model). */
export function makeBuffer(device: GPUDevice, size: number, usage: number): GPUBuffer {
  return device.createBuffer({ size: Math.max(16, size), usage });
}

/** Writes `data` into `buffer` at `offset` bytes through the queue. */
export function upload(device: GPUDevice, buffer: GPUBuffer, offset: number, data: Float32Array | Int32Array | Uint32Array): void {
  device.queue.writeBuffer(buffer, offset, data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
}
export const COMPUTE_STAGE = 4;
export const WG = 256; // threads per workgroup (the most WebGPU guarantees); the kernels loop over outputs with this stride

/** WGSL shared by the seed model's step and encoder kernels; the module declares WG, red: array<f32, WG> and pool: array<f32, …>. */
export const WGSL_HELPERS = /* wgsl */ `
fn wgSum(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) { if (lid < s) { red[lid] += red[lid + s]; } workgroupBarrier(); }
  let r = red[0];
  workgroupBarrier();
  return r;
}
fn wgMax(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s >> 1u) { if (lid < s) { red[lid] = max(red[lid], red[lid + s]); } workgroupBarrier(); }
  let r = red[0];
  workgroupBarrier();
  return r;
}
fn softmaxInPlace(base: u32, n: u32) {
  var m = pool[base];
  for (var j = 1u; j < n; j++) { m = max(m, pool[base + j]); }
  var s = 0.0;
  for (var j = 0u; j < n; j++) { let e = exp(pool[base + j] - m); pool[base + j] = e; s += e; }
  for (var j = 0u; j < n; j++) { pool[base + j] = pool[base + j] / s; }
}
// Softmax of each of the rows (n values each, row-major at base), each row by WG / rows threads with tree reductions in
// red (rows a power of two ≤ WG). Ends with a barrier: the probabilities are then visible to every thread.
fn rowsSoftmax(base: u32, rows: u32, n: u32, lid: u32) {
  let seg = WG / rows; let row = lid / seg; let j0 = lid % seg;
  var m = -3.4e38;
  for (var j = j0; j < n; j += seg) { m = max(m, pool[base + row * n + j]); }
  red[lid] = m;
  workgroupBarrier();
  for (var s = seg / 2u; s > 0u; s = s >> 1u) { if (j0 < s) { red[lid] = max(red[lid], red[lid + s]); } workgroupBarrier(); }
  let mx = red[row * seg];
  workgroupBarrier();
  var sum = 0.0;
  for (var j = j0; j < n; j += seg) { let e = exp(pool[base + row * n + j] - mx); pool[base + row * n + j] = e; sum += e; }
  red[lid] = sum;
  workgroupBarrier();
  for (var s = seg / 2u; s > 0u; s = s >> 1u) { if (j0 < s) { red[lid] += red[lid + s]; } workgroupBarrier(); }
  let total = red[row * seg];
  workgroupBarrier();
  for (var j = j0; j < n; j += seg) { pool[base + row * n + j] = pool[base + row * n + j] / total; }
  workgroupBarrier();
}
fn fastGelu(u: f32) -> f32 {
  let a = clamp(0.7978845608028654 * (u + 0.044715 * u * u * u), -15.0, 15.0); // tanh(±15) is ±1 in f32
  return 0.5 * u * (1.0 + tanh(a));
}
`;

/**
 * WGSL for `acc += Σ_{x < n} term(x)` with up to `unroll` independent partial sums: a dot product's loads are then
 * in flight together instead of each waiting for the previous multiply-add (the kernels are latency-bound).
 */
export function unrolledSum(unroll: number): (acc: string, n: number, term: (x: string) => string) => string {
  return (acc, n, term) => {
    const ways = [16, 8, 4, 2, 1].find((u) => u <= unroll && n % u === 0)!;
    const parts = Array.from({ length: ways }, (_, u) => `p${u} += ${term(u === 0 ? 'x' : `(x + ${u}u)`)};`).join(' ');
    const sum = Array.from({ length: ways }, (_, u) => `p${u}`).join(' + ');
    return `{ ${Array.from({ length: ways }, (_, u) => `var p${u} = 0.0;`).join(' ')} for (var x = 0u; x < ${n}u; x += ${ways}u) { ${parts} } ${acc} += ${sum}; }`;
  };
}

/** A storage-buffer binding's layout entry, read-only or read-write. */
export const storage = (readOnly: boolean): GPUBindGroupLayoutEntry['buffer'] => ({ type: readOnly ? 'read-only-storage' : 'storage' });

/** Compiles `sources` under one bind group layout; a shader error becomes the error `toError` makes of its reason. */
export async function compilePipelines(device: GPUDevice, layout: GPUBindGroupLayout, sources: string[], toError: (reason: string) => Error): Promise<GPUComputePipeline[]> {
  const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [layout] });
  device.pushErrorScope('validation');
  let pipelines: GPUComputePipeline[];
  try {
    pipelines = await Promise.all(sources.map((code) => device.createComputePipelineAsync({ layout: pipelineLayout, compute: { module: device.createShaderModule({ code }), entryPoint: 'main' } })));
  } catch (err) {
    await device.popErrorScope();
    throw toError(`a kernel did not compile (${(err as Error).message})`);
  }
  const error = await device.popErrorScope();
  if (error) throw toError(`a kernel did not compile (${error.message})`);
  return pipelines;
}
