// Fetch a bundle (manifest.json + files) with the IndexedDB cache in front: every file is looked up by
// URL + sha256 (verified on read), else fetched, verified against the manifest's sha256 and stored.
// Bytes that do not hash to the manifest are never used. When the manifest cannot be fetched (offline),
// the cached copy of it is used, so a page that loaded once reloads without a network. The display catalog
// (catalog.bin) is fetched only when asked for (`catalog: true`): generation needs items.bin alone.
import { readCachedFile, readCachedManifest, writeCachedFile, writeCachedManifest } from './cache.ts';
import { BundleFetchError, BundleFormatError } from './errors.ts';
import type { ItemIds } from './item-index.ts';
import type { SemanticIdTrie } from './semantic-id-trie.ts';
import { TransitionTable, type TransitionParams } from './transitions.ts';
import { BUNDLE_ROLES, bundleFileUrl, checkBundleAgainstManifest, parseBundleItems, parseCatalog, parseManifest, verifyBundleFile, type BundleManifest, type BundleRole, type CatalogEntry } from './bundle.ts';
import type { EngineModelConfig } from './model-config.ts';
import type { LoadTimings, ProgressReport } from './recommender.ts';

/** Sizes the runtime needs, all from the bundle's manifest (never hard-coded). */
export interface ModelShape {
  levels: number; // codes per item (suffix level included)
  codebookSize: number; // K
  vocabSize: number; // 2 + levels * K
  maxHistory: number; // items the encoder sees
  sessionLength: number; // default items per generated session
  beamWidth: number; // default beam width
  decoderLayers: number;
  heads: number;
  headDim: number; // dModel / heads
}

/** The bundle's bytes, already verified against the manifest's sha256, and what the runtime reads from its manifest. */
export interface BundleModels {
  shape: ModelShape;
  encoder: Uint8Array;
  decoderStep: Uint8Array;
  reward: Uint8Array | null;
  trie: SemanticIdTrie; // built from items.bin's codes
  itemIds: ItemIds; // [items] external ids (items.bin), by item index, and the lookup back
  towers: string[]; // reward tower names
  towerWeights: number[]; // [towers] weights of the combined reward
  historyBias: number[] | null; // [levels] the repeat-awareness layer's β (manifest historyBias), null = none
  transitions: { table: TransitionTable; params: TransitionParams } | null; // the transition prior (transitions.bin + manifest transitions), null = none
  members: EngineModelConfig[]; // the seed model's config, or an ensemble's members' (manifest.ensemble): what the runtime's own engines read
}

export interface FetchBundleOptions {
  fetch?: typeof fetch; // injected in Node for file: URLs; default globalThis.fetch
  cache?: boolean; // use IndexedDB; default true where it exists
  catalog?: boolean; // also fetch the display catalog (titles, attributes) when the bundle has one; default false
  onProgress?: (report: ProgressReport) => void;
  warn?: (message: string) => void;
}

export interface FetchedBundle {
  manifestUrl: string;
  manifest: BundleManifest;
  catalog: CatalogEntry[] | null; // [items] the display catalog, parsed (index = item index); null when not asked for or the bundle has none
  models: BundleModels;
  fromCache: string[]; // roles
  fromNetwork: string[]; // roles
  warnings: string[];
  timings: LoadTimings;
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
  const timings: LoadTimings = { manifestMs: 0, readMs: 0, sha256Ms: 0, cacheWriteMs: 0, itemsMs: 0, trieMs: 0, checkMs: 0 };
  let mark = performance.now();
  const lap = (): number => {
    const t = performance.now();
    const ms = t - mark;
    mark = t;
    return ms;
  };

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
  timings.manifestMs += lap();

  const roles = BUNDLE_ROLES.filter((r) => manifest.files[r] !== undefined && (r !== 'catalog' || options.catalog === true));
  // Every file's URL is checked to lie under the manifest's folder before the first one is fetched.
  const urls = Object.fromEntries(roles.map((role) => [role, bundleFileUrl(manifestUrl, role, manifest.files[role]!.path)])) as Partial<Record<BundleRole, string>>;
  const totalBytes = roles.reduce((s, r) => s + manifest.files[r]!.bytes, 0);
  let doneBytes = 0;
  const bytesOf: Partial<Record<BundleRole, Uint8Array>> = {};
  const fromCache: string[] = [];
  const fromNetwork: string[] = [];
  for (const role of roles) {
    const file = manifest.files[role]!;
    const url = urls[role]!;
    lap();
    let bytes = useCache ? await readCachedFile(url, file.sha256, warn, timings) : null;
    lap(); // readCachedFile added its own read and hash times
    if (bytes) {
      fromCache.push(role);
      doneBytes += bytes.length;
      report(totalBytes ? doneBytes / totalBytes : 1, `${file.path} from cache`);
    } else {
      bytes = await fetchBytes(doFetch, url, (n) => {
        doneBytes += n;
        report(totalBytes ? Math.min(1, doneBytes / totalBytes) : 1, `fetching ${file.path}`);
      });
      timings.readMs += lap();
      await verifyBundleFile(manifest, role, bytes, url); // sha256, size, ONNX structure: wrong bytes are never used
      timings.sha256Ms += lap();
      if (useCache) await writeCachedFile(url, file.sha256, bytes, warn);
      timings.cacheWriteMs += lap();
      fromNetwork.push(role);
    }
    bytesOf[role] = bytes;
  }

  const { trie, itemIds } = parseBundleItems(bytesOf.items!, urls.items!, timings);
  lap();
  checkBundleAgainstManifest(manifest, { trie, encoder: bytesOf.encoder!, decoderStep: bytesOf.decoderStep!, reward: bytesOf.reward }, urls);
  const catalog = bytesOf.catalog ? parseCatalog(bytesOf.catalog, itemIds, urls.catalog!) : null;
  const transitions = bytesOf.transitions && manifest.transitions ? { table: TransitionTable.decode(bytesOf.transitions, trie.itemCount, urls.transitions!), params: manifest.transitions } : null;
  timings.checkMs += lap();
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
    towers: manifest.reward?.towers.map((t) => t.name) ?? [],
    towerWeights: manifest.reward?.weights ?? [],
    historyBias: manifest.historyBias?.bias ?? null,
    transitions,
    members: manifest.ensemble ? manifest.ensemble.members : [model],
  };
  report(1, `loaded ${manifest.name}`);
  return { manifestUrl, manifest, catalog, models, fromCache, fromNetwork, warnings, timings };
}
