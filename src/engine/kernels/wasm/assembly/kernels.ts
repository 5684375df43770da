// Kiln's WebAssembly SIMD kernels (AssemblyScript). Compiled by `npm run build:wasm` into
// ../binary.ts. Pointers are byte offsets into the shared linear memory; matrices are
// row-major float32. These mirror the reference kernels in ../../matmul.ts exactly in meaning.

// C (4 rows × 8 cols) ← A (4 rows, stride lda) @ packed B panel (K × 8) [+ bias | + C]
@inline function kernel4x8(c: usize, a: usize, bp: usize, k: i32, lda: usize, ldc: usize, accumulate: bool, bias: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda;
  let b = bp;
  for (let p = 0; p < k; p++) {
    const b0 = v128.load(b);
    const b1 = v128.load(b, 16);
    let x = v128.load32_splat(a0);
    c00 = f32x4.add(c00, f32x4.mul(x, b0));
    c01 = f32x4.add(c01, f32x4.mul(x, b1));
    x = v128.load32_splat(a1);
    c10 = f32x4.add(c10, f32x4.mul(x, b0));
    c11 = f32x4.add(c11, f32x4.mul(x, b1));
    x = v128.load32_splat(a2);
    c20 = f32x4.add(c20, f32x4.mul(x, b0));
    c21 = f32x4.add(c21, f32x4.mul(x, b1));
    x = v128.load32_splat(a3);
    c30 = f32x4.add(c30, f32x4.mul(x, b0));
    c31 = f32x4.add(c31, f32x4.mul(x, b1));
    a0 += 4;
    a1 += 4;
    a2 += 4;
    a3 += 4;
    b += 32;
  }
  if (accumulate) {
    c00 = f32x4.add(v128.load(c), c00);
    c01 = f32x4.add(v128.load(c, 16), c01);
    c10 = f32x4.add(v128.load(c + ldc), c10);
    c11 = f32x4.add(v128.load(c + ldc, 16), c11);
    c20 = f32x4.add(v128.load(c + 2 * ldc), c20);
    c21 = f32x4.add(v128.load(c + 2 * ldc, 16), c21);
    c30 = f32x4.add(v128.load(c + 3 * ldc), c30);
    c31 = f32x4.add(v128.load(c + 3 * ldc, 16), c31);
  } else if (bias) {
    const bb0 = v128.load(bias);
    const bb1 = v128.load(bias, 16);
    c00 = f32x4.add(bb0, c00);
    c01 = f32x4.add(bb1, c01);
    c10 = f32x4.add(bb0, c10);
    c11 = f32x4.add(bb1, c11);
    c20 = f32x4.add(bb0, c20);
    c21 = f32x4.add(bb1, c21);
    c30 = f32x4.add(bb0, c30);
    c31 = f32x4.add(bb1, c31);
  }
  v128.store(c, c00);
  v128.store(c, c01, 16);
  v128.store(c + ldc, c10);
  v128.store(c + ldc, c11, 16);
  v128.store(c + 2 * ldc, c20);
  v128.store(c + 2 * ldc, c21, 16);
  v128.store(c + 3 * ldc, c30);
  v128.store(c + 3 * ldc, c31, 16);
}

// C (1 row × 8 cols), for the rows left over after the 4-row tiles; A's values are `astep`
// bytes apart (4 for row-major A, lda for A stored transposed)
@inline function kernel1x8(c: usize, a: usize, astep: usize, bp: usize, k: i32, accumulate: bool, bias: usize): void {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0);
  let b = bp;
  let ap = a;
  for (let p = 0; p < k; p++) {
    const x = v128.load32_splat(ap);
    c0 = f32x4.add(c0, f32x4.mul(x, v128.load(b)));
    c1 = f32x4.add(c1, f32x4.mul(x, v128.load(b, 16)));
    ap += astep;
    b += 32;
  }
  if (accumulate) {
    c0 = f32x4.add(v128.load(c), c0);
    c1 = f32x4.add(v128.load(c, 16), c1);
  } else if (bias) {
    c0 = f32x4.add(v128.load(bias), c0);
    c1 = f32x4.add(v128.load(bias, 16), c1);
  }
  v128.store(c, c0);
  v128.store(c, c1, 16);
}

/**
 * C (M, N) = A (M, K) @ B (K, N) + bias (N), or C += A @ B when `accumulate`; only the column
 * panels [j0, j1) (multiples of 8, except j1 = N) are computed, so threads can split the work.
 * `pack` is scratch for K × 8 floats.
 */
