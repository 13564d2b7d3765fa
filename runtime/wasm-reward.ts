// reward.onnx (models/export/reward-graph.ts, the math of models/reward/reference.ts) on the runtime's wasm kernels:
// with the seed model on the WGSL or wasm-kernel engine, no ONNX graph is left for onnxruntime-web to run, so its
// 14 MB wasm binary is neither fetched nor compiled (onnxruntime still runs a graph these kernels cannot read).
//
//   hbar = mean of item_emb over the valid history items; u = hbar · user.w + user.b
//   e_i  = item_emb[s_i] ⊙ u (0 for padding); x = e + MHA(e) · attn.wo + attn.bo (padded keys masked)
//   z    = mean of x over the valid items; p_t = σ(relu(z · w1_t + b1_t) · w2_t + b2_t)
//
// The weights and sizes are read from the graph itself (runtime/reward-weights.ts, shared with the WGSL reward model).
// Matrix products run in the kernels; the small attention (m keys) in JS.
import { readRewardWeights, type ItemCodeSource } from './reward-weights.ts';
import { WasmRewardError } from './errors.ts';
import { instantiateKernels, type Heap, type Kernels } from './wasm-kernels.ts';

export { WasmRewardError };

interface Weights {
  userW: number; userB: number; // heap pointers (bytes)
  wq: number; bq: number; wk: number; bk: number; wv: number; bv: number; wo: number; bo: number;
  towers: { w1: number; b1: number; w2: Float32Array; b2: number }[];
}

export class WasmReward {
  private capacity = 0; // session rows the buffers hold
  private buffers: { e: number; q: number; k: number; v: number; att: number; x: number; z: number; hidden: number; hbar: number; u: number } | null = null;
  private readonly start: number; // the heap's top before the per-call buffers

  private constructor(
    private readonly k: Kernels,
    private readonly heap: Heap,
    private readonly itemEmb: Float32Array, // [items, d]
    private readonly w: Weights,
    readonly d: number,
    readonly heads: number,
    readonly towerHidden: number,
    /** The graph's history length H and session length m (its inputs' static dims). */
    readonly historyLength: number,
    readonly sessionLength: number,
  ) {
    this.start = heap.used;
  }

  /**
   * Reads reward.onnx's weights and sizes; `towers`: the manifest's tower names, in the graph's output order;
   * `catalog`: the items' codes (the bundle's trie), needed by a graph exported with itemRepresentation 'codes'.
   */
  static async create(rewardOnnx: Uint8Array, towers: string[], catalog?: ItemCodeSource): Promise<WasmReward> {
    const weights = readRewardWeights(rewardOnnx, towers, (reason) => new WasmRewardError(reason), catalog);
    const { d, towerHidden, tensor } = weights;
    const { kernels, heap } = await instantiateKernels().catch((err: Error) => { throw new WasmRewardError(err.message); });
    const place = (name: string): number => {
      const values = tensor(name);
      const at = heap.alloc(values.length);
      heap.f32.set(values, at / 4);
      return at;
    };
    const w: Weights = {
      userW: place('user.w'), userB: place('user.b'),
      wq: place('attn.wq'), bq: place('attn.bq'), wk: place('attn.wk'), bk: place('attn.bk'),
      wv: place('attn.wv'), bv: place('attn.bv'), wo: place('attn.wo'), bo: place('attn.bo'),
      towers: towers.map((t) => ({ w1: place(`tower.${t}.w1`), b1: place(`tower.${t}.b1`), w2: tensor(`tower.${t}.w2`), b2: tensor(`tower.${t}.b2`)[0] })),
    };
    return new WasmReward(kernels, heap, weights.itemEmb, w, d, weights.heads, towerHidden, weights.historyLength, weights.sessionLength);
  }

  private ensureCapacity(rows: number): NonNullable<WasmReward['buffers']> {
    if (this.buffers && this.capacity >= rows) return this.buffers;
    const { heap, d } = this;
    heap.release(this.start);
    const cap = Math.max(rows, 2 * this.capacity);
    const R = cap * this.sessionLength;
    this.buffers = { e: heap.alloc(R * d), q: heap.alloc(R * d), k: heap.alloc(R * d), v: heap.alloc(R * d), att: heap.alloc(R * d), x: heap.alloc(R * d), z: heap.alloc(cap * d), hidden: heap.alloc(cap * this.towerHidden), hbar: heap.alloc(d), u: heap.alloc(d) };
    this.capacity = cap;
    return this.buffers;
  }

