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
  /** Milliseconds a shutdown waits for running epochs to checkpoint before killing them. */
  shutdownGraceMs: number;
  requestTimeoutMs: number;
  /** Step progress is written to the job record at most this often. */
  progressIntervalMs: number;
  /** Attempts for a job whose worker crashed (not for user errors). */
  maxAttempts: number;
  onnxThreads: number;
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
    shutdownGraceMs: integer(env, 'SHUTDOWN_GRACE_MS', 25_000),
    requestTimeoutMs: integer(env, 'REQUEST_TIMEOUT_MS', 60_000, 1),
    progressIntervalMs: integer(env, 'PROGRESS_INTERVAL_MS', 500, 10),
    maxAttempts: integer(env, 'JOB_MAX_ATTEMPTS', 3, 1),
    onnxThreads: integer(env, 'ONNX_THREADS', 1, 1),
  };
}
