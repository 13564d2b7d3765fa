// onerec align — the session reward model and iterative preference alignment (DPO) on KuaiRand-Pure.
//
//   onerec align --kuairand=KUAIRAND_PURE_DIR --out=runs/kuairand/align          # seed transformer on the WebGPU engine
//   onerec align --kuairand=KUAIRAND_PURE_DIR --out=runs/kuairand/align --policy=bigram --iterations=2   # the small CPU policy, no GPU
//   ... --report=bench/results/kuairand-align.json           # the committed report (its exact flags: bench/README.md)
//
// Writes to --out: reward.ckpt (kind 'reward': config, tower weights, label rules), seed.ckpt when the seed is
// trained here, aligned-<t>.ckpt after each iteration and aligned.ckpt (the last), report.json.
//
// Steps: read KuaiRand's log → sessions with histories (models/reward/kuairand.ts) → reward model with
// per-tower held-out AUC beside item popularity → seed model (trained here unless --seedCheckpoint) →
// per iteration: sample users, beam-search N sessions each, best/worst pair by the reward model, DPO +
// next-token training → evaluation of every model on held-out users → report JSON + markdown table.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SemanticIdTrie } from '../../runtime/semantic-id-trie.ts';
import { loadPrepared } from '../data/prepared.ts';
import { parseOptions, OptionError } from '../options.ts';
import { progressBar, type Progress } from '../progress.ts';
import { BigramPolicy } from '../align/bigram-policy.ts';
import { positionalCodes } from '../align/codes.ts';
import { buildPairs, evaluatePolicy, sampleUsers, trainOnPairs, type AlignUser, type IterateOptions, type IterationReport, type ModelReport, type SessionScorer } from '../align/iterate.ts';
import type { AlignPolicy } from '../align/policy.ts';
import { alignTable, relativeChange, rewardTable, selectedFields, selectModel, type AlignReport, type AlignRun } from '../align/report.ts';
import { RewardTrainer } from '../reward/trainer.ts';
import { padItems, fitRewardModel } from '../reward/fit.ts';
import { buildSessions, indexVideos, readKuaiRandLog, readPrePeriodHistory, splitDay, type SessionWithHistory } from '../reward/kuairand.ts';
import { parseTowers, TOWER_LABELS } from '../reward/labels.ts';
import { Rng } from '../random.ts';

export const summary = 'reward model on KuaiRand watch signals + iterative DPO alignment of the seed model';

