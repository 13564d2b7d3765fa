import { expose } from 'comlink';
import { workerEndpoint } from './endpoint.ts';

// wasm-helper.js sits next to this file in dist/ and lib/worker/ (build.mjs, tsconfig.lib.json).
expose(workerEndpoint(new URL('./wasm-helper.js', import.meta.url)));
