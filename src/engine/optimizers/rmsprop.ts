import type { UpdateRule } from './optimizer.js';

/**
 * Keras RMSprop: v = ρ·v + (1−ρ)·g²; (centered: ḡ = ρ·ḡ + (1−ρ)·g, denominator v − ḡ²);
 * Δ = lr·g/√(denominator + ε); with momentum, b = momentum·b + Δ and w −= b, else w −= Δ.
 */
export function rmspropRule(rho: number, momentum: number, epsilon: number, centered: boolean): UpdateRule {
  const slotNames = ['velocity'];
  if (momentum > 0) slotNames.push('momentum');
  if (centered) slotNames.push('average_gradient');
  return {
    slotNames,
    update(params, grads, slots, lr) {
      const velocity = slots['velocity']!;
      const buffer = momentum > 0 ? slots['momentum']! : null;
      const average = centered ? slots['average_gradient']! : null;
      const oneMinusRho = 1 - rho;
      for (let i = 0; i < params.length; i++) {
        const g = grads[i]!;
        const vi = rho * velocity[i]! + oneMinusRho * g * g;
        velocity[i] = vi;
        let denominator = vi;
        if (average) {
          const ai = rho * average[i]! + oneMinusRho * g;
          average[i] = ai;
          denominator -= ai * ai;
        }
        const increment = (lr * g) / Math.sqrt(denominator + epsilon);
        if (buffer) {
          const bi = momentum * buffer[i]! + increment;
          buffer[i] = bi;
          params[i] -= bi;
        } else {
          params[i] -= increment;
        }
      }
    },
  };
}
