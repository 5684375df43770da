/**
 * Shared definitions for the benchmark: the workloads, the synthetic data (identical bits in every
 * competitor, Python included), timing helpers and the JSON result format the child processes
 * emit. Nothing here imports the engine or TensorFlow.js, so every competitor can load it.
 */

/** BENCH_QUICK=1 shrinks every measurement to a ~30 s smoke run. */
export const QUICK = process.env['BENCH_QUICK'] === '1';

export const INPUT_SIZE = 784;
export const CLASSES = 10;
export const DATA_SEED = 20240601;
export const MODEL_SEED = 1;

export type WorkloadId = 'mlp-small' | 'mlp-big';

export interface Workload {
  id: WorkloadId;
  /** e.g. "784-128-10 b64" */
  label: string;
  /** Hidden relu layer widths; the output is a 10-way softmax. */
  hidden: number[];
  batchSize: number;
  /** Rows per epoch, the same for every competitor. */
  rows: number;
  warmupEpochs: number;
  timedEpochs: number;
  /** Timed epochs for tfjs-cpu, the slowest competitor by far (same rows per epoch). */
  tfjsCpuTimedEpochs: number;
}

export interface MatmulShape {
  /** Batch rows N, input width I, units U: forward is (N×I)@(I×U). */
  n: number;
  inDim: number;
  units: number;
  /** Which layer of which workload uses it. */
  origin: string;
  /** dX is not computed for a model's first layer (nothing upstream needs it). */
  dxUsedInTraining: boolean;
}

export type MatmulKernel = 'forward' | 'dW' | 'dX';

export interface MatmulCase extends MatmulShape {
  kernel: MatmulKernel;
  /** Fraction of exact zeros in the left operand (x): 0.5 mimics a relu output. */
  zeroFraction: number;
}

export interface PredictConfig {
  /** 784-128-10, one row per call. */
  singleHidden: number[];
  singleCalls: number;
  /** 784-512-512-10, `batchRows` rows per call, chunked as Sequential.predict does. */
  batchHidden: number[];
  batchRows: number;
  chunk: number;
  /** Timed batch calls: at least min, at most max, stopping early once budgetMs is spent. */
  batchRepeats: { min: number; max: number; budgetMs: number };
}

/** HTTP: the same app serving an empty route and /predict (bench/http.ts --mode http). */
export interface HttpConfig {
  connections: number;
  warmupSeconds: number;
  /** Each route runs `rounds` times for `roundSeconds`, alternating, so both see the same load. */
  roundSeconds: number;
  rounds: number;
}

/** Load test (issue #7): concurrent predict clients while two jobs train on the same server. */
export interface LoadConfig {
  connections: number;
  seconds: number;
  /** The training jobs: 784-hidden-10 on `rows` synthetic rows, batch `batchSize`. */
  rows: number;
  hidden: number[];
  batchSize: number;
  /** More than the window needs; the jobs are cancelled once it closes. */
  epochs: number;
}

/** Soak (issue #7): many small jobs through one API process. */
export interface SoakConfig {
  jobs: number;
  /** Jobs submitted but not finished at any time. */
  inFlight: number;
  /** Memory is sampled after every `sampleEvery` finished jobs. */
  sampleEvery: number;
}

export interface BenchConfig {
  quick: boolean;
  dataSeed: number;
  modelSeed: number;
  inputSize: number;
  classes: number;
  learningRate: number;
  workloads: Workload[];
  /**
   * Rounds of the training task for Kiln and PyTorch, interleaved (kiln, kiln-1t, torch-1t, then
   * again): the machine's speed drifts over minutes, so their ratio is judged round by round.
   */
  trainRounds: number;
  matmulShapes: MatmulShape[];
  matmulCases: MatmulCase[];
  /** Timed samples per matmul measurement (median reported); each sample runs ≥ matmulSampleMs. */
  matmulSamples: number;
  matmulSampleMs: number;
  predict: PredictConfig;
  http: HttpConfig;
  load: LoadConfig;
  soak: SoakConfig;
}

