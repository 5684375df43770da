/**
 * Server-side batching of engine predictions, with no added wait. Requests that reach the
 * predictor in the same turn of the event loop are queued; one `setImmediate` later (right after
 * that turn's I/O callbacks) each model runs them as one forward pass, and their responses leave
 * back to back. A request alone still runs in the turn it arrived in, so a lone client meets no
 * timer and no latency floor, unlike batching that waits for a batch to fill (TF Serving's
 * batch_timeout_micros).
 *
 * Under concurrent load this is what keeps one core serving: one 10-row pass costs less than ten
 * 1-row passes, and ten responses written together wake the clients' side once, where each lone
 * write paid for a wake-up (on a VM, an inter-processor interrupt into the hypervisor).
 *
 * A row's outputs do not depend on the rows batched with it: the kernels compute each output row
 * with the same operations in the same order whatever the row count (kernels test, "a row alone
 * is bit for bit the same row in a batch"), so a batched answer is the answer alone, bit for bit.
 */
import type { Sequential } from '../../engine/index.js';

interface Waiter {
  x: Float32Array;
  rows: number;
  resolve: (out: Float32Array) => void;
  reject: (error: unknown) => void;
}

export interface BatchStats {
  /** Forward passes run (a pass for one request counts). */
  passes: number;
  /** Requests answered by those passes. */
  requests: number;
  /** Most requests answered by one pass. */
  largest: number;
}

/**
 * Most input values one gathered pass copies (4 MiB of float32): the gathering buffer stays
 * allocated with its model, so a burst of wide rows must not leave a large one behind.
 */
const MAX_PASS_VALUES = 1 << 20;

export class PredictBatcher {
  private queues = new Map<Sequential, Waiter[]>();
  private scheduled = false;
  readonly stats: BatchStats = { passes: 0, requests: 0, largest: 0 };

  /**
   * @param maxRows most rows one pass gathers (fewer for rows wider than 4,096 values, so a pass
   *   copies at most 4 MiB); a request with more runs in a pass of its own
   */
  constructor(private readonly maxRows: number) {}

  /** The model's outputs for `rows` rows of `x`, (rows, outputSize). */
  predict(model: Sequential, x: Float32Array, rows: number): Promise<Float32Array> {
    return new Promise<Float32Array>((resolve, reject) => {
      const queue = this.queues.get(model);
      if (queue) queue.push({ x, rows, resolve, reject });
      else this.queues.set(model, [{ x, rows, resolve, reject }]);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.flush);
      }
    });
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const queues = this.queues;
    this.queues = new Map();
    for (const [model, waiters] of queues) {
      const maxRows = Math.max(1, Math.min(this.maxRows, Math.floor(MAX_PASS_VALUES / model.inputSize)));
      // Arrival order, each pass as many requests as fit in maxRows.
      let start = 0;
      while (start < waiters.length) {
        let end = start + 1;
        let rows = waiters[start]!.rows;
        while (end < waiters.length && rows + waiters[end]!.rows <= maxRows) rows += waiters[end++]!.rows;
        this.pass(model, waiters, start, end, rows);
        start = end;
      }
    }
  };

  private pass(model: Sequential, waiters: Waiter[], start: number, end: number, rows: number): void {
    const count = end - start;
    this.stats.passes++;
    this.stats.requests += count;
    if (count > this.stats.largest) this.stats.largest = count;
    try {
      if (count === 1) {
        const w = waiters[start]!;
        w.resolve(model.predict(w.x, w.rows) as Float32Array);
        return;
      }
      const width = model.inputSize;
      const x = model.inputRows(rows);
      let offset = 0;
      for (let i = start; i < end; i++) {
        const w = waiters[i]!;
        x.set(w.x.length === w.rows * width ? w.x : w.x.subarray(0, w.rows * width), offset);
        offset += w.rows * width;
      }
      const out = model.predict(x, rows) as Float32Array;
      const outWidth = model.outputSize;
      let row = 0;
      for (let i = start; i < end; i++) {
        const w = waiters[i]!;
        w.resolve(out.subarray(row * outWidth, (row + w.rows) * outWidth));
        row += w.rows;
      }
    } catch (error) {
      for (let i = start; i < end; i++) waiters[i]!.reject(error);
    }
  }
}
