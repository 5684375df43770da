/**
 * The bad-input battery (issue #7): every case is a client mistake or an attack and must get a
 * 4xx application/problem+json {type,title,status,detail}, create nothing, and leave the server
 * serving. Afterwards the process is still healthy and a normal job trains and predicts.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, waitForJob, xorJob, type TestApp } from '../helpers/app.js';
import { expectProblem, importModel, is4xx, tinyCheckpoint, tinySpec } from '../helpers/hardening.js';

type Method = 'GET' | 'POST' | 'DELETE';

interface Case {
  name: string;
  method: Method;
  url: string;
  /** A string is sent as is; anything else as JSON. */
  payload?: unknown;
  contentType?: string;
  headers?: Record<string, string>;
  /** Exact status, or any 4xx when omitted. */
  status?: number | number[];
  /** A field the problem must name (in errors[].path or the detail). */
  names?: string;
}

const KiB = 1024;
const LIMITS = { jobsBodyLimit: 64 * KiB, predictBodyLimit: 8 * KiB, datasetsBodyLimit: 32 * KiB, modelsBodyLimit: 32 * KiB };

const job = (change: (j: ReturnType<typeof xorJob>) => void = () => undefined) => {
  const j = structuredClone(xorJob());
  change(j);
  return j;
};
const layer = (l: unknown) => job((j) => ((j.model.layers as unknown[])[0] = l));
const training = (t: Record<string, unknown>) => job((j) => Object.assign(j.training, t));
const nested = (depth: number, leaf: unknown = 1): unknown => {
  let v: unknown = leaf;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
};
const deepObject = (depth: number): unknown => {
  let v: unknown = { leaf: 1 };
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
};
const rows = (n: number, width: number) =>
  Array.from({ length: n }, (_, i) => Array.from({ length: width }, (_, j) => (i * width + j) % 7));
const b64 = (values: number[]) => Buffer.from(new Float32Array(values).buffer).toString('base64');
const validJson = JSON.stringify(xorJob());

// Ids and names that try to leave DATA_DIR (or just are not ids): each param of each route.
const TRAVERSAL = [
  '..%2F..%2Fetc%2Fpasswd',
  '%2e%2e%2f',
  '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
  '..%252f..%252fetc',
  'a%2F..%2F..%2Fb',
  'job_%00aaaaaaaaaa',
  '%00',
  'x'.repeat(300),
  encodeURIComponent('\u2024\u2024'), // one dot leader ×2, looks like ".."
  encodeURIComponent('\uff0e\uff0e'), // fullwidth full stop ×2
  'C:%5Cwindows',
  '%2Fetc%2Fpasswd',
];
// Raw (unencoded) traversal never reaches a handler: the router normalizes or rejects it.
const RAW_TRAVERSAL = ['../../etc/passwd', 'a/../../b', '/etc/passwd'];

function checkpointCase(
  name: string,
  change: (cp: Record<string, unknown> & { weights: Array<Record<string, unknown>> }) => void,
  names?: string,
  status?: number,
): Case {
  const cp = structuredClone(tinyCheckpoint()) as unknown as Record<string, unknown> & { weights: Array<Record<string, unknown>> };
  change(cp);
  return {
    name: `import: ${name}`,
    method: 'POST',
    url: '/v1/models/imp/versions',
    payload: cp,
    ...(names ? { names } : {}),
    ...(status ? { status } : {}),
  };
}