function gemm(c: usize, a: usize, b: usize, bias: usize, m: i32, k: i32, n: i32, accumulate: bool, pack: usize, j0: i32, j1: i32): void {
  const lda = (<usize>k) << 2;
  const ldb = (<usize>n) << 2;
  const ldc = (<usize>n) << 2;
  const n8 = n & ~7;
  const jEnd = j1 < n8 ? j1 : n8;
  for (let j = j0; j < jEnd; j += 8) {
    let src = b + ((<usize>j) << 2);
    let dst = pack;
    for (let p = 0; p < k; p++) {
      v128.store(dst, v128.load(src));
      v128.store(dst, v128.load(src, 16), 16);
      src += ldb;
      dst += 32;
    }
    const biasJ: usize = bias ? bias + ((<usize>j) << 2) : 0;
    const cj = c + ((<usize>j) << 2);
    let i = 0;
    for (; i + 4 <= m; i += 4) kernel4x8(cj + <usize>i * ldc, a + <usize>i * lda, pack, k, lda, ldc, accumulate, biasJ);
    for (; i < m; i++) kernel1x8(cj + <usize>i * ldc, a + <usize>i * lda, 4, pack, k, accumulate, biasJ);
  }
  // Columns past the last full panel (N not a multiple of 8), done by whoever owns the end.
  if (j1 >= n) {
    for (let j = n8; j < n; j++) {
      for (let i = 0; i < m; i++) {
        let s: f32 = 0;
        let ap = a + <usize>i * lda;
        let bq = b + ((<usize>j) << 2);
        for (let p = 0; p < k; p++) {
          s += load<f32>(ap) * load<f32>(bq);
          ap += 4;
          bq += ldb;
        }
        const at = c + <usize>i * ldc + ((<usize>j) << 2);
        if (accumulate) store<f32>(at, load<f32>(at) + s);
        else store<f32>(at, bias ? load<f32>(bias + ((<usize>j) << 2)) + s : s);
      }
    }
  }
}


// As kernel4x8, with A stored transposed (K × M, stride lda): the four A values of step p are
// contiguous: four broadcast loads from one cache line.
@inline function kernel4x8TA(c: usize, a: usize, bp: usize, k: i32, lda: usize, ldc: usize, accumulate: bool): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let ap = a;
  let b = bp;
  for (let p = 0; p < k; p++) {
    const b0 = v128.load(b);
    const b1 = v128.load(b, 16);
    let x = v128.load32_splat(ap);
    c00 = f32x4.add(c00, f32x4.mul(x, b0));
    c01 = f32x4.add(c01, f32x4.mul(x, b1));
    x = v128.load32_splat(ap, 4);
    c10 = f32x4.add(c10, f32x4.mul(x, b0));
    c11 = f32x4.add(c11, f32x4.mul(x, b1));
    x = v128.load32_splat(ap, 8);
    c20 = f32x4.add(c20, f32x4.mul(x, b0));
    c21 = f32x4.add(c21, f32x4.mul(x, b1));
    x = v128.load32_splat(ap, 12);
    c30 = f32x4.add(c30, f32x4.mul(x, b0));
    c31 = f32x4.add(c31, f32x4.mul(x, b1));
    ap += lda;
    b += 32;
  }
  if (accumulate) {
    c00 = f32x4.add(v128.load(c), c00);
    c01 = f32x4.add(v128.load(c, 16), c01);
    c10 = f32x4.add(v128.load(c + ldc), c10);
    c11 = f32x4.add(v128.load(c + ldc, 16), c11);
    c20 = f32x4.add(v128.load(c + 2 * ldc), c20);
    c21 = f32x4.add(v128.load(c + 2 * ldc, 16), c21);
    c30 = f32x4.add(v128.load(c + 3 * ldc), c30);
    c31 = f32x4.add(v128.load(c + 3 * ldc, 16), c31);
  }
  v128.store(c, c00);
  v128.store(c, c01, 16);
  v128.store(c + ldc, c10);
  v128.store(c + ldc, c11, 16);
  v128.store(c + 2 * ldc, c20);
  v128.store(c + 2 * ldc, c21, 16);
  v128.store(c + 3 * ldc, c30);
  v128.store(c + 3 * ldc, c31, 16);
}

/**
 * C (M, N) = op(A) @ op(B) [+ bias | + C], where op transposes when asked: with `transA`, A is
 * stored K × M (dW = Xᵀ dY reads X as is; no bias then); with `transB`, B is stored N × K (dX = dY Wᵀ reads W as
 * is, transposing while it packs each panel). Only the column panels [j0, j1) are computed.
 */
