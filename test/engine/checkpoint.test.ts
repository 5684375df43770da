/** The native checkpoint `kiln.checkpoint/1`: layout, round trip and errors with a path. */
import { describe, expect, it } from 'vitest';
import {
  CHECKPOINT_FORMAT,
  CheckpointError,
  Sequential,
  Trainer,
  decodeTrainingState,
  encodeTrainingState,
  loadWeights,
  modelFromCheckpoint,
  toCheckpoint,
  type Checkpoint,
  type ModelSpec,
} from '../../src/engine/index.js';
import { expectBitIdentical } from '../helpers/gradcheck.js';
import { mulberry32, uniformArray } from '../helpers/random.js';

const SPEC: ModelSpec = {
  name: 'layout',
  inputShape: [3],
  layers: [
    { type: 'dense', units: 4, activation: 'relu' },
    { type: 'dropout', rate: 0.5 },
    { type: 'batch_normalization' },
    { type: 'dense', units: 2, activation: 'softmax' },
  ],
};

/** Decodes base64 of little-endian float32 by hand (DataView), independent of the engine. */
function decodeLittleEndianFloat32(data: string): number[] {
  const bytes = Buffer.from(data, 'base64');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: number[] = [];
  for (let offset = 0; offset < bytes.byteLength; offset += 4) out.push(view.getFloat32(offset, true));
  return out;
}

function encodeLittleEndianFloat32(values: number[]): string {
  const bytes = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => bytes.writeFloatLE(v, i * 4));
  return bytes.toString('base64');
}

/** A trained-looking model: random weights everywhere, including the moving statistics. */
function randomModel(spec = SPEC, seed = 1): Sequential {
  const model = new Sequential(spec, { seed });
  const rand = mulberry32(seed);
  model.params.set(uniformArray(model.params.length, rand));
  model.state.set(uniformArray(model.state.length, rand, 0.5, 1.5));
  return model;
}

const roundTrip = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

describe('toCheckpoint layout', () => {
  it('is format kiln.checkpoint/1 with the spec and every weight by layer index and Keras name', () => {
    const model = randomModel();
    const checkpoint = toCheckpoint(model);
    expect(checkpoint.format).toBe('kiln.checkpoint/1');
    expect(CHECKPOINT_FORMAT).toBe('kiln.checkpoint/1');
    expect(checkpoint.model).toEqual(SPEC);
    expect(checkpoint.weights.map((w) => [w.layer, w.name, w.shape, w.dtype])).toEqual([
      [0, 'kernel', [3, 4], 'float32'],
      [0, 'bias', [4], 'float32'],
      [2, 'gamma', [4], 'float32'],
      [2, 'beta', [4], 'float32'],
      [2, 'moving_mean', [4], 'float32'],
      [2, 'moving_variance', [4], 'float32'],
      [3, 'kernel', [4, 2], 'float32'],
      [3, 'bias', [2], 'float32'],
    ]);
    expect(checkpoint.training).toBeUndefined();
  });

  it('stores base64 of little-endian float32, row-major, with dense kernels as [inputs, units]', () => {
    const spec: ModelSpec = { name: 'kernel', inputShape: [3], layers: [{ type: 'dense', units: 2 }] };
    const model = new Sequential(spec);
    // kernel[i][j] = 10·i + j (input i → unit j), bias [0.5, −0.25]
    model.view(model.weights[0]!).set([0, 1, 10, 11, 20, 21]);
    model.view(model.weights[1]!).set([0.5, -0.25]);
    const checkpoint = toCheckpoint(model);
    expect(decodeLittleEndianFloat32(checkpoint.weights[0]!.data)).toEqual([0, 1, 10, 11, 20, 21]);
    expect(decodeLittleEndianFloat32(checkpoint.weights[1]!.data)).toEqual([0.5, -0.25]);
    // And that is the orientation the forward pass uses: y_j = Σ_i x_i·kernel[i][j] + bias_j.
    const y = model.predict(new Float32Array([1, 2, 3]), 1);
    expect(Array.from(y)).toEqual([0 + 2 * 10 + 3 * 20 + 0.5, 1 + 2 * 11 + 3 * 21 - 0.25]);
    // Byte-level check of the first non-zero value: 1.0f little-endian is 00 00 80 3f.
    expect([...Buffer.from(checkpoint.weights[0]!.data, 'base64').subarray(4, 8)]).toEqual([0x00, 0x00, 0x80, 0x3f]);
  });

  it('holds every value of the model, including the moving statistics', () => {
    const model = randomModel();
    const checkpoint = toCheckpoint(model);
    for (const [i, entry] of model.weights.entries()) {
      expect(decodeLittleEndianFloat32(checkpoint.weights[i]!.data)).toEqual(Array.from(model.view(entry)));
    }
  });

  it('writes float32 from a float64 model', () => {
    const model = new Sequential(SPEC, { seed: 3, dtype: 'float64' });
    model.params[0] = 0.1;
    const checkpoint = toCheckpoint(model);
    expect(decodeLittleEndianFloat32(checkpoint.weights[0]!.data)[0]).toBe(Math.fround(0.1));
    expect(Buffer.from(checkpoint.weights[0]!.data, 'base64').byteLength).toBe(12 * 4);
  });
});

