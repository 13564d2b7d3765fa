// The engine core: GPU tensors, the autograd tape, kernel dispatch and the buffer pool.
//
// Execution model (why it is fast): every op appends a dispatch to ONE open compute pass of ONE command
// encoder; nothing is submitted until `read()`, `endStep()` or `sync()`. Per-dispatch parameters go into a
// uniform ring buffer bound with a dynamic offset, so bind groups depend only on the buffers and are cached;
// pipelines are cached by WGSL source. Tensors made during a step come from a size-bucketed pool and go back
// to it at `endStep()`; reuse is safe because the queue executes dispatches in the order they were encoded.
import { openDevice } from './device.ts';
import { EngineError, ShapeError } from './errors.ts';
import type { Rng } from '../random.ts';

/** Parameter initialization: constant, N(0, std²), U(−bound, bound), or given values. */
export type Init = 'zeros' | 'ones' | { normal: number } | { uniform: number } | Float32Array;

export type DType = 'f32' | 'i32';
export type Access = 'read' | 'rw';

/** A compute kernel: WGSL source (bindings 1.. declared by the source), its uniform fields and binding access. */
export interface Kernel {
  name: string;
  /** WGSL without the Params struct; binding 0 is `p: Params` (generated from `params`). */
  code: string;
  /** Uniform fields in order, e.g. [['M', 'u32'], ['alpha', 'f32']]. */
  params: [string, 'u32' | 'i32' | 'f32'][];
  /** Access of bindings 1..n. A buffer bound 'rw' may not be bound twice in one dispatch. */
  bindings: Access[];
}

interface Pipeline { id: number; pipeline: GPUComputePipeline; layout: GPUBindGroupLayout; kernel: Kernel }

interface TapeNode { inputs: Tensor[]; out: Tensor; backward: (grad: Tensor) => (Tensor | null)[] }

const RING_SLOTS = 4096; // dispatches per submit before the uniform ring forces a flush
const SLOT = 256; // bytes; minUniformBufferOffsetAlignment
const USAGE_STORAGE = 0x80 | 0x04 | 0x08; // STORAGE | COPY_SRC | COPY_DST
const ARENA_BYTES = 8 << 20; // host uploads of one step (ids, targets, id groups) before falling back to new buffers

let nextBufferId = 1;
const bufferIds = new WeakMap<GPUBuffer, number>();
function bufferId(b: GPUBuffer): number {
  let id = bufferIds.get(b);
  if (id === undefined) { id = nextBufferId++; bufferIds.set(b, id); }
  return id;
}

