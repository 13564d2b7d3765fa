// Bundle size and load time against the catalog size (issue 22, "bundle size independent of the display catalog"):
// the layout before (trie.bin + a catalog.bin every bundle carried, titles "Item N") against the current one (items.bin,
// the display catalog optional), at several item counts, in one run. Items get seeded random semantic IDs (levels − 1
// uniform codes and a suffix level counting collisions), ids numbered in item order ("0" … "n − 1", as a log's integer
// ids) and, for the bytes only, ASIN-like strings (10 random upper-case letters and digits); the graphs are the default
// seed config's with seeded random weights (their size does not depend on the items).
//
//   node --import tsx bench/bundle-scale.ts --items=12000,100000,1000000 --out=bench/results/scale.json
//
// Per item count: bytes of each file and bytes per item of the ids/trie part (trie.bin before, items.bin after), plus
// gzip -6 of each (what a server's Content-Encoding would send; the runtime does not compress itself); the bundle's total
// without the display catalog; and load time in Node of what the loader does once the bytes are there — sha256 of every
// file it fetches (runtime/sha256.ts), then before: SemanticIdTrie.fromBytes + the catalog (the ids came from it),
// after: items.bin decoded and the trie built (parseBundleItems), and the display catalog when asked for. Medians of
// --repeats runs after a warm-up round, before and after alternating. Then fetchBundle() end to end over file: URLs on the written bundle.
// --out merges { bundle: … } into the JSON file, keeping its other keys.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { execSync } from 'node:child_process';
import { exportBundle } from '../models/export/bundle-writer.ts';
import { fileAwareFetch } from '../runtime-node/node-recommender.ts';
import { DEFAULT_SEED_CONFIG } from '../models/seed/config.ts';
import { initSeedWeights } from '../models/seed/reference.ts';
import { seededUniform } from '../models/random.ts';
import { parseBundleItems, parseCatalog, type CatalogEntry } from '../runtime/bundle.ts';
import { decodeCatalog, encodeCatalog } from '../runtime/catalog-format.ts';
import { encodeItemIndex } from '../runtime/item-index.ts';
import { fetchBundle } from '../runtime/loader.ts';
import { SemanticIdTrie } from '../runtime/semantic-id-trie.ts';
import { sha256Hex } from '../runtime/sha256.ts';
import { parseArgs } from './args.ts';
import { syntheticCodes as syntheticItemCodes } from './synthetic-items.ts';
import { median } from './stats.ts';

const o = parseArgs({ items: '12000,100000,1000000', quantization: 'int4', repeats: 3, seed: 7, out: '' }, process.argv.slice(2));
const config = DEFAULT_SEED_CONFIG; // levels 4 × K 256

const syntheticCodes = (items: number, seed: number): Uint16Array => syntheticItemCodes(items, config.levels, config.codebookSize, seed);

function asinLike(items: number, seed: number): string[] {
  const uniform = seededUniform(seed);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  return Array.from({ length: items }, () => `B0${Array.from({ length: 8 }, () => alphabet[Math.floor(uniform() * alphabet.length)]).join('')}`);
}

const round = (x: number, digits = 2): number => Number(x.toFixed(digits));
const gz = (bytes: Uint8Array): number => gzipSync(bytes, { level: 6 }).length;

async function time(run: () => Promise<unknown> | unknown): Promise<number> {
  const t = performance.now();
  await run();
  return performance.now() - t;
}

