// A seeded synthetic interaction log in the generic import format `onerec prepare` reads (issue 22's scale runs):
//
//   node --import tsx bench/synthetic-log.ts --out=runs/synthetic-1m --interactions=1000000 --items=100000 --users=100000
//   node bin/onerec.mjs prepare --data runs/synthetic-1m --out runs/synthetic-1m-prepared
//
// Writes OUT/interactions.csv (user,item,timestamp,play_time_ms,duration_ms,like; rows grouped by user, chronological)
// and OUT/items.jsonl (one {"item": …} per item, no text: prepare's --content=auto then picks co-occurrence embeddings).
// What makes it realistic enough for the pipeline:
//   - item popularity is Zipf (weight ∝ 1 / rank^zipf over a seeded permutation of the items);
//   - every item belongs to one latent topic, and a session draws most of its items from one of its user's few
//     favourite topics, so co-occurrence has structure for semantic IDs to find;
//   - per-user activity is heavy-tailed (Pareto weights; every user has at least one interaction);
//   - sessions are separated by gaps of hours (beyond prepare's 30-minute session break), items within a session by
//     their play time plus a few seconds; play time is a fraction of the item's duration, likes are rare and follow
//     completed plays.
// Rows are written user by user through a stream with backpressure, so memory holds per-item and per-user arrays only.
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../models/random.ts';
import { parseArgs } from './args.ts';

export const DEFAULT_SYNTHETIC_LOG = {
  out: '', // output folder (created)
  interactions: 1_000_000, // rows of interactions.csv, exactly
  items: 100_000, // catalog size (items.jsonl lists all; some may never be played)
  users: 100_000, // distinct users, exactly (each has ≥ 1 row; needs interactions ≥ users)
  topics: 500, // latent topics the items are split into
  zipf: 1.0, // popularity exponent s: weight of the item of rank r ∝ r^-s
  activityAlpha: 1.5, // Pareto shape of per-user activity (smaller = heavier tail)
  sessionLength: 8, // mean items per session (geometric)
  topicStickiness: 0.8, // chance an item comes from the session's topic rather than global popularity
  days: 14, // span of the log (days)
  seed: 7,
};
export type SyntheticLogOptions = typeof DEFAULT_SYNTHETIC_LOG;

const START_S = 1_700_000_000; // Unix seconds of the log's first possible row

/** Index of the first entry of the ascending `cumulative` greater than `target` (inverse-CDF sampling). */
function sampleCumulative(cumulative: Float64Array, from: number, to: number, target: number): number {
  let lo = from;
  let hi = to - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid] > target) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

async function write(stream: WriteStream, text: string): Promise<void> {
  if (!stream.write(text)) await new Promise<void>((resolve) => stream.once('drain', resolve));
}

async function close(stream: WriteStream): Promise<void> {
  await new Promise<void>((resolve, reject) => stream.end((error?: Error | null) => (error ? reject(error) : resolve())));
}

