/**
 * A conservative estimate of the memory a training run needs, so a job that cannot fit is
 * refused at submission with the breakdown, instead of dying of OOM hours later.
 */
import type { ModelSpec, TrainingConfig } from './spec.js';
import { summarizeModel } from './validate.js';

export interface MemoryEstimate {
  totalBytes: number;
  parametersBytes: number;
  optimizerBytes: number;
  activationsBytes: number;
  datasetBytes: number;
}

const FLOAT = 4;

function optimizerSlots(training: TrainingConfig): number {
  const o = training.optimizer ?? { type: 'adam' as const };
  switch (o.type) {
    case 'sgd':
      return (o.momentum ?? 0) > 0 ? 1 : 0;
    case 'adam':
    case 'adamw':
      return o.amsgrad ? 3 : 2;
    case 'rmsprop':
      return 1 + ((o.momentum ?? 0) > 0 ? 1 : 0) + (o.centered ? 1 : 0);
  }
}

/** Parameters + gradients + optimizer slots + per-batch activations + the dataset in memory. */
export function estimateTrainingMemory(spec: ModelSpec, training: TrainingConfig, rows: number, targetWidth: number): MemoryEstimate {
  const summary = summarizeModel(spec);
  const features = summary.inputShape.reduce((a, b) => a * b, 1);
  const batch = Math.min(training.batchSize ?? 32, rows);
  // Weights, their gradients, plus early stopping's best-weights copy and the epoch-start copy.
  const copies = 2 + (training.earlyStopping?.restoreBestWeights ? 1 : 0) + 1;
  const parametersBytes = summary.params * FLOAT * copies;
  const optimizerBytes = summary.trainableParams * FLOAT * optimizerSlots(training);
  // Each layer keeps about four batch-sized buffers (output, pre-activation, input grad, mask);
  // evaluation batches are up to 256 rows.
  const widths = summary.layers.reduce((sum, layer) => sum + layer.outputShape.reduce((a, b) => a * b, 1), features);
  const activationsBytes = widths * Math.max(batch, 256) * FLOAT * 4;
  // The dataset, plus the shuffled batch copy and the Float32Array decoded from disk.
  const datasetBytes = rows * (features + targetWidth) * FLOAT * 2;
  return {
    totalBytes: parametersBytes + optimizerBytes + activationsBytes + datasetBytes,
    parametersBytes,
    optimizerBytes,
    activationsBytes,
    datasetBytes,
  };
}
