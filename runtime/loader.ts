// Fetch a bundle (manifest.json + files) with the IndexedDB cache in front: every file is looked up by
// URL + sha256 (verified on read), else fetched, verified against the manifest's sha256 and stored.
// Bytes that do not hash to the manifest are never used. When the manifest cannot be fetched (offline),
// the cached copy of it is used, so a page that loaded once reloads without a network.
import { readCachedFile, readCachedManifest, writeCachedFile, writeCachedManifest } from './cache.ts';
import { BundleFetchError, BundleFormatError, BundleIntegrityError } from './errors.ts';
import { sha256Hex } from './sha256.ts';
import { SemanticIdTrie } from './semantic-id-trie.ts';
import type { BundleModels } from './sessions.ts';
import type { ProgressReport } from './recommender.ts';

export interface FetchBundleOptions {
  fetch?: typeof fetch; // injected in Node for file: URLs; default globalThis.fetch
  cache?: boolean; // use IndexedDB; default true where it exists
  onProgress?: (report: ProgressReport) => void;
  warn?: (message: string) => void;
}

export interface FetchedBundle {
  manifestUrl: string;
  manifest: BundleManifest;
  models: BundleModels;
  fromCache: string[]; // roles
  fromNetwork: string[]; // roles
  warnings: string[];
}

/** `bundleUrl` may name the manifest (…/manifest.json) or the bundle's folder. */
export function manifestUrlOf(bundleUrl: string, base?: string): string {
  const url = new URL(bundleUrl, base ?? (typeof location !== 'undefined' ? location.href : undefined));
  if (!url.pathname.endsWith('.json')) url.pathname = url.pathname.replace(/\/?$/, '/manifest.json');
  return url.href;
}

async function fetchBytes(doFetch: typeof fetch, url: string, onBytes: (n: number) => void): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await doFetch(url);
  } catch (err) {
    throw new BundleFetchError(url, err instanceof Error ? err.message : String(err));
  }
  if (!response.ok) throw new BundleFetchError(url, `HTTP ${response.status} ${response.statusText}`);
  if (!response.body) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    onBytes(bytes.length);
    return bytes;
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    total += value.length;
    onBytes(value.length);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    bytes.set(c, offset);
    offset += c.length;
  }
  return bytes;
}

const ROLES = ['encoder', 'decoderStep', 'reward', 'trie', 'catalog'] as const;

/** The manifest fields the runtime reads (docs/architecture.md, "Bundle"). */
export interface BundleManifest {
  format: 'onerec-bundle';
  version: number;
  name: string;
  model: { dModel: number; heads: number; decoderLayers: number };
  tokens: { levels: number; codebookSize: number; vocabSize: number };
  generation: { sessionLength: number; beamWidth: number; maxHistory: number };
  files: Partial<Record<(typeof ROLES)[number], { path: string; bytes: number; sha256: string }>>;
  reward?: { towers: { name: string; label: string }[]; weights: number[] };
}

// TODO(#6): use runtime/bundle.ts's parseManifest once it lands; this checks only what the loader reads.
function parseManifest(json: unknown, url: string): BundleManifest {
  const m = json as BundleManifest;
  if (typeof m !== 'object' || m === null || m.format !== 'onerec-bundle') throw new BundleFormatError(url, `format is ${JSON.stringify((m as { format?: unknown } | null)?.format)}, expected "onerec-bundle"`);
  if (m.version !== 1) throw new BundleFormatError(url, `manifest version ${JSON.stringify(m.version)} is not supported (this runtime reads version 1); update onerec-web or re-export the bundle`);
  for (const role of ['encoder', 'decoderStep', 'trie', 'catalog'] as const) {
    const f = m.files?.[role];
    if (!f || typeof f.path !== 'string' || typeof f.sha256 !== 'string' || !Number.isInteger(f.bytes)) throw new BundleFormatError(url, `files.${role} must be { path, bytes, sha256 }`);
  }
  if (m.files.reward && !m.reward) throw new BundleFormatError(url, 'files.reward is present but the reward section (towers, weights) is missing');
  return m;
}

