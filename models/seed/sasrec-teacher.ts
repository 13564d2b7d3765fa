// A trained SASRec (`onerec baseline`) as the seed model's distillation teacher. SASRec gives a distribution
// over whole items; the seed model predicts an item one code at a time. So at every decoder position the
// teacher's target is the conditional distribution of the next code given the true prefix:
//
//   q_l(c) = Σ_{items i: codes_<l(i) = codes_<l(target), codes_l(i) = c} p(i)  /  Σ_{items i: codes_<l(i) = codes_<l(target)} p(i)
//
// with p = softmax(SASRec logits / τ) after the same history. That is exactly the item distribution
// written in the seed model's factorisation p(item) = Π_l p(c_l | c_<l), so fitting it transfers what the
// classic model knows about which items follow which, level by level.
//
//   const teacher = SasrecTeacher.load(engine, 'runs/x/baseline/best.ckpt', codes, levels, K);
//   const probs = teacher.probs(batch, window);     // [B·T, vocab] for model.trainingLoss(…, { probs, weight })
//   teacher.dispose();                              // when training ends: its weights and code tables leave the GPU
//
// The teacher reads the history from the batch's encoder tokens (the seed model's window of maxHistory
// items, mapped back to items through their unique IDs) and, for the i-th target of a training window,
// the window's earlier targets (teacher forcing, as the seed decoder sees them); each target gets its own
// SASRec row, scored at the last slot as SASRec is evaluated.
import { BOS, PAD, SPECIAL_TOKENS, vocabSize } from '../../runtime/tokens.ts';
import { readCheckpoint, type Checkpoint } from '../engine/checkpoint.ts';
import { Engine, grid, Tensor, type Kernel } from '../engine/engine.ts';
import { ShapeError } from '../engine/errors.ts';
import * as op from '../engine/ops.ts';
import { SasrecModel, type SasrecConfig } from '../baseline/sasrec.ts';
import { CHECKPOINT_KIND as SASREC_CHECKPOINT_KIND } from '../baseline/train.ts';
import type { Batch } from './batches.ts';

export class TeacherError extends Error {
  override name = 'TeacherError';
}

/** Whether a checkpoint holds a SASRec baseline (as opposed to a seed model): the kind models/baseline/train.ts writes. */
export function isSasrecCheckpoint(ckpt: Checkpoint): boolean {
  return ckpt.meta.kind === SASREC_CHECKPOINT_KIND;
}

// One workgroup per (row r, level l): thread c sums the probabilities of the items whose code at level l is c
// and whose earlier codes equal the row's target's, then the workgroup normalises over c and writes the row
// of the output that predicts level l. Items come grouped by their level-l code (LIST, offsets START), so a
// row costs one pass over the catalog per level. Rows whose target is < 0, or whose prefix got no mass, stay 0.
function codeConditionalKernel(K: number, levels: number): Kernel {
  const WG = 256;
  return {
    name: `sasrecCodeConditional${K}x${levels}`,
    params: [['rows', 'u32'], ['V', 'u32'], ['window', 'u32'], ['T', 'u32'], ['vocab', 'u32']],
    bindings: ['read', 'read', 'read', 'read', 'read', 'rw'],
    code: /* wgsl */ `
@group(0) @binding(1) var<storage, read> P: array<f32>;      // [rows, V] item probabilities, column i + 1 = item i
@group(0) @binding(2) var<storage, read> TGT: array<i32>;    // [rows] the target item (catalog index), -1 = none
@group(0) @binding(3) var<storage, read> CODES: array<f32>;  // [items, levels] codes (exact small integers)
@group(0) @binding(4) var<storage, read> LIST: array<f32>;   // [levels, items] items grouped by their code at each level
@group(0) @binding(5) var<storage, read> START: array<f32>;  // [levels, K + 1] group offsets into LIST's row
@group(0) @binding(6) var<storage, read_write> O: array<f32>; // [B·T, vocab] (zero-filled by the caller)
var<workgroup> vals: array<f32, ${K}>;
var<workgroup> red: array<f32, ${WG}>;
@compute @workgroup_size(${WG}) fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x + wid.y * nwg.x;
  let r = g / ${levels}u;
  let l = g % ${levels}u;
  if (r >= p.rows) { return; }
  let t = TGT[r];
  let tu = u32(max(t, 0));
  let items = p.V - 1u;
  var part = 0.0;
  for (var c = lid; c < ${K}u; c += ${WG}u) {
    if (t < 0) { vals[c] = 0.0; continue; }
    var s = 0.0;
    let lo = u32(START[l * ${K + 1}u + c]);
    let hi = u32(START[l * ${K + 1}u + c + 1u]);
    for (var j = lo; j < hi; j++) {
      let item = u32(LIST[l * items + j]);
      var same = true;
      for (var q = 0u; q < l; q++) {
        if (CODES[item * ${levels}u + q] != CODES[tu * ${levels}u + q]) { same = false; break; }
      }
      if (same) { s += P[r * p.V + item + 1u]; }
    }
    vals[c] = s;
    part += s;
  }
  red[lid] = part;
  workgroupBarrier();
  for (var k = ${WG / 2}u; k > 0u; k >>= 1u) { if (lid < k) { red[lid] += red[lid + k]; } workgroupBarrier(); }
  let total = red[0];
  if (t < 0 || total <= 0.0) { return; }
  let b = r / p.window;
  let i = r % p.window;
  let out = (b * p.T + i * ${levels + 1}u + l) * p.vocab + ${SPECIAL_TOKENS}u + l * ${K}u;
  for (var c = lid; c < ${K}u; c += ${WG}u) { O[out + c] = vals[c] / total; }
}`,
  };
}

