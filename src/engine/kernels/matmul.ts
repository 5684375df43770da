/**
 * The dense-layer matrix products the layers call. Float32 work runs in the WebAssembly SIMD
 * kernels (cache-packed 4×8 register tiles, split across two threads when set up so; outputs
 * up to 16 columns wide, such as a 10-class output layer, in their own narrow tiles) directly
 * on buffers that live in wasm memory; anything else (float64, foreign buffers the kernels
 * would have to copy, runtimes without SIMD) uses the reference kernels. Layers do not know
 * which one runs.
 */
import type { FloatArray } from '../tensor.js';
import * as reference from './matmul-reference.js';
import { wasmRuntime, wasmRuntimeFor, type WasmRuntime } from './wasm/runtime.js';

/** Scratch regions for operands that are not in wasm memory, reused across calls. */
const slots: { offset: number; bytes: number }[] = [];

/**
 * The byte offset where the kernel finds `length` values of `array`: in place when the array
 * lives in wasm memory (the common case, no allocation), else a scratch copy (when `copy`).
 */
function place(rt: WasmRuntime, array: Float32Array, length: number, slot: number, copy: boolean): number {
  if (rt.owns(array)) return array.byteOffset;
  const bytes = length * 4;
  let s = slots[slot];
  if (!s || s.bytes < bytes) {
    s = { offset: rt.scratch(bytes), bytes };
    slots[slot] = s;
  }
  if (copy) new Float32Array(rt.memory.buffer, s.offset, length).set(array.subarray(0, length));
  return s.offset;
}

function copyBack(rt: WasmRuntime, out: Float32Array, length: number, offset: number): void {
  if (!rt.owns(out)) out.set(new Float32Array(rt.memory.buffer, offset, length));
}

function runtimeFor(a: FloatArray, b: FloatArray, c: FloatArray, d: FloatArray | null): WasmRuntime | null {
  if (!(a instanceof Float32Array && b instanceof Float32Array && c instanceof Float32Array)) return null;
  if (d !== null && !(d instanceof Float32Array)) return null;
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
  const X = place(rt, x as Float32Array, n * inDim, 0, true);
  const W = place(rt, w as Float32Array, inDim * units, 1, true);
  const B = bias ? place(rt, bias as Float32Array, units, 2, true) : 0;
  const O = place(rt, out as Float32Array, n * units, 3, false);
  rt.gemm(O, X, W, B, n, inDim, units, false);
  copyBack(rt, out as Float32Array, n * units, O);
}

// dx (N, I) = dy (N, U) @ w^T (U, I)   (overwrites dx)
export function matmulTransposeB(dx: FloatArray, dy: FloatArray, w: FloatArray, n: number, inDim: number, units: number): void {
  const rt = runtimeFor(dx, dy, w, null);
  if (!rt) return reference.matmulTransposeB(dx, dy, w, n, inDim, units);
  const DY = place(rt, dy as Float32Array, n * units, 0, true);
  const W = place(rt, w as Float32Array, inDim * units, 1, true);
  const O = place(rt, dx as Float32Array, n * inDim, 3, false);
  // B = wᵀ, read from w as stored (the kernel transposes while packing).
  rt.gemm(O, DY, W, 0, n, units, inDim, false, false, true);
  copyBack(rt, dx as Float32Array, n * inDim, O);
}

// dw (I, U) += x^T (I, N) @ dy (N, U)
export function matmulTransposeAAccumulate(dw: FloatArray, x: FloatArray, dy: FloatArray, n: number, inDim: number, units: number): void {
  const rt = runtimeFor(dw, x, dy, null);
  if (!rt) return reference.matmulTransposeAAccumulate(dw, x, dy, n, inDim, units);
  const X = place(rt, x as Float32Array, n * inDim, 0, true);
  const DY = place(rt, dy as Float32Array, n * units, 1, true);
  const DW = place(rt, dw as Float32Array, inDim * units, 3, true);
  // A = xᵀ, read from x as stored.
  rt.gemm(DW, X, DY, 0, inDim, n, units, true, true, false);
  copyBack(rt, dw as Float32Array, inDim * units, DW);
}

// dbias (U) += column sums of dy (N, U): in SIMD when both live in wasm memory (a copy would
// cost more than the sum), with the reference's order of additions.
export function columnSumAccumulate(dbias: FloatArray, dy: FloatArray, n: number, units: number): void {
  const rt = wasmRuntimeFor(dbias, dy);
  if (rt) rt.kernels.columnSumAccumulate(dbias.byteOffset, dy.byteOffset, n, units);
  else reference.columnSumAccumulate(dbias, dy, n, units);
}
