// Kiln's WebAssembly SIMD kernels (AssemblyScript). Compiled by `npm run build:wasm` into
// ../binary.ts. Pointers are byte offsets into the shared linear memory; matrices are
// row-major float32. These mirror the reference kernels in ../../matmul.ts exactly in meaning.
//
// It is compiled twice: with relaxed SIMD, every step of a product is one fused multiply-add
// (f32x4.relaxed_madd: one rounding, and about a third faster here than a multiply and an add),
// and without it, for runtimes that cannot enable relaxed SIMD. Every product kernel steps
// through `madd`, so an output element is computed the same way by whichever kernel, tile or
// thread computes it, in either build.

// acc + a·b: fused (one rounding) where relaxed SIMD is on, a multiply then an add otherwise.
@inline function madd(a: v128, b: v128, acc: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return v128.relaxed_madd<f32>(a, b, acc);
  return f32x4.add(acc, f32x4.mul(a, b));
}

// A 4×8 tile's sums into C (4 rows, stride ldc): C ← sums [+ bias | + C].
@inline function finish4x8(c: usize, ldc: usize, c00: v128, c01: v128, c10: v128, c11: v128, c20: v128, c21: v128, c30: v128, c31: v128, accumulate: bool, bias: usize): void {
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

// C (4 rows × 8 cols) ← A (4 rows, stride lda) @ packed B panel (K × 8) [+ bias | + C]
@inline function kernel4x8(c: usize, a: usize, bp: usize, k: i32, lda: usize, ldc: usize, accumulate: bool, bias: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda;
  let b = bp;
  let b0: v128, b1: v128, x: v128;
  // Four steps per iteration, their addresses as constant offsets: one increment per pointer
  // and one interrupt check per four steps, not per step (on Intel cores that integer work
  // competes with the multiply-adds for execution ports, the more so when the other hyperthread
  // of the core is busy). The exit test after each step is what keeps V8 from loading all four
  // steps' operands first (it then kept accumulators on the stack and ran at ~0.7×): the
  // sums are used after the loop, so each step's multiply-adds must run before the next test.
  let p = 0;
  if (k > 0)
    for (;;) {
      b0 = v128.load(b, 0);
      b1 = v128.load(b, 16);
      x = v128.load32_splat(a0, 0);
      c00 = madd(x, b0, c00);
      c01 = madd(x, b1, c01);
      x = v128.load32_splat(a1, 0);
      c10 = madd(x, b0, c10);
      c11 = madd(x, b1, c11);
      x = v128.load32_splat(a2, 0);
      c20 = madd(x, b0, c20);
      c21 = madd(x, b1, c21);
      x = v128.load32_splat(a3, 0);
      c30 = madd(x, b0, c30);
      c31 = madd(x, b1, c31);
      if (p + 1 >= k) break;
      b0 = v128.load(b, 32);
      b1 = v128.load(b, 48);
      x = v128.load32_splat(a0, 4);
      c00 = madd(x, b0, c00);
      c01 = madd(x, b1, c01);
      x = v128.load32_splat(a1, 4);
      c10 = madd(x, b0, c10);
      c11 = madd(x, b1, c11);
      x = v128.load32_splat(a2, 4);
      c20 = madd(x, b0, c20);
      c21 = madd(x, b1, c21);
      x = v128.load32_splat(a3, 4);
      c30 = madd(x, b0, c30);
      c31 = madd(x, b1, c31);
      if (p + 2 >= k) break;
      b0 = v128.load(b, 64);
      b1 = v128.load(b, 80);
      x = v128.load32_splat(a0, 8);
      c00 = madd(x, b0, c00);
      c01 = madd(x, b1, c01);
      x = v128.load32_splat(a1, 8);
      c10 = madd(x, b0, c10);
      c11 = madd(x, b1, c11);
      x = v128.load32_splat(a2, 8);
      c20 = madd(x, b0, c20);
      c21 = madd(x, b1, c21);
      x = v128.load32_splat(a3, 8);
      c30 = madd(x, b0, c30);
      c31 = madd(x, b1, c31);
      if (p + 3 >= k) break;
      b0 = v128.load(b, 96);
      b1 = v128.load(b, 112);
      x = v128.load32_splat(a0, 12);
      c00 = madd(x, b0, c00);
      c01 = madd(x, b1, c01);
      x = v128.load32_splat(a1, 12);
      c10 = madd(x, b0, c10);
      c11 = madd(x, b1, c11);
      x = v128.load32_splat(a2, 12);
      c20 = madd(x, b0, c20);
      c21 = madd(x, b1, c21);
      x = v128.load32_splat(a3, 12);
      c30 = madd(x, b0, c30);
      c31 = madd(x, b1, c31);
      p += 4;
      if (p >= k) break;
      a0 += 16;
      a1 += 16;
      a2 += 16;
      a3 += 16;
      b += 128;
    }
  finish4x8(c, ldc, c00, c01, c10, c11, c20, c21, c30, c31, accumulate, bias);
}

// As kernel4x8, on B in place (row stride ldb) instead of a packed panel, for products of a few
// rows (see IN_PLACE_ROWS): a batched predict's passes, and small training batches.
@inline function kernel4x8B(c: usize, a: usize, bp: usize, ldb: usize, k: i32, lda: usize, ldc: usize, accumulate: bool, bias: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda;
  let b = bp;
  let b0: v128, b1: v128, x: v128;
  // Four steps per iteration with an exit test after each, as in kernel4x8.
  let p = 0;
  if (k > 0)
    for (;;) {
      b0 = v128.load(b);
      b1 = v128.load(b, 16);
      x = v128.load32_splat(a0, 0);
      c00 = madd(x, b0, c00);
      c01 = madd(x, b1, c01);
      x = v128.load32_splat(a1, 0);
      c10 = madd(x, b0, c10);
      c11 = madd(x, b1, c11);
      x = v128.load32_splat(a2, 0);
      c20 = madd(x, b0, c20);
      c21 = madd(x, b1, c21);
      x = v128.load32_splat(a3, 0);
      c30 = madd(x, b0, c30);
      c31 = madd(x, b1, c31);
      if (p + 1 >= k) break;
      b += ldb;
      b0 = v128.load(b);
      b1 = v128.load(b, 16);
      x = v128.load32_splat(a0, 4);
      c00 = madd(x, b0, c00);
      c01 = madd(x, b1, c01);
      x = v128.load32_splat(a1, 4);
      c10 = madd(x, b0, c10);
      c11 = madd(x, b1, c11);
      x = v128.load32_splat(a2, 4);
      c20 = madd(x, b0, c20);
      c21 = madd(x, b1, c21);
      x = v128.load32_splat(a3, 4);
      c30 = madd(x, b0, c30);
      c31 = madd(x, b1, c31);
      if (p + 2 >= k) break;
      b += ldb;
      b0 = v128.load(b);
      b1 = v128.load(b, 16);
      x = v128.load32_splat(a0, 8);
      c00 = madd(x, b0, c00);
      c01 = madd(x, b1, c01);
      x = v128.load32_splat(a1, 8);
      c10 = madd(x, b0, c10);
      c11 = madd(x, b1, c11);
      x = v128.load32_splat(a2, 8);
      c20 = madd(x, b0, c20);
      c21 = madd(x, b1, c21);
      x = v128.load32_splat(a3, 8);
      c30 = madd(x, b0, c30);
      c31 = madd(x, b1, c31);
      if (p + 3 >= k) break;
      b += ldb;
      b0 = v128.load(b);
      b1 = v128.load(b, 16);
      x = v128.load32_splat(a0, 12);
      c00 = madd(x, b0, c00);
      c01 = madd(x, b1, c01);
      x = v128.load32_splat(a1, 12);
      c10 = madd(x, b0, c10);
      c11 = madd(x, b1, c11);
      x = v128.load32_splat(a2, 12);
      c20 = madd(x, b0, c20);
      c21 = madd(x, b1, c21);
      x = v128.load32_splat(a3, 12);
      c30 = madd(x, b0, c30);
      c31 = madd(x, b1, c31);
      p += 4;
      if (p >= k) break;
      a0 += 16;
      a1 += 16;
      a2 += 16;
      a3 += 16;
      b += ldb;
    }
  finish4x8(c, ldc, c00, c01, c10, c11, c20, c21, c30, c31, accumulate, bias);
}

// C (1 row × 8 cols), for the rows left over after the 4-row tiles; A's values are `astep`
// bytes apart (4 for row-major A, lda for A stored transposed)
@inline function kernel1x8(c: usize, a: usize, astep: usize, bp: usize, k: i32, accumulate: bool, bias: usize): void {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0);
  let b = bp;
  let ap = a;
  for (let p = 0; p < k; p++) {
    const x = v128.load32_splat(ap);
    c0 = madd(x, v128.load(b), c0);
    c1 = madd(x, v128.load(b, 16), c1);
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

// ---- Narrow outputs: products with N ≤ 16 columns (output layers), and the columns past the
// last full 8-wide panel of wider ones. Two kernels, by the layout of A:
// - row-major A (forward, dX): op(B)'s columns are packed once into a zero-padded panel 4, 8,
//   12 or 16 floats wide, so every column runs in SIMD lanes (N = 10 takes 12 lanes instead of
//   8 lanes plus 2 scalar columns); the padded lanes are computed and dropped.
// - A stored transposed (dW = Xᵀ·dY): four consecutive rows of C are contiguous in A's storage,
//   so rows go in the lanes and each step broadcasts one value of B per column: no padding, no
//   packing, and every A cache line a step loads is used whole (see narrowT).
// Only the real columns are loaded from and stored to C.

// The first `lanes` (1–3) floats at `at`, the other lanes zero: a row of C may end right there.
@inline function loadPart(at: usize, lanes: i32): v128 {
  if (lanes == 1) return v128.load32_zero(at);
  const v = v128.load64_zero(at);
  return lanes == 2 ? v : v128.load32_lane(at, v, 2, 8);
}

@inline function storePart(at: usize, v: v128, lanes: i32): void {
  if (lanes == 1) {
    v128.store32_lane(at, v, 0);
    return;
  }
  v128.store64_lane(at, v, 0);
  if (lanes == 3) v128.store32_lane(at, v, 2, 8);
}

// C[at .. at + lanes) ← s [+ bias | + C]; lanes ≥ 4 is a full vector.
@inline function finish(at: usize, s: v128, lanes: i32, accumulate: bool, bias: usize): void {
  if (lanes >= 4) {
    if (accumulate) s = f32x4.add(v128.load(at), s);
    else if (bias) s = f32x4.add(v128.load(bias), s);
    v128.store(at, s);
  } else if (lanes > 0) {
    if (accumulate) s = f32x4.add(loadPart(at, lanes), s);
    else if (bias) s = f32x4.add(loadPart(bias, lanes), s);
    storePart(at, s, lanes);
  }
}

// One row of a tile: v accumulators, `valid` real columns (bias = 0 for none).
@inline function finishRow(c: usize, s0: v128, s1: v128, s2: v128, v: i32, valid: i32, accumulate: bool, bias: usize): void {
  finish(c, s0, valid, accumulate, bias);
  if (v > 1) finish(c + 16, s1, valid - 4, accumulate, bias ? bias + 16 : 0);
  if (v > 2) finish(c + 32, s2, valid - 8, accumulate, bias ? bias + 32 : 0);
}

// R rows × 4·V columns of row-major A times the packed panel (R ≤ 6, V ≤ 3; both constants
// where inlined, so only the accumulators in use survive).
@inline function narrowTile(c: usize, ldc: usize, a: usize, lda: usize, bp: usize, ldp: usize, k: i32, R: i32, V: i32, valid: i32, accumulate: bool, bias: usize): void {
  let s00 = f32x4.splat(0), s01 = f32x4.splat(0), s02 = f32x4.splat(0);
  let s10 = f32x4.splat(0), s11 = f32x4.splat(0), s12 = f32x4.splat(0);
  let s20 = f32x4.splat(0), s21 = f32x4.splat(0), s22 = f32x4.splat(0);
  let s30 = f32x4.splat(0), s31 = f32x4.splat(0), s32 = f32x4.splat(0);
  let s40 = f32x4.splat(0), s41 = f32x4.splat(0), s42 = f32x4.splat(0);
  let s50 = f32x4.splat(0), s51 = f32x4.splat(0), s52 = f32x4.splat(0);
  let a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda, a4 = a + 4 * lda, a5 = a + 5 * lda;
  let b = bp;
  let b0: v128, x: v128;
  let b1 = f32x4.splat(0), b2 = f32x4.splat(0);
  // Four steps per iteration with exit tests between them, as in kernel4x8.
  let p = 0;
  if (k > 0)
    for (;;) {
      b0 = v128.load(b);
      if (V > 1) b1 = v128.load(b, 16);
      if (V > 2) b2 = v128.load(b, 32);
      x = v128.load32_splat(a0, 0);
      s00 = madd(x, b0, s00);
      if (V > 1) s01 = madd(x, b1, s01);
      if (V > 2) s02 = madd(x, b2, s02);
      if (R > 1) {
        x = v128.load32_splat(a1, 0);
        s10 = madd(x, b0, s10);
        if (V > 1) s11 = madd(x, b1, s11);
        if (V > 2) s12 = madd(x, b2, s12);
      }
      if (R > 2) {
        x = v128.load32_splat(a2, 0);
        s20 = madd(x, b0, s20);
        if (V > 1) s21 = madd(x, b1, s21);
        if (V > 2) s22 = madd(x, b2, s22);
      }
      if (R > 3) {
        x = v128.load32_splat(a3, 0);
        s30 = madd(x, b0, s30);
        if (V > 1) s31 = madd(x, b1, s31);
        if (V > 2) s32 = madd(x, b2, s32);
      }
      if (R > 4) {
        x = v128.load32_splat(a4, 0);
        s40 = madd(x, b0, s40);
        if (V > 1) s41 = madd(x, b1, s41);
        if (V > 2) s42 = madd(x, b2, s42);
      }
      if (R > 5) {
        x = v128.load32_splat(a5, 0);
        s50 = madd(x, b0, s50);
        if (V > 1) s51 = madd(x, b1, s51);
        if (V > 2) s52 = madd(x, b2, s52);
      }
      if (p + 1 >= k) break;
      b += ldp;
      b0 = v128.load(b);
      if (V > 1) b1 = v128.load(b, 16);
      if (V > 2) b2 = v128.load(b, 32);
      x = v128.load32_splat(a0, 4);
      s00 = madd(x, b0, s00);
      if (V > 1) s01 = madd(x, b1, s01);
      if (V > 2) s02 = madd(x, b2, s02);
      if (R > 1) {
        x = v128.load32_splat(a1, 4);
        s10 = madd(x, b0, s10);
        if (V > 1) s11 = madd(x, b1, s11);
        if (V > 2) s12 = madd(x, b2, s12);
      }
      if (R > 2) {
        x = v128.load32_splat(a2, 4);
        s20 = madd(x, b0, s20);
        if (V > 1) s21 = madd(x, b1, s21);
        if (V > 2) s22 = madd(x, b2, s22);
      }
      if (R > 3) {
        x = v128.load32_splat(a3, 4);
        s30 = madd(x, b0, s30);
        if (V > 1) s31 = madd(x, b1, s31);
        if (V > 2) s32 = madd(x, b2, s32);
      }
      if (R > 4) {
        x = v128.load32_splat(a4, 4);
        s40 = madd(x, b0, s40);
        if (V > 1) s41 = madd(x, b1, s41);
        if (V > 2) s42 = madd(x, b2, s42);
      }
      if (R > 5) {
        x = v128.load32_splat(a5, 4);
        s50 = madd(x, b0, s50);
        if (V > 1) s51 = madd(x, b1, s51);
        if (V > 2) s52 = madd(x, b2, s52);
      }
      if (p + 2 >= k) break;
      b += ldp;
      b0 = v128.load(b);
      if (V > 1) b1 = v128.load(b, 16);
      if (V > 2) b2 = v128.load(b, 32);
      x = v128.load32_splat(a0, 8);
      s00 = madd(x, b0, s00);
      if (V > 1) s01 = madd(x, b1, s01);
      if (V > 2) s02 = madd(x, b2, s02);
      if (R > 1) {
        x = v128.load32_splat(a1, 8);
        s10 = madd(x, b0, s10);
        if (V > 1) s11 = madd(x, b1, s11);
        if (V > 2) s12 = madd(x, b2, s12);
      }
      if (R > 2) {
        x = v128.load32_splat(a2, 8);
        s20 = madd(x, b0, s20);
        if (V > 1) s21 = madd(x, b1, s21);
        if (V > 2) s22 = madd(x, b2, s22);
      }
      if (R > 3) {
        x = v128.load32_splat(a3, 8);
        s30 = madd(x, b0, s30);
        if (V > 1) s31 = madd(x, b1, s31);
        if (V > 2) s32 = madd(x, b2, s32);
      }
      if (R > 4) {
        x = v128.load32_splat(a4, 8);
        s40 = madd(x, b0, s40);
        if (V > 1) s41 = madd(x, b1, s41);
        if (V > 2) s42 = madd(x, b2, s42);
      }
      if (R > 5) {
        x = v128.load32_splat(a5, 8);
        s50 = madd(x, b0, s50);
        if (V > 1) s51 = madd(x, b1, s51);
        if (V > 2) s52 = madd(x, b2, s52);
      }
      if (p + 3 >= k) break;
      b += ldp;
      b0 = v128.load(b);
      if (V > 1) b1 = v128.load(b, 16);
      if (V > 2) b2 = v128.load(b, 32);
      x = v128.load32_splat(a0, 12);
      s00 = madd(x, b0, s00);
      if (V > 1) s01 = madd(x, b1, s01);
      if (V > 2) s02 = madd(x, b2, s02);
      if (R > 1) {
        x = v128.load32_splat(a1, 12);
        s10 = madd(x, b0, s10);
        if (V > 1) s11 = madd(x, b1, s11);
        if (V > 2) s12 = madd(x, b2, s12);
      }
      if (R > 2) {
        x = v128.load32_splat(a2, 12);
        s20 = madd(x, b0, s20);
        if (V > 1) s21 = madd(x, b1, s21);
        if (V > 2) s22 = madd(x, b2, s22);
      }
      if (R > 3) {
        x = v128.load32_splat(a3, 12);
        s30 = madd(x, b0, s30);
        if (V > 1) s31 = madd(x, b1, s31);
        if (V > 2) s32 = madd(x, b2, s32);
      }
      if (R > 4) {
        x = v128.load32_splat(a4, 12);
        s40 = madd(x, b0, s40);
        if (V > 1) s41 = madd(x, b1, s41);
        if (V > 2) s42 = madd(x, b2, s42);
      }
      if (R > 5) {
        x = v128.load32_splat(a5, 12);
        s50 = madd(x, b0, s50);
        if (V > 1) s51 = madd(x, b1, s51);
        if (V > 2) s52 = madd(x, b2, s52);
      }
      p += 4;
      if (p >= k) break;
      b += ldp;
      a0 += 16;
      if (R > 1) a1 += 16;
      if (R > 2) a2 += 16;
      if (R > 3) a3 += 16;
      if (R > 4) a4 += 16;
      if (R > 5) a5 += 16;
    }
  finishRow(c, s00, s01, s02, V, valid, accumulate, bias);
  if (R > 1) finishRow(c + ldc, s10, s11, s12, V, valid, accumulate, bias);
  if (R > 2) finishRow(c + 2 * ldc, s20, s21, s22, V, valid, accumulate, bias);
  if (R > 3) finishRow(c + 3 * ldc, s30, s31, s32, V, valid, accumulate, bias);
  if (R > 4) finishRow(c + 4 * ldc, s40, s41, s42, V, valid, accumulate, bias);
  if (R > 5) finishRow(c + 5 * ldc, s50, s51, s52, V, valid, accumulate, bias);
}

// All rows of one column group (4·V packed columns at bp, `valid` of them real): tiles of R
// rows, then pairs and a single row for the rest.
@inline function narrowRows(c: usize, ldc: usize, a: usize, lda: usize, bp: usize, ldp: usize, m: i32, k: i32, R: i32, V: i32, valid: i32, accumulate: bool, bias: usize): void {
  let i = 0;
  for (; i + R <= m; i += R) narrowTile(c + <usize>i * ldc, ldc, a + <usize>i * lda, lda, bp, ldp, k, R, V, valid, accumulate, bias);
  if (R > 2) for (; i + 2 <= m; i += 2) narrowTile(c + <usize>i * ldc, ldc, a + <usize>i * lda, lda, bp, ldp, k, 2, V, valid, accumulate, bias);
  if (i < m) narrowTile(c + <usize>i * ldc, ldc, a + <usize>i * lda, lda, bp, ldp, k, 1, V, valid, accumulate, bias);
}

// Row-major tile shapes: V8 keeps 15 of x64's 16 vector registers and loads every B vector and
// broadcast between two branches before using them, so accumulators + B vectors + broadcasts
// must stay within 15: 2×12 (6 + 3 + 2), 4×8 (8 + 2 + 4), 6×4 (6 + 1 + 6). 3×12 (9 + 3 + 3)
// spilled an accumulator and ran at half speed as a plain loop; tile3x12 splits its steps.
// One function per tile shape, not one big function: V8 runs new wasm code in its baseline
// compiler (about a tenth of the speed here) until its optimizing compiler has compiled the
// whole function, which took ~80 ms for all variants inlined together. Each is over binaryen's
// size limit for inlining (-O3: 200 for a single caller), so they stay apart.

// 3 rows × 12 columns of row-major A times the packed B panel: 9 accumulator chains where the
// 2×12 tile has 6 (a multiply-add takes 4 cycles and two issue per cycle: 8 chains keep both
// busy). Each step has two tests, so that no stretch between branches loads more than 9 + 3 + 2
// vectors: "last step?" after two rows (its exit finishes the third row and leaves), and `b == 0`
// after the third row: never true (b has just moved past a panel that starts above 0), but a
// branch V8 cannot see through, and cheaper than comparing b with the panel's end, which V8
// recomputed with a multiply on every step.
function tile3x12(c: usize, ldc: usize, a: usize, lda: usize, bp: usize, ldp: usize, k: i32, valid: i32, accumulate: bool, bias: usize): void {
  let s00 = f32x4.splat(0), s01 = f32x4.splat(0), s02 = f32x4.splat(0);
  let s10 = f32x4.splat(0), s11 = f32x4.splat(0), s12 = f32x4.splat(0);
  let s20 = f32x4.splat(0), s21 = f32x4.splat(0), s22 = f32x4.splat(0);
  let a0 = a, a1 = a + lda, a2 = a + 2 * lda;
  let b = bp;
  let b0: v128, b1: v128, b2: v128, x: v128;
  let p = 0;
  if (k > 0)
    for (;;) {
      b0 = v128.load(b);
      b1 = v128.load(b, 16);
      b2 = v128.load(b, 32);
      x = v128.load32_splat(a0);
      s00 = madd(x, b0, s00);
      s01 = madd(x, b1, s01);
      s02 = madd(x, b2, s02);
      x = v128.load32_splat(a1);
      s10 = madd(x, b0, s10);
      s11 = madd(x, b1, s11);
      s12 = madd(x, b2, s12);
      if (p + 1 >= k) {
        x = v128.load32_splat(a2);
        s20 = madd(x, b0, s20);
        s21 = madd(x, b1, s21);
        s22 = madd(x, b2, s22);
        break;
      }
      x = v128.load32_splat(a2);
      s20 = madd(x, b0, s20);
      s21 = madd(x, b1, s21);
      s22 = madd(x, b2, s22);
      p++;
      a0 += 4;
      a1 += 4;
      a2 += 4;
      b += ldp;
      if (b == 0) break;
    }
  finishRow(c, s00, s01, s02, 3, valid, accumulate, bias);
  finishRow(c + ldc, s10, s11, s12, 3, valid, accumulate, bias);
  finishRow(c + 2 * ldc, s20, s21, s22, 3, valid, accumulate, bias);
}

// The 12-wide group (N = 9–12 columns) in tiles of 3 rows; the 1, 2 or 4 rows left in pairs and a
// single row, as the 2-row tiles take them (4 as two pairs, not 3 + 1).
function rows12(c: usize, ldc: usize, a: usize, lda: usize, bp: usize, ldp: usize, m: i32, k: i32, valid: i32, accumulate: bool, bias: usize): void {
  let i = 0;
  for (; i + 3 <= m && m - i != 4; i += 3) tile3x12(c + <usize>i * ldc, ldc, a + <usize>i * lda, lda, bp, ldp, k, valid, accumulate, bias);
  if (i < m) narrowRows(c + <usize>i * ldc, ldc, a + <usize>i * lda, lda, bp, ldp, m - i, k, 2, 3, valid, accumulate, bias);
}

function rows8(c: usize, ldc: usize, a: usize, lda: usize, bp: usize, ldp: usize, m: i32, k: i32, valid: i32, accumulate: bool, bias: usize): void {
  narrowRows(c, ldc, a, lda, bp, ldp, m, k, 4, 2, valid, accumulate, bias);
}
function rows4(c: usize, ldc: usize, a: usize, lda: usize, bp: usize, ldp: usize, m: i32, k: i32, valid: i32, accumulate: bool, bias: usize): void {
  narrowRows(c, ldc, a, lda, bp, ldp, m, k, 6, 1, valid, accumulate, bias);
}

/**
 * op(B)'s columns [j, j + w) of B stored transposed (row j + q of the stored matrix is column
 * j + q), into dst as K rows of pw floats (ldp bytes apart), columns w..pw zeroed. Four columns
 * at a time: 4×4 blocks transposed in registers instead of 16 scalar loads and stores.
 */
function packTransposed(dst: usize, ldp: usize, b: usize, ldb: usize, j: i32, w: i32, pw: i32, k: i32): void {
  const r0 = b + <usize>j * ldb;
  let q = 0;
  for (; q + 4 <= w; q += 4) {
    const q0 = r0 + <usize>q * ldb, q1 = q0 + ldb, q2 = q1 + ldb, q3 = q2 + ldb;
    let d = dst + ((<usize>q) << 2);
    let p = 0;
    for (; p + 4 <= k; p += 4) {
      const o = (<usize>p) << 2;
      const x0 = v128.load(q0 + o), x1 = v128.load(q1 + o), x2 = v128.load(q2 + o), x3 = v128.load(q3 + o);
      const t0 = v128.shuffle<f32>(x0, x1, 0, 4, 1, 5);
      const t1 = v128.shuffle<f32>(x0, x1, 2, 6, 3, 7);
      const t2 = v128.shuffle<f32>(x2, x3, 0, 4, 1, 5);
      const t3 = v128.shuffle<f32>(x2, x3, 2, 6, 3, 7);
      v128.store(d, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
      v128.store(d + ldp, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7));
      v128.store(d + 2 * ldp, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5));
      v128.store(d + 3 * ldp, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7));
      d += 4 * ldp;
    }
    for (; p < k; p++) {
      const o = (<usize>p) << 2;
      store<f32>(d, load<f32>(q0 + o));
      store<f32>(d, load<f32>(q1 + o), 4);
      store<f32>(d, load<f32>(q2 + o), 8);
      store<f32>(d, load<f32>(q3 + o), 12);
      d += ldp;
    }
  }
  if (q < pw) {
    let d = dst + ((<usize>q) << 2);
    for (let p = 0; p < k; p++) {
      const o = (<usize>p) << 2;
      for (let cc = q; cc < pw; cc++) store<f32>(d + ((<usize>(cc - q)) << 2), cc < w ? load<f32>(r0 + <usize>cc * ldb + o) : 0);
      d += ldp;
    }
  }
}