const DEFAULTS = {
  kuairand: '',                             // KuaiRand-Pure folder (raw log, pre-period histories); required unless --merge or --writeIds
  prepared: '',                             // `onerec prepare` output for KuaiRand (catalog, semantic IDs); '' = see --ids
  ids: '',                                  // compact semantic-ID file written by --writeIds (travels light); '' = positional IDs
  writeIds: '',                             // write --prepared's video ids + codes to this file and exit
  out: '',                                  // checkpoints (reward.ckpt, aligned.ckpt) and the report copy; required unless --merge or --writeIds
  report: '',                               // also write the report JSON here (e.g. bench/results/kuairand-align.json)
  policy: 'seed',                           // 'seed' (transformer, WebGPU engine) or 'bigram' (CPU)
  codebookSize: 128,                        // K of the positional fallback IDs (no prepared data yet)
  // sessions and split
  sessionLength: 5,                         // items per session (m), generated and scored
  gapHours: 24,                             // a larger gap between impressions starts a new session
  minItems: 2,                              // shorter observed sessions are dropped
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

/** The catalog's video ids and semantic IDs, small enough to travel to the GPU machine without the prepared arrays. */
interface SemanticIdFile {
  format: 'onerec-align-ids';
  source: string;     // the prepared directory it came from
  levels: number;
  codebookSize: number;
  videoIds: number[]; // [items] KuaiRand video_id of each item index
  codes: number[];    // [items * levels]
}

function readIds(path: string): SemanticIdFile {
  const ids = JSON.parse(readFileSync(path, 'utf8')) as SemanticIdFile;
  if (ids.format !== 'onerec-align-ids' || ids.codes.length !== ids.videoIds.length * ids.levels) {
    throw new OptionError(`--ids=${path} is not a semantic-ID file of onerec align --writeIds (format ${ids.format}, ${ids.codes?.length} codes for ${ids.videoIds?.length} items); write it again`);
  }
  return ids;
}

export async function run(argv: string[]): Promise<void> {
  const o = parseOptions(argv, DEFAULTS, summary);
  if (!o) return;
  if (o.policy !== 'seed' && o.policy !== 'bigram') throw new OptionError(`--policy=${o.policy}: use 'seed' (WebGPU transformer) or 'bigram' (CPU)`);
  if (o.rmTrainer !== 'cpu' && o.rmTrainer !== 'engine') throw new OptionError(`--rmTrainer=${o.rmTrainer}: use 'cpu' or 'engine'`);
  const started = Date.now();
  if (o.merge) return mergeReports(o.merge.split(','), o.report || join(o.out, 'report.json'));
  if (o.writeIds) {
    if (!o.prepared) throw new OptionError('--writeIds needs --prepared=<dir of onerec prepare on kuairand-pure>');
    const p = loadPrepared(o.prepared);
    const ids: SemanticIdFile = { format: 'onerec-align-ids', source: o.prepared, levels: p.levels, codebookSize: p.codebookSize, videoIds: p.items.map((it) => Number(it.id)), codes: Array.from(p.codes) };
    mkdirSync(dirname(o.writeIds), { recursive: true });
    writeFileSync(o.writeIds, JSON.stringify(ids));
    console.log(`wrote ${o.writeIds}: ${ids.videoIds.length} items, ${ids.levels} levels, K ${ids.codebookSize}`);
    return;
  }
  const missing = (['kuairand', 'out'] as const).filter((key) => !o[key]);
  if (missing.length > 0) {
    throw new OptionError(`${missing.map((key) => `--${key}`).join(' and ')} ${missing.length > 1 ? 'are' : 'is'} required: --kuairand=DIR the KuaiRand-Pure folder (its standard log and pre-period histories), --out=DIR for the checkpoints and report`);
  }
  mkdirSync(o.out, { recursive: true });

  // ---- data
  const log = await readKuaiRandLog(o.kuairand);
  const prePeriod = await readPrePeriodHistory(o.kuairand);
  const prepared: SemanticIdFile | null = o.prepared ? (() => {
    const p = loadPrepared(o.prepared);
    return { format: 'onerec-align-ids', source: o.prepared, levels: p.levels, codebookSize: p.codebookSize, videoIds: p.items.map((it) => Number(it.id)), codes: Array.from(p.codes) };
  })() : o.ids ? readIds(o.ids) : null;
  const videoIndex = prepared ? new Map(prepared.videoIds.map((v, i) => [v, i])) : indexVideos(log);
  if (prepared && prepared.videoIds.some((k) => !Number.isInteger(k))) {
    throw new OptionError(`semantic IDs from ${prepared.source}: catalog ids are not KuaiRand video ids; pass the output of onerec prepare on the KuaiRand-Pure folder`);
  }
  const itemCount = prepared ? prepared.videoIds.length : videoIndex.size;
  const sessions = buildSessions(log, { gapMs: o.gapHours * 3600_000, sessionLength: o.sessionLength, minItems: o.minItems }, videoIndex, prePeriod, Math.max(o.rmHistory, o.maxHistory));
  const split = splitDay(sessions, o.testDays);
  // Models train on days < trainEnd; validation users' sessions lie in [trainEnd, split), test users' from split on.
  const trainEnd = o.valDays > 0 ? splitDay(sessions, o.testDays + o.valDays) : split;
  const periods = { train: `day < ${trainEnd}`, validation: o.valDays > 0 ? `${trainEnd} ≤ day < ${split}` : 'none', test: `day ≥ ${split}` };
  console.error(`kuairand: ${log.userId.length} rows, ${itemCount} videos, ${sessions.length} sessions; train ${periods.train}, validation ${periods.validation}, test ${periods.test}`);

  // ---- reward model
  const bars: { rm?: Progress } = {};
  const engineApi = !o.evalBundles && (o.policy === 'seed' || o.rmTrainer === 'engine') ? await import('../engine/index.ts') : null;
  const engine = engineApi ? await engineApi.createEngine() : null;
  // The reward model never sees the validation days (its AUC is still measured on the test days).
  const fit = o.evalBundles ? null : await fitRewardModel(o.valDays > 0 ? sessions.filter((s) => s.day < trainEnd || s.day >= split) : sessions, split, parseTowers(o.towers), { itemCount, dModel: o.rmDim, heads: o.rmHeads, towerHidden: o.rmHidden, maxHistory: o.rmHistory, sessionLength: o.sessionLength },
    { epochs: o.rmEpochs, batchSize: o.rmBatch, learningRate: o.rmLr, weightDecay: 1e-4, seed: o.seed }, o.minPositives,
    (step, steps, loss) => { bars.rm ??= progressBar('reward model', steps); bars.rm.update(step, Number.isNaN(loss) ? undefined : { loss: loss.toFixed(4) }); },
    o.rmTrainer === 'engine' && engine ? engine : undefined);
  bars.rm?.stop();
  if (fit) console.log(`reward model, held-out AUC (split ${split}):\n${rewardTable(fit.report)}`);
  const loaded = fit ? null : await loadRewardModel(o.rewardCheckpoint); // --evalBundles: the run's reward model, not trained again
  const trainer = fit ? fit.trainer : loaded!.trainer;
  const towers = trainer.config.towers;
  const weights: number[] = o.rewardWeights ? o.rewardWeights.split(',').map(Number) : loaded?.towerWeights ?? towers.map(() => 1);
  if (weights.length !== towers.length || weights.some((w) => !Number.isFinite(w))) {
    throw new OptionError(`--rewardWeights=${o.rewardWeights}: give ${towers.length} numbers, one per kept tower (${towers.join(',')})`);
  }
  if (fit) {
    const { writeCheckpoint } = await import('../engine/checkpoint.ts');
    const rmWeights = fit.trainer.weights();
    const rmShapes = (await import('../reward/config.ts')).rewardParameterShapes(fit.trainer.config);
    writeCheckpoint(join(o.out, 'reward.ckpt'), {
      kind: 'reward', config: fit.trainer.config, step: 0, rng: { seed: o.seed },
      towers: towers.map((t) => ({ name: t, label: TOWER_LABELS[t] })), weights, labelRules: fit.rules,
    }, Object.fromEntries(Object.entries(rmWeights).map(([n, d]) => [n, { shape: rmShapes[n], data: d }])));
  }
  const scorer: SessionScorer = {
    towers, weights,
    score: (history, items) => {
      const m = o.sessionLength;
      const rows = Array.from({ length: items.length / m }, (_, n) => ({ history, items: padItems(items.subarray(n * m, (n + 1) * m), m), labels: new Uint8Array(towers.length) }));
      return trainer.predict(rows);
    },
  };

  // ---- users: alignment users (training period) and held-out evaluation users
  const trainSessions = sessions.filter((s) => s.day < trainEnd);
  const lastTrain = new Map<number, SessionWithHistory>();
  for (const s of trainSessions) lastTrain.set(s.user, s);
  const keep = (h: ArrayLike<number>) => Int32Array.from(Array.from(h).slice(-Math.max(o.rmHistory, o.maxHistory)));
  // Alignment users generate from their whole training-period context; their next-token target is the last
  // sessionLength items of it (a real session stretch) given what came before.
  const m = o.sessionLength;
  const alignUsers: AlignUser[] = [...lastTrain.values()].map((s) => {
    const context = [...s.history, ...s.items];
    return { user: s.user, history: keep(context), ...(context.length > m ? { anchor: { history: keep(context.slice(0, -m)), items: Int32Array.from(context.slice(-m)) } } : {}) };
  });
  const firstTest = new Map<number, SessionWithHistory>();
  for (const s of sessions) if (s.day >= split && !firstTest.has(s.user)) firstTest.set(s.user, s);
  const firstValidation = new Map<number, SessionWithHistory>();
  for (const s of sessions) if (s.day >= trainEnd && s.day < split && !firstValidation.has(s.user)) firstValidation.set(s.user, s);
  const rng = new Rng(o.seed);
  const heldOut = (first: Map<number, SessionWithHistory>): AlignUser[] => sampleUsers([...first.values()], 1, rng).slice(0, o.evalUsers > 0 ? o.evalUsers : undefined).map((s) => ({ user: s.user, history: keep(s.history), target: s.items }));
  const evalUsers = heldOut(firstTest);
  const validationUsers = heldOut(firstValidation);
  console.error(`held-out users: ${validationUsers.length} validation (of ${firstValidation.size}), ${evalUsers.length} test (of ${firstTest.size})`);

  // ---- semantic IDs
  const codebookSize = prepared ? prepared.codebookSize : o.codebookSize;
  const { codes, levels } = prepared ? { codes: Uint16Array.from(prepared.codes), levels: prepared.levels } : positionalCodes(itemCount, codebookSize);
  const trie = SemanticIdTrie.build(codes, levels, codebookSize);
  const semanticIds = prepared
    ? `prepared by onerec prepare: ${prepared.source} (${levels} levels incl. suffix, K ${codebookSize})`
    : `positional fallback (item index in base ${codebookSize}, ${levels} levels incl. suffix); no --prepared KuaiRand semantic IDs given`;

  const baseOptions: IterateOptions = {
    sessionLength: o.sessionLength, sessions: o.sessions, userFraction: o.userFraction, beta: o.beta, ntpWeight: o.ntpWeight, learningRate: o.alignLr,
    dpoEpochs: o.dpoEpochs, batchSize: o.alignBatch, evalBeams: o.evalBeams, usersPerBatch: o.usersPerBatch, excludeHistory: o.excludeHistory, seed: o.seed,
  };
  if (o.evalBundles) {
    const { evaluateBundles } = await import('../align/bundle-eval.ts');
    await evaluateBundles(o.evalBundles.split(','), { codes, itemCount, evalUsers, validationUsers, scorer, periods, report: o.report || join(o.out, 'bundles-report.json'), argv, splits: o.evalSplits.split(','), options: baseOptions });
    return;
  }

  // ---- seed policy: `fresh()` returns a policy at the seed's weights (each alignment setting starts there)
  let fresh: () => AlignPolicy;
  let device = 'cpu';
  let seedTraining: AlignReport['seed_training'];
  let saveAligned: ((policy: AlignPolicy, path: string) => Promise<void>) | null = null;
  // Chronological training-period sequences per user (pre-period history + training sessions).
  const sequences = [...lastTrain.values()].map((s) => Int32Array.from([...s.history, ...s.items]));
  if (o.policy === 'bigram') {
    const bigram = new BigramPolicy(levels, codebookSize, codes, o.seed);
    const t0 = Date.now();
    const windows: { history: Int32Array; items: Int32Array }[] = [];
    for (const seq of sequences) for (let t = 1; t + m <= seq.length; t += m) windows.push({ history: seq.slice(0, t), items: seq.slice(t, t + m) });
    const bar = progressBar('bigram seed', o.bigramEpochs * Math.ceil(windows.length / 256));
    const losses: number[] = [];
    let step = 0;
    for (let epoch = 0; epoch < o.bigramEpochs; epoch++) {
      rng.shuffle(windows);
      let sum = 0;
      let n = 0;
      for (let s = 0; s < windows.length; s += 256) {
        const chunk = windows.slice(s, s + 256);
        const flat = new Int32Array(chunk.length * m);
        chunk.forEach((w, i) => flat.set(w.items, i * m));
        sum += await bigram.ntpStep(chunk.map((w) => w.history), flat, 1e-2);
        n++;
        bar.update(++step);
      }
      losses.push(sum / n);
    }
    bar.stop();
    seedTraining = { epochs: o.bigramEpochs, steps: step, loss: losses, seconds: (Date.now() - t0) / 1000 };
    fresh = () => {
      const p = new BigramPolicy(levels, codebookSize, codes, o.seed);
      p.A.set(bigram.A);
      p.C.set(bigram.C);
      return p;
    };
  } else {
    if (!engine || !engineApi) throw new OptionError('internal: the seed policy needs the engine');
    const { readCheckpoint, saveCheckpoint, writeCheckpoint: write, checkpointWeights } = engineApi;
    const { SeedModel } = await import('../seed/model.ts');
    const { SeedPolicy } = await import('../align/seed-policy.ts');
    const { validateSeedConfig } = await import('../seed/config.ts');
    const { seedParameterShapes } = await import('../seed/reference.ts');
    device = engine.adapter;
    const config = {
      codebookSize, levels, dModel: o.dModel, heads: o.heads, encoderLayers: o.encoderLayers, decoderLayers: o.decoderLayers,
      ffnDim: o.ffnDim, experts: o.experts, expertsPerToken: Math.min(2, o.experts), expertFfnDim: o.expertFfnDim, maxHistory: o.maxHistory,
      sessionLength: o.sessionLength, moeAuxWeight: 0.01, dropout: 0.1,
    };
    validateSeedConfig(config, 'align seed config');
    let seedWeights: Record<string, Float32Array>;
    if (o.seedCheckpoint) {
      const ckpt = readCheckpoint(o.seedCheckpoint);
      if (ckpt.meta.kind !== 'seed') throw new OptionError(`--seedCheckpoint=${o.seedCheckpoint} has kind '${ckpt.meta.kind}', expected a seed model`);
      Object.assign(config, ckpt.meta.config as object);
      seedWeights = checkpointWeights(ckpt);
    } else {
      const { trainSeed } = await import('../align/seed-train.ts');
      const t0 = Date.now();
      const trained = await trainSeed(engine, config, { itemCount, levels, codebookSize, codes, sequences },
        { epochs: o.seedEpochs, batchSize: o.seedBatch, learningRate: o.seedLr, maxExamples: o.seedMaxExamples, maxSeconds: o.seedSeconds, seed: o.seed }, (total) => progressBar('seed model', total));
      seedWeights = await trained.model.weights();
      seedTraining = { epochs: o.seedEpochs, steps: trained.steps, loss: trained.loss, seconds: (Date.now() - t0) / 1000 };
      console.error(`seed model: loss ${trained.loss.map((l) => l.toFixed(4)).join(' → ')} in ${seedTraining.seconds.toFixed(0)} s`);
      const shapes = seedParameterShapes(config);
      write(join(o.out, 'seed.ckpt'), { kind: 'seed', config, step: trained.steps, rng: { seed: o.seed } }, Object.fromEntries(Object.entries(seedWeights).map(([n, d]) => [n, { shape: shapes[n], data: d }])));
    }
    fresh = () => new SeedPolicy(SeedModel.fromWeights(engine, { ...config, dropout: 0 }, seedWeights), codes);
    saveAligned = (policy, path) => saveCheckpoint(path, engine, (policy as InstanceType<typeof SeedPolicy>).model.parameterList(), { kind: 'seed', config, step: 0, rng: { seed: o.seed } });
  }

  // ---- evaluation and iterations, for the primary setting (--alignLr, --beta) and any --variants
  const settings = [{ alignLr: o.alignLr, beta: o.beta, ntpWeight: o.ntpWeight }, ...(o.variants ? o.variants.split(',').map((v) => {
    const [lr, beta, ntp = o.ntpWeight, ...rest] = v.split(':').map(Number);
    if (!Number.isFinite(lr) || !Number.isFinite(beta) || !Number.isFinite(ntp) || rest.length > 0) throw new OptionError(`--variants=${o.variants}: each variant is learningRate:beta or learningRate:beta:ntpWeight, e.g. 1e-5:0.1:1`);
    return { alignLr: lr, beta, ntpWeight: ntp };
  }) : [])];
  // Every model is evaluated on the test users and (when there is a validation period) the validation users.
  const evaluate = async (name: string, policy: AlignPolicy, it: IterateOptions, seeds?: { test: ModelReport; validation?: ModelReport }) => {
    const test = await evaluatePolicy(name, policy, trie, evalUsers, scorer, it, progressBar(`evaluate ${name}`, evalUsers.length), seeds?.test);
    const validation = validationUsers.length > 0 ? await evaluatePolicy(name, policy, trie, validationUsers, scorer, it, progressBar(`validate ${name}`, validationUsers.length), seeds?.validation) : undefined;
    return { test, validation };
  };
  const seedReports = await evaluate('seed', fresh(), baseOptions);
  const seedReport = seedReports.test;
  console.error(`seed: reward ${seedReport.reward.mean.toFixed(4)}, recall@10 ${seedReport['recall@10'].toFixed(4)} (test)${seedReports.validation ? `, ${seedReports.validation['recall@10'].toFixed(4)} (validation)` : ''}`);
  let lastIterationSeconds = 0;
  const runs: AlignRun[] = [];
  for (const [v, setting] of settings.entries()) {
    const it: IterateOptions = { ...baseOptions, learningRate: setting.alignLr, beta: setting.beta, ntpWeight: setting.ntpWeight };
    const policy = fresh();
    const userRng = new Rng(o.seed + 1); // the same users per iteration for every setting
    const models: ModelReport[] = [seedReport];
    const validation: ModelReport[] = seedReports.validation ? [seedReports.validation] : [];
    const iterations: IterationReport[] = [];
    let stoppedEarly = false;
    for (let t = 1; t <= o.iterations; t++) {
      const t0 = Date.now();
      if (o.budgetSeconds > 0 && (t0 - started) / 1000 + 1.2 * lastIterationSeconds > o.budgetSeconds) {
        stoppedEarly = true;
        console.error(`budget: iteration ${t} of setting ${v} would not fit in --budgetSeconds=${o.budgetSeconds}; stopping`);
        break;
      }
      const users = sampleUsers(alignUsers, o.userFraction, userRng);
      const { pairs, gap } = await buildPairs(policy, trie, users, scorer, it, progressBar(`pairs ${t}`, users.length));
      const trained = await trainOnPairs(policy, pairs, it, userRng, progressBar(`DPO ${t}`, o.dpoEpochs * Math.ceil(pairs.length / o.alignBatch)));
      iterations.push({ iteration: t, users: users.length, pairs: pairs.length, mean_reward_gap: gap, ...trained, seconds: (Date.now() - t0) / 1000 });
      const evaluated = await evaluate(`iteration ${t}`, policy, it, seedReports);
      models.push(evaluated.test);
      if (evaluated.validation) validation.push(evaluated.validation);
      if (saveAligned && v === 0) await saveAligned(policy, join(o.out, `aligned-${t}.ckpt`)); // every iteration: pick by relevance later
      lastIterationSeconds = (Date.now() - t0) / 1000;
      console.error(`[lr ${setting.alignLr}, beta ${setting.beta}, ntp ${setting.ntpWeight}] iteration ${t}: ${pairs.length} pairs, DPO ${trained.dpo_loss.map((l) => l.toFixed(4)).join(' → ')}, reward ${models[t].reward.mean.toFixed(4)}, recall@10 ${models[t]['recall@10'].toFixed(4)} (test)${evaluated.validation ? `, validation reward ${evaluated.validation.reward.mean.toFixed(4)} recall@10 ${evaluated.validation['recall@10'].toFixed(4)}` : ''}`);
    }
    if (saveAligned && v === 0) await saveAligned(policy, join(o.out, 'aligned.ckpt'));
    const last = models[models.length - 1];
    runs.push({ ...setting, models, validation, iterations, reward_gain: relativeChange(last.reward.mean, seedReport.reward.mean), relevance_change: relativeChange(last['recall@10'], seedReport['recall@10']), stopped_early: stoppedEarly });
  }

  const targets = { reward_gain: 0.05, relevance_change_within: 0.02 };
  const selected = selectModel(runs, targets.relevance_change_within);
  const report: AlignReport = {
    dataset: 'kuairand-pure (standard log 2022-04-25 … 05-08)', created: new Date().toISOString(), command: `onerec align ${argv.join(' ')}`.trim(),
    device, semantic_ids: semanticIds, policy: o.policy === 'seed' ? 'seed transformer (WebGPU engine)' : 'bigram (CPU)', options: o, periods,
    // fit is null only with --evalBundles, which returned above
    reward_model: fit!.report, reward_weights: Object.fromEntries(towers.map((t, k) => [t, weights[k]])), seed_training: seedTraining,
    selected, ...selectedFields(runs, selected), targets, runs, seconds: (Date.now() - started) / 1000,
  };
  writeReport(report, [join(o.out, 'report.json'), o.report]);
}

function writeReport(report: AlignReport, paths: string[]): void {
  const json = JSON.stringify(report, null, 2) + '\n';
  for (const path of paths.filter(Boolean)) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, json);
  }
  for (const [r, run] of report.runs.entries()) {
    console.log(`\nsetting ${r}: lr ${run.alignLr}, beta ${run.beta}, ntpWeight ${run.ntpWeight} (test users; validation reward/recall@10: ${run.validation.map((m) => `${m.reward.mean.toFixed(4)}/${m['recall@10'].toFixed(4)}`).join(', ') || 'none'})`);
    console.log(alignTable({ ...report, ...selectedFields(report.runs, { ...report.selected, run: r, iteration: run.models.length - 1 }), selected: undefined as unknown as AlignReport['selected'] }));
  }
  console.log(`\nselected: setting ${report.selected.run}, ${report.selected.iteration === 0 ? 'the seed' : `iteration ${report.selected.iteration}`} — ${report.selected.rule}\n${alignTable(report)}`);
}

