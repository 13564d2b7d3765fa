// `onerec export` end to end: data prepared by `onerec prepare` (a tiny seeded dataset), a checkpoint written
// by the engine's writer → a bundle that reads back verified, carries the prepared trie and catalog, and
// whose fp32 graphs reproduce the checkpoint's reference logits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../../models/commands/export.ts';
import { DEFAULT_PREPARE_CONFIG, prepare } from '../../../models/data/prepare.ts';
import { loadPrepared } from '../../../models/data/prepared.ts';
import { writeCheckpoint } from '../../../models/engine/checkpoint.ts';
import { rewardParameterShapes, type RewardConfig } from '../../../models/reward/config.ts';
import { readBundle } from '../../../runtime-node/bundle-reader.ts';
import { OnnxSeedModel } from '../../../runtime-node/node-session.ts';
import { lastTrainExamples } from '../../../models/export/history-bias.ts';
import { evaluateBundle } from '../../../models/export/evaluate.ts';
import { HISTORY_GRID, LAMBDA_GRID, trainTransitionTable, transitionTable } from '../../../models/export/transitions-fit.ts';
import { seedDataFromPrepared } from '../../../models/seed/batches.ts';
import { fitHistoryBias, levelStatistics } from '../../../models/seed/history-bias.ts';
import { ReferenceDecoderSession, initSeedWeights, seedParameterShapes, type SeedConfig } from '../../../models/seed/reference.ts';
import { seededUniform } from '../../../models/random.ts';
import { BOS, encoderTokens } from '../../../runtime/tokens.ts';
import { TINY, maxAbsDiff } from './fixture.ts';

/** 40 items with distinct attribute sets, 20 users browsing inside one group (the generic import format). */
function tinyDataset(dir: string): void {
  const uniform = seededUniform(4);
  const items = Array.from({ length: 40 }, (_, i) => JSON.stringify({ item: `i${i}`, title: `Item number ${i}`, attributes: [`group:${i % 4}`, `shade:${i % 3}`, `size:${i % 5}`] }));
  writeFileSync(join(dir, 'items.jsonl'), `${items.join('\n')}\n`);
  const lines = ['user,item,timestamp'];
  for (let u = 0; u < 20; u++) for (let k = 0; k < 6; k++) lines.push(`u${u},i${(u % 4) + 4 * Math.floor(uniform() * 10)},${1_650_000_000 + u * 10 + k * 60}`);
  writeFileSync(join(dir, 'interactions.csv'), `${lines.join('\n')}\n`);
}

