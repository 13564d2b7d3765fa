// The seed model's CPU kernels, in AssemblyScript compiled to WebAssembly with 128-bit SIMD
// (`node build.mjs --kernels` writes runtime/wasm/kernels-wasm.ts; runtime/wasm-decoder.ts drives them).
// Pointers are byte offsets into this module's memory; strides (ld*) and sizes count float32 values.
// Every matrix is row-major. No allocation here: runtime/wasm-decoder.ts lays the memory out.

// exp of four floats: n = round(x·log2 e), r = x − n·ln 2 (in two parts), e^r by Cephes' expf polynomial (≈ 1 ulp), times
// 2^n built in the exponent bits. x is clamped to [−87.3, 88.7]: below, e^x is under the smallest normal float (the
// result is then ~1e-38 instead of 0, which no softmax sum here can tell apart).
@inline function expv(x: v128): v128 {
  x = f32x4.pmin(f32x4.pmax(x, f32x4.splat(-87.33654)), f32x4.splat(88.72283)); // pmin/pmax: one instruction each (no NaN here)
  // n = round(x·log2 e) by adding 1.5·2^23: n then sits in the low mantissa bits of t (cheaper than nearest + a saturating convert).
  const t = f32x4.add(f32x4.mul(x, f32x4.splat(1.4426950408889634)), f32x4.splat(12582912));
  const n = f32x4.sub(t, f32x4.splat(12582912));
  const r = f32x4.sub(f32x4.sub(x, f32x4.mul(n, f32x4.splat(0.693359375))), f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let p = f32x4.splat(1.9875691500e-4);
  p = madd(p, r, f32x4.splat(1.3981999507e-3));
  p = madd(p, r, f32x4.splat(8.3334519073e-3));
  p = madd(p, r, f32x4.splat(4.1665795894e-2));
  p = madd(p, r, f32x4.splat(1.6666665459e-1));
  p = madd(p, r, f32x4.splat(5.0000001201e-1));
  const y = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r), f32x4.splat(1));
  // 2^n: n + 127 in the exponent bits (t's bits − those of 1.5·2^23 are n).
  const scale = i32x4.shl(i32x4.add(i32x4.sub(t, i32x4.splat(0x4B400000)), i32x4.splat(127)), 23);
  return f32x4.mul(y, scale);
}

// v ← e^(v − mx) over n values at p; returns their sum.
@inline function expShiftSum(p: usize, n: i32, mx: f32): f32 {
  const m = f32x4.splat(mx);
  let acc = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const o = p + (<usize>j << 2);
    const e = expv(f32x4.sub(v128.load(o), m));
    v128.store(o, e);
    acc = f32x4.add(acc, e);
  }
  let sum = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
  for (; j < n; j++) {
    const o = p + (<usize>j << 2);
    const e = f32x4.extract_lane(expv(f32x4.splat(load<f32>(o) - mx)), 0);
    store<f32>(o, e);
    sum += e;
  }
  return sum;
}

// The largest of n values at p.
@inline function maxOf(p: usize, n: i32): f32 {
  let acc = f32x4.splat(-Infinity);
  let j = 0;
  for (; j + 4 <= n; j += 4) acc = f32x4.pmax(acc, v128.load(p + (<usize>j << 2)));
  let mx = max(max(f32x4.extract_lane(acc, 0), f32x4.extract_lane(acc, 1)), max(f32x4.extract_lane(acc, 2), f32x4.extract_lane(acc, 3)));
  for (; j < n; j++) mx = max(mx, load<f32>(p + (<usize>j << 2)));
  return mx;
}

// v ← v · s over n values at p.
@inline function scaleBy(p: usize, n: i32, s: f32): void {
  const v = f32x4.splat(s);
  let j = 0;
  for (; j + 4 <= n; j += 4) { const o = p + (<usize>j << 2); v128.store(o, f32x4.mul(v128.load(o), v)); }
  for (; j < n; j++) { const o = p + (<usize>j << 2); store<f32>(o, load<f32>(o) * s); }
}

