/**
 * Checks an ONNX export against the engine: runs the same rows through onnxruntime-node and
 * `model.predict` and compares every output.
 *
 * Tolerance: an output passes when |onnx − engine| ≤ tolerance · max(1, |engine|), i.e. absolute
 * (default 1e-5) for outputs of magnitude ≤ 1 — probabilities, most activations — and relative
 * beyond, where float32 rounding alone (≈ 6e-8 · |value| per op) would otherwise break an absolute
 * bound. `maxAbsDiff` reports the largest plain absolute difference; a NaN on either side (but not
 * both) counts as an infinite difference.
 */
import type { Sequential } from '../engine/model.js';
import { Rng } from '../engine/random.js';
import { decodeModel, defaultOpset, int64ToNumber } from './proto.js';
import { createOnnxSession, runOnnx } from './session.js';
import type { InferenceSession } from 'onnxruntime-node';

export const DEFAULT_VERIFY_TOLERANCE = 1e-5;
export const DEFAULT_VERIFY_ROWS = 64;

export interface VerifyOnnxOptions {
  /** Rows to compare (row-major, inputShape each), e.g. held-out data; default: seeded random rows. */
  rows?: Float32Array;
  /** Number of rows in `rows` (default rows.length / inputSize), or of random rows (default 64). */
  rowCount?: number;
  /** Seed of the random rows (default 0). */
  seed?: number;
  /** See the module comment (default 1e-5). */
  tolerance?: number;
}

export interface OnnxMismatch {
  row: number;
  /** Flat index within the row's output. */
  index: number;
  engine: number;
  onnx: number;
}

export interface VerifyOnnxResult {
  ok: boolean;
  /** Largest |onnx − engine| over all outputs; NaN when the comparison could not run (see error). */
  maxAbsDiff: number;
  rowsChecked: number;
  opset: number;
  irVersion: number;
  tolerance: number;
  error?: string;
  /** The first output outside the tolerance, when there is one. */
  firstMismatch?: OnnxMismatch;
}

/** Compares the ONNX bytes with the engine model on the same rows; never throws. */
export async function verifyOnnx(model: Sequential, bytes: Uint8Array, options: VerifyOnnxOptions = {}): Promise<VerifyOnnxResult> {
  const tolerance = options.tolerance ?? DEFAULT_VERIFY_TOLERANCE;
  const result: VerifyOnnxResult = { ok: false, maxAbsDiff: Number.NaN, rowsChecked: 0, opset: 0, irVersion: 0, tolerance };
  let session: InferenceSession | null = null;
  try {
    const decoded = decodeModel(bytes);
    result.irVersion = int64ToNumber(decoded.irVersion);
    result.opset = defaultOpset(decoded);

    const { x, rows } = verificationRows(model, options);
    session = await createOnnxSession(bytes);
    const actual = await runOnnx(session, x, rows, model.inputShape);
    const expected = model.predict(x, rows);
    if (actual.length !== expected.length) {
      return { ...result, error: `the ONNX output holds ${actual.length} values; the engine's ${expected.length}` };
    }

    const width = model.outputSize;
    let maxAbsDiff = 0;
    let firstMismatch: OnnxMismatch | undefined;
    for (let i = 0; i < expected.length; i++) {
      const e = expected[i]!;
      const a = actual[i]!;
      const diff = a === e ? 0 : Number.isNaN(a - e) ? Number.POSITIVE_INFINITY : Math.abs(a - e);
      if (diff > maxAbsDiff) maxAbsDiff = diff;
      if (!(diff <= tolerance * Math.max(1, Math.abs(e))) && !firstMismatch) {
        firstMismatch = { row: Math.floor(i / width), index: i % width, engine: e, onnx: a };
      }
    }
    const verdict: VerifyOnnxResult = { ...result, ok: !firstMismatch, maxAbsDiff, rowsChecked: rows };
    if (firstMismatch) {
      verdict.firstMismatch = firstMismatch;
      verdict.error =
        `output [${firstMismatch.row}][${firstMismatch.index}]: onnx ${firstMismatch.onnx} vs engine ${firstMismatch.engine}` +
        ` (max abs diff ${maxAbsDiff}, tolerance ${tolerance})`;
    }
    return verdict;
  } catch (error) {
    return { ...result, error: error instanceof Error ? error.message : String(error) };
  } finally {
    if (session) await session.release().catch(() => undefined);
  }
}

/**
 * The given rows, or `rowCount` seeded random rows: row 0 all zeros, rows 1 and 2 all +8 / −8,
 * the rest uniform in [−3, 3] with about one value in ten drawn from ±[3, 10].
 */
function verificationRows(model: Sequential, options: VerifyOnnxOptions): { x: Float32Array; rows: number } {
  const size = model.inputSize;
  if (options.rows) {
    const rows = options.rowCount ?? options.rows.length / size;
    if (!Number.isInteger(rows) || rows < 1 || rows * size > options.rows.length) {
      throw new RangeError(`rows holds ${options.rows.length} values, not ${options.rowCount ?? 'a whole number of'} rows of ${size}`);
    }
    return { x: options.rows.subarray(0, rows * size), rows };
  }
  const rows = options.rowCount ?? DEFAULT_VERIFY_ROWS;
  if (!Number.isInteger(rows) || rows < 1) throw new RangeError(`rowCount must be a positive integer, got ${rows}`);
  const rng = new Rng(options.seed ?? 0);
  const x = new Float32Array(rows * size);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < size; j++) {
      let v: number;
      if (r === 0) v = 0;
      else if (r === 1) v = 8;
      else if (r === 2) v = -8;
      else if (rng.uniform() < 0.1) v = (rng.uniform() < 0.5 ? -1 : 1) * (3 + 7 * rng.uniform());
      else v = 6 * rng.uniform() - 3;
      x[r * size + j] = v;
    }
  }
  return { x, rows };
}
