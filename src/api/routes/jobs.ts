import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Problem, notFound, validationIssues } from '../errors.js';
import { TERMINAL_STATUSES, type JobRecord } from '../../jobs/types.js';
import { IdParams, problemResponses } from '../schemas/common.js';
import { CreateJobBody, JobList, JobListQuery, JobResource } from '../schemas/jobs.js';
import { cancelJob, checkSpec, submitJob, type SubmitBody } from '../services/jobs.js';
import type { FastifyError } from 'fastify';

const problems = problemResponses(400, 404, 409, 413, 415, 422);
const TERMINAL = new Set<string>(TERMINAL_STATUSES);

export const jobRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const kiln = app.kiln;

  app.post(
    '/v1/jobs',
    {
      config: { scope: 'train', rateLimit: { max: kiln.config.jobsRateLimitPerMinute, timeWindow: '1 minute' } },
      bodyLimit: kiln.config.jobsBodyLimit,
      attachValidation: true,
      schema: {
        summary: 'Submit a training job',
        description:
          'Validates the model spec, training config and data at once (a 4xx names the field at fault), stores inline data as a dataset, and queues the job. Poll `Location` or stream `/events`.',
        tags: ['jobs'],
        body: CreateJobBody,
        response: { 202: JobResource, ...problems },
      },
    },
    async (request, reply) => {
      if (request.validationError) {
        // The layer/optimizer unions make ajv's messages vague; the engine's validators say
        // exactly which field is wrong. Fall back to ajv's message when they find nothing.
        const body = request.body as Partial<SubmitBody> | undefined;
        if (body && typeof body === 'object')
          checkSpec({ model: body.model, training: body.training, validationData: body.validationData }, kiln.limits);
        const issues = validationIssues(request.validationError as FastifyError);
        throw new Problem(400, 'validation-error', issues[0]?.message ?? 'the request is invalid', issues);
      }
      const key = request.headers['idempotency-key'];
      if (key === undefined) {
        const record = await submitJob(request.body as SubmitBody, kiln, request.principal);
        reply.header('location', `/v1/jobs/${record.id}`);
        return reply.code(202).send(record);
      }
      if (typeof key !== 'string' || !/^[\x21-\x7e]{1,255}$/.test(key)) {
        throw new Problem(400, 'validation-error', 'Idempotency-Key must be 1-255 visible ASCII characters', [
          { path: 'headers.idempotency-key', message: 'invalid' },
        ]);
      }
      const outcome = await kiln.idempotency.run(
        request.principal,
        key,
        request.body,
        async () => (await submitJob(request.body as SubmitBody, kiln, request.principal)).id,
      );
      if (outcome === 'mismatch') {
        throw new Problem(
          422,
          'idempotency-key-reused',
          `Idempotency-Key ${JSON.stringify(key)} was already used with a different request body`,
          [{ path: 'headers.idempotency-key', message: 'reused with a different body' }],
        );
      }
      const record = (await kiln.jobs.get(outcome.jobId))!;
      if (outcome.replayed) reply.header('idempotent-replayed', 'true');
      reply.header('location', `/v1/jobs/${record.id}`);
      return reply.code(202).send(record);
    },
  );

  app.get(
    '/v1/jobs',
    {
      config: { scope: 'train' },
      schema: { summary: 'List jobs, newest first', tags: ['jobs'], querystring: JobListQuery, response: { 200: JobList, ...problems } },
    },
    async (request) => {
      const limit = request.query.limit ?? 50;
      const offset = request.query.offset ?? 0;
      const { items, total, corrupt } = await kiln.jobs.list({ status: request.query.status, limit, offset });
      if (corrupt.length > 0) request.log.error({ jobIds: corrupt }, 'corrupt job records left out of the listing');
      return { items, total, limit, offset };
    },
  );

  app.get(
    '/v1/jobs/:id',
    {
      config: { scope: 'train' },
      schema: {
        summary: 'Get a job: status, progress, history, model',
        tags: ['jobs'],
        params: IdParams,
        response: { 200: JobResource, ...problems },
      },
    },
    async (request) => {
      const record = await kiln.jobs.read(request.params.id);
      if (!record) throw notFound(`job ${request.params.id} does not exist`);
      return record;
    },
  );

  app.post(
    '/v1/jobs/:id/cancel',
    {
      config: { scope: 'train' },
      schema: {
        summary: 'Cancel a job',
        description:
          'A queued job never starts (200, status cancelled); a running one stops at its next batch boundary (202) and registers no model. Finished jobs are returned unchanged (409).',
        tags: ['jobs'],
        params: IdParams,
        response: { 200: JobResource, 202: JobResource, ...problems },
      },
    },
    async (request, reply) => {
      const before = await kiln.jobs.read(request.params.id);
      if (!before) throw notFound(`job ${request.params.id} does not exist`);
      if (before.status === 'cancelled') return before;
      if (TERMINAL.has(before.status)) throw new Problem(409, 'job-finished', `job ${before.id} already ${before.status}`);
      const record = (await cancelJob(request.params.id, kiln))!;
      return reply.code(record.status === 'cancelled' ? 200 : 202).send(record);
    },
  );

  app.get(
    '/v1/jobs/:id/events',
    {
      config: { scope: 'train' },
      schema: {
        summary: 'Stream job progress as server-sent events',
        description:
          'Events: `status` (the job resource, first and on every status change), `progress` (epoch/step), `epoch` (a history entry), and `end` (the final job resource) before the stream closes.',
        tags: ['jobs'],
        params: IdParams,
        produces: ['text/event-stream'],
        response: { 200: { type: 'string', description: 'text/event-stream' }, 404: { $ref: 'Problem' } },
      },
    },
    async (request, reply) => {
      const first = await kiln.jobs.read(request.params.id);
      if (!first) throw notFound(`job ${request.params.id} does not exist`);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      let last: JobRecord = first;
      let closed = false;
      request.raw.on('close', () => (closed = true));
      send('status', first);
      for (const entry of first.history) send('epoch', entry);
      let lastBeat = Date.now();
      // Records are the source of truth for both backends; polling them keeps one code path.
      while (!closed && !TERMINAL.has(last.status)) {
        await new Promise((r) => setTimeout(r, 250));
        const next = await kiln.jobs.get(first.id).catch(() => null);
        if (!next) break;
        const p = next.progress;
        const changed =
          next.status !== last.status ||
          next.history.length !== last.history.length ||
          p.epoch !== last.progress.epoch ||
          p.step !== last.progress.step;
        if (next.status !== last.status) send('status', next);
        for (const entry of next.history.slice(last.history.length)) send('epoch', entry);
        if (p.epoch !== last.progress.epoch || p.step !== last.progress.step) send('progress', p);
        if (changed) lastBeat = Date.now();
        else if (Date.now() - lastBeat > 15_000) {
          res.write(': keep-alive\n\n');
          lastBeat = Date.now();
        }
        last = next;
      }
      if (!closed) {
        send('end', last);
        res.end();
      }
    },
  );
};
