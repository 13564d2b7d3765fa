// Quality of an exported bundle, measured as the browser runs it: the bundle's ONNX graphs under
// onnxruntime-node, through the runtime's constrained beam search (runtime/beam-search.ts), with the seed
// model's leave-one-out protocol and metric keys (models/seed/metrics.ts, models/seed/generate.ts).
//
//   onerec eval --bundle models/bundles/beauty --data runs/beauty --split test --out runs/beauty/eval-int4
import { Worker } from 'node:worker_threads';
import { beamSearch } from '../../runtime/beam-search.ts';
import { BOS, SPECIAL_TOKENS, encoderTokens } from '../../runtime/tokens.ts';
import { evalExamples, type Example, type SeedData } from '../seed/batches.ts';
import type { SeedConfig } from '../seed/config.ts';
import { RankingAccumulator, rankOf, type RankingMetrics } from '../seed/metrics.ts';
import { seededUniform } from '../random.ts';
import type { LoadedBundle } from './bundle-reader.ts';
import { OnnxSeedModel, type EncoderResult } from './node-session.ts';

export class BundleDataMismatchError extends Error {
  override name = 'BundleDataMismatchError';
}

export interface BundleEvalOptions {
  split: 'validation' | 'test';
  beamWidth: number; // ≥ 20 so that @10 is exact (as the seed report)
  users: number; // evaluate a seeded subset of this many users (0 = all)
  seed: number; // RNG seed of the subset
  excludeHistory: boolean; // never rank an item of the user's own history (the seed report: false)
  renormalize?: boolean; // beam scores renormalised over the trie's allowed children at each level (BeamSearchOptions)
  historyBias?: number[] | null; // [levels] the repeat-awareness layer's β (BeamSearchOptions.historyBias); null = off
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
  msPerUser: number; // wall time per user (encoder + beam search + greedy check), onnxruntime-node CPU, 1 thread per worker
  workers: number;
  diagnostics: RankDiagnostics;
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

/** Unconstrained greedy decode of one item: is the argmax path over the full vocab a catalog item? */
async function greedyIsItem(model: OnnxSeedModel, encoded: EncoderResult, bundle: LoadedBundle): Promise<boolean> {
  const { levels, codebookSize: K } = bundle.trie;
  const V = bundle.manifest.tokens.vocabSize;
  const session = model.decoderSession(encoded);
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

/** One user's evaluation: the target's 0-based rank in the beam (−1 = absent), the beam, the greedy check. */
export interface UserResult {
  rank: number;
  items: Int32Array; // the beam's items, best first
  validGreedy: boolean;
}

export async function evaluateUser(model: OnnxSeedModel, bundle: LoadedBundle, data: SeedData, example: Example, options: BundleEvalOptions): Promise<UserResult> {
  const config = bundle.manifest.model as SeedConfig;
  const history = data.sequences[example.user].subarray(0, example.targetStart);
  const target = data.sequences[example.user][example.targetStart];
  const tokens = encoderTokens(history, data.codes, config.levels, config.codebookSize, config.maxHistory);
  let exclude: Uint8Array | undefined;
  if (options.excludeHistory) {
    exclude = new Uint8Array(data.itemCount);
    for (const item of history) exclude[item] = 1;
  }
  const encoded = await model.encode(tokens);
  const session = model.decoderSession(encoded);
  let result;
  try {
    result = await beamSearch(session, bundle.trie, {
      beamWidth: options.beamWidth, sessionLength: 1, exclude, renormalize: options.renormalize,
      historyBias: options.historyBias ? { bias: options.historyBias, history } : undefined,
    });
  } finally {
    session.dispose?.();
  }
  return { rank: rankOf(result.items, target), items: result.items, validGreedy: await greedyIsItem(model, encoded, bundle) };
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
  const all = evalExamples(data, options.split);
  const examples = sampleExamples(all, options.users, options.seed);
  const acc = new RankingAccumulator();
  const diagnostics = new RankDiagnosticsAccumulator(options.beamWidth);
  const started = performance.now();
  const workers = Math.max(1, Math.min(options.workers ?? 1, examples.length));
  const add = (example: Example, r: UserResult): void => {
    acc.add(r.rank, r.validGreedy);
    diagnostics.add(r.items, r.rank, data.sequences[example.user].subarray(0, example.targetStart));
  };
  if (workers === 1) {
    const model = await OnnxSeedModel.create(config, bundle.files.encoder!, bundle.files.decoderStep!);
    try {
      for (const [i, example] of examples.entries()) {
        add(example, await evaluateUser(model, bundle, data, example, options));
        options.onProgress?.(i + 1, examples.length);
      }
    } finally {
      await model.release();
    }
  } else {
    // Worker w takes examples w, w + workers, …; results are merged in example order, so the sums (and the
    // metrics, to the last bit) are those of one thread.
    const results: UserResult[] = new Array(examples.length);
    let done = 0;
    const { dir } = bundle;
    const { onProgress: _, ...plain } = options;
    await Promise.all(Array.from({ length: workers }, (_, w) => new Promise<void>((resolveWorker, reject) => {
      const shard = examples.filter((_, i) => i % workers === w);
      const worker = new Worker(new URL('./evaluate-worker.mjs', import.meta.url), { workerData: { dir, data, examples: shard, options: plain } });
      let j = 0;
      worker.on('message', (r: UserResult) => {
        results[w + workers * j++] = r;
        options.onProgress?.(++done, examples.length);
      });
      worker.on('error', reject);
      worker.on('exit', (code) => (j === shard.length ? resolveWorker() : reject(new Error(`evaluation worker ${w} exited (code ${code}) after ${j} of ${shard.length} users`))));
    })));
    examples.forEach((example, i) => add(example, results[i]));
  }
  const files = Object.fromEntries(Object.entries(bundle.manifest.files).map(([role, f]) => [role, f!.bytes]));
  return {
    metrics: acc.result(),
    bundle: { name: bundle.manifest.name, quantization: bundle.manifest.quantization, bytes: Object.values(files).reduce((a, b) => a + b, 0), files },
    split: options.split,
    beamWidth: options.beamWidth,
    usersEvaluated: examples.length,
    usersInSplit: all.length,
    msPerUser: (performance.now() - started) / Math.max(1, examples.length),
    workers,
    diagnostics: diagnostics.result(),
  };
}
