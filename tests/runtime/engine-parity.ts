// What the tests of the runtime's own seed-model engines share (tests/runtime/webgpu-decoder.test.ts: WGSL;
// tests/runtime/wasm-decoder.test.ts: the wasm kernels): comparing their sessions with onnxruntime's, an ensemble of two
// different members with its graphs, and a bundle whose manifest claims an ensemble its graphs do not hold.
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TINY_CONFIG } from './fixture.ts';
import { initSeedWeights } from '../../models/seed/reference.ts';
import { buildEnsembleDecoderStepGraph, buildEnsembleEncoderGraph, ensembleContractConfig } from '../../models/export/seed-graphs.ts';
import type { SeedConfig } from '../../models/seed/config.ts';
import { createNodeRecommender, type NodeRecommenderOptions } from '../../runtime-node/node-recommender.ts';
import { buildDecoderStepGraph, buildEncoderGraph } from '../../models/export/seed-graphs.ts';
import { OnnxSeedModel } from '../../runtime-node/node-session.ts';
import { beamSearch, type DecoderSession } from '../../runtime/beam-search.ts';
import { SemanticIdTrie } from '../../runtime/semantic-id-trie.ts';
import { BOS, encoderTokens } from '../../runtime/tokens.ts';
import type { Recommender, RecommendResult } from '../../runtime/recommender.ts';

/** Same sessions in the same order (exact item indices), log-probabilities and rewards within `tolerance`. */
export function assertSameSessions(a: RecommendResult, b: RecommendResult, tolerance: number, what: string): void {
  assert.equal(b.rankedBy, a.rankedBy, what);
  assert.deepEqual(b.sessions.map((s) => Array.from(s.items)), a.sessions.map((s) => Array.from(s.items)), what);
  a.sessions.forEach((s, i) => {
    assert.ok(Math.abs(s.logProb - b.sessions[i].logProb) <= tolerance, `${what}: session ${i} log-prob ${s.logProb} vs ${b.sessions[i].logProb}`);
    if (s.reward !== null) assert.ok(Math.abs(s.reward - b.sessions[i].reward!) <= tolerance, `${what}: session ${i} reward`);
  });
}

/** Two recommenders on one bundle: onnxruntime's seed graphs, and the engine `options` select (the reward model on onnxruntime in the first, on the wasm kernels in the second where they read it). */
export async function pair(dir: string, options: NodeRecommenderOptions): Promise<{ onnx: Recommender; engine: Recommender; decoder: string; fallbackReasons: string[] }> {
  const onnx = createNodeRecommender();
  const engine = createNodeRecommender(options);
  await onnx.load(dir);
  const info = await engine.load(dir);
  return { onnx, engine, decoder: info.decoder, fallbackReasons: info.fallbackReasons };
}

/** Two members of different depth, experts and FFN (TINY_CONFIG's tokens and width), seeded weights. */
export function twoMembers(): { a: SeedConfig; b: SeedConfig; members: { weights: Record<string, Float32Array>; config: SeedConfig }[] } {
  const a: SeedConfig = TINY_CONFIG;
  const b: SeedConfig = { ...TINY_CONFIG, encoderLayers: 2, decoderLayers: 1, ffnDim: 32, experts: 2, expertsPerToken: 1, expertFfnDim: 16 };
  return { a, b, members: [{ weights: initSeedWeights(a, 11, 0.3), config: a }, { weights: initSeedWeights(b, 12, 0.3), config: b }] };
}

/** The ensemble's exported graphs and the contract config onnxruntime's session needs. */
export function ensembleGraphs(members: ReturnType<typeof twoMembers>['members'], quantization: 'fp32' | 'int4'): { encoder: Uint8Array; decoder: Uint8Array; contract: SeedConfig } {
  return {
    encoder: buildEnsembleEncoderGraph(members, quantization).bytes,
    decoder: buildEnsembleDecoderStepGraph(members, quantization).bytes,
    contract: ensembleContractConfig(members.map((m) => m.config)),
  };
}

/** A copy of the single-model bundle at `from` whose manifest calls it an ensemble of two: member 1's weights (m1.…) are not in its graphs. */
export function notAnEnsemble(from: string, to: string): string {
  cpSync(from, to, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(to, 'manifest.json'), 'utf8'));
  // Two members splitting the graphs' decoder layers, as an ensemble's manifest has them (the manifest check wants the sum).
  const member = { ...manifest.model, decoderLayers: manifest.model.decoderLayers / 2 };
  writeFileSync(join(to, 'manifest.json'), JSON.stringify({ ...manifest, ensemble: { members: [member, member], combine: 'mean of logits' } }));
  return to;
}

/**
 * recommend() (with and without rerank, cold start included) and score() of `engine` against `onnx` on the tiny test
 * bundle: exact items, log-probabilities and rewards within 1e-4.
 */
