// The seed model on the CPU in the runtime's own WebAssembly SIMD kernels (runtime/wasm/assembly/kernels.ts): the
// computation of encoder.onnx and decoder_step.onnx, driven from here as ~15 kernel calls per layer instead of
// ~160 ONNX nodes per step under onnxruntime-web's wasm EP.
//
// Why: on wasm a decoder step under onnxruntime-web cost 2.5–2.8× what it costs under onnxruntime-node's CPU EP
// (bench/README.md #7: ~2 µs per node against 0.7, and its wasm MatMul at [32,128]×[128,128] 27 µs against 4.6).
// Here a step is a handful of large matrix products (28–33 GMAC/s on this machine's wasm SIMD: 4 × 8 register blocks,
// 6 × 8 with relaxed SIMD's fused multiply-adds), the KV cache is a tree (each step appends its rows; a beam attends along its ancestors' rows, so nothing
// is copied when beams are reordered), and the MoE runs only the experts each row selected, as the WGSL model does.
//
// The weights are the bundle's own (runtime/model-weights.ts, as the WGSL model reads them). Results are the graph's
// to float32 rounding (other summation orders): scores agree to ~1e-5 and the searched sessions are the same.
import { codeLogProbs, type DecoderSession } from './beam-search.ts';
import { ensembleProblem, memberPrefix, readSeedWeights, type PackedWeights } from './model-weights.ts';
import type { EngineModelConfig } from './model-config.ts';
import { PAD, SPECIAL_TOKENS } from './tokens.ts';
import { WasmDecoderError } from './errors.ts';
import { Heap, instantiateKernels, type Kernels } from './wasm-kernels.ts';
import { CTL_SLOTS, HelperPool, serveShares, type SpawnWasmHelper, type WasmHelperInit } from './wasm-threads.ts';

export { WasmDecoderError };
export type { SpawnWasmHelper, WasmHelperInit };

/** One thread's scratch: what its share of a step computes that is not laid out by beam row. */
interface Scratch {
  scores: number; // [2·cap, S] cross-attention scores of one head
  selfScores: number; // [TMAX]
  router: number; // [2·cap, EMAX]
  idx: number; gates: number; // [2·cap] rows routed to one expert, their gates
  gathered: number; hidden: number; expertOut: number; // [2·cap, D], [2·cap, FMAX], [2·cap, D]
}

/** Per-request buffers for `cap` beam rows, allocated once for the largest request seen. */
interface StepBuffers {
  cap: number;
  x: number; h: number; q: number; att: number; // [2·cap, D]: the rows' residual stream, its LayerNorm, queries, attention out
  tokens: number; parents: number; // i32 [2·cap], [cap]: the step's input, where every thread reads it
  scratch: Scratch[]; // one per thread
  logits: number; // [cap, V]
  codeScores: number; // [cap, K + 2]
  cacheK: number[]; cacheV: number[]; // per layer of all members: [TMAX · cap rows, D] (a step appends B · T ≤ cap · T rows)
  anc: [number, number]; // [cap, TMAX] i32 each, alternating: each beam's cache rows, oldest first
}

/**
 * A bundle's seed model on the wasm kernels: weights copied into the module's memory once; per request
 * `sessionFromTokens(historyTokens, rows)` runs the encoder and returns the DecoderSession the shared beam search drives.
 * Requests must not overlap (the runtime chains them): the buffers are shared.
 */
export class WasmDecoder {
  private buffers: StepBuffers | null = null;
  private readonly buffersStart: number; // the heap's top before the per-request buffers: they are re-laid from here when they grow
  private readonly S: number;
  private readonly Tmax: number;
  private readonly V: number;
  private readonly cross: { kT: number[]; v: number[]; bias: number }; // per layer: keys [H, DH, n] (transposed per head), values [n, D]; memory bias [n] (n ≤ S: encode())
  private readonly enc: { x: number; h: number; qkv: number; kT: number; scores: number; att: number; ffn: number; k: number };
  /** For benchmarks: steps run and the time in them (ms), the encoder's runs and time (ms). */
  readonly stats = { steps: 0, stepMs: 0, encodes: 0, encoderMs: 0 };
  private helpers: HelperPool;
  /** Why helper threads were asked for and are not running (null: none asked for, or they run). */
  threadsNote: string | null = null;

