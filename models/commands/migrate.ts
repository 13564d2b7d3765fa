// onerec migrate — rewrite a bundle exported before the current bundle layout (trie.bin + catalog.bin, no graph contract
// in its manifest) as the layout the runtime reads, without retraining: items.bin (ids and semantic IDs), the display
// catalog only when items have titles or attributes, and "version"/"contract" in manifest.json. The ONNX graphs are kept
// byte for byte, so they must be of the current graph contract (otherwise: onerec export from the checkpoint).
//
//   onerec migrate --bundle models/bundles/beauty                 # in place
//   onerec migrate --bundle old/kuairand --out models/bundles/kuairand
import { parseOptions } from '../options.ts';
import { migrateBundle } from '../export/bundle-migrate.ts';

export const summary = 'rewrite an older bundle as the current layout (manifest and item files; graphs untouched)';

export const DEFAULT_MIGRATE_OPTIONS = {
  bundle: '', // the bundle folder (its manifest.json)
  out: '', // where to write the migrated bundle; default: in place (trie.bin and a title-less catalog.bin are removed)
};

export async function run(argv: string[]): Promise<void> {
  const o = parseOptions(argv, DEFAULT_MIGRATE_OPTIONS, `onerec migrate --bundle DIR [--out DIR]\n${summary}`, { required: ['bundle'] });
  if (!o) return;
  const report = await migrateBundle(o.bundle, o.out ? { out: o.out } : {});
  const total = (sizes: Record<string, number>): number => Object.values(sizes).reduce((a, b) => a + b, 0);
  if (!report.migrated) {
    console.log(`${report.dir}: already the current layout; nothing written`);
    return;
  }
  console.log(`${report.dir}: version ${report.from} → current, ${report.items} items; files ${total(report.bytes.before)} → ${total(report.bytes.after)} bytes (display catalog: ${report.catalog})`);
  console.log(JSON.stringify(report.bytes));
}
