/**
 * `npm run worker`: training workers without the API. Takes jobs from the BullMQ queue at
 * REDIS_URL, WORKER_CONCURRENCY at a time (each in its own child process), and trains them into
 * DATA_DIR, which it shares with the API. Run as many as you like, here or on other machines.
 * SIGTERM or SIGINT: running jobs finish their epoch, checkpoint, go back to the queue for
 * another worker, and the process exits 0.
 */
import closeWithGrace from 'close-with-grace';
import { pino } from 'pino';
import { ConfigError, loadConfig, type Config } from '../src/config.js';
import { TrainingWorker } from '../src/jobs/bullmq.js';
import { redactRedisUrl } from '../src/jobs/redis.js';
import { loggerOptions } from '../src/log.js';
import { JobStore } from '../src/store/jobs.js';

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`kiln worker: ${error.message}`);
    process.exit(2);
  }
  throw error;
}
if (!config.redisUrl) {
  console.error('kiln worker: REDIS_URL is not set; workers take their jobs from Redis (without it, `npm start` trains in-process)');
  process.exit(2);
}

const log = pino(loggerOptions(config));
const worker = new TrainingWorker({
  config,
  jobs: new JobStore(config.dataDir),
  log,
  concurrency: Math.max(1, config.workerConcurrency),
});

closeWithGrace({ delay: config.shutdownGraceMs + 5_000, logger: { error: (m: unknown) => log.error(m) } }, async ({ signal, err }) => {
  if (err) log.error({ err }, 'worker closing after an error');
  else log.info({ signal }, 'worker shutting down: running epochs checkpoint and go back to the queue');
  await worker.close();
});

await worker.worker.waitUntilReady();
log.info(
  { worker: worker.name, redis: redactRedisUrl(config.redisUrl), prefix: config.redisPrefix, dataDir: config.dataDir },
  'kiln worker is ready',
);
