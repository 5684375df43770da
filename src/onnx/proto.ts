/**
 * The ONNX protobuf messages, from `onnx-proto` (protobufjs code generated from onnx.proto of
 * ONNX v1.10.2, IR version ≤ 8). The package is CommonJS with a single `onnx` namespace.
 */
import onnxProto from 'onnx-proto';

export const onnx = onnxProto.onnx;
export type ModelProto = onnxProto.onnx.ModelProto;
export type IModelProto = onnxProto.onnx.IModelProto;
export type IGraphProto = onnxProto.onnx.IGraphProto;
export type INodeProto = onnxProto.onnx.INodeProto;
export type ITensorProto = onnxProto.onnx.ITensorProto;
export type IAttributeProto = onnxProto.onnx.IAttributeProto;
export type IValueInfoProto = onnxProto.onnx.IValueInfoProto;
export type ITensorShapeProto = onnxProto.onnx.ITensorShapeProto;

/** protobufjs decodes int64 fields as `Long` objects (or numbers without the `long` package). */
export function int64ToNumber(value: number | { toNumber(): number } | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'number' ? value : value.toNumber();
}

/** Decodes ONNX ModelProto bytes; throws on malformed protobuf. */
export function decodeModel(bytes: Uint8Array): ModelProto {
  return onnx.ModelProto.decode(bytes);
}

/** Encodes a ModelProto (or its plain-object form) to bytes. */
export function encodeModel(model: IModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

/** The default-domain (ai.onnx) opset a decoded model imports, or 0 when it imports none. */
export function defaultOpset(model: ModelProto): number {
  const entry = model.opsetImport.find((o) => (o.domain ?? '') === '' || o.domain === 'ai.onnx');
  return entry ? int64ToNumber(entry.version) : 0;
}
