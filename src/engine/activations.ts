/**
 * Activation functions as forward/backward pairs over (rows, cols) buffers. Keras defaults:
 * leaky_relu negative slope 0.2, elu alpha 1.0, gelu exact (erf form, approximate=false).
 */
import { softmaxRows } from './kernels/softmax.js';
import { wasmRuntimeFor } from './kernels/wasm/runtime.js';
import type { FloatArray } from './tensor.js';

export const ACTIVATIONS = ['linear', 'relu', 'leaky_relu', 'elu', 'gelu', 'sigmoid', 'tanh', 'softmax'] as const;
export type ActivationName = (typeof ACTIVATIONS)[number];

export const LEAKY_RELU_SLOPE = 0.2;
export const ELU_ALPHA = 1.0;

export interface Activation {
  readonly name: ActivationName;
  // y (N, C) = f(x (N, C))
  forward(y: FloatArray, x: FloatArray, rows: number, cols: number): void;
  // dx (N, C) = dy * f'(x), given x and y = f(x); overwrites dx (which may alias dy)
  backward(dx: FloatArray, dy: FloatArray, x: FloatArray, y: FloatArray, rows: number, cols: number): void;
}

const linear: Activation = {
  name: 'linear',
  forward(y, x, rows, cols) {
    if (y !== x) y.set(x.subarray(0, rows * cols));
  },
  backward(dx, dy, _x, _y, rows, cols) {
    if (dx !== dy) dx.set(dy.subarray(0, rows * cols));
  },
};

const relu: Activation = {
  name: 'relu',
  forward(y, x, rows, cols) {
    const n = rows * cols;
    // SIMD where it can: a data-dependent branch per element made the plain loop ~5% of a training step.
    const rt = wasmRuntimeFor(y, x);
    if (rt) return rt.kernels.reluForward(y.byteOffset, x.byteOffset, n);
    for (let i = 0; i < n; i++) {
      const v = x[i]!;
      y[i] = v > 0 ? v : 0;
    }
  },
  backward(dx, dy, x, _y, rows, cols) {
    const n = rows * cols;
    const rt = wasmRuntimeFor(dx, dy, x);
    if (rt) return rt.kernels.reluBackward(dx.byteOffset, dy.byteOffset, x.byteOffset, n);
    for (let i = 0; i < n; i++) dx[i] = x[i]! > 0 ? dy[i]! : 0;
  },
};

const leakyRelu: Activation = {
  name: 'leaky_relu',
  forward(y, x, rows, cols) {
    const n = rows * cols;
    for (let i = 0; i < n; i++) {
      const v = x[i]!;
      y[i] = v > 0 ? v : LEAKY_RELU_SLOPE * v;
    }
  },
  backward(dx, dy, x, _y, rows, cols) {
    const n = rows * cols;
    for (let i = 0; i < n; i++) dx[i] = x[i]! > 0 ? dy[i]! : LEAKY_RELU_SLOPE * dy[i]!;
  },
};

const elu: Activation = {
  name: 'elu',
  forward(y, x, rows, cols) {
    const n = rows * cols;
    for (let i = 0; i < n; i++) {
      const v = x[i]!;
      y[i] = v > 0 ? v : ELU_ALPHA * Math.expm1(v);
    }
  },
  backward(dx, dy, x, y, rows, cols) {
    const n = rows * cols;
    for (let i = 0; i < n; i++) dx[i] = x[i]! > 0 ? dy[i]! : dy[i]! * (y[i]! + ELU_ALPHA);
  },
};

const INV_SQRT2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

const gelu: Activation = {
  name: 'gelu',
  forward(y, x, rows, cols) {
    const n = rows * cols;
    for (let i = 0; i < n; i++) {
      const v = x[i]!;
      y[i] = 0.5 * v * (1 + erf(v * INV_SQRT2));
    }
  },
  backward(dx, dy, x, _y, rows, cols) {
    const n = rows * cols;
    for (let i = 0; i < n; i++) {
      const v = x[i]!;
      const cdf = 0.5 * (1 + erf(v * INV_SQRT2));
      const pdf = INV_SQRT_2PI * Math.exp(-0.5 * v * v);
      dx[i] = dy[i]! * (cdf + v * pdf);
    }
  },
};

