// evaluateBundle measures a bundle through the runtime's recommend() (its wasm kernels) with the seed report's
// protocol: on users whose test item is placed at a known rank of the reference model's beam, it returns exactly the
// metrics that construction implies, and the seed model's own evaluator (models/seed/generate.ts over the reference
// forward) agrees. On the shipped Beauty bundle its ranked items are, id for id, those of a plain recommend() call.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readBundle } from '../../../runtime-node/bundle-reader.ts';
import { exportBundle } from '../../../models/export/bundle-writer.ts';
import { BundleDataMismatchError, BundleEvaluator, evaluateBundle, sampleExamples } from '../../../models/export/evaluate.ts';
import { createNodeRecommender } from '../../../runtime-node/node-recommender.ts';
import { evalExamples, type SeedData } from '../../../models/seed/batches.ts';
import { ReferenceForward, evaluateRanking } from '../../../models/seed/generate.ts';
import { ReferenceDecoderSession } from '../../../models/seed/reference.ts';
import { seededUniform } from '../../../models/random.ts';
import { beamSearch } from '../../../runtime/beam-search.ts';
import { encoderTokens } from '../../../runtime/tokens.ts';
import { ITEMS, TINY, tinyModel } from './fixture.ts';
import { writeTestBundle } from '../../runtime/fixture.ts';

const USERS = 12;
const BEAM = 20;

