// The exported graphs under ONNX Runtime in Node (onnxruntime-web's wasm backend, models/onnx-runtime.ts) compute the
// reference forward (models/seed/reference.ts): encoder outputs, every decoder step with a beam-gathered cache, and
// full constrained beam search.
// Quantized graphs are compared with the reference run on the weights they compute with (dequantized),
// which isolates the graph from the quantization error (measured separately by `onerec eval --bundle`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OnnxSeedModel } from '../../../runtime-node/node-session.ts';
import { readModelSummary } from '../../../models/export/onnx-proto.ts';
import { buildDecoderStepGraph, buildEncoderGraph } from '../../../models/export/seed-graphs.ts';
import { ReferenceDecoderSession, crossKeysValues, encode, type SeedWeights } from '../../../models/seed/reference.ts';
import { beamSearch } from '../../../runtime/beam-search.ts';
import { BOS, SPECIAL_TOKENS, encoderTokens, tokenId } from '../../../runtime/tokens.ts';
import { TINY, maxAbsDiff, tinyModel } from './fixture.ts';

const TOLERANCE = 1e-4; // float32 CPU kernels vs the float64-accumulating reference, logits of magnitude ~10
const HISTORIES = [[4, 9, 1], [], [0, 1, 2, 3, 4, 5, 6, 7]]; // partial, empty, longer than maxHistory

async function build(quantization: 'fp32' | 'int8' | 'int4', weights: SeedWeights) {
  const encoder = buildEncoderGraph(weights, TINY, quantization);
  const decoder = buildDecoderStepGraph(weights, TINY, quantization);
  const model = await OnnxSeedModel.create(TINY, encoder.bytes, decoder.bytes);
  return { model, encoder, decoder, effective: { ...weights, ...encoder.effective, ...decoder.effective } };
}

test('graphs are IR 8 / opset 17 with the contract inputs and outputs; quantized ones use MatMulNBits, fp32 only fused com.microsoft ops', () => {
  const { weights } = tinyModel();
  const enc = readModelSummary(buildEncoderGraph(weights, TINY, 'fp32').bytes);
  assert.equal(enc.irVersion, 8);
  assert.equal(enc.opsets[''], 17);
  assert.deepEqual(enc.inputs, ['history_tokens']);
  assert.deepEqual(enc.outputs, ['cross_k', 'cross_v', 'memory_bias']);
  const dec = readModelSummary(buildDecoderStepGraph(weights, TINY, 'int4').bytes);
  assert.deepEqual(dec.inputs, ['token', 'position', 'beam_parent', 'past_k', 'past_v', 'cross_k', 'cross_v', 'memory_bias']);
  assert.deepEqual(dec.outputs, ['logits', 'code_scores', 'present_k', 'present_v']);
  assert.equal(dec.opsets['com.microsoft'], 1);
  assert.ok(dec.nodes.includes('MatMulNBits'));
  for (const banned of ['DynamicQuantizeLinear', 'MatMulInteger', 'MoE', 'QMoE']) assert.ok(!dec.nodes.includes(banned), banned);
  // fp32: com.microsoft only for the fused FastGelu and SkipLayerNormalization, which every EP has.
  const fp32Decoder = readModelSummary(buildDecoderStepGraph(weights, TINY, 'fp32').bytes);
  assert.equal(fp32Decoder.opsets['com.microsoft'], 1);
  assert.ok(fp32Decoder.nodes.includes('FastGelu') && fp32Decoder.nodes.includes('SkipLayerNormalization'));
  for (const spelledOut of ['MatMulNBits', 'Tanh']) assert.ok(!fp32Decoder.nodes.includes(spelledOut), spelledOut);
});

test('encoder.onnx matches the reference encoder: cross keys/values per layer and the memory bias', async () => {
  const { weights, codes } = tinyModel();
  const { model } = await build('fp32', weights);
  const { dModel: d, heads, decoderLayers: L, maxHistory, levels } = TINY;
  const S = maxHistory * levels;
  const dh = d / heads;
  for (const history of HISTORIES) {
    const tokens = encoderTokens(history, codes, levels, TINY.codebookSize, maxHistory);
    const out = await model.encode(tokens);
    const ref = encode(weights, TINY, tokens);
    const cross = crossKeysValues(weights, TINY, ref.memory);
    assert.deepEqual(out.crossK.dims, [L, 1, heads, S, dh]);
    assert.deepEqual([...(out.memoryBias.data as Float32Array)], [...ref.memoryBias]);
    const k = out.crossK.data as Float32Array;
    const v = out.crossV.data as Float32Array;
    let worst = 0;
    for (let l = 0; l < L; l++) for (let h = 0; h < heads; h++) for (let s = 0; s < S; s++) for (let c = 0; c < dh; c++) {
      const onnx = ((l * heads + h) * S + s) * dh + c;
      worst = Math.max(worst, Math.abs(k[onnx] - cross[l].k[s * d + h * dh + c]), Math.abs(v[onnx] - cross[l].v[s * d + h * dh + c]));
    }
    assert.ok(worst < TOLERANCE, `history [${history}]: max |Δ| ${worst}`);
  }
  await model.release();
});

