/**
 * The dense-layer matrix products the layers call. Float32 work runs in the WebAssembly SIMD
 * kernels (cache-packed 4×8 register tiles, split across two threads when set up so) directly
 * on buffers that live in wasm memory; anything else (float64, foreign buffers the kernels
 * would have to copy, runtimes without SIMD) uses the reference kernels. Layers do not know
 * which one runs.
 */
import type { FloatArray } from '../tensor.js';
import * as reference from './matmul-reference.js';
import { wasmRuntime, type WasmRuntime } from './wasm/runtime.js';

export { columnSumAccumulate } from './matmul-reference.js';

/** Scratch regions for operands that are not in wasm memory yet, reused across calls. */
const slots: { offset: number; bytes: number }[] = [];

function place(rt: WasmRuntime, array: Float32Array, slot: number, copy: boolean): number {
  if (rt.owns(array)) return array.byteOffset;
  const bytes = array.byteLength;
  let s = slots[slot];
  if (!s || s.bytes < bytes) {
    s = { offset: rt.scratch(bytes), bytes };
    slots[slot] = s;
  }
  if (copy) new Float32Array(rt.memory.buffer, s.offset, array.length).set(array);
  return s.offset;
}

function copyBack(rt: WasmRuntime, out: Float32Array, offset: number): void {
  if (!rt.owns(out)) out.set(new Float32Array(rt.memory.buffer, offset, out.length));
}

function runtimeFor(...arrays: (FloatArray | null)[]): WasmRuntime | null {
  for (const a of arrays) if (a !== null && !(a instanceof Float32Array)) return null;
  return wasmRuntime();
}

// out (N, U) = x (N, I) @ w (I, U) + bias (U)   (bias may be null)
export function matmulBias(
  out: FloatArray,
  x: FloatArray,
  w: FloatArray,
  bias: FloatArray | null,
  n: number,
  inDim: number,
  units: number,
): void {
  const rt = runtimeFor(out, x, w, bias);
  if (!rt) return reference.matmulBias(out, x, w, bias, n, inDim, units);
  const o = out.subarray(0, n * units) as Float32Array;
  const X = place(rt, x.subarray(0, n * inDim) as Float32Array, 0, true);
  const W = place(rt, w as Float32Array, 1, true);
  const B = bias ? place(rt, bias as Float32Array, 2, true) : 0;
  const O = place(rt, o, 3, false);
  rt.gemm(O, X, W, B, n, inDim, units, false, inDim * 32);
  copyBack(rt, o, O);
}

// dx (N, I) = dy (N, U) @ w^T (U, I)   (overwrites dx)
export function matmulTransposeB(dx: FloatArray, dy: FloatArray, w: FloatArray, n: number, inDim: number, units: number): void {
  const rt = runtimeFor(dx, dy, w);
  if (!rt) return reference.matmulTransposeB(dx, dy, w, n, inDim, units);
  const o = dx.subarray(0, n * inDim) as Float32Array;
  const DY = place(rt, dy.subarray(0, n * units) as Float32Array, 0, true);
  const W = place(rt, w as Float32Array, 1, true);
  const WT = rt.scratchFor('wT', inDim * units * 4);
  rt.kernels.transpose(WT, W, inDim, units);
  const O = place(rt, o, 3, false);
  rt.gemm(O, DY, WT, 0, n, units, inDim, false, units * 32);
  copyBack(rt, o, O);
}

// dw (I, U) += x^T (I, N) @ dy (N, U)
export function matmulTransposeAAccumulate(dw: FloatArray, x: FloatArray, dy: FloatArray, n: number, inDim: number, units: number): void {
  const rt = runtimeFor(dw, x, dy);
  if (!rt) return reference.matmulTransposeAAccumulate(dw, x, dy, n, inDim, units);
  const X = place(rt, x.subarray(0, n * inDim) as Float32Array, 0, true);
  const DY = place(rt, dy.subarray(0, n * units) as Float32Array, 1, true);
  const XT = rt.scratchFor('xT', inDim * n * 4);
  rt.kernels.transpose(XT, X, n, inDim);
  const DW = place(rt, dw as Float32Array, 3, true);
  rt.gemm(DW, XT, DY, 0, inDim, n, units, true, n * 32);
  copyBack(rt, dw as Float32Array, DW);
}
