// DOM for the feed. Every string that comes from a catalog goes in through textContent or an attribute,
// never through innerHTML: a product title is data, and `<img onerror=…>` in a title must stay text.
import type { Verdict } from './feed.ts';

/** An item as the page shows it. */
export interface DisplayItem {
  id: string; // the catalog's external id (ASIN, video id)
  title: string;
  attributes: string[]; // short facts shown as chips ("Brand: Maybelline", "12 s")
}

/** One reward tower: its manifest name, a short title and the manifest's definition of its label. */
export interface TowerInfo {
  name: string;
  title: string; // 'Like'
  label: string; // 'like: some session item has is_like = 1'
}

/** One candidate session as the "why" view lists it. */
export interface WhyCandidate {
  reward: number | null; // Σ weights · towers, null without a reward model
  logProb: number; // the seed model's log-probability of the session
  towers: Float32Array | null; // [towers] probabilities, order of `towers`
  shown: boolean; // the session on screen
  reason?: string; // why it was passed over, if it was
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** One card: rank, title, attribute chips, Like / Skip buttons (real buttons, pressed state announced). */
export function renderCard(item: number, rank: number, display: DisplayItem, verdict?: Verdict): HTMLLIElement {
  const card = el('li', 'card');
  card.dataset.item = String(item);
  if (verdict) card.dataset.verdict = verdict;

  card.append(el('div', 'card-rank', `#${rank} · ${display.id}`));
  const title = el('h3', 'title', display.title);
  title.id = `title-${item}`;
  card.append(title);

  if (display.attributes.length > 0) {
    const chips = el('ul', 'attributes');
    chips.setAttribute('aria-label', 'Attributes');
    for (const a of display.attributes) chips.append(el('li', undefined, a));
    card.append(chips);
  }

  const actions = el('div', 'actions');
  for (const [verdictOf, label] of [['liked', 'Like'], ['skipped', 'Skip']] as const) {
    const button = el('button', verdictOf === 'liked' ? 'like' : 'skip', label);
    button.type = 'button';
    button.dataset.action = verdictOf;
    button.setAttribute('aria-pressed', String(verdict === verdictOf));
    button.setAttribute('aria-describedby', title.id);
    actions.append(button);
  }
  card.append(actions);
  return card;
}

/** The "why" view: how this session was chosen, the reward towers' predictions, and the candidates it beat. */
export function renderWhy(body: HTMLElement, path: string, towers: readonly TowerInfo[], candidates: readonly WhyCandidate[]): void {
  const parts: HTMLElement[] = [el('p', 'why-note', path)];
  const shown = candidates.find((c) => c.shown);
  if (shown?.towers && towers.length > 0) {
    parts.push(el('h3', 'why-title', 'Reward towers for this session'));
    towers.forEach((tower, t) => {
      const value = shown.towers![t];
      const row = el('div', 'tower');
      const meter = el('meter');
      meter.min = 0;
      meter.max = 1;
      meter.value = value;
      meter.setAttribute('aria-label', `${tower.title}: predicted probability`);
      row.append(el('span', 'label', tower.title), meter, el('span', 'value', `${(value * 100).toFixed(1)}%`), el('span', 'definition', tower.label));
      parts.push(row);
    });
  }
  if (candidates.length > 0) {
    const rewarded = candidates.some((c) => c.reward !== null);
    const table = el('table', 'candidates');
    table.append(el('caption', undefined, `Candidate sessions (${candidates.length}), best first`));
    const head = el('tr');
    for (const h of ['#', ...(rewarded ? ['reward'] : []), 'log-prob', '']) head.append(el('th', undefined, h));
    const thead = el('thead');
    thead.append(head);
    table.append(thead);
    const tbody = el('tbody');
    candidates.forEach((c, i) => {
      const row = el('tr');
      if (c.shown) row.className = 'shown';
      row.append(el('td', undefined, String(i + 1)));
      if (rewarded) row.append(el('td', undefined, c.reward === null ? '—' : c.reward.toFixed(3)));
      row.append(el('td', undefined, c.logProb.toFixed(2)), el('td', undefined, c.shown ? 'shown' : (c.reason ?? '')));
      tbody.append(row);
    });
    table.append(tbody);
    parts.push(table);
  }
  body.replaceChildren(...parts);
}

/** The liked list, newest first. */
export function renderHistory(list: HTMLOListElement, liked: readonly number[], display: (index: number) => DisplayItem): void {
  list.replaceChildren(...[...liked].reverse().map((index) => el('li', undefined, display(index).title)));
}

/** Bytes as a short human size in binary units: 1.20 MiB. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(2)} MiB`;
}
