// The seed model in the runtime's WebAssembly SIMD kernels (runtime/wasm-decoder.ts, runtime/wasm/assembly/kernels.ts)
// against onnxruntime-node's CPU EP running the same bundle's graphs: the committed module is what its source compiles
// to, the matrix kernel is a matrix product, the encoder + decoder steps give the graphs' code scores, and recommend()
// / score() give the same sessions — tiny bundles, the shipped KuaiRand, Beauty int4 and Beauty ensemble bundles.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { checkGemm } from './gemm-check.ts';
import { join } from 'node:path';
import { TINY_CONFIG, writeTestBundle, type TestBundle } from './fixture.ts';
import { assertEnsembleBeams, assertFallsBack, assertMatchesOnnx, assertSameSessions, notAnEnsemble, pair } from './engine-parity.ts';
import { createNodeRecommender, fileAwareFetch } from '../../runtime-node/node-recommender.ts';
import * as ort from 'onnxruntime-node';
import { pathToFileURL } from 'node:url';
import { fetchBundle } from '../../runtime/loader.ts';
import { createBundleRunner } from '../../runtime/backends.ts';
import type { OrtModule } from '../../runtime/onnx-decoder-session.ts';
import { initSeedWeights } from '../../models/seed/reference.ts';
import { buildDecoderStepGraph, buildEncoderGraph } from '../../models/export/seed-graphs.ts';
import { beamSearch } from '../../runtime/beam-search.ts';
import { SemanticIdTrie } from '../../runtime/semantic-id-trie.ts';
import { WasmDecoder } from '../../runtime/wasm-decoder.ts';
import * as committed from '../../runtime/wasm/kernels-wasm.ts';
import { OnnxSeedModel } from '../../runtime-node/node-session.ts';
import { readBundle } from '../../runtime-node/bundle-reader.ts';
import { BOS, encoderTokens } from '../../runtime/tokens.ts';
import type { Recommender } from '../../runtime/recommender.ts';
import { compileKernels, KERNEL_BUILDS } from '../../build.mjs';

const SHIPPED = join(import.meta.dirname, '..', '..', 'models', 'bundles');
let root: string;
let bundle: TestBundle;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'onerec-wasm-kernels-'));
  bundle = await writeTestBundle(join(root, 'tiny'), { reward: true });
});
after(() => rmSync(root, { recursive: true, force: true }));

/** Two recommenders on one bundle: onnxruntime's seed graphs and the wasm kernels (the reward model on onnxruntime, then on the kernels). */
async function pairSimd(dir: string): Promise<{ onnx: Recommender; simd: Recommender; decoder: string; fallbackReasons: string[] }> {
  const { onnx, engine, decoder, fallbackReasons } = await pair(dir, { engine: 'auto' });
  return { onnx, simd: engine, decoder, fallbackReasons };
}

test('runtime/wasm/kernels-wasm.ts is what runtime/wasm/assembly/kernels.ts compiles to (run `node build.mjs --kernels` after a change)', async () => {
  for (const build of KERNEL_BUILDS) assert.equal(Buffer.from(await compileKernels(build)).toString('base64'), (committed as Record<string, string>)[build.name], build.name);
});

test('the matrix kernel computes (acc ? C : 0) + A·W + bias for row and column counts off its register blocks, with strides: the plain and the relaxed-SIMD build', async () => {
  assert.ok(await checkGemm('plain') > 0);
  // The relaxed build (6 × 8 blocks, fused multiply-adds) in a Node that validates it, as Chromium does.
  const child = spawnSync(process.execPath, ['--experimental-wasm-relaxed-simd', '--import', 'tsx', join(import.meta.dirname, 'gemm-check.ts'), 'relaxed'], { encoding: 'utf8' });
  assert.equal(child.status, 0, child.stderr);
  assert.match(child.stdout, /^relaxed: \d+ values right/);
});

