// The demo page: a feed generated on this device. The user's likes are the history; each session is
// generated in a Web Worker by the runtime (trie-constrained beam search, reranked by the reward model when
// the bundle has one). Nothing about the user leaves the page: the history lives in localStorage.
//
//   npm start            # builds dist/ and serves it with the shipped bundles on http://127.0.0.1:8080/
//   http://127.0.0.1:8080/?bundle=URL/manifest.json   # any other bundle
import { createWorkerRecommender } from '../worker/client.ts';
import type { LoadInfo, RecommendResult, Recommender } from '../runtime/recommender.ts';
import { Feed, pickFeed, type FeedPick, type Verdict } from './feed.ts';
import { formatBytes, renderCard, renderHistory, renderWhy, type DisplayItem, type TowerInfo, type WhyCandidate } from './render.ts';
import { catalogOf, type Catalog } from './catalog.ts';
import type { CacheMessage, CachedMessage } from './sw.ts';
import type { CatalogIndex } from '../models/commands/serve.ts';

/** Menu labels of the bundles this project ships (models/bundles/<name>/); other folders are listed by name. */
const LABELS: Record<string, string> = {
  beauty: 'Amazon Beauty — products',
  'beauty-ensemble': 'Amazon Beauty — ensemble of 2 models (better ranking, twice the compute)',
  kuairand: 'KuaiRand — short videos',
};
/** What an untitled item of a shipped catalog is called on its card ("Video 42"); "Item" elsewhere. */
const NOUNS: Record<string, string> = { kuairand: 'Video' };
/** Menu order when the server gives no list (a plain static server): the shipped bundles. */
const SHIPPED = ['beauty', 'beauty-ensemble', 'kuairand'];
const BUNDLE_ROOT = './bundles/';
/** Written by `onerec serve`: { bundles: string[] }, the folders under /bundles/. */
const CATALOG_INDEX = './catalogs/index.json';
/** Cards per session at least: a next-item model (sessions of one item) shows its best beams side by side. */
const FEED_MIN_ITEMS = 5;
/** How long the first visit waits for the service worker to take the page over, so the worker's wasm is cached too (ms). */
const SERVICE_WORKER_WAIT_MS = 3000;

/** The server offers no bundle and the URL names none. */
export class NoBundleError extends Error {
  override name = 'NoBundleError';
}

interface BundleChoice {
  label: string;
  noun: string; // an untitled item's name on its card
  manifestUrl: string; // absolute URL of manifest.json
}

function byId<T extends HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`demo/index.html has no #${id}; the page and demo/main.ts disagree`);
  return node as T;
}

const ui = {
  catalog: byId<HTMLSelectElement>('catalog'),
  backend: byId('stat-backend'),
  latency: byId('stat-latency'),
  size: byId('stat-size'),
  path: byId('stat-path'),
  offline: byId('stat-offline'),
  status: byId('status'),
  progress: byId<HTMLProgressElement>('progress'),
  feed: byId('feed'),
  heading: byId('session-heading'),
  cards: byId<HTMLOListElement>('cards'),
  next: byId<HTMLButtonElement>('next'),
  why: byId<HTMLDetailsElement>('why'),
  whyBody: byId('why-body'),
  history: byId<HTMLOListElement>('history'),
  historyCount: byId('history-count'),
  clear: byId<HTMLButtonElement>('clear'),
  modelInfo: byId('model-info'),
};

function say(text: string, kind: 'info' | 'error' = 'info'): void {
  ui.status.textContent = text;
  ui.status.classList.toggle('error', kind === 'error');
}

/** The page's state, for people and for the browser test: 'loading' | 'ready' | 'busy' | 'error'. */
function setState(state: 'loading' | 'ready' | 'busy' | 'error'): void {
  document.body.dataset.state = state;
  const busy = state !== 'ready';
  ui.feed.setAttribute('aria-busy', String(busy));
  // After a failed generation the loaded bundle is still there: "Next session" tries again.
  ui.next.disabled = state === 'loading' || state === 'busy' || !feed;
  ui.catalog.disabled = state === 'busy' || state === 'loading';
  ui.clear.disabled = busy || !feed || feed.liked.length + feed.skipped.size === 0;
  for (const b of ui.cards.querySelectorAll('button')) b.disabled = busy;
}

