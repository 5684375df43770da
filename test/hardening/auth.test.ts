/**
 * API keys: every /v1 route (taken from the served OpenAPI document, so a new route cannot be
 * forgotten) × {no header, malformed, wrong key, each scope}. Missing, malformed or wrong → 401
 * with WWW-Authenticate; too little scope → 403; enough → neither. Health and docs stay open,
 * an unauthenticated upload is refused before its body is read, and keys never reach a log.
 */
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Scope } from '../../src/api/plugins/auth.js';
import { loggerOptions } from '../../src/log.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { KEYS, LogCapture, bearer, expectProblem, importModel, testApiKeys, tinyCheckpoint } from '../helpers/hardening.js';

type Method = 'GET' | 'POST' | 'DELETE' | 'HEAD';

/** The least scope each /v1 operation needs. A route missing here fails the first test. */
const REQUIRED: Record<string, Scope> = {
  'POST /v1/datasets': 'train',
  'GET /v1/datasets/{id}': 'train',
  'DELETE /v1/datasets/{id}': 'admin',
  'POST /v1/jobs': 'train',
  'GET /v1/jobs': 'train',
  'GET /v1/jobs/{id}': 'train',
  'POST /v1/jobs/{id}/cancel': 'train',
  'GET /v1/jobs/{id}/events': 'train',
  'GET /v1/models': 'predict',
  'GET /v1/models/{name}': 'predict',
  'GET /v1/models/{name}/versions/{version}': 'predict',
  'DELETE /v1/models/{name}/versions/{version}': 'admin',
  'GET /v1/models/{name}/versions/{version}/checkpoint': 'predict',
  'GET /v1/models/{name}/versions/{version}/onnx': 'predict',
  'POST /v1/models/{name}/versions': 'admin',
  'POST /v1/models/{name}/predict': 'predict',
  'POST /v1/models/{name}/versions/{version}/predict': 'predict',
};
const RANK: Record<Scope, number> = { predict: 0, train: 1, admin: 2 };
const KEY_OF: Record<Scope, string> = { predict: KEYS.predict, train: KEYS.train, admin: KEYS.admin };

const MALFORMED = [
  'Bearer',
  'Bearer ',
  'bearer  x',
  `Bearer  ${KEYS.admin}`,
  'Basic dXNlcjpwYXNzd29yZA==',
  `Token ${KEYS.admin}`,
  `${KEYS.admin}`,
  `Bearer ${KEYS.admin} extra`,
];
const WRONG = [
  'Bearer not-a-real-key-0123456789',
  `Bearer ${KEYS.admin.slice(0, -1)}`,
  `Bearer ${KEYS.admin}x`,
  `Bearer ${KEYS.admin.toUpperCase()}`,
];

interface Operation {
  method: Method;
  path: string;
  url: string;
  scope: Scope;
}

/** Concrete URLs for templated paths; the resources may or may not exist. */
function concrete(path: string): string {
  return path
    .replace('/v1/datasets/{id}', '/v1/datasets/ds_0000000000aaaaaaaa')
    .replace('{id}', 'job_0000000000aaaaaaaa')
    .replace('{name}', 'm')
    .replace('{version}', '1');
}

async function operations(app: FastifyInstance): Promise<Operation[]> {
  const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, Record<string, unknown>> };
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    if (!path.startsWith('/v1/')) continue;
    for (const method of Object.keys(methods)) {
      const key = `${method.toUpperCase()} ${path}`;
      ops.push({ method: method.toUpperCase() as Method, path, url: concrete(path), scope: REQUIRED[key]! });
    }
  }
  return ops;
}

/** A request body that parses (so auth, not parsing, decides the outcome). */
function bodyFor(op: Operation): string | undefined {
  if (op.method !== 'POST') return undefined;
  if (op.path.endsWith('/predict')) return JSON.stringify({ inputs: [[1, 2, 3]] });
  if (op.path.endsWith('/versions')) return JSON.stringify(tinyCheckpoint());
  return '{}';
}

