// reward.onnx: the session reward model R(u, S) of models/reward/reference.ts as one ONNX graph.
//
//   history_items [1, H]   item indices, H = RewardConfig.maxHistory, right-aligned, −1 = padding
//   session_items [N, m]   item indices, m = RewardConfig.sessionLength, −1 = padding
//   → towers [N, T]        sigmoid probabilities, columns in RewardConfig.towers order
//
// With RewardConfig.itemRepresentation 'codes' the inputs are the items' semantic-ID codes instead, so that the
// graph holds no per-item weight and its size does not depend on the catalog:
//   history_codes [1, H, L]   the history items' L codes (items.bin's), −1 on every level = padding
//   session_codes [N, m, L]   the session items' codes, −1 = padding
// and v = Σ_l code_emb[l·K + code_l] (code_emb [L·K, d], always fp32: it is small).
//
// Standard opset-17 ops only. Quantized bundles store item_emb 8-bit per row (the only large tensor);
// the rest is small and stays fp32.
import { checkRewardWeights, type RewardWeights } from '../reward/reference.ts';
import { usesCodes, type RewardConfig } from '../reward/config.ts';
import { GraphBuilder, TensorType } from './onnx-proto.ts';
import { dequantizeRows, quantizeRows, type Quantization } from './quantize.ts';
import type { BuiltGraph } from './seed-graphs.ts';

