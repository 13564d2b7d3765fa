// What one read-back of the WGSL path costs (#23 item 4's fallback where Chromium cannot reach a GPU): the round trip of
// a tiny compute dispatch, copyBufferToBuffer into a MAP_READ buffer, queue.submit, mapAsync(READ), getMappedRange + a
// copy out and unmap, timed in Chromium's WebGPU inside a dedicated Web Worker (where the runtime runs) and on the page,
// and in Node through Dawn (the `webgpu` package), on whatever adapter each gets; beside it the same work submitted and
// awaited with onSubmittedWorkDone, without mapping. Sizes: 4 bytes, and per bundle and beam width the bytes the
// runtime maps per read-back: one decoder step's code scores (a read-back per step), an item's steps and the selection
// kernel's choices (the GPU search reading back per item), and the whole call's (once per call). From the medians: the
// read-back cost of one recommend() each way (read-backs per call × round trip) in that browser on that adapter.
//
//   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json LD_LIBRARY_PATH=/usr/lib/chromium \
//     node --import tsx bench/readback.ts
//   node --import tsx bench/readback.ts --rounds=50 --contexts=worker,node --verify=false --out=/tmp/readback.json
//
// The contexts take turns within each round (their order and the sizes' rotated round by round; read-back and
// submit-only alternate which goes first), so that load from other jobs falls on all of them alike. `--verify` first
// runs each bundle's per-step session and the GPU search per item and per call once on Dawn and checks the sizes and counts of their mapAsync
// calls against the figures used here (runtime/webgpu-decoder.ts is where those sizes come from).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { gpuInstance } from '../models/engine/device.ts';
import { describeOptionsFrom, parseOptions } from '../models/options.ts';
import { parseBundleItems, parseManifest } from '../runtime/bundle.ts';
import { PARAMS } from '../runtime/webgpu-search.ts';
import { percentile } from './stats.ts';

describeOptionsFrom(import.meta.url); // --help reads the options' comments below
const parsed = parseOptions(process.argv.slice(2), {
  bundles: 'models/bundles/kuairand:5,models/bundles/beauty:2', // dir:sessionLength, comma-separated; levels and K from each manifest
  beamWidths: 'manifest,32', // beams per step, comma-separated: 'manifest' is the bundle's generation.beamWidth (recommend()'s default), 32 the width bench/gpu-search.ts measured item 1 at
  rounds: 200, // timed rounds (after `warmup`): in each, every context times one read-back and one submit-only per size
  warmup: 20, // untimed rounds first (pipelines, allocations, JIT)
  contexts: 'worker,page,node', // worker: Chromium's dedicated Web Worker; page: Chromium's page; node: Dawn in this process
  verify: true, // check the byte and read-back counts against the runtime's WGSL decoder on Dawn first (one search per session kind, bundle and width)
  chromium: '', // Chromium's executable; empty: $ONEREC_CHROMIUM, else the harness's /usr/bin/chromium
  chromiumArgs: '', // extra Chromium flags, space-separated; empty: $ONEREC_CHROMIUM_ARGS
  out: 'bench/results/readback-chromium-swiftshader.json', // the JSON report
}, 'node --import tsx bench/readback.ts [--options]: the round trip of one WebGPU read-back in Chromium (worker, page) and Dawn');
if (!parsed) process.exit(0);
const o = parsed;

/** One bundle at one beam width: the bytes the WGSL path maps per read-back and how many read-backs one call makes. */
interface ReadbackPlan {
  bundle: string;
  beamWidth: number;
  sessionLength: number;
  perStepBytes: number; // one read-back per decoder step: its code scores, [beam, K + 2] f32
  perItemBytes: number; // the GPU search reading back per item: `levels` steps' code scores, then the selection kernel's picks [levels − 1]
  perCallBytes: number; // the GPU search reading back once per call: every step's code scores, then its picks [steps − 1]
  readBacksPerStep: number; // sessionLength × levels
  readBacksPerItem: number; // sessionLength
}

/**
 * The runtime's read-back sizes (runtime/webgpu-decoder.ts, ensureCapacity and runSteps): per step, code scores
 * [cap, K + 2] f32 (K code logits, the row's max logit and Σ exp), cap = the beam width; a read-back of several steps
 * (an item's `levels`, or the whole call's sessionLength × levels) maps every step's scores and, for the steps after
 * the first, what the selection kernel picked from its inputs slot: the Params header, tokens [cap, 2], parents [cap], i32.
 */
