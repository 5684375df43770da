import type { FloatArray } from '../tensor.js';

// out (N, C) = softmax(x (N, C)) along the last axis, max-subtracted for stability
export function softmaxRows(out: FloatArray, x: FloatArray, n: number, classes: number): void {
  for (let row = 0; row < n; row++) {
    const base = row * classes;
    let max = -Infinity;
    for (let j = 0; j < classes; j++) if (x[base + j]! > max) max = x[base + j]!;
    let sum = 0;
    for (let j = 0; j < classes; j++) {
      const e = Math.exp(x[base + j]! - max);
      out[base + j] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let j = 0; j < classes; j++) out[base + j] *= inv;
  }
}

/** log(sum(exp(x[start, start + length)))) computed stably. */
export function logSumExp(x: FloatArray, start: number, length: number): number {
  let max = -Infinity;
  for (let j = 0; j < length; j++) if (x[start + j]! > max) max = x[start + j]!;
  let sum = 0;
  for (let j = 0; j < length; j++) sum += Math.exp(x[start + j]! - max);
  return max + Math.log(sum);
}
