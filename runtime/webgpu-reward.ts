/// <reference types="@webgpu/types" preserve="true" />
// reward.onnx (models/export/reward-graph.ts, the math of models/reward/reference.ts) in WGSL, on the GPUDevice the
// WGSL seed model runs on: with the seed model on WebGPU, the rerank then needs neither the wasm kernels nor
// onnxruntime.
//
//   hbar = mean of item_emb over the valid history items; u = hbar · user.w + user.b
//   e_i  = item_emb[s_i] ⊙ u (0 for padding); x = e + MHA(e) · attn.wo + attn.bo (padded keys masked)
//   z    = mean of x over the valid items; p_t = σ(relu(z · w1_t + b1_t) · w2_t + b2_t)
//
// One dispatch, one workgroup per candidate session carrying it from the embeddings to the towers; the session's
// [m, d] rows (e, q, k, v, x) and tower hidden units live in a storage scratch buffer, so no size is bounded by
// workgroup memory. Each workgroup also computes u (H · d + d · d multiply-adds: less than its q/k/v). A call uploads
// one buffer (history, sessions) and maps [n, towers] floats. The weights and sizes come from the graph
// (runtime/reward-weights.ts, shared with the wasm kernels' reward model). Not bit-identical to onnxruntime (other
// summation orders): towers agree to ~1e-7.
import { readRewardWeights, type ItemCodeSource } from './reward-weights.ts';
import { WebGpuRewardError } from './errors.ts';
import { COMPUTE_STAGE, MAP_READ, USAGE, compilePipelines, makeBuffer, storage, unrolledSum, upload } from './webgpu-kernels.ts';

export { WebGpuRewardError };

/** Where each weight starts in the packed weights buffer (floats); the towers' are stacked [T, …]. */
interface Offsets {
  emb: number; // item_emb [items, d]
  userW: number; userB: number; // [d, d], [d]
  qkvW: number; qkvB: number; // wq, wk, wv [3, d, d]; bq, bk, bv [3, d]
  oW: number; oB: number; // [d, d], [d]
  w1: number; b1: number; w2: number; b2: number; // [T, d, hidden], [T, hidden], [T, hidden], [T]
}

/** The kernel's sizes. */
interface Sizes {
  H: number; // history slots
  M: number; // session slots
  D: number; // d
  heads: number;
  T: number; // towers
  hidden: number; // units per tower
}

// Threads per workgroup: every phase has at least d (32 in the shipped model) outputs to share, and on SwiftShader
// idle threads cost as much as busy ones (32 sessions of KuaiRand: ~140 ms at 64 threads, ~400 ms at 256).
const WORKGROUP_SIZE = 64;
// Partial sums per dot product: the reward's are short (d, d / heads), and SwiftShader compiles the kernel in ~1.8 s
// at 4 against ~4.5 s at the seed model's 16.
const UNROLL = 4;

/** Scratch floats of one session: e, q (then the attention's output), k, v, x [M, D] each, then hidden [T, hidden]. */
const scratchPerSession = ({ M, D, T, hidden }: Sizes): number => 5 * M * D + T * hidden;

/**
 * WGSL of the whole forward for one session per workgroup (workgroup s = session s). Phases, each ended by a barrier:
 * u; e; q, k, v; attention per (head, row); x; z; the towers' hidden units; each tower's sigmoid.
 */
