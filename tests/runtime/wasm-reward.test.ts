// reward.onnx on the runtime's wasm kernels (runtime/wasm-reward.ts) against onnxruntime-node running the same graph,
// and the runtime with both of its own engines: no onnxruntime session at all, the same ranked sessions and rewards.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-node';
import { writeTestBundle, type TestBundle } from './fixture.ts';
import { assertSameSessions, pair } from './engine-parity.ts';
import { buildRewardGraph } from '../../models/export/reward-graph.ts';
import { fileAwareFetch } from '../../runtime-node/node-recommender.ts';
import { fetchBundle } from '../../runtime/loader.ts';
import { createBundleRunner } from '../../runtime/backends.ts';
import type { OrtModule } from '../../runtime/onnx-decoder-session.ts';
import { WasmReward } from '../../runtime/wasm-reward.ts';

const SHIPPED = join(import.meta.dirname, '..', '..', 'models', 'bundles');
let root: string;
let bundle: TestBundle;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'onerec-wasm-reward-'));
  bundle = await writeTestBundle(join(root, 'tiny'), { reward: true });
});
after(() => rmSync(root, { recursive: true, force: true }));

/** The kernels' towers and onnxruntime's for the same inputs: largest |Δ| over every value. */
/** The bundle on the wasm kernels (no fallback) ranks the same sessions as on onnxruntime, for a history and an empty one. */
async function assertKernelsRankAsOnnxruntime(dir: string): Promise<void> {
  const { onnx, engine, fallbackReasons } = await pair(dir, { engine: 'auto' });
  try {
    assert.deepEqual(fallbackReasons, []);
    for (const history of [[3, 17, 5, 42, 9], []]) {
      assertSameSessions(await onnx.recommend(history, { beamWidth: 8 }), await engine.recommend(history, { beamWidth: 8 }), 1e-4, `history [${history}]`);
    }
  } finally {
    await Promise.all([onnx.dispose(), engine.dispose()]);
  }
}

async function largestDifference(graph: Uint8Array, towers: string[], history: number[], sessions: number[][]): Promise<number> {
  const model = await WasmReward.create(graph, towers);
  const session = await ort.InferenceSession.create(graph);
  try {
    const H = model.historyLength, m = model.sessionLength, n = sessions.length;
    const h = new Int32Array(H).fill(-1);
    h.set(history.slice(-H), H - Math.min(H, history.length));
    const s = new Int32Array(n * m).fill(-1);
    sessions.forEach((items, i) => s.set(items.slice(0, m), i * m));
    const got = model.towers(h, s, n);
    const out = await session.run({ history_items: new ort.Tensor('int64', BigInt64Array.from(h, BigInt), [1, H]), session_items: new ort.Tensor('int64', BigInt64Array.from(s, BigInt), [n, m]) });
    const want = out.towers.data as Float32Array;
    assert.equal(got.length, want.length);
    return Math.max(...Array.from(want, (v, i) => Math.abs(v - got[i])));
  } finally {
    await session.release();
  }
}