let recommender: Recommender | null = null;
let feed: Feed | null = null;
let catalog: Catalog | null = null;
let info: LoadInfo | null = null;
let current: BundleChoice | null = null;
let towers: TowerInfo[] = [];

const storageKey = (choice: BundleChoice) => `onerec-demo:feed:${choice.manifestUrl}`;

function display(index: number): DisplayItem {
  return catalog ? catalog.display(index) : { id: String(index), title: `Item ${index}`, attributes: [] };
}

function save(): void {
  if (!feed || !current) return;
  try {
    localStorage.setItem(storageKey(current), JSON.stringify(feed.snapshot()));
  } catch {
    // Private mode or a full quota: the feed still works, it is just not remembered.
  }
}

async function registerServiceWorker(): Promise<void> {
  if (!('serviceWorker' in navigator)) {
    ui.offline.textContent = 'no (no service worker)';
    return;
  }
  try {
    await navigator.serviceWorker.register('./sw.js');
    if (!navigator.serviceWorker.controller) {
      await new Promise<void>((resolve) => {
        navigator.serviceWorker.addEventListener('controllerchange', () => resolve(), { once: true });
        setTimeout(resolve, SERVICE_WORKER_WAIT_MS);
      });
    }
    const controller = navigator.serviceWorker.controller;
    if (!controller) {
      ui.offline.textContent = 'after a reload';
      return;
    }
    // What loaded before the service worker took over (main.js's chunks) is not in its cache yet; the page
    // counts as offline-ready once the worker says it has them.
    navigator.serviceWorker.addEventListener('message', (event) => {
      const reply = event.data as Partial<CachedMessage> | null;
      if (reply?.type !== 'cached') return;
      ui.offline.textContent = reply.failed && reply.failed.length > 0 ? `partly (${reply.failed.length} files missing)` : 'yes';
      ui.offline.dataset.ready = String(!reply.failed?.length);
    });
    const urls = performance.getEntriesByType('resource').map((e) => e.name)
      .filter((u) => new URL(u).origin === location.origin && !new URL(u).pathname.includes('/bundles/'));
    const message: CacheMessage = { type: 'cache', urls: [location.href, ...urls] };
    ui.offline.textContent = 'caching…';
    controller.postMessage(message);
  } catch (e) {
    ui.offline.textContent = 'no (service worker refused)';
    console.warn('service worker not registered; the demo works online only:', e);
  }
}

/** The bundles the server has (`onerec serve`'s list; the shipped names without it), `?bundle=…` first. */
async function findBundles(): Promise<BundleChoice[]> {
  const choices: BundleChoice[] = [];
  const asked = new URLSearchParams(location.search).get('bundle');
  if (asked) choices.push({ label: `Custom — ${asked}`, noun: 'Item', manifestUrl: new URL(asked, location.href).href });
  let names = SHIPPED;
  try {
    const response = await fetch(CATALOG_INDEX); // the service worker answers offline
    if (response.ok) names = ((await response.json()) as CatalogIndex).bundles;
  } catch {
    // No list: offer the shipped names; one that is not there fails to load with a message that says so.
  }
  for (const name of [...names].sort((a, b) => order(a) - order(b))) {
    const manifestUrl = new URL(`${BUNDLE_ROOT}${name}/manifest.json`, location.href).href;
    if (!choices.some((c) => c.manifestUrl === manifestUrl)) choices.push({ label: LABELS[name] ?? name, noun: NOUNS[name] ?? 'Item', manifestUrl });
  }
  return choices;
}

const order = (name: string): number => (SHIPPED.includes(name) ? SHIPPED.indexOf(name) : SHIPPED.length);

