/**
 * The WebAssembly SIMD kernels against the plain reference kernels, on random shapes including
 * odd sizes and sizes that are not multiples of the 4×8 tile, with one and two threads, in both
 * builds (fused multiply-add and multiply + add); and the committed binaries against a fresh
 * compile of their AssemblyScript source.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import * as fast from '../../src/engine/kernels/matmul.js';
import * as reference from '../../src/engine/kernels/matmul-reference.js';
import { createWasmRuntime, wasmRuntime } from '../../src/engine/kernels/wasm/runtime.js';
import { kernelBackend, useFusedMultiplyAdd } from '../../src/engine/index.js';
import { getActivation } from '../../src/engine/activations.js';
import { zeroFill } from '../../src/engine/kernels/elementwise.js';
import { adamRule } from '../../src/engine/optimizers/adam.js';
import { allocate } from '../../src/engine/tensor.js';
import { binaryModuleSource, compileKernels } from '../../scripts/build-wasm.js';
import { mulberry32 } from '../helpers/random.js';

const rt = wasmRuntime();
const random = mulberry32(99);

function filled(n: number, inWasm: boolean): Float32Array {
  const a = inWasm ? (allocate('float32', n) as Float32Array) : new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = random() * 2 - 1;
  return a;
}

/** Whether the CPU has fused multiply-add instructions (always on arm64; FMA3 on x64). */
function cpuHasFma(): boolean {
  if (process.arch !== 'x64') return true;
  try {
    return /^flags\s*:.*\bfma\b/m.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return true; // not Linux: assume a CPU from this decade
  }
}

const GUARD = 16;
const GUARD_VALUE = 12345;

/** An output buffer followed by guard values, to catch stores past the end of the matrix. */
function guarded(n: number, inWasm: boolean): { out: Float32Array; intact: () => boolean } {
  const whole = inWasm ? (allocate('float32', n + GUARD) as Float32Array) : new Float32Array(n + GUARD);
  whole.fill(GUARD_VALUE, n);
  return { out: whole.subarray(0, n), intact: () => whole.subarray(n).every((v) => v === GUARD_VALUE) };
}

/** Float32 accumulation over k terms may drift by about k·ε from the double-precision reference. */
const tolerance = (k: number): number => Math.max(1e-6, 4 * 6e-8 * k);

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(a[i]!)));
  return worst;
}

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 784, 128],
  [3, 5, 7],
  [4, 8, 8],
  [5, 9, 17],
  [37, 13, 10],
  [64, 784, 128],
  [7, 300, 33],
  [128, 512, 512],
  [130, 70, 257],
  // 1–3 rows take column blocks of 7 vectors, then one block of the 1–6 vectors left, then the
  // last 1–3 columns: widths that leave each remainder.
  [1, 40, 20],
  [2, 17, 22],
  [3, 31, 27],
  [1, 60, 28],
  [2, 33, 29],
  [1, 9, 56],
  [3, 100, 61],
];

