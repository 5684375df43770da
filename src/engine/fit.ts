/**
 * The training loop: epochs of shuffled mini-batches, forward → loss → backward → optimizer,
 * validation, metrics, callbacks and progress. A Trainer's full state (weights live in the
 * model; optimizer slots, PRNG, epoch, callback state and history here) can be snapshotted at any
 * epoch boundary and restored, so k epochs + resume + (N−k) epochs equals N epochs bit for bit.
 */
import { EarlyStopping, type EarlyStoppingState } from './callbacks/early-stopping.js';
import { ReduceLROnPlateau, type ReduceLROnPlateauState } from './callbacks/reduce-lr-on-plateau.js';
import { gatherRows } from './kernels/elementwise.js';
import { allFinite } from './kernels/reduce.js';
import { getLoss, type Loss } from './losses/index.js';
import { resolveMetric, type MetricFn } from './metrics.js';
import type { Sequential } from './model.js';
import {
  applyGradients,
  createOptimizerState,
  currentLearningRate,
  resolveOptimizer,
  type OptimizerState,
  type ResolvedOptimizer,
} from './optimizers/index.js';
import { Rng, type RngState } from './random.js';
import type { MetricName, TrainingConfig } from './spec.js';
import { GrowableBuffer, type FloatArray } from './tensor.js';

/** Rows of inputs (rows × inputSize) and targets (rows × targetWidth). */
export interface Dataset {
  x: FloatArray;
  y: FloatArray;
  rows: number;
}

/** One epoch's logs, with Keras keys (loss, val_loss, accuracy, val_accuracy, …). */
export interface HistoryEntry {
  epoch: number;
  loss: number;
  samplesPerSecond: number;
  durationMs: number;
  learning_rate: number;
  [metric: string]: number;
}

export interface BatchProgress {
  epoch: number;
  epochs: number;
  step: number;
  stepsPerEpoch: number;
  /** Mean training loss of the epoch so far. */
  loss: number;
}

export interface FitHooks {
  onBatchEnd?(progress: BatchProgress): void | Promise<void>;
  /** Runs after the epoch's callbacks; the trainer can be snapshotted here. */
  onEpochEnd?(entry: HistoryEntry, trainer: Trainer): void | Promise<void>;
  /** Checked at every batch boundary; true stops training (cancellation). */
  shouldStop?(): boolean;
}

export type StopReason = 'completed' | 'early_stopping' | 'cancelled';

export interface FitResult {
  history: HistoryEntry[];
  stopReason: StopReason;
  /** 1-based epoch whose weights the model holds (the best one after restoreBestWeights). */
  weightsEpoch: number;
}

export interface TrainingState {
  epoch: number;
  rng: RngState;
  optimizer: OptimizerState;
  earlyStopping: EarlyStoppingState | null;
  reduceLROnPlateau: ReduceLROnPlateauState | null;
  history: HistoryEntry[];
  stopReason: StopReason | null;
}

export class NonFiniteError extends Error {
  readonly code = 'non_finite_loss';
  constructor(
    message: string,
    readonly epoch: number,
    readonly step: number,
  ) {
    super(message);
    this.name = 'NonFiniteError';
  }
}

/** Seed for the training stream (shuffles, dropout), kept apart from the initializers' stream. */
export const trainingSeed = (seed: number): number => (seed ^ 0x5bd1e995) >>> 0;

export class Trainer {
  readonly config: TrainingConfig;
  readonly optimizer: ResolvedOptimizer;
  readonly loss: Loss;
  readonly train: Dataset;
  readonly validation: Dataset | null;
  readonly epochs: number;
  readonly batchSize: number;
  readonly stepsPerEpoch: number;
  private readonly metrics: { name: MetricName; fn: MetricFn }[];
  private readonly fused: boolean;
  private readonly targetWidth: number;
  private optimizerState: OptimizerState;
  private rng: Rng;
  private epoch = 0;
  private history: HistoryEntry[] = [];
  private stopReason: StopReason | null = null;
  private readonly earlyStopping: EarlyStopping | null;
  private readonly reduceLr: ReduceLROnPlateau | null;
  private readonly xBatch: GrowableBuffer;
  private readonly yBatch: GrowableBuffer;
  private readonly gradBuffer: GrowableBuffer;
  private readonly indices: Uint32Array;
  // The weights at the start of the running epoch, put back when a step turns them non-finite.
  private readonly epochStartParams: FloatArray;
  private readonly epochStartState: FloatArray;

