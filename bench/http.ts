/**
 * HTTP benchmarks of the real Kiln API (bench/server.ts, forked with --expose-gc on a fresh
 * temporary DATA_DIR), driven with autocannon from this process, so the load generator and
 * the server do not share an event loop. Run by run.ts as a child process:
 *
 *   tsx bench/http.ts --json --mode http   # empty route vs POST /predict, 1 row, engine runtime
 *   tsx bench/http.ts --json --mode load   # 64 clients predicting while two jobs train (issue #7)
 *   tsx bench/http.ts --json --mode soak   # 300 small jobs: API memory, leftover files (issue #7)
 *
 * Only 127.0.0.1 is ever contacted.
 */
import autocannon from 'autocannon';
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Sequential, toCheckpoint } from '../src/engine/index.js';
import type { Config } from '../src/config.js';
import { mlpSpec } from './kiln.js';
import type { DriverMessage, ServerMemory, ServerMessage } from './server.js';
import {
  RESULT_PREFIX,
  benchConfig,
  hash32,
  median,
  parseArgs,
  progress,
  syntheticData,
  type BenchConfig,
  type HttpResult,
  type HttpRouteStats,
  type LoadJob,
  type LoadResult,
  type MemorySample,
  type SoakResult,
} from './workloads.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const NAME = 'http';
const MODEL = 'bench-digits';

// ── the server process ──────────────────────────────────────────────────────────────────────────

interface Server {
  child: ChildProcess;
  port: number;
  dataDir: string;
  memory(gc: boolean): Promise<ServerMemory>;
  close(): Promise<void>;
}

