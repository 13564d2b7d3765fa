// Rewrites a bundle of layout version 1 (trie.bin + catalog.bin, no "contract" in its manifest) as the current layout
// (runtime/bundle.ts BUNDLE_VERSION: items.bin, an optional display catalog, "contract" in the manifest) without
// retraining: the ONNX graphs are kept byte for byte, so they must already be of the current graph contract.
//
//   const report = await migrateBundle('models/bundles/beauty');   // in place; or migrateBundle(dir, { out })
//
// Before anything is written, every file is checked against the old manifest's sha256, the graphs' inputs and outputs
// against the current contract, and the trie rebuilt from items.bin against the old trie.bin byte for byte (the beam
// search walks only the trie and maps items to ids, so sessions cannot change). The bundle is then re-read with the
// runtime's own checks (bundle-reader.ts).
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BUNDLE_VERSION, type BundleFile, type CatalogEntry } from '../../runtime/bundle.ts';
import { decodeCatalog, encodeCatalog, isBinaryCatalog } from '../../runtime/catalog-format.ts';
import { decodeItemIndex } from '../../runtime/item-index.ts';
import { GRAPH_CONTRACT_VERSION } from '../../runtime/model-config.ts';
import { readGraphInputs, readGraphOutputs } from '../../runtime/onnx-initializers.ts';
import { SemanticIdTrie } from '../../runtime/semantic-id-trie.ts';
import { ExportError, hasDisplay, itemIndexBytes } from './bundle-writer.ts';
import { readBundle } from '../../runtime-node/bundle-reader.ts';

export interface MigrateReport {
  dir: string; // the migrated bundle
  from: number; // the manifest version read
  migrated: boolean; // false: the bundle was already current, nothing written
  items: number;
  bytes: { before: Record<string, number>; after: Record<string, number> }; // file sizes by role
  catalog: 'kept' | 'written' | 'none'; // the display catalog: kept as it was, re-encoded from catalog.json, or none (no titles)
}

/** Graph contract of a decoder_step.onnx from its inputs and outputs (the migration is the one reader of older graphs). */
function graphContract(decoderStep: Uint8Array): number {
  const token = readGraphInputs(decoderStep).get('token');
  const outputs = readGraphOutputs(decoderStep);
  if (outputs.has('code_scores') && token?.length === 2 && typeof token[1] === 'string') return 3;
  return outputs.has('code_logits') ? 2 : 1;
}

