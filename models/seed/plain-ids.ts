// Ablation input: the same prepared data with semantic IDs from *plain* residual k-means instead of the
// balanced k-means `onerec prepare` uses (same embeddings, same PCA space, same seed), so that training
// on both isolates the effect of balanced IDs.
//
//   node --import tsx models/seed/plain-ids.ts runs/beauty runs/beauty-plain [idDim=64] [seed=42] [maxIterations=30]
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SemanticIdTrie } from '../../runtime/semantic-id-trie.ts';
import { loadPrepared } from '../data/prepared.ts';
import { pca } from '../embeddings/pca.ts';
import { residualKMeans, semanticIdStats } from '../semantic-ids/semantic-ids.ts';

export class PlainIdsError extends Error {
  override name = 'PlainIdsError';
}

export function writePlainIdVariant(source: string, target: string, idDim: number, seed: number, maxIterations: number): Record<string, unknown> {
  const p = loadPrepared(source);
  const items = p.meta.items;
  const L = p.levels - 1;
  const K = p.codebookSize;
  let points = p.embeddings;
  let dim = p.embeddingDim;
  if (idDim > 0 && idDim < dim) {
    points = pca(p.embeddings, items, dim, idDim, seed).projected;
    dim = idDim;
  }
  const ids = residualKMeans(points, items, dim, { levels: L, codebookSize: K, balanced: false, maxIterations, seed });
  const stats = semanticIdStats(ids, points, items, dim, K);
  if (ids.suffixOverflow > 0) {
    throw new PlainIdsError(`plain k-means put more than K = ${K} items in one bucket (${ids.suffixOverflow} items past the suffix range): these IDs cannot be made unique with ${p.levels} levels; the ablation needs a larger --codebookSize`);
  }
  mkdirSync(target, { recursive: true });
  for (const f of readdirSync(source)) if (!['codes.u16', 'semantic-ids.bin', 'report.json'].includes(f)) copyFileSync(join(source, f), join(target, f));
  writeFileSync(join(target, 'codes.u16'), new Uint8Array(ids.codes.buffer, ids.codes.byteOffset, ids.codes.byteLength));
  writeFileSync(join(target, 'semantic-ids.bin'), SemanticIdTrie.build(ids.codes, p.levels, K).toBytes());
  const report = { ...JSON.parse(readFileSync(join(source, 'report.json'), 'utf8')), semantic_ids: stats, variant: `plain residual k-means of ${source} (idDim ${idDim}, seed ${seed})` };
  writeFileSync(join(target, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  return stats as unknown as Record<string, unknown>;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [source, target, idDim = '64', seed = '42', maxIterations = '30'] = process.argv.slice(2);
  if (!source || !target) throw new PlainIdsError('usage: plain-ids.ts PREPARED_DIR OUT_DIR [idDim] [seed] [maxIterations]');
  console.log(JSON.stringify(writePlainIdVariant(source, target, Number(idDim), Number(seed), Number(maxIterations))));
}
