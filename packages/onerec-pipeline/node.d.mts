// Types of node.mjs: build.mjs (--pipeline, the prepack) emits types/ from runtime-node/node-recommender.ts.
export { createNodeRecommender, type NodeRecommenderOptions } from './types/runtime-node/node-recommender.js';
export type * from './types/runtime/recommender.js';