describe('modelFromCheckpoint', () => {
  it('round-trips through JSON with identical weights and predictions', () => {
    const model = randomModel();
    const restored = modelFromCheckpoint(roundTrip(toCheckpoint(model)));
    expectBitIdentical(restored.params, model.params, 'params');
    expectBitIdentical(restored.state, model.state, 'state');
    const x = Float32Array.from(uniformArray(20 * 3, mulberry32(5), -2, 2));
    expectBitIdentical(restored.predict(x, 20), model.predict(x, 20), 'predictions');
    expect(restored.spec).toEqual(model.spec);
  });

  it('accepts a checkpoint written by hand (another language) in the documented layout', () => {
    const checkpoint = {
      format: 'kiln.checkpoint/1',
      model: { name: 'hand', inputShape: [2], layers: [{ type: 'dense', units: 1, activation: 'sigmoid' }] },
      weights: [
        { layer: 0, name: 'kernel', shape: [2, 1], dtype: 'float32', data: encodeLittleEndianFloat32([2, -1]) },
        { layer: 0, name: 'bias', shape: [1], dtype: 'float32', data: encodeLittleEndianFloat32([0.5]) },
      ],
    };
    const model = modelFromCheckpoint(checkpoint);
    const y = model.predict(new Float32Array([1, 3]), 1);
    expect(y[0]).toBeCloseTo(1 / (1 + Math.exp(-(2 - 3 + 0.5))), 6);
  });

  it('can build a float64 model from float32 weights', () => {
    const model = randomModel();
    const restored = modelFromCheckpoint(toCheckpoint(model), { dtype: 'float64' });
    expect(restored.dtype).toBe('float64');
    expect(Array.from(restored.params)).toEqual(Array.from(model.params));
  });

  describe('errors carry the path of the offending field', () => {
    const good = (): Checkpoint => roundTrip(toCheckpoint(randomModel()));

    function expectCheckpointError(document: unknown, path: string, message: RegExp): void {
      let caught: unknown = null;
      try {
        modelFromCheckpoint(document);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(CheckpointError);
      expect((caught as CheckpointError).path).toBe(path);
      expect((caught as CheckpointError).message).toMatch(message);
    }

    it('wrong shape', () => {
      const cp = good();
      cp.weights[0]!.shape = [4, 3];
      expectCheckpointError(cp, 'weights[0].shape', /weights\[0\]\.shape is \[4,3\] but the model needs \[3,4\]/);
    });

    it('missing weight', () => {
      const cp = good();
      cp.weights = cp.weights.filter((w) => !(w.layer === 3 && w.name === 'bias'));
      expectCheckpointError(cp, 'weights', /lack layer 3 "bias"/);
    });

    it('base64 of the wrong length', () => {
      const cp = good();
      cp.weights[1]!.data = encodeLittleEndianFloat32([1, 2, 3]);
      expectCheckpointError(cp, 'weights[1].data', /12 bytes; its shape needs 16/);
    });

    it('a weight the model does not have', () => {
      const cp = good();
      cp.weights[2]!.layer = 1; // the dropout layer has no gamma
      expectCheckpointError(cp, 'weights[2]', /is not a weight of this model/);
    });

    it('a repeated weight', () => {
      const cp = good();
      cp.weights.push({ ...cp.weights[0]! });
      expectCheckpointError(cp, 'weights[8]', /repeats layer 0 "kernel"/);
    });

    it('a non-finite value', () => {
      const cp = good();
      cp.weights[1]!.data = encodeLittleEndianFloat32([0, NaN, 0, 0]);
      expectCheckpointError(cp, 'weights[1].data', /non-finite value at index 1/);
    });

    it('another dtype', () => {
      const cp = roundTrip(toCheckpoint(randomModel())) as unknown as { weights: { dtype: string }[] };
      cp.weights[0]!.dtype = 'float16';
      expectCheckpointError(cp, 'weights[0].dtype', /must be "float32"/);
    });

    it('wrong format', () => {
      expectCheckpointError({ ...good(), format: 'kiln.checkpoint/2' }, 'format', /format must be "kiln.checkpoint\/1"/);
    });

    it('an invalid model spec', () => {
      const cp = good();
      (cp.model.layers[0] as { units: number }).units = 0;
      expectCheckpointError(cp, 'model.layers[0].units', /must be a positive integer/);
    });

    it('not an object', () => {
      expectCheckpointError(null, '', /JSON object/);
      expectCheckpointError('checkpoint', '', /JSON object/);
    });

    it('weights that are not an array', () => {
      const model = randomModel();
      expect(() => loadWeights(model, 'nope' as unknown as [])).toThrow(CheckpointError);
    });
  });
});

describe('training state in a checkpoint', () => {
  it('toCheckpoint(model, state) embeds encodeTrainingState(state)', async () => {
    const data = { x: Float32Array.from(uniformArray(40 * 3, mulberry32(3))), y: new Float32Array(40).map((_, i) => i % 2), rows: 40 };
    const model = randomModel();
    const trainer = new Trainer(
      model,
      {
        loss: 'sparse_categorical_crossentropy',
        epochs: 2,
        batchSize: 8,
        validationSplit: 0.25,
        optimizer: { type: 'adam' },
        earlyStopping: { patience: 5, restoreBestWeights: true },
        reduceLROnPlateau: { patience: 1 },
      },
      data,
    );
    await trainer.fit();
    const state = trainer.snapshot();
    const checkpoint = toCheckpoint(model, state);
    expect(checkpoint.training).toEqual(encodeTrainingState(state));
    const decoded = decodeTrainingState(roundTrip(checkpoint).training!);
    expect(decoded.epoch).toBe(2);
    expect(decoded.rng).toEqual(state.rng);
    expect(decoded.optimizer.iterations).toBe(8);
    expect(Object.keys(decoded.optimizer.slots).sort()).toEqual(['m', 'v']);
    expectBitIdentical(decoded.optimizer.slots['m'] as Float32Array, state.optimizer.slots['m'] as Float32Array, 'adam m');
    expectBitIdentical(
      decoded.earlyStopping!.bestWeights!.params as Float32Array,
      state.earlyStopping!.bestWeights!.params as Float32Array,
      'best',
    );
    expect(decoded.history).toEqual(state.history);
  });

  it('keeps ±Infinity (callback "best" before any epoch) across JSON', () => {
    const model = randomModel();
    const trainer = new Trainer(
      model,
      {
        loss: 'sparse_categorical_crossentropy',
        epochs: 1,
        validationSplit: 0.5,
        earlyStopping: { monitor: 'val_loss' },
        reduceLROnPlateau: { monitor: 'val_accuracy' },
        metrics: ['accuracy'],
      },
      { x: new Float32Array(12), y: new Float32Array(4), rows: 4 },
    );
    const state = trainer.snapshot();
    expect(state.earlyStopping!.best).toBe(Infinity);
    expect(state.reduceLROnPlateau!.best).toBe(-Infinity);
    const decoded = decodeTrainingState(roundTrip(encodeTrainingState(state)));
    expect(decoded.earlyStopping!.best).toBe(Infinity);
    expect(decoded.reduceLROnPlateau!.best).toBe(-Infinity);
  });
});
