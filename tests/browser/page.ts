// The test page's script (bundled by tests/browser/harness.ts next to worker.js): puts the worker client
// and cache helpers on `window.onerec` for page.evaluate(). Test code only.
import { createWorkerRecommender, type WorkerRecommender } from '../../worker/client.ts';
import { deleteBundleFromCache, hasBundleInCache } from '../../runtime/cache.ts';

/** Flip one byte of every cached file whose key contains `fragment` (raw IndexedDB: test code only). */
async function corruptCachedFiles(fragment: string): Promise<string[]> {
  const db = await new Promise<IDBDatabase>((ok, fail) => {
    const request = indexedDB.open('onerec-web');
    request.onsuccess = () => ok(request.result);
    request.onerror = () => fail(request.error);
  });
  const store = db.transaction('files', 'readwrite').objectStore('files');
  const keys = await new Promise<IDBValidKey[]>((ok, fail) => {
    const request = store.getAllKeys();
    request.onsuccess = () => ok(request.result);
    request.onerror = () => fail(request.error);
  });
  const changed: string[] = [];
  for (const key of keys.map(String).filter((k) => k.includes(fragment))) {
    const buffer = await new Promise<ArrayBuffer>((ok, fail) => {
      const request = store.get(key);
      request.onsuccess = () => ok(request.result as ArrayBuffer);
      request.onerror = () => fail(request.error);
    });
    const bytes = new Uint8Array(buffer);
    bytes[bytes.length >> 1] ^= 0xff;
    store.put(bytes.buffer, key);
    changed.push(key);
  }
  await new Promise((ok) => { store.transaction.oncomplete = ok; });
  db.close();
  return changed;
}

declare global {
  interface Window {
    onerec: {
      createWorkerRecommender: typeof createWorkerRecommender;
      hasBundleInCache: typeof hasBundleInCache;
      deleteBundleFromCache: typeof deleteBundleFromCache;
      corruptCachedFiles: typeof corruptCachedFiles;
      recommender?: WorkerRecommender;
    };
  }
}

window.onerec = { createWorkerRecommender, hasBundleInCache, deleteBundleFromCache, corruptCachedFiles };
