// What one more transition per user is worth to the transition prior (runtime/transitions.ts), measured on the
// validation split only: the table counted on each user's training sequence without its last pair ("short") against
// the full training sequence ("full"). The full table is to validation what a table counted through the validation
// split is to test (each user's most recent pair added, its target never counted), so the difference estimates what
// counting the validation pairs would give the test ranking, with no look at test.
//
// Controls: the table without each user's oldest pair, and without one pair at random, tell recency from quantity.
//
// Ranking: the table's own top 10 after each validation user's history (transitionCandidates, the user's history
// left out), NDCG@10 and recall@10 against the validation target; paired standard error of the difference.
//
// With --bundle=DIR --bundles=OUT, also writes OUT/short and OUT/full: copies of the bundle with each table as its
// transitions.bin (λ, η and the rest of the manifest unchanged), for `onerec eval --bundle … --split validation`.
//
//   node --import tsx bench/transitions-recency.ts --data=runs/beauty-plain [--out=bench/results/transitions-recency-beauty.json]
import { createHash } from 'node:crypto';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPrepared } from '../models/data/prepared.ts';
import { seedDataFromPrepared } from '../models/seed/batches.ts';
import { ndcgGain } from '../models/seed/metrics.ts';
import { DEFAULT_TRANSITION_PARAMS, TransitionTable, transitionCandidates } from '../runtime/transitions.ts';
import { parseOptions } from '../models/options.ts';
import { Rng } from '../models/random.ts';

const o = parseOptions(process.argv.slice(2), { data: '', out: '', bundle: '', bundles: '' }, 'node --import tsx bench/transitions-recency.ts --data=PREPARED [--out=FILE] [--bundle=DIR --bundles=OUT]', { required: ['data'] });
if (o) {
  const data = seedDataFromPrepared(loadPrepared(o.data));
  const users = data.sequences.filter((s) => s.length >= 4);
  const short = TransitionTable.build(users.map((s) => s.subarray(0, s.length - 3)), data.itemCount);
  const full = TransitionTable.build(users.map((s) => s.subarray(0, s.length - 2)), data.itemCount);
  const scores = (table: TransitionTable): { ndcg: Float64Array; hit: Float64Array } => {
    const ndcg = new Float64Array(users.length);
    const hit = new Float64Array(users.length);
    users.forEach((seq, u) => {
      const history = seq.subarray(0, seq.length - 2);
      const target = seq[seq.length - 2];
      const seen = new Set(history);
      const top = transitionCandidates(table, DEFAULT_TRANSITION_PARAMS, history, 10, (item) => seen.has(item));
      const rank = top.indexOf(target);
      if (rank >= 0) {
        ndcg[u] = ndcgGain(rank);
        hit[u] = 1;
      }
    });
    return { ndcg, hit };
  };
  const a = scores(short);
  const b = scores(full);
  // Controls: one pair fewer per user, but not the last: the oldest, or one at random (the sequence split there).
  const rng = new Rng(5);
  const oldest = TransitionTable.build(users.map((s) => s.subarray(1, s.length - 2)), data.itemCount);
  const random = TransitionTable.build(users.flatMap((s) => {
    const train = s.subarray(0, s.length - 2);
    const p = rng.int(train.length - 1); // the pair (p → p + 1) is dropped
    return [train.subarray(0, p + 1), train.subarray(p + 1)];
  }), data.itemCount);
  const mean = (x: Float64Array): number => x.reduce((s, v) => s + v, 0) / x.length;
  const pairedSe = (x: Float64Array, y: Float64Array): number => {
    const d = x.map((v, i) => v - y[i]);
    const m = mean(d);
    return Math.sqrt(d.reduce((s, v) => s + (v - m) ** 2, 0) / (d.length - 1) / d.length);
  };
  const result = {
    data: o.data, users: users.length, split: 'validation', test_looks: 0,
    pairs: { short: short.pairs, full: full.pairs },
    short: { 'ndcg@10': mean(a.ndcg), 'recall@10': mean(a.hit) },
    without_oldest_pair: { 'ndcg@10': mean(scores(oldest).ndcg) },
    without_a_random_pair: { 'ndcg@10': mean(scores(random).ndcg) },
    // Each user's last m training pairs counted twice (the full table otherwise): a weight on recency.
    last_pairs_twice: [1, 2, 3].map((m) => ({ m, 'ndcg@10': mean(scores(TransitionTable.build(users.flatMap((s) => [s.subarray(0, s.length - 2), s.subarray(Math.max(0, s.length - 3 - m), s.length - 2)]), data.itemCount)).ndcg) })),
    full: { 'ndcg@10': mean(b.ndcg), 'recall@10': mean(b.hit) },
    'ndcg@10_gain': mean(b.ndcg) / mean(a.ndcg) - 1,
    'ndcg@10_diff_se': pairedSe(b.ndcg, a.ndcg),
    'recall@10_gain': mean(b.hit) / mean(a.hit) - 1,
  };
  console.log(JSON.stringify(result, null, 1));
  if (o.bundle && o.bundles) {
    for (const [name, table] of [['short', short], ['full', full]] as const) {
      const dir = join(o.bundles, name);
      cpSync(o.bundle, dir, { recursive: true });
      const bytes = table.encode();
      writeFileSync(join(dir, 'transitions.bin'), bytes);
      const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
      manifest.files.transitions = { ...manifest.files.transitions, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
      writeFileSync(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    }
  }
  if (o.out) writeFileSync(o.out, `${JSON.stringify(result, null, 1)}\n`);
}
