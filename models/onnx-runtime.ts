// ONNX Runtime in Node, the pipeline's one import site of it: onnxruntime-web's Node build on its WebAssembly backend
// (the wasm EP the browser falls back to), so that nothing in onerec-pipeline's install tree has an install script
// for ONNX Runtime (onnxruntime-node's downloads CUDA libraries from outside the npm registry, and onnxruntime-web's
// own dependencies bring protobufjs 7's). In the repo the import below is the onnxruntime-web package; in the
// pipeline package build.mjs --pipeline points it at that package's Node build (ort.node.min.mjs), which it copies
// into the package's dist/ort/ next to the .mjs/.wasm the demo already ships there — so the package depends on
// onnxruntime-common alone.
//
// onnxruntime-node stays usable where its native CPU EP or its WebGPU EP is wanted (bench/, the tests' reference):
// the caller installs it and passes the module (createNodeRecommender({ onnxRuntime: await import('onnxruntime-node') }),
// OnnxSeedModel.create(…, { onnxRuntime })).
import * as ort from 'onnxruntime-web';
import type { OrtModule } from '../runtime/onnx-decoder-session.ts';

/** The threads onnxruntime-web's wasm backend was started with: it reads env.wasm.numThreads once, at its first session. */
let startedThreads: number | undefined;

/**
 * onnxruntime-web as the runtime's OrtModule, its wasm backend on `threads` threads (Node worker_threads) when this is
 * the process's first call; later calls get the backend as it was started (`threads` says with how many).
 */
export function wasmOrt(threads = 1): { ort: OrtModule; threads: number } {
  if (startedThreads === undefined) {
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`threads must be a positive integer, got ${threads}`);
    ort.env.wasm.numThreads = threads;
    startedThreads = threads;
  }
  return { ort: ort as unknown as OrtModule, threads: startedThreads };
}
