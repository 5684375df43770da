/**
 * buildApp(config): the Fastify application, separate from the process entry so tests can use
 * app.inject. One TypeBox schema per payload drives validation, types, serialization and the
 * OpenAPI document served at /openapi.json (and committed as openapi/openapi.json).
 */
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Ajv } from 'ajv';
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import type { Config } from './config.js';
import { frameworkErrors, registerErrorHandling } from './api/errors.js';
import { loadApiKeys, registerAuth, type ApiKey } from './api/plugins/auth.js';
import { registerProtection } from './api/plugins/protection.js';
import { IdempotencyStore } from './api/services/idempotency.js';
import type { Kiln } from './api/context.js';
import { datasetRoutes } from './api/routes/datasets.js';
import { healthRoutes } from './api/routes/health.js';
import { jobRoutes } from './api/routes/jobs.js';
import { modelRoutes } from './api/routes/models.js';
import { ProblemSchema } from './api/schemas/common.js';
import { Predictor, type OnnxRunner } from './api/services/predictor.js';
import { ParsedPredictBody } from './api/services/predict-json.js';
import { createOnnxRunner } from './api/services/onnx-runner.js';
import { createOnnxPublisher, onnxForImport } from './jobs/onnx-publisher.js';
import { BullMqQueue } from './jobs/bullmq.js';
import { EmbeddedQueue } from './jobs/embedded.js';
import type { JobQueue } from './jobs/queue.js';
import type { Logger } from 'pino';
import { loggerOptions } from './log.js';
import { CheckpointStore } from './store/checkpoints.js';
import { DatasetStore } from './store/datasets.js';
import { JobStore } from './store/jobs.js';
import { ModelRegistry } from './store/registry.js';
import { setKernelThreads, useFusedMultiplyAdd } from './engine/index.js';

export interface BuildOptions {
  /** Logger override (tests pass false or a stream). */
  logger?: FastifyServerOptions['logger'];
  /** Start the queue's workers when the app is ready (default true). */
  startQueue?: boolean;
  /** A queue backend to use instead of the one the config selects. */
  queue?: JobQueue;
  onnx?: OnnxRunner | null;
  onnxPublish?: Kiln['onnxPublish'];
  /** API keys to use instead of API_KEYS / API_KEYS_FILE. */
  apiKeys?: ApiKey[];
}

export const API_VERSION = '0.1.0';

