// Every way the on-device runtime can fail, one class each. `name` is set so that callers can match
// errors by name across the Web Worker boundary (comlink re-creates a plain Error with the same name and
// message there, so `instanceof` does not survive; `err.name === 'BundleIntegrityError'` does).
// Messages name the bad value and say what to do.

export class RuntimeError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

/** A bundle file (or its manifest) could not be fetched. */
export class BundleFetchError extends RuntimeError {
  constructor(readonly url: string, reason: string) {
    super('BundleFetchError', `could not fetch ${url}: ${reason}. Check that the bundle URL is right and that the server is reachable (files already cached in IndexedDB load offline).`);
  }
}

/** Bytes from the network do not hash to the manifest's sha256 (never used: wrong bytes are worse than none). */
export class BundleIntegrityError extends RuntimeError {
  constructor(readonly url: string, expected: string, actual: string, bytes: number) {
    super('BundleIntegrityError', `${url}: sha256 ${actual} (${bytes} bytes) does not match the manifest's ${expected}. The file on the server and its manifest.json disagree: re-export the bundle (onerec export) or redeploy both files together.`);
  }
}

/** manifest.json is not a bundle this runtime can read. */
export class BundleFormatError extends RuntimeError {
  constructor(url: string, reason: string) {
    super('BundleFormatError', `${url}: ${reason}. Point load() at the manifest.json that onerec export wrote.`);
  }
}

/**
 * The bundle was written for another bundle layout (manifest `version`) or graph contract (manifest `contract`) than
 * this runtime reads. An older bundle is migrated without retraining (its graphs at this contract are kept as they are).
 */
export class BundleVersionError extends RuntimeError {
  constructor(readonly url: string, reason: string, fix: string) {
    super('BundleVersionError', `${url}: ${reason}. ${fix}`);
  }
}

/** `device` is not one of the names this runtime knows. */
export class InvalidDeviceError extends RuntimeError {
  constructor(device: unknown, valid: readonly string[]) {
    super('InvalidDeviceError', `device ${JSON.stringify(device)} is not supported; use one of ${valid.map((d) => `'${d}'`).join(', ')}.`);
  }
}

/** `device: 'webgpu'` was asked for where there is no WebGPU adapter. */
export class WebGpuUnavailableError extends RuntimeError {
  constructor(reason: string) {
    super('WebGpuUnavailableError', `WebGPU is not available here (${reason}). Use device: 'auto' (falls back to wasm) or 'wasm', or a browser with WebGPU enabled.`);
  }
}

/** None of the execution providers tried could create the sessions; `reasons` has one `[ep] reason` each. */
export class NoBackendError extends RuntimeError {
  constructor(readonly reasons: string[]) {
    super('NoBackendError', `no execution provider could run this bundle: ${reasons.join('; ')}. Try device: 'wasm'; where onnxruntime-web runs a graph, check that its ort-wasm-*.mjs/.wasm files are served where wasmPaths points (createWorkerRecommender({ wasmPaths }), default ./ort/ beside the worker).`);
  }
}

/** recommend()/score() before load() finished (or after dispose()). */
export class NotLoadedError extends RuntimeError {
  constructor(call: string) {
    super('NotLoadedError', `${call}() needs a loaded bundle: await load(bundleUrl) first.`);
  }
}

/** An option or argument is out of range; the message names it and its valid range. */
export class InvalidArgumentError extends RuntimeError {
  constructor(what: string, value: unknown, fix: string) {
    super('InvalidArgumentError', `${what} = ${JSON.stringify(value)} is invalid: ${fix}.`);
  }
}

/** The Web Worker died (terminated or crashed) while a call was pending; the next call starts a new one. */
export class WorkerTerminatedError extends RuntimeError {
  constructor(call: string, reason: string) {
    super('WorkerTerminatedError', `the recommender's worker stopped during ${call}() (${reason}). Call again: a new worker is started and the bundle reloaded from IndexedDB.`);
  }
}

/** The model runtime (onnxruntime, the wasm kernels, the WGSL model) failed inside a call; `reason` is its own message. */
export class InferenceError extends RuntimeError {
  constructor(call: string, reason: string) {
    super('InferenceError', `${call}() failed in the model runtime: ${reason}. Retry with device: 'wasm', or load(url, { engine: 'onnxruntime' }) to run every graph on onnxruntime; if it persists, report it with the bundle's manifest.json.`);
  }
}

/** Memory for a call could not be allocated (an ArrayBuffer, a wasm memory grow, an ONNX Runtime arena). */
export class OutOfMemoryError extends RuntimeError {
  constructor(call: string, reason: string) {
    super('OutOfMemoryError', `${call}() could not allocate the memory it needs (${reason}). Use a smaller beamWidth, fewer candidates or sessions, or a smaller bundle, and free memory (other tabs, other bundles: dispose() them).`);
  }
}