// a·b + c: one fused multiply-add where the module is compiled with relaxed SIMD (`--enable relaxed-simd`: Chromium,
// not Node 20), else a multiply and an add. The two builds' results differ in float32 rounding only.
@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

// C[M, N] = (acc ? C : 0) + A[M, K] · W[K, N] + bias[N] (bias 0: none).
export function gemm(a: usize, lda: i32, w: usize, ldw: i32, bias: usize, c: usize, ldc: i32, M: i32, K: i32, N: i32, acc: bool): void {
  let i = 0;
  if (ASC_FEATURE_RELAXED_SIMD) {
    // With fused multiply-adds a 6 × 8 block fits V8's 16 SIMD registers (without them it spills: 4 × 8 then): 6 rows
    // at a time, leaving 4 or 8 rather than 2 rows to the 4-row blocks.
    const blocks = M % 6 == 2 ? max(M / 6 - 1, 0) : M / 6;
    for (let b = 0; b < blocks; b++, i += 6) rows6(a + ((<usize>i * <usize>lda) << 2), lda, w, ldw, bias, c + ((<usize>i * <usize>ldc) << 2), ldc, K, N, acc);
  }
  for (; i + 4 <= M; i += 4) rows4(a + ((<usize>i * <usize>lda) << 2), lda, w, ldw, bias, c + ((<usize>i * <usize>ldc) << 2), ldc, K, N, acc);
  for (; i < M; i++) row1(a + ((<usize>i * <usize>lda) << 2), w, ldw, bias, c + ((<usize>i * <usize>ldc) << 2), K, N, acc);
}

// Six rows of A against column blocks of 8 of W (12 accumulators); the last N mod 8 columns by rows4 and row1.
@inline function rows6(a: usize, lda: i32, w: usize, ldw: i32, bias: usize, c: usize, ldc: i32, K: i32, N: i32, acc: bool): void {
  const la = <usize>lda << 2, lw = <usize>ldw << 2, lc = <usize>ldc << 2;
  let j = 0;
  for (; j + 8 <= N; j += 8) {
    let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
    let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
    let c40 = f32x4.splat(0), c41 = f32x4.splat(0), c50 = f32x4.splat(0), c51 = f32x4.splat(0);
    let pa = a, pw = w + (<usize>j << 2);
    for (let k = 0; k < K; k++) {
      const b0 = v128.load(pw), b1 = v128.load(pw, 16);
      let s = v128.load32_splat(pa);
      c00 = madd(s, b0, c00); c01 = madd(s, b1, c01);
      s = v128.load32_splat(pa + la);
      c10 = madd(s, b0, c10); c11 = madd(s, b1, c11);
      s = v128.load32_splat(pa + 2 * la);
      c20 = madd(s, b0, c20); c21 = madd(s, b1, c21);
      s = v128.load32_splat(pa + 3 * la);
      c30 = madd(s, b0, c30); c31 = madd(s, b1, c31);
      s = v128.load32_splat(pa + 4 * la);
      c40 = madd(s, b0, c40); c41 = madd(s, b1, c41);
      s = v128.load32_splat(pa + 5 * la);
      c50 = madd(s, b0, c50); c51 = madd(s, b1, c51);
      pa += 4; pw += lw;
    }
    const pc = c + (<usize>j << 2);
    let b0 = f32x4.splat(0), b1 = f32x4.splat(0);
    if (bias) { b0 = v128.load(bias + (<usize>j << 2)); b1 = v128.load(bias + (<usize>j << 2), 16); }
    put8(pc, c00, c01, b0, b1, acc);
    put8(pc + lc, c10, c11, b0, b1, acc);
    put8(pc + 2 * lc, c20, c21, b0, b1, acc);
    put8(pc + 3 * lc, c30, c31, b0, b1, acc);
    put8(pc + 4 * lc, c40, c41, b0, b1, acc);
    put8(pc + 5 * lc, c50, c51, b0, b1, acc);
  }
  if (j < N) {
    const o = <usize>j << 2;
    const tb = bias ? bias + o : 0;
    rows4(a, lda, w + o, ldw, tb, c + o, ldc, K, N - j, acc);
    row1(a + 4 * la, w + o, ldw, tb, c + 4 * lc + o, K, N - j, acc);
    row1(a + 5 * la, w + o, ldw, tb, c + 5 * lc + o, K, N - j, acc);
  }
}

