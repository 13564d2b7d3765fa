// The IndexedDB model cache (the one file that imports idb). Bundle files are stored under
// `<file URL>#<sha256>`, so a re-exported bundle never reads stale bytes, and every read is hashed again:
// bytes that do not match (a corrupted or tampered entry) are deleted and reported as a miss, so the
// caller refetches. The manifest text is stored by its URL so that a reload works offline.
// Any IndexedDB failure (no IndexedDB, quota exceeded, database blocked by another tab) turns the cache
// off for that call with a warning: the loader then uses the network — never wrong bytes.
import { openDB, type IDBPDatabase } from 'idb';
import { sha256Hex } from './sha256.ts';

const DB_NAME = 'onerec-web';
const DB_VERSION = 1;
const FILES = 'files'; // key `${url}#${sha256}` → ArrayBuffer
const MANIFESTS = 'manifests'; // key manifest URL → manifest.json text
const OPEN_TIMEOUT_MS = 5000; // a database blocked by another tab's old version never opens; give up after this

export type Warn = (message: string) => void;

const fileKey = (url: string, sha256: string): string => `${url}#${sha256}`;

let opening: Promise<IDBPDatabase> | null = null;

async function database(): Promise<IDBPDatabase> {
  if (typeof indexedDB === 'undefined') throw new Error('IndexedDB is not available in this context');
  opening ??= new Promise<IDBPDatabase>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`opening IndexedDB '${DB_NAME}' timed out after ${OPEN_TIMEOUT_MS} ms (blocked by another tab?)`)), OPEN_TIMEOUT_MS);
    openDB(DB_NAME, DB_VERSION, {
      upgrade(db) {
        db.createObjectStore(FILES);
        db.createObjectStore(MANIFESTS);
      },
      // Another context wants a newer version (or to delete the database): let it, and reopen next time.
      blocking() {
        void opening?.then((db) => db.close());
        opening = null;
      },
      terminated() {
        opening = null;
      },
    }).then((db) => { clearTimeout(timer); resolve(db); }, (err: unknown) => { clearTimeout(timer); reject(err); });
  });
  try {
    return await opening;
  } catch (err) {
    opening = null;
    throw err;
  }
}

const reason = (err: unknown): string => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

/** Where a cached read's time went (ms), added to by readCachedFile. */
export interface CacheReadTimings {
  readMs: number; // IndexedDB get
  sha256Ms: number; // hashing the bytes read
}

/** The cached bytes of `url` if present and hashing to `sha256`; a mismatching entry is deleted. */
export async function readCachedFile(url: string, sha256: string, warn: Warn, timings?: CacheReadTimings): Promise<Uint8Array | null> {
  try {
    const t0 = performance.now();
    const db = await database();
    const buffer = (await db.get(FILES, fileKey(url, sha256))) as ArrayBuffer | undefined;
    const t1 = performance.now();
    if (timings) timings.readMs += t1 - t0;
    if (!buffer) return null;
    const bytes = new Uint8Array(buffer);
    const actual = await sha256Hex(bytes);
    if (timings) timings.sha256Ms += performance.now() - t1;
    if (actual !== sha256) {
      warn(`cached ${url} is corrupted (sha256 ${actual}, expected ${sha256}); deleted it and refetching`);
      await db.delete(FILES, fileKey(url, sha256));
      return null;
    }
    return bytes;
  } catch (err) {
    warn(`IndexedDB read of ${url} failed (${reason(err)}); using the network`);
    return null;
  }
}

/** Store verified bytes; a failure (quota, blocked) only warns. */
export async function writeCachedFile(url: string, sha256: string, bytes: Uint8Array, warn: Warn): Promise<void> {
  try {
    const db = await database();
    // Store a copy: the caller's buffer may be transferred to a worker or to ORT later.
    await db.put(FILES, bytes.slice().buffer, fileKey(url, sha256));
  } catch (err) {
    warn(`could not cache ${url} in IndexedDB (${reason(err)}); it will be fetched again next time`);
  }
}

export async function readCachedManifest(url: string, warn: Warn): Promise<string | null> {
  try {
    return ((await (await database()).get(MANIFESTS, url)) as string | undefined) ?? null;
  } catch (err) {
    warn(`IndexedDB read of ${url} failed (${reason(err)})`);
    return null;
  }
}

export async function writeCachedManifest(url: string, text: string, warn: Warn): Promise<void> {
  try {
    await (await database()).put(MANIFESTS, text, url);
  } catch (err) {
    warn(`could not cache ${url} in IndexedDB (${reason(err)})`);
  }
}

/** Files of a manifest as `[url, sha256]`, resolved against the manifest's URL; without the display catalog unless `catalog`. */
function manifestFiles(manifestUrl: string, text: string, catalog = true): [string, string][] {
  const files = (JSON.parse(text) as { files?: Record<string, { path: string; sha256: string }> }).files ?? {};
  return Object.entries(files).filter(([role]) => catalog || role !== 'catalog').map(([, f]) => [new URL(f.path, manifestUrl).href, f.sha256]);
}

/**
 * True when the manifest at `manifestUrl` and every file load() fetches are in the cache (hashes checked on load):
 * the display catalog counts only with `catalog: true`, as load() fetches it only then.
 */
export async function hasBundleInCache(manifestUrl: string, options: { catalog?: boolean } = {}): Promise<boolean> {
  try {
    const db = await database();
    const text = (await db.get(MANIFESTS, manifestUrl)) as string | undefined;
    if (!text) return false;
    for (const [url, sha] of manifestFiles(manifestUrl, text, options.catalog === true)) {
      if ((await db.getKey(FILES, fileKey(url, sha))) === undefined) return false;
    }
    return true;
  } catch {
    return false;
  }
}

/** Remove the manifest and every file it lists; returns how many entries were deleted. */
export async function deleteBundleFromCache(manifestUrl: string): Promise<number> {
  const db = await database();
  const text = (await db.get(MANIFESTS, manifestUrl)) as string | undefined;
  if (!text) return 0;
  let deleted = 0;
  for (const [url, sha] of manifestFiles(manifestUrl, text)) {
    const key = fileKey(url, sha);
    if ((await db.getKey(FILES, key)) !== undefined) {
      await db.delete(FILES, key);
      deleted++;
    }
  }
  await db.delete(MANIFESTS, manifestUrl);
  return deleted + 1;
}
