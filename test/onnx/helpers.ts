import { Rng, Sequential, type ModelSpec } from '../../src/engine/index.js';
import type { LayerSpec } from '../../src/engine/spec.js';
import { decodeModel, defaultOpset, int64ToNumber } from '../../src/onnx/index.js';
import { onnx, type IValueInfoProto } from '../../src/onnx/proto.js';

/**
 * A model with every weight set to seeded random values (biases and batch-norm statistics
 * included, which the initializers would leave at 0 or 1), so an export that drops or reorders
 * one shows up in the outputs.
 */
export function randomModel(inputShape: number[], layers: LayerSpec[], seed = 1): Sequential {
  const spec: ModelSpec = { name: 'onnx-test', inputShape, layers };
  const model = new Sequential(spec, { seed });
  const rng = new Rng(seed + 1000);
  for (const entry of model.weights) {
    const values = model.view(entry);
    for (let i = 0; i < values.length; i++) {
      const u = rng.uniform();
      switch (entry.name) {
        case 'kernel':
          values[i] = (2 * u - 1) * Math.sqrt(3 / entry.shape[0]!);
          break;
        case 'bias':
        case 'beta':
          values[i] = u - 0.5;
          break;
        case 'gamma':
          values[i] = 0.5 + u;
          break;
        case 'moving_mean':
          values[i] = 2 * u - 1;
          break;
        case 'moving_variance':
          values[i] = 0.25 + 2 * u;
          break;
      }
    }
  }
  return model;
}

/** rows × size normal values scaled by `scale`, with a zero row and a ±4 row at the front. */
export function randomRows(rows: number, size: number, seed = 7, scale = 1.5): Float32Array {
  const rng = new Rng(seed);
  const x = new Float32Array(rows * size);
  for (let i = 0; i < x.length; i++) x[i] = scale * rng.normal();
  if (rows > 1) x.fill(0, 0, size);
  if (rows > 2) for (let j = 0; j < size; j++) x[size + j] = j % 2 === 0 ? 4 : -4;
  return x;
}

/** Largest |a − b| and the first index where it exceeds `tolerance` (-1 if none). */
export function compare(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number): { maxAbsDiff: number; first: number } {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} vs ${expected.length}`);
  let maxAbsDiff = 0;
  let first = -1;
  for (let i = 0; i < actual.length; i++) {
    const diff = Math.abs(actual[i]! - expected[i]!);
    const d = Number.isNaN(diff) ? Number.POSITIVE_INFINITY : diff;
    if (d > maxAbsDiff) maxAbsDiff = d;
    if (d > tolerance && first < 0) first = i;
  }
  return { maxAbsDiff, first };
}

export interface PlainTensor {
  name: string;
  dims: number[];
  dataType: number;
  /** raw_data read as little-endian float32. */
  values: number[];
  floatDataLength: number;
}

export interface PlainNode {
  opType: string;
  input: string[];
  output: string[];
  /** Attribute name → its f or i value. */
  attributes: Record<string, number>;
}

export interface PlainValueInfo {
  name: string;
  elemType: number;
  /** dim_param for symbolic axes, else dim_value. */
  dims: (string | number)[];
}

export interface PlainModel {
  irVersion: number;
  opset: number;
  opsetImports: { domain: string; version: number }[];
  producerName: string;
  producerVersion: string;
  modelVersion: number;
  metadata: Record<string, string>;
  graphName: string;
  nodes: PlainNode[];
  initializers: PlainTensor[];
  inputs: PlainValueInfo[];
  outputs: PlainValueInfo[];
}

/** Decodes ONNX bytes with onnx-proto into a fully typed plain object (no optional fields). */
export function plainModel(bytes: Uint8Array): PlainModel {
  const m = decodeModel(bytes);
  const g = m.graph ?? {};
  const valueInfo = (v: IValueInfoProto): PlainValueInfo => ({
    name: v.name ?? '',
    elemType: v.type?.tensorType?.elemType ?? 0,
    dims: (v.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : int64ToNumber(d.dimValue))),
  });
  return {
    irVersion: int64ToNumber(m.irVersion),
    opset: defaultOpset(m),
    opsetImports: m.opsetImport.map((o) => ({ domain: o.domain ?? '', version: int64ToNumber(o.version) })),
    producerName: m.producerName,
    producerVersion: m.producerVersion,
    modelVersion: int64ToNumber(m.modelVersion),
    metadata: Object.fromEntries(m.metadataProps.map((p) => [p.key ?? '', p.value ?? ''])),
    graphName: g.name ?? '',
    nodes: (g.node ?? []).map((n) => ({
      opType: n.opType ?? '',
      input: n.input ?? [],
      output: n.output ?? [],
      attributes: Object.fromEntries(
        (n.attribute ?? []).map((a) => [
          a.name ?? '',
          a.type === onnx.AttributeProto.AttributeType.FLOAT ? (a.f ?? 0) : int64ToNumber(a.i),
        ]),
      ),
    })),
    initializers: (g.initializer ?? []).map((t) => {
      const raw = t.rawData ?? new Uint8Array(0);
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      return {
        name: t.name ?? '',
        dims: (t.dims ?? []).map((d) => int64ToNumber(d)),
        dataType: t.dataType ?? 0,
        values: Array.from({ length: raw.byteLength / 4 }, (_, i) => view.getFloat32(i * 4, true)),
        floatDataLength: t.floatData?.length ?? 0,
      };
    }),
    inputs: (g.input ?? []).map(valueInfo),
    outputs: (g.output ?? []).map(valueInfo),
  };
}
