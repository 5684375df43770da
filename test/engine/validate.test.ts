/** Spec validation messages a user can act on, and model summaries. */
import { describe, expect, it } from 'vitest';
import { summarizeModel, validateModelSpec, validateTargets, validateTrainingConfig, type ModelSpec } from '../../src/engine/index.js';

const base = { name: 'm', inputShape: [4] };

function messages(issues: { path: string; message: string }[]): string[] {
  return issues.map((i) => i.message);
}

describe('validateModelSpec', () => {
  it('accepts a valid spec', () => {
    expect(
      validateModelSpec({
        name: 'digits',
        inputShape: [28, 28],
        layers: [
          { type: 'flatten' },
          { type: 'dense', units: 128, activation: 'relu', kernelRegularizer: { l2: 0.01 } },
          { type: 'dropout', rate: 0.2 },
          { type: 'batch_normalization', momentum: 0.9 },
          { type: 'dense', units: 10 },
          { type: 'activation', activation: 'softmax' },
        ],
      }),
    ).toEqual([]);
  });

  it('units 0 → "model.layers[1].units must be a positive integer"', () => {
    const issues = validateModelSpec({
      ...base,
      layers: [
        { type: 'dense', units: 3 },
        { type: 'dense', units: 0 },
      ],
    });
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toBe('model.layers[1].units');
    expect(issues[0]!.message).toContain('model.layers[1].units must be a positive integer');
  });

  it('fractional units get the same message', () => {
    expect(messages(validateModelSpec({ ...base, layers: [{ type: 'dense', units: 2.5 }] }))).toEqual([
      'model.layers[0].units must be a positive integer',
    ]);
  });

  it('an unknown layer type lists the known ones', () => {
    const issues = validateModelSpec({
      ...base,
      layers: [
        { type: 'dense', units: 2 },
        { type: 'conv2d', filters: 8 },
      ],
    });
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toBe('model.layers[1].type');
    for (const type of ['dense', 'activation', 'dropout', 'batch_normalization', 'flatten'])
      expect(issues[0]!.message).toContain(`"${type}"`);
  });

  it('an unknown activation lists the allowed values', () => {
    const issues = validateModelSpec({ ...base, layers: [{ type: 'dense', units: 3, activation: 'swish' }] });
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toBe('model.layers[0].activation');
    expect(issues[0]!.message).toMatch(/^model\.layers\[0\]\.activation must be one of: /);
    for (const name of ['linear', 'relu', 'leaky_relu', 'elu', 'gelu', 'sigmoid', 'tanh', 'softmax'])
      expect(issues[0]!.message).toContain(`"${name}"`);
  });

  it('dense after a 2-D input without flatten says to add one', () => {
    const issues = validateModelSpec({ name: 'm', inputShape: [28, 28], layers: [{ type: 'dense', units: 10 }] });
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toBe('model.layers[0]');
    expect(issues[0]!.message).toContain('needs a 1-D input but receives shape [28,28]');
    expect(issues[0]!.message).toContain('flatten');
    // batch_normalization and dropout keep the 2-D shape, so a later dense still complains.
    expect(
      validateModelSpec({ name: 'm', inputShape: [2, 3], layers: [{ type: 'batch_normalization' }, { type: 'dense', units: 1 }] })[0]!.path,
    ).toBe('model.layers[1]');
  });

  it('other structural problems name their field', () => {
    expect(messages(validateModelSpec({ ...base, layers: [{ type: 'dense', units: 3, foo: 1 }] }))).toEqual([
      'model.layers[0] has an unknown field "foo"',
    ]);
    expect(messages(validateModelSpec({ ...base, layers: [{ type: 'dropout', rate: 1 }] }))).toEqual(['model.layers[0].rate must be < 1']);
    expect(messages(validateModelSpec({ name: 'Bad Name', inputShape: [4], layers: [{ type: 'flatten' }] }))[0]).toMatch(
      /^model\.name must match/,
    );
    expect(messages(validateModelSpec({ name: 'm', inputShape: [4] }))).toEqual(['model.layers is required']);
    expect(messages(validateModelSpec({ name: 'm', inputShape: [4], layers: [] }))).toEqual(['model.layers must be a non-empty array']);
    expect(messages(validateModelSpec({ name: 'm', inputShape: [0], layers: [{ type: 'flatten' }] }))).toEqual([
      'model.inputShape[0] must be a positive integer',
    ]);
    expect(messages(validateModelSpec('dense'))).toEqual(['model must be an object']);
  });
});

