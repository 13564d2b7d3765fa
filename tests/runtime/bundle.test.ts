// A bundle written by exportBundle reads back verified; a wrong sha256, a truncated or non-ONNX model file
// and a manifest of an unknown version each give a typed error naming the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { readBundle } from '../../runtime-node/bundle-reader.ts';
import { exportBundle } from '../../models/export/bundle-writer.ts';
import { onnxStructureProblem, parseManifest } from '../../runtime/bundle.ts';
import { GRAPH_CONTRACT_VERSION } from '../../runtime/model-config.ts';
import { tinyModel } from '../models/export/fixture.ts';
import { rewardParameterShapes } from '../../models/reward/config.ts';

async function freshBundle(quantization: 'fp32' | 'int4' = 'fp32') {
  const dir = mkdtempSync(join(tmpdir(), 'onerec-bundle-'));
  const { weights, config, trie, catalog } = tinyModel();
  const exported = await exportBundle({ weights, config, trie, catalog, quantization, outDir: dir, name: 'tiny' });
  return { dir, exported, trie, catalog };
}

function rewriteManifest(dir: string, edit: (m: Record<string, any>) => void): void {
  const path = join(dir, 'manifest.json');
  const manifest = JSON.parse(readFileSync(path, 'utf8'));
  edit(manifest);
  writeFileSync(path, JSON.stringify(manifest));
}

