/**
 * All configuration comes from environment variables, read here and nowhere else, so the API
 * process and the training workers agree on it. Documented in the README's configuration table.
 */
import { resolve } from 'node:path';
import { availableParallelism } from 'node:os';

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  redisUrl: string | null;
  /** Training jobs run at once by this process (`0` = API only). */
  workerConcurrency: number;
  logLevel: string;
  prettyLogs: boolean;
  bodyLimit: number;
  jobsBodyLimit: number;
  datasetsBodyLimit: number;
  modelsBodyLimit: number;
  predictBodyLimit: number;
  predictMaxRows: number;
  /** PREDICT_BATCH_ROWS: most rows one engine forward pass gathers from concurrent predict requests; 0 = no batching. */
  predictBatchRows: number;
  /** Milliseconds a shutdown waits for running epochs to checkpoint before killing them. */
  shutdownGraceMs: number;
  requestTimeoutMs: number;
  /** Step progress is written to the job record at most this often. */
  progressIntervalMs: number;
  /** Attempts for a job whose worker crashed (not for user errors). */
  maxAttempts: number;
  onnxThreads: number;
  /** TRAINING_THREADS: threads one training job uses for its matrix products (1 or 2). */
  trainingThreads: number;
  /** PREDICT_THREADS: threads the API process's engine predictions use for large products (1 or 2). */
  predictThreads: number;
  /** KERNEL_FMA: fused multiply-adds in the matrix products where the runtime can run them (relaxed SIMD). */
  kernelFma: boolean;
  // Hardening (see README "Security and limits").
  /** API_KEYS: `name:key:scope` entries (scope predict, train or admin); unset = open service. */
  apiKeys: string | null;
  /** API_KEYS_FILE: a file with the same entries, one per line. */
  apiKeysFile: string | null;
  /** CORS_ORIGINS: comma-separated origins allowed to call the API from a browser (`*` = any). */
  corsOrigins: string[];
  /** RATE_LIMIT_PER_MINUTE: requests per caller per minute on /v1 (0 = off). */
  rateLimitPerMinute: number;
  /** JOBS_RATE_LIMIT_PER_MINUTE: job submissions per caller per minute. */
  jobsRateLimitPerMinute: number;
  /** MAX_EVENT_LOOP_DELAY_MS: beyond this the API sheds load with 503 (0 = off). */
  maxEventLoopDelayMs: number;
  maxDatasetRows: number;
  maxFeatures: number;
  maxParams: number;
  maxEpochs: number;
  maxBatchSize: number;
  /** MAX_ACTIVE_JOBS_PER_CALLER: queued + running jobs one key (or address) may have. */
  maxActiveJobsPerCaller: number;
  /** MAX_TRAINING_SECONDS: server-wide cap on a job's training time. */
  maxTrainingSeconds: number;
  /** MEMORY_BUDGET_MB: jobs estimated to need more are refused at submission. */
  memoryBudgetBytes: number;
  // Queue mode (REDIS_URL set); ignored by the embedded queue.
  /** REDIS_PREFIX: prefix of every Redis key Kiln writes, so instances can share one Redis. */
  redisPrefix: string;
  /** WORKER_NAME: how this process's BullMQ worker is named on jobs (default `<hostname>:<pid>`). */
  workerName: string | null;
  /** WORKER_LOCK_DURATION_MS: BullMQ job lock; a crashed worker's job is recovered after about this. */
  lockDurationMs: number;
  /** WORKER_STALLED_INTERVAL_MS: how often workers look for jobs whose worker died. */
  stalledIntervalMs: number;
  /** WORKER_MAX_STALLED_COUNT: worker crashes a job survives (it resumes from its checkpoint). */
  maxStalledCount: number;
  /** JOB_RETRY_BACKOFF_MS: first retry delay after an infrastructure failure (exponential, jittered). */
  retryBackoffMs: number;
  /** QUEUE_RECONCILE_INTERVAL_MS: how often the API re-checks job records against the queue (0 = at start and reconnects only). */
  reconcileIntervalMs: number;
}

const MiB = 1024 * 1024;

export class ConfigError extends Error {}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new ConfigError(`${name} must be an integer >= ${min} (got "${raw}")`);
  return value;
}

function flag(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === '1' || raw === 'true') return true;
  if (raw === '0' || raw === 'false') return false;
  throw new ConfigError(`${name} must be 1, 0, true or false (got "${raw}")`);
}