function readbackPlan(bundle: string, levels: number, codebookSize: number, beamWidth: number, sessionLength: number): ReadbackPlan {
  const outBytes = 4 * beamWidth * (codebookSize + 2);
  const pickBytes = 4 * (PARAMS + 3 * beamWidth);
  const steps = (n: number): number => n * outBytes + (n - 1) * pickBytes;
  return { bundle, beamWidth, sessionLength, perStepBytes: outBytes, perItemBytes: steps(levels), perCallBytes: steps(sessionLength * levels), readBacksPerStep: sessionLength * levels, readBacksPerItem: sessionLength };
}

/** Read-back time of one recommend() from a context's median round trips (ms per size): per step, per item, per call. */
function perCallCost(plan: ReadbackPlan, medianMs: (bytes: number) => number): { per_step_ms: number; per_item_ms: number; per_call_ms: number } {
  const ms = (x: number): number => +x.toFixed(3);
  return { per_step_ms: ms(plan.readBacksPerStep * medianMs(plan.perStepBytes)), per_item_ms: ms(plan.readBacksPerItem * medianMs(plan.perItemBytes)), per_call_ms: ms(medianMs(plan.perCallBytes)) };
}

interface AdapterReport { vendor: string; architecture: string; device: string; description: string; isFallbackAdapter: boolean }
/** One round's times in ms: per size (in the order given to openProbe), and one onSubmittedWorkDone on an idle queue. */
interface RoundTimes { readback: number[]; submit: number[]; idle: number }

/**
 * Self-contained: its source also runs in Chromium's page and worker (no imports, no outer names). A device on `gpu`
 * and, per size, a storage buffer that a one-dispatch kernel increments and a MAP_READ buffer it is copied into.
 * round(index) times per size one read-back as the WGSL path does it (record, submit, mapAsync(READ), getMappedRange +
 * copy out, unmap; the copy's first and last words are checked against the dispatches so far) and one submit of the same
 * work awaited with onSubmittedWorkDone; and once onSubmittedWorkDone with nothing submitted, the callback's round trip
 * alone. The round's index rotates which size goes first and alternates which of the
 * two does, so that neither a size nor a kind always follows the idle time between rounds.
 */
async function openProbe(gpu: GPU, sizes: number[]): Promise<{ adapter: AdapterReport; round(index: number): Promise<RoundTimes> }> {
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new Error('navigator.gpu.requestAdapter() gave null: no WebGPU adapter');
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const report = { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description, isFallbackAdapter: Boolean(info.isFallbackAdapter ?? (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter) };
  const device = await adapter.requestDevice();
  const module = device.createShaderModule({
    code: `@group(0) @binding(0) var<storage, read_write> data: array<u32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) { if (id.x < arrayLength(&data)) { data[id.x] += 1u; } }`,
  });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const slots = sizes.map((bytes) => {
    const data = device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    const staging = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: data } }] });
    return { bytes, data, staging, bind, dispatches: 0 };
  });
  type Slot = (typeof slots)[number];
  const record = (slot: Slot): GPUCommandBuffer => {
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, slot.bind);
    pass.dispatchWorkgroups(Math.ceil(slot.bytes / 4 / 64));
    pass.end();
    encoder.copyBufferToBuffer(slot.data, 0, slot.staging, 0, slot.bytes);
    slot.dispatches++;
    return encoder.finish();
  };
  const readback = async (slot: Slot): Promise<number> => {
    const t = performance.now();
    device.queue.submit([record(slot)]);
    await slot.staging.mapAsync(GPUMapMode.READ, 0, slot.bytes);
    const copy = new Uint32Array(slot.staging.getMappedRange(0, slot.bytes).slice(0));
    slot.staging.unmap();
    const ms = performance.now() - t;
    if (copy[0] !== slot.dispatches || copy[copy.length - 1] !== slot.dispatches) throw new Error(`read back ${copy[0]}…${copy[copy.length - 1]} from ${slot.bytes} bytes after ${slot.dispatches} dispatches`);
    return ms;
  };
  const submitOnly = async (slot: Slot): Promise<number> => {
    const t = performance.now();
    device.queue.submit([record(slot)]);
    await device.queue.onSubmittedWorkDone();
    return performance.now() - t;
  };
  return {
    adapter: report,
    async round(index) {
      const t = performance.now();
      await device.queue.onSubmittedWorkDone();
      const times: RoundTimes = { readback: Array(slots.length).fill(0), submit: Array(slots.length).fill(0), idle: performance.now() - t };
      for (let k = 0; k < slots.length; k++) {
        const s = (index + k) % slots.length;
        if (index % 2 === 0) {
          times.readback[s] = await readback(slots[s]);
          times.submit[s] = await submitOnly(slots[s]);
        } else {
          times.submit[s] = await submitOnly(slots[s]);
          times.readback[s] = await readback(slots[s]);
        }
      }
      return times;
    },
  };
}

