// Quality of an exported bundle, measured as the browser runs it: each user's recommend() on the runtime's Recommender
// in Node (runtime-node/node-recommender.ts) with the runtime's default CPU engine — its wasm kernels, onnxruntime-web's wasm
// backend where they cannot read the graphs (the report's `engine` says which ran) — under the seed model's leave-one-out protocol
// and metric keys (models/seed/metrics.ts, models/seed/generate.ts).
//
//   onerec eval --bundle models/bundles/beauty --data runs/beauty --split test --out runs/beauty/eval-int4
//
// recommend()'s options are all spelled out rather than left to the runtime's defaults, which serve a page, not this
// protocol: one item per session, `beamWidth` beams ranked by log-probability (no reward rerank: the seed model's
// ranking is measured), the history excluded only with `excludeHistory` (the runtime excludes it by default), and the
// repeat-awareness layer exactly when `historyBias` is given.
// The valid-ID rate is the unconstrained greedy decode, which the runtime never runs (its search is held to the trie);
// it reads the full logits of the engine that ran recommend(): the wasm kernels (WasmDecoder's full-logit step), or
// where they cannot read the graphs the graphs under onnxruntime-web's wasm backend (models/onnx-runtime.ts; the same
// greedy tokens as onnxruntime-node's CPU EP, bench/node-ort.ts).
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { DecoderSession } from '../../runtime/beam-search.ts';
import { BOS, SPECIAL_TOKENS, encoderTokens } from '../../runtime/tokens.ts';
import type { LoadInfo, Recommender } from '../../runtime/recommender.ts';
import { createNodeRecommender, createNodeSeedEngine } from '../../runtime-node/node-recommender.ts';
import { evalExamples, type Example, type SeedData } from '../seed/batches.ts';
import type { SeedConfig } from '../seed/config.ts';
import { RankingAccumulator, rankOf, type RankingMetrics } from '../seed/metrics.ts';
import { seededUniform } from '../random.ts';
import { readBundle, type LoadedBundle } from '../../runtime-node/bundle-reader.ts';
import { OnnxSeedModel } from '../../runtime-node/node-session.ts';
import { extraCandidates, TransitionTable, type TransitionParams } from '../../runtime/transitions.ts';
import { EvaluationLeakError } from '../data/errors.ts';

export class BundleDataMismatchError extends Error {
  override name = 'BundleDataMismatchError';
}

export interface BundleEvalOptions {
  split: 'validation' | 'test';
  beamWidth: number; // ≥ 20 so that @10 is exact (as the seed report)
  users: number; // evaluate a seeded subset of this many users (0 = all)
  seed: number; // RNG seed of the subset
  excludeHistory: boolean; // never rank an item of the user's own history (the seed report: false)
  // [levels] the repeat-awareness layer's β (RecommendOptions.historyBias); null = off. β other than the manifest's run as
  // a copy of the bundle with these β in its manifest: the bundle that would ship with them.
  historyBias?: number[] | null;
  transitions?: boolean; // rerank with the bundle's transition prior (recommend()'s option; default true where the bundle has one)
  rankings?: boolean; // also return each user's ranked items and log-probabilities (BundleEvalReport.rankings)
  // With `rankings`: per user also the candidates a transition prior would add (runtime/transitions.ts
  // transitionCandidates, `params.candidates` of them) and their log-probabilities, for fitting the prior's weights
  // (models/export/transitions-fit.ts). `table` is transitions.bin's bytes (a worker gets a copy).
  transitionPool?: { table: Uint8Array; params: Omit<TransitionParams, 'lambda'> };
  workers?: number; // worker threads, each with its own sessions, splitting the users (1 = in this thread); same metrics either way
  onProgress?: (done: number, total: number) => void;
}

export const DEFAULT_BUNDLE_EVAL: BundleEvalOptions = { split: 'test', beamWidth: 20, users: 0, seed: 1, excludeHistory: false };

export interface BundleEvalReport {
  metrics: RankingMetrics; // same keys as the seed model's report
  bundle: { name: string; quantization: string; bytes: number; files: Record<string, number> };
  split: string;
  beamWidth: number;
  usersEvaluated: number;
  usersInSplit: number;
  msPerUser: number; // wall time over users evaluated (recommend() + the greedy check), split over `workers` threads of 1 core each
  workers: number;
  engine: LoadInfo['decoder']; // what ran the seed model in recommend(): 'wasm-simd' (the runtime's kernels) or 'onnx' (onnxruntime-web)
  fallbackReasons: string[]; // LoadInfo.fallbackReasons: why an engine before it did not run
  diagnostics: RankDiagnostics;
  rankings?: (Example & { items: Int32Array; logProb: Float32Array; extra?: UserResult['extra'] })[]; // with options.rankings: each user's example and ranking, in example order
}

