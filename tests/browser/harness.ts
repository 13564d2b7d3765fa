// Real Chromium (Debian's /usr/bin/chromium through playwright-core) on a cross-origin isolated static
// server that serves the worker bundle, a test page and a bundle folder. Shared by the runtime specs and
// the bench.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { buildBrowser } from '../../build.mjs';
import { startServer, type StaticServer } from '../../models/serve.ts';

export const CHROMIUM = '/usr/bin/chromium';
/** Chromium's flags in every browser test: headless in a container, nothing fetched but the pages under test. */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'];

export interface BrowserHarness {
  browser: Browser;
  page: Page;
  server: StaticServer;
  bundleUrl: string; // absolute URL of the bundle's manifest.json
  /** A page in a fresh browser context (empty IndexedDB), with the test page loaded. */
  newPage(): Promise<Page>;
  /** RSS in bytes of the Chromium processes (browser, renderer, GPU/utility), summed. */
  rss(): number;
  close(): Promise<void>;
}

/** Build worker.js + the test page into a temp dir, serve it with `bundleDir` at /bundles/test/, open it. */
export async function openHarness(bundleDir: string, options: { webgpu?: boolean } = {}): Promise<BrowserHarness> {
  const app = mkdtempSync(join(tmpdir(), 'onerec-browser-'));
  await buildBrowser({ outdir: app, entries: { worker: 'worker/worker.ts', 'wasm-helper': 'worker/wasm-helper.ts', page: 'tests/browser/page.ts' }, quiet: true });
  writeFileSync(join(app, 'index.html'), '<!doctype html><meta charset="utf-8"><title>onerec runtime test</title><link rel="icon" href="data:,"><script type="module" src="./page.js"></script>');
  const server = await startServer({ mounts: { '/': app, '/bundles/test/': bundleDir } });
  const args = [...CHROMIUM_ARGS];
  if (options.webgpu) args.push('--enable-unsafe-webgpu');
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args });
  const newPage = async (): Promise<Page> => {
    const page = await browser.newPage(); // its own context: fresh storage
    // tsx (esbuild keepNames) wraps named functions inside page.evaluate() callbacks in __name(); define it there.
    await page.addInitScript('globalThis.__name = (f) => f;');
    page.on('console', (m) => { if (m.type() === 'error') console.error(`[browser] ${m.text()}`); });
    await page.goto(server.url);
    await page.waitForFunction(() => 'onerec' in window);
    return page;
  };
  const page = await newPage();
  return {
    browser,
    page,
    server,
    newPage,
    bundleUrl: `${server.url}bundles/test/manifest.json`,
    rss: () => processTreeRss(process.pid) - processTreeRss(process.pid, false), // playwright-core runs Chromium as our child
    async close() {
      await browser.close();
      await server.close();
      rmSync(app, { recursive: true, force: true });
    },
  };
}

/** RSS of `root` and (with `descendants`) every process below it. */
function processTreeRss(root: number, descendants = true): number {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const ppid = Number(/PPid:\s+(\d+)/.exec(readFileSync(`/proc/${name}/status`, 'utf8'))?.[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch { /* the process exited meanwhile */ }
  }
  let total = 0;
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop()!;
    try {
      total += Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
    } catch { /* exited */ }
    if (descendants) stack.push(...(children.get(pid) ?? []));
  }
  return total;
}
