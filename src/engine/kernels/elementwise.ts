import type { FloatArray } from '../tensor.js';
import { wasmRuntimeFor } from './wasm/runtime.js';

/** values = 0: one bulk fill in wasm memory, where TypedArray.fill is a slow element-wise loop. */
export function zeroFill(values: FloatArray): void {
  const rt = wasmRuntimeFor(values);
  if (rt) rt.kernels.zero(values.byteOffset, values.byteLength);
  else values.fill(0);
}

/** values[start, end) *= factor */
export function scaleInPlace(values: FloatArray, factor: number, start = 0, end = values.length): void {
  for (let i = start; i < end; i++) values[i] *= factor;
}

/** values[start, end) = clamp(values, -limit, limit) */
export function clampInPlace(values: FloatArray, limit: number, start = 0, end = values.length): void {
  for (let i = start; i < end; i++) {
    const v = values[i]!;
    if (v > limit) values[i] = limit;
    else if (v < -limit) values[i] = -limit;
  }
}

/** Copy rows listed in `indices` from src (rows, cols) into dst (indices.length, cols). */
export function gatherRows(dst: FloatArray, src: FloatArray, indices: Uint32Array, from: number, count: number, cols: number): void {
  for (let r = 0; r < count; r++) {
    const srcRow = indices[from + r]! * cols;
    dst.set(src.subarray(srcRow, srcRow + cols), r * cols);
  }
}
