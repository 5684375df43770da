import { Type } from 'typebox';
import { MODEL_NAME_PATTERN } from '../../engine/index.js';
import { ID_PATTERN } from '../../store/ids.js';

export const ProblemSchema = Type.Object(
  {
    type: Type.String({ description: 'A URI naming the kind of problem.' }),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    instance: Type.Optional(Type.String()),
    errors: Type.Optional(
      Type.Array(
        Type.Object({ path: Type.String({ description: 'The field at fault, e.g. model.layers[1].units' }), message: Type.String() }),
      ),
    ),
  },
  { $id: 'Problem', description: 'RFC 9457 problem details (application/problem+json).' },
);

export const problemRef = Type.Ref('Problem');

export const IdParams = Type.Object({ id: Type.String({ pattern: ID_PATTERN, maxLength: 64 }) });
export const ModelNameParams = Type.Object({ name: Type.String({ pattern: MODEL_NAME_PATTERN }) });
export const VersionParams = Type.Object({
  name: Type.String({ pattern: MODEL_NAME_PATTERN }),
  version: Type.Integer({ minimum: 1, maximum: 1_000_000_000 }),
});

export const Matrix = (description: string) => Type.Array(Type.Array(Type.Number()), { description });

export const AnyObject = Type.Object({}, { additionalProperties: true });

/** Response schemas for the problem statuses a route can answer, all the same Problem shape. */
export function problemResponses<const S extends readonly number[]>(...statuses: S): { [K in S[number]]: { $ref: 'Problem' } } {
  return Object.fromEntries(statuses.map((status) => [status, { $ref: 'Problem' as const }])) as { [K in S[number]]: { $ref: 'Problem' } };
}
