/**
 * Serving: models are loaded once per (name, version), verified against their digests, and kept
 * in a small LRU cache that deletes invalidate. The engine's predict is synchronous and fast for
 * the row counts allowed per call, so it runs on the API's event loop: through the batcher, which
 * gathers the requests of one event-loop turn into one pass (services/predict-batcher.ts).
 */
import { argmax } from '../../engine/kernels/reduce.js';
import { modelFromCheckpoint, type Sequential } from '../../engine/index.js';
import { VersionCorruptError, type ModelRegistry, type ModelVersionMeta } from '../../store/registry.js';
import { Problem, notFound, unprocessable } from '../errors.js';
import { binaryToMatrix, checkWidth, toMatrix, type Matrix } from './data.js';
import { PredictBatcher } from './predict-batcher.js';

export interface OnnxRunner {
  run(
    name: string,
    version: number,
    load: () => Promise<Uint8Array | null>,
    x: Float32Array,
    rows: number,
    inputShape: number[],
  ): Promise<Float32Array>;
  evict(name: string, version: number): void;
  close(): Promise<void>;
}

interface Loaded {
  model: Sequential;
  meta: ModelVersionMeta;
}

export interface PredictResult {
  model: { name: string; version: number };
  runtime: 'engine' | 'onnx';
  outputs: number[][];
  classes?: number[];
}

export class Predictor {
  private readonly cache = new Map<string, Promise<Loaded>>();
  /** Null when batching is off (PREDICT_BATCH_ROWS=0). */
  readonly batcher: PredictBatcher | null;

  constructor(
    private readonly registry: ModelRegistry,
    private readonly maxRows: number,
    private readonly onnx: OnnxRunner | null,
    batchRows = 0,
    private readonly capacity = 16,
  ) {
    this.batcher = batchRows > 0 ? new PredictBatcher(batchRows) : null;
  }

  private async load(name: string, version: number): Promise<Loaded> {
    const key = `${name}@${version}`;
    let entry = this.cache.get(key);
    if (entry) {
      // Refresh LRU order.
      this.cache.delete(key);
      this.cache.set(key, entry);
      return entry;
    }
    entry = (async () => {
      const meta = await this.registry.meta(name, version);
      if (!meta) throw notFound(`model ${name} has no version ${version}`);
      const checkpoint = await this.registry.checkpoint(name, version);
      if (!checkpoint) throw notFound(`model ${name} has no version ${version}`);
      return { model: modelFromCheckpoint(checkpoint), meta };
    })();
    this.cache.set(key, entry);
    // A failed load is not cached: the next request tries again (e.g. after the file is restored).
    const loading = entry;
    entry.catch(() => {
      if (this.cache.get(key) === loading) this.cache.delete(key);
    });
    while (this.cache.size > this.capacity) this.cache.delete(this.cache.keys().next().value!);
    return entry;
  }

  invalidate(name: string, version: number): void {
    this.cache.delete(`${name}@${version}`);
    this.onnx?.evict(name, version);
  }

  /** The newest version below `broken` whose files load, or null. */
  private async newestLoadable(name: string, broken: number): Promise<{ version: number; loaded: Loaded } | null> {
    const candidates = (await this.registry.versions(name)).filter((v) => v < broken).reverse();
    for (const version of candidates) {
      try {
        return { version, loaded: await this.load(name, version) };
      } catch (error) {
        if (!(error instanceof VersionCorruptError)) throw error;
      }
    }
    return null;
  }

  async resolveVersion(name: string, version: number | null): Promise<number> {
    if (version !== null) return version;
    const latest = await this.registry.latest(name);
    if (latest === null) throw notFound(`model ${name} has no versions`);
    return latest;
  }

  private checkRows(rows: number, path: string): void {
    if (rows > this.maxRows) {
      throw new Problem(413, 'too-many-rows', `${path} has ${rows} rows; the limit per call is ${this.maxRows} (PREDICT_MAX_ROWS)`, [
        { path, message: `at most ${this.maxRows} rows per call` },
      ]);
    }
  }

  /**
   * `inputs`: JSON rows, rows the JSON fast path already packed, or the bytes of little-endian
   * float32 rows (counted once the model's width is known).
   */
  async predict(
    name: string,
    requested: number | null,
    inputs: number[][] | Matrix | Uint8Array,
    runtime: 'engine' | 'onnx',
  ): Promise<PredictResult> {
    let version = await this.resolveVersion(name, requested);
    if (!(inputs instanceof Uint8Array)) this.checkRows(Array.isArray(inputs) ? inputs.length : inputs.rows, 'inputs');
    let loaded: Loaded;
    try {
      loaded = await this.load(name, version);
    } catch (error) {
      if (!(error instanceof VersionCorruptError)) throw error;
      // "Latest" keeps serving the newest version that loads, as TF Serving keeps the last good
      // model when a new one fails to load; a pinned version answers for itself.
      const fallback = requested === null ? await this.newestLoadable(name, version) : null;
      if (!fallback) throw new Problem(503, 'model-unavailable', `${name} v${version} is unavailable: ${error.message}`);
      ({ version, loaded } = fallback);
    }
    const { model, meta } = loaded;
    let x;
    if (Array.isArray(inputs)) {
      if (inputs.length === 0)
        throw unprocessable('inputs must have at least one row', [{ path: 'inputs', message: 'inputs must have at least one row' }]);
      x = toMatrix(inputs, model.inputSize, 'inputs');
    } else if (!(inputs instanceof Uint8Array)) {
      x = checkWidth(inputs, model.inputSize, 'inputs');
    } else {
      x = binaryToMatrix(inputs, model.inputSize, 'body');
      this.checkRows(x.rows, 'body');
    }
    let out: Float32Array;
    if (runtime === 'onnx') {
      if (!this.onnx) throw new Problem(409, 'onnx-unavailable', 'ONNX serving is not available on this server');
      if (!meta.onnx) throw new Problem(409, 'onnx-unavailable', `${name} v${version} has no ONNX export`);
      if (!meta.onnx.ok) {
        throw new Problem(
          409,
          'onnx-unverified',
          `${name} v${version}'s ONNX export failed verification (${meta.onnx.error ?? `max abs diff ${meta.onnx.maxAbsDiff}`}); use runtime "engine"`,
        );
      }
      try {
        out = await this.onnx.run(name, version, () => this.registry.onnx(name, version), x.values, x.rows, model.inputShape);
      } catch (error) {
        if (error instanceof VersionCorruptError)
          throw new Problem(503, 'model-unavailable', `${name} v${version} ONNX is unavailable: ${error.message}`);
        throw error;
      }
    } else {
      out = this.batcher ? await this.batcher.predict(model, x.values, x.rows) : (model.predict(x.values, x.rows) as Float32Array);
    }
    const width = model.outputSize;
    const outputs: number[][] = new Array(x.rows);
    for (let r = 0; r < x.rows; r++) outputs[r] = Array.from(out.subarray(r * width, (r + 1) * width));
    const result: PredictResult = { model: { name, version }, runtime, outputs };
    if (meta.classifier?.kind === 'softmax') {
      result.classes = outputs.map((_, r) => argmax(out, r * width, width));
    } else if (meta.classifier?.kind === 'sigmoid') {
      result.classes = outputs.map((row) => (row[0]! >= 0.5 ? 1 : 0));
    }
    return result;
  }

  async close(): Promise<void> {
    this.cache.clear();
    await this.onnx?.close();
  }
}
