/** Kiln's training engine: TypeScript (and WebAssembly SIMD kernels) over typed arrays, no I/O. */
import { wasmRuntime } from './kernels/wasm/runtime.js';
export * from './spec.js';
export { Sequential, type ModelOptions, type WeightEntry } from './model.js';
export { Trainer, fit, evaluate, NonFiniteError, trainingSeed } from './fit.js';
export type { Dataset, FitHooks, FitResult, HistoryEntry, BatchProgress, TrainingState, StopReason } from './fit.js';
export {
  CHECKPOINT_FORMAT,
  CheckpointError,
  toCheckpoint,
  loadWeights,
  modelFromCheckpoint,
  encodeTrainingState,
  decodeTrainingState,
  type Checkpoint,
  type CheckpointWeight,
  type EncodedTrainingState,
} from './checkpoint.js';
export {
  validateModelSpec,
  validateTrainingConfig,
  validateTargets,
  summarizeModel,
  finalActivation,
  describeSchemaError,
  joinPath,
} from './validate.js';
export type { SpecIssue, ModelSummary, LayerSummary } from './validate.js';
export { accuracyKind } from './metrics.js';
export { estimateTrainingMemory, type MemoryEstimate } from './memory.js';
export { Rng } from './random.js';
export type { FloatArray, DType } from './tensor.js';

/** Threads the float32 matrix products may use (1 or 2); results do not depend on it. */
export function setKernelThreads(threads: number): void {
  wasmRuntime()?.setThreads(threads);
}
/**
 * The kernels in use in this process: WebAssembly SIMD with a fused multiply-add per step
 * (relaxed SIMD), WebAssembly SIMD with a multiply and an add, or the plain TypeScript loops.
 */
export function kernelBackend(): 'wasm-simd-fma' | 'wasm-simd' | 'typescript' {
  const rt = wasmRuntime();
  if (!rt) return 'typescript';
  return rt.fusedMultiplyAdd ? 'wasm-simd-fma' : 'wasm-simd';
}
export { useFusedMultiplyAdd } from './kernels/wasm/runtime.js';
