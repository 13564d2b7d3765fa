// onerec baseline — SASRec, the classic sequential recommender, trained by the same engine on the same
// prepared data and split, so that every generative figure has a strong yardstick beside it.
//
//   onerec baseline --data runs/beauty --out runs/beauty/sasrec
//   onerec baseline --data runs/beauty --out runs/beauty/sasrec --resume          # continue from last.ckpt
//   onerec baseline --data runs/beauty --out runs/beauty/refit --trainThrough=validation --epochs=41   # a refit: the validation targets too
//
// Full-softmax cross-entropy over the whole catalog at every position (models/baseline/sasrec.ts). Writes
// OUT/best.ckpt, OUT/last.ckpt, OUT/history.json and OUT/report.json: the test metrics at the top level
// with the keys of `onerec eval` (recall@5/10, ndcg@5/10, ndcg@10_se, valid_id_rate, users, split), and the
// full validation split's metrics under `validation`.
//
// The stage is models/baseline/run.ts.
import { checkOptionValues, type OptionRange } from '../data/prepare-options.ts';
import { runBaseline } from '../baseline/run.ts';
import { BaselineError, DEFAULT_BASELINE_TRAIN } from '../baseline/train.ts';
import { optionGiven, parseOptions } from '../options.ts';

export const summary = 'train the SASRec baseline (GPU) on prepared data and report its test metrics beside the seed model\'s';

export const DEFAULT_BASELINE_OPTIONS = {
  data: '', // prepared data directory (`onerec prepare --out`)
  out: '', // output directory: checkpoints, history.json, report.json
  dModel: 64, // item embedding and hidden width
  heads: 1, // attention heads
  blocks: 2, // transformer blocks
  ffnDim: 256, // feed-forward hidden width
  maxLength: 0, // items of history read (0 = from the data: 80th percentile of train lengths, within [50, 200])
  dropout: 0.5, // input and residual dropout
  ...DEFAULT_BASELINE_TRAIN,
  noTest: false, // stop after training (no test evaluation)
  testExcludeHistory: true, // also report test metrics with the user's own history left out of the ranking (the runtime's default; a second pass over the test users, ~0.1 s on a GPU) as test_exclude_history
  checkpoint: '', // evaluate this onerec baseline checkpoint (its best.ckpt) on the test split instead of training; '' = train
  softwareGpu: false, // train (or, with --checkpoint, evaluate) on a software adapter (SwiftShader, lavapipe: the CPU) instead of refusing
};

const int = (min: number, max: number, why?: string): OptionRange => ({ min, max, integer: true, why });
const real = (min: number, max: number, why?: string): OptionRange => ({ min, max, integer: false, why });

/** Every numeric option's valid range, checked before the data is read (a test checks that none is missing). */
export const BASELINE_OPTION_RANGES: Record<string, OptionRange> = {
  dModel: int(1, 4096), heads: int(1, 64), blocks: int(1, 64), ffnDim: int(1, 65_536),
  maxLength: int(0, 10_000, '0 = from the data; the runtime takes at most 10000 history items'), dropout: real(0, 0.99),
  lr: real(1e-9, 1), batchSize: int(1, 65_536), epochs: int(0, 100_000), patience: int(1, 100_000), warmupSteps: int(0, 1e9),
  weightDecay: real(0, 10), gradClip: real(0, 1e6, '0 = no clipping'), evalEvery: int(1, 100_000), evalUsers: int(0, 1e9, '0 = all'),
  seed: int(0, 2 ** 32 - 1, 'a 32-bit seed'), maxMinutes: real(0, 1e6, '0 = no bound'),
};
export type BaselineOptions = typeof DEFAULT_BASELINE_OPTIONS;

export async function run(argv: string[]): Promise<void> {
  const o = parseOptions(argv, DEFAULT_BASELINE_OPTIONS, `onerec baseline --data PREPARED --out DIR [--key=value …]\n${summary}`);
  if (!o) return;
  if (!o.data || !o.out) throw new BaselineError('give --data PREPARED (an `onerec prepare` output) and --out DIR');
  checkOptionValues(o, BASELINE_OPTION_RANGES, { decay: ['constant', 'cosine', 'linear'], trainThrough: ['train', 'validation'] });
  if (o.trainThrough === 'validation' && !optionGiven(argv, 'epochs')) {
    throw new BaselineError('--trainThrough=validation trains a fixed number of epochs with no validation to stop it: give --epochs (the best epoch of a run with --trainThrough=train)');
  }
  if (o.trainThrough === 'validation' && o.checkpoint) throw new BaselineError('--trainThrough=validation trains; --checkpoint evaluates one: give one of them');
  await runBaseline(o);
}
