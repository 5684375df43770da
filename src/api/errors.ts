/**
 * RFC 9457 problem+json for every error. Client mistakes get a 4xx naming the field at fault;
 * anything unexpected is a generic 500 whose details stay in the log.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { describeSchemaError, joinPath } from '../engine/index.js';

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
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

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

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
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
          `the request body exceeds this route's limit of ${request.routeOptions.bodyLimit ?? 'the configured'} bytes`,
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
        error instanceof SyntaxError ? `the body is not valid JSON: ${error.message}` : error.message,
      );
    }
    request.log.error({ err: error }, 'unhandled error');
    return sendProblem(reply, 500, 'internal', 'an unexpected error occurred; it has been logged');
  });

  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, 404, 'not-found', `no route ${request.method} ${request.url.split('?')[0]}`),
  );
}
