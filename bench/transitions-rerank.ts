// What the transition prior adds to a recommend() call: rerankByTransitions (runtime/transitions.ts) on a real table
// (a prepared data folder's training split) at the default workload's shape (beam 32, sessions of 5 items; the prior
// reads the history's last 3 items, so real users' training sequences stand in for the workload's 50-item histories),
// beside the same loop without the prior's lookups (the sort of the beam's scores alone), in one run.
//
//   node --import tsx bench/transitions-rerank.ts --data=runs/beauty --out=bench/results/transitions-rerank.json
import { writeFileSync } from 'node:fs';
import { loadPrepared } from '../models/data/prepared.ts';
import { parseOptions } from '../models/options.ts';
import { seededUniform } from '../models/random.ts';
import { seedDataFromPrepared } from '../models/seed/batches.ts';
import { trainTransitionTable } from '../models/export/transitions-fit.ts';
import { DEFAULT_TRANSITION_PARAMS, rerankByTransitions } from '../runtime/transitions.ts';
import { median } from './stats.ts';

const o = parseOptions(process.argv.slice(2), {
  data: '', // prepared data folder (onerec prepare --out) whose training split the table counts
  calls: 20000, // timed reranks per variant, in rounds of 1,000 alternating the two
  beams: 32, // candidates per call
  sessionLength: 5,
  out: 'bench/results/transitions-rerank.json',
}, 'bench/transitions-rerank.ts --data=PREPARED');
if (!o) process.exit(0);
if (!o.data) throw new Error('give --data=PREPARED');
const data = seedDataFromPrepared(loadPrepared(o.data));
const table = trainTransitionTable(data);
const uniform = seededUniform(3);
const pickItem = () => Math.floor(uniform() * data.itemCount);
// Histories are real users' sequences (so their last items have successors); sessions are random items.
const users = data.sequences.filter((s) => s.length > 3).slice(0, 200);
const calls = Array.from({ length: 1000 }, (_, i) => ({
  history: users[i % users.length].subarray(0, -2),
  sessions: Int32Array.from({ length: o.beams * o.sessionLength }, pickItem),
  logProb: Float64Array.from({ length: o.beams }, (_, b) => -5 - b * 0.1),
}));
const params = { ...DEFAULT_TRANSITION_PARAMS, lambda: 1 };
const timeRound = (fn: (c: (typeof calls)[number]) => void): number => {
  const t = performance.now();
  for (const c of calls) fn(c);
  return (performance.now() - t) / calls.length;
};
const withPrior = (c: (typeof calls)[number]) => rerankByTransitions(table, params, c.history, c.sessions, o.beams, o.sessionLength, c.logProb);
const sortOnly = (c: (typeof calls)[number]) => Array.from({ length: o.beams }, (_, i) => i).sort((a, b) => c.logProb[b] - c.logProb[a] || a - b);
for (let w = 0; w < 3; w++) { timeRound(withPrior); timeRound(sortOnly); }
const a: number[] = [];
const b: number[] = [];
for (let r = 0; r < o.calls / 1000; r++) { a.push(timeRound(withPrior)); b.push(timeRound(sortOnly)); }
const result = {
  command: `node --import tsx bench/transitions-rerank.ts ${process.argv.slice(2).join(' ')}`.trim(),
  node: process.version, data: o.data, items: data.itemCount, pairs: table.pairs, beams: o.beams, sessionLength: o.sessionLength,
  window: params.window, rerank_us_median: median(a) * 1000, sort_only_us_median: median(b) * 1000, rounds: a.length,
};
writeFileSync(o.out, `${JSON.stringify(result, null, 1)}\n`);
console.log(result);