export async function migrateBundle(dir: string, options: { out?: string } = {}): Promise<MigrateReport> {
  const from = resolve(dir);
  const out = resolve(options.out ?? dir);
  const fail = (reason: string): never => {
    throw new ExportError(`${join(from, 'manifest.json')}: ${reason}`);
  };
  let manifest: Record<string, unknown>;
  try {
    manifest = JSON.parse(readFileSync(join(from, 'manifest.json'), 'utf8'));
  } catch (e) {
    return fail(`cannot read it (${(e as Error).message})`);
  }
  const files = manifest.files as Record<string, BundleFile> | undefined;
  const sizes = (f: Record<string, BundleFile>): Record<string, number> => Object.fromEntries(Object.entries(f).map(([role, file]) => [role, file.bytes]));
  if (manifest.version === BUNDLE_VERSION && manifest.contract === GRAPH_CONTRACT_VERSION) {
    if (out !== from) fail(`already version ${BUNDLE_VERSION}, contract ${GRAPH_CONTRACT_VERSION}: copy the folder instead`);
    const bundle = await readBundle(from);
    return { dir: from, from: BUNDLE_VERSION, migrated: false, items: bundle.trie.itemCount, bytes: { before: sizes(files!), after: sizes(files!) }, catalog: files!.catalog ? 'kept' : 'none' };
  }
  if (manifest.version !== 1) fail(`"version" ${JSON.stringify(manifest.version)}: this onerec migrates version 1 to ${BUNDLE_VERSION}`);
  if (!files || !files.trie || !files.catalog || !files.encoder || !files.decoderStep) fail('"files" must list encoder, decoderStep, trie and catalog (a version-1 bundle)');

  const bytesOf: Record<string, Uint8Array> = {};
  for (const [role, file] of Object.entries(files!)) {
    const bytes = new Uint8Array(readFileSync(join(from, file.path)));
    const sha = createHash('sha256').update(bytes).digest('hex');
    if (sha !== file.sha256 || bytes.length !== file.bytes) fail(`${file.path} (${bytes.length} bytes, sha256 ${sha}) is not the file the manifest lists (${file.bytes} bytes, ${file.sha256}); restore the bundle's own files first`);
    bytesOf[role] = bytes;
  }
  const contract = graphContract(bytesOf.decoderStep);
  if (contract !== GRAPH_CONTRACT_VERSION) fail(`its decoder_step.onnx is of graph contract ${contract}, the runtime runs ${GRAPH_CONTRACT_VERSION}: re-export it from its checkpoint (onerec export); graphs are not rewritten here`);

  const trie = SemanticIdTrie.fromBytes(bytesOf.trie);
  let entries: CatalogEntry[];
  if (isBinaryCatalog(bytesOf.catalog)) entries = decodeCatalog(bytesOf.catalog, trie.itemCount);
  else {
    entries = JSON.parse(new TextDecoder().decode(bytesOf.catalog));
    if (!Array.isArray(entries) || entries.length !== trie.itemCount) fail(`catalog.json must hold ${trie.itemCount} entries`);
  }
  const items = itemIndexBytes(trie, entries.map((entry) => String(entry.id)));
  // The trie the runtime will build from items.bin must be the shipped one, edge for edge.
  const decoded = decodeItemIndex(items);
  const rebuilt = SemanticIdTrie.build(decoded.codes, decoded.levels, decoded.codebookSize).toBytes();
  if (Buffer.compare(Buffer.from(rebuilt), Buffer.from(bytesOf.trie)) !== 0) fail('the trie rebuilt from its codes differs from trie.bin; re-export the bundle (onerec export)');
  if (decoded.ids.some((id, i) => id !== String(entries[i].id))) fail('items.bin does not give back the catalog\'s ids');

  const display = hasDisplay(entries);
  const catalogBytes = display ? (isBinaryCatalog(bytesOf.catalog) ? bytesOf.catalog : encodeCatalog(entries)) : null;
  mkdirSync(out, { recursive: true });
  const fileEntry = (path: string, bytes: Uint8Array): BundleFile => ({ path, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
  const newFiles: Record<string, BundleFile> = {};
  for (const role of ['encoder', 'decoderStep', 'reward']) {
    const file = files![role];
    if (!file) continue;
    if (out !== from) copyFileSync(join(from, file.path), join(out, file.path));
    newFiles[role] = file;
  }
  writeFileSync(join(out, 'items.bin'), items);
  newFiles.items = fileEntry('items.bin', items);
  if (catalogBytes) {
    writeFileSync(join(out, 'catalog.bin'), catalogBytes);
    newFiles.catalog = fileEntry('catalog.bin', catalogBytes);
  }
  // Every other field as it was, in its place; "contract" follows "version".
  const next = Object.fromEntries(Object.entries(manifest).flatMap(([key, value]): [string, unknown][] =>
    key === 'version' ? [['version', BUNDLE_VERSION], ['contract', GRAPH_CONTRACT_VERSION]] : key === 'contract' ? [] : [[key, key === 'files' ? newFiles : value]]));
  writeFileSync(join(out, 'manifest.json'), `${JSON.stringify(next, null, 2)}\n`);
  if (out === from) {
    for (const role of ['trie', 'catalog']) {
      const path = join(from, files![role].path);
      if (!Object.values(newFiles).some((f) => join(out, f.path) === path) && existsSync(path)) rmSync(path);
    }
  }
  await readBundle(out); // the runtime's checks: sizes, sha256, contract, graphs against the manifest
  return { dir: out, from: 1, migrated: true, items: trie.itemCount, bytes: { before: sizes(files!), after: sizes(newFiles) }, catalog: catalogBytes ? (catalogBytes === bytesOf.catalog ? 'kept' : 'written') : 'none' };
}
