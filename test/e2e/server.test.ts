/**
 * The real process, as a user runs it: `npm start` on a free port with a temporary DATA_DIR.
 * Upload real MNIST digits, train, kill the process mid-training (SIGKILL, no goodbye), start it
 * again, and the job finishes from its checkpoint; predict held-out digits; /healthz stays
 * prompt while training runs; SIGTERM exits cleanly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMnist, MNIST_PIXELS } from '../helpers/mnist.js';

const root = new URL('../..', import.meta.url).pathname;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function start(port: number, dataDir: string): ChildProcess {
  return spawn('npm', ['start', '--silent'], {
    cwd: root,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'warn', WORKER_CONCURRENCY: '1' },
    // Own process group, so a kill reaches npm, node and the training child alike.
    detached: true,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}

async function waitUntilUp(base: string, child: ChildProcess, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${base}/healthz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('server did not come up');
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

interface Job {
  id: string;
  status: string;
  history: { epoch: number; loss: number; accuracy: number }[];
  model: { name: string; version: number } | null;
  error: unknown;
}

describe('npm start, end to end', () => {
  let dataDir: string;
  let base: string;
  let server: ChildProcess | null = null;

  /**
   * `npm start` on a free port, once it answers. Test files run in parallel, and another one can
   * take the port between freePort and the server's listen (EADDRINUSE): a server that exits
   * before it is up starts again on a new port; a real start-up failure still fails every time.
   */
  async function startUp(): Promise<ChildProcess> {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      base = `http://127.0.0.1:${port}`;
      const child = start(port, dataDir);
      try {
        await waitUntilUp(base, child);
        return child;
      } catch (error) {
        if (child.exitCode === null || attempt === 3) throw error;
      }
    }
  }

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'kiln-e2e-'));
  });
  afterAll(async () => {
    if (server && groupAlive(server.pid!)) process.kill(-server.pid!, 'SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });

  it('trains MNIST, survives a kill -9 mid-training, and predicts held-out digits', async () => {
    const digits = loadMnist(2024);
    const trainRows = 4000;
    const testRows = 1000;
    const rowsOf = (from: number, to: number) =>
      Array.from({ length: to - from }, (_, i) => Array.from(digits.x.subarray((from + i) * MNIST_PIXELS, (from + i + 1) * MNIST_PIXELS)));

    server = await startUp();

    const upload = await fetch(`${base}/v1/datasets`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ x: rowsOf(0, trainRows), y: Array.from(digits.y.subarray(0, trainRows)) }),
    });
    expect(upload.status).toBe(201);
    const dataset = (await upload.json()) as { id: string; rows: number; features: number };
    expect(dataset).toMatchObject({ rows: trainRows, features: 784 });

    const epochs = 8;
    const submit = await fetch(`${base}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: {
          name: 'digits',
          inputShape: [784],
          layers: [
            // Wide enough that epochs take a while with the SIMD kernels, so the kill lands mid-job.
            { type: 'dense', units: 512, activation: 'relu' },
            { type: 'dropout', rate: 0.1 },
            { type: 'dense', units: 10, activation: 'softmax' },
          ],
        },
        training: {
          loss: 'sparse_categorical_crossentropy',
          optimizer: { type: 'adam', learningRate: 0.002 },
          epochs,
          batchSize: 32,
          metrics: ['accuracy'],
          seed: 5,
        },
        data: { datasetId: dataset.id },
      }),
    });
    expect(submit.status).toBe(202);
    const { id } = (await submit.json()) as Job;
    const getJob = async (): Promise<Job> => (await (await fetch(`${base}/v1/jobs/${id}`)).json()) as Job;

    // While it trains, the API answers promptly.
    let worstHealthMs = 0;
    let job = await getJob();
    while (job.history.length < 2) {
      const t0 = performance.now();
      expect((await fetch(`${base}/healthz`)).ok).toBe(true);
      worstHealthMs = Math.max(worstHealthMs, performance.now() - t0);
      await new Promise((r) => setTimeout(r, 50));
      job = await getJob();
      expect(job.status).not.toBe('failed');
    }
    expect(job.status).toBe('running');
    expect(worstHealthMs).toBeLessThan(1000);

    // Crash: the whole process group dies at once, mid-epoch.
    process.kill(-server.pid!, 'SIGKILL');
    await exited(server);

    server = await startUp();
    const deadline = Date.now() + 240_000;
    do {
      await new Promise((r) => setTimeout(r, 250));
      job = await getJob();
    } while (!['completed', 'failed', 'cancelled'].includes(job.status) && Date.now() < deadline);
    expect(job.status, JSON.stringify(job.error)).toBe('completed');
    expect(job.history.map((h) => h.epoch)).toEqual(Array.from({ length: epochs }, (_, i) => i + 1));
    expect(job.model).toEqual({ name: 'digits', version: 1 });
    // Two attempts: the one the kill interrupted, and the one that resumed from its checkpoint.
    expect((job as Job & { attempts: number }).attempts).toBe(2);

    const predict = await fetch(`${base}/v1/models/digits/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: rowsOf(trainRows, trainRows + testRows) }),
    });
    expect(predict.status).toBe(200);
    const { classes } = (await predict.json()) as { classes: number[] };
    const correct = classes.filter((c, i) => c === digits.y[trainRows + i]).length;
    expect(correct / testRows).toBeGreaterThan(0.88);

    // Graceful stop: SIGTERM (as a service manager sends it to the group) ends every process.
    process.kill(-server.pid!, 'SIGTERM');
    await exited(server);
    const stopDeadline = Date.now() + 30_000;
    while (groupAlive(server.pid!) && Date.now() < stopDeadline) await new Promise((r) => setTimeout(r, 100));
    expect(groupAlive(server.pid!)).toBe(false);
  }, 300_000);
});
