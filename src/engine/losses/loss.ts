import type { LossName } from '../spec.js';
import type { FloatArray } from '../tensor.js';

/**
 * A loss returns the sum over the batch of per-sample losses (so epochs can average by samples,
 * as Keras's loss tracker does) and, when `grad` is given, writes dL/dpred for the batch mean
 * (Keras's sum_over_batch_size reduction), shaped like pred.
 */
export interface Loss {
  readonly name: LossName;
  /** The output activation whose gradient this loss can fold in (softmax or sigmoid). */
  readonly fusedActivation: 'softmax' | 'sigmoid' | null;
  /** Target values per row: 1 for sparse labels, else the output width. */
  targetWidth(outputWidth: number): number;
  // pred (B, C), target (B, T) -> Σ_b loss_b; grad (B, C) = d(mean loss)/d pred
  compute(grad: FloatArray | null, pred: FloatArray, target: FloatArray, batch: number, cols: number): number;
  // logits (B, C) before the fused activation -> Σ_b loss_b; grad (B, C) = d(mean loss)/d logits
  computeFromLogits?(grad: FloatArray | null, logits: FloatArray, target: FloatArray, batch: number, cols: number): number;
}

/** Keras's backend epsilon, used to clip probabilities away from 0 and 1. */
export const EPSILON = 1e-7;
