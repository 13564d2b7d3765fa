// Whole epochs of onerec train's and onerec baseline's training batches on prepared data (issue 22, "training at
// scale"), built the way the trainers did before (one { user, targetStart } object per seed example, two [L] arrays
// per SASRec window, a fresh 0 … n − 1 order shuffled each epoch) and the way they do now (one Int32Array of flat
// rows, refilled and shuffled in place each epoch, tensors written straight from it). Each variant runs in its own
// Node process, so heap and RSS are its own; no GPU is involved (the batches are built, not trained on).
//
//   node --import tsx bench/synthetic-log.ts --out=runs/synthetic-1m --interactions=1000000 --items=100000 --users=100000
//   node bin/onerec.mjs prepare --data=runs/synthetic-1m --out=runs/synthetic-1m-prepared --semanticIds=balanced --baseline=false --content=random --maxIterations=10
//   node --import tsx bench/train-batches.ts --data=runs/synthetic-1m-prepared --out=bench/results/train-batches.json
//   node --import tsx bench/train-batches.ts --data=runs/synthetic-1m-prepared --tile=10 --out=bench/results/train-batches-tile10.json
//
// Per trainer and variant: seconds to build the examples, the bytes they keep (heap + array buffers after a full GC,
// over what the loaded data already held), seconds per epoch of shuffle + batches and the examples/s that makes, peak
// RSS, and a hash of every batch tensor of every epoch: before and after must hash the same.
// --tile=N repeats every user N times (the prepared rows written N times over) to reach a larger log than prepare can make
// here; both variants load the same tiled rows.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { baselineData, trainingWindows, windowBatch } from '../models/baseline/train.ts';
import { loadPrepared, type PreparedData } from '../models/data/prepared.ts';
import { Rng } from '../models/random.ts';
import { seedDataFromPrepared, trainBatch, trainExamples, type Batch, type Example, type SeedData } from '../models/seed/batches.ts';
import { BOS, encoderTokens, tokenId } from '../runtime/tokens.ts';
import { parseArgs } from './args.ts';

export const DEFAULT_TRAIN_BATCHES = {
  data: '', // a prepared folder (onerec prepare) with a leave-one-out split
  out: '', // JSON results file ('' = print only)
  trainers: 'seed,baseline', // which trainers' batches to build
  tile: 1, // every user repeated this many times (a log this many times larger, same users' rows)
  epochs: 3, // timed epochs per variant (then the same epochs again, hashed)
  batchSize: 256, // onerec train's default
  trainWindow: 2, // onerec train's default: target windows of 2 items
  maxHistory: 20, // onerec train's default
  baselineBatchSize: 128, // onerec baseline's default
  maxLength: 0, // onerec baseline's default: from the data (autoMaxLength)
  seed: 42,
  variant: '', // internal: 'before' | 'after' runs one variant of `trainers` (one trainer) in this process
};
type Options = typeof DEFAULT_TRAIN_BATCHES;

// ---- Before: the trainers' example and batch code until the flat rows (also the tests' reference) ----

/** onerec train's examples before: one object per training position. */
export function referenceExamples(data: SeedData, window: number): Example[] {
  const out: Example[] = [];
  data.sequences.forEach((seq, user) => {
    const lastTrain = seq.length - 3;
    for (let t = 1; t + window - 1 <= lastTrain; t++) out.push({ user, targetStart: t });
  });
  return out;
}

