import { describe, expect, it } from 'vitest';
import { ACTIVATIONS, ELU_ALPHA, LEAKY_RELU_SLOPE, erf, getActivation, type ActivationName } from '../../src/engine/activations.js';
import { expectAllClose, gradCheck } from '../helpers/gradcheck.js';
import { awayFromZero, mulberry32, uniformArray } from '../helpers/random.js';

// Reference values from mpmath (30 significant digits), rounded to double.
const ERF_KNOWN: [number, number][] = [
  [0, 0],
  [0.1, 0.1124629160182849],
  [0.3, 0.3286267594591274],
  [0.46875, 0.49261347321793797],
  [0.49, 0.511668261188523],
  [0.5, 0.5204998778130465],
  [1, 0.8427007929497149],
  [-2, -0.9953222650189527],
  [3.5, 0.9999992569016276],
  [4, 0.9999999845827421],
  [5, 0.9999999999984625],
];

describe('erf', () => {
  it.each(ERF_KNOWN)('erf(%d) matches the reference value', (x, expected) => {
    expect(Math.abs(erf(x) - expected)).toBeLessThanOrEqual(2e-16 + 2e-15 * Math.abs(expected));
  });

  it('is odd and saturates at ±1', () => {
    for (const x of [0.2, 0.49, 0.5, 1.7, 3.9, 4.2, 6]) expect(erf(-x)).toBe(-erf(x));
    expect(erf(30)).toBe(1);
    expect(erf(-30)).toBe(-1);
    expect(erf(Infinity)).toBe(1);
  });

  it('is continuous across the approximation boundaries at 0.5 and 4', () => {
    for (const edge of [0.5, 4]) {
      const below = erf(edge - 1e-12);
      const above = erf(edge + 1e-12);
      // erf' = 2/sqrt(pi)·exp(-x²) ≤ 1.13, so 2e-12 apart the values differ by < 3e-12.
      expect(Math.abs(above - below)).toBeLessThan(3e-12);
    }
  });
});

/** Independent formulas for each activation's forward pass, one row at a time. */
function referenceForward(name: ActivationName, row: number[]): number[] {
  switch (name) {
    case 'linear':
      return row;
    case 'relu':
      return row.map((v) => Math.max(0, v));
    case 'leaky_relu':
      return row.map((v) => (v > 0 ? v : 0.2 * v));
    case 'elu':
      return row.map((v) => (v > 0 ? v : Math.exp(v) - 1));
    case 'gelu':
      // x·Φ(x); the erf here is the engine's, which is pinned to reference values above.
      return row.map((v) => 0.5 * v * (1 + erf(v / Math.SQRT2)));
    case 'sigmoid':
      return row.map((v) => 1 / (1 + Math.exp(-v)));
    case 'tanh':
      return row.map((v) => (Math.exp(v) - Math.exp(-v)) / (Math.exp(v) + Math.exp(-v)));
    case 'softmax': {
      const exps = row.map((v) => Math.exp(v));
      const sum = exps.reduce((a, b) => a + b, 0);
      return exps.map((e) => e / sum);
    }
  }
}

const ROWS = 4;
const COLS = 5;

function forward(name: ActivationName, x: Float64Array): Float64Array {
  const y = new Float64Array(x.length);
  getActivation(name).forward(y, x, ROWS, COLS);
  return y;
}

describe('activations', () => {
  it('keeps Keras defaults: leaky_relu slope 0.2, elu alpha 1', () => {
    expect(LEAKY_RELU_SLOPE).toBe(0.2);
    expect(ELU_ALPHA).toBe(1);
  });

  it('has the documented set of names', () => {
    expect([...ACTIVATIONS].sort()).toEqual(['elu', 'gelu', 'leaky_relu', 'linear', 'relu', 'sigmoid', 'softmax', 'tanh']);
  });

  it('gelu matches reference values (exact erf form, not the tanh approximation)', () => {
    const x = new Float64Array([1, -0.5, 2.5]);
    const y = new Float64Array(3);
    getActivation('gelu').forward(y, x, 1, 3);
    // mpmath: 0.5·x·(1 + erf(x/√2))
    expectAllClose(y, [0.8413447460685429, -0.15426876936299344, 2.4844758366855597], { rtol: 1e-15, atol: 1e-16, label: 'gelu' });
  });

  describe.each([...ACTIVATIONS])('%s', (name) => {
    const rand = mulberry32(1000 + ACTIVATIONS.indexOf(name));
    // Inputs keep |x| ≥ 0.1 so relu, leaky_relu and elu are differentiable at every point.
    const x = awayFromZero(ROWS * COLS, rand, 0.1, 2.5);
    const dy = uniformArray(ROWS * COLS, rand);

    it('forward matches the reference formula', () => {
      const y = forward(name, x);
      const expected: number[] = [];
      for (let r = 0; r < ROWS; r++) expected.push(...referenceForward(name, Array.from(x.subarray(r * COLS, (r + 1) * COLS))));
      expectAllClose(y, expected, { rtol: 1e-14, atol: 1e-15, label: `${name} forward` });
    });

    it('backward matches finite differences of Σ dy·f(x)', () => {
      const activation = getActivation(name);
      const y = forward(name, x);
      const dx = new Float64Array(x.length);
      activation.backward(dx, dy, x, y, ROWS, COLS);
      const objective = (): number => {
        const out = forward(name, x);
        let total = 0;
        for (let i = 0; i < out.length; i++) total += dy[i]! * out[i]!;
        return total;
      };
      gradCheck(dx, objective, x, { label: `${name} dx` });
    });

    it('backward may write into dy (dx aliasing dy)', () => {
      const activation = getActivation(name);
      const y = forward(name, x);
      const separate = new Float64Array(x.length);
      activation.backward(separate, dy, x, y, ROWS, COLS);
      const inPlace = dy.slice();
      activation.backward(inPlace, inPlace, x, y, ROWS, COLS);
      expectAllClose(inPlace, separate, { rtol: 0, label: `${name} aliased backward` });
    });
  });

  it('sigmoid and softmax stay finite for extreme inputs', () => {
    const x = new Float64Array([-800, 800, 0, -1e6, 1e6, 3]);
    const s = new Float64Array(6);
    getActivation('sigmoid').forward(s, x, 1, 6);
    expect(Array.from(s)).toEqual([0, 1, 0.5, 0, 1, 1 / (1 + Math.exp(-3))]);
    const p = new Float64Array(6);
    getActivation('softmax').forward(p, x, 2, 3);
    for (const v of p) expect(Number.isFinite(v)).toBe(true);
    expectAllClose(p, [0, 1, 0, 0, 1, 0], { atol: 1e-300, rtol: 0, label: 'softmax saturation' });
  });

  it('relu-family derivatives are the one-sided slopes away from 0', () => {
    const x = new Float64Array([-2, -0.5, 0.5, 2]);
    const dy = new Float64Array([1, 1, 1, 1]);
    const cases: [ActivationName, number[]][] = [
      ['relu', [0, 0, 1, 1]],
      ['leaky_relu', [0.2, 0.2, 1, 1]],
      ['elu', [Math.exp(-2), Math.exp(-0.5), 1, 1]],
    ];
    for (const [name, expected] of cases) {
      const y = new Float64Array(4);
      const dx = new Float64Array(4);
      getActivation(name).forward(y, x, 1, 4);
      getActivation(name).backward(dx, dy, x, y, 1, 4);
      expectAllClose(dx, expected, { rtol: 1e-15, label: `${name}'` });
    }
  });
});
