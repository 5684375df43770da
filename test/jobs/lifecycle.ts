/**
 * The job lifecycle contract, written once and run against every queue backend (embedded.test.ts,
 * bullmq.test.ts), through the public HTTP surface only: submit → progress and history →
 * completed → predict; cancel a queued job (it never starts) and a running one (no model); a
 * job that fails with a clear error and is not retried.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobRecord } from '../../src/jobs/types.js';
import {
  bandedDigits,
  divergentJob,
  epochs,
  finished,
  getJob,
  mlpJob,
  range,
  submit,
  uploadDataset,
  versionsOf,
  waitFor,
  waitForJob,
} from './helpers.js';

export interface BackendUnderTest {
  /** An app with exactly one training slot, on a fresh DATA_DIR. */
  app: FastifyInstance;
  close(): Promise<void>;
}

export interface BackendHarness {
  name: 'embedded' | 'bullmq';
  /** Skip the suite (e.g. no redis-server here). */
  skip?: boolean;
  create(): Promise<BackendUnderTest>;
  /** Backend-specific proof that a cancelled queued job left the queue. */
  assertGoneFromQueue?(jobId: string): Promise<void>;
  /** Backend-specific proof that a failed job will not be retried. */
  assertNoRetry?(jobId: string): Promise<void>;
}

export function jobLifecycleSuite(harness: BackendHarness): void {
  describe.skipIf(harness.skip)(`job lifecycle: ${harness.name} queue`, () => {
    let backend: BackendUnderTest;
    let app: FastifyInstance;
    let digits: { x: number[][]; y: number[] };
    let datasetId: string;

    beforeAll(async () => {
      backend = await harness.create();
      app = backend.app;
      digits = bandedDigits(600, 5);
      datasetId = await uploadDataset(app, digits);
    });
    afterAll(async () => backend?.close());

    it('trains with visible progress and history, registers the model, and predicts', async () => {
      const job = await submit(app, mlpJob('digits', datasetId, 8));
      expect(job.status).toBe('queued');

      // While it runs, the record shows a partial history and step progress.
      const midway = await waitForJob(app, job.id, (j) => j.status === 'running' && j.history.length >= 1, 'first epoch');
      expect(midway.startedAt).not.toBeNull();
      expect(midway.progress.epochs).toBe(8);
      expect(epochs(midway)).toEqual(range(midway.history.length));

      const done = await finished(app, job.id);
      expect(done.status, JSON.stringify(done.error)).toBe('completed');
      expect(epochs(done)).toEqual(range(8));
      expect(done.attempts).toBe(1);
      expect(done.model).toEqual({ name: 'digits', version: 1 });
      expect(done.history[7]!.loss).toBeLessThan(done.history[0]!.loss);
      expect(await versionsOf(app, 'digits')).toEqual([1]);

      const rows = digits.x.slice(0, 50);
      const res = await app.inject({ method: 'POST', url: '/v1/models/digits/predict', payload: { inputs: rows } });
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json() as { model: { version: number }; outputs: number[][]; classes: number[] };
      expect(body.model.version).toBe(1);
      expect(body.outputs).toHaveLength(50);
      for (const row of body.outputs) expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
      const correct = body.classes.filter((c, i) => c === digits.y[i]).length;
      expect(correct).toBeGreaterThan(40);
    });

    it('cancels a queued job before it starts, and a running one without registering a model', async () => {
      const running = await submit(app, mlpJob('long-run', datasetId, 60));
      await waitForJob(app, running.id, (j) => j.status === 'running' && j.history.length >= 1, 'running');

      // The only slot is busy, so this one waits in the queue.
      const queued = await submit(app, mlpJob('never-run', datasetId, 3));
      expect((await getJob(app, queued.id)).status).toBe('queued');
      const cancelQueued = await app.inject({ method: 'POST', url: `/v1/jobs/${queued.id}/cancel` });
      expect(cancelQueued.statusCode, cancelQueued.body).toBe(200);
      expect((cancelQueued.json() as JobRecord).status).toBe('cancelled');
      await harness.assertGoneFromQueue?.(queued.id);

      const cancelRunning = await app.inject({ method: 'POST', url: `/v1/jobs/${running.id}/cancel` });
      expect(cancelRunning.statusCode, cancelRunning.body).toBe(202);
      const stopped = await finished(app, running.id, 30_000);
      expect(stopped.status).toBe('cancelled');
      expect(stopped.stopReason).toBe('cancelled');
      expect(stopped.model).toBeNull();
      expect(stopped.history.length).toBeLessThan(60);
      expect(await versionsOf(app, 'long-run')).toEqual([]);

      // The slot is free now; the cancelled job must still never have run.
      const control = await submit(app, mlpJob('after-cancel', datasetId, 1));
      expect((await finished(app, control.id)).status).toBe('completed');
      const never = await getJob(app, queued.id);
      expect(never.status).toBe('cancelled');
      expect(never.startedAt).toBeNull();
      expect(never.attempts).toBe(0);
      expect(never.history).toEqual([]);
      expect(await versionsOf(app, 'never-run')).toEqual([]);
    });

    it('fails a job whose loss is not finite, with a clear error and no retry', async () => {
      const job = await submit(app, divergentJob('diverges'));
      const failed = await finished(app, job.id);
      expect(failed.status).toBe('failed');
      expect(failed.error?.code).toBe('non_finite_loss');
      expect(failed.error?.message).toMatch(/loss became|non-finite/);
      expect(failed.model).toBeNull();
      expect(await versionsOf(app, 'diverges')).toEqual([]);
      // A user error is final: give a retry the time it would take, then check it never came.
      await harness.assertNoRetry?.(job.id);
      await new Promise((r) => setTimeout(r, 1_500));
      expect((await getJob(app, job.id)).attempts).toBe(1);
    });

    it('reports ready', async () => {
      const res = await waitFor('ready', async () => {
        const r = await app.inject({ method: 'GET', url: '/readyz' });
        return r.statusCode === 200 ? r : undefined;
      });
      expect(res.json()).toEqual({ status: 'ready', queue: harness.name });
    });
  });
}
