/**
 * Spec validation with messages a user can act on ("model.layers[1].units must be a positive
 * integer"), plus the summary (parameter count, output shape) of any valid spec. Structural
 * checks come from the TypeBox schemas; semantic ones (shapes, loss vs. output) are written here.
 */
import type { TSchema } from 'typebox';
import { Type } from 'typebox';
import { Value } from 'typebox/value';
import { createLayer } from './layers/index.js';
import { learningRateAt } from './optimizers/schedules.js';
import {
  ActivationLayerSchema,
  AdamSchema,
  AdamWSchema,
  BatchNormalizationLayerSchema,
  CosineDecaySchema,
  DenseLayerSchema,
  DropoutLayerSchema,
  ExponentialDecaySchema,
  FlattenLayerSchema,
  ModelSpecSchema,
  PiecewiseConstantDecaySchema,
  RmsPropSchema,
  SgdSchema,
  TrainingConfigSchema,
  type LossName,
  type ModelSpec,
  type TrainingConfig,
} from './spec.js';
import { shapeSize, type FloatArray } from './tensor.js';

export interface SpecIssue {
  /** Dotted path of the offending field, e.g. `model.layers[1].units`. */
  path: string;
  message: string;
}

export interface LayerSummary {
  index: number;
  type: string;
  outputShape: number[];
  params: number;
}

export interface ModelSummary {
  params: number;
  trainableParams: number;
  inputShape: number[];
  outputShape: number[];
  layers: LayerSummary[];
}

const LAYER_SCHEMAS: Record<string, TSchema> = {
  dense: DenseLayerSchema,
  activation: ActivationLayerSchema,
  dropout: DropoutLayerSchema,
  batch_normalization: BatchNormalizationLayerSchema,
  flatten: FlattenLayerSchema,
};

const OPTIMIZER_SCHEMAS: Record<string, TSchema> = {
  sgd: SgdSchema,
  adam: AdamSchema,
  adamw: AdamWSchema,
  rmsprop: RmsPropSchema,
};

const SCHEDULE_SCHEMAS: Record<string, TSchema> = {
  exponential_decay: ExponentialDecaySchema,
  cosine_decay: CosineDecaySchema,
  piecewise_constant_decay: PiecewiseConstantDecaySchema,
};

/** `/layers/1/units` under `model` → `model.layers[1].units`. */
export function joinPath(base: string, pointer: string): string {
  let out = base;
  for (const part of pointer.split('/').slice(1)) {
    const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(key)) out += `[${key}]`;
    else out += out ? `.${key}` : key;
  }
  return out;
}

