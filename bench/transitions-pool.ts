// What the transition prior's extra candidates cost a recommend() call for a session of one item (the next-item use;
// longer sessions get no extras): the same bundle and users with the prior on (the beam, then the table's
// `transitions.candidates` items teacher-forced, then the rerank) and off (`transitions: false`, the beam alone),
// alternating in rounds, in one run. Histories are real validation histories of the prepared data the bundle was
// exported from (their last items have successors, as a user's would).
//
//   node --import tsx bench/transitions-pool.ts --bundle=models/bundles/beauty --data=runs/beauty-plain --out=bench/results/transitions-pool.json
import { writeFileSync } from 'node:fs';
import { loadPrepared } from '../models/data/prepared.ts';
import { parseOptions } from '../models/options.ts';
import { seedDataFromPrepared } from '../models/seed/batches.ts';
import { createNodeRecommender } from '../runtime-node/node-recommender.ts';
import { median, quantile } from './stats.ts';

const o = parseOptions(process.argv.slice(2), {
  bundle: '', // a bundle whose manifest.transitions has candidates > 0
  data: '', // the prepared data it was exported from
  users: 200, // distinct histories, cycled
  rounds: 10, // rounds of `users` calls per variant, alternating
  beamWidth: 0, // 0 = the bundle's default
  out: 'bench/results/transitions-pool.json',
}, 'bench/transitions-pool.ts --bundle=DIR --data=PREPARED');
if (!o) process.exit(0);
if (!o.bundle || !o.data) throw new Error('give --bundle=DIR and --data=PREPARED');
const data = seedDataFromPrepared(loadPrepared(o.data));
const histories = data.sequences.filter((s) => s.length > 3).slice(0, o.users).map((s) => Array.from(s.subarray(0, -2)));
const recommender = createNodeRecommender({ engine: 'auto' });
const info = await recommender.load(o.bundle);
const options = { sessionLength: 1, ...(o.beamWidth > 0 && { beamWidth: o.beamWidth }) };
const round = async (transitions: boolean): Promise<{ total: number[]; search: number[]; pooled: number }> => {
  const total: number[] = [];
  const search: number[] = [];
  let pooled = 0;
  for (const h of histories) {
    const r = await recommender.recommend(h, { ...options, transitions });
    total.push(r.timings.totalMs);
    search.push(r.timings.searchMs);
    if (r.rankedBy === 'transitions') pooled++;
  }
  return { total, search, pooled };
};
await round(true);
await round(false); // warm-up
const on: number[] = [];
const off: number[] = [];
const onSearch: number[] = [];
const offSearch: number[] = [];
for (let r = 0; r < o.rounds; r++) {
  const a = await round(true);
  const b = await round(false);
  on.push(...a.total); onSearch.push(...a.search);
  off.push(...b.total); offSearch.push(...b.search);
}
await recommender.dispose();
const result = {
  command: `node --import tsx bench/transitions-pool.ts ${process.argv.slice(2).join(' ')}`.trim(),
  node: process.version, bundle: o.bundle, decoder: info.decoder, calls_per_variant: on.length, sessionLength: 1,
  prior_on_ms: { p50: median(on), p95: quantile(on, 0.95), search_p50: median(onSearch) },
  prior_off_ms: { p50: median(off), p95: quantile(off, 0.95), search_p50: median(offSearch) },
  ratio_p50: median(on) / median(off),
};
writeFileSync(o.out, `${JSON.stringify(result, null, 1)}\n`);
console.log(result);
