/**
 * The native checkpoint `kiln.checkpoint/1`: one JSON document holding the model spec and every
 * weight as base64 of little-endian float32, row-major, dense kernels [inputUnits, units]. An
 * optional `training` section carries the resumable training state (optimizer slots, PRNG,
 * epoch, callbacks, history) in the same encoding.
 */
import type { EarlyStoppingState } from './callbacks/early-stopping.js';
import type { HistoryEntry, StopReason, TrainingState } from './fit.js';
import { Sequential, type ModelOptions } from './model.js';
import type { RngState } from './random.js';
import type { ModelSpec } from './spec.js';
import { shapeSize, type FloatArray } from './tensor.js';
import { validateModelSpec } from './validate.js';

export const CHECKPOINT_FORMAT = 'kiln.checkpoint/1';

export interface CheckpointWeight {
  layer: number;
  name: string;
  shape: number[];
  dtype: 'float32';
  data: string;
}

export interface EncodedArray {
  dtype: 'float32' | 'float64';
  data: string;
}

/** JSON cannot hold ±Infinity or NaN, so such numbers travel as strings. */
type EncodedNumber = number | string;

export interface EncodedTrainingState {
  epoch: number;
  rng: RngState;
  optimizer: { iterations: number; learningRate: number | null; slots: Record<string, EncodedArray> };
  earlyStopping: {
    best: EncodedNumber;
    bestEpoch: number;
    wait: number;
    stoppedEpoch: number;
    bestWeights: { params: EncodedArray; state: EncodedArray } | null;
  } | null;
  reduceLROnPlateau: { best: EncodedNumber; wait: number; cooldownCounter: number } | null;
  history: Record<string, EncodedNumber>[];
  stopReason: StopReason | null;
}

export interface Checkpoint {
  format: typeof CHECKPOINT_FORMAT;
  model: ModelSpec;
  weights: CheckpointWeight[];
  training?: EncodedTrainingState;
}

export class CheckpointError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
    this.name = 'CheckpointError';
  }
}

export function encodeFloats(values: FloatArray): string {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString('base64');
}

