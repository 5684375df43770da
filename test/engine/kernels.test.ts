/**
 * The WebAssembly SIMD kernels against the plain reference kernels, on random shapes including
 * odd sizes and sizes that are not multiples of the 4×8 tile, with one and two threads; and the
 * committed binary against a fresh compile of its AssemblyScript source.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import * as fast from '../../src/engine/kernels/matmul.js';
import * as reference from '../../src/engine/kernels/matmul-reference.js';
import { wasmRuntime } from '../../src/engine/kernels/wasm/runtime.js';
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
];

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
          const y2 = inWasm ? (allocate('float32', n * units) as Float32Array) : new Float32Array(n * units);
          reference.matmulBias(y1, x, w, bias, n, inDim, units);
          fast.matmulBias(y2, x, w, bias, n, inDim, units);
          expect(maxRelDiff(y1, y2)).toBeLessThan(tolerance(inDim));

          const dx1 = new Float32Array(n * inDim);
          const dx2 = inWasm ? (allocate('float32', n * inDim) as Float32Array) : new Float32Array(n * inDim);
          reference.matmulTransposeB(dx1, dy, w, n, inDim, units);
          fast.matmulTransposeB(dx2, dy, w, n, inDim, units);
          expect(maxRelDiff(dx1, dx2)).toBeLessThan(tolerance(units));

          const dw1 = filled(inDim * units, false);
          const dw2 = inWasm ? (allocate('float32', inDim * units) as Float32Array) : new Float32Array(inDim * units);
          dw2.set(dw1);
          reference.matmulTransposeAAccumulate(dw1, x, dy, n, inDim, units);
          fast.matmulTransposeAAccumulate(dw2, x, dy, n, inDim, units);
          expect(maxRelDiff(dw1, dw2)).toBeLessThan(tolerance(n));
        });
      }
    }
  }

  it('give bit-identical results with one and two threads', () => {
    const [n, inDim, units] = [128, 512, 512];
    const x = filled(n * inDim, true);
    const w = filled(inDim * units, true);
    const outs = [1, 2].map((threads) => {
      rt!.setThreads(threads);
      const y = allocate('float32', n * units) as Float32Array;
      fast.matmulBias(y, x, w, null, n, inDim, units);
      return Array.from(y);
    });
    expect(outs[1]).toEqual(outs[0]);
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

  it('ship a binary that matches its AssemblyScript source (run `npm run build:wasm` after editing it)', async () => {
    const committed = await readFile(new URL('../../src/engine/kernels/wasm/binary.ts', import.meta.url), 'utf8');
    expect(committed).toBe(binaryModuleSource(await compileKernels()));
  }, 60_000);
});
