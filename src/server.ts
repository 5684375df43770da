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
  if (app.kiln.apiKeys.length === 0) {
    const loopback = ['127.0.0.1', '::1', 'localhost'].includes(config.host);
    const message =
      'no API keys are configured (API_KEYS / API_KEYS_FILE): anyone who can reach this port can train, predict and delete models';
    if (loopback) app.log.warn(message);
    else app.log.error(`SECURITY: ${message}, and the server listens on ${config.host}, not only on loopback`);
  } else {
    app.log.info({ keys: app.kiln.apiKeys.map((k) => `${k.name} (${k.scope})`) }, 'API keys required on /v1');
  }
} catch (error) {
  app.log.error({ err: error }, 'could not start');
  process.exit(1);
}
