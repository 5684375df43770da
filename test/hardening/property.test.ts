/**
 * Property-based tests (fast-check): generated job specs and predict bodies, valid and invalid.
 * Never a 5xx; valid ones are always accepted (202 / 200); invalid ones always get a 4xx
 * problem+json.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { expectProblem, importModel, is4xx, tinyCheckpoint } from '../helpers/hardening.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Body = { [key: string]: Json };

const HIDDEN_ACTIVATIONS = ['relu', 'leaky_relu', 'elu', 'gelu', 'sigmoid', 'tanh', 'linear', 'softmax'] as const;
const REGRESSION_OUTPUT = ['linear', 'tanh', 'relu', 'sigmoid', 'elu'] as const;

const finite = (min: number, max: number) =>
  fc.double({ min, max, noNaN: true, noDefaultInfinity: true }).map((v) => (Object.is(v, -0) ? 0 : v));
const name = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,20}$/);

/** Hidden layers: dense with any activation, plus dropout / batch norm / activation layers. */
const hiddenLayer: fc.Arbitrary<Body> = fc.oneof(
  fc.record({ type: fc.constant('dense'), units: fc.integer({ min: 1, max: 8 }), activation: fc.constantFrom(...HIDDEN_ACTIVATIONS) }),
  fc.record(
    {
      type: fc.constant('dense'),
      units: fc.integer({ min: 1, max: 8 }),
      useBias: fc.boolean(),
      kernelInitializer: fc.constantFrom('glorot_uniform', 'he_normal', 'zeros'),
    },
    { requiredKeys: ['type', 'units'] },
  ),
  fc.record({ type: fc.constant('dropout'), rate: finite(0, 0.9) }),
  fc.record({ type: fc.constant('batch_normalization') }),
  fc.record({ type: fc.constant('activation'), activation: fc.constantFrom(...HIDDEN_ACTIVATIONS) }),
);

const optimizer: fc.Arbitrary<Body> = fc.oneof(
  fc.record(
    { type: fc.constant('sgd'), learningRate: finite(1e-4, 1), momentum: finite(0, 0.99), nesterov: fc.boolean() },
    { requiredKeys: ['type'] },
  ),
  fc.record(
    { type: fc.constantFrom('adam', 'adamw'), learningRate: finite(1e-4, 1), beta1: finite(0, 0.99), amsgrad: fc.boolean() },
    { requiredKeys: ['type'] },
  ),
  fc.record(
    { type: fc.constant('rmsprop'), learningRate: finite(1e-4, 1), rho: finite(0, 0.99), centered: fc.boolean() },
    { requiredKeys: ['type'] },
  ),
);

type Task = 'regression' | 'binary' | 'sparse' | 'categorical';

