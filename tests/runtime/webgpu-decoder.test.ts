// The WGSL seed model (runtime/webgpu-decoder.ts: decoder step and encoder) against onnxruntime-node's CPU EP
// running the same bundle's graphs: its weights are the ones the graphs compute with, the encoder's cross inputs
// give the same scores, and recommend()/score() give the same sessions. WebGPU here is Dawn on SwiftShader (tests/run.mjs sets the Vulkan driver): correct, not fast.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TINY_CONFIG, writeTestBundle, type TestBundle } from './fixture.ts';
import { gpuInstance, openDevice } from '../../models/engine/device.ts';
import * as ort from 'onnxruntime-node';
import { pathToFileURL } from 'node:url';
import { createNodeRecommender, fileAwareFetch } from '../../models/node-recommender.ts';
import { fetchBundle } from '../../runtime/loader.ts';
import { createSessions, type OrtModule } from '../../runtime/sessions.ts';
import { initSeedWeights } from '../../models/seed/reference.ts';
import { buildDecoderStepGraph, buildEncoderGraph, buildEnsembleDecoderStepGraph, buildEnsembleEncoderGraph, ensembleContractConfig } from '../../models/export/seed-graphs.ts';
import type { SeedConfig } from '../../models/seed/config.ts';
import { beamSearch } from '../../runtime/beam-search.ts';
import { SemanticIdTrie } from '../../runtime/semantic-id-trie.ts';
import { WebGpuDecoder } from '../../runtime/webgpu-decoder.ts';
import { decoderWeights } from '../../runtime/model-weights.ts';
import { OnnxSeedModel } from '../../models/export/node-session.ts';
import { BOS, encoderTokens } from '../../runtime/tokens.ts';
import type { Recommender, RecommendResult } from '../../runtime/recommender.ts';

const SHIPPED = join(import.meta.dirname, '..', '..', 'models', 'bundles');
let root: string;
let bundle: TestBundle;
let device: GPUDevice;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'onerec-wgsl-'));
  bundle = await writeTestBundle(join(root, 'tiny'), { reward: true });
  device = (await openDevice({ quiet: true })).device;
});
after(() => rmSync(root, { recursive: true, force: true }));

/** Two recommenders on one bundle: onnxruntime's decoder and the WGSL one. */
async function pair(dir: string): Promise<{ onnx: Recommender; wgsl: Recommender; fallbackReasons: string[] }> {
  const onnx = createNodeRecommender();
  const wgsl = createNodeRecommender({ gpuDevice: device });
  await onnx.load(dir);
  const info = await wgsl.load(dir);
  return { onnx, wgsl, fallbackReasons: info.fallbackReasons };
}

/** Same sessions in the same order (exact item indices), log-probabilities and rewards within `tolerance`. */
function assertSameSessions(a: RecommendResult, b: RecommendResult, tolerance: number, what: string): void {
  assert.equal(b.rankedBy, a.rankedBy, what);
  assert.deepEqual(b.sessions.map((s) => Array.from(s.items)), a.sessions.map((s) => Array.from(s.items)), what);
  a.sessions.forEach((s, i) => {
    assert.ok(Math.abs(s.logProb - b.sessions[i].logProb) <= tolerance, `${what}: session ${i} log-prob ${s.logProb} vs ${b.sessions[i].logProb}`);
    if (s.reward !== null) assert.ok(Math.abs(s.reward - b.sessions[i].reward!) <= tolerance, `${what}: session ${i} reward`);
  });
}

test('its weights are the float32 values the graph computes with (fp32 as exported, int8/int4 as dequantized)', () => {
  const config = TINY_CONFIG;
  const weights = initSeedWeights(config, 3, 0.3);
  for (const quantization of ['fp32', 'int8', 'int4'] as const) {
    const built = buildDecoderStepGraph(weights, config, quantization);
    const packed = decoderWeights(built.bytes, config);
    const slice = (name: string, size: number): number[] => Array.from(packed.data.subarray(packed.offset[name], packed.offset[name] + size));
    const expect = (name: string): number[] => Array.from(built.effective[name] ?? weights[name]);
    const d = config.dModel;
    for (const name of ['tok_emb', 'dec.pos', 'dec.0.ln1.g', 'dec.1.self.wo', 'dec.1.cross.wq', 'dec.0.moe.w2', 'dec.0.moe.b2', 'lm_head', 'dec.ln_f.b']) {
      assert.deepEqual(slice(name, expect(name).length), expect(name), `${quantization} ${name}`);
    }
    // q, k and v side by side as the graph's fused MatMul holds them: row r = [wq row r, wk row r, wv row r].
    const qkv = slice('dec.0.self.wqkv', 3 * d * d);
    const part = (m: string, r: number): number[] => expect(`dec.0.self.${m}`).slice(r * d, (r + 1) * d);
    for (const r of [0, d - 1]) assert.deepEqual(qkv.slice(r * 3 * d, (r + 1) * 3 * d), [...part('wq', r), ...part('wk', r), ...part('wv', r)], `${quantization} qkv row ${r}`);
  }
});