/** Where the targets land and what outranks them (the metrics, with NDCG@10's standard error, say how much; these say why). */
export interface RankDiagnostics {
  rank_histogram: number[]; // [beamWidth + 1] users whose target is at 0-based rank r of the beam; the last slot: not in it
  history_items_in_top10: number; // mean count of the user's own history items among the first 10
  top1_in_history: number; // fraction of users whose first item is in their own history
}

/** Accumulates RankDiagnostics from each user's ranked list. */
export class RankDiagnosticsAccumulator {
  private readonly histogram: number[];
  private historyInTop10 = 0;
  private top1History = 0;
  private users = 0;

  constructor(private readonly beamWidth: number) {
    this.histogram = new Array(beamWidth + 1).fill(0);
  }

  add(ranked: ArrayLike<number>, rank: number, history: ArrayLike<number>): void {
    this.users++;
    this.histogram[rank < 0 || rank >= this.beamWidth ? this.beamWidth : rank]++;
    const own = new Set(Array.from(history));
    for (let i = 0; i < Math.min(10, ranked.length); i++) if (own.has(ranked[i])) this.historyInTop10++;
    if (ranked.length > 0 && own.has(ranked[0])) this.top1History++;
  }

  result(): RankDiagnostics {
    const n = Math.max(1, this.users);
    return {
      rank_histogram: [...this.histogram],
      history_items_in_top10: this.historyInTop10 / n,
      top1_in_history: this.top1History / n,
    };
  }
}

