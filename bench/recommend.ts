// recommend() latency: the same runtime code in Chromium (worker, onnxruntime-web wasm, 1 and 2 threads,
// cross-origin isolated) and in Node (onnxruntime-node, native CPU EP), in one run, on one bundle.
//
//   npm run bench:recommend                                   # synthetic Beauty-sized fp32 bundle (+ reward model)
//   npm run bench:recommend -- --bundle=models/bundles/kuairand --out=bench/results/recommend-kuairand.json
//   npm run bench:recommend -- --bundle=models/bundles/beauty --sessionLength=2   # its model generates 2 items
//   node --import tsx bench/recommend.ts --bundle=models/bundles/kuairand --nodeEps=cpu,webgpu --browser=0 \
//     --out=$OUT/recommend-h200.json                          # a GPU machine: onnxruntime-node's WebGPU EP
//   node --import tsx bench/recommend.ts --browserDevices=webgpu --nodeEps=cpu,cpu+wgsl --chromium=PATH \
//     --chromiumArgs='--enable-features=Vulkan --use-angle=vulkan --use-vulkan=native --disable-vulkan-surface'
//                         # Chromium's WebGPU (the WGSL model in the worker) beside the same calls on Dawn in Node; on the
//                         # GPU machine through bench/chromium-device-run.sh (a carried Chromium, bench/chromium-device.sh)
// With --browser=0 neither Chromium nor playwright-core is loaded; without --bundle the exporter makes the
// synthetic bundle (those imports too are loaded only then).
//
// Workload: history 50 items, session 5 items, beam 32, every beam a candidate, reward rerank when the
// bundle has a reward model. Writes bench/results/recommend.json: p50_ms / p95_ms per configuration,
// cold start (uncached, and from IndexedDB), FLOPs of one call and GFLOP/s, ratio_browser_to_native.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { createNodeRecommender } from '../runtime-node/node-recommender.ts';
import { DEFAULT_SEED_CONFIG, type SeedConfig } from '../models/seed/config.ts';
import { DEFAULT_REWARD_CONFIG } from '../models/reward/config.ts';
import { TOWER_NAMES } from '../models/reward/labels.ts';
import { parseBundleItems, parseManifest, type BundleManifest } from '../runtime/bundle.ts';
import { beamSearch, type DecoderSession } from '../runtime/beam-search.ts';
import type { Recommender, RecommendOptions } from '../runtime/recommender.ts';
import { parseArgs } from './args.ts';
import { percentile } from './stats.ts';

const defaults = {
  bundle: '', // a bundle folder; empty: a synthetic Beauty-sized one under .work/ (the issue's workload needs session 5 and a reward model, which the shipped Beauty bundle lacks)
  runs: 40, // timed recommend() calls per configuration (after `warmup`)
  warmup: 5, // untimed calls first (ORT allocations, JIT)
  history: 50, // items of history per call
  sessionLength: 5, // items per generated session
  beamWidth: 32,
  out: 'bench/results/recommend.json',
  nodeEps: 'cpu', // onnxruntime-node EPs to time, comma-separated: cpu (1 and 2 threads), webgpu; cpu+wgsl: the seed model in WGSL on Dawn (runtime/webgpu-decoder.ts); cpu+simd: the seed model in the runtime's wasm SIMD kernels (runtime/wasm-decoder.ts), as the browser runs it on wasm; with either, the reward model on the wasm kernels (runtime/wasm-reward.ts). webgpu+wgsl aborts: ORT's WebGPU EP and the webgpu package are two Dawn builds in one process
  browser: 1, // 0: skip Chromium (machines without it)
  browserDevices: 'wasm', // Chromium rows, comma-separated: wasm (the wasm kernels and onnxruntime-web, 1 and 2 threads); webgpu (the WGSL model on the page's WebGPU adapter: --enable-unsafe-webgpu, Chromium's GPU process left on)
  chromium: '', // Chromium's executable; empty: $ONEREC_CHROMIUM, else the harness's /usr/bin/chromium
  chromiumArgs: '', // extra Chromium flags, space-separated; empty: $ONEREC_CHROMIUM_ARGS
};

/**
 * Synthetic bundle at Beauty's sizes: 12,101 items, 4 levels × K 256, the default seed model (its encoder
 * sees the most recent maxHistory = 20 items), and the default reward model (H 50, m 5) with 6 towers.
 */
