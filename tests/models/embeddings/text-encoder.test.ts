import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeTexts, TEXT_DIM } from '../../../models/embeddings/text-encoder.ts';

// The real Universal Sentence Encoder (bundled weights, no network), on three texts: one batch, ~10–30 s on a CPU.
test('sentence encoder: 512-d unit vectors, related titles closer, second call served from the cache', async () => {
  const cache = mkdtempSync(join(tmpdir(), 'onerec-use-'));
  const texts = ['OPI Nail Lacquer, red nail polish. Makeup. Nails', 'Essie nail polish, pink. Makeup. Nails', 'Stainless steel garden hose nozzle'];
  const first = await encodeTexts(texts, cache);
  assert.equal(first.cached, false);
  assert.equal(first.embeddings.length, 3 * TEXT_DIM);
  const e = (i: number) => first.embeddings.subarray(i * TEXT_DIM, (i + 1) * TEXT_DIM);
  const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, v, k) => s + v * b[k], 0);
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(dot(e(i), e(i)) - 1) < 1e-3);
  assert.ok(dot(e(0), e(1)) > dot(e(0), e(2)) + 0.1, `polish–polish ${dot(e(0), e(1))} vs polish–hose ${dot(e(0), e(2))}`);
  const second = await encodeTexts(texts, cache);
  assert.equal(second.cached, true);
  assert.deepEqual(second.embeddings, first.embeddings);
  assert.equal(readdirSync(cache).length, 1);
});
