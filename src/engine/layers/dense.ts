import { getActivation, type Activation, type ActivationName } from '../activations.js';
import { columnSumAccumulate, matmulBias, matmulTransposeAAccumulate, matmulTransposeB } from '../kernels/matmul.js';
import { sumAbs, sumSquares } from '../kernels/reduce.js';
import type { DenseLayerSpec } from '../spec.js';
import { GrowableBuffer, type DType, type FloatArray } from '../tensor.js';
import type { ForwardContext, Layer, ParamSpec, ParamView } from './layer.js';

/** Keras Dense: y = activation(x @ kernel + bias), kernel stored [inputUnits, units]. */
export class Dense implements Layer {
  readonly inputShape: number[];
  readonly outputShape: number[];
  readonly inSize: number;
  readonly outSize: number;
  readonly outputActivation: ActivationName;
  needsInputGrad = true;

  private readonly activation: Activation;
  private readonly useBias: boolean;
  private readonly l1: number;
  private readonly l2: number;
  private kernel!: FloatArray;
  private bias: FloatArray | null = null;
  private dKernel!: FloatArray;
  private dBias: FloatArray | null = null;
  // Saved by forward for backward: the input, the pre-activation z and the output a.
  private x: FloatArray | null = null;
  private z: FloatArray | null = null;
  private a: FloatArray | null = null;
  private readonly zBuffer: GrowableBuffer;
  private readonly aBuffer: GrowableBuffer;
  private readonly dzBuffer: GrowableBuffer;
  private readonly dxBuffer: GrowableBuffer;

  constructor(
    readonly spec: DenseLayerSpec,
    inputShape: number[],
    dtype: DType,
  ) {
    this.inputShape = inputShape;
    this.inSize = inputShape[0]!;
    this.outSize = spec.units;
    this.outputShape = [spec.units];
    this.outputActivation = spec.activation ?? 'linear';
    this.activation = getActivation(this.outputActivation);
    this.useBias = spec.useBias ?? true;
    this.l1 = spec.kernelRegularizer?.l1 ?? 0;
    this.l2 = spec.kernelRegularizer?.l2 ?? 0;
    this.zBuffer = new GrowableBuffer(dtype);
    this.aBuffer = new GrowableBuffer(dtype);
    this.dzBuffer = new GrowableBuffer(dtype);
    this.dxBuffer = new GrowableBuffer(dtype);
  }

  params(): ParamSpec[] {
    const fanIn = this.inSize;
    const fanOut = this.outSize;
    const specs: ParamSpec[] = [
      {
        name: 'kernel',
        shape: [fanIn, fanOut],
        trainable: true,
        initializer: this.spec.kernelInitializer ?? 'glorot_uniform',
        fanIn,
        fanOut,
      },
    ];
    if (this.useBias) {
      specs.push({ name: 'bias', shape: [fanOut], trainable: true, initializer: this.spec.biasInitializer ?? 'zeros', fanIn, fanOut });
    }
    return specs;
  }

  bind(views: ParamView[]): void {
    this.kernel = views[0]!.value;
    this.dKernel = views[0]!.grad!;
    if (this.useBias) {
      this.bias = views[1]!.value;
      this.dBias = views[1]!.grad!;
    }
  }

  // x (B, in), kernel (in, units), bias (units) -> z (B, units) -> a = act(z) (B, units)
  forward(x: FloatArray, batch: number, _ctx: ForwardContext): FloatArray {
    const size = batch * this.outSize;
    const z = this.zBuffer.view(size);
    matmulBias(z, x, this.kernel, this.bias, batch, this.inSize, this.outSize);
    this.x = x;
    this.z = z;
    if (this.outputActivation === 'linear') {
      this.a = z;
      return z;
    }
    const a = this.aBuffer.view(size);
    this.activation.forward(a, z, batch, this.outSize);
    this.a = a;
    return a;
  }

  preActivation(): FloatArray | null {
    return this.z;
  }

  // da (B, units) -> dz (B, units); dkernel += x^T dz; dbias += sum(dz); dx = dz kernel^T (B, in)
  backward(dy: FloatArray, batch: number, dyIsPreActivation: boolean): FloatArray | null {
    let dz = dy;
    if (!dyIsPreActivation && this.outputActivation !== 'linear') {
      dz = this.dzBuffer.view(batch * this.outSize);
      this.activation.backward(dz, dy, this.z!, this.a!, batch, this.outSize);
    }
    matmulTransposeAAccumulate(this.dKernel, this.x!, dz, batch, this.inSize, this.outSize);
    if (this.dBias) columnSumAccumulate(this.dBias, dz, batch, this.outSize);
    if (!this.needsInputGrad) return null;
    const dx = this.dxBuffer.view(batch * this.inSize);
    matmulTransposeB(dx, dz, this.kernel, batch, this.inSize, this.outSize);
    return dx;
  }

  regularization(accumulateGrad: boolean): number {
    if (this.l1 === 0 && this.l2 === 0) return 0;
    const w = this.kernel;
    const penalty = this.l1 * sumAbs(w) + this.l2 * sumSquares(w);
    if (accumulateGrad) {
      const g = this.dKernel;
      const l1 = this.l1;
      const twoL2 = 2 * this.l2;
      for (let i = 0; i < w.length; i++) {
        const v = w[i]!;
        g[i] += l1 * Math.sign(v) + twoL2 * v;
      }
    }
    return penalty;
  }
}