export async function buildApp(config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  await mkdir(config.dataDir, { recursive: true });
  const app = Fastify({
    logger: options.logger ?? loggerOptions(config),
    bodyLimit: config.bodyLimit,
    requestTimeout: config.requestTimeoutMs,
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && /^[\w.-]{1,128}$/.test(incoming) ? incoming : randomUUID();
    },
    requestIdHeader: false,
    ajv: { customOptions: { allErrors: false } },
    frameworkErrors,
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Bodies are validated strictly (no coercion: "epochs": "5" is an error, unknown fields are
  // errors); query strings and path params arrive as text, so those coerce.
  const bodyAjv = new Ajv({ allErrors: false, coerceTypes: false, useDefaults: false, removeAdditional: false, strict: false });
  const textAjv = new Ajv({ allErrors: false, coerceTypes: true, useDefaults: true, removeAdditional: false, strict: false });
  bodyAjv.addSchema(ProblemSchema);
  textAjv.addSchema(ProblemSchema);
  app.setValidatorCompiler(({ schema, httpPart }) => {
    // A binary body is a Buffer by construction of its content-type parser; its size and values
    // are checked where the model's input width is known.
    if (httpPart === 'body' && (schema as { format?: string }).format === 'binary') return () => true;
    if (httpPart !== 'body') return textAjv.compile(schema);
    const validate = bodyAjv.compile(schema);
    // A predict body read by the JSON fast path already has PredictBody's shape, with its
    // values in a Float32Array that Ajv cannot walk.
    const validateBody = (data: unknown): boolean => {
      if (data instanceof ParsedPredictBody) return true;
      const ok = validate(data);
      validateBody.errors = validate.errors;
      return ok;
    };
    validateBody.errors = validate.errors;
    return validateBody;
  });

  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  const log = app.log as unknown as Logger;
  const jobs = new JobStore(config.dataDir);
  // REDIS_URL selects queue mode: BullMQ, with WORKER_CONCURRENCY in-process workers (0 = API only).
  const queue =
    options.queue ??
    (config.redisUrl
      ? new BullMqQueue({ config, jobs, log: log.child({ component: 'queue' }), workers: config.workerConcurrency })
      : new EmbeddedQueue({
          dataDir: config.dataDir,
          concurrency: config.workerConcurrency,
          maxAttempts: config.maxAttempts,
          shutdownGraceMs: config.shutdownGraceMs,
          jobs,
          log: log.child({ component: 'queue' }),
        }));
  // Engine predictions run on this process's kernel threads (a process-wide setting).
  useFusedMultiplyAdd(config.kernelFma);
  setKernelThreads(config.predictThreads);
  const registry = new ModelRegistry(config.dataDir);
  const onnxRunner = options.onnx !== undefined ? options.onnx : await createOnnxRunner(config.onnxThreads, log);
  const onnxPublish = options.onnxPublish ?? onnxForImport(await createOnnxPublisher(config, log));
  const kiln: Kiln = {
    config,
    jobs,
    datasets: new DatasetStore(config.dataDir),
    checkpoints: new CheckpointStore(config.dataDir),
    registry,
    queue,
    predictor: new Predictor(registry, config.predictMaxRows, onnxRunner, config.predictBatchRows),
    ...(onnxPublish ? { onnxPublish } : {}),
    idempotency: new IdempotencyStore(config.dataDir),
    limits: config,
    apiKeys: options.apiKeys ?? loadApiKeys(config.apiKeys, config.apiKeysFile),
  };
  app.decorate('kiln', kiln);

  app.addSchema(ProblemSchema);
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Kiln',
        version: API_VERSION,
        description:
          'Train neural networks and serve their predictions over HTTP. Submit a job with a Keras-like model spec, poll it or stream its events, then predict with the registered model.',
      },
      tags: [
        { name: 'jobs', description: 'Training jobs' },
        { name: 'datasets', description: 'Training data stored on the server' },
        { name: 'models', description: 'The model registry: versions, checkpoints, ONNX exports' },
        { name: 'predict', description: 'Inference' },
        { name: 'service', description: 'Health and readiness' },
      ],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    // Swagger UI loads only its own files but sets inline styles from script; no
    // upgrade-insecure-requests, which would break the page on a plain-HTTP LAN address.
    staticCSP: {
      'default-src': "'self'",
      'base-uri': "'self'",
      'font-src': "'self' data:",
      'frame-ancestors': "'none'",
      'img-src': "'self' data:",
      'object-src': "'none'",
      'script-src': "'self'",
      'script-src-attr': "'none'",
      'style-src': "'self' 'unsafe-inline'",
      'connect-src': "'self'",
    },
  });
  registerErrorHandling(app);
  // Protection first: security headers, CORS (preflights carry no key) and load shedding apply
  // to every request, refused ones included. Rate limits are route hooks, so they still run
  // after the auth hook and count per key.
  await registerProtection(app, {
    corsOrigins: config.corsOrigins,
    rateLimitPerMinute: config.rateLimitPerMinute,
    jobsRateLimitPerMinute: config.jobsRateLimitPerMinute,
    maxEventLoopDelayMs: config.maxEventLoopDelayMs,
    maxHeapFraction: 0.9,
  });
  registerAuth(app, kiln.apiKeys);

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  await app.register(healthRoutes);
  await app.register(datasetRoutes);
  await app.register(jobRoutes);
  await app.register(modelRoutes);

  if (options.startQueue ?? true) app.addHook('onReady', async () => queue.start());
  app.addHook('onClose', async () => {
    await queue.close();
    await kiln.predictor.close();
    registry.close();
  });
  return app;
}