/**
 * How many of N columns the 8-wide panels take; `narrow` does the rest. Products up to 16
 * columns wide go to `narrow` whole: a 12-wide pass beats an 8-wide panel and a narrow tail.
 */
@inline function fullPanels(n: i32): i32 {
  return n <= 16 ? 0 : n & ~7;
}

/**
 * Columns [j, j + w) of C = op(A) @ op(B) [+ bias | + C], 1 ≤ w ≤ 16, as gemmT defines them.
 * `pack` is scratch for K × 16 floats. Each output is summed over p in order, as in the 8-wide
 * kernels, so which kernel or thread computes it does not change it.
 */
function narrow(c: usize, a: usize, b: usize, bias: usize, m: i32, k: i32, n: i32, accumulate: bool, pack: usize, j: i32, w: i32, transA: bool, transB: bool): void {
  const ldb = (<usize>(transB ? k : n)) << 2;
  if (transA) {
    // B's value (p, j + q) is p·bstep + q·bcol bytes past column j's first.
    const bstep: usize = transB ? 4 : ldb;
    const bcol: usize = transB ? ldb : 4;
    narrowT(c, (<usize>n) << 2, a, (<usize>m) << 2, b + <usize>j * bcol, bstep, bcol, m, k, j, w, accumulate);
    return;
  }
  const lda = (<usize>k) << 2;
  const ldc = (<usize>n) << 2;
  const pw = (w + 3) & ~3;
  const ldp = (<usize>pw) << 2;
  if (transB) packTransposed(pack, ldp, b, ldb, j, w, pw, k);
  else {
    const full = w & ~3;
    const rest = w & 3;
    let src = b + ((<usize>j) << 2);
    let dst = pack;
    for (let p = 0; p < k; p++) {
      for (let q = 0; q < full; q += 4) v128.store(dst + ((<usize>q) << 2), v128.load(src + ((<usize>q) << 2)));
      if (rest) v128.store(dst + ((<usize>full) << 2), loadPart(src + ((<usize>full) << 2), rest));
      src += ldb;
      dst += ldp;
    }
  }
  // Column groups: 12 (w = 9–12) in one pass over A, 16 as two passes of 8.
  let g0 = 0;
  while (g0 < pw) {
    const left = pw - g0;
    const cg = c + ((<usize>(j + g0)) << 2);
    const bg: usize = bias ? bias + ((<usize>(j + g0)) << 2) : 0;
    const pg = pack + ((<usize>g0) << 2);
    if (left == 12) {
      rows12(cg, ldc, a, lda, pg, ldp, m, k, w - g0, accumulate, bg);
      g0 += 12;
    } else if (left >= 8) {
      rows8(cg, ldc, a, lda, pg, ldp, m, k, w - g0, accumulate, bg);
      g0 += 8;
    } else {
      rows4(cg, ldc, a, lda, pg, ldp, m, k, w - g0, accumulate, bg);
      g0 += 4;
    }
  }
}