async function loadBundle(choice: BundleChoice): Promise<void> {
  setState('loading');
  current = choice;
  ui.cards.replaceChildren();
  ui.whyBody.replaceChildren();
  ui.why.hidden = true;
  ui.why.open = false;
  ui.progress.hidden = false;
  ui.progress.value = 0;
  say(`Loading ${choice.label}…`);
  recommender ??= createWorkerRecommender();
  info = await recommender.load(choice.manifestUrl, {
    device: 'auto',
    catalog: true, // the page shows titles and attributes: fetch the display catalog too
    // On wasm the runtime's kernels split each step's beams among threads (the page is served cross-origin isolated).
    threads: globalThis.crossOriginIsolated ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) : 1,
    onProgress: (report) => {
      ui.progress.value = report.progress;
      say(report.text);
    },
  });
  catalog = catalogOf(info, choice.noun);
  towers = catalog.towers;
  ui.progress.hidden = true;

  feed = new Feed(info.items);
  const stored = localStorage.getItem(storageKey(choice));
  if (stored) {
    try {
      feed.restore(JSON.parse(stored), `localStorage ${storageKey(choice)}`);
    } catch (e) {
      console.warn((e as Error).message);
      localStorage.removeItem(storageKey(choice));
    }
  }

  ui.backend.textContent = info.decoder === 'wgsl' ? 'WebGPU (WGSL model)' : info.decoder === 'wasm-simd' ? `wasm (SIMD kernels${info.kernelThreads > 1 ? `, ${info.kernelThreads} threads` : ''})` : info.executionProvider === 'webgpu' ? 'WebGPU' : info.executionProvider;
  ui.backend.title = info.fallbackReasons.length > 0 ? `tried first / fell back: ${info.fallbackReasons.join('; ')}` : '';
  ui.size.textContent = formatBytes(catalog.bundleBytes);
  ui.size.title = `${catalog.quantization}; ${info.fromCache.length > 0 ? `from this device's cache: ${info.fromCache.join(', ')}` : 'downloaded'}`;
  ui.modelInfo.textContent = catalog.modelSummary;
  for (const w of info.warnings) console.warn(w);
  renderLiked();
  await generate();
}

function renderLiked(): void {
  if (!feed) return;
  renderHistory(ui.history, feed.liked, display);
  ui.historyCount.textContent = String(feed.liked.length);
}

function describePath(result: RecommendResult, pick: FeedPick): string {
  const start = result.coldStart
    ? 'No history yet: this is the cold-start session, generated from an empty history.'
    : `Generated from your ${feed?.liked.length ?? 0} liked item(s).`;
  const rank = result.rankedBy === 'reward'
    ? 'The candidate sessions were reranked by the on-device reward model (weighted sum of its towers).'
    : result.rankedBy === 'transitions'
      ? 'The seed model\'s candidates were reordered by its log-probability and by how often their items followed your latest ones in the training data (the bundle\'s transition prior).'
      : towers.length > 0
      ? 'Ranked by the seed model\'s log-probability.'
      : 'This catalog has no reward model, so the candidates are ranked by the seed model\'s log-probability.';
  const cards = pick.shown.length > 1
    ? ` This model writes sessions of ${result.sessions[0]?.items.length ?? 0} item(s), so the cards are the ${pick.shown.length} best candidates.`
    : '';
  const passed = pick.passedOver.length > 0 ? ' Candidates that held an item you skipped were passed over.' : '';
  return `${start} ${rank}${cards}${passed}`;
}

