// The benchmark's toy model (../shared/PLATFORM.md, "Training baselines"): a GPT-style decoder of `blocks`
// pre-norm causal blocks, fp32. bench/train-step-torch.py and bench/train-step-tfjs.ts define exactly the same
// model; tests/models/engine/train-step.test.ts checks one engine step of it against a float64 CPU reference.
//
//   x = tok[tokens] + pos                                   // [B, T, D]
//   per block: x += Wo·attn(LN1 x; causal, heads) + bo;  x += W2·gelu(W1·LN2 x + b1) + b2   (MLP width 4D)
//   logits = LN_f(x) @ head                                 // [B, T, V]; loss = mean cross-entropy
import {
  add, attention, crossEntropy, embedding, gelu, layerNorm, linear, type Engine, type Rng, type Tensor,
} from '../models/engine/index.ts';

export interface ToyConfig {
  vocab: number; // tokens
  dim: number; // model width D
  heads: number; // attention heads (D / heads per head)
  blocks: number; // transformer blocks
  seq: number; // tokens per sequence T
  batch: number; // sequences per step B
}

/** Parameter shapes by name, in a fixed order (the PyTorch and tfjs scripts use the same names). */
export function toyShapes(c: ToyConfig): [string, number[]][] {
  const D = c.dim;
  const s: [string, number[]][] = [['tok', [c.vocab, D]], ['pos', [c.seq, D]]];
  for (let i = 0; i < c.blocks; i++) {
    s.push([`b${i}.ln1.g`, [D]], [`b${i}.ln1.b`, [D]]);
    for (const w of ['q', 'k', 'v', 'o']) s.push([`b${i}.w${w}`, [D, D]], [`b${i}.b${w}`, [D]]);
    s.push([`b${i}.ln2.g`, [D]], [`b${i}.ln2.b`, [D]]);
    s.push([`b${i}.w1`, [D, 4 * D]], [`b${i}.b1`, [4 * D]], [`b${i}.w2`, [4 * D, D]], [`b${i}.b2`, [D]]);
  }
  s.push(['lnf.g', [D]], ['lnf.b', [D]], ['head', [D, c.vocab]]);
  return s;
}

/** Initial values: N(0, 0.02²) matrices and embeddings, LN gains 1, biases 0. */
export function toyInit(c: ToyConfig, rng: Rng): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const [name, shape] of toyShapes(c)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const leaf = name.split('.').pop()!;
    const v = new Float32Array(n);
    if (shape.length === 2) for (let i = 0; i < n; i++) v[i] = 0.02 * rng.normal();
    else if (leaf === 'g') v.fill(1);
    out[name] = v;
  }
  return out;
}

export function toyParams(engine: Engine, c: ToyConfig, init: Record<string, Float32Array>): Record<string, Tensor> {
  const p: Record<string, Tensor> = {};
  for (const [name, shape] of toyShapes(c)) p[name] = engine.param(name, shape, init[name]);
  return p;
}

/** Mean next-token cross-entropy of tokens/targets (i32 [B, T]) → [1]. */
export function toyLoss(p: Record<string, Tensor>, c: ToyConfig, tokens: Tensor, targets: Tensor): Tensor {
  let x = add(embedding(p.tok, tokens), p.pos); // [B, T, D]
  for (let i = 0; i < c.blocks; i++) {
    const h = layerNorm(x, p[`b${i}.ln1.g`], p[`b${i}.ln1.b`]);
    const q = linear(h, p[`b${i}.wq`], p[`b${i}.bq`]);
    const k = linear(h, p[`b${i}.wk`], p[`b${i}.bk`]);
    const v = linear(h, p[`b${i}.wv`], p[`b${i}.bv`]);
    x = add(x, linear(attention(q, k, v, { heads: c.heads, causal: true }), p[`b${i}.wo`], p[`b${i}.bo`]));
    const h2 = layerNorm(x, p[`b${i}.ln2.g`], p[`b${i}.ln2.b`]);
    x = add(x, linear(gelu(linear(h2, p[`b${i}.w1`], p[`b${i}.b1`])), p[`b${i}.w2`], p[`b${i}.b2`]));
  }
  const logits = linear(layerNorm(x, p['lnf.g'], p['lnf.b']), p.head); // [B, T, V]
  return crossEntropy(logits, targets);
}
