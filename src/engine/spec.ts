/**
 * The model and training specs of the public contract, as TypeBox schemas: one definition gives
 * the engine its types and the API its validation and OpenAPI document.
 */
import { Type, type Static } from 'typebox';
import { ACTIVATIONS } from './activations.js';
import { INITIALIZERS } from './initializers.js';

export const ActivationNameSchema = Type.Enum(ACTIVATIONS);
export const InitializerNameSchema = Type.Enum(INITIALIZERS);

export const RegularizerSchema = Type.Object(
  {
    l1: Type.Optional(Type.Number({ minimum: 0, description: 'L1 penalty factor (Keras default for L1: 0.01)' })),
    l2: Type.Optional(Type.Number({ minimum: 0, description: 'L2 penalty factor (Keras default for L2: 0.01)' })),
  },
  { additionalProperties: false, description: 'Adds l1·Σ|w| + l2·Σw² over the kernel to the loss.' },
);

export const DenseLayerSchema = Type.Object(
  {
    type: Type.Literal('dense'),
    units: Type.Integer({ minimum: 1, description: 'Output features.' }),
    activation: Type.Optional(ActivationNameSchema),
    useBias: Type.Optional(Type.Boolean({ default: true })),
    kernelInitializer: Type.Optional(InitializerNameSchema),
    biasInitializer: Type.Optional(InitializerNameSchema),
    kernelRegularizer: Type.Optional(RegularizerSchema),
  },
  { additionalProperties: false },
);

export const ActivationLayerSchema = Type.Object(
  { type: Type.Literal('activation'), activation: ActivationNameSchema },
  { additionalProperties: false },
);

export const DropoutLayerSchema = Type.Object(
  {
    type: Type.Literal('dropout'),
    rate: Type.Number({ minimum: 0, exclusiveMaximum: 1, description: 'Fraction of inputs dropped while training.' }),
  },
  { additionalProperties: false },
);

export const BatchNormalizationLayerSchema = Type.Object(
  {
    type: Type.Literal('batch_normalization'),
    momentum: Type.Optional(Type.Number({ minimum: 0, maximum: 1, default: 0.99 })),
    epsilon: Type.Optional(Type.Number({ exclusiveMinimum: 0, default: 0.001 })),
    center: Type.Optional(Type.Boolean({ default: true })),
    scale: Type.Optional(Type.Boolean({ default: true })),
  },
  { additionalProperties: false },
);

export const FlattenLayerSchema = Type.Object({ type: Type.Literal('flatten') }, { additionalProperties: false });

export const LayerSpecSchema = Type.Union([
  DenseLayerSchema,
  ActivationLayerSchema,
  DropoutLayerSchema,
  BatchNormalizationLayerSchema,
  FlattenLayerSchema,
]);

export const MODEL_NAME_PATTERN = '^[a-z0-9][a-z0-9._-]{0,63}$';

export const ModelSpecSchema = Type.Object(
  {
    name: Type.String({ pattern: MODEL_NAME_PATTERN, description: 'Registry name; each completed job adds a version.' }),
    inputShape: Type.Array(Type.Integer({ minimum: 1 }), {
      minItems: 1,
      maxItems: 4,
      description: 'Shape of one input row, without the batch axis.',
    }),
    layers: Type.Array(LayerSpecSchema, { minItems: 1, maxItems: 64 }),
  },
  { additionalProperties: false },
);

export const LOSSES = [
  'mse',
  'mae',
  'huber',
  'binary_crossentropy',
  'categorical_crossentropy',
  'sparse_categorical_crossentropy',
] as const;
export const LossNameSchema = Type.Enum(LOSSES);

export const ExponentialDecaySchema = Type.Object(
  {
    type: Type.Literal('exponential_decay'),
    initialLearningRate: Type.Number({ exclusiveMinimum: 0 }),
    decaySteps: Type.Integer({ minimum: 1 }),
    decayRate: Type.Number({ exclusiveMinimum: 0 }),
    staircase: Type.Optional(Type.Boolean({ default: false })),
  },
  { additionalProperties: false },
);

export const CosineDecaySchema = Type.Object(
  {
    type: Type.Literal('cosine_decay'),
    initialLearningRate: Type.Number({ minimum: 0 }),
    decaySteps: Type.Integer({ minimum: 1 }),
    alpha: Type.Optional(Type.Number({ minimum: 0, maximum: 1, default: 0 })),
    warmupTarget: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    warmupSteps: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
  },
  { additionalProperties: false },
);

export const PiecewiseConstantDecaySchema = Type.Object(
  {
    type: Type.Literal('piecewise_constant_decay'),
    boundaries: Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1 }),
    values: Type.Array(Type.Number({ minimum: 0 }), { minItems: 2 }),
  },
  { additionalProperties: false },
);

export const LearningRateScheduleSchema = Type.Union([ExponentialDecaySchema, CosineDecaySchema, PiecewiseConstantDecaySchema]);
export const LearningRateSchema = Type.Union([Type.Number({ exclusiveMinimum: 0, maximum: 10 }), LearningRateScheduleSchema]);

