import type { FloatArray } from '../tensor.js';

/** Sum of squares of values[start, end), accumulated in double precision. */
export function sumSquares(values: FloatArray, start = 0, end = values.length): number {
  let sum = 0;
  for (let i = start; i < end; i++) sum += values[i]! * values[i]!;
  return sum;
}

/** Sum of absolute values of values[start, end). */
export function sumAbs(values: FloatArray, start = 0, end = values.length): number {
  let sum = 0;
  for (let i = start; i < end; i++) sum += Math.abs(values[i]!);
  return sum;
}

/** Index of the largest value in values[start, start + length); first one wins ties. */
export function argmax(values: FloatArray, start: number, length: number): number {
  let best = 0;
  let bestValue = values[start]!;
  for (let j = 1; j < length; j++) {
    const v = values[start + j]!;
    if (v > bestValue) {
      bestValue = v;
      best = j;
    }
  }
  return best;
}

/** True when every value is finite. */
export function allFinite(values: FloatArray): boolean {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return false;
  return true;
}
