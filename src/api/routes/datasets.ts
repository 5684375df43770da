import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { Problem, notFound, unprocessable } from '../errors.js';
import { CreateDatasetBody, CsvQuery, DatasetResource } from '../schemas/datasets.js';
import { IdParams, problemResponses } from '../schemas/common.js';
import { parseCsv, toMatrix, toTargets } from '../services/data.js';
import { checkDatasetLimits } from '../services/limits.js';

const problems = problemResponses(400, 404, 413, 415, 422);

export const datasetRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { datasets, config } = app.kiln;

  app.addContentTypeParser('text/csv', { parseAs: 'string', bodyLimit: config.datasetsBodyLimit }, (_request, body, done) =>
    done(null, body),
  );

  app.post(
    '/v1/datasets',
    {
      config: { scope: 'train' },
      bodyLimit: config.datasetsBodyLimit,
      schema: {
        summary: 'Upload a dataset (JSON {x, y}, or text/csv with ?label=<column>)',
        description: 'Stores the rows on disk as float32. Reference it from a job with `data: { "datasetId": … }`.',
        tags: ['datasets'],
        querystring: CsvQuery,
        body: Type.Union([CreateDatasetBody, Type.String({ description: 'CSV text with a header row' })]),
        response: { 201: DatasetResource, ...problems },
      },
    },
    async (request, reply) => {
      const body = request.body;
      let meta;
      if (typeof body === 'string') {
        // CSV only as text/csv: a JSON string or text/plain body is not a CSV upload.
        if (!/^\s*text\/csv\s*(;|$)/i.test(request.headers['content-type'] ?? ''))
          throw new Problem(415, 'unsupported-media-type', 'send {"x", "y"} as application/json, or CSV as text/csv with ?label=<column>');
        const label = request.query.label;
        if (!label)
          throw unprocessable('a text/csv upload needs ?label=<column> naming the target column', [
            { path: 'querystring.label', message: 'label is required for CSV' },
          ]);
        const { x, y, columns } = parseCsv(body, label);
        checkDatasetLimits(x.rows, x.width, app.kiln.limits, 'body');
        meta = await datasets.create(
          x.values,
          y.values,
          { rows: x.rows, features: x.width, targetWidth: 1 },
          { source: 'csv', columns, label },
        );
      } else {
        checkDatasetLimits(body.x.length, body.x[0]?.length ?? 0, app.kiln.limits, 'x');
        const x = toMatrix(body.x, null, 'x');
        const y = toTargets(body.y, x.rows, 'y');
        meta = await datasets.create(x.values, y.values, { rows: x.rows, features: x.width, targetWidth: y.width }, { source: 'json' });
      }
      reply.header('location', `/v1/datasets/${meta.id}`);
      return reply.code(201).send(meta);
    },
  );

  app.get(
    '/v1/datasets/:id',
    {
      config: { scope: 'train' },
      schema: { summary: 'Describe a dataset', tags: ['datasets'], params: IdParams, response: { 200: DatasetResource, ...problems } },
    },
    async (request) => {
      const meta = await datasets.meta(request.params.id);
      if (!meta) throw notFound(`dataset ${request.params.id} does not exist`);
      return meta;
    },
  );

  app.delete(
    '/v1/datasets/:id',
    {
      config: { scope: 'admin' },
      schema: { summary: 'Delete a dataset', tags: ['datasets'], params: IdParams, response: { 204: Type.Null(), ...problems } },
    },
    async (request, reply) => {
      if (!(await datasets.delete(request.params.id))) throw notFound(`dataset ${request.params.id} does not exist`);
      return reply.code(204).send(null);
    },
  );
};
