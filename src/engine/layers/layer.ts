import type { ActivationName } from '../activations.js';
import type { InitializerName } from '../initializers.js';
import type { Rng } from '../random.js';
import type { LayerSpec } from '../spec.js';
import type { FloatArray } from '../tensor.js';

/** A weight a layer owns, in checkpoint order; Keras names (kernel, bias, gamma, moving_mean…). */
export interface ParamSpec {
  name: string;
  shape: number[];
  trainable: boolean;
  initializer: InitializerName;
  fanIn: number;
  fanOut: number;
}

/** Views into the model's flat arenas; grad is null for non-trainable weights. */
export interface ParamView {
  value: FloatArray;
  grad: FloatArray | null;
}

export interface ForwardContext {
  training: boolean;
  rng: Rng;
}

export interface Layer {
  readonly spec: LayerSpec;
  /** Per-row shapes, without the batch axis. */
  readonly inputShape: number[];
  readonly outputShape: number[];
  readonly inSize: number;
  readonly outSize: number;
  /** The activation applied last, so the model can fuse softmax/sigmoid with cross-entropy. */
  readonly outputActivation: ActivationName | null;
  /** False for layers whose input gradient nobody needs (nothing trainable before them). */
  needsInputGrad: boolean;
  params(): ParamSpec[];
  bind(views: ParamView[]): void;
  /** Returns a layer-owned buffer of batch × outSize, valid until the next forward. */
  forward(x: FloatArray, batch: number, ctx: ForwardContext): FloatArray;
  /** The input to the final activation, saved by the last forward (for fused losses). */
  preActivation(): FloatArray | null;
  /**
   * Accumulates parameter gradients and returns dL/dx (layer-owned) or null when not needed.
   * With `dyIsPreActivation` the caller already folded the output activation into dy.
   */
  backward(dy: FloatArray, batch: number, dyIsPreActivation: boolean): FloatArray | null;
  /** Regularization penalty added to the loss; when `accumulateGrad`, adds its gradient too. */
  regularization(accumulateGrad: boolean): number;
}
