// onerec baseline — SASRec, the classic sequential recommender, trained by the same engine on the same
// prepared data and split, so that every generative figure has a strong yardstick beside it.
//
//   onerec baseline --data runs/beauty --out runs/beauty/sasrec
//   onerec baseline --data runs/beauty --out runs/beauty/sasrec --resume          # continue from last.ckpt
//
// Full-softmax cross-entropy over the whole catalog at every position (models/baseline/sasrec.ts). Writes
// OUT/best.ckpt, OUT/last.ckpt, OUT/history.json and OUT/report.json: the test metrics at the top level
// with the keys of `onerec eval` (recall@5/10, ndcg@5/10, ndcg@10_se, valid_id_rate, users, split), and the
// full validation split's metrics under `validation`.
//
// The stage is models/baseline/run.ts; the options, one comment each, models/baseline/options.ts.
import { checkOptionValues } from '../data/prepare-options.ts';
import { BASELINE_OPTION_RANGES, DEFAULT_BASELINE_OPTIONS } from '../baseline/options.ts';
import { runBaseline } from '../baseline/run.ts';
import { BaselineError } from '../baseline/train.ts';
import { parseOptions } from '../options.ts';

export const summary = 'train the SASRec baseline (GPU) on prepared data and report its test metrics beside the seed model\'s';

export async function run(argv: string[]): Promise<void> {
  const o = parseOptions(argv, DEFAULT_BASELINE_OPTIONS, `onerec baseline --data PREPARED --out DIR [--key=value …]\n${summary}`);
  if (!o) return;
  if (!o.data || !o.out) throw new BaselineError('give --data PREPARED (an `onerec prepare` output) and --out DIR');
  checkOptionValues(o, BASELINE_OPTION_RANGES, { decay: ['constant', 'cosine', 'linear'] });
  await runBaseline(o);
}
