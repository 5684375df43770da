/**
 * Finite-difference gradient checks of every layer, through a float64 Sequential: gradients with
 * respect to the parameters (model.backward into model.grads) and to the input (the layers'
 * backward chain), against central differences of a scalar objective.
 */
import { describe, expect, it } from 'vitest';
import { ACTIVATIONS, type ActivationName } from '../../src/engine/activations.js';
import { Rng, Sequential, type FloatArray, type LayerSpec, type LossName, type ModelSpec } from '../../src/engine/index.js';
import { getLoss } from '../../src/engine/losses/index.js';
import { expectAllClose, gradCheck } from '../helpers/gradcheck.js';
import { mulberry32, randomLabels, uniformArray } from '../helpers/random.js';

const BATCH = 5;
const DROPOUT_SEED = 77;

function build(inputShape: number[], layers: LayerSpec[], seed = 1): Sequential {
  const model = new Sequential({ name: 'gradcheck', inputShape, layers }, { seed, dtype: 'float64' });
  // Move every trainable weight off its initializer (zero biases, unit gammas) so each gets a
  // non-trivial gradient.
  const rand = mulberry32(seed + 100);
  for (let i = 0; i < model.params.length; i++) model.params[i] += 0.6 * (rand() - 0.5);
  return model;
}

/** Σ w·y over the batch (w fixed and random), plus the regularization penalty when asked. */
function projection(model: Sequential, x: Float64Array, w: Float64Array, withPenalty: boolean): number {
  // A fresh rng per evaluation: the dropout mask is the same in every evaluation.
  const y = model.forward(x, BATCH, true, new Rng(DROPOUT_SEED));
  let total = 0;
  for (let i = 0; i < w.length; i++) total += w[i]! * y[i]!;
  return withPenalty ? total + model.regularization(false) : total;
}

function paramGradients(model: Sequential, x: Float64Array, w: Float64Array, withPenalty: boolean): Float64Array {
  model.zeroGrad();
  model.forward(x, BATCH, true, new Rng(DROPOUT_SEED));
  model.backward(w, BATCH, false);
  if (withPenalty) model.regularization(true);
  return Float64Array.from(model.grads);
}

/** dL/dx through every layer's backward (Sequential.backward drops the first layer's input gradient). */
function inputGradient(model: Sequential, x: Float64Array, dy: FloatArray, dyIsPreActivation = false): Float64Array {
  for (const layer of model.layers) layer.needsInputGrad = true;
  let g: FloatArray | null = dy;
  let fused = dyIsPreActivation;
  for (let i = model.layers.length - 1; i >= 0; i--) {
    g = model.layers[i]!.backward(g!, BATCH, fused);
    fused = false;
  }
  if (!g || g.length !== x.length) throw new Error('no input gradient');
  return Float64Array.from(g);
}

/** Checks that no pre-activation of a relu-family layer sits within `margin` of the kink at 0. */
function expectAwayFromKinks(model: Sequential, x: Float64Array, margin = 1e-3): void {
  model.forward(x, BATCH, true, new Rng(DROPOUT_SEED));
  for (const layer of model.layers) {
    if (!['relu', 'leaky_relu', 'elu'].includes(layer.outputActivation ?? '')) continue;
    const z = layer.preActivation();
    if (!z) continue;
    const closest = Math.min(...Array.from(z, Math.abs));
    if (closest < margin) throw new Error(`a pre-activation is ${closest} from the kink; choose another seed`);
  }
}

interface Case {
  name: string;
  inputShape: number[];
  layers: LayerSpec[];
  penalty?: boolean;
}

function checkModel({ inputShape, layers, penalty = false }: Case, seed = 3): void {
  const model = build(inputShape, layers, seed);
  const rand = mulberry32(seed);
  const x = uniformArray(BATCH * model.inputSize, rand, -1.5, 1.5);
  const w = uniformArray(BATCH * model.outputSize, rand);
  expectAwayFromKinks(model, x);

  const analyticParams = paramGradients(model, x, w, penalty);
  gradCheck(analyticParams, () => projection(model, x, w, penalty), model.params, { label: 'dL/dparams' });

  projection(model, x, w, penalty);
  const analyticInput = inputGradient(model, x, w);
  gradCheck(analyticInput, () => projection(model, x, w, penalty), x, { label: 'dL/dx' });
}

