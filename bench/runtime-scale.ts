// The runtime at 1 M items (issue 22 item 3): the same network over a 12 k and a 1 M item catalog, each bundle loaded
// by the worker recommender in headless Chromium, in one run — load over the network, load from IndexedDB (a new page
// and worker, the cache warm) split into its parts, recommend() latency, and the worker's memory.
//
//   node --import tsx bench/runtime-scale.ts --items=12000,1000000 --out=bench/results/scale.json
//
// The network load takes load()'s defaults (device and engine 'auto': "auto" in the JSON says what they ran on; in this
// headless Chromium without a GPU, the wasm kernels); the IndexedDB load and the calls name device 'wasm'.
// Bundles: the default seed config's graphs at int4 with seeded random weights (the same bytes at every size), items
// with seeded random semantic IDs (bench/synthetic-items.ts) and decimal ids 10,000,000 + 7 i (items.bin, 5 bytes per
// item; no display catalog), written once to .work/runtime-scale/ (--rebuild=1 writes them again). Per round and size, in a
// fresh browser context (empty IndexedDB): load() over the network; then the page reloaded and a new worker's load()
// from IndexedDB, with LoadInfo.timings (IndexedDB read, sha256, items.bin decoding, trie build, runner); then --calls
// recommend() calls (after --warmup) on seeded histories of --history external ids, timed on the page. Sizes alternate
// within a round and --rounds rounds run, so both sizes see the machine's load alike; p50/p95 pool the rounds' calls.
// Memory: the renderer's RSS (tests/browser/harness.ts, per-process accounting; the dedicated worker lives in its
// page's renderer) before the worker starts, after load() and after the calls, and the worker's own JS memory from
// performance.measureUserAgentSpecificMemory() (cross-origin isolated; Chromium measures eagerly with
// ForceEagerMeasureMemory). sessions_sha256: a digest of every call's sessions (item indices, ids, log-probabilities),
// equal between runtime versions when their outputs are identical.
// --out merges { runtime: … } into the JSON file, keeping its other keys.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { execSync } from 'node:child_process';
import { exportBundle } from '../models/export/bundle-writer.ts';
import { DEFAULT_SEED_CONFIG, type SeedConfig } from '../models/seed/config.ts';
import { initSeedWeights } from '../models/seed/reference.ts';
import { SemanticIdTrie } from '../runtime/semantic-id-trie.ts';
import type { LoadTimings, RecommendOptions } from '../runtime/recommender.ts';
import { openHarness } from '../tests/browser/harness.ts';
import { parseArgs } from './args.ts';
import { syntheticCodes } from './synthetic-items.ts';
import { median, percentile } from './stats.ts';

const o = parseArgs({
  items: '12000,1000000', // item counts; the first is the baseline the others are compared with
  calls: 50, // timed recommend() calls per size and round
  warmup: 5, // untimed calls first
  rounds: 2, // every size once per round, in order
  history: 50, // history items per call (external ids)
  sessionLength: 5, // items per generated session (bench/recommend.ts's workload)
  beamWidth: 32,
  quantization: 'int4',
  seed: 7,
  rebuild: 0, // 1: write the bundles again even when .work/runtime-scale/ has them
  out: '',
}, process.argv.slice(2));
const sizes = o.items.split(',').map(Number);
const config: SeedConfig = { ...DEFAULT_SEED_CONFIG, sessionLength: o.sessionLength, dropout: 0 };
const root = resolve('.work/runtime-scale');
/** Item i's external id: decimal, not its index (so the runtime's id table is measured, not its shortcut for ids 0 … n − 1). */
const externalId = (item: number): string => String(10_000_000 + 7 * item);

/** The bundle of `items` items under root/<items>/ (kept between runs: the 1 M one takes a while to write). */
async function bundleFor(items: number): Promise<string> {
  const dir = join(root, String(items));
  const stamp = JSON.stringify({ items, seed: o.seed, quantization: o.quantization, config, ids: externalId(1) });
  if (!o.rebuild && existsSync(join(dir, 'stamp.json')) && readFileSync(join(dir, 'stamp.json'), 'utf8') === stamp) return dir;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const codes = syntheticCodes(items, config.levels, config.codebookSize, o.seed);
  const trie = SemanticIdTrie.build(codes, config.levels, config.codebookSize);
  const catalog = Array.from({ length: items }, (_, i) => ({ id: externalId(i) })); // ids only: no display catalog
  await exportBundle({ weights: initSeedWeights(config, o.seed), config, trie, catalog, quantization: o.quantization as 'int4', outDir: dir, name: `scale-${items}`, beamWidth: o.beamWidth });
  writeFileSync(join(dir, 'stamp.json'), stamp);
  return dir;
}

