import type { Config } from '../config.js';
import type { JobQueue } from '../jobs/queue.js';
import type { CheckpointStore } from '../store/checkpoints.js';
import type { DatasetStore } from '../store/datasets.js';
import type { JobStore } from '../store/jobs.js';
import type { ModelRegistry } from '../store/registry.js';
import type { Predictor } from './services/predictor.js';
import type { IdempotencyStore } from './services/idempotency.js';
import type { Limits } from './services/limits.js';
import type { ApiKey } from './plugins/auth.js';
import type { Sequential } from '../engine/index.js';
import type { OnnxInfo } from '../store/registry.js';

/** The services the routes use, created once per app and closed with it. */
export interface Kiln {
  config: Config;
  jobs: JobStore;
  datasets: DatasetStore;
  checkpoints: CheckpointStore;
  registry: ModelRegistry;
  queue: JobQueue;
  predictor: Predictor;
  idempotency: IdempotencyStore;
  limits: Limits;
  apiKeys: ApiKey[];
  /** Exports and verifies an imported model to ONNX, when ONNX support is available. */
  onnxPublish?: (model: Sequential, name: string, version: number) => Promise<{ bytes: Uint8Array; info: OnnxInfo } | null>;
}

declare module 'fastify' {
  interface FastifyInstance {
    kiln: Kiln;
  }
}
