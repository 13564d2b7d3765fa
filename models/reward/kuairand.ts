// KuaiRand-Pure's standard log → the observed sessions the reward model trains on, with each session's
// history. Reads ../shared/data/kuairand-pure directly (columns per its SOURCE.md).
//
// Session rule (documented choice): a session is one user's consecutive impressions in the log whose
// time gaps are ≤ `gapMs`, cut into chunks of at most `sessionLength` items (a feed page); chunks shorter
// than `minItems` are dropped. OneRec's other quality rules (enough play time, ≥ 1 explicit interaction)
// are *not* applied here: they would fix the swt/wtr/ltr labels to 1, and a reward model must see bad
// sessions too. A session's `day` is that of its first impression; the time split is by day.
//
// History of a session: the user's impressions before it — the pre-period `watch_seq` (last ≤ 50 video ids
// before 2022-04-25, user_history_until_20220424_last50.jsonl.gz) followed by the log's earlier rows.
import { createReadStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { RewardDataError } from './errors.ts';
import type { ObservedSession } from './labels.ts';

export const LOG_FILE = 'log_standard_4_25_to_5_08_pure.csv.gz';
export const HISTORY_FILE = 'user_history_until_20220424_last50.jsonl.gz';

/** The log's rows, columnar, in file order (time order). */
export interface KuaiRandLog {
  userId: Int32Array;      // [rows] original user_id
  videoId: Int32Array;     // [rows] original video_id
  day: Int32Array;         // [rows] yyyymmdd
  timeMs: Float64Array;    // [rows] Unix ms
  playTimeMs: Float64Array; // [rows]
  durationMs: Float64Array; // [rows]
  longView: Uint8Array; like: Uint8Array; follow: Uint8Array; comment: Uint8Array; forward: Uint8Array; // [rows] 0/1
}

const REQUIRED = ['user_id', 'video_id', 'date', 'time_ms', 'is_like', 'is_follow', 'is_comment', 'is_forward', 'long_view', 'play_time_ms', 'duration_ms'] as const;

async function* lines(path: string): AsyncGenerator<string> {
  const input = createReadStream(path).pipe(createGunzip());
  yield* createInterface({ input, crlfDelay: Infinity });
}

/** Reads the standard log; `maxRows` (0 = all) keeps the first rows only (tests). */
export async function readKuaiRandLog(dataDir: string, maxRows = 0): Promise<KuaiRandLog> {
  const path = join(dataDir, LOG_FILE);
  if (!existsSync(path)) throw new RewardDataError(`KuaiRand log not found at ${path}; pass --kuairand=<the KuaiRand-Pure folder, which holds ${LOG_FILE}>`);
  const cols: Record<string, number[]> = {};
  let header: string[] | null = null;
  let at: Record<string, number> = {};
  let lineNo = 0;
  for await (const line of lines(path)) {
    lineNo++;
    if (!header) {
      header = line.split(',');
      at = Object.fromEntries(header.map((h, i) => [h, i]));
      for (const c of REQUIRED) {
        if (!(c in at)) throw new RewardDataError(`${path}: header lacks column '${c}'; expected KuaiRand's standard-log columns (see SOURCE.md)`);
        cols[c] = [];
      }
      continue;
    }
    if (!line) continue;
    const f = line.split(',');
    for (const c of REQUIRED) {
      const v = Number(f[at[c]]);
      if (!Number.isFinite(v)) throw new RewardDataError(`${path}:${lineNo}: column ${c} = '${f[at[c]]}' is not a number`);
      cols[c].push(v);
    }
    if (maxRows && lineNo - 1 >= maxRows) break;
  }
  return {
    userId: Int32Array.from(cols.user_id), videoId: Int32Array.from(cols.video_id), day: Int32Array.from(cols.date), timeMs: Float64Array.from(cols.time_ms),
    playTimeMs: Float64Array.from(cols.play_time_ms), durationMs: Float64Array.from(cols.duration_ms), longView: Uint8Array.from(cols.long_view),
    like: Uint8Array.from(cols.is_like), follow: Uint8Array.from(cols.is_follow), comment: Uint8Array.from(cols.is_comment), forward: Uint8Array.from(cols.is_forward),
  };
}

/** Pre-period histories: user_id → last ≤ 50 video ids before 2022-04-25 (empty map when the file is absent). */
export async function readPrePeriodHistory(dataDir: string): Promise<Map<number, number[]>> {
  const path = join(dataDir, HISTORY_FILE);
  const out = new Map<number, number[]>();
  if (!existsSync(path)) return out;
  for await (const line of lines(path)) {
    if (!line) continue;
    const row = JSON.parse(line) as { user_id: number; watch_seq: number[] };
    out.set(row.user_id, row.watch_seq);
  }
  return out;
}

export interface SessionRules {
  gapMs: number;         // ms; a larger gap between two impressions of a user starts a new session
  sessionLength: number; // items; longer runs are cut into chunks of this many
  minItems: number;      // chunks with fewer items are dropped
}

export const DEFAULT_SESSION_RULES: SessionRules = { gapMs: 24 * 3600 * 1000, sessionLength: 5, minItems: 2 };

/** A session with the user's history before it (item indices). */
export interface SessionWithHistory extends ObservedSession {
  history: Int32Array; // [n] item indices before the session, oldest first
}

/**
 * Cut the log into sessions (rule in the header). `videoIndex` maps video_id → item index (the prepared
 * catalog's numbering); rows of videos outside it are skipped. Users are numbered by `userIndex` when given,
 * else by original user_id.
 */
export function buildSessions(log: KuaiRandLog, rules: SessionRules, videoIndex: Map<number, number>, prePeriod = new Map<number, number[]>(), maxHistory = 50): SessionWithHistory[] {
  const byUser = new Map<number, number[]>(); // user_id → row numbers in time order
  for (let r = 0; r < log.userId.length; r++) {
    if (!videoIndex.has(log.videoId[r])) continue;
    const list = byUser.get(log.userId[r]) ?? [];
    list.push(r);
    byUser.set(log.userId[r], list);
  }
  const sessions: SessionWithHistory[] = [];
  for (const [user, rows] of [...byUser].sort((a, b) => a[0] - b[0])) {
    rows.sort((a, b) => log.timeMs[a] - log.timeMs[b] || a - b);
    const history: number[] = (prePeriod.get(user) ?? []).filter((v) => videoIndex.has(v)).map((v) => videoIndex.get(v)!);
    let run: number[] = [];
    const flush = (): void => {
      for (let start = 0; start < run.length; start += rules.sessionLength) {
        const chunk = run.slice(start, start + rules.sessionLength);
        if (chunk.length >= rules.minItems) {
          const pickF = (col: Float64Array): Float64Array => Float64Array.from(chunk, (r) => col[r]);
          const pick = (col: Uint8Array): Uint8Array => Uint8Array.from(chunk, (r) => col[r]);
          sessions.push({
            user, day: log.day[chunk[0]], items: Int32Array.from(chunk, (r) => videoIndex.get(log.videoId[r])!),
            playTimeMs: pickF(log.playTimeMs), durationMs: pickF(log.durationMs), longView: pick(log.longView), like: pick(log.like),
            follow: pick(log.follow), comment: pick(log.comment), forward: pick(log.forward),
            history: Int32Array.from(history.slice(-maxHistory)),
          });
        }
        for (const r of chunk) history.push(videoIndex.get(log.videoId[r])!);
      }
      run = [];
    };
    for (const r of rows) {
      if (run.length && log.timeMs[r] - log.timeMs[run[run.length - 1]] > rules.gapMs) flush();
      run.push(r);
    }
    flush();
  }
  return sessions;
}

/** video_id → item index by ascending video id over the log (used when no prepared catalog is given). */
export function indexVideos(log: KuaiRandLog): Map<number, number> {
  return new Map([...new Set(log.videoId)].sort((a, b) => a - b).map((v, i) => [v, i]));
}

/** The first day of the held-out period: the last `testDays` distinct days of the sessions are held out. */
export function splitDay(sessions: readonly ObservedSession[], testDays: number): number {
  const days = [...new Set(sessions.map((s) => s.day))].sort((a, b) => a - b);
  if (testDays < 1 || testDays >= days.length) throw new RewardDataError(`--testDays=${testDays}: the sessions span ${days.length} days; hold out between 1 and ${days.length - 1}`);
  return days[days.length - testDays];
}
