/**
 * Tensors are flat typed arrays in row-major order. Training and serving use Float32Array; the
 * float64 variant exists so gradient checks can compare against finite differences without
 * drowning in float32 rounding.
 */
import { wasmRuntime } from './kernels/wasm/runtime.js';

export type FloatArray = Float32Array | Float64Array;
export type DType = 'float32' | 'float64';

export interface Tensor {
  data: FloatArray;
  shape: number[];
}

/** A zeroed buffer; float32 buffers live in the WebAssembly kernels' memory when available. */
export function allocate(dtype: DType, size: number): FloatArray {
  if (dtype === 'float64') return new Float64Array(size);
  return wasmRuntime()?.allocFloat32(size) ?? new Float32Array(size);
}

export function shapeSize(shape: readonly number[]): number {
  let size = 1;
  for (const dim of shape) size *= dim;
  return size;
}

/**
 * A buffer that grows to the largest batch seen and hands out views of exactly the requested
 * length, so batch loops never allocate once the first batch has run.
 */
export class GrowableBuffer {
  private storage: FloatArray;
  // Earlier storages stay referenced: views handed out before a growth must never see their
  // wasm block recycled under them (the pool frees a block when its array is collected).
  private readonly retired: FloatArray[] = [];
  constructor(private readonly dtype: DType) {
    this.storage = allocate(dtype, 0);
  }
  view(length: number): FloatArray {
    if (this.storage.length < length) {
      this.retired.push(this.storage);
      this.storage = allocate(this.dtype, length);
    }
    return this.storage.length === length ? this.storage : this.storage.subarray(0, length);
  }
}
