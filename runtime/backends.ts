// Which engine runs a bundle: one ordered list of candidates, each of which returns a BundleRunner or says why not;
// the first runner wins, and when none does one NoBackendError names every candidate's reason (`[name] reason`).
//
//   wgsl        the runtime's WGSL seed model on a GPUDevice of its own (runtime/webgpu-decoder.ts)
//   wasm-simd   the runtime's WebAssembly SIMD kernels (runtime/wasm-decoder.ts)
//   ort-<ep>    every seed graph on ONNX Runtime's execution provider <ep> (webgpu, wasm; cpu in Node)
//
// The reward model runs on the seed model's engine: in WGSL on the wgsl candidate's device (runtime/webgpu-reward.ts),
// on the wasm kernels with wasm-simd (runtime/wasm-reward.ts); with either no graph is left for onnxruntime, whose wasm
// is not even fetched. runtime/onnx.ts builds the browser's list (device and engine choice →
// candidates); createBundleRunner below is Node's (runtime-node/node-recommender.ts, tests). This file never imports an ONNX
// Runtime package: the `ort` module is a parameter.
import type { InferenceSession } from 'onnxruntime-common';
import { InvalidArgumentError, NoBackendError } from './errors.ts';
import { BundleRunner, type SeedEngine } from './bundle-runner.ts';
import { createSeedGraphs, type OrtModule, type SeedGraphs } from './onnx-decoder-session.ts';
import { createRewardRunner, type RewardEngines, type RewardRunner } from './reward-runner.ts';
import { WebGpuDecoder, WebGpuDecoderError } from './webgpu-decoder.ts';
import { WasmDecoder, WasmDecoderError } from './wasm-decoder.ts';
import type { SpawnWasmHelper } from './wasm-threads.ts';
import type { BundleModels } from './loader.ts';
import { ENGINES } from './arguments.ts';
import type { Engine } from './recommender.ts';

/** The seed-model engines a load may use. */
export interface EngineChoice {
  wgsl: boolean; // the runtime's WGSL model (WebGPU)
  wasm: boolean; // the runtime's wasm SIMD kernels
  onnxruntime: boolean; // the bundle's graphs on ONNX Runtime
}

/**
 * LoadOptions' engine choice: `engine`, or — deprecated, read for one release — the booleans `gpuDecoder` (false: no WGSL
 * model) and `wasmDecoder` (false: no wasm kernels). 'auto' allows all three in the order of the candidate list; a named
 * engine allows only itself (no fallback). A bad name is an InvalidArgumentError listing the valid ones.
 */
export function engineChoice(options: { engine?: unknown; gpuDecoder?: boolean; wasmDecoder?: boolean }): EngineChoice {
  switch (options.engine) {
    case undefined:
      return { wgsl: options.gpuDecoder ?? true, wasm: options.wasmDecoder ?? true, onnxruntime: true };
    case 'auto':
      return { wgsl: true, wasm: true, onnxruntime: true };
    case 'wgsl':
      return { wgsl: true, wasm: false, onnxruntime: false };
    case 'wasm':
      return { wgsl: false, wasm: true, onnxruntime: false };
    case 'onnxruntime':
      return { wgsl: false, wasm: false, onnxruntime: true };
    default:
      throw new InvalidArgumentError('options.engine', options.engine, `use one of ${ENGINES.map((e) => `'${e}'`).join(', ')}`);
  }
}

/** One way to run a bundle: a runner, or why not (a sentence; the list prefixes it with `[name]`). */
export interface BackendCandidate {
  name: string; // 'wgsl', 'wasm-simd', 'ort-webgpu', 'ort-wasm', 'ort-cpu', …
  create(): Promise<BundleRunner | string>;
}

/**
 * The first candidate's runner that comes up, with the reasons of those before it (and `reasons` given) first in its
 * fallbackReasons; a candidate that throws counts as declining with the error's message. None: NoBackendError naming all.
 */
