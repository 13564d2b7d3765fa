// Weight layouts shared by the exporter and the WGSL model: expanding quantized weights to the float32 values that
// ONNX Runtime computes with (models/export/quantize.ts writes these layouts; runtime/webgpu-decoder.ts reads them
// back from the bundle's graph), and linear layers side by side as the graphs fuse them.

/** n matrices [K, N] side by side → [K, n·N] (matrix j in columns j·N … (j + 1)·N − 1). */
export function sideBySide(parts: Float32Array[], K: number, N: number): Float32Array {
  const total = parts.length * N;
  const out = new Float32Array(K * total);
  parts.forEach((m, j) => { for (let r = 0; r < K; r++) out.set(m.subarray(r * N, (r + 1) * N), r * total + j * N); });
  return out;
}

/** MatMulNBits' B, scales and zero_points for W [K, N] (the op stores B transposed: per output column). */
export interface BlockQuantized {
  K: number; // input features
  N: number; // output features
  bits: 4 | 8;
  blockSize: number; // values of one column sharing a scale; a power of two ≥ 16
  packed: Uint8Array; // [N, kBlocks, blockSize * bits / 8]; at 4 bits the first value is the low nibble
  scales: Float32Array; // [N * kBlocks]
  zeroPoints: Uint8Array; // 8 bits: [N * kBlocks]; 4 bits: [N * ceil(kBlocks / 2)] nibbles, low first
}

/** The float weights MatMulNBits computes with: W' [K, N]. */
export function dequantizeBlockwise(qw: BlockQuantized): Float32Array {
  const { K, N, bits, blockSize } = qw;
  const kBlocks = Math.ceil(K / blockSize);
  const blob = (blockSize * bits) / 8;
  const zeroBytesPerColumn = bits === 8 ? kBlocks : Math.ceil(kBlocks / 2);
  const W = new Float32Array(K * N);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      const b = Math.floor(k / blockSize);
      const i = k - b * blockSize;
      const at = (n * kBlocks + b) * blob;
      const value = bits === 8 ? qw.packed[at + i] : (qw.packed[at + (i >> 1)] >> (i & 1 ? 4 : 0)) & 15;
      const zero = bits === 8 ? qw.zeroPoints[n * kBlocks + b] : (qw.zeroPoints[n * zeroBytesPerColumn + (b >> 1)] >> (b & 1 ? 4 : 0)) & 15;
      W[k * N + n] = (value - zero) * qw.scales[n * kBlocks + b];
    }
  }
  return W;
}

/** A table quantized to 8 bits per row: value = (q - zero[row]) * scale[row]. */
export interface RowQuantized {
  rows: number;
  cols: number;
  q: Uint8Array; // [rows, cols]
  scale: Float32Array; // [rows]
  zero: Float32Array; // [rows] (an integer in 0..255 stored as float so the graph subtracts it directly)
}

export function dequantizeRows(t: RowQuantized): Float32Array {
  const out = new Float32Array(t.rows * t.cols);
  for (let r = 0; r < t.rows; r++) for (let c = 0; c < t.cols; c++) out[r * t.cols + c] = (t.q[r * t.cols + c] - t.zero[r]) * t.scale[r];
  return out;
}
