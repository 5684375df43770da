import type { TrainJobData } from './types.js';

/**
 * What the API needs from a queue backend. Embedded (child processes on this machine) and
 * BullMQ (workers anywhere, over Redis) implement it; routes and tests see only this.
 */
export interface JobQueue {
  readonly kind: 'embedded' | 'bullmq';
  /** Picks up work left by a previous run (queued jobs, interrupted ones) and starts workers. */
  start(): Promise<void>;
  enqueue(data: TrainJobData): Promise<void>;
  /** Removes a queued job or signals a running one to stop at its next batch boundary. */
  cancel(jobId: string): Promise<void>;
  /** Whether the queue can accept work (readiness). */
  isReady(): Promise<boolean>;
  /** Stops taking work; running epochs checkpoint and their jobs go back to the queue. */
  close(): Promise<void>;
}
