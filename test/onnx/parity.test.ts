/**
 * Every layer and activation the engine supports, exported and run in onnxruntime-node (with the
 * serving session options), must give the engine's outputs to within 1e-5.
 */
import type { InferenceSession } from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { ACTIVATIONS } from '../../src/engine/activations.js';
import type { LayerSpec } from '../../src/engine/spec.js';
import { createOnnxSession, exportOnnx, runOnnx, verifyOnnx } from '../../src/onnx/index.js';
import { compare, randomModel, randomRows } from './helpers.js';

const TOLERANCE = 1e-5;

interface Case {
  name: string;
  inputShape: number[];
  layers: LayerSpec[];
}

const cases: Case[] = [
  ...ACTIVATIONS.map((activation): Case => ({
    name: `dense activation ${activation}`,
    inputShape: [5],
    layers: [
      { type: 'dense', units: 7, activation },
      { type: 'dense', units: 4, activation },
    ],
  })),
  ...ACTIVATIONS.map((activation): Case => ({
    name: `activation layer ${activation}`,
    inputShape: [5],
    layers: [
      { type: 'dense', units: 6 },
      { type: 'activation', activation },
    ],
  })),
  ...ACTIVATIONS.map((activation): Case => ({
    // Rank-3 tensors: the activation (softmax above all) must act on the last axis.
    name: `activation layer ${activation} on [4, 3] rows`,
    inputShape: [4, 3],
    layers: [{ type: 'activation', activation }, { type: 'flatten' }, { type: 'dense', units: 2 }],
  })),
  { name: 'dense without bias', inputShape: [5], layers: [{ type: 'dense', units: 3, useBias: false }] },
  {
    name: 'dense without bias, relu then softmax',
    inputShape: [6],
    layers: [
      { type: 'dense', units: 8, useBias: false, activation: 'relu' },
      { type: 'dense', units: 3, useBias: false, activation: 'softmax' },
    ],
  },
  {
    name: 'batch_normalization with moving statistics, gamma and beta',
    inputShape: [5],
    layers: [{ type: 'dense', units: 6 }, { type: 'batch_normalization' }, { type: 'dense', units: 3, activation: 'softmax' }],
  },
  { name: 'batch_normalization as the first layer', inputShape: [5], layers: [{ type: 'batch_normalization', epsilon: 0.01 }] },
  { name: 'batch_normalization center false', inputShape: [5], layers: [{ type: 'batch_normalization', center: false }] },
  { name: 'batch_normalization scale false', inputShape: [5], layers: [{ type: 'batch_normalization', scale: false }] },
  {
    name: 'batch_normalization center and scale false',
    inputShape: [5],
    layers: [
      { type: 'batch_normalization', center: false, scale: false },
      { type: 'activation', activation: 'tanh' },
    ],
  },
  {
    name: 'batch_normalization on [4, 3] rows (channels last)',
    inputShape: [4, 3],
    layers: [{ type: 'batch_normalization' }, { type: 'flatten' }, { type: 'dense', units: 2 }],
  },
  {
    name: 'batch_normalization on [2, 3, 2] rows, center false',
    inputShape: [2, 3, 2],
    layers: [{ type: 'batch_normalization', center: false }, { type: 'activation', activation: 'gelu' }, { type: 'flatten' }],
  },
  {
    name: 'batch_normalization on [4, 3] rows, scale false',
    inputShape: [4, 3],
    layers: [{ type: 'batch_normalization', scale: false }, { type: 'flatten' }],
  },
  {
    name: 'dropout',
    inputShape: [5],
    layers: [
      { type: 'dense', units: 6, activation: 'relu' },
      { type: 'dropout', rate: 0.5 },
      { type: 'dense', units: 1, activation: 'sigmoid' },
    ],
  },
  { name: 'dropout alone (identity graph)', inputShape: [3], layers: [{ type: 'dropout', rate: 0.2 }] },
  { name: 'flatten on [4, 3] rows', inputShape: [4, 3], layers: [{ type: 'flatten' }, { type: 'dense', units: 5, activation: 'elu' }] },
  { name: 'flatten alone on [4, 3] rows', inputShape: [4, 3], layers: [{ type: 'flatten' }] },
  { name: 'flatten on 1-D rows (no-op)', inputShape: [5], layers: [{ type: 'flatten' }, { type: 'dense', units: 2 }] },
  {
    name: 'contract example: dense relu, dropout, dense softmax',
    inputShape: [20],
    layers: [
      { type: 'dense', units: 16, activation: 'relu' },
      { type: 'dropout', rate: 0.2 },
      { type: 'batch_normalization' },
      { type: 'dense', units: 16, activation: 'gelu' },
      { type: 'dense', units: 10, activation: 'softmax' },
    ],
  },
];

const sessions: InferenceSession[] = [];
afterAll(async () => {
  await Promise.all(sessions.map((s) => s.release()));
});

describe('ONNX export matches the engine', () => {
  it.each(cases)('$name', async ({ inputShape, layers }) => {
    const model = randomModel(inputShape, layers, 3);
    const bytes = exportOnnx(model, { name: 'parity', version: 1 });
    const session = await createOnnxSession(bytes);
    sessions.push(session);
    expect(session.inputNames).toEqual(['input']);
    expect(session.outputNames).toEqual(['output']);

    for (const rows of [1, 37]) {
      const x = randomRows(rows, model.inputSize, rows);
      const expected = model.predict(x, rows);
      const actual = await runOnnx(session, x, rows, model.inputShape);
      expect(actual.length).toBe(rows * model.outputSize);
      const { maxAbsDiff, first } = compare(actual, expected, TOLERANCE);
      const detail = first < 0 ? '' : `; first at ${first}: onnx ${actual[first]} vs engine ${expected[first]}`;
      expect(maxAbsDiff, `batch ${rows}: max abs diff ${maxAbsDiff}${detail}`).toBeLessThanOrEqual(TOLERANCE);
    }

    // The graph as written (no onnxruntime fusions such as its Gelu fusion) must match too.
    const plain = await createOnnxSession(bytes, { graphOptimizationLevel: 'disabled' });
    sessions.push(plain);
    const x = randomRows(37, model.inputSize, 99);
    const unfused = compare(await runOnnx(plain, x, 37, model.inputShape), model.predict(x, 37), TOLERANCE);
    expect(unfused.maxAbsDiff, 'without graph optimizations').toBeLessThanOrEqual(TOLERANCE);

    const verdict = await verifyOnnx(model, bytes, { seed: 5 });
    expect(verdict, JSON.stringify(verdict)).toMatchObject({ ok: true, rowsChecked: 64 });
  });
});
