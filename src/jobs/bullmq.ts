/**
 * Queue mode (REDIS_URL set): training jobs travel over BullMQ and any number of worker
 * processes, on this machine or others sharing DATA_DIR, train them. BullMQ delivers at least
 * once, so everything with a side effect is fenced here rather than trusted to the lock:
 *
 * - The job record on disk stays the source of truth; BullMQ only carries `{jobId, datasetId}`.
 *   The API reconciles the two (re-adds records Redis lost, fails records whose BullMQ job
 *   failed while nobody was listening).
 * - Each attempt takes a lease file (jobs/<id>.lease); the record, the checkpoints and the
 *   registry refuse writes from an attempt whose lease was taken over, so a stale attempt (lost
 *   lock, network partition) cannot write history twice or publish.
 * - Training runs in a sandboxed child process (workers/train.processor.ts), so the worker's
 *   event loop always renews its locks. Cancel, drain and lost-lock reach the child as the
 *   reason of the AbortSignal BullMQ hands it.
 */
import { randomUUID } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Queue, Worker, type Job, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { Problem } from '../api/errors.js';
import type { Config } from '../config.js';
import { writeFileAtomic } from '../store/atomic.js';
import { CheckpointStore } from '../store/checkpoints.js';
import { DatasetStore } from '../store/datasets.js';
import { JobStore } from '../store/jobs.js';
import { ModelRegistry } from '../store/registry.js';
import { childEntry } from './child-entry.js';
import type { JobQueue } from './queue.js';
import {
  CANCEL_TTL_SECONDS,
  QUEUE_NAME,
  STOP_REASONS,
  cancelChannel,
  cancelKey,
  closeConnection,
  pollingConnection,
  producerConnection,
  redactRedisUrl,
  subscriberConnection,
  throttled,
  workerConnectionOptions,
} from './redis.js';
import type { RunOutcome, RunnerDeps } from './runner.js';
import { TERMINAL_STATUSES, type JobRecord, type TrainJobData } from './types.js';

/** What the processor returns to BullMQ (the record on disk has the details). */
export interface TrainResult {
  outcome: RunOutcome;
}

/** Retention (BullMQ keeps finished jobs forever by default): Kiln's records are the history. */
export const RETENTION = {
  completed: { age: 24 * 3600, count: 1_000 },
  failed: { age: 7 * 24 * 3600, count: 5_000 },
} as const;

/** Per-job options: retries with exponential, jittered backoff for infrastructure failures. */
export function jobOptions(config: Pick<Config, 'maxAttempts' | 'retryBackoffMs'>): JobsOptions {
  return {
    attempts: config.maxAttempts,
    backoff: { type: 'exponential', delay: config.retryBackoffMs, jitter: 0.5 },
    removeOnComplete: RETENTION.completed,
    removeOnFail: RETENTION.failed,
    // The message is ids only; anything bigger is a bug (datasets never travel through Redis).
    sizeLimit: 4_096,
  };
}

const now = (): string => new Date().toISOString();
const sleep = (ms: number): Promise<'timeout'> => new Promise((resolve) => setTimeout(() => resolve('timeout'), ms).unref());
const CANCEL_POLL_MS = 1_000;
const isTerminal = (record: JobRecord): boolean => TERMINAL_STATUSES.includes(record.status);

function unavailable(detail: string): Problem {
  return new Problem(503, 'queue-unavailable', detail, undefined, { 'retry-after': '5' });
}

/** The error a record gets when BullMQ gave up on its job (retries or crash limit exhausted). */
function workerFailure(message: string, attempts: number): { code: string; message: string } {
  const crashed = /^Unexpected exit code|stalled more than allowable limit/.test(message);
  return {
    code: crashed ? 'worker_crashed' : 'worker_error',
    message: `training failed in the worker after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${message}`,
  };
}

// ---------------------------------------------------------------------------------------------
// Producer side (the API): enqueue, cancel, readiness, reconciliation.

export interface BullMqQueueOptions {
  config: Config;
  jobs: JobStore;
  log: Logger;
  /** In-process training workers (`WORKER_CONCURRENCY`; 0 = API only). */
  workers: number;
}

