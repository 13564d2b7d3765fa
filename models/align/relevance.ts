// Next-session relevance of generated sessions: does the model still recommend what the user watched next?
//
// For a held-out session S* (items the user actually watched on a later day) and the generated beams,
// best first, the ranked list is the beams' items in order (best beam's items first, duplicates dropped).
//   Recall@K = |S* ∩ top-K| / |S*|
//   NDCG@K   = Σ_{r < K, ranked[r] ∈ S*} 1/log2(r+2)  /  Σ_{r < min(K, |S*|)} 1/log2(r+2)
// Means over users are reported. Items of the user's history are excluded from generation (as in eval).

/** Items of the beams in rank order, first occurrence kept.  beams [B, m] → [≤ B·m] */
export function rankedItems(beams: Int32Array): Int32Array {
  const seen = new Set<number>();
  const out: number[] = [];
  for (const v of beams) if (v >= 0 && !seen.has(v)) { seen.add(v); out.push(v); }
  return Int32Array.from(out);
}

export function recallAt(ranked: ArrayLike<number>, target: ArrayLike<number>, k: number): number {
  const want = new Set(Array.from(target).filter((v) => v >= 0));
  if (want.size === 0) return 0;
  let hits = 0;
  for (let r = 0; r < Math.min(k, ranked.length); r++) if (want.has(ranked[r])) hits++;
  return hits / want.size;
}

export function ndcgAt(ranked: ArrayLike<number>, target: ArrayLike<number>, k: number): number {
  const want = new Set(Array.from(target).filter((v) => v >= 0));
  if (want.size === 0) return 0;
  let dcg = 0;
  for (let r = 0; r < Math.min(k, ranked.length); r++) if (want.has(ranked[r])) dcg += 1 / Math.log2(r + 2);
  let ideal = 0;
  for (let r = 0; r < Math.min(k, want.size); r++) ideal += 1 / Math.log2(r + 2);
  return dcg / ideal;
}
