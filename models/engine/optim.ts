// AdamW fused over all parameters, with global gradient-norm clipping and a warm-up + decay schedule.
//
// At construction the parameters are packed into one flat buffer (each at a 256-byte aligned offset) and get
// views into one flat gradient buffer, so one step is: 2 dispatches for the global norm, 1 for the update, and
// one clearBuffer for the gradients. The norm never leaves the GPU: the update kernel reads it and clips.
import { grid, type Engine, type Kernel, Tensor } from './engine.ts';
import { ShapeError } from './errors.ts';

export interface Schedule {
  /** Peak learning rate. */
  lr: number;
  /** Linear warm-up from 0 over this many steps. */
  warmupSteps?: number;
  /** Steps of the whole run (decay ends here); 0 = constant after warm-up. */
  totalSteps?: number;
  /** Decay shape after warm-up. */
  decay?: 'cosine' | 'linear' | 'constant';
  /** Final learning rate as a fraction of lr. */
  minLrRatio?: number;
}

/** Learning rate at 0-based `step`. */
export function learningRate(s: Schedule, step: number): number {
  const warm = s.warmupSteps ?? 0;
  if (warm > 0 && step < warm) return (s.lr * (step + 1)) / warm;
  const total = s.totalSteps ?? 0;
  const decay = s.decay ?? 'cosine';
  if (!total || decay === 'constant') return s.lr;
  const minLr = s.lr * (s.minLrRatio ?? 0.1);
  const t = Math.min(1, Math.max(0, (step - warm) / Math.max(1, total - warm)));
  const f = decay === 'cosine' ? 0.5 * (1 + Math.cos(Math.PI * t)) : 1 - t;
  return minLr + (s.lr - minLr) * f;
}

export interface AdamWOptions extends Schedule {
  beta1?: number; // 0.9
  beta2?: number; // 0.999
  eps?: number; // 1e-8
  /** Decoupled weight decay (× lr), applied to parameters for which `decayed(name)` is true. */
  weightDecay?: number;
  /** Default: matrices decay, vectors (biases, norms) do not. */
  decayed?: (param: Tensor) => boolean;
  /** Clip the global gradient L2 norm to this value; 0 = no clipping. */
  clipNorm?: number;
}

const ID = '@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32';
const CHUNK = 4096; // elements per workgroup in the first norm pass

const SUMSQ: Kernel = {
  name: 'gradNormPartial', params: [['n', 'u32']], bindings: ['read', 'rw'], code: /* wgsl */ `
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read_write> PART: array<f32>;
var<workgroup> red: array<f32, 256>;
@compute @workgroup_size(256) fn main(${ID}) {
  let w = wid.x + wid.y * nwg.x;
  var s = 0.0;
  let end = min(p.n, (w + 1u) * ${CHUNK}u);
  for (var i = w * ${CHUNK}u + lid; i < end; i += 256u) { let g = G[i]; s = fma(g, g, s); }
  red[lid] = s;
  workgroupBarrier();
  for (var k = 128u; k > 0u; k >>= 1u) { if (lid < k) { red[lid] += red[lid + k]; } workgroupBarrier(); }
  if (lid == 0u) { PART[w] = red[0]; }
}`,
};
const NORM: Kernel = {
  name: 'gradNorm', params: [['parts', 'u32']], bindings: ['read', 'rw'], code: /* wgsl */ `
@group(0) @binding(1) var<storage, read> PART: array<f32>;
@group(0) @binding(2) var<storage, read_write> NORM: array<f32>;
var<workgroup> red: array<f32, 256>;
@compute @workgroup_size(256) fn main(${ID}) {
  var s = 0.0;
  for (var i = lid; i < p.parts; i += 256u) { s += PART[i]; }
  red[lid] = s;
  workgroupBarrier();
  for (var k = 128u; k > 0u; k >>= 1u) { if (lid < k) { red[lid] += red[lid + k]; } workgroupBarrier(); }
  if (lid == 0u) { NORM[0] = sqrt(red[0]); }
}`,
};
const ADAMW: Kernel = {
  name: 'adamw',
  params: [['n', 'u32'], ['lr', 'f32'], ['beta1', 'f32'], ['beta2', 'f32'], ['eps', 'f32'], ['wd', 'f32'], ['bc1', 'f32'], ['bc2', 'f32'], ['clip', 'f32']],
  bindings: ['rw', 'read', 'rw', 'rw', 'read', 'read'], code: /* wgsl */ `
@group(0) @binding(1) var<storage, read_write> P: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read_write> M: array<f32>;
@group(0) @binding(4) var<storage, read_write> V: array<f32>;
@group(0) @binding(5) var<storage, read> WD: array<f32>;
@group(0) @binding(6) var<storage, read> NORM: array<f32>;
@compute @workgroup_size(256) fn main(${ID}) {
  let i = (wid.x + wid.y * nwg.x) * 256u + lid;
  if (i >= p.n) { return; }
  var coef = 1.0;
  if (p.clip > 0.0) { coef = min(1.0, p.clip / (NORM[0] + 1e-6)); }
  let g = G[i] * coef;
  let m = p.beta1 * M[i] + (1.0 - p.beta1) * g;
  let v = p.beta2 * V[i] + (1.0 - p.beta2) * g * g;
  M[i] = m;
  V[i] = v;
  let w = P[i];
  P[i] = w - p.lr * ((m / p.bc1) / (sqrt(v / p.bc2) + p.eps) + p.wd * WD[i] * w);
}`,
};

