/**
 * Keras metrics by name. "accuracy" resolves from the loss as Keras does: sparse categorical,
 * categorical or binary accuracy. Each metric returns a sum over the batch's samples so epoch
 * values are per-sample means.
 */
import { argmax } from './kernels/reduce.js';
import type { LossName, MetricName } from './spec.js';
import type { FloatArray } from './tensor.js';

// pred (B, C), target (B, T) -> Σ_b metric_b
export type MetricFn = (pred: FloatArray, target: FloatArray, batch: number, cols: number) => number;

export type AccuracyKind = 'sparse_categorical' | 'categorical' | 'binary';

export function accuracyKind(loss: LossName, outputWidth: number): AccuracyKind {
  if (loss === 'sparse_categorical_crossentropy') return 'sparse_categorical';
  if (loss === 'categorical_crossentropy') return 'categorical';
  if (loss === 'binary_crossentropy') return 'binary';
  return outputWidth === 1 ? 'binary' : 'categorical';
}

const sparseCategoricalAccuracy: MetricFn = (pred, target, batch, cols) => {
  let correct = 0;
  for (let b = 0; b < batch; b++) if (argmax(pred, b * cols, cols) === target[b]) correct++;
  return correct;
};

const categoricalAccuracy: MetricFn = (pred, target, batch, cols) => {
  let correct = 0;
  for (let b = 0; b < batch; b++) if (argmax(pred, b * cols, cols) === argmax(target, b * cols, cols)) correct++;
  return correct;
};

// Keras binary_accuracy: threshold 0.5, averaged over the last axis.
const binaryAccuracy: MetricFn = (pred, target, batch, cols) => {
  let correct = 0;
  const n = batch * cols;
  for (let i = 0; i < n; i++) if ((pred[i]! > 0.5 ? 1 : 0) === target[i]) correct++;
  return correct / cols;
};

const meanAbsoluteError: MetricFn = (pred, target, batch, cols) => {
  let total = 0;
  const n = batch * cols;
  for (let i = 0; i < n; i++) total += Math.abs(pred[i]! - target[i]!);
  return total / cols;
};

const meanSquaredError: MetricFn = (pred, target, batch, cols) => {
  let total = 0;
  const n = batch * cols;
  for (let i = 0; i < n; i++) {
    const e = pred[i]! - target[i]!;
    total += e * e;
  }
  return total / cols;
};

export function resolveMetric(name: MetricName, loss: LossName, outputWidth: number): MetricFn {
  switch (name) {
    case 'accuracy': {
      const kind = accuracyKind(loss, outputWidth);
      return kind === 'sparse_categorical' ? sparseCategoricalAccuracy : kind === 'categorical' ? categoricalAccuracy : binaryAccuracy;
    }
    case 'mae':
      return meanAbsoluteError;
    case 'mse':
      return meanSquaredError;
  }
}
