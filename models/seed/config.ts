// The seed model's configuration (carried verbatim in checkpoints and in the bundle manifest) and the
// training run's configuration. Defaults: TIGER-like 4+4 layers at d 128, sized so that the int4 bundle
// stays well under 5 MB (≈ 2.7 M parameters ≈ 1.4 MB at 4 bits).
import { vocabSize } from '../../runtime/tokens.ts';
import type { ModelConfig } from '../../runtime/model-config.ts';

/**
 * The seed model's configuration: the manifest's model config, declared once in runtime/model-config.ts (each field's
 * unit or reason is there); a checkpoint's `meta.config` and a bundle's `model` carry it verbatim. The optional fields
 * below are the trainer's only: the runtime and the ONNX graphs do not read them, so `onerec export` refuses a config
 * that sets them, and a checkpoint without them is the model without them.
 */
export interface SeedConfig extends ModelConfig {
  itemEmbedding?: boolean; // adds enc.item_emb[item + 1] (a learned row per item, SASRec's input) to each of the item's code tokens in the encoder input; absent = false
  itemCount?: number; // catalog items: enc.item_emb has itemCount + 1 rows (row 0 for slots without an item); required with itemEmbedding
  denseHead?: boolean; // adds a dense retrieval head (LIGER-style hybrid): user vector dense.user(decoder state at the first BOS) scored against e_i = Σ_l tok_emb[code_l(i)], full softmax over the catalog; no per-item parameter; absent = false
}

/** Whether `config` has the dense retrieval head (dense.user.w/b; absent in checkpoints written before the field: no). */
export function hasDenseHead(config: SeedConfig): boolean {
  return config.denseHead === true;
}

/** Whether `config` has the per-item encoder table enc.item_emb (absent in checkpoints written before the field: no). */
export function hasItemEmbedding(config: SeedConfig): boolean {
  return config.itemEmbedding === true;
}

export const DEFAULT_SEED_CONFIG: SeedConfig = {
  codebookSize: 256, // K: slots per semantic-ID level (from the prepared data; Beauty 256)
  levels: 4, // codes per item, suffix level included (from the prepared data; Beauty 4)
  dModel: 128, // residual width
  heads: 4, // attention heads; must divide dModel
  encoderLayers: 4, // bidirectional self-attention blocks over the history
  decoderLayers: 4, // causal self-attn + cross-attn + MoE blocks
  ffnDim: 512, // encoder feed-forward hidden width
  experts: 4, // decoder MoE experts (1 = dense decoder FFN)
  expertsPerToken: 2, // top-k routing (2 per the spec; 1 when experts = 1)
  expertFfnDim: 256, // hidden width of one expert; top-2 × 256 = 512 active, equal to the encoder's dense FFN (and the dense ablation)
  maxHistory: 20, // history items the encoder sees (most recent kept; TIGER uses 20)
  sessionLength: 1, // items per decoded session (m); 1 for next-item benchmarks
  moeAuxWeight: 0.01, // weight of the Switch load-balancing loss (0 = off)
  dropout: 0.25, // dropout on residual branches and attention weights; Beauty run 8: 0.1 overfit after ~20 epochs (run 6), 0.25 still improved at epoch 30 (bench/README.md #4)
};

export class SeedConfigError extends Error {
  override name = 'SeedConfigError';
}

export function seedVocabSize(config: SeedConfig): number {
  return vocabSize(config.levels, config.codebookSize);
}

/** Decoder sequence length: sessionLength × (BOS + levels codes). */
export function decoderLength(config: SeedConfig): number {
  return config.sessionLength * (config.levels + 1);
}

/** Throws SeedConfigError naming the field and the fix when the config cannot define a model. */
export function validateSeedConfig(config: SeedConfig, where = 'config'): void {
  const positive: (keyof ModelConfig)[] = ['codebookSize', 'levels', 'dModel', 'heads', 'encoderLayers', 'decoderLayers', 'ffnDim', 'experts', 'expertsPerToken', 'expertFfnDim', 'maxHistory', 'sessionLength'];
  for (const key of positive) {
    const v = config[key];
    if (!Number.isInteger(v) || v < 1) throw new SeedConfigError(`${where}: ${key} = ${v}; it must be a positive integer`);
  }
  if (config.dModel % config.heads !== 0) {
    throw new SeedConfigError(`${where}: heads = ${config.heads} does not divide dModel = ${config.dModel}; pick heads from the divisors of dModel`);
  }
  if (config.expertsPerToken > config.experts) {
    throw new SeedConfigError(`${where}: expertsPerToken = ${config.expertsPerToken} exceeds experts = ${config.experts}; use expertsPerToken ≤ experts`);
  }
  if (!(config.dropout >= 0 && config.dropout < 1)) throw new SeedConfigError(`${where}: dropout = ${config.dropout}; it must be in [0, 1)`);
  if (!(config.moeAuxWeight >= 0)) throw new SeedConfigError(`${where}: moeAuxWeight = ${config.moeAuxWeight}; it must be ≥ 0`);
  if (config.itemEmbedding !== undefined && typeof config.itemEmbedding !== 'boolean') {
    throw new SeedConfigError(`${where}: itemEmbedding = ${JSON.stringify(config.itemEmbedding)}; it must be true or false`);
  }
  if (hasItemEmbedding(config) && !(Number.isInteger(config.itemCount) && config.itemCount! >= 1)) {
    throw new SeedConfigError(`${where}: itemEmbedding needs itemCount, the catalog's item count (enc.item_emb has itemCount + 1 rows), got ${config.itemCount}`);
  }
  if (config.denseHead !== undefined && typeof config.denseHead !== 'boolean') {
    throw new SeedConfigError(`${where}: denseHead = ${JSON.stringify(config.denseHead)}; it must be true or false`);
  }
}

