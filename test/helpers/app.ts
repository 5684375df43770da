/** Builds a Kiln app on a temporary DATA_DIR for app.inject tests, and tears it down. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp, type BuildOptions } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { JobRecord } from '../../src/jobs/types.js';

export interface TestApp {
  app: FastifyInstance;
  config: Config;
  close(): Promise<void>;
}

/** Builds an app on an existing DATA_DIR (left in place on close, unless `removeDir`). */
export async function createAppAt(
  dataDir: string,
  overrides: Partial<Config> = {},
  options: BuildOptions = {},
  removeDir = false,
): Promise<TestApp> {
  const config: Config = { ...loadConfig({}), dataDir, workerConcurrency: 0, progressIntervalMs: 50, ...overrides };
  const app = await buildApp(config, { logger: false, ...options });
  await app.ready();
  return {
    app,
    config,
    async close() {
      await app.close();
      if (removeDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export async function createTestApp(overrides: Partial<Config> = {}, options: BuildOptions = {}): Promise<TestApp> {
  const dataDir = await mkdtemp(join(tmpdir(), 'kiln-test-'));
  // Load shedding is off by default: CPU-heavy test runs would trip it; the overload tests turn it on.
  return createAppAt(dataDir, { workerConcurrency: 1, maxEventLoopDelayMs: 0, ...overrides }, options, true);
}

const TERMINAL = ['completed', 'failed', 'cancelled'];

/** Polls GET /v1/jobs/:id until the job reaches one of `statuses` (default: any terminal one). */
export async function waitForJob(app: FastifyInstance, id: string, statuses = TERMINAL, timeoutMs = 60_000): Promise<JobRecord> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await app.inject({ method: 'GET', url: `/v1/jobs/${id}` });
    const job = res.json() as JobRecord;
    if (statuses.includes(job.status)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const xorJob = (overrides: Record<string, unknown> = {}) => ({
  model: {
    name: 'xor',
    inputShape: [2],
    layers: [
      { type: 'dense', units: 8, activation: 'tanh' },
      { type: 'dense', units: 1, activation: 'sigmoid' },
    ],
  },
  training: {
    loss: 'binary_crossentropy',
    optimizer: { type: 'adam', learningRate: 0.05 },
    epochs: 150,
    batchSize: 4,
    metrics: ['accuracy'],
    seed: 7,
  },
  data: {
    x: [
      [0, 0],
      [0, 1],
      [1, 0],
      [1, 1],
    ],
    y: [0, 1, 1, 0],
  },
  ...overrides,
});
