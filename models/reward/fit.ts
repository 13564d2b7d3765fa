// The reward stage end to end on observed sessions: labels → popularity baseline → reward model → AUC per
// tower on the held-out later days, beside the baseline. Used by `onerec align` (models/commands/align.ts).
import type { RewardConfig } from './config.ts';
import { RewardDataError } from './errors.ts';
import { fitSwtThreshold, sessionLabels, towersSupported, type LabelRules, type TowerName } from './labels.ts';
import type { SessionWithHistory } from './sessions.ts';
import { auc, meanBce } from './metrics.ts';
import { fitPopularity, scorePopularity } from './popularity.ts';
import type { Engine } from '../engine/index.ts';
import { EngineRewardModel, trainOnEngine } from './engine-model.ts';
import { Rng } from '../random.ts';
import { RewardTrainer, type RewardExample, type RewardTrainConfig } from './trainer.ts';

export interface TowerReport {
  auc: number | null;              // reward model, held-out sessions (null: one class only)
  popularity_auc: number | null;   // item-popularity baseline on the same sessions
  bce: number;                     // reward model's mean BCE on held-out sessions
  train_positive_rate: number;
  test_positives: number;
  test_sessions: number;
}

export interface RewardFitReport {
  trained_on: string;
  towers: Record<string, TowerReport>;
  dropped_towers: Record<string, { trainPositive: number; testPositive: number }>;
  swt_threshold_ms: number;
  train_sessions: number;
  test_sessions: number;
  split_day: number;
  epoch_loss: number[];
  seconds: number;
}

/** Session items padded with −1 to `sessionLength`. */
export function padItems(items: ArrayLike<number>, sessionLength: number): Int32Array {
  const out = new Int32Array(sessionLength).fill(-1);
  for (let i = 0; i < Math.min(items.length, sessionLength); i++) out[i] = items[i];
  return out;
}

export function rewardExamples(sessions: readonly SessionWithHistory[], towers: readonly TowerName[], rules: LabelRules, sessionLength: number): RewardExample[] {
  const labels = sessionLabels(sessions, towers, rules); // [sessions, towers]
  return sessions.map((s, i) => ({ history: s.history, items: padItems(s.items, sessionLength), labels: labels.subarray(i * towers.length, (i + 1) * towers.length) }));
}

/**
 * Labels, baseline, training, held-out AUC. With `engine` the towers train on the WebGPU engine
 * (models/reward/engine-model.ts, same init) and the trained weights come back into the CPU trainer, which
 * then scores (the two forwards are parity-tested); without, the CPU float64 trainer trains. `itemCodes` [items, L]:
 * the items' semantic-ID codes, needed when `model.itemRepresentation` is 'codes'.
 */
export async function fitRewardModel(
  sessions: readonly SessionWithHistory[], splitDay: number, candidates: readonly TowerName[], model: Omit<RewardConfig, 'towers'>, train: RewardTrainConfig,
  minPositives: number, onStep?: (step: number, steps: number, loss: number) => void, engine?: Engine, itemCodes?: ArrayLike<number>,
): Promise<{ trainer: RewardTrainer; report: RewardFitReport; rules: LabelRules }> {
  const start = Date.now();
  const trainSessions = sessions.filter((s) => s.day < splitDay);
  const testSessions = sessions.filter((s) => s.day >= splitDay);
  if (trainSessions.length === 0 || testSessions.length === 0) {
    throw new RewardDataError(`split day ${splitDay} leaves ${trainSessions.length} training and ${testSessions.length} held-out sessions; both must be non-empty (change --testDays)`);
  }
  const rules: LabelRules = { swtThresholdMs: fitSwtThreshold(trainSessions) };
  const { kept, counts } = towersSupported(candidates, trainSessions, testSessions, rules, minPositives);
  if (kept.length === 0) throw new RewardDataError(`no tower has ${minPositives} positives and negatives on both sides of the split; lower --minPositives`);
  const config: RewardConfig = { ...model, towers: kept };
  const popularity = fitPopularity(trainSessions, kept, rules, model.itemCount);
  const trainExamples = rewardExamples(trainSessions, kept, rules, model.sessionLength);
  const testExamples = rewardExamples(testSessions, kept, rules, model.sessionLength);
  const trainer = new RewardTrainer(config, train.seed, popularity.prior, itemCodes);
  let epochLoss: number[];
  if (engine) {
    const onEngine = EngineRewardModel.fromWeights(engine, config, trainer.weights(), itemCodes);
    const rng = new Rng(train.seed);
    epochLoss = await trainOnEngine(onEngine, trainExamples, train.epochs, train.batchSize, train.learningRate, train.weightDecay, (order) => rng.shuffle(order), (step, steps) => onStep?.(step, steps, NaN));
    trainer.load(await onEngine.weights());
  } else {
    epochLoss = trainer.fit(trainExamples, train, onStep);
  }
  const predicted = trainer.predict(testExamples); // [test, T]
  const baseline = scorePopularity(popularity, testExamples.map((e) => e.items)); // [test, T]
  const T = kept.length;
  const column = (a: ArrayLike<number>, k: number) => Array.from({ length: testExamples.length }, (_, i) => a[i * T + k]);
  const towers: Record<string, TowerReport> = {};
  kept.forEach((t, k) => {
    const y = testExamples.map((e) => e.labels[k]);
    const a = auc(column(predicted, k), y);
    const b = auc(column(baseline, k), y);
    towers[t] = {
      auc: Number.isNaN(a) ? null : a, popularity_auc: Number.isNaN(b) ? null : b, bce: meanBce(column(predicted, k), y),
      train_positive_rate: popularity.prior[k], test_positives: counts[t].testPositive, test_sessions: testExamples.length,
    };
  });
  const dropped = Object.fromEntries(candidates.filter((t) => !kept.includes(t)).map((t) => [t, { trainPositive: counts[t].trainPositive, testPositive: counts[t].testPositive }]));
  return {
    trainer, rules,
    report: { trained_on: engine ? `WebGPU engine (${engine.adapter})` : 'CPU (float64)', towers, dropped_towers: dropped, swt_threshold_ms: rules.swtThresholdMs, train_sessions: trainSessions.length, test_sessions: testSessions.length, split_day: splitDay, epoch_loss: epochLoss, seconds: (Date.now() - start) / 1000 },
  };
}
