// The in-memory dataset every reader produces: a catalog and a columnar interaction log grouped by user,
// chronological within a user.

export interface CatalogItem {
  id: string; // external id (ASIN, video id, movie id)
  title?: string;
  attributes?: string[]; // brand/category names, genres, or `key:value` for categorical features
}

export interface Dataset {
  name: string; // folder name, e.g. 'amazon-beauty'
  source: 'amazon' | 'kuairand' | 'movielens' | 'generic';
  items: CatalogItem[]; // catalog order = item index 0..items-1
  /** Numeric content features for items without text (KuaiRand): `values` is [items, names.length]. */
  itemFeatures?: { names: string[]; values: Float32Array };
  users: string[]; // external user ids, in user index order
  userOffsets: Int32Array; // [users + 1]  rows of user u are userOffsets[u] .. userOffsets[u+1]-1
  item: Int32Array; // [rows] item index
  timeMs: Float64Array; // [rows] Unix milliseconds; NaN when the source has no time (rows then keep file order)
  day: Int32Array; // [rows] calendar day index (0 = the first day in the log; source's own date where it has one)
  signals: Record<string, Float32Array>; // [rows] each: play_time_ms, like, rating, … as the source gives them
  firstDay?: number; // the calendar day of day index 0 (Unix days, UTC) where the source dates its rows (KuaiRand)
  /** Impressions before the log (KuaiRand's pre-period last ≤ 50 videos): user u's are item[offsets[u] .. offsets[u+1]-1], oldest first. */
  priorHistory?: { offsets: Int32Array /* [users + 1] */; item: Int32Array /* [Σ lengths] item indices */ };
  skipped: Record<string, number>; // reason → rows skipped (only when skipBadRows allowed it)
  firstSkipped?: Record<string, string>; // reason → the first such row, as `file:line: message`
  files: string[]; // the files read, relative to the data directory
}

export interface ReadOptions {
  /** Skip malformed rows (counted in `skipped`) instead of throwing DataFormatError at the first one. */
  skipBadRows: boolean;
  /** Accept an interactions file without a timestamp column; rows then keep their file order per user. */
  allowMissingTimestamp: boolean;
}

export const DEFAULT_READ_OPTIONS: ReadOptions = { skipBadRows: false, allowMissingTimestamp: false };

const DAY_MS = 86_400_000;

/** Accumulates rows in file order, then groups them by user and orders each user's rows by time. */
export class InteractionBuilder {
  private userIndex = new Map<string, number>();
  private userKeys: string[] = [];
  private rowUser: number[] = [];
  private rowItem: number[] = [];
  private rowTime: number[] = [];
  private rowDay: number[] = [];
  private signalNames: string[];
  private signalRows: number[][];

  constructor(signalNames: string[]) {
    this.signalNames = signalNames;
    this.signalRows = signalNames.map(() => []);
  }

  get rows(): number {
    return this.rowItem.length;
  }

  /** `day` = the source's own calendar day number (e.g. yyyymmdd as days), or NaN to derive it from UTC time. */
  add(user: string, item: number, timeMs: number, signals: ArrayLike<number>, day = Number.NaN): void {
    let u = this.userIndex.get(user);
    if (u === undefined) {
      u = this.userKeys.length;
      this.userIndex.set(user, u);
      this.userKeys.push(user);
    }
    this.rowUser.push(u);
    this.rowItem.push(item);
    this.rowTime.push(timeMs);
    this.rowDay.push(Number.isNaN(day) ? utcDay(timeMs) : day);
    for (let s = 0; s < this.signalNames.length; s++) this.signalRows[s].push(signals[s]);
  }

  /** Users ordered numerically when every id is a number, else by first appearance; rows stable-sorted by time. */
  build(): Pick<Dataset, 'users' | 'userOffsets' | 'item' | 'timeMs' | 'day' | 'signals'> {
    const users = this.userKeys.length;
    const { order: userOrder, rank } = orderUsers(this.userKeys);
    const n = this.rows;
    const order = Array.from({ length: n }, (_, i) => i);
    const time = this.rowTime;
    // Array.prototype.sort is stable, so equal times keep file order (the benchmarks' own tie order).
    order.sort((a, b) => rank[this.rowUser[a]] - rank[this.rowUser[b]] || (time[a] - time[b] || 0));
    const userOffsets = new Int32Array(users + 1);
    for (let i = 0; i < n; i++) userOffsets[rank[this.rowUser[i]] + 1]++;
    for (let u = 0; u < users; u++) userOffsets[u + 1] += userOffsets[u];
    const item = new Int32Array(n);
    const timeMs = new Float64Array(n);
    const dayAbs = new Float64Array(n);
    order.forEach((src, dst) => {
      item[dst] = this.rowItem[src];
      timeMs[dst] = time[src];
      dayAbs[dst] = this.rowDay[src];
    });
    const day = dayIndices(dayAbs);
    const signals: Record<string, Float32Array> = {};
    this.signalNames.forEach((name, s) => {
      const column = new Float32Array(n);
      const src = this.signalRows[s];
      order.forEach((from, to) => (column[to] = src[from]));
      signals[name] = column;
    });
    return { users: userOrder.map((u) => this.userKeys[u]), userOffsets, item, timeMs, day, signals };
  }
}

/**
 * The output order of users given by id in order of first appearance: numerically when every id is a number, else as
 * they appeared. `order[r]` is the first-appearance index of output user r; `rank` the inverse.
 */
export function orderUsers(keys: readonly string[]): { order: number[]; rank: Int32Array } {
  const numeric = keys.every((k) => /^-?\d+(\.\d+)?$/.test(k));
  const order = Array.from({ length: keys.length }, (_, i) => i);
  if (numeric) order.sort((a, b) => Number(keys[a]) - Number(keys[b])); // stable: equal numbers keep first appearance
  const rank = new Int32Array(keys.length); // first-appearance index → output user index
  order.forEach((u, r) => (rank[u] = r));
  return { order, rank };
}

/** [rows] calendar days (absolute; NaN where a row has no time) as day indices: 0 = the first day of the log, 0 for NaN. */
export function dayIndices(dayAbs: Float64Array): Int32Array {
  const n = dayAbs.length;
  let firstDay = Infinity;
  for (let i = 0; i < n; i++) if (dayAbs[i] < firstDay) firstDay = dayAbs[i];
  const day = new Int32Array(n);
  for (let i = 0; i < n; i++) day[i] = Number.isFinite(dayAbs[i]) ? dayAbs[i] - firstDay : 0;
  return day;
}

/** The calendar day (absolute, UTC) of a time in Unix ms. */
export function utcDay(timeMs: number): number {
  return Math.floor(timeMs / DAY_MS);
}

/** Item index sequence of user u (a view, chronological). */
export function userItems(data: Pick<Dataset, 'userOffsets' | 'item'>, user: number): Int32Array {
  return data.item.subarray(data.userOffsets[user], data.userOffsets[user + 1]);
}