test('exportBundle writes a manifest with every file size and sha256, and readBundle verifies it', async () => {
  const { dir, exported, trie, catalog } = await freshBundle('int4');
  try {
    const bundle = await readBundle(dir);
    assert.equal(bundle.manifest.quantization, 'int4');
    assert.deepEqual(Object.keys(bundle.manifest.files).sort(), ['catalog', 'decoderStep', 'encoder', 'items']);
    assert.equal(bundle.manifest.version, 2);
    assert.equal(bundle.manifest.contract, GRAPH_CONTRACT_VERSION);
    for (const [role, file] of Object.entries(bundle.manifest.files)) {
      const bytes = readFileSync(join(dir, file!.path));
      assert.equal(file!.bytes, bytes.length, role);
      assert.equal(file!.sha256, createHash('sha256').update(bytes).digest('hex'), role);
    }
    assert.equal(bundle.manifest.tokens.vocabSize, 2 + 3 * 8);
    assert.equal(bundle.trie.itemCount, trie.itemCount);
    assert.deepEqual([...bundle.trie.itemCodes(7)], [...trie.itemCodes(7)]);
    assert.deepEqual(bundle.itemIds, catalog.map((entry) => entry.id));
    assert.deepEqual(bundle.catalog?.[5], catalog[5]);
    assert.equal(exported.totalBytes, Object.values(bundle.manifest.files).reduce((s, f) => s + f!.bytes, 0));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a file that does not match its sha256 is a BundleIntegrityError naming the file', async () => {
  const { dir } = await freshBundle();
  try {
    const path = join(dir, 'decoder_step.onnx');
    const bytes = readFileSync(path);
    bytes[bytes.length - 5] ^= 1;
    writeFileSync(path, bytes);
    await assert.rejects(readBundle(dir), (e: Error) => e.name === 'BundleIntegrityError' && e.message.includes('decoder_step.onnx'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a truncated ONNX file listed with its own (matching) hash is a BundleFormatError naming the file', async () => {
  const { dir } = await freshBundle();
  try {
    const path = join(dir, 'encoder.onnx');
    const truncated = readFileSync(path).subarray(0, 5000);
    writeFileSync(path, truncated);
    rewriteManifest(dir, (m) => {
      m.files.encoder.bytes = truncated.length;
      m.files.encoder.sha256 = createHash('sha256').update(truncated).digest('hex');
    });
    await assert.rejects(readBundle(dir), (e: Error) => e.name === 'BundleFormatError' && /encoder\.onnx/.test(e.message) && /truncated/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('onnxStructureProblem accepts a model and rejects JSON text, empty bytes and a cut varint', async () => {
  const { dir } = await freshBundle();
  try {
    const model = new Uint8Array(readFileSync(join(dir, 'encoder.onnx')));
    assert.equal(onnxStructureProblem(model), null);
    assert.match(onnxStructureProblem(new TextEncoder().encode('{"format":"onerec-bundle"}')) ?? '', /wire type|field|ir_version|past the end/);
    assert.match(onnxStructureProblem(new Uint8Array(0)) ?? '', /ir_version/);
    assert.match(onnxStructureProblem(Uint8Array.of(0x08, 0x88)) ?? '', /varint runs past the end/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a manifest of another layout version or graph contract is a BundleVersionError naming the fix; inconsistent tokens a BundleFormatError', async () => {
  const { dir } = await freshBundle();
  try {
    const good = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    rewriteManifest(dir, (m) => (m.version = 1));
    await assert.rejects(readBundle(dir), (e: Error) => e.name === 'BundleVersionError' && /manifest\.json/.test(e.message) && /"version" 1 is an older bundle layout/.test(e.message) && /onerec migrate --bundle/.test(e.message));
    rewriteManifest(dir, (m) => (m.version = 3));
    await assert.rejects(readBundle(dir), (e: Error) => e.name === 'BundleVersionError' && /"version" 3 is not a bundle layout/.test(e.message) && /Update the runtime/.test(e.message));
    const { contract: _, ...noContract } = good;
    assert.throws(() => parseManifest(noContract, 'x/manifest.json'), (e: Error) => e.name === 'BundleVersionError' && /"contract" undefined/.test(e.message) && /Re-export the bundle with `onerec export`/.test(e.message));
    assert.throws(() => parseManifest({ ...good, contract: 2 }, 'x/manifest.json'), (e: Error) => e.name === 'BundleVersionError' && /older graph contract; this runtime runs contract 3/.test(e.message));
    assert.throws(() => parseManifest({ ...good, contract: 4 }, 'x/manifest.json'), (e: Error) => e.name === 'BundleVersionError' && /Update the runtime/.test(e.message));
    assert.throws(() => parseManifest({ ...good, tokens: { ...good.tokens, vocabSize: 99 } }, 'x/manifest.json'), /tokens\.vocabSize.*expected 26/);
    assert.throws(() => parseManifest({ ...good, files: { ...good.files, items: undefined } }, 'x/manifest.json'), /files\.items/);
    assert.throws(() => parseManifest({ ...good, files: { ...good.files, catalog: { ...good.files.catalog, path: '../etc/passwd' } } }, 'x/manifest.json'), /relative path/);
    assert.equal(parseManifest(good, 'x/manifest.json').name, 'tiny');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a bundle with a reward model lists reward.onnx and the towers with their labels and weights', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'onerec-bundle-'));
  try {
    const { weights, config, trie, catalog } = tinyModel();
    const rewardConfig = { itemCount: trie.itemCount, dModel: 8, heads: 2, towerHidden: 4, maxHistory: 5, sessionLength: 2, towers: ['ltr', 'swt'] as ('ltr' | 'swt')[] };
    const rewardWeights = Object.fromEntries(Object.entries(rewardParameterShapes(rewardConfig)).map(([n, s]) => [n, new Float32Array(s.reduce((a, b) => a * b, 1)).fill(0.1)]));
    await assert.rejects(exportBundle({ weights, config, trie, catalog, quantization: 'int8', outDir: dir, reward: { weights: rewardWeights, config: rewardConfig, towerWeights: [1] } }), /1 tower weights for 2 towers/);
    await exportBundle({ weights, config, trie, catalog, quantization: 'int8', outDir: dir, reward: { weights: rewardWeights, config: rewardConfig, towerWeights: [1, 0.5] } });
    const bundle = await readBundle(dir);
    assert.equal(bundle.manifest.files.reward?.path, 'reward.onnx');
    assert.deepEqual(bundle.manifest.reward?.towers.map((t) => t.name), ['ltr', 'swt']);
    assert.ok(bundle.manifest.reward?.towers.every((t) => t.label.length > 10));
    assert.deepEqual(bundle.manifest.reward?.weights, [1, 0.5]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
