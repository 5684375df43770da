/**
 * Server-side batching: engine predictions that reach the predictor in the same turn of the
 * event loop run as one forward pass per model (at most PREDICT_BATCH_ROWS rows), and each
 * request gets bit for bit the answer it gets alone.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { LightMyRequestResponse } from 'fastify';
import type { BatchStats } from '../../src/api/services/predict-batcher.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { importModel, tinyCheckpoint, tinySpec } from '../helpers/hardening.js';

// Wide enough for every kernel path: a lone row takes the few-row kernel, a batch the 4×8 tiles
// (with 1–3 rows left over) and the narrow path for the 4 columns past 32 and the 10 outputs.
const WIDTH = 40;
const HIDDEN = 36;
const CLASSES = 10;

interface Request {
  model: string;
  rows: number[][];
  binary: boolean;
}

function rowsOf(count: number, seed: number): number[][] {
  return Array.from({ length: count }, (_, r) =>
    Array.from({ length: WIDTH }, (_, c) => Math.fround((((seed * 7919 + r * 131 + c * 17) % 211) / 211) * 4 - 2)),
  );
}

function send(t: TestApp, request: Request): Promise<LightMyRequestResponse> {
  const url = `/v1/models/${request.model}/predict`;
  if (!request.binary) return t.app.inject({ method: 'POST', url, payload: { inputs: request.rows } });
  const bytes = Buffer.alloc(request.rows.length * WIDTH * 4);
  request.rows.flat().forEach((v, i) => bytes.writeFloatLE(v, 4 * i));
  return t.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/octet-stream' }, payload: bytes });
}

describe('server-side predict batching', () => {
  const apps: TestApp[] = [];
  afterAll(async () => {
    for (const t of apps) await t.close();
  });

  async function appWith(predictBatchRows?: number): Promise<TestApp> {
    const t = await createTestApp({
      workerConcurrency: 0,
      rateLimitPerMinute: 0,
      ...(predictBatchRows === undefined ? {} : { predictBatchRows }),
    });
    apps.push(t);
    await importModel(t.app, 'a', tinyCheckpoint(tinySpec('a', WIDTH, HIDDEN, CLASSES), 3));
    await importModel(t.app, 'b', tinyCheckpoint(tinySpec('b', WIDTH, HIDDEN, CLASSES), 4));
    return t;
  }

  const stats = (t: TestApp): BatchStats => ({ ...t.app.kiln.predictor.batcher!.stats });

  /** Each request sent alone, one after another: the answers batching must reproduce. */
  async function alone(t: TestApp, requests: Request[]): Promise<string[]> {
    const bodies: string[] = [];
    for (const request of requests) {
      const before = stats(t);
      const res = await send(t, request);
      expect(res.statusCode, res.body).toBe(200);
      expect(stats(t).passes - before.passes, 'a request alone runs in a pass of its own').toBe(1);
      bodies.push(res.body);
    }
    return bodies;
  }

  it('answers concurrent requests from one forward pass, each bit for bit as alone', async () => {
    const t = await appWith();
    const requests: Request[] = Array.from({ length: 13 }, (_, i) => ({ model: 'a', rows: rowsOf(1 + (i % 3), i), binary: i % 2 === 1 }));
    const expected = await alone(t, requests);
    const before = stats(t);
    const responses = await Promise.all(requests.map((r) => send(t, r)));
    const after = stats(t);
    expect(after.passes - before.passes).toBe(1);
    expect(after.requests - before.requests).toBe(requests.length);
    expect(after.largest).toBe(requests.length);
    responses.forEach((res, i) => {
      expect(res.statusCode, res.body).toBe(200);
      expect(res.body, `request ${i}`).toBe(expected[i]);
    });
  });

  it('runs one pass per model, and leaves a bad request out of the pass', async () => {
    const t = await appWith();
    const requests: Request[] = [0, 1, 2, 3, 4, 5].map((i) => ({ model: i % 2 ? 'b' : 'a', rows: rowsOf(2, 100 + i), binary: i > 2 }));
    const expected = await alone(t, requests);
    const before = stats(t);
    const [bad, ...responses] = await Promise.all([
      t.app.inject({ method: 'POST', url: '/v1/models/a/predict', payload: { inputs: [[1, 2, 3]] } }),
      ...requests.map((r) => send(t, r)),
    ]);
    expect(bad!.statusCode, bad!.body).toBe(422);
    expect(stats(t).passes - before.passes).toBe(2);
    expect(stats(t).requests - before.requests).toBe(requests.length);
    responses.forEach((res, i) => expect(res.body, `request ${i}`).toBe(expected[i]));
  });

  it('gathers at most PREDICT_BATCH_ROWS rows a pass, in arrival order; a larger request runs alone', async () => {
    const t = await appWith(4);
    // Rows 1 + 2 fit (a third would not), 5 is over the limit alone, then 1 + 3.
    const requests: Request[] = [1, 2, 5, 1, 3].map((count, i) => ({ model: 'a', rows: rowsOf(count, 200 + i), binary: i % 2 === 0 }));
    const expected = await alone(t, requests);
    const before = stats(t);
    const responses = await Promise.all(requests.map((r) => send(t, r)));
    expect(stats(t).passes - before.passes).toBe(3);
    expect(stats(t).largest).toBe(2);
    responses.forEach((res, i) => expect(res.body, `request ${i}`).toBe(expected[i]));
  });

  it('gathers at most 4 MiB of input values a pass: rows of 8,192 values, 128 rows at most', async () => {
    const t = await createTestApp({ workerConcurrency: 0, rateLimitPerMinute: 0 });
    apps.push(t);
    const width = 8192;
    await importModel(t.app, 'wide', tinyCheckpoint(tinySpec('wide', width, 4, 2), 5));
    const body = (rows: number, seed: number): Buffer => {
      const bytes = Buffer.alloc(rows * width * 4);
      for (let i = 0; i < rows * width; i++) bytes.writeFloatLE(((i * 31 + seed) % 17) / 17 - 0.5, 4 * i);
      return bytes;
    };
    const send = (payload: Buffer) =>
      t.app.inject({ method: 'POST', url: '/v1/models/wide/predict', headers: { 'content-type': 'application/octet-stream' }, payload });
    const payloads = [body(100, 1), body(20, 2), body(100, 3)];
    const expected: string[] = [];
    for (const payload of payloads) expected.push((await send(payload)).body);
    const before = stats(t);
    const responses = await Promise.all(payloads.map(send));
    // 100 + 20 rows fit in 128; the next 100 do not.
    expect(stats(t).passes - before.passes).toBe(2);
    responses.forEach((res, i) => {
      expect(res.statusCode, res.body).toBe(200);
      expect(res.body, `request ${i}`).toBe(expected[i]);
    });
  });

  it('leaves ONNX predicts out of the engine passes', async () => {
    const t = await appWith();
    const before = stats(t);
    const responses = await Promise.all(
      [0, 1, 2].map((i) =>
        t.app.inject({ method: 'POST', url: '/v1/models/a/predict', payload: { inputs: rowsOf(1, 400 + i), runtime: 'onnx' } }),
      ),
    );
    responses.forEach((res) => {
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().runtime).toBe('onnx');
    });
    expect(stats(t)).toEqual(before);
  });

  it('is off with PREDICT_BATCH_ROWS=0, with the same answers', async () => {
    const on = await appWith();
    const off = await appWith(0);
    expect(off.app.kiln.predictor.batcher).toBeNull();
    const requests: Request[] = Array.from({ length: 6 }, (_, i) => ({ model: 'b', rows: rowsOf(1 + (i % 2), 300 + i), binary: i < 3 }));
    const expected = await alone(on, requests);
    const responses = await Promise.all(requests.map((r) => send(off, r)));
    responses.forEach((res, i) => expect(res.body, `request ${i}`).toBe(expected[i]));
  });
});