const CASES: Case[] = [
  // Malformed JSON.
  { name: 'json: truncated object', method: 'POST', url: '/v1/jobs', payload: '{"model": {"name": "x"', status: 400 },
  { name: 'json: trailing comma', method: 'POST', url: '/v1/jobs', payload: '{"model": 1,}', status: 400 },
  { name: 'json: single quotes', method: 'POST', url: '/v1/jobs', payload: "{'model': 1}", status: 400 },
  { name: 'json: NaN token', method: 'POST', url: '/v1/jobs', payload: validJson.replace('[0,1]', '[0,NaN]'), status: 400 },
  { name: 'json: Infinity token', method: 'POST', url: '/v1/jobs', payload: validJson.replace('[0,1]', '[0,Infinity]'), status: 400 },
  { name: 'json: comment', method: 'POST', url: '/v1/jobs', payload: `/* hi */ ${validJson}`, status: 400 },
  { name: 'json: empty body', method: 'POST', url: '/v1/jobs', payload: '', status: 400 },
  { name: 'json: two documents', method: 'POST', url: '/v1/jobs', payload: `${validJson}${validJson}`, status: 400 },
  { name: 'json: bare word', method: 'POST', url: '/v1/models/m/predict', payload: 'undefined', status: 400 },
  { name: 'json: malformed dataset upload', method: 'POST', url: '/v1/datasets', payload: '{"x": [[1,2]], "y": [', status: 400 },
  { name: 'json: malformed import', method: 'POST', url: '/v1/models/imp/versions', payload: '{"format": ', status: 400 },
  { name: 'json: top-level null', method: 'POST', url: '/v1/jobs', payload: 'null', status: 400 },
  { name: 'json: top-level array', method: 'POST', url: '/v1/jobs', payload: '[]', status: 400 },
  { name: 'json: top-level string', method: 'POST', url: '/v1/jobs', payload: '"train please"', status: 400 },
  { name: 'json: top-level number', method: 'POST', url: '/v1/models/m/predict', payload: '42', status: 400 },

  // Wrong types (no coercion: "5" is not 5).
  {
    name: 'type: epochs as string',
    method: 'POST',
    url: '/v1/jobs',
    payload: training({ epochs: '5' }),
    status: 400,
    names: 'training.epochs',
  },
  {
    name: 'type: batchSize fractional',
    method: 'POST',
    url: '/v1/jobs',
    payload: training({ batchSize: 1.5 }),
    status: 400,
    names: 'training.batchSize',
  },
  {
    name: 'type: shuffle as string',
    method: 'POST',
    url: '/v1/jobs',
    payload: training({ shuffle: 'yes' }),
    status: 400,
    names: 'training.shuffle',
  },
  {
    name: 'type: layers as object',
    method: 'POST',
    url: '/v1/jobs',
    payload: job((j) => ((j.model as Record<string, unknown>)['layers'] = { 0: 1 })),
    status: 400,
    names: 'model.layers',
  },
  {
    name: 'type: inputShape as string',
    method: 'POST',
    url: '/v1/jobs',
    payload: job((j) => ((j.model as Record<string, unknown>)['inputShape'] = '2')),
    status: 400,
    names: 'model.inputShape',
  },
  {
    name: 'type: model null',
    method: 'POST',
    url: '/v1/jobs',
    payload: job((j) => ((j as Record<string, unknown>)['model'] = null)),
    status: 400,
    names: 'model',
  },
  {
    name: 'type: data.x as string',
    method: 'POST',
    url: '/v1/jobs',
    payload: job((j) => ((j.data as Record<string, unknown>)['x'] = '0,0;0,1')),
    status: 400,
  },
  {
    name: 'type: string cell in x',
    method: 'POST',
    url: '/v1/jobs',
    payload: job((j) => ((j.data.x[1] as unknown[])[0] = '1')),
    status: 400,
    names: 'data',
  },
  { name: 'type: boolean label', method: 'POST', url: '/v1/jobs', payload: job((j) => ((j.data.y as unknown[])[0] = true)), status: 400 },
  {
    name: 'type: predict inputs as string',
    method: 'POST',
    url: '/v1/models/m/predict',
    payload: { inputs: '1,2,3' },
    status: 400,
    names: 'inputs',
  },
  {
    name: 'type: predict string cell',
    method: 'POST',
    url: '/v1/models/m/predict',
    payload: { inputs: [[1, 2, '3']] },
    status: 400,
    names: 'inputs[0][2]',
  },
  { name: 'type: dataset y as object', method: 'POST', url: '/v1/datasets', payload: { x: [[1, 2]], y: { 0: 1 } }, status: 400 },

  // Out-of-range numbers.
  { name: 'range: epochs 0', method: 'POST', url: '/v1/jobs', payload: training({ epochs: 0 }), status: 400, names: 'training.epochs' },
  {
    name: 'range: epochs negative',
    method: 'POST',
    url: '/v1/jobs',
    payload: training({ epochs: -3 }),
    status: 400,
    names: 'training.epochs',
  },
  {
    name: 'range: batchSize 0',
    method: 'POST',
    url: '/v1/jobs',
    payload: training({ batchSize: 0 }),
    status: 400,
    names: 'training.batchSize',
  },
  {
    name: 'range: learningRate 0',
    method: 'POST',
    url: '/v1/jobs',
    payload: training({ optimizer: { type: 'adam', learningRate: 0 } }),
    status: 400,
    names: 'training.optimizer.learningRate',
  },
  {
    name: 'range: learningRate 1e6',
    method: 'POST',
    url: '/v1/jobs',
    payload: training({ optimizer: { type: 'sgd', learningRate: 1e6 } }),
    status: 400,
    names: 'training.optimizer.learningRate',
  },
  {
    name: 'range: dropout rate 1',
    method: 'POST',
    url: '/v1/jobs',
    payload: job((j) => j.model.layers.splice(1, 0, { type: 'dropout', rate: 1 } as never)),
    status: 400,
    names: 'model.layers[1].rate',
  },
  {
    name: 'range: validationSplit 1',
    method: 'POST',
    url: '/v1/jobs',
    payload: training({ validationSplit: 1 }),
    status: 400,
    names: 'training.validationSplit',
  },
  {
    name: 'range: units 0',
    method: 'POST',
    url: '/v1/jobs',
    payload: layer({ type: 'dense', units: 0 }),
    status: 400,
    names: 'model.layers[0].units',
  },
  {
    name: 'range: inputShape [0]',
    method: 'POST',
    url: '/v1/jobs',
    payload: job((j) => (j.model.inputShape = [0])),
    status: 400,
    names: 'model.inputShape',
  },
  { name: 'range: seed negative', method: 'POST', url: '/v1/jobs', payload: training({ seed: -1 }), status: 400, names: 'training.seed' },
  {
    name: 'range: 1e400 (Infinity) in x',
    method: 'POST',
    url: '/v1/jobs',
    payload: validJson.replace('[0,1]', '[0,1e400]'),
    status: 422,
    names: 'data.x[1][1]',
  },
  {
    name: 'range: 1e39 overflows float32 in predict',
    method: 'POST',
    url: '/v1/models/m/predict',
    payload: { inputs: [[1e39, 0, 0]] },
    status: 422,
    names: 'inputs[0][0]',
  },
  {
    name: 'range: sparse label out of range',
    method: 'POST',
    url: '/v1/jobs',
    payload: job((j) => {
      j.model.layers[1] = { type: 'dense', units: 2, activation: 'softmax' } as never;
      j.training.loss = 'sparse_categorical_crossentropy';
      j.data.y = [0, 1, 2, 0];
    }),
    status: 422,
    names: 'data.y[2]',
  },
  {
    name: 'range: binary target 2',
    method: 'POST',
    url: '/v1/jobs',
    payload: job((j) => (j.data.y = [0, 1, 2, 0])),
    status: 422,
    names: 'data.y[2]',
  },
  { name: 'range: version 0', method: 'GET', url: '/v1/models/m/versions/0', status: 400, names: 'version' },
  { name: 'range: version 1e12', method: 'GET', url: '/v1/models/m/versions/1000000000000', status: 400, names: 'version' },
  { name: 'range: version fractional', method: 'GET', url: '/v1/models/m/versions/1.5', status: 400, names: 'version' },
  { name: 'range: list limit 0', method: 'GET', url: '/v1/jobs?limit=0', status: 400, names: 'limit' },
  { name: 'range: list limit 10000', method: 'GET', url: '/v1/jobs?limit=10000', status: 400, names: 'limit' },
  { name: 'range: list offset -1', method: 'GET', url: '/v1/jobs?offset=-1', status: 400, names: 'offset' },
  { name: 'type: list limit abc', method: 'GET', url: '/v1/jobs?limit=abc', status: 400, names: 'limit' },
  { name: 'enum: list status bogus', method: 'GET', url: '/v1/jobs?status=exploded', status: 400, names: 'status' },

  // Ragged and inconsistent data.
  {
    name: 'ragged: x rows differ',
    method: 'POST',
    url: '/v1/jobs',
    payload: job((j) => (j.data.x[2] = [1, 0, 1])),
    status: 422,
    names: 'data.x[2]',
  },
  {
    name: 'ragged: x width != inputShape',
    method: 'POST',
    url: '/v1/jobs',
    payload: job((j) => (j.data.x = j.data.x.map((r) => [...r, 0]))),
    status: 422,
    names: 'data.x[0]',
  },
  {
    name: 'ragged: y length != x',
    method: 'POST',
    url: '/v1/jobs',
    payload: job((j) => (j.data.y = [0, 1, 1])),
    status: 422,
    names: 'data.y',
  },
  {
    name: 'ragged: empty x',
    method: 'POST',
    url: '/v1/jobs',
    payload: job((j) => ((j.data as Record<string, unknown>) = { x: [], y: [] })),
    status: 422,
    names: 'data.x',
  },
  {
    name: 'ragged: predict rows differ',
    method: 'POST',
    url: '/v1/models/m/predict',
    payload: {
      inputs: [
        [1, 2, 3],
        [1, 2],
      ],
    },
    status: 422,
    names: 'inputs[1]',
  },
  {
    name: 'ragged: predict wrong width',
    method: 'POST',
    url: '/v1/models/m/predict',
    payload: { inputs: [[1, 2]] },
    status: 422,
    names: 'inputs[0]',
  },
  { name: 'ragged: predict no rows', method: 'POST', url: '/v1/models/m/predict', payload: { inputs: [] }, status: 422, names: 'inputs' },
  {
    name: 'ragged: dataset rows differ',
    method: 'POST',
    url: '/v1/datasets',
    payload: { x: [[1, 2], [3]], y: [0, 1] },
    status: 422,
    names: 'x[1]',
  },
  {
    name: 'ragged: CSV row short',
    method: 'POST',
    url: '/v1/datasets?label=y',
    payload: 'a,b,y\n1,2,0\n3,1\n',
    contentType: 'text/csv',
    status: 422,
  },
  {
    name: 'csv: non-numeric cell',
    method: 'POST',
    url: '/v1/datasets?label=y',
    payload: 'a,y\n1,0\nabc,1\n',
    contentType: 'text/csv',
    status: 422,
  },
  { name: 'csv: header only', method: 'POST', url: '/v1/datasets?label=y', payload: 'a,y\n', contentType: 'text/csv', status: 422 },
  {
    name: 'csv: label missing from header',
    method: 'POST',
    url: '/v1/datasets?label=target',
    payload: 'a,y\n1,0\n',
    contentType: 'text/csv',
    status: 422,
    names: 'label',
  },
  {
    name: 'csv: no label parameter',
    method: 'POST',
    url: '/v1/datasets',
    payload: 'a,y\n1,0\n',
    contentType: 'text/csv',
    status: 422,
    names: 'label',
  },
  {
    name: 'csv: empty label parameter',
    method: 'POST',
    url: '/v1/datasets?label=',
    payload: 'a,y\n1,0\n',
    contentType: 'text/csv',
    status: 400,
    names: 'label',
  },

  // Unknown names and fields.
  { name: 'unknown: top-level field', method: 'POST', url: '/v1/jobs', payload: { ...xorJob(), priority: 'high' }, status: 400 },
  {
    name: 'unknown: training field',
    method: 'POST',
    url: '/v1/jobs',
    payload: training({ learning_rate: 0.1 }),
    status: 400,
    names: 'training',
  },
  {
    name: 'unknown: layer field',
    method: 'POST',
    url: '/v1/jobs',
    payload: layer({ type: 'dense', units: 8, kernel: 'big' }),
    status: 400,
    names: 'model.layers[0]',
  },
  {
    name: 'unknown: layer type',
    method: 'POST',
    url: '/v1/jobs',
    payload: layer({ type: 'conv2d', filters: 8 }),
    status: 400,
    names: 'model.layers[0].type',
  },
  {
    name: 'unknown: activation',
    method: 'POST',
    url: '/v1/jobs',
    payload: layer({ type: 'dense', units: 8, activation: 'swish9' }),
    status: 400,
    names: 'model.layers[0].activation',
  },
  { name: 'unknown: loss', method: 'POST', url: '/v1/jobs', payload: training({ loss: 'hinge' }), status: 400, names: 'training.loss' },
  {
    name: 'unknown: optimizer',
    method: 'POST',
    url: '/v1/jobs',
    payload: training({ optimizer: { type: 'adagrad' } }),
    status: 400,
    names: 'training.optimizer.type',
  },
  {
    name: 'unknown: metric',
    method: 'POST',
    url: '/v1/jobs',
    payload: training({ metrics: ['f1'] }),
    status: 400,
    names: 'training.metrics',
  },
  {
    name: 'mismatch: softmax loss on sigmoid',
    method: 'POST',
    url: '/v1/jobs',
    payload: training({ loss: 'categorical_crossentropy' }),
    status: 400,
    names: 'training.loss',
  },
  {
    name: 'mismatch: dense on 2-D input',
    method: 'POST',
    url: '/v1/jobs',
    payload: job((j) => (j.model.inputShape = [2, 1])),
    status: 400,
    names: 'model.layers[0]',
  },
  {
    name: 'unknown: predict field',
    method: 'POST',
    url: '/v1/models/m/predict',
    payload: { inputs: [[1, 2, 3]], explain: true },
    status: 400,
  },
  {
    name: 'unknown: predict runtime',
    method: 'POST',
    url: '/v1/models/m/predict',
    payload: { inputs: [[1, 2, 3]], runtime: 'tensorflow' },
    status: 400,
    names: 'runtime',
  },
  { name: 'missing: predict inputs', method: 'POST', url: '/v1/models/m/predict', payload: {}, status: 400, names: 'inputs' },
  {
    name: 'missing: training',
    method: 'POST',
    url: '/v1/jobs',
    payload: job((j) => delete (j as Partial<typeof j>).training),
    status: 400,
    names: 'training',
  },
  {
    name: 'missing: data',
    method: 'POST',
    url: '/v1/jobs',
    payload: job((j) => delete (j as Partial<typeof j>).data),
    status: 400,
    names: 'data',
  },
  {
    name: 'missing: dataset id does not exist',
    method: 'POST',
    url: '/v1/jobs',
    payload: job((j) => ((j as Record<string, unknown>)['data'] = { datasetId: 'ds_0000000000aaaaaaaa' })),
    status: 422,
    names: 'data.datasetId',
  },
  {
    name: 'missing: initFrom version',
    method: 'POST',
    url: '/v1/jobs',
    payload: { ...xorJob(), initFrom: { model: 'm', version: 99 } },
    status: 422,
    names: 'initFrom',
  },
  {
    name: 'header: Idempotency-Key with spaces',
    method: 'POST',
    url: '/v1/jobs',
    payload: xorJob(),
    headers: { 'idempotency-key': 'has spaces in it' },
    status: 400,
    names: 'idempotency-key',
  },
  {
    name: 'header: Idempotency-Key too long',
    method: 'POST',
    url: '/v1/jobs',
    payload: xorJob(),
    headers: { 'idempotency-key': 'k'.repeat(300) },
    status: 400,
    names: 'idempotency-key',
  },

  // Huge bodies: 413 per route, with its own limit.
  {
    name: '413: jobs',
    method: 'POST',
    url: '/v1/jobs',
    payload: job((j) => ((j.data.x = rows(20_000, 2)), (j.data.y = new Array(20_000).fill(0)))),
    status: 413,
  },
  { name: '413: predict latest', method: 'POST', url: '/v1/models/m/predict', payload: { inputs: rows(2_000, 3) }, status: 413 },
  {
    name: '413: predict version',
    method: 'POST',
    url: '/v1/models/m/versions/1/predict',
    payload: { inputs: rows(2_000, 3) },
    status: 413,
  },
  {
    name: '413: dataset JSON',
    method: 'POST',
    url: '/v1/datasets',
    payload: { x: rows(10_000, 2), y: new Array(10_000).fill(1) },
    status: 413,
  },
  {
    name: '413: dataset CSV',
    method: 'POST',
    url: '/v1/datasets?label=y',
    payload: `a,y\n${'1,0\n'.repeat(20_000)}`,
    contentType: 'text/csv',
    status: 413,
  },
  {
    name: '413: model import',
    method: 'POST',
    url: '/v1/models/imp/versions',
    payload: tinyCheckpoint(tinySpec('imp', 64, 256, 2)),
    status: 413,
  },
  {
    name: '413: other routes keep the 1 MiB default',
    method: 'POST',
    url: '/v1/jobs/job_0000000000aaaaaaaa/cancel',
    payload: { pad: 'x'.repeat(1100 * KiB) },
    status: 413,
  },

  // Deep nesting.
  {
    name: 'deep: 200-deep x',
    method: 'POST',
    url: '/v1/jobs',
    payload: job((j) => ((j.data as Record<string, unknown>)['x'] = nested(200))),
    status: 400,
  },
  { name: 'deep: 200-deep predict inputs', method: 'POST', url: '/v1/models/m/predict', payload: { inputs: nested(200) }, status: 400 },
  {
    name: 'deep: 200-deep layers',
    method: 'POST',
    url: '/v1/jobs',
    payload: job((j) => ((j.model as Record<string, unknown>)['layers'] = nested(200, { type: 'dense', units: 1 }))),
    status: 400,
  },
  {
    name: 'deep: 200-deep object in training',
    method: 'POST',
    url: '/v1/jobs',
    payload: training({ earlyStopping: deepObject(200) }),
    status: 400,
  },
  { name: 'deep: 5000-deep raw JSON', method: 'POST', url: '/v1/jobs', payload: `${'['.repeat(5000)}${']'.repeat(5000)}`, status: 400 },

  // Prototype poisoning at any depth.
  {
    name: 'proto: __proto__ top level',
    method: 'POST',
    url: '/v1/jobs',
    payload: `{"__proto__": {"polluted": true}, ${validJson.slice(1)}`,
    status: 400,
  },
  {
    name: 'proto: __proto__ in model',
    method: 'POST',
    url: '/v1/jobs',
    payload: validJson.replace('"model":{', '"model":{"__proto__":{"polluted":true},'),
    status: 400,
  },
  {
    name: 'proto: __proto__ in a layer',
    method: 'POST',
    url: '/v1/jobs',
    payload: validJson.replace('{"type":"dense"', '{"__proto__":{"polluted":true},"type":"dense"'),
    status: 400,
  },
  {
    name: 'proto: constructor.prototype in training',
    method: 'POST',
    url: '/v1/jobs',
    payload: validJson.replace('"training":{', '"training":{"constructor":{"prototype":{"polluted":true}},'),
    status: 400,
  },
  {
    name: 'proto: __proto__ in predict',
    method: 'POST',
    url: '/v1/models/m/predict',
    payload: '{"inputs":[[1,2,3]],"__proto__":{"polluted":true}}',
    status: 400,
  },
  {
    name: 'proto: constructor.prototype in dataset',
    method: 'POST',
    url: '/v1/datasets',
    payload: '{"x":[[1]],"y":[1],"constructor":{"prototype":{"polluted":true}}}',
    status: 400,
  },
  {
    name: 'proto: __proto__ in import weights',
    method: 'POST',
    url: '/v1/models/imp/versions',
    payload: JSON.stringify(tinyCheckpoint()).replace('"weights":[{', '"weights":[{"__proto__":{"polluted":true},'),
    status: 400,
  },

  // Wrong content types.
  {
    name: 'ctype: text/plain carrying JSON',
    method: 'POST',
    url: '/v1/jobs',
    payload: validJson,
    contentType: 'text/plain',
    status: [400, 415],
  },
  {
    name: 'ctype: form-urlencoded',
    method: 'POST',
    url: '/v1/jobs',
    payload: 'model=xor&epochs=5',
    contentType: 'application/x-www-form-urlencoded',
    status: 415,
  },
  {
    name: 'ctype: multipart',
    method: 'POST',
    url: '/v1/datasets',
    payload: '--b\r\n\r\nx\r\n--b--',
    contentType: 'multipart/form-data; boundary=b',
    status: 415,
  },
  { name: 'ctype: text/csv to jobs', method: 'POST', url: '/v1/jobs', payload: 'a,b\n1,2\n', contentType: 'text/csv', status: 415 },
  { name: 'ctype: application/jsonx', method: 'POST', url: '/v1/jobs', payload: validJson, contentType: 'application/jsonx', status: 415 },
  { name: 'ctype: missing with a body', method: 'POST', url: '/v1/jobs', payload: validJson, contentType: '', status: 415 },
  {
    name: 'ctype: JSON string as a CSV upload',
    method: 'POST',
    url: '/v1/datasets?label=y',
    payload: JSON.stringify('a,y\n1,0\n'),
    status: 415,
  },
  {
    name: 'ctype: text/plain as a CSV upload',
    method: 'POST',
    url: '/v1/datasets?label=y',
    payload: 'a,y\n1,0\n',
    contentType: 'text/plain',
    status: 415,
  },

  // Bad checkpoints on import, each naming the field.
  checkpointCase('wrong format string', (cp) => (cp['format'] = 'kiln.checkpoint/2'), 'format', 400),
  checkpointCase('kernel shape transposed', (cp) => (cp.weights[0]!['shape'] = [4, 3]), 'weights[0].shape', 422),
  checkpointCase('base64 of the wrong length', (cp) => (cp.weights[0]!['data'] = b64([1, 2, 3])), 'weights[0].data', 422),
  checkpointCase('NaN weights', (cp) => (cp.weights[0]!['data'] = b64(new Array(12).fill(NaN))), 'weights[0].data', 422),
  checkpointCase('Infinity weights', (cp) => (cp.weights[1]!['data'] = b64(new Array(4).fill(-Infinity))), 'weights[1].data', 422),
  checkpointCase('a weight missing', (cp) => cp.weights.pop(), 'weights', 422),
  checkpointCase('an extra weight', (cp) => cp.weights.push({ ...cp.weights[0]!, layer: 7 }), 'weights[4]', 422),
  checkpointCase('a weight repeated', (cp) => cp.weights.push({ ...cp.weights[0]! }), 'weights[4]', 422),
  checkpointCase('no weights at all', (cp) => delete (cp as Record<string, unknown>)['weights'], 'weights', 400),
  checkpointCase(
    'unknown layer type',
    (cp) => ((cp['model'] as { layers: Array<Record<string, unknown>> }).layers[0]!['type'] = 'lstm'),
    'model.layers[0].type',
    422,
  ),
  checkpointCase('dense on a 2-D input', (cp) => ((cp['model'] as { inputShape: number[] }).inputShape = [3, 1]), 'model.layers[0]', 422),
  checkpointCase('dtype float64', (cp) => (cp.weights[0]!['dtype'] = 'float64'), 'weights[0].dtype', 400),
  checkpointCase('not base64 at all', (cp) => (cp.weights[0]!['data'] = '@@@@not-base64@@@@'), 'weights[0].data', 422),
  checkpointCase(
    'a billion-parameter model',
    (cp) => {
      const model = cp['model'] as { inputShape: number[]; layers: Array<Record<string, unknown>> };
      model.inputShape = [60_000];
      model.layers[0]!['units'] = 60_000;
    },
    'model',
    422,
  ),
  checkpointCase(
    'batch norm over a huge input',
    (cp) => {
      const model = cp['model'] as { inputShape: number[]; layers: Array<Record<string, unknown>> };
      model.inputShape = [2_000_000_000];
      model.layers.unshift({ type: 'batch_normalization' });
    },
    'model.inputShape',
    422,
  ),
  { name: 'import: body is an array', method: 'POST', url: '/v1/models/imp/versions', payload: [tinyCheckpoint()], status: 400 },
  {
    name: 'import: bad model name',
    method: 'POST',
    url: '/v1/models/Bad%20Name/versions',
    payload: tinyCheckpoint(),
    status: 400,
    names: 'name',
  },

  // Specs too big to build: refused before any allocation.
  {
    name: 'size: a billion-parameter job',
    method: 'POST',
    url: '/v1/jobs',
    payload: job((j) => (j.model.layers[0] = { type: 'dense', units: 1_000_000_000, activation: 'tanh' } as never)),
    status: 422,
    names: 'model.layers',
  },
  {
    name: 'size: batch norm over 2e9 features',
    method: 'POST',
    url: '/v1/jobs',
    payload: job((j) => {
      j.model.inputShape = [2_000_000_000];
      j.model.layers.unshift({ type: 'batch_normalization' } as never);
    }),
    status: 422,
    names: 'model.inputShape',
  },
  { name: 'size: 1e300 units', method: 'POST', url: '/v1/jobs', payload: layer({ type: 'dense', units: 1e300 }), status: [400, 422] },

  // Unknown resources (well-formed ids).
  { name: '404: job', method: 'GET', url: '/v1/jobs/job_0000000000aaaaaaaa', status: 404 },
  { name: '404: dataset delete', method: 'DELETE', url: '/v1/datasets/ds_0000000000aaaaaaaa', status: 404 },
  { name: '404: model', method: 'GET', url: '/v1/models/nope', status: 404 },
  { name: '404: predict unknown model', method: 'POST', url: '/v1/models/nope/predict', payload: { inputs: [[1]] }, status: 404 },
  { name: '404: no such route', method: 'GET', url: '/v1/secrets', status: 404 },
  { name: '404: unknown sub-route', method: 'GET', url: '/v1/jobs/job_0000000000aaaaaaaa/delete', status: 404 },
];

