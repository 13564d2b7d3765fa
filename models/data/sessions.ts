// Sessions and OneRec's quality rules.
//
// OneRec trains its decoder on high-quality sessions: a user's consecutive impressions within a time gap
// that (1) consumed at least `minConsumed` items, (2) watched at least `minTotalPlayMs` in total and
// (3) have at least one explicit interaction (like, follow, comment, forward). Each rule is a bit in
// `flags`, so the report can say how many sessions each rule keeps on its own and all together.
//
// Datasets without play time or explicit signals (Amazon: a review = a purchase) use a substitute:
// every window of `windowLength` consecutive train items of a user is a session, and all rules count as
// met (each item there was bought and reviewed, the strongest explicit signal the data has).
//
// The reward model (models/reward/) reads its own sessions, cut by a second rule (`RewardSessionRules`): a
// user's consecutive impressions whose gaps are ≤ `gapHours`, cut into chunks of at most `sessionLength`
// items (a feed page); chunks shorter than `minItems` are dropped. The quality rules are not applied there
// (only flagged): they would fix the swt/wtr/ltr labels to 1, and a reward model must see bad sessions too.
import type { Dataset } from './dataset.ts';
import { TRAIN, type Split } from './splits.ts';

export const RULE_CONSUMED = 1; // ≥ minConsumed items with play time ≥ consumedPlayMs
export const RULE_PLAY_TIME = 2; // Σ play time ≥ minTotalPlayMs
export const RULE_EXPLICIT = 4; // ≥ 1 like / follow / comment / forward
export const ALL_RULES = RULE_CONSUMED | RULE_PLAY_TIME | RULE_EXPLICIT;

export interface SessionRules {
  gapMinutes: number; // a new session starts after this long without an impression (minutes)
  minConsumed: number; // rule 1: items actually consumed in the session (OneRec: 5)
  consumedPlayMs: number; // an impression counts as consumed when watched at least this long (ms)
  minTotalPlayMs: number; // rule 2: total play time of the session (ms)
  windowLength: number; // the substitute on data without play time: items per window
}

export const DEFAULT_SESSION_RULES: SessionRules = {
  gapMinutes: 30,
  minConsumed: 5,
  consumedPlayMs: 3000,
  minTotalPlayMs: 60_000,
  windowLength: 5,
};

export interface RewardSessionRules {
  gapHours: number; // a larger gap between two impressions of a user starts a new run (hours)
  sessionLength: number; // items; longer runs are cut into chunks of this many (the reward model's m)
  minItems: number; // chunks with fewer items are dropped
}

export const DEFAULT_REWARD_SESSION_RULES: RewardSessionRules = { gapHours: 24, sessionLength: 5, minItems: 2 };

export interface Sessions {
  kind: 'time-gap' | 'windows' | 'reward';
  offsets: Int32Array; // [sessions + 1]  rows of session s are rows[offsets[s] .. offsets[s+1]-1]
  rows: Int32Array; // [Σ session lengths] interaction row indices (into Dataset columns), chronological
  user: Int32Array; // [sessions] user index
  day: Int32Array; // [sessions] day index of the session's first row
  flags: Uint8Array; // [sessions] bit set of the rules the session meets (ALL_RULES = high quality)
}

export interface SessionCounts {
  sessions: number;
  consumed: number; // sessions meeting rule 1
  play_time: number; // rule 2
  explicit: number; // rule 3
  high_quality: number; // all three
}

type Rows = Pick<Dataset, 'userOffsets' | 'item' | 'timeMs' | 'day' | 'signals'>;

/** The quality rules met by the user-ordered rows start .. end-1, as a bit set (RULE_*). */
function qualityFlags(data: Rows, rules: SessionRules): (start: number, end: number) => number {
  const play = data.signals.play_time_ms;
  if (!play) throw new Error('sessions by time gap need a play_time_ms signal; use windowSessions for data without play time');
  const explicitSignals = ['like', 'follow', 'comment', 'forward', 'share'].map((n) => data.signals[n]).filter((s): s is Float32Array => s !== undefined);
  return (start, end) => {
    let consumed = 0;
    let total = 0;
    let explicit = false;
    for (let r = start; r < end; r++) {
      const p = Number.isFinite(play[r]) ? play[r] : 0;
      if (p >= rules.consumedPlayMs) consumed++;
      total += p;
      for (const s of explicitSignals) if (s[r] > 0) explicit = true;
    }
    return (consumed >= rules.minConsumed ? RULE_CONSUMED : 0) | (total >= rules.minTotalPlayMs ? RULE_PLAY_TIME : 0) | (explicit ? RULE_EXPLICIT : 0);
  };
}

