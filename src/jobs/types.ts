import type { HistoryEntry, ModelSpec, TrainingConfig } from '../engine/index.js';

export const JOB_STATUSES = ['queued', 'running', 'completed', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const TERMINAL_STATUSES: readonly JobStatus[] = ['completed', 'failed', 'cancelled'];

export interface JobProgress {
  epoch: number;
  epochs: number;
  step: number;
  stepsPerEpoch: number;
}

export interface JobError {
  code: string;
  message: string;
}

/** What a job trains: everything a worker needs besides the dataset's bytes. */
export interface JobSpec {
  model: ModelSpec;
  /** The training config as submitted, with the seed fixed so every attempt is reproducible. */
  training: TrainingConfig & { seed: number };
  datasetId: string;
  validationDatasetId: string | null;
  initFrom: { model: string; version: number } | null;
}

/** Kiln's durable job record: the source of truth for status, whichever backend runs the job. */
export interface JobRecord {
  id: string;
  status: JobStatus;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  updatedAt: string;
  progress: JobProgress;
  history: HistoryEntry[];
  model: { name: string; version: number } | null;
  error: JobError | null;
  spec: JobSpec;
  attempts: number;
  cancelRequested: boolean;
  stopReason: string | null;
  /** Who submitted it: an API key's name (`key:<name>`) or, on an open server, the address. */
  owner: string;
}

/** Message of the queue: ids only. */
export interface TrainJobData {
  jobId: string;
  datasetId: string;
}