  private constructor(
    private readonly k: Kernels,
    private readonly heap: Heap,
    readonly members: EngineModelConfig[],
    private readonly dec: PackedWeights & { base: number },
    private readonly encW: PackedWeights & { base: number },
    /** The kernels are the relaxed-SIMD build (fused multiply-adds). */
    readonly relaxedSimd: boolean,
    /** Scratch sets laid out: the most threads that may run shares of a step. */
    private readonly maxThreads = 1,
  ) {
    this.helpers = HelperPool.none(() => heap.i32);
    const c = members[0];
    const { dModel: D, heads: H, levels, codebookSize: K } = c;
    this.S = c.maxHistory * levels;
    this.Tmax = c.sessionLength * (levels + 1);
    this.V = SPECIAL_TOKENS + levels * K;
    const S = this.S;
    const layers = members.reduce((sum, m) => sum + m.decoderLayers, 0);
    this.cross = {
      kT: Array.from({ length: layers }, () => heap.alloc(H * (D / H) * S)),
      v: Array.from({ length: layers }, () => heap.alloc(S * D)),
      bias: heap.alloc(S),
    };
    const ffn = Math.max(...members.map((m) => m.ffnDim));
    this.enc = { x: heap.alloc(S * D), h: heap.alloc(S * D), qkv: heap.alloc(S * 3 * D), kT: heap.alloc((D / H) * S), scores: heap.alloc(S * S), att: heap.alloc(S * D), ffn: heap.alloc(S * ffn), k: heap.alloc(S * D) };
    this.buffersStart = heap.used;
  }

