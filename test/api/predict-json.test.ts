/**
 * The JSON predict fast path (src/api/services/predict-json.ts): for every body it takes, the
 * same float32 values as JSON.parse + toMatrix, bit for bit; every body outside its exact subset
 * goes to the general path (null), where the usual errors are produced.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLOAT32_MAX } from '../../src/api/services/data.js';
import { parsePredictJson, readJsonNumber } from '../../src/api/services/predict-json.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { expectProblem, importModel, tinyCheckpoint, tinySpec } from '../helpers/hardening.js';

const bytes = (text: string): Buffer => Buffer.from(text, 'utf8');

/** What the general path makes of the same body: JSON.parse, then a float32 store per value. */
function reference(text: string): { values: Float32Array; rows: number; width: number; runtime: unknown } {
  const body = JSON.parse(text) as { inputs: number[][]; runtime?: unknown };
  return { values: Float32Array.from(body.inputs.flat()), rows: body.inputs.length, width: body.inputs[0]!.length, runtime: body.runtime };
}

function expectSameAsReference(text: string): void {
  const fast = parsePredictJson(bytes(text));
  expect(fast, text.slice(0, 200)).not.toBeNull();
  const ref = reference(text);
  expect(fast!.inputs.rows).toBe(ref.rows);
  expect(fast!.inputs.width).toBe(ref.width);
  expect(fast!.runtime).toBe(ref.runtime);
  // Bit patterns, so -0 vs 0 and every last-place difference counts.
  expect(new Uint32Array(fast!.inputs.values.buffer, 0, fast!.inputs.values.length)).toEqual(new Uint32Array(ref.values.buffer));
}

/** A JSON number text within float32's range, in any RFC 8259 form. */
const jsonNumber = fc
  .tuple(
    fc.boolean(),
    fc.oneof(fc.constant('0'), fc.stringMatching(/^[1-9][0-9]{0,24}$/)),
    fc.option(fc.stringMatching(/^[0-9]{1,30}$/), { nil: undefined }),
    fc.option(fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), fc.integer({ min: 0, max: 45 })), { nil: undefined }),
  )
  .map(
    ([neg, int, frac, exp]) => `${neg ? '-' : ''}${int}${frac === undefined ? '' : `.${frac}`}${exp ? `${exp[0]}${exp[1]}${exp[2]}` : ''}`,
  )
  .filter((text) => Math.abs(Number(text)) <= FLOAT32_MAX);

const ws = fc.constantFrom('', ' ', '\n', '\t ', '\r\n  ');