export function benchConfig(quick: boolean = QUICK): BenchConfig {
  const matmulShapes: MatmulShape[] = [
    { n: 64, inDim: 784, units: 128, origin: 'small L1', dxUsedInTraining: false },
    { n: 64, inDim: 128, units: 10, origin: 'small L2', dxUsedInTraining: true },
    { n: 128, inDim: 784, units: 512, origin: 'big L1', dxUsedInTraining: false },
    { n: 128, inDim: 512, units: 512, origin: 'big L2', dxUsedInTraining: true },
    { n: 128, inDim: 512, units: 10, origin: 'big L3', dxUsedInTraining: true },
  ];
  // The quick run only smoke-tests the kernels, on the small model's shapes.
  const caseShapes = quick ? matmulShapes.slice(0, 2) : matmulShapes;
  const matmulCases: MatmulCase[] = [];
  for (const shape of caseShapes) {
    for (const kernel of ['forward', 'dW', 'dX'] as const) matmulCases.push({ ...shape, kernel, zeroFraction: 0 });
  }
  // The big model's hidden layer sees relu outputs: about half its inputs are exact zeros, which
  // Kiln's forward and dW kernels skip. Measured for everyone (peers do not skip zeros).
  const hidden = quick ? matmulShapes[1]! : matmulShapes[3]!;
  for (const kernel of ['forward', 'dW'] as const) matmulCases.push({ ...hidden, kernel, zeroFraction: 0.5 });
  return {
    quick,
    dataSeed: DATA_SEED,
    modelSeed: MODEL_SEED,
    inputSize: INPUT_SIZE,
    classes: CLASSES,
    learningRate: 0.001,
    workloads: [
      {
        id: 'mlp-small',
        label: '784-128-10 b64',
        hidden: [128],
        batchSize: 64,
        rows: quick ? 640 : 12800,
        warmupEpochs: 1,
        timedEpochs: quick ? 1 : 5,
        // ~16 s per epoch in tfjs-cpu.
        tfjsCpuTimedEpochs: quick ? 1 : 2,
      },
      {
        // 12,800 rows of this model take ~1.5 s per epoch in Kiln but ~90 s in tfjs-cpu, so the
        // epoch is cut to 2,560 rows (20 steps of 128) for every competitor, and tfjs-cpu (~18 s
        // per epoch) times one epoch only, to keep the full run well under 10 min.
        id: 'mlp-big',
        label: '784-512-512-10 b128',
        hidden: [512, 512],
        batchSize: 128,
        rows: quick ? 128 : 2560,
        warmupEpochs: 1,
        timedEpochs: quick ? 1 : 5,
        tfjsCpuTimedEpochs: 1,
      },
    ],
    trainRounds: quick ? 1 : 3,
    matmulShapes,
    matmulCases,
    matmulSamples: quick ? 3 : 5,
    matmulSampleMs: quick ? 5 : 25,
    predict: {
      singleHidden: [128],
      singleCalls: quick ? 200 : 3000,
      batchHidden: [512, 512],
      batchRows: quick ? 256 : 1024,
      chunk: 256,
      batchRepeats: quick ? { min: 1, max: 1, budgetMs: 0 } : { min: 3, max: 9, budgetMs: 3000 },
    },
    http: quick
      ? { connections: 10, warmupSeconds: 1, roundSeconds: 1, rounds: 1 }
      : { connections: 10, warmupSeconds: 2, roundSeconds: 5, rounds: 3 },
    load: quick
      ? { connections: 64, seconds: 2, rows: 256, hidden: [128], batchSize: 32, epochs: 1000 }
      : { connections: 64, seconds: 20, rows: 4096, hidden: [128], batchSize: 32, epochs: 1000 },
    soak: quick ? { jobs: 10, inFlight: 4, sampleEvery: 5 } : { jobs: 300, inFlight: 8, sampleEvery: 50 },
  };
}

// ---------------------------------------------------------------------------------------------
// Data: a counter-based hash (mulberry32's output function over seed + i·0x6D2B79F5), so the
// Python side can compute the very same float32 values vectorized in numpy.

const GOLDEN = 0x6d2b79f5;

/** The i-th uint32 of stream `seed`. */
export function hash32(seed: number, i: number): number {
  const a = (seed + Math.imul(i + 1, GOLDEN)) | 0;
  let t = Math.imul(a ^ (a >>> 15), 1 | a);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return (t ^ (t >>> 14)) >>> 0;
}

export interface SyntheticData {
  /** rows × 784, uniform in [0, 1) like normalized pixels (dense: no exact zeros). */
  x: Float32Array;
  /** rows class indices 0..9 stored as floats (sparse categorical targets). */
  y: Float32Array;
  rows: number;
  checksum: number;
}

export function syntheticData(rows: number, seed: number, inputSize = INPUT_SIZE, classes = CLASSES): SyntheticData {
  const x = new Float32Array(rows * inputSize);
  for (let i = 0; i < x.length; i++) x[i] = hash32(seed, i) / 4294967296;
  const y = new Float32Array(rows);
  const labelSeed = (seed ^ 0x9e3779b9) | 0;
  for (let i = 0; i < rows; i++) y[i] = Math.floor((hash32(labelSeed, i) / 4294967296) * classes);
  return { x, y, rows, checksum: checksum(x, y) };
}