describe('API keys on every route', () => {
  let t: TestApp;
  let ops: Operation[];

  beforeAll(async () => {
    t = await createTestApp({ workerConcurrency: 0, rateLimitPerMinute: 0 }, { apiKeys: testApiKeys() });
    await importModel(t.app, 'm', tinyCheckpoint(), `Bearer ${KEYS.admin}`);
    ops = await operations(t.app);
  });
  afterAll(async () => t.close());

  const send = (op: Operation, authorization?: string) => {
    const payload = bodyFor(op);
    const headers: Record<string, string> = {};
    if (authorization !== undefined) headers['authorization'] = authorization;
    if (payload !== undefined) headers['content-type'] = 'application/json';
    return t.app.inject({ method: op.method, url: op.url, headers, ...(payload !== undefined ? { payload } : {}) });
  };

  it('the scope table covers every /v1 operation in the OpenAPI document, and nothing else', () => {
    const served = ops.map((o) => `${o.method} ${o.path}`).sort();
    expect(served).toEqual(Object.keys(REQUIRED).sort());
    expect(served.length).toBeGreaterThanOrEqual(17);
  });

  it('no Authorization header → 401 with WWW-Authenticate, on every route', async () => {
    for (const op of ops) {
      const res = await send(op);
      expectProblem(res, 401);
      expect(res.headers['www-authenticate'], `${op.method} ${op.url}`).toMatch(/^Bearer realm="kiln"/);
    }
  });

  it('malformed Authorization headers → 401 with WWW-Authenticate, on every route', async () => {
    for (const op of ops) {
      for (const header of MALFORMED) {
        const res = await send(op, header);
        expect(res.statusCode, `${op.method} ${op.url} with ${JSON.stringify(header)}`).toBe(401);
        expectProblem(res, 401);
        expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
      }
    }
  });

  it('wrong keys (including near misses) → 401 invalid_token, on every route', async () => {
    for (const op of ops) {
      for (const header of WRONG) {
        const res = await send(op, header);
        expect(res.statusCode, `${op.method} ${op.url} with ${header}`).toBe(401);
        expectProblem(res, 401);
        expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
      }
    }
  });

  it('each scope: too little → 403 problem; enough → neither 401 nor 403', async () => {
    for (const op of ops) {
      for (const scope of ['predict', 'train', 'admin'] as const) {
        const res = await send(op, `Bearer ${KEY_OF[scope]}`);
        const label = `${op.method} ${op.url} as ${scope}: ${res.statusCode} ${res.body.slice(0, 200)}`;
        if (RANK[scope] < RANK[op.scope]) {
          expect(res.statusCode, label).toBe(403);
          expect(expectProblem(res, 403).detail).toContain(op.scope);
        } else {
          expect([401, 403], label).not.toContain(res.statusCode);
          expect(res.statusCode, label).toBeLessThan(500);
        }
      }
    }
  });

  it('HEAD follows its GET route; unknown /v1 routes need a key too', async () => {
    for (const op of ops.filter((o) => o.method === 'GET' && !o.path.endsWith('/events'))) {
      expect((await t.app.inject({ method: 'HEAD', url: op.url })).statusCode, `HEAD ${op.url}`).toBe(401);
    }
    expect((await t.app.inject({ method: 'GET', url: '/v1/not-a-route' })).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'GET', url: '/v1/not-a-route', headers: bearer(KEYS.admin) })).statusCode).toBe(404);
  });

  it('the Bearer scheme is case-insensitive; the key is not', async () => {
    const ok = await t.app.inject({ method: 'GET', url: '/v1/models', headers: { authorization: `bearer ${KEYS.predict}` } });
    expect(ok.statusCode).toBe(200);
    const upper = await t.app.inject({
      method: 'GET',
      url: '/v1/models',
      headers: { authorization: `BEARER ${KEYS.predict.toUpperCase()}` },
    });
    expect(upper.statusCode).toBe(401);
  });

  it('health, readiness, docs and the OpenAPI document stay open', async () => {
    for (const url of ['/healthz', '/readyz', '/docs', '/docs/', '/docs/json', '/openapi.json']) {
      const res = await t.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
    }
    const assets = await t.app.inject({ method: 'GET', url: '/docs/static/swagger-ui.css' });
    expect(assets.statusCode).toBe(200);
  });

  it('a predict key cannot train, upload, import or delete', async () => {
    // (The scope sweep above deleted version 1 with the admin key.)
    const version = await importModel(t.app, 'm', tinyCheckpoint(), `Bearer ${KEYS.admin}`);
    const h = bearer(KEYS.predict);
    expectProblem(await t.app.inject({ method: 'POST', url: '/v1/jobs', headers: h, payload: {} }), 403);
    expectProblem(await t.app.inject({ method: 'POST', url: '/v1/datasets', headers: h, payload: { x: [[1]], y: [1] } }), 403);
    expectProblem(await t.app.inject({ method: 'POST', url: '/v1/models/m/versions', headers: h, payload: tinyCheckpoint() }), 403);
    expectProblem(await t.app.inject({ method: 'DELETE', url: `/v1/models/m/versions/${version}`, headers: h }), 403);
    // A train key may train but not delete.
    expectProblem(await t.app.inject({ method: 'DELETE', url: `/v1/models/m/versions/${version}`, headers: bearer(KEYS.train) }), 403);
    // The version is still there.
    expect((await t.app.inject({ method: 'GET', url: `/v1/models/m/versions/${version}`, headers: h })).statusCode).toBe(200);
  });
});

