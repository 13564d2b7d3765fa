// The executable spec checks itself: the incremental decoder with a beam-gathered KV cache equals the full
// causal decoder, PAD keys are invisible, MoE routes top-2 with ties to the lower index.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ReferenceDecoderSession, SeedWeightsError, checkSeedWeights, decodeFull, decoderTokens, encode, gelu, initSeedWeights,
  layerNorm, linear, moe, seedVocabSize, topExperts, type SeedConfig,
} from '../../../models/seed/reference.ts';
import { BOS, PAD, encoderTokens } from '../../../runtime/tokens.ts';

export const TINY: SeedConfig = {
  codebookSize: 4, levels: 3, dModel: 16, heads: 2, encoderLayers: 2, decoderLayers: 2, ffnDim: 24, experts: 4,
  expertsPerToken: 2, expertFfnDim: 12, maxHistory: 4, sessionLength: 3, moeAuxWeight: 0.01, dropout: 0,
};
const codes = Uint16Array.from([0, 1, 0, 1, 2, 0, 3, 3, 0, 2, 0, 1, 1, 1, 0]); // [5 items, 3 levels]

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('building blocks: linear, layerNorm and the tanh GELU match hand-computed values', () => {
  const y = linear(Float32Array.of(1, 2), 1, 2, Float32Array.of(1, 2, 3, 4, 5, 6), Float32Array.of(0.5, 0, -1), 3);
  assert.deepEqual([...y], [9.5, 12, 14]); // [1,2] @ [[1,2,3],[4,5,6]] + b
  const n = layerNorm(Float32Array.of(1, 3), 1, 2, Float32Array.of(2, 2), Float32Array.of(0, 1), );
  assert.ok(Math.abs(n[0] + 2) < 1e-4 && Math.abs(n[1] - 3) < 1e-4, `layerNorm gave ${n}`);
  const g = gelu(Float32Array.of(0, 1, -1));
  assert.ok(maxAbsDiff(g, [0, 0.841192, -0.158808]) < 1e-5, `gelu gave ${g}`);
});

test('topExperts breaks ties towards the lower expert index', () => {
  assert.deepEqual(topExperts([0.1, 0.3, 0.3, 0.3], 2), [1, 2]);
  assert.deepEqual(topExperts([0.5, 0.1, 0.1, 0.3], 2), [0, 3]);
});

test('MoE with a zero router averages experts 0 and 1 with gates 1/2', () => {
  const w = initSeedWeights(TINY, 3, 0.2);
  w['dec.0.moe.router'].fill(0);
  const d = TINY.dModel;
  const h = initSeedWeights(TINY, 4, 1)['dec.pos'].slice(0, 2 * d); // [2, d]
  const out = moe(w, TINY, 0, h, 2);
  const F = TINY.expertFfnDim;
  for (let r = 0; r < 2; r++) {
    const expected = new Float64Array(d);
    for (const e of [0, 1]) {
      const hidden = gelu(linear(h.subarray(r * d, (r + 1) * d), 1, d, w['dec.0.moe.w1'].subarray(e * d * F, (e + 1) * d * F), w['dec.0.moe.b1'].subarray(e * F, (e + 1) * F), F));
      const y = linear(hidden, 1, F, w['dec.0.moe.w2'].subarray(e * F * d, (e + 1) * F * d), w['dec.0.moe.b2'].subarray(e * d, (e + 1) * d), d);
      for (let i = 0; i < d; i++) expected[i] += 0.5 * y[i];
    }
    assert.ok(maxAbsDiff(out.subarray(r * d, (r + 1) * d), expected) < 1e-6);
  }
});

test('initSeedWeights is seeded and checkSeedWeights names a wrong parameter', () => {
  const a = initSeedWeights(TINY, 11);
  assert.deepEqual(a.lm_head, initSeedWeights(TINY, 11).lm_head);
  assert.notDeepEqual(a.lm_head, initSeedWeights(TINY, 12).lm_head);
  checkSeedWeights(a, TINY);
  const broken = { ...a, 'dec.1.moe.w2': new Float32Array(5) };
  assert.throws(() => checkSeedWeights(broken, TINY), (e: Error) => e instanceof SeedWeightsError && e.name === 'SeedWeightsError' && /dec\.1\.moe\.w2/.test(e.message));
});

test('encoder: PAD keys are invisible to real tokens', () => {
  const w = initSeedWeights(TINY, 5, 0.2);
  const tokens = encoderTokens([2, 0], codes, TINY.levels, TINY.codebookSize, TINY.maxHistory); // 2 of 4 slots PAD
  const a = encode(w, TINY, tokens);
  const d = TINY.dModel;
  const changed = { ...w, tok_emb: w.tok_emb.slice() };
  for (let i = 0; i < d; i++) changed.tok_emb[PAD * d + i] += (i % 3) - 1; // not a constant shift, which LayerNorm would remove
  const b = encode(changed, TINY, tokens);
  const firstReal = 2 * TINY.levels;
  assert.ok(maxAbsDiff(a.memory.subarray(firstReal * d), b.memory.subarray(firstReal * d)) < 1e-6);
  assert.ok(maxAbsDiff(a.memory.subarray(0, d), b.memory.subarray(0, d)) > 1e-3, 'PAD rows themselves do change');
  assert.deepEqual([...a.memoryBias.subarray(0, firstReal)].every((v) => v < -1e8), true);
});

test('incremental steps with a beam-gathered cache equal the full causal decoder on each row', async () => {
  const w = initSeedWeights(TINY, 9, 0.3);
  const history = encoderTokens([1, 4, 3], codes, TINY.levels, TINY.codebookSize, TINY.maxHistory);
  const session = new ReferenceDecoderSession(w, TINY, history);
  const V = seedVocabSize(TINY);
  // Row histories as token sequences; the parents below swap and duplicate rows between steps.
  const steps: { tokens: number[]; parents: number[] }[] = [
    { tokens: [BOS], parents: [0] },
    { tokens: [2, 3], parents: [0, 0] },
    { tokens: [7, 6, 8], parents: [1, 0, 1] },
    { tokens: [11, 12], parents: [2, 0] },
    { tokens: [BOS, BOS], parents: [1, 0] },
  ];
  let rows: number[][] = [[]];
  for (const { tokens, parents } of steps) {
    rows = tokens.map((t, b) => [...rows[parents[b]], t]);
    const logits = await session.step(Int32Array.from(tokens), Int32Array.from(parents));
    for (let b = 0; b < rows.length; b++) {
      const full = decodeFull(w, TINY, session.encoder, Int32Array.from(rows[b]));
      const last = full.subarray((rows[b].length - 1) * V, rows[b].length * V);
      assert.ok(maxAbsDiff(logits.subarray(b * V, (b + 1) * V), last) < 1e-4, `row ${b} at length ${rows[b].length}`);
    }
  }
  await assert.rejects(session.step(Int32Array.of(2), Int32Array.of(5)), SeedWeightsError);
});

test('decoderTokens lays out [BOS c1 … c_levels] per item', () => {
  assert.deepEqual([...decoderTokens([1, 3], codes, 3, 4)], [BOS, 3, 8, 10, BOS, 4, 6, 11]);
});