/** Fingerprint of a dataset (a float64 sum), compared across competitors with a relative tolerance. */
export function checksum(x: Float32Array, y: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]!;
  for (let i = 0; i < y.length; i++) s += y[i]! * 1000;
  return s;
}

/** Uniform [-1, 1) matrix for kernel benchmarks; `zeroFraction` of entries set to exactly 0. */
export function randomMatrix(size: number, seed: number, zeroFraction = 0): Float32Array {
  const m = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    const u = hash32(seed, i) / 4294967296;
    m[i] = u < zeroFraction ? 0 : u * 2 - 1;
  }
  return m;
}

// ---------------------------------------------------------------------------------------------
// Timing.

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** (max − min) / median: how noisy the repetitions were. */
export function spread(values: readonly number[]): number {
  if (values.length < 2) return 0;
  return (Math.max(...values) - Math.min(...values)) / median(values);
}

/** (p75 − p25) / median: for single-call timings, whose tails are long. */
export function iqrSpread(values: readonly number[]): number {
  if (values.length < 4) return spread(values);
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return (at(0.75) - at(0.25)) / median(sorted);
}

/**
 * Seconds per call of `fn`: warms up for ~warmupMs, then takes `samples` samples, each running
 * enough calls to last ≥ sampleMs. Returns the per-call time of every sample.
 */
export function timeCalls(fn: () => void, samples: number, sampleMs: number, warmupMs = sampleMs): number[] {
  let calls = 0;
  const warmStart = performance.now();
  do {
    fn();
    calls++;
  } while (performance.now() - warmStart < warmupMs || calls < 2);
  const perCallMs = (performance.now() - warmStart) / calls;
  const reps = Math.max(1, Math.ceil(sampleMs / Math.max(perCallMs, 1e-6)));
  const out: number[] = [];
  for (let s = 0; s < samples; s++) {
    const t0 = performance.now();
    for (let r = 0; r < reps; r++) fn();
    out.push((performance.now() - t0) / 1000 / reps);
  }
  return out;
}

/**
 * As timeCalls, but also the process CPU seconds per call of every sample: flops per CPU-second
 * is a per-core rate that time slices lost to other processes do not lower.
 */
export function timeCallsWithCpu(
  fn: () => void,
  samples: number,
  sampleMs: number,
  warmupMs = sampleMs,
): { seconds: number[]; cpuSeconds: number[] } {
  let calls = 0;
  const warmStart = performance.now();
  do {
    fn();
    calls++;
  } while (performance.now() - warmStart < warmupMs || calls < 2);
  const perCallMs = (performance.now() - warmStart) / calls;
  const reps = Math.max(1, Math.ceil(sampleMs / Math.max(perCallMs, 1e-6)));
  const seconds: number[] = [];
  const cpuSeconds: number[] = [];
  for (let s = 0; s < samples; s++) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let r = 0; r < reps; r++) fn();
    seconds.push((performance.now() - t0) / 1000 / reps);
    const cpu = process.cpuUsage(cpu0);
    cpuSeconds.push((cpu.user + cpu.system) / 1e6 / reps);
  }
  return { seconds, cpuSeconds };
}

/** Per-call seconds of `calls` individual calls (after `warmup` untimed ones). */
export function timeEach(fn: () => void, calls: number, warmup: number): number[] {
  for (let i = 0; i < warmup; i++) fn();
  const out = new Array<number>(calls);
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    fn();
    out[i] = (performance.now() - t0) / 1000;
  }
  return out;
}