async function syntheticBundle(dir: string, sessionLength: number): Promise<void> {
  const { writeTestBundle } = await import('../tests/runtime/fixture.ts');
  const config: SeedConfig = { ...DEFAULT_SEED_CONFIG, sessionLength, dropout: 0 };
  const rewardConfig = { ...DEFAULT_REWARD_CONFIG, sessionLength, towers: [...TOWER_NAMES] };
  await writeTestBundle(dir, { config, items: 12101, std: 0.1, beamWidth: 32, reward: true, rewardConfig });
}

/**
 * Multiply-adds × 2 of one recommend(): encoder over S = maxHistory·levels tokens, the cross-attention
 * K/V, `calls` decoder steps of `rows` beams (self-attention over the growing cache, cross-attention over
 * S, top-k MoE, LM head), and reward.onnx over the candidates. Dense math only (no softmax/norm/gather).
 */
function flopsPerCall(m: BundleManifest, beamWidth: number, sessionLength: number, candidates: number): { total: number; encoder: number; decoder: number; reward: number } {
  const c = m.model;
  const d = c.dModel;
  const S = c.maxHistory * c.levels;
  const V = m.tokens.vocabSize;
  const encoderLayer = 2 * S * (4 * d * d + 2 * d * c.ffnDim) + 2 * 2 * S * S * d;
  const encoder = c.encoderLayers * encoderLayer + c.decoderLayers * 2 * S * 2 * d * d; // + cross K, V
  let decoder = 0;
  // The tokens beamSearch feeds: BOS with 1 row, then every code and every BOS between items with `rows`
  // rows. An item's last code goes in one call with the next BOS, so no LM head runs on it.
  const positions = sessionLength * (c.levels + 1) - 1;
  for (let p = 0; p < positions; p++) {
    const rows = p === 0 ? 1 : beamWidth;
    const layer = 2 * (4 * d * d) + 2 * 2 * (p + 1) * d // self: q k v o + attention over p+1 keys
      + 2 * (2 * d * d) + 2 * 2 * S * d // cross: q o + attention over S keys
      + 2 * d * c.experts + c.expertsPerToken * 2 * 2 * d * c.expertFfnDim; // router + top-k experts
    const head = p % (c.levels + 1) === c.levels ? 0 : 2 * d * V;
    decoder += rows * (c.decoderLayers * layer + head);
  }
  let reward = 0;
  if (m.reward) {
    // The reward graph's width is not in the manifest: DEFAULT_REWARD_CONFIG's is assumed.
    const { dModel: rd, towerHidden } = DEFAULT_REWARD_CONFIG;
    const T = m.reward.towers.length;
    reward = candidates * (2 * sessionLength * 4 * rd * rd + 2 * 2 * sessionLength * sessionLength * rd + T * 2 * (rd * towerHidden + towerHidden));
  }
  return { total: encoder + decoder + reward, encoder, decoder, reward };
}

/**
 * The beam search's own JS cost: the same search over a decoder that returns fixed values instantly — code
 * log-probabilities ([rows, K], what current bundles' sessions give it), or with `logits` full logits
 * ([rows, vocab], normalised by the search: bundles exported before code_logits).
 */
async function jsBeamSearchMs(bundleDir: string, m: BundleManifest, options: RecommendOptions, logits: boolean): Promise<number> {
  const { trie } = parseBundleItems(new Uint8Array(readFileSync(join(bundleDir, m.files.items!.path))), m.files.items!.path);
  const width = logits ? m.tokens.vocabSize : m.tokens.codebookSize;
  const values = Float32Array.from({ length: options.beamWidth! * width }, (_, i) => 4 * Math.sin(i * 12.9898) - (logits ? 0 : 8)); // [beam, width]
  const session: DecoderSession = logits
    ? { step: async (tokens) => values.subarray(0, tokens.length * width) }
    : { step: async () => { throw new Error('unused'); }, stepCodeLogProbs: async (_, parents) => values.subarray(0, parents.length * width), twoTokenSteps: true };
  const search = () => beamSearch(session, trie, { beamWidth: options.beamWidth!, sessionLength: options.sessionLength! });
  for (let i = 0; i < 3; i++) await search();
  const t = performance.now();
  for (let i = 0; i < 10; i++) await search();
  return (performance.now() - t) / 10;
}

