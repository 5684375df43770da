/**
 * Shared pieces of the hardening tests: apps on a given DATA_DIR, a log capture, problem+json
 * assertions, small models and checkpoints, API keys, and tmpfs mounts for disk faults.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { parseApiKeys, type ApiKey } from '../../src/api/plugins/auth.js';
import { Sequential, toCheckpoint, type Checkpoint, type ModelSpec } from '../../src/engine/index.js';

const run = promisify(execFile);

export { createAppAt } from './app.js';

/** A pino destination that keeps every line, for assertions on what was (not) logged. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    callback();
  }
  get text(): string {
    return this.lines.join('\n');
  }
  /** Parsed entries at or above `level` (pino numbers: 50 = error). */
  entries(minLevel = 0): Array<Record<string, unknown>> {
    return this.lines
      .map((line) => {
        try {
          return JSON.parse(line) as Record<string, unknown>;
        } catch {
          return null;
        }
      })
      .filter((e): e is Record<string, unknown> => e !== null && Number(e['level']) >= minLevel);
  }
  errors(): Array<Record<string, unknown>> {
    return this.entries(50);
  }
  clear(): void {
    this.lines.length = 0;
  }
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: Array<{ path: string; message: string }>;
}

/** Asserts an RFC 9457 problem response and returns its body. */
export function expectProblem(res: LightMyRequestResponse, status?: number | ((s: number) => boolean)): ProblemBody {
  const label = `${res.statusCode} ${res.body.slice(0, 300)}`;
  if (typeof status === 'number') expect(res.statusCode, label).toBe(status);
  else if (typeof status === 'function') expect(status(res.statusCode), label).toBe(true);
  expect(res.headers['content-type'], label).toMatch(/^application\/problem\+json/);
  const body = res.json() as ProblemBody;
  expect(body, label).toMatchObject({
    type: expect.stringMatching(/^urn:kiln:problem:/),
    title: expect.any(String),
    status: res.statusCode,
    detail: expect.any(String),
  });
  expect(body.detail.length, label).toBeGreaterThan(0);
  return body;
}

export const is4xx = (s: number): boolean => s >= 400 && s < 500;

/** A small classifier spec (3 inputs, 2 softmax outputs). */
export const tinySpec = (name = 'tiny', inputs = 3, hidden = 4, classes = 2): ModelSpec => ({
  name,
  inputShape: [inputs],
  layers: [
    { type: 'dense', units: hidden, activation: 'relu' },
    { type: 'dense', units: classes, activation: 'softmax' },
  ],
});

/** A native checkpoint of a freshly initialized model (for imports). */
export function tinyCheckpoint(spec: ModelSpec = tinySpec(), seed = 1): Checkpoint {
  return toCheckpoint(new Sequential(spec, { seed }));
}

/** Imports a checkpoint through the API and returns the version it got. */
export async function importModel(app: FastifyInstance, name: string, checkpoint: Checkpoint, auth?: string): Promise<number> {
  const res = await app.inject({
    method: 'POST',
    url: `/v1/models/${name}/versions`,
    payload: checkpoint,
    ...(auth ? { headers: { authorization: auth } } : {}),
  });
  expect(res.statusCode, res.body).toBe(201);
  return (res.json() as { version: number }).version;
}

/** Keys used by the auth, limits and overload tests (each at least 16 characters). */
export const KEYS = {
  predict: 'kp_predict_0123456789abcdef',
  train: 'kt_train_0123456789abcdef01',
  admin: 'ka_admin_0123456789abcdef012',
  train2: 'kt_second_0123456789abcdef9',
} as const;

export function testApiKeys(): ApiKey[] {
  return parseApiKeys(
    `reader:${KEYS.predict}:predict,trainer:${KEYS.train}:train,root:${KEYS.admin}:admin,trainer2:${KEYS.train2}:train`,
    'test keys',
  );
}

export const bearer = (key: string): { authorization: string } => ({ authorization: `Bearer ${key}` });

/** A tmpfs mounted on a fresh directory (root only). */
export interface Tmpfs {
  dir: string;
  remount(options: string): Promise<void>;
  unmount(): Promise<void>;
}

/**
 * Mounts a tmpfs of `size` (e.g. "1m"); null with a reason when this process may not mount.
 * Callers skip unless CI=true, where mounting must work.
 */
export async function mountTmpfs(size: string): Promise<Tmpfs | { skip: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-tmpfs-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir]);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    return { skip: `cannot mount a tmpfs (${(error as Error).message.split('\n')[0]}); run as root to test disk faults` };
  }
  let mounted = true;
  return {
    dir,
    async remount(options: string) {
      await run('mount', ['-o', `remount,${options}`, dir]);
    },
    async unmount() {
      if (!mounted) return;
      try {
        await run('umount', [dir]);
      } catch {
        await run('umount', ['-l', dir]);
      }
      mounted = false;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A subdirectory to use as DATA_DIR inside a mount. */
export async function dataDirIn(root: string, name: string): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  return dir;
}

/** Polls `check` until it returns a value (not undefined) or the time is up. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 10_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
