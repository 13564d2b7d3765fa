// The alignment stage behind `onerec align` (models/commands/align.ts declares and parses the options):
// prepared KuaiRand data → the reward model's sessions with histories (models/reward/sessions.ts) → reward model with
// per-tower held-out AUC beside item popularity → seed model (trained here unless --seedCheckpoint) → per setting and
// iteration: sample users, beam-search N sessions each, best/worst pair by the reward model, DPO + next-token
// training → evaluation of every model on held-out users → report JSON + markdown table.
//
// Writes to --out: reward.ckpt (kind 'reward': config, tower weights, label rules), seed.ckpt when the seed is
// trained here, aligned-<t>.ckpt after each iteration and aligned.ckpt (the last), report.json.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadPrepared, type PreparedData } from '../data/prepared.ts';
import type { Engine } from '../engine/index.ts';
import { OptionError } from '../options.ts';
import { progressBar, type Progress } from '../progress.ts';
import { Rng } from '../random.ts';
import type { RewardConfig } from '../reward/config.ts';
import { fitRewardModel, padItems, type RewardFitReport } from '../reward/fit.ts';
import { parseTowers, TOWER_LABELS } from '../reward/labels.ts';
import { observedSessions, splitDay, type SessionWithHistory } from '../reward/sessions.ts';
import { RewardTrainer } from '../reward/trainer.ts';
import { BigramPolicy } from './bigram-policy.ts';
import { buildPairs, evaluatePolicy, sampleUsers, trainOnPairs, type AlignUser, type IterateOptions, type IterationReport, type ModelReport, type SessionScorer } from './iterate.ts';
import type { AlignOptions } from '../commands/align.ts';
import type { AlignPolicy } from './policy.ts';
import { relativeChange, selectedFields, selectModel, rewardTable, writeReport, type AlignReport, type AlignRun } from './report.ts';

/** The prepared data cut into the periods and users of one alignment run. */
interface AlignData {
  prepared: PreparedData;
  sessionLength: number; // m: items per session, observed, generated and scored (the prepared reward sessions')
  sessions: SessionWithHistory[];
  split: number; // first test day
  trainEnd: number; // first validation day (= split without a validation period)
  periods: AlignReport['periods'];
  lastTrain: Map<number, SessionWithHistory>; // user → their last training-period session
  alignUsers: AlignUser[]; // generate from their training-period context
  evalUsers: AlignUser[]; // test users
  validationUsers: AlignUser[];
  heldOutPool: { test: number; validation: number }; // users with a session in each period (evalUsers samples them)
  rng: Rng; // the run's generator after sampling the held-out users (the bigram seed continues it)
}

function alignData(o: AlignOptions): AlignData {
  const prepared = loadPrepared(o.prepared);
  const sessionLength = prepared.meta.rewardSessions?.rules.sessionLength ?? 0;
  const maxHistory = Math.max(o.rmHistory, o.maxHistory);
  const sessions = observedSessions(prepared, maxHistory);
  const split = splitDay(sessions, o.testDays);
  // Models train on days < trainEnd; validation users' sessions lie in [trainEnd, split), test users' from split on.
  const trainEnd = o.valDays > 0 ? splitDay(sessions, o.testDays + o.valDays) : split;
  const periods = { train: `day < ${trainEnd}`, validation: o.valDays > 0 ? `${trainEnd} ≤ day < ${split}` : 'none', test: `day ≥ ${split}` };
  console.error(`kuairand: ${prepared.meta.rows} rows, ${prepared.items.length} videos, ${sessions.length} sessions; train ${periods.train}, validation ${periods.validation}, test ${periods.test}`);

  const lastTrain = new Map<number, SessionWithHistory>();
  for (const s of sessions) if (s.day < trainEnd) lastTrain.set(s.user, s);
  const keep = (h: ArrayLike<number>) => Int32Array.from(Array.from(h).slice(-maxHistory));
  // Alignment users generate from their whole training-period context; their next-token target is the last
  // sessionLength items of it (a real session stretch) given what came before.
  const m = sessionLength;
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
  return { prepared, sessionLength, sessions, split, trainEnd, periods, lastTrain, alignUsers, evalUsers, validationUsers, heldOutPool: { test: firstTest.size, validation: firstValidation.size }, rng };
}

