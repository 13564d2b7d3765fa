// The one file that imports onnxruntime-web. It maps a device name to an ordered list of execution
// providers and loads, per EP, the onnxruntime-web build made for it:
//   'webgpu' → onnxruntime-web/webgpu (the native C++ WebGPU EP; its wasm is the asyncify build)
//   'wasm'   → onnxruntime-web/wasm   (the plain SIMD/threads wasm build, the fastest CPU path)
// Each is imported on first use only, so a page that never touches WebGPU never downloads its 27 MB wasm. On
// WebGPU the seed model normally runs as the runtime's own WGSL (runtime/webgpu-decoder.ts) and the remaining ONNX
// graphs on the wasm build: the WebGPU build is then fetched only when the WGSL model cannot run a bundle. On wasm the
// seed model normally runs in the runtime's WebAssembly SIMD kernels (runtime/wasm-decoder.ts), the reward model on
// onnxruntime-web.
// build.mjs copies both builds' .mjs/.wasm next to the bundles under dist/ort/; `wasmPaths` points there.
import { InvalidDeviceError, NoBackendError, WebGpuUnavailableError } from './errors.ts';
import { createSessions, type BundleModels, type OrtModule, type Sessions } from './sessions.ts';
import type { SpawnWasmHelper } from './wasm-decoder.ts';
import type { Device } from './recommender.ts';

export const DEVICES: readonly Device[] = ['auto', 'webgpu', 'wasm'];
export type ExecutionProvider = 'webgpu' | 'wasm';

/** Ordered execution providers for a device name; a bad name throws InvalidDeviceError listing the valid ones. */
export function deviceToExecutionProviders(device: Device): ExecutionProvider[] {
  switch (device) {
    case 'auto':
      return ['webgpu', 'wasm'];
    case 'webgpu':
      return ['webgpu'];
    case 'wasm':
      return ['wasm'];
    default:
      throw new InvalidDeviceError(device, DEVICES);
  }
}

export interface OnnxOptions {
  threads: number; // wasm threads; > 1 needs cross-origin isolation
  wasmPaths: string; // URL prefix of the ort-wasm-*.mjs/.wasm files
  gpuDecoder?: boolean; // on WebGPU, the seed model in WGSL (LoadOptions.gpuDecoder); default true
  wasmDecoder?: boolean; // on wasm, the seed model in the runtime's wasm SIMD kernels (LoadOptions.wasmDecoder); default true
  spawnWasmHelper?: SpawnWasmHelper; // starts a helper thread of the kernels (worker/endpoint.ts: dist/wasm-helper.js)
}

/** Where build.mjs puts the ORT runtime files: dist/ort/, next to the bundle that imports this module. */
export function defaultWasmPaths(): string {
  return new URL('./ort/', import.meta.url).href;
}

type OrtWeb = typeof import('onnxruntime-web');

const modules: Partial<Record<ExecutionProvider, Promise<OrtWeb>>> = {};

async function ortFor(ep: ExecutionProvider, options: OnnxOptions): Promise<OrtWeb> {
  modules[ep] ??= ep === 'webgpu' ? import('onnxruntime-web/webgpu') : import('onnxruntime-web/wasm');
  const ort = await modules[ep]!;
  ort.env.wasm.wasmPaths = options.wasmPaths;
  // Threads need SharedArrayBuffer, which exists only when cross-origin isolated; ORT would warn and ignore.
  ort.env.wasm.numThreads = globalThis.crossOriginIsolated ? Math.max(1, options.threads) : 1;
  ort.env.wasm.proxy = false; // we already are in a worker (or the caller chose the main thread)
  return ort;
}

/** Why WebGPU cannot be used here, or null when an adapter exists. */
async function webGpuMissing(): Promise<string | null> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) return 'navigator.gpu is undefined';
  try {
    return (await gpu.requestAdapter()) ? null : 'requestAdapter() returned null';
  } catch (err) {
    return `requestAdapter() threw ${err instanceof Error ? err.message : String(err)}`;
  }
}

/** A GPUDevice of the runtime's own for the WGSL model (onnxruntime-web keeps its device to itself), or why not. */
async function gpuDeviceOrReason(): Promise<GPUDevice | string> {
  try {
    const adapter = await (globalThis.navigator as Navigator).gpu.requestAdapter();
    if (!adapter) return 'requestAdapter() returned null';
    return await adapter.requestDevice();
  } catch (err) {
    return `requestDevice() threw ${err instanceof Error ? err.message : String(err)}`;
  }
}

/**
 * On WebGPU with the WGSL model: the seed model (encoder and decoder steps) in WGSL on a device of its own, and the
 * ONNX graphs — the reward model, and the seed graphs should the device be lost (their sessions made then) — on
 * onnxruntime-web's wasm build, so the 27 MB WebGPU build is never fetched. Null (with the reason added to `reasons`) when the WGSL
 * model cannot run this bundle here; the caller then uses onnxruntime's WebGPU EP.
 */
async function createWgslSessions(models: BundleModels, options: OnnxOptions, reasons: string[]): Promise<Sessions | null> {
  const device = await gpuDeviceOrReason();
  if (typeof device === 'string') {
    reasons.push(`[wgsl] no WebGPU device for the WGSL model: ${device}`);
    return null;
  }
  let sessions: Sessions;
  try {
    sessions = await createSessions((await ortFor('wasm', options)) as unknown as OrtModule, models, ['wasm'], {}, { gpuDevice: device, ownsGpuDevice: true });
  } catch (err) {
    device.destroy();
    reasons.push(...(err instanceof NoBackendError ? err.reasons : [`[wasm] ${err instanceof Error ? err.message : String(err)}`]));
    return null;
  }
  if (sessions.decoderBackend === 'wgsl') return sessions; // the seed graphs' wasm sessions are made only if the device is lost
  device.destroy();
  reasons.push(...sessions.fallbackReasons);
  await sessions.release();
  return null;
}

/**
 * Sessions for `models` on the first device of `device` that runs them all. On WebGPU the WGSL model runs the seed
 * model (unless options.gpuDecoder is false) with the ONNX graphs on wasm; if it cannot, onnxruntime's WebGPU EP
 * runs every graph. 'auto' collects each backend's reason and throws one NoBackendError naming all if none works;
 * 'webgpu' alone without an adapter throws WebGpuUnavailableError.
 */
export async function createWebSessions(models: BundleModels, device: Device, options: OnnxOptions): Promise<Sessions> {
  const reasons: string[] = [];
  for (const ep of deviceToExecutionProviders(device)) {
    if (ep === 'webgpu') {
      const missing = await webGpuMissing();
      if (missing) {
        if (device === 'webgpu') throw new WebGpuUnavailableError(missing);
        reasons.push(`[webgpu] ${missing}`);
        continue;
      }
      if (options.gpuDecoder ?? true) {
        const sessions = await createWgslSessions(models, options, reasons);
        if (sessions) {
          sessions.fallbackReasons.unshift(...reasons);
          return sessions;
        }
      }
    }
    try {
      const ort = await ortFor(ep, options);
      // The kernels decide themselves whether helper threads can run here (and say why not in fallbackReasons).
      const sessions = await createSessions(ort as unknown as OrtModule, models, [ep], {}, { wasmDecoder: ep === 'wasm' && (options.wasmDecoder ?? true), wasmThreads: options.threads, spawnWasmHelper: options.spawnWasmHelper });
      sessions.fallbackReasons.unshift(...reasons);
      return sessions;
    } catch (err) {
      if (err instanceof NoBackendError) reasons.push(...err.reasons);
      else reasons.push(`[${ep}] ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  throw new NoBackendError(reasons);
}