// The 4×8 tiles run four steps of the inner sum per loop iteration, with an exit test after
// each step: every inner size up to two iterations and a bit, in each product's own inner
// dimension (forward: inDim, dX: units, dW: rows), with outputs wide enough for the 8-wide panels.
// Up to 19 rows the tiles read B in place, from 20 on a packed panel: both, at every inner size.
for (const k of [1, 2, 3, 4, 5, 6, 7, 8, 11]) SHAPES.push([8, k, 24], [20, k, 24], [8, 24, k], [k, 8, 24]);
// Pairs of rows over 16-column blocks (1–3 rows, and the rows after the 4-row tiles), with 0–15
// columns after the blocks for each row alone, at every inner size.
for (const k of [1, 2, 3, 4, 5, 6, 7, 8, 11]) SHAPES.push([2, k, 16], [3, k, 35], [7, k, 40], [6, k, 17]);
// 1–4 tiles on B in place, with and without rows after them, up to the first packed row count.
SHAPES.push([12, 5, 24], [13, 7, 40], [16, 9, 17], [19, 6, 33], [16, 784, 128], [20, 10, 41]);
// The same four-step loop in the few-row kernel (1–3 rows) and in the narrow tiles (N ≤ 16).
// Each tile shape is its own compiled copy, so every width of the few-row kernel's column blocks
// (1–7 vectors), the single leftover row of the 12-wide narrow group, and the 1–15 leftover rows
// of the transposed narrow tiles (dW: their inner size is the row count) meet every exit.
for (const k of [2, 6, 7]) SHAPES.push([1, k, 30], [3, k, 9], [4, k, 10], [7, k, 16], [5, k, 5]);
for (const k of [2, 3, 5, 8]) SHAPES.push([1, k, 4], [1, k, 12], [1, k, 16], [1, k, 20], [1, k, 24], [5, k, 12]);
for (const n of [2, 4, 5, 7]) SHAPES.push([n, 6, 3], [n, 10, 3], [n, 14, 3]);
// 9–12 columns in 3-row tiles, with row counts that are multiples of 3, so the last tile ends the
// output and a store past column N lands in the guard values (forward, and dX: N = inDim).
SHAPES.push([6, 7, 10], [9, 130, 11], [12, 3, 9], [3, 64, 12], [6, 10, 33], [9, 12, 5]);
// 1–3 rows after the 4-row tiles, run by the few-row kernel over the full panels' columns: 16–64
// of them leave every remainder of its 7-vector blocks (4, 6, 1, 3, 5, 0, 2 vectors), and 61
// columns add the narrow path's 5 past the last panel.
for (const m of [5, 6, 7]) SHAPES.push([m, 5, 20], [m, 6, 28], [m, 7, 36], [m, 3, 40], [m, 9, 48], [m, 5, 56], [m, 6, 64], [m, 7, 61]);
SHAPES.push([11, 3, 36]);
// An empty inner sum: the output is the bias (or C unchanged when accumulating).
SHAPES.push([8, 0, 24], [2, 0, 10], [0, 8, 24]);

// The narrow-output path (N ≤ 16 whole; the columns past the last 8-wide panel otherwise): every
// width of its padded 4/8/12/16 panels and the widths just past them, row counts around its
// 4-, 6- and 8-row tiles, inner sizes around the 4-step transposing pack.
const NARROW_UNITS = [1, 2, 3, 5, 7, 9, 10, 11, 12, 13, 15, 16, 17];
const NARROW_ROWS = [1, 2, 3, 4, 5, 7, 64, 65, 130];
const NARROW_INNER = [1, 3, 128, 257];
for (const units of NARROW_UNITS) {
  for (const n of NARROW_ROWS) for (const inDim of NARROW_INNER) SHAPES.push([n, inDim, units]);
}