/** Bytes of a pool bucket: 256-byte aligned, then rounded up to 1/8 of the next power of two. */
function bucketBytes(bytes: number): number {
  const b = Math.max(256, Math.ceil(bytes / 256) * 256);
  const p = 2 ** Math.floor(Math.log2(b));
  const step = Math.max(256, p / 8);
  return Math.ceil(b / step) * step;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** A tensor on the GPU: a range of a buffer holding `numel(shape)` f32 or i32 values, row-major. */
export class Tensor {
  readonly size: number;
  requiresGrad = false;
  grad: Tensor | null = null;
  /** Parameter name (set by `engine.param`). */
  name = '';
  isParam = false;
  /** Preallocated gradient (parameters packed by the optimizer): backward accumulates into it in place. */
  gradSlot: Tensor | null = null;
  /** Host copy of integer data uploaded from the CPU (embedding backward groups rows by id with it). */
  host: Int32Array | null = null;
  /** Cached [uniqueIds, rowStart, rows] grouping of `host` (see embedding backward). */
  groups: Tensor[] | null = null;
  released = false;

  constructor(
    readonly engine: Engine,
    readonly shape: number[],
    readonly dtype: DType,
    public buffer: GPUBuffer,
    public offset: number, // bytes into `buffer`
    /** 'pool': returned to the pool at release; 'own': destroyed at release; 'view': shares another's buffer. */
    public storage: 'pool' | 'own' | 'view',
  ) {
    this.size = numel(shape);
  }

  get bytes(): number { return this.size * 4; }
  toString(): string { return `Tensor(${this.name || this.dtype}[${this.shape.join(', ')}])`; }
}

export interface EngineOptions {
  quiet?: boolean;
  profile?: boolean;
  zeroWorkgroupMemory?: boolean; // WGSL's zeroing of workgroup memory: off by default for the engine (see gpuInstance); true times what it costs
}

export class Engine {
  readonly device: GPUDevice;
  readonly adapter: string;
  readonly isFallback: boolean;
  readonly timestamps: boolean;
  gradEnabled = true;
  tape: TapeNode[] = [];
  /** Uncaptured WebGPU errors since the last check (thrown by read/sync/endStep). */
  private errors: string[] = [];
  private pipelines = new Map<string, Pipeline>();
  private bindGroups = new Map<string, GPUBindGroup>();
  private pool = new Map<number, GPUBuffer[]>();
  private stepTensors: Tensor[] = [];
  private destroyAfterFlush: GPUBuffer[] = [];
  private persistentBuffers = new Set<GPUBuffer>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  // The pipeline last set on `pass`: consecutive dispatches of one kernel (the step has many runs of the same
  // kernel) skip a redundant setPipeline, one JS→Dawn call and its validation per dispatch.
  private passPipeline: GPUComputePipeline | null = null;
  private dispatches = 0; // since the last flush
  private ring: GPUBuffer;
  private ringData = new ArrayBuffer(RING_SLOTS * SLOT);
  private ringU32 = new Uint32Array(this.ringData);
  private ringI32 = new Int32Array(this.ringData);
  private ringF32 = new Float32Array(this.ringData);
  private ringSlot = 0;
  // Upload arena: a step's host uploads are staged in `arenaData` and written to `arena` by the next flush
  // (before that submit), like the uniform ring; slices are reclaimed only at endStep().
  private arena: GPUBuffer;
  private arenaData = new ArrayBuffer(ARENA_BYTES);
  private arenaUsed = 0;
  private arenaWritten = 0;
  /** Per-kernel GPU time (profile mode, timestamp-query): name → [total ns, count]. */
  readonly profile: Map<string, [number, number]> | null;
  private querySet: GPUQuerySet | null = null;
  private queryNames: string[] = [];
  private queryResolve: GPUBuffer | null = null;
  /**
   * Running counts (bench/ reads per-step deltas): compute dispatches; copy/clear commands, each of which ends
   * the open compute pass; submits; bytes held by pooled tensors in use plus those idle in the pool (a leak
   * shows as growth); pipelines compiled; bytes of persistent tensors (parameters, optimizer state, running sums)
   * not yet destroyed (a model nobody destroys shows as growth).
   */
  stats = { dispatches: 0, copies: 0, submits: 0, pooledBytes: 0, pipelines: 0, persistentBytes: 0 };

  private constructor(ctx: Awaited<ReturnType<typeof openDevice>>, options: EngineOptions) {
    this.device = ctx.device;
    this.adapter = ctx.adapter;
    this.isFallback = ctx.isFallback;
    this.timestamps = ctx.timestamps;
    this.device.addEventListener('uncapturederror', (e) => {
      this.errors.push((e as GPUUncapturedErrorEvent).error.message);
    });
    this.ring = this.device.createBuffer({ size: RING_SLOTS * SLOT, usage: 0x40 | 0x08 }); // UNIFORM | COPY_DST
    this.arena = this.device.createBuffer({ size: ARENA_BYTES, usage: USAGE_STORAGE });
    this.profile = options.profile && ctx.timestamps ? new Map() : null;
    if (options.profile && !ctx.timestamps) console.warn('[engine] profile requested but the adapter has no timestamp-query');
    if (this.profile) {
      this.querySet = this.device.createQuerySet({ type: 'timestamp', count: 4096 }); // Dawn's maximum
      this.queryResolve = this.device.createBuffer({ size: 4096 * 8, usage: 0x200 | 0x04 }); // QUERY_RESOLVE | COPY_SRC
    }
  }

  static async create(options: EngineOptions = {}): Promise<Engine> {
    return new Engine(await openDevice({ ...options, zeroWorkgroupMemory: options.zeroWorkgroupMemory ?? false }), options); // see gpuInstance
  }

  // ---------------------------------------------------------------- buffers and tensors

  private acquire(bytes: number): GPUBuffer {
    const size = bucketBytes(bytes);
    const free = this.pool.get(size);
    if (free && free.length) return free.pop()!;
    this.stats.pooledBytes += size;
    return this.device.createBuffer({ size, usage: USAGE_STORAGE });
  }

  /** A new step-scoped tensor (contents undefined) from the pool. */
  empty(shape: number[], dtype: DType = 'f32'): Tensor {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new ShapeError(`bad tensor shape [${shape.join(', ')}]: dimensions must be integers ≥ 0`);
    }
    const t = new Tensor(this, shape, dtype, this.acquire(numel(shape) * 4), 0, 'pool');
    this.stepTensors.push(t);
    return t;
  }

  /** A view of `t` with another shape (same element count), sharing its buffer. */
  view(t: Tensor, shape: number[]): Tensor {
    if (numel(shape) !== t.size) throw new ShapeError(`cannot view ${t} as [${shape.join(', ')}]: element counts differ`);
    const v = new Tensor(this, shape, t.dtype, t.buffer, t.offset, 'view');
    this.stepTensors.push(v);
    return v;
  }

  /** Upload host data as a step-scoped tensor (i32 data keeps a host copy for the embedding backward). */
  upload(data: Float32Array | Int32Array, shape: number[]): Tensor {
    if (numel(shape) !== data.length) throw new ShapeError(`upload: ${data.length} values do not fill shape [${shape.join(', ')}]`);
    const dtype: DType = data instanceof Int32Array ? 'i32' : 'f32';
    let t: Tensor;
    if (this.arenaUsed + data.byteLength <= ARENA_BYTES) {
      new Uint8Array(this.arenaData, this.arenaUsed, data.byteLength).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      t = new Tensor(this, shape, dtype, this.arena, this.arenaUsed, 'view');
      this.arenaUsed += Math.max(256, Math.ceil(data.byteLength / 256) * 256);
      this.stepTensors.push(t);
    } else {
      const buffer = this.device.createBuffer({ size: Math.max(16, Math.ceil(data.byteLength / 4) * 4), usage: USAGE_STORAGE, mappedAtCreation: true });
      (dtype === 'i32' ? new Int32Array(buffer.getMappedRange()) : new Float32Array(buffer.getMappedRange())).set(data);
      buffer.unmap();
      t = new Tensor(this, shape, dtype, buffer, 0, 'own');
      this.stepTensors.push(t);
    }
    if (dtype === 'i32') t.host = data as Int32Array;
    return t;
  }

  /** A persistent tensor (not released by endStep), e.g. a parameter or optimizer state. */
  persistent(shape: number[], data?: Float32Array): Tensor {
    const n = numel(shape);
    const buffer = this.device.createBuffer({ size: Math.max(256, Math.ceil((n * 4) / 256) * 256), usage: USAGE_STORAGE, mappedAtCreation: Boolean(data) });
    this.persistentBuffers.add(buffer);
    this.stats.persistentBytes += buffer.size;
    if (data) {
      new Float32Array(buffer.getMappedRange(), 0, n).set(data);
      buffer.unmap();
    }
    return new Tensor(this, shape, 'f32', buffer, 0, 'own');
  }

  /** A trainable parameter (persistent, requiresGrad) initialized on the host with the seeded `rng`. */
  param(name: string, shape: number[], init: Init, rng?: Rng): Tensor {
    const n = numel(shape);
    let data: Float32Array;
    if (init instanceof Float32Array) {
      if (init.length !== n) throw new ShapeError(`param ${name}: ${init.length} initial values for shape [${shape.join(', ')}] (${n})`);
      data = init;
    } else if (init === 'zeros' || init === 'ones') {
      data = new Float32Array(n).fill(init === 'ones' ? 1 : 0);
    } else {
      if (!rng) throw new ShapeError(`param ${name}: random init needs an rng (new Rng(seed))`);
      data = new Float32Array(n);
      if ('normal' in init) for (let i = 0; i < n; i++) data[i] = rng.normal() * init.normal;
      else for (let i = 0; i < n; i++) data[i] = (2 * rng.next() - 1) * init.uniform;
    }
    const t = this.persistent(shape, data);
    t.name = name;
    t.isParam = true;
    t.requiresGrad = true;
    return t;
  }

  /** Overwrite a persistent tensor's values (e.g. from a checkpoint). */
  write(t: Tensor, data: Float32Array): void {
    if (data.length !== t.size) throw new ShapeError(`write: ${data.length} values for ${t}`);
    this.flush(); // pending dispatches may still read t's old values
    this.device.queue.writeBuffer(t.buffer, t.offset, data.buffer, data.byteOffset, data.byteLength);
  }

  /** Exclude `t` from the next `endStep()` release (e.g. a value kept across steps); a kept view becomes a copy. Returns `t`. */
  keep(t: Tensor): Tensor {
    const i = this.stepTensors.lastIndexOf(t);
    if (i >= 0) this.stepTensors.splice(i, 1);
    if (t.storage === 'view' && !t.isParam) {
      // The arena is reused next step and a view's base buffer goes back to the pool: give the values a buffer of their own.
      const buffer = this.acquire(t.bytes);
      if (t.size) this.copyEncoder().copyBufferToBuffer(t.buffer, t.offset, buffer, 0, t.bytes);
      t.buffer = buffer;
      t.offset = 0;
      t.storage = 'pool';
    }
    return t;
  }

  /** Give a kept tensor's buffer back (to the pool or destroyed). */
  free(t: Tensor): void {
    if (t.released || t.isParam) return;
    t.released = true;
    if (t.storage === 'pool') this.pool.get(t.buffer.size)?.push(t.buffer) ?? this.pool.set(t.buffer.size, [t.buffer]);
    else if (t.storage === 'own') this.destroyBuffer(t.buffer);
  }

  /**
   * Destroy persistent tensors that nothing will use again, parameters included (free() leaves parameters
   * alone): a frozen teacher's weights when training ends. A parameter packed by AdamW shares the optimizer's
   * buffer and cannot be destroyed alone.
   */
  destroy(...tensors: Tensor[]): void {
    for (const t of tensors) {
      if (t.released) continue;
      if (t.storage !== 'own' || t.gradSlot) throw new EngineError(`destroy: ${t} is not a persistent tensor with a buffer of its own (step tensors go back with free() or endStep())`);
      t.released = true;
      this.destroyBuffer(t.buffer);
    }
  }

  /** Destroy `buffer` after the next submit (dispatches encoded before it may still read it). */
  destroyBuffer(buffer: GPUBuffer): void {
    if (this.persistentBuffers.delete(buffer)) this.stats.persistentBytes -= buffer.size;
    this.destroyAfterFlush.push(buffer);
  }

  // ---------------------------------------------------------------- dispatch

  private pipeline(k: Kernel): Pipeline {
    let p = this.pipelines.get(k.code);
    if (p) return p;
    const fields = k.params.length ? k.params : [['unused', 'u32'] as [string, 'u32']];
    const code = `struct Params { ${fields.map(([n, t]) => `${n}: ${t}`).join(', ')} }\n` +
      `@group(0) @binding(0) var<uniform> p: Params;\n${k.code}`;
    const module = this.device.createShaderModule({ code, label: k.name });
    const layout = this.device.createBindGroupLayout({
      label: k.name,
      entries: [
        { binding: 0, visibility: 4, buffer: { type: 'uniform', hasDynamicOffset: true } },
        ...k.bindings.map((a, i) => ({ binding: i + 1, visibility: 4, buffer: { type: a === 'read' ? 'read-only-storage' as const : 'storage' as const } })),
      ],
    });
    const pipeline = this.device.createComputePipeline({
      label: k.name,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: 'main' },
    });
    p = { id: this.pipelines.size + 1, pipeline, layout, kernel: k };
    this.pipelines.set(k.code, p);
    this.stats.pipelines = this.pipelines.size;
    return p;
  }

  private ensurePass(label: string): GPUComputePassEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    if (this.profile) {
      if (this.queryNames.length >= 2048) this.flush();
      if (!this.encoder) this.encoder = this.device.createCommandEncoder();
      this.pass?.end();
      const q = this.queryNames.length;
      this.queryNames.push(label);
      this.passPipeline = null;
      this.pass = this.encoder.beginComputePass({ timestampWrites: { querySet: this.querySet!, beginningOfPassWriteIndex: 2 * q, endOfPassWriteIndex: 2 * q + 1 } });
      return this.pass;
    }
    if (!this.pass) { this.pass = this.encoder.beginComputePass(); this.passPipeline = null; }
    return this.pass;
  }

  /** Append one dispatch. `groups` is clamped per dimension by the caller (see grid()). */
  run(k: Kernel, bindings: Tensor[], params: number[], groups: [number, number?, number?]): void {
    if (bindings.length !== k.bindings.length) throw new EngineError(`kernel ${k.name}: ${bindings.length} bindings given, ${k.bindings.length} declared`);
    if ((groups[0] ?? 1) === 0 || (groups[1] ?? 1) === 0 || (groups[2] ?? 1) === 0) return;
    if (this.ringSlot >= RING_SLOTS) this.flush();
    const p = this.pipeline(k);
    const base = (this.ringSlot * SLOT) / 4;
    for (let i = 0; i < k.params.length; i++) {
      const t = k.params[i][1];
      if (t === 'f32') this.ringF32[base + i] = params[i];
      else if (t === 'i32') this.ringI32[base + i] = params[i];
      else this.ringU32[base + i] = params[i];
    }
    let key = `${p.id}`;
    for (const b of bindings) {
      if (b.released) throw new EngineError(`kernel ${k.name}: ${b} was already released by endStep()/free(); keep() it to use it across steps`);
      key += `|${bufferId(b.buffer)}:${b.offset}:${b.bytes}`;
    }
    let bg = this.bindGroups.get(key);
    if (!bg) {
      if (this.bindGroups.size > 20000) this.bindGroups.clear();
      bg = this.device.createBindGroup({
        layout: p.layout,
        entries: [
          { binding: 0, resource: { buffer: this.ring, offset: 0, size: SLOT } },
          ...bindings.map((b, i) => ({ binding: i + 1, resource: { buffer: b.buffer, offset: b.offset, size: Math.max(4, b.bytes) } })),
        ],
      });
      this.bindGroups.set(key, bg);
    }
    const pass = this.ensurePass(k.name);
    if (this.passPipeline !== p.pipeline) { pass.setPipeline(p.pipeline); this.passPipeline = p.pipeline; }
    pass.setBindGroup(0, bg, [this.ringSlot * SLOT]);
    pass.dispatchWorkgroups(groups[0], groups[1] ?? 1, groups[2] ?? 1);
    this.ringSlot++;
    this.dispatches++;
    this.stats.dispatches++;
  }

  /** Encoder for copies/clears: ends the open compute pass. */
  private copyEncoder(): GPUCommandEncoder {
    if (this.pass) { this.pass.end(); this.pass = null; }
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    this.dispatches++;
    this.stats.copies++;
    return this.encoder;
  }

  /** Zero a tensor's bytes (clearBuffer). */
  zero(t: Tensor): void {
    this.copyEncoder().clearBuffer(t.buffer, t.offset, t.bytes);
  }

  copy(src: Tensor, dst: Tensor): void {
    if (src.size !== dst.size) throw new ShapeError(`copy: ${src} into ${dst}: sizes differ`);
    if (src.size) this.copyEncoder().copyBufferToBuffer(src.buffer, src.offset, dst.buffer, dst.offset, src.bytes);
  }

  /** Submit everything encoded so far. */
  flush(): void {
    if (!this.encoder) return;
    if (this.pass) { this.pass.end(); this.pass = null; }
    let profiled = 0;
    if (this.profile && this.queryNames.length) {
      profiled = this.queryNames.length;
      this.encoder.resolveQuerySet(this.querySet!, 0, 2 * profiled, this.queryResolve!, 0);
    }
    let readback: GPUBuffer | null = null;
    if (profiled) {
      readback = this.device.createBuffer({ size: 2 * profiled * 8, usage: 0x01 | 0x08 }); // MAP_READ | COPY_DST
      this.encoder.copyBufferToBuffer(this.queryResolve!, 0, readback, 0, 2 * profiled * 8);
    }
    if (this.ringSlot) this.device.queue.writeBuffer(this.ring, 0, this.ringData, 0, this.ringSlot * SLOT);
    if (this.arenaUsed > this.arenaWritten) {
      this.device.queue.writeBuffer(this.arena, this.arenaWritten, this.arenaData, this.arenaWritten, this.arenaUsed - this.arenaWritten);
      this.arenaWritten = this.arenaUsed;
    }
    this.device.queue.submit([this.encoder.finish()]);
    this.stats.submits++;
    this.encoder = null;
    this.ringSlot = 0;
    this.dispatches = 0;
    for (const b of this.destroyAfterFlush) b.destroy();
    this.destroyAfterFlush = [];
    if (readback) {
      const names = this.queryNames;
      this.pendingProfiles.push(readback.mapAsync(1).then(() => {
        const ts = new BigUint64Array(readback!.getMappedRange());
        for (let i = 0; i < names.length; i++) {
          const dt = Number(ts[2 * i + 1] - ts[2 * i]);
          const e = this.profile!.get(names[i]) ?? [0, 0];
          if (dt > 0 && dt < 1e10) e[0] += dt;
          e[1]++;
          this.profile!.set(names[i], e);
        }
        readback!.unmap();
        readback!.destroy();
      }));
    }
    this.queryNames = [];
  }
  private pendingProfiles: Promise<void>[] = [];

  private checkErrors(): void {
    if (this.errors.length) {
      const all = this.errors.splice(0);
      throw new EngineError(`WebGPU error: ${all.slice(0, 3).join(' | ')}${all.length > 3 ? ` (+${all.length - 3} more)` : ''}`);
    }
  }

  /** Copy a tensor to the host. The copy is encoded now, so releasing `t` right after is safe. */
  async read(t: Tensor): Promise<Float32Array> {
    const staging = this.device.createBuffer({ size: Math.max(16, Math.ceil(t.bytes / 4) * 4), usage: 0x01 | 0x08 });
    if (t.size) this.copyEncoder().copyBufferToBuffer(t.buffer, t.offset, staging, 0, t.bytes);
    this.flush();
    await staging.mapAsync(1);
    const out = new Float32Array(t.size);
    out.set(new Float32Array(staging.getMappedRange(), 0, t.size));
    staging.unmap();
    staging.destroy();
    this.checkErrors();
    return out;
  }

  /** Copy several tensors to the host with one submit and one map (checkpoints). */
  async readMany(ts: Tensor[]): Promise<Float32Array[]> {
    const offsets: number[] = [];
    let total = 0;
    for (const t of ts) { offsets.push(total); total += Math.ceil(t.bytes / 4) * 4; }
    const staging = this.device.createBuffer({ size: Math.max(16, total), usage: 0x01 | 0x08 });
    const enc = this.copyEncoder();
    ts.forEach((t, i) => { if (t.size) enc.copyBufferToBuffer(t.buffer, t.offset, staging, offsets[i], t.bytes); });
    this.flush();
    await staging.mapAsync(1);
    const all = new Float32Array(staging.getMappedRange());
    const out = ts.map((t, i) => all.slice(offsets[i] / 4, offsets[i] / 4 + t.size));
    staging.unmap();
    staging.destroy();
    this.checkErrors();
    return out;
  }

  async readInt(t: Tensor): Promise<Int32Array> {
    const f = await this.read(t);
    return new Int32Array(f.buffer, f.byteOffset, f.length);
  }

  /** Submit and wait until the GPU is idle (and profile results are in). */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    await Promise.all(this.pendingProfiles.splice(0));
    this.checkErrors();
  }

  /** End a training step: submit, drop the tape, return every step tensor (not kept) to the pool. */
  endStep(): void {
    this.flush();
    this.arenaUsed = this.arenaWritten = 0;
    this.tape = [];
    for (const t of this.stepTensors) this.free(t);
    this.stepTensors = [];
    this.checkErrors();
  }

  // ---------------------------------------------------------------- autograd

  /** Record an op on the tape when grad mode is on and an input requires grad. */
  record(out: Tensor, inputs: Tensor[], backward: (grad: Tensor) => (Tensor | null)[]): Tensor {
    if (this.gradEnabled && inputs.some((t) => t.requiresGrad)) {
      out.requiresGrad = true;
      this.tape.push({ inputs, out, backward });
    }
    return out;
  }

  /** Run `fn` without recording (inference). */
  noGrad<T>(fn: () => T): T {
    const prev = this.gradEnabled;
    this.gradEnabled = false;
    try { return fn(); } finally { this.gradEnabled = prev; }
  }

  /** The preallocated gradient of a packed parameter (ops may accumulate into it directly), else null. */
  accumulateTarget(t: Tensor): Tensor | null {
    return t.requiresGrad && t.gradSlot ? t.gradSlot : null;
  }

  private accumulate(t: Tensor, g: Tensor, add: (a: Tensor, b: Tensor, into: Tensor | null) => Tensor): void {
    if (g.size !== t.size) throw new EngineError(`internal: gradient ${g} for ${t} has the wrong size`);
    if (t.gradSlot) { add(t.gradSlot, g, t.gradSlot); t.grad = t.gradSlot; return; }
    t.grad = t.grad ? add(t.grad, g, null) : g;
  }

  /**
   * Reverse-mode pass from a scalar `loss` (or from `grad` of loss's shape). Parameter gradients accumulate
   * (into gradSlot for packed parameters); the optimizer zeroes them after its step.
   */
  backward(loss: Tensor, grad?: Tensor, add?: (a: Tensor, b: Tensor, into: Tensor | null) => Tensor): void {
    if (!add) throw new EngineError('internal: backward needs the add op (call backward() from index.ts)');
    if (!loss.requiresGrad) throw new EngineError(`backward: ${loss} does not depend on any tensor that requires grad`);
    if (!grad) {
      if (loss.size !== 1) throw new ShapeError(`backward: ${loss} is not a scalar; pass the output gradient`);
      grad = this.upload(new Float32Array([1]), loss.shape);
    }
    const grads = new Map<Tensor, Tensor>();
    grads.set(loss, grad);
    const prev = this.gradEnabled;
    this.gradEnabled = false;
    try {
      for (let i = this.tape.length - 1; i >= 0; i--) {
        const node = this.tape[i];
        const g = grads.get(node.out);
        if (!g) continue;
        grads.delete(node.out);
        const gi = node.backward(g);
        for (let j = 0; j < node.inputs.length; j++) {
          const input = node.inputs[j];
          const gj = gi[j];
          if (!gj || !input.requiresGrad) continue;
          if (input.isParam) { this.accumulate(input, gj, add); continue; }
          const had = grads.get(input);
          grads.set(input, had ? add(had, gj, null) : gj);
        }
      }
    } finally {
      this.gradEnabled = prev;
    }
    // What is left belongs to leaves that are not parameters (tensors the caller marked requiresGrad).
    for (const [t, g] of grads) if (t !== loss) t.grad = g;
    this.tape = [];
  }
}

/** Workgroup grid for `n` workgroups: x ≤ 65535, the rest in y. Kernels use wid.x + wid.y * nwg.x. */
export function grid(n: number): [number, number] {
  if (n <= 65535) return [n, 1];
  return [65535, Math.ceil(n / 65535)];
}
