/**
 * Keras weight initializers (VarianceScaling family), drawn from the model's seeded PRNG.
 * https://keras.io/api/layers/initializers/
 */
import type { Rng } from './random.js';
import type { FloatArray } from './tensor.js';

export const INITIALIZERS = [
  'glorot_uniform',
  'glorot_normal',
  'he_normal',
  'he_uniform',
  'lecun_normal',
  'lecun_uniform',
  'zeros',
  'ones',
] as const;
export type InitializerName = (typeof INITIALIZERS)[number];

// Keras divides the stddev by this constant so a normal truncated at 2 sigma keeps the variance.
const TRUNCATED_NORMAL_STDDEV_CORRECTION = 0.87962566103423978;

export function initialize(out: FloatArray, name: InitializerName, fanIn: number, fanOut: number, rng: Rng): void {
  switch (name) {
    case 'zeros':
      out.fill(0);
      return;
    case 'ones':
      out.fill(1);
      return;
    case 'glorot_uniform':
      return fillUniform(out, Math.sqrt(6 / (fanIn + fanOut)), rng);
    case 'he_uniform':
      return fillUniform(out, Math.sqrt(6 / fanIn), rng);
    case 'lecun_uniform':
      return fillUniform(out, Math.sqrt(3 / fanIn), rng);
    case 'glorot_normal':
      return fillTruncatedNormal(out, Math.sqrt(2 / (fanIn + fanOut)) / TRUNCATED_NORMAL_STDDEV_CORRECTION, rng);
    case 'he_normal':
      return fillTruncatedNormal(out, Math.sqrt(2 / fanIn) / TRUNCATED_NORMAL_STDDEV_CORRECTION, rng);
    case 'lecun_normal':
      return fillTruncatedNormal(out, Math.sqrt(1 / fanIn) / TRUNCATED_NORMAL_STDDEV_CORRECTION, rng);
  }
}

function fillUniform(out: FloatArray, limit: number, rng: Rng): void {
  for (let i = 0; i < out.length; i++) out[i] = (2 * rng.uniform() - 1) * limit;
}

function fillTruncatedNormal(out: FloatArray, stddev: number, rng: Rng): void {
  for (let i = 0; i < out.length; i++) out[i] = rng.truncatedNormal() * stddev;
}