// Path traversal in every id or name parameter.
const PARAM_ROUTES: Array<{ method: Method; url: (p: string) => string; payload?: unknown }> = [
  { method: 'GET', url: (p) => `/v1/jobs/${p}` },
  { method: 'POST', url: (p) => `/v1/jobs/${p}/cancel` },
  { method: 'GET', url: (p) => `/v1/jobs/${p}/events` },
  { method: 'GET', url: (p) => `/v1/datasets/${p}` },
  { method: 'DELETE', url: (p) => `/v1/datasets/${p}` },
  { method: 'GET', url: (p) => `/v1/models/${p}` },
  { method: 'GET', url: (p) => `/v1/models/${p}/versions/1` },
  { method: 'GET', url: (p) => `/v1/models/${p}/versions/1/checkpoint` },
  { method: 'GET', url: (p) => `/v1/models/m/versions/${p}` },
  { method: 'GET', url: (p) => `/v1/models/m/versions/${p}/onnx` },
  { method: 'DELETE', url: (p) => `/v1/models/m/versions/${p}` },
  { method: 'POST', url: (p) => `/v1/models/${p}/predict`, payload: { inputs: [[1, 2, 3]] } },
  { method: 'POST', url: (p) => `/v1/models/m/versions/${p}/predict`, payload: { inputs: [[1, 2, 3]] } },
  { method: 'POST', url: (p) => `/v1/models/${p}/versions`, payload: tinyCheckpoint() },
];
for (const p of [...TRAVERSAL, ...RAW_TRAVERSAL]) {
  for (const route of PARAM_ROUTES) {
    CASES.push({
      name: `traversal: ${route.method} ${route.url(p.length > 40 ? `${p.slice(0, 12)}…(${p.length})` : p)}`,
      method: route.method,
      url: route.url(p),
      ...(route.payload ? { payload: route.payload } : {}),
      status: [400, 404],
    });
  }
}