const CASES: Case[] = [
  { name: 'dense with bias (linear)', inputShape: [4], layers: [{ type: 'dense', units: 3 }] },
  {
    name: 'dense without bias',
    inputShape: [4],
    layers: [
      { type: 'dense', units: 3, useBias: false, activation: 'tanh' },
      { type: 'dense', units: 2, useBias: false },
    ],
  },
  {
    name: 'dense with an l2 kernelRegularizer',
    inputShape: [4],
    layers: [
      { type: 'dense', units: 3, activation: 'sigmoid', kernelRegularizer: { l2: 0.05 } },
      { type: 'dense', units: 2 },
    ],
    penalty: true,
  },
  {
    name: 'dense with an l1 kernelRegularizer',
    inputShape: [4],
    layers: [
      { type: 'dense', units: 3, activation: 'tanh', kernelRegularizer: { l1: 0.03 } },
      { type: 'dense', units: 2, kernelRegularizer: { l1: 0.1 } },
    ],
    penalty: true,
  },
  {
    name: 'dense with l1 and l2 together',
    inputShape: [3],
    layers: [{ type: 'dense', units: 4, activation: 'elu', kernelRegularizer: { l1: 0.02, l2: 0.07 } }],
    penalty: true,
  },
  {
    name: 'dropout in training mode (after a dense layer)',
    inputShape: [4],
    layers: [
      { type: 'dense', units: 6, activation: 'tanh' },
      { type: 'dropout', rate: 0.4 },
      { type: 'dense', units: 3 },
    ],
  },
  {
    name: 'dropout as the first layer',
    inputShape: [6],
    layers: [
      { type: 'dropout', rate: 0.3 },
      { type: 'dense', units: 3, activation: 'gelu' },
    ],
  },
  {
    name: 'batch_normalization in training mode (gamma and beta)',
    inputShape: [4],
    layers: [{ type: 'dense', units: 5 }, { type: 'batch_normalization' }, { type: 'dense', units: 3, activation: 'tanh' }],
  },
  {
    name: 'batch_normalization as the first layer, custom momentum and epsilon',
    inputShape: [4],
    layers: [
      { type: 'batch_normalization', momentum: 0.9, epsilon: 0.01 },
      { type: 'dense', units: 2 },
    ],
  },
  {
    name: 'batch_normalization without center (no beta)',
    inputShape: [4],
    layers: [
      { type: 'batch_normalization', center: false },
      { type: 'dense', units: 2, activation: 'sigmoid' },
    ],
  },
  {
    name: 'batch_normalization without scale (no gamma)',
    inputShape: [4],
    layers: [
      { type: 'dense', units: 3 },
      { type: 'batch_normalization', scale: false },
      { type: 'dense', units: 2 },
    ],
  },
  {
    name: 'batch_normalization over the last axis of a 2-D input, then flatten',
    inputShape: [3, 4],
    layers: [{ type: 'batch_normalization' }, { type: 'flatten' }, { type: 'dense', units: 3, activation: 'tanh' }],
  },
  {
    name: 'flatten',
    inputShape: [2, 3],
    layers: [{ type: 'flatten' }, { type: 'dense', units: 4, activation: 'sigmoid' }, { type: 'dense', units: 2 }],
  },
  {
    name: 'a deeper mix',
    inputShape: [2, 3],
    layers: [
      { type: 'flatten' },
      { type: 'dense', units: 6, activation: 'leaky_relu' },
      { type: 'dropout', rate: 0.25 },
      { type: 'batch_normalization' },
      { type: 'dense', units: 5, activation: 'gelu', kernelRegularizer: { l2: 0.01 } },
      { type: 'activation', activation: 'tanh' },
      { type: 'dense', units: 3, activation: 'softmax' },
    ],
    penalty: true,
  },
];

describe('layer gradients (float64, central differences)', () => {
  it.each(CASES)('$name', (testCase) => checkModel(testCase));

  describe.each([...ACTIVATIONS])('activation %s', (activation: ActivationName) => {
    it('inside a dense layer', () => {
      checkModel({
        name: activation,
        inputShape: [3],
        layers: [
          { type: 'dense', units: 4, activation },
          { type: 'dense', units: 2 },
        ],
      });
    });

    it('as an activation layer', () => {
      checkModel({
        name: activation,
        inputShape: [3],
        layers: [
          { type: 'dense', units: 4 },
          { type: 'activation', activation },
          { type: 'dense', units: 2 },
        ],
      });
    });
  });

  it('the checker itself rejects a wrong gradient and says where', () => {
    const model = build([3], [{ type: 'dense', units: 2, activation: 'tanh' }]);
    const rand = mulberry32(9);
    const x = uniformArray(BATCH * 3, rand);
    const w = uniformArray(BATCH * 2, rand);
    const wrong = paramGradients(model, x, w, false);
    wrong[4] *= 1.001;
    expect(() => gradCheck(wrong, () => projection(model, x, w, false), model.params, { label: 'wrong' })).toThrow(
      /wrong: 1 of 8 values differ.*max abs diff[\s\S]*\[4\] actual/,
    );
  });
});

