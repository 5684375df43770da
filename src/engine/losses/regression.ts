import type { FloatArray } from '../tensor.js';
import type { Loss } from './loss.js';

const sameWidth = (outputWidth: number): number => outputWidth;

/** Mean squared error, averaged over the last axis then the batch. */
export const mse: Loss = {
  name: 'mse',
  fusedActivation: null,
  targetWidth: sameWidth,
  compute(grad, pred, target, batch, cols) {
    const n = batch * cols;
    const scale = 2 / n;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const e = pred[i]! - target[i]!;
      total += e * e;
      if (grad) grad[i] = scale * e;
    }
    return total / cols;
  },
};

/** Mean absolute error; the subgradient at 0 is 0. */
export const mae: Loss = {
  name: 'mae',
  fusedActivation: null,
  targetWidth: sameWidth,
  compute(grad, pred, target, batch, cols) {
    const n = batch * cols;
    const scale = 1 / n;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const e = pred[i]! - target[i]!;
      total += Math.abs(e);
      if (grad) grad[i] = scale * Math.sign(e);
    }
    return total / cols;
  },
};

/** Huber loss with Keras's default delta = 1.0. */
export const HUBER_DELTA = 1.0;
export const huber: Loss = {
  name: 'huber',
  fusedActivation: null,
  targetWidth: sameWidth,
  compute(grad: FloatArray | null, pred, target, batch, cols) {
    const n = batch * cols;
    const scale = 1 / n;
    const d = HUBER_DELTA;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const e = pred[i]! - target[i]!;
      const a = Math.abs(e);
      if (a <= d) {
        total += 0.5 * e * e;
        if (grad) grad[i] = scale * e;
      } else {
        total += d * (a - 0.5 * d);
        if (grad) grad[i] = scale * d * Math.sign(e);
      }
    }
    return total / cols;
  },
};
