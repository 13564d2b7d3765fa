// What the two trainers with validation, `onerec train` (models/seed/train.ts) and `onerec baseline`
// (models/baseline/train.ts), do alike around their epochs: continue from OUT/last.ckpt (--resume), and end each
// epoch the same way: its validation to early stopping (a new best goes to best.ckpt), its record to the history,
// last.ckpt and history.json written, the run stopped by the time budget or by the patience. At the end the best
// weights go back into the model. The batches, losses, validation itself and each epoch's log line stay with each
// trainer.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCheckpoint, saveCheckpoint, type CheckpointMeta } from './engine/checkpoint.ts';
import type { Engine, Tensor } from './engine/engine.ts';
import type { AdamW } from './engine/optim.ts';
import { EarlyStopping, type BestEpoch } from './early-stopping.ts';
import type { Rng } from './random.ts';
import type { RankingMetrics } from './seed/metrics.ts';

/** What the run keeps of each epoch (each trainer adds its losses). */
export interface RunEpoch {
  epoch: number; // 1-based
  step: number; // optimizer steps so far
  seconds: number; // training time so far, resumed runs included
  validation?: object; // the epoch's validation figures, where it was validated
}

export interface TrainingRunSetup {
  out: string; // the run's folder: last.ckpt, best.ckpt, history.json
  kind: string; // the checkpoints' kind ('seed', 'sasrec')
  config: unknown; // the model's config: in every checkpoint and in history.json
  train: { epochs: number; patience: number; maxMinutes: number }; // the training config, written whole to history.json
  engine: Engine;
  params: Tensor[]; // the model's parameters
  optimizer: AdamW; // its state goes to last.ckpt
  rng: Rng; // the training stream (shuffling, dropout): saved as meta.rng.train, so a resumed run continues it
  log: (line: string) => void;
  // A refit (trainThrough 'validation'): trained on the validation targets too, so no epoch is validated; best.ckpt
  // holds each epoch's weights as it ends (the last is kept) and every checkpoint's meta says trainThrough 'validation'.
  refit?: boolean;
}

export class TrainingRun<E extends RunEpoch> {
  readonly last: string; // OUT/last.ckpt: weights, optimizer, RNG, history and best epoch after every epoch
  history: E[] = [];
  startEpoch = 0; // 0-based: the first epoch this process trains
  elapsedBefore = 0; // seconds of training before this process (a resumed run's history)
  stopReason: string;
  private stopping: EarlyStopping;
  private readonly bestPath: string;

  /** A fresh run (nothing read): epoch 0, an empty history, no best epoch. */
  constructor(private readonly setup: TrainingRunSetup) {
    this.last = join(setup.out, 'last.ckpt');
    this.bestPath = join(setup.out, 'best.ckpt');
    this.stopReason = `reached epochs = ${setup.train.epochs}`;
    this.stopping = new EarlyStopping(null, this.history, this.bestPath);
  }

  get best(): BestEpoch | null {
    return this.stopping.best;
  }

  /**
   * Continues from last.ckpt where `resume` is set and the file exists (else nothing changes): its weights and
   * optimizer state into the setup's, its RNG state, history, best epoch and elapsed time. `check` sees the
   * checkpoint's meta first (after the weights are loaded) and may refuse it by throwing.
   */
  resume(resume: boolean, check?: (meta: CheckpointMeta) => void): void {
    if (!(resume && existsSync(this.last))) return;
    const { engine, params, optimizer, rng, log } = this.setup;
    const meta = loadCheckpoint(this.last, engine, params, optimizer);
    check?.(meta);
    rng.state = meta.rng.train;
    this.history = (meta.history as E[]) ?? [];
    const best = (meta.best as BestEpoch | null) ?? null;
    this.startEpoch = (meta.epoch as number) + 1;
    this.elapsedBefore = this.history.at(-1)?.seconds ?? 0;
    this.stopping = new EarlyStopping(best, this.history, this.bestPath);
    log(`resumed from ${this.last} at epoch ${this.startEpoch} (step ${optimizer.step})`);
  }

  /** Epoch `epoch` (0-based) was validated at `seconds`: the figures into `record`; a new best goes to best.ckpt. */
  async validated(epoch: number, record: E, validation: RankingMetrics, seconds: number): Promise<void> {
    const { engine, params } = this.setup;
    record.validation = validation;
    record.seconds = seconds;
    await this.stopping.observe(epoch + 1, validation, engine, params, this.meta(epoch));
  }

  /** The end of epoch `epoch` (0-based): `record` into the history, `line` logged, last.ckpt and history.json written. */
  async endEpoch(epoch: number, record: E, line: string): Promise<void> {
    const { out, config, train, engine, params, optimizer, log, refit } = this.setup;
    this.history.push(record);
    log(line);
    if (refit) await saveCheckpoint(this.bestPath, engine, params, this.meta(epoch));
    await saveCheckpoint(this.last, engine, params, { ...this.meta(epoch), history: this.history, best: this.stopping.best }, optimizer);
    writeFileSync(join(out, 'history.json'), JSON.stringify({ config, train, history: this.history, best: this.stopping.best }, null, 1));
  }

  /** Whether the run ends after this epoch: past the time budget (`outOfTime`) or out of patience; sets stopReason. */
  stops(outOfTime: boolean): boolean {
    const { train } = this.setup;
    if (outOfTime) {
      this.stopReason = `time budget of ${train.maxMinutes} min reached`;
      return true;
    }
    if (this.stopping.exhausted(train.patience)) {
      this.stopReason = `no better validation NDCG@10 in ${train.patience} validations`;
      return true;
    }
    return false;
  }

  /** The run is over: best.ckpt's weights back into the model (if any epoch was validated), and the outcome. */
  finish(): { best: BestEpoch | null; history: E[]; stopReason: string } {
    this.stopping.restore(this.setup.engine, this.setup.params);
    this.setup.log(`stopped: ${this.stopReason}; best epoch ${this.stopping.best?.epoch ?? '-'}`);
    return { best: this.stopping.best, history: this.history, stopReason: this.stopReason };
  }

  /** The checkpoint meta of epoch `epoch` (0-based) as both checkpoints start it; the RNG state as it is now. */
  private meta(epoch: number): Omit<CheckpointMeta, 'tensors' | 'optimizerStep'> {
    const { kind, config, optimizer, rng, refit } = this.setup;
    return { kind, config, step: optimizer.step, rng: { train: rng.state }, epoch, ...(refit && { trainThrough: 'validation' }) };
  }
}