// The first `lanes` (1–4) floats at `at` as a vector, the rest zero.
@inline function loadRows(at: usize, lanes: i32): v128 {
  return lanes >= 4 ? v128.load(at) : loadPart(at, lanes);
}

// Rows r, r + 1 of columns (j, j + 1) from lanes 0–1 and 2–3 of t: C ← t [+ C].
@inline function putPairs(c: usize, ldc: usize, t: v128, rows: i32, accumulate: bool): void {
  if (accumulate) {
    let old = v128.load64_zero(c);
    if (rows > 1) old = v128.load64_lane(c + ldc, old, 1);
    t = f32x4.add(old, t);
  }
  v128.store64_lane(c, t, 0);
  if (rows > 1) v128.store64_lane(c + ldc, t, 1);
}

// Row r of one column: C ← s [+ C].
@inline function putOne(at: usize, s: f32, accumulate: bool): void {
  store<f32>(at, accumulate ? load<f32>(at) + s : s);
}

// 4 rows (`rows` real) of column j (u) and, when CN = 2, column j + 1 (v), at c.
@inline function putRowsT(c: usize, ldc: usize, u: v128, v: v128, CN: i32, rows: i32, accumulate: bool): void {
  if (CN == 2) {
    putPairs(c, ldc, v128.shuffle<f32>(u, v, 0, 4, 1, 5), rows, accumulate);
    if (rows > 2) putPairs(c + 2 * ldc, ldc, v128.shuffle<f32>(u, v, 2, 6, 3, 7), rows - 2, accumulate);
  } else {
    putOne(c, f32x4.extract_lane(u, 0), accumulate);
    if (rows > 1) putOne(c + ldc, f32x4.extract_lane(u, 1), accumulate);
    if (rows > 2) putOne(c + 2 * ldc, f32x4.extract_lane(u, 2), accumulate);
    if (rows > 3) putOne(c + 3 * ldc, f32x4.extract_lane(u, 3), accumulate);
  }
}