/** Items grouped by their code at each level: LIST [levels, items] and offsets START [levels, K + 1]. */
export function codeGroups(codes: Uint16Array, levels: number, K: number): { list: Float32Array; start: Float32Array } {
  const items = codes.length / levels;
  const list = new Float32Array(levels * items);
  const start = new Float32Array(levels * (K + 1));
  for (let l = 0; l < levels; l++) {
    const counts = new Int32Array(K + 1);
    for (let i = 0; i < items; i++) counts[codes[i * levels + l] + 1]++;
    for (let c = 0; c < K; c++) counts[c + 1] += counts[c];
    for (let c = 0; c <= K; c++) start[l * (K + 1) + c] = counts[c];
    const fill = counts.slice(0, K);
    for (let i = 0; i < items; i++) list[l * items + fill[codes[i * levels + l]]++] = i;
  }
  return { list, start };
}

export class SasrecTeacher {
  private readonly byId = new Map<string, number>();
  private readonly kernel: Kernel;

  private constructor(
    readonly engine: Engine,
    readonly model: SasrecModel,
    private readonly codes: Uint16Array,
    readonly levels: number,
    readonly codebookSize: number,
    readonly temperature: number,
    private readonly codesGpu: Tensor,
    private readonly listGpu: Tensor,
    private readonly startGpu: Tensor,
  ) {
    const items = codes.length / levels;
    for (let i = 0; i < items; i++) this.byId.set(codes.subarray(i * levels, (i + 1) * levels).join(','), i);
    this.kernel = codeConditionalKernel(codebookSize, levels);
  }

  /**
   * A teacher from a SASRec model already on `engine`, over the items' semantic IDs `codes` [items, levels]. The
   * teacher owns the model from then on: dispose() destroys its weights.
   */
  static fromModel(engine: Engine, model: SasrecModel, codes: Uint16Array, levels: number, codebookSize: number, temperature = 1): SasrecTeacher {
    const items = codes.length / levels;
    if (!Number.isInteger(items) || items !== model.config.items) {
      throw new TeacherError(`the SASRec teacher ranks ${model.config.items} items; these semantic IDs describe ${codes.length / levels}: train both on the same prepared data`);
    }
    if (!(temperature > 0)) throw new TeacherError(`teacher temperature ${temperature}: give a value > 0`);
    const { list, start } = codeGroups(codes, levels, codebookSize);
    return new SasrecTeacher(engine, model, codes, levels, codebookSize, temperature,
      engine.persistent([items, levels], Float32Array.from(codes)), engine.persistent([levels, items], list), engine.persistent([levels, codebookSize + 1], start));
  }

