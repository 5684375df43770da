import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, xorJob, type TestApp } from '../helpers/app.js';

/** Every client mistake gets a 4xx problem+json that names the field; nothing is created. */
describe('bad requests', () => {
  let t: TestApp;
  beforeAll(async () => {
    // No workers: nothing trains, so a bad request can't be hidden behind a failed job.
    t = await createTestApp({ workerConcurrency: 0, jobsBodyLimit: 64 * 1024 });
  });
  afterAll(async () => t.close());

  async function expectProblem(
    payload: unknown,
    status: number,
    path: string | null,
    detail?: RegExp,
    headers: Record<string, string> = {},
  ) {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/jobs',
      headers: { 'content-type': 'application/json', ...headers },
      payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
    });
    expect(res.statusCode, res.body).toBe(status);
    expect(res.headers['content-type']).toContain('application/problem+json');
    const body = res.json();
    expect(body).toMatchObject({
      status,
      title: expect.any(String),
      type: expect.stringMatching(/^urn:kiln:problem:/),
      detail: expect.any(String),
    });
    if (path !== null) expect(body.errors.map((e: { path: string }) => e.path)).toContain(path);
    if (detail) expect(body.detail).toMatch(detail);
    return body;
  }

  const withLayer = (layer: unknown) => {
    const job = xorJob();
    (job.model.layers as unknown[])[1] = layer;
    return job;
  };
  const withTraining = (changes: Record<string, unknown>) => {
    const job = xorJob();
    return { ...job, training: { ...job.training, ...changes } };
  };

  it('names the layer field at fault', async () => {
    await expectProblem(
      withLayer({ type: 'dense', units: 0 }),
      400,
      'model.layers[1].units',
      /model\.layers\[1\]\.units must be a positive integer/,
    );
    await expectProblem(withLayer({ type: 'dense', units: 2.5 }), 400, 'model.layers[1].units', /positive integer/);
    await expectProblem(withLayer({ type: 'conv9d' }), 400, 'model.layers[1].type', /must be one of/);
    await expectProblem(withLayer({ type: 'dense', units: 1, activation: 'swishy' }), 400, 'model.layers[1].activation', /relu/);
    await expectProblem(withLayer({ type: 'dropout', rate: 1 }), 400, 'model.layers[1].rate');
    await expectProblem(withLayer({ type: 'dense', units: 1, bogus: true }), 400, 'model.layers[1]', /unknown field "bogus"/);
  });

  it('checks the model as a whole', async () => {
    await expectProblem({ ...xorJob(), model: { ...xorJob().model, name: 'Bad Name!' } }, 400, 'model.name');
    await expectProblem({ ...xorJob(), model: { ...xorJob().model, inputShape: [2, 2] } }, 400, 'model.layers[0]', /flatten/);
    await expectProblem({ ...xorJob(), model: { ...xorJob().model, layers: [] } }, 400, 'model.layers');
    const { model: _model, ...noModel } = xorJob();
    await expectProblem(noModel, 400, 'model', /model is required/);
  });

  it('checks the training config, with Keras names', async () => {
    await expectProblem(withTraining({ epochs: '5' }), 400, 'training.epochs', /integer/);
    await expectProblem(withTraining({ epochs: 0 }), 400, 'training.epochs');
    await expectProblem(withTraining({ loss: 'hinge' }), 400, 'training.loss', /binary_crossentropy/);
    await expectProblem(withTraining({ optimizer: { type: 'adagrad' } }), 400, 'training.optimizer.type', /sgd/);
    await expectProblem(withTraining({ optimizer: { type: 'adam', learningRate: -1 } }), 400, 'training.optimizer.learningRate');
    await expectProblem(withTraining({ optimizer: { type: 'sgd', clipnorm: 1, clipvalue: 1 } }), 400, 'training.optimizer', /only one of/);
    await expectProblem(withTraining({ loss: 'sparse_categorical_crossentropy' }), 400, 'training.loss', /at least 2 output units/);
    await expectProblem(withTraining({ earlyStopping: { monitor: 'val_loss' } }), 400, 'training.earlyStopping.monitor', /validationSplit/);
    await expectProblem(withTraining({ learningRate: 0.1 }), 400, 'training', /unknown field "learningRate"/);
    await expectProblem(
      withTraining({ optimizer: { type: 'adam', learningRate: { type: 'piecewise_constant_decay', boundaries: [10], values: [0.1] } } }),
      400,
      'training.optimizer.learningRate.values',
    );
  });

  it('checks the data against the model and the loss', async () => {
    const ragged = xorJob({
      data: {
        x: [
          [0, 0],
          [0, 1, 2],
          [1, 0],
          [1, 1],
        ],
        y: [0, 1, 1, 0],
      },
    });
    await expectProblem(ragged, 422, 'data.x[1]', /data\.x\[1\] has 3 values/);
    await expectProblem(xorJob({ data: { x: [[0], [1]], y: [0, 1] } }), 422, 'data.x[0]', /2 features/);
    await expectProblem(xorJob({ data: { x: [[0, 0]], y: [0, 1] } }), 422, 'data.y', /2 rows but x has 1/);
    await expectProblem(xorJob({ data: { x: [[0, 0]], y: [2] } }), 422, 'data.y[0]', /\[0, 1\]/);
    await expectProblem(xorJob({ data: { x: [], y: [] } }), 422, 'data.x');
    await expectProblem(xorJob({ data: { x: [[0, 'a']], y: [1] } }), 400, 'data.x[0][1]');
    await expectProblem('{"model": 1e400}', 400, null);
    await expectProblem(xorJob({ data: { x: [[1e39, 0]], y: [1] } }), 422, 'data.x[0][0]', /finite float32/);
    await expectProblem(xorJob({ data: { datasetId: 'ds_0000000000000000' } }), 422, 'data.datasetId', /does not exist/);
    await expectProblem(xorJob({ data: { datasetId: '../../etc/passwd' } }), 400, 'data.datasetId');
    const sparse = {
      ...xorJob(),
      model: { ...xorJob().model, layers: [{ type: 'dense', units: 3, activation: 'softmax' }] },
      training: { loss: 'sparse_categorical_crossentropy', epochs: 1 },
      data: {
        x: [
          [0, 0],
          [1, 1],
        ],
        y: [0, 3],
      },
    };
    await expectProblem(sparse, 422, 'data.y[1]', /integers in \[0, 2\]/);
    await expectProblem(
      { ...xorJob(), training: { ...xorJob().training, validationSplit: 0.8 } },
      422,
      'training.validationSplit',
      /leaves/,
    );
  });

  it('answers malformed bodies, wrong media types and oversize bodies with a problem', async () => {
    await expectProblem('{"model": ', 400, null, /not valid JSON/);
    await expectProblem('', 400, null);
    await expectProblem('[1,2,3]', 400, null);
    await expectProblem('{"__proto__": {"polluted": true}}', 400, null);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    const form = await t.app.inject({
      method: 'POST',
      url: '/v1/jobs',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'a=1',
    });
    expect(form.statusCode).toBe(415);
    expect(form.headers['content-type']).toContain('application/problem+json');
    const big = xorJob({
      data: { x: Array.from({ length: 10000 }, () => [0.123456, 0.654321]), y: Array.from({ length: 10000 }, () => 1) },
    });
    const tooLarge = await expectProblem(big, 413, null, /65536 bytes/);
    expect(tooLarge.title).toBe('Content Too Large');
  });

  it('creates nothing for a refused job', async () => {
    const list = (await t.app.inject({ method: 'GET', url: '/v1/jobs' })).json();
    expect(list.total).toBe(0);
  });

  it('answers unknown ids and routes with 404 problems, and bad ids with 400', async () => {
    for (const url of [
      '/v1/jobs/job_00000000000000000000',
      '/v1/datasets/ds_00000000000000000000',
      '/v1/models/nothing',
      '/v1/models/nothing/versions/1',
      '/nope',
    ]) {
      const res = await t.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
      expect(res.headers['content-type']).toContain('application/problem+json');
    }
    for (const url of [
      '/v1/jobs/..%2F..%2Fetc%2Fpasswd',
      '/v1/models/..%2Fsecret',
      '/v1/models/x/versions/0',
      '/v1/models/x/versions/abc',
    ]) {
      const res = await t.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(400);
    }
    const predict = await t.app.inject({ method: 'POST', url: '/v1/models/nothing/predict', payload: { inputs: [[1, 2]] } });
    expect(predict.statusCode).toBe(404);
  });
});