// Rows [i, i + 4·RV) of C (the last vector has `lanes` real rows; RV ≤ 4) × column j and, when
// CN = 2, j + 1, with A stored transposed (a: A's first value of row i; b: B's of column j).
// Accumulators hold four rows of one column: 4 row vectors × 2 columns = 8, plus 4 A vectors
// and 2 broadcasts = 14 of V8's 15 vector registers.
@inline function narrowTileT(c: usize, ldc: usize, a: usize, lda: usize, b: usize, bstep: usize, bcol: usize, k: i32, RV: i32, CN: i32, lanes: i32, accumulate: bool): void {
  let u0 = f32x4.splat(0), u1 = f32x4.splat(0), u2 = f32x4.splat(0), u3 = f32x4.splat(0);
  let v0 = f32x4.splat(0), v1 = f32x4.splat(0), v2 = f32x4.splat(0), v3 = f32x4.splat(0);
  let ap = a;
  let b0p = b, b1p = b + bcol;
  let x0: v128, x1: v128, x2: v128, x3: v128, y: v128;
  // Four steps per iteration with exit tests between them, as in kernel4x8.
  let p = 0;
  if (k > 0)
    for (;;) {
      x0 = RV > 1 ? v128.load(ap) : loadRows(ap, lanes);
      x1 = RV > 2 ? v128.load(ap, 16) : RV == 2 ? loadRows(ap + 16, lanes) : x0;
      x2 = RV > 3 ? v128.load(ap, 32) : RV == 3 ? loadRows(ap + 32, lanes) : x0;
      x3 = RV == 4 ? loadRows(ap + 48, lanes) : x0;
      y = v128.load32_splat(b0p);
      u0 = madd(x0, y, u0);
      if (RV > 1) u1 = madd(x1, y, u1);
      if (RV > 2) u2 = madd(x2, y, u2);
      if (RV > 3) u3 = madd(x3, y, u3);
      if (CN == 2) {
        y = v128.load32_splat(b1p);
        v0 = madd(x0, y, v0);
        if (RV > 1) v1 = madd(x1, y, v1);
        if (RV > 2) v2 = madd(x2, y, v2);
        if (RV > 3) v3 = madd(x3, y, v3);
      }
      if (p + 1 >= k) break;
      ap += lda;
      b0p += bstep;
      if (CN == 2) b1p += bstep;
      x0 = RV > 1 ? v128.load(ap) : loadRows(ap, lanes);
      x1 = RV > 2 ? v128.load(ap, 16) : RV == 2 ? loadRows(ap + 16, lanes) : x0;
      x2 = RV > 3 ? v128.load(ap, 32) : RV == 3 ? loadRows(ap + 32, lanes) : x0;
      x3 = RV == 4 ? loadRows(ap + 48, lanes) : x0;
      y = v128.load32_splat(b0p);
      u0 = madd(x0, y, u0);
      if (RV > 1) u1 = madd(x1, y, u1);
      if (RV > 2) u2 = madd(x2, y, u2);
      if (RV > 3) u3 = madd(x3, y, u3);
      if (CN == 2) {
        y = v128.load32_splat(b1p);
        v0 = madd(x0, y, v0);
        if (RV > 1) v1 = madd(x1, y, v1);
        if (RV > 2) v2 = madd(x2, y, v2);
        if (RV > 3) v3 = madd(x3, y, v3);
      }
      if (p + 2 >= k) break;
      ap += lda;
      b0p += bstep;
      if (CN == 2) b1p += bstep;
      x0 = RV > 1 ? v128.load(ap) : loadRows(ap, lanes);
      x1 = RV > 2 ? v128.load(ap, 16) : RV == 2 ? loadRows(ap + 16, lanes) : x0;
      x2 = RV > 3 ? v128.load(ap, 32) : RV == 3 ? loadRows(ap + 32, lanes) : x0;
      x3 = RV == 4 ? loadRows(ap + 48, lanes) : x0;
      y = v128.load32_splat(b0p);
      u0 = madd(x0, y, u0);
      if (RV > 1) u1 = madd(x1, y, u1);
      if (RV > 2) u2 = madd(x2, y, u2);
      if (RV > 3) u3 = madd(x3, y, u3);
      if (CN == 2) {
        y = v128.load32_splat(b1p);
        v0 = madd(x0, y, v0);
        if (RV > 1) v1 = madd(x1, y, v1);
        if (RV > 2) v2 = madd(x2, y, v2);
        if (RV > 3) v3 = madd(x3, y, v3);
      }
      if (p + 3 >= k) break;
      ap += lda;
      b0p += bstep;
      if (CN == 2) b1p += bstep;
      x0 = RV > 1 ? v128.load(ap) : loadRows(ap, lanes);
      x1 = RV > 2 ? v128.load(ap, 16) : RV == 2 ? loadRows(ap + 16, lanes) : x0;
      x2 = RV > 3 ? v128.load(ap, 32) : RV == 3 ? loadRows(ap + 32, lanes) : x0;
      x3 = RV == 4 ? loadRows(ap + 48, lanes) : x0;
      y = v128.load32_splat(b0p);
      u0 = madd(x0, y, u0);
      if (RV > 1) u1 = madd(x1, y, u1);
      if (RV > 2) u2 = madd(x2, y, u2);
      if (RV > 3) u3 = madd(x3, y, u3);
      if (CN == 2) {
        y = v128.load32_splat(b1p);
        v0 = madd(x0, y, v0);
        if (RV > 1) v1 = madd(x1, y, v1);
        if (RV > 2) v2 = madd(x2, y, v2);
        if (RV > 3) v3 = madd(x3, y, v3);
      }
      p += 4;
      if (p >= k) break;
      ap += lda;
      b0p += bstep;
      if (CN == 2) b1p += bstep;
    }
  putRowsT(c, ldc, u0, v0, CN, RV > 1 ? 4 : lanes, accumulate);
  if (RV > 1) putRowsT(c + 4 * ldc, ldc, u1, v1, CN, RV > 2 ? 4 : lanes, accumulate);
  if (RV > 2) putRowsT(c + 8 * ldc, ldc, u2, v2, CN, RV > 3 ? 4 : lanes, accumulate);
  if (RV > 3) putRowsT(c + 12 * ldc, ldc, u3, v3, CN, lanes, accumulate);
}