async function generate(): Promise<void> {
  if (!recommender || !feed) return;
  // Read before 'busy' disables the buttons: a disabled button drops focus to <body>.
  const focused = document.activeElement;
  const focusInCards = focused !== null && ui.cards.contains(focused);
  setState('busy');
  say(`Generating session ${feed.sessionNumber + 1} on this device…`);
  const started = performance.now();
  const result = await recommender.recommend([...feed.liked]);
  const roundTripMs = performance.now() - started;
  const pick = pickFeed(result.sessions.map((s) => s.items), feed.skipped, FEED_MIN_ITEMS);
  feed.showSession(pick.items);

  ui.cards.replaceChildren(...feed.session.map((item, i) => renderCard(item, i + 1, display(item))));
  ui.cards.dataset.session = String(feed.sessionNumber);
  ui.heading.textContent = `Session ${feed.sessionNumber}`;

  const candidates: WhyCandidate[] = result.sessions.map((s, i) => ({
    reward: s.reward,
    logProb: s.logProb,
    towers: s.towers,
    shown: pick.shown.includes(i),
    reason: pick.passedOver.includes(i) ? 'holds a skipped item' : undefined,
  }));
  renderWhy(ui.whyBody, describePath(result, pick), towers, candidates);
  ui.why.hidden = false;

  ui.latency.textContent = `${roundTripMs.toFixed(0)} ms`;
  ui.latency.title = `in the worker: encode ${result.timings.encodeMs.toFixed(1)} ms, search ${result.timings.searchMs.toFixed(1)} ms, rerank ${result.timings.rerankMs.toFixed(1)} ms`;
  // "log-prob" must not break at its hyphen; everything else wraps as usual.
  const rank = document.createElement('span');
  if (result.rankedBy !== 'reward') rank.className = 'nowrap';
  rank.textContent = result.rankedBy === 'reward' ? 'reward rerank' : result.rankedBy === 'transitions' ? 'log-prob + transitions' : 'log-prob';
  ui.path.replaceChildren(result.coldStart ? 'cold start · ' : '', rank);
  setState('ready');
  say(`Session ${feed.sessionNumber}: ${pick.items.length} items in ${roundTripMs.toFixed(0)} ms on ${ui.backend.textContent}.`);
  // The cards the user was on are gone; put focus where the new session starts rather than on <body>.
  if (focused === ui.next || focused === ui.clear) ui.next.focus();
  else if (focusInCards) ui.feed.focus();
}

function fail(error: unknown): void {
  const e = error as Error;
  console.error(e);
  setState('error');
  say(`${e.name && e.name !== 'Error' ? `${e.name}: ` : ''}${e.message}`, 'error');
  ui.catalog.disabled = ui.catalog.options.length < 2;
  ui.progress.hidden = true;
}

ui.cards.addEventListener('click', (event) => {
  const button = (event.target as HTMLElement).closest<HTMLButtonElement>('button[data-action]');
  const card = button?.closest<HTMLLIElement>('li.card');
  if (!button || !card || !feed || document.body.dataset.state !== 'ready') return;
  const item = Number(card.dataset.item);
  const complete = feed.answer(item, button.dataset.action as Verdict);
  const verdict = feed.verdicts.get(item);
  if (verdict) card.dataset.verdict = verdict;
  else delete card.dataset.verdict;
  for (const b of card.querySelectorAll<HTMLButtonElement>('button[data-action]')) b.setAttribute('aria-pressed', String(b.dataset.action === verdict));
  renderLiked();
  save();
  ui.clear.disabled = feed.liked.length + feed.skipped.size === 0;
  if (complete) generate().catch(fail);
});

ui.next.addEventListener('click', () => {
  generate().catch(fail);
});

ui.clear.addEventListener('click', () => {
  if (!feed) return;
  feed.clear();
  save();
  renderLiked();
  generate().catch(fail);
});

ui.catalog.addEventListener('change', () => {
  const choice = choices[ui.catalog.selectedIndex];
  if (choice) loadBundle(choice).catch(fail);
});

window.addEventListener('offline', () => say('You are offline: sessions are still generated on this device.'));

let choices: BundleChoice[] = [];

async function start(): Promise<void> {
  setState('loading');
  await registerServiceWorker();
  choices = await findBundles();
  if (choices.length === 0) {
    throw new NoBundleError(`no bundle is served under ${BUNDLE_ROOT}; export one into models/bundles/<name>/ with \`onerec export\`, or open this page with ?bundle=URL/manifest.json`);
  }
  ui.catalog.replaceChildren(...choices.map((c) => {
    const option = document.createElement('option');
    option.textContent = c.label;
    return option;
  }));
  await loadBundle(choices[0]);
}

start().catch(fail);