test('the encoder and decoder steps give onnxruntime\'s code log-probabilities (one- and two-token steps, reordered beams; within 1e-4)', async () => {
  const config = bundle.config;
  const [encoderBytes, decoderBytes] = [readFileSync(join(bundle.dir, 'encoder.onnx')), readFileSync(join(bundle.dir, 'decoder_step.onnx'))];
  const onnx = await OnnxSeedModel.create(config, encoderBytes, decoderBytes);
  const simd = await WasmDecoder.create(decoderBytes, encoderBytes, config);
  try {
    for (const history of [[3, 17, 5, 42, 9], []]) {
      const tokens = encoderTokens(Int32Array.from(history), bundle.codes, config.levels, config.codebookSize, config.maxHistory);
      const reference = onnx.decoderSession(await onnx.encode(tokens), { twoTokenSteps: true });
      const session = simd.sessionFromTokens(tokens, 4);
      const K = config.codebookSize;
      // BOS, then three codes of one item, then its last code + the next BOS in one step, then a code: beams branch and reorder.
      const steps: [number[], number[]][] = [[[BOS], [0]], [[2, 2 + 3, 2 + 6], [0, 0, 0]], [[2 + K + 1, 2 + K + 4, 2 + K, 2 + K + 2], [2, 0, 1, 2]], [[2 + 2 * K, BOS, 2 + 2 * K + 5, BOS, 2 + 2 * K + 1, BOS, 2 + 2 * K + 7, BOS], [3, 1, 0, 3]], [[2 + 1, 2 + 4], [2, 0]]];
      for (const [i, [fed, parents]] of steps.entries()) {
        const [want, got] = [await reference.stepCodeLogProbs!(Int32Array.from(fed), Int32Array.from(parents)), await session.stepCodeLogProbs!(Int32Array.from(fed), Int32Array.from(parents))];
        assert.equal(got.length, want.length);
        for (let c = 0; c < want.length; c++) assert.ok(Math.abs(got[c] - want[c]) <= 1e-4, `history [${history}] step ${i} value ${c}: ${got[c]} vs ${want[c]}`);
      }
    }
  } finally {
    simd.dispose();
    await onnx.release();
  }
});

test('a second session over the same history (sameHistory) reuses the encoding: same scores, the encoder runs once; another history is encoded', async () => {
  const config = bundle.config;
  const simd = await WasmDecoder.create(readFileSync(join(bundle.dir, 'decoder_step.onnx')), readFileSync(join(bundle.dir, 'encoder.onnx')), config);
  const tokensOf = (history: number[]) => encoderTokens(Int32Array.from(history), bundle.codes, config.levels, config.codebookSize, config.maxHistory);
  const first = async (session: ReturnType<WasmDecoder['sessionFromTokens']>) => Array.from(await session.stepCodeLogProbs!(Int32Array.of(BOS), Int32Array.of(0)));
  const encodes = () => simd.stats.encodes;
  try {
    const [a, b] = [tokensOf([3, 17, 5]), tokensOf([42, 9])];
    const fresh = await first(simd.sessionFromTokens(a, 2));
    assert.equal(encodes(), 1);
    assert.deepEqual(await first(simd.sessionFromTokens(a, 2, true)), fresh); // exactly: the same memory
    assert.equal(encodes(), 1);
    assert.deepEqual(await first(simd.sessionFromTokens(a, 2)), fresh); // without sameHistory every session encodes
    assert.equal(encodes(), 2);
    const other = await first(simd.sessionFromTokens(b, 2, true)); // sameHistory, but the tokens differ: encoded
    assert.equal(encodes(), 3);
    assert.notDeepEqual(other, fresh);
    assert.deepEqual(await first(simd.sessionFromTokens(a, 2, true)), fresh); // a's memory was overwritten by b's: encoded again
    assert.equal(encodes(), 4);
  } finally {
    simd.dispose();
  }
});