export class BullMqQueue implements JobQueue {
  readonly kind = 'bullmq' as const;
  private readonly producer: Redis;
  private queue: Queue<TrainJobData, TrainResult> | null = null;
  private creating: Promise<Queue<TrainJobData, TrainResult> | null> | null = null;
  private worker: TrainingWorker | null = null;
  private started = false;
  private closing = false;
  private reconcileTimer: NodeJS.Timeout | null = null;
  private reconciling: Promise<void> | null = null;

  constructor(private readonly options: BullMqQueueOptions) {
    const { config, log } = options;
    if (!config.redisUrl) throw new Error('BullMqQueue needs REDIS_URL');
    this.producer = producerConnection(config.redisUrl, `${config.redisPrefix}:api`);
    this.producer.on(
      'error',
      throttled(10_000, (error, repeats) => log.warn({ err: error.message, repeats }, 'Redis is unreachable; /readyz answers 503')),
    );
    this.producer.on('ready', () => {
      log.info({ redis: redactRedisUrl(config.redisUrl!) }, 'connected to Redis');
      if (this.started && !this.closing) void this.reconcile('reconnected');
    });
  }

  /** The BullMQ Queue, created once Redis has answered (BullMQ needs it online to initialise). */
  private async getQueue(): Promise<Queue<TrainJobData, TrainResult> | null> {
    if (this.queue) return this.queue;
    if (this.producer.status !== 'ready' || this.closing) return null;
    this.creating ??= (async () => {
      const { config, log } = this.options;
      const queue = new Queue<TrainJobData, TrainResult>(QUEUE_NAME, {
        connection: this.producer,
        prefix: config.redisPrefix,
        defaultJobOptions: jobOptions(config),
        streams: { events: { maxLen: 1_000 } },
      });
      queue.on(
        'error',
        throttled(10_000, (error) => log.warn({ err: error.message }, 'queue error')),
      );
      try {
        await queue.waitUntilReady();
        this.queue = queue;
        return queue;
      } catch (error) {
        log.warn({ err: error }, 'could not open the BullMQ queue; will retry');
        await queue.close().catch(() => undefined);
        return null;
      } finally {
        this.creating = null;
      }
    })();
    return this.creating;
  }

  async start(): Promise<void> {
    const { config, jobs, log, workers } = this.options;
    this.started = true;
    if (workers > 0) this.worker = new TrainingWorker({ config, jobs, log, concurrency: workers });
    void this.reconcile('start');
    if (config.reconcileIntervalMs > 0) {
      this.reconcileTimer = setInterval(() => void this.reconcile('interval'), config.reconcileIntervalMs);
      this.reconcileTimer.unref();
    }
  }

  async enqueue(data: TrainJobData): Promise<void> {
    if (this.closing) throw unavailable('the server is shutting down');
    const queue = await this.getQueue();
    if (!queue) return this.refuse(data.jobId, 'the job queue (Redis) is unreachable; retry shortly');
    try {
      await queue.add(QUEUE_NAME, data, { jobId: data.jobId });
    } catch (error) {
      this.options.log.error({ err: error, jobId: data.jobId }, 'could not enqueue a job');
      return this.refuse(data.jobId, 'the job queue (Redis) did not accept the job; retry shortly');
    }
  }

  /** A job that could not be queued is failed at once, so it never runs behind a 503. */
  private async refuse(jobId: string, detail: string): Promise<never> {
    await this.options.jobs.update(jobId, (r) => {
      if (r.status !== 'queued') return false;
      r.status = 'failed';
      r.finishedAt = now();
      r.error = { code: 'queue_unavailable', message: detail };
    });
    throw unavailable(detail);
  }

  async cancel(jobId: string): Promise<void> {
    // The cancel marker file (already written by the caller) works on its own; Redis makes it
    // faster and reaches workers that do not share the file system's caches.
    const { config, log } = this.options;
    const queue = await this.getQueue();
    if (!queue) {
      log.warn({ jobId }, 'Redis unreachable: the cancel reaches workers through the cancel marker only');
      return;
    }
    try {
      await this.producer
        .multi()
        .set(cancelKey(config.redisPrefix, jobId), '1', 'EX', CANCEL_TTL_SECONDS)
        .publish(cancelChannel(config.redisPrefix), jobId)
        .exec();
      // Waiting or delayed jobs are removed; an active job is locked (0) and stops by itself.
      await queue.remove(jobId);
    } catch (error) {
      log.warn({ err: error, jobId }, 'could not signal the cancel over Redis');
    }
  }

