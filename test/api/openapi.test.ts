import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';

describe('OpenAPI', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ workerConcurrency: 0 });
  });
  afterAll(async () => t.close());

  it('serves the committed document (run `npm run openapi` after changing a route)', async () => {
    const served = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const committed = JSON.parse(await readFile(new URL('../../openapi/openapi.json', import.meta.url), 'utf8'));
    expect(served).toEqual(committed);
  });

  it('documents every contract operation with a summary and tags', async () => {
    const doc = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(doc.openapi).toMatch(/^3\./);
    const operations = Object.entries(doc.paths as Record<string, Record<string, { summary?: string; tags?: string[] }>>).flatMap(
      ([path, methods]) => Object.entries(methods).map(([method, op]) => ({ id: `${method.toUpperCase()} ${path}`, op })),
    );
    for (const { id, op } of operations) {
      expect(op.summary, id).toBeTruthy();
      expect(op.tags?.length, id).toBeGreaterThan(0);
    }
    const ids = operations.map((o) => o.id);
    for (const expected of [
      'POST /v1/jobs',
      'GET /v1/jobs',
      'GET /v1/jobs/{id}',
      'POST /v1/jobs/{id}/cancel',
      'GET /v1/jobs/{id}/events',
      'POST /v1/datasets',
      'GET /v1/datasets/{id}',
      'DELETE /v1/datasets/{id}',
      'GET /v1/models',
      'GET /v1/models/{name}',
      'GET /v1/models/{name}/versions/{version}',
      'GET /v1/models/{name}/versions/{version}/checkpoint',
      'GET /v1/models/{name}/versions/{version}/onnx',
      'POST /v1/models/{name}/versions',
      'DELETE /v1/models/{name}/versions/{version}',
      'POST /v1/models/{name}/predict',
      'POST /v1/models/{name}/versions/{version}/predict',
      'GET /healthz',
      'GET /readyz',
    ]) {
      expect(ids).toContain(expected);
    }
    // A newcomer can try a job straight from the docs UI.
    expect(JSON.stringify(doc.paths['/v1/jobs'].post)).toContain('"xor"');
  });

  it('serves the interactive docs UI', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/docs/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/html');
    expect(res.body).toContain('swagger-ui');
  });

  it('reports health and readiness', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await t.app.inject({ method: 'GET', url: '/readyz' })).json()).toEqual({ status: 'ready', queue: 'embedded' });
  });
});
