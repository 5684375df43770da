/**
 * Every configurable limit refuses with a 4xx problem that names it (field and setting), at the
 * API and before anything is stored: dataset rows and features, parameters, epochs, batch size,
 * predict rows, body sizes per route, active jobs per key, training time, memory.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { createTestApp, waitForJob, xorJob, type TestApp } from '../helpers/app.js';
import { KEYS, bearer, eventually, expectProblem, importModel, testApiKeys, tinyCheckpoint, tinySpec } from '../helpers/hardening.js';

const KiB = 1024;
const rows = (n: number, width: number) => Array.from({ length: n }, (_, i) => Array.from({ length: width }, (_, j) => ((i + j) % 5) / 5));
const withTraining = (t: Record<string, unknown>) => {
  const job = xorJob();
  return { ...job, training: { ...job.training, ...t } };
};

/** Pads a JSON body with trailing spaces to exactly `bytes` bytes. */
function exactly(body: unknown, bytes: number): string {
  const text = JSON.stringify(body);
  if (text.length > bytes) throw new Error(`body already ${text.length} bytes`);
  return text + ' '.repeat(bytes - text.length);
}

const LIMITS: Partial<Config> = {
  workerConcurrency: 0,
  rateLimitPerMinute: 0,
  maxDatasetRows: 10,
  maxFeatures: 8,
  maxParams: 100,
  maxEpochs: 200,
  maxBatchSize: 16,
  predictMaxRows: 5,
  maxTrainingSeconds: 60,
  jobsBodyLimit: 16 * KiB,
  predictBodyLimit: 2 * KiB,
  datasetsBodyLimit: 8 * KiB,
  modelsBodyLimit: 12 * KiB,
  bodyLimit: 4 * KiB,
};