  /**
   * Checks the sizes, reads the weights from decoder_step.onnx and encoder.onnx, and instantiates the kernels.
   * `config`: the model's, or an ensemble's members' in order (their logits are averaged as the exported graph does).
   * `threads` > 1 with `spawnHelper`: that many threads share each step's beams (helpers started by spawnHelper on a
   * shared memory; they need SharedArrayBuffer and a thread that may block: a worker or Node). Helpers that do not
   * start within `helperTimeoutMs` (default 10 s) leave the decoder on one thread, saying why in `threadsNote`.
   */
  static async create(decoderStepOnnx: Uint8Array, encoderOnnx: Uint8Array, config: EngineModelConfig | EngineModelConfig[], options: { threads?: number; spawnHelper?: SpawnWasmHelper; helperTimeoutMs?: number } = {}): Promise<WasmDecoder> {
    const members = Array.isArray(config) ? config : [config];
    if (members.length === 0) throw new WasmDecoderError('no model config');
    const { dModel: D, heads: H } = members[0];
    const problems = [
      (D % H !== 0 || (D / H) % 4 !== 0) && `dModel ${D} over ${H} heads is not a multiple of 4 per head`,
      ensembleProblem(members),
      typeof WebAssembly === 'undefined' && 'WebAssembly is not available',
    ].filter(Boolean);
    if (problems.length) throw new WasmDecoderError(problems.join('; '));
    const weights = readSeedWeights(decoderStepOnnx, encoderOnnx, members, (reason) => new WasmDecoderError(reason));
    const dec = weights.decoder, enc = weights.encoder!;
    // Each expert's first layer as its own [D, F] matrix (the graph's is [D, E·F]: rows 4 KiB apart at Beauty's sizes,
    // which the caches handle badly when a product reads one expert's columns).
    for (const [m, member] of members.entries()) {
      const { dModel: D, experts: E, expertFfnDim: F } = member;
      for (let i = 0; i < member.decoderLayers; i++) {
        const at = dec.offset[`${memberPrefix(m)}dec.${i}.moe.w1`];
        const w1 = dec.data.slice(at, at + D * E * F);
        for (let e = 0; e < E; e++) for (let r = 0; r < D; r++) dec.data.set(w1.subarray(r * E * F + e * F, r * E * F + (e + 1) * F), at + (e * D + r) * F);
      }
    }
    // Threads: helpers that block in Atomics.wait on a shared memory — in a worker or Node, not on a page's main thread.
    const threads = Math.max(1, Math.min(8, Math.floor(options.threads ?? 1)));
    const canShare = typeof SharedArrayBuffer !== 'undefined' && (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated !== false && typeof (globalThis as { document?: unknown }).document === 'undefined';
    const shared = threads > 1 && options.spawnHelper !== undefined && canShare;
    const { kernels, heap, relaxed, module } = await instantiateKernels({ shared });
    const place = (p: PackedWeights): PackedWeights & { base: number } => {
      const base = heap.alloc(p.data.length);
      heap.f32.set(p.data, base / 4);
      return { ...p, base };
    };
    const decPlaced = place(dec);
    const encPlaced = place(enc);
    const ctls = shared ? Array.from({ length: threads - 1 }, () => heap.alloc(CTL_SLOTS)) : [];
    const heapTop = heap.used;
    const decoder = new WasmDecoder(kernels, heap, members, decPlaced, encPlaced, relaxed, shared ? threads : 1);
    if (threads > 1 && !shared) decoder.threadsNote = options.spawnHelper ? 'helper threads need a shared memory: a cross-origin isolated worker (or Node)' : 'no way to start helper threads here';
    if (shared) {
      const init = (ctl: number): WasmHelperInit => ({ module, memory: heap.memory, members, dec: { offset: dec.offset, base: decPlaced.base }, encW: { offset: enc.offset, base: encPlaced.base }, heapTop, relaxed, threads, ctl });
      // Each helper sets READY once it runs; one that does not within the timeout leaves the decoder to one thread.
      const { pool, note } = await HelperPool.start(() => heap.i32, ctls, options.spawnHelper!, init, options.helperTimeoutMs);
      decoder.helpers = pool;
      decoder.threadsNote = note;
    }
    return decoder;
  }

  /**
   * The decoder as a helper thread sees it: the kernels on the main thread's shared memory, the same layout (weights
   * placed by the main thread, buffers laid out by the same code from the same top).
   */
  static async replica(init: WasmHelperInit): Promise<WasmDecoder> {
    const kernels = (await WebAssembly.instantiate(init.module, { env: { memory: init.memory } })).exports as unknown as Kernels;
    const heap = new Heap(init.memory, kernels.heapBase());
    heap.release(init.heapTop);
    const empty = new Float32Array(0);
    return new WasmDecoder(kernels, heap, init.members, { ...init.dec, data: empty }, { ...init.encW, data: empty }, init.relaxed, init.threads);
  }

  /** Threads that run shares of each step (1 + the helpers running). */
  get threads(): number {
    return 1 + this.helpers.size;
  }

  /** Bytes of the module's memory in use (weights, then buffers). */
  get memoryBytes(): number {
    return this.heap.used;
  }

  private w(name: string): number {
    const at = this.dec.offset[name];
    if (at === undefined) throw new WasmDecoderError(`decoder weight "${name}" was not read`);
    return this.dec.base + 4 * at;
  }

  private e(name: string): number {
    const at = this.encW.offset[name];
    if (at === undefined) throw new WasmDecoderError(`encoder weight "${name}" was not read`);
    return this.encW.base + 4 * at;
  }

  private ensureCapacity(rows: number): StepBuffers {
    if (this.buffers && this.buffers.cap >= rows) return this.buffers;
    // Grown (at least doubled), never shrunk; laid out again in place of the old ones (nothing else follows them).
    return this.layout(Math.max(rows, 1, 2 * (this.buffers?.cap ?? 0)));
  }

  /** The per-request buffers for `cap` rows, from buffersStart: the same pointers on every thread for the same cap. */
  private layout(cap: number): StepBuffers {
    const { heap, members, S, Tmax, V } = this;
    heap.release(this.buffersStart);
    const { dModel: D, codebookSize: K } = members[0];
    const R = 2 * cap;
    const layers = members.reduce((sum, m) => sum + m.decoderLayers, 0);
    const EMAX = Math.max(...members.map((m) => m.experts));
    const FMAX = Math.max(...members.map((m) => m.expertFfnDim));
    this.buffers = {
      cap,
      x: heap.alloc(R * D), h: heap.alloc(R * D), q: heap.alloc(R * D), att: heap.alloc(R * D),
      tokens: heap.alloc(R), parents: heap.alloc(cap),
      scratch: Array.from({ length: this.maxThreads }, () => ({
        scores: heap.alloc(R * S), selfScores: heap.alloc(Tmax),
        router: heap.alloc(R * EMAX), idx: heap.alloc(R), gates: heap.alloc(R),
        gathered: heap.alloc(R * D), hidden: heap.alloc(R * FMAX), expertOut: heap.alloc(R * D),
      })),
      logits: heap.alloc(cap * V), codeScores: heap.alloc(cap * (K + 2)),
      cacheK: Array.from({ length: layers }, () => heap.alloc(Tmax * cap * D)),
      cacheV: Array.from({ length: layers }, () => heap.alloc(Tmax * cap * D)),
      anc: [heap.alloc(cap * Tmax), heap.alloc(cap * Tmax)],
    };
    return this.buffers;
  }

  // The history last encoded and its memory length: the cross-attention keys and values stay in the heap (allocated
  // once, before the per-request buffers), so a second session over the same history within one call (recommend()'s
  // extra candidates, teacher-forced after the beam) reuses them instead of running the encoder again. Only when the
  // caller asks: separate calls always encode, so that repeated calls with one history measure what a call costs.
  private lastEncoded: { tokens: Int32Array; crossLength: number } | null = null;

  private encodeOnce(tokens: Int32Array, reuse: boolean): number {
    const last = this.lastEncoded;
    if (reuse && last && last.tokens.length === tokens.length && last.tokens.every((t, i) => t === tokens[i])) return last.crossLength;
    this.lastEncoded = null; // encode() overwrites the memory: forget it until it completes
    const crossLength = this.encode(tokens);
    this.stats.encodes++;
    this.lastEncoded = { tokens: tokens.slice(), crossLength };
    return crossLength;
  }

  /**
   * encoder.onnx's computation for history_tokens [S] (runtime/tokens.ts encoderTokens): every member's layers, then
   * each decoder layer's cross keys (transposed per head) and values, and the memory bias. Only the history's real
   * tokens are computed: the graph masks PAD keys (bias −1e9, weight 0 after the softmax), so PAD rows' outputs reach
   * nothing. Returns how many positions the cross inputs hold: the real tokens, or all S when there are none (cold
   * start: every key masked alike, which weighs them all equally, as in the graph).
   */
  private encode(tokens: Int32Array): number {
    const { k, heap, S, enc, cross } = this;
    const real: number[] = [];
    for (let s = 0; s < S; s++) if (tokens[s] !== PAD) real.push(s);
    const positions = real.length > 0 ? real : Array.from({ length: S }, (_, s) => s);
    const n = positions.length;
    heap.f32.fill(real.length > 0 ? 0 : -1e9, cross.bias / 4, cross.bias / 4 + n);
    const bias = real.length > 0 ? 0 : cross.bias; // no PAD among the keys: nothing to add
    let layerBase = 0;
    for (const [m, member] of this.members.entries()) {
      const P = memberPrefix(m);
      const { dModel: D, heads: H, encoderLayers, decoderLayers, ffnDim: FF, levels, maxHistory } = member;
      const DH = D / H;
      const scale = 1 / Math.sqrt(DH);
      const emb = this.e(`${P}tok_emb`) / 4, pos = this.e(`${P}enc.item_pos`) / 4, lev = this.e(`${P}enc.level_emb`) / 4;
      const x = heap.f32;
      for (let j = 0; j < n; j++) {
        const s = positions[j];
        const tok = tokens[s], recency = maxHistory - 1 - Math.floor(s / levels), level = s % levels;
        const row = enc.x / 4 + j * D;
        for (let c = 0; c < D; c++) x[row + c] = x[emb + tok * D + c] + (x[pos + recency * D + c] + x[lev + level * D + c]);
      }
      for (let i = 0; i < encoderLayers; i++) {
        const p = (name: string): number => this.e(`${P}enc.${i}.${name}`);
        k.layerNorm(enc.x, enc.h, p('ln1.g'), p('ln1.b'), n, D);
        k.gemm(enc.h, D, p('attn.qkv.w'), 3 * D, p('attn.qkv.b'), enc.qkv, 3 * D, n, D, 3 * D, 0);
        for (let hh = 0; hh < H; hh++) {
          k.transpose(enc.qkv + 4 * (D + hh * DH), 3 * D, n, DH, enc.kT, n);
          k.gemm(enc.qkv + 4 * hh * DH, 3 * D, enc.kT, n, 0, enc.scores, n, n, DH, n, 0);
          k.softmaxRows(enc.scores, n, n, n, scale, bias);
          k.gemm(enc.scores, n, enc.qkv + 4 * (2 * D + hh * DH), 3 * D, 0, enc.att + 4 * hh * DH, D, n, n, DH, 0);
        }
        k.gemm(enc.att, D, p('attn.wo'), D, p('attn.bo'), enc.x, D, n, D, D, 1);
        k.layerNorm(enc.x, enc.h, p('ln2.g'), p('ln2.b'), n, D);
        k.gemm(enc.h, D, p('ffn.w1'), FF, p('ffn.b1'), enc.ffn, FF, n, D, FF, 0);
        k.gelu(enc.ffn, n * FF);
        k.gemm(enc.ffn, FF, p('ffn.w2'), D, p('ffn.b2'), enc.x, D, n, FF, D, 1);
      }
      k.layerNorm(enc.x, enc.h, this.e(`${P}enc.ln_f.g`), this.e(`${P}enc.ln_f.b`), n, D);
      for (let l = 0; l < decoderLayers; l++) {
        const kv = this.e(`${P}dec.${l}.cross.kv.w`), kvBias = this.e(`${P}dec.${l}.cross.kv.b`);
        const layer = layerBase + l;
        k.gemm(enc.h, D, kv, 2 * D, kvBias, enc.k, D, n, D, D, 0); // keys [n, D]
        k.gemm(enc.h, D, kv + 4 * D, 2 * D, kvBias + 4 * D, cross.v[layer], D, n, D, D, 0); // values [n, D]
        for (let hh = 0; hh < H; hh++) k.transpose(enc.k + 4 * hh * DH, D, n, DH, cross.kT[layer] + 4 * hh * DH * n, n); // [H, DH, n]
      }
      layerBase += decoderLayers;
    }
    return n;
  }

  /**
   * One request's DecoderSession from the encoder's input, history_tokens [S]; `maxRows` bounds the beams of any step.
   * `sameHistory`: the caller's previous session had these tokens (BundleRunner's extra candidates): their encoding is
   * reused when it is still the last one.
   */
  sessionFromTokens(historyTokens: Int32Array, maxRows: number, sameHistory = false): DecoderSession {
    if (historyTokens.length !== this.S) throw new WasmDecoderError(`history_tokens has ${historyTokens.length} tokens, the encoder takes ${this.S}`);
    const t0 = now();
    const buffers = this.ensureCapacity(maxRows);
    const crossLength = this.encodeOnce(historyTokens, sameHistory);
    this.stats.encoderMs += now() - t0;
    let position = 0;
    let rowsUsed = 0; // cache rows written by this request's steps
    let parity = 0;
    /** One step of B = parents.length rows; its code scores are then in `buffers`, its logits in `logitsOut` when given. */
    const run = (tokens: Int32Array, parents: Int32Array, logitsOut?: Float32Array): number => {
      const B = parents.length;
      const T = tokens.length / B;
      if (B > buffers.cap || (T !== 1 && T !== 2) || position + T > this.Tmax) throw new WasmDecoderError(`a step of ${B} rows × ${T} tokens at position ${position} exceeds the session's ${buffers.cap} rows, 2 tokens and ${this.Tmax} positions`);
      const started = now();
      this.step(buffers, tokens, parents, B, T, position, rowsUsed, parity, crossLength, logitsOut);
      rowsUsed += B * T;
      position += T;
      parity ^= 1;
      this.stats.steps++;
      this.stats.stepMs += now() - started;
      return B;
    };
    const K = this.members[0].codebookSize;
    return {
      twoTokenSteps: true,
      stepCodeLogProbs: async (tokens, parents) => {
        const B = run(tokens, parents);
        return codeLogProbs(this.heap.f32.subarray(buffers.codeScores / 4, buffers.codeScores / 4 + B * (K + 2)), K);
      },
      // The full logits [rows, vocab] of each row's last token, copied before the code scores are formed from them (in
      // place): what the search does not read, and `onerec eval --bundle`'s unconstrained greedy check does
      // (models/export/evaluate.ts). Such a step runs on this thread alone.
      step: async (tokens, parents) => {
        const logits = new Float32Array(parents.length * this.V); // [rows, vocab]
        run(tokens, parents, logits);
        return logits;
      },
    };
  }

  /**
   * decoder_step.onnx for B beams × T new tokens at `position`, shared among the threads; the new cache rows start at
   * `base`; the cross inputs hold `n` positions (encode()). Leaves the B rows' code scores in `buf`; with `logitsOut`
   * ([B, vocab]) every beam runs on this thread, and their logits are copied there.
   */
  private step(buf: StepBuffers, tokens: Int32Array, parents: Int32Array, B: number, T: number, position: number, base: number, parity: number, n: number, logitsOut?: Float32Array): void {
    const i32 = this.heap.i32;
    i32.set(tokens, buf.tokens / 4);
    i32.set(parents, buf.parents / 4);
    // Beams in contiguous shares, one per thread: the helpers' first, then this thread's own, then the wait for theirs.
    const threads = logitsOut ? 1 : Math.min(this.threads, B);
    const chunk = Math.ceil(B / threads);
    const running: { ctl: number; seq: number }[] = [];
    for (let j = 1; j < threads; j++) {
      const b0 = j * chunk, b1 = Math.min(B, (j + 1) * chunk);
      if (b0 >= b1) continue;
      running.push(this.helpers.post(j - 1, { b0, b1, B, T, position, base, parity, n, cap: buf.cap, thread: j }));
    }
    let failure: unknown = null;
    try {
      this.share(buf, buf.scratch[0], 0, Math.min(B, chunk), T, position, base, parity, n, logitsOut);
    } catch (err) {
      failure = err; // thrown once the helpers are done with the buffers
    }
    this.helpers.wait(running);
    if (failure) throw failure;
  }

  /**
   * Beams [b0, b1) of decoder_step.onnx for B beams × T new tokens at `position` (tokens and parents in buf): their
   * rows of every buffer laid out by beam, `scratch` for the rest; the new cache rows start at `base`; the cross
   * inputs hold `n` positions (encode()). Writes the beams' code scores, and their logits into `logitsOut` (rows b0 …
   * b1 − 1 of [rows, vocab]) when given.
   */
  share(buf: StepBuffers, scratch: Scratch, b0: number, b1: number, T: number, position: number, base: number, parity: number, n: number, logitsOut?: Float32Array): void {
    const { k, heap, members, Tmax, V, cross } = this;
    const { dModel: D, heads: H, codebookSize: K, levels } = members[0];
    const DH = D / H;
    const scale = 1 / Math.sqrt(DH);
    const B = b1 - b0; // this share's beams
    const BT = B * T;
    const i32 = heap.i32;
    const tokens = buf.tokens / 4 + b0 * T, parents = buf.parents / 4 + b0;
    // Each beam's cache rows: its parent's, then this step's.
    const oldAnc = buf.anc[parity] / 4, newAnc = buf.anc[parity ^ 1] / 4;
    for (let b = 0; b < B; b++) {
      const dst = newAnc + (b0 + b) * Tmax, parent = i32[parents + b];
      if (position > 0) i32.copyWithin(dst, oldAnc + parent * Tmax, oldAnc + parent * Tmax + position);
      for (let t = 0; t < T; t++) i32[dst + position + t] = base + (b0 + b) * T + t;
    }
    // This share's rows of the row buffers; its first new cache row.
    const row0 = 4 * b0 * T * D;
    const x = buf.x + row0, h = buf.h + row0, q = buf.q + row0, att = buf.att + row0;
    const first = base + b0 * T;
    const anc = buf.anc[parity ^ 1] + 4 * b0 * Tmax;
    const logits = buf.logits + 4 * b0 * V;
    const { scores, selfScores, router, idx: idxAt, gates: gatesAt, gathered, hidden, expertOut } = scratch;
    const idx = heap.i32, gates = heap.f32;
    let layerBase = 0;
    for (const [m, member] of members.entries()) {
      const P0 = memberPrefix(m);
      const { decoderLayers: L, experts: E, expertsPerToken: KTOP, expertFfnDim: F } = member;
      const f32 = heap.f32;
      const emb = this.w(`${P0}tok_emb`) / 4, pos = this.w(`${P0}dec.pos`) / 4;
      for (let r = 0; r < BT; r++) {
        const tok = i32[tokens + r], p = position + (r % T), row = x / 4 + r * D;
        for (let c = 0; c < D; c++) f32[row + c] = f32[emb + tok * D + c] + f32[pos + p * D + c];
      }
      k.layerNorm(x, h, this.w(`${P0}dec.0.ln1.g`), this.w(`${P0}dec.0.ln1.b`), BT, D);
      for (let i = 0; i < L; i++) {
        const p = (name: string): number => this.w(`${P0}dec.${i}.${name}`);
        const layer = layerBase + i;
        const wqkv = p('self.wqkv'), bqkv = p('self.bqkv');
        const kc = buf.cacheK[layer], vc = buf.cacheV[layer];
        // Self-attention: q, and this step's keys and values written straight into their cache rows.
        k.gemm(h, D, wqkv, 3 * D, bqkv, q, D, BT, D, D, 0);
        k.gemm(h, D, wqkv + 4 * D, 3 * D, bqkv + 4 * D, kc + 4 * first * D, D, BT, D, D, 0);
        k.gemm(h, D, wqkv + 8 * D, 3 * D, bqkv + 8 * D, vc + 4 * first * D, D, BT, D, D, 0);
        k.selfAttention(q, D, kc, vc, D, anc, Tmax, B, T, position, H, DH, scale, att, D, selfScores);
        // In the last layer only each beam's last row goes on (the cache needs every row's keys and values, the head only
        // the last row): with two tokens per row the first rows' residual streams are dropped, the last ones moved up.
        const lastOnly = i === L - 1 && T > 1;
        const rows = lastOnly ? B : BT;
        if (lastOnly) {
          const x32 = heap.f32, x0 = x / 4;
          for (let b = 0; b < B; b++) x32.copyWithin(x0 + b * D, x0 + (b * T + T - 1) * D, x0 + (b * T + T) * D);
        }
        k.gemm(lastOnly ? att + 4 * (T - 1) * D : att, lastOnly ? T * D : D, p('self.wo'), D, p('self.bo'), x, D, rows, D, D, 1);
        k.layerNorm(x, h, p('ln2.g'), p('ln2.b'), rows, D);
        // Cross-attention over the encoder's n positions, head by head (keys transposed: a plain matrix product).
        k.gemm(h, D, p('cross.wq'), D, p('cross.bq'), q, D, rows, D, D, 0);
        for (let hh = 0; hh < H; hh++) {
          k.gemm(q + 4 * hh * DH, D, cross.kT[layer] + 4 * hh * DH * n, n, 0, scores, n, rows, DH, n, 0);
          k.softmaxRows(scores, rows, n, n, scale, cross.bias);
          k.gemm(scores, n, cross.v[layer] + 4 * hh * DH, D, 0, att + 4 * hh * DH, D, rows, n, DH, 0);
        }
        k.gemm(att, D, p('cross.wo'), D, p('cross.bo'), x, D, rows, D, D, 1);
        k.layerNorm(x, h, p('ln3.g'), p('ln3.b'), rows, D);
        // MoE: router softmax, the top-k gates renormalised (as the graph selects them), then each expert over its rows.
        k.gemm(h, D, p('moe.router'), E, 0, router, E, rows, D, E, 0);
        const g = topKGates(heap.f32, router / 4, rows, E, KTOP);
        const w1 = p('moe.w1'), b1 = p('moe.b1'), w2 = p('moe.w2'), b2 = p('moe.b2');
        for (let e = 0; e < E; e++) {
          let routed = 0;
          for (let r = 0; r < rows; r++) {
            const gate = g[r * E + e];
            if (gate !== 0) { idx[idxAt / 4 + routed] = r; gates[gatesAt / 4 + routed] = gate; routed++; }
          }
          if (routed === 0) continue;
          k.gatherRows(h, D, idxAt, routed, D, gathered);
          k.gemm(gathered, D, w1 + 4 * e * D * F, F, b1 + 4 * e * F, hidden, F, routed, D, F, 0); // w1 per expert [E, D, F] (create)
          k.gelu(hidden, routed * F);
          k.gemm(hidden, F, w2 + 4 * e * F * D, D, b2 + 4 * e * D, expertOut, D, routed, F, D, 0);
          k.scatterAddScaled(expertOut, idxAt, gatesAt, routed, D, x);
        }
        const next = i + 1 < L ? `${P0}dec.${i + 1}.ln1` : `${P0}dec.ln_f`;
        k.layerNorm(x, h, this.w(`${next}.g`), this.w(`${next}.b`), rows, D);
      }
      // Each beam's last row (rows 0 … B − 1 now) through the head (an ensemble's members' logits summed, then averaged).
      k.gemm(h, D, this.w(`${P0}lm_head`), V, 0, logits, V, B, D, V, m > 0 ? 1 : 0);
      layerBase += L;
    }
    if (members.length > 1) k.scale(logits, B * V, 1 / members.length);
    logitsOut?.set(heap.f32.subarray(logits / 4, logits / 4 + B * V), b0 * V); // codeScores turns them into exp(logit − max)
    const lastPosition = position + T - 1;
    const nextLevel = Math.min(lastPosition % (levels + 1), levels - 1);
    k.codeScores(logits, B, V, SPECIAL_TOKENS + nextLevel * K, K, buf.codeScores + 4 * b0 * (K + 2));
  }

  dispose(): void {
    this.helpers.stop();
    this.buffers = null; // the module's memory goes with the instance
  }

  /** A helper thread's loop (serveWasmHelper): run each share the main thread posts until told to quit. */
  async serve(ctl: number): Promise<void> {
    await serveShares(() => this.heap.i32, ctl, ({ b0, b1, T, position, base, parity, n, cap, thread }) => {
      const buf = this.buffers?.cap === cap ? this.buffers : this.layout(cap);
      this.share(buf, buf.scratch[thread], b0, b1, T, position, base, parity, n);
    });
  }
}

/** The entry of a helper thread: the decoder's replica on the shared memory, serving shares until disposed. */
export async function serveWasmHelper(init: WasmHelperInit): Promise<void> {
  const replica = await WasmDecoder.replica(init);
  await replica.serve(init.ctl);
}

/**
 * Router logits [rows, E] at `at` in f32 → gates: softmax, kept where at most KTOP − 1 others are larger,
 * renormalised (the exported graph's selection, as the WGSL kernel computes it).
 */
function topKGates(f32: Float32Array, at: number, rows: number, E: number, KTOP: number): Float32Array {
  const out = new Float32Array(rows * E);
  const p = new Float32Array(E);
  for (let r = 0; r < rows; r++) {
    let mx = -Infinity;
    for (let e = 0; e < E; e++) mx = Math.max(mx, f32[at + r * E + e]);
    let sum = 0;
    for (let e = 0; e < E; e++) { p[e] = Math.exp(f32[at + r * E + e] - mx); sum += p[e]; }
    for (let e = 0; e < E; e++) p[e] = p[e] / sum;
    let total = 0;
    for (let e = 0; e < E; e++) {
      let above = 0;
      for (let f = 0; f < E; f++) if (p[f] > p[e]) above++;
      const kept = above < KTOP ? p[e] : 0;
      out[r * E + e] = kept;
      total += kept;
    }
    for (let e = 0; e < E; e++) out[r * E + e] /= total;
  }
  return out;
}

const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());
