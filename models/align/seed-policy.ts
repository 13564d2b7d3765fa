// The seed transformer (models/seed/model.ts, WebGPU engine) as an AlignPolicy: batched lockstep beam
// search, teacher-forced session log-probabilities, and the DPO + next-token step, all on the GPU.
//
// DPO step for B pairs, chosen and rejected sessions decoded together as 2B rows:
//   lp      = Σ_p logProbGather(logits, next-token targets)            [2B]   (BOS targets ignored)
//   z       = β · ((lp_c − lp_r) − (ref_c − ref_r))                   [B]
//   dpo     = bceWithLogits(z, 1) = mean softplus(−z) = mean −log σ(z)
//   ntp     = crossEntropy over B more rows: each pair's real anchor session (else its chosen session)
//   loss    = dpo + ntpWeight · ntp,  then AdamW.
// Dropout is off (rng null) during alignment, so π_θ at step 0 equals the reference exactly; the MoE
// load-balancing term is not added (a few hundred steps of fine-tuning).
import type { DecoderSession } from '../../runtime/beam-search.ts';
import { BOS, encoderTokens } from '../../runtime/tokens.ts';
import { AdamW, backward, type Engine, type Tensor } from '../engine/index.ts';
import * as op from '../engine/ops.ts';
import { seedVocabSize } from '../seed/config.ts';
import type { SeedModel } from '../seed/model.ts';
import { decoderTokens } from '../seed/reference.ts';
import { ShapeError } from '../engine/errors.ts';
import type { AlignPolicy, DecoderBatch, DpoStepResult, ScoredPair } from './policy.ts';

/** Next-token targets of a decoder sequence: tokens[p+1], −1 where that is BOS or past the end.  [T] → [T] */
export function nextTokenTargets(tokens: Int32Array): Int32Array {
  const out = new Int32Array(tokens.length).fill(-1);
  for (let p = 0; p + 1 < tokens.length; p++) if (tokens[p + 1] !== BOS) out[p] = tokens[p + 1];
  return out;
}

export class SeedPolicy implements AlignPolicy {
  readonly levels: number;
  readonly codebookSize: number;
  private optimizer: AdamW | null = null;

  constructor(readonly model: SeedModel, readonly codes: Uint16Array) {
    this.levels = model.config.levels;
    this.codebookSize = model.config.codebookSize;
  }

  get engine(): Engine {
    return this.model.engine;
  }

  private encoderInput(histories: readonly Int32Array[]): Int32Array {
    const { maxHistory } = this.model.config;
    const S = maxHistory * this.levels;
    const out = new Int32Array(histories.length * S); // [B, S]
    histories.forEach((h, b) => out.set(encoderTokens(h.filter((v) => v >= 0), this.codes, this.levels, this.codebookSize, maxHistory), b * S));
    return out;
  }

  private decoderInput(sessions: Int32Array, rows: number): { tokens: Int32Array; targets: Int32Array; T: number } {
    const m = sessions.length / rows;
    const T = m * (this.levels + 1);
    const tokens = new Int32Array(rows * T); // [rows, T]
    const targets = new Int32Array(rows * T); // [rows, T]
    for (let r = 0; r < rows; r++) {
      const t = decoderTokens(sessions.subarray(r * m, (r + 1) * m), this.codes, this.levels, this.codebookSize);
      tokens.set(t, r * T);
      targets.set(nextTokenTargets(t), r * T);
    }
    return { tokens, targets, T };
  }

  decoders(histories: readonly Int32Array[]): DecoderBatch {
    const users = histories.length;
    const model = this.model;
    const V = seedVocabSize(model.config);
    const memoryPromise = model.encode(this.encoderInput(histories), users);
    const prefixes: Int32Array[][] = Array.from({ length: users }, () => [new Int32Array(0)]); // [user][row] token prefix
    let pending: { user: number; rows: number; resolve: (l: Float32Array) => void; reject: (e: unknown) => void }[] = [];
    let live = users;
    const flush = async (): Promise<void> => {
      if (pending.length === 0 || pending.length < live) return;
      const batch = pending;
      pending = [];
      try {
        const memory = await memoryPromise;
        const byLength = new Map<number, { entry: number; row: number }[]>();
        batch.forEach((b, entry) => prefixes[b.user].forEach((p, row) => {
          const list = byLength.get(p.length) ?? [];
          list.push({ entry, row });
          byLength.set(p.length, list);
        }));
        const outputs = batch.map((b) => new Float32Array(b.rows * V));
        for (const [length, list] of byLength) {
          const tokens = new Int32Array(list.length * length); // [rows, length]
          const rowUser = new Int32Array(list.length); // [rows]
          list.forEach(({ entry, row }, r) => { tokens.set(prefixes[batch[entry].user][row], r * length); rowUser[r] = batch[entry].user; });
          const logits = await model.decodeLast(memory, rowUser, tokens, list.length, length); // [rows, vocab]
          list.forEach(({ entry, row }, r) => outputs[entry].set(logits.subarray(r * V, (r + 1) * V), row * V));
        }
        batch.forEach((b, i) => b.resolve(outputs[i]));
      } catch (error) {
        for (const b of batch) b.reject(error);
      }
    };
    const sessions: DecoderSession[] = histories.map((_, user) => ({
      step: (tokens: Int32Array, parents: Int32Array) => {
        const previous = prefixes[user];
        prefixes[user] = Array.from(tokens, (t, b) => {
          const p = new Int32Array(previous[parents[b]].length + 1);
          p.set(previous[parents[b]]);
          p[p.length - 1] = t;
          return p;
        });
        return new Promise<Float32Array>((resolve, reject) => {
          pending.push({ user, rows: tokens.length, resolve, reject });
          void flush();
        });
      },
    }));
    return {
      sessions,
      finished: () => { live--; void flush(); },
      release: () => { void memoryPromise.then((m) => model.release(m)); },
    };
  }

