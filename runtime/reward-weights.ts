// reward.onnx's weights and sizes as the runtime's own reward engines read them (runtime/wasm-reward.ts on the wasm
// kernels, runtime/webgpu-reward.ts in WGSL): from the graph models/export/reward-graph.ts writes, never from the
// manifest, so a bundle ships each weight once and the engines compute with the values onnxruntime does.
//
//   sizes    H, m: the inputs history_items [1, H] and session_items [N, m] (static); d: item_emb's width; heads: the
//            attention's Reshape constant [0, 0, heads, d / heads]; hidden: the first tower's b1
//   weights  item_emb [items, d] (fp32, or item_emb.q8 rows expanded as the graph does); user.w [d, d], user.b [d];
//            attn.wq/wk/wv/wo [d, d], attn.bq/bk/bv/bo [d]; per tower t: tower.t.w1 [d, hidden], .b1 [hidden],
//            .w2 [hidden, 1], .b2 [1]
import { readGraphInputs, readInitializers, type Initializer } from './onnx-initializers.ts';
import { dequantizeRows } from './dequantize.ts';

export interface RewardWeights {
  historyLength: number; // H
  sessionLength: number; // m
  d: number;
  heads: number;
  towerHidden: number;
  itemEmb: Float32Array; // [items, d]
  /** The float32 initializer `name` (user.w, attn.bq, tower.swt.w1, …), checked to hold the size its shape gives. */
  tensor(name: string): Float32Array;
}

/**
 * Reads reward.onnx; `towers`: the manifest's tower names, in the graph's output order. What is missing or laid out
 * otherwise becomes the error `toError` makes of a sentence naming it.
 */
export function readRewardWeights(rewardOnnx: Uint8Array, towers: string[], toError: (reason: string) => Error): RewardWeights {
  let inits: Map<string, Initializer>;
  let inputs: Map<string, (number | string)[]>;
  try {
    inits = readInitializers(rewardOnnx);
    inputs = readGraphInputs(rewardOnnx);
  } catch (err) {
    throw toError(`it does not parse (${(err as Error).message})`);
  }
  const floats = (name: string, size?: number): Float32Array => {
    const t = inits.get(name);
    if (!t || !(t.data instanceof Float32Array) || (size !== undefined && t.data.length !== size)) throw toError(`it has no float32 initializer "${name}"${size !== undefined ? ` of ${size} values` : ''}`);
    return t.data;
  };
  const [, H] = inputs.get('history_items') ?? [];
  const [, M] = inputs.get('session_items') ?? [];
  if (typeof H !== 'number' || typeof M !== 'number') throw toError('its inputs are not history_items [1, H] and session_items [N, m] with static H and m');
  let itemEmb: Float32Array;
  let d: number;
  const fp32 = inits.get('item_emb');
  if (fp32) {
    if (fp32.dims.length !== 2 || !(fp32.data instanceof Float32Array)) throw toError('item_emb is not a float32 matrix');
    itemEmb = fp32.data;
    d = fp32.dims[1];
  } else {
    const q = inits.get('item_emb.q8');
    if (!q || q.dims.length !== 2 || !(q.data instanceof Uint8Array)) throw toError('it has neither item_emb nor item_emb.q8 [items, d] uint8');
    const [rows, cols] = q.dims;
    itemEmb = dequantizeRows({ rows, cols, q: q.data, zero: floats('item_emb.zero', rows), scale: floats('item_emb.scale', rows) });
    d = cols;
  }
  // The attention's Reshape to [0, 0, heads, d / heads].
  const split = [...inits.values()].find((t) => t.data instanceof Float64Array && t.data.length === 4 && t.data[0] === 0 && t.data[1] === 0 && t.data[2] * t.data[3] === d);
  if (!split) throw toError(`it has no Reshape constant [0, 0, heads, ${d} / heads]`);
  const heads = split.data[2];
  if (towers.length === 0) throw toError('the manifest names no towers');
  const hiddenOf = (t: string): number => floats(`tower.${t}.b1`).length;
  const towerHidden = hiddenOf(towers[0]);
  for (const t of towers) if (hiddenOf(t) !== towerHidden) throw toError(`tower ${t} has ${hiddenOf(t)} hidden units, tower ${towers[0]} ${towerHidden}`);
  const sizes: Record<string, number> = { 'user.w': d * d, 'user.b': d };
  for (const w of ['wq', 'wk', 'wv', 'wo']) sizes[`attn.${w}`] = d * d;
  for (const b of ['bq', 'bk', 'bv', 'bo']) sizes[`attn.${b}`] = d;
  for (const t of towers) Object.assign(sizes, { [`tower.${t}.w1`]: d * towerHidden, [`tower.${t}.b1`]: towerHidden, [`tower.${t}.w2`]: towerHidden, [`tower.${t}.b2`]: 1 });
  return { historyLength: H, sessionLength: M, d, heads, towerHidden, itemEmb, tensor: (name) => floats(name, sizes[name]) };
}