describe.skipIf(rt === null)('WebAssembly SIMD kernels', () => {
  afterAll(() => rt!.setThreads(1));

  for (const threads of [1, 2]) {
    for (const [n, inDim, units] of SHAPES) {
      for (const inWasm of [true, false]) {
        it(`match the reference: ${n}×${inDim}×${units}, ${threads} thread(s), buffers ${inWasm ? 'in' : 'outside'} wasm memory`, () => {
          rt!.setThreads(threads);
          const x = filled(n * inDim, inWasm);
          const w = filled(inDim * units, inWasm);
          const bias = filled(units, inWasm);
          const dy = filled(n * units, inWasm);

          const y1 = new Float32Array(n * units);
          const y2 = guarded(n * units, inWasm);
          reference.matmulBias(y1, x, w, bias, n, inDim, units);
          fast.matmulBias(y2.out, x, w, bias, n, inDim, units);
          expect(maxRelDiff(y1, y2.out)).toBeLessThan(tolerance(inDim));
          expect(y2.intact()).toBe(true);

          const dx1 = new Float32Array(n * inDim);
          const dx2 = guarded(n * inDim, inWasm);
          reference.matmulTransposeB(dx1, dy, w, n, inDim, units);
          fast.matmulTransposeB(dx2.out, dy, w, n, inDim, units);
          expect(maxRelDiff(dx1, dx2.out)).toBeLessThan(tolerance(units));
          expect(dx2.intact()).toBe(true);

          const dw1 = filled(inDim * units, false);
          const dw2 = guarded(inDim * units, inWasm);
          dw2.out.set(dw1);
          reference.matmulTransposeAAccumulate(dw1, x, dy, n, inDim, units);
          fast.matmulTransposeAAccumulate(dw2.out, x, dy, n, inDim, units);
          expect(dw2.intact()).toBe(true);
          expect(maxRelDiff(dw1, dw2.out)).toBeLessThan(tolerance(n));
        });
      }
    }
  }

  // Products the helper thread takes part in: wide ones, and wide ones with a narrow tail.
  /**
   * Runs `work` on two threads until the helper thread took part in it (it joins only when it
   * is scheduled in time; a late helper leaves all the work to the main thread), and returns
   * the result of that run.
   */
  function withHelper<T>(work: () => T): T {
    rt!.setThreads(2);
    try {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const before = rt!.helperChunks();
        const result = work();
        if (rt!.helperChunks() > before) return result;
        // Again at once: a helper that has just finished a task is still spinning, ready to join.
        if (Date.now() > deadline) throw new Error('the helper thread never took part');
      }
    } finally {
      rt!.setThreads(1);
    }
  }

  for (const [n, inDim, units] of [
    [128, 512, 512],
    [130, 257, 17],
    [65, 1031, 10],
    // The 1–3 rows after the 4-row tiles, on each thread's own columns (the helper's start past
    // 0). Large enough for the helper to join at once: withHelper allocates on every try.
    [63, 300, 200],
    [66, 260, 104],
  ] as const) {
    it(`give bit-identical results with one and two threads: ${n}×${inDim}×${units}`, () => {
      const x = filled(n * inDim, true);
      const w = filled(inDim * units, true);
      const bias = filled(units, true);
      const dy = filled(n * units, true);
      const dwStart = filled(inDim * units, false);
      // Each product on its own, so the helper's part in every one of them is checked.
      const products = [
        () => {
          const y = allocate('float32', n * units) as Float32Array;
          fast.matmulBias(y, x, w, bias, n, inDim, units);
          return Array.from(y);
        },
        () => {
          const dx = allocate('float32', n * inDim) as Float32Array;
          fast.matmulTransposeB(dx, dy, w, n, inDim, units);
          return Array.from(dx);
        },
        () => {
          const dw = allocate('float32', inDim * units) as Float32Array;
          dw.set(dwStart);
          fast.matmulTransposeAAccumulate(dw, x, dy, n, inDim, units);
          return Array.from(dw);
        },
      ];
      // Products up to 16 columns wide stay on one thread.
      const shared = [units > 16, inDim > 16, units > 16];
      products.forEach((product, i) => {
        rt!.setThreads(1);
        const one = product();
        expect(shared[i] ? withHelper(product) : product(), `product ${i}`).toEqual(one);
      });
    });
  }

  it('recover from a kernel trap on two threads: the task throws, the next one runs', () => {
    const [m, k, n] = [64, 64, 64];
    const x = filled(m * k, true);
    const w = filled(k * n, true);
    const one = (() => {
      rt!.setThreads(1);
      const y = allocate('float32', m * n) as Float32Array;
      fast.matmulBias(y, x, w, null, m, k, n);
      return Array.from(y);
    })();
    rt!.setThreads(2);
    try {
      // An output far past the end of wasm memory: every chunk traps, on whichever thread.
      const outside = rt!.memory.buffer.byteLength + 64 * 1024 * 1024;
      for (let i = 0; i < 3; i++) expect(() => rt!.gemm(outside, x.byteOffset, w.byteOffset, 0, m, k, n, false)).toThrow();
      const y = allocate('float32', m * n) as Float32Array;
      fast.matmulBias(y, x, w, null, m, k, n);
      expect(Array.from(y)).toEqual(one);
    } finally {
      rt!.setThreads(1);
    }
  });

  it('re-check on two threads whether running alone is faster, with the same results either way', () => {
    // The runtime runs large products shared, and after each stretch (1,024 tasks at first, at
    // most 4,096) a short burst alone to compare (ShareChooser). Whichever way each runs, the
    // output is the same.
    const [m, k, n] = [64, 256, 64];
    const x = filled(m * k, true);
    const w = filled(k * n, true);
    const y = allocate('float32', m * n) as Float32Array;
    rt!.setThreads(1);
    fast.matmulBias(y, x, w, null, m, k, n);
    const one = Array.from(y);
    rt!.setThreads(2);
    try {
      const before = rt!.sharingStats().aloneTasks;
      let mismatches = 0;
      for (let i = 0; i < 4096 + 48 && rt!.sharingStats().aloneTasks - before < 24; i++) {
        y.fill(0);
        fast.matmulBias(y, x, w, null, m, k, n);
        for (let j = 0; j < y.length; j++) if (y[j] !== one[j]) mismatches++;
      }
      expect(rt!.sharingStats().aloneTasks - before).toBeGreaterThanOrEqual(24);
      expect(mismatches).toBe(0);
    } finally {
      rt!.setThreads(1);
    }
  });

  it('give bit-identical Adam updates with one and two threads', () => {
    // Above the size the helper takes part in, not a multiple of the chunk or SIMD width.
    const size = 300_003;
    const grads = filled(size, true);
    const start = filled(size, false);
    for (const amsgrad of [false, true]) {
      const rule = adamRule(0.9, 0.999, 1e-7, amsgrad);
      const updates = () => {
        const p = allocate('float32', size) as Float32Array;
        p.set(start);
        const slots = { m: allocate('float32', size), v: allocate('float32', size), vhat: allocate('float32', size) };
        for (let step = 1; step <= 3; step++) rule.update(p, grads, slots, 0.01, step);
        return [p, slots.m, slots.v, slots.vhat].map((a) => new Uint32Array(Float32Array.from(a).buffer));
      };
      rt!.setThreads(1);
      const one = updates();
      const two = withHelper(updates);
      two.forEach((a, i) => {
        const first = one[i]!;
        expect(
          a.findIndex((bits, j) => bits !== first[j]),
          `array ${i}, amsgrad ${amsgrad}: first differing element`,
        ).toBe(-1);
      });
    }
  });

  it('run relu and its gradient, and bias gradients, bit for bit like the plain loops', () => {
    const relu = getActivation('relu');
    const bits = (a: Float32Array) => Array.from(new Uint32Array(Float32Array.from(a).buffer));
    for (const [rows, cols] of [
      [1, 1],
      [1, 3],
      [3, 5],
      [7, 10],
      [64, 128],
      [33, 257],
    ] as const) {
      const n = rows * cols;
      const x = filled(n, true);
      const dy = filled(n, true);
      // The cases a branch-free kernel could get wrong.
      const specials = [NaN, -0, 0, Infinity, -Infinity, 1e-45, -1e-45];
      specials.forEach((v, i) => {
        if (i < n) x[(i * 7) % n] = v;
      });
      const plain = { x: Float32Array.from(x), dy: Float32Array.from(dy) };
      const yWasm = allocate('float32', n) as Float32Array;
      const yPlain = new Float32Array(n);
      relu.forward(yWasm, x, rows, cols);
      relu.forward(yPlain, plain.x, rows, cols);
      expect(bits(yWasm), `relu ${rows}×${cols}`).toEqual(bits(yPlain));
      const dxWasm = allocate('float32', n) as Float32Array;
      const dxPlain = new Float32Array(n);
      relu.backward(dxWasm, dy, x, yWasm, rows, cols);
      relu.backward(dxPlain, plain.dy, plain.x, yPlain, rows, cols);
      expect(bits(dxWasm), `relu gradient ${rows}×${cols}`).toEqual(bits(dxPlain));
      // In place (dx aliases dy), as the dense layer calls it.
      const inPlace = Float32Array.from(dy);
      const aliased = allocate('float32', n) as Float32Array;
      aliased.set(inPlace);
      relu.backward(aliased, aliased, x, yWasm, rows, cols);
      expect(bits(aliased), `relu gradient in place ${rows}×${cols}`).toEqual(bits(dxPlain));
      const start = filled(cols, true);
      const sumWasm = allocate('float32', cols) as Float32Array;
      sumWasm.set(start);
      const sumPlain = Float32Array.from(start);
      fast.columnSumAccumulate(sumWasm, dy, rows, cols);
      reference.columnSumAccumulate(sumPlain, plain.dy, rows, cols);
      expect(bits(sumWasm), `column sums ${rows}×${cols}`).toEqual(bits(sumPlain));
    }
  });

  it('zero exactly the array given, in wasm memory and outside it', () => {
    for (const inWasm of [true, false]) {
      const whole = filled(1000, inWasm);
      const before = Float32Array.from(whole);
      zeroFill(whole.subarray(3, 997)); // odd offset and length: no rounding to vectors
      expect(whole.subarray(3, 997).every((v) => v === 0 && !Object.is(v, -0))).toBe(true);
      expect([...whole.subarray(0, 3), ...whole.subarray(997)]).toEqual([...before.subarray(0, 3), ...before.subarray(997)]);
    }
  });

  it('run Adam like the reference update', () => {
    const size = 1003; // not a multiple of the SIMD width
    const rule = adamRule(0.9, 0.999, 1e-7, true);
    const grads = filled(size, true);
    const start = filled(size, false);
    const inWasm = {
      p: allocate('float32', size) as Float32Array,
      m: allocate('float32', size),
      v: allocate('float32', size),
      vhat: allocate('float32', size),
    };
    const plain = { p: new Float32Array(size), m: new Float32Array(size), v: new Float32Array(size), vhat: new Float32Array(size) };
    inWasm.p.set(start);
    plain.p.set(start);
    for (let step = 1; step <= 5; step++) {
      rule.update(inWasm.p, grads, { m: inWasm.m, v: inWasm.v, vhat: inWasm.vhat }, 0.01, step);
      rule.update(plain.p, new Float32Array(grads), { m: plain.m, v: plain.v, vhat: plain.vhat }, 0.01, step);
    }
    expect(maxRelDiff(plain.p, inWasm.p)).toBeLessThan(1e-6);
  });

  it('ship binaries that match their AssemblyScript source (run `npm run build:wasm` after editing it)', async () => {
    const committed = await readFile(new URL('../../src/engine/kernels/wasm/binary.ts', import.meta.url), 'utf8');
    expect(committed).toBe(binaryModuleSource(await compileKernels(false), await compileKernels(true)));
  }, 120_000);
});

