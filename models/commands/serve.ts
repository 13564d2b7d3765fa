// `onerec serve`: the demo page (dist/, from `npm run build`) and the shipped bundles, cross-origin isolated
// so that onnxruntime-web can use wasm threads. `npm start` is `npm run build` followed by this.
//
//   onerec serve                                   # http://127.0.0.1:8080/
//   onerec serve --port=3000 --bundles=runs/my-bundles
//   then open http://127.0.0.1:8080/?bundle=/bundles/<name>/manifest.json for a bundle outside the menu
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseOptions } from '../options.ts';
import { startServer, type StaticServer } from '../serve.ts';

export const summary = 'serve the demo feed (dist/) and the bundles, cross-origin isolated: the page `npm start` opens';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

export const defaults = {
  root: 'dist', // the built page (npm run build); relative to the repo root
  bundles: 'models/bundles', // folders with manifest.json, served at /bundles/<name>/; relative to the repo root
  port: 8080, // 0 = any free port
  host: '127.0.0.1', // 0.0.0.0 to reach it from a phone on the same network (cross-origin isolation needs https there)
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

/**
 * Start the demo server; resolves once it listens. Paths are relative to the repo root. Besides dist/ and
 * the bundles it serves /catalogs/index.json, the list of bundles found at start (the page's catalog menu),
 * so that the page never probes for bundles that are not there.
 */
export async function serveDemo(options: typeof defaults, log: (line: string) => void = () => {}): Promise<StaticServer> {
  const root = resolve(repoRoot, options.root);
  const bundles = resolve(repoRoot, options.bundles);
  if (!existsSync(join(root, 'index.html')) || !existsSync(join(root, 'main.js'))) {
    throw new ServeSetupError(`${options.root}/ has no built page (index.html, main.js); run \`npm run build\` first, or \`npm start\` which builds and serves`);
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
  const names = listBundles(resolve(repoRoot, options.bundles));
  console.log(`onerec demo: ${server.url}  (cross-origin isolated; Ctrl-C stops it)`);
  console.log(names.length > 0
    ? `bundles: ${names.map((n) => `${server.url}bundles/${n}/manifest.json`).join('  ')}`
    : `no bundle under ${options.bundles}/ yet: export one (onerec export) or open ${server.url}?bundle=URL/manifest.json`);
  const stop = (): void => {
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