test('the encoder in WGSL gives the decoder the cross inputs of onnxruntime\'s encoder.onnx (same code scores within 1e-4)', async () => {
  const config = bundle.config;
  const dir = bundle.dir;
  const [encoderBytes, decoderBytes] = [readFileSync(join(dir, 'encoder.onnx')), readFileSync(join(dir, 'decoder_step.onnx'))];
  const onnx = await OnnxSeedModel.create(config, encoderBytes, decoderBytes);
  const gpu = await WebGpuDecoder.create(device, decoderBytes, config, { encoderOnnx: encoderBytes });
  try {
    assert.ok(gpu.hasEncoder);
    const codes = bundle.codes;
    for (const history of [[3, 17, 5, 42, 9], []]) {
      const tokens = encoderTokens(Int32Array.from(history), codes, config.levels, config.codebookSize, config.maxHistory);
      const encoded = await onnx.encode(tokens);
      const fromOnnx = gpu.session({ crossK: encoded.crossK.data as Float32Array, crossV: encoded.crossV.data as Float32Array, memoryBias: encoded.memoryBias.data as Float32Array }, 1);
      const a = await fromOnnx.stepCodeLogProbs!(Int32Array.of(BOS), Int32Array.of(0));
      const b = await gpu.sessionFromTokens(tokens, 1).stepCodeLogProbs!(Int32Array.of(BOS), Int32Array.of(0));
      const reference = await onnx.decoderSession(encoded).stepCodeLogProbs!(Int32Array.of(BOS), Int32Array.of(0));
      for (let c = 0; c < a.length; c++) {
        assert.ok(Math.abs(a[c] - reference[c]) <= 1e-4, `history [${history}] code ${c}: WGSL decoder on ORT's cross inputs ${a[c]} vs ${reference[c]}`);
        assert.ok(Math.abs(b[c] - reference[c]) <= 1e-4, `history [${history}] code ${c}: WGSL encoder + decoder ${b[c]} vs ${reference[c]}`);
      }
    }
  } finally {
    gpu.dispose();
    await onnx.release();
  }
});

test('recommend() and score() give onnxruntime\'s sessions: tiny bundle with a reward model (exact items, log-probs within 1e-4)', async () => {
  const { onnx, wgsl, fallbackReasons } = await pair(bundle.dir);
  try {
    assert.deepEqual(fallbackReasons, []);
    for (const history of [[3, 17, 5, 42, 9], [], [59, 0, 12]]) {
      for (const options of [{ beamWidth: 8 }, { beamWidth: 5, sessionLength: 2, rerank: false }]) {
        assertSameSessions(await onnx.recommend(history, options), await wgsl.recommend(history, options), 1e-4, `history [${history}] ${JSON.stringify(options)}`);
      }
      // Teacher forcing through the same decoder: every row continues itself, two tokens at item boundaries.
      const sessions = [[1, 2, 3, 4], [10, 20, 30, 40], [59, 58, 57, 56]];
      const [a, b] = [await onnx.score(history, sessions), await wgsl.score(history, sessions)];
      a.logProb.forEach((v, i) => assert.ok(Math.abs(v - b.logProb[i]) <= 1e-4, `score ${i}: ${v} vs ${b.logProb[i]}`));
    }
  } finally {
    await Promise.all([onnx.dispose(), wgsl.dispose()]);
  }
});

test('the shipped KuaiRand bundle: the same ranked sessions after reward rerank as onnxruntime', async (t) => {
  const dir = join(SHIPPED, 'kuairand');
  if (!existsSync(join(dir, 'manifest.json'))) return t.skip('models/bundles/kuairand is not in this checkout');
  const { onnx, wgsl, fallbackReasons } = await pair(dir);
  try {
    assert.deepEqual(fallbackReasons, []);
    for (const history of [[5, 900, 77, 4000, 12], []]) {
      const [a, b] = [await onnx.recommend(history, { beamWidth: 8 }), await wgsl.recommend(history, { beamWidth: 8 })];
      assert.equal(a.rankedBy, 'reward');
      assertSameSessions(a, b, 1e-4, `history [${history}]`);
    }
  } finally {
    await Promise.all([onnx.dispose(), wgsl.dispose()]);
  }
});

