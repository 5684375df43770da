/**
 * Dense-layer matrix products over row-major typed arrays, in plain TypeScript: the reference
 * the fast kernels are tested against, and the path for float64 (gradient checks) and for
 * runtimes without WebAssembly SIMD. Loop orders keep the innermost loop on contiguous memory.
 */
import type { FloatArray } from '../tensor.js';

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
  for (let row = 0; row < n; row++) {
    const outRow = row * units;
    if (bias) for (let j = 0; j < units; j++) out[outRow + j] = bias[j]!;
    else out.fill(0, outRow, outRow + units);
    const xRow = row * inDim;
    for (let k = 0; k < inDim; k++) {
      const xv = x[xRow + k]!;
      if (xv === 0) continue; // relu activations and one-hot inputs are often sparse
      const wRow = k * units;
      for (let j = 0; j < units; j++) out[outRow + j] += xv * w[wRow + j]!;
    }
  }
}

// dx (N, I) = dy (N, U) @ w^T (U, I)   (overwrites dx)
export function matmulTransposeB(dx: FloatArray, dy: FloatArray, w: FloatArray, n: number, inDim: number, units: number): void {
  for (let row = 0; row < n; row++) {
    const dyRow = row * units;
    const dxRow = row * inDim;
    for (let k = 0; k < inDim; k++) {
      const wRow = k * units;
      let sum = 0;
      for (let j = 0; j < units; j++) sum += dy[dyRow + j]! * w[wRow + j]!;
      dx[dxRow + k] = sum;
    }
  }
}

// dw (I, U) += x^T (I, N) @ dy (N, U)
export function matmulTransposeAAccumulate(dw: FloatArray, x: FloatArray, dy: FloatArray, n: number, inDim: number, units: number): void {
  for (let row = 0; row < n; row++) {
    const xRow = row * inDim;
    const dyRow = row * units;
    for (let k = 0; k < inDim; k++) {
      const xv = x[xRow + k]!;
      if (xv === 0) continue;
      const dwRow = k * units;
      for (let j = 0; j < units; j++) dw[dwRow + j] += xv * dy[dyRow + j]!;
    }
  }
}

// dbias (U) += column sums of dy (N, U)
export function columnSumAccumulate(dbias: FloatArray, dy: FloatArray, n: number, units: number): void {
  for (let row = 0; row < n; row++) {
    const dyRow = row * units;
    for (let j = 0; j < units; j++) dbias[j] += dy[dyRow + j]!;
  }
}