/** The reward model: trained on the training and test days (never the validation days), or read from --rewardCheckpoint. */
async function rewardModel(o: AlignOptions, d: AlignData, engine: Engine | null): Promise<{ scorer: SessionScorer; report: RewardFitReport | null }> {
  const itemCount = d.prepared.items.length;
  const bars: { rm?: Progress } = {};
  // The reward model never sees the validation days (its AUC is still measured on the test days).
  const fit = o.evalBundles ? null : await fitRewardModel(o.valDays > 0 ? d.sessions.filter((s) => s.day < d.trainEnd || s.day >= d.split) : d.sessions, d.split, parseTowers(o.towers),
    { itemCount, dModel: o.rmDim, heads: o.rmHeads, towerHidden: o.rmHidden, maxHistory: o.rmHistory, sessionLength: d.sessionLength, ...rewardItemRepresentation(o, d) },
    { epochs: o.rmEpochs, batchSize: o.rmBatch, learningRate: o.rmLr, weightDecay: 1e-4, seed: o.seed }, o.minPositives,
    (step, steps, loss) => { bars.rm ??= progressBar('reward model', steps); bars.rm.update(step, Number.isNaN(loss) ? undefined : { loss: loss.toFixed(4) }); },
    o.rmTrainer === 'engine' && engine ? engine : undefined, d.prepared.codes);
  bars.rm?.stop();
  if (fit) console.log(`reward model, held-out AUC (split ${d.split}):\n${rewardTable(fit.report)}`);
  const loaded = fit ? null : await loadRewardModel(o.rewardCheckpoint, d.prepared.codes); // --evalBundles: the run's reward model, not trained again
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
    }, Object.fromEntries(Object.entries(rmWeights).map(([n, data]) => [n, { shape: rmShapes[n], data }])));
  }
  const m = d.sessionLength;
  const scorer: SessionScorer = {
    towers, weights,
    score: (history, items) => {
      const rows = Array.from({ length: items.length / m }, (_, n) => ({ history, items: padItems(items.subarray(n * m, (n + 1) * m), m), labels: new Uint8Array(towers.length) }));
      return trainer.predict(rows);
    },
  };
  return { scorer, report: fit?.report ?? null };
}

/** --rmItems: the reward config's item representation (models/reward/config.ts); 'codes' reads the prepared codes' L and K. */
function rewardItemRepresentation(o: AlignOptions, d: AlignData): Pick<RewardConfig, 'itemRepresentation' | 'codeLevels' | 'codebookSize'> {
  if (o.rmItems === 'table') return {};
  if (o.rmItems !== 'codes') throw new OptionError(`--rmItems=${o.rmItems}: use 'table' (a row per item) or 'codes' (semantic-ID code embeddings)`);
  return { itemRepresentation: 'codes', codeLevels: d.prepared.meta.levels, codebookSize: d.prepared.meta.codebookSize };
}

/** --evalBundles: a reward.ckpt written by onerec align (read and checked as onerec export --reward does), as the scorer. */
async function loadRewardModel(path: string, itemCodes: ArrayLike<number>): Promise<{ trainer: RewardTrainer; towerWeights: number[] }> {
  if (!path) throw new OptionError('--evalBundles needs --rewardCheckpoint=<reward.ckpt of the onerec align run>');
  const { readRewardCheckpoint } = await import('../export/export-checkpoints.ts');
  const { weights, config, towerWeights } = readRewardCheckpoint(path);
  const trainer = new RewardTrainer(config, 1, undefined, itemCodes);
  trainer.load(weights);
  return { trainer, towerWeights };
}

