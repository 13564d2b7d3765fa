// The runtime/ Recommender in Node, over onnxruntime-node: the same code the browser worker runs
// (runtime/sessions.ts, runtime/beam-search.ts), with ONNX Runtime injected. Used by the parity tests,
// bench/recommend.ts and `onerec eval --bundle`.
//
//   const recommender = createNodeRecommender();            // CPU EP
//   await recommender.load('models/bundles/beauty');         // a folder, a manifest path or a URL
//   const { sessions } = await recommender.recommend([12, 7, 40]);
//   createNodeRecommender({ gpuDevice: (await openDevice()).device });   // the seed model in WGSL on Dawn
//   createNodeRecommender({ wasmDecoder: true });             // the seed model in the runtime's wasm SIMD kernels
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-node';
import { createRecommenderWith } from '../runtime/local-recommender.ts';
import { createSessions, type OrtModule } from '../runtime/sessions.ts';
import type { LoadInfo, LoadOptions, Recommender } from '../runtime/recommender.ts';

/** fetch() that also reads file: URLs (Node's own fetch does not). */
export async function fileAwareFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
  if (url.protocol !== 'file:') return fetch(input, init);
  try {
    return new Response(await readFile(url));
  } catch (err) {
    return new Response(String(err), { status: 404, statusText: 'Not Found' });
  }
}

export interface NodeRecommenderOptions {
  /** onnxruntime-node execution providers in order, e.g. ['cpu'] or ['webgpu', 'cpu']; default ['cpu']. */
  executionProviders?: string[];
  /** CPU threads per session; default 1 (the machines here are shared; the browser comparison uses 1 too). */
  threads?: number;
  /** Run the seed model (encoder and decoder steps) as WGSL on this WebGPU device (runtime/webgpu-decoder.ts; Dawn: models/engine/device.ts openDevice); the reward model then runs on the wasm kernels (runtime/wasm-reward.ts), or on the EPs above where they cannot read it. */
  gpuDevice?: GPUDevice;
  /**
   * Run the seed model in the runtime's WebAssembly SIMD kernels (runtime/wasm-decoder.ts), as the browser does on wasm;
   * the reward model too (runtime/wasm-reward.ts). Default false: in Node onnxruntime-node's native CPU EP is the reference.
   */
  wasmDecoder?: boolean;
}

/** A Recommender whose load() takes a folder or manifest path (or any URL) and ignores `device`. */
export function createNodeRecommender(options: NodeRecommenderOptions = {}): Recommender {
  const eps = options.executionProviders ?? ['cpu'];
  const inner = createRecommenderWith({
    createSessions: (models) => createSessions(ort as unknown as OrtModule, models, eps, { intraOpNumThreads: options.threads ?? 1, interOpNumThreads: 1 }, { gpuDevice: options.gpuDevice, wasmDecoder: options.wasmDecoder }),
    fetch: fileAwareFetch as typeof fetch,
  });
  return {
    ...inner,
    load: (bundle: string, loadOptions?: LoadOptions): Promise<LoadInfo> =>
      inner.load(/^[a-z]+:/.test(bundle) ? bundle : pathToFileURL(bundle).href, { ...loadOptions, cache: false }),
  };
}