function resolvePointer(schema: TSchema, pointer: string): Record<string, unknown> | undefined {
  let node: unknown = schema;
  for (const part of pointer.replace(/^#\/?/, '').split('/').filter(Boolean)) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return typeof node === 'object' && node !== null ? (node as Record<string, unknown>) : undefined;
}

interface SchemaError {
  keyword: string;
  schemaPath: string;
  instancePath: string;
  params: Record<string, unknown>;
  message: string;
}

/** Human wording for one JSON-schema error (ajv or TypeBox, which share the shape). */
export function describeSchemaError(error: SchemaError, schema?: TSchema): string {
  const node = schema ? resolvePointer(schema, error.schemaPath) : undefined;
  const p = error.params;
  if (node?.['type'] === 'integer' && (error.keyword === 'type' || error.keyword === 'minimum')) {
    if (node['minimum'] === 1) return 'must be a positive integer';
    if (node['minimum'] === 0) return 'must be a non-negative integer';
  }
  switch (error.keyword) {
    case 'type':
      return `must be ${/^[aeiou]/.test(String(p['type'])) ? 'an' : 'a'} ${p['type']}`;
    case 'enum':
      return `must be one of: ${(p['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'const':
      return `must be ${JSON.stringify(p['allowedValue'] ?? p['value'])}`;
    case 'required':
      return `is required`;
    case 'additionalProperties':
      return `has an unknown field ${JSON.stringify((p['additionalProperties'] as string[] | undefined)?.[0] ?? p['additionalProperty'])}`;
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `must be ${p['comparison']} ${p['limit']}`;
    case 'minItems':
      return `must have at least ${p['limit']} item${p['limit'] === 1 ? '' : 's'}`;
    case 'maxItems':
      return `must have at most ${p['limit']} items`;
    case 'pattern':
      return `must match ${p['pattern']}`;
    default:
      return error.message;
  }
}

function schemaIssues(schema: TSchema, value: unknown, base: string): SpecIssue[] {
  const issues: SpecIssue[] = [];
  const seen = new Set<string>();
  for (const error of Value.Errors(schema, value) as Iterable<SchemaError>) {
    // TypeBox reports an extra field twice: once as `schema is false` at the field itself.
    if (error.keyword === 'boolean') continue;
    let path = joinPath(base, error.instancePath);
    if (error.keyword === 'required') {
      const missing =
        (error.params['requiredProperties'] as string[] | undefined)?.[0] ?? (error.params['missingProperty'] as string | undefined);
      if (missing) path = path ? `${path}.${missing}` : missing;
    }
    if (seen.has(path)) continue;
    seen.add(path);
    issues.push({ path, message: `${path} ${describeSchemaError(error, schema)}` });
  }
  return issues;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Checks a value against the branch of a union chosen by its `type` field. */
function discriminated(value: unknown, branches: Record<string, TSchema>, path: string, what: string): SpecIssue[] {
  if (!isObject(value)) return [{ path, message: `${path} must be an object with a "type"` }];
  const type = value['type'];
  const schema = typeof type === 'string' ? branches[type] : undefined;
  if (!schema) {
    return [
      {
        path: `${path}.type`,
        message: `${path}.type must be one of: ${Object.keys(branches)
          .map((k) => JSON.stringify(k))
          .join(', ')} (${what})`,
      },
    ];
  }
  return schemaIssues(schema, value, path);
}

/** Structural and shape checks of a model spec; an empty list means it can be built. */
export function validateModelSpec(spec: unknown, path = 'model'): SpecIssue[] {
  if (spec === undefined) return [{ path, message: `${path} is required` }];
  if (!isObject(spec)) return [{ path, message: `${path} must be an object` }];
  const shallow = Type.Omit(ModelSpecSchema, ['layers']);
  const { layers, ...rest } = spec;
  const issues = schemaIssues(shallow, rest, path);
  if (layers === undefined) issues.push({ path: `${path}.layers`, message: `${path}.layers is required` });
  else if (!Array.isArray(layers) || layers.length === 0)
    issues.push({ path: `${path}.layers`, message: `${path}.layers must be a non-empty array` });
  else if (layers.length > 64) issues.push({ path: `${path}.layers`, message: `${path}.layers must have at most 64 items` });
  else layers.forEach((layer, i) => issues.push(...discriminated(layer, LAYER_SCHEMAS, `${path}.layers[${i}]`, 'layer type')));
  if (issues.length > 0) return issues;

  // Shapes: walk the stack; dense layers act on a 1-D input as in a Keras MLP.
  let shape = (spec as ModelSpec).inputShape;
  (spec as ModelSpec).layers.forEach((layer, i) => {
    if (layer.type === 'dense' && shape.length !== 1) {
      issues.push({
        path: `${path}.layers[${i}]`,
        message: `${path}.layers[${i}] (dense) needs a 1-D input but receives shape [${shape}]; add a {"type":"flatten"} layer before it`,
      });
    }
    shape = layer.type === 'dense' ? [layer.units] : layer.type === 'flatten' ? [shapeSize(shape)] : shape;
  });
  return issues;
}

/** Parameter count and shapes of a valid spec (see validateModelSpec). */
export function summarizeModel(spec: ModelSpec): ModelSummary {
  let shape = [...spec.inputShape];
  let params = 0;
  let trainable = 0;
  const layers = spec.layers.map((layerSpec, index) => {
    const layer = createLayer(layerSpec, shape, 'float32');
    let count = 0;
    for (const p of layer.params()) {
      const size = shapeSize(p.shape);
      count += size;
      if (p.trainable) trainable += size;
    }
    params += count;
    shape = layer.outputShape;
    return { index, type: layerSpec.type, outputShape: [...shape], params: count };
  });
  return { params, trainableParams: trainable, inputShape: [...spec.inputShape], outputShape: shape, layers };
}

/** The activation that ends the model (the last layer that applies one). */
export function finalActivation(spec: ModelSpec): string {
  for (let i = spec.layers.length - 1; i >= 0; i--) {
    const layer = spec.layers[i]!;
    if (layer.type === 'dense') return layer.activation ?? 'linear';
    if (layer.type === 'activation') return layer.activation;
  }
  return 'linear';
}

/**
 * Checks a training config against a valid model. `hasValidationData` says whether separate
 * validation data will be supplied (so val_* monitors make sense without validationSplit).
 */
export function validateTrainingConfig(training: unknown, model: ModelSpec, path = 'training', hasValidationData = false): SpecIssue[] {
  if (training === undefined) return [{ path, message: `${path} is required` }];
  if (!isObject(training)) return [{ path, message: `${path} must be an object` }];
  const { optimizer, ...rest } = training;
  const issues = schemaIssues(Type.Omit(TrainingConfigSchema, ['optimizer']), rest, path);
  if (optimizer !== undefined) {
    const optPath = `${path}.optimizer`;
    if (isObject(optimizer) && isObject(optimizer['learningRate'])) {
      const { learningRate, ...optRest } = optimizer;
      const branch = typeof optRest['type'] === 'string' ? OPTIMIZER_SCHEMAS[optRest['type']] : undefined;
      issues.push(
        ...(branch
          ? schemaIssues(Type.Omit(branch as never, ['learningRate']), optRest, optPath)
          : discriminated(optRest, OPTIMIZER_SCHEMAS, optPath, 'optimizer')),
      );
      issues.push(...discriminated(learningRate, SCHEDULE_SCHEMAS, `${optPath}.learningRate`, 'learning-rate schedule'));
    } else {
      issues.push(...discriminated(optimizer, OPTIMIZER_SCHEMAS, optPath, 'optimizer'));
    }
  }
  if (issues.length > 0) return issues;

  const t = training as TrainingConfig;
  const summary = summarizeModel(model);
  const outputWidth = shapeSize(summary.outputShape);
  const last = finalActivation(model);
  const loss: LossName = t.loss;
  if (summary.outputShape.length !== 1 && loss !== 'mse' && loss !== 'mae' && loss !== 'huber') {
    issues.push({
      path: `${path}.loss`,
      message: `${path}.loss ${loss} needs a 1-D model output, but the model outputs [${summary.outputShape}]`,
    });
  }
  if (loss === 'sparse_categorical_crossentropy' || loss === 'categorical_crossentropy') {
    if (outputWidth < 2)
      issues.push({
        path: `${path}.loss`,
        message: `${path}.loss ${loss} needs at least 2 output units (one per class); the model has ${outputWidth}`,
      });
    if (last !== 'softmax')
      issues.push({
        path: `${path}.loss`,
        message: `${path}.loss ${loss} expects class probabilities: end the model with a softmax activation (it ends with ${last})`,
      });
  }
  if (loss === 'binary_crossentropy' && last !== 'sigmoid') {
    issues.push({
      path: `${path}.loss`,
      message: `${path}.loss binary_crossentropy expects probabilities: end the model with a sigmoid activation (it ends with ${last})`,
    });
  }
  (t.metrics ?? []).forEach((metric, i) => {
    if ((metric === 'mae' || metric === 'mse') && loss === 'sparse_categorical_crossentropy') {
      issues.push({
        path: `${path}.metrics[${i}]`,
        message: `${path}.metrics[${i}] ${metric} compares outputs with targets of the same width; sparse labels have one column`,
      });
    }
  });
  const hasValidation = hasValidationData || (t.validationSplit ?? 0) > 0;
  const keys = new Set(['loss', ...(t.metrics ?? [])]);
  if (hasValidation) for (const k of [...keys]) keys.add(`val_${k}`);
  for (const [name, callback] of [
    ['earlyStopping', t.earlyStopping],
    ['reduceLROnPlateau', t.reduceLROnPlateau],
  ] as const) {
    if (!callback) continue;
    const monitor = callback.monitor ?? 'val_loss';
    if (!keys.has(monitor)) {
      const hint = monitor.startsWith('val_') && !hasValidation ? '; set training.validationSplit to get validation metrics' : '';
      issues.push({
        path: `${path}.${name}.monitor`,
        message: `${path}.${name}.monitor "${monitor}" is not logged by this training; available: ${[...keys].join(', ')}${hint}`,
      });
    }
  }
  const opt = t.optimizer;
  if (opt) {
    const clips = (['clipnorm', 'clipvalue', 'globalClipnorm'] as const).filter((k) => opt[k] !== undefined);
    if (clips.length > 1)
      issues.push({
        path: `${path}.optimizer`,
        message: `${path}.optimizer may set only one of clipnorm, clipvalue, globalClipnorm (got ${clips.join(', ')})`,
      });
    const lr = opt.learningRate;
    if (typeof lr === 'object') {
      if (t.reduceLROnPlateau) {
        issues.push({
          path: `${path}.reduceLROnPlateau`,
          message: `${path}.reduceLROnPlateau cannot change a learning-rate schedule; use a constant optimizer.learningRate`,
        });
      }
      if (lr.type === 'piecewise_constant_decay') {
        if (lr.values.length !== lr.boundaries.length + 1) {
          issues.push({
            path: `${path}.optimizer.learningRate.values`,
            message: `${path}.optimizer.learningRate.values must have one more item than boundaries (${lr.boundaries.length + 1})`,
          });
        }
        if (lr.boundaries.some((b, i) => i > 0 && b <= lr.boundaries[i - 1]!)) {
          issues.push({
            path: `${path}.optimizer.learningRate.boundaries`,
            message: `${path}.optimizer.learningRate.boundaries must increase strictly`,
          });
        }
      }
      if (issues.length === 0 && !(learningRateAt(lr, 0) >= 0)) {
        issues.push({ path: `${path}.optimizer.learningRate`, message: `${path}.optimizer.learningRate gives an invalid learning rate` });
      }
    }
  }
  return issues;
}

/**
 * Checks targets (rows × width, flat) against the loss and model output: sparse labels must be
 * integer class ids below the class count, binary targets within [0, 1].
 */
export function validateTargets(
  y: FloatArray,
  rows: number,
  width: number,
  loss: LossName,
  outputWidth: number,
  path = 'data.y',
): SpecIssue[] {
  const expectedWidth = loss === 'sparse_categorical_crossentropy' ? 1 : outputWidth;
  if (width !== expectedWidth) {
    const what =
      loss === 'sparse_categorical_crossentropy'
        ? 'one integer class id per row'
        : `${outputWidth} value(s) per row, like the model output`;
    return [{ path, message: `${path} must hold ${what} for ${loss}; it has ${width} per row` }];
  }
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < width; j++) {
      const v = y[r * width + j]!;
      const at = width === 1 ? `${path}[${r}]` : `${path}[${r}][${j}]`;
      if (!Number.isFinite(v)) return [{ path: at, message: `${at} must be a finite number` }];
      if (loss === 'sparse_categorical_crossentropy' && (!Number.isInteger(v) || v < 0 || v >= outputWidth)) {
        return [
          {
            path: at,
            message: `${at} is ${v}, but sparse labels must be integers in [0, ${outputWidth - 1}] for a model with ${outputWidth} outputs`,
          },
        ];
      }
      if ((loss === 'binary_crossentropy' || loss === 'categorical_crossentropy') && (v < 0 || v > 1)) {
        return [{ path: at, message: `${at} is ${v}, but ${loss} targets must lie in [0, 1]` }];
      }
    }
  }
  return [];
}