export async function fetchBundle(bundleUrl: string, options: FetchBundleOptions = {}): Promise<FetchedBundle> {
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const useCache = (options.cache ?? true) && typeof indexedDB !== 'undefined';
  const warnings: string[] = [];
  const warn = (message: string): void => {
    warnings.push(message);
    options.warn?.(message);
  };
  const report = (progress: number, text: string): void => options.onProgress?.({ progress, text });
  const manifestUrl = manifestUrlOf(bundleUrl);

  report(0, `fetching ${manifestUrl}`);
  let text: string;
  try {
    const response = await doFetch(manifestUrl);
    if (!response.ok) throw new BundleFetchError(manifestUrl, `HTTP ${response.status} ${response.statusText}`);
    text = await response.text();
    if (useCache) await writeCachedManifest(manifestUrl, text, warn);
  } catch (err) {
    const cached = useCache ? await readCachedManifest(manifestUrl, warn) : null;
    if (cached === null) throw err instanceof BundleFetchError ? err : new BundleFetchError(manifestUrl, err instanceof Error ? err.message : String(err));
    warn(`could not fetch ${manifestUrl} (${err instanceof Error ? err.message : String(err)}); using the cached manifest`);
    text = cached;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new BundleFormatError(manifestUrl, `not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  const manifest = parseManifest(json, manifestUrl);

  const roles = ROLES.filter((r) => manifest.files[r] !== undefined);
  const totalBytes = roles.reduce((s, r) => s + manifest.files[r]!.bytes, 0);
  let doneBytes = 0;
  const bytesOf: Partial<Record<(typeof ROLES)[number], Uint8Array>> = {};
  const fromCache: string[] = [];
  const fromNetwork: string[] = [];
  for (const role of roles) {
    const file = manifest.files[role]!;
    const url = new URL(file.path, manifestUrl).href;
    let bytes = useCache ? await readCachedFile(url, file.sha256, warn) : null;
    if (bytes) {
      fromCache.push(role);
      doneBytes += bytes.length;
      report(totalBytes ? doneBytes / totalBytes : 1, `${file.path} from cache`);
    } else {
      bytes = await fetchBytes(doFetch, url, (n) => {
        doneBytes += n;
        report(totalBytes ? Math.min(1, doneBytes / totalBytes) : 1, `fetching ${file.path}`);
      });
      const actual = await sha256Hex(bytes);
      if (actual !== file.sha256) throw new BundleIntegrityError(url, file.sha256, actual, bytes.length);
      if (useCache) await writeCachedFile(url, file.sha256, bytes, warn);
      fromNetwork.push(role);
    }
    bytesOf[role] = bytes;
  }

  const trie = SemanticIdTrie.fromBytes(bytesOf.trie!);
  const catalog = JSON.parse(new TextDecoder().decode(bytesOf.catalog!)) as unknown;
  const entries = Array.isArray(catalog) ? catalog : (catalog as { items?: unknown }).items;
  if (!Array.isArray(entries) || entries.length !== trie.itemCount) {
    throw new BundleFormatError(manifestUrl, `catalog ${manifest.files.catalog!.path} must be a JSON array of ${trie.itemCount} items (one per trie item), got ${Array.isArray(entries) ? entries.length : typeof entries}`);
  }
  const itemIds = entries.map((e: unknown, i: number) => (typeof e === 'string' ? e : String((e as { id?: unknown }).id ?? i)));
  const { model, tokens, generation } = manifest;
  const models: BundleModels = {
    shape: {
      levels: tokens.levels,
      codebookSize: tokens.codebookSize,
      vocabSize: tokens.vocabSize,
      maxHistory: generation.maxHistory,
      sessionLength: generation.sessionLength,
      beamWidth: generation.beamWidth,
      decoderLayers: model.decoderLayers,
      heads: model.heads,
      headDim: model.dModel / model.heads,
    },
    encoder: bytesOf.encoder!,
    decoderStep: bytesOf.decoderStep!,
    reward: bytesOf.reward ?? null,
    trie,
    itemIds,
    towers: manifest.reward?.towers.map((t: { name: string }) => t.name) ?? [],
    towerWeights: manifest.reward?.weights ?? [],
  };
  report(1, `loaded ${manifest.name}`);
  return { manifestUrl, manifest, models, fromCache, fromNetwork, warnings };
}
