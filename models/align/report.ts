// The alignment report (bench/results/kuairand-align.json) and its Table-1-style markdown rendering.
import type { RewardFitReport } from '../reward/fit.ts';
import type { IterationReport, ModelReport } from './iterate.ts';

/** One alignment setting's models and gains (the seed row is shared). */
export interface AlignRun {
  alignLr: number;
  beta: number;
  models: ModelReport[];
  iterations: IterationReport[];
  reward_gain: number;
  relevance_change: number;
  stopped_early: boolean;
}

export interface AlignReport {
  dataset: string;
  created: string;
  command: string;
  device: string;
  semantic_ids: string;          // 'prepared: <dir>' or 'positional fallback (…)'
  policy: string;                // 'seed transformer (WebGPU engine)' or 'bigram (CPU)'
  options: Record<string, unknown>;
  reward_model: RewardFitReport;
  reward_weights: Record<string, number>;
  seed_training?: { epochs: number; steps: number; loss: number[]; seconds: number };
  models: ModelReport[];          // seed, iteration 1, 2, …
  iterations: IterationReport[];
  reward_gain: number;            // mean RM reward of the last model over the seed's, relative
  relevance_change: number;       // relative change of recall@10, last model vs seed
  targets: { reward_gain: number; relevance_change_within: number };
  stopped_early: boolean;         // --budgetSeconds ended the iterations before --iterations
  variants: AlignRun[];           // --variants: other (learning rate, β) from the same seed, reported beside
  seconds: number;
}

export function relativeChange(now: number, before: number): number {
  return before === 0 ? (now === 0 ? 0 : Infinity) : (now - before) / before;
}

const f = (x: number, digits = 4): string => (Number.isFinite(x) ? x.toFixed(digits) : String(x));

/** Markdown: one row per model, mean/max of each tower, the scalar reward, then next-session relevance. */
export function alignTable(report: AlignReport): string {
  const towers = Object.keys(report.models[0]?.towers ?? {});
  const head = ['model', ...towers.flatMap((t) => [`${t} mean`, `${t} max`]), 'reward mean', 'recall@10', 'ndcg@10'];
  const recall = (m: ModelReport) => (m['recall@10_se'] !== undefined ? `${f(m['recall@10'])} ± ${f(m['recall@10_se'])}` : f(m['recall@10']));
  const rows = report.models.map((m) => [m.name, ...towers.flatMap((t) => [f(m.towers[t].mean), f(m.towers[t].max)]), f(m.reward.mean), recall(m), f(m['ndcg@10'])]);
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)];
  lines.push('', `reward_gain ${(100 * report.reward_gain).toFixed(2)} % (target ≥ +${100 * report.targets.reward_gain} %), relevance_change ${(100 * report.relevance_change).toFixed(2)} % (target within ±${100 * report.targets.relevance_change_within} %)`);
  return lines.join('\n');
}

/** Markdown: per tower, reward-model AUC on held-out days beside the popularity baseline. */
export function rewardTable(r: RewardFitReport): string {
  const lines = ['| tower | AUC (reward model) | AUC (item popularity) | held-out positives / sessions |', '|---|---|---|---|'];
  for (const [t, x] of Object.entries(r.towers)) lines.push(`| ${t} | ${x.auc === null ? '—' : f(x.auc)} | ${x.popularity_auc === null ? '—' : f(x.popularity_auc)} | ${x.test_positives} / ${x.test_sessions} |`);
  return lines.join('\n');
}
