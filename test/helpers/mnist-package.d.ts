/** Types for the `mnist` package (CommonJS, no bundled typings), as far as the tests use it. */
declare module 'mnist' {
  interface MnistDigit {
    readonly id: number;
    /** Number of samples of this digit. */
    readonly length: number;
    /** One 28×28 image as 784 floats in [0, 1], row-major. */
    get(index: number): number[];
    /** Samples start..end, both inclusive (end is clamped to length − 1). */
    range(start: number, end: number): number[][];
  }
  interface Mnist {
    readonly [digit: number]: MnistDigit;
    readonly length: number;
  }
  const mnist: Mnist;
  export default mnist;
}