  /** Loads an `onerec baseline` checkpoint (best.ckpt) as a frozen teacher. */
  static load(engine: Engine, path: string, codes: Uint16Array, levels: number, codebookSize: number, temperature = 1): SasrecTeacher {
    let ckpt: Checkpoint;
    try {
      ckpt = readCheckpoint(path);
    } catch (e) {
      throw new TeacherError(`${path}: ${(e as Error).message}`);
    }
    if (!isSasrecCheckpoint(ckpt)) throw new TeacherError(`${path}: a '${String(ckpt.meta.kind)}' checkpoint, not an onerec baseline (SASRec) one`);
    const config = ckpt.meta.config as SasrecConfig;
    const model = SasrecModel.fromCheckpoint(engine, config, ckpt);
    return SasrecTeacher.fromModel(engine, model, codes, levels, codebookSize, temperature);
  }

  /** Destroys the GPU buffers of the teacher (code tables) and of its SASRec model (weights); probs() then throws an EngineError. */
  dispose(): void {
    this.engine.destroy(this.codesGpu, this.listGpu, this.startGpu);
    this.model.dispose();
  }

  /** The catalog index of each history slot of the batch's encoder tokens ([B, maxHistory], -1 = empty). */
  historyItems(batch: Batch, maxHistory: number): Int32Array {
    const { levels: L, codebookSize: K } = this;
    const out = new Int32Array(batch.size * maxHistory).fill(-1);
    const ids: number[] = new Array(L);
    for (let s = 0; s < batch.size * maxHistory; s++) {
      const first = batch.encoderTokens[s * L];
      if (first === PAD || first === BOS) continue;
      for (let l = 0; l < L; l++) ids[l] = batch.encoderTokens[s * L + l] - SPECIAL_TOKENS - l * K;
      const item = this.byId.get(ids.join(','));
      if (item === undefined) throw new TeacherError(`history slot ${s}: codes ${ids.join(',')} are no item's semantic ID`);
      out[s] = item;
    }
    return out;
  }

  /**
   * The teacher's next-token distribution at every decoder position of `batch` ([B·T, vocab], no gradient):
   * the code-level conditionals above at the positions that predict a code, zeros elsewhere (BOS targets and
   * padding, which the loss ignores). `window` is the batch's items per target window.
   */
  probs(batch: Batch, window: number, maxHistory: number): Tensor {
    const e = this.engine;
    const { levels: L, codebookSize: K } = this;
    const B = batch.size;
    const T = window * (L + 1);
    const vocab = vocabSize(L, K);
    if (batch.decoderTokens.length !== B * T) throw new ShapeError(`SASRec teacher: decoder tokens ${batch.decoderTokens.length} for [${B}, ${T}]`);
    const Ls = this.model.config.maxLength;
    const history = this.historyItems(batch, maxHistory);
    // One SASRec row per target: the history then the window's earlier targets, right-aligned, scored at the last
    // slot — the way SASRec is evaluated, so the teacher is the model whose test figures the baseline reports.
    const rows = B * window;
    const tokens = new Int32Array(rows * Ls); // catalog index + 1, 0 = padding
    const targets = new Int32Array(rows);
    const seq: number[] = [];
    for (let b = 0; b < B; b++) {
      seq.length = 0;
      for (let s = 0; s < maxHistory; s++) if (history[b * maxHistory + s] >= 0) seq.push(history[b * maxHistory + s]);
      for (let i = 0; i < window; i++) {
        const r = b * window + i;
        const kept = seq.slice(-Ls);
        for (let j = 0; j < kept.length; j++) tokens[r * Ls + Ls - kept.length + j] = kept[j] + 1;
        const target = batch.targetItems[r];
        targets[r] = target >= 0 && kept.length > 0 ? target : -1;
        seq.push(target);
      }
    }
    return e.noGrad(() => {
      const V = this.model.config.items + 1;
      const h = op.view(this.model.hidden(tokens, rows), [rows * Ls, this.model.config.dModel]);
      const last = op.embedding(h, e.upload(Int32Array.from({ length: rows }, (_, r) => r * Ls + Ls - 1), [rows])); // [B·w, d]
      const logits = this.model.itemLogits(last); // [B·w, V]
      const p = op.softmax(this.temperature === 1 ? logits : op.scale(logits, 1 / this.temperature));
      const out = e.empty([B * T, vocab]);
      e.zero(out);
      e.run(this.kernel, [p, e.upload(targets, [rows]), this.codesGpu, this.listGpu, this.startGpu, out], [rows, V, window, T, vocab], grid(rows * L));
      return out;
    });
  }
}
