/**
 * What keeps the service up under hostile or careless traffic: security headers (with a CSP the
 * docs UI works under), opt-in CORS, per-caller rate limits (429 + Retry-After) and load
 * shedding when the event loop or the heap is overwhelmed (503 + Retry-After).
 */
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import underPressure from '@fastify/under-pressure';
import type { FastifyInstance } from 'fastify';
import helmet from 'helmet';
import { getHeapStatistics } from 'node:v8';
import { Problem, sendProblem } from '../errors.js';

export interface ProtectionOptions {
  corsOrigins: string[];
  rateLimitPerMinute: number;
  jobsRateLimitPerMinute: number;
  maxEventLoopDelayMs: number;
  maxHeapFraction: number;
}

export async function registerProtection(app: FastifyInstance, options: ProtectionOptions): Promise<void> {
  // helmet itself, built once: @fastify/helmet builds a new helmet middleware (and re-parses the CSP)
  // on every request, which was 15% of the CPU time of a minimal route.
  const securityHeaders = helmet({
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        // swagger-ui's bundle and its inline bootstrap are served from /docs with hashes (staticCSP).
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", 'https:', "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:', 'validator.swagger.io'],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        frameAncestors: ["'none'"],
      },
    },
    // The API serves JSON to other origins only when CORS allows it; the docs are same-origin.
    crossOriginResourcePolicy: { policy: options.corsOrigins.length > 0 ? 'cross-origin' : 'same-origin' },
  });
  app.addHook('onRequest', (request, reply, done) => {
    securityHeaders(request.raw, reply.raw, (error) => done(error instanceof Error ? error : undefined));
  });

  if (options.corsOrigins.length > 0) {
    await app.register(cors, {
      origin: options.corsOrigins.includes('*') ? true : options.corsOrigins,
      methods: ['GET', 'POST', 'DELETE'],
      allowedHeaders: ['authorization', 'content-type', 'idempotency-key', 'x-request-id'],
      exposedHeaders: [
        'location',
        'retry-after',
        'x-request-id',
        'idempotent-replayed',
        'x-ratelimit-limit',
        'x-ratelimit-remaining',
        'x-ratelimit-reset',
      ],
      maxAge: 600,
    });
  }

  if (options.rateLimitPerMinute > 0) {
    await app.register(rateLimit, {
      global: true,
      max: options.rateLimitPerMinute,
      timeWindow: '1 minute',
      // Per API key (the principal is set by the auth hook, which runs first), else per address.
      keyGenerator: (request) => request.principal || `ip:${request.ip}`,
      allowList: (request) => !request.url.startsWith('/v1/'),
      // Thrown by the plugin (after it set retry-after and x-ratelimit-*), so it must be an
      // error the problem+json handler understands; route-level limits inherit it.
      errorResponseBuilder: (_request, context) =>
        new Problem(
          context.statusCode,
          'rate-limited',
          `rate limit of ${context.max} requests per minute exceeded for this caller; retry in ${Math.max(1, Math.ceil(context.ttl / 1000))} s`,
        ),
    });
  }

  const heapLimit = getHeapStatistics().heap_size_limit;
  await app.register(underPressure, {
    maxEventLoopDelay: options.maxEventLoopDelayMs,
    maxHeapUsedBytes: Math.floor(heapLimit * options.maxHeapFraction),
    retryAfter: 10,
    exposeStatusRoute: false,
    pressureHandler: (request, reply, type, value) => {
      // Liveness stays up under load: restarting a busy process helps nobody. Readiness and
      // every other route shed (returning without a reply lets the request through).
      if (request.url === '/healthz') return;
      reply.header('retry-after', '10');
      sendProblem(
        reply,
        503,
        'overloaded',
        `the server is overloaded (${type}${value === undefined ? '' : `: ${Math.round(value)}`}); retry in 10 s`,
      );
    },
  });
}