test('evaluateBundle gives the metrics implied by targets placed at known beam ranks, as the seed evaluator does', async () => {
  const { weights, codes, trie, catalog } = tinyModel();
  const dir = mkdtempSync(join(tmpdir(), 'onerec-eval-'));
  try {
    const exported = await exportBundle({ weights, config: TINY, trie, catalog, quantization: 'int4', outDir: dir });
    const uniform = seededUniform(21);
    const sequences: Int32Array[] = [];
    const ranks: number[] = [];
    let historyInTop10 = 0;
    let top1History = 0;
    for (let u = 0; u < USERS; u++) {
      const prefix = Array.from({ length: 3 + (u % 3) }, () => Math.floor(uniform() * ITEMS));
      const tokens = encoderTokens(prefix, codes, TINY.levels, TINY.codebookSize, TINY.maxHistory);
      // The bundle computes with the int4-dequantized weights; place the target at rank u of their beam.
      const beam = await beamSearch(new ReferenceDecoderSession(exported.effectiveWeights, TINY, tokens), trie, { beamWidth: BEAM, sessionLength: 1 });
      const rank = u < 11 ? u : -1;
      const target = rank >= 0 ? beam.items[rank] : [...Array(ITEMS).keys()].find((i) => !beam.items.includes(i))!;
      ranks.push(rank);
      sequences.push(Int32Array.from([...prefix, target]));
      const own = new Set(prefix); // the test example's history: the prefix (its last item is the validation target)
      historyInTop10 += Array.from(beam.items.subarray(0, 10)).filter((i) => own.has(i)).length;
      if (own.has(beam.items[0])) top1History++;
    }
    // The last item is the test target; the one before it (the prefix's last) the validation target.
    const data: SeedData = { itemCount: ITEMS, levels: TINY.levels, codebookSize: TINY.codebookSize, codes, sequences };
    const report = await evaluateBundle(await readBundle(dir), data, { split: 'test', beamWidth: BEAM, users: 0, seed: 1, excludeHistory: false });
    const hit = (k: number): number => ranks.filter((r) => r >= 0 && r < k).length / USERS;
    const gain = (k: number): number => ranks.filter((r) => r >= 0 && r < k).reduce((s, r) => s + 1 / Math.log2(r + 2), 0) / USERS;
    const m = report.metrics;
    assert.equal(report.engine, 'wasm-simd', report.fallbackReasons.join('; '));
    assert.equal(m.users, USERS);
    assert.ok(Math.abs(m['recall@5'] - hit(5)) < 1e-12 && Math.abs(m['recall@10'] - hit(10)) < 1e-12, JSON.stringify(m));
    assert.ok(Math.abs(m['ndcg@5'] - gain(5)) < 1e-12 && Math.abs(m['ndcg@10'] - gain(10)) < 1e-12, JSON.stringify(m));
    const seedEvaluator = await evaluateRanking(new ReferenceForward(exported.effectiveWeights, TINY), data, trie, evalExamples(data, 'test'), { beamWidth: BEAM, usersPerBatch: 4, excludeHistory: false });
    assert.deepEqual(m, seedEvaluator);
    // NDCG@10's standard error and the diagnostics: the rank histogram is the construction's; the user's own history items among the first 10 are
    // counted from the same beams; with the history excluded there are none.
    const d = report.diagnostics;
    assert.equal(d.rank_histogram.length, BEAM + 1);
    assert.deepEqual(d.rank_histogram, Array.from({ length: BEAM + 1 }, (_, r) => ranks.filter((x) => (r === BEAM ? x < 0 : x === r)).length));
    const gains = ranks.map((r) => (r >= 0 && r < 10 ? 1 / Math.log2(r + 2) : 0));
    const mean = gains.reduce((a, b) => a + b) / USERS;
    assert.ok(Math.abs(m['ndcg@10_se'] - Math.sqrt(gains.reduce((a, g) => a + (g - mean) ** 2, 0) / USERS / USERS)) < 1e-12);
    assert.equal(d.history_items_in_top10, historyInTop10 / USERS);
    assert.equal(d.top1_in_history, top1History / USERS);
    assert.ok(historyInTop10 > 0, 'the fixture puts history items in some top-10s (else the count is untested)');
    // Worker threads split the users; merged in order, the report is the same to the last bit.
    const parallel = await evaluateBundle(await readBundle(dir), data, { split: 'test', beamWidth: BEAM, users: 0, seed: 1, excludeHistory: false, workers: 3 });
    assert.equal(parallel.workers, 3);
    assert.deepEqual(parallel.metrics, report.metrics);
    assert.deepEqual(parallel.diagnostics, report.diagnostics);
    const excluded = await evaluateBundle(await readBundle(dir), data, { split: 'test', beamWidth: BEAM, users: 0, seed: 1, excludeHistory: true });
    assert.equal(excluded.diagnostics.history_items_in_top10, 0);
    assert.equal(excluded.diagnostics.top1_in_history, 0);
    assert.equal(report.bundle.quantization, 'int4');
    assert.equal(report.bundle.bytes, exported.totalBytes);

    const otherCodes = codes.slice();
    otherCodes[3] = (otherCodes[3] + 1) % TINY.codebookSize;
    await assert.rejects(evaluateBundle(await readBundle(dir), { ...data, codes: otherCodes }), BundleDataMismatchError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--historyBias=b1,…: β the manifest lacks are evaluated on a copy of the bundle carrying them, as that bundle would ship', async () => {
  const root = mkdtempSync(join(tmpdir(), 'onerec-eval-bias-'));
  try {
    const bias = [-2, -1, -3];
    const plain = await writeTestBundle(join(root, 'plain'), { items: 40, seed: 11 });
    await writeTestBundle(join(root, 'biased'), { items: 40, seed: 11, historyBias: bias });
    const uniform = seededUniform(8);
    const sequences = Array.from({ length: 10 }, () => Int32Array.from({ length: 6 }, () => Math.floor(uniform() * 40)));
    const data: SeedData = { itemCount: 40, levels: plain.config.levels, codebookSize: plain.config.codebookSize, codes: plain.codes, sequences };
    const options = { split: 'test', beamWidth: 20, users: 0, seed: 1, excludeHistory: false } as const;
    const copied = await evaluateBundle(await readBundle(join(root, 'plain')), data, { ...options, historyBias: bias });
    const shipped = await evaluateBundle(await readBundle(join(root, 'biased')), data, { ...options, historyBias: bias });
    const without = await evaluateBundle(await readBundle(join(root, 'plain')), data, { ...options, historyBias: null });
    assert.deepEqual(copied.diagnostics, shipped.diagnostics);
    assert.deepEqual(copied.metrics, shipped.metrics);
    assert.ok(copied.diagnostics.history_items_in_top10 < without.diagnostics.history_items_in_top10, 'negative β demote history items');
    await assert.rejects(BundleEvaluator.open(join(root, 'plain'), { ...options, historyBias: bias }), /not \[-2,-1,-3\]; evaluateBundle runs other β on a copy/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('sampleExamples is a seeded subset in the original order', () => {
  const examples = Array.from({ length: 50 }, (_, user) => ({ user, targetStart: 2 }));
  const a = sampleExamples(examples, 10, 3);
  assert.equal(a.length, 10);
  assert.deepEqual(a, sampleExamples(examples, 10, 3));
  assert.notDeepEqual(a, sampleExamples(examples, 10, 4));
  assert.ok(a.every((e, i) => i === 0 || e.user > a[i - 1].user));
  assert.equal(sampleExamples(examples, 0, 3).length, 50);
});

const BEAUTY = join(import.meta.dirname, '..', '..', '..', 'models', 'bundles', 'beauty');

test('the shipped Beauty bundle: the eval path ranks exactly the ids of the runtime\'s own recommend(), and scores their ranks', async (t) => {
  if (!existsSync(join(BEAUTY, 'manifest.json'))) return t.skip('models/bundles/beauty is not in this checkout');
  const bundle = await readBundle(BEAUTY);
  const { levels, codebookSize, itemCount } = bundle.trie;
  const codes = new Uint16Array(itemCount * levels); // [items, levels]
  for (let i = 0; i < itemCount; i++) codes.set(bundle.trie.itemCodes(i), i * levels);
  const uniform = seededUniform(5);
  // Histories of 3, 12 and 27 items (the encoder reads the last 20; the exclusion and the bias all of them).
  const histories = [3, 12, 27].map((n) => Array.from({ length: n }, () => Math.floor(uniform() * itemCount)));
  const runtime = createNodeRecommender({ engine: 'wasm' });
  await runtime.load(BEAUTY);
  try {
    // eval's default (the history kept, the manifest's layer applied) and --excludeHistory (the layer off), against the
    // runtime's defaults for the same intent: no reward model here, so log-probability order either way.
    for (const [excludeHistory, historyBias] of [[false, bundle.manifest.historyBias!.bias], [true, null]] as const) {
      const direct = await Promise.all(histories.map((h) => runtime.recommend(h, { sessionLength: 1, beamWidth: 20, ...(excludeHistory ? {} : { excludeHistory: false }) })));
      // Each user's test target at a known rank of the runtime's list: 0, 4 and 13.
      const ranks = [0, 4, 13];
      const sequences = histories.map((h, u) => Int32Array.from([...h, direct[u].sessions[ranks[u]].items[0]]));
      const data: SeedData = { itemCount, levels, codebookSize, codes, sequences };
      const options = { split: 'test', beamWidth: 20, users: 0, seed: 1, excludeHistory, historyBias } as const;
      const evaluator = await BundleEvaluator.open(BEAUTY, { ...options, historyBias: historyBias && [...historyBias] });
      try {
        assert.equal(evaluator.info.decoder, 'wasm-simd');
        for (const [u, h] of histories.entries()) {
          const result = await evaluator.user(data, { user: u, targetStart: h.length });
          assert.deepEqual(Array.from(result.items, (i) => bundle.itemIds[i]), direct[u].sessions.map((s) => s.ids[0]), `user ${u}, excludeHistory ${excludeHistory}`);
          assert.equal(result.rank, ranks[u]);
        }
      } finally {
        await evaluator.close();
      }
      const report = await evaluateBundle(bundle, data, { ...options, historyBias: historyBias && [...historyBias] });
      assert.deepEqual(report.diagnostics.rank_histogram.flatMap((n, r) => Array(n).fill(r)), ranks);
      assert.equal(report.metrics['recall@5'], 2 / 3);
      assert.equal(report.metrics['recall@10'], 2 / 3);
    }
  } finally {
    await runtime.dispose();
  }
});
