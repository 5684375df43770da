/**
 * PREDICT_THREADS: with 2, the API process's engine predictions share large products with a
 * helper thread, and answer exactly what one thread answers.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { setKernelThreads } from '../../src/engine/index.js';
import { wasmRuntime } from '../../src/engine/kernels/wasm/runtime.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { importModel, tinyCheckpoint, tinySpec } from '../helpers/hardening.js';

const rt = wasmRuntime();
const WIDTH = 64;
// 64 rows × 64 inputs × 64 units: just above the size products are shared from.
const inputs = Array.from({ length: 64 }, (_, r) =>
  Array.from({ length: WIDTH }, (_, c) => Math.fround(((r * 31 + c * 17) % 97) / 97 - 0.5)),
);

describe.skipIf(!rt)('PREDICT_THREADS', () => {
  const apps: TestApp[] = [];
  afterAll(async () => {
    for (const t of apps) await t.close();
    setKernelThreads(1);
  });

  async function outputs(predictThreads: number, untilHelperJoins: boolean): Promise<unknown> {
    const t = await createTestApp({ workerConcurrency: 0, rateLimitPerMinute: 0, predictThreads });
    apps.push(t);
    await importModel(t.app, 'm', tinyCheckpoint(tinySpec('m', WIDTH, 64, 3), 5));
    const deadline = Date.now() + 20_000;
    for (;;) {
      const before = rt!.helperChunks();
      const res = await t.app.inject({ method: 'POST', url: '/v1/models/m/predict', payload: { inputs } });
      expect(res.statusCode, res.body).toBe(200);
      // The helper joins a product only when it is scheduled in time; ask again until it has.
      if (!untilHelperJoins || rt!.helperChunks() > before) return res.json();
      // Again at once: a helper that has just finished a task is still spinning, ready to join.
      if (Date.now() > deadline) throw new Error('the helper thread never took part in a prediction');
    }
  }

  it('shares large products with a helper thread and answers bit for bit what one thread answers', async () => {
    const one = await outputs(1, false);
    const two = await outputs(2, true);
    expect(two).toEqual(one);
  });
});