  async isReady(): Promise<boolean> {
    if (this.closing || this.producer.status !== 'ready') return false;
    if (!(await this.getQueue())) return false;
    try {
      return (await Promise.race([this.producer.ping(), sleep(1_000)])) === 'PONG';
    } catch {
      return false;
    }
  }

  /**
   * Makes the queue agree with the records: a queued or running record without a BullMQ job
   * (lost in a Redis restart, or never added) is added again — the job id makes that
   * idempotent — and a record whose BullMQ job failed for good is marked failed.
   */
  async reconcile(reason: string): Promise<void> {
    this.reconciling ??= this.reconcileOnce(reason)
      .catch((error: unknown) => this.options.log.warn({ err: error, reason }, 'reconciliation stopped early'))
      .finally(() => (this.reconciling = null));
    return this.reconciling;
  }

  private async reconcileOnce(reason: string): Promise<void> {
    const { jobs, log } = this.options;
    const queue = await this.getQueue();
    if (!queue) return;
    let readded = 0;
    let failed = 0;
    for (const id of (await jobs.ids()).sort()) {
      if (this.closing) return;
      const record = await jobs.get(id);
      if (!record || isTerminal(record)) continue;
      const state = await queue.getJobState(id);
      if (state === 'unknown') {
        await queue.add(QUEUE_NAME, { jobId: id, datasetId: record.spec.datasetId }, { jobId: id });
        readded++;
      } else if (state === 'failed') {
        const job = await queue.getJob(id);
        const error = workerFailure(job?.failedReason ?? 'unknown reason', job?.attemptsMade ?? record.attempts);
        await jobs.update(id, (r) => {
          if (isTerminal(r)) return false;
          r.status = 'failed';
          r.finishedAt = now();
          r.error = error;
        });
        failed++;
      }
    }
    if (readded > 0 || failed > 0) log.warn({ reason, readded, failed }, 'reconciled job records with the queue');
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.reconcileTimer) clearInterval(this.reconcileTimer);
    await this.worker?.close();
    await this.reconciling;
    if (this.queue) await Promise.race([this.queue.close().catch(() => undefined), sleep(2_000)]);
    await closeConnection(this.producer);
  }
}

// ---------------------------------------------------------------------------------------------
// Worker side: a BullMQ Worker whose processor runs in child processes.

export interface TrainingWorkerOptions {
  config: Config;
  jobs: JobStore;
  log: Logger;
  concurrency: number;
}

/** Environment of the sandboxed children: the parent's, plus the settings the runner reads. */
function childEnv(config: Config, name: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    DATA_DIR: config.dataDir,
    PROGRESS_INTERVAL_MS: String(config.progressIntervalMs),
    LOG_LEVEL: config.logLevel,
    ONNX_THREADS: String(config.onnxThreads),
    MAX_TRAINING_SECONDS: String(config.maxTrainingSeconds),
    WORKER_NAME: name,
    KILN_SANDBOX: '1',
  };
}

export class TrainingWorker {
  readonly name: string;
  readonly worker: Worker<TrainJobData, TrainResult>;
  private readonly subscriber: Redis;
  private readonly poller: Redis;
  private readonly log: Logger;
  /** Jobs this worker holds, with when they started (for cancel polling). */
  private readonly active = new Map<string, number>();
  private readonly pollTimer: NodeJS.Timeout;
  private closing: Promise<void> | null = null;

  constructor(private readonly options: TrainingWorkerOptions) {
    const { config, concurrency } = options;
    const url = config.redisUrl;
    if (!url) throw new Error('a training worker needs REDIS_URL');
    this.name = config.workerName ?? `${hostname()}:${process.pid}`;
    this.log = options.log.child({ worker: this.name });
    const entry = childEntry('../../workers/train.processor');
    this.worker = new Worker<TrainJobData, TrainResult>(QUEUE_NAME, entry.file, {
      connection: workerConnectionOptions(url, `${config.redisPrefix}:worker`),
      prefix: config.redisPrefix,
      name: this.name,
      concurrency,
      lockDuration: config.lockDurationMs,
      stalledInterval: config.stalledIntervalMs,
      maxStalledCount: config.maxStalledCount,
      removeOnComplete: RETENTION.completed,
      removeOnFail: RETENTION.failed,
      useWorkerThreads: false,
      workerForkOptions: { execArgv: [...entry.execArgv, '--max-old-space-size=2048'], env: childEnv(config, this.name) },
    });
    this.listen();

    this.subscriber = subscriberConnection(url, `${config.redisPrefix}:worker-cancel`);
    this.subscriber.on('error', () => undefined);
    this.subscriber.on('message', (_channel: string, jobId: string) => this.stop(jobId, STOP_REASONS.cancel));
    this.subscriber.subscribe(cancelChannel(config.redisPrefix)).catch(() => undefined);
    this.poller = pollingConnection(url, `${config.redisPrefix}:worker-poll`);
    this.poller.on('error', () => undefined);
    this.pollTimer = setInterval(() => void this.pollCancels(), CANCEL_POLL_MS);
    this.pollTimer.unref();
    this.log.info({ concurrency, processor: entry.file }, 'training worker started');
  }

