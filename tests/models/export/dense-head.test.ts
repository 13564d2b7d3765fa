// onerec export refuses a seed model with a dense retrieval head (config.denseHead): the runtime and the ONNX graph
// contract do not compute it, so a bundle would rank by the beam alone, not by the hybrid ranking it was evaluated with.
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
const ON: SeedConfig = { ...OFF, denseHead: true };
const codes = new Uint16Array([0, 0, 0, 1, 1, 0, 2, 3, 2, 1, 3, 2]); // [6 items, 2 levels]
const dir = mkdtempSync(join(tmpdir(), 'onerec-dense-head-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const refusal = (e: Error): boolean => e.name === 'RuntimeUnsupportedModelError' && /dense retrieval head/.test(e.message) && /runtime/.test(e.message) && /--denseHead/.test(e.message);

test('readSeedCheckpoint refuses a denseHead checkpoint and reads one without the head or with denseHead: false; exportBundle refuses the model alone or in an ensemble, writing nothing', async () => {
  const shapes = seedParameterShapes(ON);
  const weights = initSeedWeights(ON, 1);
  const tensors = Object.fromEntries(Object.entries(weights).map(([n, data]) => [n, { shape: shapes[n], data }]));
  const saved = (config: SeedConfig): string => {
    const path = join(dir, `${JSON.stringify(config.denseHead)}.ckpt`);
    const names = Object.keys(seedParameterShapes(config));
    writeCheckpoint(path, { kind: 'seed', config, step: 0, rng: {} }, Object.fromEntries(names.map((n) => [n, tensors[n]])));
    return path;
  };
  assert.throws(() => readSeedCheckpoint(saved(ON)), refusal);
  for (const config of [OFF, { ...OFF, denseHead: false }]) assert.equal(readSeedCheckpoint(saved(config)).config.denseHead, config.denseHead);
  const trie = SemanticIdTrie.build(codes, 2, 4);
  const catalog = Array.from({ length: 6 }, (_, i) => ({ id: `item${i}` }));
  for (const [outDir, members] of [[join(dir, 'alone'), []], [join(dir, 'member'), [{ weights, config: ON }]]] as const) {
    const first = members.length === 0 ? { weights, config: ON } : { weights: initSeedWeights(OFF, 2), config: OFF };
    await assert.rejects(() => exportBundle({ ...first, moreMembers: [...members], trie, catalog, quantization: 'fp32', outDir }), refusal);
    assert.ok(!existsSync(outDir), outDir);
  }
});
