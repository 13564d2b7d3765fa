// bench/results/quality.json: the generative model beside the SASRec baseline, per dataset, from the reports
// that `onerec baseline`, `onerec eval --bundle` (or `onerec train`) wrote. One dataset per call; the file keeps
// the others.
//
//   node --import tsx bench/quality.ts --dataset=beauty --baseline=runs/beauty/sasrec/report.json \
//     --onerec=runs/beauty/eval-int4/report.json --bundle=models/bundles/beauty --recipe="…" --notes="…"
//   (--onerec and --bundle may be left out where the generative model was not run on that dataset)
//
// Two ranking protocols: the user's own history kept among the candidates (`onerec eval`'s default, what the
// figures under `baseline` / `onerec` use) and left out (the runtime's default; `onerec baseline --checkpoint=…
// --testExcludeHistory`, `onerec eval --excludeHistory`, `onerec train --testExcludeHistory`), written under
// `baseline_exclude_history` / `onerec_exclude_history` where a report has them. `--as=NAME` writes the generative
// figures under NAME ({ test, test_exclude_history, recipe, notes }) and keeps the entry's other keys: Beauty's
// `onerec` is the shipped bundle (issue 18 item 4), its `default_recipe` the CLI's defaults (item 2).
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseOptions } from '../models/options.ts';

const KEYS = ['recall@5', 'recall@10', 'ndcg@5', 'ndcg@10', 'ndcg@10_se', 'valid_id_rate', 'users', 'split'] as const;

const o = parseOptions(process.argv.slice(2), {
  dataset: '', // key in quality.json (beauty, sports, toys, ml-1m)
  baseline: '', // report.json of `onerec baseline`
  baselineExcluded: '', // a report with the baseline's history-excluded test figures (`onerec baseline --checkpoint=… --testExcludeHistory`); '' = --baseline's, if it has them
  onerec: '', // report.json of `onerec eval` (a bundle's or a checkpoint's, test split) or of `onerec train` (its final test)
  onerecExcluded: '', // the same with the history excluded: `onerec eval --excludeHistory`'s report ('' = test_exclude_history of --onerec's report, if any)
  as: 'onerec', // key for the generative figures; another name keeps the entry's other keys (see above)
  bundle: '', // the evaluated bundle's folder (its files' bytes are summed)
  recipe: '', // how the generative model was made (flags, seeds)
  notes: '', // anything a reader needs: test looks, what was not run
  out: 'bench/results/quality.json', // the file to update
}, 'bench/quality.ts --dataset=NAME --baseline=REPORT [--onerec=REPORT --bundle=DIR --recipe=TEXT]');
if (!o) process.exit(0);
if (!o.dataset || !o.baseline) throw new Error('give --dataset and --baseline (and --onerec, --bundle where the generative model ran)');

type Metrics = Record<string, unknown>;
const read = (path: string): Metrics => JSON.parse(readFileSync(path, 'utf8')) as Metrics;
const pickFrom = (r: Metrics, path: string): Metrics => {
  if (r.split !== 'test') throw new Error(`${path}: split ${String(r.split)}; quality.json holds test figures`);
  return Object.fromEntries(KEYS.map((k) => [k, r[k]]));
};
// `onerec train`'s report holds its test figures under `test`; `onerec eval` and `onerec baseline` at the top.
const test = (whole: Metrics, path: string): Metrics => pickFrom(whole.split === undefined && whole.test ? whole.test as Metrics : whole, path);
// A report's history-excluded test figures: its own `test_exclude_history`, or the whole report when it is one.
const excluded = (whole: Metrics, path: string): Metrics | null => {
  if (whole.test_exclude_history) return pickFrom(whole.test_exclude_history as Metrics, path);
  return whole.exclude_history === true ? pickFrom(whole, path) : null;
};
const baselineReport = read(o.baseline) as Metrics & { config: unknown; parameters: number; train: { best_epoch: number } };
const onerecReport = o.onerec ? read(o.onerec) : null;
const all: Record<string, Record<string, unknown>> = existsSync(o.out) ? JSON.parse(readFileSync(o.out, 'utf8')) : {};
const baseline = {
  baseline: { ...test(baselineReport, o.baseline), model: 'SASRec (onerec baseline)', config: baselineReport.config, parameters: baselineReport.parameters, best_epoch: baselineReport.train.best_epoch },
  baseline_exclude_history: o.baselineExcluded ? excluded(read(o.baselineExcluded), o.baselineExcluded) : excluded(baselineReport, o.baseline),
};
const onerecExcluded = o.onerecExcluded ? excluded(read(o.onerecExcluded), o.onerecExcluded) : onerecReport ? excluded(onerecReport, o.onerec) : null;
if (o.baselineExcluded && !baseline.baseline_exclude_history) throw new Error(`${o.baselineExcluded}: has no history-excluded test figures`);
if (o.onerecExcluded && !onerecExcluded) throw new Error(`${o.onerecExcluded}: not a history-excluded test report`);
all[o.dataset] = o.as === 'onerec' ? {
  ...baseline,
  onerec: onerecReport ? test(onerecReport, o.onerec) : null,
  onerec_exclude_history: onerecExcluded,
  bundle_bytes: o.bundle ? readdirSync(o.bundle).reduce((n, f) => n + statSync(join(o.bundle, f)).size, 0) : null,
  recipe: o.recipe || null,
  notes: o.notes || null,
} : {
  ...all[o.dataset],
  ...baseline,
  [o.as]: { test: onerecReport ? test(onerecReport, o.onerec) : null, test_exclude_history: onerecExcluded, recipe: o.recipe || null, notes: o.notes || null },
};
writeFileSync(o.out, JSON.stringify(all, null, 1) + '\n');
console.log(`${o.out}: ${o.dataset} updated`);