/** A valid job: random small dense stack, a loss that fits its final activation, matching data. */
const validJob: fc.Arbitrary<Body> = fc
  .record({
    name,
    features: fc.integer({ min: 1, max: 6 }),
    rows: fc.integer({ min: 2, max: 12 }),
    hidden: fc.array(hiddenLayer, { maxLength: 3 }),
    task: fc.constantFrom<Task>('regression', 'binary', 'sparse', 'categorical'),
    outputs: fc.integer({ min: 2, max: 4 }),
    regressionLoss: fc.constantFrom('mse', 'mae', 'huber'),
    regressionActivation: fc.constantFrom(...REGRESSION_OUTPUT),
    epochs: fc.integer({ min: 1, max: 5 }),
    batchSize: fc.option(fc.integer({ min: 1, max: 16 }), { nil: undefined }),
    optimizer: fc.option(optimizer, { nil: undefined }),
    shuffle: fc.option(fc.boolean(), { nil: undefined }),
    seed: fc.option(fc.integer({ min: 0, max: 2 ** 31 }), { nil: undefined }),
    validationSplit: fc.option(finite(0.1, 0.5), { nil: undefined }),
    earlyStopping: fc.boolean(),
    seedData: fc.integer(),
  })
  .chain((p) =>
    fc
      .record({
        x: fc.array(fc.array(finite(-100, 100), { minLength: p.features, maxLength: p.features }), {
          minLength: p.rows,
          maxLength: p.rows,
        }),
        labels: fc.array(fc.nat(), { minLength: p.rows, maxLength: p.rows }),
        values: fc.array(fc.array(finite(-10, 10), { minLength: p.outputs, maxLength: p.outputs }), {
          minLength: p.rows,
          maxLength: p.rows,
        }),
      })
      .map(({ x, labels, values }) => {
        const classes = p.outputs;
        let last: Body;
        let loss: string;
        let y: Json;
        if (p.task === 'binary') {
          last = { type: 'dense', units: 1, activation: 'sigmoid' };
          loss = 'binary_crossentropy';
          y = labels.map((l) => l % 2);
        } else if (p.task === 'sparse') {
          last = { type: 'dense', units: classes, activation: 'softmax' };
          loss = 'sparse_categorical_crossentropy';
          y = labels.map((l) => l % classes);
        } else if (p.task === 'categorical') {
          last = { type: 'dense', units: classes, activation: 'softmax' };
          loss = 'categorical_crossentropy';
          y = labels.map((l) => Array.from({ length: classes }, (_, k) => (k === l % classes ? 1 : 0)));
        } else {
          last = { type: 'dense', units: classes, activation: p.regressionActivation };
          loss = p.regressionLoss;
          y = values;
        }
        const training: Body = { loss, epochs: p.epochs };
        if (p.batchSize !== undefined) training['batchSize'] = p.batchSize;
        if (p.optimizer !== undefined) training['optimizer'] = p.optimizer;
        if (p.shuffle !== undefined) training['shuffle'] = p.shuffle;
        if (p.seed !== undefined) training['seed'] = p.seed;
        if (p.validationSplit !== undefined) training['validationSplit'] = p.validationSplit;
        if (p.task !== 'regression') training['metrics'] = ['accuracy'];
        if (p.earlyStopping) training['earlyStopping'] = { monitor: 'loss', patience: 2 };
        return {
          model: { name: p.name, inputShape: [p.features], layers: [...p.hidden, last] },
          training,
          data: { x, y },
        } satisfies Body;
      }),
  );

/** Every object and array inside a body, with the path to reach it. */
function containers(value: Json, path: Array<string | number> = []): Array<Array<string | number>> {
  if (value === null || typeof value !== 'object') return [];
  const out = [path];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...containers(v, [...path, i])));
  else for (const [k, v] of Object.entries(value)) out.push(...containers(v, [...path, k]));
  return out;
}

function at(root: Json, path: Array<string | number>): Json {
  let node: Json = root;
  for (const key of path) node = (node as Record<string | number, Json>)[key]!;
  return node;
}

const KNOWN_KEYS = new Set([
  'model',
  'training',
  'data',
  'name',
  'inputShape',
  'layers',
  'type',
  'units',
  'activation',
  'useBias',
  'kernelInitializer',
  'rate',
  'loss',
  'epochs',
  'batchSize',
  'optimizer',
  'learningRate',
  'momentum',
  'nesterov',
  'beta1',
  'amsgrad',
  'rho',
  'centered',
  'shuffle',
  'seed',
  'validationSplit',
  'metrics',
  'earlyStopping',
  'monitor',
  'patience',
  'x',
  'y',
]);