const summarize = (ms: number[]) => {
  const sorted = [...ms].sort((a, b) => a - b);
  return { p50_ms: +percentile(sorted, 0.5).toFixed(2), p95_ms: +percentile(sorted, 0.95).toFixed(2), mean_ms: +(ms.reduce((a, b) => a + b, 0) / ms.length).toFixed(2), runs: ms.length };
};

/** Seeded histories of `length` distinct items (LCG; different per run index). */
function histories(count: number, length: number, items: number): number[][] {
  let state = 12345;
  const next = (): number => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) % items;
  return Array.from({ length: count }, () => Array.from({ length }, next));
}

async function timeNode(recommender: Recommender, hs: number[][], options: RecommendOptions, warmup: number): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await recommender.recommend(hs[i % hs.length], options);
  const ms: number[] = [];
  for (const h of hs) {
    const t = performance.now();
    await recommender.recommend(h, options);
    ms.push(performance.now() - t);
  }
  return ms;
}

/** What Chromium's WebGPU gave: the adapter, the timed calls, or exactly what failed (console errors, chrome://gpu). */
interface BrowserWebgpuReport {
  executable: string;
  args: string[];
  adapter: { vendor: string; architecture: string; device: string; description: string; isFallbackAdapter: boolean; features: string[]; maxStorageBufferBindingSize: number } | null;
  load?: { executionProvider: string; decoder: string; rewardBackend?: string; fallbackReasons: string[] };
  ms?: number[];
  parts?: Record<string, number>;
  loadMs?: number;
  firstMs?: number;
  failure?: string; // no adapter, a fallback (software) adapter, or the load's / a call's error
  consoleErrors: string[]; // the page's and its worker's console errors and warnings
  chromeGpu?: string; // chrome://gpu's text when something failed (graphics feature status, problems, driver info)
}

/**
 * Chromium's WebGPU path: the page's adapter, then a worker recommender on device 'webgpu', engine 'wgsl' (the WGSL
 * model; `recommend()` also runs the reward model in WGSL), a first call, warm-ups and the timed calls. A software
 * adapter is timed too, but reported as the failure: on the GPU machine it means Chromium did not reach the GPU.
 */