export function decodeFloat32(data: string, expectedLength: number, path: string): Float32Array {
  const bytes = Buffer.from(data, 'base64');
  if (bytes.byteLength !== expectedLength * 4) {
    throw new CheckpointError(`${path} holds ${bytes.byteLength} bytes; its shape needs ${expectedLength * 4} (float32)`, path);
  }
  const out = new Float32Array(expectedLength);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

function encodeArray(values: FloatArray): EncodedArray {
  return { dtype: values instanceof Float64Array ? 'float64' : 'float32', data: encodeFloats(values) };
}

function decodeArray(encoded: EncodedArray): FloatArray {
  const bytes = Buffer.from(encoded.data, 'base64');
  const width = encoded.dtype === 'float64' ? 8 : 4;
  const copy = new Uint8Array(bytes.byteLength - (bytes.byteLength % width));
  copy.set(bytes.subarray(0, copy.length));
  return encoded.dtype === 'float64' ? new Float64Array(copy.buffer) : new Float32Array(copy.buffer);
}

const encodeNumber = (x: number): EncodedNumber => (Number.isFinite(x) ? x : String(x));
const decodeNumber = (x: EncodedNumber): number => (typeof x === 'string' ? Number(x) : x);

/** The model's weights in checkpoint order (layer by layer, Keras weight names). */
export function toCheckpoint(model: Sequential, training?: TrainingState): Checkpoint {
  const checkpoint: Checkpoint = {
    format: CHECKPOINT_FORMAT,
    model: model.spec,
    weights: model.weights.map((entry) => ({
      layer: entry.layer,
      name: entry.name,
      shape: entry.shape,
      dtype: 'float32',
      data: encodeFloats(model.view(entry) instanceof Float32Array ? model.view(entry) : Float32Array.from(model.view(entry))),
    })),
  };
  if (training) checkpoint.training = encodeTrainingState(training);
  return checkpoint;
}

/**
 * Copies checkpoint weights into a model with the same architecture; every weight must be
 * present once, with the right shape and finite values.
 */
export function loadWeights(model: Sequential, weights: readonly CheckpointWeight[]): void {
  if (!Array.isArray(weights)) throw new CheckpointError('weights must be an array', 'weights');
  const seen = new Set<string>();
  weights.forEach((w, i) => {
    const path = `weights[${i}]`;
    const entry = model.weights.find((e) => e.layer === w?.layer && e.name === w?.name);
    if (!entry) throw new CheckpointError(`${path} (layer ${w?.layer}, "${w?.name}") is not a weight of this model`, path);
    const key = `${entry.layer}/${entry.name}`;
    if (seen.has(key)) throw new CheckpointError(`${path} repeats layer ${entry.layer} "${entry.name}"`, path);
    seen.add(key);
    if (w.dtype !== 'float32') throw new CheckpointError(`${path}.dtype must be "float32"`, `${path}.dtype`);
    if (
      !Array.isArray(w.shape) ||
      w.shape.length !== entry.shape.length ||
      (w.shape as number[]).some((d: number, k: number) => d !== entry.shape[k])
    ) {
      throw new CheckpointError(`${path}.shape is [${w.shape}] but the model needs [${entry.shape}]`, `${path}.shape`);
    }
    if (typeof w.data !== 'string') throw new CheckpointError(`${path}.data must be a base64 string`, `${path}.data`);
    const values = decodeFloat32(w.data, shapeSize(entry.shape), `${path}.data`);
    for (let k = 0; k < values.length; k++) {
      if (!Number.isFinite(values[k]!)) throw new CheckpointError(`${path}.data holds a non-finite value at index ${k}`, `${path}.data`);
    }
    model.view(entry).set(values);
  });
  const missing = model.weights.find((e) => !seen.has(`${e.layer}/${e.name}`));
  if (missing) throw new CheckpointError(`weights lack layer ${missing.layer} "${missing.name}"`, 'weights');
}

/** Validates a checkpoint document and builds the model it describes. */
export function modelFromCheckpoint(checkpoint: unknown, options: Omit<ModelOptions, 'seed'> = {}): Sequential {
  if (typeof checkpoint !== 'object' || checkpoint === null) throw new CheckpointError('checkpoint must be a JSON object', '');
  const cp = checkpoint as Partial<Checkpoint>;
  if (cp.format !== CHECKPOINT_FORMAT) throw new CheckpointError(`format must be "${CHECKPOINT_FORMAT}"`, 'format');
  const issues = validateModelSpec(cp.model, 'model');
  if (issues.length > 0) throw new CheckpointError(issues[0]!.message, issues[0]!.path);
  const model = new Sequential(cp.model as ModelSpec, options);
  loadWeights(model, cp.weights as CheckpointWeight[]);
  return model;
}

export function encodeTrainingState(state: TrainingState): EncodedTrainingState {
  const slots: Record<string, EncodedArray> = {};
  for (const [name, values] of Object.entries(state.optimizer.slots)) slots[name] = encodeArray(values);
  const es = state.earlyStopping;
  return {
    epoch: state.epoch,
    rng: state.rng,
    optimizer: { iterations: state.optimizer.iterations, learningRate: state.optimizer.learningRate, slots },
    earlyStopping: es && {
      best: encodeNumber(es.best),
      bestEpoch: es.bestEpoch,
      wait: es.wait,
      stoppedEpoch: es.stoppedEpoch,
      bestWeights: es.bestWeights && { params: encodeArray(es.bestWeights.params), state: encodeArray(es.bestWeights.state) },
    },
    reduceLROnPlateau: state.reduceLROnPlateau && { ...state.reduceLROnPlateau, best: encodeNumber(state.reduceLROnPlateau.best) },
    history: state.history.map((entry) => Object.fromEntries(Object.entries(entry).map(([k, v]) => [k, encodeNumber(v)]))),
    stopReason: state.stopReason,
  };
}

export function decodeTrainingState(encoded: EncodedTrainingState): TrainingState {
  const slots: Record<string, FloatArray> = {};
  for (const [name, values] of Object.entries(encoded.optimizer.slots)) slots[name] = decodeArray(values);
  const es = encoded.earlyStopping;
  const earlyStopping: EarlyStoppingState | null = es && {
    best: decodeNumber(es.best),
    bestEpoch: es.bestEpoch,
    wait: es.wait,
    stoppedEpoch: es.stoppedEpoch,
    bestWeights: es.bestWeights && { params: decodeArray(es.bestWeights.params), state: decodeArray(es.bestWeights.state) },
  };
  return {
    epoch: encoded.epoch,
    rng: encoded.rng,
    optimizer: { iterations: encoded.optimizer.iterations, learningRate: encoded.optimizer.learningRate, slots },
    earlyStopping,
    reduceLROnPlateau: encoded.reduceLROnPlateau && { ...encoded.reduceLROnPlateau, best: decodeNumber(encoded.reduceLROnPlateau.best) },
    history: encoded.history.map(
      (entry) => Object.fromEntries(Object.entries(entry).map(([k, v]) => [k, decodeNumber(v)])) as HistoryEntry,
    ),
    stopReason: encoded.stopReason,
  };
}