/** Parameter count of a SeedConfig (all experts counted). */
export function parameterCount(c: SeedConfig): number {
  const d = c.dModel;
  const vocab = seedVocabSize(c);
  const attn = 4 * d * d + 4 * d;
  const ln = 2 * d;
  const enc = c.encoderLayers * (2 * ln + attn + d * c.ffnDim + c.ffnDim + c.ffnDim * d + d) + ln;
  const moe = d * c.experts + c.experts * (d * c.expertFfnDim + c.expertFfnDim + c.expertFfnDim * d + d);
  const dec = c.decoderLayers * (3 * ln + 2 * attn + moe) + ln;
  const itemTable = hasItemEmbedding(c) ? (c.itemCount! + 1) * d : 0;
  const denseUser = hasDenseHead(c) ? d * d + d : 0;
  return vocab * d + c.maxHistory * d + c.levels * d + enc + decoderLength(c) * d + dec + d * vocab + itemTable + denseUser;
}

/** `onerec train` options (flat so that `--key=value` overrides apply); model fields are SeedConfig's. */
export interface TrainConfig {
  data: string; // prepared data directory (onerec prepare --out)
  out: string; // run directory: checkpoints, report.html, history.json
  epochs: number; // upper bound on passes over the training users; early stopping usually ends sooner
  batchSize: number; // users per optimizer step
  lr: number; // peak AdamW learning rate
  warmupSteps: number; // linear warm-up steps, then cosine decay to lr / 10 at the last epoch
  weightDecay: number; // decoupled weight decay (not applied to LayerNorm gains/biases)
  gradClip: number; // global gradient-norm clip (0 = off)
  patience: number; // validations (every evalEvery epochs) without a better NDCG@10 before stopping
  seed: number; // RNG seed: init, shuffling, dropout, history windows
  trainWindow: number; // m: items per training target window (1 = next item); sets the model sessionLength while training
  trainThrough: 'train' | 'validation'; // the split the training targets end with: 'train', or 'validation' (a refit: each user's validation item is a target too; exactly `epochs` epochs, nothing validated, best.ckpt the last epoch's, its meta trainThrough 'validation'; the epochs come from a run on 'train')
  validationGap: number; // items before each user's validation target that are never training targets (0 = all of them are): with 1, a validation history ends, as a test history does, with an item the model never learnt as that user's target, so validation stops rewarding memorised per-user sequences (bench/README.md #18); the test figures of such a run belong to that smaller training set
  historyDropout: number; // training-time augmentation: each history item left out of the encoder input with this probability (0 = off; batches.ts HistoryAugment). The optional loss terms (unlikelihood, historyBias, distill) still read the whole history
  evalBeam: number; // beam width for validation/test ranking (≥ 20 so that @10 is exact)
  evalUsers: number; // validation users per epoch (0 = all); a fixed seeded subset for speed
  evalEvery: number; // evaluate every N epochs
  maxMinutes: number; // wall-clock budget of the whole command (0 = none): loading, steps, validation, test; past it the epoch ends at that step, no evaluation starts, last.ckpt is written (--resume: a fresh budget)
  resume: boolean; // continue from OUT/last.ckpt if present
  init: string; // start from the weights of this seed checkpoint (fresh optimizer and schedule: a second, annealing stage); '' = random init
  unlikelihood: number; // weight of the history-unlikelihood term −log(1 − p(history item)) (0 = off: on Beauty it did not raise validation NDCG@10, bench/README.md #4)
  unlikelihoodItems: number; // history items sampled per example as that term's negatives
  unlikelihoodLevels: number; // the term's p is over the item's last N codes given its own prefix (0 = the whole item)
  historyBias: string; // 'b1,b2,…': train and validate with the repeat-awareness layer fixed at these β (models/seed/history-bias.ts); '' = off
  distill: string; // teacher checkpoints, comma-separated: seed models (fit the softmax of their mean logits, an ensemble's distribution) or one onerec baseline SASRec (fit its item distribution, written per code level); '' = off
  distillWeight: number; // α: loss = (1 − α) · cross-entropy + α · cross-entropy against the teachers' distribution
  denseWeight: number; // with a denseHead model: loss += denseWeight · the dense head's full-softmax cross-entropy of the first target item
  denseMix: number; // λ of the validation ranking: beam ∪ dense top-evalBeam, scored log P_gen + λ · log softmax_dense (generate.ts mixDense); 0 = the beam's ranking (needs denseHead when > 0)
}

export const DEFAULT_TRAIN_CONFIG: TrainConfig = {
  data: '', // required
  out: '', // required
  epochs: 30, // the cosine schedule spans this many epochs (Beauty run 8: 30 epochs, best at the last)
  batchSize: 256,
  lr: 2e-3,
  warmupSteps: 300,
  weightDecay: 0.1,
  gradClip: 1,
  patience: 10,
  seed: 1,
  trainWindow: 2, // Beauty: windows of 2 items train better than next-item targets (ablation, bench/README.md #4)
  trainThrough: 'train',
  validationGap: 0,
  historyDropout: 0,
  evalBeam: 20,
  evalUsers: 2000,
  evalEvery: 5,
  maxMinutes: 0,
  resume: false,
  init: '',
  unlikelihood: 0,
  unlikelihoodItems: 4,
  unlikelihoodLevels: 0,
  historyBias: '',
  distill: '',
  distillWeight: 0.5,
  denseWeight: 1,
  denseMix: 0,
};
