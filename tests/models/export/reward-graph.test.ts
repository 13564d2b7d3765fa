// reward.onnx under onnxruntime-node matches models/reward/reference.ts rewardForward, with padded
// histories and sessions (an all-padding session included), in fp32 and with 8-bit item embeddings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { readModelSummary } from '../../../models/export/onnx-proto.ts';
import { buildRewardGraph } from '../../../models/export/reward-graph.ts';
import { rewardParameterShapes, type RewardConfig } from '../../../models/reward/config.ts';
import { rewardForward, type RewardWeights } from '../../../models/reward/reference.ts';
import { seededUniform } from '../../../models/random.ts';
import { maxAbsDiff } from './fixture.ts';

const CONFIG: RewardConfig = { itemCount: 40, dModel: 16, heads: 2, towerHidden: 8, maxHistory: 6, sessionLength: 4, towers: ['swt', 'ltr', 'cmt'] };
const TOLERANCE = 1e-5; // probabilities

function randomWeights(seed: number): RewardWeights {
  const uniform = seededUniform(seed);
  const w: RewardWeights = {};
  for (const [name, shape] of Object.entries(rewardParameterShapes(CONFIG))) {
    w[name] = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (uniform() - 0.5) * 1.5);
  }
  return w;
}

test('reward.onnx matches rewardForward (fp32 and int8 item embeddings)', async () => {
  const weights = randomWeights(5);
  const sessions = Int32Array.from([3, 7, 11, 2, /**/ 39, -1, -1, 0, /**/ -1, -1, -1, -1, /**/ 5, 5, 6, 1]); // [4, m]
  const histories = [[1, 2, 3], [], [9, 8, 7, 6, 5, 4]];
  for (const quantization of ['fp32', 'int8'] as const) {
    const built = buildRewardGraph(weights, CONFIG, quantization);
    const summary = readModelSummary(built.bytes);
    assert.deepEqual(summary.inputs, ['history_items', 'session_items']);
    assert.deepEqual(summary.outputs, ['towers']);
    const session = await ort.InferenceSession.create(built.bytes);
    const effective = { ...weights, ...built.effective };
    for (const history of histories) {
      const padded = new BigInt64Array(CONFIG.maxHistory).fill(-1n); // right-aligned, −1 on the left
      history.forEach((item, i) => (padded[CONFIG.maxHistory - history.length + i] = BigInt(item)));
      const out = await session.run({
        history_items: new ort.Tensor('int64', padded, [1, CONFIG.maxHistory]),
        session_items: new ort.Tensor('int64', BigInt64Array.from(sessions, (v) => BigInt(v)), [4, CONFIG.sessionLength]),
      });
      assert.deepEqual(out.towers.dims, [4, 3]);
      const expected = rewardForward(effective, CONFIG, history, sessions);
      const diff = maxAbsDiff(out.towers.data as Float32Array, expected);
      assert.ok(diff < TOLERANCE, `${quantization} history [${history}]: max |Δ| ${diff}`);
    }
    await session.release();
  }
  const fp32 = rewardForward(weights, CONFIG, [1, 2, 3], sessions);
  const quantized = rewardForward({ ...weights, ...buildRewardGraph(weights, CONFIG, 'int8').effective }, CONFIG, [1, 2, 3], sessions);
  assert.ok(maxAbsDiff(fp32, quantized) < 0.02, 'the 8-bit item table moves probabilities by < 0.02');
});

test("'codes' reward.onnx takes the items' codes, matches rewardForward, and its size does not depend on the catalog", async () => {
  const L = 3;
  const K = 8;
  const config: RewardConfig = { ...CONFIG, itemRepresentation: 'codes', codeLevels: L, codebookSize: K };
  const uniform = seededUniform(7);
  const weights: RewardWeights = {};
  for (const [name, shape] of Object.entries(rewardParameterShapes(config))) weights[name] = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (uniform() - 0.5) * 1.5);
  const codes = Uint16Array.from({ length: config.itemCount * L }, (_, k) => { const i = Math.floor(k / L); return [i % K, (i * 3) % K, (i >> 3) % K][k % L]; }); // [items, L]
  const toCodes = (items: ArrayLike<number>): BigInt64Array => BigInt64Array.from({ length: items.length * L }, (_, k) => { const v = items[Math.floor(k / L)]; return v < 0 ? -1n : BigInt(codes[v * L + (k % L)]); });
  const sessions = Int32Array.from([3, 7, 11, 2, /**/ 39, -1, -1, 0, /**/ -1, -1, -1, -1, /**/ 5, 5, 6, 1]); // [4, m]
  const built = buildRewardGraph(weights, config, 'int8'); // code_emb stays fp32 whatever the quantization
  assert.deepEqual(readModelSummary(built.bytes).inputs, ['history_codes', 'session_codes']);
  assert.deepEqual(built.effective, {});
  const session = await ort.InferenceSession.create(built.bytes);
  for (const history of [[1, 2, 3], [], [9, 8, 7, 6, 5, 4]]) {
    const padded = new Int32Array(config.maxHistory).fill(-1);
    padded.set(history, config.maxHistory - history.length);
    const out = await session.run({
      history_codes: new ort.Tensor('int64', toCodes(padded), [1, config.maxHistory, L]),
      session_codes: new ort.Tensor('int64', toCodes(sessions), [4, config.sessionLength, L]),
    });
    const diff = maxAbsDiff(out.towers.data as Float32Array, rewardForward(weights, config, history, sessions, codes));
    assert.ok(diff < TOLERANCE, `history [${history}]: max |Δ| ${diff}`);
  }
  await session.release();
  assert.equal(buildRewardGraph(weights, { ...config, itemCount: 1_000_000 }, 'fp32').bytes.length, buildRewardGraph(weights, config, 'fp32').bytes.length);
});