export function gemmT(c: usize, a: usize, b: usize, bias: usize, m: i32, k: i32, n: i32, accumulate: bool, pack: usize, j0: i32, j1: i32, transA: bool, transB: bool): void {
  if (!transA && !transB) {
    gemm(c, a, b, bias, m, k, n, accumulate, pack, j0, j1);
    return;
  }
  const lda = (<usize>(transA ? m : k)) << 2;
  const ldb = (<usize>(transB ? k : n)) << 2;
  const ldc = (<usize>n) << 2;
  const n8 = n & ~7;
  const jEnd = j1 < n8 ? j1 : n8;
  for (let j = j0; j < jEnd; j += 8) {
    let dst = pack;
    if (transB) {
      // Panel column c is row j + c of the stored B: eight sequential streams.
      const r0 = b + <usize>j * ldb;
      for (let p = 0; p < k; p++) {
        const o = (<usize>p) << 2;
        for (let cc = 0; cc < 8; cc++) store<f32>(dst + ((<usize>cc) << 2), load<f32>(r0 + <usize>cc * ldb + o));
        dst += 32;
      }
    } else {
      let src = b + ((<usize>j) << 2);
      for (let p = 0; p < k; p++) {
        v128.store(dst, v128.load(src));
        v128.store(dst, v128.load(src, 16), 16);
        src += ldb;
        dst += 32;
      }
    }
    const biasJ: usize = bias ? bias + ((<usize>j) << 2) : 0;
    const cj = c + ((<usize>j) << 2);
    let i = 0;
    if (transA) {
      // Only dW = Xᵀ·dY reads A transposed, and it always accumulates: no bias here.
      for (; i + 4 <= m; i += 4) kernel4x8TA(cj + <usize>i * ldc, a + ((<usize>i) << 2), pack, k, lda, ldc, accumulate);
      for (; i < m; i++) kernel1x8(cj + <usize>i * ldc, a + ((<usize>i) << 2), lda, pack, k, accumulate, 0);
    } else {
      for (; i + 4 <= m; i += 4) kernel4x8(cj + <usize>i * ldc, a + <usize>i * lda, pack, k, lda, ldc, accumulate, biasJ);
      for (; i < m; i++) kernel1x8(cj + <usize>i * ldc, a + <usize>i * lda, 4, pack, k, accumulate, biasJ);
    }
  }
  if (j1 >= n) {
    for (let j = n8; j < n; j++) {
      for (let i = 0; i < m; i++) {
        let s: f32 = 0;
        for (let p = 0; p < k; p++) {
          const av = transA ? load<f32>(a + <usize>p * lda + ((<usize>i) << 2)) : load<f32>(a + <usize>i * lda + ((<usize>p) << 2));
          const bv = transB ? load<f32>(b + <usize>j * ldb + ((<usize>p) << 2)) : load<f32>(b + <usize>p * ldb + ((<usize>j) << 2));
          s += av * bv;
        }
        const at = c + <usize>i * ldc + ((<usize>j) << 2);
        if (accumulate) store<f32>(at, load<f32>(at) + s);
        else store<f32>(at, bias ? load<f32>(bias + ((<usize>j) << 2)) + s : s);
      }
    }
  }
}

/**
 * Keras Adam over n parameters: m += (g − m)(1 − β1); v += (g² − v)(1 − β2);
 * w −= α·m / (√v̂ + ε), where v̂ = v, or the running max of v with AMSGrad (vhat ≠ 0).
 */
export function adam(p: usize, g: usize, m: usize, v: usize, vhat: usize, n: i32, alpha: f32, beta1: f32, beta2: f32, epsilon: f32): void {
  const ob1 = f32x4.splat(1 - beta1);
  const ob2 = f32x4.splat(1 - beta2);
  const a4 = f32x4.splat(alpha);
  const e4 = f32x4.splat(epsilon);
  const n4 = n & ~3;
  let i = 0;
  for (; i < n4; i += 4) {
    const o = (<usize>i) << 2;
    const gi = v128.load(g + o);
    let mi = v128.load(m + o);
    let vi = v128.load(v + o);
    mi = f32x4.add(mi, f32x4.mul(f32x4.sub(gi, mi), ob1));
    vi = f32x4.add(vi, f32x4.mul(f32x4.sub(f32x4.mul(gi, gi), vi), ob2));
    v128.store(m + o, mi);
    v128.store(v + o, vi);
    if (vhat) {
      vi = f32x4.max(vi, v128.load(vhat + o));
      v128.store(vhat + o, vi);
    }
    const step = f32x4.div(f32x4.mul(a4, mi), f32x4.add(f32x4.sqrt(vi), e4));
    v128.store(p + o, f32x4.sub(v128.load(p + o), step));
  }
  for (; i < n; i++) {
    const o = (<usize>i) << 2;
    const gi = load<f32>(g + o);
    const mi = load<f32>(m + o) + (gi - load<f32>(m + o)) * (1 - beta1);
    let vi = load<f32>(v + o) + (gi * gi - load<f32>(v + o)) * (1 - beta2);
    store<f32>(m + o, mi);
    store<f32>(v + o, vi);
    if (vhat) {
      vi = max(vi, load<f32>(vhat + o));
      store<f32>(vhat + o, vi);
    }
    store<f32>(p + o, load<f32>(p + o) - (alpha * mi) / (sqrt<f32>(vi) + epsilon));
  }
}