/**
 * --merge: reports of runs from the same seed checkpoint and reward model (e.g. one setting per process on one
 * GPU) become one report that selects over all their settings. Their seed rows must agree.
 */
function mergeReports(paths: string[], out: string): void {
  const reports = paths.map((p) => JSON.parse(readFileSync(p, 'utf8')) as AlignReport);
  const first = reports[0];
  for (const [i, r] of reports.entries()) {
    if (!Array.isArray(r.runs)) throw new OptionError(`--merge: ${paths[i]} has no 'runs' (a report of an older onerec align); run it again`);
    const a = r.runs[0].models[0];
    const b = first.runs[0].models[0];
    if (Math.abs(a.reward.mean - b.reward.mean) > 1e-6 || a['recall@10'] !== b['recall@10'] || a.users !== b.users) {
      throw new OptionError(`--merge: ${paths[i]}'s seed row (reward ${a.reward.mean}, recall@10 ${a['recall@10']}, ${a.users} users) differs from ${paths[0]}'s (${b.reward.mean}, ${b['recall@10']}, ${b.users}); merge only runs from one --seedCheckpoint with the same data flags`);
    }
  }
  const runs = reports.flatMap((r) => r.runs);
  const selected = selectModel(runs, first.targets.relevance_change_within);
  const merged: AlignReport = {
    ...first, created: new Date().toISOString(), command: reports.map((r) => r.command).join(' ;; '),
    selected, ...selectedFields(runs, selected), runs, seconds: Math.max(...reports.map((r) => r.seconds)),
  };
  writeReport(merged, [out]);
}

/** --evalBundles: a reward.ckpt written by onerec align (read and checked as onerec export --reward does), as the scorer. */
async function loadRewardModel(path: string): Promise<{ trainer: RewardTrainer; towerWeights: number[] }> {
  if (!path) throw new OptionError('--evalBundles needs --rewardCheckpoint=<reward.ckpt of the onerec align run>');
  const { readRewardCheckpoint } = await import('./export.ts');
  const { weights, config, towerWeights } = readRewardCheckpoint(path);
  const trainer = new RewardTrainer(config, 1);
  for (const [name, p] of Object.entries(trainer.params)) p.set(weights[name]);
  return { trainer, towerWeights };
}