// Four rows of A against column blocks of 8 (then 4, then 1) of W: 8 accumulators, W's block loaded once per k.
@inline function rows4(a: usize, lda: i32, w: usize, ldw: i32, bias: usize, c: usize, ldc: i32, K: i32, N: i32, acc: bool): void {
  const la = <usize>lda << 2, lw = <usize>ldw << 2, lc = <usize>ldc << 2;
  let j = 0;
  for (; j + 8 <= N; j += 8) {
    let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
    let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
    let pa = a, pw = w + (<usize>j << 2);
    for (let k = 0; k < K; k++) {
      const b0 = v128.load(pw), b1 = v128.load(pw, 16);
      let s = v128.load32_splat(pa);
      c00 = madd(s, b0, c00); c01 = madd(s, b1, c01);
      s = v128.load32_splat(pa + la);
      c10 = madd(s, b0, c10); c11 = madd(s, b1, c11);
      s = v128.load32_splat(pa + 2 * la);
      c20 = madd(s, b0, c20); c21 = madd(s, b1, c21);
      s = v128.load32_splat(pa + 3 * la);
      c30 = madd(s, b0, c30); c31 = madd(s, b1, c31);
      pa += 4; pw += lw;
    }
    const pc = c + (<usize>j << 2);
    let b0 = f32x4.splat(0), b1 = f32x4.splat(0);
    if (bias) { b0 = v128.load(bias + (<usize>j << 2)); b1 = v128.load(bias + (<usize>j << 2), 16); }
    put8(pc, c00, c01, b0, b1, acc);
    put8(pc + lc, c10, c11, b0, b1, acc);
    put8(pc + 2 * lc, c20, c21, b0, b1, acc);
    put8(pc + 3 * lc, c30, c31, b0, b1, acc);
  }
  for (; j + 4 <= N; j += 4) {
    let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
    let pa = a, pw = w + (<usize>j << 2);
    for (let k = 0; k < K; k++) {
      const b0 = v128.load(pw);
      c0 = madd(v128.load32_splat(pa), b0, c0);
      c1 = madd(v128.load32_splat(pa + la), b0, c1);
      c2 = madd(v128.load32_splat(pa + 2 * la), b0, c2);
      c3 = madd(v128.load32_splat(pa + 3 * la), b0, c3);
      pa += 4; pw += lw;
    }
    const pc = c + (<usize>j << 2);
    const b0 = bias ? v128.load(bias + (<usize>j << 2)) : f32x4.splat(0);
    put4(pc, c0, b0, acc);
    put4(pc + lc, c1, b0, acc);
    put4(pc + 2 * lc, c2, b0, acc);
    put4(pc + 3 * lc, c3, b0, acc);
  }
  for (; j < N; j++) for (let r = 0; r < 4; r++) column(a + <usize>r * la, w, lw, bias, c + <usize>r * lc, K, j, acc);
}