  constructor(
    readonly model: Sequential,
    config: TrainingConfig,
    data: Dataset,
    options: { validationData?: Dataset; resume?: TrainingState } = {},
  ) {
    this.config = config;
    this.loss = getLoss(config.loss);
    this.optimizer = resolveOptimizer(config.optimizer);
    this.epochs = config.epochs;
    this.batchSize = config.batchSize ?? 32;
    this.targetWidth = this.loss.targetWidth(model.outputSize);
    const last = model.layers[model.layers.length - 1]!;
    this.fused = this.loss.fusedActivation !== null && last.outputActivation === this.loss.fusedActivation;

    // Keras takes the validation split from the end of the data, before any shuffling.
    const split = config.validationSplit ?? 0;
    if (options.validationData) {
      this.train = data;
      this.validation = options.validationData;
    } else if (split > 0) {
      const trainRows = Math.floor(data.rows * (1 - split));
      this.train = this.slice(data, 0, trainRows);
      this.validation = this.slice(data, trainRows, data.rows);
    } else {
      this.train = data;
      this.validation = null;
    }
    if (this.train.rows === 0) throw new Error('no training rows left after the validation split');
    this.stepsPerEpoch = Math.ceil(this.train.rows / this.batchSize);
    this.metrics = (config.metrics ?? []).map((name) => ({
      name,
      fn: resolveMetric(name, config.loss, model.outputSize),
    }));
    this.earlyStopping = config.earlyStopping ? new EarlyStopping(config.earlyStopping) : null;
    this.reduceLr = config.reduceLROnPlateau ? new ReduceLROnPlateau(config.reduceLROnPlateau) : null;
    this.optimizerState = createOptimizerState(this.optimizer, model.params.length, model.dtype);
    this.rng = new Rng(trainingSeed(config.seed ?? 0));
    this.xBatch = new GrowableBuffer(model.dtype);
    this.yBatch = new GrowableBuffer(model.dtype);
    this.gradBuffer = new GrowableBuffer(model.dtype);
    this.indices = new Uint32Array(this.train.rows);
    this.epochStartParams = model.params.slice();
    this.epochStartState = model.state.slice();
    if (options.resume) this.restore(options.resume);
  }

  get completedEpochs(): number {
    return this.epoch;
  }

  get iterations(): number {
    return this.optimizerState.iterations;
  }

  get learningRate(): number {
    return currentLearningRate(this.optimizer, this.optimizerState);
  }

  /** A deep copy of everything but the model weights, taken between epochs. */
  snapshot(): TrainingState {
    const slots: Record<string, FloatArray> = {};
    for (const [name, values] of Object.entries(this.optimizerState.slots)) slots[name] = values.slice();
    const es = this.earlyStopping?.state ?? null;
    return {
      epoch: this.epoch,
      rng: this.rng.getState(),
      optimizer: { iterations: this.optimizerState.iterations, learningRate: this.optimizerState.learningRate, slots },
      earlyStopping: es && {
        ...es,
        bestWeights: es.bestWeights && { params: es.bestWeights.params.slice(), state: es.bestWeights.state.slice() },
      },
      reduceLROnPlateau: this.reduceLr ? { ...this.reduceLr.state } : null,
      history: this.history.map((entry) => ({ ...entry })),
      stopReason: this.stopReason,
    };
  }

  private restore(state: TrainingState): void {
    this.epoch = state.epoch;
    this.rng.setState(state.rng);
    const expected = this.optimizer.rule.slotNames;
    for (const name of expected) {
      const values = state.optimizer.slots[name];
      if (!values || values.length !== this.model.params.length) {
        throw new Error(`training state has no optimizer slot "${name}" of ${this.model.params.length} values`);
      }
      this.optimizerState.slots[name]!.set(values);
    }
    this.optimizerState.iterations = state.optimizer.iterations;
    this.optimizerState.learningRate = state.optimizer.learningRate;
    if (this.earlyStopping && state.earlyStopping) this.earlyStopping.state = state.earlyStopping;
    if (this.reduceLr && state.reduceLROnPlateau) this.reduceLr.state = { ...state.reduceLROnPlateau };
    this.history = state.history.map((entry) => ({ ...entry }));
    this.stopReason = state.stopReason;
  }

