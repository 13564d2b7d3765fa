// `onerec align --evalBundles`: exported bundles measured as the browser runs them — each held-out user's recommend()
// on the runtime's Recommender in Node (runtime-node/node-recommender.ts, its default CPU engine: the wasm kernels, then
// onnxruntime-web) — with the training run's reward model and relevance measures (models/align/iterate.ts
// evaluateSessions), on the same held-out users as the run.
//
// recommend()'s options are those of the run's own evaluation, spelled out: `evalBeams` sessions of `sessionLength`
// items in beam (log-probability) order, no reward rerank (the scorer is the run's reward model, not the bundle's), the
// history excluded only with --excludeHistory, and no repeat-awareness layer (the policies never apply one; a bundle
// with a manifest historyBias is said to be run without it).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { BeamSearchResult } from '../../runtime/beam-search.ts';
import type { Recommender } from '../../runtime/recommender.ts';
import { readBundle } from '../../runtime-node/bundle-reader.ts';
import { createNodeRecommender } from '../../runtime-node/node-recommender.ts';
import { OptionError } from '../options.ts';
import { progressBar, type Progress } from '../progress.ts';
import { evaluateSessions, type AlignUser, type IterateOptions, type ModelReport, type SessionScorer } from './iterate.ts';
import { relativeChange } from './report.ts';

/** Every user's recommended sessions, in user order, as the beam search returns them (items [sessions, m], best first). */
export async function recommendUsers(recommender: Recommender, users: readonly AlignUser[], options: IterateOptions, progress?: Progress): Promise<BeamSearchResult[]> {
  const m = options.sessionLength;
  const out: BeamSearchResult[] = [];
  for (const u of users) {
    const { sessions } = await recommender.recommend(Array.from(u.history), {
      sessionLength: m, beamWidth: options.evalBeams, rerank: false, excludeHistory: options.excludeHistory, historyBias: false,
    });
    const items = new Int32Array(sessions.length * m); // [sessions, m]
    sessions.forEach((s, i) => items.set(s.items, i * m));
    out.push({ items, logProb: Float32Array.from(sessions, (s) => s.logProb) });
    progress?.update(out.length);
  }
  progress?.stop();
  return out;
}

export interface BundleEvalContext {
  codes: Uint16Array; // [items, levels] the run's semantic IDs: each bundle's trie must hold the same
  itemCount: number;
  evalUsers: AlignUser[]; // test-period users
  validationUsers: AlignUser[];
  scorer: SessionScorer;
  periods: Record<string, string>;
  report: string; // where the JSON report goes
  argv: string[];
  options: IterateOptions;
  splits: string[]; // 'test' and/or 'validation'
}

/**
 * Evaluates exported bundles on the run's held-out users (test, and validation when --valDays > 0) and reports each
 * one's change against the first bundle (relative, with the paired standard error of the recall change).
 */
export async function evaluateBundles(dirs: string[], c: BundleEvalContext): Promise<void> {
  const started = Date.now();
  type Period = { report: ModelReport; reward_gain?: number; relevance_change?: number; relevance_change_se?: number };
  const rows: { bundle: string; name: string; engine: string; test?: Period; validation?: Period }[] = [];
  const users = { test: c.splits.includes('test') ? c.evalUsers : [], validation: c.splits.includes('validation') ? c.validationUsers : [] };
  for (const dir of dirs) {
    const bundle = await readBundle(dir);
    const { levels } = bundle.trie;
    if (c.codes.length !== c.itemCount * levels) throw new OptionError(`--evalBundles: ${dir} has ${levels} code levels, the semantic IDs here ${c.codes.length / c.itemCount}; export it from the same prepared KuaiRand data`);
    if (bundle.trie.itemCount !== c.itemCount) throw new OptionError(`--evalBundles: ${dir} has ${bundle.trie.itemCount} items, the semantic IDs here ${c.itemCount}; export it from the same prepared KuaiRand data`);
    for (let item = 0; item < c.itemCount; item++) {
      const codes = bundle.trie.itemCodes(item);
      if (codes.some((code, l) => code !== c.codes[item * levels + l])) throw new OptionError(`--evalBundles: item ${item} has codes [${codes}] in ${dir} but [${c.codes.subarray(item * levels, (item + 1) * levels)}] here; export it from the same prepared KuaiRand data`);
    }
    const name = bundle.manifest.name;
    if (bundle.manifest.historyBias) console.warn(`${name}: its repeat-awareness layer (manifest historyBias) is not applied, as the run's own evaluation applies none`);
    const recommender = createNodeRecommender({ engine: 'auto' });
    let row: (typeof rows)[number];
    try {
      const info = await recommender.load(dir); // inside the try: a failed load still disposes the recommender
      row = { bundle: dir, name, engine: info.decoder };
      for (const period of ['test', 'validation'] as const) {
        if (users[period].length === 0) continue;
        const base = rows[0]?.[period]?.report;
        const results = await recommendUsers(recommender, users[period], c.options, progressBar(`${period} ${name}`, users[period].length));
        const report = evaluateSessions(name, results, users[period], c.scorer, c.options, base);
        const entry: Period = { report };
        if (base) {
          Object.assign(entry, { reward_gain: relativeChange(report.reward.mean, base.reward.mean), relevance_change: relativeChange(report['recall@10'], base['recall@10']), relevance_change_se: report['recall@10_change_se'] });
        }
        row[period] = entry;
        console.log(`${name} [${period}, ${users[period].length} users]: reward ${report.reward.mean.toFixed(4)}, recall@10 ${report['recall@10'].toFixed(4)} ± ${report['recall@10_se'].toFixed(4)}${entry.reward_gain !== undefined ? ` (reward ${(100 * entry.reward_gain).toFixed(2)} %, recall ${(100 * entry.relevance_change!).toFixed(2)} ± ${(100 * (entry.relevance_change_se ?? NaN)).toFixed(2)} % vs ${rows[0].name})` : ''}`);
      }
    } finally {
      await recommender.dispose();
    }
    rows.push(row);
  }
  const runtime = `the runtime's recommend() in Node (seed model on ${[...new Set(rows.map((r) => r.engine))].join(', ')}), 1 thread`;
  const report = { command: `onerec align ${c.argv.join(' ')}`, created: new Date().toISOString(), runtime, periods: c.periods, test_users: users.test.length, validation_users: users.validation.length, bundles: rows, seconds: (Date.now() - started) / 1000 };
  mkdirSync(dirname(c.report), { recursive: true });
  writeFileSync(c.report, JSON.stringify(report, null, 2) + '\n');
  console.log(`wrote ${c.report}`);
}
