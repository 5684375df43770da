/**
 * The job lifecycle contract against the BullMQ queue: the API with one in-process worker (its
 * training in a sandboxed child), on a private redis-server.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { expect } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { QUEUE_NAME } from '../../src/jobs/redis.js';
import { redisServerAvailable, startTestRedis, type TestRedis } from '../helpers/redis.js';
import { TEST_ENV, waitFor } from './helpers.js';
import { jobLifecycleSuite } from './lifecycle.js';

const PREFIX = 'kilntest';
let redis: TestRedis | null = null;
let queue: Queue | null = null;

jobLifecycleSuite({
  name: 'bullmq',
  skip: !redisServerAvailable(),
  async create() {
    redis = await startTestRedis();
    queue = new Queue(QUEUE_NAME, { connection: { url: redis.url }, prefix: PREFIX });
    const dataDir = await mkdtemp(join(tmpdir(), 'kiln-bullmq-'));
    const config = {
      ...loadConfig(TEST_ENV),
      dataDir,
      redisUrl: redis.url,
      redisPrefix: PREFIX,
      workerConcurrency: 1,
      progressIntervalMs: 50,
      // Retries come quickly here, so the no-retry check below would see one.
      retryBackoffMs: 200,
      logLevel: 'warn',
    };
    const app = await buildApp(config, { logger: false });
    await app.ready();
    return {
      app,
      async close() {
        await app.close();
        await queue?.close();
        await redis?.destroy();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  },
  async assertGoneFromQueue(jobId) {
    expect(await queue!.getJob(jobId)).toBeUndefined();
  },
  async assertNoRetry(jobId) {
    // UnrecoverableError: failed at once, not `delayed` for a retry. BullMQ moves the job once the
    // processor has thrown, just after Kiln's record says failed: wait for that move.
    const job = await waitFor('BullMQ to finish the job', async () => {
      const bull = await queue!.getJob(jobId);
      return bull?.finishedOn ? bull : undefined;
    });
    expect(await job.getState()).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toMatch(/^non_finite_loss: /);
  },
});