function prefix(env: NodeJS.ProcessEnv): string {
  const raw = env['REDIS_PREFIX'] || 'kiln';
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(raw))
    throw new ConfigError(`REDIS_PREFIX must be 1-64 letters, digits, "_", "." or "-" (got "${raw}")`);
  return raw;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const cores = availableParallelism();
  return {
    port: integer(env, 'PORT', 3000),
    host: env['HOST'] || '0.0.0.0',
    dataDir: resolve(env['DATA_DIR'] || './data'),
    redisUrl: env['REDIS_URL'] || null,
    // Training is CPU-bound and single-threaded per job: leave a core to the API when possible.
    workerConcurrency: integer(env, 'WORKER_CONCURRENCY', Math.max(1, cores - 1)),
    logLevel: env['LOG_LEVEL'] || 'info',
    prettyLogs: env['NODE_ENV'] === 'development',
    bodyLimit: integer(env, 'BODY_LIMIT', 1 * MiB, 1024),
    jobsBodyLimit: integer(env, 'JOBS_BODY_LIMIT', 16 * MiB, 1024),
    datasetsBodyLimit: integer(env, 'DATASETS_BODY_LIMIT', 64 * MiB, 1024),
    modelsBodyLimit: integer(env, 'MODELS_BODY_LIMIT', 64 * MiB, 1024),
    predictBodyLimit: integer(env, 'PREDICT_BODY_LIMIT', 4 * MiB, 1024),
    predictMaxRows: integer(env, 'PREDICT_MAX_ROWS', 4096, 1),
    predictBatchRows: integer(env, 'PREDICT_BATCH_ROWS', 256),
    shutdownGraceMs: integer(env, 'SHUTDOWN_GRACE_MS', 25_000),
    requestTimeoutMs: integer(env, 'REQUEST_TIMEOUT_MS', 60_000, 1),
    progressIntervalMs: integer(env, 'PROGRESS_INTERVAL_MS', 500, 10),
    maxAttempts: integer(env, 'JOB_MAX_ATTEMPTS', 3, 1),
    onnxThreads: integer(env, 'ONNX_THREADS', 1, 1),
    trainingThreads: integer(
      env,
      'TRAINING_THREADS',
      Math.max(1, Math.min(2, Math.floor(cores / Math.max(1, integer(env, 'WORKER_CONCURRENCY', 1))))),
      1,
    ),
    predictThreads: Math.min(2, integer(env, 'PREDICT_THREADS', 1, 1)),
    kernelFma: flag(env, 'KERNEL_FMA', true),
    apiKeys: env['API_KEYS'] || null,
    apiKeysFile: env['API_KEYS_FILE'] || null,
    corsOrigins: (env['CORS_ORIGINS'] || '')
      .split(',')
      .map((o) => o.trim())
      .filter(Boolean),
    rateLimitPerMinute: integer(env, 'RATE_LIMIT_PER_MINUTE', 1200),
    jobsRateLimitPerMinute: integer(env, 'JOBS_RATE_LIMIT_PER_MINUTE', 60),
    maxEventLoopDelayMs: integer(env, 'MAX_EVENT_LOOP_DELAY_MS', 1000),
    maxDatasetRows: integer(env, 'MAX_DATASET_ROWS', 1_000_000, 1),
    maxFeatures: integer(env, 'MAX_FEATURES', 65_536, 1),
    maxParams: integer(env, 'MAX_PARAMS', 20_000_000, 1),
    maxEpochs: integer(env, 'MAX_EPOCHS', 10_000, 1),
    maxBatchSize: integer(env, 'MAX_BATCH_SIZE', 65_536, 1),
    maxActiveJobsPerCaller: integer(env, 'MAX_ACTIVE_JOBS_PER_CALLER', 100, 1),
    maxTrainingSeconds: integer(env, 'MAX_TRAINING_SECONDS', 6 * 3600, 1),
    memoryBudgetBytes: integer(env, 'MEMORY_BUDGET_MB', 2048, 1) * MiB,
    redisPrefix: prefix(env),
    workerName: env['WORKER_NAME'] || null,
    lockDurationMs: integer(env, 'WORKER_LOCK_DURATION_MS', 30_000, 1_000),
    stalledIntervalMs: integer(env, 'WORKER_STALLED_INTERVAL_MS', 30_000, 500),
    maxStalledCount: integer(env, 'WORKER_MAX_STALLED_COUNT', 2),
    retryBackoffMs: integer(env, 'JOB_RETRY_BACKOFF_MS', 10_000),
    reconcileIntervalMs: integer(env, 'QUEUE_RECONCILE_INTERVAL_MS', 60_000),
  };
}
