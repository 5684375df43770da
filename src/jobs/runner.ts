/**
 * Runs one training job end to end, in whatever process the queue backend chose (an embedded
 * child process or a BullMQ sandboxed processor): load the dataset, build or resume the model,
 * train with a checkpoint every epoch, then publish the model version. The job record on disk
 * is updated as it goes; that record, not the queue, is the source of truth.
 */
import type { Logger } from 'pino';
import {
  NonFiniteError,
  Sequential,
  Trainer,
  decodeTrainingState,
  finalActivation,
  loadWeights,
  toCheckpoint,
  type Dataset as EngineDataset,
  type HistoryEntry,
} from '../engine/index.js';
import type { CheckpointStore } from '../store/checkpoints.js';
import { DatasetCorruptError, type DatasetStore } from '../store/datasets.js';
import type { JobStore } from '../store/jobs.js';
import { VersionCorruptError, type Classifier, type ModelRegistry, type OnnxInfo } from '../store/registry.js';
import type { JobRecord } from './types.js';

export interface OnnxPublisher {
  /** Exports and verifies; null when export is unavailable. Never throws for a bad model. */
  exportAndVerify(
    model: Sequential,
    meta: { name: string; version: number; jobId: string | null; loss: string | null; classes: number | null },
    rows: Float32Array | null,
    rowCount: number,
  ): Promise<{ bytes: Uint8Array; info: OnnxInfo } | null>;
}

export interface RunnerDeps {
  jobs: JobStore;
  datasets: DatasetStore;
  checkpoints: CheckpointStore;
  registry: ModelRegistry;
  log: Logger;
  progressIntervalMs: number;
  onnx?: OnnxPublisher | undefined;
  /** Server-wide cap on a job's training time (seconds); a job may ask for less. */
  maxTrainingSeconds?: number | undefined;
}

export interface RunControl {
  /** True once the process is shutting down: finish the epoch, checkpoint, hand the job back. */
  draining(): boolean;
  /** An extra, faster cancel signal (e.g. IPC or Redis) besides the cancel marker file. */
  cancelled?(): boolean;
}

export type RunOutcome = 'completed' | 'failed' | 'cancelled' | 'requeued' | 'skipped';

/** Errors that say the job itself cannot succeed: they fail once, never retried. */
export class JobUserError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const now = (): string => new Date().toISOString();

export function classifierOf(spec: Sequential['spec'], outputWidth: number): Classifier | null {
  const last = finalActivation(spec);
  if (last === 'softmax' && outputWidth > 1) return { kind: 'softmax', classes: outputWidth };
  if (last === 'sigmoid' && outputWidth === 1) return { kind: 'sigmoid', classes: 2 };
  return null;
}

/** The metrics a version is listed with: an epoch's logs without timing fields. */
export function finalMetrics(entry: HistoryEntry | undefined): Record<string, number> {
  if (!entry) return {};
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(entry)) {
    if (k !== 'epoch' && k !== 'samplesPerSecond' && k !== 'durationMs' && k !== 'learning_rate') out[k] = v;
  }
  return out;
}

