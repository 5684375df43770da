import type { LayerSpec } from '../spec.js';
import { shapeSize, type FloatArray } from '../tensor.js';
import type { Layer, ParamSpec } from './layer.js';

type FlattenLayerSpec = Extract<LayerSpec, { type: 'flatten' }>;

/** Keras Flatten: row-major data is already flat, so only the shape changes. */
export class Flatten implements Layer {
  readonly inputShape: number[];
  readonly outputShape: number[];
  readonly inSize: number;
  readonly outSize: number;
  readonly outputActivation = null;
  needsInputGrad = true;

  constructor(
    readonly spec: FlattenLayerSpec,
    inputShape: number[],
  ) {
    this.inputShape = inputShape;
    this.inSize = this.outSize = shapeSize(inputShape);
    this.outputShape = [this.outSize];
  }

  params(): ParamSpec[] {
    return [];
  }
  bind(): void {}
  // x (B, ...) -> y (B, prod(...))
  forward(x: FloatArray): FloatArray {
    return x;
  }
  preActivation(): FloatArray | null {
    return null;
  }
  backward(dy: FloatArray): FloatArray | null {
    return this.needsInputGrad ? dy : null;
  }
  regularization(): number {
    return 0;
  }
}