// Columns [j, j + w) of up to 16 rows, in pairs of columns and a last single one.
@inline function narrowColumnsT(c: usize, ldc: usize, a: usize, lda: usize, b: usize, bstep: usize, bcol: usize, k: i32, w: i32, RV: i32, lanes: i32, accumulate: bool): void {
  let q = 0;
  for (; q + 2 <= w; q += 2) narrowTileT(c + ((<usize>q) << 2), ldc, a, lda, b + <usize>q * bcol, bstep, bcol, k, RV, 2, lanes, accumulate);
  if (q < w) narrowTileT(c + ((<usize>q) << 2), ldc, a, lda, b + <usize>q * bcol, bstep, bcol, k, RV, 1, lanes, accumulate);
}

/**
 * `narrow` for A stored transposed (K × M, lda bytes a step): C's columns [j, j + w), with b at
 * column j. Blocks of 16 rows (a cache line of A per step), each through all the columns while
 * its lines are in cache.
 */
function narrowT(c: usize, ldc: usize, a: usize, lda: usize, b: usize, bstep: usize, bcol: usize, m: i32, k: i32, j: i32, w: i32, accumulate: bool): void {
  const cj = c + ((<usize>j) << 2);
  let i = 0;
  for (; i + 16 <= m; i += 16) narrowColumnsT(cj + <usize>i * ldc, ldc, a + ((<usize>i) << 2), lda, b, bstep, bcol, k, w, 4, 4, accumulate);
  if (i < m) narrowRestT(cj + <usize>i * ldc, ldc, a + ((<usize>i) << 2), lda, b, bstep, bcol, m - i, k, w, accumulate);
}

