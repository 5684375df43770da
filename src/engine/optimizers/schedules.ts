/**
 * Keras learning-rate schedules, evaluated at the optimizer's iteration count before the update
 * (0 for the first step), as keras.optimizers.schedules does.
 */
import type { LearningRateSpec } from '../spec.js';

export function learningRateAt(spec: LearningRateSpec, step: number): number {
  if (typeof spec === 'number') return spec;
  switch (spec.type) {
    case 'exponential_decay': {
      let p = step / spec.decaySteps;
      if (spec.staircase) p = Math.floor(p);
      return spec.initialLearningRate * Math.pow(spec.decayRate, p);
    }
    case 'cosine_decay': {
      const alpha = spec.alpha ?? 0;
      const warmupSteps = spec.warmupSteps ?? 0;
      const decay = (from: number, s: number): number => {
        const clamped = Math.min(s, spec.decaySteps);
        const cosine = 0.5 * (1 + Math.cos((Math.PI * clamped) / spec.decaySteps));
        return from * ((1 - alpha) * cosine + alpha);
      };
      if (spec.warmupTarget === undefined) return decay(spec.initialLearningRate, step);
      if (step < warmupSteps) {
        return spec.initialLearningRate + ((spec.warmupTarget - spec.initialLearningRate) * step) / warmupSteps;
      }
      return decay(spec.warmupTarget, step - warmupSteps);
    }
    case 'piecewise_constant_decay': {
      for (let i = 0; i < spec.boundaries.length; i++) if (step <= spec.boundaries[i]!) return spec.values[i]!;
      return spec.values[spec.values.length - 1]!;
    }
  }
}
