// The reward model's observed sessions, with each session's history, read from the prepared data. The session
// rule (gap, chunk length, minimum items) is `rewardSessions` in models/data/sessions.ts, beside the other session
// rules; `onerec prepare` writes its output (reward-sessions-*) and the pre-period histories (prior-history-*).
//
// History of a session: the user's impressions before it — the pre-period `watch_seq` (KuaiRand: the last ≤ 50
// videos before 2022-04-25) followed by the log's earlier rows, the most recent `maxHistory`. A session's `day` is
// the calendar date (yyyymmdd) of its first impression where the prepared data dates its rows, else its day index;
// the time split is by day.
import type { PreparedData } from '../data/prepared.ts';
import { RewardDataError } from './errors.ts';
import type { ObservedSession } from './labels.ts';

/** A session with the user's history before it (item indices). */
export interface SessionWithHistory extends ObservedSession {
  history: Int32Array; // [≤ maxHistory] item indices before the session, oldest first
}

/** yyyymmdd of a calendar day given in Unix days (UTC). */
export function calendarDate(unixDay: number): number {
  const date = new Date(unixDay * 86_400_000);
  return date.getUTCFullYear() * 10_000 + (date.getUTCMonth() + 1) * 100 + date.getUTCDate();
}

type RewardRows = Pick<PreparedData, 'dir' | 'meta' | 'userOffsets' | 'item' | 'day' | 'signals' | 'rewardSessions' | 'priorHistory'>;

const SIGNALS = ['play_time_ms', 'duration_ms', 'long_view', 'like', 'follow', 'comment', 'forward'] as const;

/** The prepared reward sessions as `SessionWithHistory` rows (user = the prepared user index), in prepared order. */
export function observedSessions(p: RewardRows, maxHistory: number): SessionWithHistory[] {
  const s = p.rewardSessions;
  if (!s) throw new RewardDataError(`${p.dir} has no reward sessions (reward-sessions-*): prepare data with play time (KuaiRand-Pure) with this version of \`onerec prepare --data DIR --out ${p.dir}\``);
  const missing = SIGNALS.filter((name) => !p.signals[name]);
  if (missing.length > 0) throw new RewardDataError(`${p.dir}: the reward labels need the signals ${missing.join(', ')}, which the prepared data lacks (it has ${Object.keys(p.signals).join(', ') || 'none'})`);
  const [play, duration, longView, like, follow, comment, forward] = SIGNALS.map((name) => p.signals[name]);
  const firstDay = p.meta.firstDay;
  const prior = p.priorHistory;
  const out: SessionWithHistory[] = [];
  for (let k = 0; k < s.user.length; k++) {
    const u = s.user[k];
    const rows = s.rows.subarray(s.offsets[k], s.offsets[k + 1]);
    const float = (column: Float32Array): Float64Array => Float64Array.from(rows, (r) => column[r]);
    const flag = (column: Float32Array): Uint8Array => Uint8Array.from(rows, (r) => column[r]);
    // The user's items before the session: the pre-period ones, then the log's rows before its first row.
    const before = p.item.subarray(p.userOffsets[u], rows[0]);
    const priorItems = prior ? prior.item.subarray(prior.offsets[u], prior.offsets[u + 1]) : new Int32Array(0);
    const keepPrior = Math.max(0, maxHistory - before.length);
    const history = new Int32Array(Math.min(maxHistory, before.length + priorItems.length));
    history.set(priorItems.subarray(priorItems.length - Math.min(keepPrior, priorItems.length)), 0);
    history.set(before.subarray(Math.max(0, before.length - maxHistory)), history.length - Math.min(before.length, maxHistory));
    out.push({
      user: u, day: firstDay === undefined ? s.day[k] : calendarDate(firstDay + s.day[k]), items: Int32Array.from(rows, (r) => p.item[r]),
      playTimeMs: float(play), durationMs: float(duration), longView: flag(longView), like: flag(like), follow: flag(follow), comment: flag(comment), forward: flag(forward),
      history,
    });
  }
  return out;
}

/** The first day of the held-out period: the last `testDays` distinct days of the sessions are held out. */
export function splitDay(sessions: readonly ObservedSession[], testDays: number): number {
  const days = [...new Set(sessions.map((s) => s.day))].sort((a, b) => a - b);
  if (testDays < 1 || testDays >= days.length) throw new RewardDataError(`--testDays=${testDays}: the sessions span ${days.length} days; hold out between 1 and ${days.length - 1}`);
  return days[days.length - testDays];
}
