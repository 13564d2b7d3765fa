// The options of `onerec align` (models/commands/align.ts), one comment per field: `--help` shows them.
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
