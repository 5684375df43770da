import { describe, expect, it } from 'vitest';
import { getLoss } from '../../src/engine/losses/index.js';
import { EPSILON } from '../../src/engine/losses/loss.js';
import { HUBER_DELTA } from '../../src/engine/losses/regression.js';
import { LOSSES, type LossName } from '../../src/engine/index.js';
import { expectAllClose, gradCheck } from '../helpers/gradcheck.js';
import { awayFromZero, mulberry32, randomLabels, uniformArray } from '../helpers/random.js';

const BATCH = 4;
const COLS = 3;

/** compute() returns the SUM over the batch; the gradient it writes is of the MEAN. */
function meanLoss(name: LossName, pred: Float64Array, target: Float64Array, batch = BATCH, cols = COLS): number {
  return getLoss(name).compute(null, pred, target, batch, cols) / batch;
}

function meanLossFromLogits(name: LossName, logits: Float64Array, target: Float64Array, batch = BATCH, cols = COLS): number {
  return getLoss(name).computeFromLogits!(null, logits, target, batch, cols) / batch;
}

function gradOf(name: LossName, pred: Float64Array, target: Float64Array, batch = BATCH, cols = COLS): Float64Array {
  const grad = new Float64Array(pred.length);
  getLoss(name).compute(grad, pred, target, batch, cols);
  return grad;
}

function gradFromLogits(name: LossName, logits: Float64Array, target: Float64Array, batch = BATCH, cols = COLS): Float64Array {
  const grad = new Float64Array(logits.length);
  getLoss(name).computeFromLogits!(grad, logits, target, batch, cols);
  return grad;
}

function softmaxRows(z: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(z.length);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += Math.exp(z[r * cols + j]!);
    for (let j = 0; j < cols; j++) out[r * cols + j] = Math.exp(z[r * cols + j]!) / sum;
  }
  return out;
}

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

/** Per-row sums of per-element values, averaged over the last axis (Keras reduces the last axis by mean). */
function sumOfRowMeans(values: number[], rows: number, cols: number): number {
  let total = 0;
  for (let r = 0; r < rows; r++) {
    let row = 0;
    for (let j = 0; j < cols; j++) row += values[r * cols + j]!;
    total += row / cols;
  }
  return total;
}

