/**
 * Fault injection on stored files and the disk: a corrupted checkpoint byte, truncated and
 * corrupted model files, corrupt records, a read-only DATA_DIR, a full DATA_DIR, and a crash
 * between a checkpoint's write and its rename. The broken thing becomes unavailable with a clear
 * error and an error log line; everything else keeps serving; nothing partial is left behind.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rename, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sequential, toCheckpoint, type Checkpoint } from '../../src/engine/index.js';
import { runTrainingJob, type RunnerDeps } from '../../src/jobs/runner.js';
import { CheckpointStore } from '../../src/store/checkpoints.js';
import { DatasetStore } from '../../src/store/datasets.js';
import { JobStore } from '../../src/store/jobs.js';
import { ModelRegistry } from '../../src/store/registry.js';
import { createTestApp, waitForJob, xorJob, type TestApp } from '../helpers/app.js';
import {
  LogCapture,
  createAppAt,
  dataDirIn,
  eventually,
  expectProblem,
  importModel,
  mountTmpfs,
  tinyCheckpoint,
  tinySpec,
  type Tmpfs,
} from '../helpers/hardening.js';

const root = new URL('../..', import.meta.url).pathname;
const CI = process.env['CI'] === 'true';

/** Flips one character inside the first weight's base64 data (the JSON stays valid). */
function flipByte(text: string): string {
  const at = text.indexOf('"data":"') + 20;
  const ch = text[at] === 'A' ? 'B' : 'A';
  return text.slice(0, at) + ch + text.slice(at + 1);
}

/** Every file under `dir`, relative. */
async function walk(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const rel = join(prefix, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(join(dir, entry.name), rel)));
    else out.push(rel);
  }
  return out;
}

const errorLines = (capture: LogCapture, pattern: RegExp) => capture.errors().filter((e) => pattern.test(JSON.stringify(e)));
const predict = (t: TestApp, url: string, runtime: 'engine' | 'onnx' = 'engine', inputs = [[0.1, 0.2, 0.3]]) =>
  t.app.inject({ method: 'POST', url, payload: { inputs, runtime } });

describe('(a) a corrupted byte in the latest training checkpoint', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ workerConcurrency: 0 });
  });
  afterAll(async () => t.close());

  it('falls back to the previous checkpoint, and a resumed run continues from it', async () => {
    const submit = await t.app.inject({
      method: 'POST',
      url: '/v1/jobs',
      payload: xorJob({ training: { ...xorJob().training, epochs: 6 } }),
    });
    expect(submit.statusCode).toBe(202);
    const jobId = (submit.json() as { id: string }).id;
    const dir = t.config.dataDir;
    const capture = new LogCapture();
    const deps: RunnerDeps = {
      jobs: new JobStore(dir),
      datasets: new DatasetStore(dir),
      checkpoints: new CheckpointStore(dir),
      registry: new ModelRegistry(dir),
      log: pino({ level: 'info' }, capture),
      progressIntervalMs: 50,
    };

    // Two epochs, then a shutdown: latest = epoch 2, previous = epoch 1.
    let epochsEnded = 0;
    expect(await runTrainingJob(jobId, deps, { draining: () => ++epochsEnded >= 2 })).toBe('requeued');
    const ckDir = join(dir, 'checkpoints', jobId);
    const epochOf = async (file: string) => (JSON.parse(await readFile(join(ckDir, file), 'utf8')) as Checkpoint).training!.epoch;
    expect(await epochOf('latest.json')).toBe(2);
    expect(await epochOf('previous.json')).toBe(1);
    expect((await deps.checkpoints.load(jobId))!.training!.epoch).toBe(2);

    // One flipped byte in latest.json: its digest no longer matches.
    await writeFile(join(ckDir, 'latest.json'), flipByte(await readFile(join(ckDir, 'latest.json'), 'utf8')));
    expect((await deps.checkpoints.load(jobId))!.training!.epoch).toBe(1);

    // The resumed attempt starts after epoch 1 and finishes all 6 epochs.
    expect(await runTrainingJob(jobId, deps, { draining: () => false })).toBe('completed');
    const resumed = capture.entries().find((e) => e['msg'] === 'resuming from checkpoint');
    expect(resumed?.['epoch']).toBe(1);
    const record = (await deps.jobs.get(jobId))!;
    expect(record.status).toBe('completed');
    expect(record.history.map((h) => h.epoch)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(record.model).toEqual({ name: 'xor', version: 1 });
    expect(await readdir(ckDir).catch(() => [])).toEqual([]);
  });

  it('a crash between the two renames of a save still leaves a loadable checkpoint', async () => {
    const store = new CheckpointStore(t.config.dataDir);
    const jobId = 'job_0000000000crashren';
    const model = new Sequential(tinySpec('r'), { seed: 1 });
    await store.save(jobId, toCheckpoint(model));
    model.params.fill(0.5);
    await store.save(jobId, toCheckpoint(model));
    const ckDir = join(t.config.dataDir, 'checkpoints', jobId);
    // The next save's first rename happened (latest → previous), the second (its digest) did not.
    await rename(join(ckDir, 'latest.json'), join(ckDir, 'previous.json'));
    const loaded = (await store.load(jobId))!;
    expect(loaded).not.toBeNull();
    const values = new Float32Array(new Uint8Array(Buffer.from(loaded.weights[0]!.data, 'base64')).buffer);
    expect(values[0]).toBe(0.5);
  });
});

