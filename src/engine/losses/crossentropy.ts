import { sigmoidScalar } from '../activations.js';
import { logSumExp } from '../kernels/softmax.js';
import type { Loss } from './loss.js';
import { EPSILON } from './loss.js';

const clip = (p: number): number => (p < EPSILON ? EPSILON : p > 1 - EPSILON ? 1 - EPSILON : p);

/**
 * Binary cross-entropy averaged over the last axis. From probabilities it clips as Keras does;
 * fused with a sigmoid it works on logits: max(z,0) − z·y + log(1 + e^−|z|), gradient σ(z) − y.
 */
export const binaryCrossentropy: Loss = {
  name: 'binary_crossentropy',
  fusedActivation: 'sigmoid',
  targetWidth: (w) => w,
  compute(grad, pred, target, batch, cols) {
    const n = batch * cols;
    const scale = 1 / n;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const raw = pred[i]!;
      const p = clip(raw);
      const y = target[i]!;
      total -= y * Math.log(p) + (1 - y) * Math.log(1 - p);
      if (grad) grad[i] = raw === p ? scale * ((p - y) / (p * (1 - p))) : 0;
    }
    return total / cols;
  },
  computeFromLogits(grad, logits, target, batch, cols) {
    const n = batch * cols;
    const scale = 1 / n;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const z = logits[i]!;
      const y = target[i]!;
      total += Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
      if (grad) grad[i] = scale * (sigmoidScalar(z) - y);
    }
    return total / cols;
  },
};

/**
 * Categorical cross-entropy with one-hot (or soft) targets. From probabilities Keras first
 * renormalizes rows to sum to 1, then clips; fused with softmax: logsumexp(z) − Σ y·z.
 */
export const categoricalCrossentropy: Loss = {
  name: 'categorical_crossentropy',
  fusedActivation: 'softmax',
  targetWidth: (w) => w,
  compute(grad, pred, target, batch, cols) {
    const scale = 1 / batch;
    let total = 0;
    for (let b = 0; b < batch; b++) {
      const base = b * cols;
      let sum = 0;
      let targetSum = 0;
      for (let j = 0; j < cols; j++) {
        sum += pred[base + j]!;
        targetSum += target[base + j]!;
      }
      for (let j = 0; j < cols; j++) {
        const o = pred[base + j]!;
        const p = o / sum;
        const cp = clip(p);
        const y = target[base + j]!;
        total -= y * Math.log(cp);
        if (grad) grad[base + j] = scale * (targetSum / sum - (cp === p ? y / o : 0));
      }
    }
    return total;
  },
  computeFromLogits(grad, logits, target, batch, cols) {
    const scale = 1 / batch;
    let total = 0;
    for (let b = 0; b < batch; b++) {
      const base = b * cols;
      const lse = logSumExp(logits, base, cols);
      let targetSum = 0;
      for (let j = 0; j < cols; j++) {
        const y = target[base + j]!;
        targetSum += y;
        total -= y * (logits[base + j]! - lse);
      }
      if (grad) {
        for (let j = 0; j < cols; j++) {
          grad[base + j] = scale * (targetSum * Math.exp(logits[base + j]! - lse) - target[base + j]!);
        }
      }
    }
    return total;
  },
};

/** Categorical cross-entropy with integer class labels (one value per row). */
export const sparseCategoricalCrossentropy: Loss = {
  name: 'sparse_categorical_crossentropy',
  fusedActivation: 'softmax',
  targetWidth: () => 1,
  compute(grad, pred, target, batch, cols) {
    const scale = 1 / batch;
    let total = 0;
    for (let b = 0; b < batch; b++) {
      const base = b * cols;
      const label = target[b]!;
      let sum = 0;
      for (let j = 0; j < cols; j++) sum += pred[base + j]!;
      const o = pred[base + label]!;
      const p = o / sum;
      const cp = clip(p);
      total -= Math.log(cp);
      if (grad) {
        for (let j = 0; j < cols; j++) grad[base + j] = scale / sum;
        grad[base + label] = scale * (1 / sum - (cp === p ? 1 / o : 0));
      }
    }
    return total;
  },
  computeFromLogits(grad, logits, target, batch, cols) {
    const scale = 1 / batch;
    let total = 0;
    for (let b = 0; b < batch; b++) {
      const base = b * cols;
      const label = target[b]!;
      const lse = logSumExp(logits, base, cols);
      total += lse - logits[base + label]!;
      if (grad) {
        for (let j = 0; j < cols; j++) grad[base + j] = scale * Math.exp(logits[base + j]! - lse);
        grad[base + label] -= scale;
      }
    }
    return total;
  },
};
