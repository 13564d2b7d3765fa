// onerec align — the session reward model and iterative preference alignment (DPO) on KuaiRand-Pure.
//
//   onerec prepare --data=KUAIRAND_PURE_DIR --out=runs/kuairand                  # the prepared data align reads
//   onerec align --prepared=runs/kuairand --out=runs/kuairand/align              # seed transformer on the WebGPU engine
//   onerec align --prepared=runs/kuairand --out=runs/kuairand/align --policy=bigram --iterations=2   # the small CPU policy, no GPU
//   ... --report=bench/results/kuairand-align.json           # the committed report (its exact flags: bench/README.md)
//   onerec align --merge=a/report.json,b/report.json --report=OUT.json     # select over runs of one seed
//
// The stage is models/align/run.ts (steps and outputs in its header); the options, one comment each, are
// models/align/options.ts.
import { join } from 'node:path';
import { ALIGN_DEFAULTS } from '../align/options.ts';
import { mergeReports } from '../align/report.ts';
import { runAlignment } from '../align/run.ts';
import { OptionError, parseOptions } from '../options.ts';

export const summary = 'reward model on KuaiRand watch signals + iterative DPO alignment of the seed model';

export async function run(argv: string[]): Promise<void> {
  const o = parseOptions(argv, ALIGN_DEFAULTS, summary);
  if (!o) return;
  if (o.policy !== 'seed' && o.policy !== 'bigram') throw new OptionError(`--policy=${o.policy}: use 'seed' (WebGPU transformer) or 'bigram' (CPU)`);
  if (o.rmTrainer !== 'cpu' && o.rmTrainer !== 'engine') throw new OptionError(`--rmTrainer=${o.rmTrainer}: use 'cpu' or 'engine'`);
  if (o.merge) return mergeReports(o.merge.split(','), o.report || join(o.out, 'report.json'));
  const missing = (['prepared', 'out'] as const).filter((key) => !o[key]);
  if (missing.length > 0) {
    throw new OptionError(`${missing.map((key) => `--${key}`).join(' and ')} ${missing.length > 1 ? 'are' : 'is'} required: --prepared=DIR the output of onerec prepare on the KuaiRand-Pure folder (catalog, semantic IDs, the reward model's sessions), --out=DIR for the checkpoints and report`);
  }
  await runAlignment(o, argv);
}