async function timeBrowserWebgpu(harness: Awaited<ReturnType<typeof import('../tests/browser/harness.ts')['openHarness']>>, run: { hs: number[][]; options: RecommendOptions; warmup: number; executablePath?: string; extraArgs: string[] }): Promise<BrowserWebgpuReport> {
  const report: BrowserWebgpuReport = { executable: run.executablePath ?? 'the harness default (/usr/bin/chromium)', args: run.extraArgs, adapter: null, consoleErrors: [] };
  const page = await harness.newPage();
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') report.consoleErrors.push(`${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => report.consoleErrors.push(`pageerror: ${e.message}`));
  report.adapter = await page.evaluate(async () => {
    const adapter = await navigator.gpu?.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) return null;
    const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
    return { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description, isFallbackAdapter: Boolean(info.isFallbackAdapter ?? (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter), features: [...adapter.features].sort(), maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize };
  });
  const gpuText = report.adapter ? JSON.stringify({ ...report.adapter, features: report.adapter.features.length }) : 'none';
  console.log(`chromium webgpu adapter: ${gpuText}`);
  if (!report.adapter) report.failure = `navigator.gpu.requestAdapter() gave ${await page.evaluate(() => ('gpu' in navigator ? 'null' : 'no navigator.gpu'))}: Chromium has no WebGPU adapter with these flags`;
  else if (report.adapter.isFallbackAdapter || /swiftshader/i.test(`${report.adapter.vendor} ${report.adapter.architecture} ${report.adapter.description}`)) report.failure = `a fallback (software) adapter: ${gpuText}; Chromium did not reach the GPU (timed anyway)`;
  if (report.adapter) {
    const result = await page.evaluate(async ({ url, hs, options, warmup }) => {
      const r = window.onerec.createWorkerRecommender();
      try {
        const t0 = performance.now();
        const info = await r.load(url, { device: 'webgpu', engine: 'wgsl' });
        const t1 = performance.now();
        await r.recommend(hs[0], options);
        const t2 = performance.now();
        for (let i = 0; i < warmup; i++) await r.recommend(hs[i % hs.length], options);
        const ms: number[] = [];
        const parts = { encodeMs: 0, searchMs: 0, decoderMs: 0, rerankMs: 0 };
        for (const h of hs) {
          const t = performance.now();
          const { timings } = await r.recommend(h, options);
          ms.push(performance.now() - t);
          for (const k of Object.keys(parts) as (keyof typeof parts)[]) parts[k] += timings[k] / hs.length;
        }
        return { ms, parts, loadMs: t1 - t0, firstMs: t2 - t1, load: { executionProvider: info.executionProvider, decoder: info.decoder, rewardBackend: info.rewardBackend, fallbackReasons: info.fallbackReasons } };
      } catch (e) {
        return { error: `${(e as Error).name}: ${(e as Error).message}` };
      } finally {
        await r.dispose();
      }
    }, { url: harness.bundleUrl, hs: run.hs, options: run.options, warmup: run.warmup });
    if ('error' in result) report.failure = `${report.failure ? `${report.failure}; then ` : ''}the WebGPU load or a call failed: ${result.error}`;
    else {
      Object.assign(report, { ms: result.ms, load: result.load, loadMs: +result.loadMs.toFixed(1), firstMs: +result.firstMs.toFixed(1), parts: Object.fromEntries(Object.entries(result.parts).map(([k, v]) => [k, +v.toFixed(2)])) });
      console.log(`chromium webgpu: load ${report.loadMs} ms, first recommend() ${report.firstMs} ms, ${JSON.stringify(result.load)}`);
    }
  }
  if (report.failure) {
    // chrome://gpu as text: feature status (WebGPU: hardware accelerated / software / disabled), problems, driver info.
    try {
      await page.goto('chrome://gpu');
      await page.waitForTimeout(1500);
      report.chromeGpu = await page.evaluate(() => {
        const view = document.querySelector('info-view')?.shadowRoot;
        return ((view?.getElementById('content') as HTMLElement | null)?.innerText ?? view?.textContent ?? document.body.innerText).replace(/\n\s*\n+/g, '\n').trim();
      });
    } catch (e) {
      report.chromeGpu = `chrome://gpu could not be read: ${(e as Error).message}`;
    }
    // The whole page is in the JSON; the console gets its head (feature status, driver) and its log messages.
    const gpuPage = report.chromeGpu;
    const log = gpuPage.indexOf('Log Messages');
    console.error(`chromium webgpu FAILED: ${report.failure}\nconsole errors:\n  ${report.consoleErrors.join('\n  ') || '(none)'}\nchrome://gpu (head):\n${gpuPage.slice(0, 4000)}${log > 4000 ? `\n…\n${gpuPage.slice(log, log + 4000)}` : ''}`);
  }
  await page.context().close();
  return report;
}