  /** Per-row summed log-probabilities `[rows]` of `sessions` `[rows, m]` (a graph node; grad when recording). */
  private sequenceLogProbTensor(histories: readonly Int32Array[], sessions: Int32Array): { seq: Tensor; logits: Tensor; targets: Int32Array; T: number } {
    const e = this.engine;
    const rows = histories.length;
    const V = seedVocabSize(this.model.config);
    const { tokens, targets, T } = this.decoderInput(sessions, rows);
    const { memory, keyMask } = this.model.encodeTokens(this.encoderInput(histories), rows, null);
    const { logits } = this.model.decode(tokens, rows, T, this.model.crossKeysValues(memory), keyMask, null); // [rows, T, V]
    const lp = op.logProbGather(op.view(logits, [rows * T, V]), e.upload(targets, [rows * T]), -1); // [rows * T]
    return { seq: op.sum(op.view(lp, [rows, T]), 1), logits, targets, T }; // [rows]
  }

  async sequenceLogProbs(histories: readonly Int32Array[], sessions: Int32Array, chunk = 256): Promise<Float64Array> {
    const B = histories.length;
    if (B === 0 || sessions.length % B !== 0) throw new ShapeError(`sequenceLogProbs: ${sessions.length} session items for ${B} histories`);
    const m = sessions.length / B;
    const out = new Float64Array(B);
    for (let start = 0; start < B; start += chunk) {
      const n = Math.min(chunk, B - start);
      const seq = this.engine.noGrad(() => this.sequenceLogProbTensor(histories.slice(start, start + n), sessions.subarray(start * m, (start + n) * m)).seq);
      const host = await this.engine.read(seq);
      this.engine.endStep();
      out.set(host, start);
    }
    return out;
  }

  /** The optimizer for alignment, created on first use (AdamW over every seed parameter, constant rate). */
  private adam(learningRate: number): AdamW {
    if (!this.optimizer) this.optimizer = new AdamW(this.engine, this.model.parameterList(), { lr: learningRate, decay: 'constant', weightDecay: 0, clipNorm: 1 });
    this.optimizer.options.lr = learningRate;
    return this.optimizer;
  }

  async dpoStep(pairs: readonly ScoredPair[], beta: number, ntpWeight: number, learningRate: number): Promise<DpoStepResult> {
    const e = this.engine;
    const B = pairs.length;
    if (B === 0) throw new ShapeError('dpoStep: no pairs');
    const m = pairs[0].chosen.length;
    const V = seedVocabSize(this.model.config);
    const optimizer = this.adam(learningRate);
    const histories = [...pairs.map((p) => p.history), ...pairs.map((p) => p.history), ...pairs.map((p) => p.anchor?.history ?? p.history)];
    const sessions = new Int32Array(3 * B * m); // [3B, m]: chosen rows, rejected rows, next-token target rows
    pairs.forEach((p, i) => { sessions.set(p.chosen, i * m); sessions.set(p.rejected, (B + i) * m); sessions.set(p.anchor?.items ?? p.chosen, (2 * B + i) * m); });
    const { seq, logits, targets, T } = this.sequenceLogProbTensor(histories, sessions);
    const refDiff = Float32Array.from(pairs, (p) => p.refChosen - p.refRejected); // [B]
    const z = op.scale(op.sub(op.sub(op.slice(seq, 0, 0, B), op.slice(seq, 0, B, B)), e.upload(refDiff, [B])), beta); // [B]
    const dpo = op.bceWithLogits(z, e.upload(new Float32Array(B).fill(1), [B])); // [1]
    const ntp = op.crossEntropy(op.view(op.slice(logits, 0, 2 * B, B), [B * T, V]), e.upload(targets.subarray(2 * B * T, 3 * B * T), [B * T]), -1); // [1]
    const loss = ntpWeight > 0 ? op.add(dpo, op.scale(ntp, ntpWeight)) : dpo;
    const reads = [e.read(z), e.read(dpo), e.read(ntp)];
    backward(loss);
    optimizer.update();
    e.endStep();
    const [zHost, dpoHost, ntpHost] = await Promise.all(reads);
    return { loss: dpoHost[0] + ntpWeight * ntpHost[0], dpo: dpoHost[0], ntp: ntpHost[0], accuracy: zHost.filter((v) => v > 0).length / B };
  }
}
