// Real Chromium (Debian's /usr/bin/chromium through playwright-core) on a cross-origin isolated static
// server that serves the worker bundle, a test page and a bundle folder. Shared by the runtime specs and
// the bench.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { buildBrowser } from '../../build.mjs';
import { startServer, type StaticServer } from '../../runtime-node/serve.ts';

export const CHROMIUM = '/usr/bin/chromium';
/**
 * Chromium's flags in every browser test: headless in a container, nothing fetched but the pages under test. The
 * performance class (8: GPU blocked) is given so that Chromium does not measure it itself: without it, Chromium 156
 * starts its on-device model service ~183 s after launch (an idle browser here), a utility process of ~46 MiB RSS that
 * the memory test counted as growth whenever its 100 calls spanned that moment.
 */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage', '--optimization-guide-performance-class=8'];

export interface BrowserHarness {
  browser: Browser;
  page: Page;
  server: StaticServer;
  bundleUrl: string; // absolute URL of the bundle's manifest.json
  /** A page in a fresh browser context (empty IndexedDB), with the test page loaded. */
  newPage(): Promise<Page>;
  /**
   * RSS in bytes of the Chromium processes, summed by process type ('browser', 'renderer', 'gpu-process',
   * 'utility:NetworkService', …). Throws if it finds no renderer (where the pages and their workers run): a
   * memory figure without one would measure nothing.
   */
  rss(): Record<string, number>;
  close(): Promise<void>;
}

/** Build worker.js + the test page into a temp dir, serve it with `bundleDir` at /bundles/test/, open it. */
export async function openHarness(bundleDir: string, options: { webgpu?: boolean; args?: string[]; executablePath?: string; gpu?: boolean } = {}): Promise<BrowserHarness> {
  const app = mkdtempSync(join(tmpdir(), 'onerec-browser-'));
  await buildBrowser({ outdir: app, entries: { worker: 'worker/worker.ts', 'wasm-helper': 'worker/wasm-helper.ts', page: 'tests/browser/page.ts' }, quiet: true });
  writeFileSync(join(app, 'index.html'), '<!doctype html><meta charset="utf-8"><title>onerec runtime test</title><link rel="icon" href="data:,"><script type="module" src="./page.js"></script>');
  const server = await startServer({ mounts: { '/': app, '/bundles/test/': bundleDir } });
  // gpu: keep Chromium's GPU process on the machine's GPU (a bench on a GPU machine); by default --disable-gpu.
  const args = CHROMIUM_ARGS.filter((flag) => !(options.gpu && flag === '--disable-gpu'));
  if (options.webgpu) args.push('--enable-unsafe-webgpu');
  args.push(...(options.args ?? [])); // a bench's extra flags
  const browser = await chromium.launch({ executablePath: options.executablePath ?? CHROMIUM, headless: true, args });
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
    rss: chromiumRss,
    async close() {
      await browser.close();
      await server.close();
      rmSync(app, { recursive: true, force: true });
    },
  };
}

/**
 * RSS by process type of the Chromium process trees below this process (playwright-core runs the browser as our child).
 * Only children whose executable is Chromium count: esbuild's service, started by buildBrowser and also our child,
 * shrinks by ~23 MiB in the first minutes, which hid that much of any growth.
 */
function chromiumRss(): Record<string, number> {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const ppid = Number(/PPid:\s+(\d+)/.exec(readFileSync(`/proc/${name}/status`, 'utf8'))?.[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch { /* the process exited meanwhile */ }
  }
  const read = (pid: number, file: string): string => {
    try {
      return readFileSync(`/proc/${pid}/${file}`, 'utf8');
    } catch {
      return ''; // exited
    }
  };
  const rss: Record<string, number> = {};
  let renderers = 0; // renderer processes whose RSS was read
  const stack = (children.get(process.pid) ?? []).filter((pid) => /^chrom/.test(read(pid, 'comm')));
  while (stack.length) {
    const pid = stack.pop()!;
    const command = read(pid, 'cmdline');
    const type = /--type=([\w-]+)/.exec(command)?.[1] ?? 'browser';
    const service = /--utility-sub-type=(?:\w+\.)*(\w+)/.exec(command)?.[1];
    const key = service ? `${type}:${service}` : type;
    const bytes = Number(/VmRSS:\s+(\d+) kB/.exec(read(pid, 'status'))?.[1] ?? 0) * 1024;
    rss[key] = (rss[key] ?? 0) + bytes;
    if (type === 'renderer' && bytes > 0) renderers++;
    stack.push(...(children.get(pid) ?? []));
  }
  if (renderers === 0) {
    const found = Object.entries(rss).map(([key, bytes]) => `${key} ${(bytes / 2 ** 20).toFixed(1)} MiB`).join(', ') || 'no Chromium process at all';
    throw new Error(`chromiumRss: no Chromium renderer process (where the pages and their workers run) below this process (pid ${process.pid}); found ${found}. Open the browser with openHarness() in this process before measuring, and check that ${CHROMIUM} is the browser it launched`);
  }
  return rss;
}
