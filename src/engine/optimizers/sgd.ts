import type { UpdateRule } from './optimizer.js';

/**
 * Keras SGD: v = momentum·v − lr·g; w += v (or, nesterov, w += momentum·v − lr·g).
 * With a constant learning rate this equals PyTorch's b = momentum·b + g; w −= lr·b.
 */
export function sgdRule(momentum: number, nesterov: boolean): UpdateRule {
  if (momentum === 0) {
    return {
      slotNames: [],
      update(params, grads, _slots, lr) {
        for (let i = 0; i < params.length; i++) params[i] -= lr * grads[i]!;
      },
    };
  }
  return {
    slotNames: ['momentum'],
    update(params, grads, slots, lr) {
      const v = slots['momentum']!;
      for (let i = 0; i < params.length; i++) {
        const g = grads[i]!;
        const vi = momentum * v[i]! - lr * g;
        v[i] = vi;
        params[i] += nesterov ? momentum * vi - lr * g : vi;
      }
    },
  };
}
