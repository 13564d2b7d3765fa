// onerec migrate (models/export/bundle-migrate.ts): a version-1 bundle (trie.bin, catalog.bin or catalog.json, no
// "contract") becomes the current layout with its graphs byte for byte, the same trie and ids, and its display catalog
// only where items have titles or attributes; the runtime refuses the old layout with a BundleVersionError naming the
// command; a bundle whose files do not match its manifest is refused before anything is written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportBundle } from '../../../models/export/bundle-writer.ts';
import { migrateBundle } from '../../../models/export/bundle-migrate.ts';
import { readBundle } from '../../../runtime-node/bundle-reader.ts';
import { createNodeRecommender } from '../../../runtime-node/node-recommender.ts';
import { encodeCatalog } from '../../../runtime/catalog-format.ts';
import type { CatalogEntry } from '../../../runtime/bundle.ts';
import { tinyModel } from './fixture.ts';

const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** The layout onerec export wrote before items.bin: trie.bin, the catalog with every id, version 1, no contract. */
async function versionOneBundle(dir: string, catalog: CatalogEntry[], catalogFile: 'catalog.bin' | 'catalog.json'): Promise<void> {
  const { weights, config, trie } = tinyModel();
  await exportBundle({ weights, config, trie, catalog, quantization: 'int8', outDir: dir, name: 'old' });
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  for (const role of ['items', 'catalog']) if (manifest.files[role]) unlinkSync(join(dir, manifest.files[role].path));
  const trieBytes = trie.toBytes();
  const catalogBytes = catalogFile === 'catalog.bin' ? encodeCatalog(catalog) : new TextEncoder().encode(JSON.stringify(catalog));
  writeFileSync(join(dir, 'trie.bin'), trieBytes);
  writeFileSync(join(dir, catalogFile), catalogBytes);
  const { encoder, decoderStep } = manifest.files;
  const { contract: _, ...rest } = manifest;
  const files = { encoder, decoderStep, trie: { path: 'trie.bin', bytes: trieBytes.length, sha256: sha(trieBytes) }, catalog: { path: catalogFile, bytes: catalogBytes.length, sha256: sha(catalogBytes) } };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...rest, version: 1, files }));
}

test('a version-1 bundle is refused by the runtime, then migrated: same graphs, trie, ids and catalog; a second run writes nothing', async () => {
  const root = mkdtempSync(join(tmpdir(), 'onerec-migrate-'));
  try {
    const { trie, catalog } = tinyModel();
    const dir = join(root, 'b');
    await versionOneBundle(dir, catalog, 'catalog.bin');
    const before = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    const recommender = createNodeRecommender();
    try {
      await assert.rejects(recommender.load(dir), (e: Error) => e.name === 'BundleVersionError' && /"version" 1 is an older bundle layout/.test(e.message) && /onerec migrate --bundle/.test(e.message));
    } finally {
      await recommender.dispose();
    }

    const report = await migrateBundle(dir);
    assert.equal(report.migrated, true);
    assert.equal(report.catalog, 'kept');
    assert.ok(!existsSync(join(dir, 'trie.bin')));
    const bundle = await readBundle(dir);
    assert.equal(bundle.manifest.version, 2);
    assert.equal(bundle.manifest.contract, 3);
    assert.deepEqual(Object.keys(bundle.manifest.files).sort(), ['catalog', 'decoderStep', 'encoder', 'items']);
    for (const role of ['encoder', 'decoderStep'] as const) assert.deepEqual(bundle.manifest.files[role], before.files[role], role);
    assert.equal(bundle.manifest.files.catalog!.sha256, before.files.catalog.sha256); // the OCAT file is kept as it was
    assert.deepEqual([...bundle.trie.toBytes()], [...trie.toBytes()]);
    assert.deepEqual(bundle.itemIds, catalog.map((entry) => entry.id));
    assert.deepEqual(bundle.catalog, catalog);
    assert.equal(bundle.manifest.created, before.created);

    const again = await migrateBundle(dir);
    assert.equal(again.migrated, false);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a catalog.json without titles migrates to items.bin alone; files that do not match the manifest are refused', async () => {
  const root = mkdtempSync(join(tmpdir(), 'onerec-migrate-'));
  try {
    const { trie } = tinyModel();
    const idsOnly = Array.from({ length: trie.itemCount }, (_, i) => ({ id: String(100 + i) }));
    const dir = join(root, 'ids');
    await versionOneBundle(dir, idsOnly, 'catalog.json');
    const out = join(root, 'ids-migrated');
    const report = await migrateBundle(dir, { out });
    assert.equal(report.catalog, 'none');
    assert.equal(report.bytes.after.items, 32 + Math.ceil((trie.itemCount * trie.levels * 3) / 32) * 4 + trie.itemCount + 1); // K 8: 3 bits a code; ids a byte each but the first (100: zigzag 200, two bytes)
    const bundle = await readBundle(out);
    assert.equal(bundle.catalog, null);
    assert.deepEqual(bundle.itemIds, idsOnly.map((entry) => entry.id));
    assert.deepEqual([...bundle.trie.toBytes()], [...trie.toBytes()]);

    const damaged = join(root, 'damaged');
    await versionOneBundle(damaged, idsOnly, 'catalog.json');
    const trieBytes = readFileSync(join(damaged, 'trie.bin'));
    trieBytes[40] ^= 1;
    writeFileSync(join(damaged, 'trie.bin'), trieBytes);
    await assert.rejects(migrateBundle(damaged), (e: Error) => e.name === 'ExportError' && /trie\.bin .* is not the file the manifest lists/.test(e.message));
    assert.ok(existsSync(join(damaged, 'trie.bin')) && !existsSync(join(damaged, 'items.bin')), 'nothing written');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