/** The names above, for matching errors that crossed the worker boundary. */
export const RUNTIME_ERROR_NAMES = [
  'BundleFetchError', 'BundleIntegrityError', 'BundleFormatError', 'BundleVersionError', 'InvalidDeviceError', 'WebGpuUnavailableError',
  'NoBackendError', 'NotLoadedError', 'InvalidArgumentError', 'WorkerTerminatedError', 'InferenceError', 'OutOfMemoryError',
] as const;
export type RuntimeErrorName = (typeof RUNTIME_ERROR_NAMES)[number];

// Errors that runtime/ throws internally and never lets out of a Recommender call as they are: the engines' own
// errors become fallbacks (`fallbackReasons`) at load, and toRuntimeError turns any of them reaching a call's boundary
// into one of the classes above. They live here so that every class the runtime throws is in one file; the package
// entry (runtime/index.ts) exports only the public ones.

/** An internal error class whose instances carry `name` (set explicitly: bundlers may rename classes). */
function internalError(name: string) {
  return class extends Error {
    override name = name;
  };
}

/** beamSearch() options out of range (beamWidth, sessionLength, a history bias of the wrong length). */
export const BeamSearchOptionError = internalError('BeamSearchOptionError');
/** A DecoderSession returned logits of another shape than beam search asked for. */
export const DecoderOutputError = internalError('DecoderOutputError');
/** Bad codes given to SemanticIdTrie.build(), or bytes that are not a valid semantic-ID trie. */
export const TrieFormatError = internalError('TrieFormatError');
/** Why the bytes are not a valid catalog (the caller wraps it into its own typed error with the file name). */
export const CatalogFormatProblem = internalError('CatalogFormatProblem');
/** Why the bytes are not a valid item index, items.bin (the caller wraps it into its own typed error with the file name). */
export const ItemIndexFormatProblem = internalError('ItemIndexFormatProblem');

/** A graph lacks a weight the engine needs, or holds it in another layout; each engine wraps it in its typed error. */
export class WeightsError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'WeightsError';
  }
}

/** The bundle's model cannot run as WGSL (a weight it cannot find, sizes past the kernels' limits, a shader error). */
export class WebGpuDecoderError extends RuntimeError {
  constructor(reason: string) {
    super('WebGpuDecoderError', `the WGSL model cannot run this bundle: ${reason}. Its ONNX graphs run on onnxruntime instead (the WebGPU EP, or device 'wasm').`);
  }
}

/** The bundle's model cannot run in the wasm kernels (a weight it cannot find, a size they do not take). */
export class WasmDecoderError extends RuntimeError {
  constructor(reason: string) {
    super('WasmDecoderError', `the wasm kernels cannot run this bundle: ${reason}. Its ONNX graphs run on onnxruntime instead.`);
  }
}

/** reward.onnx is not a graph the wasm kernels can run (another exporter's layout, a missing weight). */
export class WasmRewardError extends RuntimeError {
  constructor(reason: string) {
    super('WasmRewardError', `the wasm kernels cannot run reward.onnx: ${reason}. onnxruntime runs it instead.`);
  }
}

/** reward.onnx is not a graph the WGSL reward model can run (a missing weight, sizes past the device's limits, a shader error). */
export class WebGpuRewardError extends RuntimeError {
  constructor(reason: string) {
    super('WebGpuRewardError', `the WGSL reward model cannot run reward.onnx: ${reason}. The wasm kernels run it instead (or onnxruntime where they cannot).`);
  }
}

/**
 * The internal classes' names. tests/runtime/errors.test.ts checks that every throw site in
 * runtime/ names a class of one of the two lists.
 */
export const INTERNAL_ERROR_NAMES = [
  'BeamSearchOptionError', 'DecoderOutputError', 'TrieFormatError', 'CatalogFormatProblem', 'ItemIndexFormatProblem', 'WeightsError',
  'WasmDecoderError', 'WasmRewardError', 'WebGpuDecoderError', 'WebGpuRewardError', 'RangeError', 'Error',
] as const;

/** Whether `err` is an allocation failure: V8's ArrayBuffer / array length errors, a wasm memory that cannot grow, ORT's allocator. */
function isAllocationFailure(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  return /allocation failed|could not allocate|failed to allocate|out of memory|bad_alloc|invalid (typed )?array length|array buffer allocation|maximum memory size|WebAssembly\.Memory\(\): could not|Memory\.grow/i.test(message);
}

/**
 * The error a Recommender call rejects with: one of the documented classes (matched by name, so also errors that
 * crossed a worker boundary), else an OutOfMemoryError for an allocation failure, else an InferenceError carrying
 * the original error's name and message (an onnxruntime or kernel error, a bug).
 */
export function toRuntimeError(err: unknown, call: string): Error {
  if (err instanceof Error && (RUNTIME_ERROR_NAMES as readonly string[]).includes(err.name)) return err;
  const reason = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return isAllocationFailure(err) ? new OutOfMemoryError(call, reason) : new InferenceError(call, reason);
}