  /** Trains until `epochs`, early stopping, or cancellation. */
  async fit(hooks: FitHooks = {}): Promise<FitResult> {
    while (this.epoch < this.epochs && this.stopReason === null) {
      const entry = await this.runEpoch(hooks);
      if (entry === null) {
        this.stopReason = 'cancelled';
        break;
      }
      if (hooks.onEpochEnd) await hooks.onEpochEnd(entry, this);
    }
    if (this.stopReason === null) this.stopReason = 'completed';
    let weightsEpoch = this.epoch;
    const best = this.earlyStopping?.state.bestWeights;
    if (this.stopReason !== 'cancelled' && this.earlyStopping?.restoreBestWeights && best) {
      this.model.params.set(best.params);
      this.model.state.set(best.state);
      weightsEpoch = this.earlyStopping.state.bestEpoch + 1;
    }
    return { history: this.history.map((e) => ({ ...e })), stopReason: this.stopReason, weightsEpoch };
  }

  private async runEpoch(hooks: FitHooks): Promise<HistoryEntry | null> {
    const model = this.model;
    const epochNumber = this.epoch + 1;
    const started = performance.now();
    const n = this.train.rows;
    const inSize = model.inputSize;
    const outSize = model.outputSize;
    const tw = this.targetWidth;
    this.epochStartParams.set(model.params);
    this.epochStartState.set(model.state);
    const indices = this.indices;
    for (let i = 0; i < n; i++) indices[i] = i;
    const shuffle = this.config.shuffle ?? true;
    if (shuffle) this.rng.shuffle(indices);

    let lossSum = 0;
    const metricSums = new Float64Array(this.metrics.length);
    for (let step = 0; step < this.stepsPerEpoch; step++) {
      if (hooks.shouldStop?.()) return null;
      const start = step * this.batchSize;
      const count = Math.min(this.batchSize, n - start);
      let xb: FloatArray;
      let yb: FloatArray;
      if (shuffle) {
        xb = this.xBatch.view(count * inSize);
        yb = this.yBatch.view(count * tw);
        gatherRows(xb, this.train.x, indices, start, count, inSize);
        gatherRows(yb, this.train.y, indices, start, count, tw);
      } else {
        xb = this.train.x.subarray(start * inSize, (start + count) * inSize);
        yb = this.train.y.subarray(start * tw, (start + count) * tw);
      }
      model.zeroGrad();
      const out = model.forward(xb, count, true, this.rng);
      const grad = this.gradBuffer.view(count * outSize);
      const batchLossSum = this.fused
        ? this.loss.computeFromLogits!(grad, model.layers[model.layers.length - 1]!.preActivation()!, yb, count, outSize)
        : this.loss.compute(grad, out, yb, count, outSize);
      const penalty = model.regularization(true);
      const batchLoss = batchLossSum / count + penalty;
      if (!Number.isFinite(batchLoss)) {
        throw this.nonFinite(
          `loss became ${batchLoss} at epoch ${epochNumber}, batch ${step + 1}; lower the learning rate, clip gradients or check the data`,
          epochNumber,
          step + 1,
        );
      }
      for (let m = 0; m < this.metrics.length; m++) metricSums[m] += this.metrics[m]!.fn(out, yb, count, outSize);
      model.backward(grad, count, this.fused);
      applyGradients(this.optimizer, this.optimizerState, model.params, model.grads, model.segments);
      lossSum += batchLoss * count;
      if (hooks.onBatchEnd) {
        const pending = hooks.onBatchEnd({
          epoch: epochNumber,
          epochs: this.epochs,
          step: step + 1,
          stepsPerEpoch: this.stepsPerEpoch,
          loss: lossSum / (start + count),
        });
        if (pending) await pending;
      }
    }
    if (!allFinite(model.params) || !allFinite(model.state)) {
      throw this.nonFinite(
        `weights became non-finite during epoch ${epochNumber}; lower the learning rate or clip gradients`,
        epochNumber,
        this.stepsPerEpoch,
      );
    }
    const trainMs = performance.now() - started;

    const logs: Record<string, number> = { loss: lossSum / n };
    this.metrics.forEach((metric, m) => (logs[metric.name] = metricSums[m]! / n));
    if (this.validation) {
      const evaluation = this.evaluate(this.validation);
      logs['val_loss'] = evaluation['loss']!;
      for (const metric of this.metrics) logs[`val_${metric.name}`] = evaluation[metric.name]!;
    }
    const learningRate = this.learningRate;
    this.epoch = epochNumber;

    const epochIndex = epochNumber - 1;
    if (this.earlyStopping) {
      const stop = this.earlyStopping.onEpochEnd(epochIndex, logs, () => ({ params: model.params.slice(), state: model.state.slice() }));
      if (stop) this.stopReason = 'early_stopping';
    }
    if (this.reduceLr && this.optimizerState.learningRate !== null) {
      this.optimizerState.learningRate = this.reduceLr.onEpochEnd(logs, this.optimizerState.learningRate);
    }
    const durationMs = performance.now() - started;
    const entry: HistoryEntry = {
      epoch: epochNumber,
      ...logs,
      loss: logs['loss']!,
      learning_rate: learningRate,
      samplesPerSecond: trainMs > 0 ? (n * 1000) / trainMs : 0,
      durationMs,
    };
    this.history.push(entry);
    return entry;
  }