describe('validateTrainingConfig', () => {
  const softmaxModel: ModelSpec = { ...base, layers: [{ type: 'dense', units: 3, activation: 'softmax' }] };
  const sigmoidModel: ModelSpec = { ...base, layers: [{ type: 'dense', units: 1, activation: 'sigmoid' }] };

  it('accepts matching configs', () => {
    expect(
      validateTrainingConfig({ loss: 'sparse_categorical_crossentropy', epochs: 3, validationSplit: 0.1, earlyStopping: {} }, softmaxModel),
    ).toEqual([]);
    expect(validateTrainingConfig({ loss: 'binary_crossentropy', epochs: 3, metrics: ['accuracy'] }, sigmoidModel)).toEqual([]);
  });

  it('softmax output with binary_crossentropy is a mismatch', () => {
    const issues = validateTrainingConfig({ loss: 'binary_crossentropy', epochs: 1 }, softmaxModel);
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toBe('training.loss');
    expect(issues[0]!.message).toContain('end the model with a sigmoid activation (it ends with softmax)');
  });

  it('categorical losses need a softmax output with at least 2 units', () => {
    const issues = validateTrainingConfig({ loss: 'sparse_categorical_crossentropy', epochs: 1 }, sigmoidModel);
    expect(messages(issues).join('\n')).toContain('needs at least 2 output units');
    expect(messages(issues).join('\n')).toContain('end the model with a softmax activation (it ends with sigmoid)');
  });

  it('earlyStopping on val_loss without validation data says how to get it', () => {
    const issues = validateTrainingConfig(
      { loss: 'sparse_categorical_crossentropy', epochs: 1, earlyStopping: { monitor: 'val_loss' } },
      softmaxModel,
    );
    expect(issues).toHaveLength(1);
    expect(issues[0]!.path).toBe('training.earlyStopping.monitor');
    expect(issues[0]!.message).toContain('"val_loss" is not logged by this training');
    expect(issues[0]!.message).toContain('validationSplit');
    // Separate validation data makes val_loss available.
    expect(
      validateTrainingConfig({ loss: 'sparse_categorical_crossentropy', epochs: 1, earlyStopping: {} }, softmaxModel, 'training', true),
    ).toEqual([]);
  });

  it('a monitor that is never logged is rejected with the available keys', () => {
    const issues = validateTrainingConfig(
      { loss: 'sparse_categorical_crossentropy', epochs: 1, validationSplit: 0.2, reduceLROnPlateau: { monitor: 'val_accuracy' } },
      softmaxModel,
    );
    expect(issues[0]!.path).toBe('training.reduceLROnPlateau.monitor');
    expect(issues[0]!.message).toContain('available: loss, val_loss');
  });

  it('field-level problems', () => {
    expect(messages(validateTrainingConfig({ loss: 'mse', epochs: 0 }, softmaxModel))).toEqual([
      'training.epochs must be a positive integer',
    ]);
    expect(messages(validateTrainingConfig({ loss: 'hinge', epochs: 1 }, softmaxModel))[0]).toMatch(
      /^training\.loss must be one of: "mse"/,
    );
    expect(messages(validateTrainingConfig({ loss: 'mse', epochs: 1, optimizer: { type: 'adagrad' } }, softmaxModel))[0]).toContain(
      'training.optimizer.type must be one of: "sgd", "adam", "adamw", "rmsprop"',
    );
    expect(
      messages(validateTrainingConfig({ loss: 'mse', epochs: 1, optimizer: { type: 'sgd', clipnorm: 1, clipvalue: 1 } }, softmaxModel)),
    ).toEqual(['training.optimizer may set only one of clipnorm, clipvalue, globalClipnorm (got clipnorm, clipvalue)']);
  });

  it('learning-rate schedules are checked too', () => {
    const piecewise = validateTrainingConfig(
      {
        loss: 'mse',
        epochs: 1,
        optimizer: { type: 'sgd', learningRate: { type: 'piecewise_constant_decay', boundaries: [5, 3], values: [1, 2] } },
      },
      softmaxModel,
    );
    expect(piecewise.map((i) => i.path)).toEqual(['training.optimizer.learningRate.values', 'training.optimizer.learningRate.boundaries']);
    const withPlateau = validateTrainingConfig(
      {
        loss: 'mse',
        epochs: 1,
        reduceLROnPlateau: { monitor: 'loss' },
        optimizer: { type: 'adam', learningRate: { type: 'exponential_decay', initialLearningRate: 0.1, decaySteps: 10, decayRate: 0.9 } },
      },
      softmaxModel,
    );
    expect(messages(withPlateau)).toEqual([
      'training.reduceLROnPlateau cannot change a learning-rate schedule; use a constant optimizer.learningRate',
    ]);
    const unknownSchedule = validateTrainingConfig(
      { loss: 'mse', epochs: 1, optimizer: { type: 'sgd', learningRate: { type: 'step' } } },
      softmaxModel,
    );
    expect(unknownSchedule[0]!.path).toBe('training.optimizer.learningRate.type');
  });
});