async function startServer(overrides: Partial<Config>, env: Record<string, string> = {}, compiledRoot = ''): Promise<Server> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'kiln-bench-'));
  const child = fork(path.join(HERE, 'server.ts'), [dataDir, JSON.stringify(overrides), compiledRoot], {
    // BENCH_SERVER_ARGS adds node flags to the server alone, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
    execArgv: ['--import', 'tsx', '--expose-gc', ...(process.env.BENCH_SERVER_ARGS ?? '').split(' ').filter(Boolean)],
    // The training children of the embedded queue read their settings from the environment.
    env: { ...process.env, LOG_LEVEL: 'warn', DATA_DIR: dataDir, ...env },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  const stderr: string[] = [];
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr.push(chunk);
    if (stderr.length > 200) stderr.shift();
  });
  const waiters: ((message: ServerMessage) => boolean)[] = [];
  child.on('message', (message: ServerMessage) => {
    const i = waiters.findIndex((w) => w(message));
    if (i >= 0) waiters.splice(i, 1);
  });
  const next = <T extends ServerMessage['type']>(type: T, timeoutMs: number): Promise<Extract<ServerMessage, { type: T }>> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`server: no ${type} within ${timeoutMs} ms\n${stderr.join('').slice(-2000)}`)),
        timeoutMs,
      );
      const onExit = (code: number | null): void => {
        clearTimeout(timer);
        reject(new Error(`server exited (${code}) before ${type}\n${stderr.join('').slice(-2000)}`));
      };
      child.once('exit', onExit);
      waiters.push((message) => {
        if (message.type !== type) return false;
        clearTimeout(timer);
        child.off('exit', onExit);
        resolve(message as Extract<ServerMessage, { type: T }>);
        return true;
      });
    });
  const ask = (message: DriverMessage): void => {
    child.send(message);
  };
  const ready = await next('ready', 120_000);
  // Load shedding (when on) may refuse the first requests: starting the app can block the event
  // loop for a whole sample interval, which @fastify/under-pressure reports as an infinite
  // delay. Wait until the app answers an ordinary route.
  const until = Date.now() + 60_000;
  for (;;) {
    const res = await fetch(`http://127.0.0.1:${ready.port}/bench/empty`).catch(() => null);
    if (res?.status === 200) break;
    if (Date.now() > until) throw new Error(`server on port ${ready.port} never answered /bench/empty with 200`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    child,
    port: ready.port,
    dataDir,
    async memory(gc) {
      const reply = next('memory', 30_000);
      ask({ type: 'memory', gc });
      return reply;
    },
    async close() {
      if (child.exitCode === null && child.connected) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        ask({ type: 'close' });
        const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

interface ApiResponse {
  status: number;
  body: unknown;
}

/** A request to the app: a string body goes as JSON, bytes as application/octet-stream. */
async function api(port: number, method: string, route: string, body?: string | Uint8Array<ArrayBuffer>): Promise<ApiResponse> {
  const contentType = typeof body === 'string' ? 'application/json' : 'application/octet-stream';
  const res = await fetch(`http://127.0.0.1:${port}${route}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': contentType },
    ...(body === undefined ? {} : { body }),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed };
}

function expectStatus(res: ApiResponse, status: number, what: string): void {
  if (res.status !== status) throw new Error(`${what}: HTTP ${res.status} ${JSON.stringify(res.body).slice(0, 500)}`);
}

/** Registers the 784-128-10 predict model (the same weights kiln.ts and ort.ts use). */
async function registerModel(port: number, config: BenchConfig): Promise<void> {
  const model = new Sequential(mlpSpec(config.predict.singleHidden, config.classes, config.inputSize), { seed: config.modelSeed });
  const res = await api(port, 'POST', `/v1/models/${MODEL}/versions`, JSON.stringify(toCheckpoint(model)));
  expectStatus(res, 201, 'registering the model');
}

/** A JSON number list of `count` pixel-like values in [0, 1) with 4 decimals. */
function pixels(count: number, seed: number, offset = 0): string {
  const out: string[] = new Array<string>(count);
  for (let i = 0; i < count; i++) out[i] = (Math.floor((hash32(seed, offset + i) / 4294967296) * 10000) / 10000).toString();
  return out.join(',');
}

function predictBody(config: BenchConfig): string {
  return `{"inputs":[[${pixels(config.inputSize, config.dataSeed + 1)}]]}`;
}

/** The same row as predictBody, as little-endian float32 bytes (the binary predict body). */
function binaryPredictBody(config: BenchConfig): Buffer {
  const values = (JSON.parse(predictBody(config)) as { inputs: number[][] }).inputs[0]!;
  const bytes = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => bytes.writeFloatLE(v, 4 * i));
  return bytes;
}

/** Forks bench/raw-server.ts (plain node:http) and returns its port and a stop function. */
async function startRawServer(): Promise<{ port: number; stop(): Promise<void> }> {
  const child = fork(path.join(HERE, 'raw-server.ts'), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (message: { port: number }) => resolve(message.port));
    child.once('exit', (code) => reject(new Error(`raw server exited (${code})`)));
  });
  return {
    port,
    async stop() {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.disconnect();
      await exited;
    },
  };
}

// ── autocannon ──────────────────────────────────────────────────────────────────────────────────

interface CannonOptions {
  port: number;
  route: string;
  method: 'GET' | 'POST';
  body?: string | Buffer;
  contentType?: string;
  connections: number;
  seconds: number;
}

async function cannon(o: CannonOptions): Promise<{ stats: HttpRouteStats; result: autocannon.Result }> {
  const result = await autocannon({
    url: `http://127.0.0.1:${o.port}${o.route}`,
    method: o.method,
    connections: o.connections,
    duration: o.seconds,
    ...(o.body === undefined ? {} : { body: o.body, headers: { 'content-type': o.contentType ?? 'application/json' } }),
  });
  const stats: HttpRouteStats = {
    requests: result.requests.total,
    requestsPerSecond: result.requests.total / Math.max(result.duration, 1e-9),
    p50: result.latency.p50,
    p99: result.latency.p99,
    max: result.latency.max,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  };
  return { stats, result };
}

const loadAverage = (): number => os.loadavg()[0]!;

// ── http: empty route vs predict ────────────────────────────────────────────────────────────────

function versions(): string {
  const require = createRequire(import.meta.url);
  const v = (name: string): string => (require(`${name}/package.json`) as { version: string }).version;
  return `fastify ${v('fastify')}, autocannon ${v('autocannon')}`;
}

export async function runHttp(config: BenchConfig = benchConfig()): Promise<HttpResult> {
  const h = config.http;
  const load0 = loadAverage();
  const settings: Partial<Config> = { rateLimitPerMinute: 0, maxEventLoopDelayMs: 0, workerConcurrency: 0 };
  const server = await startServer(settings);
  // The same app with server-side batching off: one forward pass per request, the peer that
  // shows what batching changes.
  const unbatched = await startServer({ ...settings, predictBatchRows: 0 });
  const raw = await startRawServer();
  try {
    await registerModel(server.port, config);
    await registerModel(unbatched.port, config);
    const body = predictBody(config);
    const binaryBody = binaryPredictBody(config);
    const check = await api(server.port, 'POST', `/v1/models/${MODEL}/predict`, body);
    expectStatus(check, 200, 'predict');
    const binaryCheck = await api(server.port, 'POST', `/v1/models/${MODEL}/predict`, new Uint8Array(binaryBody));
    expectStatus(binaryCheck, 200, 'binary predict');
    if (JSON.stringify(binaryCheck.body) !== JSON.stringify(check.body))
      throw new Error('the binary predict body did not answer what the JSON body answers');
    const unbatchedCheck = await api(unbatched.port, 'POST', `/v1/models/${MODEL}/predict`, body);
    expectStatus(unbatchedCheck, 200, 'predict, batching off');
    if (JSON.stringify(unbatchedCheck.body) !== JSON.stringify(check.body))
      throw new Error('the server with batching off did not answer what the server with batching on answers');
    expectStatus(await api(server.port, 'GET', '/bench/empty'), 200, 'empty route');
    const emptyPost = await api(server.port, 'POST', '/bench/empty', new Uint8Array(binaryBody));
    expectStatus(emptyPost, 200, 'empty POST route');
    if (JSON.stringify(emptyPost.body) !== '{}')
      throw new Error(`empty POST route answered ${JSON.stringify(emptyPost.body).slice(0, 200)}`);
    const route = `/v1/models/${MODEL}/predict`;
    const predict = { port: server.port, route, method: 'POST' as const, body, connections: h.connections };
    const predictBinary = { ...predict, body: binaryBody, contentType: 'application/octet-stream' };
    const routes = {
      empty: { port: server.port, route: '/bench/empty', method: 'GET' as const, connections: h.connections },
      predict,
      predictBinary,
      // The same two requests against the instance with batching off.
      predictUnbatched: { ...predict, port: unbatched.port },
      predictBinaryUnbatched: { ...predictBinary, port: unbatched.port },
      emptyPost: {
        port: server.port,
        route: '/bench/empty',
        method: 'POST' as const,
        body: binaryBody,
        contentType: 'application/octet-stream',
        connections: h.connections,
      },
      rawGet: { port: raw.port, route: '/', method: 'GET' as const, connections: h.connections },
      rawPost: { port: raw.port, route: '/', method: 'POST' as const, body, connections: h.connections },
    };
    type Route = keyof typeof routes;
    const names = Object.keys(routes) as Route[];
    progress(NAME, `warm-up ${h.warmupSeconds} s per route`);
    for (const name of names) await cannon({ ...routes[name], seconds: h.warmupSeconds });
    const rounds = Object.fromEntries(names.map((name) => [name, [] as HttpRouteStats[]])) as Record<Route, HttpRouteStats[]>;
    const batching0 = (await server.memory(false)).batching;
    if (!batching0) throw new Error('the bench server runs with server-side batching off');
    for (let r = 0; r < h.rounds; r++) {
      // Rotate which route goes first, so no route always follows the same one.
      const order = names.map((_, i) => names[(i + r) % names.length]!);
      for (const name of order) {
        const { stats } = await cannon({ ...routes[name], seconds: h.roundSeconds });
        rounds[name].push(stats);
        progress(
          NAME,
          `round ${r + 1} ${name}: ${Math.round(stats.requestsPerSecond)} req/s, p50 ${stats.p50} ms, p99 ${stats.p99} ms, non-2xx ${stats.non2xx}`,
        );
      }
    }
    const ratio = (a: HttpRouteStats[], b: HttpRouteStats[]): number =>
      median(a.map((x, i) => x.requestsPerSecond / b[i]!.requestsPerSecond));
    const batching1 = (await server.memory(false)).batching!;
    return {
      versions: versions(),
      connections: h.connections,
      roundSeconds: h.roundSeconds,
      empty: rounds.empty,
      predict: rounds.predict,
      predictBinary: rounds.predictBinary,
      ratio: ratio(rounds.predict, rounds.empty),
      ratioBinary: ratio(rounds.predictBinary, rounds.empty),
      emptyPost: rounds.emptyPost,
      ratioBinaryEmptyPost: ratio(rounds.predictBinary, rounds.emptyPost),
      bodyBytes: Buffer.byteLength(body),
      binaryBodyBytes: binaryBody.byteLength,
      raw: { get: rounds.rawGet, post: rounds.rawPost, ratio: ratio(rounds.rawPost, rounds.rawGet) },
      unbatched: {
        predict: rounds.predictUnbatched,
        predictBinary: rounds.predictBinaryUnbatched,
        ratio: ratio(rounds.predictUnbatched, rounds.empty),
        ratioBinary: ratio(rounds.predictBinaryUnbatched, rounds.empty),
        gain: ratio(rounds.predict, rounds.predictUnbatched),
        gainBinary: ratio(rounds.predictBinary, rounds.predictBinaryUnbatched),
      },
      batching: {
        passes: batching1.passes - batching0.passes,
        requests: batching1.requests - batching0.requests,
        largest: batching1.largest,
      },
      loadAverage: [load0, loadAverage()],
    };
  } finally {
    await server.close();
    await unbatched.close();
    await raw.stop();
  }
}

// ── load: 64 clients predicting while two jobs train ───────────────────────────────────────────

interface JobView {
  id: string;
  status: string;
  progress: { epoch: number; epochs: number; step: number; stepsPerEpoch: number };
}

async function getJob(port: number, id: string): Promise<JobView> {
  const res = await api(port, 'GET', `/v1/jobs/${id}`);
  expectStatus(res, 200, `job ${id}`);
  return res.body as JobView;
}

/** Global step count of a job (epochs done × steps per epoch + steps into the current one). */
function stepsDone(job: JobView): number {
  const p = job.progress;
  return Math.max(0, p.epoch - 1) * p.stepsPerEpoch + p.step;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function uploadDataset(port: number, rows: number, config: BenchConfig): Promise<string> {
  const x: string[] = [];
  for (let r = 0; r < rows; r++) x.push(`[${pixels(config.inputSize, config.dataSeed, r * config.inputSize)}]`);
  const y = syntheticData(rows, config.dataSeed, 1, config.classes).y;
  const res = await api(port, 'POST', '/v1/datasets', `{"x":[${x.join(',')}],"y":[${Array.from(y).join(',')}]}`);
  expectStatus(res, 201, 'uploading the dataset');
  return (res.body as { id: string }).id;
}

export async function runLoad(config: BenchConfig = benchConfig()): Promise<LoadResult> {
  const l = config.load;
  const load0 = loadAverage();
  // Two training processes with one kernel thread each on this 2-core machine, the API in a
  // third. The per-caller rate limit is off (all 64 clients are one address); load shedding
  // stays at its default.
  const overrides: Partial<Config> = { rateLimitPerMinute: 0, workerConcurrency: 2, trainingThreads: 1 };
  const server = await startServer(overrides, { WORKER_CONCURRENCY: '2', TRAINING_THREADS: '1' });
  const maxEventLoopDelayMs = 1000;
  try {
    await registerModel(server.port, config);
    const body = predictBody(config);
    expectStatus(await api(server.port, 'POST', `/v1/models/${MODEL}/predict`, body), 200, 'predict');
    const datasetId = await uploadDataset(server.port, l.rows, config);
    const ids: string[] = [];
    for (const name of ['load-a', 'load-b']) {
      const job = {
        model: { ...mlpSpec(l.hidden, config.classes, config.inputSize), name },
        training: {
          loss: 'sparse_categorical_crossentropy',
          optimizer: { type: 'adam', learningRate: 0.001 },
          epochs: l.epochs,
          batchSize: l.batchSize,
          seed: 1,
        },
        data: { datasetId },
      };
      const res = await api(server.port, 'POST', '/v1/jobs', JSON.stringify(job));
      expectStatus(res, 202, 'submitting a training job');
      ids.push((res.body as { id: string }).id);
    }
    // Wait until both are past their first steps: training, not starting up.
    const deadline = Date.now() + 120_000;
    let before: JobView[];
    for (;;) {
      before = await Promise.all(ids.map((id) => getJob(server.port, id)));
      if (before.every((j) => j.status === 'running' && stepsDone(j) > 0)) break;
      if (before.some((j) => !['queued', 'running'].includes(j.status)) || Date.now() > deadline)
        throw new Error(`training jobs did not start: ${before.map((j) => `${j.id} ${j.status}`).join(', ')}`);
      await sleep(200);
    }
    progress(NAME, `two jobs training; ${l.connections} clients predicting for ${l.seconds} s`);
    const t0 = performance.now();
    const { stats, result } = await cannon({
      port: server.port,
      route: `/v1/models/${MODEL}/predict`,
      method: 'POST',
      body,
      connections: l.connections,
      seconds: l.seconds,
    });
    const window = (performance.now() - t0) / 1000;
    const after = await Promise.all(ids.map((id) => getJob(server.port, id)));
    for (const id of ids) await api(server.port, 'POST', `/v1/jobs/${id}/cancel`);
    const final: JobView[] = [];
    for (const id of ids) {
      let job = await getJob(server.port, id);
      const until = Date.now() + 60_000;
      while (['queued', 'running'].includes(job.status) && Date.now() < until) {
        await sleep(200);
        job = await getJob(server.port, id);
      }
      final.push(job);
    }
    const jobs: LoadJob[] = ids.map((id, i) => {
      const steps = stepsDone(after[i]!) - stepsDone(before[i]!);
      return {
        id,
        statusBefore: before[i]!.status,
        statusAfter: after[i]!.status,
        finalStatus: final[i]!.status,
        steps,
        samplesPerSecond: (steps * l.batchSize) / window,
      };
    });
    progress(
      NAME,
      `load: ${Math.round(stats.requestsPerSecond)} req/s, p50 ${stats.p50} ms, p99 ${stats.p99} ms, non-2xx ${stats.non2xx}, errors ${stats.errors}`,
    );
    return {
      connections: l.connections,
      seconds: l.seconds,
      stats,
      p90: result.latency.p90,
      p999: result.latency.p99_9,
      jobs,
      trainingRows: l.rows,
      loadAverage: [load0, loadAverage()],
      maxEventLoopDelayMs,
    };
  } finally {
    await server.close();
  }
}

// ── soak: 300 small jobs ────────────────────────────────────────────────────────────────────────

const soakJob = {
  model: {
    name: 'soak',
    inputShape: [2],
    layers: [
      { type: 'dense', units: 4, activation: 'tanh' },
      { type: 'dense', units: 1, activation: 'sigmoid' },
    ],
  },
  training: { loss: 'binary_crossentropy', optimizer: { type: 'adam', learningRate: 0.05 }, epochs: 2, batchSize: 4, seed: 7 },
  data: {
    x: [
      [0, 0],
      [0, 1],
      [1, 0],
      [1, 1],
      [0.1, 0.1],
      [0.1, 0.9],
      [0.9, 0.1],
      [0.9, 0.9],
    ],
    y: [0, 1, 1, 0, 0, 1, 1, 0],
  },
};

/** Every file under `dir`, relative to it. */
async function walk(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(full, base)));
    else out.push(path.relative(base, full));
  }
  return out;
}

function openFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return -1;
  }
}

/** Processes whose parent is `pid` (Linux /proc). */
function childProcesses(pid: number): number {
  if (!existsSync('/proc')) return -1;
  let count = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid) count++;
    } catch {
      // gone
    }
  }
  return count;
}

function memorySample(label: string, finished: number, m: ServerMemory): MemorySample {
  return { label, finished, rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, gc: m.gc };
}

/**
 * Compiles src/ and workers/ with the project's tsconfig.build.json into bench/results/dist
 * (git-ignored; its own .tsbuildinfo, so the project's dist/ is untouched), for the soak to
 * run as `npm start` does: training children on plain node, without tsx.
 */
function buildCompiled(): string {
  const out = path.join(ROOT, 'bench', 'results', 'dist');
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const args = [tsc, '-p', path.join(ROOT, 'tsconfig.build.json'), '--outDir', out, '--tsBuildInfoFile', path.join(out, '.tsbuildinfo')];
  const run = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' });
  // tsc emits even when it reports type errors; only missing output is fatal.
  if (!existsSync(path.join(out, 'src', 'app.js')) || !existsSync(path.join(out, 'workers', 'embedded-child.js')))
    throw new Error(`compiling the app failed (exit ${run.status}):\n${(run.stdout + run.stderr).slice(-2000)}`);
  if (run.status !== 0) progress(NAME, `tsc reported errors (exit ${run.status}); using its output anyway`);
  return out;
}

