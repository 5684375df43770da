/** End-to-end learning: XOR, a sine regression and real MNIST digits. */
import { describe, expect, it } from 'vitest';
import { Sequential, Trainer, evaluate, type ModelSpec } from '../../src/engine/index.js';
import { loadMnist, sliceRows } from '../helpers/mnist.js';
import { mulberry32 } from '../helpers/random.js';

describe('learning', () => {
  it.each([1, 2, 3])('XOR reaches accuracy 1 (model seed %d)', async (seed) => {
    const spec: ModelSpec = {
      name: 'xor',
      inputShape: [2],
      layers: [
        { type: 'dense', units: 8, activation: 'tanh' },
        { type: 'dense', units: 1, activation: 'sigmoid' },
      ],
    };
    const x = new Float32Array([0, 0, 0, 1, 1, 0, 1, 1]);
    const y = new Float32Array([0, 1, 1, 0]);
    const model = new Sequential(spec, { seed });
    const { history } = await new Trainer(
      model,
      {
        loss: 'binary_crossentropy',
        epochs: 300,
        batchSize: 4,
        seed,
        metrics: ['accuracy'],
        optimizer: { type: 'adam', learningRate: 0.05 },
      },
      { x, y, rows: 4 },
    ).fit();
    expect(history.at(-1)!['accuracy']).toBe(1);
    const p = model.predict(x, 4);
    expect(Array.from(p, (v) => (v >= 0.5 ? 1 : 0))).toEqual([0, 1, 1, 0]);
    // Confidently right, not just on the right side of 0.5.
    for (let i = 0; i < 4; i++) expect(Math.abs(p[i]! - y[i]!)).toBeLessThan(0.1);
  });

  it('fits y = sin(x) on [−π, π] with a 1-32-32-1 tanh network (held-out mse < 0.005)', async () => {
    const spec: ModelSpec = {
      name: 'sine',
      inputShape: [1],
      layers: [
        { type: 'dense', units: 32, activation: 'tanh' },
        { type: 'dense', units: 32, activation: 'tanh' },
        { type: 'dense', units: 1 },
      ],
    };
    const rows = 256;
    const x = Float32Array.from({ length: rows }, (_, i) => -Math.PI + (2 * Math.PI * i) / (rows - 1));
    const y = x.map(Math.sin);
    const model = new Sequential(spec, { seed: 7 });
    const { history } = await new Trainer(
      model,
      { loss: 'mse', epochs: 300, batchSize: 32, seed: 3, optimizer: { type: 'adam', learningRate: 0.01 } },
      { x, y, rows },
    ).fit();
    // Random points between the training grid's points. (Observed ≈ 5e-4; the bar leaves 10× margin.)
    const rand = mulberry32(99);
    const testX = Float32Array.from({ length: 1000 }, () => -Math.PI + 2 * Math.PI * rand());
    const result = evaluate(model, { loss: 'mse' }, { x: testX, y: testX.map(Math.sin), rows: 1000 });
    expect(result['loss']).toBeLessThan(0.005);
    // A constant predictor scores mse 0.5 here: the network learned the shape.
    expect(history[0]!.loss).toBeGreaterThan(0.05);
  });

  it('classifies real MNIST digits: 784-128-10, adam 1e-3, 10 epochs → test accuracy ≥ 0.93', async () => {
    const all = loadMnist(2024);
    expect(all.rows).toBe(10_000);
    const train = sliceRows(all, 0, 8000);
    const test = sliceRows(all, 8000, 10_000);
    // Every class is present in both parts after the seeded shuffle.
    expect(new Set(train.y).size).toBe(10);
    expect(new Set(test.y).size).toBe(10);

    const spec: ModelSpec = {
      name: 'digits',
      inputShape: [784],
      layers: [
        { type: 'dense', units: 128, activation: 'relu' },
        { type: 'dense', units: 10, activation: 'softmax' },
      ],
    };
    const model = new Sequential(spec, { seed: 42 });
    const { history } = await new Trainer(
      model,
      {
        loss: 'sparse_categorical_crossentropy',
        epochs: 10,
        batchSize: 64,
        shuffle: true,
        seed: 42,
        metrics: ['accuracy'],
        optimizer: { type: 'adam', learningRate: 1e-3 },
      },
      train,
    ).fit();
    expect(history).toHaveLength(10);
    expect(history[9]!.loss).toBeLessThan(history[0]!.loss);
    const result = evaluate(model, { loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'] }, test);
    console.info(`MNIST test accuracy ${result['accuracy']!.toFixed(4)}, test loss ${result['loss']!.toFixed(4)}`);
    expect(result['accuracy']).toBeGreaterThanOrEqual(0.93);

    // evaluate() agrees with the argmax of predict().
    const probs = model.predict(test.x, test.rows);
    let correct = 0;
    for (let r = 0; r < test.rows; r++) {
      const row = Array.from(probs.subarray(r * 10, r * 10 + 10));
      if (row.indexOf(Math.max(...row)) === test.y[r]) correct++;
    }
    expect(correct / test.rows).toBe(result['accuracy']);
  }, 120_000);
});