function rewardKernel(sizes: Sizes, o: Offsets, unroll: number, WG: number): string {
  const { H, M, D, heads, T, hidden } = sizes;
  const DH = D / heads;
  const unrolled = unrolledSum(unroll);
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> w: array<f32>; // the packed weights (Offsets)
@group(0) @binding(1) var<storage, read> inp: array<i32>; // history_items [H], then session_items [n, M]; −1 = padding
@group(0) @binding(2) var<storage, read_write> scratch: array<f32>; // [n, SCRATCH]
@group(0) @binding(3) var<storage, read_write> outp: array<f32>; // towers [n, T]
const H = ${H}u; const M = ${M}u; const D = ${D}u; const HEADS = ${heads}u; const DH = ${DH}u; const T = ${T}u; const HID = ${hidden}u;
const WG = ${WG}u; const SCALE = ${1 / Math.sqrt(DH)};
const SCRATCH = ${scratchPerSession(sizes)}u;
const E = 0u; const Q = ${M * D}u; const K = ${2 * M * D}u; const V = ${3 * M * D}u; const X = ${4 * M * D}u; const HIDDEN = ${5 * M * D}u;
var<workgroup> hbar: array<f32, ${D}>; // mean of the history's item embeddings
var<workgroup> u: array<f32, ${D}>; // the user vector
var<workgroup> z: array<f32, ${D}>; // mean of x over the session's valid items

// Head hh's score of row r's query against row j's key in the session's scratch at base, padded keys masked as the
// graph masks them (+ −1e9).
fn score(base: u32, r: u32, j: u32, hh: u32, session: u32) -> f32 {
  var dot = 0.0;
  ${unrolled('dot', DH, (x) => `scratch[base + Q + r * D + hh * DH + ${x}] * scratch[base + K + j * D + hh * DH + ${x}]`)}
  return dot * SCALE + select(-1e9, 0.0, inp[H + session * M + j] >= 0);
}

@compute @workgroup_size(${WG}) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) li: vec3u) {
  let s = wid.x; let lid = li.x;
  let base = s * SCRATCH;
  // u = mean of the valid history items' embeddings · user.w + user.b (no history: u = user.b).
  for (var c = lid; c < D; c += WG) {
    var sum = 0.0; var count = 0.0;
    for (var i = 0u; i < H; i++) {
      let item = inp[i];
      if (item >= 0) { sum += w[${o.emb}u + u32(item) * D + c]; count += 1.0; }
    }
    hbar[c] = sum / max(count, 1.0);
  }
  workgroupBarrier();
  for (var j = lid; j < D; j += WG) {
    var acc = 0.0;
    ${unrolled('acc', D, (x) => `hbar[${x}] * w[${o.userW}u + ${x} * D + j]`)}
    u[j] = acc + w[${o.userB}u + j];
  }
  workgroupBarrier();
  // e_i = item_emb[s_i] ⊙ u, 0 for padding.
  for (var i = lid; i < M * D; i += WG) {
    let item = inp[H + s * M + i / D];
    scratch[base + E + i] = select(0.0, w[${o.emb}u + u32(max(item, 0)) * D + i % D] * u[i % D], item >= 0);
  }
  storageBarrier();
  // q, k, v = e · W + b, side by side in scratch as the weights are in w.
  for (var i = lid; i < 3u * M * D; i += WG) {
    let which = i / (M * D); let r = (i / D) % M; let j = i % D;
    let wm = ${o.qkvW}u + which * D * D;
    var acc = 0.0;
    ${unrolled('acc', D, (x) => `scratch[base + E + r * D + ${x}] * w[wm + ${x} * D + j]`)}
    scratch[base + Q + i] = acc + w[${o.qkvB}u + which * D + j];
  }
  storageBarrier();
  // Attention, one thread per (head, row): the scores' max, then Σ softmax · v; written over the row's q, which only
  // this thread reads.
  for (var i = lid; i < HEADS * M; i += WG) {
    let hh = i / M; let r = i % M;
    var mx = -3.4e38;
    for (var j = 0u; j < M; j++) { mx = max(mx, score(base, r, j, hh, s)); }
    var acc: array<f32, DH>;
    var total = 0.0;
    for (var j = 0u; j < M; j++) {
      let p = exp(score(base, r, j, hh, s) - mx);
      total += p;
      for (var e = 0u; e < DH; e++) { acc[e] += p * scratch[base + V + j * D + hh * DH + e]; }
    }
    for (var e = 0u; e < DH; e++) { scratch[base + Q + r * D + hh * DH + e] = acc[e] / total; }
  }
  storageBarrier();
  // x = e + (attention · wo + bo).
  for (var i = lid; i < M * D; i += WG) {
    let r = i / D; let c = i % D;
    var acc = 0.0;
    ${unrolled('acc', D, (x) => `scratch[base + Q + r * D + ${x}] * w[${o.oW}u + ${x} * D + c]`)}
    scratch[base + X + i] = scratch[base + E + i] + (acc + w[${o.oB}u + c]);
  }
  storageBarrier();
  // z = mean of x over the valid items.
  for (var c = lid; c < D; c += WG) {
    var sum = 0.0; var valid = 0.0;
    for (var r = 0u; r < M; r++) {
      if (inp[H + s * M + r] >= 0) { sum += scratch[base + X + r * D + c]; valid += 1.0; }
    }
    z[c] = sum / max(valid, 1.0);
  }
  workgroupBarrier();
  // Each tower's hidden units relu(z · w1 + b1), then its probability σ(hidden · w2 + b2).
  for (var i = lid; i < T * HID; i += WG) {
    let t = i / HID; let j = i % HID;
    var acc = 0.0;
    ${unrolled('acc', D, (x) => `z[${x}] * w[${o.w1}u + (t * D + ${x}) * HID + j]`)}
    scratch[base + HIDDEN + i] = max(acc + w[${o.b1}u + i], 0.0);
  }
  storageBarrier();
  for (var t = lid; t < T; t += WG) {
    var logit = 0.0;
    ${unrolled('logit', hidden, (x) => `scratch[base + HIDDEN + t * HID + ${x}] * w[${o.w2}u + t * HID + ${x}]`)}
    outp[s * T + t] = 1.0 / (1.0 + exp(-(logit + w[${o.b2}u + t])));
  }
}`;
}

/**
 * reward.onnx on a GPUDevice: weights uploaded and the kernel compiled once; `towers(history, sessions, n)` per call.
 * Calls must not overlap (the runtime chains them): the buffers are shared.
 */
export class WebGpuReward {
  private cap = 0; // sessions the buffers hold
  private buffers: { inputs: GPUBuffer; scratch: GPUBuffer; out: GPUBuffer; staging: GPUBuffer; bind: GPUBindGroup } | null = null;

  private constructor(
    readonly device: GPUDevice,
    private readonly sizes: Sizes,
    private readonly weights: GPUBuffer,
    private readonly layout: GPUBindGroupLayout,
    private readonly pipeline: GPUComputePipeline,
    private readonly maxRows: number, // sessions one dispatch takes: the device's workgroup count and binding size limits
  ) {}

  /** The graph's history length H and session length m (its inputs' static dims). */
  get historyLength(): number {
    return this.sizes.H;
  }

  get sessionLength(): number {
    return this.sizes.M;
  }

  /**
   * Reads reward.onnx's weights and sizes (`towers`: the manifest's tower names, in the graph's output order), uploads
   * them and compiles the kernel. `unroll` (partial sums per dot product) and `workgroupSize`: for benchmarks;
   * `sessionsPerDispatch`: fewer than the device's limits allow (tests); `catalog`: the items' codes (the bundle's
   * trie), needed by a graph exported with itemRepresentation 'codes'.
   */
  static async create(device: GPUDevice, rewardOnnx: Uint8Array, towers: string[], options: { unroll?: number; workgroupSize?: number; sessionsPerDispatch?: number; catalog?: ItemCodeSource } = {}): Promise<WebGpuReward> {
    const read = readRewardWeights(rewardOnnx, towers, (reason) => new WebGpuRewardError(reason), options.catalog);
    const { d: D, heads, towerHidden: hidden, tensor } = read;
    const sizes: Sizes = { H: read.historyLength, M: read.sessionLength, D, heads, T: towers.length, hidden };
    const maxRows = Math.min(options.sessionsPerDispatch ?? Infinity, device.limits.maxComputeWorkgroupsPerDimension, Math.floor(device.limits.maxStorageBufferBindingSize / (4 * scratchPerSession(sizes))));
    const parts: [keyof Offsets, Float32Array[]][] = [
      ['emb', [read.itemEmb]],
      ['userW', [tensor('user.w')]], ['userB', [tensor('user.b')]],
      ['qkvW', ['wq', 'wk', 'wv'].map((m) => tensor(`attn.${m}`))], ['qkvB', ['bq', 'bk', 'bv'].map((b) => tensor(`attn.${b}`))],
      ['oW', [tensor('attn.wo')]], ['oB', [tensor('attn.bo')]],
      ...(['w1', 'b1', 'w2', 'b2'] as const).map((p): [keyof Offsets, Float32Array[]] => [p, towers.map((t) => tensor(`tower.${t}.${p}`))]),
    ];
    const offsets = {} as Offsets;
    let floats = 0;
    for (const [name, tensors] of parts) {
      offsets[name] = floats;
      for (const t of tensors) floats += t.length;
    }
    const packed = new Float32Array(floats);
    let at = 0;
    for (const [, tensors] of parts) for (const t of tensors) { packed.set(t, at); at += t.length; }
    const problems = [
      D % heads !== 0 && `d ${D} is not a multiple of heads ${heads}`,
      4 * floats > device.limits.maxStorageBufferBindingSize && `its ${4 * floats} bytes of weights exceed the device's storage binding limit of ${device.limits.maxStorageBufferBindingSize}`,
      4 * 3 * D > device.limits.maxComputeWorkgroupStorageSize && `the kernel needs ${4 * 3 * D} bytes of workgroup memory, the device allows ${device.limits.maxComputeWorkgroupStorageSize}`,
      maxRows < 1 && `one session's ${4 * scratchPerSession(sizes)} bytes of scratch exceed the device's storage binding limit of ${device.limits.maxStorageBufferBindingSize}`,
    ].filter(Boolean);
    if (problems.length) throw new WebGpuRewardError(problems.join('; '));
    const layout = device.createBindGroupLayout({
      entries: [true, true, false, false].map((readOnly, binding) => ({ binding, visibility: COMPUTE_STAGE, buffer: storage(readOnly) })),
    });
    const [pipeline] = await compilePipelines(device, layout, [rewardKernel(sizes, offsets, options.unroll ?? UNROLL, options.workgroupSize ?? WORKGROUP_SIZE)], (reason) => new WebGpuRewardError(reason));
    const weights = makeBuffer(device, 4 * floats, USAGE.STORAGE | USAGE.COPY_DST);
    upload(device, weights, 0, packed);
    return new WebGpuReward(device, sizes, weights, layout, pipeline, maxRows);
  }

  /** Buffers for `rows` sessions (grown, never shrunk). */
  private ensureCapacity(rows: number): NonNullable<WebGpuReward['buffers']> {
    if (this.buffers && this.cap >= rows) return this.buffers;
    this.destroyBuffers();
    const { device, sizes } = this;
    const cap = Math.min(Math.max(rows, 2 * this.cap), this.maxRows);
    const inputs = makeBuffer(device, 4 * (sizes.H + cap * sizes.M), USAGE.STORAGE | USAGE.COPY_DST);
    const scratch = makeBuffer(device, 4 * cap * scratchPerSession(sizes), USAGE.STORAGE);
    const out = makeBuffer(device, 4 * cap * sizes.T, USAGE.STORAGE | USAGE.COPY_SRC);
    const staging = makeBuffer(device, 4 * cap * sizes.T, USAGE.MAP_READ | USAGE.COPY_DST);
    const bind = device.createBindGroup({ layout: this.layout, entries: [this.weights, inputs, scratch, out].map((buffer, binding) => ({ binding, resource: { buffer } })) });
    this.cap = cap;
    this.buffers = { inputs, scratch, out, staging, bind };
    return this.buffers;
  }

  private destroyBuffers(): void {
    if (!this.buffers) return;
    const { inputs, scratch, out, staging } = this.buffers;
    for (const b of [inputs, scratch, out, staging]) b.destroy();
    this.buffers = null;
  }

  /**
   * The towers' probabilities [n, towers] for one user: `history` [H] and `sessions` [n, m] item indices, −1 = padding
   * (the graph's history_items and session_items). More sessions than one dispatch takes go in several.
   */
  async towers(history: Int32Array, sessions: Int32Array, n: number): Promise<Float32Array> {
    const { H, M, T } = this.sizes;
    if (history.length !== H || sessions.length !== n * M) throw new WebGpuRewardError(`inputs of ${history.length} and ${sessions.length} items, expected ${H} and ${n} × ${M}`);
    const towers = new Float32Array(n * T); // [n, T]
    for (let start = 0; start < n; start += this.maxRows) {
      const rows = Math.min(n - start, this.maxRows);
      towers.set(await this.dispatch(history, sessions.subarray(start * M, (start + rows) * M), rows), start * T);
    }
    return towers;
  }

  /** One dispatch over `rows` ≤ maxRows sessions: upload, run, map the [rows, T] towers. */
  private async dispatch(history: Int32Array, sessions: Int32Array, rows: number): Promise<Float32Array> {
    const { H, T } = this.sizes;
    const buffers = this.ensureCapacity(rows);
    const inputs = new Int32Array(H + sessions.length); // history [H], sessions [rows, M]
    inputs.set(history);
    inputs.set(sessions, H);
    upload(this.device, buffers.inputs, 0, inputs);
    const encoder = this.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, buffers.bind);
    pass.dispatchWorkgroups(rows);
    pass.end();
    const bytes = 4 * rows * T;
    encoder.copyBufferToBuffer(buffers.out, 0, buffers.staging, 0, bytes);
    this.device.queue.submit([encoder.finish()]);
    await buffers.staging.mapAsync(MAP_READ, 0, bytes);
    const towers = new Float32Array(buffers.staging.getMappedRange(0, bytes).slice(0)); // [rows, T]
    buffers.staging.unmap();
    return towers;
  }

  dispose(): void {
    this.destroyBuffers();
    this.weights.destroy();
  }
}
