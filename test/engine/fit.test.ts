/**
 * The training loop: a hand-computed SGD step, batch order, validation split, history keys,
 * determinism, bit-exact resume, callbacks and non-finite losses.
 */
import { describe, expect, it } from 'vitest';
import {
  NonFiniteError,
  Sequential,
  Trainer,
  decodeTrainingState,
  encodeTrainingState,
  modelFromCheckpoint,
  toCheckpoint,
  type Checkpoint,
  type Dataset,
  type EncodedTrainingState,
  type HistoryEntry,
  type ModelSpec,
  type TrainingConfig,
} from '../../src/engine/index.js';
import { expectAllClose, expectBitIdentical } from '../helpers/gradcheck.js';
import { mulberry32, uniformArray } from '../helpers/random.js';

function weight(model: Sequential, layer: number, name: string): Float32Array | Float64Array {
  const entry = model.weights.find((w) => w.layer === layer && w.name === name);
  if (!entry) throw new Error(`no weight ${layer}/${name}`);
  return model.view(entry);
}

/** A 3-class problem: the label is the argmax of a fixed linear map of 6 features. */
function classificationData(rows: number, seed: number): Dataset {
  const rand = mulberry32(seed);
  const x = Float32Array.from(uniformArray(rows * 6, rand, -1, 1));
  const y = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const f = x.subarray(r * 6, r * 6 + 6);
    const scores = [f[0]! + f[1]! - f[2]!, f[3]! - f[0]! + 0.5 * f[4]!, f[5]! - f[1]! + 0.2];
    y[r] = scores.indexOf(Math.max(...scores));
  }
  return { x, y, rows };
}

/** History without the wall-clock fields, which legitimately differ between runs. */
function withoutTimings(history: HistoryEntry[]): Record<string, number>[] {
  return history.map((entry) => {
    const copy: Record<string, number> = { ...entry };
    delete copy['samplesPerSecond'];
    delete copy['durationMs'];
    return copy;
  });
}

describe('known answer: one SGD step of a 2-2-1 network', () => {
  // Explicit weights. Dense kernels are [inputs, units]: W1[i][j] connects input i to unit j.
  const W1 = [
    [0.1, -0.2],
    [0.4, 0.3],
  ];
  const b1 = [0.05, -0.1];
  const W2 = [0.7, -0.6];
  const b2 = 0.2;
  const lr = 0.5;
  const samples = [
    { x: [0.5, -1.0], t: 0.25 },
    { x: [1.5, 0.3], t: -0.5 },
  ];

  // By hand, in float64: forward, mse over the batch of 2, chain rule back to every weight.
  const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));
  const gW1 = [
    [0, 0],
    [0, 0],
  ];
  const gb1 = [0, 0];
  const gW2 = [0, 0];
  let gb2 = 0;
  let loss = 0;
  for (const { x, t } of samples) {
    const z0 = x[0]! * W1[0]![0]! + x[1]! * W1[1]![0]! + b1[0]!;
    const z1 = x[0]! * W1[0]![1]! + x[1]! * W1[1]![1]! + b1[1]!;
    const h0 = sigmoid(z0);
    const h1 = sigmoid(z1);
    const out = h0 * W2[0]! + h1 * W2[1]! + b2;
    loss += (out - t) ** 2 / 2; // mean over the two samples
    const dOut = (2 * (out - t)) / 2; // d(mean loss)/d(out)
    gW2[0] += dOut * h0;
    gW2[1] += dOut * h1;
    gb2 += dOut;
    const dz0 = dOut * W2[0]! * h0 * (1 - h0); // σ' = σ(1 − σ)
    const dz1 = dOut * W2[1]! * h1 * (1 - h1);
    gW1[0]![0] += x[0]! * dz0;
    gW1[0]![1] += x[0]! * dz1;
    gW1[1]![0] += x[1]! * dz0;
    gW1[1]![1] += x[1]! * dz1;
    gb1[0] += dz0;
    gb1[1] += dz1;
  }
  const expected = {
    kernel0: [W1[0]![0]! - lr * gW1[0]![0]!, W1[0]![1]! - lr * gW1[0]![1]!, W1[1]![0]! - lr * gW1[1]![0]!, W1[1]![1]! - lr * gW1[1]![1]!],
    bias0: [b1[0]! - lr * gb1[0]!, b1[1]! - lr * gb1[1]!],
    kernel1: [W2[0]! - lr * gW2[0]!, W2[1]! - lr * gW2[1]!],
    bias1: [b2 - lr * gb2],
  };

  const spec: ModelSpec = {
    name: 'known',
    inputShape: [2],
    layers: [
      { type: 'dense', units: 2, activation: 'sigmoid' },
      { type: 'dense', units: 1, activation: 'linear' },
    ],
  };
  const config: TrainingConfig = { loss: 'mse', epochs: 1, batchSize: 2, shuffle: false, optimizer: { type: 'sgd', learningRate: lr } };

  it.each([
    { dtype: 'float64' as const, tolerance: 1e-15 },
    { dtype: 'float32' as const, tolerance: 1e-6 },
  ])('$dtype: new weights and reported loss equal the hand computation', async ({ dtype, tolerance }) => {
    const model = new Sequential(spec, { dtype, seed: 1 });
    weight(model, 0, 'kernel').set([W1[0]![0]!, W1[0]![1]!, W1[1]![0]!, W1[1]![1]!]);
    weight(model, 0, 'bias').set(b1);
    weight(model, 1, 'kernel').set(W2);
    weight(model, 1, 'bias').set([b2]);
    const array = dtype === 'float64' ? Float64Array : Float32Array;
    const data = { x: array.from(samples.flatMap((s) => s.x)), y: array.from(samples.map((s) => s.t)), rows: 2 };
    const result = await new Trainer(model, config, data).fit();
    const opts = { atol: tolerance, rtol: tolerance };
    expectAllClose(weight(model, 0, 'kernel'), expected.kernel0, { ...opts, label: 'layer 0 kernel' });
    expectAllClose(weight(model, 0, 'bias'), expected.bias0, { ...opts, label: 'layer 0 bias' });
    expectAllClose(weight(model, 1, 'kernel'), expected.kernel1, { ...opts, label: 'layer 1 kernel' });
    expectAllClose(weight(model, 1, 'bias'), expected.bias1, { ...opts, label: 'layer 1 bias' });
    // The epoch loss is the loss of the batch before the step.
    expect(result.history[0]!.loss).toBeCloseTo(loss, dtype === 'float64' ? 14 : 6);
    // And the step changed every weight noticeably.
    expect(Math.abs(expected.kernel0[0]! - W1[0]![0]!)).toBeGreaterThan(1e-3);
  });
});

