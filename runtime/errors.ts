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
    super('NoBackendError', `no execution provider could run this bundle: ${reasons.join('; ')}. Try device: 'wasm', and check that the ort-*.wasm files are served next to the worker.`);
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

/** The names above, for matching errors that crossed the worker boundary. */
export const RUNTIME_ERROR_NAMES = [
  'BundleFetchError', 'BundleIntegrityError', 'BundleFormatError', 'InvalidDeviceError', 'WebGpuUnavailableError',
  'NoBackendError', 'NotLoadedError', 'InvalidArgumentError', 'WorkerTerminatedError',
] as const;