test('onerec export writes a verified bundle with the prepared trie and catalog, computing the checkpoint', async () => {
  const root = mkdtempSync(join(tmpdir(), 'onerec-export-'));
  try {
    tinyDataset(root);
    const preparedDir = join(root, 'prepared');
    await prepare({ ...DEFAULT_PREPARE_CONFIG, data: root, out: preparedDir, levels: 3, codebookSize: 8, idDim: 0, maxIterations: 10, evalPairs: 10, content: 'features' }); // K = 8: 40 items never overflow the suffix level
    const prepared = loadPrepared(preparedDir);
    const config: SeedConfig = { ...TINY, levels: prepared.levels, codebookSize: prepared.codebookSize };
    const weights = initSeedWeights(config, 5, 0.3);
    const shapes = seedParameterShapes(config);
    const tensors = Object.fromEntries(Object.entries(weights).map(([n, d]) => [n, { shape: shapes[n], data: d }]));
    tensors['adam.m.lm_head'] = { shape: shapes.lm_head, data: new Float32Array(weights.lm_head.length) }; // skipped by the exporter
    const checkpoint = join(root, 'best.ckpt');
    writeCheckpoint(checkpoint, { kind: 'seed', config, step: 10, rng: {} }, tensors);

    const out = join(root, 'bundle');
    await run([`--checkpoint=${checkpoint}`, `--data=${preparedDir}`, `--out=${out}`, '--quantization=fp32', '--beamWidth=7']);
    const bundle = await readBundle(out);
    assert.equal(bundle.manifest.generation.beamWidth, 7);
    // The transition prior, fitted by default: 10 extra candidates, λ and η from the grid; the grid's (λ 0, η 0) row is
    // the beam's own order, so it equals an evaluation of the bundle with the prior off on the same validation users.
    const prior = bundle.manifest.transitions!;
    const fit = prior.fit as { users: number; candidates: number; grid: { lambda: number; history: number; 'ndcg@10': number }[] };
    assert.equal(prior.candidates, 10);
    assert.equal(fit.candidates, 10);
    assert.equal(fit.grid.length, LAMBDA_GRID.length * HISTORY_GRID.length);
    assert.ok(LAMBDA_GRID.includes(prior.lambda) && HISTORY_GRID.includes(prior.history!));
    const plain = await evaluateBundle(bundle, seedDataFromPrepared(prepared), { split: 'validation', beamWidth: 20, users: 4000, seed: 7, excludeHistory: false, historyBias: bundle.manifest.historyBias!.bias, transitions: false });
    assert.equal(plain.usersEvaluated, fit.users);
    const base = fit.grid.find((g) => g.lambda === 0 && g.history === 0)!;
    assert.ok(Math.abs(base['ndcg@10'] - plain.metrics['ndcg@10']) < 1e-12, `${base['ndcg@10']} vs ${plain.metrics['ndcg@10']}`);
    // The shipped table counts every transition but the test split's (the pair into each validation item too); λ, η
    // were fitted with the training split's. Such a bundle refuses an evaluation on validation with its prior on.
    const seedData = seedDataFromPrepared(prepared);
    assert.equal(prior.through, 'validation');
    const shipped = new Uint8Array(readFileSync(join(out, 'transitions.bin')));
    assert.deepEqual(shipped, transitionTable(seedData, 'validation').encode());
    assert.notDeepEqual(shipped, trainTransitionTable(seedData).encode(), 'the validation pairs add counts here');
    await assert.rejects(evaluateBundle(bundle, seedData, { split: 'validation', beamWidth: 20, users: 10, seed: 7, excludeHistory: false }), (e: Error) => e.name === 'EvaluationLeakError' && /transitions\.through/.test(e.message));
    const throughTrain = join(root, 'bundle-train');
    await run([`--checkpoint=${checkpoint}`, `--data=${preparedDir}`, `--out=${throughTrain}`, '--quantization=fp32', '--transitionsThrough=train']);
    const trainPrior = (await readBundle(throughTrain)).manifest.transitions!;
    assert.equal(trainPrior.through, 'train');
    assert.deepEqual([trainPrior.lambda, trainPrior.history, trainPrior.fit], [prior.lambda, prior.history, prior.fit], 'the same fit: it never reads the shipped table');
    assert.deepEqual(new Uint8Array(readFileSync(join(throughTrain, 'transitions.bin'))), trainTransitionTable(seedData).encode());
    await assert.rejects(run([`--checkpoint=${checkpoint}`, `--data=${preparedDir}`, `--out=${join(root, 'never')}`, '--transitionsThrough=test']), (e: Error) => e.name === 'OptionError' && /--transitionsThrough=test/.test(e.message));
    // A refit (trained through validation): the prior's weights cannot be fitted, so they are given; the bundle says it
    // is a refit and refuses validation, with or without its prior, and `onerec transitions` will not fit it either.
    const refitCkpt = join(root, 'refit.ckpt');
    writeCheckpoint(refitCkpt, { kind: 'seed', config, step: 10, rng: {}, trainThrough: 'validation' }, tensors);
    await assert.rejects(run([`--checkpoint=${refitCkpt}`, `--data=${preparedDir}`, `--out=${join(root, 'never')}`]), (e: Error) => e.name === 'ExportCommandError' && /is a refit .*--transitions=λ --transitionsHistory=η/.test(e.message));
    assert.ok(!existsSync(join(root, 'never')), 'refused before anything is written');
    await assert.rejects(run([`--checkpoint=${checkpoint}`, `--data=${preparedDir}`, `--out=${join(root, 'never')}`, '--transitionsHistory=-4']), (e: Error) => e.name === 'OptionError' && /goes with a fixed weight/.test(e.message));
    const refitOut = join(root, 'bundle-refit');
    await run([`--checkpoint=${refitCkpt}`, `--data=${preparedDir}`, `--out=${refitOut}`, '--quantization=fp32', '--transitions=1', '--transitionsHistory=-4']);
    const refitBundle = await readBundle(refitOut);
    assert.equal(refitBundle.manifest.trainedThrough, 'validation');
    assert.deepEqual([refitBundle.manifest.transitions!.lambda, refitBundle.manifest.transitions!.history, refitBundle.manifest.transitions!.through, refitBundle.manifest.transitions!.fit], [1, -4, 'validation', undefined]);
    await assert.rejects(evaluateBundle(refitBundle, seedData, { split: 'validation', beamWidth: 20, users: 10, seed: 7, excludeHistory: false, transitions: false }), (e: Error) => e.name === 'EvaluationLeakError' && /is a refit/.test(e.message));
    const { run: transitionsRun } = await import('../../../models/commands/transitions.ts');
    await assert.rejects(transitionsRun([`--bundle=${refitOut}`, `--data=${preparedDir}`]), (e: Error) => e.name === 'ExportCommandError' && /is a refit/.test(e.message));
    const { run: evalRun } = await import('../../../models/commands/eval.ts');
    await assert.rejects(evalRun([`--data=${preparedDir}`, `--checkpoint=${refitCkpt}`, '--split=validation', `--out=${join(root, 'never')}`]), (e: Error) => e.name === 'EvaluationLeakError' && /is a refit/.test(e.message));
    assert.deepEqual(bundle.manifest.model, config);
    assert.equal(bundle.itemIds.length, 40);
    assert.equal(bundle.itemIds[3], prepared.items[3].id);
    assert.deepEqual(bundle.catalog?.[3], prepared.items[3]); // titled items: the display catalog is written
    assert.deepEqual([...bundle.trie.itemCodes(11)], [...prepared.trie.itemCodes(11)]);
    const model = await OnnxSeedModel.create(config, bundle.files.encoder!, bundle.files.decoderStep!);
    const tokens = encoderTokens([2, 5], prepared.codes, config.levels, config.codebookSize, config.maxHistory);
    const got = await (await model.session(tokens)).step(Int32Array.of(BOS), Int32Array.of(0));
    const want = await new ReferenceDecoderSession(weights, config, tokens).step(Int32Array.of(BOS), Int32Array.of(0));
    assert.ok(maxAbsDiff(got, want) < 1e-4);
    await model.release();

    // The repeat-awareness layer, fitted by default on each user's last training transition: the same β as the
    // float64 reference forward's statistics give (fp32 graphs: within 1e-3).
    const data = seedDataFromPrepared(prepared);
    const examples = lastTrainExamples(data);
    const levels = Array.from({ length: config.levels }, () => ({ S: new Float64Array(examples.length), y: new Uint8Array(examples.length) }));
    for (const [i, ex] of examples.entries()) {
      const seq = data.sequences[ex.user];
      const session = new ReferenceDecoderSession(weights, config, encoderTokens(seq.subarray(0, ex.targetStart), data.codes, config.levels, config.codebookSize, config.maxHistory));
      const { S, y } = await levelStatistics(session, prepared.trie, seq.subarray(0, ex.targetStart), seq[ex.targetStart], data.codes);
      S.forEach((s, l) => { levels[l].S[i] = s; levels[l].y[i] = y[l]; });
    }
    const reference = fitHistoryBias(levels, 8);
    const fitted = bundle.manifest.historyBias!;
    assert.equal(fitted.fit?.examples, examples.length);
    assert.equal(fitted.bias.length, config.levels);
    fitted.bias.forEach((b, l) => assert.ok(Math.abs(b - reference.bias[l]) < 1e-3, `level ${l}: ${b} vs ${reference.bias[l]}`));
    await run([`--checkpoint=${checkpoint}`, `--data=${preparedDir}`, `--out=${out}`, '--quantization=fp32', '--historyBias=none', '--transitionsCandidates=0']);
    const noBias = (await readBundle(out)).manifest;
    assert.equal(noBias.historyBias, undefined);
    assert.deepEqual([noBias.transitions!.candidates, (noBias.transitions!.fit as { candidates: number }).candidates], [0, 0]); // the prior only reorders the beam
    for (const bad of ['-1', '1.5', '1001']) await assert.rejects(run([`--checkpoint=${checkpoint}`, `--data=${preparedDir}`, `--out=${join(root, 'never')}`, `--transitionsCandidates=${bad}`]), (e: Error) => e.name === 'OptionError' && /--transitionsCandidates=.*0\.\.1000/.test(e.message));
    assert.ok(!existsSync(join(root, 'never')), 'refused before anything is written');
    await run([`--checkpoint=${checkpoint}`, `--data=${preparedDir}`, `--out=${out}`, '--quantization=fp32', `--historyBias=${Array(config.levels).fill(-1.5).join(',')}`]);
    assert.deepEqual((await readBundle(out)).manifest.historyBias, { bias: Array(config.levels).fill(-1.5) });
    await assert.rejects(run([`--checkpoint=${checkpoint}`, `--data=${preparedDir}`, `--out=${out}`, '--historyBias=1,2,x']), new RegExp(`give .fit., .none. or ${config.levels} comma-separated numbers`));

    // Two checkpoints, comma-separated: one ensemble bundle whose logits are the mean of both members' reference
    // logits, its layer fitted on the ensemble; a member that cannot share the cache is refused by name.
    const writeSeed = (path: string, c: SeedConfig, w: Record<string, Float32Array>): void => {
      const sh = seedParameterShapes(c);
      writeCheckpoint(path, { kind: 'seed', config: c, step: 1, rng: {} }, Object.fromEntries(Object.entries(w).map(([n, d]) => [n, { shape: sh[n], data: d }])));
    };
    const otherConfig: SeedConfig = { ...config, decoderLayers: 1, experts: 2, expertFfnDim: 16 };
    const otherWeights = initSeedWeights(otherConfig, 6, 0.3);
    const other = join(root, 'other.ckpt');
    writeSeed(other, otherConfig, otherWeights);
    await run([`--checkpoint=${checkpoint},${other}`, `--data=${preparedDir}`, `--out=${out}`, '--quantization=fp32']);
    const ensemble = await readBundle(out);
    assert.equal(ensemble.manifest.model.decoderLayers, config.decoderLayers + 1);
    assert.deepEqual(ensemble.manifest.ensemble?.members.map((c) => c.experts), [config.experts, 2]);
    assert.equal(ensemble.manifest.historyBias?.bias.length, config.levels);
    const both = await OnnxSeedModel.create(ensemble.manifest.model as SeedConfig, ensemble.files.encoder!, ensemble.files.decoderStep!);
    const mean = await (await both.session(tokens)).step(Int32Array.of(BOS), Int32Array.of(0));
    const second = await new ReferenceDecoderSession(otherWeights, otherConfig, tokens).step(Int32Array.of(BOS), Int32Array.of(0));
    assert.ok(maxAbsDiff(mean, want.map((z, i) => (z + second[i]) / 2)) < 1e-4);
    await both.release();
    const misfit = join(root, 'misfit.ckpt');
    writeSeed(misfit, { ...config, heads: 4 }, weights);
    await assert.rejects(run([`--checkpoint=${checkpoint},${misfit}`, `--data=${preparedDir}`, `--out=${join(root, 'misfit')}`]), (e: Error) => e.name === 'EnsembleConfigError' && /member 1 differs from member 0 in heads \(4 vs 2\)/.test(e.message));

    // With the reward model of onerec align (reward.ckpt: kind 'reward', tower weights in meta.weights).
    const rewardConfig: RewardConfig = { itemCount: 40, dModel: 8, heads: 2, towerHidden: 4, maxHistory: 6, sessionLength: 2, towers: ['swt', 'ltr'] };
    const rewardShapes = rewardParameterShapes(rewardConfig);
    const rewardTensors = Object.fromEntries(Object.entries(rewardShapes).map(([n, shape]) => [n, { shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.05) }]));
    const rewardCheckpoint = join(root, 'reward.ckpt');
    writeCheckpoint(rewardCheckpoint, { kind: 'reward', config: rewardConfig, step: 0, rng: {}, weights: [1, 0.25] }, rewardTensors);
    const metricsFile = join(root, 'report.json');
    writeFileSync(metricsFile, JSON.stringify({ 'recall@10': 0.25, users: 20 }));
    await run([`--checkpoint=${checkpoint}`, `--reward=${rewardCheckpoint}`, `--metrics=${metricsFile}`, `--data=${preparedDir}`, `--out=${out}`, '--quantization=int8']);
    const withReward = await readBundle(out);
    assert.deepEqual(withReward.manifest.reward?.weights, [1, 0.25]);
    assert.deepEqual(withReward.manifest.metrics, { 'recall@10': 0.25, users: 20 });
    assert.deepEqual(withReward.manifest.reward?.towers.map((t) => t.name), ['swt', 'ltr']);
    assert.ok(withReward.files.reward && withReward.files.reward.length > 0);

    await assert.rejects(run([`--checkpoint=${checkpoint}`, `--data=${preparedDir}`, `--out=${out}`, '--quantization=int3']), /int3 is not one of fp32, int8, int4/);
    writeCheckpoint(checkpoint, { kind: 'reward', config, step: 1, rng: {} }, tensors);
    await assert.rejects(run([`--checkpoint=${checkpoint}`, `--data=${preparedDir}`, `--out=${out}`]), (e: Error) => e.name === 'ExportCommandError' && /'reward' checkpoint/.test(e.message));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
