import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from 'typebox';
import { CheckpointError, modelFromCheckpoint, summarizeModel, validateModelSpec, type Checkpoint } from '../../engine/index.js';
import { classifierOf } from '../../jobs/runner.js';
import { VersionCorruptError } from '../../store/registry.js';
import { Problem, badRequest, notFound } from '../errors.js';
import { checkModelLimits } from '../services/limits.js';
import { ParsedPredictBody, parsePredictJson } from '../services/predict-json.js';
import { ModelNameParams, VersionParams, problemResponses } from '../schemas/common.js';
import {
  CheckpointBody,
  ModelDetail,
  ModelList,
  PredictBinaryBody,
  PredictBody,
  PredictQuery,
  PredictResponse,
  VersionMeta,
} from '../schemas/models.js';

const problems = problemResponses(400, 404, 409, 413, 415, 422, 503);

export const modelRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { registry, predictor, config } = app.kiln;

  const unavailable = (error: unknown): never => {
    if (error instanceof VersionCorruptError) throw new Problem(503, 'model-unavailable', error.message);
    throw error;
  };

  app.get(
    '/v1/models',
    { config: { scope: 'predict' }, schema: { summary: 'List models', tags: ['models'], response: { 200: ModelList } } },
    async () => {
      const items = [];
      for (const name of await registry.names()) {
        const latestVersion = await registry.latest(name);
        if (latestVersion !== null) items.push({ name, latestVersion });
      }
      return { items };
    },
  );

  app.get(
    '/v1/models/:name',
    {
      config: { scope: 'predict' },
      schema: {
        summary: 'List the versions of a model',
        tags: ['models'],
        params: ModelNameParams,
        response: { 200: ModelDetail, ...problems },
      },
    },
    async (request) => {
      const { name } = request.params;
      const versions = [];
      const corrupt: number[] = [];
      for (const version of await registry.versions(name)) {
        let meta;
        try {
          meta = await registry.meta(name, version);
        } catch (error) {
          // One unreadable version is left out of the listing; the others stay usable.
          if (!(error instanceof VersionCorruptError)) throw error;
          request.log.error({ err: error, model: name, version }, 'model version unavailable: left out of the listing');
          corrupt.push(version);
          continue;
        }
        if (meta) versions.push({ version, createdAt: meta.createdAt, jobId: meta.jobId, metrics: meta.metrics });
      }
      if (versions.length === 0 && corrupt.length > 0)
        throw new Problem(503, 'model-unavailable', `every version of ${name} is unavailable (corrupt: ${corrupt.join(', ')})`);
      if (versions.length === 0) throw notFound(`model ${name} does not exist`);
      return { name, versions };
    },
  );

  app.get(
    '/v1/models/:name/versions/:version',
    {
      config: { scope: 'predict' },
      schema: {
        summary: 'Version metadata: spec, training config, metrics, shapes, ONNX verification',
        tags: ['models'],
        params: VersionParams,
        response: { 200: VersionMeta, ...problems },
      },
    },
    async (request) => {
      const meta = await registry.meta(request.params.name, request.params.version);
      if (!meta) throw notFound(`model ${request.params.name} has no version ${request.params.version}`);
      return meta;
    },
  );

  app.get(
    '/v1/models/:name/versions/:version/checkpoint',
    {
      config: { scope: 'predict' },
      schema: {
        summary: 'Download the native checkpoint (kiln.checkpoint/1)',
        tags: ['models'],
        params: VersionParams,
        response: { 200: { type: 'object', additionalProperties: true, description: 'kiln.checkpoint/1 document' }, ...problems },
      },
    },
    async (request, reply) => {
      const { name, version } = request.params;
      const text = await registry.checkpointText(name, version).catch(unavailable);
      if (text === null) throw notFound(`model ${name} has no version ${version}`);
      return reply
        .type('application/json')
        .header('content-disposition', `attachment; filename="${name}-v${version}.kiln.json"`)
        .serializer((payload: string) => payload)
        .send(text);
    },
  );

  app.get(
    '/v1/models/:name/versions/:version/onnx',
    {
      config: { scope: 'predict' },
      schema: {
        summary: 'Download the ONNX export',
        description: 'One input `input` [N, ...inputShape] with a dynamic batch axis, one output `output`.',
        tags: ['models'],
        params: VersionParams,
        produces: ['application/octet-stream'],
        response: { 200: { type: 'string', format: 'binary' }, ...problems },
      },
    },
    async (request, reply) => {
      const { name, version } = request.params;
      const meta = await registry.meta(name, version);
      if (!meta) throw notFound(`model ${name} has no version ${version}`);
      const bytes = await registry.onnx(name, version).catch(unavailable);
      if (!bytes)
        throw new Problem(
          409,
          'onnx-unavailable',
          `${name} v${version} has no ONNX export${meta.onnx?.error ? ` (${meta.onnx.error})` : ''}`,
        );
      return reply
        .type('application/octet-stream')
        .header('content-disposition', `attachment; filename="${name}-v${version}.onnx"`)
        .send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    },
  );

  app.post(
    '/v1/models/:name/versions',
    {
      config: { scope: 'admin' },
      bodyLimit: config.modelsBodyLimit,
      schema: {
        summary: 'Import a native checkpoint as a new version',
        description:
          'Registers weights trained elsewhere (usable for predict and as `initFrom`). The checkpoint model name is replaced by the path name.',
        tags: ['models'],
        params: ModelNameParams,
        body: CheckpointBody,
        response: { 201: VersionMeta, ...problems },
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      const checkpoint = { ...(request.body as unknown as Checkpoint) };
      checkpoint.model = { ...(checkpoint.model ?? {}), name };
      delete checkpoint.training;
      // Check the architecture and its size before any weight is allocated.
      const issues = validateModelSpec(checkpoint.model, 'model');
      if (issues.length > 0)
        throw new Problem(422, 'invalid-checkpoint', issues[0]!.message, [{ path: issues[0]!.path, message: issues[0]!.message }]);
      checkModelLimits(checkpoint.model, app.kiln.limits);
      let model;
      try {
        model = modelFromCheckpoint(checkpoint);
      } catch (error) {
        if (error instanceof CheckpointError)
          throw new Problem(422, 'invalid-checkpoint', error.message, [{ path: error.path || 'body', message: error.message }]);
        throw error;
      }
      const summary = summarizeModel(model.spec);
      const { version } = await registry.publish(
        name,
        null,
        checkpoint,
        {
          source: 'import',
          jobId: null,
          spec: model.spec,
          training: null,
          history: [],
          metrics: {},
          inputShape: summary.inputShape,
          outputShape: summary.outputShape,
          params: summary.params,
          classifier: classifierOf(model.spec, model.outputSize),
        },
        app.kiln.onnxPublish ? (version) => app.kiln.onnxPublish!(model, name, version) : null,
      );
      reply.header('location', `/v1/models/${name}/versions/${version}`);
      return reply.code(201).send((await registry.meta(name, version))!);
    },
  );

  app.delete(
    '/v1/models/:name/versions/:version',
    {
      config: { scope: 'admin' },
      schema: { summary: 'Delete a version', tags: ['models'], params: VersionParams, response: { 204: Type.Null(), ...problems } },
    },
    async (request, reply) => {
      const { name, version } = request.params;
      if (!(await registry.deleteVersion(name, version))) throw notFound(`model ${name} has no version ${version}`);
      predictor.invalidate(name, version);
      return reply.code(204).send(null);
    },
  );

  // JSON predict bodies take the fast path (services/predict-json.ts) when they can; every other
  // body here, and every predict body it does not take, goes through Fastify's own JSON parser.
  const generalJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const fast = request.routeOptions.url?.endsWith('/predict') ? parsePredictJson(body as Buffer) : null;
    if (fast) done(null, fast);
    else generalJson(request, (body as Buffer).toString('utf8'), done);
  });

  // Binary bodies are for predict only; the other routes here take JSON.
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: config.predictBodyLimit }, (request, body, done) =>
    request.routeOptions.url?.endsWith('/predict')
      ? done(null, body)
      : done(new Problem(415, 'unsupported-media-type', 'this route takes application/json; only predict takes application/octet-stream')),
  );

  const predictSchema = {
    tags: ['predict'],
    description:
      'Send `application/json` ({"inputs": [[…]]}), or `application/octet-stream`: the rows as little-endian float32 values, back to back, with `?runtime=` in the query string. Binary bodies skip JSON parsing, which costs more than a small prediction.',
    querystring: PredictQuery,
    body: {
      content: {
        'application/json': { schema: PredictBody },
        'application/octet-stream': { schema: PredictBinaryBody },
      },
    },
    response: { 200: PredictResponse, ...problems },
  };
  // The type provider cannot infer a body from a per-media-type schema map.
  type PredictInput = Static<typeof PredictBody> | ParsedPredictBody | Uint8Array;
  const predict = (name: string, version: number | null, body: unknown, runtime: 'engine' | 'onnx' | undefined) => {
    // Fastify validates only the media types the schema lists; any other parser's body (text/plain
    // is built in) and a missing body arrive here unchecked.
    if (body === undefined || body === null) throw badRequest('the request has no body', [{ path: 'body', message: 'body is required' }]);
    if (!(body instanceof Uint8Array) && !(body instanceof ParsedPredictBody) && (typeof body !== 'object' || Array.isArray(body)))
      throw new Problem(
        415,
        'unsupported-media-type',
        'send {"inputs": [[…]]} as application/json, or float32 rows as application/octet-stream',
      );
    const input = body as PredictInput;
    return input instanceof Uint8Array
      ? predictor.predict(name, version, input, runtime ?? 'engine')
      : predictor.predict(name, version, input.inputs, input.runtime ?? runtime ?? 'engine');
  };

  app.post(
    '/v1/models/:name/predict',
    {
      config: { scope: 'predict' },
      bodyLimit: config.predictBodyLimit,
      schema: { summary: 'Predict with the latest version', params: ModelNameParams, ...predictSchema },
    },
    async (request) => predict(request.params.name, null, request.body, request.query.runtime),
  );

  app.post(
    '/v1/models/:name/versions/:version/predict',
    {
      config: { scope: 'predict' },
      bodyLimit: config.predictBodyLimit,
      schema: { summary: 'Predict with a given version', params: VersionParams, ...predictSchema },
    },
    async (request) => predict(request.params.name, request.params.version, request.body, request.query.runtime),
  );
};
