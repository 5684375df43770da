import type { LayerSpec } from '../spec.js';
import { GrowableBuffer, shapeSize, type DType, type FloatArray } from '../tensor.js';
import type { ForwardContext, Layer, ParamSpec } from './layer.js';

type DropoutLayerSpec = Extract<LayerSpec, { type: 'dropout' }>;

/**
 * Inverted dropout (Keras): while training, each input is zeroed with probability `rate` and the
 * survivors are scaled by 1 / (1 - rate); at inference it is the identity.
 */
export class Dropout implements Layer {
  readonly inputShape: number[];
  readonly outputShape: number[];
  readonly inSize: number;
  readonly outSize: number;
  readonly outputActivation = null;
  needsInputGrad = true;
  private readonly rate: number;
  // The mask holds 0 or 1 / (1 - rate) per element of the last training forward.
  private mask: FloatArray | null = null;
  private readonly maskBuffer: GrowableBuffer;
  private readonly yBuffer: GrowableBuffer;
  private readonly dxBuffer: GrowableBuffer;

  constructor(
    readonly spec: DropoutLayerSpec,
    inputShape: number[],
    dtype: DType,
  ) {
    this.inputShape = inputShape;
    this.outputShape = [...inputShape];
    this.inSize = this.outSize = shapeSize(inputShape);
    this.rate = spec.rate;
    this.maskBuffer = new GrowableBuffer(dtype);
    this.yBuffer = new GrowableBuffer(dtype);
    this.dxBuffer = new GrowableBuffer(dtype);
  }

  params(): ParamSpec[] {
    return [];
  }
  bind(): void {}

  // x (B, D) -> y (B, D) = x * mask
  forward(x: FloatArray, batch: number, ctx: ForwardContext): FloatArray {
    if (!ctx.training || this.rate === 0) {
      this.mask = null;
      return x;
    }
    const n = batch * this.inSize;
    const mask = this.maskBuffer.view(n);
    const y = this.yBuffer.view(n);
    const keep = 1 - this.rate;
    const scale = 1 / keep;
    for (let i = 0; i < n; i++) {
      const m = ctx.rng.uniform() < keep ? scale : 0;
      mask[i] = m;
      y[i] = x[i]! * m;
    }
    this.mask = mask;
    return y;
  }

  preActivation(): FloatArray | null {
    return null;
  }

  // dy (B, D) -> dx (B, D) = dy * mask
  backward(dy: FloatArray, batch: number): FloatArray | null {
    if (!this.needsInputGrad) return null;
    const mask = this.mask;
    if (!mask) return dy;
    const n = batch * this.inSize;
    const dx = this.dxBuffer.view(n);
    for (let i = 0; i < n; i++) dx[i] = dy[i]! * mask[i]!;
    return dx;
  }

  regularization(): number {
    return 0;
  }
}
