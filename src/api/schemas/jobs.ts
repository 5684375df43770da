import { Type } from 'typebox';
import { JOB_STATUSES } from '../../jobs/types.js';
import { ModelSpecSchema, TrainingConfigSchema, MODEL_NAME_PATTERN } from '../../engine/index.js';
import { ID_PATTERN } from '../../store/ids.js';
import { AnyObject, Matrix } from './common.js';
import { Targets } from './datasets.js';

export const InlineData = Type.Object({ x: Matrix('Input rows.'), y: Targets }, { additionalProperties: false });
export const DatasetRef = Type.Object(
  { datasetId: Type.String({ pattern: ID_PATTERN, description: 'A dataset uploaded with POST /v1/datasets.' }) },
  { additionalProperties: false },
);
export const JobData = Type.Union([InlineData, DatasetRef]);

export const InitFrom = Type.Object(
  { model: Type.String({ pattern: MODEL_NAME_PATTERN }), version: Type.Integer({ minimum: 1 }) },
  { additionalProperties: false, description: 'Warm start from a registered version with the same architecture.' },
);

const example = {
  model: {
    name: 'xor',
    inputShape: [2],
    layers: [
      { type: 'dense', units: 8, activation: 'tanh' },
      { type: 'dense', units: 1, activation: 'sigmoid' },
    ],
  },
  training: {
    loss: 'binary_crossentropy',
    optimizer: { type: 'adam', learningRate: 0.05 },
    epochs: 200,
    batchSize: 4,
    metrics: ['accuracy'],
    seed: 42,
  },
  data: {
    x: [
      [0, 0],
      [0, 1],
      [1, 0],
      [1, 1],
    ],
    y: [0, 1, 1, 0],
  },
};

export const CreateJobBody = Type.Object(
  {
    model: ModelSpecSchema,
    training: TrainingConfigSchema,
    data: JobData,
    validationData: Type.Optional(JobData),
    initFrom: Type.Optional(InitFrom),
  },
  { additionalProperties: false, examples: [example] },
);

const Progress = Type.Object({ epoch: Type.Integer(), epochs: Type.Integer(), step: Type.Integer(), stepsPerEpoch: Type.Integer() });
export const HistoryEntrySchema = Type.Object(
  { epoch: Type.Integer(), loss: Type.Number() },
  {
    additionalProperties: Type.Number(),
    description: 'Keras keys: loss, val_loss, <metric>, val_<metric>, plus samplesPerSecond, durationMs, learning_rate.',
  },
);

export const JobResource = Type.Object(
  {
    id: Type.String(),
    status: Type.Enum(JOB_STATUSES),
    createdAt: Type.String({ format: 'date-time' }),
    startedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    finishedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    progress: Progress,
    history: Type.Array(HistoryEntrySchema),
    model: Type.Union([Type.Object({ name: Type.String(), version: Type.Integer() }), Type.Null()]),
    error: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()]),
    cancelRequested: Type.Boolean(),
    attempts: Type.Integer(),
    stopReason: Type.Union([Type.String(), Type.Null()]),
    spec: Type.Object({
      model: AnyObject,
      training: AnyObject,
      datasetId: Type.String(),
      validationDatasetId: Type.Union([Type.String(), Type.Null()]),
      initFrom: Type.Union([InitFrom, Type.Null()]),
    }),
  },
  { title: 'Job' },
);

export const JobListQuery = Type.Object({
  status: Type.Optional(Type.Enum(JOB_STATUSES)),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
});

export const JobList = Type.Object({
  items: Type.Array(JobResource),
  total: Type.Integer(),
  limit: Type.Integer(),
  offset: Type.Integer(),
});
