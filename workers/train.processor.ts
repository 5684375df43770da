/**
 * The BullMQ sandboxed processor: BullMQ forks a child process, imports this file and calls the
 * default export with each job. All training work is runTrainingJob's; this file maps the
 * worker's signals onto it and its outcome back onto BullMQ:
 *
 * - abort reason `kiln:cancel` → stop at the next batch, job cancelled, no model;
 * - abort reason `kiln:drain` (worker shutting down) or SIGTERM/SIGINT here → finish the epoch,
 *   checkpoint, move the job back to `wait` so another worker resumes it right away;
 * - abort reason `kiln:lock-lost` → stop writing at once (another worker may own the job);
 * - a user error → UnrecoverableError (failed once, never retried); any other error is thrown
 *   as is, and BullMQ retries it with backoff.
 */
import { UnrecoverableError, WaitingError, type SandboxedJob } from 'bullmq';
import { pino } from 'pino';
import { loadConfig } from '../src/config.js';
import { setKernelThreads, useFusedMultiplyAdd } from '../src/engine/index.js';
import { AttemptLease, FencedError, fencedRunnerDeps, type TrainResult } from '../src/jobs/bullmq.js';
import { createOnnxPublisher } from '../src/jobs/onnx-publisher.js';
import { STOP_REASONS } from '../src/jobs/redis.js';
import { runTrainingJob, type RunControl } from '../src/jobs/runner.js';
import type { TrainJobData } from '../src/jobs/types.js';
import { loggerOptions } from '../src/log.js';
import { isValidId } from '../src/store/ids.js';
import { JobStore } from '../src/store/jobs.js';

const config = loadConfig();
useFusedMultiplyAdd(config.kernelFma);
setKernelThreads(config.trainingThreads);
const workerName = config.workerName ?? `sandbox:${process.pid}`;
const log = pino(loggerOptions(config)).child({ worker: workerName });
const jobs = new JobStore(config.dataDir);
const onnx = createOnnxPublisher(config, log);

let signalled = false;
if (process.env['KILN_SANDBOX'] === '1') {
  // BullMQ's child wrapper also hears these and exits once the current job returns.
  process.on('SIGTERM', () => (signalled = true));
  process.on('SIGINT', () => (signalled = true));
  // The worker process died (SIGKILL, OOM): its lock will lapse and another worker will resume
  // the job from its checkpoint, so this orphaned attempt must stop now, not train alongside.
  process.on('disconnect', () => {
    log.warn('the worker process is gone; abandoning this attempt');
    process.exit(1);
  });
}

export default async function trainProcessor(
  job: SandboxedJob<TrainJobData, TrainResult>,
  token?: string,
  signal?: AbortSignal,
): Promise<TrainResult> {
  const jobId = job.data?.jobId;
  if (typeof jobId !== 'string' || !isValidId(jobId)) throw new UnrecoverableError(`invalid job data ${JSON.stringify(job.data)}`);
  const jobLog = log.child({ jobId, attempt: job.attemptsStarted });

  const lease = new AttemptLease(jobs, jobId, { worker: workerName, bullToken: token ?? null });
  const reason = (): unknown => (signal?.aborted ? signal.reason : undefined);
  signal?.addEventListener('abort', () => {
    if (signal.reason === STOP_REASONS.lockLost) lease.revoke('the worker lost the job lock');
  });
  const control: RunControl = {
    draining: () => signalled || reason() === STOP_REASONS.drain,
    // A lost lock stops the attempt like a cancel would, but its writes are fenced, so the
    // record is left to whichever attempt owns the job now.
    cancelled: () => reason() === STOP_REASONS.cancel || lease.revoked,
  };

  await lease.take();
  let outcome: TrainResult['outcome'];
  try {
    outcome = await runTrainingJob(
      jobId,
      fencedRunnerDeps(config.dataDir, lease, {
        log: jobLog,
        progressIntervalMs: config.progressIntervalMs,
        onnx: await onnx,
        maxTrainingSeconds: config.maxTrainingSeconds,
      }),
      control,
    );
  } catch (error) {
    if (error instanceof FencedError) {
      jobLog.warn({ reason: error.message }, 'attempt fenced off');
      throw new Error(error.message);
    }
    throw error;
  }

  switch (outcome) {
    case 'requeued':
      // Checkpointed at an epoch boundary: straight back to `wait`, no stall timeout.
      jobLog.info('handing the job back to the queue');
      await job.moveToWait(token);
      throw new WaitingError();
    case 'failed': {
      const record = await jobs.get(jobId);
      await lease.release();
      throw new UnrecoverableError(`${record?.error?.code ?? 'failed'}: ${record?.error?.message ?? 'the job failed'}`);
    }
    default:
      await lease.release();
      return { outcome };
  }
}
