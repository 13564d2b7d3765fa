// Reads and verifies a bundle directory in Node (for `onerec eval --bundle` and tests) with the same
// checks as the browser runtime (runtime/bundle.ts): manifest version, sizes, sha256, ONNX structure.
import { readFileSync, realpathSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BundleFormatError } from '../../runtime/errors.ts';
import { bundleFileUrl, checkBundleAgainstManifest, parseCatalog, parseManifest, verifyBundleFile, type BundleManifest, type BundleRole, type CatalogEntry } from '../../runtime/bundle.ts';
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
  let trie: SemanticIdTrie;
  try {
    trie = SemanticIdTrie.fromBytes(files.trie!);
  } catch (e) {
    throw new BundleFormatError(join(resolve(dir), manifest.files.trie!.path), `${(e as Error).message}; re-export the bundle (onerec export)`);
  }
  const fileOf = (role: BundleRole): string => join(resolve(dir), manifest.files[role]?.path ?? role);
  checkBundleAgainstManifest(manifest, { trie, encoder: files.encoder!, decoderStep: files.decoderStep!, reward: files.reward }, { trie: fileOf('trie'), encoder: fileOf('encoder'), decoderStep: fileOf('decoderStep'), reward: fileOf('reward') });
  const catalog = parseCatalog(files.catalog!, trie.itemCount, join(resolve(dir), manifest.files.catalog!.path));
  return { dir, manifest, files, trie, catalog };
}
