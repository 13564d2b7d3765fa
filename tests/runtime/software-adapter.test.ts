// device: 'auto' leaves a software WebGPU adapter (WebGPU emulated on the CPU) for the wasm kernels: which
// adapters count as software, from the flag browsers report or from what the adapter says it is.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { softwareAdapter } from '../../runtime/onnx.ts';

const adapter = (info: Partial<GPUAdapterInfo> & { isFallbackAdapter?: boolean }, legacyFlag?: boolean) =>
  ({ info: { vendor: '', architecture: '', device: '', description: '', ...info }, ...(legacyFlag !== undefined && { isFallbackAdapter: legacyFlag }) }) as unknown as GPUAdapter;

test('software adapters: SwiftShader, lavapipe/llvmpipe, anything flagged as a fallback', () => {
  const software = [
    adapter({ vendor: 'google', architecture: 'swiftshader' }), // Chromium's, as headless Chromium reports it
    adapter({ description: 'SwiftShader Device (Subzero)' }),
    adapter({ vendor: 'mesa', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' }),
    adapter({ description: 'lavapipe' }),
    adapter({ vendor: 'intel', isFallbackAdapter: true }), // the flag wins whatever the names say
    adapter({}, true), // older browsers put the flag on the adapter
    adapter({ architecture: 'cpu' }),
  ];
  for (const a of software) assert.match(softwareAdapter(a) ?? '', /^a software adapter \(/, JSON.stringify(a.info));
  assert.match(softwareAdapter(adapter({ vendor: 'google', architecture: 'swiftshader' }))!, /google swiftshader/);
});

test('hardware adapters are taken: NVIDIA, AMD, Intel, Apple, Qualcomm', () => {
  const hardware = [
    adapter({ vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H200' }),
    adapter({ vendor: 'amd', architecture: 'rdna-3' }),
    adapter({ vendor: 'intel', architecture: 'gen-12lp', isFallbackAdapter: false }),
    adapter({ vendor: 'apple', architecture: 'metal-3' }),
    adapter({ vendor: 'qualcomm', architecture: 'adreno-7xx' }),
    adapter({}), // a browser that says nothing: not evidence of software
  ];
  for (const a of hardware) assert.equal(softwareAdapter(a), null, JSON.stringify(a.info));
});
