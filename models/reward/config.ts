// The session reward model's configuration (carried in its checkpoint and, for export, in the bundle).
import { RewardCheckpointError } from './errors.ts';
import type { TowerName } from './labels.ts';

export interface RewardConfig {
  itemCount: number;    // catalog size of the prepared KuaiRand data (item indices 0..itemCount-1)
  dModel: number;       // width of item embeddings, of u and of the session attention
  heads: number;        // attention heads across the session's items; must divide dModel
  towerHidden: number;  // hidden width of each tower's MLP
  maxHistory: number;   // history items averaged into u (most recent kept); the ONNX input's H
  sessionLength: number; // items per scored session (m); the ONNX input's m
  towers: TowerName[];  // one sigmoid tower per target, in this order (`towers [N, T]` columns)
  // How v_i is built. 'table' (absent = 'table', as before the option): a row of item_emb per item, so the model
  // grows with the catalog. 'codes': v_i = Σ_l code_emb[l·K + c_il] over the item's L semantic-ID codes, a
  // [L·K, d] table whatever the catalog's size; the item codes come with the data (prepared codes.u16), not the weights.
  itemRepresentation?: ItemRepresentation;
  codeLevels?: number;   // with 'codes': L, semantic-ID levels per item (the prepared data's levels)
  codebookSize?: number; // with 'codes': K, codes per level
}

export type ItemRepresentation = 'table' | 'codes';
export const ITEM_REPRESENTATIONS: readonly ItemRepresentation[] = ['table', 'codes'];

/** 'codes' when the config builds v_i from semantic-ID codes. */
export function usesCodes(c: RewardConfig): boolean {
  return c.itemRepresentation === 'codes';
}

export const DEFAULT_REWARD_CONFIG: Omit<RewardConfig, 'itemCount' | 'towers'> = {
  dModel: 32,
  heads: 2,
  towerHidden: 32,
  maxHistory: 50,
  sessionLength: 5,
};

export function validateRewardConfig(c: RewardConfig, where = 'reward config'): void {
  for (const key of ['itemCount', 'dModel', 'heads', 'towerHidden', 'maxHistory', 'sessionLength'] as const) {
    if (!Number.isInteger(c[key]) || c[key] < 1) throw new RewardCheckpointError(`${where}: ${key} = ${c[key]}; it must be a positive integer`);
  }
  if (c.dModel % c.heads !== 0) throw new RewardCheckpointError(`${where}: dModel ${c.dModel} is not divisible by heads ${c.heads}; pick heads that divide dModel`);
  if (c.itemRepresentation !== undefined && !ITEM_REPRESENTATIONS.includes(c.itemRepresentation)) throw new RewardCheckpointError(`${where}: itemRepresentation '${c.itemRepresentation}'; use ${ITEM_REPRESENTATIONS.join(' or ')}`);
  if (usesCodes(c)) {
    for (const key of ['codeLevels', 'codebookSize'] as const) {
      if (!Number.isInteger(c[key]) || (c[key] as number) < 1) throw new RewardCheckpointError(`${where}: itemRepresentation 'codes' needs ${key} as a positive integer, not ${c[key]}`);
    }
  }
  if (c.towers.length === 0) throw new RewardCheckpointError(`${where}: no towers; give at least one of swt,vtr,wtr,ltr,cmt,fwd`);
}

/**
 * Every parameter's shape, by name (row-major float32; a linear layer is y = x @ W + b, W: [in, out]):
 *
 *   item_emb               [items, d]   v_i, shared by history and session ('table')
 *   code_emb               [L·K, d]     instead of item_emb with 'codes': v_i = Σ_l code_emb[l·K + c_il]
 *   user.w [d, d], user.b [d]           u = mean_j(item_emb[h_j]) @ user.w + user.b   (no history: u = user.b)
 *   attn.wq/wk/wv/wo [d, d]; attn.bq/bk/bv/bo [d]
 *   tower.{t}.w1 [d, hidden], .b1 [hidden], .w2 [hidden, 1], .b2 [1]   t = tower name (swt, vtr, …)
 */
export function rewardParameterShapes(c: RewardConfig): Record<string, number[]> {
  const d = c.dModel;
  const shapes: Record<string, number[]> = usesCodes(c) ? { code_emb: [c.codeLevels! * c.codebookSize!, d] } : { item_emb: [c.itemCount, d] };
  Object.assign(shapes, { 'user.w': [d, d], 'user.b': [d] });
  for (const w of ['wq', 'wk', 'wv', 'wo']) shapes[`attn.${w}`] = [d, d];
  for (const b of ['bq', 'bk', 'bv', 'bo']) shapes[`attn.${b}`] = [d];
  for (const t of c.towers) {
    shapes[`tower.${t}.w1`] = [d, c.towerHidden];
    shapes[`tower.${t}.b1`] = [c.towerHidden];
    shapes[`tower.${t}.w2`] = [c.towerHidden, 1];
    shapes[`tower.${t}.b2`] = [1];
  }
  return shapes;
}
