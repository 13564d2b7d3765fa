// The shipped Beauty bundles are rebuilt from the CLI (bench/README.md, "Rebuilding the shipped bundles"):
// `onerec prepare` reads Amazon Beauty into the same item order as the bundle's items.bin and catalog, and with the
// recorded flags (plain residual k-means, --maxIterations=30) writes the trie the runtime builds from items.bin, byte
// for byte. The second check
// needs the sentence encoder's output for Beauty's 12,101 titles: about 25 minutes on a 2-core CPU from a cold
// cache, so it runs only where that cache exists and takes ~4 minutes there (slow tier).
// The third recounts the single-model bundle's transition table from the prepared split (through validation).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { decodeCatalog } from '../../../runtime/catalog-format.ts';
import { parseBundleItems } from '../../../runtime/bundle.ts';
import { DEFAULT_PREPARE_CONFIG, prepare } from '../../../models/data/prepare.ts';
import { readDataset } from '../../../models/data/readers.ts';
import { itemText, textsHash } from '../../../models/embeddings/text-encoder.ts';
import { loadPrepared } from '../../../models/data/prepared.ts';
import { seedDataFromPrepared } from '../../../models/seed/batches.ts';
import { transitionTable } from '../../../models/export/transitions-fit.ts';

const DATA = '../shared/data/amazon-beauty';
const BUNDLES = ['models/bundles/beauty', 'models/bundles/beauty-ensemble'];

const shippedItems = (dir: string) => parseBundleItems(new Uint8Array(readFileSync(join(dir, 'items.bin'))), join(dir, 'items.bin'));
/** Beauty as onerec prepare reads it, read once for both tests (~5 s). */
let beauty: ReturnType<typeof readDataset> | undefined;
const readBeauty = (): ReturnType<typeof readDataset> => (beauty ??= readDataset(DATA));

test('Beauty as onerec prepare reads it: the shipped item indexes and catalogs list the same items in the same order', { skip: !existsSync(DATA) && 'no ../shared/data' }, async () => {
  const dataset = await readBeauty();
  for (const dir of BUNDLES) {
    assert.deepEqual(shippedItems(dir).itemIds.toArray(), dataset.items.map((i) => i.id), `${dir}/items.bin`);
    const catalog = decodeCatalog(new Uint8Array(readFileSync(join(dir, 'catalog.bin'))), dataset.items.length);
    assert.equal(catalog.length, 12_101);
    assert.deepEqual(catalog.map((c) => c.id), dataset.items.map((i) => i.id), dir);
  }
});

const cacheDirs = [join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'onerec', 'embeddings'), '.work/embedding-cache'];

test('onerec prepare --maxIterations=30 writes the shipped Beauty trie byte for byte', async (t) => {
  if (!existsSync(DATA)) return t.skip('no ../shared/data');
  const texts = (await readBeauty()).items.map(itemText);
  const cache = cacheDirs.find((d) => existsSync(join(d, `text-${textsHash(texts)}.f32`)));
  if (!cache) return t.skip('no sentence-encoder cache for Beauty (onerec prepare on Beauty fills it: ~25 min on a CPU)');
  const out = mkdtempSync(join(tmpdir(), 'onerec-beauty-'));
  try {
    // evalPairs 0: no text-vs-aligned hit rate (~35 s of scans over the catalog). Like the baseline k-means it is only
    // reported; the trie is made from the alignment over the whole train graph, which still runs.
    await prepare({ ...DEFAULT_PREPARE_CONFIG, data: DATA, out, cache, maxIterations: 30, baseline: false, evalPairs: 0 });
    const trie = readFileSync(join(out, 'semantic-ids.bin'));
    for (const dir of BUNDLES) assert.ok(trie.equals(shippedItems(dir).trie.toBytes()), `${dir}/items.bin`);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('the shipped Beauty bundle\'s transitions.bin is the table of the prepared split through validation (onerec transitions\' default)', async (t) => {
  if (!existsSync(DATA)) return t.skip('no ../shared/data');
  const out = mkdtempSync(join(tmpdir(), 'onerec-beauty-split-'));
  try {
    // The split and the item order do not depend on the semantic IDs: random content and few k-means passes suffice.
    await prepare({ ...DEFAULT_PREPARE_CONFIG, data: DATA, out, content: 'random', maxIterations: 2, baseline: false, evalPairs: 0 });
    const data = seedDataFromPrepared(loadPrepared(out));
    const manifest = JSON.parse(readFileSync('models/bundles/beauty/manifest.json', 'utf8'));
    assert.equal(manifest.transitions.through, 'validation');
    const shipped = new Uint8Array(readFileSync('models/bundles/beauty/transitions.bin'));
    assert.ok(Buffer.from(shipped).equals(Buffer.from(transitionTable(data, 'validation').encode())), 'transitions.bin equals the recount');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