/** Calls `run(u, start, end)` for every run of user u's rows (user-ordered rows start .. end-1) with gaps ≤ gapMs. */
function forEachGapRun(data: Rows, gapMs: number, run: (u: number, start: number, end: number) => void): void {
  const users = data.userOffsets.length - 1;
  for (let u = 0; u < users; u++) {
    const start = data.userOffsets[u];
    const end = data.userOffsets[u + 1];
    let runStart = start;
    for (let r = start + 1; r <= end; r++) {
      if (r === end || data.timeMs[r] - data.timeMs[r - 1] > gapMs) {
        run(u, runStart, r);
        runStart = r;
      }
    }
  }
}

/** Sessions of contiguous user-ordered rows, added one at a time, with the quality flags of `rules`. */
function contiguousSessions(data: Rows, rules: SessionRules) {
  const flagsOf = qualityFlags(data, rules);
  const offsets: number[] = [0];
  const rows: number[] = [];
  const user: number[] = [];
  const day: number[] = [];
  const flags: number[] = [];
  return {
    add(u: number, start: number, end: number): void {
      for (let r = start; r < end; r++) rows.push(r);
      offsets.push(rows.length);
      user.push(u);
      day.push(data.day[start]);
      flags.push(flagsOf(start, end));
    },
    build(kind: Sessions['kind']): Sessions {
      return { kind, offsets: Int32Array.from(offsets), rows: Int32Array.from(rows), user: Int32Array.from(user), day: Int32Array.from(day), flags: Uint8Array.from(flags) };
    },
  };
}

/** Sessions by time gap over all rows of each user (the quality rules are a flag, not a filter). */
export function gapSessions(data: Rows, rules: SessionRules): Sessions {
  const sessions = contiguousSessions(data, rules);
  forEachGapRun(data, rules.gapMinutes * 60_000, sessions.add);
  return sessions.build('time-gap');
}

/**
 * The reward model's sessions (rule in the header): per user, runs of rows with gaps ≤ gapHours, cut into chunks
 * of ≤ sessionLength rows, chunks of < minItems rows dropped. Rows are the user-ordered rows themselves (each
 * session a contiguous stretch); `day` is its first row's; `flags` the quality rules it meets (not a filter).
 */
export function rewardSessions(data: Rows, rules: RewardSessionRules, quality: SessionRules): Sessions {
  const sessions = contiguousSessions(data, quality);
  forEachGapRun(data, rules.gapHours * 3_600_000, (u, start, end) => {
    for (let chunk = start; chunk < end; chunk += rules.sessionLength) {
      const chunkEnd = Math.min(end, chunk + rules.sessionLength);
      if (chunkEnd - chunk >= rules.minItems) sessions.add(u, chunk, chunkEnd);
    }
  });
  return sessions.build('reward');
}

/** Amazon's substitute: every window of `windowLength` consecutive train rows of a user (stride 1). */
export function windowSessions(data: Rows, split: Split, rules: SessionRules): Sessions {
  const m = rules.windowLength;
  const offsets: number[] = [0];
  const rows: number[] = [];
  const user: number[] = [];
  const day: number[] = [];
  const users = data.userOffsets.length - 1;
  for (let u = 0; u < users; u++) {
    const train: number[] = [];
    for (let r = data.userOffsets[u]; r < data.userOffsets[u + 1]; r++) if (split.rowSplit[r] === TRAIN) train.push(r);
    for (let s = 0; s + m <= train.length; s++) {
      rows.push(...train.slice(s, s + m));
      offsets.push(rows.length);
      user.push(u);
      day.push(data.day[train[s]]);
    }
  }
  return { kind: 'windows', offsets: Int32Array.from(offsets), rows: Int32Array.from(rows), user: Int32Array.from(user), day: Int32Array.from(day), flags: new Uint8Array(user.length).fill(ALL_RULES) };
}

export function countSessions(sessions: Sessions): SessionCounts {
  const c: SessionCounts = { sessions: sessions.user.length, consumed: 0, play_time: 0, explicit: 0, high_quality: 0 };
  for (const f of sessions.flags) {
    if (f & RULE_CONSUMED) c.consumed++;
    if (f & RULE_PLAY_TIME) c.play_time++;
    if (f & RULE_EXPLICIT) c.explicit++;
    if ((f & ALL_RULES) === ALL_RULES) c.high_quality++;
  }
  return c;
}