/** Seeded histories of external ids (LCG, as bench/recommend.ts; the same draws at every size, modulo the items). */
function histories(count: number, length: number, items: number): string[][] {
  let state = 12345;
  const next = (): string => externalId((state = (Math.imul(state, 1103515245) + 12345) >>> 0) % items);
  return Array.from({ length: count }, () => Array.from({ length }, next));
}

const round = (x: number, digits = 1): number => Number(x.toFixed(digits));
const MiB = 2 ** 20;

interface SizeRun {
  networkLoadMs: number; // page-side wall time of load() with an empty cache
  networkTimings: LoadTimings;
  cachedLoadMs: number; // page-side wall time of load() from IndexedDB, a new worker
  cachedWorkerLoadMs: number; // LoadInfo.loadMs (the worker's)
  cachedTimings: LoadTimings;
  firstCallMs: number;
  callMs: number[];
  rss: { beforeWorker: number; afterLoad: number; afterCalls: number }; // renderer RSS, bytes
  workerJs: { afterLoad: number; afterCalls: number }; // measureUserAgentSpecificMemory, the worker's bytes
  sessions: string; // JSON of every timed call's sessions
}

const dirs = new Map<number, string>();
for (const items of sizes) {
  const t = performance.now();
  dirs.set(items, await bundleFor(items));
  console.log(`bundle ${items}: ${dirs.get(items)} (${round((performance.now() - t) / 1000)} s)`);
}

