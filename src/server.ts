/**
 * The process entry (`npm start`): the API plus WORKER_CONCURRENCY training workers. SIGTERM or
 * SIGINT stops accepting requests, lets running epochs checkpoint, and exits.
 */
import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';

let config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`kiln: ${error.message}`);
    process.exit(2);
  }
  throw error;
}

const app = await buildApp(config);
closeWithGrace({ delay: config.shutdownGraceMs + 5_000 }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'closing after an error');
  else app.log.info({ signal }, 'shutting down: running epochs checkpoint, then exit');
  await app.close();
});

try {
  await app.listen({ port: config.port, host: config.host });
  app.log.info({ dataDir: config.dataDir, queue: app.kiln.queue.kind, workers: config.workerConcurrency, docs: `/docs` }, 'kiln is ready');
} catch (error) {
  app.log.error({ err: error }, 'could not start');
  process.exit(1);
}