describe('fused output activation + loss, through the model', () => {
  interface FusedCase {
    name: string;
    layers: LayerSpec[];
    loss: LossName;
  }
  const fusedCases: FusedCase[] = [
    {
      name: 'dense softmax + sparse_categorical_crossentropy',
      layers: [
        { type: 'dense', units: 4, activation: 'tanh' },
        { type: 'dense', units: 3, activation: 'softmax' },
      ],
      loss: 'sparse_categorical_crossentropy',
    },
    {
      name: 'activation-layer softmax + categorical_crossentropy',
      layers: [
        { type: 'dense', units: 4, activation: 'elu' },
        { type: 'dense', units: 3 },
        { type: 'activation', activation: 'softmax' },
      ],
      loss: 'categorical_crossentropy',
    },
    {
      name: 'dense sigmoid + binary_crossentropy',
      layers: [
        { type: 'dense', units: 4, activation: 'tanh' },
        { type: 'dense', units: 3, activation: 'sigmoid' },
      ],
      loss: 'binary_crossentropy',
    },
  ];

  function targetsFor(loss: LossName, rand: () => number): Float64Array {
    if (loss === 'sparse_categorical_crossentropy') return randomLabels(BATCH, 3, rand);
    if (loss === 'categorical_crossentropy') {
      const y = new Float64Array(BATCH * 3);
      randomLabels(BATCH, 3, rand).forEach((label, r) => (y[r * 3 + label] = 1));
      return y;
    }
    return Float64Array.from({ length: BATCH * 3 }, () => (rand() < 0.5 ? 0 : 1));
  }

  it.each(fusedCases)('$name: logits gradient backpropagates to the plain-path gradient', ({ layers, loss: lossName }) => {
    const model = build([4], layers, 5);
    const rand = mulberry32(21);
    const x = uniformArray(BATCH * 4, rand, -1.5, 1.5);
    const target = targetsFor(lossName, rand);
    const loss = getLoss(lossName);
    const last = model.layers[model.layers.length - 1]!;
    expect(last.outputActivation).toBe(loss.fusedActivation);

    // Fused: the loss writes d(mean)/d(logits), backward starts below the output activation.
    model.zeroGrad();
    model.forward(x, BATCH, true, new Rng(0));
    const dLogits = new Float64Array(BATCH * 3);
    loss.computeFromLogits!(dLogits, last.preActivation()!, target, BATCH, 3);
    model.backward(dLogits, BATCH, true);
    const fused = Float64Array.from(model.grads);

    // Plain: the loss writes d(mean)/d(probabilities), backward goes through the activation.
    model.zeroGrad();
    const probs = model.forward(x, BATCH, true, new Rng(0));
    const dProbs = new Float64Array(BATCH * 3);
    loss.compute(dProbs, probs, target, BATCH, 3);
    model.backward(dProbs, BATCH, false);
    const plain = Float64Array.from(model.grads);

    const meanLoss = (): number => loss.compute(null, model.forward(x, BATCH, true, new Rng(0)), target, BATCH, 3) / BATCH;
    gradCheck(fused, meanLoss, model.params, { label: 'fused dL/dparams' });
    gradCheck(plain, meanLoss, model.params, { label: 'plain dL/dparams' });
    expectAllClose(fused, plain, { rtol: 1e-9, atol: 1e-12, label: 'fused vs plain' });

    // And with respect to the input, through the fused path.
    model.forward(x, BATCH, true, new Rng(0));
    loss.computeFromLogits!(dLogits, last.preActivation()!, target, BATCH, 3);
    gradCheck(inputGradient(model, x, dLogits, true), meanLoss, x, { label: 'fused dL/dx' });
  });
});

