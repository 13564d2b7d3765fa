// `onerec serve`: the demo page (dist/, from `npm run build`) and the shipped bundles, cross-origin isolated
// so that onnxruntime-web can use wasm threads. `npm start` is `npm run build` followed by this.
//
//   onerec serve                                   # http://127.0.0.1:8080/: this package's page and bundles
//   onerec serve --port=3000 --bundles=runs/my-bundles   # paths are relative to the working directory
//   then open http://127.0.0.1:8080/?bundle=/bundles/<name>/manifest.json for a bundle outside the menu
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseOptions } from '../options.ts';
import { startServer, type StaticServer } from '../../runtime-node/serve.ts';

export const summary = 'serve the demo feed (dist/) and the bundles, cross-origin isolated: the page `npm start` opens';

// The installed package's own folder: where its built page and shipped bundles are, wherever the user runs from.
const packageRoot = fileURLToPath(new URL('../../', import.meta.url));

export const defaults = {
  root: '', // folder of the built page (index.html, main.js); '' = the page built into this package (its dist/, `npm run build`)
  bundles: '', // folder of bundle folders (each with a manifest.json), served at /bundles/<name>/; '' = the bundles shipped with this package
  port: 8080, // port to listen on (0 = any free port)
  host: '127.0.0.1', // address to listen on; 0.0.0.0 to reach it from a phone on the same network (cross-origin isolation needs https there)
};

export class ServeSetupError extends Error {
  override name = 'ServeSetupError';
}

/** The bundle folders under `dir` (those with a manifest.json), by name. */
export function listBundles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(dir, e.name, 'manifest.json')))
    .map((e) => e.name)
    .sort();
}

/** What the page reads at /catalogs/index.json: the bundle folders served under /bundles/. */
export interface CatalogIndex {
  bundles: string[]; // folder names; the page loads /bundles/<name>/manifest.json
}

/** The page and bundle folders to serve: given paths against the working directory, '' as this package's own. */
export function servePaths(options: Pick<typeof defaults, 'root' | 'bundles'>, cwd = process.cwd()): { root: string; bundles: string } {
  return {
    root: options.root ? resolve(cwd, options.root) : join(packageRoot, 'dist'),
    bundles: options.bundles ? resolve(cwd, options.bundles) : join(packageRoot, 'models', 'bundles'),
  };
}

/**
 * Start the demo server; resolves once it listens. Paths are relative to the working directory. Besides the page and
 * the bundles it serves /catalogs/index.json, the list of bundles found at start (the page's catalog menu),
 * so that the page never probes for bundles that are not there.
 */
export async function serveDemo(options: typeof defaults, log: (line: string) => void = () => {}): Promise<StaticServer> {
  const { root, bundles } = servePaths(options);
  if (!existsSync(join(root, 'index.html')) || !existsSync(join(root, 'main.js'))) {
    throw new ServeSetupError(options.root
      ? `--root=${options.root}: ${root} has no built page (index.html, main.js); pass the folder \`npm run build\` writes (dist/)`
      : `this package's page is not built (${root} has no index.html, main.js): in a clone of onerec-web run \`npm run build\` first (or \`npm start\`, which builds and serves), or pass --root=DIR with a built page`);
  }
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) {
    throw new ServeSetupError(`--port=${options.port} is not a port number (0..65535)`);
  }
  const indexDir = mkdtempSync(join(tmpdir(), 'onerec-serve-'));
  const index: CatalogIndex = { bundles: listBundles(bundles) };
  writeFileSync(join(indexDir, 'index.json'), JSON.stringify(index));
  try {
    const server = await startServer({ mounts: { '/': root, '/bundles/': bundles, '/catalogs/': indexDir }, port: options.port, host: options.host, log });
    return {
      ...server,
      close: async () => {
        await server.close();
        rmSync(indexDir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    rmSync(indexDir, { recursive: true, force: true });
    throw e;
  }
}

export async function run(argv: string[]): Promise<void> {
  const options = parseOptions(argv, defaults, `onerec serve — ${summary}`);
  if (!options) return;
  const server = await serveDemo(options);
  const bundleDir = servePaths(options).bundles;
  const names = listBundles(bundleDir);
  console.log(`onerec demo: ${server.url}  (cross-origin isolated; Ctrl-C stops it)`);
  console.log(names.length > 0
    ? `bundles: ${names.map((n) => `${server.url}bundles/${n}/manifest.json`).join('  ')}`
    : `no bundle under ${bundleDir} yet: export one (onerec export) or open ${server.url}?bundle=URL/manifest.json`);
  const stop = (): void => {
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
