// What bench/seed-step.ts and bench/seed_step_torch.py share: the benchmark's model configs, synthetic
// Beauty-shaped data, and the exchange file that carries one row's initial weights, batches and optimizer
// schedule from Node to PyTorch, so that both train the same model on the same tokens.
//
// Exchange file = the engine's checkpoint format (models/engine/checkpoint.ts: "ORECKPT1", JSON header,
// float32 data), read in Python by `read_exchange` in bench/seed_step_torch.py:
//   meta.kind = 'seed-step-exchange', meta.config = the SeedConfig (sessionLength = the training window),
//   meta.parameters = the weight names in the contract's order, meta.schedule = AdamW's options,
//   meta.dropout = whether training applies config.dropout, meta.batches = { count, B, S, T }
//   tensors: every weight under its contract name and layout (docs/architecture.md "Seed model": a linear layer
//            is x @ W + b with W [in, out], experts' w1 [E, d, F] …) — the PyTorch reference uses the same
//            names and layouts, so the mapping is the identity;
//            data.encoder [count, B, S], data.decoder [count, B, T], data.targets [count, B, T]: token ids
//            as float32 (exact below 2^24; ids are < vocab), targets −1 where ignored.
import { readCheckpoint, writeCheckpoint, type CheckpointMeta } from '../models/engine/checkpoint.ts';
import type { AdamWOptions } from '../models/engine/optim.ts';
import { Rng } from '../models/random.ts';
import { trainBatch, trainExamples, type Batch, type SeedData } from '../models/seed/batches.ts';
import { DEFAULT_SEED_CONFIG, DEFAULT_TRAIN_CONFIG, type SeedConfig } from '../models/seed/config.ts';
import { seedParameterShapes, type SeedWeights } from '../models/seed/reference.ts';

export const EXCHANGE_KIND = 'seed-step-exchange';

/** The benchmark's model configs by name (sessionLength is set per row). */
export const SEED_STEP_CONFIGS: Record<string, SeedConfig> = {
  default: DEFAULT_SEED_CONFIG, // d 128, 4 + 4 layers, 4 experts × 256 top-2: what `onerec train` trains
  // 4× the parameters of the body: every width doubled, same depth, heads and experts
  large: { ...DEFAULT_SEED_CONFIG, dModel: 256, ffnDim: 1024, expertFfnDim: 512 },
  // small enough for the software adapter and PyTorch on a CPU (the CPU check of the weight mapping)
  tiny: { ...DEFAULT_SEED_CONFIG, codebookSize: 32, dModel: 32, heads: 2, encoderLayers: 2, decoderLayers: 2, ffnDim: 64, expertFfnDim: 32, maxHistory: 8 },
};

/** AdamW as `onerec train` sets it up (models/seed/train.ts), for a run of `totalSteps`. */
export function trainerSchedule(totalSteps: number, warmupSteps = DEFAULT_TRAIN_CONFIG.warmupSteps): AdamWOptions {
  return {
    lr: DEFAULT_TRAIN_CONFIG.lr, warmupSteps, totalSteps, decay: 'cosine', minLrRatio: 0.1,
    beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: DEFAULT_TRAIN_CONFIG.weightDecay, clipNorm: DEFAULT_TRAIN_CONFIG.gradClip,
  };
}

/**
 * Beauty-shaped users (12,101 items by default, 4 codes per item, 5–12 items per user), seeded. Each next item is
 * a fixed successor of the previous one half of the time (else uniform), so that the history carries signal and
 * the encoder and cross-attention matter to the loss.
 */
