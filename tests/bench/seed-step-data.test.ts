// The exchange file that hands bench/seed_step_torch.py its weights and batches (bench/seed-step-data.ts):
// every weight under its contract name, shape and values, every token id and ignored target back exactly,
// and the schedule and dropout flag the Python side reads. No GPU and no torch needed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { readCheckpoint } from '../../models/engine/checkpoint.ts';
import { trainingInit } from '../../models/seed/model.ts';
import { seedParameterShapes } from '../../models/seed/reference.ts';
import { BOS } from '../../runtime/tokens.ts';
import { fixedBatches, readExchange, SEED_STEP_CONFIGS, syntheticSeedData, trainerSchedule, writeExchange } from '../../bench/seed-step-data.ts';

const dir = mkdtempSync(join(tmpdir(), 'onerec-seed-step-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('exchange file round trip: weights by contract name, token ids exact, schedule and dropout flag', () => {
  const config = { ...SEED_STEP_CONFIGS.tiny, sessionLength: 2 };
  const data = syntheticSeedData(config, 3, 500, 200);
  const batches = fixedBatches(data, config, 8, 3, 2, 3);
  const weights = trainingInit(config, 3);
  const schedule = trainerSchedule(30, 3);
  const path = join(dir, 'x.ckpt');
  writeExchange(path, { config, weights, batches, schedule, dropout: false });

  const back = readExchange(path);
  const shapes = seedParameterShapes(config);
  assert.deepEqual(back.meta.parameters, Object.keys(shapes)); // the Python side builds its parameters in this order
  assert.deepEqual(back.config, config);
  assert.deepEqual(back.schedule, schedule);
  assert.equal(back.dropout, false);
  const tensors = readCheckpoint(path).tensors;
  for (const [name, shape] of Object.entries(shapes)) {
    assert.deepEqual(tensors[name].shape, shape, name);
    assert.deepEqual(back.weights[name], weights[name], name);
  }
  const S = config.maxHistory * config.levels, T = 2 * (config.levels + 1);
  assert.deepEqual(tensors['data.encoder'].shape, [3, 8, S]);
  assert.deepEqual(tensors['data.decoder'].shape, [3, 8, T]);
  batches.forEach((b, i) => {
    assert.deepEqual(back.batches[i].encoderTokens, b.encoderTokens);
    assert.deepEqual(back.batches[i].decoderTokens, b.decoderTokens);
    assert.deepEqual(back.batches[i].targets, b.targets);
    assert.ok(b.targets.includes(-1)); // ignored targets survive as −1
  });
  // [BOS c1 … cL] × window, each position's target the next token unless that is BOS
  const b = back.batches[0];
  for (let p = 0; p + 1 < T; p++) assert.equal(b.targets[p], b.decoderTokens[p + 1] === BOS ? -1 : b.decoderTokens[p + 1]);
  assert.equal(b.targets[T - 1], -1);
});

test('synthetic data and batch order are fixed by the seed', () => {
  const config = { ...SEED_STEP_CONFIGS.tiny, sessionLength: 1 };
  const a = fixedBatches(syntheticSeedData(config, 5, 300, 100), config, 4, 2, 1, 5);
  const b = fixedBatches(syntheticSeedData(config, 5, 300, 100), config, 4, 2, 1, 5);
  const c = fixedBatches(syntheticSeedData(config, 6, 300, 100), config, 4, 2, 1, 6);
  assert.deepEqual(a.map((x) => x.encoderTokens), b.map((x) => x.encoderTokens));
  assert.notDeepEqual(a.map((x) => x.encoderTokens), c.map((x) => x.encoderTokens));
});