const clipping = {
  clipnorm: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'Clip each gradient tensor to this L2 norm.' })),
  clipvalue: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'Clip each gradient element to ±clipvalue.' })),
  globalClipnorm: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'Clip all gradients jointly to this global L2 norm.' })),
  weightDecay: Type.Optional(Type.Number({ minimum: 0, description: 'Decoupled weight decay (adamw default 0.004).' })),
};

export const SgdSchema = Type.Object(
  {
    type: Type.Literal('sgd'),
    learningRate: Type.Optional(LearningRateSchema),
    momentum: Type.Optional(Type.Number({ minimum: 0, maximum: 1, default: 0 })),
    nesterov: Type.Optional(Type.Boolean({ default: false })),
    ...clipping,
  },
  { additionalProperties: false },
);

const adamFields = {
  learningRate: Type.Optional(LearningRateSchema),
  beta1: Type.Optional(Type.Number({ minimum: 0, exclusiveMaximum: 1, default: 0.9 })),
  beta2: Type.Optional(Type.Number({ minimum: 0, exclusiveMaximum: 1, default: 0.999 })),
  epsilon: Type.Optional(Type.Number({ exclusiveMinimum: 0, default: 1e-7 })),
  amsgrad: Type.Optional(Type.Boolean({ default: false })),
  ...clipping,
};
export const AdamSchema = Type.Object({ type: Type.Literal('adam'), ...adamFields }, { additionalProperties: false });
export const AdamWSchema = Type.Object({ type: Type.Literal('adamw'), ...adamFields }, { additionalProperties: false });

export const RmsPropSchema = Type.Object(
  {
    type: Type.Literal('rmsprop'),
    learningRate: Type.Optional(LearningRateSchema),
    rho: Type.Optional(Type.Number({ minimum: 0, exclusiveMaximum: 1, default: 0.9 })),
    momentum: Type.Optional(Type.Number({ minimum: 0, maximum: 1, default: 0 })),
    epsilon: Type.Optional(Type.Number({ exclusiveMinimum: 0, default: 1e-7 })),
    centered: Type.Optional(Type.Boolean({ default: false })),
    ...clipping,
  },
  { additionalProperties: false },
);

export const OptimizerSpecSchema = Type.Union([SgdSchema, AdamSchema, AdamWSchema, RmsPropSchema]);

export const MODES = ['auto', 'min', 'max'] as const;
const ModeSchema = Type.Enum(MODES);

export const EarlyStoppingSchema = Type.Object(
  {
    monitor: Type.Optional(Type.String({ default: 'val_loss', minLength: 1, maxLength: 64 })),
    minDelta: Type.Optional(Type.Number({ minimum: 0, default: 0 })),
    patience: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
    mode: Type.Optional(ModeSchema),
    baseline: Type.Optional(Type.Number()),
    restoreBestWeights: Type.Optional(Type.Boolean({ default: false })),
    startFromEpoch: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
  },
  { additionalProperties: false },
);

export const ReduceLROnPlateauSchema = Type.Object(
  {
    monitor: Type.Optional(Type.String({ default: 'val_loss', minLength: 1, maxLength: 64 })),
    factor: Type.Optional(Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.1 })),
    patience: Type.Optional(Type.Integer({ minimum: 0, default: 10 })),
    mode: Type.Optional(ModeSchema),
    minDelta: Type.Optional(Type.Number({ minimum: 0, default: 1e-4 })),
    cooldown: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
    minLr: Type.Optional(Type.Number({ minimum: 0, default: 0 })),
  },
  { additionalProperties: false },
);

export const METRICS = ['accuracy', 'mae', 'mse'] as const;
export const MetricNameSchema = Type.Enum(METRICS);

export const TrainingConfigSchema = Type.Object(
  {
    loss: LossNameSchema,
    optimizer: Type.Optional(OptimizerSpecSchema),
    epochs: Type.Integer({ minimum: 1 }),
    batchSize: Type.Optional(Type.Integer({ minimum: 1, default: 32 })),
    shuffle: Type.Optional(Type.Boolean({ default: true })),
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 4294967295 })),
    validationSplit: Type.Optional(Type.Number({ minimum: 0, exclusiveMaximum: 1 })),
    metrics: Type.Optional(Type.Array(MetricNameSchema, { maxItems: 8, uniqueItems: true })),
    earlyStopping: Type.Optional(EarlyStoppingSchema),
    reduceLROnPlateau: Type.Optional(ReduceLROnPlateauSchema),
    maxRuntimeSeconds: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: 'Stop and fail the job (no model) after this much training time; the server has its own cap too.',
      }),
    ),
  },
  { additionalProperties: false },
);

export type LayerSpec = Static<typeof LayerSpecSchema>;
export type DenseLayerSpec = Static<typeof DenseLayerSchema>;
export type ModelSpec = Static<typeof ModelSpecSchema>;
export type LossName = (typeof LOSSES)[number];
export type MetricName = (typeof METRICS)[number];
export type OptimizerSpec = Static<typeof OptimizerSpecSchema>;
export type LearningRateSpec = Static<typeof LearningRateSchema>;
export type LearningRateScheduleSpec = Static<typeof LearningRateScheduleSchema>;
export type EarlyStoppingSpec = Static<typeof EarlyStoppingSchema>;
export type ReduceLROnPlateauSpec = Static<typeof ReduceLROnPlateauSchema>;
export type TrainingConfig = Static<typeof TrainingConfigSchema>;