/** A context that times rounds: Dawn here, or Chromium's page or a worker it started. */
interface Context { name: string; adapter: AdapterReport; round(index: number): Promise<RoundTimes> }

/** The worker's script: openProbe's source and a message loop (`__name`: tsx's keepNames wrapper, as the harness defines it on the page). */
function workerSource(): string {
  return `self.__name = (f) => f;
const openProbe = ${openProbe.toString()};
let probe;
self.onmessage = async ({ data }) => {
  try {
    if (data.sizes) { probe = await openProbe(navigator.gpu, data.sizes); self.postMessage({ adapter: probe.adapter }); }
    else self.postMessage(await probe.round(data.round));
  } catch (e) { self.postMessage({ error: String(e && e.stack || e) }); }
};`;
}

type Page = import('playwright-core').Page;

async function pageContext(page: Page, sizes: number[]): Promise<Context> {
  const adapter = await page.evaluate(async ({ source, sizes }) => {
    const open = (0, eval)(`(${source})`) as typeof openProbe;
    const probe = await open(navigator.gpu, sizes);
    (globalThis as unknown as { readbackProbe: typeof probe }).readbackProbe = probe;
    return probe.adapter;
  }, { source: openProbe.toString(), sizes });
  return { name: 'chromium-page', adapter, round: (index) => page.evaluate((i) => (globalThis as unknown as { readbackProbe: Awaited<ReturnType<typeof openProbe>> }).readbackProbe.round(i), index) };
}

async function workerContext(page: Page, sizes: number[]): Promise<Context> {
  const adapter = await page.evaluate(async ({ source, sizes }) => {
    const worker = new Worker(URL.createObjectURL(new Blob([source], { type: 'text/javascript' })));
    const ask = (message: unknown): Promise<unknown> => new Promise((ok, fail) => {
      worker.onmessage = ({ data }) => (data.error ? fail(new Error(`worker: ${data.error}`)) : ok(data));
      worker.onerror = (e) => fail(new Error(`worker: ${e.message}`));
      worker.postMessage(message);
    });
    (globalThis as unknown as { readbackWorker: typeof ask }).readbackWorker = ask;
    return ((await ask({ sizes })) as { adapter: AdapterReport }).adapter;
  }, { source: workerSource(), sizes });
  return { name: 'chromium-worker', adapter, round: (index) => page.evaluate((i) => (globalThis as unknown as { readbackWorker: (m: unknown) => Promise<RoundTimes> }).readbackWorker({ round: i }), index) };
}

/**
 * The mapAsync calls of one search per session kind on the runtime's WGSL decoder (Dawn, this process): their sizes and
 * count per call, against the plan's. Throws where they differ.
 */