// One row of A: column blocks of 8, 4, then 1.
@inline function row1(a: usize, w: usize, ldw: i32, bias: usize, c: usize, K: i32, N: i32, acc: bool): void {
  const lw = <usize>ldw << 2;
  let j = 0;
  for (; j + 8 <= N; j += 8) {
    let c0 = f32x4.splat(0), c1 = f32x4.splat(0);
    let pa = a, pw = w + (<usize>j << 2);
    for (let k = 0; k < K; k++) {
      const s = v128.load32_splat(pa);
      c0 = madd(s, v128.load(pw), c0);
      c1 = madd(s, v128.load(pw, 16), c1);
      pa += 4; pw += lw;
    }
    let b0 = f32x4.splat(0), b1 = f32x4.splat(0);
    if (bias) { b0 = v128.load(bias + (<usize>j << 2)); b1 = v128.load(bias + (<usize>j << 2), 16); }
    put8(c + (<usize>j << 2), c0, c1, b0, b1, acc);
  }
  for (; j + 4 <= N; j += 4) {
    let c0 = f32x4.splat(0);
    let pa = a, pw = w + (<usize>j << 2);
    for (let k = 0; k < K; k++) {
      c0 = madd(v128.load32_splat(pa), v128.load(pw), c0);
      pa += 4; pw += lw;
    }
    put4(c + (<usize>j << 2), c0, bias ? v128.load(bias + (<usize>j << 2)) : f32x4.splat(0), acc);
  }
  for (; j < N; j++) column(a, w, lw, bias, c, K, j, acc);
}

@inline function column(a: usize, w: usize, lw: usize, bias: usize, c: usize, K: i32, j: i32, acc: bool): void {
  const o = <usize>j << 2;
  let s: f32 = 0;
  let pw = w + o;
  for (let k = 0; k < K; k++) { s += load<f32>(a + (<usize>k << 2)) * load<f32>(pw); pw += lw; }
  if (bias) s += load<f32>(bias + o);
  store<f32>(c + o, acc ? load<f32>(c + o) + s : s);
}

@inline function put8(pc: usize, x0: v128, x1: v128, b0: v128, b1: v128, acc: bool): void {
  let y0 = f32x4.add(x0, b0), y1 = f32x4.add(x1, b1);
  if (acc) { y0 = f32x4.add(v128.load(pc), y0); y1 = f32x4.add(v128.load(pc, 16), y1); }
  v128.store(pc, y0);
  v128.store(pc, y1, 16);
}

@inline function put4(pc: usize, x0: v128, b0: v128, acc: bool): void {
  let y0 = f32x4.add(x0, b0);
  if (acc) y0 = f32x4.add(v128.load(pc), y0);
  v128.store(pc, y0);
}

// Σ a[i]·b[i] over n values (n a multiple of 4), four partial vectors.
@inline function dot(a: usize, b: usize, n: i32): f32 {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const o = <usize>i << 2;
    s0 = madd(v128.load(a + o), v128.load(b + o), s0);
    s1 = madd(v128.load(a + o, 16), v128.load(b + o, 16), s1);
  }
  if (i < n) s0 = madd(v128.load(a + (<usize>i << 2)), v128.load(b + (<usize>i << 2)), s0);
  const s = f32x4.add(s0, s1);
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + (f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3));
}