/** makeBatch before: encoderTokens' fresh array per example, copied into the batch. */
export function referenceBatch(data: SeedData, examples: readonly Example[], maxHistory: number, window: number): Batch {
  const { levels, codebookSize: K, codes } = data;
  const B = examples.length;
  const S = maxHistory * levels;
  const T = window * (levels + 1);
  const enc = new Int32Array(B * S);
  const dec = new Int32Array(B * T);
  const targets = new Int32Array(B * T).fill(-1);
  const targetItems = new Int32Array(B * window);
  examples.forEach((ex, b) => {
    const seq = data.sequences[ex.user];
    enc.set(encoderTokens(seq.subarray(0, ex.targetStart), codes, levels, K, maxHistory), b * S);
    for (let i = 0; i < window; i++) {
      const item = seq[ex.targetStart + i];
      targetItems[b * window + i] = item;
      dec[b * T + i * (levels + 1)] = BOS;
      for (let l = 0; l < levels; l++) dec[b * T + i * (levels + 1) + 1 + l] = tokenId(l, codes[item * levels + l], K);
    }
    for (let p = 0; p + 1 < T; p++) {
      const next = dec[b * T + p + 1];
      if (next !== BOS) targets[b * T + p] = next;
    }
  });
  return { size: B, encoderTokens: enc, decoderTokens: dec, targets, targetItems };
}

/** onerec baseline's windows before: two fresh [L] arrays per window, catalog index + 1, left-padded. */
export function referenceWindows(train: readonly Int32Array[], L: number): { inputs: Int32Array; targets: Int32Array }[] {
  const out: { inputs: Int32Array; targets: Int32Array }[] = [];
  for (const seq of train) {
    for (let end = seq.length - 1; end > 0; end -= L) {
      const start = Math.max(0, end - L);
      const inputs = new Int32Array(L);
      const targets = new Int32Array(L);
      const n = end - start;
      for (let i = 0; i < n; i++) {
        inputs[L - n + i] = seq[start + i] + 1;
        targets[L - n + i] = seq[start + i + 1] + 1;
      }
      out.push({ inputs, targets });
    }
  }
  return out;
}

// ---- One variant in this process ----

const gc = (): void => (globalThis as { gc?: () => void }).gc!();
/** Bytes the process holds in JS objects and typed arrays' buffers, after full GCs (a freed buffer's bytes leave the count a tick later). */
async function heldBytes(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}
const mb = (bytes: number): number => Math.round(bytes / 1e4) / 100;
const seconds = (from: number): number => Math.round((performance.now() - from) / 1e3 * 1000) / 1000;

/** FNV-1a over int32 values, chained: one hash of a whole stream of batches. */
function hashInts(h: number, values: Int32Array): number {
  for (let i = 0; i < values.length; i++) h = Math.imul(h ^ values[i], 0x01000193) >>> 0;
  return h;
}

interface Stream {
  count: number; // examples (seed) or windows (baseline) per epoch
  arrayBytes?: number; // after: the bytes of the typed arrays the examples own (a view of the prepared rows owns none)
  build(): void;
  epoch(rng: Rng, visit: (tensors: Int32Array[]) => void): void; // shuffle, then every batch
}

function seedStream(o: Options, data: SeedData, variant: string): Stream {
  const { trainWindow: window, maxHistory, batchSize: B } = o;
  if (variant === 'before') {
    let examples: Example[] = [];
    return {
      get count() { return examples.length; },
      build() { examples = referenceExamples(data, window); },
      epoch(rng, visit) {
        const order = Int32Array.from(examples.keys()); // [examples]
        rng.shuffle(order);
        for (let s = 0; s * B < order.length; s++) {
          const chunk = Array.from(order.subarray(s * B, (s + 1) * B), (i) => examples[i]);
          const batch = referenceBatch(data, chunk, maxHistory, window);
          visit([batch.encoderTokens, batch.decoderTokens, batch.targets, batch.targetItems]);
        }
      },
    };
  }
  let examples: ReturnType<typeof trainExamples> | null = null;
  return {
    get count() { return examples?.rows.length ?? 0; },
    get arrayBytes() { return examples ? examples.rows.byteLength + examples.userOffsets.byteLength + (examples.item.buffer === data.sequences[0].buffer ? 0 : examples.item.byteLength) : 0; },
    build() { examples = trainExamples(data, window); },
    epoch(rng, visit) {
      const e = trainExamples(data, window, examples!);
      rng.shuffle(e.rows);
      for (let s = 0; s * B < e.rows.length; s++) {
        const batch = trainBatch(data, e, e.rows.subarray(s * B, (s + 1) * B), maxHistory, window);
        visit([batch.encoderTokens, batch.decoderTokens, batch.targets, batch.targetItems]);
      }
    },
  };
}