export async function runTrainingJob(jobId: string, deps: RunnerDeps, control: RunControl): Promise<RunOutcome> {
  const { jobs, log } = deps;
  const record = await jobs.get(jobId);
  if (!record || record.status === 'completed' || record.status === 'failed' || record.status === 'cancelled') return 'skipped';
  if (await jobs.isCancelRequested(jobId)) {
    await finish(deps, jobId, 'cancelled', null);
    return 'cancelled';
  }
  await jobs.update(jobId, (r) => {
    r.status = 'running';
    r.startedAt ??= now();
    r.attempts += 1;
  });
  try {
    return await train(record, deps, control);
  } catch (error) {
    if (error instanceof NonFiniteError || error instanceof JobUserError) {
      const code = error instanceof NonFiniteError ? error.code : error.code;
      await finish(deps, jobId, 'failed', { code, message: error.message });
      return 'failed';
    }
    // Corrupt inputs do not heal by retrying: fail once, with the reason.
    if (error instanceof DatasetCorruptError || error instanceof VersionCorruptError) {
      log.error({ err: error, jobId }, 'training input is corrupt');
      const code = error instanceof DatasetCorruptError ? 'dataset_corrupt' : 'init_from_unavailable';
      await finish(deps, jobId, 'failed', { code, message: error.message });
      return 'failed';
    }
    const storage = storageProblem(error);
    if (storage) {
      // A full or read-only disk will not heal by retrying at once: fail clearly (best effort,
      // since the record lives on the same disk). Partial files were already removed.
      log.error({ err: error, jobId }, 'training stopped by a storage error');
      await finish(deps, jobId, 'failed', storage).catch((e: unknown) => log.error({ err: e, jobId }, 'could not record the failure'));
      return 'failed';
    }
    log.error({ err: error, jobId }, 'training attempt failed');
    throw error;
  }
}

