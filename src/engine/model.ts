/**
 * Sequential model over a flat parameter arena (llm.c style): every trainable weight is a view
 * into one `params` array mirrored by `grads`, so the optimizer step is a single loop and a
 * checkpoint is the arena plus a manifest. Non-trainable weights (moving statistics) live in
 * their own `state` arena.
 */
import { initialize } from './initializers.js';
import { zeroFill } from './kernels/elementwise.js';
import { createLayer, type Layer, type ParamView } from './layers/index.js';
import type { Segment } from './optimizers/index.js';
import { Rng } from './random.js';
import type { ModelSpec } from './spec.js';
import { GrowableBuffer, allocate, shapeSize, type DType, type FloatArray } from './tensor.js';

/** Inference never draws from it (dropout is off): one shared instance, not one per call. */
const INFERENCE_RNG = new Rng(0);

export interface WeightEntry {
  layer: number;
  name: string;
  shape: number[];
  size: number;
  trainable: boolean;
  /** Offset in `params` (trainable) or `state` (non-trainable). */
  offset: number;
}

export interface ModelOptions {
  /** Seed for the initializers. */
  seed?: number;
  dtype?: DType;
}

export class Sequential {
  readonly spec: ModelSpec;
  readonly dtype: DType;
  readonly layers: Layer[];
  readonly weights: WeightEntry[];
  readonly params: FloatArray;
  readonly grads: FloatArray;
  readonly state: FloatArray;
  /** Trainable tensors as ranges of `grads`, for per-tensor gradient clipping. */
  readonly segments: Segment[];
  readonly inputShape: number[];
  readonly outputShape: number[];
  readonly inputSize: number;
  readonly outputSize: number;
  private readonly batchInput: GrowableBuffer;
  private readonly gatherInput: GrowableBuffer;

  constructor(spec: ModelSpec, options: ModelOptions = {}) {
    this.spec = spec;
    this.dtype = options.dtype ?? 'float32';
    this.inputShape = [...spec.inputShape];
    this.layers = [];
    let shape = this.inputShape;
    for (const layerSpec of spec.layers) {
      const layer = createLayer(layerSpec, shape, this.dtype);
      this.layers.push(layer);
      shape = layer.outputShape;
    }
    this.outputShape = shape;
    this.inputSize = shapeSize(this.inputShape);
    this.outputSize = shapeSize(this.outputShape);

    // Layout: walk the layers in order, trainable weights into params, the rest into state.
    this.weights = [];
    let trainableSize = 0;
    let stateSize = 0;
    const perLayer = this.layers.map((layer) => layer.params());
    perLayer.forEach((specs, layerIndex) => {
      for (const p of specs) {
        const size = shapeSize(p.shape);
        const offset = p.trainable ? trainableSize : stateSize;
        if (p.trainable) trainableSize += size;
        else stateSize += size;
        this.weights.push({ layer: layerIndex, name: p.name, shape: p.shape, size, trainable: p.trainable, offset });
      }
    });
    this.params = allocate(this.dtype, trainableSize);
    this.grads = allocate(this.dtype, trainableSize);
    this.state = allocate(this.dtype, stateSize);
    this.segments = this.weights.filter((w) => w.trainable).map((w) => ({ offset: w.offset, size: w.size }));

    const rng = new Rng(options.seed ?? 0);
    let cursor = 0;
    let seenTrainable = false;
    this.layers.forEach((layer, layerIndex) => {
      const views: ParamView[] = [];
      for (const p of perLayer[layerIndex]!) {
        const entry = this.weights[cursor++]!;
        const value = this.view(entry);
        initialize(value, p.initializer, p.fanIn, p.fanOut, rng);
        views.push({ value, grad: entry.trainable ? this.grads.subarray(entry.offset, entry.offset + entry.size) : null });
      }
      layer.bind(views);
      // Only layers after the first trainable one need to pass gradients back to their input.
      layer.needsInputGrad = seenTrainable;
      if (perLayer[layerIndex]!.some((p) => p.trainable)) seenTrainable = true;
    });
    this.batchInput = new GrowableBuffer(this.dtype);
    this.gatherInput = new GrowableBuffer(this.dtype);
  }

  /** The values of one weight tensor, as a view into its arena. */
  view(entry: WeightEntry): FloatArray {
    const arena = entry.trainable ? this.params : this.state;
    return arena.subarray(entry.offset, entry.offset + entry.size);
  }

  get trainableParamCount(): number {
    return this.params.length;
  }

  get paramCount(): number {
    return this.params.length + this.state.length;
  }

  zeroGrad(): void {
    zeroFill(this.grads);
  }

  // x (B, inputSize) -> y (B, outputSize), a buffer owned by the last layer
  forward(x: FloatArray, batch: number, training: boolean, rng: Rng): FloatArray {
    let h = x;
    const ctx = { training, rng };
    for (const layer of this.layers) h = layer.forward(h, batch, ctx);
    return h;
  }

  /**
   * Backpropagates dL/dy through the layers in reverse, accumulating into `grads`. With
   * `dyIsPreActivation`, dy is already the gradient at the last layer's pre-activation.
   */
  backward(dy: FloatArray, batch: number, dyIsPreActivation: boolean): void {
    let g: FloatArray | null = dy;
    let fused = dyIsPreActivation;
    for (let i = this.layers.length - 1; i >= 0 && g; i--) {
      g = this.layers[i]!.backward(g, batch, fused);
      fused = false;
    }
  }

  /** Sum of the layers' regularization penalties; adds their gradients when asked. */
  regularization(accumulateGrad: boolean): number {
    let total = 0;
    for (const layer of this.layers) total += layer.regularization(accumulateGrad);
    return total;
  }

  /** Inference in batches; returns (rows, outputSize). */
  predict(x: FloatArray, rows: number, batchSize = 256): FloatArray {
    // The result goes back to the caller, not to a kernel: a plain array, not wasm memory.
    const out = this.dtype === 'float64' ? new Float64Array(rows * this.outputSize) : new Float32Array(rows * this.outputSize);
    for (let start = 0; start < rows; start += batchSize) {
      const count = Math.min(batchSize, rows - start);
      const input = this.toDType(x.subarray(start * this.inputSize, (start + count) * this.inputSize), count);
      const y = this.forward(input, count, false, INFERENCE_RNG);
      out.set(y.subarray(0, count * this.outputSize), start * this.outputSize);
    }
    return out;
  }

  /**
   * A reusable buffer for `rows` input rows, in the model's dtype and in kernel memory where the
   * kernels have one, for callers that gather rows from several places (server-side batching):
   * predict reads it in place, with no conversion or copy. Its contents are only valid until the
   * next call.
   */
  inputRows(rows: number): FloatArray {
    return this.gatherInput.view(rows * this.inputSize);
  }

  /** The model's own dtype view of input rows (a copy only when the dtypes differ). */
  private toDType(x: FloatArray, count: number): FloatArray {
    if ((this.dtype === 'float32') === x instanceof Float32Array) return x;
    const buffer = this.batchInput.view(count * this.inputSize);
    buffer.set(x);
    return buffer;
  }
}