  private listen(): void {
    const { worker, log } = this;
    worker.on(
      'error',
      throttled(10_000, (error, repeats) => log.warn({ err: error.message, repeats }, 'worker error (Redis unreachable?)')),
    );
    worker.on('active', (job) => {
      this.active.set(job.id!, Date.now());
      log.info({ jobId: job.id, attempt: job.attemptsStarted }, 'training job started');
    });
    worker.on('completed', (job, result) => {
      this.active.delete(job.id!);
      log.info({ jobId: job.id, outcome: result?.outcome }, 'training job done');
    });
    worker.on('failed', (job, error) => {
      if (!job) return;
      this.active.delete(job.id!);
      void this.settleFailure(job, error).catch((e: unknown) => log.error({ err: e, jobId: job.id }, 'could not record a failure'));
    });
    worker.on('stalled', (jobId) => log.warn({ jobId }, 'job stalled (its worker died); back in the queue'));
    worker.on('lockRenewalFailed', (jobIds) => {
      for (const jobId of jobIds) {
        log.warn({ jobId }, 'lost the lock of a running job; stopping that attempt');
        this.stop(jobId, STOP_REASONS.lockLost);
      }
    });
  }

  /** Signals a running job's sandbox; false when this worker does not hold the job. */
  private stop(jobId: string, reason: string): boolean {
    return this.worker.cancelJob(jobId, reason);
  }

  /** Catches cancels published while this worker was disconnected or not yet subscribed. */
  private async pollCancels(): Promise<void> {
    if (this.active.size === 0 || this.poller.status !== 'ready') return;
    const ids = [...this.active.keys()];
    try {
      const flags = await this.poller.mget(...ids.map((id) => cancelKey(this.options.config.redisPrefix, id)));
      ids.forEach((id, i) => {
        if (flags[i] === null) return;
        if (!this.stop(id, STOP_REASONS.cancel) && Date.now() - this.active.get(id)! > 10_000) this.active.delete(id);
      });
    } catch {
      // Redis is away; the cancel marker file still works, and the next poll retries.
    }
  }

  /** After BullMQ recorded a failed attempt: the record says queued (retry pending) or failed. */
  private async settleFailure(job: Job<TrainJobData, TrainResult>, error: Error): Promise<void> {
    const jobId = job.data?.jobId ?? job.id!;
    const state = await job.getState().catch(() => 'unknown');
    const final = state === 'failed';
    this.log.warn(
      { jobId, err: error.message, retry: !final },
      final ? 'training job failed for good' : 'training attempt failed; retrying',
    );
    await this.options.jobs.update(jobId, (r) => {
      if (isTerminal(r)) return false;
      if (final) {
        r.status = 'failed';
        r.finishedAt = now();
        r.error = workerFailure(error.message, job.attemptsMade);
      } else if (r.status === 'running') {
        r.status = 'queued';
      } else {
        return false;
      }
    });
  }

  /**
   * Graceful shutdown: stop taking jobs; running ones finish their epoch, checkpoint and go back
   * to the queue at once (not after a stall timeout); then the connections close. Bounded by
   * SHUTDOWN_GRACE_MS: past it, whatever still runs is recovered as stalled by another worker.
   */
  async close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.pollTimer);
      // Jobs fetched while closing starts get the same signal, hence the ticker.
      const drain = (): void => this.worker.cancelAllJobs(STOP_REASONS.drain);
      drain();
      const ticker = setInterval(drain, 250);
      const closed = this.worker.close().then(
        () => 'closed' as const,
        (error: unknown) => {
          this.log.error({ err: error }, 'the worker did not close cleanly');
          return 'closed' as const;
        },
      );
      const result = await Promise.race([closed, sleep(this.options.config.shutdownGraceMs)]);
      clearInterval(ticker);
      if (result === 'timeout') this.log.warn({ jobs: [...this.active.keys()] }, 'shutdown grace elapsed with jobs still running');
      else this.log.info('training worker closed');
      await Promise.all([closeConnection(this.subscriber), closeConnection(this.poller)]);
    })();
    return this.closing;
  }
}

