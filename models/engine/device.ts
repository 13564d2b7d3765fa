// The one import site of the `webgpu` package (Dawn for Node). Opens the adapter and device once per process.
//
// The object that `create()` returns must stay referenced for the whole life of the process,
// else it is collected while its device is in use and the process dies at a random later point. It is kept
// in a module-level variable here and never released.
import { create, globals } from 'webgpu';
import { EngineError } from './errors.ts';
import { searchFeatures } from '../../runtime/webgpu-search.ts';

let gpu: GPU | undefined; // kept for the life of the process (see above)
let engineGpu: GPU | undefined; // the same, for the training engine's devices (see gpuInstance)

export interface GpuContext {
  device: GPUDevice;
  /** Human-readable adapter description, logged at start ("vendor architecture device (backend)"). */
  adapter: string;
  /** True for software adapters (SwiftShader, lavapipe): correct but slow. */
  isFallback: boolean;
  /** The device was created with 'timestamp-query' (used by the profiler). */
  timestamps: boolean;
}

/**
 * The process-wide `GPU` object (navigator.gpu's equivalent), e.g. for a baseline library in bench/. With
 * `zeroWorkgroupMemory: false`, a second instance whose devices skip WGSL's zeroing of workgroup memory (Dawn's
 * `disable_workgroup_init`): the training engine's kernels write every shared element before they read it, and that
 * zeroing, a pass and a barrier at the start of every workgroup, took three quarters of the CPU time of the engine's
 * op tests on SwiftShader (53 → 14 CPU-s for tests/models/engine/ops.test.ts). The default keeps a browser's semantics,
 * for the runtime's kernels, which browsers run with the zeroing.
 */
export function gpuInstance(options: { zeroWorkgroupMemory?: boolean } = {}): GPU {
  const make = (flags: string[]): GPU => {
    Object.assign(globalThis, globals); // GPUBufferUsage, GPUMapMode, … as in a browser
    return create(flags);
  };
  if (options.zeroWorkgroupMemory === false) return (engineGpu ??= make(['enable-dawn-features=disable_workgroup_init']));
  return (gpu ??= make([]));
}

export async function openDevice(options: { quiet?: boolean; zeroWorkgroupMemory?: boolean } = {}): Promise<GpuContext> {
  const adapter = await gpuInstance({ zeroWorkgroupMemory: options.zeroWorkgroupMemory }).requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    throw new EngineError(
      'no WebGPU adapter: Dawn found no GPU driver (Vulkan on Linux, Metal on macOS, D3D12 on Windows). ' +
        'Training needs a GPU: run on a machine with one and its driver installed. Without one, a software Vulkan driver ' +
        '(SwiftShader, or Mesa\'s lavapipe: point VK_ICD_FILENAMES at its icd.json) runs the engine on the CPU, ' +
        'correct but hours per epoch of the default model; onerec train then needs --softwareGpu');
  }
  const info = adapter.info;
  const isFallback = Boolean((info as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter) ||
    /swiftshader|llvmpipe|lavapipe/i.test(`${info.description} ${info.device} ${info.architecture}`);
  const timestamps = adapter.features.has('timestamp-query');
  const lim = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures: [...(timestamps ? ['timestamp-query' as const] : []), ...searchFeatures(adapter)],
    requiredLimits: {
      maxStorageBufferBindingSize: lim.maxStorageBufferBindingSize,
      maxBufferSize: lim.maxBufferSize,
      maxComputeWorkgroupStorageSize: lim.maxComputeWorkgroupStorageSize,
      maxStorageBuffersPerShaderStage: lim.maxStorageBuffersPerShaderStage,
      maxComputeInvocationsPerWorkgroup: lim.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: lim.maxComputeWorkgroupSizeX,
    },
  });
  const name = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ');
  const description = `${name || 'unknown adapter'}${isFallback ? ' (software fallback)' : ''}`;
  if (!options.quiet) console.log(`[engine] WebGPU adapter: ${description}`);
  return { device, adapter: description, isFallback, timestamps };
}