const sigmoid: Activation = {
  name: 'sigmoid',
  forward(y, x, rows, cols) {
    const n = rows * cols;
    for (let i = 0; i < n; i++) y[i] = sigmoidScalar(x[i]!);
  },
  backward(dx, dy, _x, y, rows, cols) {
    const n = rows * cols;
    for (let i = 0; i < n; i++) {
      const s = y[i]!;
      dx[i] = dy[i]! * s * (1 - s);
    }
  },
};

const tanh: Activation = {
  name: 'tanh',
  forward(y, x, rows, cols) {
    const n = rows * cols;
    for (let i = 0; i < n; i++) y[i] = Math.tanh(x[i]!);
  },
  backward(dx, dy, _x, y, rows, cols) {
    const n = rows * cols;
    for (let i = 0; i < n; i++) {
      const t = y[i]!;
      dx[i] = dy[i]! * (1 - t * t);
    }
  },
};

const softmax: Activation = {
  name: 'softmax',
  forward(y, x, rows, cols) {
    softmaxRows(y, x, rows, cols);
  },
  // Jacobian-vector product per row: dx = y * (dy - sum(dy * y))
  backward(dx, dy, _x, y, rows, cols) {
    for (let row = 0; row < rows; row++) {
      const base = row * cols;
      let dot = 0;
      for (let j = 0; j < cols; j++) dot += dy[base + j]! * y[base + j]!;
      for (let j = 0; j < cols; j++) dx[base + j] = y[base + j]! * (dy[base + j]! - dot);
    }
  },
};

const BY_NAME: Record<ActivationName, Activation> = {
  linear,
  relu,
  leaky_relu: leakyRelu,
  elu,
  gelu,
  sigmoid,
  tanh,
  softmax,
};

export function getActivation(name: ActivationName): Activation {
  return BY_NAME[name];
}

export function sigmoidScalar(v: number): number {
  // Branch so exp never overflows.
  if (v >= 0) return 1 / (1 + Math.exp(-v));
  const e = Math.exp(v);
  return e / (1 + e);
}

/* eslint-disable no-loss-of-precision -- Cody's published coefficients, kept digit for digit */
/**
 * Error function, W. J. Cody's rational Chebyshev approximations (relative error < 1e-15 in
 * double), so GELU matches the exact erf form that Keras and ONNX's Erf compute.
 */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 0.5) {
    const t = x * x;
    const top =
      (((0.185777706184603153 * t + 3.1611237438705656) * t + 113.864154151050156) * t + 377.485237685302021) * t + 3209.37758913846947;
    const bottom = (((t + 23.6012909523441209) * t + 244.024637934444173) * t + 1282.61652607737228) * t + 2844.23683343917062;
    return (x * top) / bottom;
  }
  return x < 0 ? -(1 - erfcPositive(ax)) : 1 - erfcPositive(ax);
}

function erfcPositive(ax: number): number {
  if (ax < 4) {
    const top =
      (((((((2.15311535474403846e-8 * ax + 0.564188496988670089) * ax + 8.88314979438837594) * ax + 66.1191906371416295) * ax +
        298.635138197400131) *
        ax +
        881.95222124176909) *
        ax +
        1712.04761263407058) *
        ax +
        2051.07837782607147) *
        ax +
      1230.33935479799725;
    const bottom =
      (((((((ax + 15.7449261107098347) * ax + 117.693950891312499) * ax + 537.181101862009858) * ax + 1621.38957456669019) * ax +
        3290.79923573345963) *
        ax +
        4362.61909014324716) *
        ax +
        3439.36767414372164) *
        ax +
      1230.33935480374942;
    return Math.exp(-ax * ax) * (top / bottom);
  }
  if (ax > 27) return 0;
  const z = 1 / (ax * ax);
  const top =
    ((((0.0163153871373020978 * z + 0.305326634961232344) * z + 0.360344899949804439) * z + 0.125781726111229246) * z +
      0.0160837851487422766) *
      z +
    6.58749161529837803e-4;
  const bottom =
    ((((z + 2.56852019228982242) * z + 1.87295284992346725) * z + 0.527905102951428412) * z + 0.0605183413124413191) * z +
    0.00233520497626869185;
  const r = (z * top) / bottom;
  return (Math.exp(-ax * ax) / ax) * (1 / Math.sqrt(Math.PI) - r);
}