/** Mutations that always make a job invalid. */
type Mutation = (body: Body) => Json;
const mutations: fc.Arbitrary<Mutation> = fc.oneof(
  // A required field goes missing.
  fc.constantFrom<Mutation>(
    (b) => (delete b['model'], b),
    (b) => (delete b['training'], b),
    (b) => (delete b['data'], b),
    (b) => (delete (b['model'] as Body)['layers'], b),
    (b) => (delete (b['model'] as Body)['inputShape'], b),
    (b) => (delete (b['model'] as Body)['name'], b),
    (b) => (delete (b['training'] as Body)['loss'], b),
    (b) => (delete (b['training'] as Body)['epochs'], b),
    (b) => (delete (b['data'] as Body)['y'], b),
  ),
  // A field of the wrong type (strings only where the field is not a string).
  fc
    .tuple(
      fc.constantFrom<[string, string]>(
        ['training', 'epochs'],
        ['training', 'loss'],
        ['model', 'name'],
        ['model', 'inputShape'],
        ['model', 'layers'],
        ['data', 'x'],
        ['data', 'y'],
      ),
      fc.oneof(
        fc.constant<Json>(null),
        fc.boolean(),
        fc.constant<Json>({}),
        fc.constant(0.5),
        fc.string().map((s) => `zz${s}`),
      ),
    )
    .map(([[obj, key], value]) => (b: Body) => {
      (b[obj] as Body)[key] = key === 'name' && typeof value === 'string' ? 42 : value;
      return b;
    }),
  // An unknown name where an enum is expected.
  fc
    .tuple(fc.constantFrom('loss', 'layer', 'activation', 'optimizer', 'metric'), fc.stringMatching(/^[a-z]{1,10}$/))
    .map(([where, word]) => (b: Body) => {
      const bogus = `zz_${word}`;
      const training = b['training'] as Body;
      const layers = (b['model'] as Body)['layers'] as Body[];
      if (where === 'loss') training['loss'] = bogus;
      else if (where === 'layer') layers[0] = { type: bogus, units: 1 };
      else if (where === 'activation') layers[layers.length - 1]!['activation'] = bogus;
      else if (where === 'optimizer') training['optimizer'] = { type: bogus };
      else training['metrics'] = [bogus];
      return b;
    }),
  // A number out of range.
  fc.constantFrom<Mutation>(
    ...[0, -1, 1.5].map((v) => (b: Body) => (((b['training'] as Body)['epochs'] = v), b)),
    ...[0, -3, 2.5].map((v) => (b: Body) => (((b['training'] as Body)['batchSize'] = v), b)),
    ...[0, -1, 1.5].map((v) => (b: Body) => {
      const layers = (b['model'] as Body)['layers'] as Body[];
      layers[layers.length - 1]!['units'] = v;
      return b;
    }),
    ...[0, -1, 50].map((v) => (b: Body) => (((b['training'] as Body)['optimizer'] = { type: 'adam', learningRate: v }), b)),
    ...[0, -1, 1.5].map((v) => (b: Body) => (((b['model'] as Body)['inputShape'] = [v]), b)),
    ...[1, -0.1, 2].map((v) => (b: Body) => (((b['training'] as Body)['validationSplit'] = v), b)),
    ...[-5, 0.5].map((v) => (b: Body) => (((b['training'] as Body)['seed'] = v), b)),
    ...[1, -0.1].map((v) => (b: Body) => (((b['model'] as Body)['layers'] as Body[]).unshift({ type: 'dropout', rate: v }), b)),
  ),
  // An unknown field in some object.
  fc
    .tuple(
      fc.stringMatching(/^[a-zA-Z_]{1,12}$/).filter((k) => k !== '__proto__'),
      fc.nat(),
    )
    .map(([key, pick]) => (b: Body) => {
      const objects = containers(b).filter((p) => {
        const node = at(b, p);
        // Objects whose keys are fixed by the schema (not the arrays, not free-form maps).
        return node !== null && typeof node === 'object' && !Array.isArray(node);
      });
      const target = at(b, objects[pick % objects.length]!) as Body;
      target[KNOWN_KEYS.has(key) ? `${key}_extra` : key] = 1;
      return b;
    }),
  // Data that does not fit: a ragged row, a missing label, a label of the wrong kind.
  fc.constantFrom<Mutation>(
    (b) => {
      const x = (b['data'] as Body)['x'] as number[][];
      x[x.length - 1] = [...x[x.length - 1]!, 0];
      return b;
    },
    (b) => {
      ((b['data'] as Body)['y'] as Json[]).pop();
      return b;
    },
    (b) => {
      (b['data'] as Body)['x'] = [];
      return b;
    },
  ),
  // Something else entirely.
  fc.jsonValue().map((v) => () => v as Json),
);