async function verifyPlans(plans: ReadbackPlan[]): Promise<Record<string, unknown>> {
  const { WebGpuDecoder } = await import('../runtime/webgpu-decoder.ts');
  const { aliveLeafCounts, beamSearch } = await import('../runtime/beam-search.ts');
  const { encoderTokens } = await import('../runtime/tokens.ts');
  const adapter = await gpuInstance().requestAdapter();
  if (!adapter) throw new Error('--verify needs a WebGPU adapter in Node (Dawn): set VK_ICD_FILENAMES (SwiftShader: /usr/lib/chromium/vk_swiftshader_icd.json, with LD_LIBRARY_PATH=/usr/lib/chromium), or pass --verify=false');
  const device = await adapter.requestDevice({ requiredLimits: { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize, maxBufferSize: adapter.limits.maxBufferSize } });
  const proto = (globalThis as unknown as { GPUBuffer: { prototype: GPUBuffer } }).GPUBuffer.prototype;
  const mapAsync = proto.mapAsync;
  const mapped: number[] = [];
  proto.mapAsync = function (this: GPUBuffer, mode: number, offset?: number, size?: number) {
    mapped.push(size ?? this.size - (offset ?? 0));
    return mapAsync.call(this, mode, offset, size);
  };
  const checked: Record<string, unknown> = {};
  try {
    for (const plan of plans) {
      const dir = plan.bundle;
      const manifest = parseManifest(JSON.parse(readFileSync(`${dir}/manifest.json`, 'utf8')), dir);
      const members = manifest.ensemble?.members ?? [manifest.model];
      const { trie } = parseBundleItems(readFileSync(`${dir}/${manifest.files.items!.path}`), manifest.files.items!.path);
      const codes = new Uint16Array(trie.itemCount * trie.levels);
      for (let i = 0; i < trie.itemCount; i++) codes.set(trie.itemCodes(i), i * trie.levels);
      const model = await WebGpuDecoder.create(device, readFileSync(`${dir}/decoder_step.onnx`), members, { encoderOnnx: readFileSync(`${dir}/encoder.onnx`) });
      const perItemModel = await WebGpuDecoder.create(device, readFileSync(`${dir}/decoder_step.onnx`), members, { encoderOnnx: readFileSync(`${dir}/encoder.onnx`), searchReadBacks: 'item' });
      try {
        const history = Int32Array.from({ length: 20 }, (_, i) => (i * 104729) % trie.itemCount);
        const exclude = new Uint8Array(trie.itemCount);
        for (const item of history) exclude[item] = 1;
        const { levels, codebookSize, maxHistory } = members[0];
        const tokens = encoderTokens(history, codes, levels, codebookSize, maxHistory);
        const options = { beamWidth: plan.beamWidth, sessionLength: plan.sessionLength, exclude };
        const t = performance.now();
        mapped.length = 0;
        await beamSearch(model.sessionFromTokens(tokens, plan.beamWidth), trie, options);
        const perStep = [...mapped];
        const context = { trie, beamWidth: plan.beamWidth, sessionLength: plan.sessionLength, alive: aliveLeafCounts(trie, exclude), exclude };
        const search = async (decoder: Awaited<ReturnType<typeof WebGpuDecoder.create>>): Promise<{ bytes: number[]; mispredictions: number }> => {
          mapped.length = 0;
          const before = decoder.stats.mispredictions;
          await beamSearch(decoder.searchSession(tokens, plan.beamWidth, context), trie, options);
          return { bytes: [...mapped], mispredictions: decoder.stats.mispredictions - before };
        };
        const perItem = await search(perItemModel);
        const perCall = await search(model);
        const key = `${dir} beam ${plan.beamWidth}`;
        const want = { perStep: Array(plan.readBacksPerStep).fill(plan.perStepBytes), perItem: Array(plan.readBacksPerItem).fill(plan.perItemBytes), perCall: [plan.perCallBytes] };
        const got = { perStep, perItem: perItem.bytes, perCall: perCall.bytes };
        // A misprediction re-runs the rest of an item or call: more (and smaller) read-backs than the plan's, which is not the case measured.
        const exact = (a: number[], b: number[]): boolean => JSON.stringify(a) === JSON.stringify(b);
        if (!exact(perStep, want.perStep) || (perItem.mispredictions === 0 && !exact(perItem.bytes, want.perItem)) || (perCall.mispredictions === 0 && !exact(perCall.bytes, want.perCall))) {
          throw new Error(`${key}: the WGSL decoder mapped ${JSON.stringify(got)}, the plan says ${JSON.stringify(want)}`);
        }
        const row = (bytes: number[], mispredictions?: number) => ({ read_backs: bytes.length, bytes: [...new Set(bytes)], ...(mispredictions !== undefined && { mispredictions }) });
        checked[key] = { per_step_session: row(perStep), gpu_search_per_item: row(perItem.bytes, perItem.mispredictions), gpu_search_per_call: row(perCall.bytes, perCall.mispredictions), ms: Math.round(performance.now() - t) };
        console.log(`verify ${key}: per step ${perStep.length} × ${[...new Set(perStep)]} B, GPU search per item ${perItem.bytes.length} × ${[...new Set(perItem.bytes)]} B, per call ${perCall.bytes.length} × ${[...new Set(perCall.bytes)]} B (${perItem.mispredictions} + ${perCall.mispredictions} mispredictions), ${Math.round(performance.now() - t)} ms`);
      } finally {
        model.dispose();
        perItemModel.dispose();
      }
    }
  } finally {
    proto.mapAsync = mapAsync;
    device.destroy();
  }
  return checked;
}