  /**
   * The towers' probabilities [n, towers] for one user: `history` [H] and `sessions` [n, m] item indices, −1 = padding
   * (the graph's history_items and session_items).
   */
  towers(history: Int32Array, sessions: Int32Array, n: number): Float32Array {
    const { k, heap, d, heads, itemEmb, w, sessionLength: m, towerHidden: hidden } = this;
    if (history.length !== this.historyLength || sessions.length !== n * m) throw new WasmRewardError(`inputs of ${history.length} and ${sessions.length} items, expected ${this.historyLength} and ${n} × ${m}`);
    const b = this.ensureCapacity(n);
    const f = heap.f32;
    // u from the mean of the valid history items' embeddings.
    const hbar = b.hbar / 4;
    f.fill(0, hbar, hbar + d);
    let count = 0;
    for (const item of history) {
      if (item < 0) continue;
      count++;
      for (let a = 0; a < d; a++) f[hbar + a] += itemEmb[item * d + a];
    }
    for (let a = 0; a < d; a++) f[hbar + a] /= Math.max(count, 1);
    k.gemm(b.hbar, d, w.userW, d, w.userB, b.u, d, 1, d, d, 0);
    // e = item_emb[s] ⊙ u, 0 for padding; then x = e + attention · wo + bo.
    const R = n * m, e = b.e / 4, u = b.u / 4;
    for (let r = 0; r < R; r++) {
      const item = sessions[r];
      for (let a = 0; a < d; a++) f[e + r * d + a] = item < 0 ? 0 : itemEmb[item * d + a] * f[u + a];
    }
    k.gemm(b.e, d, w.wq, d, w.bq, b.q, d, R, d, d, 0);
    k.gemm(b.e, d, w.wk, d, w.bk, b.k, d, R, d, d, 0);
    k.gemm(b.e, d, w.wv, d, w.bv, b.v, d, R, d, d, 0);
    const dh = d / heads, scale = 1 / Math.sqrt(dh), q = b.q / 4, kk = b.k / 4, v = b.v / 4, att = b.att / 4;
    const p = new Float64Array(m);
    for (let s = 0; s < n; s++) {
      for (let h = 0; h < heads; h++) {
        for (let i = 0; i < m; i++) {
          const qi = q + (s * m + i) * d + h * dh;
          let mx = -Infinity;
          for (let j = 0; j < m; j++) {
            const kj = kk + (s * m + j) * d + h * dh;
            let dot = 0;
            for (let c = 0; c < dh; c++) dot += f[qi + c] * f[kj + c];
            p[j] = Math.fround(dot * scale) + (sessions[s * m + j] < 0 ? -1e9 : 0);
            mx = Math.max(mx, p[j]);
          }
          let sum = 0;
          for (let j = 0; j < m; j++) { p[j] = Math.exp(p[j] - mx); sum += p[j]; }
          const out = att + (s * m + i) * d + h * dh;
          for (let c = 0; c < dh; c++) {
            let acc = 0;
            for (let j = 0; j < m; j++) acc += p[j] * f[v + (s * m + j) * d + h * dh + c];
            f[out + c] = acc / sum;
          }
        }
      }
    }
    f.copyWithin(b.x / 4, e, e + R * d);
    k.gemm(b.att, d, w.wo, d, w.bo, b.x, d, R, d, d, 1);
    // z = mean of x over each session's valid items, then the towers.
    const x = b.x / 4, z = b.z / 4;
    for (let s = 0; s < n; s++) {
      let valid = 0;
      for (let a = 0; a < d; a++) f[z + s * d + a] = 0;
      for (let i = 0; i < m; i++) {
        if (sessions[s * m + i] < 0) continue;
        valid++;
        for (let a = 0; a < d; a++) f[z + s * d + a] += f[x + (s * m + i) * d + a];
      }
      for (let a = 0; a < d; a++) f[z + s * d + a] /= Math.max(valid, 1);
    }
    const T = w.towers.length;
    const out = new Float32Array(n * T);
    const hid = b.hidden / 4;
    w.towers.forEach((t, ti) => {
      k.gemm(b.z, d, t.w1, hidden, t.b1, b.hidden, hidden, n, d, hidden, 0);
      for (let s = 0; s < n; s++) {
        let logit = t.b2;
        for (let j = 0; j < hidden; j++) logit += Math.max(0, f[hid + s * hidden + j]) * t.w2[j];
        out[s * T + ti] = 1 / (1 + Math.exp(-logit));
      }
    });
    return out;
  }
}