const harness = await openHarness(root, { args: ['--enable-blink-features=ForceEagerMeasureMemory'] });
let autoChoice: { decoder: string; fallbackReasons: string[] } | null = null; // what load()'s defaults ran on
const runs = new Map<number, SizeRun[]>(sizes.map((n) => [n, []]));
const options: RecommendOptions = { sessionLength: o.sessionLength, beamWidth: o.beamWidth, candidates: o.beamWidth };
const loadBefore = loadavg()[0];
try {
  if (!(await harness.page.evaluate(() => crossOriginIsolated))) throw new Error('the bench page is not cross-origin isolated: measureUserAgentSpecificMemory needs it');
  for (let r = 0; r < o.rounds; r++) {
    for (const items of sizes) {
      const url = `${harness.server.url}bundles/test/${items}/manifest.json`;
      const page = await harness.newPage(); // fresh context: empty IndexedDB
      const network = await page.evaluate(async ({ url }) => {
        const t0 = performance.now();
        const recommender = window.onerec.createWorkerRecommender();
        const info = await recommender.load(url); // the defaults: device and engine 'auto'
        const ms = performance.now() - t0;
        await recommender.dispose();
        return { ms, timings: info.timings, fromNetwork: info.fromNetwork, items: info.items, decoder: info.decoder, fallbackReasons: info.fallbackReasons };
      }, { url });
      if (network.items !== items || !network.fromNetwork.includes('items')) throw new Error(`unexpected network load: ${JSON.stringify(network)}`);
      autoChoice = { decoder: network.decoder, fallbackReasons: network.fallbackReasons };
      await page.reload(); // same context: the bundle is in IndexedDB now
      await page.waitForFunction(() => 'onerec' in window);
      await new Promise((ok) => setTimeout(ok, 500)); // let the reload's allocations settle before the baseline RSS
      const measureWorker = (): Promise<number> => page.evaluate(async () => {
        const memory = await (performance as unknown as { measureUserAgentSpecificMemory(): Promise<{ breakdown: { bytes: number; attribution: { scope: string }[] }[] }> }).measureUserAgentSpecificMemory();
        return memory.breakdown.filter((b) => b.attribution.some((a) => a.scope === 'DedicatedWorkerGlobalScope')).reduce((sum, b) => sum + b.bytes, 0);
      });
      await measureWorker(); // the page's garbage collected before the baseline
      const beforeWorker = harness.rss().renderer;
      const cached = await page.evaluate(async ({ url }) => {
        const t0 = performance.now();
        const recommender = window.onerec.createWorkerRecommender();
        window.onerec.recommender = recommender;
        const info = await recommender.load(url, { device: 'wasm', threads: 1 });
        return { ms: performance.now() - t0, loadMs: info.loadMs, timings: info.timings, fromNetwork: info.fromNetwork, items: info.items };
      }, { url });
      if (cached.fromNetwork.length > 0 || cached.items !== items) throw new Error(`the reload fetched ${cached.fromNetwork.join(', ')} instead of reading IndexedDB`);
      const workerAfterLoad = await measureWorker(); // collects garbage first (ForceEagerMeasureMemory)
      const afterLoad = harness.rss().renderer;
      const hs = histories(o.calls + o.warmup + 1, o.history, items);
      const calls = await page.evaluate(async ({ hs, options, warmup }) => {
        const recommender = window.onerec.recommender!;
        const t0 = performance.now();
        await recommender.recommend(hs[0], options);
        const firstMs = performance.now() - t0;
        for (let i = 1; i <= warmup; i++) await recommender.recommend(hs[i], options);
        const ms: number[] = [];
        const sessions: unknown[] = [];
        for (const h of hs.slice(warmup + 1)) {
          const t = performance.now();
          const result = await recommender.recommend(h, options);
          ms.push(performance.now() - t);
          sessions.push(result.sessions.map((s) => [Array.from(s.items), s.ids, s.logProb]));
        }
        return { firstMs, ms, sessions: JSON.stringify(sessions) };
      }, { hs, options, warmup: o.warmup });
      const workerAfterCalls = await measureWorker();
      const afterCalls = harness.rss().renderer;
      await page.evaluate(() => window.onerec.recommender!.dispose());
      await page.context().close();
      const run: SizeRun = {
        networkLoadMs: network.ms, networkTimings: network.timings, cachedLoadMs: cached.ms, cachedWorkerLoadMs: cached.loadMs, cachedTimings: cached.timings,
        firstCallMs: calls.firstMs, callMs: calls.ms, rss: { beforeWorker, afterLoad, afterCalls }, workerJs: { afterLoad: workerAfterLoad, afterCalls: workerAfterCalls }, sessions: calls.sessions,
      };
      runs.get(items)!.push(run);
      const sorted = [...calls.ms].sort((a, b) => a - b);
      console.log(`round ${r} ${items} items: network load ${round(network.ms)} ms, IndexedDB load ${round(cached.ms)} ms ${JSON.stringify(Object.fromEntries(Object.entries(cached.timings).map(([k, v]) => [k, round(v as number)])))}, recommend p50 ${round(percentile(sorted, 0.5), 2)} ms, RSS +${round((afterLoad - beforeWorker) / MiB)} / +${round((afterCalls - beforeWorker) / MiB)} MiB, worker JS ${round(workerAfterLoad / MiB)} / ${round(workerAfterCalls / MiB)} MiB`);
    }
  }
} finally {
  await harness.close();
}