/** Per-call seconds of at least `min` and at most `max` calls (after one untimed), within budgetMs. */
export function timeRepeats(fn: () => void, repeats: { min: number; max: number; budgetMs: number }): number[] {
  fn();
  const out: number[] = [];
  const start = performance.now();
  while (out.length < repeats.min || (out.length < repeats.max && performance.now() - start < repeats.budgetMs)) {
    const t0 = performance.now();
    fn();
    out.push((performance.now() - t0) / 1000);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Results: every competitor process prints one line `BENCH_RESULT {json}` on stdout.

export const RESULT_PREFIX = 'BENCH_RESULT ';

export type Task = 'train' | 'matmul' | 'predict';
export const ALL_TASKS: readonly Task[] = ['train', 'matmul', 'predict'];

export interface TrainResult {
  workload: WorkloadId;
  rows: number;
  batchSize: number;
  /** Wall time of each timed epoch. */
  epochSeconds: number[];
  /** Which interleaved round of the training task measured it (run.ts sets it; 0 = the only one). */
  round?: number;
  /** rows / median epoch time. */
  samplesPerSecond: number;
  spread: number;
  finalLoss: number;
  dataChecksum: number;
}

export interface MatmulResult {
  kernel: MatmulKernel;
  n: number;
  inDim: number;
  units: number;
  /** 'dense' or 'relu50' (the left operand has 50% exact zeros, as after a relu). */
  variant: 'dense' | 'relu50';
  /** 2·N·I·U / median seconds per call, in GFLOP/s. */
  gflops: number;
  spread: number;
  /** Kiln only: threads the kernel was allowed, and 2·N·I·U / median CPU seconds per call. */
  threads?: number;
  perCoreGflops?: number;
  /**
   * Kiln on 1 thread with the fused build: its speed over the plain SIMD build's on the same
   * product, alternating sample by sample in the same process (median of the ratios).
   */
  fmaSpeedup?: number;
}

export interface PredictResult {
  singleRowMicros: number;
  singleRowSpread: number;
  batchRows: number;
  batchRowsPerSecond: number;
  batchSpread: number;
  batchCalls: number;
}

export interface CompetitorResult {
  competitor: string;
  version: string;
  train: TrainResult[];
  matmul: MatmulResult[];
  predict: PredictResult | null;
  notes: string[];
  /** Kiln only: the WebAssembly SIMD ceiling measured in the same process as its kernels. */
  peak?: PeakResult;
  /** Kiln only: kernelBackend() and the kernel thread count. */
  backend?: string;
  threads?: number;
  /** ORT only: Kiln's Sequential.predict (1 kernel thread) timed call by call alternately with ORT. */
  pairedKiln?: PredictResult;
  /** ORT only: the batch predict again with both cores on each side, interleaved the same way. */
  bothCores?: BothCoresBatch;
  /**
   * ORT only: one core's WebAssembly SIMD ceiling, sampled right after the 1-thread batch pairs, and
   * the flops of one row of the batch model: the most rows/s any 1-thread wasm kernel could reach.
   */
  predictCeiling?: { gflops: number; flopsPerRow: number };
}

export interface BothCoresBatch {
  kilnThreads: number;
  ortThreads: number;
  /** The pause after each timed call, so neither side's spinning threads slow the other's call. */
  gapMs: number;
  kilnRowsPerSecond: number;
  ortRowsPerSecond: number;
  kilnSpread: number;
  ortSpread: number;
  pairs: number;
}

export function emptyResult(competitor: string, version: string): CompetitorResult {
  return { competitor, version, train: [], matmul: [], predict: null, notes: [] };
}

export function emitResult(result: CompetitorResult, json: boolean): void {
  if (json) process.stdout.write(RESULT_PREFIX + JSON.stringify(result) + '\n');
  else process.stdout.write(JSON.stringify(result, null, 2) + '\n');
}

/** Progress goes to stderr as `# …` lines, which run.ts relays. */
export function progress(competitor: string, message: string): void {
  process.stderr.write(`# [${competitor}] ${message}\n`);
}

export interface ChildArgs {
  json: boolean;
  tasks: Task[];
  values: Map<string, string>;
}

/** `--json`, `--tasks train,matmul`, `--key value`. */
export function parseArgs(argv: readonly string[]): ChildArgs {
  const values = new Map<string, string>();
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--json') json = true;
    else if (arg.startsWith('--') && i + 1 < argv.length) values.set(arg.slice(2), argv[++i]!);
  }
  const taskList = values.get('tasks');
  const tasks = taskList ? taskList.split(',').filter((t): t is Task => (ALL_TASKS as readonly string[]).includes(t)) : [...ALL_TASKS];
  return { json, tasks, values };
}

export function flops(shape: Pick<MatmulShape, 'n' | 'inDim' | 'units'>): number {
  return 2 * shape.n * shape.inDim * shape.units;
}

/** Flops of one row through a dense MLP (its products; biases and activations left out). */
export function flopsPerRow(inputSize: number, hidden: readonly number[], classes: number): number {
  const sizes = [inputSize, ...hidden, classes];
  let total = 0;
  for (let i = 1; i < sizes.length; i++) total += flops({ n: 1, inDim: sizes[i - 1]!, units: sizes[i]! });
  return total;
}

/** The MatmulResult for a case, given the seconds per call of each sample. */
export function matmulResult(c: MatmulCase, seconds: readonly number[]): MatmulResult {
  return {
    kernel: c.kernel,
    n: c.n,
    inDim: c.inDim,
    units: c.units,
    variant: c.zeroFraction > 0 ? 'relu50' : 'dense',
    gflops: flops(c) / median(seconds) / 1e9,
    spread: spread(seconds),
  };
}

export function matmulLabel(c: Pick<MatmulResult, 'kernel' | 'n' | 'inDim' | 'units' | 'variant'>): string {
  return `${c.kernel} ${c.n}×${c.inDim}×${c.units}${c.variant === 'relu50' ? ' relu50' : ''}`;
}

// ---------------------------------------------------------------------------------------------
// The WebAssembly SIMD ceiling (bench/simd-peak.ts).

export interface PeakVariant {
  accumulators: number;
  gflops: number;
  spread: number;
}

export interface PeakRates {
  /** Median GFLOP/s by wall time, all threads together. */
  wall: number;
  /** Median GFLOP per CPU-second: the rate of one core, whatever else the machine runs. */
  perCore: number;
  wallSpread: number;
  perCoreSpread: number;
}

export interface PeakResult {
  /** Fused multiply-adds (relaxed SIMD) rather than a multiply and an add per update. */
  fma: boolean;
  /** Updates of every accumulator per loop iteration. */
  unroll: number;
  /** Best-of-5 GFLOP/s of each accumulator count on one thread. */
  variants: PeakVariant[];
  bestAccumulators: number;
  oneThread: PeakRates;
  twoThreads: PeakRates;
}

// ---------------------------------------------------------------------------------------------
// HTTP, load and soak results (bench/http.ts).

export interface HttpRouteStats {
  requests: number;
  requestsPerSecond: number;
  /** Latencies in milliseconds. */
  p50: number;
  p99: number;
  max: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

export interface HttpResult {
  versions: string;
  connections: number;
  roundSeconds: number;
  /** One entry per round. */
  empty: HttpRouteStats[];
  predict: HttpRouteStats[];
  /** The same row as application/octet-stream (784 little-endian float32). */
  predictBinary: HttpRouteStats[];
  /** POST /bench/empty with the binary body: read whole, dropped, answered {}. */
  emptyPost: HttpRouteStats[];
  /** Median over rounds of predict req/s ÷ empty req/s of the same round. */
  ratio: number;
  ratioBinary: number;
  /** Median over rounds of binary predict req/s ÷ empty POST (same body) req/s. */
  ratioBinaryEmptyPost: number;
  bodyBytes: number;
  binaryBodyBytes: number;
  /** bench/raw-server.ts: plain node:http, GET {} vs POST of the same JSON body, JSON.parse only. */
  raw: { get: HttpRouteStats[]; post: HttpRouteStats[]; ratio: number };
  /** The same predicts on a second instance of the app with PREDICT_BATCH_ROWS=0 (one forward pass per request). */
  unbatched: {
    predict: HttpRouteStats[];
    predictBinary: HttpRouteStats[];
    /** Against the batching server's empty route of the same round. */
    ratio: number;
    ratioBinary: number;
    /** Median over rounds of batched req/s ÷ unbatched req/s. */
    gain: number;
    gainBinary: number;
  };
  /**
   * The batching server's forward passes and the predict requests they answered over the timed
   * rounds; `largest`, the most requests in one pass since the server started.
   */
  batching: { passes: number; requests: number; largest: number };
  loadAverage: [number, number];
}

export interface LoadJob {
  id: string;
  statusBefore: string;
  statusAfter: string;
  finalStatus: string;
  /** Training steps done during the window, and the rows/s they make. */
  steps: number;
  samplesPerSecond: number;
}

export interface LoadResult {
  connections: number;
  seconds: number;
  stats: HttpRouteStats;
  p90: number;
  p999: number;
  jobs: LoadJob[];
  trainingRows: number;
  loadAverage: [number, number];
  /** MAX_EVENT_LOOP_DELAY_MS the server ran with (load shedding; 0 = off). */
  maxEventLoopDelayMs: number;
}

export interface MemorySample {
  label: string;
  finished: number;
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  gc: boolean;
}

export interface SoakResult {
  jobs: number;
  completed: number;
  failed: number;
  seconds: number;
  memory: MemorySample[];
  /** heapUsed after GC: last sample minus the first sample after the warm-up. */
  heapGrowthBytes: number;
  rssGrowthBytes: number;
  tmpFiles: string[];
  /** checkpoints/<jobId> directories still present for finished jobs. */
  checkpointDirs: string[];
  fdsBefore: number;
  fdsAfter: number;
  childProcessesAfter: number;
  /** Files under DATA_DIR at the end, by top-level directory. */
  files: Record<string, number>;
  loadAverage: [number, number];
}
