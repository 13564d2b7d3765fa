// The consumer apps' page script, copied into each app's src/ by consumers.test.ts: README's "Use it in your app",
// with the history and bundle of models/bundles/kuairand. window.recommendWith(threads) is what the test calls.
import { createWorkerRecommender } from 'onerec-web/worker';

const BUNDLE = '/bundles/kuairand/manifest.json';
const HISTORY = [12, 873, 4051]; // liked items, oldest first: catalog indices of the KuaiRand bundle

window.recommendWith = async (threads) => {
  const recommender = createWorkerRecommender();
  try {
    const info = await recommender.load(BUNDLE, { device: 'wasm', threads });
    const { sessions } = await recommender.recommend(HISTORY);
    return { kernelThreads: info.kernelThreads, decoder: info.decoder, fallbackReasons: info.fallbackReasons, ids: sessions.map((s) => s.ids) };
  } finally {
    recommender.terminate();
  }
};