export async function firstBackend(candidates: BackendCandidate[], reasons: string[] = []): Promise<BundleRunner> {
  for (const candidate of candidates) {
    let outcome: BundleRunner | string;
    try {
      outcome = await candidate.create();
    } catch (err) {
      outcome = err instanceof Error ? err.message : String(err);
    }
    if (typeof outcome !== 'string') {
      outcome.fallbackReasons.unshift(...reasons);
      return outcome;
    }
    reasons.push(`[${candidate.name}] ${outcome}`);
  }
  throw new NoBackendError(reasons);
}

/** What every candidate needs: the bundle, an ONNX Runtime module and EP for the graphs left to it, session options. */
export interface CandidateContext {
  models: BundleModels;
  ort: () => Promise<OrtModule>; // imported on first use (the browser's builds are large)
  ep: string; // the EP of the graphs left to ONNX Runtime
  sessionOptions?: InferenceSession.SessionOptions;
}

/** A runner over `engine` (null: the ORT seed graphs, made now) with the reward model on `rewardEngines` or ORT; whatever was made is released on failure. */
async function makeRunner(context: CandidateContext, engine: SeedEngine | null, rewardEngines: RewardEngines): Promise<BundleRunner> {
  const { models, ep } = context;
  const sessionOptions = context.sessionOptions ?? {};
  const ort = await context.ort();
  const reasons: string[] = [];
  let reward: RewardRunner | null = null;
  let graphs: SeedGraphs | null = null;
  try {
    reward = await createRewardRunner(ort, models, ep, sessionOptions, rewardEngines, reasons);
    // The seed graphs: made now when no engine of the runtime runs the seed model, else only if it stops (a lost GPU device).
    graphs = engine ? null : await createSeedGraphs(ort, models, ep, sessionOptions);
  } catch (err) {
    await reward?.release().catch(() => undefined);
    throw err;
  }
  return new BundleRunner(ort, models, ep, reasons, engine, graphs, () => createSeedGraphs(ort, models, ep, sessionOptions), reward);
}

/**
 * The WGSL model on the device `device()` gives (or the reason there is none); the reward model in WGSL on the same
 * device (else on the wasm kernels, else onnxruntime). `ownsDevice`: the runner destroys the device when released, and
 * so does a declined candidate.
 */
export function wgslCandidate(context: CandidateContext, device: () => Promise<GPUDevice | string>, ownsDevice: boolean): BackendCandidate {
  return {
    name: 'wgsl',
    create: async () => {
      const gpu = await device();
      if (typeof gpu === 'string') return `no WebGPU device for the WGSL model: ${gpu}`;
      let model: WebGpuDecoder;
      try {
        model = await WebGpuDecoder.create(gpu, context.models.decoderStep, context.models.members, { encoderOnnx: context.models.encoder });
      } catch (err) {
        if (ownsDevice) gpu.destroy();
        if (!(err instanceof WebGpuDecoderError)) throw err;
        return err.message;
      }
      try {
        return await makeRunner(context, { backend: 'wgsl', model, threads: 1, device: gpu, ownsDevice }, { device: gpu, kernels: true });
      } catch (err) {
        model.dispose();
        if (ownsDevice) gpu.destroy();
        throw err;
      }
    },
  };
}

/** The wasm kernels, `threads` of them (helpers from `spawnHelper`); the reward model on the kernels too. */
export function wasmSimdCandidate(context: CandidateContext, threads: number, spawnHelper?: SpawnWasmHelper): BackendCandidate {
  return {
    name: 'wasm-simd',
    create: async () => {
      let model: WasmDecoder;
      try {
        model = await WasmDecoder.create(context.models.decoderStep, context.models.encoder, context.models.members, { threads, spawnHelper });
      } catch (err) {
        if (!(err instanceof WasmDecoderError)) throw err;
        return err.message;
      }
      try {
        const runner = await makeRunner(context, { backend: 'wasm-simd', model, threads: model.threads }, { kernels: true });
        if (model.threadsNote) runner.fallbackReasons.push(`[wasm-simd] ${threads} threads asked for, 1 runs: ${model.threadsNote}`);
        return runner;
      } catch (err) {
        model.dispose();
        throw err;
      }
    },
  };
}

/**
 * Every seed graph on ONNX Runtime's `context.ep`. `rewardOnKernels`: the reward model on the wasm kernels where they
 * read it (where the load allowed the runtime's own engines and only the seed model fell back to the graphs).
 */