export async function writeSyntheticLog(options: SyntheticLogOptions): Promise<{ rows: number; users: number; items: number }> {
  const { interactions, items, users, topics } = options;
  if (!options.out) throw new Error('--out is required: the folder to write interactions.csv and items.jsonl into');
  if (interactions < users) throw new Error(`--interactions=${interactions} is below --users=${users}; every user needs at least one row`);
  if (items < 1 || topics < 1) throw new Error('--items and --topics must be at least 1');
  const rng = new Rng(options.seed);

  // Items: a Zipf weight by a seeded popularity rank, a topic, a duration.
  const rank = rng.shuffle(Int32Array.from({ length: items }, (_, i) => i)); // [items] popularity rank of item i
  const topicOf = new Int32Array(items); // [items]
  const durationMs = new Int32Array(items); // [items]
  for (let i = 0; i < items; i++) {
    topicOf[i] = rng.int(topics);
    durationMs[i] = 5_000 + rng.int(115_000);
  }
  // Items sorted by topic; per topic a cumulative weight for sampling within it.
  const byTopic = Int32Array.from({ length: items }, (_, i) => i).sort((a, b) => topicOf[a] - topicOf[b] || a - b); // [items]
  const topicStart = new Int32Array(topics + 1); // [topics + 1] offsets into byTopic
  for (let i = 0; i < items; i++) topicStart[topicOf[i] + 1]++;
  for (let t = 0; t < topics; t++) topicStart[t + 1] += topicStart[t];
  const topicCumulative = new Float64Array(items); // [items] running weight within each topic's run of byTopic
  const topicWeight = new Float64Array(topics); // [topics]
  for (let t = 0; t < topics; t++) {
    let s = 0;
    for (let j = topicStart[t]; j < topicStart[t + 1]; j++) {
      s += (rank[byTopic[j]] + 1) ** -options.zipf;
      topicCumulative[j] = s;
    }
    topicWeight[t] = s;
  }
  const globalCumulative = new Float64Array(items); // [items] running weight over byTopic order (all topics)
  for (let j = 0, s = 0; j < items; j++) globalCumulative[j] = s += (rank[byTopic[j]] + 1) ** -options.zipf;
  const total = globalCumulative[items - 1];
  const topicCumulativeAll = new Float64Array(topics); // [topics]
  for (let t = 0, s = 0; t < topics; t++) topicCumulativeAll[t] = s += topicWeight[t];
  const fromTopic = (t: number): number => {
    if (topicStart[t + 1] === topicStart[t]) return byTopic[sampleCumulative(globalCumulative, 0, items, rng.next() * total)];
    return byTopic[sampleCumulative(topicCumulative, topicStart[t], topicStart[t + 1], rng.next() * topicWeight[t])];
  };

  // Users: Pareto activity weights → exact row counts (1 each, the rest by weight, remainders by weighted draws).
  const weight = new Float64Array(users); // [users]
  let weightSum = 0;
  for (let u = 0; u < users; u++) weightSum += weight[u] = (1 - rng.next()) ** (-1 / options.activityAlpha);
  const rows = new Int32Array(users); // [users] rows per user
  const spare = interactions - users;
  let assigned = 0;
  for (let u = 0; u < users; u++) assigned += rows[u] = 1 + Math.floor((spare * weight[u]) / weightSum);
  const userCumulative = new Float64Array(users); // [users]
  for (let u = 0, s = 0; u < users; u++) userCumulative[u] = s += weight[u];
  for (; assigned < interactions; assigned++) rows[sampleCumulative(userCumulative, 0, users, rng.next() * weightSum)]++;

  mkdirSync(options.out, { recursive: true });
  const catalog = createWriteStream(join(options.out, 'items.jsonl'));
  for (let i = 0; i < items; i += 10_000) {
    let chunk = '';
    for (let j = i; j < Math.min(items, i + 10_000); j++) chunk += `{"item":"i${j}"}\n`;
    await write(catalog, chunk);
  }
  await close(catalog);

  const log = createWriteStream(join(options.out, 'interactions.csv'));
  await write(log, 'user,item,timestamp,play_time_ms,duration_ms,like\n');
  const spanS = options.days * 86_400;
  const favourites = new Int32Array(3);
  let chunk = '';
  for (let u = 0; u < users; u++) {
    const favouriteCount = 1 + rng.int(3);
    for (let f = 0; f < favouriteCount; f++) favourites[f] = sampleCumulative(topicCumulativeAll, 0, topics, rng.next() * topicCumulativeAll[topics - 1]);
    // Sessions spread over the span: the mean gap leaves room for all of this user's sessions.
    const sessions = Math.max(1, Math.round(rows[u] / options.sessionLength));
    const meanGapS = Math.max(3_600, spanS / (sessions + 1));
    let time = START_S + rng.int(Math.max(1, Math.floor(meanGapS)));
    let left = 0;
    let sessionTopic = 0;
    for (let r = 0; r < rows[u]; r++) {
      if (left === 0) {
        if (r > 0) time += 1_800 + Math.floor(-Math.log(1 - rng.next()) * meanGapS); // a new session: ≥ 30 min later
        left = 1 + Math.floor(Math.log(1 - rng.next()) / Math.log(1 - 1 / options.sessionLength)); // geometric, mean sessionLength
        sessionTopic = rng.next() < 0.8 ? favourites[rng.int(favouriteCount)] : rng.int(topics);
      }
      left--;
      const item = rng.next() < options.topicStickiness ? fromTopic(sessionTopic) : byTopic[sampleCumulative(globalCumulative, 0, items, rng.next() * total)];
      const fraction = rng.next() < 0.3 ? 1 : rng.next();
      const play = Math.round(durationMs[item] * fraction);
      const like = fraction === 1 && rng.next() < 0.1 ? 1 : 0;
      chunk += `u${u},i${item},${time},${play},${durationMs[item]},${like}\n`;
      time += Math.ceil(play / 1000) + 1 + rng.int(10);
    }
    if (chunk.length > 1 << 16) {
      await write(log, chunk);
      chunk = '';
    }
  }
  await write(log, chunk);
  await close(log);
  return { rows: interactions, users, items };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const options = parseArgs(DEFAULT_SYNTHETIC_LOG, process.argv.slice(2));
  const t = Date.now();
  const written = await writeSyntheticLog(options);
  console.log(`wrote ${options.out}: ${written.rows} rows, ${written.users} users, ${written.items} items in ${((Date.now() - t) / 1000).toFixed(1)} s`);
}
