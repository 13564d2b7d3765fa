// Weight quantization for the exported graphs.
// - Linear layers: com.microsoft `MatMulNBits`'s layout (4 or 8 bits, blockwise along K, asymmetric with a
//   uint8 zero point per block); the graphs expand the body's weights at session creation and run the head
//   as `MatMulNBits` (models/export/seed-graphs.ts). DynamicQuantizeLinear / MatMulInteger are avoided
//   because they fall back to CPU on WebGPU (../shared/PLATFORM.md).
// - Embedding tables: 8 bits per row (uint8 + float scale and zero point per row), dequantized after the
//   Gather with plain Cast/Sub/Mul, so only the gathered rows are expanded.

import type { BlockQuantized, RowQuantized } from '../../runtime/dequantize.ts';
export { dequantizeBlockwise, dequantizeRows, type BlockQuantized, type RowQuantized } from '../../runtime/dequantize.ts';

export type Quantization = 'fp32' | 'int8' | 'int4';
export const QUANTIZATIONS: readonly Quantization[] = ['fp32', 'int8', 'int4'];

/** Asymmetric blockwise quantization of W [K, N]; the range of each block is widened to contain 0. */
export function quantizeBlockwise(W: Float32Array, K: number, N: number, bits: 4 | 8, blockSize = 32): BlockQuantized {
  if (W.length !== K * N) throw new RangeError(`quantizeBlockwise: W has ${W.length} values, expected K * N = ${K * N}`);
  const kBlocks = Math.ceil(K / blockSize);
  const blob = (blockSize * bits) / 8;
  const levels = (1 << bits) - 1;
  const packed = new Uint8Array(N * kBlocks * blob);
  const scales = new Float32Array(N * kBlocks);
  const zeroBytesPerColumn = bits === 8 ? kBlocks : Math.ceil(kBlocks / 2);
  const zeroPoints = new Uint8Array(N * zeroBytesPerColumn);
  const q = new Uint8Array(blockSize);
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < kBlocks; b++) {
      let min = 0;
      let max = 0;
      const end = Math.min(K, (b + 1) * blockSize);
      for (let k = b * blockSize; k < end; k++) {
        min = Math.min(min, W[k * N + n]);
        max = Math.max(max, W[k * N + n]);
      }
      const scale = max > min ? (max - min) / levels : 1;
      const zero = Math.min(levels, Math.max(0, Math.round(-min / scale)));
      scales[n * kBlocks + b] = scale;
      q.fill(zero); // padding past K dequantizes to exactly 0
      for (let k = b * blockSize; k < end; k++) q[k - b * blockSize] = Math.min(levels, Math.max(0, Math.round(W[k * N + n] / scale) + zero));
      const at = (n * kBlocks + b) * blob;
      if (bits === 8) {
        packed.set(q, at);
        zeroPoints[n * kBlocks + b] = zero;
      } else {
        for (let i = 0; i < blockSize; i += 2) packed[at + i / 2] = q[i] | (q[i + 1] << 4);
        zeroPoints[n * zeroBytesPerColumn + (b >> 1)] |= b & 1 ? zero << 4 : zero;
      }
    }
  }
  return { K, N, bits, blockSize, packed, scales, zeroPoints };
}

export function quantizeRows(table: Float32Array, rows: number, cols: number): RowQuantized {
  const q = new Uint8Array(rows * cols);
  const scale = new Float32Array(rows);
  const zero = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let min = 0;
    let max = 0;
    for (let c = 0; c < cols; c++) {
      min = Math.min(min, table[r * cols + c]);
      max = Math.max(max, table[r * cols + c]);
    }
    const s = max > min ? (max - min) / 255 : 1;
    const z = Math.min(255, Math.max(0, Math.round(-min / s)));
    scale[r] = s;
    zero[r] = z;
    for (let c = 0; c < cols; c++) q[r * cols + c] = Math.min(255, Math.max(0, Math.round(table[r * cols + c] / s) + z));
  }
  return { rows, cols, q, scale, zero };
}