async function train(record: JobRecord, deps: RunnerDeps, control: RunControl): Promise<RunOutcome> {
  const { jobs, datasets, checkpoints, registry, log } = deps;
  const jobId = record.id;
  const spec = record.spec;
  const data = await datasets.load(spec.datasetId);
  if (!data) throw new JobUserError('dataset_not_found', `dataset ${spec.datasetId} no longer exists`);
  const validation = spec.validationDatasetId ? await datasets.load(spec.validationDatasetId) : null;
  if (spec.validationDatasetId && !validation)
    throw new JobUserError('dataset_not_found', `dataset ${spec.validationDatasetId} no longer exists`);

  const model = new Sequential(spec.model, { seed: spec.training.seed });
  const saved = await checkpoints.load(jobId);
  let resume = undefined;
  if (saved?.training) {
    loadWeights(model, saved.weights);
    resume = decodeTrainingState(saved.training);
    log.info({ jobId, epoch: resume.epoch }, 'resuming from checkpoint');
  } else if (spec.initFrom) {
    const warm = await registry.checkpoint(spec.initFrom.model, spec.initFrom.version);
    if (!warm) throw new JobUserError('init_from_not_found', `initFrom ${spec.initFrom.model} v${spec.initFrom.version} no longer exists`);
    loadWeights(model, warm.weights);
  }
  const toEngine = (d: NonNullable<typeof data>): EngineDataset => ({ x: d.x, y: d.y, rows: d.meta.rows });
  const trainer = new Trainer(model, spec.training, toEngine(data), {
    ...(validation ? { validationData: toEngine(validation) } : {}),
    ...(resume ? { resume } : {}),
  });
  const epochs = trainer.epochs;
  const stepsPerEpoch = trainer.stepsPerEpoch;
  await jobs.update(jobId, (r) => {
    r.history = resume ? resume.history : [];
    r.progress = { epoch: trainer.completedEpochs, epochs, step: 0, stepsPerEpoch };
  });

  let userCancelled = false;
  let stopForDrain = false;
  let lastWrite = Date.now();
  // Training time counts across attempts: the epochs already done plus this attempt's time.
  const limits = [spec.training.maxRuntimeSeconds, deps.maxTrainingSeconds].filter((s): s is number => s !== undefined && s > 0);
  const limitMs = limits.length > 0 ? Math.min(...limits) * 1000 : Infinity;
  const priorMs = (resume?.history ?? []).reduce((sum, e) => sum + e.durationMs, 0);
  const attemptStart = Date.now();
  let overRuntime = false;
  const result = await trainer.fit({
    shouldStop: () => {
      if (priorMs + (Date.now() - attemptStart) > limitMs) overRuntime = true;
      return overRuntime || userCancelled || stopForDrain || (control.cancelled?.() ?? false);
    },
    onBatchEnd: async (p) => {
      if (Date.now() - lastWrite < deps.progressIntervalMs) return;
      lastWrite = Date.now();
      if (await jobs.isCancelRequested(jobId)) userCancelled = true;
      await jobs.update(jobId, (r) => {
        r.progress = { epoch: p.epoch, epochs: p.epochs, step: p.step, stepsPerEpoch: p.stepsPerEpoch };
      });
    },
    onEpochEnd: async (entry, t) => {
      await checkpoints.save(jobId, toCheckpoint(model, t.snapshot()));
      await jobs.update(jobId, (r) => {
        r.history.push(entry);
        r.progress = { epoch: entry.epoch, epochs, step: stepsPerEpoch, stepsPerEpoch };
      });
      lastWrite = Date.now();
      if (await jobs.isCancelRequested(jobId)) userCancelled = true;
      if (control.draining()) stopForDrain = true;
    },
  });

  if (result.stopReason === 'cancelled') {
    if (overRuntime) {
      const message = `training stopped after ${Math.round((priorMs + Date.now() - attemptStart) / 1000)} s, past its limit of ${limitMs / 1000} s (training.maxRuntimeSeconds or the server's MAX_TRAINING_SECONDS); no model was registered`;
      await finish(deps, jobId, 'failed', { code: 'max_runtime_exceeded', message });
      return 'failed';
    }
    if (userCancelled || control.cancelled?.() || (await jobs.isCancelRequested(jobId))) {
      await finish(deps, jobId, 'cancelled', null);
      return 'cancelled';
    }
    // Shutdown: the last epoch is checkpointed; another run resumes from it.
    await jobs.update(jobId, (r) => {
      r.status = 'queued';
    });
    return 'requeued';
  }

  const rows = validation ?? data;
  const sampleRows = Math.min(rows.meta.rows, 64);
  const sample = rows.x.subarray(0, sampleRows * model.inputSize);
  const classifier = classifierOf(model.spec, model.outputSize);
  const { version } = await registry.publish(
    spec.model.name,
    jobId,
    toCheckpoint(model),
    {
      source: 'job',
      jobId,
      spec: spec.model,
      training: spec.training,
      history: result.history,
      metrics: finalMetrics(result.history[result.weightsEpoch - 1] ?? result.history[result.history.length - 1]),
      inputShape: model.inputShape,
      outputShape: model.outputShape,
      params: model.paramCount,
      classifier,
    },
    deps.onnx
      ? (version) =>
          deps.onnx!.exportAndVerify(
            model,
            { name: spec.model.name, version, jobId, loss: spec.training.loss, classes: classifier?.classes ?? null },
            sample,
            sampleRows,
          )
      : null,
  );
  await jobs.update(jobId, (r) => {
    r.status = 'completed';
    r.finishedAt = now();
    r.model = { name: spec.model.name, version };
    r.stopReason = result.stopReason;
    r.error = null;
  });
  await checkpoints.remove(jobId);
  await jobs.clearCancel(jobId);
  log.info({ jobId, model: spec.model.name, version }, 'job completed');
  return 'completed';
}

export async function finish(
  deps: Pick<RunnerDeps, 'jobs' | 'checkpoints'>,
  jobId: string,
  status: 'failed' | 'cancelled',
  error: { code: string; message: string } | null,
): Promise<void> {
  await deps.jobs.update(jobId, (r) => {
    r.status = status;
    r.finishedAt = now();
    r.error = error;
    if (status === 'cancelled') r.stopReason = 'cancelled';
  });
  await deps.checkpoints.remove(jobId);
  await deps.jobs.clearCancel(jobId);
}

/** Maps a full or read-only disk to a job error; null for anything else. */
export function storageProblem(error: unknown): { code: string; message: string } | null {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT')
    return { code: 'storage_full', message: 'the disk holding DATA_DIR is full; free space and submit the job again' };
  if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM')
    return { code: 'storage_not_writable', message: `DATA_DIR is not writable (${code}); fix its permissions and submit the job again` };
  return null;
}
