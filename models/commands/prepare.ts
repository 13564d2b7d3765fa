// onerec prepare — data → item embeddings → semantic IDs, written to one prepared directory.
//
//   onerec prepare --data my-logs/ --out runs/mine
//   onerec prepare --data my-logs/ --out runs/mine --levels=3 --codebookSize=256 --seed=7
//   onerec prepare --data KUAIRAND_PURE_DIR --out runs/kuairand          # KuaiRand-Pure's own files, read as they are
//
// The stage is models/data/prepare.ts (its steps in its header); the options, one comment each, are its
// DEFAULT_PREPARE_CONFIG. See docs/architecture.md, "Prepared data", and models/data/prepared.ts for the files.
import { resolve } from 'node:path';
import { parseOptions } from '../options.ts';
import { DEFAULT_PREPARE_CONFIG, prepare } from '../data/prepare.ts';

export const summary = 'read a dataset, embed and align items, build semantic IDs (residual k-means) and the trie';

export async function run(argv: string[]): Promise<void> {
  const config = parseOptions(argv, DEFAULT_PREPARE_CONFIG, `onerec prepare --data DIR --out OUT [--key=value …]\n${summary}`, { required: ['data', 'out'] });
  if (!config) return;
  const report = await prepare(config, (line) => console.log(line));
  // The semantic-ID figures of the report (models/semantic-ids/semantic-ids.ts SemanticIdStats).
  const ids = report as { items: number; levels: number; codebook_size: number; code_usage: number[]; bucket_min: number[]; bucket_max: number[]; unique_ids: number };
  console.log(`wrote ${resolve(config.out)}: ${ids.items} items, ${ids.levels} levels × K ${ids.codebook_size}, usage ${ids.code_usage.join('/')}, buckets ${ids.bucket_min.join('/')}–${ids.bucket_max.join('/')}, unique ${ids.unique_ids}, in ${report.wall_time_s}s`);
}
