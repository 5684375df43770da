/** ONNX export of engine models and onnxruntime-node serving. */
export {
  exportOnnx,
  classCount,
  kilnVersion,
  OnnxExportError,
  ONNX_IR_VERSION,
  ONNX_OPSET,
  ONNX_INPUT_NAME,
  ONNX_OUTPUT_NAME,
  ONNX_BATCH_DIM,
  type OnnxExportMeta,
} from './export.js';
export {
  verifyOnnx,
  DEFAULT_VERIFY_TOLERANCE,
  DEFAULT_VERIFY_ROWS,
  type VerifyOnnxOptions,
  type VerifyOnnxResult,
  type OnnxMismatch,
} from './verify.js';
export {
  createOnnxSessionCache,
  createOnnxSession,
  onnxSessionOptions,
  onnxSessionKey,
  runOnnx,
  type OnnxSessionCache,
  type OnnxSessionCacheOptions,
  type OnnxSessionOptions,
  type OnnxModelLoader,
  type GraphOptimizationLevel,
} from './session.js';
export { decodeModel, encodeModel, defaultOpset, int64ToNumber } from './proto.js';
