/**
 * Embedded queue (REDIS_URL unset): jobs wait in memory, ordered as submitted, and each runs in
 * its own child process so training never blocks the API's event loop. Records on disk make it
 * restart-safe: on start, queued jobs are queued again and interrupted ones resume from their
 * last checkpoint.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import type { JobStore } from '../store/jobs.js';
import { childEntry } from './child-entry.js';
import type { JobQueue } from './queue.js';
import type { TrainJobData } from './types.js';

export interface EmbeddedQueueOptions {
  dataDir: string;
  concurrency: number;
  maxAttempts: number;
  shutdownGraceMs: number;
  jobs: JobStore;
  log: Logger;
  /** Environment for the training children (the parent's, plus DATA_DIR). */
  env?: NodeJS.ProcessEnv;
}

/** Messages from a training child. */
export type ChildMessage = { type: 'outcome'; outcome: string };

export class EmbeddedQueue implements JobQueue {
  readonly kind = 'embedded' as const;
  private readonly pending: string[] = [];
  private readonly running = new Map<string, ChildProcess>();
  private closing = false;
  private readonly exits = new Set<Promise<void>>();

  constructor(private readonly options: EmbeddedQueueOptions) {}

  async start(): Promise<void> {
    const { jobs, log } = this.options;
    const ids = (await jobs.ids()).sort();
    let resumed = 0;
    for (const id of ids) {
      const record = await jobs.get(id);
      if (!record) continue;
      if (record.status === 'running') {
        await jobs.update(id, (r) => {
          r.status = 'queued';
        });
        resumed++;
        this.pending.push(id);
      } else if (record.status === 'queued') {
        this.pending.push(id);
      }
    }
    if (this.pending.length > 0) log.info({ queued: this.pending.length, resumed }, 'recovered jobs from a previous run');
    this.pump();
  }

  async enqueue(data: TrainJobData): Promise<void> {
    if (this.closing) throw new Error('queue is shutting down');
    this.pending.push(data.jobId);
    this.pump();
  }

  async cancel(jobId: string): Promise<void> {
    const index = this.pending.indexOf(jobId);
    if (index >= 0) this.pending.splice(index, 1);
    const child = this.running.get(jobId);
    if (child) tell(child, 'cancel');
  }

  async isReady(): Promise<boolean> {
    return !this.closing;
  }

  private pump(): void {
    while (!this.closing && this.running.size < this.options.concurrency && this.pending.length > 0) {
      this.launch(this.pending.shift()!);
    }
  }

  private launch(jobId: string): void {
    const { log, jobs } = this.options;
    const entry = childEntry('../../workers/embedded-child');
    const child = fork(entry.file, [jobId], {
      execArgv: [...entry.execArgv, '--max-old-space-size=2048'],
      env: { ...(this.options.env ?? process.env), DATA_DIR: this.options.dataDir },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    this.running.set(jobId, child);
    let outcome: string | null = null;
    child.on('message', (message: ChildMessage) => {
      if (message.type === 'outcome') outcome = message.outcome;
    });
    const exited = new Promise<void>((resolve) => {
      child.on('exit', (code, signal) => {
        this.running.delete(jobId);
        void (async () => {
          if (outcome === null && !this.closing) {
            // The child died without an answer (crash, OOM, kill): retry from the checkpoint.
            log.error({ jobId, code, signal }, 'training process exited unexpectedly');
            const record = await jobs.get(jobId);
            if (record && (record.status === 'running' || record.status === 'queued')) {
              if (record.attempts < this.options.maxAttempts) {
                await jobs.update(jobId, (r) => {
                  r.status = 'queued';
                });
                this.pending.push(jobId);
              } else {
                await jobs.update(jobId, (r) => {
                  r.status = 'failed';
                  r.finishedAt = new Date().toISOString();
                  r.error = {
                    code: 'worker_crashed',
                    message: `the training process exited (${signal ?? `code ${code}`}) ${r.attempts} times`,
                  };
                });
              }
            }
          }
          if (outcome === 'requeued' && !this.closing) this.pending.push(jobId);
          this.pump();
        })()
          .catch((error: unknown) => log.error({ err: error, jobId }, 'could not settle a finished job'))
          .finally(resolve);
      });
    });
    this.exits.add(exited);
    void exited.then(() => this.exits.delete(exited));
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.pending.length = 0;
    for (const child of this.running.values()) tell(child, 'drain');
    const deadline = new Promise<'timeout'>((resolve) => {
      const timer = setTimeout(() => resolve('timeout'), this.options.shutdownGraceMs);
      timer.unref();
    });
    const all = Promise.all([...this.exits]).then(() => 'done' as const);
    if ((await Promise.race([all, deadline])) === 'timeout') {
      this.options.log.warn({ jobs: [...this.running.keys()] }, 'shutdown grace elapsed; stopping training processes');
      for (const child of this.running.values()) child.kill('SIGKILL');
      await all;
    }
  }
}

/** Sends a control message unless the child already closed its channel (it is exiting). */
function tell(child: ChildProcess, type: 'cancel' | 'drain'): void {
  if (!child.connected) return;
  // A child that exits between the check and the write gives EPIPE or a closed channel; its exit
  // handler settles the job either way, so the error carries no news.
  child.send({ type }, () => undefined);
}