test('an ensemble of two members of different depth, experts and FFN: the WGSL model gives the exported graphs\' beams (fp32 and int4)', async () => {
  const trie = SemanticIdTrie.build(bundle.codes, TINY_CONFIG.levels, TINY_CONFIG.codebookSize);
  const a: SeedConfig = TINY_CONFIG;
  const b: SeedConfig = { ...TINY_CONFIG, encoderLayers: 2, decoderLayers: 1, ffnDim: 32, experts: 2, expertsPerToken: 1, expertFfnDim: 16 };
  const members = [{ weights: initSeedWeights(a, 11, 0.3), config: a }, { weights: initSeedWeights(b, 12, 0.3), config: b }];
  for (const quantization of ['fp32', 'int4'] as const) {
    const encoderBytes = buildEnsembleEncoderGraph(members, quantization).bytes;
    const decoderBytes = buildEnsembleDecoderStepGraph(members, quantization).bytes;
    const onnx = await OnnxSeedModel.create(ensembleContractConfig([a, b]), encoderBytes, decoderBytes);
    const gpu = await WebGpuDecoder.create(device, decoderBytes, [a, b], { encoderOnnx: encoderBytes });
    try {
      for (const history of [[3, 17, 5, 42, 9], [59, 0]]) {
        const tokens = encoderTokens(Int32Array.from(history), bundle.codes, a.levels, a.codebookSize, a.maxHistory);
        const options = { beamWidth: 6, sessionLength: a.sessionLength };
        const want = await beamSearch(onnx.decoderSession(await onnx.encode(tokens), { twoTokenSteps: true }), trie, options);
        const got = await beamSearch(gpu.sessionFromTokens(tokens, 6), trie, options);
        assert.deepEqual(Array.from(got.items), Array.from(want.items), `${quantization} history [${history}]`);
        want.logProb.forEach((v, i) => assert.ok(Math.abs(v - got.logProb[i]) <= 1e-4, `${quantization} beam ${i}: ${got.logProb[i]} vs ${v}`));
      }
      // Not member 0 alone: the ensemble's first scores differ from those of a model of member 0's weights only.
      const tokens = encoderTokens(Int32Array.of(3, 17), bundle.codes, a.levels, a.codebookSize, a.maxHistory);
      const alone = await WebGpuDecoder.create(device, buildDecoderStepGraph(members[0].weights, a, quantization).bytes, a, { encoderOnnx: buildEncoderGraph(members[0].weights, a, quantization).bytes });
      const [x, y] = [await gpu.sessionFromTokens(tokens, 1).stepCodeLogProbs!(Int32Array.of(BOS), Int32Array.of(0)), await alone.sessionFromTokens(tokens, 1).stepCodeLogProbs!(Int32Array.of(BOS), Int32Array.of(0))];
      assert.ok(x.some((v, i) => Math.abs(v - y[i]) > 1e-3), 'the ensemble scores like member 0 alone');
      alone.dispose();
    } finally {
      gpu.dispose();
      await onnx.release();
    }
  }
});

test('graphs whose weights the WGSL model cannot find keep onnxruntime\'s sessions and say why; bad graphs are WebGpuDecoderErrors', async () => {
  const config = TINY_CONFIG;
  const weights = initSeedWeights(config, 3, 0.3);
  const encoderBytes = buildEncoderGraph(weights, config, 'fp32').bytes;
  await assert.rejects(WebGpuDecoder.create(device, encoderBytes, config), (e: Error) => e.name === 'WebGpuDecoderError' && /no initializer "dec\.pos"/.test(e.message));
  const decoderBytes = buildDecoderStepGraph(weights, config, 'fp32').bytes;
  await assert.rejects(WebGpuDecoder.create(device, decoderBytes.subarray(0, 3000), config), (e: Error) => e.name === 'WebGpuDecoderError' && /does not parse/.test(e.message));

  // A manifest that calls the tiny single model an ensemble of two: member 1's weights (m1.…) are not in its graphs.
  const dir = join(root, 'not-an-ensemble');
  cpSync(bundle.dir, dir, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...manifest, ensemble: { members: [manifest.model, manifest.model], combine: 'mean of logits' } }));
  const wgsl = createNodeRecommender({ gpuDevice: device });
  try {
    const info = await wgsl.load(dir);
    assert.equal(info.decoder, 'onnx');
    assert.ok(info.fallbackReasons.some((r) => r.startsWith('[wgsl]') && /no initializer "m1\.tok_emb/.test(r)), info.fallbackReasons.join('; '));
    const result = await wgsl.recommend([1, 2, 3], { beamWidth: 4 });
    assert.equal(result.sessions.length, 4);
  } finally {
    await wgsl.dispose();
  }
});

test('a lost WebGPU device hands the next calls to onnxruntime\'s sessions, and says so', async () => {
  const adapter = await gpuInstance().requestAdapter();
  const own = await adapter!.requestDevice();
  const { models } = await fetchBundle(pathToFileURL(bundle.dir).href, { fetch: fileAwareFetch as typeof fetch, cache: false });
  const sessions = await createSessions(ort as unknown as OrtModule, models, ['cpu'], { intraOpNumThreads: 1 }, { gpuDevice: own });
  try {
    assert.equal(sessions.decoderBackend, 'wgsl');
    const before = await sessions.recommend([3, 17, 5], { beamWidth: 4 });
    assert.equal(sessions.hasSeedGraphs, false); // made only when the device is lost
    own.destroy();
    await own.lost;
    await new Promise((resolve) => setTimeout(resolve, 0)); // let every reaction to `lost` run
    assert.equal(sessions.decoderBackend, 'onnx');
    assert.ok(sessions.fallbackReasons.some((r) => /^\[wgsl\] the WebGPU device was lost/.test(r)), sessions.fallbackReasons.join('; '));
    const after = await sessions.recommend([3, 17, 5], { beamWidth: 4 });
    assert.equal(sessions.hasSeedGraphs, true);
    assert.deepEqual(after.sessions.map((s) => Array.from(s.items)), before.sessions.map((s) => Array.from(s.items)));
  } finally {
    await sessions.release();
  }
});
