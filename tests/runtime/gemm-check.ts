// The wasm kernels' matrix product against a plain triple loop, for row and column counts off every register block
// (4 × 8; 6 × 8 in the relaxed-SIMD build), with strides, bias and accumulation. Imported by
// tests/runtime/wasm-decoder.test.ts for the plain build; run as a script (`node --experimental-wasm-relaxed-simd
// --import tsx tests/runtime/gemm-check.ts relaxed`, Node 20 validates relaxed SIMD only behind that flag) for the
// relaxed one, which Chromium runs. Throws on the first wrong value.
import { KERNELS_RELAXED_WASM_BASE64, KERNELS_WASM_BASE64 } from '../../runtime/wasm/kernels-wasm.ts';

export const GEMM_SHAPES: readonly (readonly [number, number, number, number, number])[] = [
  [1, 1, 1, 0, 0], [5, 7, 13, 0, 1], [8, 32, 16, 1, 1], [3, 64, 1026, 0, 0], [9, 5, 4, 1, 0], [4, 8, 12, 0, 1],
  [6, 16, 24, 0, 1], [12, 9, 8, 1, 1], [14, 17, 21, 0, 0], [32, 128, 130, 1, 1], [33, 20, 36, 0, 1], [2, 40, 8, 1, 0],
]; // M, K, N, acc, bias

export async function checkGemm(build: 'plain' | 'relaxed'): Promise<number> {
  const bytes = Buffer.from(build === 'relaxed' ? KERNELS_RELAXED_WASM_BASE64 : KERNELS_WASM_BASE64, 'base64');
  const memory = new WebAssembly.Memory({ initial: 16 });
  const { instance } = await WebAssembly.instantiate(bytes, { env: { memory } });
  const exports = instance.exports as unknown as { gemm: (...args: number[]) => void; heapBase: () => number };
  let seed = 7;
  const random = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31 - 0.5; };
  let checked = 0;
  for (const [M, K, N, acc, bias] of GEMM_SHAPES) {
    const lda = K + 3, ldw = N + 2, ldc = N + 1; // strides wider than the rows: column slices of larger matrices
    const f = new Float32Array(memory.buffer);
    const A = Math.ceil(exports.heapBase() / 4) + 16, W = A + M * lda + 16, B = W + K * ldw + 16, C = B + N + 16;
    if (C + (M + 1) * ldc >= f.length) throw new Error(`[${M},${K},${N}] does not fit the test memory`);
    for (let i = A; i < C + (M + 1) * ldc; i++) f[i] = random();
    const before = f.slice(C, C + (M + 1) * ldc);
    exports.gemm(4 * A, lda, 4 * W, ldw, bias ? 4 * B : 0, 4 * C, ldc, M, K, N, acc);
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let want = (acc ? before[i * ldc + j] : 0) + (bias ? f[B + j] : 0);
        for (let k = 0; k < K; k++) want += f[A + i * lda + k] * f[W + k * ldw + j];
        const got = f[C + i * ldc + j];
        if (!(Math.abs(got - want) <= 1e-5 * (1 + Math.abs(want)))) throw new Error(`${build} [${M},${K},${N}] acc ${acc} bias ${bias}: C[${i},${j}] ${got} vs ${want}`);
        checked++;
      }
      if (f[C + i * ldc + N] !== before[i * ldc + N]) throw new Error(`${build} [${M},${K},${N}]: a value past row ${i}'s N columns was written`);
    }
    if (f.subarray(C + M * ldc, C + (M + 1) * ldc).some((v, j) => v !== before[M * ldc + j])) throw new Error(`${build} [${M},${K},${N}]: row ${M}, past the last, was written`);
  }
  return checked;
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const build = process.argv[2] === 'relaxed' ? 'relaxed' : 'plain';
  console.log(`${build}: ${await checkGemm(build)} values right`);
}