describe('limits name themselves', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(LIMITS);
    await importModel(t.app, 'm', tinyCheckpoint(tinySpec('m', 3, 4, 2)));
  });
  afterAll(async () => t.close());

  const post = (url: string, payload: unknown, contentType = 'application/json') =>
    t.app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': contentType },
      payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
    });

  async function expectLimit(res: Awaited<ReturnType<typeof post>>, status: number, setting: string, field?: string) {
    const problem = expectProblem(res, status);
    expect(problem.detail).toContain(setting);
    if (field) expect([...(problem.errors ?? []).map((e) => e.path), problem.detail].join(' ')).toContain(field);
  }

  it('MAX_DATASET_ROWS: uploads (JSON and CSV) and inline job data', async () => {
    await expectLimit(await post('/v1/datasets', { x: rows(11, 2), y: new Array(11).fill(0) }), 422, 'MAX_DATASET_ROWS', 'x');
    await expectLimit(await post('/v1/datasets?label=y', `a,y\n${'1,0\n'.repeat(11)}`, 'text/csv'), 422, 'MAX_DATASET_ROWS');
    const job = xorJob();
    await expectLimit(
      await post('/v1/jobs', { ...job, data: { x: rows(11, 2), y: new Array(11).fill(0) } }),
      422,
      'MAX_DATASET_ROWS',
      'data.x',
    );
    // At the limit is fine.
    expect((await post('/v1/datasets', { x: rows(10, 2), y: new Array(10).fill(0) })).statusCode).toBe(201);
  });

  it('MAX_FEATURES: uploads, job specs and checkpoint imports', async () => {
    await expectLimit(await post('/v1/datasets', { x: rows(2, 9), y: [0, 1] }), 422, 'MAX_FEATURES');
    const job = xorJob();
    await expectLimit(
      await post('/v1/jobs', { ...job, model: { ...job.model, inputShape: [9] } }),
      422,
      'MAX_FEATURES',
      'model.inputShape',
    );
    await expectLimit(
      await post('/v1/models/wide/versions', tinyCheckpoint(tinySpec('wide', 9, 2, 2))),
      422,
      'MAX_FEATURES',
      'model.inputShape',
    );
  });

  it('MAX_PARAMS: job specs and checkpoint imports', async () => {
    const job = xorJob();
    const big = { ...job, model: { ...job.model, layers: [{ type: 'dense', units: 40, activation: 'tanh' }, job.model.layers[1]] } };
    await expectLimit(await post('/v1/jobs', big), 422, 'MAX_PARAMS', 'model.layers');
    await expectLimit(await post('/v1/models/big/versions', tinyCheckpoint(tinySpec('big', 8, 12, 2))), 422, 'MAX_PARAMS', 'model.layers');
    // Nothing was registered for the refused import.
    expect((await t.app.inject({ method: 'GET', url: '/v1/models/big' })).statusCode).toBe(404);
  });

  it('MAX_EPOCHS and MAX_BATCH_SIZE', async () => {
    await expectLimit(await post('/v1/jobs', withTraining({ epochs: 201 })), 422, 'MAX_EPOCHS', 'training.epochs');
    await expectLimit(await post('/v1/jobs', withTraining({ batchSize: 17 })), 422, 'MAX_BATCH_SIZE', 'training.batchSize');
  });

  it('MAX_TRAINING_SECONDS caps training.maxRuntimeSeconds at submission', async () => {
    await expectLimit(
      await post('/v1/jobs', withTraining({ maxRuntimeSeconds: 61 })),
      422,
      'MAX_TRAINING_SECONDS',
      'training.maxRuntimeSeconds',
    );
    expect((await post('/v1/jobs', withTraining({ maxRuntimeSeconds: 60 }))).statusCode).toBe(202);
  });

  it('PREDICT_MAX_ROWS', async () => {
    await expectLimit(await post('/v1/models/m/predict', { inputs: rows(6, 3) }), 413, 'PREDICT_MAX_ROWS', 'inputs');
    expect((await post('/v1/models/m/predict', { inputs: rows(5, 3) })).statusCode).toBe(200);
  });

  it('body limits per route: exactly the limit passes the parser, one byte more is 413 naming the setting', async () => {
    const cases: Array<{ url: string; limit: number; setting: string; body: unknown; okStatus: number[] }> = [
      { url: '/v1/models/m/predict', limit: 2 * KiB, setting: 'PREDICT_BODY_LIMIT', body: { inputs: [[1, 2, 3]] }, okStatus: [200] },
      {
        url: '/v1/models/m/versions/1/predict',
        limit: 2 * KiB,
        setting: 'PREDICT_BODY_LIMIT',
        body: { inputs: [[1, 2, 3]] },
        okStatus: [200],
      },
      { url: '/v1/jobs', limit: 16 * KiB, setting: 'JOBS_BODY_LIMIT', body: xorJob(), okStatus: [202] },
      { url: '/v1/datasets', limit: 8 * KiB, setting: 'DATASETS_BODY_LIMIT', body: { x: [[1]], y: [1] }, okStatus: [201] },
      {
        url: '/v1/models/m/versions',
        limit: 12 * KiB,
        setting: 'MODELS_BODY_LIMIT',
        body: tinyCheckpoint(tinySpec('m', 3, 4, 2)),
        okStatus: [201],
      },
      { url: '/v1/jobs/job_0000000000aaaaaaaa/cancel', limit: 4 * KiB, setting: 'BODY_LIMIT', body: {}, okStatus: [404] },
    ];
    for (const c of cases) {
      const ok = await post(c.url, exactly(c.body, c.limit));
      expect(c.okStatus, `${c.url} at ${c.limit} bytes: ${ok.body.slice(0, 200)}`).toContain(ok.statusCode);
      await expectLimit(await post(c.url, exactly(c.body, c.limit + 1)), 413, c.setting);
    }
    // CSV uploads have the same limit as JSON ones.
    const csv = `a,y\n${'1,0\n'.repeat(3000)}`;
    await expectLimit(await post('/v1/datasets?label=y', csv, 'text/csv'), 413, 'DATASETS_BODY_LIMIT');
  });
});

describe('MAX_ACTIVE_JOBS_PER_CALLER', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ workerConcurrency: 0, rateLimitPerMinute: 0, maxActiveJobsPerCaller: 2 }, { apiKeys: testApiKeys() });
  });
  afterAll(async () => t.close());

  const submit = (key: string) =>
    t.app.inject({
      method: 'POST',
      url: '/v1/jobs',
      headers: { ...bearer(key), 'content-type': 'application/json' },
      payload: JSON.stringify(xorJob()),
    });

  it('the key over its quota gets 429 with retry-after; another key is unaffected; finishing frees a slot', async () => {
    const first = await submit(KEYS.train);
    expect(first.statusCode).toBe(202);
    expect((await submit(KEYS.train)).statusCode).toBe(202);
    const refused = await submit(KEYS.train);
    const problem = expectProblem(refused, 429);
    expect(problem.detail).toContain('MAX_ACTIVE_JOBS_PER_CALLER');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    // Nothing was created for the refused request.
    const list = (await t.app.inject({ method: 'GET', url: '/v1/jobs', headers: bearer(KEYS.admin) })).json() as { total: number };
    expect(list.total).toBe(2);

    expect((await submit(KEYS.train2)).statusCode).toBe(202);

    const id = (first.json() as { id: string }).id;
    const cancel = await t.app.inject({ method: 'POST', url: `/v1/jobs/${id}/cancel`, headers: bearer(KEYS.train) });
    expect(cancel.statusCode).toBe(200);
    expect((await submit(KEYS.train)).statusCode).toBe(202);
  });
});

