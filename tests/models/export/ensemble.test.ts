// An ensemble exported as one bundle (models/export/seed-graphs.ts): its graphs, under onnxruntime-web's wasm backend,
// compute the mean of the members' reference logits at every step, and the runtime's beam search over them returns the
// reference ensemble's sessions — with members of different depth and experts, stacked in one cache.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportBundle } from '../../../models/export/bundle-writer.ts';
import { readBundle } from '../../../runtime-node/bundle-reader.ts';
import { OnnxSeedModel } from '../../../runtime-node/node-session.ts';
import { EnsembleConfigError, buildEnsembleDecoderStepGraph, buildEnsembleEncoderGraph, ensembleContractConfig, type SeedMember } from '../../../models/export/seed-graphs.ts';
import { ReferenceDecoderSession, initSeedWeights, type SeedConfig, type SeedWeights } from '../../../models/seed/reference.ts';
import { beamSearch, type DecoderSession } from '../../../runtime/beam-search.ts';
import { BOS, encoderTokens } from '../../../runtime/tokens.ts';
import { TINY, maxAbsDiff, tinyModel } from './fixture.ts';

const TOLERANCE = 1e-4; // float32 kernels vs the float64-accumulating reference (as parity.test.ts)

/** The reference ensemble: every member's reference decoder on the same rows, logits averaged. */
class MeanOfReferences implements DecoderSession {
  constructor(private readonly members: DecoderSession[]) {}
  async step(tokens: Int32Array, parents: Int32Array): Promise<Float32Array> {
    const outs = await Promise.all(this.members.map((m) => m.step(tokens, parents)));
    return outs[0].map((_, i) => outs.reduce((sum, o) => sum + o[i], 0) / outs.length);
  }
}

function twoMembers(): SeedMember[] {
  const { weights } = tinyModel();
  const other: SeedConfig = { ...TINY, decoderLayers: 1, encoderLayers: 2, experts: 2, expertFfnDim: 16 }; // a different depth and MoE
  return [{ weights, config: TINY }, { weights: initSeedWeights(other, 29, 0.3), config: other }];
}

test('an ensemble\'s contract config stacks the members\' decoder layers; members that cannot share a cache are refused by name', () => {
  const [a, b] = twoMembers();
  assert.equal(ensembleContractConfig([a.config, b.config]).decoderLayers, 3);
  assert.deepEqual(ensembleContractConfig([a.config]), a.config);
  assert.throws(() => ensembleContractConfig([a.config, { ...b.config, heads: 4 }]), (e: Error) => e instanceof EnsembleConfigError && /member 1 differs from member 0 in heads \(4 vs 2\)/.test(e.message));
  assert.throws(() => ensembleContractConfig([a.config, { ...b.config, codebookSize: 16, maxHistory: 7 }]), /codebookSize \(16 vs 8\), maxHistory \(7 vs 5\)/);
  assert.throws(() => ensembleContractConfig([]), EnsembleConfigError);
});

for (const quantization of ['fp32', 'int4'] as const) {
  test(`ensemble graphs (${quantization}) give the mean of the members' reference logits and the reference ensemble's beams`, async () => {
    const members = twoMembers();
    const { codes, trie } = tinyModel();
    const contract = ensembleContractConfig(members.map((m) => m.config));
    const encoder = buildEnsembleEncoderGraph(members, quantization);
    const decoder = buildEnsembleDecoderStepGraph(members, quantization);
    const model = await OnnxSeedModel.create(contract, encoder.bytes, decoder.bytes);
    // Each member's reference runs on the weights the graphs compute with (dequantized where quantized).
    const effective: SeedWeights[] = members.map((m, j) => ({ ...m.weights, ...encoder.memberEffective![j], ...decoder.memberEffective![j] }));
    const reference = (tokens: Int32Array) => new MeanOfReferences(members.map((m, j) => new ReferenceDecoderSession(effective[j], m.config, tokens)));
    for (const history of [[4, 9, 1], [], [0, 1, 2, 3, 4, 5, 6, 7]]) {
      const tokens = encoderTokens(history, codes, TINY.levels, TINY.codebookSize, TINY.maxHistory);
      const encoded = await model.encode(tokens);
      assert.deepEqual(encoded.crossK.dims, [3, 1, TINY.heads, TINY.maxHistory * TINY.levels, TINY.dModel / TINY.heads]);
      // Step by step, with rows that swap and duplicate as a beam makes them.
      const ref = reference(tokens);
      const onnx = model.decoderSession(encoded);
      for (const [t, p] of [[[BOS], [0]], [[2, 3, 4], [0, 0, 0]], [[10, 12], [2, 0]], [[20, 19, 18], [1, 1, 0]]]) {
        const a = await ref.step(Int32Array.from(t), Int32Array.from(p));
        const b = await onnx.step(Int32Array.from(t), Int32Array.from(p));
        assert.ok(maxAbsDiff(a, b) < TOLERANCE, `history [${history}]: max |Δ logit| ${maxAbsDiff(a, b)}`);
      }
      // The runtime's search (two-token steps, code scores) over the graphs = the search over the reference ensemble.
      const exclude = new Uint8Array(trie.itemCount);
      for (const item of history) exclude[item] = 1;
      const options = { beamWidth: 6, sessionLength: TINY.sessionLength, exclude };
      const expected = await beamSearch(reference(tokens), trie, options);
      const actual = await beamSearch(await model.session(tokens, { twoTokenSteps: true }), trie, options);
      assert.deepEqual([...actual.items], [...expected.items], `history [${history}]`);
      assert.ok(maxAbsDiff(actual.logProb, expected.logProb) < TOLERANCE);
      // …and it is neither member alone (the test would not notice a graph that ignored member 1).
      const alone = await beamSearch(new ReferenceDecoderSession(effective[0], TINY, tokens), trie, options);
      assert.ok(maxAbsDiff(alone.logProb, expected.logProb) > 1e-3, `history [${history}]: the ensemble scores like member 0 alone`);
    }
    await model.release();
  });
}

test('an exported ensemble bundle names its members in the manifest and reads back as one model', async () => {
  const members = twoMembers();
  const { trie, catalog } = tinyModel();
  const dir = mkdtempSync(join(tmpdir(), 'onerec-ensemble-'));
  try {
    const exported = await exportBundle({ weights: members[0].weights, config: members[0].config, moreMembers: members.slice(1), trie, catalog, quantization: 'int4', outDir: dir });
    const bundle = await readBundle(dir);
    assert.equal(bundle.manifest.model.decoderLayers, 3);
    assert.equal(bundle.manifest.model.encoderLayers, TINY.encoderLayers); // member 0's own, apart from the stacked cache
    assert.deepEqual(bundle.manifest.ensemble!.members.map((c) => [c.decoderLayers, c.experts]), [[2, 4], [1, 2]]);
    assert.equal(exported.memberEffectiveWeights.length, 2);
    // A plain export has no ensemble field.
    const plain = await exportBundle({ weights: members[0].weights, config: members[0].config, trie, catalog, quantization: 'int4', outDir: join(dir, 'plain') });
    assert.equal(plain.manifest.ensemble, undefined);
    assert.equal(plain.manifest.model.decoderLayers, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