export async function assertMatchesOnnx(onnx: Recommender, engine: Recommender): Promise<void> {
  for (const history of [[3, 17, 5, 42, 9], [], [59, 0, 12]]) {
    for (const options of [{ beamWidth: 8 }, { beamWidth: 5, sessionLength: 2, rerank: false }]) {
      assertSameSessions(await onnx.recommend(history, options), await engine.recommend(history, options), 1e-4, `history [${history}] ${JSON.stringify(options)}`);
    }
    // Teacher forcing through the same decoder: every row continues itself, two tokens at item boundaries.
    const sessions = [[1, 2, 3, 4], [10, 20, 30, 40], [59, 58, 57, 56]];
    const [a, b] = [await onnx.score(history, sessions), await engine.score(history, sessions)];
    a.logProb.forEach((v, i) => assert.ok(Math.abs(v - b.logProb[i]) <= 1e-4, `score ${i}: ${v} vs ${b.logProb[i]}`));
  }
}

/**
 * On `notAnEnsemble(…)`'s bundle at `dir` the engine `options` select cannot find member 1's weights: the recommender
 * loads on onnxruntime's seed graphs, says why under `[tag]`, and recommends.
 */
export async function assertFallsBack(dir: string, options: NodeRecommenderOptions, tag: string): Promise<void> {
  const recommender = createNodeRecommender(options);
  try {
    const info = await recommender.load(dir);
    assert.equal(info.decoder, 'onnx');
    assert.ok(info.fallbackReasons.some((r) => r.startsWith(`[${tag}]`) && /no initializer "m1\.tok_emb/.test(r)), info.fallbackReasons.join('; '));
    const result = await recommender.recommend([1, 2, 3], { beamWidth: 4 });
    assert.equal(result.sessions.length, 4);
  } finally {
    await recommender.dispose();
  }
}

/** An engine of the runtime's own seed model, as the ensemble check drives it. */
export interface SeedEngine {
  sessionFromTokens(historyTokens: Int32Array, maxRows: number): DecoderSession;
  dispose(): void;
}

/**
 * An ensemble of `twoMembers()` (fp32 and int4) through the engine `create` makes: the exported graphs' beams under
 * onnxruntime (exact items, log-probs within 1e-4), and first scores unlike those of member 0 alone. `codes`: the tiny
 * bundle's item codes.
 */
export async function assertEnsembleBeams(codes: Uint16Array, create: (decoderOnnx: Uint8Array, encoderOnnx: Uint8Array, configs: SeedConfig | SeedConfig[]) => Promise<SeedEngine>): Promise<void> {
  const trie = SemanticIdTrie.build(codes, TINY_CONFIG.levels, TINY_CONFIG.codebookSize);
  const { a, b, members } = twoMembers();
  for (const quantization of ['fp32', 'int4'] as const) {
    const { encoder, decoder, contract } = ensembleGraphs(members, quantization);
    const onnx = await OnnxSeedModel.create(contract, encoder, decoder);
    const engine = await create(decoder, encoder, [a, b]);
    const alone = await create(buildDecoderStepGraph(members[0].weights, a, quantization).bytes, buildEncoderGraph(members[0].weights, a, quantization).bytes, a);
    try {
      for (const history of [[3, 17, 5, 42, 9], [59, 0]]) {
        const tokens = encoderTokens(Int32Array.from(history), codes, a.levels, a.codebookSize, a.maxHistory);
        const options = { beamWidth: 6, sessionLength: a.sessionLength };
        const want = await beamSearch(onnx.decoderSession(await onnx.encode(tokens), { twoTokenSteps: true }), trie, options);
        const got = await beamSearch(engine.sessionFromTokens(tokens, 6), trie, options);
        assert.deepEqual(Array.from(got.items), Array.from(want.items), `${quantization} history [${history}]`);
        want.logProb.forEach((v, i) => assert.ok(Math.abs(v - got.logProb[i]) <= 1e-4, `${quantization} beam ${i}: ${got.logProb[i]} vs ${v}`));
      }
      // Not member 0 alone: the ensemble's first scores differ from those of a model of member 0's weights only.
      const tokens = encoderTokens(Int32Array.of(3, 17), codes, a.levels, a.codebookSize, a.maxHistory);
      const [x, y] = [await engine.sessionFromTokens(tokens, 1).stepCodeLogProbs!(Int32Array.of(BOS), Int32Array.of(0)), await alone.sessionFromTokens(tokens, 1).stepCodeLogProbs!(Int32Array.of(BOS), Int32Array.of(0))];
      assert.ok(x.some((v, i) => Math.abs(v - y[i]) > 1e-3), 'the ensemble scores like member 0 alone');
    } finally {
      engine.dispose();
      alone.dispose();
      await onnx.release();
    }
  }
}