describe('MEMORY_BUDGET_MB', () => {
  it('a job estimated over the budget is refused at submission with the estimate', async () => {
    const t = await createTestApp({ workerConcurrency: 0, memoryBudgetBytes: 256 * KiB });
    try {
      const job = {
        model: {
          name: 'hungry',
          inputShape: [32],
          layers: [
            { type: 'dense', units: 256, activation: 'relu' },
            { type: 'dense', units: 256, activation: 'relu' },
            { type: 'dense', units: 1, activation: 'sigmoid' },
          ],
        },
        training: { loss: 'binary_crossentropy', epochs: 1, batchSize: 64 },
        data: { x: rows(64, 32), y: new Array(64).fill(1) },
      };
      const res = await t.app.inject({ method: 'POST', url: '/v1/jobs', payload: job });
      const problem = expectProblem(res, 422);
      expect(problem.detail).toContain('MEMORY_BUDGET_MB');
      expect(problem.detail).toMatch(/would need about \d+(\.\d+)? MiB/);
      expect(problem.detail).toMatch(/budget of 0\.3 MiB/);
      // Refused before anything was stored.
      expect(await readdir(join(t.config.dataDir, 'datasets')).catch(() => [])).toEqual([]);
      // A small job fits.
      expect((await t.app.inject({ method: 'POST', url: '/v1/jobs', payload: xorJob() })).statusCode).toBe(202);
    } finally {
      await t.close();
    }
  });
});

describe('training.maxRuntimeSeconds', () => {
  it('a job past its time limit fails with max_runtime_exceeded and registers no model', async () => {
    const t = await createTestApp({ workerConcurrency: 1 });
    try {
      const submit = await t.app.inject({
        method: 'POST',
        url: '/v1/jobs',
        payload: withTraining({ epochs: 10_000, maxRuntimeSeconds: 1 }),
      });
      expect(submit.statusCode, submit.body).toBe(202);
      const done = await waitForJob(t.app, (submit.json() as { id: string }).id, undefined, 30_000);
      expect(done.status).toBe('failed');
      expect(done.error?.code).toBe('max_runtime_exceeded');
      expect(done.error?.message).toMatch(/limit of 1 s/);
      expect(done.model).toBeNull();
      expect(done.history.length).toBeLessThan(10_000);
      expect((await t.app.inject({ method: 'GET', url: '/v1/models/xor' })).statusCode).toBe(404);
      // Its checkpoints are removed right after the record says failed (same for the test below).
      await eventually(
        async () => ((await readdir(join(t.config.dataDir, 'checkpoints')).catch(() => [])).length === 0 ? true : undefined),
        5_000,
      );
    } finally {
      await t.close();
    }
  });

  it('the server cap MAX_TRAINING_SECONDS stops a job that set no limit of its own', async () => {
    // Training processes read their configuration from the environment, as in production.
    const saved = process.env['MAX_TRAINING_SECONDS'];
    process.env['MAX_TRAINING_SECONDS'] = '1';
    const t = await createTestApp({ workerConcurrency: 1, maxTrainingSeconds: 1 });
    try {
      const submit = await t.app.inject({ method: 'POST', url: '/v1/jobs', payload: withTraining({ epochs: 10_000 }) });
      expect(submit.statusCode, submit.body).toBe(202);
      const done = await waitForJob(t.app, (submit.json() as { id: string }).id, undefined, 30_000);
      expect(done.status).toBe('failed');
      expect(done.error?.code).toBe('max_runtime_exceeded');
      expect(done.error?.message).toContain('MAX_TRAINING_SECONDS');
      expect(done.model).toBeNull();
    } finally {
      await t.close();
      if (saved === undefined) delete process.env['MAX_TRAINING_SECONDS'];
      else process.env['MAX_TRAINING_SECONDS'] = saved;
    }
  });
});
