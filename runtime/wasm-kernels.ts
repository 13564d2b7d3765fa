// The runtime's WebAssembly SIMD kernels (runtime/wasm/assembly/kernels.ts, compiled into runtime/wasm/kernels-wasm.ts):
// their exports, the module compiled once per thread and kind, an instance over a memory of its own, and the bump
// allocator (Heap) that lays out that memory. The seed model's decoder (runtime/wasm-decoder.ts) and the reward model
// (runtime/wasm-reward.ts) both run on them.
import { WasmDecoderError } from './errors.ts';
import { KERNELS_RELAXED_SHARED_WASM_BASE64, KERNELS_RELAXED_WASM_BASE64, KERNELS_SHARED_WASM_BASE64, KERNELS_WASM_BASE64 } from './wasm/kernels-wasm.ts';

/** The kernels' exports (runtime/wasm/assembly/kernels.ts): pointers are byte offsets, sizes and strides float counts. */
export interface Kernels {
  gemm(a: number, lda: number, w: number, ldw: number, bias: number, c: number, ldc: number, M: number, K: number, N: number, acc: number): void;
  selfAttention(q: number, ldq: number, kc: number, vc: number, D: number, anc: number, ancStride: number, B: number, T: number, P: number, H: number, DH: number, scale: number, out: number, ldo: number, scores: number): void;
  softmaxRows(p: number, rows: number, n: number, ld: number, scale: number, bias: number): void;
  layerNorm(x: number, out: number, g: number, b: number, rows: number, D: number): void;
  gelu(x: number, n: number): void;
  gatherRows(src: number, lds: number, idx: number, n: number, D: number, dst: number): void;
  scatterAddScaled(src: number, idx: number, gate: number, n: number, D: number, dst: number): void;
  transpose(src: number, lds: number, rows: number, cols: number, dst: number, ldd: number): void;
  codeScores(logits: number, rows: number, V: number, codeStart: number, K: number, out: number): void;
  scale(x: number, n: number, s: number): void;
  heapBase(): number;
}

const compiled: Partial<Record<'private' | 'shared', Promise<{ module: WebAssembly.Module; relaxed: boolean }>>> = {};

const decodeBase64 = (base64: string): Uint8Array<ArrayBuffer> => {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
};

/**
 * The kernels' module, compiled once per thread and kind (asynchronously: browsers refuse large synchronous compiles):
 * the relaxed-SIMD build (fused multiply-adds) where the engine validates it — Chromium —, else the plain SIMD one;
 * `shared`: the builds over a shared memory, for helper threads.
 */
function kernelModule(shared = false): Promise<{ module: WebAssembly.Module; relaxed: boolean }> {
  const kind = shared ? 'shared' : 'private';
  let pending = compiled[kind];
  if (!pending) {
    const relaxedBytes = decodeBase64(shared ? KERNELS_RELAXED_SHARED_WASM_BASE64 : KERNELS_RELAXED_WASM_BASE64);
    const relaxed = WebAssembly.validate(relaxedBytes);
    pending = WebAssembly.compile(relaxed ? relaxedBytes : decodeBase64(shared ? KERNELS_SHARED_WASM_BASE64 : KERNELS_WASM_BASE64)).then((module) => ({ module, relaxed }));
    pending.catch(() => { delete compiled[kind]; });
    compiled[kind] = pending;
  }
  return pending;
}

/** Pages of the shared memory's maximum (1 GiB; the shared builds declare it). */
const SHARED_MAX_PAGES = 16384;

/**
 * An instance of the kernels over a memory of its own, and the allocator for it (the relaxed-SIMD build where the
 * engine has it); `shared`: over a shared memory that helper threads can run the kernels on too. A module that does
 * not instantiate (no WebAssembly SIMD) is a WasmDecoderError.
 */
export async function instantiateKernels(options: { shared?: boolean } = {}): Promise<{ kernels: Kernels; heap: Heap; relaxed: boolean; module: WebAssembly.Module }> {
  try {
    const memory = options.shared ? new WebAssembly.Memory({ initial: 1, maximum: SHARED_MAX_PAGES, shared: true }) : new WebAssembly.Memory({ initial: 1 });
    const { module, relaxed } = await kernelModule(options.shared);
    const kernels = (await WebAssembly.instantiate(module, { env: { memory } })).exports as unknown as Kernels;
    return { kernels, heap: new Heap(memory, kernels.heapBase()), relaxed, module };
  } catch (err) {
    throw new WasmDecoderError(`the kernels did not instantiate (${(err as Error).message}; they need WebAssembly SIMD)`);
  }
}

/** Bytes of f floats rounded up to 16 (SIMD rows start aligned). */
const bytesOf = (floats: number): number => Math.ceil((4 * floats) / 16) * 16;

/** A bump allocator over the module's memory, grown as needed; views are re-made after growth. */
export class Heap {
  private f32View: Float32Array;
  private i32View: Int32Array;
  private top: number;

  /** `base`: the end of the module's static data (Mathf's tables). */
  constructor(readonly memory: WebAssembly.Memory, base: number) {
    this.top = bytesOf(base / 4 + 1);
    this.f32View = new Float32Array(memory.buffer);
    this.i32View = new Int32Array(memory.buffer);
  }

  alloc(floats: number): number {
    const at = this.top;
    this.top += bytesOf(floats);
    const pages = Math.ceil(this.top / 65536) - this.memory.buffer.byteLength / 65536;
    if (pages > 0) {
      try {
        this.memory.grow(pages);
      } catch (err) {
        this.top = at;
        throw new WasmDecoderError(`the engine refused ${Math.ceil(((at + 4 * floats) / 2 ** 20))} MiB of WebAssembly memory (${(err as Error).message})`);
      }
    }
    return at;
  }

  /** Float32 view of the whole memory (its index = byte offset / 4). */
  get f32(): Float32Array {
    if (this.f32View.buffer !== this.memory.buffer) this.f32View = new Float32Array(this.memory.buffer);
    return this.f32View;
  }

  get i32(): Int32Array {
    if (this.i32View.buffer !== this.memory.buffer) this.i32View = new Int32Array(this.memory.buffer);
    return this.i32View;
  }

  get used(): number {
    return this.top;
  }

  /** Frees everything allocated after `mark` (a value of `used`). */
  release(mark: number): void {
    this.top = mark;
  }
}
