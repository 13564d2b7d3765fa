// onerec-pipeline's entry for Node programs: the Recommender over onnxruntime-web's wasm backend (its Node build,
// carried in dist/ort/), the same runtime code the browser worker runs. The pipeline is TypeScript run through tsx
// (as the `onerec` CLI is), loaded here without registering tsx for the rest of the program.
//
//   import { createNodeRecommender } from 'onerec-pipeline';
//   const recommender = createNodeRecommender();              // onnxruntime-web's wasm EP, 1 thread ({ engine: 'auto' }: the kernels first)
//   await recommender.load('bundles/beauty');                 // a folder, a manifest path, or a file:/http(s): URL
//   const { sessions } = await recommender.recommend([12, 7, 40]);
import { tsImport } from 'tsx/esm/api';

const nodeRecommender = await tsImport('./runtime-node/node-recommender.ts', import.meta.url);

/** @type {typeof import('./runtime-node/node-recommender.ts').createNodeRecommender} */
export const createNodeRecommender = nodeRecommender.createNodeRecommender;