// The last 1–15 rows of narrowT, apart so that narrowT's optimized code (see rows12) is not
// held up by these variants.
function narrowRestT(c: usize, ldc: usize, a: usize, lda: usize, b: usize, bstep: usize, bcol: usize, rows: i32, k: i32, w: i32, accumulate: bool): void {
  const lanes = rows - (((rows - 1) >> 2) << 2);
  if (rows > 12) narrowColumnsT(c, ldc, a, lda, b, bstep, bcol, k, w, 4, lanes, accumulate);
  else if (rows > 8) narrowColumnsT(c, ldc, a, lda, b, bstep, bcol, k, w, 3, lanes, accumulate);
  else if (rows > 4) narrowColumnsT(c, ldc, a, lda, b, bstep, bcol, k, w, 2, lanes, accumulate);
  else narrowColumnsT(c, ldc, a, lda, b, bstep, bcol, k, w, 1, lanes, accumulate);
}

/**
 * C (M, N) = A (M, K) @ B (K, N) + bias (N), or C += A @ B when `accumulate`; only the column
 * panels [j0, j1) (multiples of 8, except j1 = N) are computed, so threads can split the work.
 * `pack` is scratch for K × 16 floats.
 */
// Up to this many rows in 4-row tiles, the tiles read B in place rather than from a packed panel:
// a panel's packing costs about what one tile computes on it, and a few tiles re-read B from L2
// at no loss (784×128 and 784×512 forwards, 4–16 rows: 1.1–1.9× the packed path; from 20 rows,
// equal or slower).
const IN_PLACE_ROWS = 16;

function gemm(c: usize, a: usize, b: usize, bias: usize, m: i32, k: i32, n: i32, accumulate: bool, pack: usize, j0: i32, j1: i32): void {
  const lda = (<usize>k) << 2;
  const ldb = (<usize>n) << 2;
  const ldc = (<usize>n) << 2;
  const n8 = fullPanels(n);
  const jEnd = j1 < n8 ? j1 : n8;
  const m4 = m & ~3;
  if (m4 <= IN_PLACE_ROWS) {
    for (let j = j0; j < jEnd; j += 8) {
      const o = (<usize>j) << 2;
      const biasJ: usize = bias ? bias + o : 0;
      for (let i = 0; i < m4; i += 4) kernel4x8B(c + o + <usize>i * ldc, a + <usize>i * lda, b + o, ldb, k, lda, ldc, accumulate, biasJ);
    }
  } else {
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
      for (let i = 0; i < m4; i += 4) kernel4x8(cj + <usize>i * ldc, a + <usize>i * lda, pack, k, lda, ldc, accumulate, biasJ);
    }
  }
  // The 1–3 rows left after the 4-row tiles read B in place, several vectors per step: a 1×8
  // tile on the panel has only two accumulator chains, and took twice as long per row.
  if (m4 < m && j0 < jEnd) smallRows(c, a, b, bias, m4, m, k, n, j0, jEnd, accumulate);
  // Columns past the last full panel, done by whoever owns the end.
  if (j1 >= n && n8 < n) narrow(c, a, b, bias, m, k, n, accumulate, pack, n8, n - n8, false, false);
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
  let b0: v128, b1: v128, x: v128;
  // Four steps per iteration, as in kernel4x8.
  let p = 0;
  if (k > 0)
    for (;;) {
      b0 = v128.load(b, 0);
      b1 = v128.load(b, 16);
      x = v128.load32_splat(ap);
      c00 = madd(x, b0, c00);
      c01 = madd(x, b1, c01);
      x = v128.load32_splat(ap, 4);
      c10 = madd(x, b0, c10);
      c11 = madd(x, b1, c11);
      x = v128.load32_splat(ap, 8);
      c20 = madd(x, b0, c20);
      c21 = madd(x, b1, c21);
      x = v128.load32_splat(ap, 12);
      c30 = madd(x, b0, c30);
      c31 = madd(x, b1, c31);
      if (p + 1 >= k) break;
      ap += lda;
      b0 = v128.load(b, 32);
      b1 = v128.load(b, 48);
      x = v128.load32_splat(ap);
      c00 = madd(x, b0, c00);
      c01 = madd(x, b1, c01);
      x = v128.load32_splat(ap, 4);
      c10 = madd(x, b0, c10);
      c11 = madd(x, b1, c11);
      x = v128.load32_splat(ap, 8);
      c20 = madd(x, b0, c20);
      c21 = madd(x, b1, c21);
      x = v128.load32_splat(ap, 12);
      c30 = madd(x, b0, c30);
      c31 = madd(x, b1, c31);
      if (p + 2 >= k) break;
      ap += lda;
      b0 = v128.load(b, 64);
      b1 = v128.load(b, 80);
      x = v128.load32_splat(ap);
      c00 = madd(x, b0, c00);
      c01 = madd(x, b1, c01);
      x = v128.load32_splat(ap, 4);
      c10 = madd(x, b0, c10);
      c11 = madd(x, b1, c11);
      x = v128.load32_splat(ap, 8);
      c20 = madd(x, b0, c20);
      c21 = madd(x, b1, c21);
      x = v128.load32_splat(ap, 12);
      c30 = madd(x, b0, c30);
      c31 = madd(x, b1, c31);
      if (p + 3 >= k) break;
      ap += lda;
      b0 = v128.load(b, 96);
      b1 = v128.load(b, 112);
      x = v128.load32_splat(ap);
      c00 = madd(x, b0, c00);
      c01 = madd(x, b1, c01);
      x = v128.load32_splat(ap, 4);
      c10 = madd(x, b0, c10);
      c11 = madd(x, b1, c11);
      x = v128.load32_splat(ap, 8);
      c20 = madd(x, b0, c20);
      c21 = madd(x, b1, c21);
      x = v128.load32_splat(ap, 12);
      c30 = madd(x, b0, c30);
      c31 = madd(x, b1, c31);
      p += 4;
      if (p >= k) break;
      ap += lda;
      b += 128;
    }
  finish4x8(c, ldc, c00, c01, c10, c11, c20, c21, c30, c31, accumulate, 0);
}

/**
 * C (M, N) = op(A) @ op(B) [+ bias | + C], where op transposes when asked: with `transA`, A is
 * stored K × M (dW = Xᵀ dY reads X as is; no bias then); with `transB`, B is stored N × K (dX = dY Wᵀ reads W as
 * is, transposing while it packs each panel). Only the column panels [j0, j1) are computed; the
 * columns `narrow` takes (all of them when N ≤ 16) go to whoever owns the end.
 */