function baselineStream(o: Options, train: Int32Array[], L: number, variant: string): Stream {
  const B = o.baselineBatchSize;
  if (variant === 'before') {
    let windows: ReturnType<typeof referenceWindows> = [];
    return {
      get count() { return windows.length; },
      build() { windows = referenceWindows(train, L); },
      epoch(rng, visit) {
        const order = Int32Array.from(windows.keys());
        rng.shuffle(order);
        for (let s = 0; s * B < order.length; s++) {
          const chunk = order.subarray(s * B, (s + 1) * B);
          const inputs = new Int32Array(chunk.length * L);
          const labels = new Int32Array(chunk.length * L);
          chunk.forEach((w, b) => { inputs.set(windows[w].inputs, b * L); labels.set(windows[w].targets, b * L); });
          visit([inputs, labels]);
        }
      },
    };
  }
  let windows: ReturnType<typeof trainingWindows> | null = null;
  return {
    get count() { return windows?.ends.length ?? 0; },
    get arrayBytes() { return windows ? windows.ends.byteLength + windows.offsets.byteLength : 0; },
    build() { windows = trainingWindows(train, L); },
    epoch(rng, visit) {
      const w = trainingWindows(train, L, windows!);
      rng.shuffle(w.ends);
      for (let s = 0; s * B < w.ends.length; s++) {
        const { inputs, targets } = windowBatch(train, w, w.ends.subarray(s * B, (s + 1) * B), L);
        visit([inputs, targets]);
      }
    },
  };
}

/** The prepared rows with every user repeated `tile` times (users u, u + users, … have the same rows), end to end as prepare writes them. */
function tiledPrepared(p: PreparedData, tile: number): PreparedData {
  if (tile === 1) return p;
  const users = p.userOffsets.length - 1;
  const rows = p.item.length;
  const userOffsets = new Int32Array(users * tile + 1);
  for (let u = 0; u < users * tile; u++) userOffsets[u + 1] = userOffsets[u] + p.userOffsets[(u % users) + 1] - p.userOffsets[u % users];
  const repeat = <T extends Int32Array | Uint8Array>(a: T, make: (n: number) => T): T => {
    const out = make(rows * tile);
    for (let k = 0; k < tile; k++) out.set(a, k * rows);
    return out;
  };
  return {
    ...p, userOffsets, item: repeat(p.item, (n) => new Int32Array(n)), day: repeat(p.day, (n) => new Int32Array(n)),
    split: { ...p.split, rowSplit: repeat(p.split.rowSplit, (n) => new Uint8Array(n)) }, meta: { ...p.meta, users: users * tile, rows: rows * tile },
  };
}