export function ortCandidate(context: CandidateContext, rewardOnKernels: boolean): BackendCandidate {
  return { name: `ort-${context.ep}`, create: () => makeRunner(context, null, { kernels: rewardOnKernels }) };
}

/**
 * Timed calls stop once the warm-ups and timed calls have taken this long, ms (at least one timed call per engine). The
 * kernels' build comes on top: 140–180 ms for Beauty's, 14 ms for KuaiRand's, on a 2-core development machine under load.
 */
export const PROBE_BUDGET_MS = 150;
/** The wasm kernels win the probe only when the WGSL model is slower than this factor times theirs: near-ties keep WebGPU, which leaves the CPU free. */
export const PROBE_MARGIN = 1.25;

export interface ProbeOptions {
  budgetMs?: number; // default PROBE_BUDGET_MS
  rounds?: number; // timed calls per engine at most; default 3
  margin?: number; // default PROBE_MARGIN
  now?: () => number; // the clock, ms (tests)
}

/**
 * The WGSL candidate, probed against the wasm kernels (`device: 'auto'` on a hardware adapter): when both come up, each
 * runs one warm-up recommendation (shader and pipeline compilation, the wasm tier-up), then timed ones in turn — the
 * encoder and `levels` decoder steps at the bundle's beam width, a fixed history, no exclusion, bias or rerank — until
 * `rounds` each or the budget is spent. The best call of each decides: the kernels only when wgslMs > margin × wasmMs.
 * The loser is released; the winner's `probe` records the figures, and a fallbackReasons line says why WGSL lost. The
 * sessions are the engines' own either way. Should the kernels not come up, the WGSL runner is kept without a probe; an
 * engine whose call throws loses, with its error in fallbackReasons.
 */
export function probedCandidate(wgsl: BackendCandidate, wasm: BackendCandidate, options: ProbeOptions = {}): BackendCandidate {
  const now = options.now ?? (() => performance.now());
  return {
    name: wgsl.name,
    create: async () => {
      const gpu = await wgsl.create();
      if (typeof gpu === 'string') return gpu;
      const t0 = now();
      let kernels: BundleRunner | string;
      try {
        kernels = await wasm.create();
      } catch (err) {
        kernels = err instanceof Error ? err.message : String(err);
      }
      if (typeof kernels === 'string') return gpu;
      const { shape } = gpu.models;
      // A fixed history: the first maxHistory items (the encoder's input is padded to maxHistory slots either way).
      const history = Array.from({ length: Math.min(shape.maxHistory, gpu.models.trie.itemCount) }, (_, i) => i);
      const call = { sessionLength: 1, excludeHistory: false, historyBias: false, rerank: false };
      let inFlight: 'wgsl' | 'wasm-simd' = 'wgsl'; // the engine whose call runs (the loser, should it throw)
      const time = async (runner: BundleRunner): Promise<number> => {
        inFlight = runner === gpu ? 'wgsl' : 'wasm-simd';
        const t = now();
        await runner.recommend(history, call);
        return now() - t;
      };
      const best = { wgsl: Infinity, wasm: Infinity };
      let rounds = 0;
      let failed: string | null = null; // the error of the call that threw
      const started = now(); // the budget's start: the builds are a fixed cost it cannot shorten
      try {
        await time(gpu); // warm-ups: not timed
        await time(kernels);
        const budget = options.budgetMs ?? PROBE_BUDGET_MS;
        while (rounds < (options.rounds ?? 3) && (rounds === 0 || now() - started < budget)) {
          best.wgsl = Math.min(best.wgsl, await time(gpu));
          best.wasm = Math.min(best.wasm, await time(kernels));
          rounds++;
        }
      } catch (err) {
        failed = err instanceof Error ? err.message : String(err);
      }
      const chosen = failed ? (inFlight === 'wgsl' ? 'wasm-simd' : 'wgsl') : best.wgsl > (options.margin ?? PROBE_MARGIN) * best.wasm ? 'wasm-simd' : 'wgsl';
      const [winner, loser] = chosen === 'wgsl' ? [gpu, kernels] : [kernels, gpu];
      await loser.release();
      if (failed) {
        winner.fallbackReasons.unshift(`[${inFlight}] probe: recommend() threw ${failed}`);
        return winner;
      }
      const figure = (ms: number): string => ms.toFixed(1);
      if (chosen === 'wasm-simd') {
        winner.fallbackReasons.unshift(`[wgsl] probe: ${figure(best.wgsl)} ms per call against ${figure(best.wasm)} on the wasm kernels (encoder + ${shape.levels} decoder steps at beam ${shape.beamWidth}, best of ${rounds})`);
      }
      winner.probe = { wgslMs: best.wgsl, wasmMs: best.wasm, rounds, chosen, probeMs: now() - t0 };
      return winner;
    },
  };
}

