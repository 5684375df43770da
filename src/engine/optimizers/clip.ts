import { clampInPlace, scaleInPlace } from '../kernels/elementwise.js';
import { sumSquares } from '../kernels/reduce.js';
import type { FloatArray } from '../tensor.js';

/** A contiguous range of the gradient arena holding one weight tensor. */
export interface Segment {
  offset: number;
  size: number;
}

export interface ClipOptions {
  clipnorm?: number | undefined;
  clipvalue?: number | undefined;
  globalClipnorm?: number | undefined;
}

/**
 * Keras gradient clipping: clipnorm rescales each tensor to at most that L2 norm, globalClipnorm
 * rescales all of them jointly, clipvalue clamps each element. Returns the global norm before
 * clipping, for logs.
 */
export function clipGradients(grads: FloatArray, segments: readonly Segment[], options: ClipOptions): number {
  const globalNorm = Math.sqrt(sumSquares(grads));
  if (options.clipnorm !== undefined) {
    for (const { offset, size } of segments) {
      const norm = Math.sqrt(sumSquares(grads, offset, offset + size));
      if (norm > options.clipnorm) scaleInPlace(grads, options.clipnorm / norm, offset, offset + size);
    }
  }
  if (options.globalClipnorm !== undefined && globalNorm > options.globalClipnorm) {
    scaleInPlace(grads, options.globalClipnorm / globalNorm);
  }
  if (options.clipvalue !== undefined) clampInPlace(grads, options.clipvalue);
  return globalNorm;
}
