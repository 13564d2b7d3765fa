// The baseline the reward towers must beat: item popularity per target.
//
// For each tower t and item v, rate_t(v) = (Σ label_t over training sessions containing v + a·prior_t) /
// (sessions containing v + a), a Beta-smoothed per-item positive rate (prior_t = the tower's training
// rate, a = `smoothing` pseudo-sessions, so unseen items score the prior). A session's baseline score is the
// mean rate of its items. It knows nothing of the user: whatever the towers gain over it comes from u.
import { RewardDataError } from './errors.ts';
import { sessionLabel, type LabelRules, type ObservedSession, type TowerName } from './labels.ts';

export interface PopularityBaseline {
  towers: TowerName[];
  rate: Float64Array;   // [towers, items] smoothed per-item positive rate
  prior: Float64Array;  // [towers] training positive rate
  itemCount: number;
}

export function fitPopularity(
  train: readonly ObservedSession[], towers: readonly TowerName[], rules: LabelRules, itemCount: number, smoothing = 10,
): PopularityBaseline {
  if (train.length === 0) throw new RewardDataError('fitPopularity: no training sessions');
  const T = towers.length;
  const positive = new Float64Array(T * itemCount); // [towers, items]
  const seen = new Float64Array(itemCount);         // [items] training sessions containing the item
  const prior = new Float64Array(T);
  for (const s of train) {
    const labels = towers.map((t) => sessionLabel(s, t, rules));
    labels.forEach((y, k) => { prior[k] += y; });
    for (const v of new Set(s.items)) {
      if (v < 0 || v >= itemCount) throw new RewardDataError(`fitPopularity: item ${v} of user ${s.user}'s session is outside 0..${itemCount - 1}`);
      seen[v]++;
      labels.forEach((y, k) => { positive[k * itemCount + v] += y; });
    }
  }
  for (let k = 0; k < T; k++) prior[k] /= train.length;
  const rate = new Float64Array(T * itemCount);
  for (let k = 0; k < T; k++) {
    for (let v = 0; v < itemCount; v++) rate[k * itemCount + v] = (positive[k * itemCount + v] + smoothing * prior[k]) / (seen[v] + smoothing);
  }
  return { towers: [...towers], rate, prior, itemCount };
}

/** Baseline scores `[sessions, towers]`: the mean popularity rate of each session's items (padding −1 skipped). */
export function scorePopularity(model: PopularityBaseline, sessions: readonly ArrayLike<number>[]): Float64Array {
  const T = model.towers.length;
  const out = new Float64Array(sessions.length * T); // [sessions, towers]
  sessions.forEach((items, i) => {
    for (let k = 0; k < T; k++) {
      let sum = 0;
      let count = 0;
      for (let j = 0; j < items.length; j++) {
        const v = items[j];
        if (v < 0) continue;
        sum += v < model.itemCount ? model.rate[k * model.itemCount + v] : model.prior[k];
        count++;
      }
      out[i * T + k] = count > 0 ? sum / count : model.prior[k];
    }
  });
  return out;
}