describe('parsePredictJson', () => {
  it('reads every JSON number form to the same double as JSON.parse', () => {
    fc.assert(
      fc.property(jsonNumber, (text) => {
        expect(Object.is(readJsonNumber(text), JSON.parse(text) as number), text).toBe(true);
      }),
      { numRuns: 20000 },
    );
    for (const text of [
      '0',
      '-0',
      '1e22',
      '1e-22',
      '123456789012345e7',
      '9007199254740993',
      '0.1',
      '5e-324',
      '2.2250738585072014e-308',
      '3.4028234663852886e38',
    ])
      expect(Object.is(readJsonNumber(text), JSON.parse(text) as number), text).toBe(true);
  });

  it('stores every JSON number form as the same float32 as JSON.parse + toMatrix', () => {
    fc.assert(
      fc.property(fc.array(jsonNumber, { minLength: 1, maxLength: 20 }), (numbers) =>
        expectSameAsReference(`{"inputs":[[${numbers.join(',')}]]}`),
      ),
      { numRuns: 3000 },
    );
  });

  it('reads doubles as JSON.stringify writes them, in any layout, key order and runtime', () => {
    const value = fc.double({ min: -FLOAT32_MAX, max: FLOAT32_MAX, noNaN: true });
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 6 })
          .chain((width) => fc.array(fc.array(value, { minLength: width, maxLength: width }), { minLength: 1, maxLength: 5 })),
        fc.option(fc.constantFrom('engine', 'onnx'), { nil: undefined }),
        fc.boolean(),
        fc.array(ws, { minLength: 12, maxLength: 12 }),
        (rows, runtime, runtimeFirst, s) => {
          const inputs = `${s[0]}[${s[1]}${rows.map((r) => `[${s[2]}${r.map((v) => JSON.stringify(v)).join(`${s[3]},${s[4]}`)}${s[5]}]`).join(`${s[6]},${s[7]}`)}${s[8]}]`;
          const parts = [`"inputs"${s[9]}:${inputs}`];
          if (runtime) parts[runtimeFirst ? 'unshift' : 'push'](`"runtime"${s[10]}:${s[11]}"${runtime}"`);
          expectSameAsReference(`${s[11]}{${s[10]}${parts.join(`${s[9]},${s[2]}`)}${s[3]}}${s[4]}`);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('leaves every body outside its subset to the general path', () => {
    const general = [
      '',
      '{}',
      '[]',
      'null',
      '{"inputs":[]}',
      '{"inputs":[[]]}',
      '{"inputs":[[1,2],[3]]}', // ragged: toMatrix names the row
      '{"inputs":[[1,2]],"inputs":[[3,4]]}', // duplicate key
      '{"inputs":[[1]],"runtime":"gpu"}',
      '{"inputs":[[1]],"runtime":null}',
      '{"inputs":[[1]],"extra":1}',
      '{"__proto__":{},"inputs":[[1]]}',
      '{"\\u0069nputs":[[1]]}', // escaped key
      '{"inputs":[[1]],"runtime":"\\u0065ngine"}',
      '{"runtime":"engine"}',
      '{"inputs":[[[1]]]}',
      '{"inputs":[["1"]]}',
      '{"inputs":[[null]]}',
      '{"inputs":[[true]]}',
      '{"inputs":[[1,]]}',
      '{"inputs":[[1]],}',
      '{"inputs":[[1]]} x',
      '{"inputs":[[1]]',
      '{"inputs":[[01]]}',
      '{"inputs":[[1.]]}',
      '{"inputs":[[.5]]}',
      '{"inputs":[[+1]]}',
      '{"inputs":[[1e]]}',
      '{"inputs":[[-]]}',
      '{"inputs":[[NaN]]}',
      '{"inputs":[[Infinity]]}',
      '{"inputs":[[1e39]]}', // beyond float32: the general path names the value
      '{"inputs":[[3.5e38]]}',
      '{"inputs":[[1e400]]}',
      `{"inputs":[[1${'0'.repeat(1200)}]]}`,
      // A long fraction must not offset a huge exponent: JSON.parse reads these as ±Infinity.
      `{"inputs":[[0.${'0'.repeat(99999)}1e1000000]]}`,
      `{"inputs":[[-0.${'0'.repeat(99999)}25e1000001]]}`,
      '{"inputs":[[1e99999999999999999999]]}',
      '{"inputs":[[1]]}\u0000',
      '{"inputs"\u00a0:[[1]]}',
    ];
    for (const text of general) expect(parsePredictJson(bytes(text)), text.slice(0, 80)).toBeNull();
  });

  it('grows past its first buffer for large batches', () => {
    const rows = Array.from({ length: 300 }, (_, r) => Array.from({ length: 50 }, (_, c) => (r * 50 + c) / 7));
    expectSameAsReference(JSON.stringify({ inputs: rows }));
  });
});

describe('JSON predict through the API', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ workerConcurrency: 0, rateLimitPerMinute: 0, predictMaxRows: 3 });
    await importModel(t.app, 'm', tinyCheckpoint(tinySpec('m', 3, 5, 3), 7));
  });
  afterAll(async () => t.close());

  const post = (text: string) =>
    t.app.inject({ method: 'POST', url: '/v1/models/m/predict', headers: { 'content-type': 'application/json' }, payload: text });

  it('answers the same on the fast and the general path', async () => {
    const inputs = '[[0.1, -2.5, 3e-3], [1, 2, 3]]';
    const fast = await post(`{"inputs": ${inputs}, "runtime": "engine"}`);
    // The escape sends the same body through JSON.parse and the schema.
    const general = await post(`{"inputs": ${inputs}, "runtime": "\\u0065ngine"}`);
    expect(fast.statusCode, fast.body).toBe(200);
    expect(general.json()).toEqual(fast.json());
  });

  it('keeps the errors of the general path', async () => {
    expect(expectProblem(await post('{"inputs": [[1, 2]]}'), 422).errors?.[0]?.path).toBe('inputs[0]');
    expect(expectProblem(await post('{"inputs": [[1, 2, 3], [1, 2]]}'), 422).errors?.[0]?.path).toBe('inputs[1]');
    expect(expectProblem(await post('{"inputs": [[1, 2, 1e39]]}'), 422).errors?.[0]?.path).toBe('inputs[0][2]');
    const offsetExponent = `{"inputs": [[1, 2, 0.${'0'.repeat(99999)}1e1000000]]}`;
    expect(expectProblem(await post(offsetExponent), 422).errors?.[0]?.path).toBe('inputs[0][2]');
    expect(expectProblem(await post('{"inputs": [[1, 2, 3]], "extra": 1}'), 400).detail).toContain('extra');
    expect(expectProblem(await post('{"inputs": [[1, 2, 3]]')).status).toBe(400);
    expectProblem(await post('{"__proto__": {"x": 1}, "inputs": [[1, 2, 3]]}'), 400);
    const tooMany = expectProblem(await post('{"inputs": [[1,2,3],[1,2,3],[1,2,3],[1,2,3]]}'), 413);
    expect(tooMany.detail).toContain('PREDICT_MAX_ROWS');
  });
});
