// The Recommender behind a Web Worker: same interface as createRecommender(), calls go to worker.js via
// comlink. If the worker dies (terminate(), or an uncaught error in it), every pending call rejects with
// WorkerTerminatedError and the next call starts a fresh worker and reloads the last bundle (from IndexedDB).
import { proxy, releaseProxy, wrap, type Remote } from 'comlink';
import { InvalidArgumentError, WorkerTerminatedError, toRuntimeError } from '../runtime/errors.ts';
import type { HistoryItem, LoadInfo, LoadOptions, Recommender, RecommendOptions, RecommendResult, ScoreOptions, ScoreResult } from '../runtime/recommender.ts';
import type { WorkerEndpoint } from './endpoint.ts';

export interface WorkerRecommender extends Recommender {
  /** Stop the worker now; pending calls reject with WorkerTerminatedError. */
  terminate(): void;
}

export interface WorkerRecommenderOptions {
  /**
   * Starts the worker; default `new Worker(new URL('./worker.js', import.meta.url), { type: 'module' })`, written out
   * below so that Vite and webpack bundle worker.js (and the helper it starts) on their own. esbuild does not follow
   * it: build `onerec-web/worker.js` and `onerec-web/wasm-helper.js` as entries next to the script that imports this.
   */
  createWorker?: () => Worker;
  /**
   * Where onnxruntime-web's files are (ort-wasm-simd-threaded.mjs/.wasm, and the .asyncify ones for its WebGPU EP),
   * relative to the page or absolute; default ./ort/ next to the worker. They are fetched only when a graph runs on
   * onnxruntime-web (`engine: 'onnxruntime'`, or a bundle the runtime's kernels cannot run: LoadInfo.fallbackReasons),
   * so an app that never does needs not ship them.
   */
  wasmPaths?: string;
}

const WORKER_NOT_LOADED = 'its script did not load: serve worker.js next to the script that imports onerec-web/worker (with '
  + 'esbuild, build onerec-web/worker.js and onerec-web/wasm-helper.js as entries beside it), or pass createWorker';

interface Live {
  worker: Worker;
  remote: Remote<WorkerEndpoint>;
  pending: Set<(reason: string) => void>; // rejecters of the calls in flight
  ready: Promise<unknown>; // the reload of the last bundle after a restart
}

export function createWorkerRecommender(options: WorkerRecommenderOptions = {}): WorkerRecommender {
  const createWorker = options.createWorker ?? (() => new Worker(new URL('./worker.js', import.meta.url), { type: 'module' }));
  const wasmPaths = options.wasmPaths === undefined ? undefined : absoluteUrl(options.wasmPaths);
  let live: Live | null = null;
  let lastLoad: { bundleUrl: string; options: Omit<LoadOptions, 'onProgress'> } | null = null;

  const kill = (reason: string): void => {
    if (!live) return;
    const dead = live;
    live = null;
    dead.remote[releaseProxy]();
    dead.worker.terminate();
    for (const reject of dead.pending) reject(reason);
  };

  const start = (): Live => {
    const worker = createWorker();
    const state: Live = { worker, remote: wrap<WorkerEndpoint>(worker), pending: new Set(), ready: Promise.resolve() };
    worker.addEventListener('error', (event) => {
      event.preventDefault();
      // Without a message it is the worker's script that failed to load (a 404, say), not an error thrown in it.
      if (live === state) kill(event.message ? `uncaught error in the worker: ${event.message}` : WORKER_NOT_LOADED);
    });
    live = state;
    // Messages reach the worker in order, so this runs before any call below; a worker that died fails those calls.
    state.remote.configure({ wasmPaths }).catch(() => {});
    if (lastLoad) {
      const { bundleUrl, options: reloadOptions } = lastLoad;
      // A failed reload (e.g. offline with nothing cached) fails the calls waiting on it; the next call retries.
      state.ready = state.remote.load(bundleUrl, reloadOptions).catch((err: unknown) => {
        if (live === state) kill(`reloading ${bundleUrl} failed: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
        throw err;
      });
    }
    return state;
  };

  /**
   * Run `call` on the live worker; a worker death while it is pending rejects it with WorkerTerminatedError. Errors
   * arrive by name from the worker; one raised on this side (an argument that cannot be structured-cloned, e.g. a
   * function in the options) becomes a documented runtime error as well.
   */
  const call = <T>(name: string, run: (remote: Remote<WorkerEndpoint>) => Promise<T>, afterReload = true): Promise<T> => {
    const state = live ?? start();
    return new Promise<T>((resolve, reject) => {
      const onDeath = (reason: string): void => reject(new WorkerTerminatedError(name, reason));
      state.pending.add(onDeath);
      (afterReload ? state.ready : Promise.resolve())
        .then(() => run(state.remote))
        .then(resolve, (err: unknown) => reject(err instanceof Error && err.name === 'DataCloneError'
          ? new InvalidArgumentError(`${name}() arguments`, err.message, 'pass only arrays, numbers, strings, booleans and plain objects (onProgress is the one function load() takes)')
          : toRuntimeError(err, name)))
        .finally(() => state.pending.delete(onDeath));
    });
  };

  return {
    load(bundleUrl: string, loadOptions: LoadOptions = {}): Promise<LoadInfo> {
      const { onProgress, ...rest } = loadOptions;
      lastLoad = null; // a worker started for this call must not reload the previous bundle first
      const loading = call('load', (remote) => remote.load(bundleUrl, rest, onProgress ? proxy(onProgress) : undefined), false);
      lastLoad = { bundleUrl, options: rest };
      return loading;
    },
    recommend: (history: HistoryItem[], recommendOptions?: RecommendOptions): Promise<RecommendResult> =>
      call('recommend', (remote) => remote.recommend(history, recommendOptions)),
    score: (history: HistoryItem[], sessions: HistoryItem[][], options?: ScoreOptions): Promise<ScoreResult> =>
      call('score', (remote) => remote.score(history, sessions, options)),
    async dispose(): Promise<void> {
      if (live) await call('dispose', (remote) => remote.dispose());
      lastLoad = null;
      kill('disposed');
    },
    terminate: () => kill('terminated by the caller'),
  };
}

/**
 * The folder `url` against the page (the worker's own base is another folder), with the trailing slash onnxruntime-web
 * joins file names to; an unparsable one is an InvalidArgumentError.
 */
function absoluteUrl(url: string): string {
  try {
    return new URL(url, globalThis.location?.href).href.replace(/\/?$/, '/');
  } catch {
    throw new InvalidArgumentError('wasmPaths', url, 'pass a URL (absolute, or relative to the page) of the folder that holds onnxruntime-web\'s ort-wasm-*.mjs/.wasm files');
  }
}