describe('bad-input battery', () => {
  let t: TestApp;
  let accepted = 0;
  const outside = join(tmpdir(), `kiln-outside-${process.pid}.txt`);

  beforeAll(async () => {
    await writeFile(outside, 'sentinel');
    t = await createTestApp({
      workerConcurrency: 0,
      maxActiveJobsPerCaller: 1000,
      rateLimitPerMinute: 0,
      jobsRateLimitPerMinute: 100_000,
      ...LIMITS,
    });
    await importModel(t.app, 'm', tinyCheckpoint(tinySpec('m')));
  });
  afterAll(async () => t.close());

  it('has at least 40 distinct cases', () => {
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
    expect(CASES.length).toBeGreaterThanOrEqual(40);
  });

  it.each(CASES)('$name', async (c) => {
    const body = c.payload === undefined ? undefined : typeof c.payload === 'string' ? c.payload : JSON.stringify(c.payload);
    const headers: Record<string, string> = { ...(c.headers ?? {}) };
    if (body !== undefined) headers['content-type'] = c.contentType ?? 'application/json';
    const res = await t.app.inject({ method: c.method, url: c.url, headers, ...(body !== undefined ? { payload: body } : {}) });
    const statuses = c.status === undefined ? null : Array.isArray(c.status) ? c.status : [c.status];
    const problem = expectProblem(res, statuses ? (s) => statuses.includes(s) : is4xx);
    expect(is4xx(res.statusCode)).toBe(true);
    if (c.names) {
      const named = [...(problem.errors ?? []).map((e) => e.path), problem.detail].some((text) => text.includes(c.names!));
      expect(named, `${c.names} not named in ${res.body}`).toBe(true);
    }
    // No absolute paths or stack traces in what the client sees.
    expect(res.body).not.toContain(t.config.dataDir);
    expect(res.body).not.toMatch(/\n\s+at /);
  });

  it('a chunked body over the limit (no Content-Length) is 413', async () => {
    const big = JSON.stringify({ inputs: rows(3_000, 3) });
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/models/m/predict',
      headers: { 'content-type': 'application/json' },
      payload: Readable.from([big.slice(0, 5000), big.slice(5000)]),
    });
    expectProblem(res, 413);
  });

  it('a near-limit body where every cell is invalid: one error, answered fast (no allErrors blow-up)', async () => {
    const x = Array.from({ length: 4_500 }, () => ['a', 'b']);
    const payload = JSON.stringify({ ...xorJob(), data: { x, y: new Array(4_500).fill('c') } });
    expect(payload.length).toBeGreaterThan(LIMITS.jobsBodyLimit * 0.8);
    expect(payload.length).toBeLessThan(LIMITS.jobsBodyLimit);
    const started = performance.now();
    const res = await t.app.inject({ method: 'POST', url: '/v1/jobs', headers: { 'content-type': 'application/json' }, payload });
    const elapsed = performance.now() - started;
    const problem = expectProblem(res, 400);
    // The first bad cell (plus one line per branch of the data union), not one per cell.
    expect(problem.errors!.length).toBeLessThanOrEqual(4);
    expect(problem.detail).toContain('data');
    expect(elapsed).toBeLessThan(500);
  });

  it('a Content-Length that does not match the body is 400', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/jobs',
      headers: { 'content-type': 'application/json', 'content-length': '10' },
      payload: validJson,
    });
    expectProblem(res, 400);
  });

  it('Content-Type variants that mean JSON are parsed and validated like JSON', async () => {
    for (const contentType of [
      'application/json ; charset=utf-8',
      'Application/JSON',
      'APPLICATION/JSON; charset=utf-8',
      'application/json;',
      'application/json\t;',
    ]) {
      const ok = await t.app.inject({ method: 'POST', url: '/v1/jobs', headers: { 'content-type': contentType }, payload: validJson });
      expect(ok.statusCode, `${contentType}: ${ok.body}`).toBe(202);
      accepted++;
      // The same content type never lets an invalid body through unvalidated.
      const bad = await t.app.inject({
        method: 'POST',
        url: '/v1/jobs',
        headers: { 'content-type': contentType },
        payload: JSON.stringify(training({ epochs: '5' })),
      });
      expect(expectProblem(bad, 400).detail).toContain('training.epochs');
    }
  });

  it('nothing leaked: no pollution, no stray jobs or datasets, nothing outside DATA_DIR', async () => {
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>)['polluted']).toBeUndefined();
    const list = (await t.app.inject({ method: 'GET', url: '/v1/jobs?limit=200' })).json() as { total: number };
    expect(list.total).toBe(accepted);
    const datasets = await readdir(join(t.config.dataDir, 'datasets')).catch(() => []);
    expect(datasets.filter((d) => d.startsWith('ds_'))).toHaveLength(accepted);
    const versions = await readdir(join(t.config.dataDir, 'models', 'imp', 'versions')).catch(() => []);
    expect(versions).toEqual([]);
    expect(await readFile(outside, 'utf8')).toBe('sentinel');
  });

  it('the server is still up, and a normal job trains and predicts afterwards', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'POST', url: '/v1/models/m/predict', payload: { inputs: [[1, 2, 3]] } })).statusCode).toBe(200);

    const trainer = await createTestApp({ workerConcurrency: 1 });
    try {
      const submit = await trainer.app.inject({ method: 'POST', url: '/v1/jobs', payload: job((j) => (j.training.epochs = 40)) });
      expect(submit.statusCode, submit.body).toBe(202);
      const done = await waitForJob(trainer.app, (submit.json() as { id: string }).id);
      expect(done.status, JSON.stringify(done.error)).toBe('completed');
      const predict = await trainer.app.inject({ method: 'POST', url: '/v1/models/xor/predict', payload: { inputs: [[0, 1]] } });
      expect(predict.statusCode, predict.body).toBe(200);
      expect((predict.json() as { outputs: number[][] }).outputs[0]).toHaveLength(1);
    } finally {
      await trainer.close();
    }
  });
});
