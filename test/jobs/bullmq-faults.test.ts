/**
 * Queue mode under faults, with real processes: the API (no in-process workers) and
 * `workers/worker.ts` processes on a private redis-server, sharing one DATA_DIR.
 *
 * - the training child killed (as by the OOM killer): BullMQ retries after a backoff (1 s here)
 *   and the retry resumes from the checkpoint;
 * - a worker killed with SIGKILL mid-epoch: stalled-job recovery hands the job to another
 *   worker, which resumes from the checkpoint (lock and stall check lowered to 3 s / 1 s here so
 *   recovery takes seconds, not the production 30–60 s);
 * - two workers share the work, each job runs once;
 * - Redis stops and restarts (AOF) mid-training: /readyz goes 503 then 200, the job completes once;
 * - SIGTERM on a worker: the job is checkpointed and handed back at once (default 30 s locks
 *   here, so a hand-over within 10 s cannot be stall recovery).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { decodeTrainingState } from '../../src/engine/index.js';
import { CheckpointStore } from '../../src/store/checkpoints.js';
import { loadConfig } from '../../src/config.js';
import { QUEUE_NAME } from '../../src/jobs/redis.js';
import { redisServerAvailable, startTestRedis, type TestRedis } from '../helpers/redis.js';
import {
  alive,
  bandedDigits,
  epochs,
  finished,
  getJob,
  leaseOf,
  mlpJob,
  range,
  startWorker,
  TEST_ENV,
  stopWorker,
  submit,
  uploadDataset,
  versionsOf,
  waitFor,
  waitForJob,
  type WorkerProcess,
} from './helpers.js';

const PREFIX = 'kilnfault';
const FAST_STALL = { WORKER_LOCK_DURATION_MS: '3000', WORKER_STALLED_INTERVAL_MS: '1000' };

describe.skipIf(!redisServerAvailable())('queue mode under faults (BullMQ)', () => {
  let redis: TestRedis;
  let dataDir: string;
  let app: FastifyInstance;
  let queue: Queue;

  /**
   * The BullMQ job once BullMQ has finished it: its bookkeeping (attemptsMade, finishedOn) is
   * written after the processor returns, i.e. just after Kiln's record says completed.
   */
  const finishedInBull = (id: string) =>
    waitFor('BullMQ to finish the job', async () => {
      const bull = await queue.getJob(id);
      return bull?.finishedOn ? bull : undefined;
    });
  let datasetId: string;
  const workers: WorkerProcess[] = [];

  const spawnWorker = async (name: string, env: Record<string, string> = {}) => {
    const worker = await startWorker(name, {
      REDIS_URL: redis.url,
      REDIS_PREFIX: PREFIX,
      DATA_DIR: dataDir,
      PROGRESS_INTERVAL_MS: '50',
      ...env,
    });
    workers.push(worker);
    return worker;
  };

  beforeAll(async () => {
    redis = await startTestRedis();
    dataDir = await mkdtemp(join(tmpdir(), 'kiln-faults-'));
    const config = {
      ...loadConfig(TEST_ENV),
      dataDir,
      redisUrl: redis.url,
      redisPrefix: PREFIX,
      workerConcurrency: 0,
      logLevel: 'warn',
      retryBackoffMs: 1_000,
    };
    app = await buildApp(config, { logger: false });
    await app.ready();
    queue = new Queue(QUEUE_NAME, { connection: { url: redis.url }, prefix: PREFIX });
    queue.on('error', () => undefined); // the Redis restart test stops the server under it
    datasetId = await uploadDataset(app, bandedDigits(1000, 9));
  });

  afterEach(async (context) => {
    const stopped = workers.splice(0);
    await Promise.all(stopped.map((w) => stopWorker(w)));
    // Worker logs only matter when something went wrong (or when asked for).
    if (context.task.result?.state === 'fail' || process.env['KILN_TEST_WORKER_LOGS'])
      for (const w of stopped) console.info(`--- worker ${w.name} ---\n${w.output()}`);
  });

  afterAll(async () => {
    await app?.close();
    await queue?.close();
    await redis?.destroy();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  /** The job ran each epoch once, ended completed, and registered exactly one version. */
  const expectCompletedOnce = async (id: string, name: string, total: number) => {
    const done = await finished(app, id);
    expect(done.status, JSON.stringify(done.error)).toBe('completed');
    expect(epochs(done)).toEqual(range(total));
    expect(done.model).toEqual({ name, version: 1 });
    expect(await versionsOf(app, name)).toEqual([1]);
    // The attempt drops its lease right after it has written the final record.
    await waitFor('the lease to be released', async () => ((await leaseOf(dataDir, id)) === null ? true : undefined), 10_000);
    return done;
  };

  it('recovers a job whose worker was killed with SIGKILL: another worker resumes it from the checkpoint', async () => {
    const first = await spawnWorker('w-killed', FAST_STALL);
    // Wide layers keep epochs long enough to kill the worker mid-job with the SIMD kernels.
    const job = await submit(app, mlpJob('crash', datasetId, 12, {}, 1024));
    const lease = await waitFor('w-killed to take the job', () => leaseOf(dataDir, job.id).then((l) => l ?? undefined), 30_000);
    expect(lease.worker).toBe('w-killed');
    await spawnWorker('w-rescuer', FAST_STALL);

    const atKill = await waitForJob(app, job.id, (j) => j.history.length >= 3, 'epoch 3');
    first.child.kill('SIGKILL');
    await first.exited;
    // The orphaned training child notices its parent is gone and stops; it must not train on.
    await waitFor('the orphaned training process to exit', async () => (alive(lease.pid) ? undefined : true), 10_000);

    // At most the epoch in progress was lost: the last checkpoint is no older than what the
    // record showed when the worker died, and that is where the rescuer resumes.
    const saved = await new CheckpointStore(dataDir).load(job.id);
    expect(decodeTrainingState(saved!.training!).epoch).toBeGreaterThanOrEqual(atKill.history.length);
    await waitFor(
      'the job to resume on the other worker',
      async () => ((await leaseOf(dataDir, job.id))?.worker === 'w-rescuer' ? true : undefined),
      30_000,
    );

    const done = await expectCompletedOnce(job.id, 'crash', 12);
    expect(done.attempts).toBe(2);
    expect((await queue.getJob(job.id))?.processedBy).toBe('w-rescuer');
  });

  it('retries with backoff when the training process dies (an infrastructure failure), resuming from the checkpoint', async () => {
    await spawnWorker('w-oom');
    const job = await submit(app, mlpJob('oom', datasetId, 8));
    await waitForJob(app, job.id, (j) => j.history.length >= 2, 'epoch 2');
    const lease = (await leaseOf(dataDir, job.id))!;
    // As the kernel's OOM killer would: only the sandboxed child dies; its worker lives on.
    process.kill(lease.pid, 'SIGKILL');
    const done = await expectCompletedOnce(job.id, 'oom', 8);
    expect(done.attempts).toBe(2);
    const bull = await finishedInBull(job.id);
    expect(bull?.attemptsMade).toBe(2); // one failed attempt, one that completed
    expect(bull?.processedBy).toBe('w-oom');
  });

  it('shares jobs between two workers; each job runs once', async () => {
    await Promise.all([spawnWorker('w-a'), spawnWorker('w-b')]);
    const names = ['share-1', 'share-2', 'share-3', 'share-4'];
    const jobs = [];
    for (const name of names) jobs.push(await submit(app, mlpJob(name, datasetId, 3)));
    const ranBy = new Set<string>();
    for (const [i, job] of jobs.entries()) {
      const done = await expectCompletedOnce(job.id, names[i]!, 3);
      expect(done.attempts).toBe(1);
      const bull = await finishedInBull(job.id);
      expect(await bull?.getState()).toBe('completed');
      expect(bull?.attemptsStarted).toBe(1);
      ranBy.add(bull!.processedBy!);
    }
    expect([...ranBy].sort()).toEqual(['w-a', 'w-b']);
  });

  it('survives a Redis restart mid-training: /readyz 503 then 200, the job completes once', async () => {
    await spawnWorker('w-outage');
    const job = await submit(app, mlpJob('outage', datasetId, 10, {}, 1024));
    await waitForJob(app, job.id, (j) => j.history.length >= 2, 'epoch 2');

    await redis.stop();
    await waitFor(
      '/readyz 503',
      async () => ((await app.inject({ method: 'GET', url: '/readyz' })).statusCode === 503 ? true : undefined),
      5_000,
    );
    // Submissions fail fast (no hang) and are not left behind to run later.
    const started = Date.now();
    const refused = await app.inject({ method: 'POST', url: '/v1/jobs', payload: mlpJob('refused', datasetId, 1) });
    expect(refused.statusCode, refused.body).toBe(503);
    expect(refused.headers['retry-after']).toBe('5');
    expect(Date.now() - started).toBeLessThan(2_000);
    await new Promise((r) => setTimeout(r, 1_500));

    await redis.start();
    await waitFor(
      '/readyz 200',
      async () => ((await app.inject({ method: 'GET', url: '/readyz' })).statusCode === 200 ? true : undefined),
      20_000,
    );

    const done = await expectCompletedOnce(job.id, 'outage', 10);
    expect(done.attempts).toBe(1);
    await waitFor(
      'BullMQ to record the completion',
      async () => ((await queue.getJobState(job.id)) === 'completed' ? true : undefined),
      30_000,
    );

    // The worker carries on with new work after the outage.
    const after = await submit(app, mlpJob('after-outage', datasetId, 1));
    await expectCompletedOnce(after.id, 'after-outage', 1);
    const listed = (await app.inject({ method: 'GET', url: '/v1/jobs?status=failed' })).json() as { items: { error: { code: string } }[] };
    expect(listed.items.map((j) => j.error.code)).toEqual(['queue_unavailable']);
    expect(await versionsOf(app, 'refused')).toEqual([]);
  });

  it('hands a job back on SIGTERM: another worker resumes it without waiting for a stall timeout', async () => {
    await Promise.all([spawnWorker('w-one'), spawnWorker('w-two')]);
    const job = await submit(app, mlpJob('handoff', datasetId, 12, {}, 1024));
    await waitForJob(app, job.id, (j) => j.history.length >= 2, 'epoch 2');
    const holder = (await leaseOf(dataDir, job.id))!.worker;
    const leaving = workers.find((w) => w.name === holder)!;
    const other = workers.find((w) => w.name !== holder)!;

    const signalled = Date.now();
    leaving.child.kill('SIGTERM');
    const resumed = await waitFor(
      'the other worker to resume the job',
      async () => {
        const lease = await leaseOf(dataDir, job.id);
        if (lease?.worker !== other.name) return undefined;
        const record = await getJob(app, job.id);
        return record.status === 'running' ? record : undefined;
      },
      20_000,
      25,
    );
    const handOverMs = Date.now() - signalled;
    console.info(`SIGTERM hand-over took ${handOverMs} ms`);
    // Locks are 30 s here: stall recovery could not have done this.
    expect(handOverMs).toBeLessThan(10_000);
    expect(resumed.attempts).toBe(2);
    expect(await leaving.exited).toEqual({ code: 0, signal: null });

    const done = await expectCompletedOnce(job.id, 'handoff', 12);
    expect(done.attempts).toBe(2);
    const bull = await finishedInBull(job.id);
    expect(bull?.processedBy).toBe(other.name);
    // Two starts, one attempt: a hand-over does not count against the retry budget.
    expect(bull?.attemptsStarted).toBe(2);
    expect(bull?.attemptsMade).toBe(1);
  });
});
