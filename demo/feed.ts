// The feed's state, without the DOM: the user's likes (the history the model reads), the items they skipped,
// and their answers on the session on screen. One Feed per catalog; item numbers are catalog indices.

export type Verdict = 'liked' | 'skipped';

/** What the page stores per catalog (localStorage): plain numbers, nothing else. */
export interface FeedSnapshot {
  version: 1;
  liked: number[]; // oldest → newest
  skipped: number[];
}

export class FeedSnapshotError extends Error {
  override name = 'FeedSnapshotError';
}

export class Feed {
  /** Liked items, oldest → newest: the history sent to the recommender. */
  readonly liked: number[] = [];
  readonly skipped = new Set<number>();
  /** The session on screen, item indices in session order. */
  session: number[] = [];
  /** Answers on the session on screen, by item index. */
  readonly verdicts = new Map<number, Verdict>();
  /** 1-based number of the session on screen (0 before the first one). */
  sessionNumber = 0;

  constructor(readonly itemCount: number, readonly maxLiked = 200) {}

  /** Show a new session; answers on the previous one are dropped. */
  showSession(items: readonly number[]): void {
    this.session = [...items];
    this.verdicts.clear();
    this.sessionNumber += 1;
  }

  /**
   * Like or skip an item of the session on screen; pressing the same answer again takes it back.
   * Returns true when every item of the session has an answer (time for the next one).
   */
  answer(index: number, verdict: Verdict): boolean {
    if (!this.session.includes(index)) {
      throw new RangeError(`item ${index} is not in the session on screen; answer only items of the current session`);
    }
    const previous = this.verdicts.get(index);
    this.forget(index);
    if (previous !== verdict) {
      this.verdicts.set(index, verdict);
      if (verdict === 'liked') {
        this.liked.push(index);
        if (this.liked.length > this.maxLiked) this.liked.shift();
      } else {
        this.skipped.add(index);
      }
    }
    return this.session.length > 0 && this.session.every((item) => this.verdicts.has(item));
  }

  /** Items the next session must not contain: what the user already liked or skipped. */
  excluded(): Set<number> {
    return new Set([...this.liked, ...this.skipped]);
  }

  clear(): void {
    this.liked.length = 0;
    this.skipped.clear();
    this.verdicts.clear();
  }

  snapshot(): FeedSnapshot {
    return { version: 1, liked: [...this.liked], skipped: [...this.skipped] };
  }

  /** Restore a snapshot; items outside the catalog are dropped (a catalog can change between releases). */
  restore(snapshot: unknown, source: string): void {
    const s = snapshot as Partial<FeedSnapshot> | null;
    if (!s || s.version !== 1 || !Array.isArray(s.liked) || !Array.isArray(s.skipped)) {
      throw new FeedSnapshotError(`${source}: not a feed snapshot of version 1 (got ${JSON.stringify(snapshot)?.slice(0, 80)}); clear it and start again`);
    }
    const valid = (x: unknown): x is number => Number.isInteger(x) && (x as number) >= 0 && (x as number) < this.itemCount;
    this.clear();
    this.liked.push(...s.liked.filter(valid).slice(-this.maxLiked));
    for (const x of s.skipped.filter(valid)) this.skipped.add(x);
  }

  private forget(index: number): void {
    const at = this.liked.lastIndexOf(index);
    if (at >= 0) this.liked.splice(at, 1);
    this.skipped.delete(index);
    this.verdicts.delete(index);
  }
}

/** What the feed shows from one recommend() result. */
export interface FeedPick {
  items: number[]; // cards, in order
  shown: number[]; // indices of the candidate sessions the cards come from, best first
  passedOver: number[]; // better-ranked candidates left out because they hold a skipped item
}

/**
 * Cards from candidate sessions ranked best first (item indices per session): the best session that holds
 * nothing the user skipped (the best one if every candidate does); and when a session is shorter than
 * `minItems` (a next-item model writes sessions of one item), the next candidates' new items after it,
 * until there are `minItems` cards or no candidates are left.
 */
export function pickFeed(sessions: readonly ArrayLike<number>[], skipped: ReadonlySet<number>, minItems: number): FeedPick {
  const clean = (s: ArrayLike<number>) => !Array.from(s).some((i) => skipped.has(i));
  let first = sessions.findIndex(clean);
  if (first < 0) first = 0;
  const passedOver = Array.from({ length: first }, (_, i) => i);
  if (sessions.length === 0) return { items: [], shown: [], passedOver };
  const items = Array.from(sessions[first]);
  const shown = [first];
  for (let s = first + 1; s < sessions.length && items.length < minItems; s++) {
    const fresh = Array.from(sessions[s]).filter((i) => !skipped.has(i) && !items.includes(i));
    if (fresh.length === 0) continue;
    items.push(...fresh);
    shown.push(s);
  }
  return { items, shown, passedOver };
}