async function runVariant(o: Options): Promise<Record<string, unknown>> {
  const prepared = tiledPrepared(loadPrepared(o.data), o.tile);
  let stream: Stream;
  let extra: Record<string, unknown>;
  if (o.trainers === 'seed') {
    const data = seedDataFromPrepared(prepared);
    stream = seedStream(o, data, o.variant);
    extra = { users: data.sequences.length, rows: prepared.item.length, batch_size: o.batchSize, train_window: o.trainWindow, max_history: o.maxHistory, levels: data.levels };
  } else {
    const data = baselineData(prepared, o.maxLength);
    stream = baselineStream(o, data.train, data.maxLength, o.variant);
    extra = { users: data.train.length, rows: prepared.item.length, batch_size: o.baselineBatchSize, max_length: data.maxLength };
  }
  const base = await heldBytes();
  const rssLoaded = process.memoryUsage().rss;
  let t = performance.now();
  stream.build();
  const buildS = seconds(t);
  const kept = (await heldBytes()) - base;
  const epochS: number[] = [];
  const epochCpuS: number[] = [];
  let sink = 0; // read from every batch, so that no batch is optimized away
  const rng = new Rng(o.seed);
  for (let e = 0; e < o.epochs; e++) {
    t = performance.now();
    const cpu = process.cpuUsage();
    stream.epoch(rng, (tensors) => { sink += tensors[0][0]; });
    epochS.push(seconds(t));
    const used = process.cpuUsage(cpu);
    epochCpuS.push(Math.round((used.user + used.system) / 1e3) / 1e3);
  }
  const heldAfterEpochs = (await heldBytes()) - base;
  const hashRng = new Rng(o.seed);
  const hashes: string[] = [];
  for (let e = 0; e < o.epochs; e++) {
    let h = 0x811c9dc5;
    stream.epoch(hashRng, (tensors) => { for (const x of tensors) h = hashInts(h, x); });
    hashes.push(h.toString(16).padStart(8, '0'));
  }
  const best = Math.min(...epochS);
  const bestCpu = Math.min(...epochCpuS);
  return {
    ...extra,
    examples: stream.count,
    build_examples_s: buildS,
    kept_by_examples_mb: mb(kept),
    ...(stream.arrayBytes !== undefined && { examples_arrays_mb: mb(stream.arrayBytes) }),
    held_after_epochs_mb: mb(heldAfterEpochs),
    epoch_s: epochS,
    epoch_cpu_s: epochCpuS, // user + system CPU of this process: less swayed than wall time by other jobs on the machine
    examples_per_s: Math.round(stream.count / best), // fastest epoch, wall time
    examples_per_cpu_s: Math.round(stream.count / bestCpu),
    rss_after_load_mb: mb(rssLoaded),
    peak_rss_mb: mb(process.resourceUsage().maxRSS * 1024),
    epoch_hashes: hashes,
  };
}

// ---- Both variants, each in a fresh process ----

function runChild(o: Options, trainer: string, variant: string): Record<string, unknown> {
  const args = Object.entries({ ...o, trainers: trainer, variant, out: '' }).map(([k, v]) => `--${k}=${v}`);
  const child = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), ...args], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (child.status !== 0) throw new Error(`${trainer} ${variant}: exit ${child.status}\n${child.stderr}`);
  return JSON.parse(child.stdout.trim().split('\n').at(-1)!);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const o = parseArgs(DEFAULT_TRAIN_BATCHES, process.argv.slice(2));
  if (!o.data) throw new Error('--data=PREPARED is required (see the commands at the top of bench/train-batches.ts)');
  if (o.variant) {
    console.log(JSON.stringify(await runVariant(o)));
  } else {
    const results: Record<string, unknown> = {
      data: o.data, tile: o.tile, epochs: o.epochs, seed: o.seed, node: process.version, cpus: cpus().length,
      load_average_at_start: loadavg().map((x) => Math.round(x * 100) / 100),
    };
    for (const trainer of o.trainers.split(',')) {
      const before = runChild(o, trainer, 'before');
      const after = runChild(o, trainer, 'after');
      const same = JSON.stringify(before.epoch_hashes) === JSON.stringify(after.epoch_hashes) && before.examples === after.examples;
      results[trainer] = {
        before, after,
        identical_batches: same,
        build_examples_speedup: Math.round((before.build_examples_s as number) / Math.max(1e-3, after.build_examples_s as number) * 10) / 10,
        batch_building_speedup: Math.round((after.examples_per_s as number) / (before.examples_per_s as number) * 100) / 100,
        batch_building_cpu_speedup: Math.round((after.examples_per_cpu_s as number) / (before.examples_per_cpu_s as number) * 100) / 100,
      };
      console.log(trainer, JSON.stringify(results[trainer]));
      if (!same) process.exitCode = 1;
    }
    if (o.out) writeFileSync(o.out, `${JSON.stringify(results, null, 1)}\n`);
  }
}
