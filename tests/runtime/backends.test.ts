// The backend list (runtime/backends.ts): LoadOptions' engine choice and its deprecated booleans, the first candidate
// that comes up, and one NoBackendError naming every candidate's reason when none does.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { engineChoice, firstBackend } from '../../runtime/backends.ts';
import type { BundleRunner } from '../../runtime/bundle-runner.ts';
import { createNodeRecommender } from '../../runtime-node/node-recommender.ts';
import { writeTestBundle, type TestBundle } from './fixture.ts';
import { notAnEnsemble } from './engine-parity.ts';

let root: string;
let bundle: TestBundle;
before(async () => {
  root = mkdtempSync(join(tmpdir(), 'onerec-backends-'));
  bundle = await writeTestBundle(join(root, 'tiny'));
});
after(() => rmSync(root, { recursive: true, force: true }));

test('engine names one choice; the deprecated gpuDecoder / wasmDecoder still read as before', () => {
  const all = { wgsl: true, wasm: true, onnxruntime: true };
  assert.deepEqual(engineChoice({}), all);
  assert.deepEqual(engineChoice({ engine: 'auto' }), all);
  assert.deepEqual(engineChoice({ engine: 'wgsl' }), { wgsl: true, wasm: false, onnxruntime: false });
  assert.deepEqual(engineChoice({ engine: 'wasm' }), { wgsl: false, wasm: true, onnxruntime: false });
  assert.deepEqual(engineChoice({ engine: 'onnxruntime' }), { wgsl: false, wasm: false, onnxruntime: true });
  assert.deepEqual(engineChoice({ gpuDecoder: false }), { wgsl: false, wasm: true, onnxruntime: true });
  assert.deepEqual(engineChoice({ wasmDecoder: false }), { wgsl: true, wasm: false, onnxruntime: true });
  assert.deepEqual(engineChoice({ gpuDecoder: false, wasmDecoder: false }), { wgsl: false, wasm: false, onnxruntime: true });
  assert.throws(() => engineChoice({ engine: 'cuda' }), (e: Error) => e.name === 'InvalidArgumentError' && /'auto', 'wgsl', 'wasm', 'onnxruntime'/.test(e.message));
});

test('the first candidate that comes up wins, with the reasons of those before it; none: one NoBackendError naming each', async () => {
  const runner = { fallbackReasons: ['[x] its own note'] } as unknown as BundleRunner;
  const won = await firstBackend([
    { name: 'wgsl', create: async () => 'no device' },
    { name: 'ort-webgpu', create: async () => { throw new Error('[ONNXRuntimeError] : 1 : FAIL'); } },
    { name: 'wasm-simd', create: async () => runner },
    { name: 'ort-wasm', create: async () => { throw new Error('must not be tried'); } },
  ], ['[webgpu] no adapter']);
  assert.equal(won, runner);
  assert.deepEqual(won.fallbackReasons, ['[webgpu] no adapter', '[wgsl] no device', '[ort-webgpu] [ONNXRuntimeError] : 1 : FAIL', '[x] its own note']);
  await assert.rejects(firstBackend([{ name: 'wgsl', create: async () => 'no device' }, { name: 'ort-wasm', create: async () => { throw new Error('no wasm'); } }]),
    (e: Error & { reasons?: string[] }) => e.name === 'NoBackendError' && e.reasons!.join('|') === '[wgsl] no device|[ort-wasm] no wasm' && /\[wgsl\] no device; \[ort-wasm\] no wasm/.test(e.message));
});

test('load(): engine and a deprecated boolean together, or an unknown engine, are InvalidArgumentErrors; a named engine does not fall back', async () => {
  const recommender = createNodeRecommender();
  try {
    await assert.rejects(recommender.load(bundle.dir, { engine: 'wasm', wasmDecoder: true }), (e: Error) => e.name === 'InvalidArgumentError' && /^options\.wasmDecoder = true.*deprecated/.test(e.message));
    await assert.rejects(recommender.load(bundle.dir, { engine: 'gpu' as never }), (e: Error) => e.name === 'InvalidArgumentError' && /^options\.engine = "gpu"/.test(e.message));
  } finally {
    await recommender.dispose();
  }
  // The kernels cannot find an ensemble's member 1 here: 'auto' falls back to onnxruntime, 'wasm' alone is a NoBackendError.
  const dir = notAnEnsemble(bundle.dir, join(root, 'not-an-ensemble'));
  for (const [engine, expect] of [['auto', 'onnx'], ['wasm', 'NoBackendError']] as const) {
    const r = createNodeRecommender({ engine });
    try {
      const outcome = await r.load(dir).then((info) => info.decoder, (e: Error) => e.name);
      assert.equal(outcome, expect, engine);
    } finally {
      await r.dispose();
    }
  }
  // engine 'wasm', and Node's deprecated wasmDecoder: true (the kernels, then onnxruntime), run the kernels on a bundle they read.
  for (const options of [{ engine: 'wasm' as const }, { wasmDecoder: true }]) {
    const kernels = createNodeRecommender(options);
    try {
      const info = await kernels.load(bundle.dir);
      assert.deepEqual([info.decoder, info.fallbackReasons], ['wasm-simd', []], JSON.stringify(options));
    } finally {
      await kernels.dispose();
    }
  }
});