const graphs = await (async () => {
  // The graphs once: their bytes do not depend on the item count.
  const dir = mkdtempSync(join(tmpdir(), 'onerec-scale-graphs-'));
  try {
    const codes = syntheticCodes(64, o.seed);
    const trie = SemanticIdTrie.build(codes, config.levels, config.codebookSize);
    const exported = await exportBundle({ weights: initSeedWeights(config, o.seed), config, trie, catalog: Array.from({ length: 64 }, (_, i) => ({ id: String(i) })), quantization: o.quantization as 'int4', outDir: dir, name: 'scale' });
    return { encoder: readFileSync(join(dir, 'encoder.onnx')), decoderStep: readFileSync(join(dir, 'decoder_step.onnx')), manifest: exported.manifest };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
})();
const networkBytes = graphs.encoder.length + graphs.decoderStep.length;

const sizes: Record<string, unknown>[] = [];
for (const items of o.items.split(',').map(Number)) {
  const codes = syntheticCodes(items, o.seed);
  const trie = SemanticIdTrie.build(codes, config.levels, config.codebookSize);
  const ids = Array.from({ length: items }, (_, i) => String(i));
  const titled: CatalogEntry[] = ids.map((id) => ({ id, title: `Item ${id}` }));
  // Before: what onerec export wrote until items.bin.
  const trieBin = trie.toBytes();
  const catalogBin = encodeCatalog(titled);
  // After.
  const itemsBin = encodeItemIndex({ itemCount: items, levels: config.levels, codebookSize: config.codebookSize, codes, ids });
  const itemsAsin = encodeItemIndex({ itemCount: items, levels: config.levels, codebookSize: config.codebookSize, codes, ids: asinLike(items, o.seed + 1) });
  const catalogAfter = catalogBin; // the display catalog keeps its format: optional now, not smaller

  const loadBefore: number[] = [];
  const loadAfter: number[] = [];
  const loadAfterCatalog: number[] = [];
  for (let r = -1; r < o.repeats; r++) { // r = -1: a warm-up round, not counted
    if (r === 0) [loadBefore, loadAfter, loadAfterCatalog].forEach((times) => times.splice(0));
    loadBefore.push(await time(async () => {
      await sha256Hex(trieBin);
      await sha256Hex(catalogBin);
      const t = SemanticIdTrie.fromBytes(trieBin);
      const entries = decodeCatalog(catalogBin, t.itemCount);
      return entries.map((e) => e.id);
    }));
    loadAfter.push(await time(async () => {
      await sha256Hex(itemsBin);
      return parseBundleItems(itemsBin, 'items.bin');
    }));
    loadAfterCatalog.push(await time(async () => {
      await sha256Hex(itemsBin);
      await sha256Hex(catalogAfter);
      const parsed = parseBundleItems(itemsBin, 'items.bin');
      return parseCatalog(catalogAfter, parsed.itemIds, 'catalog.bin');
    }));
  }
  // Both layouts give the same trie and ids.
  const check = parseBundleItems(itemsBin, 'items.bin');
  if (Buffer.compare(Buffer.from(check.trie.toBytes()), Buffer.from(trieBin)) !== 0 || ids.some((id, i) => check.itemIds.idOf(i) !== id)) throw new Error(`${items}: items.bin does not give back the trie and ids`);

  // fetchBundle end to end (file: URLs, no IndexedDB), without and with the display catalog.
  const dir = mkdtempSync(join(tmpdir(), 'onerec-scale-'));
  let fetchMs: { without: number; withCatalog: number };
  try {
    const exported = await exportBundle({ weights: initSeedWeights(config, o.seed), config, trie, catalog: titled, quantization: o.quantization as 'int4', outDir: dir, name: `scale-${items}` });
    if (exported.manifest.files.items!.bytes !== itemsBin.length) throw new Error('onerec export wrote another items.bin than the bench measures');
    const url = pathToFileURL(join(dir, 'manifest.json')).href;
    const without: number[] = [];
    const withCatalog: number[] = [];
    for (let r = -1; r < o.repeats; r++) { // r = -1: a warm-up round, not counted
      if (r === 0) [without, withCatalog].forEach((times) => times.splice(0));
      without.push(await time(() => fetchBundle(url, { fetch: fileAwareFetch, cache: false })));
      withCatalog.push(await time(() => fetchBundle(url, { fetch: fileAwareFetch, cache: false, catalog: true })));
    }
    fetchMs = { without: round(median(without), 0), withCatalog: round(median(withCatalog), 0) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const row = {
    items,
    before: {
      files: { 'trie.bin': trieBin.length, 'catalog.bin': catalogBin.length },
      gzip: { 'trie.bin': gz(trieBin), 'catalog.bin': gz(catalogBin) },
      ids_trie_bytes_per_item: round((trieBin.length + catalogBin.length) / items), // the ids lived in catalog.bin
      trie_bytes_per_item: round(trieBin.length / items),
      bundle_total_bytes: networkBytes + trieBin.length + catalogBin.length, // the catalog was not optional
      load_ms: round(median(loadBefore), 1),
    },
    after: {
      files: { 'items.bin': itemsBin.length, 'catalog.bin (optional)': catalogAfter.length },
      gzip: { 'items.bin': gz(itemsBin), 'catalog.bin (optional)': gz(catalogAfter) },
      ids_trie_bytes_per_item: round(itemsBin.length / items),
      ids_trie_bytes_per_item_gzip: round(gz(itemsBin) / items),
      ids_trie_bytes_per_item_asin_ids: round(itemsAsin.length / items),
      ids_trie_bytes_per_item_asin_ids_gzip: round(gz(itemsAsin) / items),
      bundle_total_bytes_without_catalog: networkBytes + itemsBin.length,
      bundle_total_bytes_with_catalog: networkBytes + itemsBin.length + catalogAfter.length,
      load_ms: round(median(loadAfter), 1),
      load_ms_with_catalog: round(median(loadAfterCatalog), 1),
      fetch_bundle_ms: fetchMs,
    },
  };
  sizes.push(row);
  console.log(JSON.stringify(row));
}

const result = {
  command: `node --import tsx bench/bundle-scale.ts --items=${o.items} --quantization=${o.quantization} --repeats=${o.repeats} --seed=${o.seed}`,
  commit: execSync('git rev-parse --short HEAD').toString().trim(),
  machine: `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}, load average ${loadavg()[0].toFixed(1)} at the end`,
  data: `semantic IDs ${config.levels} levels × K ${config.codebookSize} (seeded uniform prefixes, suffix level counting collisions, seed ${o.seed}); ids "0" … "n − 1" (ASIN-like 10-character strings for the *_asin_ids bytes); titles "Item N" in the display catalog`,
  network: { quantization: o.quantization, config: 'DEFAULT_SEED_CONFIG (models/seed/config.ts), seeded random weights', 'encoder.onnx': graphs.encoder.length, 'decoder_step.onnx': graphs.decoderStep.length, total: networkBytes },
  load: 'load_ms: sha256 of the fetched files + parsing (before: trie.bin and catalog.bin; after: items.bin, decoded and the trie built); fetch_bundle_ms: fetchBundle() over file: URLs (graphs included, no IndexedDB); medians',
  sizes,
};
if (o.out) {
  const previous = existsSync(o.out) ? JSON.parse(readFileSync(o.out, 'utf8')) : {};
  mkdirSync(join(o.out, '..'), { recursive: true });
  writeFileSync(o.out, `${JSON.stringify({ ...previous, bundle: result }, null, 2)}\n`);
  console.log(`wrote ${o.out} (bundle)`);
}
