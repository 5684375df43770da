/**
 * Shared pieces of the queue tests: data with a learnable pattern, job bodies, polling, and
 * `npm run worker` processes started from the TypeScript sources.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { expect } from 'vitest';
import type { JobRecord } from '../../src/jobs/types.js';
import { Rng } from '../../src/engine/index.js';

export const ROOT = new URL('../..', import.meta.url).pathname;
/**
 * Environment for the apps under test. Load shedding is off: on a busy two-core runner the
 * test process's own event loop can look stalled, and a shed request would fail a queue test.
 */
export const TEST_ENV: NodeJS.ProcessEnv = { MAX_EVENT_LOOP_DELAY_MS: '0' };
export const PIXELS = 784;
export const CLASSES = 10;
const TERMINAL = ['completed', 'failed', 'cancelled'];

/**
 * `rows` MNIST-sized rows (784 features, 10 classes): noise in [0, 1) plus a bright band of 78
 * pixels that gives the class away, so a 784-64-10 MLP learns it in a few epochs while each
 * epoch still takes a visible fraction of a second.
 */
export function bandedDigits(rows: number, seed = 1): { x: number[][]; y: number[] } {
  const rng = new Rng(seed);
  const x: number[][] = [];
  const y: number[] = [];
  const band = Math.floor(PIXELS / CLASSES);
  for (let r = 0; r < rows; r++) {
    const label = rng.below(CLASSES);
    const row = new Array<number>(PIXELS);
    for (let i = 0; i < PIXELS; i++) row[i] = Math.round(rng.uniform() * 50) / 100;
    for (let i = label * band; i < (label + 1) * band; i++) row[i] = row[i]! + 0.5;
    x.push(row);
    y.push(label);
  }
  return { x, y };
}

/** A 784-`units`-10 classifier on a stored dataset (wider = slower epochs, for fault tests). */
export function mlpJob(name: string, datasetId: string, epochs: number, training: Record<string, unknown> = {}, units = 64) {
  return {
    model: {
      name,
      inputShape: [PIXELS],
      layers: [
        { type: 'dense', units, activation: 'relu' },
        { type: 'dense', units: CLASSES, activation: 'softmax' },
      ],
    },
    training: {
      loss: 'sparse_categorical_crossentropy',
      optimizer: { type: 'adam', learningRate: 0.001 },
      epochs,
      batchSize: 32,
      metrics: ['accuracy'],
      seed: 11,
      ...training,
    },
    data: { datasetId },
  };
}

/** A job whose loss overflows: SGD at the largest allowed rate on inputs around a million. */
export function divergentJob(name: string) {
  const x = Array.from({ length: 64 }, (_, i) => [1e6 + i * 1e4, 2e6 - i * 1e4]);
  return {
    model: { name, inputShape: [2], layers: [{ type: 'dense', units: 1 }] },
    training: { loss: 'mse', optimizer: { type: 'sgd', learningRate: 10 }, epochs: 5, batchSize: 8, seed: 1 },
    data: { x, y: x.map(([a, b]) => a! - b!) },
  };
}

export async function uploadDataset(app: FastifyInstance, data: { x: number[][]; y: number[] }): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/v1/datasets', payload: data });
  expect(res.statusCode, res.body).toBe(201);
  return (res.json() as { id: string }).id;
}

export async function submit(app: FastifyInstance, body: unknown): Promise<JobRecord> {
  const res = await app.inject({ method: 'POST', url: '/v1/jobs', payload: body as Record<string, unknown> });
  expect(res.statusCode, res.body).toBe(202);
  return res.json() as JobRecord;
}

export async function getJob(app: FastifyInstance, id: string): Promise<JobRecord> {
  const res = await app.inject({ method: 'GET', url: `/v1/jobs/${id}` });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as JobRecord;
}

/** Polls `probe` until it returns a value other than undefined. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function waitForJob(app: FastifyInstance, id: string, done: (job: JobRecord) => boolean, what: string, timeoutMs = 90_000) {
  return waitFor(
    `job ${id}: ${what}`,
    async () => {
      const job = await getJob(app, id);
      if (done(job)) return job;
      if (TERMINAL.includes(job.status) && !done(job))
        throw new Error(`job ${id} ended ${job.status} while waiting for ${what}: ${JSON.stringify(job.error)}`);
      return undefined;
    },
    timeoutMs,
  );
}

export const finished = (app: FastifyInstance, id: string, timeoutMs?: number) =>
  waitFor(
    `job ${id} to finish`,
    async () => {
      const job = await getJob(app, id);
      return TERMINAL.includes(job.status) ? job : undefined;
    },
    timeoutMs ?? 120_000,
  );

/** Epoch numbers of a history, to check that each appears exactly once and in order. */
export const epochs = (job: JobRecord): number[] => job.history.map((h) => h.epoch);
export const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

/** Versions registered under a model name (none → []). */
export async function versionsOf(app: FastifyInstance, name: string): Promise<number[]> {
  const res = await app.inject({ method: 'GET', url: `/v1/models/${name}` });
  if (res.statusCode === 404) return [];
  expect(res.statusCode, res.body).toBe(200);
  return (res.json() as { versions: { version: number }[] }).versions.map((v) => v.version);
}

/** Who holds a job right now (the attempt's lease file), or null. */
export async function leaseOf(dataDir: string, jobId: string): Promise<{ worker: string; pid: number; token: string } | null> {
  try {
    return JSON.parse(await readFile(join(dataDir, 'jobs', `${jobId}.lease`), 'utf8')) as { worker: string; pid: number; token: string };
  } catch {
    return null;
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface WorkerProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Output so far (for failure messages). */
  readonly output: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `workers/worker.ts` as its own process (node --import tsx, not the tsx CLI, so the pid
 * is the worker itself) and resolves once it reports ready.
 */
export async function startWorker(name: string, env: Record<string, string>): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'workers/worker.ts')], {
    cwd: ROOT,
    env: { ...process.env, WORKER_NAME: name, WORKER_CONCURRENCY: '1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.length > 200_000) output = output.slice(-100_000);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const worker: WorkerProcess = { name, child, output: () => output, exited };
  await waitFor(
    `worker ${name} to be ready`,
    async () => {
      if (child.exitCode !== null) throw new Error(`worker ${name} exited (${child.exitCode}):\n${output}`);
      return output.includes('kiln worker is ready') ? true : undefined;
    },
    30_000,
  );
  return worker;
}

/** Kills a worker if it still runs and waits for it to be gone. */
export async function stopWorker(worker: WorkerProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill(signal);
  await worker.exited;
}
