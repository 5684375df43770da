import type { LayerSpec } from '../spec.js';
import { GrowableBuffer, allocate, shapeSize, type DType, type FloatArray } from '../tensor.js';
import type { ForwardContext, Layer, ParamSpec, ParamView } from './layer.js';

type BatchNormalizationSpec = Extract<LayerSpec, { type: 'batch_normalization' }>;

/**
 * Keras BatchNormalization over the last axis (defaults momentum 0.99, epsilon 1e-3). Training
 * normalizes with the batch's mean and biased variance and updates the moving statistics;
 * inference uses the moving statistics.
 */
export class BatchNormalization implements Layer {
  readonly inputShape: number[];
  readonly outputShape: number[];
  readonly inSize: number;
  readonly outSize: number;
  readonly outputActivation = null;
  needsInputGrad = true;
  readonly channels: number;
  readonly momentum: number;
  readonly epsilon: number;
  private readonly center: boolean;
  private readonly scale: boolean;
  private gamma: FloatArray | null = null;
  private beta: FloatArray | null = null;
  private dGamma: FloatArray | null = null;
  private dBeta: FloatArray | null = null;
  private movingMean!: FloatArray;
  private movingVariance!: FloatArray;
  // Saved by a training forward: normalized input and 1/sqrt(var + eps) per channel.
  private xHat: FloatArray | null = null;
  private readonly invStd: FloatArray;
  private readonly mean: FloatArray;
  private readonly sumDy: FloatArray;
  private readonly sumDyXHat: FloatArray;
  private readonly yBuffer: GrowableBuffer;
  private readonly xHatBuffer: GrowableBuffer;
  private readonly dxBuffer: GrowableBuffer;

  constructor(
    readonly spec: BatchNormalizationSpec,
    inputShape: number[],
    dtype: DType,
  ) {
    this.inputShape = inputShape;
    this.outputShape = [...inputShape];
    this.inSize = this.outSize = shapeSize(inputShape);
    this.channels = inputShape[inputShape.length - 1]!;
    this.momentum = spec.momentum ?? 0.99;
    this.epsilon = spec.epsilon ?? 1e-3;
    this.center = spec.center ?? true;
    this.scale = spec.scale ?? true;
    this.invStd = allocate(dtype, this.channels);
    this.mean = allocate(dtype, this.channels);
    this.sumDy = allocate('float64', this.channels);
    this.sumDyXHat = allocate('float64', this.channels);
    this.yBuffer = new GrowableBuffer(dtype);
    this.xHatBuffer = new GrowableBuffer(dtype);
    this.dxBuffer = new GrowableBuffer(dtype);
  }

  params(): ParamSpec[] {
    const c = this.channels;
    const specs: ParamSpec[] = [];
    if (this.scale) specs.push({ name: 'gamma', shape: [c], trainable: true, initializer: 'ones', fanIn: c, fanOut: c });
    if (this.center) specs.push({ name: 'beta', shape: [c], trainable: true, initializer: 'zeros', fanIn: c, fanOut: c });
    specs.push({ name: 'moving_mean', shape: [c], trainable: false, initializer: 'zeros', fanIn: c, fanOut: c });
    specs.push({ name: 'moving_variance', shape: [c], trainable: false, initializer: 'ones', fanIn: c, fanOut: c });
    return specs;
  }

  bind(views: ParamView[]): void {
    let i = 0;
    if (this.scale) {
      this.gamma = views[i]!.value;
      this.dGamma = views[i++]!.grad;
    }
    if (this.center) {
      this.beta = views[i]!.value;
      this.dBeta = views[i++]!.grad;
    }
    this.movingMean = views[i++]!.value;
    this.movingVariance = views[i]!.value;
  }

  // x (M, C) -> y (M, C), where M = batch × (all axes but the last)
  forward(x: FloatArray, batch: number, ctx: ForwardContext): FloatArray {
    const c = this.channels;
    const m = (batch * this.inSize) / c;
    const y = this.yBuffer.view(m * c);
    if (!ctx.training) {
      for (let j = 0; j < c; j++) {
        const inv = 1 / Math.sqrt(this.movingVariance[j]! + this.epsilon);
        const g = this.gamma ? this.gamma[j]! : 1;
        const b = this.beta ? this.beta[j]! : 0;
        const mu = this.movingMean[j]!;
        for (let r = 0; r < m; r++) y[r * c + j] = (x[r * c + j]! - mu) * inv * g + b;
      }
      this.xHat = null;
      return y;
    }
    const xHat = this.xHatBuffer.view(m * c);
    for (let j = 0; j < c; j++) {
      let sum = 0;
      for (let r = 0; r < m; r++) sum += x[r * c + j]!;
      const mu = sum / m;
      let sq = 0;
      for (let r = 0; r < m; r++) {
        const d = x[r * c + j]! - mu;
        sq += d * d;
      }
      const variance = sq / m;
      const inv = 1 / Math.sqrt(variance + this.epsilon);
      this.mean[j] = mu;
      this.invStd[j] = inv;
      const g = this.gamma ? this.gamma[j]! : 1;
      const b = this.beta ? this.beta[j]! : 0;
      for (let r = 0; r < m; r++) {
        const h = (x[r * c + j]! - mu) * inv;
        xHat[r * c + j] = h;
        y[r * c + j] = h * g + b;
      }
      this.movingMean[j] = this.movingMean[j]! * this.momentum + mu * (1 - this.momentum);
      this.movingVariance[j] = this.movingVariance[j]! * this.momentum + variance * (1 - this.momentum);
    }
    this.xHat = xHat;
    return y;
  }

  preActivation(): FloatArray | null {
    return null;
  }

  // dy (M, C) -> dgamma += Σ dy·x̂, dbeta += Σ dy, dx = invStd/M · (M·dx̂ − Σdx̂ − x̂·Σ(dx̂·x̂))
  backward(dy: FloatArray, batch: number): FloatArray | null {
    const c = this.channels;
    const m = (batch * this.inSize) / c;
    const xHat = this.xHat!;
    const sumDy = this.sumDy;
    const sumDyXHat = this.sumDyXHat;
    sumDy.fill(0);
    sumDyXHat.fill(0);
    for (let r = 0; r < m; r++) {
      const base = r * c;
      for (let j = 0; j < c; j++) {
        const d = dy[base + j]!;
        sumDy[j] += d;
        sumDyXHat[j] += d * xHat[base + j]!;
      }
    }
    for (let j = 0; j < c; j++) {
      if (this.dGamma) this.dGamma[j] += sumDyXHat[j]!;
      if (this.dBeta) this.dBeta[j] += sumDy[j]!;
    }
    if (!this.needsInputGrad) return null;
    const dx = this.dxBuffer.view(m * c);
    for (let j = 0; j < c; j++) {
      const g = this.gamma ? this.gamma[j]! : 1;
      // Sums over dx̂ = dy·γ are γ times the sums over dy.
      const sumDxHat = sumDy[j]! * g;
      const sumDxHatXHat = sumDyXHat[j]! * g;
      const k = this.invStd[j]! / m;
      for (let r = 0; r < m; r++) {
        const idx = r * c + j;
        dx[idx] = k * (m * dy[idx]! * g - sumDxHat - xHat[idx]! * sumDxHatXHat);
      }
    }
    return dx;
  }

  regularization(): number {
    return 0;
  }
}
