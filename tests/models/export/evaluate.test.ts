// evaluateBundle measures a bundle through onnxruntime-node + the runtime beam search with the seed
// report's protocol: on users whose test item is placed at a known rank of the reference model's beam,
// it returns exactly the metrics that construction implies, and the seed model's own evaluator
// (models/seed/generate.ts over the reference forward) agrees.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readBundle } from '../../../models/export/bundle-reader.ts';
import { exportBundle } from '../../../models/export/bundle-writer.ts';
import { BundleDataMismatchError, evaluateBundle, sampleExamples } from '../../../models/export/evaluate.ts';
import { evalExamples, type SeedData } from '../../../models/seed/batches.ts';
import { ReferenceForward, evaluateRanking } from '../../../models/seed/generate.ts';
import { ReferenceDecoderSession } from '../../../models/seed/reference.ts';
import { seededUniform } from '../../../models/random.ts';
import { beamSearch } from '../../../runtime/beam-search.ts';
import { encoderTokens } from '../../../runtime/tokens.ts';
import { ITEMS, TINY, tinyModel } from './fixture.ts';

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

test('sampleExamples is a seeded subset in the original order', () => {
  const examples = Array.from({ length: 50 }, (_, user) => ({ user, targetStart: 2 }));
  const a = sampleExamples(examples, 10, 3);
  assert.equal(a.length, 10);
  assert.deepEqual(a, sampleExamples(examples, 10, 3));
  assert.notDeepEqual(a, sampleExamples(examples, 10, 4));
  assert.ok(a.every((e, i) => i === 0 || e.user > a[i - 1].user));
  assert.equal(sampleExamples(examples, 0, 3).length, 50);
});
