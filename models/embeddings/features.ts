// Content embeddings for items without text (KuaiRand): numeric video features, log-scaled and
// standardised, next to one-hot categorical attributes (type, upload type, music type, tags, and authors
// with enough videos to be informative). Each block is scaled so it has unit mean squared norm, so no block
// dominates the distances only by having more columns.
import type { CatalogItem } from '../data/dataset.ts';

export interface FeatureEmbedding {
  embeddings: Float32Array; // [items, dim]
  dim: number;
  columns: string[]; // [dim] what each column is
}

export function featureEmbeddings(items: CatalogItem[], numeric: { names: string[]; values: Float32Array } | undefined, minCategoryCount = 5): FeatureEmbedding {
  const n = items.length;
  const columns: string[] = [];
  const blocks: Float32Array[] = [];
  const widths: number[] = [];
  if (numeric && numeric.names.length > 0) {
    const m = numeric.names.length;
    const block = new Float32Array(n * m); // [items, m]
    for (let c = 0; c < m; c++) {
      let mean = 0;
      let count = 0;
      const v = (i: number) => {
        const raw = numeric.values[i * m + c];
        return Number.isFinite(raw) ? Math.sign(raw) * Math.log1p(Math.abs(raw)) : Number.NaN;
      };
      for (let i = 0; i < n; i++) if (Number.isFinite(v(i))) { mean += v(i); count++; }
      mean = count ? mean / count : 0;
      let variance = 0;
      for (let i = 0; i < n; i++) if (Number.isFinite(v(i))) variance += (v(i) - mean) ** 2;
      const std = count > 1 ? Math.sqrt(variance / (count - 1)) || 1 : 1;
      for (let i = 0; i < n; i++) block[i * m + c] = Number.isFinite(v(i)) ? (v(i) - mean) / std : 0; // missing → the mean
    }
    columns.push(...numeric.names.map((name) => `log:${name}`));
    blocks.push(block);
    widths.push(m);
  }
  const counts = new Map<string, number>();
  for (const item of items) for (const a of item.attributes ?? []) counts.set(a, (counts.get(a) ?? 0) + 1);
  const kept = [...counts.entries()].filter(([, c]) => c >= minCategoryCount).map(([a]) => a).sort();
  if (kept.length > 0) {
    const index = new Map(kept.map((a, i) => [a, i]));
    const block = new Float32Array(n * kept.length);
    items.forEach((item, i) => {
      for (const a of item.attributes ?? []) {
        const j = index.get(a);
        if (j !== undefined) block[i * kept.length + j] = 1;
      }
    });
    columns.push(...kept.map((a) => `attr:${a}`));
    blocks.push(block);
    widths.push(kept.length);
  }
  const dim = widths.reduce((a, b) => a + b, 0);
  const embeddings = new Float32Array(n * dim);
  let offset = 0;
  blocks.forEach((block, b) => {
    const w = widths[b];
    let squared = 0;
    for (let i = 0; i < block.length; i++) squared += block[i] * block[i];
    const scale = squared > 0 ? Math.sqrt(n / squared) : 1;
    for (let i = 0; i < n; i++) for (let c = 0; c < w; c++) embeddings[i * dim + offset + c] = block[i * w + c] * scale;
    offset += w;
  });
  return { embeddings, dim, columns };
}
