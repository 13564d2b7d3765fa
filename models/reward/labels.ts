// Session-level reward targets defined from KuaiRand's real per-impression columns.
//
// A session is a short run of one user's impressions (built by the data stage, models/data/). Each tower of
// the reward model predicts one binary label of the whole session (OneRec §3.3: swt, vtr, wtr, ltr):
//
//   swt  session watch time  Σ play_time_ms over the session's items > `swtThresholdMs`; the threshold is
//                            the median session watch time of the *training* sessions (fitSwtThreshold), so
//                            about half of the training sessions are positive and no test day leaks into it.
//   vtr  view-through        at least half of the session's items have KuaiRand's `long_view` = 1 (the
//                            dataset's own "watched long enough" flag, itself derived from play vs duration).
//   wtr  follow              some item of the session has `is_follow` = 1.
//   ltr  like                some item of the session has `is_like` = 1.
//   cmt  comment             some item of the session has `is_comment` = 1.
//   fwd  forward (share)     some item of the session has `is_forward` = 1.
//
// Row rates in the 04-25…05-08 log (../shared/data/kuairand-pure/SOURCE.md): long_view 0.311, like 0.0171,
// comment 0.00254, follow 0.00133, forward 0.00085. `towersSupported` drops a tower whose training
// positives are too few to learn or to measure (fwd usually is).
import { RewardDataError } from './errors.ts';

/** One observed session: a user's impressions in time order, with KuaiRand's signals per impression. */
export interface ObservedSession {
  user: number;              // user index (the data stage's numbering)
  day: number;               // yyyymmdd of the session's first impression; the time split is by day
  items: Int32Array;         // [m] item indices, oldest first
  playTimeMs: Float64Array;  // [m] play_time_ms
  durationMs: Float64Array;  // [m] duration_ms
  longView: Uint8Array;      // [m] long_view
  like: Uint8Array;          // [m] is_like
  follow: Uint8Array;        // [m] is_follow
  comment: Uint8Array;       // [m] is_comment
  forward: Uint8Array;       // [m] is_forward
}

export const TOWER_NAMES = ['swt', 'vtr', 'wtr', 'ltr', 'cmt', 'fwd'] as const;
export type TowerName = (typeof TOWER_NAMES)[number];

/** Human-readable definition of each tower's label (goes into the bundle manifest's `reward.towers[].label`). */
export const TOWER_LABELS: Record<TowerName, string> = {
  swt: 'session watch time: sum of play_time_ms over the session > threshold (median of training sessions)',
  vtr: 'view-through: at least half of the session items have long_view = 1',
  wtr: 'follow: some session item has is_follow = 1',
  ltr: 'like: some session item has is_like = 1',
  cmt: 'comment: some session item has is_comment = 1',
  fwd: 'forward: some session item has is_forward = 1',
};

export interface LabelRules {
  swtThresholdMs: number;  // ms; session watch time strictly above this is a positive swt label
}

function any(flags: Uint8Array): number {
  for (let i = 0; i < flags.length; i++) if (flags[i]) return 1;
  return 0;
}

function checkSession(s: ObservedSession, where: string): void {
  const m = s.items.length;
  if (m === 0) throw new RewardDataError(`${where}: session of user ${s.user} on ${s.day} has no items; drop empty sessions before labelling`);
  for (const key of ['playTimeMs', 'durationMs', 'longView', 'like', 'follow', 'comment', 'forward'] as const) {
    if (s[key].length !== m) {
      throw new RewardDataError(`${where}: session of user ${s.user} on ${s.day} has ${m} items but ${s[key].length} ${key} values; every signal array needs one value per item`);
    }
  }
}

export function sessionWatchTimeMs(s: ObservedSession): number {
  let total = 0;
  for (let i = 0; i < s.playTimeMs.length; i++) total += s.playTimeMs[i];
  return total;
}

/** The swt threshold: the median session watch time of `train` (lower median for an even count). */
export function fitSwtThreshold(train: readonly ObservedSession[]): number {
  if (train.length === 0) throw new RewardDataError('fitSwtThreshold: no training sessions; the threshold is fitted on the training days');
  const totals = train.map(sessionWatchTimeMs).sort((a, b) => a - b);
  return totals[(totals.length - 1) >> 1];
}

/** The label of one tower for one session (0 or 1). */
export function sessionLabel(s: ObservedSession, tower: TowerName, rules: LabelRules): number {
  checkSession(s, `sessionLabel(${tower})`);
  switch (tower) {
    case 'swt':
      return sessionWatchTimeMs(s) > rules.swtThresholdMs ? 1 : 0;
    case 'vtr': {
      let viewed = 0;
      for (let i = 0; i < s.longView.length; i++) viewed += s.longView[i] ? 1 : 0;
      return 2 * viewed >= s.longView.length ? 1 : 0;
    }
    case 'wtr':
      return any(s.follow);
    case 'ltr':
      return any(s.like);
    case 'cmt':
      return any(s.comment);
    case 'fwd':
      return any(s.forward);
  }
}

/** Labels of `towers` for every session: `[sessions, towers]` row-major, 0/1. */
export function sessionLabels(sessions: readonly ObservedSession[], towers: readonly TowerName[], rules: LabelRules): Uint8Array {
  const out = new Uint8Array(sessions.length * towers.length); // [sessions, towers]
  sessions.forEach((s, i) => towers.forEach((t, k) => { out[i * towers.length + k] = sessionLabel(s, t, rules); }));
  return out;
}

/** Parse a comma-separated tower list (`swt,vtr,wtr,ltr`), rejecting unknown names. */
export function parseTowers(list: string): TowerName[] {
  const names = list.split(',').map((x) => x.trim()).filter(Boolean);
  if (names.length === 0) throw new RewardDataError(`tower list '${list}' is empty; give some of ${TOWER_NAMES.join(',')}`);
  for (const n of names) {
    if (!(TOWER_NAMES as readonly string[]).includes(n)) throw new RewardDataError(`unknown tower '${n}' in '${list}'; the towers are ${TOWER_NAMES.join(',')}`);
  }
  if (new Set(names).size !== names.length) throw new RewardDataError(`tower list '${list}' names a tower twice`);
  return names as TowerName[];
}

/**
 * Keep the towers that the data support: at least `minPositives` positive and negative sessions in
 * the training set *and* in the held-out set (fewer make the BCE a constant and the AUC noise).
 * Returns the kept towers and, per tower, the counts that decided it.
 */
export function towersSupported(
  candidates: readonly TowerName[], train: readonly ObservedSession[], test: readonly ObservedSession[], rules: LabelRules, minPositives: number,
): { kept: TowerName[]; counts: Record<string, { trainPositive: number; trainSessions: number; testPositive: number; testSessions: number }> } {
  const counts: Record<string, { trainPositive: number; trainSessions: number; testPositive: number; testSessions: number }> = {};
  const kept: TowerName[] = [];
  for (const t of candidates) {
    const trainPositive = train.reduce((n, s) => n + sessionLabel(s, t, rules), 0);
    const testPositive = test.reduce((n, s) => n + sessionLabel(s, t, rules), 0);
    counts[t] = { trainPositive, trainSessions: train.length, testPositive, testSessions: test.length };
    const ok = Math.min(trainPositive, train.length - trainPositive, testPositive, test.length - testPositive) >= minPositives;
    if (ok) kept.push(t);
  }
  return { kept, counts };
}