test('the full-logit step (onerec eval --bundle\'s greedy check) gives onnxruntime-node\'s logits within 1e-4 and its greedy tokens: shipped Beauty int4, 40 histories', async () => {
  const beauty = await readBundle(join(SHIPPED, 'beauty'));
  const config = beauty.manifest.model;
  const { levels, codebookSize: K } = config;
  const codes = new Uint16Array(beauty.trie.itemCount * levels); // [items, levels]
  for (let i = 0; i < beauty.trie.itemCount; i++) codes.set(beauty.trie.itemCodes(i), i * levels);
  const onnx = await OnnxSeedModel.create(config, beauty.files.encoder!, beauty.files.decoderStep!, { onnxRuntime: ort });
  const simd = await WasmDecoder.create(beauty.files.decoderStep!, beauty.files.encoder!, [config]);
  let seed = 7;
  const random = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
  const argmax = (x: Float32Array): number => x.reduce((best, v, i) => (v > x[best] ? i : best), 0);
  let steps = 0;
  try {
    for (let h = 0; h < 40; h++) {
      const history = Int32Array.from({ length: 1 + Math.floor(random() * 30) }, () => Math.floor(random() * beauty.trie.itemCount));
      const tokens = encoderTokens(history, codes, levels, K, config.maxHistory);
      const [reference, session] = [await onnx.session(tokens), simd.sessionFromTokens(tokens, 1)];
      let token = BOS;
      for (let level = 0; level < levels; level++) {
        const [want, got] = [await reference.step(Int32Array.of(token), Int32Array.of(0)), await session.step(Int32Array.of(token), Int32Array.of(0))]; // [1, vocab]
        assert.equal(got.length, want.length);
        let worst = 0;
        for (let v = 0; v < want.length; v++) worst = Math.max(worst, Math.abs(got[v] - want[v]));
        assert.ok(worst < 1e-4, `history ${h}, level ${level}: logits differ by ${worst}`);
        assert.equal(argmax(got), argmax(want), `history ${h}, level ${level}: greedy token`);
        token = argmax(want);
        steps++;
      }
    }
  } finally {
    await onnx.release();
    simd.dispose();
  }
  assert.equal(steps, 40 * levels);
});

test('recommend() and score() give onnxruntime\'s sessions: tiny bundle with a reward model (exact items, log-probs within 1e-4)', async () => {
  const { onnx, simd, decoder, fallbackReasons } = await pairSimd(bundle.dir);
  try {
    assert.equal(decoder, 'wasm-simd');
    assert.deepEqual(fallbackReasons, []);
    await assertMatchesOnnx(onnx, simd);
  } finally {
    await Promise.all([onnx.dispose(), simd.dispose()]);
  }
});

test('the shipped bundles (KuaiRand with reward rerank, Beauty int4, the Beauty ensemble): the same ranked sessions as onnxruntime at beam 32', async (t) => {
  for (const [name, histories] of [['kuairand', [[5, 900, 77, 4000, 12], []]], ['beauty', [[10, 200, 3000, 45, 7], []]], ['beauty-ensemble', [[10, 200, 3000, 45, 7]]]] as const) {
    const dir = join(SHIPPED, name);
    if (!existsSync(join(dir, 'manifest.json'))) { t.diagnostic(`models/bundles/${name} is not in this checkout`); continue; }
    const { onnx, simd, decoder, fallbackReasons } = await pairSimd(dir);
    try {
      assert.equal(decoder, 'wasm-simd', `${name}: ${fallbackReasons.join('; ')}`);
      for (const history of histories) {
        const [a, b] = [await onnx.recommend([...history], { beamWidth: 32 }), await simd.recommend([...history], { beamWidth: 32 })];
        assertSameSessions(a, b, 1e-3, `${name} history [${history}]`);
      }
    } finally {
      await Promise.all([onnx.dispose(), simd.dispose()]);
    }
  }
});