/** Median and p95, and the low end (min, p10, p25): a round trip that finds its work done at once is far below the median. */
function summarize(ms: number[]): { median_ms: number; p95_ms: number; min_ms: number; p10_ms: number; p25_ms: number; rounds: number } {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number): number => +percentile(sorted, q).toFixed(4);
  return { median_ms: at(0.5), p95_ms: at(0.95), min_ms: at(0), p10_ms: at(0.1), p25_ms: at(0.25), rounds: ms.length };
}

async function main(): Promise<void> {
  const loadBefore = loadavg();
  const plans: ReadbackPlan[] = [];
  for (const spec of o.bundles.split(',').filter(Boolean)) {
    const [dir, length] = spec.split(':');
    const manifest = parseManifest(JSON.parse(readFileSync(`${dir}/manifest.json`, 'utf8')), dir);
    const sessionLength = Number(length || manifest.generation?.sessionLength || manifest.model.sessionLength);
    for (const width of o.beamWidths.split(',').filter(Boolean)) {
      const beamWidth = width === 'manifest' ? manifest.generation?.beamWidth : Number(width);
      if (!Number.isInteger(beamWidth) || beamWidth! < 1) throw new Error(`--beamWidths: '${width}' is not a beam width for ${dir} (a positive integer, or 'manifest' where the manifest has generation.beamWidth)`);
      if (!plans.some((p) => p.bundle === dir && p.beamWidth === beamWidth)) plans.push(readbackPlan(dir, manifest.tokens.levels, manifest.tokens.codebookSize, beamWidth!, sessionLength));
    }
  }
  const sizes = [...new Set([4, ...plans.flatMap((p) => [p.perStepBytes, p.perItemBytes, p.perCallBytes])])].sort((a, b) => a - b);
  console.log(`sizes (bytes): ${sizes.join(', ')}`);
  const wanted = o.contexts.split(',').filter(Boolean);
  const unknown = wanted.filter((c) => !['worker', 'page', 'node'].includes(c));
  if (unknown.length) throw new Error(`--contexts: unknown ${unknown.join(', ')}; known: worker, page, node`);
  const verified = o.verify ? await verifyPlans(plans) : 'not run (--verify=false)';

  const contexts: Context[] = [];
  const failures: Record<string, string> = {};
  if (wanted.includes('node')) {
    try {
      const probe = await openProbe(gpuInstance(), sizes);
      contexts.push({ name: 'node-dawn', ...probe });
    } catch (e) {
      failures['node-dawn'] = (e as Error).message;
    }
  }
  let chromium: { version: string; executable: string; args: string[] } | null = null;
  let harness: Awaited<ReturnType<typeof import('../tests/browser/harness.ts')['openHarness']>> | null = null;
  const consoleErrors: string[] = [];
  if (wanted.includes('worker') || wanted.includes('page')) {
    const { openHarness, CHROMIUM } = await import('../tests/browser/harness.ts');
    const executablePath = o.chromium || process.env.ONEREC_CHROMIUM || undefined;
    const extraArgs = (o.chromiumArgs || process.env.ONEREC_CHROMIUM_ARGS || '').split(/\s+/).filter(Boolean);
    // As bench/recommend.ts's WebGPU row: --enable-unsafe-webgpu and the GPU process left on (it takes the machine's GPU
    // where there is one; here it gives SwiftShader). The harness serves a bundle folder it does not use here.
    harness = await openHarness(resolve(plans[0]?.bundle ?? '.'), { executablePath, args: extraArgs, webgpu: true, gpu: true });
    chromium = { version: harness.browser.version(), executable: executablePath ?? CHROMIUM, args: extraArgs };
    const page = harness.page;
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') consoleErrors.push(`${m.type()}: ${m.text()}`); });
    for (const [name, open] of [['worker', workerContext], ['page', pageContext]] as const) {
      if (!wanted.includes(name)) continue;
      try {
        contexts.push(await open(page, sizes));
      } catch (e) {
        failures[`chromium-${name}`] = (e as Error).message;
      }
    }
  }
  for (const c of contexts) console.log(`${c.name}: ${JSON.stringify(c.adapter)}`);
  for (const [name, why] of Object.entries(failures)) console.error(`${name} FAILED: ${why}`);

  const times = new Map(contexts.map((c) => [c.name, { idle: [] as number[], bySize: sizes.map(() => ({ readback: [] as number[], submit: [] as number[] })) }]));
  const load: number[] = [];
  try {
    for (let r = 0; r < o.warmup + o.rounds; r++) {
      for (let k = 0; k < contexts.length; k++) {
        const context = contexts[(r + k) % contexts.length];
        const got = await context.round(r);
        if (r < o.warmup) continue;
        const mine = times.get(context.name)!;
        got.readback.forEach((ms, s) => mine.bySize[s].readback.push(ms));
        got.submit.forEach((ms, s) => mine.bySize[s].submit.push(ms));
        mine.idle.push(got.idle);
      }
      if (r >= o.warmup) load.push(loadavg()[0]);
      if (r >= o.warmup && (r + 1 - o.warmup) % 50 === 0) console.log(`round ${r + 1 - o.warmup} of ${o.rounds}, load ${loadavg()[0].toFixed(2)}`);
    }
  } finally {
    await harness?.close();
  }

  const perContext: Record<string, unknown> = {};
  const derived: Record<string, Record<string, unknown>> = {};
  for (const context of contexts) {
    const mine = times.get(context.name)!;
    const bySize = Object.fromEntries(sizes.map((bytes, s) => [bytes, { readback: summarize(mine.bySize[s].readback), submit_only: summarize(mine.bySize[s].submit) }]));
    const idle = summarize(mine.idle);
    perContext[context.name] = { adapter: context.adapter, idle_queue_done: idle, by_bytes: bySize };
    const medianMs = (bytes: number): number => bySize[bytes].readback.median_ms;
    for (const plan of plans) {
      const key = `${plan.bundle.split('/').pop()} beam ${plan.beamWidth}`;
      (derived[key] ??= { sessionLength: plan.sessionLength, read_backs_per_call: `${plan.readBacksPerStep} / ${plan.readBacksPerItem} / 1`, bytes_per_read_back: `${plan.perStepBytes} / ${plan.perItemBytes} / ${plan.perCallBytes}` })[context.name] = perCallCost(plan, medianMs);
    }
    const line = sizes.map((b) => `${b} B ${bySize[b].readback.median_ms.toFixed(3)} / ${bySize[b].readback.p95_ms.toFixed(3)} ms (submit only ${bySize[b].submit_only.median_ms.toFixed(3)})`).join('; ');
    console.log(`${context.name.padEnd(16)} idle onSubmittedWorkDone ${idle.median_ms.toFixed(3)} ms; read-back median / p95: ${line}`);
  }
  for (const [key, row] of Object.entries(derived)) console.log(`${key}: ${JSON.stringify(row)}`);
  const sortedLoad = [...load].sort((a, b) => a - b);
  const result = {
    date: new Date().toISOString(),
    command: `node --import tsx bench/readback.ts ${process.argv.slice(2).join(' ')}`.trim(),
    environment: { VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES ?? null, LD_LIBRARY_PATH: process.env.LD_LIBRARY_PATH ?? null },
    machine: {
      cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version,
      load_average_1min: { before: +loadBefore[0].toFixed(2), during_min: +(sortedLoad[0] ?? 0).toFixed(2), during_median: +(percentile(sortedLoad, 0.5) ?? 0).toFixed(2), during_max: +(sortedLoad[sortedLoad.length - 1] ?? 0).toFixed(2), after: +loadavg()[0].toFixed(2) },
    },
    chromium,
    workload: {
      rounds: o.rounds, warmup: o.warmup, sizes_bytes: sizes,
      read_back: 'one dispatch (a kernel incrementing every u32 of a storage buffer), copyBufferToBuffer into a MAP_READ buffer, queue.submit, mapAsync(READ), getMappedRange + copy out, unmap; the copy checked',
      submit_only: 'the same dispatch and copy, queue.submit, await queue.onSubmittedWorkDone(); no mapping',
      idle_queue_done: 'await queue.onSubmittedWorkDone() with nothing submitted, once per round: the completion callback\'s round trip alone',
      order: 'per round every context in turn and, in each, per size one read-back and one submit-only; the contexts\' order and the sizes\' are rotated by round, and which of read-back and submit-only goes first alternates',
    },
    plans,
    verified_against_wgsl_decoder: verified,
    contexts: perContext,
    failures,
    chromium_console_errors: consoleErrors,
    // Read-back time per recommend() = read-backs per call × median round trip at that read-back's size.
    derived_per_call_ms: derived,
  };
  mkdirSync(dirname(o.out), { recursive: true });
  writeFileSync(o.out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`wrote ${o.out}`);
}

await main();
