import type { LossName } from '../spec.js';
import { binaryCrossentropy, categoricalCrossentropy, sparseCategoricalCrossentropy } from './crossentropy.js';
import type { Loss } from './loss.js';
import { huber, mae, mse } from './regression.js';

export type { Loss } from './loss.js';

const BY_NAME: Record<LossName, Loss> = {
  mse,
  mae,
  huber,
  binary_crossentropy: binaryCrossentropy,
  categorical_crossentropy: categoricalCrossentropy,
  sparse_categorical_crossentropy: sparseCategoricalCrossentropy,
};

export function getLoss(name: LossName): Loss {
  return BY_NAME[name];
}