test('an ensemble of two members of different depth, experts and FFN: the kernels give the exported graphs\' beams (fp32 and int4)', async () => {
  await assertEnsembleBeams(bundle.codes, (decoder, encoder, configs) => WasmDecoder.create(decoder, encoder, configs));
});

test('graphs the kernels cannot read keep onnxruntime\'s sessions and say why; bad graphs are WasmDecoderErrors', async () => {
  const config = TINY_CONFIG;
  const weights = initSeedWeights(config, 3, 0.3);
  const encoderBytes = buildEncoderGraph(weights, config, 'fp32').bytes;
  const decoderBytes = buildDecoderStepGraph(weights, config, 'fp32').bytes;
  await assert.rejects(WasmDecoder.create(encoderBytes, encoderBytes, config), (e: Error) => e.name === 'WasmDecoderError' && /no initializer "dec\.pos"/.test(e.message));
  await assert.rejects(WasmDecoder.create(decoderBytes.subarray(0, 3000), encoderBytes, config), (e: Error) => e.name === 'WasmDecoderError' && /does not parse/.test(e.message));
  await assert.rejects(WasmDecoder.create(decoderBytes, encoderBytes, { ...config, dModel: 30, heads: 3 }), (e: Error) => e.name === 'WasmDecoderError' && /multiple of 4 per head/.test(e.message));

  await assertFallsBack(notAnEnsemble(bundle.dir, join(root, 'not-an-ensemble')), { engine: 'auto' }, 'wasm-simd');
});

test('with the kernels running the seed model, onnxruntime never makes sessions for encoder.onnx and decoder_step.onnx', async () => {
  const { models } = await fetchBundle(pathToFileURL(bundle.dir).href, { fetch: fileAwareFetch as typeof fetch, cache: false });
  const runner = await createBundleRunner(ort as unknown as OrtModule, models, ['cpu'], { intraOpNumThreads: 1 }, { engine: 'auto' });
  try {
    assert.equal(runner.decoderBackend, 'wasm-simd');
    const result = await runner.recommend([3, 17, 5], { beamWidth: 4 });
    assert.equal(result.rankedBy, 'reward'); // the reward graph's session exists and ran
    await runner.score([3, 17, 5], [[1, 2, 3, 4]]);
    assert.equal(runner.hasSeedGraphs, false);
  } finally {
    await runner.release();
  }
  // Where the kernels cannot run the bundle (ensemble weights missing), the seed graphs' sessions are made at load.
  const fallback = await createBundleRunner(ort as unknown as OrtModule, { ...models, members: [models.members[0], models.members[0]] }, ['cpu'], { intraOpNumThreads: 1 }, { engine: 'auto' });
  try {
    assert.equal(fallback.decoderBackend, 'onnx');
    assert.equal(fallback.hasSeedGraphs, true);
  } finally {
    await fallback.release();
  }
});

test('growing beams re-lay the per-request buffers in place: memory is that of the largest beam, and sessions stay right', async () => {
  const config = bundle.config;
  const [encoderBytes, decoderBytes] = [readFileSync(join(bundle.dir, 'encoder.onnx')), readFileSync(join(bundle.dir, 'decoder_step.onnx'))];
  const trie = SemanticIdTrie.build(bundle.codes, config.levels, config.codebookSize);
  const onnx = await OnnxSeedModel.create(config, encoderBytes, decoderBytes);
  const simd = await WasmDecoder.create(decoderBytes, encoderBytes, config);
  try {
    const tokens = encoderTokens(Int32Array.of(3, 17, 5), bundle.codes, config.levels, config.codebookSize, config.maxHistory);
    const used: number[] = [];
    for (const beamWidth of [2, 3, 5, 9, 17, 40, 4, 40]) {
      const options = { beamWidth, sessionLength: 2 };
      const want = await beamSearch(onnx.decoderSession(await onnx.encode(tokens), { twoTokenSteps: true }), trie, options);
      const got = await beamSearch(simd.sessionFromTokens(tokens, beamWidth), trie, options);
      assert.deepEqual(Array.from(got.items), Array.from(want.items), `beam ${beamWidth}`);
      used.push(simd.memoryBytes);
    }
    assert.ok(used[5] > used[0], 'beam 40 needs more buffers than beam 2');
    assert.equal(used[7], used[5], 'a second beam-40 request allocated again');
    assert.equal(used[6], used[5], 'a smaller request shrank or moved the buffers');
  } finally {
    simd.dispose();
    await onnx.release();
  }
});

