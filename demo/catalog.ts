// What the page shows about a bundle: item titles and attributes (the bundle's display catalog), the reward
// towers' labels, the bundle's size — all from what the recommender's load() returned (its manifest and parsed
// catalog), so the page fetches nothing of the bundle itself.
import type { LoadInfo } from '../runtime/recommender.ts';
import type { DisplayItem, TowerInfo } from './render.ts';
import { toDisplayItem } from './display.ts';

export interface Catalog {
  items: number;
  display(index: number): DisplayItem;
  towers: TowerInfo[]; // [] without a reward model
  bundleBytes: number; // Σ bytes of the files load() fetched (what a first visit downloads)
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

/**
 * From what load() returned: the bundle's manifest and its parsed display catalog (LoadInfo.manifest, LoadInfo.catalog),
 * so the page reads neither file again. A bundle without a display catalog shows `${noun} ${index}` for each item.
 * `noun`: what an untitled item is called ("Video 42").
 */
export function catalogOf(info: Pick<LoadInfo, 'manifest' | 'catalog' | 'items'>, noun = 'Item'): Catalog {
  const { manifest, catalog: entries, items } = info;
  const displayed = new Map<number, DisplayItem>();
  const m = manifest.model;
  return {
    items,
    display(index) {
      let d = displayed.get(index);
      if (!d) {
        d = toDisplayItem(entries?.[index], index, noun);
        displayed.set(index, d);
      }
      return d;
    },
    towers: manifest.reward?.towers.map((t) => ({ name: t.name, title: TOWER_TITLES[t.name] ?? t.name, label: t.label || t.name })) ?? [],
    bundleBytes: Object.entries(manifest.files).reduce((sum, [role, f]) => sum + (role !== 'catalog' || entries ? f?.bytes ?? 0 : 0), 0),
    quantization: manifest.quantization,
    modelSummary: `${manifest.name}, ${items.toLocaleString('en')} items, d ${m.dModel}, ${m.encoderLayers} encoder + ${m.decoderLayers} decoder layers, ${m.experts} experts (top-${m.expertsPerToken}), ${manifest.quantization}`,
  };
}
