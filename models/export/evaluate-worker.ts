// One evaluation worker: its own Recommender and greedy-check sessions over the bundle, the users it was given; it
// posts the load's engine, then one message per user in the given order (models/export/evaluate.ts merges them).
import { parentPort, workerData } from 'node:worker_threads';
import type { Example, SeedData } from '../seed/batches.ts';
import { BundleEvaluator, type BundleEvalOptions, type WorkerMessage } from './evaluate.ts';

const { dir, data, examples, options } = workerData as { dir: string; data: SeedData; examples: Example[]; options: BundleEvalOptions };
const evaluator = await BundleEvaluator.open(dir, options);
const post = (message: WorkerMessage): void => parentPort!.postMessage(message);
try {
  post({ loaded: { decoder: evaluator.info.decoder, fallbackReasons: evaluator.info.fallbackReasons } });
  for (const example of examples) post({ user: await evaluator.user(data, example) });
} finally {
  await evaluator.close();
}
