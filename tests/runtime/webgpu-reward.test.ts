// reward.onnx in WGSL (runtime/webgpu-reward.ts) against onnxruntime-node running the same graph, and the WGSL path of
// the runtime: with the seed model in WGSL the reward model runs there too — the wasm kernels' reward model is never
// created or called, onnxruntime makes no session — and recommend() ranks as it did with the reward model on the wasm
// kernels. WebGPU here is Dawn on SwiftShader (tests/run.mjs sets the Vulkan driver): correct, not fast.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-node';
import { writeTestBundle, type TestBundle } from './fixture.ts';
import { openDevice } from '../../models/engine/device.ts';
import { buildRewardGraph } from '../../models/export/reward-graph.ts';
import { fileAwareFetch } from '../../runtime-node/node-recommender.ts';
import { fetchBundle } from '../../runtime/loader.ts';
import { createBundleRunner } from '../../runtime/backends.ts';
import type { BundleRunner } from '../../runtime/bundle-runner.ts';
import type { OrtModule } from '../../runtime/onnx-decoder-session.ts';
import { WasmReward } from '../../runtime/wasm-reward.ts';
import { WebGpuReward, WebGpuRewardError } from '../../runtime/webgpu-reward.ts';

const SHIPPED = join(import.meta.dirname, '..', '..', 'models', 'bundles');
const KUAIRAND = join(SHIPPED, 'kuairand');
const TOLERANCE = 1e-5; // towers, WGSL against onnxruntime (float32, other summation orders)
let root: string;
let bundle: TestBundle;
let device: GPUDevice;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'onerec-wgsl-reward-'));
  bundle = await writeTestBundle(join(root, 'tiny'), { reward: true });
  device = (await openDevice({ quiet: true })).device;
});
after(() => rmSync(root, { recursive: true, force: true }));

const towerNames = (dir: string): string[] => JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')).reward.towers.map((t: { name: string }) => t.name);

/** history_items [H] (the last H items, right-aligned) and session_items [n, m] (−1 = padding), as the runtime pads them. */
function inputs(H: number, m: number, history: number[], sessions: number[][]): { h: Int32Array; s: Int32Array } {
  const h = new Int32Array(H).fill(-1);
  const recent = history.slice(-H);
  h.set(recent, H - recent.length);
  const s = new Int32Array(sessions.length * m).fill(-1);
  sessions.forEach((items, i) => s.set(items.slice(0, m), i * m));
  return { h, s };
}

/** onnxruntime-node's towers [n, T] for the same graph and inputs. */
async function ortTowers(graph: Uint8Array, h: Int32Array, s: Int32Array, n: number): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(graph);
  try {
    const out = await session.run({
      history_items: new ort.Tensor('int64', BigInt64Array.from(h, BigInt), [1, h.length]),
      session_items: new ort.Tensor('int64', BigInt64Array.from(s, BigInt), [n, s.length / n]),
    });
    return (out.towers.data as Float32Array).slice();
  } finally {
    await session.release();
  }
}

const largest = (a: Float32Array, b: Float32Array): number => {
  assert.equal(a.length, b.length);
  return Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));
};

