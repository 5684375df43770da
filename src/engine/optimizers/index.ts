import type { OptimizerSpec } from '../spec.js';
import { allocate, type DType, type FloatArray } from '../tensor.js';
import { adamRule } from './adam.js';
import { clipGradients, type Segment } from './clip.js';
import type { OptimizerState, ResolvedOptimizer } from './optimizer.js';
import { rmspropRule } from './rmsprop.js';
import { learningRateAt } from './schedules.js';
import { sgdRule } from './sgd.js';

export type { OptimizerState, ResolvedOptimizer } from './optimizer.js';
export type { Segment } from './clip.js';
export { learningRateAt } from './schedules.js';

/** Keras defaults: sgd lr 0.01; adam, adamw, rmsprop lr 0.001; adamw weight decay 0.004. */
export function resolveOptimizer(spec: OptimizerSpec | undefined): ResolvedOptimizer {
  const s: OptimizerSpec = spec ?? { type: 'adam' };
  const common = {
    clipnorm: s.clipnorm,
    clipvalue: s.clipvalue,
    globalClipnorm: s.globalClipnorm,
  };
  switch (s.type) {
    case 'sgd':
      return {
        type: 'sgd',
        learningRate: s.learningRate ?? 0.01,
        weightDecay: s.weightDecay ?? 0,
        ...common,
        rule: sgdRule(s.momentum ?? 0, s.nesterov ?? false),
      };
    case 'adam':
    case 'adamw':
      return {
        type: s.type,
        learningRate: s.learningRate ?? 0.001,
        weightDecay: s.weightDecay ?? (s.type === 'adamw' ? 0.004 : 0),
        ...common,
        rule: adamRule(s.beta1 ?? 0.9, s.beta2 ?? 0.999, s.epsilon ?? 1e-7, s.amsgrad ?? false),
      };
    case 'rmsprop':
      return {
        type: 'rmsprop',
        learningRate: s.learningRate ?? 0.001,
        weightDecay: s.weightDecay ?? 0,
        ...common,
        rule: rmspropRule(s.rho ?? 0.9, s.momentum ?? 0, s.epsilon ?? 1e-7, s.centered ?? false),
      };
  }
}

export function createOptimizerState(optimizer: ResolvedOptimizer, size: number, dtype: DType): OptimizerState {
  const slots: Record<string, FloatArray> = {};
  for (const name of optimizer.rule.slotNames) slots[name] = allocate(dtype, size);
  return {
    iterations: 0,
    learningRate: typeof optimizer.learningRate === 'number' ? optimizer.learningRate : null,
    slots,
  };
}

export function currentLearningRate(optimizer: ResolvedOptimizer, state: OptimizerState): number {
  return state.learningRate ?? learningRateAt(optimizer.learningRate, state.iterations);
}

/**
 * One optimizer step in Keras's order: clip the gradients, apply decoupled weight decay
 * (w −= w·wd·lr), then the update rule; finally count the iteration.
 */
export function applyGradients(
  optimizer: ResolvedOptimizer,
  state: OptimizerState,
  params: FloatArray,
  grads: FloatArray,
  segments: readonly Segment[],
): void {
  const lr = currentLearningRate(optimizer, state);
  if (optimizer.clipnorm !== undefined || optimizer.clipvalue !== undefined || optimizer.globalClipnorm !== undefined) {
    clipGradients(grads, segments, optimizer);
  }
  if (optimizer.weightDecay > 0) {
    const factor = 1 - lr * optimizer.weightDecay;
    for (let i = 0; i < params.length; i++) params[i] *= factor;
  }
  optimizer.rule.update(params, grads, state.slots, lr, state.iterations + 1);
  state.iterations += 1;
}
