// Types of distance-kernel.mjs (plain JavaScript so that worker threads can load it without a TypeScript loader).
export function squaredNorm(points: Float32Array, p: number, dim: number): number;
export function centroidNorms(centroids: Float32Array, k: number, dim: number, out?: Float64Array): Float64Array;
export function squaredDistanceRows(points: Float32Array, dim: number, centroids: Float32Array, norms: Float64Array, k: number, from: number, to: number, out: Float32Array): void;
export function nearestRows(points: Float32Array, dim: number, centroids: Float32Array, norms: Float64Array, k: number, from: number, to: number, assignment: Int32Array): void;
export function nearestRowsBounded(points: Float32Array, dim: number, centroids: Float32Array, norms: Float64Array, k: number, from: number, to: number, assignment: Int32Array, upper: Float64Array, lower: Float32Array, moved: Float64Array, maxMoved: number, absoluteSlack: number, half: Float64Array): void;