// The decoder's self-attention with a tree-shaped KV cache. Row (b, t) of q ([B·T, ldq], head h at h·DH) attends to
// cache rows anc[b·ancStride + j], j ≤ P + t (its beam's earlier tokens, then this step's, causally): softmax of
// scale · q·k over them, then Σ p·v into out ([B·T, ldo]). kc, vc: [rows, D]. scores: scratch of P + T floats.
export function selfAttention(q: usize, ldq: i32, kc: usize, vc: usize, D: i32, anc: usize, ancStride: i32, B: i32, T: i32, P: i32, H: i32, DH: i32, scale: f32, out: usize, ldo: i32, scores: usize): void {
  for (let b = 0; b < B; b++) {
    const rowAnc = anc + ((<usize>b * <usize>ancStride) << 2);
    for (let t = 0; t < T; t++) {
      const n = P + t + 1;
      const row = b * T + t;
      for (let h = 0; h < H; h++) {
        const qp = q + ((<usize>row * <usize>ldq + <usize>(h * DH)) << 2);
        let mx: f32 = -Infinity;
        for (let j = 0; j < n; j++) {
          const r = load<i32>(rowAnc + (<usize>j << 2));
          const s = dot(qp, kc + ((<usize>r * <usize>D + <usize>(h * DH)) << 2), DH) * scale;
          store<f32>(scores + (<usize>j << 2), s);
          mx = max(mx, s);
        }
        const inv = f32x4.splat(<f32>1 / expShiftSum(scores, n, mx));
        // Σ p·v, eight output values at a time in registers (DH is a multiple of 4; a last group of 4 when not of 8).
        const op = out + ((<usize>row * <usize>ldo + <usize>(h * DH)) << 2);
        const vh = vc + (<usize>(h * DH) << 2);
        for (let e = 0; e < DH; e += 8) {
          const o = <usize>e << 2;
          const two = e + 8 <= DH;
          let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
          for (let j = 0; j < n; j++) {
            const p = v128.load32_splat(scores + (<usize>j << 2));
            const vp = vh + ((<usize>load<i32>(rowAnc + (<usize>j << 2)) * <usize>D) << 2) + o;
            a0 = madd(p, v128.load(vp), a0);
            if (two) a1 = madd(p, v128.load(vp, 16), a1);
          }
          v128.store(op + o, f32x4.mul(a0, inv));
          if (two) v128.store(op + o, f32x4.mul(a1, inv), 16);
        }
      }
    }
  }
}

// Each of rows rows (n values, stride ld) ← softmax(scale · x + bias) (bias: n values, 0 for none).
export function softmaxRows(p: usize, rows: i32, n: i32, ld: i32, scale: f32, bias: usize): void {
  const sv = f32x4.splat(scale);
  for (let r = 0; r < rows; r++) {
    const x = p + ((<usize>r * <usize>ld) << 2);
    let j = 0;
    for (; j + 4 <= n; j += 4) {
      const o = <usize>j << 2;
      let v = f32x4.mul(v128.load(x + o), sv);
      if (bias) v = f32x4.add(v, v128.load(bias + o));
      v128.store(x + o, v);
    }
    for (; j < n; j++) {
      const o = <usize>j << 2;
      let v = load<f32>(x + o) * scale;
      if (bias) v += load<f32>(bias + o);
      store<f32>(x + o, v);
    }
    scaleBy(x, n, <f32>1 / expShiftSum(x, n, maxOf(x, n)));
  }
}

// out[r] = LayerNorm(x[r]) · g + b over D values (epsilon 1e-5, as ONNX LayerNormalization); rows of stride D, D a
// multiple of 4.
export function layerNorm(x: usize, out: usize, g: usize, b: usize, rows: i32, D: i32): void {
  for (let r = 0; r < rows; r++) {
    const px = x + ((<usize>r * <usize>D) << 2), po = out + ((<usize>r * <usize>D) << 2);
    let s = f32x4.splat(0);
    for (let c = 0; c < D; c += 4) s = f32x4.add(s, v128.load(px + (<usize>c << 2)));
    const mean = f32x4.splat((f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + (f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3))) / <f32>D);
    let q = f32x4.splat(0);
    for (let c = 0; c < D; c += 4) { const z = f32x4.sub(v128.load(px + (<usize>c << 2)), mean); q = madd(z, z, q); }
    const variance = (f32x4.extract_lane(q, 0) + f32x4.extract_lane(q, 1) + (f32x4.extract_lane(q, 2) + f32x4.extract_lane(q, 3))) / <f32>D;
    const inv = f32x4.splat(<f32>1 / Mathf.sqrt(variance + <f32>1e-5));
    for (let c = 0; c < D; c += 4) {
      const o = <usize>c << 2;
      v128.store(po + o, madd(f32x4.mul(f32x4.sub(v128.load(px + o), mean), inv), v128.load(g + o), v128.load(b + o)));
    }
  }
}

