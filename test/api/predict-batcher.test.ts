/**
 * The predict batcher on its own, with real models: a failing pass, the order of passes, and the
 * buffer a gathered pass fills.
 */
import { describe, expect, it, vi } from 'vitest';
import { PredictBatcher } from '../../src/api/services/predict-batcher.js';
import { Sequential } from '../../src/engine/index.js';
import { tinySpec } from '../helpers/hardening.js';

const WIDTH = 6;
const rows = (count: number, seed: number): Float32Array =>
  Float32Array.from({ length: count * WIDTH }, (_, i) => ((i * 7 + seed * 13) % 11) / 11 - 0.5);

describe('PredictBatcher', () => {
  it('rejects every request of a pass that fails, and runs the next pass', async () => {
    const model = new Sequential(tinySpec('m', WIDTH, 5, 3), { seed: 1 });
    const batcher = new PredictBatcher(8);
    const failure = new Error('kernel trap');
    const predict = vi.spyOn(model, 'predict').mockImplementationOnce(() => {
      throw failure;
    });
    // Rows 3 + 4 fit in one pass of 8; the next 5 rows need a pass of their own.
    const results = await Promise.allSettled([
      batcher.predict(model, rows(3, 1), 3),
      batcher.predict(model, rows(4, 2), 4),
      batcher.predict(model, rows(5, 3), 5),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'fulfilled']);
    expect((results[0] as PromiseRejectedResult).reason).toBe(failure);
    expect((results[1] as PromiseRejectedResult).reason).toBe(failure);
    predict.mockRestore();
    expect(Array.from((results[2] as PromiseFulfilledResult<Float32Array>).value)).toEqual(Array.from(model.predict(rows(5, 3), 5)));
  });

  it("answers a request before the next pass runs, so a small one does not wait for another model's large pass", async () => {
    const small = new Sequential(tinySpec('small', WIDTH, 5, 3), { seed: 2 });
    const large = new Sequential(tinySpec('large', WIDTH, 5, 3), { seed: 3 });
    const batcher = new PredictBatcher(256);
    let answered = false;
    let answeredBeforeLargePass: boolean | null = null;
    const predictLarge = large.predict.bind(large);
    vi.spyOn(large, 'predict').mockImplementation((x, count) => {
      answeredBeforeLargePass = answered;
      return predictLarge(x, count);
    });
    const first = batcher.predict(small, rows(1, 4), 1).then(() => {
      answered = true;
    });
    const second = batcher.predict(large, rows(200, 5), 200);
    await Promise.all([first, second]);
    expect(answeredBeforeLargePass).toBe(true);
  });

  it('gathers every pass of a model into one buffer, sized once for its largest pass', async () => {
    const model = new Sequential(tinySpec('m', WIDTH, 5, 3), { seed: 4 });
    const batcher = new PredictBatcher(64);
    const inputRows = vi.spyOn(model, 'inputRows');
    // Passes of 2, 3, … 12 rows, one after the other.
    for (let count = 2; count <= 12; count++) {
      await Promise.all(Array.from({ length: count }, (_, i) => batcher.predict(model, rows(1, count * 20 + i), 1)));
    }
    expect(batcher.stats.passes).toBe(11);
    expect(new Set(inputRows.mock.calls.map(([count]) => count))).toEqual(new Set([64]));
    const buffers = new Set(inputRows.mock.results.map((r) => (r.value as Float32Array).byteOffset));
    expect(buffers.size).toBe(1);
  });
});