describe('validateTargets', () => {
  it('sparse labels must be integers below the class count', () => {
    const issues = validateTargets(new Float32Array([0, 2, 3]), 3, 1, 'sparse_categorical_crossentropy', 3);
    expect(issues).toEqual([
      { path: 'data.y[2]', message: 'data.y[2] is 3, but sparse labels must be integers in [0, 2] for a model with 3 outputs' },
    ]);
    expect(validateTargets(new Float32Array([0, 1.5]), 2, 1, 'sparse_categorical_crossentropy', 3)[0]!.path).toBe('data.y[1]');
    expect(validateTargets(new Float32Array([-1]), 1, 1, 'sparse_categorical_crossentropy', 3)[0]!.path).toBe('data.y[0]');
    expect(validateTargets(new Float32Array([0, 1, 2]), 3, 1, 'sparse_categorical_crossentropy', 3)).toEqual([]);
  });

  it('target width must fit the loss', () => {
    expect(messages(validateTargets(new Float32Array([0, 1]), 1, 2, 'sparse_categorical_crossentropy', 3))).toEqual([
      'data.y must hold one integer class id per row for sparse_categorical_crossentropy; it has 2 per row',
    ]);
    expect(validateTargets(new Float32Array([0, 1, 0]), 1, 3, 'categorical_crossentropy', 2)[0]!.message).toContain('2 value(s) per row');
  });

  it('binary and categorical targets lie in [0, 1]; all targets are finite', () => {
    expect(validateTargets(new Float32Array([0, 1.5]), 2, 1, 'binary_crossentropy', 1)[0]!.message).toBe(
      'data.y[1] is 1.5, but binary_crossentropy targets must lie in [0, 1]',
    );
    expect(validateTargets(new Float32Array([0, 1, -0.1, 1.1]), 2, 2, 'categorical_crossentropy', 2)[0]!.path).toBe('data.y[1][0]');
    expect(validateTargets(new Float32Array([0, NaN]), 2, 1, 'mse', 1)).toEqual([
      { path: 'data.y[1]', message: 'data.y[1] must be a finite number' },
    ]);
    expect(validateTargets(new Float32Array([-5, 1e6]), 2, 1, 'mse', 1)).toEqual([]);
  });
});

describe('summarizeModel', () => {
  it('784-128-10 has 101,770 parameters and outputs [10]', () => {
    const summary = summarizeModel({
      name: 'digits',
      inputShape: [784],
      layers: [
        { type: 'dense', units: 128, activation: 'relu' },
        { type: 'dropout', rate: 0.2 },
        { type: 'dense', units: 10, activation: 'softmax' },
      ],
    });
    // (784 + 1)·128 + (128 + 1)·10
    expect(summary.params).toBe(101_770);
    expect(summary.params).toBe(785 * 128 + 129 * 10);
    expect(summary.trainableParams).toBe(101_770);
    expect(summary.inputShape).toEqual([784]);
    expect(summary.outputShape).toEqual([10]);
    expect(summary.layers.map((l) => [l.type, l.outputShape, l.params])).toEqual([
      ['dense', [128], 100_480],
      ['dropout', [128], 0],
      ['dense', [10], 1290],
    ]);
  });

  it('counts moving statistics as non-trainable and follows flatten and useBias', () => {
    const summary = summarizeModel({
      name: 'bn',
      inputShape: [28, 28],
      layers: [{ type: 'flatten' }, { type: 'batch_normalization' }, { type: 'dense', units: 10, useBias: false }],
    });
    expect(summary.layers.map((l) => [l.outputShape, l.params])).toEqual([
      [[784], 0],
      [[784], 4 * 784],
      [[10], 7840],
    ]);
    expect(summary.params).toBe(4 * 784 + 7840);
    expect(summary.trainableParams).toBe(2 * 784 + 7840);
    expect(summary.outputShape).toEqual([10]);
  });
});
