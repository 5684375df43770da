import { getActivation, type Activation, type ActivationName } from '../activations.js';
import type { LayerSpec } from '../spec.js';
import { GrowableBuffer, shapeSize, type DType, type FloatArray } from '../tensor.js';
import type { ForwardContext, Layer, ParamSpec } from './layer.js';

type ActivationLayerSpec = Extract<LayerSpec, { type: 'activation' }>;

/** Keras Activation layer; softmax applies along the last axis. */
export class ActivationLayer implements Layer {
  readonly inputShape: number[];
  readonly outputShape: number[];
  readonly inSize: number;
  readonly outSize: number;
  readonly outputActivation: ActivationName;
  needsInputGrad = true;
  private readonly activation: Activation;
  private readonly channels: number;
  private x: FloatArray | null = null;
  private y: FloatArray | null = null;
  private readonly yBuffer: GrowableBuffer;
  private readonly dxBuffer: GrowableBuffer;

  constructor(
    readonly spec: ActivationLayerSpec,
    inputShape: number[],
    dtype: DType,
  ) {
    this.inputShape = inputShape;
    this.outputShape = [...inputShape];
    this.inSize = this.outSize = shapeSize(inputShape);
    this.channels = inputShape[inputShape.length - 1]!;
    this.outputActivation = spec.activation;
    this.activation = getActivation(spec.activation);
    this.yBuffer = new GrowableBuffer(dtype);
    this.dxBuffer = new GrowableBuffer(dtype);
  }

  params(): ParamSpec[] {
    return [];
  }
  bind(): void {}

  // x (B, ..., C) -> y (B, ..., C)
  forward(x: FloatArray, batch: number, _ctx: ForwardContext): FloatArray {
    const rows = (batch * this.inSize) / this.channels;
    const y = this.yBuffer.view(batch * this.outSize);
    this.activation.forward(y, x, rows, this.channels);
    this.x = x;
    this.y = y;
    return y;
  }

  preActivation(): FloatArray | null {
    return this.x;
  }

  // dy (B, ..., C) -> dx (B, ..., C)
  backward(dy: FloatArray, batch: number, dyIsPreActivation: boolean): FloatArray | null {
    if (!this.needsInputGrad) return null;
    if (dyIsPreActivation) return dy;
    const rows = (batch * this.inSize) / this.channels;
    const dx = this.dxBuffer.view(batch * this.inSize);
    this.activation.backward(dx, dy, this.x!, this.y!, rows, this.channels);
    return dx;
  }

  regularization(): number {
    return 0;
  }
}