export interface NodeBackendOptions {
  /** The seed-model engines allowed (engineChoice); default: only ONNX Runtime, unless gpuDevice or wasmDecoder ask for another. */
  engine?: Engine;
  /** A WebGPU device for the WGSL model (runtime/webgpu-decoder.ts). Without `engine`, the WGSL model is tried first. */
  gpuDevice?: GPUDevice;
  /** The runner destroys `gpuDevice` when released (a device made for it). */
  ownsGpuDevice?: boolean;
  /** @deprecated use `engine: 'auto'` (the kernels first, then ONNX Runtime). True: try the wasm kernels first. */
  wasmDecoder?: boolean;
  /** Threads for the wasm kernels (the caller and wasmThreads − 1 helpers started by spawnWasmHelper); default 1. */
  wasmThreads?: number;
  spawnWasmHelper?: SpawnWasmHelper;
  /**
   * With `engine: 'auto'` and a gpuDevice: time the WGSL model against the wasm kernels at load and keep the faster
   * (probedCandidate). Default off in Node: giving a device is the caller's choice of it.
   */
  probe?: boolean | ProbeOptions;
}

/**
 * A runner for `models` over an ONNX Runtime module given as it is (Node: models/onnx-runtime.ts's, or onnxruntime-node), its graphs on the first
 * of `executionProviders` that runs them. The candidates, in order: wgsl (with `gpuDevice`), wasm-simd, then
 * ort-<ep> for each EP — as `options.engine` allows (without it: wgsl where a device is given, wasm-simd where
 * wasmDecoder asks, then ONNX Runtime). NoBackendError names each candidate's reason when none runs.
 */
export async function createBundleRunner(ort: OrtModule, models: BundleModels, executionProviders: string[], sessionOptions: InferenceSession.SessionOptions = {}, options: NodeBackendOptions = {}): Promise<BundleRunner> {
  const allowed = options.engine ? engineChoice({ engine: options.engine }) : { wgsl: options.gpuDevice !== undefined, wasm: options.wasmDecoder === true, onnxruntime: true };
  const context = (ep: string): CandidateContext => ({ models, ort: async () => ort, ep, sessionOptions });
  const first = executionProviders[0] ?? 'cpu';
  const candidates: BackendCandidate[] = [];
  const reasons: string[] = [];
  if (allowed.wgsl) {
    const device = options.gpuDevice;
    // In Node the WGSL model needs a device from the caller (Dawn: models/engine/device.ts openDevice).
    const wgsl = device && wgslCandidate(context(first), async () => device, options.ownsGpuDevice ?? false);
    const probe = options.engine === 'auto' && options.probe ? (options.probe === true ? {} : options.probe) : null;
    if (wgsl && probe) candidates.push(probedCandidate(wgsl, wasmSimdCandidate(context(first), options.wasmThreads ?? 1, options.spawnWasmHelper), probe));
    else if (wgsl) candidates.push(wgsl);
    else if (options.engine === 'wgsl') reasons.push('[wgsl] no gpuDevice given to run it on');
  }
  if (allowed.wasm) candidates.push(wasmSimdCandidate(context(first), options.wasmThreads ?? 1, options.spawnWasmHelper));
  // Where an engine of the runtime's was asked for and only the seed model falls back, the reward model stays on the kernels.
  if (allowed.onnxruntime) for (const ep of executionProviders) candidates.push(ortCandidate(context(ep), allowed.wgsl || allowed.wasm));
  return firstBackend(candidates, reasons);
}