export async function runSoak(config: BenchConfig = benchConfig()): Promise<SoakResult> {
  const s = config.soak;
  progress(NAME, 'compiling the app into bench/results/dist');
  const compiled = buildCompiled();
  const load0 = loadAverage();
  const overrides: Partial<Config> = { rateLimitPerMinute: 0, workerConcurrency: 2, trainingThreads: 1, maxActiveJobsPerCaller: 10_000 };
  const server = await startServer(overrides, { WORKER_CONCURRENCY: '2', TRAINING_THREADS: '1' }, compiled);
  const pid = server.child.pid!;
  try {
    const memory: MemorySample[] = [memorySample('before', 0, await server.memory(true))];
    const fdsBefore = openFds(pid);
    const body = JSON.stringify(soakJob);
    const started = performance.now();
    const outstanding = new Set<string>();
    const finishedIds: string[] = [];
    let submitted = 0;
    let completed = 0;
    let failed = 0;
    let nextSample = s.sampleEvery;
    let duringTaken = false;
    while (finishedIds.length < s.jobs) {
      while (submitted < s.jobs && outstanding.size < s.inFlight) {
        const res = await api(server.port, 'POST', '/v1/jobs', body);
        expectStatus(res, 202, `submitting job ${submitted + 1}`);
        outstanding.add((res.body as { id: string }).id);
        submitted++;
      }
      await sleep(100);
      for (const id of [...outstanding]) {
        const job = await getJob(server.port, id);
        if (['queued', 'running'].includes(job.status)) continue;
        outstanding.delete(id);
        finishedIds.push(id);
        if (job.status === 'completed') completed++;
        else failed++;
      }
      if (!duringTaken && finishedIds.length >= s.jobs / 2) {
        // One sample as the process is, mid-run, without forcing a collection.
        memory.push(memorySample('during (no GC)', finishedIds.length, await server.memory(false)));
        duringTaken = true;
      }
      if (finishedIds.length >= nextSample) {
        memory.push(memorySample('during', finishedIds.length, await server.memory(true)));
        progress(
          NAME,
          `soak: ${finishedIds.length}/${s.jobs} finished, heap ${(memory.at(-1)!.heapUsed / 2 ** 20).toFixed(1)} MiB, rss ${(memory.at(-1)!.rss / 2 ** 20).toFixed(1)} MiB`,
        );
        nextSample += s.sampleEvery;
      }
    }
    const seconds = (performance.now() - started) / 1000;
    // Let the last children exit and their handles close.
    for (let i = 0; i < 50 && (await server.memory(false)).runningJobs > 0; i++) await sleep(100);
    await sleep(1000);
    memory.push(memorySample('after', finishedIds.length, await server.memory(true)));
    const fdsAfter = openFds(pid);
    const childProcessesAfter = childProcesses(pid);
    const files = await walk(server.dataDir);
    const tmpFiles = files.filter((f) => f.endsWith('.tmp'));
    const checkpointDirs: string[] = [];
    for (const id of finishedIds) {
      const dir = path.join(server.dataDir, 'checkpoints', id);
      if (
        await stat(dir).then(
          () => true,
          () => false,
        )
      )
        checkpointDirs.push(path.relative(server.dataDir, dir));
    }
    const byTop: Record<string, number> = {};
    for (const f of files) {
      const top = f.split(path.sep)[0]!;
      byTop[top] = (byTop[top] ?? 0) + 1;
    }
    // Growth from the first sample after the warm-up (the first `sampleEvery` jobs load every
    // lazily imported module and fill every cache) to the end.
    const warm = memory.find((m) => m.label === 'during' && m.gc) ?? memory[0]!;
    const last = memory.at(-1)!;
    return {
      jobs: s.jobs,
      completed,
      failed,
      seconds,
      memory,
      heapGrowthBytes: last.heapUsed - warm.heapUsed,
      rssGrowthBytes: last.rss - warm.rss,
      tmpFiles,
      checkpointDirs,
      fdsBefore,
      fdsAfter,
      childProcessesAfter,
      files: byTop,
      loadAverage: [load0, loadAverage()],
    };
  } finally {
    await server.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = parseArgs(process.argv.slice(2));
  const mode = args.values.get('mode') ?? 'http';
  let result: HttpResult | LoadResult | SoakResult;
  if (mode === 'http') result = await runHttp();
  else if (mode === 'load') result = await runLoad();
  else if (mode === 'soak') result = await runSoak();
  else throw new Error(`--mode must be http, load or soak, not ${mode}`);
  if (args.json) process.stdout.write(RESULT_PREFIX + JSON.stringify(result) + '\n');
  else process.stdout.write(JSON.stringify(result, null, 2) + '\n');
}
