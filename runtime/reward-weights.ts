// reward.onnx's weights and sizes as the runtime's own reward engines read them (runtime/wasm-reward.ts on the wasm
// kernels, runtime/webgpu-reward.ts in WGSL): from the graph models/export/reward-graph.ts writes, never from the
// manifest, so a bundle ships each weight once and the engines compute with the values onnxruntime does.
//
//   sizes    H, m: the inputs history_items [1, H] and session_items [N, m] (static); d: item_emb's width; heads: the
//            attention's Reshape constant [0, 0, heads, d / heads]; hidden: the first tower's b1
//   weights  item_emb [items, d] (fp32, or item_emb.q8 rows expanded as the graph does); user.w [d, d], user.b [d];
//            attn.wq/wk/wv/wo [d, d], attn.bq/bk/bv/bo [d]; per tower t: tower.t.w1 [d, hidden], .b1 [hidden],
//            .w2 [hidden, 1], .b2 [1]
//   'codes'  a graph exported from itemRepresentation 'codes' has the inputs history_codes [1, H, L] and
//            session_codes [N, m, L] and code_emb [L·K, d] in place of item_emb; itemEmb is then built here, once,
//            as v_i = Σ_l code_emb[l·K + c_il] from the catalog's codes (items.bin, through the trie), summed in
//            float32 in level order as the trainer's reference does, so the engines keep taking item indices
import { readGraphInputs, readInitializers, type Initializer } from './onnx-initializers.ts';
import { dequantizeRows } from './dequantize.ts';

/** The items' semantic-ID codes, as the bundle's trie holds them (items.bin). */
export interface ItemCodeSource {
  readonly itemCount: number;
  readonly levels: number;
  readonly codebookSize: number;
  itemCodes(item: number): Uint16Array; // [levels]
}

export interface RewardWeights {
  historyLength: number; // H
  sessionLength: number; // m
  d: number;
  heads: number;
  towerHidden: number;
  itemEmb: Float32Array; // [items, d]
  codeInputs: boolean; // the graph reads history_codes/session_codes (itemRepresentation 'codes'), not item indices
  /** The float32 initializer `name` (user.w, attn.bq, tower.swt.w1, …), checked to hold the size its shape gives. */
  tensor(name: string): Float32Array;
}

/**
 * Reads reward.onnx; `towers`: the manifest's tower names, in the graph's output order. What is missing or laid out
 * otherwise becomes the error `toError` makes of a sentence naming it.
 */
export function readRewardWeights(rewardOnnx: Uint8Array, towers: string[], toError: (reason: string) => Error, catalog?: ItemCodeSource): RewardWeights {
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
  const codeInputs = inputs.has('history_codes');
  const [, H] = inputs.get(codeInputs ? 'history_codes' : 'history_items') ?? [];
  const [, M] = inputs.get(codeInputs ? 'session_codes' : 'session_items') ?? [];
  if (typeof H !== 'number' || typeof M !== 'number') throw toError('its inputs are not history_items [1, H] and session_items [N, m] (or history_codes and session_codes) with static H and m');
  let itemEmb: Float32Array;
  let d: number;
  const fp32 = inits.get('item_emb');
  const codeEmb = inits.get('code_emb');
  if (codeInputs) {
    if (!codeEmb || codeEmb.dims.length !== 2 || !(codeEmb.data instanceof Float32Array)) throw toError('it reads item codes but has no float32 code_emb [L·K, d]');
    if (!catalog) throw toError('it builds items from their semantic-ID codes, and no catalog codes were given');
    const L = catalog.levels;
    const K = catalog.codebookSize;
    const [, levels] = inputs.get('history_codes')!.slice(1);
    if (levels !== L || codeEmb.dims[0] !== L * K) throw toError(`its codes are [${levels} levels] with code_emb [${codeEmb.dims.join(', ')}], the catalog's ${L} levels of ${K} codes; export the reward model with the bundle's own semantic IDs`);
    d = codeEmb.dims[1];
    itemEmb = new Float32Array(catalog.itemCount * d); // [items, d]
    const table = codeEmb.data;
    for (let i = 0; i < catalog.itemCount; i++) {
      const codes = catalog.itemCodes(i);
      for (let l = 0; l < L; l++) {
        const row = (l * K + codes[l]) * d;
        for (let a = 0; a < d; a++) itemEmb[i * d + a] += table[row + a];
      }
    }
  } else if (fp32) {
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
  return { historyLength: H, sessionLength: M, d, heads, towerHidden, itemEmb, codeInputs, tensor: (name) => floats(name, sizes[name]) };
}