interface SeedPolicy {
  fresh: () => AlignPolicy; // a policy at the seed's weights (each alignment setting starts there)
  device: string;
  training: AlignReport['seed_training'];
  save: ((policy: AlignPolicy, path: string) => Promise<void>) | null;
}

/** The policy every setting starts from: the CPU bigram trained here, or the seed transformer (trained here unless --seedCheckpoint). */
async function seedPolicy(o: AlignOptions, d: AlignData, engine: Engine | null, engineApi: typeof import('../engine/index.ts') | null): Promise<SeedPolicy> {
  const { codes, levels, codebookSize } = d.prepared;
  const itemCount = d.prepared.items.length;
  const m = d.sessionLength;
  // Chronological training-period sequences per user (pre-period history + training sessions).
  const sequences = [...d.lastTrain.values()].map((s) => Int32Array.from([...s.history, ...s.items]));
  if (o.policy === 'bigram') {
    const bigram = new BigramPolicy(levels, codebookSize, codes, o.seed);
    const t0 = Date.now();
    const windows: { history: Int32Array; items: Int32Array }[] = [];
    for (const seq of sequences) for (let t = 1; t + m <= seq.length; t += m) windows.push({ history: seq.slice(0, t), items: seq.slice(t, t + m) });
    const bar = progressBar('bigram seed', o.bigramEpochs * Math.ceil(windows.length / 256));
    const losses: number[] = [];
    let step = 0;
    for (let epoch = 0; epoch < o.bigramEpochs; epoch++) {
      d.rng.shuffle(windows);
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
    const fresh = () => {
      const p = new BigramPolicy(levels, codebookSize, codes, o.seed);
      p.A.set(bigram.A);
      p.C.set(bigram.C);
      return p;
    };
    return { fresh, device: 'cpu', training: { epochs: o.bigramEpochs, steps: step, loss: losses, seconds: (Date.now() - t0) / 1000 }, save: null };
  }
  if (!engine || !engineApi) throw new OptionError('internal: the seed policy needs the engine');
  const { readCheckpoint, saveCheckpoint, writeCheckpoint, checkpointWeights } = engineApi;
  const { SeedModel } = await import('../seed/model.ts');
  const { SeedPolicy } = await import('./seed-policy.ts');
  const { validateSeedConfig } = await import('../seed/config.ts');
  const { seedParameterShapes } = await import('../seed/reference.ts');
  const config = {
    codebookSize, levels, dModel: o.dModel, heads: o.heads, encoderLayers: o.encoderLayers, decoderLayers: o.decoderLayers,
    ffnDim: o.ffnDim, experts: o.experts, expertsPerToken: Math.min(2, o.experts), expertFfnDim: o.expertFfnDim, maxHistory: o.maxHistory,
    sessionLength: m, moeAuxWeight: 0.01, dropout: 0.1,
  };
  validateSeedConfig(config, 'align seed config');
  let seedWeights: Record<string, Float32Array>;
  let training: AlignReport['seed_training'];
  if (o.seedCheckpoint) {
    const ckpt = readCheckpoint(o.seedCheckpoint);
    if (ckpt.meta.kind !== 'seed') throw new OptionError(`--seedCheckpoint=${o.seedCheckpoint} has kind '${ckpt.meta.kind}', expected a seed model`);
    Object.assign(config, ckpt.meta.config as object);
    seedWeights = checkpointWeights(ckpt);
  } else {
    const { trainSeedEpochs } = await import('../seed/train.ts');
    const t0 = Date.now();
    const trained = await trainSeedEpochs(engine, config, { itemCount, levels, codebookSize, codes, sequences },
      { epochs: o.seedEpochs, batchSize: o.seedBatch, learningRate: o.seedLr, maxExamples: o.seedMaxExamples, maxSeconds: o.seedSeconds, seed: o.seed }, (total) => progressBar('seed model', total));
    seedWeights = await trained.model.weights();
    training = { epochs: o.seedEpochs, steps: trained.steps, loss: trained.loss, seconds: (Date.now() - t0) / 1000 };
    console.error(`seed model: loss ${trained.loss.map((l) => l.toFixed(4)).join(' → ')} in ${training.seconds.toFixed(0)} s`);
    const shapes = seedParameterShapes(config);
    writeCheckpoint(join(o.out, 'seed.ckpt'), { kind: 'seed', config, step: trained.steps, rng: { seed: o.seed } }, Object.fromEntries(Object.entries(seedWeights).map(([n, data]) => [n, { shape: shapes[n], data }])));
  }
  return {
    fresh: () => new SeedPolicy(SeedModel.fromWeights(engine, { ...config, dropout: 0 }, seedWeights), codes),
    device: engine.adapter,
    training,
    save: (policy, path) => saveCheckpoint(path, engine, (policy as InstanceType<typeof SeedPolicy>).model.parameterList(), { kind: 'seed', config, step: 0, rng: { seed: o.seed } }),
  };
}

/** The settings: --alignLr/--beta/--ntpWeight first, then each of --variants. */
function alignSettings(o: AlignOptions): { alignLr: number; beta: number; ntpWeight: number }[] {
  return [{ alignLr: o.alignLr, beta: o.beta, ntpWeight: o.ntpWeight }, ...(o.variants ? o.variants.split(',').map((v) => {
    const [lr, beta, ntp = o.ntpWeight, ...rest] = v.split(':').map(Number);
    if (!Number.isFinite(lr) || !Number.isFinite(beta) || !Number.isFinite(ntp) || rest.length > 0) throw new OptionError(`--variants=${o.variants}: each variant is learningRate:beta or learningRate:beta:ntpWeight, e.g. 1e-5:0.1:1`);
    return { alignLr: lr, beta, ntpWeight: ntp };
  }) : [])];
}

/** One alignment run (or, with --evalBundles, the evaluation of exported bundles); `argv` goes into the report. */
export async function runAlignment(o: AlignOptions, argv: string[]): Promise<void> {
  const started = Date.now();
  mkdirSync(o.out, { recursive: true });
  const d = alignData(o);
  const engineApi = !o.evalBundles && (o.policy === 'seed' || o.rmTrainer === 'engine') ? await import('../engine/index.ts') : null;
  const engine = engineApi ? await engineApi.createEngine() : null;
  const { scorer, report: rewardReport } = await rewardModel(o, d, engine);
  console.error(`held-out users: ${d.validationUsers.length} validation (of ${d.heldOutPool.validation}), ${d.evalUsers.length} test (of ${d.heldOutPool.test})`);
  const { codes, levels, codebookSize, trie } = d.prepared;
  const semanticIds = `prepared by onerec prepare: ${o.prepared} (${levels} levels incl. suffix, K ${codebookSize})`;
  const baseOptions: IterateOptions = {
    sessionLength: d.sessionLength, sessions: o.sessions, userFraction: o.userFraction, beta: o.beta, ntpWeight: o.ntpWeight, learningRate: o.alignLr,
    dpoEpochs: o.dpoEpochs, batchSize: o.alignBatch, evalBeams: o.evalBeams, usersPerBatch: o.usersPerBatch, excludeHistory: o.excludeHistory, seed: o.seed,
  };
  if (o.evalBundles) {
    const { evaluateBundles } = await import('./bundle-eval.ts');
    await evaluateBundles(o.evalBundles.split(','), { codes, itemCount: d.prepared.items.length, evalUsers: d.evalUsers, validationUsers: d.validationUsers, scorer, periods: d.periods, report: o.report || join(o.out, 'bundles-report.json'), argv, splits: o.evalSplits.split(','), options: baseOptions });
    return;
  }
  const seed = await seedPolicy(o, d, engine, engineApi);

  // Every model is evaluated on the test users and (when there is a validation period) the validation users.
  const evaluate = async (name: string, policy: AlignPolicy, it: IterateOptions, seeds?: { test: ModelReport; validation?: ModelReport }) => {
    const test = await evaluatePolicy(name, policy, trie, d.evalUsers, scorer, it, progressBar(`evaluate ${name}`, d.evalUsers.length), seeds?.test);
    const validation = d.validationUsers.length > 0 ? await evaluatePolicy(name, policy, trie, d.validationUsers, scorer, it, progressBar(`validate ${name}`, d.validationUsers.length), seeds?.validation) : undefined;
    return { test, validation };
  };
  const seedReports = await evaluate('seed', seed.fresh(), baseOptions);
  const seedReport = seedReports.test;
  console.error(`seed: reward ${seedReport.reward.mean.toFixed(4)}, recall@10 ${seedReport['recall@10'].toFixed(4)} (test)${seedReports.validation ? `, ${seedReports.validation['recall@10'].toFixed(4)} (validation)` : ''}`);
  let lastIterationSeconds = 0;
  const runs: AlignRun[] = [];
  for (const [v, setting] of alignSettings(o).entries()) {
    const it: IterateOptions = { ...baseOptions, learningRate: setting.alignLr, beta: setting.beta, ntpWeight: setting.ntpWeight };
    const policy = seed.fresh();
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
      const users = sampleUsers(d.alignUsers, o.userFraction, userRng);
      const { pairs, gap } = await buildPairs(policy, trie, users, scorer, it, progressBar(`pairs ${t}`, users.length));
      const trained = await trainOnPairs(policy, pairs, it, userRng, progressBar(`DPO ${t}`, o.dpoEpochs * Math.ceil(pairs.length / o.alignBatch)));
      iterations.push({ iteration: t, users: users.length, pairs: pairs.length, mean_reward_gap: gap, ...trained, seconds: (Date.now() - t0) / 1000 });
      const evaluated = await evaluate(`iteration ${t}`, policy, it, seedReports);
      models.push(evaluated.test);
      if (evaluated.validation) validation.push(evaluated.validation);
      if (seed.save && v === 0) await seed.save(policy, join(o.out, `aligned-${t}.ckpt`)); // every iteration: pick by relevance later
      lastIterationSeconds = (Date.now() - t0) / 1000;
      console.error(`[lr ${setting.alignLr}, beta ${setting.beta}, ntp ${setting.ntpWeight}] iteration ${t}: ${pairs.length} pairs, DPO ${trained.dpo_loss.map((l) => l.toFixed(4)).join(' → ')}, reward ${models[t].reward.mean.toFixed(4)}, recall@10 ${models[t]['recall@10'].toFixed(4)} (test)${evaluated.validation ? `, validation reward ${evaluated.validation.reward.mean.toFixed(4)} recall@10 ${evaluated.validation['recall@10'].toFixed(4)}` : ''}`);
    }
    if (seed.save && v === 0) await seed.save(policy, join(o.out, 'aligned.ckpt'));
    const last = models[models.length - 1];
    runs.push({ ...setting, models, validation, iterations, reward_gain: relativeChange(last.reward.mean, seedReport.reward.mean), relevance_change: relativeChange(last['recall@10'], seedReport['recall@10']), stopped_early: stoppedEarly });
  }

  const targets = { reward_gain: 0.05, relevance_change_within: 0.02 };
  const selected = selectModel(runs, targets.relevance_change_within);
  const report: AlignReport = {
    dataset: 'kuairand-pure (standard log 2022-04-25 … 05-08)', created: new Date().toISOString(), command: `onerec align ${argv.join(' ')}`.trim(),
    device: seed.device, semantic_ids: semanticIds, policy: o.policy === 'seed' ? 'seed transformer (WebGPU engine)' : 'bigram (CPU)', options: o, periods: d.periods,
    // rewardReport is null only with --evalBundles, which returned above
    reward_model: rewardReport!, reward_weights: Object.fromEntries(scorer.towers.map((t, k) => [t, scorer.weights[k]])), seed_training: seed.training,
    selected, ...selectedFields(runs, selected), targets, runs, seconds: (Date.now() - started) / 1000,
  };
  writeReport(report, [join(o.out, 'report.json'), o.report]);
}
