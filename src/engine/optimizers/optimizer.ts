import type { LearningRateSpec } from '../spec.js';
import type { FloatArray } from '../tensor.js';

/** Plain, serializable optimizer state: slot buffers mirror the parameter arena. */
export interface OptimizerState {
  iterations: number;
  /** The constant learning rate currently in force (ReduceLROnPlateau lowers it); null with a schedule. */
  learningRate: number | null;
  slots: Record<string, FloatArray>;
}

/** One optimizer's update rule over the flat arena; hyperparameters are fixed at creation. */
export interface UpdateRule {
  readonly slotNames: readonly string[];
  // params (P) -= update(grads (P), slots (P each)); `step` is the 1-based iteration
  update(params: FloatArray, grads: FloatArray, slots: Record<string, FloatArray>, lr: number, step: number): void;
}

export interface ResolvedOptimizer {
  type: 'sgd' | 'adam' | 'adamw' | 'rmsprop';
  learningRate: LearningRateSpec;
  weightDecay: number;
  clipnorm?: number | undefined;
  clipvalue?: number | undefined;
  globalClipnorm?: number | undefined;
  rule: UpdateRule;
}