  /** Restores the weights of the last completed epoch (no NaN or ±Infinity is left behind) and builds the error. */
  private nonFinite(message: string, epoch: number, step: number): NonFiniteError {
    this.model.params.set(this.epochStartParams);
    this.model.state.set(this.epochStartState);
    return new NonFiniteError(message, epoch, step);
  }

  /** Loss (with regularization, as Keras reports it) and metrics over a dataset, batched. */
  evaluate(data: Dataset, batchSize = Math.max(this.batchSize, 256)): Record<string, number> {
    return evaluateModel(this.model, this.loss, this.metrics, data, batchSize, this.fused);
  }

  private slice(data: Dataset, from: number, to: number): Dataset {
    const inSize = this.model.inputSize;
    return {
      x: data.x.subarray(from * inSize, to * inSize),
      y: data.y.subarray(from * this.targetWidth, to * this.targetWidth),
      rows: to - from,
    };
  }
}

function evaluateModel(
  model: Sequential,
  loss: Loss,
  metrics: { name: MetricName; fn: MetricFn }[],
  data: Dataset,
  batchSize: number,
  fused: boolean,
): Record<string, number> {
  const rng = new Rng(0);
  const outSize = model.outputSize;
  const tw = loss.targetWidth(outSize);
  const inSize = model.inputSize;
  let lossSum = 0;
  const sums = new Float64Array(metrics.length);
  for (let start = 0; start < data.rows; start += batchSize) {
    const count = Math.min(batchSize, data.rows - start);
    const xb = data.x.subarray(start * inSize, (start + count) * inSize);
    const yb = data.y.subarray(start * tw, (start + count) * tw);
    const out = model.forward(xb, count, false, rng);
    lossSum += fused
      ? loss.computeFromLogits!(null, model.layers[model.layers.length - 1]!.preActivation()!, yb, count, outSize)
      : loss.compute(null, out, yb, count, outSize);
    metrics.forEach((metric, m) => (sums[m] += metric.fn(out, yb, count, outSize)));
  }
  const result: Record<string, number> = { loss: lossSum / data.rows + model.regularization(false) };
  metrics.forEach((metric, m) => (result[metric.name] = sums[m]! / data.rows));
  return result;
}

/** Keras model.evaluate: loss and the given metrics over a dataset. */
export function evaluate(
  model: Sequential,
  config: Pick<TrainingConfig, 'loss' | 'metrics'>,
  data: Dataset,
  batchSize = 256,
): Record<string, number> {
  const loss = getLoss(config.loss);
  const last = model.layers[model.layers.length - 1]!;
  const fused = loss.fusedActivation !== null && last.outputActivation === loss.fusedActivation;
  const metrics = (config.metrics ?? []).map((name) => ({ name, fn: resolveMetric(name, config.loss, model.outputSize) }));
  return evaluateModel(model, loss, metrics, data, batchSize, fused);
}

/** Convenience: build a trainer and run it. */
export function fit(
  model: Sequential,
  config: TrainingConfig,
  data: Dataset,
  hooks: FitHooks = {},
  options: { validationData?: Dataset; resume?: TrainingState } = {},
): Promise<FitResult> {
  return new Trainer(model, config, data, options).fit(hooks);
}