/**
 * C (M, N) = A (M, K) @ B (K, N) [+ bias | + C] for a few rows (M < 4: single-row predicts):
 * no packing (it would cost as much as the product), B read in place, 32 columns at a time so
 * eight independent accumulators hide the add latency.
 */
export function gemmSmall(c: usize, a: usize, b: usize, bias: usize, m: i32, k: i32, n: i32, accumulate: bool): void {
  const lda = (<usize>k) << 2;
  const ldb = (<usize>n) << 2;
  const ldc = (<usize>n) << 2;
  for (let i = 0; i < m; i++) {
    const ar = a + <usize>i * lda;
    const cr = c + <usize>i * ldc;
    let j = 0;
    for (; j + 32 <= n; j += 32) {
      let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
      let s4 = f32x4.splat(0), s5 = f32x4.splat(0), s6 = f32x4.splat(0), s7 = f32x4.splat(0);
      let bp = b + ((<usize>j) << 2);
      for (let p = 0; p < k; p++) {
        const x = v128.load32_splat(ar + ((<usize>p) << 2));
        s0 = f32x4.add(s0, f32x4.mul(x, v128.load(bp)));
        s1 = f32x4.add(s1, f32x4.mul(x, v128.load(bp, 16)));
        s2 = f32x4.add(s2, f32x4.mul(x, v128.load(bp, 32)));
        s3 = f32x4.add(s3, f32x4.mul(x, v128.load(bp, 48)));
        s4 = f32x4.add(s4, f32x4.mul(x, v128.load(bp, 64)));
        s5 = f32x4.add(s5, f32x4.mul(x, v128.load(bp, 80)));
        s6 = f32x4.add(s6, f32x4.mul(x, v128.load(bp, 96)));
        s7 = f32x4.add(s7, f32x4.mul(x, v128.load(bp, 112)));
        bp += ldb;
      }
      const cj = cr + ((<usize>j) << 2);
      if (accumulate) {
        s0 = f32x4.add(v128.load(cj), s0); s1 = f32x4.add(v128.load(cj, 16), s1);
        s2 = f32x4.add(v128.load(cj, 32), s2); s3 = f32x4.add(v128.load(cj, 48), s3);
        s4 = f32x4.add(v128.load(cj, 64), s4); s5 = f32x4.add(v128.load(cj, 80), s5);
        s6 = f32x4.add(v128.load(cj, 96), s6); s7 = f32x4.add(v128.load(cj, 112), s7);
      } else if (bias) {
        const bj = bias + ((<usize>j) << 2);
        s0 = f32x4.add(v128.load(bj), s0); s1 = f32x4.add(v128.load(bj, 16), s1);
        s2 = f32x4.add(v128.load(bj, 32), s2); s3 = f32x4.add(v128.load(bj, 48), s3);
        s4 = f32x4.add(v128.load(bj, 64), s4); s5 = f32x4.add(v128.load(bj, 80), s5);
        s6 = f32x4.add(v128.load(bj, 96), s6); s7 = f32x4.add(v128.load(bj, 112), s7);
      }
      v128.store(cj, s0); v128.store(cj, s1, 16); v128.store(cj, s2, 32); v128.store(cj, s3, 48);
      v128.store(cj, s4, 64); v128.store(cj, s5, 80); v128.store(cj, s6, 96); v128.store(cj, s7, 112);
    }
    for (; j + 4 <= n; j += 4) {
      let s = f32x4.splat(0);
      let bp = b + ((<usize>j) << 2);
      for (let p = 0; p < k; p++) {
        s = f32x4.add(s, f32x4.mul(v128.load32_splat(ar + ((<usize>p) << 2)), v128.load(bp)));
        bp += ldb;
      }
      const cj = cr + ((<usize>j) << 2);
      if (accumulate) s = f32x4.add(v128.load(cj), s);
      else if (bias) s = f32x4.add(v128.load(bias + ((<usize>j) << 2)), s);
      v128.store(cj, s);
    }
    for (; j < n; j++) {
      let s: f32 = 0;
      let bp = b + ((<usize>j) << 2);
      for (let p = 0; p < k; p++) {
        s += load<f32>(ar + ((<usize>p) << 2)) * load<f32>(bp);
        bp += ldb;
      }
      const at = cr + ((<usize>j) << 2);
      if (accumulate) store<f32>(at, load<f32>(at) + s);
      else store<f32>(at, bias ? load<f32>(bias + ((<usize>j) << 2)) + s : s);
    }
  }
}