test('the tiny bundle\'s reward graph, fp32 and with 8-bit item embeddings: onnxruntime\'s towers within 1e-5, padding, empty histories and an empty session included', async () => {
  const { config, weights } = bundle.reward!;
  const sessions = [[1, 2, 3, 4], [10, 20, -1, -1], [59, 58, 57, 56], [7, -1, -1, -1], [-1, -1, -1, -1]];
  for (const quantization of ['fp32', 'int8'] as const) {
    const graph = buildRewardGraph(weights, config, quantization).bytes;
    const model = await WebGpuReward.create(device, graph, config.towers);
    try {
      for (const history of [[3, 17, 5, 42, 9], [], [59, 0, 12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]) {
        const { h, s } = inputs(model.historyLength, model.sessionLength, history, sessions);
        const d = largest(await model.towers(h, s, sessions.length), await ortTowers(graph, h, s, sessions.length));
        assert.ok(d <= TOLERANCE, `${quantization} history [${history}]: |Δ| ${d}`);
      }
    } finally {
      model.dispose();
    }
  }
});

test('the shipped KuaiRand reward model: onnxruntime\'s towers within 1e-5 for a batch of 40 candidate sessions', async (t) => {
  if (!existsSync(join(KUAIRAND, 'manifest.json'))) return t.skip('models/bundles/kuairand is not in this checkout');
  const graph = readFileSync(join(KUAIRAND, 'reward.onnx'));
  const model = await WebGpuReward.create(device, graph, towerNames(KUAIRAND));
  try {
    // 36 full sessions of scattered items, then shorter ones (score() pads them to the graph's m).
    const sessions = [...Array.from({ length: 36 }, (_, i) => Array.from({ length: 5 }, (_, j) => (i * 131 + j * 17) % 6361)), [6360, 0], [42], [5, 900, 77], [1, 2, 3, 4]];
    for (const history of [[5, 900, 77, 4000, 12], [], Array.from({ length: 80 }, (_, i) => (i * 71) % 6361)]) {
      const { h, s } = inputs(model.historyLength, model.sessionLength, history, sessions);
      const d = largest(await model.towers(h, s, sessions.length), await ortTowers(graph, h, s, sessions.length));
      assert.ok(d <= TOLERANCE, `history of ${history.length}: |Δ| ${d}`);
    }
  } finally {
    model.dispose();
  }
});

test('more sessions than one dispatch takes go in several, with the same towers', async () => {
  const { config, weights } = bundle.reward!;
  const graph = buildRewardGraph(weights, config, 'fp32').bytes;
  const [whole, split] = [await WebGpuReward.create(device, graph, config.towers), await WebGpuReward.create(device, graph, config.towers, { sessionsPerDispatch: 3 })];
  try {
    const sessions = Array.from({ length: 8 }, (_, i) => [i, i + 10, i + 20, i + 30]);
    const { h, s } = inputs(whole.historyLength, whole.sessionLength, [3, 17, 5], sessions);
    assert.deepEqual(Array.from(await split.towers(h, s, 8)), Array.from(await whole.towers(h, s, 8)));
  } finally {
    whole.dispose();
    split.dispose();
  }
});

test('a graph the WGSL reward model cannot read is a WebGpuRewardError naming what is missing', async () => {
  const { config, weights } = bundle.reward!;
  const graph = buildRewardGraph(weights, config, 'fp32').bytes;
  await assert.rejects(WebGpuReward.create(device, graph, ['swt', 'no_such_tower']), (e: Error) => e.name === 'WebGpuRewardError' && /tower\.no_such_tower\.b1/.test(e.message));
  await assert.rejects(WebGpuReward.create(device, graph.subarray(0, 200), config.towers), (e: Error) => e.name === 'WebGpuRewardError' && /does not parse|no float32 initializer|neither item_emb/.test(e.message));
});

/** Counts of the wasm kernels' reward model being made and called, and of the WGSL one's calls, while `run` runs. */
async function counting<T>(run: () => Promise<T>): Promise<{ result: T; wasmCreated: number; wasmCalls: number; wgslCalls: number }> {
  const counts = { wasmCreated: 0, wasmCalls: 0, wgslCalls: 0 };
  const [create, wasmTowers, wgslTowers] = [WasmReward.create, WasmReward.prototype.towers, WebGpuReward.prototype.towers];
  WasmReward.create = (...args) => { counts.wasmCreated++; return create.apply(WasmReward, args); };
  WasmReward.prototype.towers = function (...args) { counts.wasmCalls++; return wasmTowers.apply(this, args); };
  WebGpuReward.prototype.towers = function (...args) { counts.wgslCalls++; return wgslTowers.apply(this, args); };
  try {
    return { result: await run(), ...counts };
  } finally {
    Object.assign(WasmReward, { create });
    Object.assign(WasmReward.prototype, { towers: wasmTowers });
    Object.assign(WebGpuReward.prototype, { towers: wgslTowers });
  }
}

/** The bundle at `dir` on the WGSL model (a Node runner on the test's device, engine 'wgsl'). */
async function wgslRunner(dir: string, ortModule: OrtModule = ort as unknown as OrtModule): Promise<BundleRunner> {
  const { models } = await fetchBundle(pathToFileURL(dir).href, { fetch: fileAwareFetch as typeof fetch, cache: false });
  return createBundleRunner(ortModule, models, ['cpu'], { intraOpNumThreads: 1 }, { engine: 'wgsl', gpuDevice: device });
}

test('on the WGSL path recommend() and score() never make or call the wasm kernels\' reward model, and onnxruntime makes no session', async () => {
  let sessionsMade = 0;
  const countingOrt = { Tensor: ort.Tensor, InferenceSession: { create: (...args: Parameters<typeof ort.InferenceSession.create>) => { sessionsMade++; return ort.InferenceSession.create(...args); } } } as unknown as OrtModule;
  const { result: runner, wasmCreated } = await counting(() => wgslRunner(bundle.dir, countingOrt));
  try {
    assert.deepEqual([runner.decoderBackend, runner.rewardBackend, runner.fallbackReasons], ['wgsl', 'wgsl', []]);
    const used = await counting(async () => {
      const result = await runner.recommend([3, 17, 5], { beamWidth: 6 });
      assert.equal(result.rankedBy, 'reward');
      await runner.score([3, 17, 5], [[1, 2, 3, 4], [5, 6, 7, 8]]);
      await runner.score([], [[5, 6]]); // sessions shorter than the graph's m, padded
    });
    assert.deepEqual({ wasmCreated, wasmCalls: used.wasmCalls, wgslCalls: used.wgslCalls, sessionsMade }, { wasmCreated: 0, wasmCalls: 0, wgslCalls: 3, sessionsMade: 0 });
  } finally {
    await runner.release();
  }
});

test('recommend() on the WGSL path reads back once per call, its history excluded (the default) or kept', async () => {
  const runner = await wgslRunner(bundle.dir);
  try {
    const { stats } = (runner as unknown as { engine: { model: { stats: { readBacks: number; mispredictions: number } } } }).engine.model;
    for (const excludeHistory of [true, false]) {
      const [readBacks, mispredictions] = [stats.readBacks, stats.mispredictions];
      await runner.recommend([3, 17, 5], { beamWidth: 6, excludeHistory });
      assert.deepEqual([stats.readBacks - readBacks, stats.mispredictions - mispredictions], [1, 0], `excludeHistory ${excludeHistory}: one read-back, no disagreement`);
    }
  } finally {
    await runner.release();
  }
});

/**
 * recommend() on `dir`'s WGSL path with the reward model in WGSL, and with it on the wasm kernels (as before the WGSL
 * reward model: its creation declined): the same sessions in the same order, rewards and towers within 1e-5.
 */
async function assertSameRanking(dir: string, histories: number[][], beamWidth: number): Promise<void> {
  const wgsl = await wgslRunner(dir);
  const create = WebGpuReward.create;
  WebGpuReward.create = async () => { throw new WebGpuRewardError('declined by the test'); };
  let kernels: BundleRunner;
  try {
    kernels = await wgslRunner(dir);
  } finally {
    WebGpuReward.create = create;
  }
  try {
    assert.equal(wgsl.rewardBackend, 'wgsl');
    assert.equal(kernels.rewardBackend, 'wasm-simd');
    assert.ok(kernels.fallbackReasons.some((r) => /^\[wgsl\] the WGSL reward model cannot run reward\.onnx: declined by the test/.test(r)), kernels.fallbackReasons.join('; '));
    for (const history of histories) {
      const [a, b] = [await kernels.recommend(history, { beamWidth }), await wgsl.recommend(history, { beamWidth })];
      assert.equal(a.rankedBy, 'reward');
      const what = `history [${history}]`;
      assert.deepEqual(b.sessions.map((s) => Array.from(s.items)), a.sessions.map((s) => Array.from(s.items)), what);
      a.sessions.forEach((s, i) => {
        assert.equal(b.sessions[i].logProb, s.logProb, `${what}: session ${i} log-prob`); // the same WGSL seed model
        assert.ok(Math.abs(b.sessions[i].reward! - s.reward!) <= TOLERANCE, `${what}: session ${i} reward ${b.sessions[i].reward} vs ${s.reward}`);
        assert.ok(largest(b.sessions[i].towers!, s.towers!) <= TOLERANCE, `${what}: session ${i} towers`);
      });
    }
  } finally {
    await Promise.all([wgsl.release(), kernels.release()]);
  }
}

test('recommend() on the tiny bundle ranks as with the reward model on the wasm kernels', async () => {
  await assertSameRanking(bundle.dir, [[3, 17, 5, 42, 9], [], [59, 0, 12]], 8);
});

// Slow (~2 min on 2 loaded cores): the WGSL seed model on the real bundle (6,361 items) runs on SwiftShader, the CPU,
// in two runners.
test('recommend() on the shipped KuaiRand bundle ranks as with the reward model on the wasm kernels', async (t) => {
  if (!existsSync(join(KUAIRAND, 'manifest.json'))) return t.skip('models/bundles/kuairand is not in this checkout');
  await assertSameRanking(KUAIRAND, [[5, 900, 77, 4000, 12], []], 10);
});

test("a reward model of itemRepresentation 'codes' (items built from the trie's codes): onnxruntime's towers, codes as inputs, within 1e-5", async () => {
  const { TINY_CONFIG } = await import('./fixture.ts');
  const codesBundle = await writeTestBundle(join(root, 'codes'), { reward: true, rewardConfig: { itemRepresentation: 'codes', codeLevels: TINY_CONFIG.levels, codebookSize: TINY_CONFIG.codebookSize } });
  const { models } = await fetchBundle(pathToFileURL(codesBundle.dir).href, { fetch: fileAwareFetch as typeof fetch, cache: false });
  const towers = codesBundle.reward!.config.towers;
  await assert.rejects(WebGpuReward.create(device, models.reward!, towers), (e: Error) => e.name === 'WebGpuRewardError' && /no catalog codes/.test(e.message));
  const model = await WebGpuReward.create(device, models.reward!, towers, { catalog: models.trie });
  const session = await ort.InferenceSession.create(models.reward!);
  const L = TINY_CONFIG.levels;
  const codesOf = (items: Int32Array) => BigInt64Array.from({ length: items.length * L }, (_, k) => { const v = items[Math.floor(k / L)]; return v < 0 ? -1n : BigInt(codesBundle.codes[v * L + (k % L)]); });
  try {
    const sessions = [[1, 2, 3, 4], [10, 20, -1, -1], [59, 58, 57, 56], [7, -1, -1, -1], [-1, -1, -1, -1]];
    for (const history of [[3, 17, 5, 42, 9], []]) {
      const { h, s } = inputs(model.historyLength, model.sessionLength, history, sessions);
      const n = sessions.length;
      const out = await session.run({ history_codes: new ort.Tensor('int64', codesOf(h), [1, h.length, L]), session_codes: new ort.Tensor('int64', codesOf(s), [n, s.length / n, L]) });
      const d = largest(await model.towers(h, s, n), out.towers.data as Float32Array);
      assert.ok(d <= TOLERANCE, `history [${history}]: |Δ| ${d}`);
    }
  } finally {
    model.dispose();
    await session.release();
  }
});
