import { runtimeSpec } from './runtime-spec.ts';

runtimeSpec({ device: 'wasm', logProbTolerance: 1e-4, exactItems: true, memoryRuns: 1000, memoryBoundBytes: 64 * 2 ** 20, histories: 4 });
