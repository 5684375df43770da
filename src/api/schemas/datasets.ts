import { Type } from 'typebox';
import { Matrix } from './common.js';

export const Targets = Type.Union([Type.Array(Type.Number()), Type.Array(Type.Array(Type.Number()))], {
  description: 'One target per row: a class id or value (number[]), or a vector per row (number[][]).',
});

export const CreateDatasetBody = Type.Object(
  {
    x: Matrix('Input rows, each flattened to prod(inputShape) numbers.'),
    y: Targets,
  },
  {
    additionalProperties: false,
    examples: [
      {
        x: [
          [0, 0],
          [0, 1],
          [1, 0],
          [1, 1],
        ],
        y: [0, 1, 1, 0],
      },
    ],
  },
);

export const CsvQuery = Type.Object({
  label: Type.Optional(
    Type.String({ minLength: 1, maxLength: 256, description: 'CSV column holding the target (required for text/csv).' }),
  ),
});

export const DatasetResource = Type.Object({
  id: Type.String(),
  rows: Type.Integer(),
  features: Type.Integer(),
  targetWidth: Type.Integer(),
  createdAt: Type.String({ format: 'date-time' }),
  source: Type.String(),
  columns: Type.Optional(Type.Array(Type.String())),
  label: Type.Optional(Type.String()),
});
