// A helper thread of the runtime's wasm kernels in Node (worker_threads, started by spawnNodeWasmHelper in
// runtime-node/node-recommender.ts): the decoder's replica on the shared memory, running its shares of each decoder step.
import { workerData } from 'node:worker_threads';
import { serveWasmHelper, type WasmHelperInit } from '../runtime/wasm-decoder.ts';

await serveWasmHelper(workerData as WasmHelperInit);
