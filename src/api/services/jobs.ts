/**
 * Job submission: every check that can be made before training runs is made here, so a bad
 * request is a 4xx now rather than a failed job later. Then the data is stored as a dataset,
 * the record written, and the ids enqueued.
 */
import { randomInt } from 'node:crypto';
import { createLayer } from '../../engine/layers/index.js';
import {
  summarizeModel,
  validateModelSpec,
  validateTargets,
  validateTrainingConfig,
  type ModelSpec,
  type TrainingConfig,
} from '../../engine/index.js';
import type { JobQueue } from '../../jobs/queue.js';
import type { JobRecord } from '../../jobs/types.js';
import type { DatasetStore } from '../../store/datasets.js';
import { newId } from '../../store/ids.js';
import type { JobStore } from '../../store/jobs.js';
import type { ModelRegistry } from '../../store/registry.js';
import { issuesProblem, unprocessable } from '../errors.js';
import { toMatrix, toTargets } from './data.js';
import { checkDatasetLimits, checkMemory, checkModelLimits, checkTrainingLimits, type Limits } from './limits.js';
import { Problem } from '../errors.js';

export interface SubmitBody {
  model: unknown;
  training: unknown;
  data: { x: number[][]; y: number[] | number[][] } | { datasetId: string };
  validationData?: { x: number[][]; y: number[] | number[][] } | { datasetId: string } | undefined;
  initFrom?: { model: string; version: number } | undefined;
}

export interface JobServiceDeps {
  jobs: JobStore;
  datasets: DatasetStore;
  registry: ModelRegistry;
  queue: JobQueue;
  limits: Limits;
}

/** Shape signature of every weight, to compare architectures for warm starts. */
export function weightSignature(spec: ModelSpec): string[] {
  let shape = [...spec.inputShape];
  const out: string[] = [];
  spec.layers.forEach((layerSpec, i) => {
    const layer = createLayer(layerSpec, shape, 'float32');
    for (const p of layer.params()) out.push(`${i}:${p.name}[${p.shape.join(',')}]`);
    shape = layer.outputShape;
  });
  return out;
}

/** Semantic checks of a request that passed the JSON schema (or a friendlier replay when it did not). */
export function checkSpec(
  body: { model: unknown; training: unknown; validationData?: unknown },
  limits: Limits,
): {
  model: ModelSpec;
  training: TrainingConfig;
} {
  const modelIssues = validateModelSpec(body.model, 'model');
  if (modelIssues.length > 0) throw issuesProblem(modelIssues);
  const model = body.model as ModelSpec;
  // Size limits come before anything builds the model's layers (the training checks do).
  checkModelLimits(model, limits);
  const trainingIssues = validateTrainingConfig(body.training, model, 'training', body.validationData !== undefined);
  if (trainingIssues.length > 0) throw issuesProblem(trainingIssues);
  return { model, training: body.training as TrainingConfig };
}

