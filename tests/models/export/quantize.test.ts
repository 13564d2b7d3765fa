// Blockwise (MatMulNBits) and per-row quantization: round-trip error within half a step, zero exact,
// nibble order and zero-point packing as onnxruntime reads them (checked by running MatMulNBits).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, MS_DOMAIN, TensorType } from '../../../models/export/onnx-proto.ts';
import { dequantizeBlockwise, dequantizeRows, quantizeBlockwise, quantizeRows } from '../../../models/export/quantize.ts';
import { seededUniform } from '../../../models/random.ts';
import { maxAbsDiff } from './fixture.ts';

const K = 40; // not a multiple of the block: the last block is padded
const N = 6;
const uniform = seededUniform(9);
const W = Float32Array.from({ length: K * N }, (_, i) => (i % 11 === 0 ? 0 : (uniform() - 0.3) * (1 + (i % 5))));

for (const bits of [4, 8] as const) {
  test(`${bits}-bit blockwise: error ≤ half a step, zeros exact, and MatMulNBits computes with exactly the dequantized weights`, async () => {
    const q = quantizeBlockwise(W, K, N, bits, 16);
    const back = dequantizeBlockwise(q);
    const kBlocks = Math.ceil(K / 16);
    for (let k = 0; k < K; k++) {
      for (let n = 0; n < N; n++) {
        const scale = q.scales[n * kBlocks + Math.floor(k / 16)];
        assert.ok(Math.abs(back[k * N + n] - W[k * N + n]) <= scale / 2 + 1e-7, `[${k}, ${n}]`);
        if (W[k * N + n] === 0) assert.equal(back[k * N + n], 0);
      }
    }
    const g = new GraphBuilder('nbits');
    const x = g.input('x', TensorType.FLOAT, [2, K]);
    const y = g.op('MatMulNBits', [x, g.initializer('B', q.packed, [N, kBlocks, (16 * bits) / 8]), g.initializer('s', q.scales, [N * kBlocks]), g.initializer('z', q.zeroPoints, [q.zeroPoints.length])], { K, N, bits, block_size: 16, domain: MS_DOMAIN });
    g.output(y, 'y', TensorType.FLOAT, [2, N]);
    const session = await ort.InferenceSession.create(g.toModel());
    const X = Float32Array.from({ length: 2 * K }, () => uniform() - 0.5);
    const got = (await session.run({ x: new ort.Tensor('float32', X, [2, K]) })).y.data as Float32Array;
    const want = new Float32Array(2 * N);
    for (let r = 0; r < 2; r++) for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) want[r * N + n] += X[r * K + k] * back[k * N + n];
    assert.ok(maxAbsDiff(got, want) < 1e-5, `max |Δ| ${maxAbsDiff(got, want)}`);
    await session.release();
  });
}

test('8-bit rows: error ≤ half a step per row', () => {
  const t = quantizeRows(W, K, N);
  const back = dequantizeRows(t);
  for (let r = 0; r < K; r++) for (let c = 0; c < N; c++) assert.ok(Math.abs(back[r * N + c] - W[r * N + c]) <= t.scale[r] / 2 + 1e-7);
});
