// A tiny seed model trained in the test on the WebGPU engine (SwiftShader here), exported: the ONNX decoder
// under onnxruntime-web's wasm backend reproduces the trainer's forward (engine decodeLast), and the fp32 and int4
// bundles, evaluated end to end through the runtime's recommend() (onerec eval --bundle), give exactly the trainer's own
// metrics.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Engine } from '../../../models/engine/engine.ts';
import { readBundle } from '../../../runtime-node/bundle-reader.ts';
import { exportBundle } from '../../../models/export/bundle-writer.ts';
import { evaluateBundle } from '../../../models/export/evaluate.ts';
import { OnnxSeedModel } from '../../../runtime-node/node-session.ts';
import { evalExamples, type SeedData } from '../../../models/seed/batches.ts';
import { DEFAULT_TRAIN_CONFIG, seedVocabSize, type SeedConfig } from '../../../models/seed/config.ts';
import { evaluateRanking } from '../../../models/seed/generate.ts';
import { trainSeed } from '../../../models/seed/train.ts';
import { SemanticIdTrie } from '../../../runtime/semantic-id-trie.ts';
import { BOS, encoderTokens, tokenId } from '../../../runtime/tokens.ts';
import { maxAbsDiff } from './fixture.ts';

const CONFIG: SeedConfig = {
  codebookSize: 4, levels: 2, dModel: 32, heads: 2, encoderLayers: 1, decoderLayers: 1, ffnDim: 64,
  experts: 4, expertsPerToken: 2, expertFfnDim: 32, maxHistory: 3, sessionLength: 1, moeAuxWeight: 0.01, dropout: 0,
};
// 8 items on a cycle 0 → 1 → … → 7 → 0; each user starts elsewhere, so the next item is predictable.
const codes = new Uint16Array([0, 0, 0, 1, 1, 0, 1, 1, 2, 0, 2, 3, 3, 1, 3, 2]); // [8, 2]
const sequences = Array.from({ length: 8 }, (_, u) => Int32Array.from({ length: 6 }, (_, j) => (u + j) % 8));
const data: SeedData = { itemCount: 8, levels: 2, codebookSize: 4, codes, sequences };
const LOGIT_TOLERANCE = 2e-3; // SwiftShader fp32 vs onnxruntime CPU fp32 on logits of magnitude ≤ ~20

let engine: Engine;
let dir: string;
before(async () => {
  engine = await Engine.create({ quiet: true });
  dir = mkdtempSync(join(tmpdir(), 'export-trained-'));
});
after(() => {
  engine?.device.destroy();
  rmSync(dir, { recursive: true, force: true });
});

// Slow tier, ~40 s on 2 cores (140 s at a load average of 12): 10 epochs (20 steps) on SwiftShader, so that the exported
// weights are trained ones whose rankings mean something (the check below wants NDCG@10 > 0.6; a random model scores
// ≈ 0.35). On SwiftShader this recipe reaches 0.78; 8 epochs reach 0.65, and 14 at batch 8 and lr 2e-2 (42 steps) 0.65.
test('a model trained on the engine exports to graphs that match its forward and its rankings', async () => {
  const trie = SemanticIdTrie.build(codes, 2, 4);
  const train = { ...DEFAULT_TRAIN_CONFIG, data: 'synthetic', out: join(dir, 'run'), trainWindow: 1, epochs: 10, batchSize: 12, lr: 1e-2, warmupSteps: 3, weightDecay: 0, evalBeam: 4, evalUsers: 0, evalEvery: 10, patience: 100, seed: 3 };
  const { model } = await trainSeed(engine, data, trie, CONFIG, train, { quiet: true, log: () => {} });
  const weights = await model.weights();
  const catalog = Array.from({ length: 8 }, (_, i) => ({ id: `i${i}` }));

  // Teacher-forced logits of the trainer vs the ONNX decoder step by step, for every user's test history.
  const V = seedVocabSize(CONFIG);
  const examples = evalExamples(data, 'test');
  const history = (u: number): Int32Array => sequences[u].subarray(0, examples[u].targetStart);
  const encoderInput = new Int32Array(examples.length * CONFIG.maxHistory * CONFIG.levels);
  examples.forEach((_, u) => encoderInput.set(encoderTokens(history(u), codes, 2, 4, CONFIG.maxHistory), u * CONFIG.maxHistory * CONFIG.levels));
  const memory = await model.encode(encoderInput, examples.length);
  const fp32 = await exportBundle({ weights, config: CONFIG, trie, catalog, quantization: 'fp32', outDir: join(dir, 'fp32') });
  const onnx = await OnnxSeedModel.create(CONFIG, (await readBundle(join(dir, 'fp32'))).files.encoder!, (await readBundle(join(dir, 'fp32'))).files.decoderStep!);
  let worst = 0;
  for (const [u, example] of examples.entries()) {
    const target = sequences[u][example.targetStart];
    const prefix = [BOS, tokenId(0, codes[target * 2], 4)]; // [BOS c1]
    const session = await onnx.session(encoderTokens(history(u), codes, 2, 4, CONFIG.maxHistory));
    for (let length = 1; length <= prefix.length; length++) {
      const got = await session.step(Int32Array.of(prefix[length - 1]), Int32Array.of(0));
      const want = await model.decodeLast(memory, Int32Array.of(u), Int32Array.from(prefix.slice(0, length)), 1, length);
      assert.equal(want.length, V);
      worst = Math.max(worst, maxAbsDiff(got, want));
    }
  }
  model.release?.(memory);
  await onnx.release();
  assert.ok(worst < LOGIT_TOLERANCE, `max |Δ logit| trainer vs ONNX: ${worst}`);

  const trainer = await evaluateRanking(model, data, trie, examples, { beamWidth: 4, usersPerBatch: 8, excludeHistory: false });
  // A few epochs on a shared CPU: the model has learned much of the cycle (a random model scores ≈ 0.35).
  assert.ok(trainer['ndcg@10'] > 0.6, `trainer NDCG@10 ${trainer['ndcg@10']}`);
  await exportBundle({ weights, config: CONFIG, trie, catalog, quantization: 'int4', outDir: join(dir, 'int4') });
  for (const quantization of ['fp32', 'int4']) {
    const report = await evaluateBundle(await readBundle(join(dir, quantization)), data, { split: 'test', beamWidth: 4, users: 0, seed: 1, excludeHistory: false });
    assert.equal(report.engine, 'wasm-simd', `${quantization}: the runtime's kernels rank the users (${report.fallbackReasons.join('; ')})`);
    assert.deepEqual(report.metrics, trainer, quantization);
  }
  assert.ok(fp32.totalBytes > 0);
});
