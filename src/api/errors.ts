/**
 * RFC 9457 problem+json for every error. Client mistakes get a 4xx naming the field at fault;
 * a full or read-only disk is a 507/503 that says so; a corrupt stored artifact makes just that
 * resource unavailable (503); anything unexpected is a generic 500 whose details stay in the log.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { describeSchemaError, joinPath } from '../engine/index.js';
import { DatasetCorruptError } from '../store/datasets.js';
import { JobRecordCorruptError } from '../store/jobs.js';
import { VersionCorruptError } from '../store/registry.js';

export interface FieldIssue {
  path: string;
  message: string;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  507: 'Insufficient Storage',
};

/** Seconds a client should wait before retrying when storage is not writable. */
const STORAGE_RETRY_AFTER = '60';

/** An error that maps to a problem response; throw it from handlers and services. */
export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
    readonly errors?: FieldIssue[],
    readonly headers?: Record<string, string>,
  ) {
    super(detail);
  }
}

export const badRequest = (detail: string, errors?: FieldIssue[]) => new Problem(400, 'validation-error', detail, errors);
export const unprocessable = (detail: string, errors?: FieldIssue[]) => new Problem(422, 'unprocessable', detail, errors);
export const notFound = (detail: string) => new Problem(404, 'not-found', detail);

export function issuesProblem(issues: FieldIssue[], status = 400): Problem {
  const detail = issues.length === 1 ? issues[0]!.message : `${issues[0]!.message} (and ${issues.length - 1} more)`;
  return new Problem(status, status === 400 ? 'validation-error' : 'unprocessable', detail, issues);
}

export function sendProblem(reply: FastifyReply, status: number, code: string, detail: string, errors?: FieldIssue[]): FastifyReply {
  return reply
    .code(status)
    .type('application/problem+json')
    .send({ type: `urn:kiln:problem:${code}`, title: TITLES[status] ?? 'Error', status, detail, ...(errors?.length ? { errors } : {}) });
}

interface AjvError {
  keyword: string;
  schemaPath: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
}

/** Fastify/ajv validation errors → field issues with dotted paths (`body.training.epochs`). */
export function validationIssues(error: FastifyError): FieldIssue[] {
  const context = (error as FastifyError & { validationContext?: string }).validationContext ?? 'body';
  const issues: FieldIssue[] = [];
  for (const raw of (error.validation ?? []) as unknown as AjvError[]) {
    let path = joinPath(context === 'body' ? '' : context, raw.instancePath);
    if (raw.keyword === 'required') {
      const missing = raw.params['missingProperty'] as string;
      path = path ? `${path}.${missing}` : missing;
    }
    const message = describeSchemaError({ ...raw, message: raw.message ?? 'is invalid' });
    issues.push({ path: path || context, message: `${path || context} ${message}` });
  }
  return issues;
}

/**
 * A full or read-only disk as a problem: 507 when nothing fits, 503 when DATA_DIR cannot be
 * written. The detail never names a path; the log line has the full error.
 */
export function storageProblem(error: unknown): Problem | null {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT')
    return new Problem(507, 'insufficient-storage', 'the server has no storage space left for this request; nothing was stored');
  if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM')
    return new Problem(
      503,
      'storage-unavailable',
      `the server's storage is read-only or not accessible right now (${code}); nothing was changed`,
      undefined,
      { 'retry-after': STORAGE_RETRY_AFTER },
    );
  return null;
}

/** The setting behind a route's body limit, so a 413 names what raises it. */
function bodyLimitSetting(request: FastifyRequest): string {
  const url = request.routeOptions.url ?? '';
  if (request.method !== 'POST') return 'BODY_LIMIT';
  if (url === '/v1/jobs') return 'JOBS_BODY_LIMIT';
  if (url === '/v1/datasets') return 'DATASETS_BODY_LIMIT';
  if (url === '/v1/models/:name/versions') return 'MODELS_BODY_LIMIT';
  if (url.endsWith('/predict')) return 'PREDICT_BODY_LIMIT';
  return 'BODY_LIMIT';
}

/** Corrupt stored artifacts: that resource is unavailable (503), everything else keeps serving. */
function corruptionProblem(error: unknown): Problem | null {
  if (error instanceof VersionCorruptError)
    return new Problem(503, 'model-unavailable', `${error.message}; this version is unavailable until it is restored or deleted`);
  if (error instanceof DatasetCorruptError) return new Problem(503, 'dataset-unavailable', `${error.message}; upload the data again`);
  if (error instanceof JobRecordCorruptError) return new Problem(503, 'job-unavailable', error.message);
  return null;
}

/**
 * Fastify's own routing errors (a malformed URL, a path parameter over maxParamLength) would
 * otherwise be answered with plain JSON; pass this as the `frameworkErrors` server option.
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    // Ids and names are at most 64 characters: a longer one is a malformed request, like any bad id.
    sendProblem(reply, 400, 'validation-error', 'a path parameter is longer than any valid id or name (64 characters)');
    return;
  }
  sendProblem(reply, 400, 'bad-url', `the URL ${JSON.stringify(request.url.split('?')[0]!.slice(0, 200))} is not valid`);
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((raw: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    let error: FastifyError | Problem = raw;
    const mapped = storageProblem(raw) ?? corruptionProblem(raw);
    if (mapped) {
      request.log.error({ err: raw, problem: mapped.code }, mapped.message);
      error = mapped;
    } else if (raw instanceof Problem && raw.status >= 500) {
      request.log.error({ err: raw, problem: raw.code }, raw.message);
    }
    if (error instanceof Problem) {
      if (error.headers) reply.headers(error.headers);
      return sendProblem(reply, error.status, error.code, error.message, error.errors);
    }
    if (error.validation) {
      const issues = validationIssues(error);
      return sendProblem(reply, 400, 'validation-error', issues[0]?.message ?? 'the request is invalid', issues);
    }
    switch (error.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return sendProblem(
          reply,
          413,
          'body-too-large',
          `the request body exceeds this route's limit of ${request.routeOptions.bodyLimit ?? 'the configured'} bytes (${bodyLimitSetting(request)})`,
        );
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return sendProblem(
          reply,
          415,
          'unsupported-media-type',
          `unsupported Content-Type ${JSON.stringify(request.headers['content-type'] ?? '')}; send application/json${request.url.startsWith('/v1/datasets') ? ' or text/csv' : ''}`,
        );
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return sendProblem(reply, 400, 'invalid-json', 'the body is empty but Content-Type is application/json');
      case 'FST_ERR_CTP_INVALID_JSON_BODY':
        return sendProblem(reply, 400, 'invalid-json', `the body is not valid JSON: ${error.message}`);
    }
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const code = error instanceof SyntaxError ? 'invalid-json' : 'bad-request';
      return sendProblem(
        reply,
        status,
        code,
        error instanceof SyntaxError
          ? `the body is not valid JSON: ${error.message}`
          : error.message || `${TITLES[status] ?? 'the request was refused'} (${error.code ?? status})`,
      );
    }
    request.log.error({ err: error }, 'unhandled error');
    return sendProblem(reply, 500, 'internal', 'an unexpected error occurred; it has been logged');
  });

  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, 404, 'not-found', `no route ${request.method} ${request.url.split('?')[0]}`),
  );
}