export function buildRewardGraph(w: RewardWeights, c: RewardConfig, quantization: Quantization): BuiltGraph {
  checkRewardWeights(w, c);
  const { dModel: d, heads, maxHistory: H, sessionLength: m, itemCount } = c;
  const dh = d / heads;
  const g = new GraphBuilder('onerec_reward');
  const effective: RewardWeights = {};
  const codes = usesCodes(c);
  const L = c.codeLevels ?? 0;
  const history = codes ? g.input('history_codes', TensorType.INT64, [1, H, L]) : g.input('history_items', TensorType.INT64, [1, H]);
  const sessions = codes ? g.input('session_codes', TensorType.INT64, ['N', m, L]) : g.input('session_items', TensorType.INT64, ['N', m]);
  const zero64 = g.int64([0], []);

  // One item_emb table (fp32, or uint8 rows + scale + zero point) shared by history and session lookups.
  let table: { fp32?: string; q?: string; zero?: string; scale?: string; codes?: string };
  if (codes) {
    table = { codes: g.initializer('code_emb', w.code_emb, [L * c.codebookSize!, d]) };
  } else if (quantization === 'fp32') {
    table = { fp32: g.initializer('item_emb', w.item_emb, [itemCount, d]) };
  } else {
    const t = quantizeRows(w.item_emb, itemCount, d);
    effective.item_emb = dequantizeRows(t);
    table = { q: g.initializer('item_emb.q8', t.q, [itemCount, d]), zero: g.initializer('item_emb.zero', t.zero, [itemCount]), scale: g.initializer('item_emb.scale', t.scale, [itemCount]) };
  }
  /** item_emb rows of `items` with −1 entries zeroed, and the validity mask.  items [A, n] → [A, n, d], [A, n, 1] */
  const embedding = (items: string): { rows: string; mask: string } => {
    if (table.codes) return codeEmbedding(items);
    const valid = g.op('GreaterOrEqual', [items, zero64]);
    const indices = g.op('Where', [valid, items, zero64]);
    let rows: string;
    if (table.fp32) {
      rows = g.op('Gather', [table.fp32, indices]);
    } else {
      const q = g.op('Cast', [g.op('Gather', [table.q!, indices])], { to: TensorType.FLOAT });
      const zero = g.op('Unsqueeze', [g.op('Gather', [table.zero!, indices]), g.int64([-1])]);
      const scale = g.op('Unsqueeze', [g.op('Gather', [table.scale!, indices]), g.int64([-1])]);
      rows = g.op('Mul', [g.op('Sub', [q, zero]), scale]);
    }
    const mask = g.op('Unsqueeze', [g.op('Cast', [valid], { to: TensorType.FLOAT }), g.int64([-1])]);
    return { rows: g.op('Mul', [rows, mask]), mask };
  };
  /** Σ_l code_emb rows of `itemCodes` [A, n, L] (level l offset by l·K; an item is padding when its first code is −1). → [A, n, d], [A, n, 1] */
  const codeEmbedding = (itemCodes: string): { rows: string; mask: string } => {
    const valid = g.op('GreaterOrEqual', [g.op('Gather', [itemCodes, zero64], { axis: 2 }), zero64]); // [A, n]
    const offsets = g.int64(Array.from({ length: L }, (_, l) => l * c.codebookSize!)); // [L]
    const indices = g.op('Where', [g.op('Unsqueeze', [valid, g.int64([-1])]), g.op('Add', [itemCodes, offsets]), zero64]); // [A, n, L]
    const rows = g.op('ReduceSum', [g.op('Gather', [table.codes!, indices]), g.int64([2])], { keepdims: 0 }); // [A, n, d]
    const mask = g.op('Unsqueeze', [g.op('Cast', [valid], { to: TensorType.FLOAT }), g.int64([-1])]);
    return { rows: g.op('Mul', [rows, mask]), mask };
  };
  const linear = (x: string, name: string, bias: string, inDim: number, outDim: number): string =>
    g.op('Add', [g.op('MatMul', [x, g.initializer(name, w[name], [inDim, outDim])]), g.initializer(bias, w[bias], [outDim])]);
  /** Mean over axis 1 of x [A, n, d] where mask [A, n, 1] is 1; 0 where no entry is valid → [A, d] */
  const maskedMean = (x: string, mask: string): string => {
    const sum = g.op('ReduceSum', [g.op('Mul', [x, mask]), g.int64([1])], { keepdims: 0 });
    const count = g.op('Max', [g.op('ReduceSum', [mask, g.int64([1])], { keepdims: 0 }), g.scalar(1)]);
    return g.op('Div', [sum, count]);
  };

  const past = embedding(history); // [1, H, d], [1, H, 1]
  const u = linear(maskedMean(past.rows, past.mask), 'user.w', 'user.b', d, d); // [1, d]
  const session = embedding(sessions); // [N, m, d], [N, m, 1]
  const e = g.op('Mul', [session.rows, g.op('Unsqueeze', [u, g.int64([1])])]); // [N, m, d]  e_i = v_i ⊙ u (0 for padding)
  const split = (x: string): string => g.op('Transpose', [g.op('Reshape', [x, g.int64([0, 0, heads, dh])])], { perm: [0, 2, 1, 3] }); // [N, heads, m, dh]
  const q = split(linear(e, 'attn.wq', 'attn.bq', d, d));
  const k = split(linear(e, 'attn.wk', 'attn.bk', d, d));
  const v = split(linear(e, 'attn.wv', 'attn.bv', d, d));
  const keyBias = g.op('Unsqueeze', [g.op('Mul', [g.op('Sub', [g.scalar(1), g.op('Squeeze', [session.mask, g.int64([2])])]), g.scalar(-1e9)]), g.int64([1, 2])]); // [N, 1, 1, m]
  const scores = g.op('Add', [g.op('Mul', [g.op('MatMul', [q, g.op('Transpose', [k], { perm: [0, 1, 3, 2] })]), g.scalar(1 / Math.sqrt(dh))]), keyBias]);
  const attended = g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), v]); // [N, heads, m, dh]
  const merged = g.op('Reshape', [g.op('Transpose', [attended], { perm: [0, 2, 1, 3] }), g.int64([0, 0, d])]); // [N, m, d]
  const x = g.op('Add', [e, linear(merged, 'attn.wo', 'attn.bo', d, d)]);
  const z = maskedMean(x, session.mask); // [N, d]
  const towers = c.towers.map((t) => {
    const hidden = g.op('Relu', [linear(z, `tower.${t}.w1`, `tower.${t}.b1`, d, c.towerHidden)]);
    return g.op('Sigmoid', [linear(hidden, `tower.${t}.w2`, `tower.${t}.b2`, c.towerHidden, 1)]); // [N, 1]
  });
  g.output(towers.length > 1 ? g.op('Concat', towers, { axis: 1 }) : towers[0], 'towers', TensorType.FLOAT, ['N', c.towers.length]);
  return { bytes: g.toModel({ quantization, towers: c.towers.join(',') }, 'onerec session reward model R(u, S)'), weightBytes: g.initializerBytes, effective };
}