test('the tiny bundle\'s reward graph, fp32 and with 8-bit item embeddings: onnxruntime\'s towers within 1e-6, padding and empty histories included', async () => {
  const { config, weights } = bundle.reward!;
  const sessions = [[1, 2, 3, 4], [10, 20, -1, -1], [59, 58, 57, 56], [7, -1, -1, -1]];
  for (const quantization of ['fp32', 'int8'] as const) {
    const graph = buildRewardGraph(weights, config, quantization).bytes;
    for (const history of [[3, 17, 5, 42, 9], [], [59, 0, 12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]) {
      const d = await largestDifference(graph, config.towers, history, sessions);
      assert.ok(d <= 1e-6, `${quantization} history [${history}]: |Δ| ${d}`);
    }
  }
});

test('the shipped KuaiRand reward model: onnxruntime\'s towers within 1e-6 for 32 sessions', async (t) => {
  const dir = join(SHIPPED, 'kuairand');
  if (!existsSync(join(dir, 'manifest.json'))) return t.skip('models/bundles/kuairand is not in this checkout');
  const towers = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')).reward.towers.map((x: { name: string }) => x.name);
  const sessions = Array.from({ length: 32 }, (_, i) => Array.from({ length: 5 }, (_, j) => (i * 131 + j * 17) % 7000));
  const d = await largestDifference(readFileSync(join(dir, 'reward.onnx')), towers, [5, 900, 77, 4000, 12], sessions);
  assert.ok(d <= 1e-6, `|Δ| ${d}`);
});

test('a graph the kernels cannot read is a WasmRewardError naming what is missing', async () => {
  const { config, weights } = bundle.reward!;
  const graph = buildRewardGraph(weights, config, 'fp32').bytes;
  await assert.rejects(WasmReward.create(graph, ['swt', 'no_such_tower']), (e: Error) => e.name === 'WasmRewardError' && /tower\.no_such_tower\.b1/.test(e.message));
  await assert.rejects(WasmReward.create(graph.subarray(0, 200), config.towers), (e: Error) => e.name === 'WasmRewardError' && /does not parse|no float32 initializer|neither item_emb/.test(e.message));
});

test('with the wasm kernels running the seed model, the reward model runs there too: no onnxruntime session, the same ranked sessions', async () => {
  const { models } = await fetchBundle(pathToFileURL(bundle.dir).href, { fetch: fileAwareFetch as typeof fetch, cache: false });
  let created = 0;
  const counting: OrtModule = { Tensor: ort.Tensor, InferenceSession: { create: (...args: Parameters<typeof ort.InferenceSession.create>) => { created++; return ort.InferenceSession.create(...args); } } } as unknown as OrtModule;
  const runner = await createBundleRunner(counting, models, ['cpu'], { intraOpNumThreads: 1 }, { engine: 'auto' });
  try {
    assert.equal(runner.decoderBackend, 'wasm-simd');
    assert.equal(runner.rewardBackend, 'wasm-simd');
    const result = await runner.recommend([3, 17, 5], { beamWidth: 6 });
    assert.equal(result.rankedBy, 'reward');
    await runner.score([3, 17, 5], [[1, 2, 3, 4]]);
    assert.equal(created, 0, 'onnxruntime made a session');
  } finally {
    await runner.release();
  }
  await assertKernelsRankAsOnnxruntime(bundle.dir);
});

test("a reward model of itemRepresentation 'codes': the kernels (items built from the trie's codes) and onnxruntime (codes as inputs) within 1e-5 of each other and of the reference; the same ranked sessions", async () => {
  const { TINY_CONFIG } = await import('./fixture.ts');
  const { rewardForward } = await import('../../models/reward/reference.ts');
  const codesBundle = await writeTestBundle(join(root, 'codes'), { reward: true, rewardConfig: { itemRepresentation: 'codes', codeLevels: TINY_CONFIG.levels, codebookSize: TINY_CONFIG.codebookSize } });
  await assert.rejects(writeTestBundle(join(root, 'codes-other-levels'), { reward: true, rewardConfig: { itemRepresentation: 'codes', codeLevels: TINY_CONFIG.levels + 1, codebookSize: TINY_CONFIG.codebookSize } }), (e: Error) => e.name === 'ExportError' && /code levels/.test(e.message));
  const { models } = await fetchBundle(pathToFileURL(codesBundle.dir).href, { fetch: fileAwareFetch as typeof fetch, cache: false });
  const { config, weights } = codesBundle.reward!;
  const model = await WasmReward.create(models.reward!, config.towers, models.trie);
  await assert.rejects(WasmReward.create(models.reward!, config.towers), (e: Error) => e.name === 'WasmRewardError' && /no catalog codes/.test(e.message));
  const session = await ort.InferenceSession.create(models.reward!);
  try {
    assert.deepEqual(session.inputNames, ['history_codes', 'session_codes']);
    const L = TINY_CONFIG.levels, H = model.historyLength, m = model.sessionLength;
    const codesOf = (items: Int32Array) => BigInt64Array.from({ length: items.length * L }, (_, k) => { const v = items[Math.floor(k / L)]; return v < 0 ? -1n : BigInt(codesBundle.codes[v * L + (k % L)]); });
    const sessions = Int32Array.from([[1, 2, 3, 4], [10, 20, -1, -1], [59, 58, 57, 56], [7, -1, -1, -1]].flatMap((s) => [...s, -1, -1, -1, -1].slice(0, m))); // [4, m]
    for (const history of [[3, 17, 5, 42, 9], []]) {
      const h = new Int32Array(H).fill(-1);
      h.set(history, H - history.length);
      const got = model.towers(h, sessions, 4);
      const out = await session.run({ history_codes: new ort.Tensor('int64', codesOf(h), [1, H, L]), session_codes: new ort.Tensor('int64', codesOf(sessions), [4, m, L]) });
      const reference = rewardForward(weights, config, history, sessions, codesBundle.codes);
      for (let i = 0; i < got.length; i++) {
        assert.ok(Math.abs(got[i] - (out.towers.data as Float32Array)[i]) <= 1e-5, `history [${history}] value ${i}: kernels ${got[i]}, onnxruntime ${(out.towers.data as Float32Array)[i]}`);
        assert.ok(Math.abs(got[i] - reference[i]) <= 1e-5, `history [${history}] value ${i}: kernels ${got[i]}, reference ${reference[i]}`);
      }
    }
  } finally {
    await session.release();
  }
  await assertKernelsRankAsOnnxruntime(codesBundle.dir);
});
