/**
 * POST …/predict with an application/octet-stream body: rows of little-endian float32 values.
 * Same answers as the JSON body, for both runtimes and both predict routes, and the same kind
 * of 4xx problems naming the body when the bytes do not make whole, finite rows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { expectProblem, importModel, tinyCheckpoint, tinySpec } from '../helpers/hardening.js';

const WIDTH = 3;
/** Rows of float32-exact values, so JSON and binary carry the same numbers. */
const ROWS = [
  [0.5, -1.25, 2],
  [Math.fround(0.1), Math.fround(-3.7), 1e-3],
  [0, 0, 0],
  [Math.fround(123.456), -0.0078125, Math.fround(9.99)],
].map((row) => row.map(Math.fround));

function float32Bytes(rows: number[][]): Buffer {
  const bytes = Buffer.alloc(rows.length * WIDTH * 4);
  rows.flat().forEach((v, i) => bytes.writeFloatLE(v, 4 * i));
  return bytes;
}

describe('binary predict bodies', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ workerConcurrency: 0, rateLimitPerMinute: 0, predictMaxRows: 4 });
    await importModel(t.app, 'm', tinyCheckpoint(tinySpec('m', WIDTH, 5, 3), 7));
    await importModel(t.app, 'm', tinyCheckpoint(tinySpec('m', WIDTH, 5, 3), 8));
  });
  afterAll(async () => t.close());

  const binary = (payload: Buffer, url = '/v1/models/m/predict') =>
    t.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/octet-stream' }, payload });
  const json = (payload: unknown, url = '/v1/models/m/predict') => t.app.inject({ method: 'POST', url, payload: payload as object });

  it('answers exactly what the JSON body answers, on latest and on a pinned version', async () => {
    for (const url of ['/v1/models/m/predict', '/v1/models/m/versions/1/predict']) {
      const fromJson = await json({ inputs: ROWS }, url);
      const fromBinary = await binary(float32Bytes(ROWS), url);
      expect(fromJson.statusCode, fromJson.body).toBe(200);
      expect(fromBinary.statusCode, fromBinary.body).toBe(200);
      expect(fromBinary.json()).toEqual(fromJson.json());
      expect(fromBinary.json().outputs).toHaveLength(ROWS.length);
      expect(fromBinary.json().classes).toHaveLength(ROWS.length);
    }
    expect((await binary(float32Bytes(ROWS))).json().model.version).toBe(2);
    expect((await binary(float32Bytes(ROWS), '/v1/models/m/versions/1/predict')).json().model.version).toBe(1);
  });

  it('takes the runtime from the query string; a JSON body’s own runtime wins', async () => {
    const engine = (await binary(float32Bytes(ROWS))).json();
    const onnx = await binary(float32Bytes(ROWS), '/v1/models/m/predict?runtime=onnx');
    expect(onnx.statusCode, onnx.body).toBe(200);
    expect(onnx.json().runtime).toBe('onnx');
    onnx
      .json()
      .outputs.flat()
      .forEach((v: number, i: number) => expect(Math.abs(v - engine.outputs.flat()[i])).toBeLessThanOrEqual(1e-5));
    expect((await json({ inputs: ROWS, runtime: 'engine' }, '/v1/models/m/predict?runtime=onnx')).json().runtime).toBe('engine');
    expect((await json({ inputs: ROWS }, '/v1/models/m/predict?runtime=onnx')).json().runtime).toBe('onnx');
    expectProblem(await binary(float32Bytes(ROWS), '/v1/models/m/predict?runtime=gpu'), 400);
  });

  it('refuses bytes that are not whole rows, naming the body and the row size', async () => {
    for (const bytes of [Buffer.alloc(0), Buffer.alloc(5), Buffer.alloc(4 * WIDTH + 4)]) {
      const problem = expectProblem(await binary(bytes), (s) => s === 400 || s === 422);
      expect([problem.detail, ...(problem.errors ?? []).map((e) => e.path)].join(' ')).toContain('body');
      if (bytes.length > 0) expect(problem.detail).toContain(`${4 * WIDTH} bytes`);
    }
  });

  it('refuses NaN and infinities, naming the row and the value', async () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      const rows = ROWS.map((row) => [...row]);
      rows[2]![1] = bad;
      const problem = expectProblem(await binary(float32Bytes(rows)), 422);
      expect(problem.errors?.[0]?.path).toBe('body[2][1]');
    }
  });

  it('counts binary rows against PREDICT_MAX_ROWS', async () => {
    const problem = expectProblem(await binary(float32Bytes([...ROWS, ROWS[0]!])), 413);
    expect(problem.detail).toContain('PREDICT_MAX_ROWS');
    expect(problem.errors?.[0]?.path).toBe('body');
  });

  it('refuses other media types and a missing body with a problem, not a crash', async () => {
    for (const url of ['/v1/models/m/predict', '/v1/models/m/versions/1/predict']) {
      const text = await t.app.inject({ method: 'POST', url, headers: { 'content-type': 'text/plain' }, payload: '1,2,3' });
      expect(expectProblem(text, 415).detail).toContain('application/octet-stream');
      const empty = await t.app.inject({ method: 'POST', url });
      expect(expectProblem(empty, 400).errors?.[0]?.path).toBe('body');
    }
  });

  it('is refused by the routes that take JSON only', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/models/m/versions',
      headers: { 'content-type': 'application/octet-stream' },
      payload: float32Bytes(ROWS),
    });
    expect(expectProblem(res, 415).detail).toContain('application/json');
    const jobs = await t.app.inject({
      method: 'POST',
      url: '/v1/jobs',
      headers: { 'content-type': 'application/octet-stream' },
      payload: float32Bytes(ROWS),
    });
    expect(expectProblem(jobs, 415).status).toBe(415);
    // The models are still served after the refusals.
    expect((await binary(float32Bytes(ROWS))).statusCode).toBe(200);
  });
});
