/**
 * A private redis-server per test file: a free port, its own temporary directory, AOF on and
 * RDB off (`--save '' --appendonly yes`), so a stop/start keeps the data like production does.
 * Never the shared Redis on 6379. When redis-server is not installed the queue-mode tests skip
 * with a message naming the package, except under CI=true, where a missing server is a failure.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const INSTALL_HINT = 'redis-server is not installed (apt-get install redis-server, or brew install redis)';

/** Whether queue-mode tests can run here; throws under CI=true rather than skipping. */
export function redisServerAvailable(): boolean {
  const found = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!found && process.env['CI'] === 'true') throw new Error(`${INSTALL_HINT}; CI must run the queue-mode tests`);
  if (!found) console.warn(`skipping queue-mode tests: ${INSTALL_HINT}`);
  return found;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no free port'))));
    });
  });
}

/** Sends PING over a raw socket; true on +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

export interface TestRedis {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** Whether the server is running. */
  readonly running: boolean;
  /** Starts the server (again) on the same port and directory; resolves once it answers PING. */
  start(): Promise<void>;
  /** SIGTERM: Redis flushes its AOF and exits, as in a clean restart. */
  stop(): Promise<void>;
  /** SIGKILL: a crash (AOF everysec may lose the last second). */
  kill(): Promise<void>;
  /** Stops the server and deletes its directory. */
  destroy(): Promise<void>;
}

export async function startTestRedis(): Promise<TestRedis> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'kiln-redis-'));
  let child: ChildProcess | null = null;
  const killOnExit = () => child?.kill('SIGKILL');
  process.once('exit', killOnExit);

  const exited = (c: ChildProcess) =>
    new Promise<void>((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve() : c.once('exit', () => resolve())));

  const server: TestRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    get running() {
      return child !== null;
    },
    async start() {
      if (child) return;
      const options = {
        port: String(port),
        bind: '127.0.0.1',
        dir,
        save: '',
        appendonly: 'yes',
        appendfsync: 'everysec',
        'maxmemory-policy': 'noeviction',
        loglevel: 'warning',
      };
      const args = Object.entries(options).flatMap(([name, value]) => [`--${name}`, value]);
      const c = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'inherit'] });
      child = c;
      c.once('exit', () => {
        if (child === c) child = null;
      });
      const deadline = Date.now() + 10_000;
      while (!(await ping(port))) {
        if (child !== c) throw new Error(`redis-server exited during startup (port ${port})`);
        if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      const c = child;
      if (!c) return;
      c.kill('SIGTERM');
      await exited(c);
    },
    async kill() {
      const c = child;
      if (!c) return;
      c.kill('SIGKILL');
      await exited(c);
    },
    async destroy() {
      await server.kill();
      process.removeListener('exit', killOnExit);
      await rm(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}
