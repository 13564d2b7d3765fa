// bench/results/quality.json: the generative model beside the SASRec baseline, per dataset, from the reports
// that `onerec baseline`, `onerec eval --bundle` (or `onerec train`) wrote. One dataset per call; the file keeps
// the others.
//
//   node --import tsx bench/quality.ts --dataset=beauty --baseline=runs/beauty/sasrec/report.json \
//     --onerec=runs/beauty/eval-int4/report.json --bundle=models/bundles/beauty --recipe="…" --notes="…"
//   (--onerec and --bundle may be left out where the generative model was not run on that dataset)
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseOptions } from '../models/options.ts';

const KEYS = ['recall@5', 'recall@10', 'ndcg@5', 'ndcg@10', 'ndcg@10_se', 'valid_id_rate', 'users', 'split'] as const;

const o = parseOptions(process.argv.slice(2), {
  dataset: '', // key in quality.json (beauty, sports, toys, ml-1m)
  baseline: '', // report.json of `onerec baseline`
  onerec: '', // report.json of `onerec eval` (a bundle's or a checkpoint's, test split) or of `onerec train` (its final test)
  bundle: '', // the evaluated bundle's folder (its files' bytes are summed)
  recipe: '', // how the generative model was made (flags, seeds)
  notes: '', // anything a reader needs: test looks, what was not run
  out: 'bench/results/quality.json', // the file to update
}, 'bench/quality.ts --dataset=NAME --baseline=REPORT [--onerec=REPORT --bundle=DIR --recipe=TEXT]');
if (!o) process.exit(0);
if (!o.dataset || !o.baseline) throw new Error('give --dataset and --baseline (and --onerec, --bundle where the generative model ran)');

const pick = (path: string): Record<string, unknown> => {
  const whole = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  // `onerec train`'s report holds its test figures under `test`; `onerec eval` and `onerec baseline` at the top.
  const r = whole.split === undefined && whole.test ? whole.test as Record<string, unknown> : whole;
  if (r.split !== 'test') throw new Error(`${path}: split ${String(r.split)}; quality.json holds test figures`);
  return Object.fromEntries(KEYS.map((k) => [k, r[k]]));
};
const baselineReport = JSON.parse(readFileSync(o.baseline, 'utf8')) as { config: unknown; parameters: number; train: { best_epoch: number; stop_reason: string } };
const all: Record<string, unknown> = existsSync(o.out) ? JSON.parse(readFileSync(o.out, 'utf8')) : {};
all[o.dataset] = {
  baseline: { ...pick(o.baseline), model: 'SASRec (onerec baseline)', config: baselineReport.config, parameters: baselineReport.parameters, best_epoch: baselineReport.train.best_epoch },
  onerec: o.onerec ? pick(o.onerec) : null,
  bundle_bytes: o.bundle ? readdirSync(o.bundle).reduce((n, f) => n + statSync(join(o.bundle, f)).size, 0) : null,
  recipe: o.recipe || null,
  notes: o.notes || null,
};
writeFileSync(o.out, JSON.stringify(all, null, 1) + '\n');
console.log(`${o.out}: ${o.dataset} updated`);