describe('auth runs before the body is read', () => {
  let t: TestApp;
  let port: number;
  beforeAll(async () => {
    t = await createTestApp({ workerConcurrency: 0, datasetsBodyLimit: 64 * 1024 * 1024 }, { apiKeys: testApiKeys() });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.server.address() as AddressInfo).port;
  });
  afterAll(async () => t.close());

  /** Sends the headers and the first KiB of a `length`-byte upload, then waits for a response. */
  function partialUpload(headers: string[], length: number): Promise<{ status: number; raw: string; ms: number }> {
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const socket = connect(port, '127.0.0.1');
      let raw = '';
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error('no response while the body was still unsent'));
      }, 5_000);
      socket.on('connect', () => {
        socket.write(
          [
            `POST /v1/datasets HTTP/1.1`,
            `Host: 127.0.0.1:${port}`,
            'Content-Type: application/json',
            `Content-Length: ${length}`,
            ...headers,
            '',
            '',
          ].join('\r\n'),
        );
        socket.write('{"x": [' + '[1],'.repeat(250));
      });
      socket.on('data', (chunk) => {
        raw += chunk.toString('utf8');
        const status = /^HTTP\/1\.1 (\d{3})/.exec(raw);
        if (status && raw.includes('\r\n\r\n') && raw.includes('}')) {
          clearTimeout(timer);
          socket.destroy();
          resolve({ status: Number(status[1]), raw, ms: Date.now() - started });
        }
      });
      socket.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  it('an unauthenticated 16 MiB upload is refused with 401 after only its headers', async () => {
    const res = await partialUpload([], 16 * 1024 * 1024);
    expect(res.status).toBe(401);
    expect(res.raw.toLowerCase()).toContain('www-authenticate: bearer');
    expect(res.raw).toContain('application/problem+json');
  });

  it('so is one with a wrong key, and one with a key lacking the scope gets 403', async () => {
    expect((await partialUpload(['Authorization: Bearer not-a-real-key-0123456789'], 16 * 1024 * 1024)).status).toBe(401);
    expect((await partialUpload([`Authorization: Bearer ${KEYS.predict}`], 16 * 1024 * 1024)).status).toBe(403);
  });
});

describe('keys never appear in logs', () => {
  it('not at trace level, not in errors, not in request logs that include headers', async () => {
    const capture = new LogCapture();
    const t = await createTestApp(
      { workerConcurrency: 0, rateLimitPerMinute: 0 },
      {
        apiKeys: testApiKeys(),
        logger: {
          ...loggerOptions({ logLevel: 'trace', prettyLogs: false }),
          stream: capture,
          // Log whole request headers, as a careless operator might: redaction must still hold.
          serializers: {
            req: (req: { method: string; url: string; headers: Record<string, unknown> }) => ({
              method: req.method,
              url: req.url,
              headers: req.headers,
            }),
          },
        },
      },
    );
    const wrong = 'Bearer definitely-wrong-key-0123456789';
    try {
      const requests: Array<[Method, string, string | undefined, unknown?]> = [
        ['GET', '/v1/models', `Bearer ${KEYS.predict}`],
        ['GET', '/v1/jobs', `Bearer ${KEYS.predict}`],
        ['GET', '/v1/jobs', `Bearer ${KEYS.train}`],
        ['GET', '/v1/jobs/job_0000000000aaaaaaaa', `Bearer ${KEYS.admin}`],
        ['POST', '/v1/jobs', `Bearer ${KEYS.train}`, { model: 1 }],
        ['POST', '/v1/jobs', `Bearer ${KEYS.train}`, '{"broken'],
        ['POST', '/v1/models/m/predict', `Bearer ${KEYS.admin}`, { inputs: [[1]] }],
        ['GET', '/v1/models', wrong],
        ['GET', '/v1/models', `bearer  ${KEYS.admin}`],
        ['GET', '/v1/models', `Basic ${Buffer.from(`user:${KEYS.admin}`).toString('base64')}`],
        ['GET', '/v1/not-a-route', `Bearer ${KEYS.admin}`],
        ['GET', '/healthz', `Bearer ${KEYS.admin}`],
      ];
      for (const [method, url, authorization, body] of requests) {
        await t.app.inject({
          method,
          url,
          headers: {
            ...(authorization ? { authorization } : {}),
            ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          },
          ...(body !== undefined ? { payload: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
        });
      }
    } finally {
      await t.close();
    }
    const text = capture.text;
    expect(capture.lines.length).toBeGreaterThan(20);
    // Headers were logged, and the Authorization header was redacted.
    expect(text).toContain('[redacted]');
    for (const key of [...Object.values(KEYS), wrong.slice('Bearer '.length), Buffer.from(`user:${KEYS.admin}`).toString('base64')]) {
      expect(text, `a key leaked into the log`).not.toContain(key);
    }
    // Callers are identified by key name only.
    expect(text).toMatch(/"(principal|key)"|reader|trainer|root|incoming request/);
  });
});