// Both builds of the kernels, each in a runtime of its own: the process's runtime above is the
// relaxed-SIMD one wherever it can run, and the plain build is what runs where it cannot.
describe.each([
  ['fused multiply-add (relaxed SIMD)', true],
  ['multiply and add (plain SIMD)', false],
] as const)('the %s build', (_name, fma) => {
  const build = createWasmRuntime(fma);
  afterAll(() => build?.setThreads(1));

  it('runs here', () => {
    // Node 20 turns relaxed SIMD on by flag (set by the runtime), later Node versions ship it.
    expect(build).not.toBeNull();
    expect(build!.fusedMultiplyAdd).toBe(fma);
  });

  /** op(A)·op(B) [+ bias] through build.gemm, on operands copied into its memory. */
  function product(
    a: Float32Array,
    b: Float32Array,
    bias: Float32Array | null,
    m: number,
    k: number,
    n: number,
    transA = false,
    transB = false,
  ): Float32Array {
    const rt = build!;
    const put = (src: Float32Array): Float32Array => {
      const dst = rt.allocFloat32(src.length);
      dst.set(src);
      return dst;
    };
    const A = put(a);
    const B = put(b);
    const bb = bias ? put(bias) : null;
    const C = rt.allocFloat32(m * n);
    rt.gemm(C.byteOffset, A.byteOffset, B.byteOffset, bb ? bb.byteOffset : 0, m, k, n, false, transA, transB);
    return C.slice();
  }

  for (const threads of [1, 2]) {
    it(`matches the reference on every shape, ${threads} thread(s)`, () => {
      build!.setThreads(threads);
      for (const [n, inDim, units] of SHAPES) {
        const x = filled(n * inDim, false);
        const w = filled(inDim * units, false);
        const bias = filled(units, false);
        const dy = filled(n * units, false);
        const shape = `${n}×${inDim}×${units}`;
        const y = new Float32Array(n * units);
        reference.matmulBias(y, x, w, bias, n, inDim, units);
        expect(maxRelDiff(y, product(x, w, bias, n, inDim, units)), `forward ${shape}`).toBeLessThan(tolerance(inDim));
        const dx = new Float32Array(n * inDim);
        reference.matmulTransposeB(dx, dy, w, n, inDim, units);
        expect(maxRelDiff(dx, product(dy, w, null, n, units, inDim, false, true)), `dX ${shape}`).toBeLessThan(tolerance(units));
        const dw = new Float32Array(inDim * units);
        reference.matmulTransposeAAccumulate(dw, x, dy, n, inDim, units);
        expect(maxRelDiff(dw, product(x, dy, null, inDim, n, units, true, false)), `dW ${shape}`).toBeLessThan(tolerance(n));
      }
    });
  }

  // a = 1 + 2⁻¹², so a·a = 1 + 2⁻¹¹ + 2⁻²⁴: rounded to float32 it loses the 2⁻²⁴ (a tie, to
  // even), fused with the running sum −1 it keeps it. Each output is −1·1 + a·a, summed in order.
  // (x64 CPUs without FMA3, from before 2013, run relaxed_madd unfused: V8 falls back to a
  // multiply and an add there.)
  const a = 1 + 2 ** -12;
  const expected = fma && cpuHasFma() ? 2 ** -11 + 2 ** -24 : 2 ** -11;
  // Row and column counts that reach every kernel: the 1–3-row path (strips and its 4-wide tail),
  // the 4×8 tiles and their single rows, and the narrow path's 4-, 8- and 12-wide groups with
  // their 1-, 2- and 6-row tiles, for A as stored and transposed (up to 4 row vectors at m = 20).
  for (const [m, n] of [
    [1, 1],
    [1, 24],
    [3, 37],
    [4, 24],
    [5, 24],
    [5, 12],
    [6, 3],
    [2, 8],
    [8, 16],
    [20, 10],
    [20, 24],
  ] as const) {
    it(`${fma ? 'rounds' : 'does not round'} a·b + c once in every kernel: ${m} row(s) × ${n} column(s)`, () => {
      const all = new Array<number>(m * n).fill(expected);
      const x = new Float32Array(m * 2);
      for (let i = 0; i < m; i++) x.set([-1, a], 2 * i);
      const w = new Float32Array(2 * n);
      w.fill(1, 0, n);
      w.fill(a, n);
      expect(Array.from(product(x, w, null, m, 2, n)), 'A·B').toEqual(all);
      // dW = Xᵀ·dY reads A stored transposed: the same sums with xᵀ stored as 2 × m.
      const xt = new Float32Array(2 * m);
      for (let i = 0; i < m; i++) {
        xt[i] = -1;
        xt[m + i] = a;
      }
      expect(Array.from(product(xt, w, null, m, 2, n, true, false)), 'Aᵀ·B').toEqual(all);
      // dX = dY·Wᵀ reads B stored transposed (n × 2), packing it as it goes.
      const wt = new Float32Array(n * 2);
      for (let j = 0; j < n; j++) wt.set([1, a], 2 * j);
      expect(Array.from(product(x, wt, null, m, 2, n, false, true)), 'A·Bᵀ').toEqual(all);
    });
  }

  it('writes only the columns a thread is given, the rows after the 4-row tiles included', () => {
    // The helper thread and the main thread compute column ranges of one product side by side:
    // a store outside its range would race with the other thread. Outside the range, C must
    // keep its guard values.
    for (const [m, k, n, j0, j1] of [
      [7, 9, 40, 8, 24],
      [6, 5, 64, 16, 48],
      [5, 3, 61, 0, 8],
      [11, 7, 36, 24, 36],
      [9, 4, 61, 48, 61],
      // Pairs of rows over 16-column blocks inside the range, with 1–3 rows and after the tiles.
      [3, 5, 48, 16, 40],
      [7, 6, 56, 8, 40],
    ] as const) {
      const put = (src: Float32Array): Float32Array => {
        const dst = build!.allocFloat32(src.length);
        dst.set(src);
        return dst;
      };
      const a = put(filled(m * k, false));
      const b = put(filled(k * n, false));
      const bias = put(filled(n, false));
      const c = build!.allocFloat32(m * n).fill(GUARD_VALUE);
      const pack = build!.allocFloat32(k * 16);
      build!.kernels.gemmT(c.byteOffset, a.byteOffset, b.byteOffset, bias.byteOffset, m, k, n, 0, pack.byteOffset, j0, j1, 0, 0);
      const y = new Float32Array(m * n);
      reference.matmulBias(y, a, b, bias, m, k, n);
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          const at = `row ${i}, column ${j} of ${m}×${k}×${n} over columns [${j0}, ${j1})`;
          if (j < j0 || j >= j1) expect(c[i * n + j], at).toBe(GUARD_VALUE);
          else expect(Math.abs(c[i * n + j]! - y[i * n + j]!), at).toBeLessThan(tolerance(k) * Math.max(1, Math.abs(y[i * n + j]!)));
        }
      }
    }
  });

  it('computes a row alone bit for bit as within a batch (single-row predicts match batch ones)', () => {
    for (const [n, inDim, units] of [
      [9, 784, 128],
      // Pairs of rows over 16-column blocks, and each row alone after them.
      [2, 40, 16],
      [3, 50, 35],
      [7, 30, 47],
      // Tiles on B in place (up to 19 rows) and on packed panels (from 20).
      [16, 50, 24],
      [19, 30, 17],
      [21, 30, 17],
      // The rows after the 4-row tiles, in the few-row kernel on the panels' columns.
      [6, 784, 128],
      [7, 100, 40],
      [11, 37, 61],
      [6, 129, 10],
      // 9–12 columns: tiles of 3 rows, then 2 + 2 (7 rows) or a pair (5 rows).
      [7, 130, 11],
      [5, 66, 9],
      [5, 64, 35],
      [7, 50, 16],
      [6, 33, 8],
      // Widths that leave each remainder of the single-row path's 7-vector blocks (1–6 vectors,
      // then 1–3 columns).
      [5, 37, 20],
      [6, 19, 27],
      [5, 40, 28],
      [4, 23, 29],
      [5, 17, 56],
      [6, 41, 61],
    ] as const) {
      const x = filled(n * inDim, false);
      const w = filled(inDim * units, false);
      const bias = filled(units, false);
      const batch = product(x, w, bias, n, inDim, units);
      for (let r = 0; r < n; r++) {
        const alone = product(x.subarray(r * inDim, (r + 1) * inDim), w, bias, 1, inDim, units);
        expect(Array.from(alone), `row ${r} of ${n}×${inDim}×${units}`).toEqual(Array.from(batch.subarray(r * units, (r + 1) * units)));
      }
    }
  });
});

