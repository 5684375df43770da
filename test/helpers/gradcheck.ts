/**
 * Numerical checks for the engine tests: central finite differences and array comparisons that,
 * on failure, print the max abs/rel difference and the first differing values (llm.c
 * `check_tensor`, tfjs `expectArraysClose`).
 */

export type NumericArray = ArrayLike<number> & { [index: number]: number };

export interface CloseOptions {
  /** Absolute tolerance. */
  atol?: number;
  /** Relative tolerance, against max(|actual|, |expected|). */
  rtol?: number;
  /** What is being compared, for the failure message. */
  label?: string;
}

export interface Comparison {
  maxAbs: number;
  maxRel: number;
  mismatches: number;
  first: { index: number; actual: number; expected: number }[];
}

/** Element-wise |a − e| ≤ atol + rtol·max(|a|, |e|); NaN never matches. */
export function compareArrays(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol: number): Comparison {
  const result: Comparison = { maxAbs: 0, maxRel: 0, mismatches: 0, first: [] };
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const diff = Math.abs(a - e);
    const scale = Math.max(Math.abs(a), Math.abs(e));
    const rel = diff === 0 ? 0 : diff / scale;
    if (!(diff <= result.maxAbs)) result.maxAbs = diff;
    if (!(rel <= result.maxRel)) result.maxRel = rel;
    if (!(diff <= atol + rtol * scale) && !(Number.isFinite(a) === false && a === e)) {
      result.mismatches++;
      if (result.first.length < 5) result.first.push({ index: i, actual: a, expected: e });
    }
  }
  return result;
}

function describe(label: string, c: Comparison, length: number, atol: number, rtol: number): string {
  const lines = c.first.map((m) => `  [${m.index}] actual ${m.actual} expected ${m.expected} (diff ${Math.abs(m.actual - m.expected)})`);
  return [
    `${label}: ${c.mismatches} of ${length} values differ (atol ${atol}, rtol ${rtol}); max abs diff ${c.maxAbs}, max rel diff ${c.maxRel}`,
    'first differing values:',
    ...lines,
  ].join('\n');
}

/** Throws with a diagnostic message unless every element is close. */
export function expectAllClose(actual: ArrayLike<number>, expected: ArrayLike<number>, options: CloseOptions = {}): Comparison {
  const { atol = 0, rtol = 1e-6, label = 'values' } = options;
  if (actual.length !== expected.length) throw new Error(`${label}: length ${actual.length}, expected ${expected.length}`);
  const c = compareArrays(actual, expected, atol, rtol);
  if (c.mismatches > 0) throw new Error(describe(label, c, expected.length, atol, rtol));
  return c;
}

/** Throws unless both typed arrays hold exactly the same bytes (bit-identical, −0 ≠ +0, NaN payloads). */
export function expectBitIdentical(actual: Float32Array | Float64Array, expected: Float32Array | Float64Array, label = 'values'): void {
  if (actual.constructor !== expected.constructor) throw new Error(`${label}: ${actual.constructor.name} vs ${expected.constructor.name}`);
  if (actual.length !== expected.length) throw new Error(`${label}: length ${actual.length}, expected ${expected.length}`);
  const a = new Uint8Array(actual.buffer, actual.byteOffset, actual.byteLength);
  const e = new Uint8Array(expected.buffer, expected.byteOffset, expected.byteLength);
  if (Buffer.compare(a, e) === 0) return;
  const c = compareArrays(actual, expected, 0, 0);
  let differing = 0;
  const first: string[] = [];
  for (let i = 0; i < expected.length; i++) {
    if (Object.is(actual[i], expected[i])) continue;
    differing++;
    if (first.length < 5) first.push(`  [${i}] actual ${actual[i]} expected ${expected[i]}`);
  }
  throw new Error(
    [`${label}: ${differing} of ${expected.length} values are not bit-identical; max abs diff ${c.maxAbs}`, ...first].join('\n'),
  );
}

/**
 * Central differences (f(x + h) − f(x − h)) / 2h for every element of `x`, which is perturbed in
 * place and restored. `f` must read `x` afresh on each call.
 */
export function numericGradient(f: () => number, x: NumericArray, h = 1e-6): Float64Array {
  const grad = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const saved = x[i]!;
    x[i] = saved + h;
    const plus = f();
    x[i] = saved - h;
    const minus = f();
    x[i] = saved;
    grad[i] = (plus - minus) / (2 * h);
  }
  return grad;
}

export interface GradCheckOptions extends CloseOptions {
  /** Finite-difference step. */
  h?: number;
  /** Fail when the numerical gradient is all but zero (the check would prove nothing). */
  allowZero?: boolean;
}

/**
 * Compares an analytic gradient with central differences of `f` with respect to `x`. Defaults
 * suit float64: h = 1e-6, |a − n| ≤ 1e-8 + 1e-6·max(|a|, |n|).
 */
export function gradCheck(analytic: ArrayLike<number>, f: () => number, x: NumericArray, options: GradCheckOptions = {}): Comparison {
  const { h = 1e-6, atol = 1e-8, rtol = 1e-6, label = 'gradient', allowZero = false } = options;
  const numeric = numericGradient(f, x, h);
  if (!allowZero) {
    let largest = 0;
    for (const v of numeric) largest = Math.max(largest, Math.abs(v));
    if (!(largest > 1e-6)) throw new Error(`${label}: the numerical gradient is zero everywhere, so the check would be vacuous`);
  }
  const comparison = expectAllClose(analytic, numeric, { atol, rtol, label });
  // GRADCHECK_VERBOSE=1 prints the margins of passing checks too.
  if (process.env['GRADCHECK_VERBOSE']) console.info(`${label}: max abs diff ${comparison.maxAbs}, max rel diff ${comparison.maxRel}`);
  return comparison;
}
