// `onerec export` end to end on a checkpoint written by the engine's writer and a prepared-data folder:
// the bundle reads back verified and its fp32 graphs reproduce the checkpoint's reference logits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../../models/commands/export.ts';
import { writeCheckpoint } from '../../../models/engine/checkpoint.ts';
import { readBundle } from '../../../models/export/bundle-reader.ts';
import { OnnxSeedModel } from '../../../models/export/node-session.ts';
import { ReferenceDecoderSession, seedParameterShapes } from '../../../models/seed/reference.ts';
import { BOS, encoderTokens } from '../../../runtime/tokens.ts';
import { TINY, maxAbsDiff, tinyModel } from './fixture.ts';

test('onerec export writes a verified bundle whose graphs compute the checkpoint', async () => {
  const root = mkdtempSync(join(tmpdir(), 'onerec-export-'));
  try {
    const { weights, codes, trie, catalog } = tinyModel();
    const data = join(root, 'prepared');
    const checkpoint = join(root, 'best.ckpt');
    const out = join(root, 'bundle');
    mkdirSync(data);
    writeFileSync(join(data, 'semantic-ids.bin'), trie.toBytes());
    writeFileSync(join(data, 'items.json'), JSON.stringify(catalog));
    const shapes = seedParameterShapes(TINY);
    const tensors = Object.fromEntries(Object.entries(weights).map(([n, d]) => [n, { shape: shapes[n], data: d }]));
    tensors['adam.m.lm_head'] = { shape: shapes.lm_head, data: new Float32Array(weights.lm_head.length) };
    writeCheckpoint(checkpoint, { kind: 'seed', config: TINY, step: 10, rng: {} }, tensors);

    await run([`--checkpoint=${checkpoint}`, `--data=${data}`, `--out=${out}`, '--quantization=fp32', '--beamWidth=7']);
    const bundle = await readBundle(out);
    assert.equal(bundle.manifest.generation.beamWidth, 7);
    assert.deepEqual(bundle.manifest.model, TINY);
    assert.equal(bundle.catalog[3].title, catalog[3].title);
    const model = await OnnxSeedModel.create(TINY, bundle.files.encoder!, bundle.files.decoderStep!);
    const tokens = encoderTokens([2, 5], codes, TINY.levels, TINY.codebookSize, TINY.maxHistory);
    const a = await (await model.session(tokens)).step(Int32Array.of(BOS), Int32Array.of(0));
    const b = await new ReferenceDecoderSession(weights, TINY, tokens).step(Int32Array.of(BOS), Int32Array.of(0));
    assert.ok(maxAbsDiff(a, b) < 1e-4);
    await model.release();

    await assert.rejects(run([`--checkpoint=${checkpoint}`, `--data=${data}`, `--out=${out}`, '--quantization=int3']), /int3 is not one of fp32, int8, int4/);
    await assert.rejects(run([`--checkpoint=${checkpoint}`, `--data=${join(root, 'nowhere')}`, `--out=${out}`]), /onerec prepare/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