export function gemmT(c: usize, a: usize, b: usize, bias: usize, m: i32, k: i32, n: i32, accumulate: bool, pack: usize, j0: i32, j1: i32, transA: bool, transB: bool): void {
  if (!transA && !transB) {
    gemm(c, a, b, bias, m, k, n, accumulate, pack, j0, j1);
    return;
  }
  const lda = (<usize>(transA ? m : k)) << 2;
  const ldb = (<usize>(transB ? k : n)) << 2;
  const ldc = (<usize>n) << 2;
  const n8 = fullPanels(n);
  const jEnd = j1 < n8 ? j1 : n8;
  for (let j = j0; j < jEnd; j += 8) {
    let dst = pack;
    if (transB) packTransposed(pack, 32, b, ldb, j, 8, 8, k);
    else {
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
  if (j1 >= n && n8 < n) narrow(c, a, b, bias, m, k, n, accumulate, pack, n8, n - n8, transA, transB);
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

// C (2 rows × 16 cols) ← A (2 rows, stride lda) @ B in place (row stride ldb) [+ bias | + C]: pairs
// of rows in products of a few rows. Both rows take each B vector from one load, so B, which a
// single row streams whole from L2 for its few multiply-adds, is read once for two rows;
// 8 accumulators + 4 B vectors + 1 broadcast stay within V8's 15 vector registers.
@inline function kernel2x16B(c: usize, a: usize, bp: usize, ldb: usize, k: i32, lda: usize, ldc: usize, accumulate: bool, bias: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c02 = f32x4.splat(0), c03 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0), c12 = f32x4.splat(0), c13 = f32x4.splat(0);
  let a0 = a, a1 = a + lda;
  let b = bp;
  let b0: v128, b1: v128, b2: v128, b3: v128, x: v128;
  // Four steps per iteration with an exit test after each, as in kernel4x8.
  let p = 0;
  if (k > 0)
    for (;;) {
      b0 = v128.load(b);
      b1 = v128.load(b, 16);
      b2 = v128.load(b, 32);
      b3 = v128.load(b, 48);
      x = v128.load32_splat(a0, 0);
      c00 = madd(x, b0, c00);
      c01 = madd(x, b1, c01);
      c02 = madd(x, b2, c02);
      c03 = madd(x, b3, c03);
      x = v128.load32_splat(a1, 0);
      c10 = madd(x, b0, c10);
      c11 = madd(x, b1, c11);
      c12 = madd(x, b2, c12);
      c13 = madd(x, b3, c13);
      if (p + 1 >= k) break;
      b += ldb;
      b0 = v128.load(b);
      b1 = v128.load(b, 16);
      b2 = v128.load(b, 32);
      b3 = v128.load(b, 48);
      x = v128.load32_splat(a0, 4);
      c00 = madd(x, b0, c00);
      c01 = madd(x, b1, c01);
      c02 = madd(x, b2, c02);
      c03 = madd(x, b3, c03);
      x = v128.load32_splat(a1, 4);
      c10 = madd(x, b0, c10);
      c11 = madd(x, b1, c11);
      c12 = madd(x, b2, c12);
      c13 = madd(x, b3, c13);
      if (p + 2 >= k) break;
      b += ldb;
      b0 = v128.load(b);
      b1 = v128.load(b, 16);
      b2 = v128.load(b, 32);
      b3 = v128.load(b, 48);
      x = v128.load32_splat(a0, 8);
      c00 = madd(x, b0, c00);
      c01 = madd(x, b1, c01);
      c02 = madd(x, b2, c02);
      c03 = madd(x, b3, c03);
      x = v128.load32_splat(a1, 8);
      c10 = madd(x, b0, c10);
      c11 = madd(x, b1, c11);
      c12 = madd(x, b2, c12);
      c13 = madd(x, b3, c13);
      if (p + 3 >= k) break;
      b += ldb;
      b0 = v128.load(b);
      b1 = v128.load(b, 16);
      b2 = v128.load(b, 32);
      b3 = v128.load(b, 48);
      x = v128.load32_splat(a0, 12);
      c00 = madd(x, b0, c00);
      c01 = madd(x, b1, c01);
      c02 = madd(x, b2, c02);
      c03 = madd(x, b3, c03);
      x = v128.load32_splat(a1, 12);
      c10 = madd(x, b0, c10);
      c11 = madd(x, b1, c11);
      c12 = madd(x, b2, c12);
      c13 = madd(x, b3, c13);
      p += 4;
      if (p >= k) break;
      a0 += 16;
      a1 += 16;
      b += ldb;
    }
  if (accumulate) {
    c00 = f32x4.add(v128.load(c, 0), c00);
    c01 = f32x4.add(v128.load(c, 16), c01);
    c02 = f32x4.add(v128.load(c, 32), c02);
    c03 = f32x4.add(v128.load(c, 48), c03);
    c10 = f32x4.add(v128.load(c + ldc, 0), c10);
    c11 = f32x4.add(v128.load(c + ldc, 16), c11);
    c12 = f32x4.add(v128.load(c + ldc, 32), c12);
    c13 = f32x4.add(v128.load(c + ldc, 48), c13);
  } else if (bias) {
    const bb0 = v128.load(bias);
    const bb1 = v128.load(bias, 16);
    const bb2 = v128.load(bias, 32);
    const bb3 = v128.load(bias, 48);
    c00 = f32x4.add(bb0, c00);
    c01 = f32x4.add(bb1, c01);
    c02 = f32x4.add(bb2, c02);
    c03 = f32x4.add(bb3, c03);
    c10 = f32x4.add(bb0, c10);
    c11 = f32x4.add(bb1, c11);
    c12 = f32x4.add(bb2, c12);
    c13 = f32x4.add(bb3, c13);
  }
  v128.store(c, c00, 0);
  v128.store(c, c01, 16);
  v128.store(c, c02, 32);
  v128.store(c, c03, 48);
  v128.store(c + ldc, c10, 0);
  v128.store(c + ldc, c11, 16);
  v128.store(c + ldc, c12, 32);
  v128.store(c + ldc, c13, 48);
}

// One row of C, columns [0, 4·V) at cr (V ≤ 7, a constant where inlined): V accumulators, one
// broadcast of A per step. V8 loads every B vector of a step before the first multiply-add, so
// V accumulators + V loads + 1 broadcast must fit its 15 vector registers: at V = 8 it kept one
// accumulator on the stack, and that accumulator's store-load round trip every step made the
// whole loop ~2.7x slower.
@inline function smallRow(cr: usize, ar: usize, b: usize, ldb: usize, k: i32, V: i32, accumulate: bool, bias: usize): void {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
  let s4 = f32x4.splat(0), s5 = f32x4.splat(0), s6 = f32x4.splat(0);
  let bp = b;
  let ap = ar;
  let x: v128;
  // Four steps per iteration with exit tests between them, as in kernel4x8.
  let p = 0;
  if (k > 0)
    for (;;) {
      x = v128.load32_splat(ap, 0);
      s0 = madd(x, v128.load(bp), s0);
      if (V > 1) s1 = madd(x, v128.load(bp, 16), s1);
      if (V > 2) s2 = madd(x, v128.load(bp, 32), s2);
      if (V > 3) s3 = madd(x, v128.load(bp, 48), s3);
      if (V > 4) s4 = madd(x, v128.load(bp, 64), s4);
      if (V > 5) s5 = madd(x, v128.load(bp, 80), s5);
      if (V > 6) s6 = madd(x, v128.load(bp, 96), s6);
      if (p + 1 >= k) break;
      bp += ldb;
      x = v128.load32_splat(ap, 4);
      s0 = madd(x, v128.load(bp), s0);
      if (V > 1) s1 = madd(x, v128.load(bp, 16), s1);
      if (V > 2) s2 = madd(x, v128.load(bp, 32), s2);
      if (V > 3) s3 = madd(x, v128.load(bp, 48), s3);
      if (V > 4) s4 = madd(x, v128.load(bp, 64), s4);
      if (V > 5) s5 = madd(x, v128.load(bp, 80), s5);
      if (V > 6) s6 = madd(x, v128.load(bp, 96), s6);
      if (p + 2 >= k) break;
      bp += ldb;
      x = v128.load32_splat(ap, 8);
      s0 = madd(x, v128.load(bp), s0);
      if (V > 1) s1 = madd(x, v128.load(bp, 16), s1);
      if (V > 2) s2 = madd(x, v128.load(bp, 32), s2);
      if (V > 3) s3 = madd(x, v128.load(bp, 48), s3);
      if (V > 4) s4 = madd(x, v128.load(bp, 64), s4);
      if (V > 5) s5 = madd(x, v128.load(bp, 80), s5);
      if (V > 6) s6 = madd(x, v128.load(bp, 96), s6);
      if (p + 3 >= k) break;
      bp += ldb;
      x = v128.load32_splat(ap, 12);
      s0 = madd(x, v128.load(bp), s0);
      if (V > 1) s1 = madd(x, v128.load(bp, 16), s1);
      if (V > 2) s2 = madd(x, v128.load(bp, 32), s2);
      if (V > 3) s3 = madd(x, v128.load(bp, 48), s3);
      if (V > 4) s4 = madd(x, v128.load(bp, 64), s4);
      if (V > 5) s5 = madd(x, v128.load(bp, 80), s5);
      if (V > 6) s6 = madd(x, v128.load(bp, 96), s6);
      p += 4;
      if (p >= k) break;
      bp += ldb;
      ap += 16;
    }
  finish(cr, s0, 4, accumulate, bias);
  if (V > 1) finish(cr + 16, s1, 4, accumulate, bias ? bias + 16 : 0);
  if (V > 2) finish(cr + 32, s2, 4, accumulate, bias ? bias + 32 : 0);
  if (V > 3) finish(cr + 48, s3, 4, accumulate, bias ? bias + 48 : 0);
  if (V > 4) finish(cr + 64, s4, 4, accumulate, bias ? bias + 64 : 0);
  if (V > 5) finish(cr + 80, s5, 4, accumulate, bias ? bias + 80 : 0);
  if (V > 6) finish(cr + 96, s6, 4, accumulate, bias ? bias + 96 : 0);
}

/**
 * Rows [i0, i1) and columns [j0, j1) of C = A @ B [+ bias | + C], with B read in place: for a
 * few rows (single-row predicts, the rows left after 4-row tiles) packing would cost as much as
 * the product. 28 columns at a time, so seven independent accumulators hide the multiply-add
 * latency; the 1–6 vectors left form one narrower block, and when j1 = N is not a multiple of 4
 * the last 1–3 columns go in the low lanes (B's row may end there). j1 − j0 is a multiple of 4
 * unless j1 = N.
 */
function smallRows(c: usize, a: usize, b: usize, bias: usize, i0: i32, i1: i32, k: i32, n: i32, j0: i32, j1: i32, accumulate: bool): void {
  const lda = (<usize>k) << 2;
  const ldb = (<usize>n) << 2;
  const ldc = (<usize>n) << 2;
  // Pairs of rows over 16-column blocks, then each row alone over the columns left.
  const j16 = j0 + ((j1 - j0) & ~15);
  let i = i0;
  for (; i + 2 <= i1 && j16 > j0; i += 2) {
    const ar = a + <usize>i * lda;
    const cr = c + <usize>i * ldc;
    for (let j = j0; j < j16; j += 16) {
      const o = (<usize>j) << 2;
      kernel2x16B(cr + o, ar, b + o, ldb, k, lda, ldc, accumulate, bias ? bias + o : 0);
    }
    if (j16 < j1) {
      rowColumns(cr, ar, b, bias, k, ldb, j16, j1, accumulate);
      rowColumns(cr + ldc, ar + lda, b, bias, k, ldb, j16, j1, accumulate);
    }
  }
  for (; i < i1; i++) rowColumns(c + <usize>i * ldc, a + <usize>i * lda, b, bias, k, ldb, j0, j1, accumulate);
}

// Columns [j0, j1) of one row of C (at cr; A's row at ar): blocks of 7 vectors, one block of the
// 1–6 vectors left, then the last 1–3 columns.
function rowColumns(cr: usize, ar: usize, b: usize, bias: usize, k: i32, ldb: usize, j0: i32, j1: i32, accumulate: bool): void {
  const vectors = (j1 - j0) >> 2;
  const rest = vectors % 7;
  const restAt = j0 + ((vectors - rest) << 2);
  const tailAt = j0 + (vectors << 2);
  for (let j = j0; j < restAt; j += 28) {
    const o = (<usize>j) << 2;
    smallRow(cr + o, ar, b + o, ldb, k, 7, accumulate, bias ? bias + o : 0);
  }
  const o = (<usize>restAt) << 2;
  const bo = bias ? bias + o : 0;
  if (rest == 1) smallRow(cr + o, ar, b + o, ldb, k, 1, accumulate, bo);
  else if (rest == 2) smallRow(cr + o, ar, b + o, ldb, k, 2, accumulate, bo);
  else if (rest == 3) smallRow(cr + o, ar, b + o, ldb, k, 3, accumulate, bo);
  else if (rest == 4) smallRow(cr + o, ar, b + o, ldb, k, 4, accumulate, bo);
  else if (rest == 5) smallRow(cr + o, ar, b + o, ldb, k, 5, accumulate, bo);
  else if (rest == 6) smallRow(cr + o, ar, b + o, ldb, k, 6, accumulate, bo);
  if (tailAt < j1) {
    const lanes = j1 - tailAt;
    let s = f32x4.splat(0);
    let bp = b + ((<usize>tailAt) << 2);
    for (let p = 0; p < k; p++) {
      s = madd(v128.load32_splat(ar + ((<usize>p) << 2)), loadPart(bp, lanes), s);
      bp += ldb;
    }
    finish(cr + ((<usize>tailAt) << 2), s, lanes, accumulate, bias ? bias + ((<usize>tailAt) << 2) : 0);
  }
}

/** C (M, N) = A (M, K) @ B (K, N) [+ bias | + C] for a few rows (M < 4: single-row predicts). */
export function gemmSmall(c: usize, a: usize, b: usize, bias: usize, m: i32, k: i32, n: i32, accumulate: bool): void {
  smallRows(c, a, b, bias, 0, m, k, n, 0, n, accumulate);
}

// ---- Elementwise steps of a dense layer, SIMD with the same results as the TypeScript
// reference: relu keeps v > 0 ? v : 0 (pmax(0, v): NaN and -0 become 0), its gradient keeps dy
// where x > 0 and +0 elsewhere, and bias gradients add row after row, as the reference does.

// y[i] = x[i] > 0 ? x[i] : 0 (y may alias x)
export function reluForward(y: usize, x: usize, n: i32): void {
  const zero = f32x4.splat(0);
  const n4 = n & ~3;
  let i = 0;
  for (; i < n4; i += 4) {
    const o = (<usize>i) << 2;
    v128.store(y + o, f32x4.pmax(zero, v128.load(x + o)));
  }
  for (; i < n; i++) {
    const o = (<usize>i) << 2;
    const v = load<f32>(x + o);
    store<f32>(y + o, v > 0 ? v : 0);
  }
}

// dx[i] = x[i] > 0 ? dy[i] : 0 (dx may alias dy)
export function reluBackward(dx: usize, dy: usize, x: usize, n: i32): void {
  const zero = f32x4.splat(0);
  const n4 = n & ~3;
  let i = 0;
  for (; i < n4; i += 4) {
    const o = (<usize>i) << 2;
    v128.store(dx + o, v128.and(v128.load(dy + o), f32x4.gt(v128.load(x + o), zero)));
  }
  for (; i < n; i++) {
    const o = (<usize>i) << 2;
    store<f32>(dx + o, load<f32>(x + o) > 0 ? load<f32>(dy + o) : 0);
  }
}

// dbias (U) += Σ over rows of dy (N, U)
export function columnSumAccumulate(dbias: usize, dy: usize, n: i32, units: i32): void {
  const u4 = units & ~3;
  const ld = (<usize>units) << 2;
  let j = 0;
  for (; j < u4; j += 4) {
    const at = dbias + ((<usize>j) << 2);
    let s = v128.load(at);
    let row = dy + ((<usize>j) << 2);
    for (let r = 0; r < n; r++) {
      s = f32x4.add(s, v128.load(row));
      row += ld;
    }
    v128.store(at, s);
  }
  for (; j < units; j++) {
    const at = dbias + ((<usize>j) << 2);
    let s = load<f32>(at);
    let row = dy + ((<usize>j) << 2);
    for (let r = 0; r < n; r++) {
      s += load<f32>(row);
      row += ld;
    }
    store<f32>(at, s);
  }
}

// Zeroes `bytes` bytes at `ptr` with one bulk memory.fill: TypedArray.fill on shared memory is a
// per-element atomic-safe loop in V8, 8× slower than this for a model's gradients.
export function zero(ptr: usize, bytes: usize): void {
  memory.fill(ptr, 0, bytes);
}
