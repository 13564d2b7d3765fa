// Checks of what callers pass to load() / recommend() / score(), before any work or allocation: the type of every
// argument and option, and the bounds of runtime/limits.ts and of the loaded bundle's manifest. Each failure is an
// InvalidArgumentError naming the argument, the value and the valid range.
import { InvalidArgumentError } from './errors.ts';
import { RUNTIME_LIMITS } from './limits.ts';
import type { Engine, HistoryItem, LoadOptions, RecommendOptions, ScoreOptions } from './recommender.ts';

/** LoadOptions.engine's names (runtime/backends.ts maps each to the candidates it allows). */
export const ENGINES: readonly Engine[] = ['auto', 'wgsl', 'wasm', 'onnxruntime'];

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A short, safe rendering of a bad value for a message (a string history could be long). */
function shown(value: unknown): unknown {
  if (typeof value === 'string') return value.length > 40 ? `${value.slice(0, 40)}…` : value;
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'bigint') return `${value}n`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  if (Array.isArray(value)) return value.length > 8 ? `an array of ${value.length}` : value.map(shown);
  return value;
}

function invalid(what: string, value: unknown, fix: string): never {
  throw new InvalidArgumentError(what, shown(value), fix);
}

/**
 * A history (or a session to score) is an array of item indices and external ids, or a typed array of item indices
 * (a RecommendedSession's `items`); at most RUNTIME_LIMITS.historyLength entries. A string is not a history.
 */
export function checkItems(items: unknown, what: string, limit: number, why = 'runtime/limits.ts'): HistoryItem[] {
  const typed = ArrayBuffer.isView(items) && !(items instanceof DataView) && !(items instanceof BigInt64Array) && !(items instanceof BigUint64Array);
  if (!Array.isArray(items) && !typed) {
    invalid(what, items, `pass an array of item indices (numbers) or external ids (strings)${typeof items === 'string' ? ', e.g. [id], not a string' : ''}`);
  }
  const list = items as ArrayLike<unknown>;
  if (list.length > limit) invalid(`${what}.length`, list.length, `pass at most ${limit} items (${why})`);
  if (typed) return Array.from(list as ArrayLike<number>);
  for (let i = 0; i < list.length; i++) {
    const entry = list[i];
    if (typeof entry !== 'number' && typeof entry !== 'string') invalid(`${what}[${i}]`, entry, 'each entry must be an item index (number) or an external id (string)');
  }
  return list as HistoryItem[];
}

export const checkHistory = (history: unknown): HistoryItem[] => checkItems(history, 'history', RUNTIME_LIMITS.historyLength);

function checkOptionsObject(options: unknown, what: string): Record<string, unknown> {
  if (options === undefined) return {};
  if (!isRecord(options)) invalid(what, options, 'pass an options object or nothing');
  return options;
}

function checkBoolean(options: Record<string, unknown>, key: string, what: string): void {
  if (options[key] !== undefined && typeof options[key] !== 'boolean') invalid(`${what}.${key}`, options[key], 'use true or false (or leave it out)');
}

function checkInteger(value: unknown, what: string, min: number, max: number, why: string, maxName = String(max)): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) invalid(what, value, `use an integer in ${min}..${maxName} (${why})`);
  return value as number;
}

/** recommend()'s options against the bundle's defaults and bounds: beam width, candidates and session length. */
export function checkRecommendOptions(options: unknown, bundle: { sessionLength: number; beamWidth: number }): RecommendOptions & { sessionLength: number; beamWidth: number; candidates: number } {
  const o = checkOptionsObject(options, 'options');
  for (const key of ['rerank', 'excludeHistory', 'historyBias', 'transitions']) checkBoolean(o, key, 'options');
  const sessionLength = checkInteger(o.sessionLength ?? bundle.sessionLength, 'sessionLength', 1, bundle.sessionLength, `the decoder's positions are trained for ${bundle.sessionLength} items`);
  const beamWidth = checkInteger(o.beamWidth ?? bundle.beamWidth, 'beamWidth', 1, RUNTIME_LIMITS.beamWidth, 'runtime/limits.ts bounds the beams of one call');
  const candidates = checkInteger(o.candidates ?? beamWidth, 'candidates', 1, beamWidth, 'the candidates are the final beams', `beamWidth (${beamWidth})`);
  return { ...(o as RecommendOptions), sessionLength, beamWidth, candidates };
}

/** score()'s sessions: an array of at most RUNTIME_LIMITS.scoredSessions sessions, each of 1..sessionLength items. */
export function checkScoreArguments(sessions: unknown, options: unknown, sessionLength: number): { sessions: HistoryItem[][]; options: ScoreOptions } {
  if (!Array.isArray(sessions)) invalid('sessions', sessions, 'pass an array of sessions, each an array of item indices or external ids');
  const list = sessions as unknown[];
  if (list.length > RUNTIME_LIMITS.scoredSessions) invalid('sessions.length', list.length, `score at most ${RUNTIME_LIMITS.scoredSessions} sessions per call (runtime/limits.ts)`);
  const checked = list.map((s, i) => checkItems(s, `sessions[${i}]`, sessionLength, `the bundle's sessions have at most ${sessionLength} items`));
  const o = checkOptionsObject(options, 'options');
  checkBoolean(o, 'historyBias', 'options');
  return { sessions: checked, options: o as ScoreOptions };
}

/** load()'s bundle URL and options (the device name itself is checked where the devices are: runtime/onnx.ts). */
export function checkLoadArguments(bundleUrl: unknown, options: unknown): LoadOptions {
  if (typeof bundleUrl !== 'string' || bundleUrl.trim() === '') invalid('bundleUrl', bundleUrl, "pass the bundle's manifest.json URL (or its folder) as a string");
  const o = checkOptionsObject(options, 'options');
  for (const key of ['cache', 'catalog', 'gpuDecoder', 'wasmDecoder', 'probe']) checkBoolean(o, key, 'options');
  if (o.threads !== undefined) checkInteger(o.threads, 'threads', 1, RUNTIME_LIMITS.threads, 'wasm threads; more than the cores only slows down');
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') invalid('onProgress', o.onProgress, 'pass a function ({ progress, text }) => void');
  if (o.device !== undefined && typeof o.device !== 'string') invalid('device', o.device, "use 'auto', 'webgpu' or 'wasm'");
  if (o.engine !== undefined) {
    if (!(ENGINES as readonly unknown[]).includes(o.engine)) invalid('options.engine', o.engine, `use one of ${ENGINES.map((e) => `'${e}'`).join(', ')}`);
    const legacy = ['gpuDecoder', 'wasmDecoder'].find((key) => o[key] !== undefined);
    if (legacy) invalid(`options.${legacy}`, o[legacy], `drop it: it is deprecated, and engine ${JSON.stringify(o.engine)} already says which engine runs`);
  }
  return o as LoadOptions;
}
