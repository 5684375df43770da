/**
 * Server-side limits, checked before anything is stored or queued. Each refusal names the field
 * and the limit (and the environment variable that raises it).
 */
import { estimateTrainingMemory, summarizeModel, type ModelSpec, type TrainingConfig } from '../../engine/index.js';
import type { Config } from '../../config.js';
import { Problem, type FieldIssue } from '../errors.js';

/** The settings (see config.ts and the README) the checks below enforce. */
export type Limits = Pick<
  Config,
  | 'maxDatasetRows'
  | 'maxFeatures'
  | 'maxParams'
  | 'maxEpochs'
  | 'maxBatchSize'
  | 'maxActiveJobsPerCaller'
  | 'maxTrainingSeconds'
  | 'memoryBudgetBytes'
>;

const limitProblem = (path: string, message: string): Problem =>
  new Problem(422, 'limit-exceeded', message, [{ path, message } satisfies FieldIssue]);

const MiB = 1024 * 1024;
const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

/** Rows and features of a dataset (uploads and inline job data). */
export function checkDatasetLimits(rows: number, features: number, limits: Limits, path: string): void {
  if (rows > limits.maxDatasetRows)
    throw limitProblem(path, `${path} has ${rows} rows; the limit is ${limits.maxDatasetRows} (MAX_DATASET_ROWS)`);
  if (features > limits.maxFeatures)
    throw limitProblem(path, `${path} has ${features} features per row; the limit is ${limits.maxFeatures} (MAX_FEATURES)`);
}

/**
 * Parameters of a structurally valid spec, counted from the shapes alone: building the layers
 * (as summarizeModel does) allocates per-channel buffers, which a hostile spec could make huge.
 */
export function countParams(model: ModelSpec): number {
  let shape = [...model.inputShape];
  let params = 0;
  for (const layer of model.layers) {
    if (layer.type === 'dense') {
      params += shape[0]! * layer.units + (layer.useBias === false ? 0 : layer.units);
      shape = [layer.units];
    } else if (layer.type === 'batch_normalization') {
      const channels = shape[shape.length - 1]!;
      params += channels * (2 + (layer.scale === false ? 0 : 1) + (layer.center === false ? 0 : 1));
    } else if (layer.type === 'flatten') {
      shape = [shape.reduce((a, b) => a * b, 1)];
    }
  }
  return params;
}

/** Input size and parameter count; call on a spec that passed validateModelSpec, before building it. */
export function checkModelLimits(model: ModelSpec, limits: Limits, path = 'model'): void {
  const features = model.inputShape.reduce((a, b) => a * b, 1);
  if (features > limits.maxFeatures)
    throw limitProblem(
      `${path}.inputShape`,
      `${path}.inputShape takes ${features} features; the limit is ${limits.maxFeatures} (MAX_FEATURES)`,
    );
  const counted = countParams(model);
  const params = counted <= limits.maxParams ? summarizeModel(model).params : counted;
  if (params > limits.maxParams) {
    throw limitProblem(`${path}.layers`, `the model has ${params} parameters; the limit is ${limits.maxParams} (MAX_PARAMS)`);
  }
}

export function checkTrainingLimits(training: TrainingConfig, limits: Limits): void {
  if (training.epochs > limits.maxEpochs)
    throw limitProblem('training.epochs', `training.epochs ${training.epochs} exceeds the limit of ${limits.maxEpochs} (MAX_EPOCHS)`);
  const batch = training.batchSize ?? 32;
  if (batch > limits.maxBatchSize)
    throw limitProblem('training.batchSize', `training.batchSize ${batch} exceeds the limit of ${limits.maxBatchSize} (MAX_BATCH_SIZE)`);
  const runtime = training.maxRuntimeSeconds;
  if (runtime !== undefined && runtime > limits.maxTrainingSeconds) {
    throw limitProblem(
      'training.maxRuntimeSeconds',
      `training.maxRuntimeSeconds ${runtime} exceeds the server's limit of ${limits.maxTrainingSeconds} (MAX_TRAINING_SECONDS)`,
    );
  }
}

export function checkMemory(model: ModelSpec, training: TrainingConfig, rows: number, targetWidth: number, limits: Limits): void {
  const e = estimateTrainingMemory(model, training, rows, targetWidth);
  if (e.totalBytes > limits.memoryBudgetBytes) {
    const message =
      `this job would need about ${mib(e.totalBytes)} (parameters ${mib(e.parametersBytes)}, optimizer state ${mib(e.optimizerBytes)}, ` +
      `batch activations ${mib(e.activationsBytes)}, dataset ${mib(e.datasetBytes)}), over the budget of ${mib(limits.memoryBudgetBytes)} (MEMORY_BUDGET_MB); ` +
      'use a smaller model, batch or dataset';
    throw limitProblem('model', message);
  }
}