describe('batches', () => {
  // A linear model 2 → 1 trained with plain SGD on 10 rows in batches of 4 (4, 4, 2).
  const rows = 10;
  const rand = mulberry32(31);
  const x = uniformArray(rows * 2, rand, -2, 2);
  const y = uniformArray(rows, rand, -1, 1);
  const spec: ModelSpec = { name: 'order', inputShape: [2], layers: [{ type: 'dense', units: 1 }] };
  const lr = 0.2;

  /** Manual SGD over the rows in the given order; returns the weights and each batch's mse before its step. */
  function manualSgd(kernel0: ArrayLike<number>, order: number[]): { w: number[]; b: number; batchLosses: number[] } {
    const w = [kernel0[0]!, kernel0[1]!];
    let b = 0;
    const batchLosses: number[] = [];
    for (let start = 0; start < order.length; start += 4) {
      const batch = order.slice(start, start + 4);
      let gw0 = 0;
      let gw1 = 0;
      let gb = 0;
      let loss = 0;
      for (const r of batch) {
        const e = x[r * 2]! * w[0]! + x[r * 2 + 1]! * w[1]! + b - y[r]!;
        loss += (e * e) / batch.length;
        const d = (2 * e) / batch.length;
        gw0 += d * x[r * 2]!;
        gw1 += d * x[r * 2 + 1]!;
        gb += d;
      }
      w[0] -= lr * gw0;
      w[1] -= lr * gw1;
      b -= lr * gb;
      batchLosses.push(loss);
    }
    return { w, b, batchLosses };
  }

  async function train(shuffle: boolean, hooks: Parameters<Trainer['fit']>[0] = {}): Promise<Sequential> {
    const model = new Sequential(spec, { seed: 2, dtype: 'float64' });
    const config: TrainingConfig = { loss: 'mse', epochs: 1, batchSize: 4, shuffle, seed: 5, optimizer: { type: 'sgd', learningRate: lr } };
    await new Trainer(model, config, { x, y, rows }).fit(hooks);
    return model;
  }

  it('shuffle: false takes the batches in row order', async () => {
    const initial = Float64Array.from(weight(new Sequential(spec, { seed: 2, dtype: 'float64' }), 0, 'kernel'));
    const inOrder = manualSgd(initial, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const progress: { step: number; loss: number }[] = [];
    const model = await train(false, { onBatchEnd: (p) => void progress.push({ step: p.step, loss: p.loss }) });
    expectAllClose(weight(model, 0, 'kernel'), inOrder.w, { atol: 1e-14, rtol: 1e-13, label: 'kernel' });
    expectAllClose(weight(model, 0, 'bias'), [inOrder.b], { atol: 1e-14, rtol: 1e-13, label: 'bias' });
    // Progress reports the running mean loss per sample: batches of 4, 4 and 2 rows.
    const [l1, l2, l3] = inOrder.batchLosses as [number, number, number];
    expect(progress.map((p) => p.step)).toEqual([1, 2, 3]);
    expectAllClose(
      progress.map((p) => p.loss),
      [l1, (4 * l1 + 4 * l2) / 8, (4 * l1 + 4 * l2 + 2 * l3) / 10],
      { rtol: 1e-13, label: 'running loss' },
    );
    // Reversed order gives other weights, so the comparison can tell orders apart.
    const reversed = manualSgd(initial, [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    expect(Math.abs(reversed.w[0]! - inOrder.w[0]!)).toBeGreaterThan(1e-4);
  });

  it('shuffle: true visits every row exactly once per epoch, in a new order each epoch', async () => {
    const initial = Float64Array.from(weight(new Sequential(spec, { seed: 2, dtype: 'float64' }), 0, 'kernel'));
    const inOrder = manualSgd(initial, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const shuffled = await train(true);
    expect(Math.abs(weight(shuffled, 0, 'kernel')[0]! - inOrder.w[0]!)).toBeGreaterThan(1e-6);

    // With batches of one row and a learning rate too small to move a float64 weight, each
    // batch's loss is one row's squared error; recover them from the running means.
    const model = new Sequential(spec, { seed: 2, dtype: 'float64' });
    const running: number[] = [];
    const config: TrainingConfig = {
      loss: 'mse',
      epochs: 2,
      batchSize: 1,
      shuffle: true,
      seed: 5,
      optimizer: { type: 'sgd', learningRate: 1e-300 },
    };
    await new Trainer(model, config, { x, y, rows }).fit({ onBatchEnd: (p) => void running.push(p.loss) });
    expect(Array.from(weight(model, 0, 'kernel'))).toEqual(Array.from(initial));
    const perRow = Array.from({ length: rows }, (_, r) => (x[r * 2]! * initial[0]! + x[r * 2 + 1]! * initial[1]! - y[r]!) ** 2);
    const epochs = [running.slice(0, rows), running.slice(rows)].map((means) =>
      means.map((m, k) => m * (k + 1) - (k > 0 ? means[k - 1]! * k : 0)),
    );
    // Map each batch loss back to its row.
    const orders = epochs.map((losses) =>
      losses.map((loss) => {
        const row = perRow.findIndex((l) => Math.abs(l - loss) <= 1e-9 * Math.max(1, l));
        expect(row).toBeGreaterThanOrEqual(0);
        return row;
      }),
    );
    for (const order of orders) expect([...order].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(orders[0]).not.toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(orders[1]).not.toEqual(orders[0]);
  });

  it('reports stepsPerEpoch = ceil(rows / batchSize) and epochs in progress', async () => {
    const seen: string[] = [];
    const model = new Sequential(spec, { seed: 2 });
    const trainer = new Trainer(
      model,
      { loss: 'mse', epochs: 2, batchSize: 4 },
      { x: Float32Array.from(x), y: Float32Array.from(y), rows },
    );
    expect(trainer.stepsPerEpoch).toBe(3);
    await trainer.fit({ onBatchEnd: (p) => void seen.push(`${p.epoch}/${p.epochs}:${p.step}/${p.stepsPerEpoch}`) });
    expect(seen).toEqual(['1/2:1/3', '1/2:2/3', '1/2:3/3', '2/2:1/3', '2/2:2/3', '2/2:3/3']);
    expect(trainer.iterations).toBe(6);
    expect(trainer.completedEpochs).toBe(2);
  });

  it('stops at a batch boundary when shouldStop says so (cancellation)', async () => {
    let batches = 0;
    const model = new Sequential(spec, { seed: 2 });
    const trainer = new Trainer(
      model,
      { loss: 'mse', epochs: 5, batchSize: 4 },
      { x: Float32Array.from(x), y: Float32Array.from(y), rows },
    );
    const result = await trainer.fit({ onBatchEnd: () => void batches++, shouldStop: () => batches >= 5 });
    expect(result.stopReason).toBe('cancelled');
    expect(batches).toBe(5);
    expect(result.history).toHaveLength(1);
    expect(trainer.iterations).toBe(5);
  });
});

describe('validation split and history', () => {
  it('validationSplit holds out the LAST fraction of the rows, before any shuffling', async () => {
    // Rows 0..7 have target 0, rows 8..9 target 100. A zero-initialized linear model predicts 0
    // and gets zero gradients on rows with target 0, so it only moves if it trains on rows 8..9.
    const rows = 10;
    const x = Float32Array.from({ length: rows }, (_, i) => i + 1);
    const y = Float32Array.from({ length: rows }, (_, i) => (i >= 8 ? 100 : 0));
    const spec: ModelSpec = {
      name: 'split',
      inputShape: [1],
      layers: [{ type: 'dense', units: 1, kernelInitializer: 'zeros' }],
    };
    const model = new Sequential(spec);
    const trainer = new Trainer(
      model,
      {
        loss: 'mse',
        epochs: 3,
        batchSize: 3,
        shuffle: true,
        seed: 1,
        validationSplit: 0.2,
        optimizer: { type: 'sgd', learningRate: 0.01 },
      },
      { x, y, rows },
    );
    expect(trainer.train.rows).toBe(8);
    expect(trainer.validation!.rows).toBe(2);
    expect(Array.from(trainer.validation!.x)).toEqual([9, 10]);
    expect(Array.from(trainer.train.x)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const { history } = await trainer.fit();
    for (const entry of history) {
      expect(entry.loss).toBe(0);
      expect(entry['val_loss']).toBe(100 * 100);
    }
    expect(Array.from(model.params)).toEqual([0, 0]);
  });

  it('rounds the training part down, as Keras does (10 rows, split 0.25 → 7 + 3)', () => {
    const spec: ModelSpec = { name: 'split', inputShape: [1], layers: [{ type: 'dense', units: 1 }] };
    const data = { x: new Float32Array(10), y: new Float32Array(10), rows: 10 };
    const trainer = new Trainer(new Sequential(spec), { loss: 'mse', epochs: 1, validationSplit: 0.25 }, data);
    expect([trainer.train.rows, trainer.validation!.rows]).toEqual([7, 3]);
  });

  it('logs loss, accuracy, val_loss, val_accuracy, samplesPerSecond, durationMs and learning_rate per epoch', async () => {
    const data = classificationData(64, 3);
    const spec: ModelSpec = {
      name: 'keys',
      inputShape: [6],
      layers: [
        { type: 'dense', units: 8, activation: 'relu' },
        { type: 'dense', units: 3, activation: 'softmax' },
      ],
    };
    const config: TrainingConfig = {
      loss: 'sparse_categorical_crossentropy',
      epochs: 2,
      batchSize: 16,
      metrics: ['accuracy'],
      validationSplit: 0.25,
      optimizer: { type: 'adam', learningRate: 0.01 },
    };
    const { history } = await new Trainer(new Sequential(spec, { seed: 1 }), config, data).fit();
    expect(history).toHaveLength(2);
    for (const [i, entry] of history.entries()) {
      expect(Object.keys(entry).sort()).toEqual(
        ['accuracy', 'durationMs', 'epoch', 'learning_rate', 'loss', 'samplesPerSecond', 'val_accuracy', 'val_loss'].sort(),
      );
      expect(entry.epoch).toBe(i + 1);
      expect(entry.learning_rate).toBe(0.01);
      expect(entry.samplesPerSecond).toBeGreaterThan(0);
      expect(entry.durationMs).toBeGreaterThanOrEqual(0);
      for (const key of ['accuracy', 'val_accuracy']) {
        expect(entry[key]).toBeGreaterThanOrEqual(0);
        expect(entry[key]).toBeLessThanOrEqual(1);
        // 48 training and 16 validation rows: accuracies are multiples of 1/48 and 1/16.
        const denominator = key === 'accuracy' ? 48 : 16;
        expect(entry[key]! * denominator).toBeCloseTo(Math.round(entry[key]! * denominator), 9);
      }
    }
  });

  it('names regression metrics mae and mse, with val_ prefixes', async () => {
    const spec: ModelSpec = { name: 'reg', inputShape: [1], layers: [{ type: 'dense', units: 1, kernelInitializer: 'zeros' }] };
    const x = new Float32Array([1, 2, 3, 4]);
    const y = new Float32Array([2, 2, 2, 5]);
    const config: TrainingConfig = {
      loss: 'huber',
      epochs: 1,
      batchSize: 4,
      metrics: ['mae', 'mse'],
      validationSplit: 0.25,
      optimizer: { type: 'sgd', learningRate: 1e-9 },
    };
    const { history } = await new Trainer(new Sequential(spec), config, { x, y, rows: 4 }).fit();
    // Predictions stay ≈ 0: training rows have |e| = 2, the validation row |e| = 5.
    expect(history[0]!['mae']).toBeCloseTo(2, 6);
    expect(history[0]!['mse']).toBeCloseTo(4, 6);
    expect(history[0]!['val_mae']).toBeCloseTo(5, 6);
    expect(history[0]!['val_mse']).toBeCloseTo(25, 6);
    // huber with delta 1: |e| − 0.5
    expect(history[0]!.loss).toBeCloseTo(1.5, 6);
    expect(history[0]!['val_loss']).toBeCloseTo(4.5, 6);
  });
});

const DETERMINISM_SPEC: ModelSpec = {
  name: 'determinism',
  inputShape: [6],
  layers: [
    { type: 'dense', units: 16, activation: 'relu' },
    { type: 'dropout', rate: 0.3 },
    { type: 'batch_normalization' },
    { type: 'dense', units: 3, activation: 'softmax' },
  ],
};

describe('determinism', () => {
  const data = classificationData(96, 7);
  const config: TrainingConfig = {
    loss: 'sparse_categorical_crossentropy',
    epochs: 3,
    batchSize: 16,
    shuffle: true,
    seed: 11,
    metrics: ['accuracy'],
    validationSplit: 0.2,
    optimizer: { type: 'adam', learningRate: 0.01 },
  };

  async function run(modelSeed: number, trainingSeed: number): Promise<{ model: Sequential; history: HistoryEntry[] }> {
    const model = new Sequential(DETERMINISM_SPEC, { seed: modelSeed });
    const { history } = await new Trainer(model, { ...config, seed: trainingSeed }, data).fit();
    return { model, history };
  }

  it('same spec, data and seeds give bit-identical weights, moving statistics and losses (with dropout and shuffle)', async () => {
    const a = await run(1, 11);
    const b = await run(1, 11);
    expectBitIdentical(b.model.params, a.model.params, 'params');
    expectBitIdentical(b.model.state, a.model.state, 'state');
    expect(withoutTimings(b.history)).toEqual(withoutTimings(a.history));
    // Training did change the weights.
    const init = new Sequential(DETERMINISM_SPEC, { seed: 1 });
    expect(Array.from(a.model.params)).not.toEqual(Array.from(init.params));
  });

  it('a different training seed (shuffle and dropout) gives different weights', async () => {
    const a = await run(1, 11);
    const b = await run(1, 12);
    expect(Array.from(b.model.params)).not.toEqual(Array.from(a.model.params));
  });

  it('a different model seed (initializers) gives different weights', async () => {
    expect(Array.from(new Sequential(DETERMINISM_SPEC, { seed: 2 }).params)).not.toEqual(
      Array.from(new Sequential(DETERMINISM_SPEC, { seed: 1 }).params),
    );
    const a = await run(1, 11);
    const b = await run(2, 11);
    expect(Array.from(b.model.params)).not.toEqual(Array.from(a.model.params));
  });
});

describe('resume', () => {
  const data = classificationData(128, 13);
  const spec: ModelSpec = {
    name: 'resume',
    inputShape: [6],
    layers: [
      { type: 'dense', units: 16, activation: 'relu' },
      { type: 'dropout', rate: 0.2 },
      { type: 'batch_normalization' },
      { type: 'dense', units: 3, activation: 'softmax' },
    ],
  };
  const base: TrainingConfig = {
    loss: 'sparse_categorical_crossentropy',
    epochs: 8,
    batchSize: 16,
    shuffle: true,
    seed: 21,
    metrics: ['accuracy'],
    validationSplit: 0.25,
    optimizer: { type: 'adam', learningRate: 0.02 },
  };

  const cases: { name: string; config: TrainingConfig; k: number }[] = [
    {
      // minDelta 10: only the first epoch "improves". ReduceLROnPlateau with cooldown 2 then halves
      // the rate at epochs 2, 4 and 6; EarlyStopping (patience 4) stops after epoch 5 and restores
      // epoch 1's weights. Resuming after epoch 3 must carry the cooldown counter, the waits and
      // the best weights across.
      name: 'forced plateau: LR cut with cooldown, early stop with restoreBestWeights',
      config: {
        ...base,
        earlyStopping: { monitor: 'val_loss', minDelta: 10, patience: 4, restoreBestWeights: true },
        reduceLROnPlateau: { monitor: 'val_loss', minDelta: 10, factor: 0.5, patience: 1, cooldown: 2 },
      },
      k: 3,
    },
    {
      name: 'natural run: earlyStopping and reduceLROnPlateau on val_loss',
      config: {
        ...base,
        earlyStopping: { monitor: 'val_loss', patience: 3, restoreBestWeights: true },
        reduceLROnPlateau: { monitor: 'val_loss', factor: 0.5, patience: 1 },
      },
      k: 2,
    },
    {
      name: 'natural run, resumed late',
      config: {
        ...base,
        earlyStopping: { monitor: 'val_accuracy', patience: 5, restoreBestWeights: true },
        reduceLROnPlateau: { monitor: 'val_loss', factor: 0.5, patience: 1 },
      },
      k: 6,
    },
  ];

  it.each(cases)('$name: k epochs + resume + the rest equals all epochs straight, bit for bit', async ({ config, k }) => {
    // Straight run, recording the weights after every epoch.
    const straightModel = new Sequential(spec, { seed: 3 });
    const straightEpochs: Float32Array[] = [];
    const straight = await new Trainer(straightModel, config, data).fit({
      onEpochEnd: () => void straightEpochs.push(Float32Array.from([...straightModel.params, ...straightModel.state])),
    });

    // Interrupted run: snapshot after epoch k through JSON, as a worker would write it, then stop.
    const interruptedModel = new Sequential(spec, { seed: 3 });
    let saved = '';
    const interrupted = await new Trainer(interruptedModel, config, data).fit({
      onEpochEnd: (entry, trainer) => {
        if (entry.epoch === k)
          saved = JSON.stringify({ checkpoint: toCheckpoint(interruptedModel), training: encodeTrainingState(trainer.snapshot()) });
      },
      shouldStop: () => saved !== '',
    });
    expect(interrupted.stopReason).toBe('cancelled');
    expect(saved).not.toBe('');

    // Resume into a fresh model and trainer.
    const document = JSON.parse(saved) as { checkpoint: Checkpoint; training: EncodedTrainingState };
    const resumedModel = modelFromCheckpoint(document.checkpoint);
    const state = decodeTrainingState(document.training);
    expect(state.epoch).toBe(k);
    const resumedEpochs: Float32Array[] = [];
    const resumed = await new Trainer(resumedModel, config, data, { resume: state }).fit({
      onEpochEnd: () => void resumedEpochs.push(Float32Array.from([...resumedModel.params, ...resumedModel.state])),
    });

    expect(withoutTimings(resumed.history)).toEqual(withoutTimings(straight.history));
    expect(resumed.stopReason).toBe(straight.stopReason);
    expect(resumed.weightsEpoch).toBe(straight.weightsEpoch);
    expect(resumedEpochs).toHaveLength(straightEpochs.length - k);
    resumedEpochs.forEach((weights, i) => expectBitIdentical(weights, straightEpochs[k + i]!, `weights after epoch ${k + i + 1}`));
    expectBitIdentical(resumedModel.params, straightModel.params, 'final params');
    expectBitIdentical(resumedModel.state, straightModel.state, 'final state');
  });

  it('the forced-plateau case really exercises the callbacks across the resume point', async () => {
    const model = new Sequential(spec, { seed: 3 });
    const epochWeights: Float32Array[] = [];
    const result = await new Trainer(model, cases[0]!.config, data).fit({
      onEpochEnd: () => void epochWeights.push(Float32Array.from(model.params)),
    });
    expect(result.history.map((h) => h.learning_rate)).toEqual([0.02, 0.02, 0.01, 0.01, 0.005]);
    expect(result.stopReason).toBe('early_stopping');
    expect(result.history).toHaveLength(5);
    expect(result.weightsEpoch).toBe(1);
    expectBitIdentical(model.params, epochWeights[0]!, 'restored epoch-1 weights');
  });
});

describe('callbacks', () => {
  // One weight w (no bias, starts at 0), trained on x = 1, y = 2 with SGD lr 0.1 and batch 1:
  //   mse gradient 2(w − 2), so w ← w − 0.2(w − 2): 0.4, 0.72, 0.976, 1.1808, 1.34464, …
  // Validated on x = 1, y = 1: val_loss (w − 1)² = 0.36, 0.0784, 0.000576, 0.03269, 0.11868, …
  // so val_loss improves for three epochs and then worsens.
  const spec: ModelSpec = {
    name: 'w',
    inputShape: [1],
    layers: [{ type: 'dense', units: 1, useBias: false, kernelInitializer: 'zeros' }],
  };
  const train: Dataset = { x: new Float64Array([1]), y: new Float64Array([2]), rows: 1 };
  const validation: Dataset = { x: new Float64Array([1]), y: new Float64Array([1]), rows: 1 };
  const sgd = { type: 'sgd', learningRate: 0.1 } as const;

  /** w after each epoch, with the given learning rate per epoch. */
  function trajectory(lrs: number[]): number[] {
    const ws: number[] = [];
    let w = 0;
    for (const lr of lrs) {
      w -= lr * 2 * (w - 2);
      ws.push(w);
    }
    return ws;
  }

  it('the hand trajectory is as described', () => {
    const ws = trajectory([0.1, 0.1, 0.1, 0.1, 0.1]);
    expectAllClose(ws, [0.4, 0.72, 0.976, 1.1808, 1.34464], { rtol: 1e-14, label: 'w' });
  });

  it('earlyStopping with restoreBestWeights stops patience epochs after the best and restores it', async () => {
    const model = new Sequential(spec, { dtype: 'float64' });
    const result = await new Trainer(
      model,
      {
        loss: 'mse',
        epochs: 20,
        batchSize: 1,
        shuffle: false,
        optimizer: sgd,
        earlyStopping: { monitor: 'val_loss', patience: 2, restoreBestWeights: true },
      },
      train,
      { validationData: validation },
    ).fit();
    const ws = trajectory([0.1, 0.1, 0.1, 0.1, 0.1]);
    expect(result.stopReason).toBe('early_stopping');
    expect(result.history).toHaveLength(5); // best at epoch 3, then 2 epochs without improvement
    expectAllClose(
      result.history.map((h) => h['val_loss']!),
      ws.map((w) => (w - 1) ** 2),
      { rtol: 1e-12, label: 'val_loss' },
    );
    expect(result.weightsEpoch).toBe(3);
    expect(model.params[0]).toBeCloseTo(0.976, 14);
  });

  it('earlyStopping without restoreBestWeights keeps the last weights', async () => {
    const model = new Sequential(spec, { dtype: 'float64' });
    const result = await new Trainer(
      model,
      { loss: 'mse', epochs: 20, batchSize: 1, shuffle: false, optimizer: sgd, earlyStopping: { monitor: 'val_loss', patience: 2 } },
      train,
      { validationData: validation },
    ).fit();
    expect(result.history).toHaveLength(5);
    expect(result.weightsEpoch).toBe(5);
    expect(model.params[0]).toBeCloseTo(1.34464, 14);
  });

  it.each([
    { patience: 0, epochs: 2 },
    { patience: 1, epochs: 2 },
    { patience: 2, epochs: 3 },
    { patience: 4, epochs: 5 },
  ])('earlyStopping on an exact plateau with patience $patience stops after $epochs epochs', async ({ patience, epochs }) => {
    // relu of a zero pre-activation: output 0, gradient 0, so the loss never changes. Keras
    // counts the epoch itself: epoch 1 improves on +Infinity, then `wait` reaches `patience`
    // at epoch patience + 1 (and never stops at epoch 1, hence patience 0 and 1 alike).
    const plateau: ModelSpec = {
      name: 'plateau',
      inputShape: [1],
      layers: [{ type: 'dense', units: 1, activation: 'relu', kernelInitializer: 'zeros' }],
    };
    const result = await new Trainer(
      new Sequential(plateau),
      { loss: 'mse', epochs: 50, batchSize: 2, optimizer: sgd, earlyStopping: { monitor: 'loss', patience } },
      { x: new Float32Array([1, 2]), y: new Float32Array([1, 1]), rows: 2 },
    ).fit();
    expect(new Set(result.history.map((h) => h.loss))).toEqual(new Set([1]));
    expect(result.history).toHaveLength(epochs);
    expect(result.stopReason).toBe('early_stopping');
  });

  it('reduceLROnPlateau lowers learning_rate in the history and the next updates use it', async () => {
    // minDelta 10: after the first epoch the loss never "improves", so with patience 1 every
    // epoch end halves the rate. history.learning_rate is the rate used during that epoch.
    const model = new Sequential(spec, { dtype: 'float64' });
    const trainer = new Trainer(
      model,
      {
        loss: 'mse',
        epochs: 5,
        batchSize: 1,
        optimizer: sgd,
        reduceLROnPlateau: { monitor: 'loss', factor: 0.5, patience: 1, minDelta: 10 },
      },
      train,
    );
    const result = await trainer.fit();
    const lrs = [0.1, 0.1, 0.05, 0.025, 0.0125];
    expect(result.history.map((h) => h.learning_rate)).toEqual(lrs);
    expect(trainer.learningRate).toBe(0.00625);
    expect(model.params[0]).toBeCloseTo(trajectory(lrs)[4]!, 14);
  });

  it('reduceLROnPlateau waits `cooldown` epochs and never goes below minLr', async () => {
    const run = async (extra: { cooldown?: number; minLr?: number }): Promise<number[]> => {
      const { history } = await new Trainer(
        new Sequential(spec, { dtype: 'float64' }),
        {
          loss: 'mse',
          epochs: 6,
          batchSize: 1,
          optimizer: sgd,
          reduceLROnPlateau: { monitor: 'loss', factor: 0.5, patience: 1, minDelta: 10, ...extra },
        },
        train,
      ).fit();
      return history.map((h) => h.learning_rate);
    };
    expect(await run({ cooldown: 2 })).toEqual([0.1, 0.1, 0.05, 0.05, 0.025, 0.025]);
    expect(await run({ minLr: 0.03 })).toEqual([0.1, 0.1, 0.05, 0.03, 0.03, 0.03]);
  });
});

describe('non-finite losses', () => {
  const spec: ModelSpec = {
    name: 'nan',
    inputShape: [2],
    layers: [
      { type: 'dense', units: 4, activation: 'relu' },
      { type: 'dense', units: 1 },
    ],
  };
  function data(hugeFeature: boolean): Dataset {
    const rows = 64;
    const x = new Float32Array(rows * 2);
    const y = new Float32Array(rows);
    for (let i = 0; i < rows; i++) {
      x[2 * i] = Math.sin(i);
      x[2 * i + 1] = Math.cos(i);
      y[i] = 2 * x[2 * i]!;
    }
    if (hugeFeature) x[2 * 40] = 1e30;
    return { x, y, rows };
  }

  it.each([
    { name: 'learning rate 1e6', lr: 1e6, huge: false, epoch: 1 },
    { name: 'a feature of 1e30', lr: 0.01, huge: true, epoch: 1 },
    { name: 'learning rate 30 (diverges, loss turns non-finite in epoch 3)', lr: 30, huge: false, epoch: 3 },
    { name: 'learning rate 100 (weights turn non-finite at the end of epoch 2)', lr: 100, huge: false, epoch: 2 },
  ])('$name: throws NonFiniteError and leaves finite weights (the last completed epoch)', async ({ lr, huge, epoch }) => {
    const model = new Sequential(spec, { seed: 1 });
    let lastEpochWeights = Float32Array.from(model.params);
    let completed = 0;
    const trainer = new Trainer(
      model,
      { loss: 'mse', epochs: 200, batchSize: 8, seed: 1, optimizer: { type: 'sgd', learningRate: lr } },
      data(huge),
    );
    const error = await trainer
      .fit({
        onEpochEnd: () => {
          lastEpochWeights = Float32Array.from(model.params);
          completed++;
        },
      })
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(NonFiniteError);
    const nonFinite = error as NonFiniteError;
    expect(nonFinite.code).toBe('non_finite_loss');
    expect(nonFinite.message).toMatch(/(loss became (NaN|-?Infinity)|weights became non-finite).* epoch \d+/);
    expect(nonFinite.message).toMatch(/lower the learning rate/);
    expect(nonFinite.epoch).toBe(epoch);
    expect(completed).toBe(epoch - 1);
    expect(nonFinite.step).toBeGreaterThanOrEqual(1);
    expect(nonFinite.step).toBeLessThanOrEqual(8);
    expect(model.params.every((v) => Number.isFinite(v))).toBe(true);
    expect(model.state.every((v) => Number.isFinite(v))).toBe(true);
    expectBitIdentical(Float32Array.from(model.params), lastEpochWeights, 'weights after the failure');
  });
});
