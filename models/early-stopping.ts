// Best-epoch bookkeeping shared by the training loops (`onerec train`, `onerec baseline`): validation NDCG@10
// picks the epoch whose weights go to best.ckpt, `patience` validations without a better one end the run (with
// validation every N epochs that is N × patience epochs), and the best weights are put back at the end.
import { readCheckpoint, saveCheckpoint, type CheckpointMeta } from './engine/checkpoint.ts';
import type { Engine, Tensor } from './engine/engine.ts';
import type { RankingMetrics } from './seed/metrics.ts';

export interface BestEpoch {
  epoch: number; // 1-based
  validation: RankingMetrics;
}

export class EarlyStopping {
  sinceBest: number; // validations since the best one

  /** `best` and `history` as a resumed run's last.ckpt holds them (null and [] for a fresh run). Only the epochs
   *  that were validated count, so a resumed run stops where the uninterrupted one would have. */
  constructor(public best: BestEpoch | null, history: readonly { epoch: number; validation?: unknown }[], private readonly path: string) {
    const validated = history.filter((h) => h.validation);
    const at = validated.findIndex((h) => h.epoch === best?.epoch);
    this.sinceBest = best && at >= 0 ? validated.length - 1 - at : validated.length;
  }

  /** An epoch's validation figures; a new best writes the weights to best.ckpt. */
  async observe(epoch: number, validation: RankingMetrics, engine: Engine, params: Tensor[], meta: Omit<CheckpointMeta, 'tensors' | 'optimizerStep'>): Promise<void> {
    if (!this.best || validation['ndcg@10'] > this.best.validation['ndcg@10']) {
      this.best = { epoch, validation };
      this.sinceBest = 0;
      await saveCheckpoint(this.path, engine, params, meta);
    } else {
      this.sinceBest++;
    }
  }

  exhausted(patience: number): boolean {
    return this.sinceBest >= patience;
  }

  /** best.ckpt's weights back into `params` (nothing without a best epoch). */
  restore(engine: Engine, params: Tensor[]): void {
    if (!this.best) return;
    const { tensors } = readCheckpoint(this.path);
    for (const p of params) engine.write(p, tensors[p.name].data);
  }
}