describe('(b) corrupt model files: that version is unavailable, everything else serves', () => {
  let dir: string;
  let t: TestApp;
  const capture = new LogCapture();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-faults-'));
    t = await createAppAt(dir, { rateLimitPerMinute: 0 }, { logger: { level: 'info', stream: capture } });
    await importModel(t.app, 'alpha', tinyCheckpoint(tinySpec('alpha'), 1));
    await importModel(t.app, 'alpha', tinyCheckpoint(tinySpec('alpha'), 2));
    await importModel(t.app, 'beta', tinyCheckpoint(tinySpec('beta'), 3));
  });
  afterAll(async () => {
    await t.close();
    await rm(dir, { recursive: true, force: true });
  });

  const versionFile = (name: string, version: number, file: string) => join(dir, 'models', name, 'versions', String(version), file);

  it('a truncated model.onnx: runtime onnx is 503 with an error log line; runtime engine and other versions still serve', async () => {
    const meta = (await t.app.inject({ method: 'GET', url: '/v1/models/alpha/versions/1' })).json() as { onnx: { ok: boolean } };
    expect(meta.onnx.ok).toBe(true);
    const onnx = versionFile('alpha', 1, 'model.onnx');
    await truncate(onnx, Math.floor((await stat(onnx)).size / 2));

    const res = await predict(t, '/v1/models/alpha/versions/1/predict', 'onnx');
    const problem = expectProblem(res, 503);
    expect(problem.type).toBe('urn:kiln:problem:model-unavailable');
    expect(problem.detail).toMatch(/alpha v1.*model\.onnx/);
    expect(problem.detail).not.toContain(dir);
    expect(errorLines(capture, /alpha v1.*model\.onnx/).length).toBeGreaterThan(0);
    // The download of the broken file is refused too, never served truncated.
    expectProblem(await t.app.inject({ method: 'GET', url: '/v1/models/alpha/versions/1/onnx' }), 503);

    expect((await predict(t, '/v1/models/alpha/versions/1/predict', 'engine')).statusCode).toBe(200);
    expect((await predict(t, '/v1/models/alpha/versions/2/predict', 'onnx')).statusCode).toBe(200);
    expect((await predict(t, '/v1/models/beta/predict', 'onnx')).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });

  it('a corrupted checkpoint.json: that version is 503 on a fresh app; restored, it serves again', async () => {
    const file = versionFile('alpha', 2, 'checkpoint.json');
    const original = await readFile(file, 'utf8');
    await writeFile(file, flipByte(original));
    const capture2 = new LogCapture();
    const fresh = await createAppAt(dir, { rateLimitPerMinute: 0 }, { logger: { level: 'info', stream: capture2 } });
    try {
      for (const runtime of ['engine', 'onnx'] as const) {
        const problem = expectProblem(await predict(fresh, '/v1/models/alpha/versions/2/predict', runtime), 503);
        expect(problem.detail).toMatch(/alpha v2.*checkpoint failed its SHA-256 check/);
      }
      expect(errorLines(capture2, /alpha v2.*SHA-256/).length).toBeGreaterThan(0);
      expectProblem(await fresh.app.inject({ method: 'GET', url: '/v1/models/alpha/versions/2/checkpoint' }), 503);
      // "Latest" keeps serving the last good version (v1), as TF Serving does, and says which.
      const latest = await predict(fresh, '/v1/models/alpha/predict');
      expect(latest.statusCode).toBe(200);
      expect((latest.json() as { model: { version: number } }).model).toEqual({ name: 'alpha', version: 1 });
      // Others are untouched.
      expect((await predict(fresh, '/v1/models/alpha/versions/1/predict')).statusCode).toBe(200);
      expect((await predict(fresh, '/v1/models/beta/predict')).statusCode).toBe(200);
      expect((await fresh.app.inject({ method: 'GET', url: '/v1/models/alpha' })).statusCode).toBe(200);

      // A failed load is not cached: once the file is restored, the version serves again.
      await writeFile(file, original);
      expect((await predict(fresh, '/v1/models/alpha/versions/2/predict')).statusCode).toBe(200);
    } finally {
      await fresh.close();
    }
  });

  it('a corrupt or truncated meta.json: 503 for that version, left out of listings, others keep serving', async () => {
    const v3 = await importModel(t.app, 'alpha', tinyCheckpoint(tinySpec('alpha'), 4));
    const meta = versionFile('alpha', v3, 'meta.json');
    const text = await readFile(meta, 'utf8');
    await writeFile(meta, text.slice(0, Math.floor(text.length / 2)));
    capture.clear();

    expect(expectProblem(await t.app.inject({ method: 'GET', url: `/v1/models/alpha/versions/${v3}` }), 503).detail).toMatch(
      /meta\.json is corrupt/,
    );
    expectProblem(await predict(t, `/v1/models/alpha/versions/${v3}/predict`), 503);
    expectProblem(await t.app.inject({ method: 'GET', url: `/v1/models/alpha/versions/${v3}/onnx` }), 503);
    const listing = await t.app.inject({ method: 'GET', url: '/v1/models/alpha' });
    expect(listing.statusCode).toBe(200);
    expect((listing.json() as { versions: Array<{ version: number }> }).versions.map((v) => v.version)).toEqual([1, 2]);
    expect(errorLines(capture, /meta\.json is corrupt/).length).toBeGreaterThan(0);
    expect((await t.app.inject({ method: 'GET', url: '/v1/models' })).statusCode).toBe(200);
    expect((await predict(t, '/v1/models/alpha/versions/2/predict')).statusCode).toBe(200);
    expect((await predict(t, '/v1/models/beta/predict')).statusCode).toBe(200);
    // initFrom a corrupt version is refused clearly, not a 500.
    const warm = await t.app.inject({
      method: 'POST',
      url: '/v1/jobs',
      payload: {
        model: tinySpec('alpha'),
        training: { loss: 'sparse_categorical_crossentropy', epochs: 1 },
        data: {
          x: [
            [1, 2, 3],
            [3, 2, 1],
          ],
          y: [0, 1],
        },
        initFrom: { model: 'alpha', version: v3 },
      },
    });
    expectProblem(warm, 503);

    // An admin can delete the broken version; the model's latest is v2 again.
    expect((await t.app.inject({ method: 'DELETE', url: `/v1/models/alpha/versions/${v3}` })).statusCode).toBe(204);
    expect((await predict(t, '/v1/models/alpha/predict')).statusCode).toBe(200);

    // Every version corrupt: the model itself is unavailable (503), not "does not exist".
    const betaMeta = versionFile('beta', 1, 'meta.json');
    await writeFile(betaMeta, '{"name": "beta", "vers');
    expectProblem(await t.app.inject({ method: 'GET', url: '/v1/models/beta' }), 503);
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });

  it('corrupt job and dataset records: listings skip them, reads are 503, startup survives', async () => {
    const ok = await t.app.inject({ method: 'POST', url: '/v1/jobs', payload: xorJob() });
    const bad = await t.app.inject({ method: 'POST', url: '/v1/jobs', payload: xorJob() });
    const okId = (ok.json() as { id: string }).id;
    const badId = (bad.json() as { id: string }).id;
    await writeFile(join(dir, 'jobs', `${badId}.json`), '{"id": "job_trunc');
    capture.clear();

    const list = await t.app.inject({ method: 'GET', url: '/v1/jobs' });
    expect(list.statusCode).toBe(200);
    const ids = (list.json() as { items: Array<{ id: string }> }).items.map((j) => j.id);
    expect(ids).toContain(okId);
    expect(ids).not.toContain(badId);
    expect(errorLines(capture, new RegExp(badId)).length).toBeGreaterThan(0);
    expect(expectProblem(await t.app.inject({ method: 'GET', url: `/v1/jobs/${badId}` }), 503).type).toBe(
      'urn:kiln:problem:job-unavailable',
    );
    expect((await t.app.inject({ method: 'GET', url: `/v1/jobs/${okId}` })).statusCode).toBe(200);

    const upload = await t.app.inject({ method: 'POST', url: '/v1/datasets', payload: { x: [[1, 2, 3]], y: [1] } });
    const dsId = (upload.json() as { id: string }).id;
    await writeFile(join(dir, 'datasets', dsId, 'meta.json'), 'not json');
    expectProblem(await t.app.inject({ method: 'GET', url: `/v1/datasets/${dsId}` }), 503);
    const fromBad = await t.app.inject({
      method: 'POST',
      url: '/v1/jobs',
      payload: { model: tinySpec('g'), training: { loss: 'sparse_categorical_crossentropy', epochs: 1 }, data: { datasetId: dsId } },
    });
    expect(expectProblem(fromBad, 503).type).toBe('urn:kiln:problem:dataset-unavailable');
    expect((await t.app.inject({ method: 'DELETE', url: `/v1/datasets/${dsId}` })).statusCode).toBe(204);

    // A process starting on this DATA_DIR (with workers, which scan every record) comes up.
    const restarted = await createAppAt(dir, { workerConcurrency: 1 });
    try {
      expect((await restarted.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      expect((await restarted.app.inject({ method: 'GET', url: '/v1/jobs' })).statusCode).toBe(200);
    } finally {
      await restarted.close();
    }
  });
});

describe('(c, d) read-only and full DATA_DIR', () => {
  let disk: Tmpfs | null = null;
  let skip = '';

  beforeAll(async () => {
    const mounted = await mountTmpfs('32m');
    if ('skip' in mounted) {
      if (CI) throw new Error(mounted.skip);
      skip = mounted.skip;
      console.warn(`skipping disk fault tests: ${skip}`);
    } else disk = mounted;
  });
  afterAll(async () => {
    await disk?.unmount();
  });

  it('(c) read-only: /readyz 503, writes 503 problem+json, reads still work', async (ctx) => {
    if (!disk) return ctx.skip(skip);
    const dir = await dataDirIn(disk.dir, 'ro');
    const capture = new LogCapture();
    const t = await createAppAt(dir, { rateLimitPerMinute: 0 }, { logger: { level: 'info', stream: capture } });
    try {
      await importModel(t.app, 'm', tinyCheckpoint(tinySpec('m')));
      const ds = await t.app.inject({ method: 'POST', url: '/v1/datasets', payload: { x: [[1, 2, 3]], y: [1] } });
      const dsId = (ds.json() as { id: string }).id;
      const job = await t.app.inject({ method: 'POST', url: '/v1/jobs', payload: xorJob() });
      const jobId = (job.json() as { id: string }).id;

      await disk.remount('ro');
      try {
        expectProblem(await t.app.inject({ method: 'GET', url: '/readyz' }), 503);
        const writes = [
          await t.app.inject({ method: 'POST', url: '/v1/datasets', payload: { x: [[1, 2, 3]], y: [1] } }),
          await t.app.inject({
            method: 'POST',
            url: '/v1/datasets?label=y',
            headers: { 'content-type': 'text/csv' },
            payload: 'a,y\n1,0\n',
          }),
          await t.app.inject({ method: 'POST', url: '/v1/jobs', payload: xorJob() }),
          await t.app.inject({ method: 'POST', url: '/v1/jobs', headers: { 'idempotency-key': 'ro-1' }, payload: xorJob() }),
          await t.app.inject({ method: 'POST', url: '/v1/models/m/versions', payload: tinyCheckpoint(tinySpec('m')) }),
          await t.app.inject({ method: 'DELETE', url: `/v1/datasets/${dsId}` }),
          await t.app.inject({ method: 'POST', url: `/v1/jobs/${jobId}/cancel` }),
        ];
        for (const res of writes) {
          const problem = expectProblem(res, 503);
          expect(problem.type).toBe('urn:kiln:problem:storage-unavailable');
          expect(problem.detail).not.toContain(disk.dir);
          expect(res.headers['retry-after']).toBeDefined();
        }
        expect(errorLines(capture, /storage-unavailable/).length).toBeGreaterThanOrEqual(writes.length);

        expect((await t.app.inject({ method: 'GET', url: `/v1/datasets/${dsId}` })).statusCode).toBe(200);
        expect((await t.app.inject({ method: 'GET', url: `/v1/jobs/${jobId}` })).statusCode).toBe(200);
        expect((await t.app.inject({ method: 'GET', url: '/v1/jobs' })).statusCode).toBe(200);
        expect((await t.app.inject({ method: 'GET', url: '/v1/models/m/versions/1/checkpoint' })).statusCode).toBe(200);
        expect((await predict(t, '/v1/models/m/predict')).statusCode).toBe(200);
        expect((await predict(t, '/v1/models/m/predict', 'onnx')).statusCode).toBe(200);
        expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      } finally {
        await disk.remount('rw');
      }
      // Writable again: back to normal.
      expect((await t.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
      expect((await t.app.inject({ method: 'POST', url: '/v1/datasets', payload: { x: [[1, 2, 3]], y: [1] } })).statusCode).toBe(201);
    } finally {
      await t.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('(d) full: an upload that does not fit is 507 with no partial dataset; a checkpoint that does not fit fails the job as storage_full', async (ctx) => {
    if (!disk) return ctx.skip(skip);
    // A separate, tiny filesystem: 1 MiB.
    const full = await mountTmpfs('1m');
    if ('skip' in full) return ctx.skip(full.skip);
    const capture = new LogCapture();
    let t: TestApp | null = null;
    try {
      const dir = await dataDirIn(full.dir, 'data');
      t = await createAppAt(dir, { workerConcurrency: 1, rateLimitPerMinute: 0 }, { logger: { level: 'info', stream: capture } });

      // 20,000 × 16 float32 = 1.25 MiB: cannot fit.
      const x = Array.from({ length: 20_000 }, (_, i) => Array.from({ length: 16 }, (_, j) => ((i + j) % 10) / 10));
      const upload = await t.app.inject({ method: 'POST', url: '/v1/datasets', payload: { x, y: new Array(20_000).fill(1) } });
      const problem = expectProblem(upload, 507);
      expect(problem.type).toBe('urn:kiln:problem:insufficient-storage');
      expect(problem.detail).not.toContain(full.dir);
      expect(errorLines(capture, /insufficient-storage/).length).toBe(1);
      expect(await readdir(join(dir, 'datasets'))).toEqual([]);

      // A 135k-parameter model: its checkpoint (weights + Adam state, base64) is over 2 MiB.
      const job = {
        model: {
          name: 'toobig',
          inputShape: [64],
          layers: [
            { type: 'dense', units: 2048, activation: 'relu' },
            { type: 'dense', units: 1, activation: 'sigmoid' },
          ],
        },
        training: { loss: 'binary_crossentropy', epochs: 3, batchSize: 8, seed: 1 },
        data: {
          x: Array.from({ length: 8 }, (_, i) => Array.from({ length: 64 }, (_, j) => ((i * j) % 7) / 7)),
          y: [0, 1, 0, 1, 0, 1, 0, 1],
        },
      };
      const submit = await t.app.inject({ method: 'POST', url: '/v1/jobs', payload: job });
      expect(submit.statusCode, submit.body).toBe(202);
      const done = await waitForJob(t.app, (submit.json() as { id: string }).id, undefined, 30_000);
      expect(done.status).toBe('failed');
      expect(done.error?.code).toBe('storage_full');
      expect(done.model).toBeNull();
      expect((await t.app.inject({ method: 'GET', url: '/v1/models/toobig' })).statusCode).toBe(404);
      // The job's checkpoints are removed right after its record says failed.
      const files = await eventually(async () => {
        const all = await walk(dir);
        return all.some((f) => f.startsWith('checkpoints/')) ? undefined : all;
      }, 5_000);
      expect(files.filter((f) => f.endsWith('.tmp'))).toEqual([]);
      expect(files.filter((f) => f.startsWith('models/'))).toEqual([]);

      // The service carries on: small writes fit, reads work.
      expect((await t.app.inject({ method: 'POST', url: '/v1/datasets', payload: { x: [[1, 2]], y: [1] } })).statusCode).toBe(201);
      expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await t?.close();
      await full.unmount();
    }
  });
});

describe('(e) a crash between checkpoint write and rename', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-crash-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  function crashingSave(jobId: string, target: string): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'test/helpers/crash-checkpoint.ts'), dir, jobId, target], {
        cwd: root,
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      child.on('error', reject);
      child.on('exit', (code, signal) => resolve({ code, signal }));
    });
  }

  for (const target of ['latest.json', 'latest.json.sha256']) {
    it(`dying right before renaming onto ${target}: the previous checkpoint loads, the temp file is swept later`, async () => {
      const jobId = target === 'latest.json' ? 'job_0000000000crashaaa' : 'job_0000000000crashbbb';
      const store = new CheckpointStore(dir);
      const before = toCheckpoint(
        new Sequential({ name: 'crash', inputShape: [3], layers: [{ type: 'dense', units: 2, activation: 'softmax' }] }, { seed: 1 }),
      );
      await store.save(jobId, before);

      const exit = await crashingSave(jobId, target);
      expect(exit.signal).toBe('SIGKILL');

      const ckDir = join(dir, 'checkpoints', jobId);
      const stray = (await readdir(ckDir)).filter((f) => f.endsWith('.tmp'));
      expect(stray).toHaveLength(1);
      // The newest verifiable checkpoint is the one saved before the crash.
      expect(await store.load(jobId)).toEqual(before);
      // A young temp file may be a write in progress: kept. Once stale, the next load sweeps it.
      expect((await readdir(ckDir)).filter((f) => f.endsWith('.tmp'))).toHaveLength(1);
      const old = new Date(Date.now() - 60_000);
      await utimes(join(ckDir, stray[0]!), old, old);
      expect(await store.load(jobId)).toEqual(before);
      expect((await readdir(ckDir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);

      // And the next save works normally on top of it.
      const after = toCheckpoint(
        new Sequential({ name: 'crash', inputShape: [3], layers: [{ type: 'dense', units: 2, activation: 'softmax' }] }, { seed: 2 }),
      );
      await store.save(jobId, after);
      expect(await store.load(jobId)).toEqual(after);
    });
  }
});
