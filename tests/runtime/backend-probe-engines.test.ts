// The load-time probe (runtime/backends.ts probedCandidate) over the real engines: the WGSL model on this machine's
// adapter (SwiftShader, which the browser's 'auto' rejects as software before any probe: Node takes the caller's device
// as it is) against the wasm kernels, on the tiny bundle. The margin picks the winner (0: the kernels, Infinity: WGSL),
// so the outcome does not hang on the machine's timings; then the browser's list (createWebRunner) behind a navigator.gpu
// whose adapter says it is hardware, for the wiring: probed by default, not with probe: false, never on a software
// adapter. The rule itself: backend-probe.test.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createBundleRunner, type ProbeOptions } from '../../runtime/backends.ts';
import { createWebRunner } from '../../runtime/onnx.ts';
import { fetchBundle } from '../../runtime/loader.ts';
import { createRecommenderWith } from '../../runtime/local-recommender.ts';
import { fileAwareFetch } from '../../runtime-node/node-recommender.ts';
import { wasmOrt } from '../../models/onnx-runtime.ts';
import { openDevice } from '../../models/engine/device.ts';
import type { Engine, Recommender } from '../../runtime/recommender.ts';
import { writeTestBundle, type TestBundle } from './fixture.ts';
import { assertSameSessions } from './engine-parity.ts';

let root: string;
let bundle: TestBundle;
before(async () => {
  root = mkdtempSync(join(tmpdir(), 'onerec-probe-'));
  bundle = await writeTestBundle(join(root, 'tiny'));
});
after(() => rmSync(root, { recursive: true, force: true }));

/**
 * A recommender over Node's backend list (createBundleRunner) on a device of its own, or on `on` (owned by the runner
 * when `owns`). WGSL kernels are compiled per device (~15 s for this bundle on SwiftShader), so loads on one device after
 * the first reuse them.
 */
async function recommender(engine: Engine, probe?: ProbeOptions | boolean, on?: { device: GPUDevice; owns: boolean }): Promise<{ r: Recommender; device: GPUDevice }> {
  const device = on?.device ?? (await openDevice({ quiet: true })).device;
  const r = createRecommenderWith({
    createRunner: (models) => createBundleRunner(wasmOrt(1).ort, models, ['wasm'], {}, { engine, gpuDevice: device, ownsGpuDevice: on?.owns ?? true, probe }),
    fetch: fileAwareFetch as typeof fetch,
  });
  return { r, device };
}

test('real engines: the winner runs, the loser is released, the sessions are the forced engine\'s; a named engine does not probe', async () => {
  const history = [3, 17, 42];
  const forced = (await recommender('wasm')).r;
  await forced.load(pathToFileURL(bundle.dir).href, { cache: false });
  const expected = await forced.recommend(history);
  await forced.dispose();

  // A named engine is not probed, whatever `probe` says. Its device (not its own) then serves the WGSL winner below,
  // which owns it, with the kernels already compiled.
  const shared = (await openDevice({ quiet: true })).device;
  {
    const { r } = await recommender('wgsl', true, { device: shared, owns: false });
    try {
      const info = await r.load(pathToFileURL(bundle.dir).href, { cache: false });
      assert.deepEqual([info.decoder, info.probe], ['wgsl', null]);
    } finally {
      await r.dispose();
    }
  }

  // margin 0: the kernels win whatever the timings (on a device of its own, which the released WGSL runner destroys);
  // margin Infinity: WGSL does.
  for (const [margin, chosen] of [[0, 'wasm-simd'], [Infinity, 'wgsl']] as const) {
    const { r, device } = await recommender('auto', { margin }, chosen === 'wgsl' ? { device: shared, owns: true } : undefined);
    try {
      const info = await r.load(pathToFileURL(bundle.dir).href, { cache: false });
      assert.equal(info.decoder, chosen);
      const p = info.probe!;
      assert.equal(p.chosen, chosen);
      assert.ok(p.rounds >= 1 && p.rounds <= 3 && p.wgslMs > 0 && p.wasmMs > 0 && p.probeMs >= p.wgslMs + p.wasmMs, JSON.stringify(p));
      const line = info.fallbackReasons.find((reason) => reason.startsWith('[wgsl] probe: '));
      if (chosen === 'wasm-simd') {
        assert.equal(line, `[wgsl] probe: ${p.wgslMs.toFixed(1)} ms per call against ${p.wasmMs.toFixed(1)} on the wasm kernels (encoder + 3 decoder steps at beam 8, best of ${p.rounds})`);
        // The WGSL runner was released: its device (owned by it) destroyed.
        const lost = await Promise.race([device.lost, new Promise((resolve) => setTimeout(() => resolve(null), 2000))]) as GPUDeviceLostInfo | null;
        assert.equal(lost?.reason, 'destroyed');
      } else {
        assert.equal(line, undefined);
      }
      assertSameSessions(expected, await r.recommend(history), 1e-4, chosen);
    } finally {
      await r.dispose();
    }
  }
});

test("the browser's list (createWebRunner): 'auto' on a hardware adapter probes unless probe: false; a software adapter is not probed", async (t) => {
  // A device per request: the wgsl candidate owns it, and destroys it when released.
  const adapter = (info: Partial<GPUAdapterInfo>) => ({ info, requestDevice: async () => (await openDevice({ quiet: true })).device });
  // navigator.gpu as a browser's: this machine's SwiftShader device behind an adapter that says what the test needs.
  let gpuAdapter = adapter({ vendor: 'nvidia', architecture: 'hopper' });
  Object.defineProperty(globalThis, 'navigator', { value: { gpu: { requestAdapter: async () => gpuAdapter } }, configurable: true, writable: true });
  t.after(() => { delete (globalThis as { navigator?: unknown }).navigator; });
  const { models } = await fetchBundle(pathToFileURL(bundle.dir).href, { fetch: fileAwareFetch as typeof fetch, cache: false });
  const wasmPaths = pathToFileURL(join(import.meta.dirname, '..', '..', 'node_modules', 'onnxruntime-web', 'dist')).href + '/';
  const outcomes: unknown[] = [];
  for (const [probe, software] of [[undefined, false], [false, false], [undefined, true]] as const) {
    if (software) gpuAdapter = adapter({ vendor: 'google', architecture: 'swiftshader' });
    const runner = await createWebRunner(models, 'auto', { threads: 1, wasmPaths, probe });
    try {
      // Probed: the winner is the probe's choice, whichever the timings give (WGSL is far slower on SwiftShader).
      outcomes.push([runner.probe !== null, runner.probe === null || runner.probe.chosen === runner.decoderBackend, runner.fallbackReasons.some((r) => r.startsWith('[webgpu] a software adapter'))]);
    } finally {
      await runner.release();
    }
  }
  assert.deepEqual(outcomes, [[true, true, false], [false, true, false], [false, true, true]]);
});
