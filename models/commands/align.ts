// onerec align — the session reward model and iterative preference alignment (DPO) on KuaiRand-Pure.
//
//   onerec prepare --data=KUAIRAND_PURE_DIR --out=runs/kuairand                  # the prepared data align reads
//   onerec align --prepared=runs/kuairand --out=runs/kuairand/align              # seed transformer on the WebGPU engine
//   onerec align --prepared=runs/kuairand --out=runs/kuairand/align --policy=bigram --iterations=2   # the small CPU policy, no GPU
//   ... --report=bench/results/kuairand-align.json           # the committed report (its exact flags: bench/README.md)
//   onerec align --merge=a/report.json,b/report.json --report=OUT.json     # select over runs of one seed
//
// The stage is models/align/run.ts (steps and outputs in its header).
import { join } from 'node:path';
import { mergeReports } from '../align/report.ts';
import { runAlignment } from '../align/run.ts';
import { OptionError, parseOptions } from '../options.ts';

export const summary = 'reward model on KuaiRand watch signals + iterative DPO alignment of the seed model';

export const ALIGN_DEFAULTS = {
  prepared: '',                             // `onerec prepare` output for KuaiRand-Pure: catalog, semantic IDs, the reward model's sessions (their length m is generated and scored) and pre-period histories; required unless --merge
  out: '',                                  // checkpoints (reward.ckpt, aligned.ckpt) and the report copy; required unless --merge
  report: '',                               // also write the report JSON here (e.g. bench/results/kuairand-align.json)
  policy: 'seed',                           // 'seed' (transformer, WebGPU engine) or 'bigram' (CPU)
  // split
  testDays: 4,                              // the last days held out (reward AUC, evaluation users)
  valDays: 1,                               // the days before those: validation users that pick the setting and iteration (0 = none)
  // reward model
  towers: 'swt,vtr,wtr,ltr,cmt,fwd',        // candidate towers; those without minPositives are dropped
  minPositives: 30,                         // positives and negatives needed on both sides of the split
  rewardWeights: '',                        // comma list, one per kept tower ('' = 1 each)
  rmDim: 32,                                // reward model width
  rmHeads: 2,                               // reward model attention heads
  rmHidden: 32,                             // hidden width of each reward tower
  rmItems: 'codes',                         // reward v_i: 'codes' (Σ of per-level semantic-ID code embeddings, size free of the catalog; held-out AUC ≥ 'table' on every tower, bench/results/reward-items-*.json) or 'table' (a row per item)
  rmHistory: 50,                            // history items the reward model reads
  rmTrainer: 'cpu',                         // 'cpu' (float64) or 'engine' (WebGPU); same model, parity-tested
  rmEpochs: 2,                              // reward model epochs (1 underfits, 4 overfits by held-out AUC; 3 not tried)
  rmBatch: 64,                              // reward model sessions per step
  rmLr: 3e-3,                               // reward model learning rate
  // seed model
  seedCheckpoint: '',                       // a trained seed checkpoint (meta.kind 'seed'); '' = train here
  dModel: 64,                               // seed model width (trained here)
  heads: 4,                                 // seed model attention heads; must divide dModel
  encoderLayers: 2,                         // seed model encoder blocks
  decoderLayers: 2,                         // seed model decoder blocks (MoE feed-forward)
  ffnDim: 128,                              // seed model encoder feed-forward width
  experts: 4,                               // seed model decoder experts (top-2 routing)
  expertFfnDim: 64,                         // hidden width of one expert
  maxHistory: 20,                           // history items the seed model reads
  seedEpochs: 2,                            // seed model next-token epochs
  seedBatch: 256,                           // seed model examples per step
  seedLr: 2e-3,                             // seed model learning rate
  seedMaxExamples: 250000,                  // seed model examples per epoch at most (0 = all), a seeded sample
  seedSeconds: 0,                           // stop seed training after this long (0 = no limit)
  budgetSeconds: 0,                         // whole-run budget: no new iteration starts that would not fit (0 = none)
  bigramEpochs: 2,                          // next-token epochs of the CPU policy
  // alignment
  iterations: 3,                            // alignment iterations: generate, pair by reward, DPO
  userFraction: 0.05,                       // of training users per iteration (paper: 1 %)
  sessions: 16,                             // N beams per user for pairs (paper: 128)
  beta: 0.1,                                // DPO temperature
  ntpWeight: 1,                             // next-token loss weight (on each user's real last session)
  alignLr: 3e-5,                            // 3e-4 traded relevance for reward within one iteration (bench/README.md)
  variants: '',                             // more settings from the same seed, 'lr:beta[:ntpWeight],…' (all reported; validation picks one)
  merge: '',                                // comma list of report.json files of runs from the same seed: select over all their settings
  evalBundles: '',                          // evaluation only, on the CPU: comma list of exported bundles (the first is the baseline)
  rewardCheckpoint: '',                     // with --evalBundles: the reward.ckpt that scores their sessions (no reward model is trained)
  evalSplits: 'test,validation',            // with --evalBundles: which held-out users (select on validation first, then test the pick)
  dpoEpochs: 2,                             // passes over each iteration's preference pairs
  alignBatch: 64,                           // preference pairs per DPO step
  evalUsers: 1500,                          // held-out users evaluated per model and period (0 = all)
  evalBeams: 10,                            // beams per held-out user when evaluating (Recall@10 needs ≥ 10)
  usersPerBatch: 128,                       // users per beam-search batch
  excludeHistory: false,                    // true: never generate an item the user already saw
  seed: 1,                                  // every random choice (sampling users, init, shuffling)
};
export type AlignOptions = typeof ALIGN_DEFAULTS;

export async function run(argv: string[]): Promise<void> {
  const o = parseOptions(argv, ALIGN_DEFAULTS, summary);
  if (!o) return;
  if (o.policy !== 'seed' && o.policy !== 'bigram') throw new OptionError(`--policy=${o.policy}: use 'seed' (WebGPU transformer) or 'bigram' (CPU)`);
  if (o.rmTrainer !== 'cpu' && o.rmTrainer !== 'engine') throw new OptionError(`--rmTrainer=${o.rmTrainer}: use 'cpu' or 'engine'`);
  if (o.merge) return mergeReports(o.merge.split(','), o.report || join(o.out, 'report.json'));
  const missing = (['prepared', 'out'] as const).filter((key) => !o[key]);
  if (missing.length > 0) {
    throw new OptionError(`${missing.map((key) => `--${key}`).join(' and ')} ${missing.length > 1 ? 'are' : 'is'} required: --prepared=DIR the output of onerec prepare on the KuaiRand-Pure folder (catalog, semantic IDs, the reward model's sessions), --out=DIR for the checkpoints and report`);
  }
  await runAlignment(o, argv);
}