describe('batch_normalization statistics', () => {
  it('normalizes with the batch mean and biased variance while training and updates the moving statistics', () => {
    const spec: ModelSpec = { name: 'bn', inputShape: [2], layers: [{ type: 'batch_normalization', momentum: 0.9, epsilon: 0.001 }] };
    const model = new Sequential(spec, { dtype: 'float64' });
    const x = new Float64Array([1, 10, 2, 20, 6, 30]);
    const y = Float64Array.from(model.forward(x, 3, true, new Rng(0)));
    // Column 0: mean 3, biased variance ((−2)² + (−1)² + 3²)/3 = 14/3. Column 1: mean 20, variance 200/3.
    const inv0 = 1 / Math.sqrt(14 / 3 + 0.001);
    const inv1 = 1 / Math.sqrt(200 / 3 + 0.001);
    expectAllClose(y, [-2 * inv0, -10 * inv1, -1 * inv0, 0, 3 * inv0, 10 * inv1], { rtol: 1e-14, atol: 1e-15, label: 'bn train' });
    const byName = (name: string): Float64Array => Float64Array.from(model.view(model.weights.find((w) => w.name === name)!));
    // moving = moving·momentum + batch·(1 − momentum), from moving_mean 0 and moving_variance 1.
    expectAllClose(byName('moving_mean'), [0.1 * 3, 0.1 * 20], { rtol: 1e-14, label: 'moving_mean' });
    expectAllClose(byName('moving_variance'), [0.9 + 0.1 * (14 / 3), 0.9 + 0.1 * (200 / 3)], { rtol: 1e-14, label: 'moving_variance' });
    expect(model.weights.map((w) => [w.name, w.trainable])).toEqual([
      ['gamma', true],
      ['beta', true],
      ['moving_mean', false],
      ['moving_variance', false],
    ]);
  });

  it('uses the moving statistics, gamma and beta at inference and does not update them', () => {
    const spec: ModelSpec = { name: 'bn', inputShape: [2], layers: [{ type: 'batch_normalization' }] };
    const model = new Sequential(spec, { dtype: 'float64' });
    const set = (name: string, values: number[]): void => model.view(model.weights.find((w) => w.name === name)!).set(values);
    set('gamma', [2, 0.5]);
    set('beta', [1, -1]);
    set('moving_mean', [0.5, -2]);
    set('moving_variance', [4, 0.25]);
    const out = model.predict(new Float64Array([1.5, 0, -0.5, -2]), 2);
    // (x − mean)/sqrt(var + 1e-3)·gamma + beta
    const expected = [
      ((1.5 - 0.5) / Math.sqrt(4.001)) * 2 + 1,
      ((0 + 2) / Math.sqrt(0.251)) * 0.5 - 1,
      ((-0.5 - 0.5) / Math.sqrt(4.001)) * 2 + 1,
      ((-2 + 2) / Math.sqrt(0.251)) * 0.5 - 1,
    ];
    expectAllClose(out, expected, { rtol: 1e-14, atol: 1e-15, label: 'bn inference' });
    expect(Array.from(model.state)).toEqual([0.5, -2, 4, 0.25]);
  });
});

describe('dropout masks', () => {
  const spec: ModelSpec = { name: 'drop', inputShape: [1000], layers: [{ type: 'dropout', rate: 0.3 }] };

  it('zeroes inputs with probability rate and scales survivors by 1/(1 − rate) while training', () => {
    const model = new Sequential(spec, { dtype: 'float64' });
    const x = uniformArray(2000, mulberry32(4), 0.5, 1.5);
    const y = Float64Array.from(model.forward(x, 2, true, new Rng(123)));
    let dropped = 0;
    for (let i = 0; i < x.length; i++) {
      if (y[i] === 0) dropped++;
      else expect(y[i]).toBeCloseTo(x[i]! / 0.7, 14);
    }
    // 2000 Bernoulli(0.3) draws: mean 600, sd ≈ 20.5; ±5 sd.
    expect(dropped).toBeGreaterThan(500);
    expect(dropped).toBeLessThan(700);
    // The same rng state gives the same mask; another state another one.
    expect(Array.from(model.forward(x, 2, true, new Rng(123)))).toEqual(Array.from(y));
    const other = model.forward(x, 2, true, new Rng(124));
    expect(Array.from(other)).not.toEqual(Array.from(y));
  });

  it('is the identity at inference', () => {
    const model = new Sequential(spec, { dtype: 'float64' });
    const x = uniformArray(1000, mulberry32(5));
    expect(Array.from(model.predict(x, 1))).toEqual(Array.from(x));
    expect(Array.from(model.forward(x, 1, false, new Rng(1)))).toEqual(Array.from(x));
  });

  it('backward multiplies dy by the same mask (zero where dropped, 1/(1 − rate) where kept)', () => {
    const model = new Sequential(spec, { dtype: 'float64' });
    const layer = model.layers[0]!;
    layer.needsInputGrad = true;
    const rand = mulberry32(8);
    const x = uniformArray(1000, rand, 0.5, 1.5);
    const dy = uniformArray(1000, rand);
    const y = Float64Array.from(layer.forward(x, 1, { training: true, rng: new Rng(9) }));
    const dx = layer.backward(dy, 1, false)!;
    const expected = Array.from(y, (v, i) => (v === 0 ? 0 : dy[i]! / 0.7));
    expect(expected.filter((v) => v === 0).length).toBeGreaterThan(200);
    expectAllClose(dx, expected, { rtol: 1e-15, label: 'dropout dx' });
  });
});