export function syntheticSeedData(config: SeedConfig, seed: number, items = 12101, users = 22363): SeedData {
  const rng = new Rng(seed);
  const L = config.levels, K = config.codebookSize;
  const codes = new Uint16Array(items * L); // [items, levels]; the last level is the suffix code
  for (let i = 0; i < items; i++) {
    for (let l = 0; l < L - 1; l++) codes[i * L + l] = rng.int(K);
    codes[i * L + L - 1] = i % Math.min(4, K);
  }
  const sequences = Array.from({ length: users }, () => {
    const seq = new Int32Array(5 + rng.int(8));
    seq[0] = rng.int(items);
    for (let t = 1; t < seq.length; t++) seq[t] = rng.next() < 0.5 ? (seq[t - 1] * 7 + 3) % items : rng.int(items);
    return seq;
  });
  return { itemCount: items, levels: L, codebookSize: K, codes, sequences };
}

/** `count` batches of B examples with targets of `window` items, in a fixed seeded order (an epoch's shuffle, then in turn). */
export function fixedBatches(data: SeedData, config: SeedConfig, B: number, count: number, window: number, seed: number): Batch[] {
  const examples = trainExamples(data, window);
  const order = new Rng(seed).shuffle(examples.rows); // [examples]
  return Array.from({ length: count }, (_, s) => {
    const rows = Int32Array.from({ length: B }, (_, j) => order[(s * B + j) % order.length]); // [B]
    return trainBatch(data, examples, rows, config.maxHistory, window);
  });
}

export interface Exchange {
  config: SeedConfig; // sessionLength = the training window
  weights: SeedWeights; // by contract name
  batches: Batch[]; // all of one size B
  schedule: AdamWOptions;
  dropout: boolean; // train with config.dropout (timing) or without (loss-curve agreement)
}

const asFloat = (ids: Int32Array): Float32Array => Float32Array.from(ids);

export function writeExchange(path: string, x: Exchange): void {
  const B = x.batches[0].size;
  const S = x.config.maxHistory * x.config.levels;
  const T = x.batches[0].decoderTokens.length / B;
  const shapes = seedParameterShapes(x.config);
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [name, shape] of Object.entries(shapes)) tensors[name] = { shape, data: x.weights[name] };
  const stack = (pick: (b: Batch) => Int32Array, width: number) => {
    const out = new Float32Array(x.batches.length * B * width); // [count, B, width]
    x.batches.forEach((b, i) => out.set(asFloat(pick(b)), i * B * width));
    return { shape: [x.batches.length, B, width], data: out };
  };
  tensors['data.encoder'] = stack((b) => b.encoderTokens, S);
  tensors['data.decoder'] = stack((b) => b.decoderTokens, T);
  tensors['data.targets'] = stack((b) => b.targets, T);
  writeCheckpoint(path, {
    kind: EXCHANGE_KIND, config: x.config, step: 0, rng: {},
    parameters: Object.keys(shapes), schedule: x.schedule, dropout: x.dropout, batches: { count: x.batches.length, B, S, T },
  }, tensors);
}

/** The inverse of writeExchange (the round trip is tested; the batches come back without targetItems). */
export function readExchange(path: string): Exchange & { meta: CheckpointMeta } {
  const { meta, tensors } = readCheckpoint(path);
  if (meta.kind !== EXCHANGE_KIND) throw new Error(`${path}: kind '${meta.kind}', expected '${EXCHANGE_KIND}' (written by bench/seed-step.ts)`);
  const config = meta.config as SeedConfig;
  const weights: SeedWeights = {};
  for (const name of meta.parameters as string[]) weights[name] = tensors[name].data;
  const { count, B, S, T } = meta.batches as { count: number; B: number; S: number; T: number };
  const ids = (name: string, i: number, width: number) => Int32Array.from(tensors[name].data.subarray(i * B * width, (i + 1) * B * width));
  const batches = Array.from({ length: count }, (_, i): Batch => ({
    size: B, encoderTokens: ids('data.encoder', i, S), decoderTokens: ids('data.decoder', i, T), targets: ids('data.targets', i, T), targetItems: new Int32Array(0),
  }));
  return { meta, config, weights, batches, schedule: meta.schedule as AdamWOptions, dropout: Boolean(meta.dropout) };
}
