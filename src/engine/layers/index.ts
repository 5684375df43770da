import type { LayerSpec } from '../spec.js';
import type { DType } from '../tensor.js';
import { ActivationLayer } from './activation.js';
import { BatchNormalization } from './batch-normalization.js';
import { Dense } from './dense.js';
import { Dropout } from './dropout.js';
import { Flatten } from './flatten.js';
import type { Layer } from './layer.js';

export type { Layer, ParamSpec, ParamView, ForwardContext } from './layer.js';

/** Builds the layer for a spec entry; the spec must already be validated. */
export function createLayer(spec: LayerSpec, inputShape: number[], dtype: DType): Layer {
  switch (spec.type) {
    case 'dense':
      return new Dense(spec, inputShape, dtype);
    case 'activation':
      return new ActivationLayer(spec, inputShape, dtype);
    case 'dropout':
      return new Dropout(spec, inputShape, dtype);
    case 'batch_normalization':
      return new BatchNormalization(spec, inputShape, dtype);
    case 'flatten':
      return new Flatten(spec, inputShape);
  }
}
