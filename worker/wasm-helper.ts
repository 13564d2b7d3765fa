// A helper thread of the runtime's wasm kernels in the browser (dist/wasm-helper.js, started by the recommender's worker
// when it is given threads > 1 and is cross-origin isolated): the decoder's replica on the shared memory, running its
// shares of each decoder step.
import { serveWasmHelper, type WasmHelperInit } from '../runtime/wasm-decoder.ts';

self.onmessage = (event: MessageEvent<WasmHelperInit>) => {
  void serveWasmHelper(event.data);
};
