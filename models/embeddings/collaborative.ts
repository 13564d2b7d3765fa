// Collaborative item embeddings for semantic IDs: the item table of a trained SASRec (`onerec baseline`),
// which has learned from the train rows which items follow which — the signal that content embeddings lack
// and the paper's behaviour alignment adds. Joined to the content embedding by `joinEmbeddings`.
import { readCheckpoint } from '../engine/checkpoint.ts';
import { normalizeRows } from './align.ts';

export class CollaborativeEmbeddingError extends Error {
  override name = 'CollaborativeEmbeddingError';
}

/** The L2-normalised item rows of an `onerec baseline` checkpoint: [items, d] (its padding row dropped). */
export function collaborativeEmbeddings(path: string, items: number): { embeddings: Float32Array; dim: number } {
  let checkpoint;
  try {
    checkpoint = readCheckpoint(path);
  } catch (e) {
    throw new CollaborativeEmbeddingError(`--collaborative=${path}: ${(e as Error).message}; give the best.ckpt that \`onerec baseline --out DIR\` wrote`);
  }
  const table = checkpoint.tensors.item_emb;
  if (checkpoint.meta.kind !== 'sasrec' || !table) {
    throw new CollaborativeEmbeddingError(`--collaborative=${path} is a '${checkpoint.meta.kind}' checkpoint; give the best.ckpt that \`onerec baseline --out DIR\` wrote`);
  }
  const [rows, dim] = table.shape;
  if (rows !== items + 1) {
    throw new CollaborativeEmbeddingError(`--collaborative=${path} has ${rows - 1} items, this dataset ${items}; train the baseline on a prepared copy of the same data`);
  }
  return { embeddings: normalizeRows(table.data.slice(dim), items, dim), dim };
}

/**
 * Row-wise [√(1−w)·a, √w·b] of two L2-normalised embeddings: squared distances become (1−w)·those of a plus
 * w·those of b.  a [n, da], b [n, db] → [n, da + db]
 */
export function joinEmbeddings(a: Float32Array, da: number, b: Float32Array, db: number, n: number, w: number): Float32Array {
  if (!(w >= 0 && w <= 1)) throw new CollaborativeEmbeddingError(`--collaborativeWeight=${w}: give a share in [0, 1]`);
  const out = new Float32Array(n * (da + db));
  const sa = Math.sqrt(1 - w), sb = Math.sqrt(w);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < da; j++) out[i * (da + db) + j] = sa * a[i * da + j];
    for (let j = 0; j < db; j++) out[i * (da + db) + da + j] = sb * b[i * db + j];
  }
  return out;
}
