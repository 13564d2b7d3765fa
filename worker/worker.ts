import { expose } from 'comlink';
import { workerEndpoint } from './endpoint.ts';

// The helper threads of the wasm kernels (threads > 1). The URL is written out here, in a `new Worker(new URL(…,
// import.meta.url))`, because that is the one form Vite and webpack follow and bundle as a worker of its own; through
// a variable they copy the file raw and the helpers never start. wasm-helper.js sits next to this file in dist/ and lib/.
expose(workerEndpoint((init) => {
  const helper = new Worker(new URL('./wasm-helper.js', import.meta.url), { type: 'module', name: 'onerec wasm kernels' });
  helper.postMessage(init);
  return { terminate: () => helper.terminate() };
}));
