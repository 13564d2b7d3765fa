// Types of node.mjs: build.mjs (--pipeline, the prepack) emits types/ from models/node-recommender.ts.
export { createNodeRecommender, type NodeRecommenderOptions } from './types/models/node-recommender.js';
export type * from './types/runtime/recommender.js';