const ALIGN = 64; // floats: 256-byte storage binding offsets

export class AdamW {
  readonly params: Tensor[];
  /** Optimizer steps taken (bias correction uses step + 1). */
  step = 0;
  readonly m: Tensor[] = [];
  readonly v: Tensor[] = [];
  private flat: { p: Tensor; g: Tensor; m: Tensor; v: Tensor; wd: Tensor; norm: Tensor; parts: Tensor };
  private total: number;
  private released = false; // releaseState() ran: gradients and moments are gone
  private disposed = false; // dispose() ran: the packed parameters too

  constructor(readonly engine: Engine, params: Tensor[], readonly options: AdamWOptions) {
    this.params = params;
    const names = new Set<string>();
    for (const t of params) {
      if (!t.isParam) throw new ShapeError(`AdamW: ${t} is not a parameter (make it with engine.param)`);
      if (names.has(t.name)) throw new ShapeError(`AdamW: parameter name '${t.name}' given twice`);
      names.add(t.name);
    }
    const offsets: number[] = [];
    let total = 0;
    for (const t of params) { offsets.push(total); total += Math.ceil(t.size / ALIGN) * ALIGN; }
    this.total = total;
    const decayed = options.decayed ?? ((t: Tensor) => t.shape.length >= 2);
    const wd = new Float32Array(Math.max(total, 1));
    params.forEach((t, i) => { if (decayed(t)) wd.fill(1, offsets[i], offsets[i] + t.size); });
    const e = engine;
    const shape = [Math.max(total, 1)];
    const parts = Math.max(1, Math.ceil(total / CHUNK));
    this.flat = {
      p: e.persistent(shape), g: e.persistent(shape), m: e.persistent(shape), v: e.persistent(shape),
      wd: e.persistent(shape, wd), norm: e.persistent([1]), parts: e.persistent([parts]),
    };
    for (const f of [this.flat.p, this.flat.g, this.flat.m, this.flat.v]) e.zero(f);
    const at = (base: Tensor, t: Tensor, i: number) => new Tensor(e, t.shape, 'f32', base.buffer, offsets[i] * 4, 'view');
    params.forEach((t, i) => {
      const dst = at(this.flat.p, t, i);
      e.copy(t, dst);
      const old = t.buffer;
      t.buffer = dst.buffer;
      t.offset = dst.offset;
      t.gradSlot = at(this.flat.g, t, i);
      t.grad = t.gradSlot;
      this.m.push(at(this.flat.m, t, i));
      this.v.push(at(this.flat.v, t, i));
      e.destroyBuffer(old);
      e.flush(); // submits the copy, then destroys the old buffer: one parameter's worth of extra memory at a time
    });
  }

  /** Learning rate the next step() uses. */
  get lr(): number { return learningRate(this.options, this.step); }

  /** One update from the accumulated gradients, then zero them. Encodes only; nothing is read back. */
  update(): void {
    const e = this.engine;
    const o = this.options;
    const f = this.flat;
    const clip = o.clipNorm ?? 0;
    if (clip > 0) {
      e.run(SUMSQ, [f.g, f.parts], [this.total], grid(f.parts.size));
      e.run(NORM, [f.parts, f.norm], [f.parts.size], [1]);
    }
    const b1 = o.beta1 ?? 0.9, b2 = o.beta2 ?? 0.999;
    const t = this.step + 1;
    e.run(ADAMW, [f.p, f.g, f.m, f.v, f.wd, f.norm],
      [this.total, this.lr, b1, b2, o.eps ?? 1e-8, o.weightDecay ?? 0, 1 - b1 ** t, 1 - b2 ** t, clip], grid(Math.ceil(this.total / 256)));
    e.zero(f.g);
    this.step++;
  }

  /** Global gradient norm of the last clipped step (reads back; for logging). */
  async gradNorm(): Promise<number> {
    return (await this.engine.read(this.flat.norm))[0];
  }

  /** Zero the gradients without a step. */
  zeroGrad(): void {
    this.engine.zero(this.flat.g);
  }

  /**
   * Free the training state (gradients, moments, decay mask, norm) and keep the parameters, which live in this
   * optimizer's packed buffer: the model stays usable for forward passes, evaluation and export, and its
   * parameters accumulate gradients the unpacked way again. Training it further needs a new optimizer.
   */
  releaseState(): void {
    if (this.released) return;
    this.released = true;
    const f = this.flat;
    for (const t of this.params) {
      if (t.grad === t.gradSlot) t.grad = null;
      t.gradSlot = null;
    }
    this.engine.destroy(f.g, f.m, f.v, f.wd, f.norm, f.parts);
  }

  /** Free everything, the packed parameters included: for a model that is thrown away (e.g. a run that failed). */
  dispose(): void {
    this.releaseState();
    if (this.disposed) return;
    this.disposed = true;
    this.engine.destroy(this.flat.p);
  }
}