// x ← 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) over n values (the exported graphs' FastGelu), with
// a = √(2/π)·(x + 0.044715·x³) clamped to ±15 (where tanh is ±1 in float32).
export function gelu(x: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) { const o = x + (<usize>i << 2); v128.store(o, gelu4(v128.load(o))); }
  for (; i < n; i++) { const o = x + (<usize>i << 2); store<f32>(o, f32x4.extract_lane(gelu4(f32x4.splat(load<f32>(o))), 0)); }
}

@inline function gelu4(u: v128): v128 {
  // 0.5·(1 + tanh(a)) = 1 / (1 + e^(−2a)): one exponential and one division per value.
  const a = f32x4.pmin(f32x4.pmax(f32x4.mul(f32x4.splat(0.7978845608028654), madd(f32x4.splat(0.044715), f32x4.mul(u, f32x4.mul(u, u)), u)), f32x4.splat(-15)), f32x4.splat(15));
  return f32x4.div(u, f32x4.add(f32x4.splat(1), expv(f32x4.mul(f32x4.splat(-2), a))));
}

// dst[i] = src[idx[i]] for i < n (rows of D values; src stride lds).
export function gatherRows(src: usize, lds: i32, idx: usize, n: i32, D: i32, dst: usize): void {
  for (let i = 0; i < n; i++) memory.copy(dst + ((<usize>i * <usize>D) << 2), src + ((<usize>load<i32>(idx + (<usize>i << 2)) * <usize>lds) << 2), <usize>D << 2);
}

// dst[idx[i]] += gate[i] · src[i] for i < n (rows of D values, D a multiple of 4).
export function scatterAddScaled(src: usize, idx: usize, gate: usize, n: i32, D: i32, dst: usize): void {
  for (let i = 0; i < n; i++) {
    const g = v128.load32_splat(gate + (<usize>i << 2));
    const ps = src + ((<usize>i * <usize>D) << 2), pd = dst + ((<usize>load<i32>(idx + (<usize>i << 2)) * <usize>D) << 2);
    for (let c = 0; c < D; c += 4) { const o = <usize>c << 2; v128.store(pd + o, madd(g, v128.load(ps + o), v128.load(pd + o))); }
  }
}

// dst[c, r] = src[r, c] for r < rows, c < cols (strides lds, ldd).
export function transpose(src: usize, lds: i32, rows: i32, cols: i32, dst: usize, ldd: i32): void {
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) store<f32>(dst + ((<usize>c * <usize>ldd + <usize>r) << 2), load<f32>(src + ((<usize>r * <usize>lds + <usize>c) << 2)));
}

// decoder_step.onnx's code_scores: per row of logits [rows, V] the K logits from codeStart, then the row's max and
// Σ exp(logit − max) over all V, into out [rows, K + 2]. The logits are overwritten.
export function codeScores(logits: usize, rows: i32, V: i32, codeStart: i32, K: i32, out: usize): void {
  for (let r = 0; r < rows; r++) {
    const x = logits + ((<usize>r * <usize>V) << 2), o = out + ((<usize>r * <usize>(K + 2)) << 2);
    memory.copy(o, x + (<usize>codeStart << 2), <usize>K << 2);
    const mx = maxOf(x, V);
    store<f32>(o + (<usize>K << 2), mx);
    store<f32>(o + (<usize>(K + 1) << 2), expShiftSum(x, V, mx));
  }
}

// x *= s over n values.
export function scale(x: usize, n: i32, s: f32): void {
  for (let i = 0; i < n; i++) store<f32>(x + (<usize>i << 2), load<f32>(x + (<usize>i << 2)) * s);
}

// Where this module's static data (Mathf's tables) ends: runtime/wasm-decoder.ts lays its buffers out from here.
export function heapBase(): usize {
  return __heap_base;
}
