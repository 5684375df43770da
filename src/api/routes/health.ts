import { access, constants } from 'node:fs/promises';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { sendProblem } from '../errors.js';

const Status = Type.Object({ status: Type.String(), queue: Type.Optional(Type.String()) });

export const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/healthz', { schema: { summary: 'Liveness: the process is up', tags: ['service'], response: { 200: Status } } }, async () => ({
    status: 'ok',
  }));

  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: the queue and the storage are reachable',
        tags: ['service'],
        response: { 200: Status, 503: { $ref: 'Problem' } },
      },
    },
    async (_request, reply) => {
      const { queue, config } = app.kiln;
      if (!(await queue.isReady())) return sendProblem(reply, 503, 'not-ready', `the ${queue.kind} queue is not reachable`);
      try {
        await access(config.dataDir, constants.W_OK);
      } catch {
        return sendProblem(reply, 503, 'not-ready', 'DATA_DIR is not writable');
      }
      return { status: 'ready', queue: queue.kind };
    },
  );
};
