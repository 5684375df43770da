/**
 * Server-side batching of engine predictions, with no added wait. Requests that reach the
 * predictor in the same turn of the event loop are queued; one `setImmediate` later (right after
 * that turn's I/O callbacks) they run as one forward pass of their model, and their responses
 * leave back to back. A request alone still runs in the turn it arrived in, so a lone client meets no
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
  /** Exactly `rows` rows of the model's width (a predict request's matrix). */
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
 * Most input values one gathered pass copies (4 MiB of float32). The gathering buffer is sized
 * for the largest pass a model can have, once, and stays allocated with the model (wasm memory
 * never shrinks), so wide rows must not make it large.
 */
const MAX_PASS_VALUES = 1 << 20;

export class PredictBatcher {
  /** Requests waiting, per model, in arrival order; models in the order they are served. */
  private readonly queues = new Map<Sequential, Waiter[]>();
  private scheduled = false;
  readonly stats: BatchStats = { passes: 0, requests: 0, largest: 0 };

  /**
   * @param passRows most rows one pass gathers (fewer for rows wider than 4,096 values, so a pass
   *   copies at most 4 MiB); a request with more runs in a pass of its own
   */
  constructor(private readonly passRows: number) {}

  /** The model's outputs for `rows` rows of `x`, (rows, outputSize). */
  predict(model: Sequential, x: Float32Array, rows: number): Promise<Float32Array> {
    return new Promise<Float32Array>((resolve, reject) => {
      const queue = this.queues.get(model);
      if (queue) queue.push({ x, rows, resolve, reject });
      else this.queues.set(model, [{ x, rows, resolve, reject }]);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.next);
  }

  /** Most rows a pass of this model gathers. */
  private capacity(model: Sequential): number {
    return Math.max(1, Math.min(this.passRows, Math.floor(MAX_PASS_VALUES / model.inputSize)));
  }

  /**
   * One pass per turn: its answers are written before the next pass runs, so a small request is
   * not held back by another model's large pass. Models take turns; each pass takes the oldest
   * requests of its model that fit.
   */
  private readonly next = (): void => {
    this.scheduled = false;
    const first = this.queues.entries().next();
    if (first.done) return;
    const [model, waiters] = first.value;
    const capacity = this.capacity(model);
    let end = 1;
    let rows = waiters[0]!.rows;
    while (end < waiters.length && rows + waiters[end]!.rows <= capacity) rows += waiters[end++]!.rows;
    const batch = waiters.splice(0, end);
    // The model goes to the back of the line, with what is left of its queue.
    this.queues.delete(model);
    if (waiters.length > 0) this.queues.set(model, waiters);
    if (this.queues.size > 0) this.schedule();
    this.pass(model, batch, rows, capacity);
  };

  private pass(model: Sequential, waiters: Waiter[], rows: number, capacity: number): void {
    this.stats.passes++;
    this.stats.requests += waiters.length;
    if (waiters.length > this.stats.largest) this.stats.largest = waiters.length;
    try {
      if (waiters.length === 1) {
        const w = waiters[0]!;
        w.resolve(model.predict(w.x, w.rows) as Float32Array);
        return;
      }
      const width = model.inputSize;
      // Always the capacity, so the buffer is allocated once at its final size.
      const x = model.inputRows(capacity).subarray(0, rows * width);
      let offset = 0;
      for (const w of waiters) {
        x.set(w.x, offset);
        offset += w.x.length;
      }
      const out = model.predict(x, rows) as Float32Array;
      const outWidth = model.outputSize;
      let row = 0;
      for (const w of waiters) {
        w.resolve(out.subarray(row * outWidth, (row + w.rows) * outWidth));
        row += w.rows;
      }
    } catch (error) {
      for (const w of waiters) w.reject(error);
    }
  }
}
