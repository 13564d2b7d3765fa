// What the page shows about a bundle: item titles and attributes (the bundle's catalog file), the reward
// towers' labels, the bundle's size. Read after the worker has loaded the bundle, so the catalog's bytes
// come from the runtime's IndexedDB cache (verified by sha256) instead of a second download; offline, the
// manifest comes from that cache too.
import { readCachedFile, readCachedManifest, writeCachedFile } from '../runtime/cache.ts';
import { parseCatalog, parseManifest } from '../runtime/bundle.ts';
import { sha256Hex } from '../runtime/sha256.ts';
import type { DisplayItem, TowerInfo } from './render.ts';
import { toDisplayItem } from './display.ts';

export interface Catalog {
  items: number;
  display(index: number): DisplayItem;
  towers: TowerInfo[]; // [] without a reward model
  bundleBytes: number; // Σ bytes of the bundle's files (what a first visit downloads)
  quantization: string;
  modelSummary: string; // one line for the footer
}

/** Short titles of the KuaiRand towers (models/reward/labels.ts); the manifest's label is the definition. */
const TOWER_TITLES: Record<string, string> = {
  swt: 'Watch time',
  vtr: 'View-through',
  wtr: 'Follow',
  ltr: 'Like',
  cmt: 'Comment',
  fwd: 'Forward',
};

export class CatalogError extends Error {
  override name = 'CatalogError';
}

async function manifestText(manifestUrl: string, warn: (m: string) => void): Promise<string> {
  try {
    const response = await fetch(manifestUrl);
    if (response.ok) return await response.text();
    throw new Error(`HTTP ${response.status}`);
  } catch (err) {
    const cached = await readCachedManifest(manifestUrl, warn);
    if (cached === null) throw new CatalogError(`could not fetch ${manifestUrl} (${(err as Error).message}) and it is not cached; connect once to load this catalog`);
    return cached;
  }
}

/**
 * `itemCount`: the catalog size the runtime reported (LoadInfo.items); the catalog file must match it.
 * `noun`: what an untitled item is called ("Video 42").
 */
export async function loadCatalog(manifestUrl: string, itemCount: number, noun = 'Item'): Promise<Catalog> {
  const warn = (message: string): void => console.warn(message);
  const manifest = parseManifest(JSON.parse(await manifestText(manifestUrl, warn)) as unknown, manifestUrl);
  const file = manifest.files.catalog;
  if (!file) throw new CatalogError(`${manifestUrl} lists no catalog file; re-export the bundle with its catalog (onerec export)`);
  const url = new URL(file.path, manifestUrl).href;
  let bytes = await readCachedFile(url, file.sha256, warn);
  if (!bytes) {
    const response = await fetch(url);
    if (!response.ok) throw new CatalogError(`could not fetch ${url}: HTTP ${response.status}`);
    bytes = new Uint8Array(await response.arrayBuffer());
    const actual = await sha256Hex(bytes);
    if (actual !== file.sha256) throw new CatalogError(`${url}: sha256 ${actual} does not match the manifest's ${file.sha256}; redeploy the bundle's files together`);
    await writeCachedFile(url, file.sha256, bytes, warn);
  }
  const entries = parseCatalog(bytes, itemCount, url);
  const displayed = new Map<number, DisplayItem>();
  const m = manifest.model;
  return {
    items: entries.length,
    display(index) {
      let d = displayed.get(index);
      if (!d) {
        d = toDisplayItem(entries[index], index, noun);
        displayed.set(index, d);
      }
      return d;
    },
    towers: manifest.reward?.towers.map((t) => ({ name: t.name, title: TOWER_TITLES[t.name] ?? t.name, label: t.label || t.name })) ?? [],
    bundleBytes: Object.values(manifest.files).reduce((sum, f) => sum + (f?.bytes ?? 0), 0),
    quantization: manifest.quantization,
    modelSummary: `${manifest.name}, ${entries.length.toLocaleString('en')} items, d ${m.dModel}, ${m.encoderLayers} encoder + ${m.decoderLayers} decoder layers, ${m.experts} experts (top-${m.expertsPerToken}), ${manifest.quantization}`,
  };
}
