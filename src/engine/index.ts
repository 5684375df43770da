/** Kiln's training engine: pure TypeScript over typed arrays, no I/O. */
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
export { Rng } from './random.js';
export type { FloatArray, DType } from './tensor.js';