describe('losses', () => {
  it('covers the contract list', () => {
    expect([...LOSSES]).toEqual([
      'mse',
      'mae',
      'huber',
      'binary_crossentropy',
      'categorical_crossentropy',
      'sparse_categorical_crossentropy',
    ]);
    for (const name of LOSSES) expect(getLoss(name).name).toBe(name);
  });

  describe('mse', () => {
    const rand = mulberry32(11);
    const pred = uniformArray(BATCH * COLS, rand, -2, 2);
    const target = uniformArray(BATCH * COLS, rand, -2, 2);

    it('returns the batch sum of per-sample mean squared errors', () => {
      const sq = Array.from(pred, (p, i) => (p - target[i]!) ** 2);
      expect(getLoss('mse').compute(null, pred, target, BATCH, COLS)).toBeCloseTo(sumOfRowMeans(sq, BATCH, COLS), 14);
    });

    it('gradient of the batch mean matches finite differences', () => {
      gradCheck(gradOf('mse', pred, target), () => meanLoss('mse', pred, target), pred, { label: 'mse' });
    });
  });

  describe('mae', () => {
    const rand = mulberry32(12);
    const target = uniformArray(BATCH * COLS, rand, -2, 2);
    // Residuals kept away from 0, where |e| has a kink.
    const residual = awayFromZero(BATCH * COLS, rand, 0.05, 2);
    const pred = target.map((t, i) => t + residual[i]!);

    it('returns the batch sum of per-sample mean absolute errors', () => {
      const abs = Array.from(residual, (e) => Math.abs(e));
      expect(getLoss('mae').compute(null, pred, target, BATCH, COLS)).toBeCloseTo(sumOfRowMeans(abs, BATCH, COLS), 14);
    });

    it('gradient of the batch mean matches finite differences', () => {
      gradCheck(gradOf('mae', pred, target), () => meanLoss('mae', pred, target), pred, { label: 'mae' });
    });
  });

  describe('huber', () => {
    const rand = mulberry32(13);
    const target = uniformArray(BATCH * COLS, rand, -2, 2);
    // Half the residuals in the quadratic zone (|e| < 1), half in the linear one; none at |e| = 1.
    const residual = Float64Array.from(
      { length: BATCH * COLS },
      (_, i) => (i % 2 === 0 ? 0.2 + 0.6 * rand() : 1.3 + rand()) * (i % 3 === 0 ? -1 : 1),
    );
    const pred = target.map((t, i) => t + residual[i]!);

    it('uses Keras delta 1 and the quadratic/linear pieces', () => {
      expect(HUBER_DELTA).toBe(1);
      const per = Array.from(residual, (e) => (Math.abs(e) <= 1 ? 0.5 * e * e : Math.abs(e) - 0.5));
      expect(getLoss('huber').compute(null, pred, target, BATCH, COLS)).toBeCloseTo(sumOfRowMeans(per, BATCH, COLS), 14);
    });

    it('gradient of the batch mean matches finite differences in both zones', () => {
      gradCheck(gradOf('huber', pred, target), () => meanLoss('huber', pred, target), pred, { label: 'huber' });
    });
  });

  describe('binary_crossentropy', () => {
    const rand = mulberry32(14);
    const pred = uniformArray(BATCH * COLS, rand, 0.05, 0.95);
    // Hard and soft targets.
    const target = Float64Array.from({ length: BATCH * COLS }, (_, i) => (i % 3 === 2 ? 0.3 : i % 2));
    const logits = uniformArray(BATCH * COLS, rand, -4, 4);

    it('on probabilities: batch sum of per-sample mean −[y·log p + (1−y)·log(1−p)]', () => {
      const per = Array.from(pred, (p, i) => -(target[i]! * Math.log(p) + (1 - target[i]!) * Math.log(1 - p)));
      expect(getLoss('binary_crossentropy').compute(null, pred, target, BATCH, COLS)).toBeCloseTo(sumOfRowMeans(per, BATCH, COLS), 13);
    });

    it('on probabilities: gradient matches finite differences', () => {
      gradCheck(gradOf('binary_crossentropy', pred, target), () => meanLoss('binary_crossentropy', pred, target), pred, {
        label: 'bce',
      });
    });

    it('fused with sigmoid: value equals the loss of sigmoid(z)', () => {
      const probs = logits.map(sigmoid);
      expect(getLoss('binary_crossentropy').computeFromLogits!(null, logits, target, BATCH, COLS)).toBeCloseTo(
        getLoss('binary_crossentropy').compute(null, probs, target, BATCH, COLS),
        12,
      );
      expect(getLoss('binary_crossentropy').fusedActivation).toBe('sigmoid');
    });

    it('fused with sigmoid: gradient wrt logits matches finite differences of the fused and of the plain path', () => {
      const analytic = gradFromLogits('binary_crossentropy', logits, target);
      gradCheck(analytic, () => meanLossFromLogits('binary_crossentropy', logits, target), logits, { label: 'bce logits' });
      gradCheck(analytic, () => meanLoss('binary_crossentropy', logits.map(sigmoid), target), logits, { label: 'bce via sigmoid' });
    });

    it('stays finite at saturated probabilities and huge logits', () => {
      const p = new Float64Array([0, 1, 1, 0]);
      const y = new Float64Array([1, 0, 1, 0]);
      const grad = new Float64Array(4);
      const total = getLoss('binary_crossentropy').compute(grad, p, y, 4, 1);
      // Clipped to [ε, 1−ε] as Keras does: two samples cost −log ε, two cost −log(1−ε).
      expect(total).toBeCloseTo(-2 * Math.log(EPSILON) - 2 * Math.log(1 - EPSILON), 6);
      for (const g of grad) expect(Number.isFinite(g)).toBe(true);
      const z = new Float64Array([1000, -1000, 1000, -1000]);
      const wrong = new Float64Array([0, 1, 1, 0]);
      const gz = new Float64Array(4);
      // Two confidently wrong samples cost |z| = 1000 each, two right ones cost 0.
      const fused = getLoss('binary_crossentropy').computeFromLogits!(gz, z, wrong, 4, 1);
      expect(fused).toBeCloseTo(2000, 9);
      expectAllClose(gz, [0.25, -0.25, 0, 0], { atol: 1e-300, rtol: 1e-15, label: 'bce grad at huge logits' });
    });
  });

  describe('categorical_crossentropy', () => {
    const rand = mulberry32(15);
    // Positive outputs that do not sum to 1, so Keras's renormalization is exercised too.
    const pred = uniformArray(BATCH * COLS, rand, 0.1, 1);
    const target = new Float64Array([1, 0, 0, 0, 0, 1, 0.2, 0.5, 0.3, 0, 1, 0]);
    const logits = uniformArray(BATCH * COLS, rand, -3, 3);

    it('on probabilities: renormalizes each row, then −Σ y·log p', () => {
      let expected = 0;
      for (let r = 0; r < BATCH; r++) {
        let sum = 0;
        for (let j = 0; j < COLS; j++) sum += pred[r * COLS + j]!;
        for (let j = 0; j < COLS; j++) expected -= target[r * COLS + j]! * Math.log(pred[r * COLS + j]! / sum);
      }
      expect(getLoss('categorical_crossentropy').compute(null, pred, target, BATCH, COLS)).toBeCloseTo(expected, 13);
    });

    it('on probabilities: gradient matches finite differences (through the renormalization)', () => {
      gradCheck(gradOf('categorical_crossentropy', pred, target), () => meanLoss('categorical_crossentropy', pred, target), pred, {
        label: 'cce',
      });
    });

    it('fused with softmax: value is logsumexp(z) − Σ y·z and equals the loss of softmax(z)', () => {
      let expected = 0;
      for (let r = 0; r < BATCH; r++) {
        let sumExp = 0;
        for (let j = 0; j < COLS; j++) sumExp += Math.exp(logits[r * COLS + j]!);
        for (let j = 0; j < COLS; j++) expected += target[r * COLS + j]! * (Math.log(sumExp) - logits[r * COLS + j]!);
      }
      const fused = getLoss('categorical_crossentropy').computeFromLogits!(null, logits, target, BATCH, COLS);
      expect(fused).toBeCloseTo(expected, 13);
      expect(fused).toBeCloseTo(
        getLoss('categorical_crossentropy').compute(null, softmaxRows(logits, BATCH, COLS), target, BATCH, COLS),
        12,
      );
      expect(getLoss('categorical_crossentropy').fusedActivation).toBe('softmax');
    });

    it('fused with softmax: gradient wrt logits matches finite differences of the fused and of the plain path', () => {
      const analytic = gradFromLogits('categorical_crossentropy', logits, target);
      gradCheck(analytic, () => meanLossFromLogits('categorical_crossentropy', logits, target), logits, { label: 'cce logits' });
      gradCheck(analytic, () => meanLoss('categorical_crossentropy', softmaxRows(logits, BATCH, COLS), target), logits, {
        label: 'cce via softmax',
      });
    });

    it('fused path is stable for huge logits', () => {
      const z = new Float64Array([1000, 0, -1000]);
      const grad = new Float64Array(3);
      const total = getLoss('categorical_crossentropy').computeFromLogits!(grad, z, new Float64Array([0, 1, 0]), 1, 3);
      expect(total).toBeCloseTo(1000, 9);
      expectAllClose(grad, [1, -1, 0], { atol: 1e-300, rtol: 1e-15, label: 'cce grad at huge logits' });
    });
  });

  describe('sparse_categorical_crossentropy', () => {
    const rand = mulberry32(16);
    const pred = uniformArray(BATCH * COLS, rand, 0.1, 1);
    const labels = randomLabels(BATCH, COLS, rand);
    const logits = uniformArray(BATCH * COLS, rand, -3, 3);
    const oneHot = new Float64Array(BATCH * COLS);
    labels.forEach((label, r) => (oneHot[r * COLS + label] = 1));

    it('takes one integer label per row', () => {
      expect(getLoss('sparse_categorical_crossentropy').targetWidth(COLS)).toBe(1);
      expect(getLoss('categorical_crossentropy').targetWidth(COLS)).toBe(COLS);
    });

    it('on probabilities: equals categorical crossentropy of the one-hot labels, gradient included', () => {
      expect(getLoss('sparse_categorical_crossentropy').compute(null, pred, labels, BATCH, COLS)).toBeCloseTo(
        getLoss('categorical_crossentropy').compute(null, pred, oneHot, BATCH, COLS),
        13,
      );
      expectAllClose(gradOf('sparse_categorical_crossentropy', pred, labels), gradOf('categorical_crossentropy', pred, oneHot), {
        rtol: 1e-13,
        atol: 1e-15,
        label: 'sparse vs one-hot grad',
      });
    });

    it('on probabilities: gradient matches finite differences', () => {
      gradCheck(
        gradOf('sparse_categorical_crossentropy', pred, labels),
        () => meanLoss('sparse_categorical_crossentropy', pred, labels),
        pred,
        {
          label: 'sparse cce',
        },
      );
    });

    it('fused with softmax: value equals the loss of softmax(z)', () => {
      let expected = 0;
      for (let r = 0; r < BATCH; r++) {
        let sumExp = 0;
        for (let j = 0; j < COLS; j++) sumExp += Math.exp(logits[r * COLS + j]!);
        expected += Math.log(sumExp) - logits[r * COLS + labels[r]!]!;
      }
      expect(getLoss('sparse_categorical_crossentropy').computeFromLogits!(null, logits, labels, BATCH, COLS)).toBeCloseTo(expected, 13);
    });

    it('fused with softmax: gradient wrt logits matches finite differences of the fused and of the plain path', () => {
      const analytic = gradFromLogits('sparse_categorical_crossentropy', logits, labels);
      gradCheck(analytic, () => meanLossFromLogits('sparse_categorical_crossentropy', logits, labels), logits, {
        label: 'sparse logits',
      });
      gradCheck(analytic, () => meanLoss('sparse_categorical_crossentropy', softmaxRows(logits, BATCH, COLS), labels), logits, {
        label: 'sparse via softmax',
      });
    });
  });

  describe.each([...LOSSES])('%s reduction', (name) => {
    it('returns a sum over samples while the gradient is of the mean', () => {
      const rand = mulberry32(17);
      const sparse = name === 'sparse_categorical_crossentropy';
      const pred = uniformArray(2 * COLS, rand, 0.1, 0.9);
      const target = sparse ? new Float64Array([2, 0]) : Float64Array.from({ length: 2 * COLS }, (_, i) => (i % COLS === 1 ? 1 : 0));
      // The same two rows twice: the returned sum doubles, each gradient entry halves.
      const width = sparse ? 1 : COLS;
      const pred2 = new Float64Array(4 * COLS);
      pred2.set(pred);
      pred2.set(pred, 2 * COLS);
      const target2 = new Float64Array(4 * width);
      target2.set(target);
      target2.set(target, 2 * width);
      const loss = getLoss(name);
      const g1 = new Float64Array(2 * COLS);
      const g2 = new Float64Array(4 * COLS);
      const s1 = loss.compute(g1, pred, target, 2, COLS);
      const s2 = loss.compute(g2, pred2, target2, 4, COLS);
      expect(s1).toBeGreaterThan(0);
      expect(s2).toBeCloseTo(2 * s1, 12);
      expectAllClose(
        g2.subarray(0, 2 * COLS),
        g1.map((g) => g / 2),
        { rtol: 1e-14, atol: 1e-16, label: `${name} grad scaling` },
      );
    });
  });
});
