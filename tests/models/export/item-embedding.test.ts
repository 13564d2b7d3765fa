// onerec export refuses a seed model with item embeddings (config.itemEmbedding): the runtime and the ONNX graph
// contract do not compute enc.item_emb, so a bundle of it would rank differently from the evaluated model.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { writeCheckpoint } from '../../../models/engine/checkpoint.ts';
import { exportBundle } from '../../../models/export/bundle-writer.ts';
import { readSeedCheckpoint } from '../../../models/export/export-checkpoints.ts';
import type { SeedConfig } from '../../../models/seed/config.ts';
import { initSeedWeights, seedParameterShapes } from '../../../models/seed/reference.ts';
import { SemanticIdTrie } from '../../../runtime/semantic-id-trie.ts';

const OFF: SeedConfig = {
  codebookSize: 4, levels: 2, dModel: 8, heads: 2, encoderLayers: 1, decoderLayers: 1, ffnDim: 16,
  experts: 2, expertsPerToken: 1, expertFfnDim: 8, maxHistory: 3, sessionLength: 1, moeAuxWeight: 0, dropout: 0,
};
const ON: SeedConfig = { ...OFF, itemEmbedding: true, itemCount: 6 };
const codes = new Uint16Array([0, 0, 0, 1, 1, 0, 2, 3, 2, 1, 3, 2]); // [6 items, 2 levels]
const dir = mkdtempSync(join(tmpdir(), 'onerec-item-emb-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function checkpoint(name: string, config: SeedConfig): string {
  const weights = initSeedWeights(config, 1);
  const shapes = seedParameterShapes(config);
  const path = join(dir, name);
  writeCheckpoint(path, { kind: 'seed', config, step: 0, rng: {} }, Object.fromEntries(Object.entries(weights).map(([n, data]) => [n, { shape: shapes[n], data }])));
  return path;
}

const refusal = (e: Error): boolean => e.name === 'RuntimeUnsupportedModelError' && /item embeddings/.test(e.message) && /runtime/.test(e.message) && /--itemEmbedding/.test(e.message);

test('a checkpoint with item embeddings is refused with RuntimeUnsupportedModelError; one without (or with itemEmbedding: false) is read', () => {
  assert.throws(() => readSeedCheckpoint(checkpoint('on.ckpt', ON)), refusal);
  assert.equal(readSeedCheckpoint(checkpoint('off.ckpt', OFF)).config.itemEmbedding, undefined);
  assert.equal(readSeedCheckpoint(checkpoint('false.ckpt', { ...OFF, itemEmbedding: false })).config.itemEmbedding, false);
});

test('exportBundle refuses such a model (alone or as an ensemble member) before writing anything', async () => {
  const trie = SemanticIdTrie.build(codes, 2, 4);
  const catalog = Array.from({ length: 6 }, (_, i) => ({ id: `item${i}` }));
  const base = { trie, catalog, quantization: 'fp32' as const };
  const alone = join(dir, 'alone');
  await assert.rejects(() => exportBundle({ ...base, weights: initSeedWeights(ON, 1), config: ON, outDir: alone }), refusal);
  const member = join(dir, 'member');
  await assert.rejects(() => exportBundle({ ...base, weights: initSeedWeights(OFF, 1), config: OFF, moreMembers: [{ weights: initSeedWeights(ON, 2), config: ON }], outDir: member }), refusal);
  assert.ok(!existsSync(alone) && !existsSync(member));
});