const summary = sizes.map((items) => {
  const rs = runs.get(items)!;
  const ms = rs.flatMap((run) => run.callMs).sort((a, b) => a - b);
  const digest = new Set(rs.map((run) => createHash('sha256').update(run.sessions).digest('hex')));
  if (digest.size !== 1) throw new Error(`${items} items: the rounds' sessions differ`);
  const timingsMedian = (pick: (run: SizeRun) => LoadTimings): Record<string, number> =>
    Object.fromEntries(Object.keys(pick(rs[0])).map((k) => [k, round(median(rs.map((run) => pick(run)[k as keyof LoadTimings] ?? 0)))]));
  const rss = (key: 'afterLoad' | 'afterCalls'): number => round(median(rs.map((run) => (run.rss[key] - run.rss.beforeWorker) / MiB)));
  return {
    items,
    bundle_bytes: Object.values(JSON.parse(readFileSync(join(dirs.get(items)!, 'manifest.json'), 'utf8')).files as Record<string, { bytes: number }>).reduce((s, f) => s + f.bytes, 0),
    network_load_ms: round(median(rs.map((run) => run.networkLoadMs))),
    network_load_timings_ms: timingsMedian((run) => run.networkTimings),
    indexeddb_load_ms: round(median(rs.map((run) => run.cachedLoadMs))),
    indexeddb_load_ms_in_worker: round(median(rs.map((run) => run.cachedWorkerLoadMs))),
    indexeddb_load_timings_ms: timingsMedian((run) => run.cachedTimings),
    first_recommend_ms: round(median(rs.map((run) => run.firstCallMs))),
    recommend: { p50_ms: round(percentile(ms, 0.5), 2), p95_ms: round(percentile(ms, 0.95), 2), calls: ms.length },
    renderer_rss_growth_mib: { after_load: rss('afterLoad'), after_calls: rss('afterCalls') },
    worker_js_mib: { after_load: round(median(rs.map((run) => run.workerJs.afterLoad / MiB))), after_calls: round(median(rs.map((run) => run.workerJs.afterCalls / MiB))) },
    sessions_sha256: [...digest][0],
    rounds: rs.map((run) => ({ network_load_ms: round(run.networkLoadMs), indexeddb_load_ms: round(run.cachedLoadMs), recommend_p50_ms: round(percentile([...run.callMs].sort((a, b) => a - b), 0.5), 2), rss_growth_mib: round((run.rss.afterCalls - run.rss.beforeWorker) / MiB) })),
  };
});
const [base, ...rest] = summary;
const comparisons = rest.map((s) => ({
  items: s.items,
  against: base.items,
  recommend_p50_ratio: round(s.recommend.p50_ms / base.recommend.p50_ms, 3),
  renderer_rss_mib_above: { after_load: round(s.renderer_rss_growth_mib.after_load - base.renderer_rss_growth_mib.after_load), after_calls: round(s.renderer_rss_growth_mib.after_calls - base.renderer_rss_growth_mib.after_calls) },
  worker_js_mib_above: { after_load: round(s.worker_js_mib.after_load - base.worker_js_mib.after_load), after_calls: round(s.worker_js_mib.after_calls - base.worker_js_mib.after_calls) },
  targets: { indexeddb_load_le_1500_ms: s.indexeddb_load_ms <= 1500, recommend_p50_within_1_2x: s.recommend.p50_ms <= 1.2 * base.recommend.p50_ms, memory_le_100_mib_above: s.renderer_rss_growth_mib.after_calls - base.renderer_rss_growth_mib.after_calls <= 100 },
}));
const result = {
  command: `node --import tsx bench/runtime-scale.ts ${process.argv.slice(2).join(' ')}`.trim(),
  date: new Date().toISOString(),
  commit: execSync('git rev-parse --short HEAD').toString().trim(),
  machine: `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), shared with other jobs; load average ${round(loadBefore)} before, ${round(loadavg()[0])} after; Chromium ${harness.browser.version()} headless, worker recommender, device wasm (the runtime's wasm SIMD kernels), 1 thread`,
  auto: { ...autoChoice, note: 'the network load runs on load()\'s defaults (device and engine \'auto\'); the IndexedDB load and the calls name device \'wasm\'' },
  workload: { history: o.history, sessionLength: o.sessionLength, beamWidth: o.beamWidth, candidates: o.beamWidth, excludeHistory: true, calls_per_round: o.calls, warmup: o.warmup, rounds: o.rounds },
  data: `seeded semantic IDs ${config.levels} levels × K ${config.codebookSize} (bench/synthetic-items.ts, seed ${o.seed}), ids 10,000,000 + 7 × item index (decimal, 1 byte each in items.bin), no display catalog; graphs: the default seed config (sessionLength ${o.sessionLength}), seeded random weights, ${o.quantization}`,
  memory: 'renderer_rss_growth_mib: RSS of the renderer (tests/browser/harness.ts) after load() / after the calls, less before the worker started; worker_js_mib: performance.measureUserAgentSpecificMemory(), the DedicatedWorkerGlobalScope entries; medians of the rounds',
  sizes: summary,
  comparisons,
};
console.log(JSON.stringify(comparisons, null, 2));
if (o.out) {
  const previous = existsSync(o.out) ? JSON.parse(readFileSync(o.out, 'utf8')) : {};
  mkdirSync(join(o.out, '..'), { recursive: true });
  writeFileSync(o.out, `${JSON.stringify({ ...previous, runtime: result }, null, 2)}\n`);
  console.log(`wrote ${o.out} (runtime)`);
}
