import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, waitForJob, type TestApp } from '../helpers/app.js';

describe('datasets', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ datasetsBodyLimit: 32 * 1024 });
  });
  afterAll(async () => t.close());

  it('stores JSON uploads and trains from them by id', async () => {
    const x = Array.from({ length: 64 }, (_, i) => [i / 64, 1 - i / 64]);
    const y = x.map(([a]) => 3 * a! - 1);
    const res = await t.app.inject({ method: 'POST', url: '/v1/datasets', payload: { x, y } });
    expect(res.statusCode).toBe(201);
    const ds = res.json();
    expect(ds).toMatchObject({ rows: 64, features: 2, targetWidth: 1, source: 'json' });
    expect(res.headers.location).toBe(`/v1/datasets/${ds.id}`);
    expect((await t.app.inject({ method: 'GET', url: `/v1/datasets/${ds.id}` })).json()).toMatchObject({
      id: ds.id,
      rows: 64,
      features: 2,
    });

    const job = await t.app.inject({
      method: 'POST',
      url: '/v1/jobs',
      payload: {
        model: { name: 'line', inputShape: [2], layers: [{ type: 'dense', units: 1 }] },
        training: {
          loss: 'mse',
          optimizer: { type: 'sgd', learningRate: 0.3 },
          epochs: 200,
          batchSize: 64,
          shuffle: false,
          metrics: ['mae'],
        },
        data: { datasetId: ds.id },
      },
    });
    expect(job.statusCode).toBe(202);
    const done = await waitForJob(t.app, job.json().id);
    expect(done.status).toBe('completed');
    expect(done.spec.datasetId).toBe(ds.id);
    expect(done.history.at(-1)!.loss).toBeLessThan(1e-3);
    const out = (await t.app.inject({ method: 'POST', url: '/v1/models/line/predict', payload: { inputs: [[0.5, 0.5]] } })).json();
    expect(out.outputs[0][0]).toBeCloseTo(0.5, 1);
    expect(out.classes).toBeUndefined();
  });

  it('parses CSV with a header row and a label column', async () => {
    const csv = 'sepal,petal,"kind"\n1.5,2,0\n2.5,3.25,1\n\n4,5,1\n';
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/datasets?label=kind',
      headers: { 'content-type': 'text/csv' },
      payload: csv,
    });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ rows: 3, features: 2, source: 'csv', columns: ['sepal', 'petal'], label: 'kind' });

    const noLabel = await t.app.inject({ method: 'POST', url: '/v1/datasets', headers: { 'content-type': 'text/csv' }, payload: csv });
    expect(noLabel.statusCode).toBe(422);
    expect(noLabel.json().detail).toMatch(/label/);
    const wrongLabel = await t.app.inject({
      method: 'POST',
      url: '/v1/datasets?label=species',
      headers: { 'content-type': 'text/csv' },
      payload: csv,
    });
    expect(wrongLabel.statusCode).toBe(422);
    const notNumber = await t.app.inject({
      method: 'POST',
      url: '/v1/datasets?label=kind',
      headers: { 'content-type': 'text/csv' },
      payload: 'a,kind\nx,1\n',
    });
    expect(notNumber.statusCode).toBe(422);
    expect(notNumber.json().detail).toMatch(/line 2.*"a".*not a number/);
    const ragged = await t.app.inject({
      method: 'POST',
      url: '/v1/datasets?label=kind',
      headers: { 'content-type': 'text/csv' },
      payload: 'a,kind\n1,2,3\n',
    });
    expect(ragged.statusCode).toBe(422);
  });

  it('refuses bad uploads with problems and deletes datasets', async () => {
    const ragged = await t.app.inject({ method: 'POST', url: '/v1/datasets', payload: { x: [[1, 2], [3]], y: [0, 1] } });
    expect(ragged.statusCode).toBe(422);
    expect(ragged.json().errors[0].path).toBe('x[1]');
    const extra = await t.app.inject({ method: 'POST', url: '/v1/datasets', payload: { x: [[1]], y: [0], z: 1 } });
    expect(extra.statusCode).toBe(400);
    const tooBig = await t.app.inject({
      method: 'POST',
      url: '/v1/datasets',
      payload: { x: Array.from({ length: 4000 }, () => [1.2345, 2.3456]), y: Array.from({ length: 4000 }, () => 1) },
    });
    expect(tooBig.statusCode).toBe(413);
    const xml = await t.app.inject({
      method: 'POST',
      url: '/v1/datasets',
      headers: { 'content-type': 'application/xml' },
      payload: '<x/>',
    });
    expect(xml.statusCode).toBe(415);
    expect(xml.json().detail).toMatch(/text\/csv/);

    const created = (await t.app.inject({ method: 'POST', url: '/v1/datasets', payload: { x: [[1]], y: [0] } })).json();
    expect((await t.app.inject({ method: 'DELETE', url: `/v1/datasets/${created.id}` })).statusCode).toBe(204);
    expect((await t.app.inject({ method: 'GET', url: `/v1/datasets/${created.id}` })).statusCode).toBe(404);
    expect((await t.app.inject({ method: 'DELETE', url: `/v1/datasets/${created.id}` })).statusCode).toBe(404);
  });
});