describe.skipIf(rt === null)('the fused multiply-add choice', () => {
  it('is the default wherever relaxed SIMD can run, and fixed once the first kernel ran', () => {
    expect(kernelBackend()).toBe('wasm-simd-fma');
    expect(() => useFusedMultiplyAdd(false)).toThrow(/before the first kernel/);
    expect(() => useFusedMultiplyAdd(true)).not.toThrow();
  });

  it('is turned off by KERNEL_FMA=0: the app started in a new process runs the plain build', () => {
    const script = [
      "import { mkdtempSync } from 'node:fs';",
      "import { tmpdir } from 'node:os';",
      "import { join } from 'node:path';",
      "import { buildApp } from './src/app.ts';",
      "import { loadConfig } from './src/config.ts';",
      "import { kernelBackend } from './src/engine/index.ts';",
      "const dataDir = mkdtempSync(join(tmpdir(), 'kiln-fma-'));",
      'const app = await buildApp({ ...loadConfig(), dataDir, workerConcurrency: 0 }, { logger: false });',
      'console.log(kernelBackend());',
      'await app.close();',
    ].join('\n');
    const backend = (fma: string): string =>
      execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        cwd: fileURLToPath(new URL('../..', import.meta.url)),
        env: { ...process.env, KERNEL_FMA: fma },
        encoding: 'utf8',
      }).trim();
    expect(backend('0')).toBe('wasm-simd');
    expect(backend('1')).toBe('wasm-simd-fma');
  }, 60_000);
});
