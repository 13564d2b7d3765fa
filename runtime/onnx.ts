// The one file that imports onnxruntime-web. It maps a device name to an ordered list of execution
// providers and loads, per EP, the onnxruntime-web build made for it:
//   'webgpu' → onnxruntime-web/webgpu (the native C++ WebGPU EP; its wasm is the asyncify build)
//   'wasm'   → onnxruntime-web/wasm   (the plain SIMD/threads wasm build, the fastest CPU path)
// Each is imported on first use only, so a page that never touches WebGPU never downloads its 27 MB wasm. On
// WebGPU the seed model normally runs as the runtime's own WGSL (runtime/webgpu-decoder.ts) and the remaining ONNX
// graphs on the wasm build: the WebGPU build is then fetched only when the WGSL model cannot run a bundle. On wasm the
// seed model normally runs in the runtime's WebAssembly SIMD kernels (runtime/wasm-decoder.ts), the reward model in
// them too. The candidates and their order: runtime/backends.ts.
// build.mjs copies both builds' .mjs/.wasm next to the bundles under dist/ort/; `wasmPaths` points there.
import { InvalidDeviceError, WebGpuUnavailableError } from './errors.ts';
import { engineChoice, firstBackend, ortCandidate, probedCandidate, wasmSimdCandidate, wgslCandidate, type BackendCandidate, type CandidateContext, type ProbeOptions } from './backends.ts';
import type { BundleRunner } from './bundle-runner.ts';
import type { OrtModule } from './onnx-decoder-session.ts';
import type { BundleModels } from './loader.ts';
import type { SpawnWasmHelper } from './wasm-threads.ts';
import { searchFeatures } from './webgpu-search.ts';
import type { Device, Engine } from './recommender.ts';

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
  engine?: Engine; // which engine runs the seed model (LoadOptions.engine); default 'auto'
  gpuDecoder?: boolean; // deprecated LoadOptions.gpuDecoder: false = no WGSL model
  wasmDecoder?: boolean; // deprecated LoadOptions.wasmDecoder: false = no wasm kernels
  spawnWasmHelper?: SpawnWasmHelper; // starts a helper thread of the kernels (worker/endpoint.ts: dist/wasm-helper.js)
  probe?: boolean | ProbeOptions; // LoadOptions.probe (default true): on 'auto' with a hardware adapter, time WGSL against the kernels
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

/**
 * What makes an adapter a software one (SwiftShader, lavapipe/llvmpipe: WebGPU emulated on the CPU), or null for
 * a real GPU: `isFallbackAdapter` where the browser reports it, else its vendor/architecture/description.
 */
export function softwareAdapter(adapter: GPUAdapter): string | null {
  const info = (adapter.info ?? {}) as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const flagged = info.isFallbackAdapter ?? (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false;
  const text = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ');
  if (flagged || /swiftshader|llvmpipe|lavapipe|softpipe|\bcpu\b/i.test(text)) return `a software adapter (${text || 'isFallbackAdapter'})`;
  return null;
}

/**
 * Why WebGPU cannot be used here, or null when an adapter exists. With `auto`, a software adapter counts as
 * missing: it runs on the CPU, where the wasm kernels are much faster (a first session took 2.2 s on SwiftShader
 * against ~40 ms on the kernels); device: 'webgpu' takes it anyway.
 */
async function webGpuMissing(auto: boolean): Promise<string | null> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) return 'navigator.gpu is undefined';
  try {
    const adapter = await gpu.requestAdapter();
    if (!adapter) return 'requestAdapter() returned null';
    const software = auto ? softwareAdapter(adapter) : null;
    return software ? `${software} emulates WebGPU on the CPU, where the wasm kernels are faster; device: 'webgpu' uses it anyway` : null;
  } catch (err) {
    return `requestAdapter() threw ${err instanceof Error ? err.message : String(err)}`;
  }
}

/** A GPUDevice of the runtime's own for the WGSL model (onnxruntime-web keeps its device to itself), or why not. */
async function gpuDeviceOrReason(): Promise<GPUDevice | string> {
  try {
    const adapter = await (globalThis.navigator as Navigator).gpu.requestAdapter();
    if (!adapter) return 'requestAdapter() returned null';
    const features = searchFeatures(adapter);
    return await adapter.requestDevice(features.length > 0 ? { requiredFeatures: features } : undefined);
  } catch (err) {
    return `requestDevice() threw ${err instanceof Error ? err.message : String(err)}`;
  }
}

/**
 * A runner for `models` on the first candidate that `device` and the engine choice allow, in this order (runtime/backends.ts):
 * wgsl (the WGSL model on a device of its own; the ONNX graphs left — the reward model where the kernels cannot read it,
 * the seed graphs should the device be lost — on onnxruntime-web's wasm build, so its 27 MB WebGPU build is not fetched),
 * ort-webgpu, wasm-simd, ort-wasm. On 'auto' the wgsl candidate is timed against wasm-simd and the faster kept (probedCandidate; not with
 * `probe: false`). WebGPU's candidates need an adapter (for 'auto', a hardware one): without one, 'auto' notes `[webgpu] why` and
 * goes on; 'webgpu' alone throws WebGpuUnavailableError. None runs: one NoBackendError naming each candidate's reason.
 */
export async function createWebRunner(models: BundleModels, device: Device, options: OnnxOptions): Promise<BundleRunner> {
  const eps = deviceToExecutionProviders(device);
  const allowed = engineChoice(options);
  const context = (ep: ExecutionProvider): CandidateContext => ({ models, ep, ort: async () => (await ortFor(ep, options)) as unknown as OrtModule });
  const reasons: string[] = [];
  const candidates: BackendCandidate[] = [];
  if (eps.includes('webgpu') && (allowed.wgsl || allowed.onnxruntime)) {
    const missing = await webGpuMissing(device === 'auto');
    if (missing && device === 'webgpu') throw new WebGpuUnavailableError(missing);
    if (missing) reasons.push(`[webgpu] ${missing}`);
    else {
      const wgsl = wgslCandidate(context('wasm'), gpuDeviceOrReason, true);
      // 'auto' on a hardware adapter with both engines of the runtime's allowed: the faster of the two on this bundle.
      const probe = device === 'auto' && allowed.wasm && options.probe !== false;
      if (allowed.wgsl) candidates.push(probe ? probedCandidate(wgsl, wasmSimdCandidate(context('wasm'), options.threads, options.spawnWasmHelper), typeof options.probe === 'object' ? options.probe : {}) : wgsl);
      if (allowed.onnxruntime) candidates.push(ortCandidate(context('webgpu'), false));
    }
  }
  if (eps.includes('wasm')) {
    // The kernels decide themselves whether helper threads can run here (and say why not in fallbackReasons).
    if (allowed.wasm) candidates.push(wasmSimdCandidate(context('wasm'), options.threads, options.spawnWasmHelper));
    // Where the kernels were allowed and only the seed model falls back, the reward model stays on them.
    if (allowed.onnxruntime) candidates.push(ortCandidate(context('wasm'), allowed.wasm));
  }
  if (candidates.length === 0 && reasons.length === 0) reasons.push(`[${options.engine}] this engine does not run on device '${device}'`);
  return firstBackend(candidates, reasons);
}
