// The WGSL seed model (runtime/webgpu-decoder.ts: decoder step and encoder) against onnxruntime-node's CPU EP
// running the same bundle's graphs: its weights are the ones the graphs compute with, the encoder's cross inputs
// give the same scores, and recommend()/score() give the same sessions. WebGPU here is Dawn on SwiftShader (tests/run.mjs sets the Vulkan driver): correct, not fast.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TINY_CONFIG, writeTestBundle, type TestBundle } from './fixture.ts';
import { assertEnsembleBeams, assertFallsBack, assertMatchesOnnx, assertSameSessions, notAnEnsemble, pair } from './engine-parity.ts';
import { openDevice } from '../../models/engine/device.ts';
import * as ort from 'onnxruntime-node';
import { pathToFileURL } from 'node:url';
import { fileAwareFetch } from '../../runtime-node/node-recommender.ts';
import { fetchBundle } from '../../runtime/loader.ts';
import { createBundleRunner } from '../../runtime/backends.ts';
import type { OrtModule } from '../../runtime/onnx-decoder-session.ts';
import { initSeedWeights } from '../../models/seed/reference.ts';
import { buildDecoderStepGraph, buildEncoderGraph } from '../../models/export/seed-graphs.ts';
import { WebGpuDecoder } from '../../runtime/webgpu-decoder.ts';
import { decoderWeights } from '../../runtime/model-weights.ts';
import { OnnxSeedModel } from '../../runtime-node/node-session.ts';
import { BOS, encoderTokens } from '../../runtime/tokens.ts';
import type { Recommender } from '../../runtime/recommender.ts';

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
async function pairWgsl(dir: string): Promise<{ onnx: Recommender; wgsl: Recommender; fallbackReasons: string[] }> {
  const { onnx, engine, fallbackReasons } = await pair(dir, { gpuDevice: device });
  return { onnx, wgsl: engine, fallbackReasons };
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
  const { onnx, wgsl, fallbackReasons } = await pairWgsl(bundle.dir);
  try {
    assert.deepEqual(fallbackReasons, []);
    await assertMatchesOnnx(onnx, wgsl);
  } finally {
    await Promise.all([onnx.dispose(), wgsl.dispose()]);
  }
});

// Slow tier, ~60 s on 2 cores: the real bundle is the point (6,361 items, reward rerank), and the WGSL model runs on
// SwiftShader, the CPU, beside onnxruntime on the same two cores.
test('the shipped KuaiRand bundle: the same ranked sessions after reward rerank as onnxruntime', async (t) => {
  const dir = join(SHIPPED, 'kuairand');
  if (!existsSync(join(dir, 'manifest.json'))) return t.skip('models/bundles/kuairand is not in this checkout');
  const { onnx, wgsl, fallbackReasons } = await pairWgsl(dir);
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

// Slow tier, ~80 s on 2 cores: four WGSL models (the ensemble and member 0 alone, fp32 and int4), each created and run
// on SwiftShader; fp32 and int4 reach the model's weights by different paths (int4 dequantized at load), so both stay.
test('an ensemble of two members of different depth, experts and FFN: the WGSL model gives the exported graphs\' beams (fp32 and int4)', async () => {
  await assertEnsembleBeams(bundle.codes, (decoder, encoder, configs) => WebGpuDecoder.create(device, decoder, configs, { encoderOnnx: encoder }));
});

test('graphs whose weights the WGSL model cannot find keep onnxruntime\'s sessions and say why; bad graphs are WebGpuDecoderErrors', async () => {
  const config = TINY_CONFIG;
  const weights = initSeedWeights(config, 3, 0.3);
  const encoderBytes = buildEncoderGraph(weights, config, 'fp32').bytes;
  await assert.rejects(WebGpuDecoder.create(device, encoderBytes, config), (e: Error) => e.name === 'WebGpuDecoderError' && /no initializer "dec\.pos"/.test(e.message));
  const decoderBytes = buildDecoderStepGraph(weights, config, 'fp32').bytes;
  await assert.rejects(WebGpuDecoder.create(device, decoderBytes.subarray(0, 3000), config), (e: Error) => e.name === 'WebGpuDecoderError' && /does not parse/.test(e.message));

  await assertFallsBack(notAnEnsemble(bundle.dir, join(root, 'not-an-ensemble')), { gpuDevice: device }, 'wgsl');
});

// Last in the file: it destroys the file's device, on which the tiny bundle's WGSL models are already compiled (a
// fresh device would compile every kernel again: tens of seconds on SwiftShader).
test('a lost WebGPU device hands the next calls to onnxruntime\'s sessions and the reward model to the wasm kernels, and says so', async () => {
  const { models } = await fetchBundle(pathToFileURL(bundle.dir).href, { fetch: fileAwareFetch as typeof fetch, cache: false });
  const runner = await createBundleRunner(ort as unknown as OrtModule, models, ['cpu'], { intraOpNumThreads: 1 }, { gpuDevice: device });
  try {
    assert.deepEqual([runner.decoderBackend, runner.rewardBackend], ['wgsl', 'wgsl']);
    const before = await runner.recommend([3, 17, 5], { beamWidth: 4 });
    assert.equal(runner.hasSeedGraphs, false); // made only when the device is lost
    device.destroy();
    await device.lost;
    await new Promise((resolve) => setTimeout(resolve, 0)); // let every reaction to `lost` run
    assert.equal(runner.decoderBackend, 'onnx');
    assert.ok(runner.fallbackReasons.some((r) => /^\[wgsl\] the WebGPU device was lost/.test(r)), runner.fallbackReasons.join('; '));
    const after = await runner.recommend([3, 17, 5], { beamWidth: 4 });
    assert.equal(runner.hasSeedGraphs, true);
    assert.equal(runner.rewardBackend, 'wasm-simd');
    assert.ok(runner.fallbackReasons.some((r) => /^\[wgsl\] the WebGPU device was lost; the reward model runs on wasm-simd now/.test(r)), runner.fallbackReasons.join('; '));
    assert.equal(after.rankedBy, 'reward');
    assert.deepEqual(after.sessions.map((s) => Array.from(s.items)), before.sessions.map((s) => Array.from(s.items)));
  } finally {
    await runner.release();
  }
});