/** Predict bodies for a model with 4 inputs and 3 softmax outputs. */
const FEATURES = 4;
const float32 = finite(-1e30, 1e30);
const validPredict: fc.Arbitrary<Body> = fc.record(
  {
    inputs: fc.array(fc.array(float32, { minLength: FEATURES, maxLength: FEATURES }), { minLength: 1, maxLength: 20 }),
    runtime: fc.constantFrom('engine', 'onnx'),
  },
  { requiredKeys: ['inputs'] },
);
const invalidPredict: fc.Arbitrary<Json> = fc.oneof(
  validPredict.chain((b) =>
    fc
      .constantFrom<(b: Body) => Json>(
        (v) => ({ ...v, inputs: (v['inputs'] as number[][]).map((r) => r.slice(1)) }),
        (v) => ({ ...v, inputs: [...(v['inputs'] as number[][]), [1, 2]] }),
        (v) => ({ ...v, inputs: [] }),
        (v) => ({ ...v, inputs: (v['inputs'] as number[][]).map((r) => [...r.slice(1), 'x']) }),
        (v) => ({ ...v, inputs: (v['inputs'] as number[][]).map((r) => [...r.slice(1), 1e39]) }),
        (v) => ({ ...v, inputs: (v['inputs'] as number[][]).map((r) => [r]) }),
        (v) => ({ ...v, inputs: (v['inputs'] as number[][])[0]! }),
        (v) => ({ ...v, runtime: 'gpu' }),
        (v) => ({ ...v, temperature: 2 }),
        (v) => ({ runtime: v['runtime'] ?? 'engine' }),
        (v) => v['inputs'] as Json,
      )
      .map((mutate) => mutate(structuredClone(b))),
  ),
  fc
    .jsonValue()
    .map((v) => v as Json)
    .filter((v) => !(typeof v === 'object' && v !== null && !Array.isArray(v) && 'inputs' in v)),
);

describe('property: job specs', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({
      workerConcurrency: 0,
      maxActiveJobsPerCaller: 100_000,
      rateLimitPerMinute: 0,
      jobsRateLimitPerMinute: 1_000_000,
    });
  });
  afterAll(async () => t.close());

  const post = (payload: Json) =>
    t.app.inject({ method: 'POST', url: '/v1/jobs', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(payload) });

  it('valid job specs are always accepted (202)', async () => {
    await fc.assert(
      fc.asyncProperty(validJob, async (body) => {
        const res = await post(body);
        expect(res.statusCode, `${res.body}\n${JSON.stringify(body)}`).toBe(202);
      }),
      { numRuns: 150 },
    );
  });

  it('invalid job specs always get a 4xx problem, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(validJob, mutations, async (body, mutate) => {
        const mutated = mutate(structuredClone(body));
        const res = await post(mutated);
        expect(res.statusCode, `${res.body}\n${JSON.stringify(mutated).slice(0, 2000)}`).not.toBe(202);
        expectProblem(res, is4xx);
      }),
      { numRuns: 200 },
    );
  });

  it('raw junk bytes are a 4xx too', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 200 }), async (text) => {
        const res = await t.app.inject({ method: 'POST', url: '/v1/jobs', headers: { 'content-type': 'application/json' }, payload: text });
        expectProblem(res, is4xx);
      }),
      { numRuns: 100 },
    );
  });
});

describe('property: predict bodies', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ workerConcurrency: 0, rateLimitPerMinute: 0 });
    const spec = {
      name: 'prop',
      inputShape: [FEATURES],
      layers: [
        { type: 'dense' as const, units: 5, activation: 'relu' as const },
        { type: 'dense' as const, units: 3, activation: 'softmax' as const },
      ],
    };
    await importModel(t.app, 'prop', tinyCheckpoint(spec, 11));
  });
  afterAll(async () => t.close());

  const post = (payload: Json, url = '/v1/models/prop/predict') =>
    t.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(payload) });

  it('valid rows always predict (200) with one finite output row per input', async () => {
    await fc.assert(
      fc.asyncProperty(validPredict, fc.boolean(), async (body, pinned) => {
        const res = await post(body, pinned ? '/v1/models/prop/versions/1/predict' : '/v1/models/prop/predict');
        expect(res.statusCode, `${res.body}\n${JSON.stringify(body)}`).toBe(200);
        const out = res.json() as { outputs: number[][]; classes: number[] };
        expect(out.outputs).toHaveLength((body['inputs'] as number[][]).length);
        for (const row of out.outputs) {
          expect(row).toHaveLength(3);
          for (const v of row) expect(Number.isFinite(v)).toBe(true);
        }
        expect(out.classes).toHaveLength(out.outputs.length);
      }),
      { numRuns: 150 },
    );
  });

  it('invalid predict bodies always get a 4xx problem, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(invalidPredict, async (body) => {
        const res = await post(body);
        expectProblem(res, is4xx);
      }),
      { numRuns: 200 },
    );
  });
});