for (const quantization of ['fp32', 'int8', 'int4'] as const) {
  test(`decoder_step.onnx (${quantization}) matches the reference step by step with the cache gathered by beam_parent`, async () => {
    const { weights, codes } = tinyModel();
    const { model, effective } = await build(quantization, weights);
    const tokens = encoderTokens([4, 9, 1], codes, TINY.levels, TINY.codebookSize, TINY.maxHistory);
    const reference = new ReferenceDecoderSession(effective, TINY, tokens);
    const onnx = await model.session(tokens);
    const normalised = await model.session(tokens); // the same steps through code_scores
    assert.ok(normalised.stepCodeLogProbs);
    const { levels, codebookSize: K } = TINY;
    const V = SPECIAL_TOKENS + levels * K;
    // Rows swap, duplicate and shrink between steps, as beam search makes them.
    const steps = [[[BOS], [0]], [[2, 3, 4], [0, 0, 0]], [[10, 12], [2, 0]], [[20, 19, 18], [1, 1, 0]], [[BOS, BOS], [2, 0]], [[3], [1]]];
    const expectedAfter: Float64Array[] = []; // [step] the reference's code log-probabilities after it
    for (const [i, [t, p]] of steps.entries()) {
      const a = await reference.step(Int32Array.from(t), Int32Array.from(p));
      const b = await onnx.step(Int32Array.from(t), Int32Array.from(p));
      assert.ok(maxAbsDiff(a, b) < TOLERANCE, `${quantization} step ${i}: max |Δ logit| ${maxAbsDiff(a, b)}`);
      // stepCodeLogProbs [rows, K]: the reference's log-softmax over the full vocabulary at the codes of the
      // level that follows position i (none after an item's last code: BOS follows).
      const c = await normalised.stepCodeLogProbs!(Int32Array.from(t), Int32Array.from(p));
      assert.equal(c.length, t.length * K);
      const level = i % (levels + 1);
      if (level === levels) continue;
      const expected = new Float64Array(t.length * K);
      for (let r = 0; r < t.length; r++) {
        const row = a.subarray(r * V, (r + 1) * V);
        const max = Math.max(...row);
        const logZ = max + Math.log(row.reduce((sum, x) => sum + Math.exp(x - max), 0));
        for (let code = 0; code < K; code++) expected[r * K + code] = row[tokenId(level, code, K)] - logZ;
      }
      assert.ok(maxAbsDiff(expected, c) < TOLERANCE, `${quantization} step ${i}: max |Δ log-prob| ${maxAbsDiff(expected, c)}`);
      expectedAfter[i] = expected;
    }
    // Steps 3 and 4 (an item's last code, then BOS) as one call with two tokens per row ([rows, 2]): the same
    // code log-probabilities as after step 4, and the cache it leaves gives the same step 5.
    const merged = await model.session(tokens, { twoTokenSteps: true });
    assert.ok(merged.twoTokenSteps);
    for (const [t, p] of steps.slice(0, 3)) await merged.stepCodeLogProbs!(Int32Array.from(t), Int32Array.from(p));
    const [[codes3, parents3], [, parents4]] = [steps[3], steps[4]];
    const pairs = Int32Array.from(parents4.flatMap((r) => [codes3[r], BOS])); // [rows, 2]
    const after4 = await merged.stepCodeLogProbs!(pairs, Int32Array.from(parents4, (r) => parents3[r]));
    assert.ok(maxAbsDiff(expectedAfter[4], after4) < TOLERANCE, `${quantization} two-token step: max |Δ log-prob| ${maxAbsDiff(expectedAfter[4], after4)}`);
    const after5 = await merged.stepCodeLogProbs!(Int32Array.from(steps[5][0]), Int32Array.from(steps[5][1]));
    assert.ok(maxAbsDiff(expectedAfter[5], after5) < TOLERANCE, `${quantization} step after a two-token step: max |Δ log-prob| ${maxAbsDiff(expectedAfter[5], after5)}`);
    await model.release();
  });
}

test('constrained beam search over the ONNX graphs returns the reference sessions (fp32 and int4)', async () => {
  const { weights, codes, trie } = tinyModel();
  for (const quantization of ['fp32', 'int4'] as const) {
    const { model, effective } = await build(quantization, weights);
    for (const history of HISTORIES) {
      const tokens = encoderTokens(history, codes, TINY.levels, TINY.codebookSize, TINY.maxHistory);
      const exclude = new Uint8Array(trie.itemCount);
      for (const item of history) exclude[item] = 1;
      const options = { beamWidth: 6, sessionLength: TINY.sessionLength, exclude };
      const expected = await beamSearch(new ReferenceDecoderSession(effective, TINY, tokens), trie, options);
      const actual = await beamSearch(await model.session(tokens), trie, options);
      assert.deepEqual([...actual.items], [...expected.items], `${quantization} history [${history}]`);
      assert.ok(maxAbsDiff(actual.logProb, expected.logProb) < TOLERANCE);
      const twoToken = await beamSearch(await model.session(tokens, { twoTokenSteps: true }), trie, options); // as the runtime feeds it
      assert.deepEqual([...twoToken.items], [...expected.items], `${quantization} history [${history}], two-token steps`);
      assert.ok(maxAbsDiff(twoToken.logProb, expected.logProb) < TOLERANCE);
      assert.equal(actual.items.length, 6 * TINY.sessionLength);
    }
    await model.release();
  }
});
