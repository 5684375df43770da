/** verifyOnnx: ok for faithful exports, ok:false (never a throw) for wrong or broken ones. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_VERIFY_TOLERANCE, decodeModel, encodeModel, exportOnnx, verifyOnnx } from '../../src/onnx/index.js';
import { randomModel, randomRows } from './helpers.js';

const layers = [
  { type: 'dense', units: 12, activation: 'gelu' },
  { type: 'batch_normalization' },
  { type: 'dropout', rate: 0.4 },
  { type: 'dense', units: 4, activation: 'softmax' },
] as const;

/** The export with `delta` added to one value of the named initializer (decode, edit, re-encode). */
function corrupt(bytes: Uint8Array, initializer: string, index: number, delta: number): Uint8Array {
  const model = decodeModel(bytes);
  const tensor = model.graph!.initializer!.find((t) => t.name === initializer)!;
  const raw = new Uint8Array(tensor.rawData!);
  const view = new DataView(raw.buffer);
  view.setFloat32(index * 4, view.getFloat32(index * 4, true) + delta, true);
  tensor.rawData = raw;
  return encodeModel(model);
}

describe('verifyOnnx', () => {
  const model = randomModel([10], [...layers], 11);
  const bytes = exportOnnx(model, { name: 'verify', version: 1 });

  it('accepts a faithful export on seeded random rows', async () => {
    const result = await verifyOnnx(model, bytes, { seed: 1 });
    expect(result).toMatchObject({ ok: true, rowsChecked: 64, opset: 13, irVersion: 7, tolerance: DEFAULT_VERIFY_TOLERANCE });
    expect(result.error).toBeUndefined();
    expect(result.maxAbsDiff).toBeLessThanOrEqual(DEFAULT_VERIFY_TOLERANCE);
  });

  it('uses given held-out rows and rowCount', async () => {
    const rows = randomRows(50, model.inputSize, 3);
    expect(await verifyOnnx(model, bytes, { rows })).toMatchObject({ ok: true, rowsChecked: 50 });
    expect(await verifyOnnx(model, bytes, { rows, rowCount: 20 })).toMatchObject({ ok: true, rowsChecked: 20 });
    expect(await verifyOnnx(model, bytes, { rowCount: 5, seed: 9 })).toMatchObject({ ok: true, rowsChecked: 5 });
  });

  it('rejects an export whose weight was changed', async () => {
    const bad = corrupt(bytes, '0.kernel', 3, 0.5);
    const result = await verifyOnnx(model, bad);
    expect(result.ok).toBe(false);
    expect(result.maxAbsDiff).toBeGreaterThan(result.tolerance);
    expect(result.error).toMatch(/onnx .* vs engine/);
    expect(result.firstMismatch).toBeDefined();

    const slightlyOff = corrupt(bytes, '3.bias', 0, 1e-3);
    const small = await verifyOnnx(model, slightlyOff);
    expect(small.ok).toBe(false);
    expect(small.maxAbsDiff).toBeGreaterThan(small.tolerance);
  });

  it('rejects moving statistics that differ from the engine', async () => {
    const result = await verifyOnnx(model, corrupt(bytes, '1.moving_variance', 2, 0.3));
    expect(result.ok).toBe(false);
    expect(result.maxAbsDiff).toBeGreaterThan(result.tolerance);
  });

  it('rejects the export of another model', async () => {
    const other = randomModel([10], [...layers], 12);
    const result = await verifyOnnx(other, bytes);
    expect(result.ok).toBe(false);
    const wider = randomModel([10], [{ type: 'dense', units: 5 }]);
    const mismatch = await verifyOnnx(wider, bytes);
    expect(mismatch.ok).toBe(false);
    expect(mismatch.error).toMatch(/holds/);
  });

  it('returns ok:false with an error for bytes that are not a model, instead of throwing', async () => {
    const garbage = await verifyOnnx(model, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]));
    expect(garbage.ok).toBe(false);
    expect(garbage.error).toEqual(expect.any(String));
    const truncated = await verifyOnnx(model, bytes.subarray(0, Math.floor(bytes.length / 2)));
    expect(truncated.ok).toBe(false);
    expect(truncated.error).toEqual(expect.any(String));
    const noRows = await verifyOnnx(model, bytes, { rows: new Float32Array(15) });
    expect(noRows.ok).toBe(false);
    expect(noRows.error).toMatch(/rows/);
  });

  it('treats NaN outputs as a mismatch', async () => {
    const result = await verifyOnnx(model, corrupt(bytes, '0.bias', 0, Number.NaN));
    expect(result.ok).toBe(false);
    expect(result.maxAbsDiff).toBe(Number.POSITIVE_INFINITY);
  });

  it('scales the tolerance by the output magnitude above 1', async () => {
    // Linear outputs of 1000 ± 100: an export whose bias is 5e-3 off is beyond the absolute
    // bound (1e-5) but within 1e-5 relative to outputs this large; 5e-2 off is beyond both.
    const big = randomModel([8], [{ type: 'dense', units: 3 }], 5);
    for (const entry of big.weights) big.view(entry).forEach((v, i, a) => (a[i] = entry.name === 'bias' ? 1000 : v * 50));
    const bytes = exportOnnx(big, { name: 'big' });
    const near = await verifyOnnx(big, corrupt(bytes, '0.bias', 0, 5e-3));
    expect(near.ok).toBe(true);
    expect(near.maxAbsDiff).toBeGreaterThan(near.tolerance);
    const far = await verifyOnnx(big, corrupt(bytes, '0.bias', 0, 5e-2));
    expect(far.ok).toBe(false);
  });
});
