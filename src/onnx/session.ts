/**
 * onnxruntime-node sessions for serving: one InferenceSession per key (e.g. `digits@3`), created
 * once from the model's bytes, kept in a small LRU and released on eviction or delete.
 *
 * `session.run` is a synchronous native call deferred with setImmediate, so a large batch blocks
 * the event loop while it runs: callers should bound batch sizes. Sessions default to one intra-op
 * thread so serving does not starve training running in the same process or machine.
 */
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { shapeSize } from '../engine/tensor.js';

export type OnnxModelLoader = () => Uint8Array | Promise<Uint8Array>;
export type GraphOptimizationLevel = NonNullable<InferenceSession.SessionOptions['graphOptimizationLevel']>;

export interface OnnxSessionOptions {
  /** Threads one run may use (default 1). */
  intraOpNumThreads?: number;
  /** Graph optimizations applied when the session is created (default 'all'). */
  graphOptimizationLevel?: GraphOptimizationLevel;
}

export interface OnnxSessionCacheOptions extends OnnxSessionOptions {
  /** Most sessions kept at once; the least recently used is released beyond it (default 16). */
  maxSessions?: number;
  /** Called when releasing a session fails (the cache itself never throws for it). */
  onReleaseError?: (error: unknown, key: string) => void;
}

export interface OnnxSessionCache {
  /**
   * The session for `key`, created from `load()`'s bytes on first use. Concurrent calls for one
   * key share a single creation; a failed creation is not cached. The session may be released
   * once evicted, so code that runs it while other keys are loaded should prefer `use`.
   */
  get(key: string, load: OnnxModelLoader): Promise<InferenceSession>;
  /** Runs `fn` with the session for `key`, which is not released before `fn` settles. */
  use<T>(key: string, load: OnnxModelLoader, fn: (session: InferenceSession) => T | Promise<T>): Promise<T>;
  has(key: string): boolean;
  /** Drops `key` and releases its session (once no `use` holds it); false if absent. */
  delete(key: string): Promise<boolean>;
  /** Drops every key and releases every session. */
  clear(): Promise<void>;
  /** Keys from least to most recently used. */
  keys(): string[];
  readonly size: number;
}

/** The cache key for one registered model version. */
export function onnxSessionKey(name: string, version: number): string {
  return `${name}@${version}`;
}

/** Session options Kiln uses for serving and for verification. */
export function onnxSessionOptions(options: OnnxSessionOptions = {}): InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: options.intraOpNumThreads ?? 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
  };
}

/** Creates one session from ONNX bytes on the CPU execution provider. */
export function createOnnxSession(bytes: Uint8Array, options: OnnxSessionOptions = {}): Promise<InferenceSession> {
  return InferenceSession.create(bytes, onnxSessionOptions(options));
}

interface Entry {
  readonly key: string;
  readonly session: Promise<InferenceSession>;
  /** Running `use` callbacks; the session is released only when this is 0. */
  pins: number;
  /** Removed from the cache; release when the last pin goes. */
  dropped: boolean;
  released: boolean;
}

/** An LRU of InferenceSessions keyed by string (see OnnxSessionCache). */
export function createOnnxSessionCache(options: OnnxSessionCacheOptions = {}): OnnxSessionCache {
  const maxSessions = options.maxSessions ?? 16;
  if (!Number.isInteger(maxSessions) || maxSessions < 1) throw new RangeError(`maxSessions must be a positive integer, got ${maxSessions}`);
  const sessionOptions: OnnxSessionOptions = {
    intraOpNumThreads: options.intraOpNumThreads ?? 1,
    graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
  };
  // Map iteration order is insertion order: the first key is the least recently used.
  const entries = new Map<string, Entry>();

  async function release(entry: Entry): Promise<void> {
    if (entry.released || entry.pins > 0 || !entry.dropped) return;
    entry.released = true;
    let session: InferenceSession;
    try {
      session = await entry.session;
    } catch {
      return; // creation failed: nothing to release
    }
    try {
      await session.release();
    } catch (error) {
      options.onReleaseError?.(error, entry.key);
    }
  }

  function drop(entry: Entry): Promise<void> {
    if (entries.get(entry.key) === entry) entries.delete(entry.key);
    entry.dropped = true;
    return release(entry);
  }

  function acquire(key: string, load: OnnxModelLoader): Entry {
    const hit = entries.get(key);
    if (hit) {
      entries.delete(key);
      entries.set(key, hit);
      return hit;
    }
    const entry: Entry = {
      key,
      session: (async () => createOnnxSession(await load(), sessionOptions))(),
      pins: 0,
      dropped: false,
      released: false,
    };
    entries.set(key, entry);
    // A failed creation leaves the cache so the next get retries.
    entry.session.catch(() => {
      if (entries.get(key) === entry) entries.delete(key);
      entry.dropped = true;
    });
    while (entries.size > maxSessions) {
      const oldest = entries.values().next().value as Entry;
      void drop(oldest);
    }
    return entry;
  }

  return {
    get(key, load) {
      return acquire(key, load).session;
    },
    async use(key, load, fn) {
      const entry = acquire(key, load);
      entry.pins++;
      try {
        return await fn(await entry.session);
      } finally {
        entry.pins--;
        void release(entry);
      }
    },
    has(key) {
      return entries.has(key);
    },
    async delete(key) {
      const entry = entries.get(key);
      if (!entry) return false;
      await drop(entry);
      return true;
    },
    async clear() {
      await Promise.all([...entries.values()].map((entry) => drop(entry)));
    },
    keys() {
      return [...entries.keys()];
    },
    get size() {
      return entries.size;
    },
  };
}

/**
 * Runs a single-input, single-output session on `rows` rows of `x` (row-major, each row of
 * `inputShape`) and returns the output data, (rows, ...outputShape) flattened.
 */
export async function runOnnx(
  session: InferenceSession,
  x: Float32Array,
  rows: number,
  inputShape: readonly number[],
): Promise<Float32Array> {
  if (!Number.isInteger(rows) || rows < 0) throw new RangeError(`rows must be a non-negative integer, got ${rows}`);
  const rowSize = shapeSize(inputShape);
  if (x.length !== rows * rowSize) {
    throw new RangeError(`x holds ${x.length} values; ${rows} rows of shape [${inputShape}] need ${rows * rowSize}`);
  }
  const inputName = session.inputNames[0];
  const outputName = session.outputNames[0];
  if (inputName === undefined || outputName === undefined) throw new Error('the ONNX session has no input or no output');
  const results = await session.run({ [inputName]: new Tensor('float32', x, [rows, ...inputShape]) });
  const output = results[outputName];
  if (!output) throw new Error(`the ONNX session returned no ${outputName}`);
  const data = output.data;
  if (data instanceof Float32Array) return data;
  if (typeof data === 'object' && data !== null && 'length' in data && typeof data[0] === 'number') {
    return Float32Array.from(data as ArrayLike<number>);
  }
  throw new Error(`the ONNX output ${outputName} is ${output.type}, not float32`);
}
