// Reads and verifies a bundle directory in Node (for `onerec eval --bundle` and tests) with the same
// checks as the browser runtime (runtime/bundle.ts): manifest version and graph contract, sizes, sha256, ONNX
// structure. The display catalog is read when the bundle has one.
import { readFileSync, realpathSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BundleFormatError } from '../runtime/errors.ts';
import { bundleFileUrl, checkBundleAgainstManifest, parseBundleItems, parseCatalog, parseManifest, verifyBundleFile, type BundleManifest, type BundleRole, type CatalogEntry } from '../runtime/bundle.ts';
import type { SemanticIdTrie } from '../runtime/semantic-id-trie.ts';

export interface LoadedBundle {
  dir: string;
  manifest: BundleManifest;
  files: Partial<Record<BundleRole, Uint8Array>>; // verified bytes by role
  trie: SemanticIdTrie; // built from items.bin
  itemIds: string[]; // [items] external ids
  catalog: CatalogEntry[] | null; // the display catalog; null when the bundle has none
}

export async function readBundle(dir: string): Promise<LoadedBundle> {
  const manifestPath = resolve(dir, 'manifest.json');
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(manifestPath, 'utf8'));
  } catch (e) {
    throw new BundleFormatError(manifestPath, `cannot read manifest.json (${(e as Error).message})`);
  }
  const manifest = parseManifest(json, manifestPath);
  const files: Partial<Record<BundleRole, Uint8Array>> = {};
  const entries = Object.entries(manifest.files) as [BundleRole, { path: string }][];
  // The runtime's check (under the manifest's folder after URL resolution), then the real path: a symlink in the
  // bundle folder must not lead out of it either.
  for (const [role, file] of entries) bundleFileUrl(pathToFileURL(manifestPath).href, role, file.path);
  const realDir = realpathSync(resolve(dir));
  for (const [role, file] of entries) {
    const path = join(resolve(dir), file.path);
    let bytes: Uint8Array;
    try {
      const real = realpathSync(path);
      if (!real.startsWith(realDir + sep)) throw new BundleFormatError(path, `the "${role}" file is a link to ${real}, outside the bundle folder; copy the file into the bundle instead`);
      bytes = new Uint8Array(readFileSync(real));
    } catch (e) {
      if (e instanceof BundleFormatError) throw e;
      throw new BundleFormatError(path, `cannot read the "${role}" file (${(e as Error).message})`);
    }
    await verifyBundleFile(manifest, role, bytes, path);
    files[role] = bytes;
  }
  const fileOf = (role: BundleRole): string => join(resolve(dir), manifest.files[role]?.path ?? role);
  const { trie, itemIds } = parseBundleItems(files.items!, fileOf('items'));
  checkBundleAgainstManifest(manifest, { trie, encoder: files.encoder!, decoderStep: files.decoderStep!, reward: files.reward }, { items: fileOf('items'), encoder: fileOf('encoder'), decoderStep: fileOf('decoderStep'), reward: fileOf('reward') });
  const catalog = files.catalog ? parseCatalog(files.catalog, itemIds, fileOf('catalog')) : null;
  return { dir, manifest, files, trie, itemIds: itemIds.toArray(), catalog };
}