export async function submitJob(body: SubmitBody, deps: JobServiceDeps, owner: string): Promise<JobRecord> {
  const { model, training } = checkSpec(body, deps.limits);
  checkTrainingLimits(training, deps.limits);
  const summary = summarizeModel(model);
  const features = summary.inputShape.reduce((a, b) => a * b, 1);
  const outputWidth = summary.outputShape.reduce((a, b) => a * b, 1);

  const resolveData = async (data: SubmitBody['data'], path: string) => {
    if ('datasetId' in data) {
      const dataset = await deps.datasets.load(data.datasetId);
      if (!dataset)
        throw unprocessable(`${path}.datasetId ${data.datasetId} does not exist`, [
          { path: `${path}.datasetId`, message: `${path}.datasetId does not exist` },
        ]);
      if (dataset.meta.features !== features) {
        const message = `${path}.datasetId has ${dataset.meta.features} features per row but model.inputShape [${model.inputShape}] takes ${features}`;
        throw unprocessable(message, [{ path: `${path}.datasetId`, message }]);
      }
      const issues = validateTargets(
        dataset.y,
        dataset.meta.rows,
        dataset.meta.targetWidth,
        training.loss,
        outputWidth,
        `${path}.datasetId (y)`,
      );
      if (issues.length > 0) throw issuesProblem(issues, 422);
      return { id: dataset.meta.id, rows: dataset.meta.rows, stored: null };
    }
    checkDatasetLimits(data.x.length, features, deps.limits, `${path}.x`);
    const x = toMatrix(data.x, features, `${path}.x`);
    const y = toTargets(data.y, x.rows, `${path}.y`);
    const issues = validateTargets(y.values, y.rows, y.width, training.loss, outputWidth, `${path}.y`);
    if (issues.length > 0) throw issuesProblem(issues, 422);
    return { id: null, rows: x.rows, stored: { x, y } };
  };

  const train = await resolveData(body.data, 'data');
  const validation = body.validationData ? await resolveData(body.validationData, 'validationData') : null;
  const split = training.validationSplit ?? 0;
  if (!validation && split > 0) {
    const trainRows = Math.floor(train.rows * (1 - split));
    if (trainRows < 1 || trainRows === train.rows) {
      const message = `training.validationSplit ${split} of ${train.rows} rows leaves ${trainRows} training and ${train.rows - trainRows} validation rows; both need at least one`;
      throw unprocessable(message, [{ path: 'training.validationSplit', message }]);
    }
  }

  const rowsInMemory = train.rows + (validation?.rows ?? 0);
  checkMemory(model, training, rowsInMemory, training.loss === 'sparse_categorical_crossentropy' ? 1 : outputWidth, deps.limits);

  // Queued + running jobs per caller: one script in a loop must not take the whole server.
  const active = (await deps.jobs.list({ limit: Number.MAX_SAFE_INTEGER, offset: 0 })).items.filter(
    (j) => j.owner === owner && (j.status === 'queued' || j.status === 'running'),
  ).length;
  if (active >= deps.limits.maxActiveJobsPerCaller) {
    throw new Problem(
      429,
      'too-many-jobs',
      `${active} of your jobs are queued or running; the limit is ${deps.limits.maxActiveJobsPerCaller} (MAX_ACTIVE_JOBS_PER_CALLER); wait for some to finish`,
      undefined,
      {
        'retry-after': '30',
      },
    );
  }

  if (body.initFrom) {
    const { model: name, version } = body.initFrom;
    const meta = await deps.registry.meta(name, version);
    if (!meta)
      throw unprocessable(`initFrom: model ${name} has no version ${version}`, [
        { path: 'initFrom', message: `initFrom ${name} v${version} does not exist` },
      ]);
    const from = weightSignature(meta.spec).join(' ');
    const to = weightSignature(model).join(' ');
    if (from !== to) {
      const message = `initFrom ${name} v${version} has a different architecture (weights ${from}) than this model (weights ${to})`;
      throw unprocessable(message, [{ path: 'initFrom', message }]);
    }
  }

  const store = async (resolved: Awaited<ReturnType<typeof resolveData>>): Promise<string> => {
    if (resolved.id) return resolved.id;
    const { x, y } = resolved.stored!;
    const meta = await deps.datasets.create(
      x.values,
      y.values,
      { rows: x.rows, features: x.width, targetWidth: y.width },
      { source: 'inline' },
    );
    return meta.id;
  };
  const datasetId = await store(train);
  const validationDatasetId = validation ? await store(validation) : null;

  const now = new Date().toISOString();
  const seed = training.seed ?? randomInt(0, 2 ** 31);
  const batchSize = training.batchSize ?? 32;
  const trainRows = validation ? train.rows : Math.floor(train.rows * (1 - split));
  const record: JobRecord = {
    id: newId('job'),
    status: 'queued',
    createdAt: now,
    startedAt: null,
    finishedAt: null,
    updatedAt: now,
    progress: { epoch: 0, epochs: training.epochs, step: 0, stepsPerEpoch: Math.ceil(trainRows / batchSize) },
    history: [],
    model: null,
    error: null,
    spec: { model, training: { ...training, seed }, datasetId, validationDatasetId, initFrom: body.initFrom ?? null },
    attempts: 0,
    cancelRequested: false,
    stopReason: null,
    owner,
  };
  await deps.jobs.put(record);
  await deps.queue.enqueue({ jobId: record.id, datasetId });
  return record;
}

export async function cancelJob(id: string, deps: JobServiceDeps): Promise<JobRecord | null> {
  const record = await deps.jobs.get(id);
  if (!record) return null;
  if (record.status === 'completed' || record.status === 'failed' || record.status === 'cancelled') return record;
  await deps.jobs.requestCancel(id);
  await deps.queue.cancel(id);
  if (record.status === 'queued') {
    return deps.jobs.update(id, (r) => {
      if (r.status !== 'queued') return false;
      r.status = 'cancelled';
      r.finishedAt = new Date().toISOString();
      r.cancelRequested = true;
      r.stopReason = 'cancelled';
    });
  }
  return { ...record, cancelRequested: true };
}
