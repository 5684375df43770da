/**
 * The Kiln API under test: the real Fastify app from `buildApp`, listening on 127.0.0.1 on a
 * free port, forked by bench/http.ts with an IPC channel. It is never run by hand.
 *
 *   argv[2]: DATA_DIR (created by the driver, which also removes it)
 *   argv[3]: JSON of Config overrides (e.g. rate limit off, WORKER_CONCURRENCY)
 *   argv[4]: optional root of a compiled build (tsc output with src/ and workers/): the app is
 *            then loaded from there, and the embedded queue forks the compiled training child
 *            with plain node, as `npm start` does, instead of the TypeScript one through tsx
 *
 * Besides the app's own routes it registers `GET /bench/empty` (an empty JSON object), and a
 * `POST /bench/empty` that reads an application/octet-stream body and answers the same, on the
 * same instance before `ready()`, so the empty route goes through the same hooks (security
 * headers, load shedding, auth, request ids) as /predict. IPC messages:
 *   → { type: 'ready', port }                      once listening
 *   ← { type: 'memory', gc }  → { type: 'memory', … }  RSS and heap (after a full GC if gc), and
 *                                                  the predict batching counters
 *   ← { type: 'close' }                            closes the app (draining the queue) and exits
 * The driver runs this file with --expose-gc, so `gc` forces a full collection.
 */
import { pathToFileURL } from 'node:url';
import type { BatchStats } from '../src/api/services/predict-batcher.js';
import type { Config } from '../src/config.js';

export interface ServerMemory {
  type: 'memory';
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  gc: boolean;
  runningJobs: number;
  /** The predictor's server-side batching counters since start; null when batching is off. */
  batching: BatchStats | null;
}

export type ServerMessage = { type: 'ready'; port: number } | ServerMemory | { type: 'closed' };
export type DriverMessage = { type: 'memory'; gc: boolean } | { type: 'close' };

const dataDir = process.argv[2];
if (!dataDir || !process.send) throw new Error('bench/server.ts is forked by bench/http.ts with a DATA_DIR and an IPC channel');
const overrides = JSON.parse(process.argv[3] ?? '{}') as Partial<Config>;
const compiledRoot = process.argv[4];
const from = (module: string): string =>
  compiledRoot ? pathToFileURL(`${compiledRoot}/src/${module}.js`).href : new URL(`../src/${module}.js`, import.meta.url).href;
const { buildApp } = (await import(from('app'))) as typeof import('../src/app.js');
const { loadConfig } = (await import(from('config'))) as typeof import('../src/config.js');
const config: Config = { ...loadConfig({}), ...overrides, dataDir, host: '127.0.0.1', port: 0 };
const send = (message: ServerMessage): void => {
  process.send?.(message);
};

const app = await buildApp(config, { logger: false });
app.get('/bench/empty', async () => ({}));
// The same empty answer to a POST of the binary predict body (read whole, as predict's parser
// reads it, then dropped): what receiving that body costs in this app, without predicting.
await app.register(async (scope) => {
  scope.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  scope.post('/bench/empty', async () => ({}));
});
await app.ready();
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
if (address === null || typeof address === 'string') throw new Error('the server has no TCP address');

const gc = (globalThis as { gc?: () => void }).gc;
let closing: Promise<void> | null = null;
const close = (): Promise<void> => (closing ??= app.close());
process.on('message', (message: DriverMessage) => {
  if (message.type === 'memory') {
    if (message.gc && gc) {
      gc();
      gc();
    }
    const m = process.memoryUsage();
    send({
      type: 'memory',
      rss: m.rss,
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      gc: message.gc && !!gc,
      runningJobs: 'runningCount' in app.kiln.queue ? Number(app.kiln.queue.runningCount) : -1,
      batching: app.kiln.predictor.batcher ? { ...app.kiln.predictor.batcher.stats } : null,
    });
  } else if (message.type === 'close') {
    void close().then(() => {
      send({ type: 'closed' });
      process.disconnect();
    });
  }
});
// The driver going away (crash, timeout) must not leave the server running.
process.on('disconnect', () => {
  void close().finally(() => process.exit(0));
});
send({ type: 'ready', port: address.port });
