// The demo's service worker: after the first visit the page, its scripts, the worker, onnxruntime's wasm and
// each bundle's manifest are served from the Cache API when the network is gone. The bundle's model files
// are not cached here: the runtime keeps them in IndexedDB, keyed by sha256 and verified on read, and a
// second copy would only double what the device stores.
//
// Network first, cache as the fallback: an online visit always gets the newest build (and refreshes the
// cache), an offline one gets the last build it saw. Responses keep their headers when cached, so the COOP /
// COEP headers that cross-origin isolation (wasm threads) needs survive offline too.
export {};
declare const self: ServiceWorkerGlobalScope;

const CACHE = 'onerec-demo-v1';
/** The page shell, fetched at install so that the first visit is enough to work offline. The chunks that
 *  main.js imports have hashed names; the page sends their URLs once we control it (the 'cache' message). */
const SHELL = ['./', './index.html', './styles.css', './main.js'];

/** Sent by the page: URLs it loaded before this worker controlled it, to keep for offline visits. */
export interface CacheMessage {
  type: 'cache';
  urls: string[];
}

/** The answer: everything the page named is in the cache now (`failed` could not be fetched). */
export interface CachedMessage {
  type: 'cached';
  cached: number;
  failed: string[];
}

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(SHELL);
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (name.startsWith('onerec-demo-') && name !== CACHE) await caches.delete(name);
    // Take over the page that registered us, so the worker it starts next (and the wasm that worker fetches)
    // goes through this cache on the very first visit.
    await self.clients.claim();
  })());
});

/** Model files live in the runtime's IndexedDB cache; everything else same-origin is ours. */
function cacheable(url: URL): boolean {
  if (url.origin !== self.location.origin) return false;
  const inBundle = /\/bundles\//.test(url.pathname);
  return !inBundle || url.pathname.endsWith('/manifest.json') || url.pathname.endsWith('/index.json');
}

self.addEventListener('message', (event) => {
  const message = event.data as Partial<CacheMessage> | null;
  if (message?.type !== 'cache' || !Array.isArray(message.urls)) return;
  const urls = message.urls.filter((u): u is string => typeof u === 'string').filter((u) => cacheable(new URL(u, self.location.href)));
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    const failed: string[] = [];
    for (const url of urls) {
      if (await cache.match(url)) continue;
      try {
        await cache.add(url);
      } catch (e) {
        failed.push(url);
        console.warn(`service worker: could not cache ${url}:`, e);
      }
    }
    const reply: CachedMessage = { type: 'cached', cached: urls.length - failed.length, failed };
    (event.source as Client | null)?.postMessage(reply);
  })());
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET' || request.headers.has('range')) return;
  const url = new URL(request.url);
  if (!cacheable(url)) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const response = await fetch(request);
      if (response.ok && response.type === 'basic') await cache.put(request, response.clone());
      return response;
    } catch (networkError) {
      // Navigations carry the query (?bundle=…); the shell is the same page whatever it says.
      const cached = await cache.match(request, { ignoreSearch: request.mode === 'navigate' });
      if (cached) return cached;
      throw networkError;
    }
  })());
});