// ---------------------------------------------------------------------------------------------
// Fencing, used by the sandboxed processor.

/** A write refused because this attempt no longer owns the job. */
export class FencedError extends Error {
  override readonly name = 'FencedError';
}

/**
 * The lease of one attempt on one job (jobs/<id>.lease, next to the record). Taking it is how an
 * attempt claims the job; every write checks it is still ours, so an attempt that another one
 * replaced stops at its next write instead of corrupting the record or the checkpoints.
 */
export class AttemptLease {
  readonly token = randomUUID();
  private revokedBecause: string | null = null;
  private readonly path: string;

  constructor(
    jobs: JobStore,
    jobId: string,
    private readonly owner: { worker: string; bullToken: string | null },
  ) {
    this.path = join(jobs.root, `${jobId}.lease`);
  }

  async take(): Promise<void> {
    await writeFileAtomic(this.path, JSON.stringify({ token: this.token, ...this.owner, pid: process.pid, at: now() }));
  }

  /** Stops all writes of this attempt (e.g. its worker lost the BullMQ lock). */
  revoke(reason: string): void {
    this.revokedBecause ??= reason;
  }

  get revoked(): boolean {
    return this.revokedBecause !== null;
  }

  async check(): Promise<void> {
    if (this.revokedBecause) throw new FencedError(`this attempt may no longer write: ${this.revokedBecause}`);
    const holder = await readLease(this.path);
    if (holder?.token !== this.token) {
      this.revoke(`the job was taken over by ${holder?.worker ?? 'another attempt'}`);
      throw new FencedError(`this attempt may no longer write: ${this.revokedBecause}`);
    }
  }

  /** Drops the lease once the job is finished (only if it is still ours). */
  async release(): Promise<void> {
    if ((await readLease(this.path))?.token === this.token) await rm(this.path, { force: true });
  }
}

async function readLease(path: string): Promise<{ token: string; worker: string } | null> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as { token: string; worker: string };
  } catch {
    return null;
  }
}

class FencedJobStore extends JobStore {
  constructor(
    dataDir: string,
    private readonly lease: AttemptLease,
  ) {
    super(dataDir);
  }
  override async put(record: JobRecord): Promise<void> {
    await this.lease.check();
    return super.put(record);
  }
  override async update(id: string, change: (record: JobRecord) => void | false): Promise<JobRecord | null> {
    await this.lease.check();
    return super.update(id, change);
  }
  override async clearCancel(id: string): Promise<void> {
    await this.lease.check();
    return super.clearCancel(id);
  }
}

class FencedCheckpointStore extends CheckpointStore {
  constructor(
    dataDir: string,
    private readonly lease: AttemptLease,
  ) {
    super(dataDir);
  }
  override async save(...args: Parameters<CheckpointStore['save']>): Promise<void> {
    await this.lease.check();
    return super.save(...args);
  }
  override async remove(jobId: string): Promise<void> {
    await this.lease.check();
    return super.remove(jobId);
  }
}

class FencedRegistry extends ModelRegistry {
  constructor(
    dataDir: string,
    private readonly lease: AttemptLease,
  ) {
    super(dataDir);
  }
  override async publish(...args: Parameters<ModelRegistry['publish']>): ReturnType<ModelRegistry['publish']> {
    await this.lease.check();
    return super.publish(...args);
  }
}

/** Runner dependencies whose every write first checks the attempt's lease. */
export function fencedRunnerDeps(
  dataDir: string,
  lease: AttemptLease,
  rest: Pick<RunnerDeps, 'log' | 'progressIntervalMs' | 'onnx' | 'maxTrainingSeconds'>,
): RunnerDeps {
  return {
    ...rest,
    jobs: new FencedJobStore(dataDir, lease),
    datasets: new DatasetStore(dataDir),
    checkpoints: new FencedCheckpointStore(dataDir, lease),
    registry: new FencedRegistry(dataDir, lease),
  };
}