test('a request whose buffers the engine cannot grow memory for is a WasmDecoderError, and the decoder still serves smaller ones', async () => {
  const config = bundle.config;
  const [encoderBytes, decoderBytes] = [readFileSync(join(bundle.dir, 'encoder.onnx')), readFileSync(join(bundle.dir, 'decoder_step.onnx'))];
  const simd = await WasmDecoder.create(decoderBytes, encoderBytes, config);
  try {
    const tokens = encoderTokens(Int32Array.of(3, 17, 5), bundle.codes, config.levels, config.codebookSize, config.maxHistory);
    assert.throws(() => simd.sessionFromTokens(tokens, 2 ** 26), (e: Error) => e.name === 'WasmDecoderError' && /refused \d+ MiB of WebAssembly memory/.test(e.message));
    const trie = SemanticIdTrie.build(bundle.codes, config.levels, config.codebookSize);
    const result = await beamSearch(simd.sessionFromTokens(tokens, 4), trie, { beamWidth: 4, sessionLength: 2 });
    assert.equal(result.logProb.length, 4);
  } finally {
    simd.dispose();
  }
});

test('threads: 2 and 3 share each step\'s beams with helper threads and give onnxruntime\'s sessions; helpers that never start leave one thread, saying why', async () => {
  for (const threads of [2, 3]) {
    const { onnx, engine, decoder, fallbackReasons } = await pair(bundle.dir, { engine: 'auto', threads });
    try {
      assert.equal(decoder, 'wasm-simd');
      assert.deepEqual(fallbackReasons, []);
      for (const history of [[3, 17, 5, 42, 9], []]) {
        for (const options of [{ beamWidth: 8 }, { beamWidth: 5, sessionLength: 2 }, { beamWidth: 1 }]) {
          assertSameSessions(await onnx.recommend(history, options), await engine.recommend(history, options), 1e-4, `${threads} threads, history [${history}] ${JSON.stringify(options)}`);
        }
      }
    } finally {
      await Promise.all([onnx.dispose(), engine.dispose()]);
    }
  }
  const info = await (async () => {
    const r = createNodeRecommender({ engine: 'auto', threads: 2 });
    try { return await r.load(bundle.dir); } finally { await r.dispose(); }
  })();
  assert.equal(info.kernelThreads, 2);
  const config = bundle.config;
  const [encoderBytes, decoderBytes] = [readFileSync(join(bundle.dir, 'encoder.onnx')), readFileSync(join(bundle.dir, 'decoder_step.onnx'))];
  let terminated = 0;
  const silent = await WasmDecoder.create(decoderBytes, encoderBytes, config, { threads: 2, spawnHelper: () => ({ terminate: () => { terminated++; } }), helperTimeoutMs: 200 });
  try {
    assert.equal(silent.threads, 1);
    assert.equal(terminated, 1);
    assert.match(silent.threadsNote ?? '', /did not start within 0.2 s/);
    const trie = SemanticIdTrie.build(bundle.codes, config.levels, config.codebookSize);
    const tokens = encoderTokens(Int32Array.of(3, 17), bundle.codes, config.levels, config.codebookSize, config.maxHistory);
    assert.equal((await beamSearch(silent.sessionFromTokens(tokens, 4), trie, { beamWidth: 4, sessionLength: 2 })).logProb.length, 4);
  } finally {
    silent.dispose();
  }
});
