// The consumer apps' page script, copied into each app's src/ by consumers.test.ts: README's "Use it in your app",
// with the history and bundle of models/bundles/kuairand. window.recommendWith(loadOptions, workerOptions) is what the
// test calls: threads 1 and 2 on the runtime's kernels, and every graph on onnxruntime-web from `wasmPaths`.
import { createWorkerRecommender } from 'onerec-web/worker';

const BUNDLE = '/bundles/kuairand/manifest.json';
const HISTORY = [12, 873, 4051]; // liked items, oldest first: catalog indices of the KuaiRand bundle

window.recommendWith = async (loadOptions, workerOptions) => {
  const recommender = createWorkerRecommender(workerOptions);
  try {
    const info = await recommender.load(BUNDLE, { device: 'wasm', ...loadOptions });
    const { sessions } = await recommender.recommend(HISTORY);
    return { kernelThreads: info.kernelThreads, decoder: info.decoder, fallbackReasons: info.fallbackReasons, ids: sessions.map((s) => s.ids) };
  } catch (err) {
    return { error: `${err.name}: ${err.message}` }; // errors are matched by name, which page.evaluate() would not carry
  } finally {
    recommender.terminate();
  }
};
