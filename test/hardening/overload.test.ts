/**
 * Overload and protocol protections: per-key rate limits (429 + Retry-After + x-ratelimit-*),
 * load shedding when the event loop is blocked (503 + Retry-After), Idempotency-Key on job
 * submission, security headers with a CSP the docs work under, and opt-in CORS.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, xorJob, type TestApp } from '../helpers/app.js';
import { KEYS, bearer, eventually, expectProblem, testApiKeys } from '../helpers/hardening.js';

describe('rate limits', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(
      { workerConcurrency: 0, rateLimitPerMinute: 5, jobsRateLimitPerMinute: 3, maxActiveJobsPerCaller: 1000 },
      { apiKeys: testApiKeys() },
    );
  });
  afterAll(async () => t.close());

  it('a burst over the limit gets 429 problem+json with retry-after and x-ratelimit-*; another key is unaffected', async () => {
    const statuses: number[] = [];
    let last = null;
    for (let i = 0; i < 10; i++) {
      const res = await t.app.inject({ method: 'GET', url: '/v1/models', headers: bearer(KEYS.predict) });
      statuses.push(res.statusCode);
      if (res.statusCode === 200) {
        expect(res.headers['x-ratelimit-limit']).toBe('5');
        expect(Number(res.headers['x-ratelimit-remaining'])).toBe(4 - i);
      } else last = res;
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429, 429, 429, 429]);
    const problem = expectProblem(last!, 429);
    expect(problem.type).toBe('urn:kiln:problem:rate-limited');
    expect(problem.detail).toMatch(/rate limit of 5 requests per minute/);
    expect(Number(last!.headers['retry-after'])).toBeGreaterThan(0);
    expect(last!.headers['x-ratelimit-limit']).toBe('5');
    expect(last!.headers['x-ratelimit-remaining']).toBe('0');
    expect(Number(last!.headers['x-ratelimit-reset'])).toBeGreaterThan(0);

    // Another key has its own budget.
    expect((await t.app.inject({ method: 'GET', url: '/v1/models', headers: bearer(KEYS.admin) })).statusCode).toBe(200);
    // Health and docs are never rate limited.
    for (let i = 0; i < 10; i++) expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });

  it('job submissions have their own, lower limit, and a refused submission creates nothing', async () => {
    const submit = (key: string) =>
      t.app.inject({
        method: 'POST',
        url: '/v1/jobs',
        headers: { ...bearer(key), 'content-type': 'application/json' },
        payload: JSON.stringify(xorJob()),
      });
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await submit(KEYS.train)).statusCode);
    expect(statuses).toEqual([202, 202, 202, 429, 429]);
    const refused = await submit(KEYS.train);
    expect(expectProblem(refused, 429).detail).toMatch(/3 requests per minute/);
    expect(refused.headers['retry-after']).toBeDefined();
    expect((await submit(KEYS.train2)).statusCode).toBe(202);
    const jobs = (await readdir(join(t.config.dataDir, 'jobs'))).filter((f) => f.endsWith('.json'));
    expect(jobs).toHaveLength(4);
  });
});

describe('load shedding', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ workerConcurrency: 0, rateLimitPerMinute: 0, maxEventLoopDelayMs: 10 });
  });
  afterAll(async () => t.close());

  it('a blocked event loop makes new requests 503 with retry-after, liveness stays up, and it recovers', async () => {
    const block = (ms: number) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        // a synchronous stall, like a huge JSON.parse
      }
    };
    block(1500);
    const shed = await eventually(
      async () => {
        const res = await t.app.inject({ method: 'GET', url: '/v1/models' });
        return res.statusCode === 503 ? res : undefined;
      },
      3_000,
      5,
    );
    const problem = expectProblem(shed, 503);
    expect(problem.type).toBe('urn:kiln:problem:overloaded');
    expect(problem.detail).toMatch(/eventLoopDelay/);
    expect(shed.headers['retry-after']).toBe('10');
    // While shedding: work is refused before it is done, readiness says so, liveness does not.
    const submit = await t.app.inject({ method: 'POST', url: '/v1/jobs', payload: xorJob() });
    expectProblem(submit, 503);
    expect((await t.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(503);
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect(await readdir(join(t.config.dataDir, 'jobs')).catch(() => [])).toEqual([]);

    // The next samples see a healthy loop again.
    await eventually(
      async () => ((await t.app.inject({ method: 'GET', url: '/v1/models' })).statusCode === 200 ? true : undefined),
      5_000,
      50,
    );
  });
});

describe('Idempotency-Key', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(
      { workerConcurrency: 0, rateLimitPerMinute: 0, jobsRateLimitPerMinute: 10_000, maxActiveJobsPerCaller: 1000 },
      { apiKeys: testApiKeys() },
    );
  });
  afterAll(async () => t.close());

  const submit = (key: string, body: unknown, apiKey: string = KEYS.train) =>
    t.app.inject({
      method: 'POST',
      url: '/v1/jobs',
      headers: { ...bearer(apiKey), 'content-type': 'application/json', 'idempotency-key': key },
      payload: JSON.stringify(body),
    });
  const jobCount = async () => (await readdir(join(t.config.dataDir, 'jobs'))).filter((f) => f.endsWith('.json')).length;

  it('a retried request gets the same job, marked as replayed', async () => {
    const first = await submit('retry-1', xorJob());
    expect(first.statusCode).toBe(202);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const again = await submit('retry-1', xorJob());
    expect(again.statusCode).toBe(202);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect((again.json() as { id: string }).id).toBe((first.json() as { id: string }).id);
    expect(again.headers.location).toBe(first.headers.location);
    expect(await jobCount()).toBe(1);
  });

  it('the same key with a different body is 422; keys are per caller', async () => {
    const before = await jobCount();
    const other = xorJob({ training: { ...xorJob().training, epochs: 7 } });
    const reused = await submit('retry-1', other);
    const problem = expectProblem(reused, 422);
    expect(problem.type).toBe('urn:kiln:problem:idempotency-key-reused');
    expect(await jobCount()).toBe(before);
    // Another caller using the same key string gets its own job.
    const mine = await submit('retry-1', xorJob(), KEYS.train2);
    expect(mine.statusCode).toBe(202);
    expect(mine.headers['idempotent-replayed']).toBeUndefined();
  });

  it('concurrent duplicates create exactly one job', async () => {
    const before = await jobCount();
    const responses = await Promise.all(Array.from({ length: 8 }, () => submit('burst-1', xorJob())));
    expect(responses.map((r) => r.statusCode)).toEqual(new Array(8).fill(202));
    const ids = new Set(responses.map((r) => (r.json() as { id: string }).id));
    expect(ids.size).toBe(1);
    expect(responses.filter((r) => r.headers['idempotent-replayed'] === 'true')).toHaveLength(7);
    expect(await jobCount()).toBe(before + 1);
  });

  it('a refused request does not burn its key', async () => {
    const bad = await submit('fix-and-retry', { ...xorJob(), training: { loss: 'mse' } });
    expectProblem(bad, 400);
    const good = await submit('fix-and-retry', xorJob());
    expect(good.statusCode).toBe(202);
    expect(good.headers['idempotent-replayed']).toBeUndefined();
  });
});

describe('security headers and CORS', () => {
  it('helmet headers on API, error and docs responses; the docs load under their CSP', async () => {
    const t = await createTestApp({ workerConcurrency: 0 }, { apiKeys: testApiKeys() });
    try {
      for (const [url, headers] of [
        ['/v1/models', bearer(KEYS.predict)],
        ['/v1/models', {}], // refused (401): still has the headers
        ['/healthz', {}],
      ] as const) {
        const res = await t.app.inject({ method: 'GET', url, headers });
        const csp = String(res.headers['content-security-policy']);
        expect(csp, url).toContain("default-src 'self'");
        expect(csp, url).toContain("frame-ancestors 'none'");
        expect(csp, url).toContain("object-src 'none'");
        expect(res.headers['x-content-type-options'], url).toBe('nosniff');
        expect(res.headers['strict-transport-security'], url).toBeDefined();
        expect(res.headers['referrer-policy'], url).toBe('no-referrer');
        expect(res.headers['x-powered-by'], url).toBeUndefined();
      }
      const docs = await t.app.inject({ method: 'GET', url: '/docs/' });
      /** A same-origin path under /docs for a URL the page references. */
      const sameOrigin = (ref: string | undefined): string => {
        const url = new URL(ref ?? '', 'http://kiln.test/docs/');
        expect(url.origin, ref).toBe('http://kiln.test');
        expect(url.pathname).toMatch(/^\/docs\//);
        return url.pathname;
      };
      expect(docs.statusCode).toBe(200);
      const csp = String(docs.headers['content-security-policy']);
      expect(csp).toMatch(/frame-ancestors/);
      expect(docs.headers['x-content-type-options']).toBe('nosniff');
      // Every script and stylesheet the page loads is same-origin and is served; no inline script.
      const scripts = [...docs.body.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
      expect(scripts.length).toBeGreaterThan(0);
      for (const [, attrs, inline] of scripts) {
        expect(inline!.trim(), 'inline script would be blocked by script-src').toBe('');
        const src = sameOrigin(/src="([^"]+)"/.exec(attrs!)?.[1]);
        expect((await t.app.inject({ method: 'GET', url: src })).statusCode, src).toBe(200);
      }
      for (const [, href] of docs.body.matchAll(/<link rel="stylesheet"[^>]*href="([^"]+)"/g)) {
        const url = sameOrigin(href);
        expect((await t.app.inject({ method: 'GET', url })).statusCode, url).toBe(200);
      }
      expect(docs.body).not.toMatch(/<style|style="/);
      expect(csp).toMatch(/script-src 'self'/);
      // The initializer fetches the document from the same origin.
      expect((await t.app.inject({ method: 'GET', url: '/docs/json' })).statusCode).toBe(200);
    } finally {
      await t.close();
    }
  });

  it('CORS_ORIGINS set: preflights from an allowed origin succeed (even with keys), others get nothing', async () => {
    const t = await createTestApp({ workerConcurrency: 0, corsOrigins: ['https://app.example'] }, { apiKeys: testApiKeys() });
    try {
      const preflight = await t.app.inject({
        method: 'OPTIONS',
        url: '/v1/jobs',
        headers: {
          origin: 'https://app.example',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization,content-type,idempotency-key',
        },
      });
      expect(preflight.statusCode).toBe(204);
      expect(preflight.headers['access-control-allow-origin']).toBe('https://app.example');
      expect(String(preflight.headers['access-control-allow-headers'])).toContain('authorization');
      expect(String(preflight.headers['access-control-allow-methods'])).toContain('POST');

      const get = await t.app.inject({
        method: 'GET',
        url: '/v1/models',
        headers: { origin: 'https://app.example', ...bearer(KEYS.predict) },
      });
      expect(get.statusCode).toBe(200);
      expect(get.headers['access-control-allow-origin']).toBe('https://app.example');
      // A refusal is readable by the allowed page too.
      const refused = await t.app.inject({ method: 'GET', url: '/v1/models', headers: { origin: 'https://app.example' } });
      expect(refused.statusCode).toBe(401);
      expect(refused.headers['access-control-allow-origin']).toBe('https://app.example');

      const evil = await t.app.inject({
        method: 'OPTIONS',
        url: '/v1/jobs',
        headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
      });
      expect(evil.headers['access-control-allow-origin']).toBeUndefined();
      const evilGet = await t.app.inject({
        method: 'GET',
        url: '/v1/models',
        headers: { origin: 'https://evil.example', ...bearer(KEYS.predict) },
      });
      expect(evilGet.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await t.close();
    }
  });

  it('CORS_ORIGINS unset: no CORS headers at all', async () => {
    const t = await createTestApp({ workerConcurrency: 0 });
    try {
      const preflight = await t.app.inject({
        method: 'OPTIONS',
        url: '/v1/jobs',
        headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
      });
      expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
      const get = await t.app.inject({ method: 'GET', url: '/v1/models', headers: { origin: 'https://app.example' } });
      expect(get.statusCode).toBe(200);
      expect(get.headers['access-control-allow-origin']).toBeUndefined();
      expect(get.headers['cross-origin-resource-policy']).toBe('same-origin');
    } finally {
      await t.close();
    }
  });
});