/** A seeded subset of `n` examples (all when n = 0 or n ≥ length), in their original order. */
export function sampleExamples(examples: Example[], n: number, seed: number): Example[] {
  if (n <= 0 || n >= examples.length) return examples;
  const uniform = seededUniform(seed);
  const order = examples.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(uniform() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order.slice(0, n).sort((a, b) => a - b).map((i) => examples[i]);
}

/** A seed model that gives one request's DecoderSession with full logits (`step`), for the greedy check. */
interface GreedyModel {
  session(historyTokens: Int32Array): Promise<DecoderSession>;
  release(): Promise<void>;
}

/**
 * The greedy check's model on the engine recommend() ran: the wasm kernels (`info.decoder` 'wasm-simd': no ONNX
 * Runtime session then) or the graphs on ONNX Runtime (onnxruntime-web's wasm backend).
 */
async function greedyModel(bundle: LoadedBundle, info: LoadInfo): Promise<GreedyModel> {
  const { encoder, decoderStep } = bundle.files;
  if (info.decoder === 'wasm-simd') {
    const kernels = await createNodeSeedEngine({ encoder: encoder!, decoderStep: decoderStep! }, bundle.manifest.ensemble?.members ?? [bundle.manifest.model]);
    return { session: async (tokens) => kernels.sessionFromTokens(tokens, 1), release: async () => kernels.dispose() };
  }
  return OnnxSeedModel.create(bundle.manifest.model as SeedConfig, encoder!, decoderStep!);
}

/** Unconstrained greedy decode of one item from the bundle's graphs: is the argmax path over the full vocab a catalog item? */
async function greedyIsItem(graphs: GreedyModel, tokens: Int32Array, bundle: LoadedBundle): Promise<boolean> {
  const { levels, codebookSize: K } = bundle.trie;
  const V = bundle.manifest.tokens.vocabSize;
  const session = await graphs.session(tokens);
  try {
    let node = 0;
    let token = BOS;
    for (let level = 0; level < levels; level++) {
      const logits = await session.step(Int32Array.of(token), Int32Array.of(0)); // [1, vocab]
      let best = 0;
      for (let v = 1; v < V; v++) if (logits[v] > logits[best]) best = v;
      const code = best - SPECIAL_TOKENS - level * K;
      if (code < 0 || code >= K) return false;
      let next = -1;
      for (let e = bundle.trie.childStart[node]; e < bundle.trie.childStart[node + 1]; e++) if (bundle.trie.childCode[e] === code) next = bundle.trie.childNode[e];
      if (next < 0) return false;
      node = next;
      token = best;
    }
    return true;
  } finally {
    session.dispose?.();
  }
}

/** One user's evaluation: the target's 0-based rank in the ranked items (−1 = absent), those items, the greedy check. */
export interface UserResult {
  rank: number;
  items: Int32Array; // [beams] recommend()'s items, best first
  logProb: Float32Array; // [beams] their log-probabilities (with the repeat-awareness layer when it runs)
  validGreedy: boolean;
  extra?: { items: Int32Array; logProb: Float32Array }; // BundleEvalOptions.transitionPool's candidates, the table's order
}

/** What one evaluating thread holds: the runtime's Recommender on the bundle, and its seed model on the same engine for the greedy check. */
export class BundleEvaluator {
  private constructor(
    private readonly recommender: Recommender,
    readonly info: LoadInfo,
    private readonly graphs: GreedyModel,
    private readonly bundle: LoadedBundle,
    private readonly options: BundleEvalOptions,
    private readonly pool: TransitionTable | null,
  ) {}

  /** `dir`: the bundle folder to load, whose manifest holds `options.historyBias` when it is given (evaluateBundle copies one that does not). */
  static async open(dir: string, options: BundleEvalOptions): Promise<BundleEvaluator> {
    const bundle = await readBundle(dir);
    if (options.historyBias && !sameBias(options.historyBias, bundle.manifest.historyBias?.bias)) {
      throw new BundleDataMismatchError(`${dir}: its manifest's historyBias is [${bundle.manifest.historyBias?.bias ?? ''}], not [${options.historyBias}]; evaluateBundle runs other β on a copy`);
    }
    const recommender = createNodeRecommender({ engine: 'auto' });
    try {
      const info = await recommender.load(dir);
      const pool = options.rankings && options.transitionPool ? TransitionTable.decode(options.transitionPool.table, bundle.trie.itemCount, 'transitionPool.table') : null;
      return new BundleEvaluator(recommender, info, await greedyModel(bundle, info), bundle, options, pool);
    } catch (err) {
      await recommender.dispose();
      throw err;
    }
  }

  /** The user of `example`: recommend() on its history (every item before the target), then the greedy check. */
  async user(data: SeedData, example: Example): Promise<UserResult> {
    const config = this.bundle.manifest.model as SeedConfig;
    const history = data.sequences[example.user].subarray(0, example.targetStart);
    const result = await this.recommender.recommend(Array.from(history), {
      sessionLength: 1, beamWidth: this.options.beamWidth, rerank: false,
      excludeHistory: this.options.excludeHistory, historyBias: Boolean(this.options.historyBias), transitions: this.options.transitions ?? true,
    });
    const items = Int32Array.from(result.sessions, (s) => s.items[0]);
    const logProb = Float32Array.from(result.sessions, (s) => s.logProb);
    const tokens = encoderTokens(history, data.codes, config.levels, config.codebookSize, config.maxHistory);
    let extra: UserResult['extra'];
    if (this.pool) {
      // As recommend() pools them (not in the beam, not excluded), scored with the same history bias.
      const inHistory = new Set(history);
      const found = extraCandidates(this.pool, this.options.transitionPool!.params, history, items, this.options.excludeHistory ? (item) => inHistory.has(item) : undefined);
      const scored = found.length > 0 ? await this.recommender.score(Array.from(history), Array.from(found, (i) => [i]), { historyBias: Boolean(this.options.historyBias) }) : null;
      extra = { items: found, logProb: scored?.logProb ?? new Float32Array(0) };
    }
    return { rank: rankOf(items, data.sequences[example.user][example.targetStart]), items, logProb, validGreedy: await greedyIsItem(this.graphs, tokens, this.bundle), ...(extra && { extra }) };
  }

  async close(): Promise<void> {
    await Promise.all([this.recommender.dispose(), this.graphs.release()]);
  }
}

/** What an evaluation worker (evaluate-worker.ts) posts: the load's engine first, then one result per user in order. */
export type WorkerMessage = { loaded: Pick<LoadInfo, 'decoder' | 'fallbackReasons'> } | { user: UserResult };

const sameBias = (a: ArrayLike<number>, b: ArrayLike<number> | undefined): boolean => b !== undefined && a.length === b.length && Array.from(a).every((x, l) => x === b[l]);

/**
 * The folder to load for `bias`: the bundle's own when it has these β (or none is asked for), else a temporary copy with
 * `historyBias: { bias }` in its manifest, removed by `cleanup`.
 */
function bundleWithBias(bundle: LoadedBundle, bias: number[] | null): { dir: string; cleanup: () => void } {
  if (!bias || sameBias(bias, bundle.manifest.historyBias?.bias)) return { dir: bundle.dir, cleanup: () => {} };
  const dir = mkdtempSync(join(tmpdir(), 'onerec-eval-bias-'));
  cpSync(bundle.dir, dir, { recursive: true, dereference: true });
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...manifest, historyBias: { bias } }));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Leave-one-out ranking metrics of a bundle on `data` (the prepared data it was trained on). */
export async function evaluateBundle(bundle: LoadedBundle, data: SeedData, options: BundleEvalOptions = DEFAULT_BUNDLE_EVAL): Promise<BundleEvalReport> {
  const config = bundle.manifest.model as SeedConfig;
  if (data.itemCount !== bundle.trie.itemCount || data.levels !== config.levels || data.codebookSize !== config.codebookSize) {
    throw new BundleDataMismatchError(`${bundle.dir}: the bundle has ${bundle.trie.itemCount} items of ${config.levels} × K ${config.codebookSize} codes, the data ${data.itemCount} of ${data.levels} × K ${data.codebookSize}; evaluate with the prepared data the bundle was exported from`);
  }
  for (let item = 0; item < data.itemCount; item += Math.max(1, Math.floor(data.itemCount / 97))) {
    const a = bundle.trie.itemCodes(item);
    for (let l = 0; l < data.levels; l++) {
      if (a[l] !== data.codes[item * data.levels + l]) throw new BundleDataMismatchError(`${bundle.dir}: item ${item} has codes [${a}] in the bundle's trie but [${data.codes.subarray(item * data.levels, (item + 1) * data.levels)}] in the data; re-export with this data`);
    }
  }
  if (options.split === 'validation' && bundle.manifest.trainedThrough === 'validation') {
    throw new EvaluationLeakError(`${bundle.dir}: its network is a refit (manifest trainedThrough 'validation'): it trained on the validation targets, so --split=validation would rank what it learnt; evaluate --split=test`);
  }
  if (options.split === 'validation' && options.transitions !== false && bundle.manifest.transitions?.through === 'validation') {
    throw new EvaluationLeakError(`${bundle.dir}: its transition table counts the validation split's transitions (manifest transitions.through 'validation'), so a validation target would rank by its own count; evaluate --split=test, pass --transitions=false, or refit the table with onerec transitions --transitionsThrough=train`);
  }
  const all = evalExamples(data, options.split);
  const examples = sampleExamples(all, options.users, options.seed);
  const acc = new RankingAccumulator();
  const diagnostics = new RankDiagnosticsAccumulator(options.beamWidth);
  const started = performance.now();
  const workers = Math.max(1, Math.min(options.workers ?? 1, examples.length));
  const { onProgress, ...plain } = options;
  const source = bundleWithBias(bundle, options.historyBias ?? null);
  const results: UserResult[] = new Array(examples.length);
  let loaded: Pick<LoadInfo, 'decoder' | 'fallbackReasons'> | null = null;
  try {
    if (workers === 1) {
      const evaluator = await BundleEvaluator.open(source.dir, plain);
      loaded = evaluator.info;
      try {
        for (const [i, example] of examples.entries()) {
          results[i] = await evaluator.user(data, example);
          onProgress?.(i + 1, examples.length);
        }
      } finally {
        await evaluator.close();
      }
    } else {
      // Worker w takes examples w, w + workers, …; results are merged in example order, so the sums (and the
      // metrics, to the last bit) are those of one thread.
      let done = 0;
      await Promise.all(Array.from({ length: workers }, (_, w) => new Promise<void>((resolveWorker, reject) => {
        const shard = examples.filter((_, i) => i % workers === w);
        const worker = new Worker(new URL('./evaluate-worker.mjs', import.meta.url), { workerData: { dir: source.dir, data, examples: shard, options: plain } });
        let j = 0;
        worker.on('message', (message: WorkerMessage) => {
          if ('loaded' in message) {
            loaded ??= message.loaded;
            return;
          }
          results[w + workers * j++] = message.user;
          onProgress?.(++done, examples.length);
        });
        worker.on('error', reject);
        worker.on('exit', (code) => (j === shard.length ? resolveWorker() : reject(new Error(`evaluation worker ${w} exited (code ${code}) after ${j} of ${shard.length} users`))));
      })));
    }
  } finally {
    source.cleanup();
  }
  examples.forEach((example, i) => {
    acc.add(results[i].rank, results[i].validGreedy);
    diagnostics.add(results[i].items, results[i].rank, data.sequences[example.user].subarray(0, example.targetStart));
  });
  const files = Object.fromEntries(Object.entries(bundle.manifest.files).map(([role, f]) => [role, f!.bytes]));
  const ran = loaded as Pick<LoadInfo, 'decoder' | 'fallbackReasons'> | null;
  return {
    metrics: acc.result(),
    bundle: { name: bundle.manifest.name, quantization: bundle.manifest.quantization, bytes: Object.values(files).reduce((a, b) => a + b, 0), files },
    split: options.split,
    beamWidth: options.beamWidth,
    usersEvaluated: examples.length,
    usersInSplit: all.length,
    msPerUser: (performance.now() - started) / Math.max(1, examples.length),
    workers,
    engine: ran?.decoder ?? 'onnx',
    fallbackReasons: ran?.fallbackReasons ?? [],
    diagnostics: diagnostics.result(),
    ...(options.rankings && { rankings: examples.map((ex, i) => ({ ...ex, items: results[i].items, logProb: results[i].logProb, ...(results[i].extra && { extra: results[i].extra }) })) }),
  };
}
