/** The job lifecycle contract against the embedded queue (REDIS_URL unset). */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { TEST_ENV } from './helpers.js';
import { jobLifecycleSuite } from './lifecycle.js';

jobLifecycleSuite({
  name: 'embedded',
  async create() {
    const dataDir = await mkdtemp(join(tmpdir(), 'kiln-embedded-'));
    const config = { ...loadConfig(TEST_ENV), dataDir, redisUrl: null, workerConcurrency: 1, progressIntervalMs: 50, logLevel: 'warn' };
    const app = await buildApp(config, { logger: false });
    await app.ready();
    return {
      app,
      async close() {
        await app.close();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  },
});
