// Reads and verifies a bundle directory in Node (for `onerec eval --bundle` and tests) with the same
// checks as the browser runtime (runtime/bundle.ts): manifest version, sizes, sha256, ONNX structure.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BundleFormatError } from '../../runtime/errors.ts';
import { parseCatalog, parseManifest, verifyBundleFile, type BundleManifest, type BundleRole, type CatalogEntry } from '../../runtime/bundle.ts';
import { SemanticIdTrie } from '../../runtime/semantic-id-trie.ts';

export interface LoadedBundle {
  dir: string;
  manifest: BundleManifest;
  files: Partial<Record<BundleRole, Uint8Array>>; // verified bytes by role
  trie: SemanticIdTrie;
  catalog: CatalogEntry[];
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
  for (const [role, file] of Object.entries(manifest.files) as [BundleRole, { path: string }][]) {
    const path = join(resolve(dir), file.path);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(readFileSync(path));
    } catch (e) {
      throw new BundleFormatError(path, `cannot read the "${role}" file (${(e as Error).message})`);
    }
    await verifyBundleFile(manifest, role, bytes, path);
    files[role] = bytes;
  }
  const trie = SemanticIdTrie.fromBytes(files.trie!);
  const catalog = parseCatalog(files.catalog!, trie.itemCount, join(resolve(dir), manifest.files.catalog!.path));
  return { dir, manifest, files, trie, catalog };
}
