import { Type } from 'typebox';
import { AnyObject, Matrix } from './common.js';
import { HistoryEntrySchema } from './jobs.js';

export const ModelList = Type.Object({ items: Type.Array(Type.Object({ name: Type.String(), latestVersion: Type.Integer() })) });

const Metrics = Type.Object({}, { additionalProperties: Type.Number() });

export const ModelDetail = Type.Object({
  name: Type.String(),
  versions: Type.Array(
    Type.Object({ version: Type.Integer(), createdAt: Type.String(), jobId: Type.Union([Type.String(), Type.Null()]), metrics: Metrics }),
  ),
});

const OnnxInfoSchema = Type.Object({
  ok: Type.Boolean({ description: 'Whether onnxruntime matched the engine within the tolerance.' }),
  maxAbsDiff: Type.Union([Type.Number(), Type.Null()]),
  rowsChecked: Type.Integer(),
  opset: Type.Union([Type.Integer(), Type.Null()]),
  irVersion: Type.Union([Type.Integer(), Type.Null()]),
  tolerance: Type.Number(),
  error: Type.Optional(Type.String()),
  sha256: Type.Optional(Type.String()),
  bytes: Type.Optional(Type.Integer()),
});

export const VersionMeta = Type.Object({
  name: Type.String(),
  version: Type.Integer(),
  createdAt: Type.String(),
  source: Type.String(),
  jobId: Type.Union([Type.String(), Type.Null()]),
  spec: AnyObject,
  training: Type.Union([AnyObject, Type.Null()]),
  history: Type.Array(HistoryEntrySchema),
  metrics: Metrics,
  inputShape: Type.Array(Type.Integer()),
  outputShape: Type.Array(Type.Integer()),
  params: Type.Integer(),
  classifier: Type.Union([Type.Object({ kind: Type.String(), classes: Type.Integer() }), Type.Null()]),
  checkpointSha256: Type.String(),
  onnx: Type.Union([OnnxInfoSchema, Type.Null()]),
});

export const CheckpointBody = Type.Object(
  {
    format: Type.Literal('kiln.checkpoint/1'),
    model: AnyObject,
    weights: Type.Array(
      Type.Object({
        layer: Type.Integer({ minimum: 0 }),
        name: Type.String({ maxLength: 64 }),
        shape: Type.Array(Type.Integer({ minimum: 1 })),
        dtype: Type.Literal('float32'),
        data: Type.String({ description: 'base64 of little-endian float32, row-major' }),
      }),
    ),
    training: Type.Optional(AnyObject),
  },
  { description: 'A native checkpoint (kiln.checkpoint/1); model.name is replaced by the path name.' },
);

export const PredictBody = Type.Object(
  {
    inputs: Matrix('Rows to predict, each flattened to prod(inputShape) numbers.'),
    runtime: Type.Optional(Type.Enum(['engine', 'onnx'], { default: 'engine' })),
  },
  { additionalProperties: false, examples: [{ inputs: [[0, 1]], runtime: 'engine' }] },
);

/**
 * The binary request body: rows of prod(inputShape) little-endian float32 values, back to back.
 * The row count is the body length ÷ (4 · prod(inputShape)). Skips JSON parsing, which costs
 * more than the prediction itself for a one-row call.
 */
export const PredictBinaryBody = Type.Unsafe<Uint8Array>({
  type: 'string',
  format: 'binary',
  description:
    'Rows of prod(inputShape) little-endian float32 values, back to back (4 · prod(inputShape) bytes per row); `runtime` goes in the query string.',
});

export const PredictQuery = Type.Object({
  runtime: Type.Optional(
    Type.Enum(['engine', 'onnx'], {
      description: "For application/octet-stream bodies (a JSON body's own `runtime` wins). Default engine.",
    }),
  ),
});

export const PredictResponse = Type.Object({
  model: Type.Object({ name: Type.String(), version: Type.Integer() }),
  runtime: Type.String(),
  outputs: Type.Array(Type.Array(Type.Number())),
  classes: Type.Optional(Type.Array(Type.Integer())),
});