async function main(): Promise<void> {
  const o = parseArgs(defaults, process.argv.slice(2));
  const loadBefore = loadavg()[0];
  let bundleDir = o.bundle;
  if (!bundleDir) {
    bundleDir = '.work/bench-recommend-bundle';
    rmSync(bundleDir, { recursive: true, force: true });
    console.log(`bench: no --bundle; writing a synthetic Beauty-sized one to ${bundleDir}`);
    await syntheticBundle(bundleDir, o.sessionLength);
  }
  bundleDir = resolve(bundleDir);
  const manifest = parseManifest(JSON.parse(readFileSync(join(bundleDir, 'manifest.json'), 'utf8')), bundleDir);
  const items = parseBundleItems(new Uint8Array(readFileSync(join(bundleDir, manifest.files.items!.path))), manifest.files.items!.path).trie.itemCount;
  const options: RecommendOptions = { sessionLength: o.sessionLength, beamWidth: o.beamWidth, candidates: o.beamWidth };
  const hs = histories(o.runs, o.history, items);
  const flops = flopsPerCall(manifest, o.beamWidth, o.sessionLength, o.beamWidth);
  const configurations: Record<string, ReturnType<typeof summarize> & { gflop_per_s: number }> = {};
  const record = (name: string, ms: number[]): void => {
    const s = summarize(ms);
    configurations[name] = { ...s, gflop_per_s: +(flops.total / (s.p50_ms * 1e6)).toFixed(2) };
    console.log(`${name.padEnd(28)} p50 ${s.p50_ms} ms  p95 ${s.p95_ms} ms  (${configurations[name].gflop_per_s} GFLOP/s)`);
  };

  // Native: onnxruntime-node, the same runtime code.
  let breakdown: Record<string, number> = {};
  const breakdowns: Record<string, Record<string, number>> = {}; // every configuration's own but the CPU EP's 1-thread one (breakdown below)
  let adapter: string | null = null; // the WebGPU adapter of the WGSL decoder, when one ran
  const nodeRuns = o.nodeEps.split(',').filter(Boolean).flatMap((ep) => (ep === 'cpu' || ep === 'cpu+simd' ? [{ ep, threads: 1 }, { ep, threads: 2 }] : [{ ep, threads: 1 }])); // cpu+simd with 2: the kernels' helper thread
  const reference = new Map<number, string>(); // history index → the CPU EP's ranked sessions, to check the others against
  const agreement: Record<string, { same_ranked_sessions: number; of: number }> = {};
  for (const { ep: name, threads } of nodeRuns) {
    const [ep, decoder] = name.split('+');
    let gpuDevice: GPUDevice | undefined;
    if (decoder === 'wgsl') {
      const gpu = await (await import('../models/engine/device.ts')).openDevice({ quiet: true });
      gpuDevice = gpu.device;
      adapter = gpu.adapter;
    }
    const onnxRuntime = await import('onnxruntime-node'); // the repo's devDependency: the pipeline itself runs onnxruntime-web
    const node = createNodeRecommender({ onnxRuntime, executionProviders: [ep], threads, gpuDevice, wasmDecoder: decoder === 'simd' });
    const info = await node.load(bundleDir);
    if (info.executionProvider !== ep) throw new Error(`onnxruntime-node ran on ${info.executionProvider}, not ${ep}: ${info.fallbackReasons.join('; ')}`);
    const expected = decoder === 'wgsl' ? 'wgsl' : decoder === 'simd' ? 'wasm-simd' : 'onnx';
    if (info.decoder !== expected) throw new Error(`the seed model ran on ${info.decoder}, not ${expected}: ${info.fallbackReasons.join('; ')}`);
    if (decoder === 'simd' && info.kernelThreads !== threads) throw new Error(`the kernels ran on ${info.kernelThreads} threads, not ${threads}: ${info.fallbackReasons.join('; ')}`);
    const label = ep === 'cpu' && !decoder ? `node-cpu-${threads}thread` : threads > 1 ? `node-${name}-${threads}thread` : `node-${name}`;
    record(label, await timeNode(node, hs, options, o.warmup));
    // The first 10 histories once more: their ranked sessions (checked against the first configuration's) and where
    // a call's time goes (means): encoder, beam search (decoder runs + JS), rerank.
    const check = Math.min(10, hs.length);
    const first = reference.size === 0;
    let same = 0;
    const parts = { encodeMs: 0, searchMs: 0, decoderMs: 0, rerankMs: 0 };
    for (let i = 0; i < check; i++) {
      const { sessions, timings } = await node.recommend(hs[i], options);
      const ranked = sessions.map((s) => s.items.join(' ')).join(' | ');
      if (first) reference.set(i, ranked);
      else if (reference.get(i) === ranked) same++;
      for (const k of Object.keys(parts) as (keyof typeof parts)[]) parts[k] += timings[k] / check;
    }
    if (!first) agreement[label] = { same_ranked_sessions: same, of: check };
    const rounded: Record<string, number> = Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, +v.toFixed(2)]));
    if (decoder) breakdowns[label] = rounded;
    else if (ep === 'cpu' && threads === 1) {
      breakdown = rounded;
      breakdown.jsBeamSearchOnlyMs = +(await jsBeamSearchMs(bundleDir, manifest, options, false)).toFixed(2);
      breakdown.jsBeamSearchOnlyMsFullLogits = +(await jsBeamSearchMs(bundleDir, manifest, options, true)).toFixed(2);
    }
    await node.dispose();
  }

  // Browser: Chromium, the worker, onnxruntime-web wasm.
  const cold: Record<string, number> = {};
  const browserDevices = o.browserDevices.split(',').filter(Boolean);
  const webgpu = browserDevices.includes('webgpu');
  const executablePath = o.chromium || process.env.ONEREC_CHROMIUM || undefined;
  const extraArgs = (o.chromiumArgs || process.env.ONEREC_CHROMIUM_ARGS || '').split(/\s+/).filter(Boolean);
  let browserWebgpu: BrowserWebgpuReport | null = null;
  let harness: Awaited<ReturnType<typeof import('../tests/browser/harness.ts')['openHarness']>> | null = null;
  if (o.browser) {
    try {
      harness = await (await import('../tests/browser/harness.ts')).openHarness(bundleDir, { executablePath, args: extraArgs, webgpu, gpu: webgpu });
    } catch (e) {
      if (!webgpu) throw e;
      // On the GPU machine a carried Chromium that does not start is the finding: keep the Node rows and say why.
      browserWebgpu = { executable: executablePath ?? 'the harness default (/usr/bin/chromium)', args: extraArgs, adapter: null, consoleErrors: [], failure: `Chromium did not start: ${(e as Error).message}` };
      console.error(`chromium webgpu FAILED: ${browserWebgpu.failure}`);
    }
  }
  if (harness && webgpu) {
    const report = await timeBrowserWebgpu(harness, { hs, options, warmup: o.warmup, executablePath, extraArgs });
    browserWebgpu = report;
    if (report.ms) {
      record('chromium-webgpu', report.ms);
      breakdowns['chromium-webgpu'] = report.parts!;
      cold.webgpu_uncached_load_ms = report.loadMs!;
      cold.webgpu_first_recommend_ms = report.firstMs!;
    }
  }
  if (harness && browserDevices.includes('wasm')) try {
    const isolated = await harness.page.evaluate(() => crossOriginIsolated);
    if (!isolated) throw new Error('the bench page is not cross-origin isolated; wasm threads would be ignored');
    // The runtime's default on wasm (the seed and reward models in its wasm SIMD kernels; onnxruntime-web unused) with 1
    // and 2 threads, then every graph on onnxruntime-web's wasm EP (wasmDecoder: false), the path before the kernels.
    for (const { threads, wasmDecoder } of [{ threads: 1, wasmDecoder: true }, { threads: 2, wasmDecoder: true }, { threads: 1, wasmDecoder: false }]) {
      const page = await harness.newPage(); // fresh context: empty IndexedDB
      const result = await page.evaluate(async ({ url, threads, hs, options, warmup, wasmDecoder }) => {
        const t0 = performance.now();
        const r = window.onerec.createWorkerRecommender();
        const info = await r.load(url, { device: 'wasm', threads, wasmDecoder });
        const t1 = performance.now();
        await r.recommend(hs[0], options);
        const t2 = performance.now();
        for (let i = 0; i < warmup; i++) await r.recommend(hs[i % hs.length], options);
        const ms: number[] = [];
        const parts = { encodeMs: 0, searchMs: 0, decoderMs: 0, rerankMs: 0 }; // means over the timed calls, as the worker measured them
        for (const h of hs) {
          const t = performance.now();
          const { timings } = await r.recommend(h, options);
          ms.push(performance.now() - t);
          for (const k of Object.keys(parts) as (keyof typeof parts)[]) parts[k] += timings[k] / hs.length;
        }
        await r.dispose();
        return { ms, parts, loadMs: t1 - t0, firstMs: t2 - t1, fromNetwork: info.fromNetwork.length, ep: info.executionProvider, decoder: info.decoder, kernelThreads: info.kernelThreads, reasons: info.fallbackReasons };
      }, { url: harness.bundleUrl, threads, hs, options, warmup: o.warmup, wasmDecoder });
      if (result.ep !== 'wasm' || result.fromNetwork === 0 || result.decoder !== (wasmDecoder ? 'wasm-simd' : 'onnx') || (wasmDecoder && result.kernelThreads !== threads)) throw new Error(`unexpected load: ${JSON.stringify({ ...result, ms: undefined })}`);
      const label = wasmDecoder ? `chromium-wasm-${threads}thread` : `chromium-wasm-onnx-${threads}thread`;
      record(label, result.ms);
      breakdowns[label] = Object.fromEntries(Object.entries(result.parts).map(([k, v]) => [k, +v.toFixed(2)]));
      if (threads === 1 && wasmDecoder) {
        cold.uncached_load_ms = +result.loadMs.toFixed(1);
        cold.uncached_first_recommend_ms = +result.firstMs.toFixed(1);
        // Same context, a new page load: the bundle comes from IndexedDB.
        await page.reload();
        await page.waitForFunction(() => 'onerec' in window);
        const cached = await page.evaluate(async ({ url, h, options }) => {
          const t0 = performance.now();
          const r = window.onerec.createWorkerRecommender();
          const info = await r.load(url, { device: 'wasm', threads: 1 });
          const t1 = performance.now();
          await r.recommend(h, options);
          const t2 = performance.now();
          await r.dispose();
          return { loadMs: t1 - t0, firstMs: t2 - t1, fromCache: info.fromCache.length, fromNetwork: info.fromNetwork.length };
        }, { url: harness.bundleUrl, h: hs[0], options });
        if (cached.fromNetwork !== 0) throw new Error(`reload fetched ${cached.fromNetwork} files instead of using IndexedDB`);
        cold.indexeddb_load_ms = +cached.loadMs.toFixed(1);
        cold.indexeddb_first_recommend_ms = +cached.firstMs.toFixed(1);
      }
      await page.context().close();
    }
  } finally {
    await harness.close();
  }
  else if (harness) await harness.close();
  const ratio = (browser: string, native: string): number | null =>
    configurations[browser] && configurations[native] ? +(configurations[browser].p50_ms / configurations[native].p50_ms).toFixed(2) : null;

  const bundleBytes = Object.values(manifest.files).reduce((s, f) => s + (f?.bytes ?? 0), 0);
  const result = {
    date: new Date().toISOString(),
    command: `npm run bench:recommend -- ${process.argv.slice(2).join(' ')}`.trim(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, load_average_1min: { before: +loadBefore.toFixed(1), after: +loadavg()[0].toFixed(1) }, gpu: adapter, note: (adapter && !/swiftshader/i.test(adapter)) || o.nodeEps.split(',').includes('webgpu') ? 'the GPU machine (one H200): the CPU EP runs on its host CPU, slower per core than the development machines' : 'shared CPU machine: other engineers\' jobs run at the same time (see load_average), so figures are upper bounds; no GPU' },
    bundle: { dir: o.bundle || (bundleDir.endsWith('bench-recommend-bundle') ? 'synthetic (tests/runtime/fixture.ts, Beauty-sized, seeded random weights)' : bundleDir), name: manifest.name, quantization: manifest.quantization, items, bytes: bundleBytes, model: manifest.model, reward: manifest.reward ?? null },
    workload: { history: o.history, sessionLength: o.sessionLength, beamWidth: o.beamWidth, candidates: o.beamWidth, rerank: manifest.files.reward ? 'reward' : 'log-prob', encoderHistory: manifest.model.maxHistory },
    flops_per_call: flops,
    node_1thread_breakdown_ms: breakdown,
    breakdown_ms: breakdowns, // every configuration but the CPU EP 1-thread one (node_1thread_breakdown_ms): means of its calls
    // Of the first 10 histories, how many gave the same ranked sessions as the first configuration (float32 EPs agree to ~1e-5; a near-tie may swap).
    agreement_with_first_configuration: agreement,
    configurations,
    cold_start: cold,
    ratio_browser_to_native: ratio('chromium-wasm-1thread', 'node-cpu-1thread'),
    ratio_browser_to_native_2threads: ratio('chromium-wasm-2thread', 'node-cpu-2thread'),
    ratio_browser_onnx_decoder_to_native: ratio('chromium-wasm-onnx-1thread', 'node-cpu-1thread'), // every graph on onnxruntime-web (wasmDecoder: false)
    ratio_browser_webgpu_to_node_wgsl: ratio('chromium-webgpu', 'node-cpu+wgsl'), // the WGSL model in Chromium's worker ÷ on Dawn in Node
    browser_webgpu: browserWebgpu ?? 'not measured in this run: --browserDevices=webgpu',
    h200_webgpu: configurations['node-webgpu'] ?? 'not measured in this run; on the GPU machine: --nodeEps=cpu,webgpu --browser=0',
    h200_wgsl: configurations['node-cpu+wgsl'] ?? 'not measured in this run; on the GPU machine: --nodeEps=cpu,cpu+wgsl --browser=0 (bench/results/h200-seventh-session/)',
  };
  mkdirSync(resolve(o.out, '..'), { recursive: true });
  writeFileSync(o.out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`cold start: ${JSON.stringify(cold)}`);
  console.log(`ratio browser/native (1 thread): ${result.ratio_browser_to_native}; wrote ${o.out}`);
}

await main();
