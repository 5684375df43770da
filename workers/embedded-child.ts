/**
 * A training child of the embedded queue: runs one job (argv[2]) and reports how it ended.
 * The parent may send `cancel` (stop at the next batch) or `drain` (finish the epoch,
 * checkpoint, hand the job back).
 */
import { pino } from 'pino';
import { loadConfig } from '../src/config.js';
import { setKernelThreads, useFusedMultiplyAdd } from '../src/engine/index.js';
import { createOnnxPublisher } from '../src/jobs/onnx-publisher.js';
import { runTrainingJob } from '../src/jobs/runner.js';
import { loggerOptions } from '../src/log.js';
import { CheckpointStore } from '../src/store/checkpoints.js';
import { DatasetStore } from '../src/store/datasets.js';
import { JobStore } from '../src/store/jobs.js';
import { ModelRegistry } from '../src/store/registry.js';

const config = loadConfig();
useFusedMultiplyAdd(config.kernelFma);
setKernelThreads(config.trainingThreads);
const jobId = process.argv[2]!;
const log = pino(loggerOptions(config)).child({ jobId, worker: 'embedded' });
let draining = false;
let cancelled = false;
process.on('message', (message: { type: string }) => {
  if (message.type === 'drain') draining = true;
  if (message.type === 'cancel') cancelled = true;
});
// The parent handles SIGINT/SIGTERM and tells us to drain; don't die on the terminal's signal.
process.on('SIGINT', () => (draining = true));
process.on('SIGTERM', () => (draining = true));

try {
  const outcome = await runTrainingJob(
    jobId,
    {
      jobs: new JobStore(config.dataDir),
      datasets: new DatasetStore(config.dataDir),
      checkpoints: new CheckpointStore(config.dataDir),
      registry: new ModelRegistry(config.dataDir),
      log,
      progressIntervalMs: config.progressIntervalMs,
      onnx: await createOnnxPublisher(config, log),
      maxTrainingSeconds: config.maxTrainingSeconds,
    },
    { draining: () => draining, cancelled: () => cancelled },
  );
  process.send?.({ type: 'outcome', outcome });
  process.disconnect?.();
} catch (error) {
  log.error({ err: error }, 'training attempt failed');
  process.exitCode = 1;
  process.disconnect?.();
}
