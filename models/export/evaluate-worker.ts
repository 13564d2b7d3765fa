// One evaluation worker: its own onnxruntime-node sessions over the bundle, the users it was given, one
// message per user in the given order (models/export/evaluate.ts merges them).
import { parentPort, workerData } from 'node:worker_threads';
import type { Example, SeedData } from '../seed/batches.ts';
import type { SeedConfig } from '../seed/config.ts';
import { readBundle } from './bundle-reader.ts';
import { evaluateUser, type BundleEvalOptions } from './evaluate.ts';
import { OnnxSeedModel } from './node-session.ts';

const { dir, data, examples, options } = workerData as { dir: string; data: SeedData; examples: Example[]; options: BundleEvalOptions };
const bundle = await readBundle(dir);
const model = await OnnxSeedModel.create(bundle.manifest.model as SeedConfig, bundle.files.encoder!, bundle.files.decoderStep!);
try {
  for (const example of examples) parentPort!.postMessage(await evaluateUser(model, bundle, data, example, options));
} finally {
  await model.release();
}
