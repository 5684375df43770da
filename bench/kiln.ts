/**
 * Kiln's side of the benchmark. Run by run.ts as a child process:
 *   tsx bench/kiln.ts --json [--tasks train,matmul,predict] [--threads 2] [--name kiln] [--busy-core N]
 * `--threads` is passed to setKernelThreads (1 or 2; default 2, both cores). The matmul task also
 * measures the WebAssembly SIMD ceiling (bench/simd-peak.ts) in this same process, with as many
 * threads as the kernels, and reports each kernel's rate per CPU-second next to it.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Sequential, Trainer, kernelBackend, setKernelThreads, type LayerSpec, type ModelSpec } from '../src/engine/index.js';
import { zeroFill } from '../src/engine/kernels/elementwise.js';
import { matmulBias, matmulTransposeAAccumulate, matmulTransposeB } from '../src/engine/kernels/matmul.js';
import { createWasmRuntime, wasmRuntime, type WasmRuntime } from '../src/engine/kernels/wasm/runtime.js';
import { PeakMeter, rates, type PeakSample } from './simd-peak.js';
import {
  benchConfig,
  emitResult,
  emptyResult,
  flops,
  iqrSpread,
  matmulLabel,
  matmulResult,
  median,
  parseArgs,
  progress,
  randomMatrix,
  spread,
  syntheticData,
  timeCallsWithCpu,
  timeEach,
  timeRepeats,
  type BenchConfig,
  type CompetitorResult,
  type MatmulCase,
  type MatmulResult,
  type PredictResult,
  type Task,
  type TrainResult,
  type Workload,
} from './workloads.js';

let NAME = 'kiln';

export function mlpSpec(hidden: readonly number[], classes: number, inputSize: number): ModelSpec {
  const layers: LayerSpec[] = hidden.map((units) => ({ type: 'dense', units, activation: 'relu' }));
  layers.push({ type: 'dense', units: classes, activation: 'softmax' });
  return { name: 'bench', inputShape: [inputSize], layers };
}

async function trainWorkload(config: BenchConfig, w: Workload): Promise<TrainResult> {
  const data = syntheticData(w.rows, config.dataSeed, config.inputSize, config.classes);
  const model = new Sequential(mlpSpec(w.hidden, config.classes, config.inputSize), { seed: config.modelSeed });
  const trainer = new Trainer(
    model,
    {
      loss: 'sparse_categorical_crossentropy',
      optimizer: { type: 'adam', learningRate: config.learningRate },
      epochs: w.warmupEpochs + w.timedEpochs,
      batchSize: w.batchSize,
      shuffle: true,
      seed: config.dataSeed,
    },
    { x: data.x, y: data.y, rows: data.rows },
  );
  const ends: number[] = [];
  const start = performance.now();
  const result = await trainer.fit({
    onEpochEnd: (entry) => {
      ends.push(performance.now());
      progress(NAME, `${w.label}: epoch ${entry.epoch} ${((ends.at(-1)! - (ends.at(-2) ?? start)) / 1000).toFixed(2)} s`);
    },
  });
  const epochSeconds = ends.map((t, i) => (t - (i === 0 ? start : ends[i - 1]!)) / 1000).slice(w.warmupEpochs);
  return {
    workload: w.id,
    rows: w.rows,
    batchSize: w.batchSize,
    epochSeconds,
    samplesPerSecond: w.rows / median(epochSeconds),
    spread: spread(epochSeconds),
    finalLoss: result.history.at(-1)!.loss,
    dataChecksum: data.checksum,
  };
}

/**
 * A copy of `source` in wasm memory when the SIMD kernels are on, as the engine allocates its
 * weights, activations and gradients (src/engine/tensor.ts): the kernels then run in place
 * instead of copying foreign operands into scratch first.
 */
function engineArray(source: Float32Array): Float32Array {
  const array = wasmRuntime()?.allocFloat32(source.length) ?? new Float32Array(source.length);
  array.set(source);
  return array;
}

/** The operands of case `c`, each made by `alloc` (the same seeds for every caller). */
function caseOperands(c: MatmulCase, alloc: (values: Float32Array) => Float32Array) {
  const { n, inDim, units } = c;
  return {
    x: alloc(randomMatrix(n * inDim, 11, c.zeroFraction)),
    w: alloc(randomMatrix(inDim * units, 12)),
    bias: alloc(randomMatrix(units, 13)),
    dy: alloc(randomMatrix(n * units, 14)),
    out: alloc(new Float32Array(n * units)),
    dw: alloc(new Float32Array(inDim * units)),
    dx: alloc(new Float32Array(n * inDim)),
  };
}

function benchMatmul(config: BenchConfig, c: MatmulCase, threads: number): MatmulResult {
  const { n, inDim, units } = c;
  const { x, w, bias, dy, out, dw, dx } = caseOperands(c, engineArray);
  let fn: () => void;
  switch (c.kernel) {
    case 'forward':
      fn = () => matmulBias(out, x, w, bias, n, inDim, units);
      break;
    case 'dW':
      // The accumulator is cleared per call, as zeroGrad does once per training step.
      fn = () => {
        zeroFill(dw);
        matmulTransposeAAccumulate(dw, x, dy, n, inDim, units);
      };
      break;
    case 'dX':
      fn = () => matmulTransposeB(dx, dy, w, n, inDim, units);
      break;
  }
  const { seconds, cpuSeconds } = timeCallsWithCpu(fn, config.matmulSamples, config.matmulSampleMs);
  return { ...matmulResult(c, seconds), threads, perCoreGflops: flops(c) / median(cpuSeconds) / 1e9 };
}

/**
 * The product of case `c` on a given runtime's kernels, called directly on operands in its
 * memory (dW's accumulator cleared per call, as zeroGrad does once per step). The closure holds
 * the arrays, which keeps their blocks out of the runtime's pool while it runs.
 */
function productOn(rt: WasmRuntime, c: MatmulCase): () => void {
  const { n, inDim, units } = c;
  const { x, w, bias, dy, out, dw, dx } = caseOperands(c, (values) => {
    const a = rt.allocFloat32(values.length);
    a.set(values);
    return a;
  });
  switch (c.kernel) {
    case 'forward':
      return () => rt.gemm(out.byteOffset, x.byteOffset, w.byteOffset, bias.byteOffset, n, inDim, units, false);
    case 'dW':
      return () => {
        rt.kernels.zero(dw.byteOffset, dw.byteLength);
        rt.gemm(dw.byteOffset, x.byteOffset, dy.byteOffset, 0, inDim, n, units, true, true, false);
      };
    case 'dX':
      return () => rt.gemm(dx.byteOffset, dy.byteOffset, w.byteOffset, 0, n, units, inDim, false, false, true);
  }
}

/**
 * The fused build's speed over the plain build's on case `c` (1 thread): the same product on
 * each runtime, alternating sample by sample, so the machine's drift cancels out.
 */
function fmaSpeedup(config: BenchConfig, c: MatmulCase, fused: WasmRuntime, plain: WasmRuntime): number {
  const runFused = productOn(fused, c);
  const runPlain = productOn(plain, c);
  // Both past V8's tier-up first: the plain runtime's module is compiled fresh, and its kernels
  // run in the baseline compiler until the optimizing one is done (tens of ms).
  for (const run of [runFused, runPlain]) {
    const start = performance.now();
    while (performance.now() - start < 150) run();
  }
  const ratios: number[] = [];
  for (let s = 0; s < config.matmulSamples; s++) {
    const f = median(timeCallsWithCpu(runFused, 1, config.matmulSampleMs).seconds);
    const p = median(timeCallsWithCpu(runPlain, 1, config.matmulSampleMs).seconds);
    ratios.push(p / f);
  }
  return median(ratios);
}

/**
 * Runs the largest case untimed until the kernel helper thread has joined its products for
 * 200 ms. The helper starts with the first shared product of the process (a thread and an isolate,
 * the kernels instantiated in it: it joined after ~54 ms and ~50 ms of CPU on the other core), and
 * in this child nothing has shared a product yet. Without this, that start-up ran during the first
 * case's warm-up and samples and counted in its CPU time, where a training job starts its helper
 * once, long before its products are timed.
 */
function startHelper(config: BenchConfig): void {
  const rt = wasmRuntime();
  if (!rt) return;
  const c = config.matmulCases.reduce((a, b) => (flops(b) > flops(a) ? b : a));
  const run = productOn(rt, c);
  const chunks0 = rt.helperChunks();
  let joinedAt = Number.POSITIVE_INFINITY;
  const start = performance.now();
  // At most 5 s: a helper that never joins (its core taken) leaves the cases to show it.
  while (performance.now() - start < 5000) {
    run();
    const now = performance.now();
    if (joinedAt === Number.POSITIVE_INFINITY && rt.helperChunks() > chunks0) joinedAt = now;
    if (now - joinedAt >= 200) break;
  }
}

/** Times every matmul case; returns each case with its result (also pushed to `result.matmul`). */
async function benchMatmuls(config: BenchConfig, threads: number, result: CompetitorResult): Promise<{ c: MatmulCase; r: MatmulResult }[]> {
  // The ceiling of the arithmetic the kernels do (fused multiply-adds in their relaxed-SIMD build),
  // with as many threads as the kernels may use: a few samples first, then one after every
  // kernel, so the ceiling is sampled across the whole task.
  const fma = kernelBackend() === 'wasm-simd-fma';
  const one = await PeakMeter.create(1, config.matmulSampleMs, fma);
  const meter = threads >= 2 ? await PeakMeter.create(2, config.matmulSampleMs, fma) : one;
  const oneSamples: PeakSample[] = [];
  const samples: PeakSample[] = [];
  const take = (): void => {
    samples.push(meter.sample());
    if (meter !== one) oneSamples.push(one.sample());
  };
  for (let i = 0; i < 3; i++) take();
  if (threads >= 2) startHelper(config);
  const timed: { c: MatmulCase; r: MatmulResult }[] = [];
  for (const c of config.matmulCases) {
    const r = benchMatmul(config, c, threads);
    take();
    progress(NAME, `matmul ${matmulLabel(r)}: ${r.gflops.toFixed(2)} GFLOP/s, ${r.perCoreGflops!.toFixed(2)} per CPU-second`);
    timed.push({ c, r });
    result.matmul.push(r);
  }
  await meter.close();
  const mine = rates(samples);
  const single = meter === one ? mine : rates(oneSamples);
  result.peak = {
    fma,
    unroll: 4,
    variants: one.scan,
    bestAccumulators: one.accumulators,
    oneThread: single,
    twoThreads: meter === one ? { wall: Number.NaN, perCore: Number.NaN, wallSpread: 0, perCoreSpread: 0 } : mine,
  };
  progress(
    NAME,
    `wasm SIMD ceiling: ${mine.wall.toFixed(1)} GFLOP/s wall on ${threads} thread(s), ${mine.perCore.toFixed(1)} per CPU-second per core`,
  );
  return timed;
}

function benchPredict(config: BenchConfig): PredictResult {
  const p = config.predict;
  const single = new Sequential(mlpSpec(p.singleHidden, config.classes, config.inputSize), { seed: config.modelSeed });
  const row = syntheticData(1, config.dataSeed + 1).x;
  let sink = 0;
  const singleSeconds = timeEach(
    () => {
      sink += single.predict(row, 1)[0]!;
    },
    p.singleCalls,
    Math.min(500, p.singleCalls),
  );
  const big = new Sequential(mlpSpec(p.batchHidden, config.classes, config.inputSize), { seed: config.modelSeed });
  const batch = syntheticData(p.batchRows, config.dataSeed + 2).x;
  const batchSeconds = timeRepeats(() => {
    sink += big.predict(batch, p.batchRows, p.chunk)[0]!;
  }, p.batchRepeats);
  if (Number.isNaN(sink)) progress(NAME, 'predict produced NaN');
  return {
    singleRowMicros: median(singleSeconds) * 1e6,
    singleRowSpread: iqrSpread(singleSeconds),
    batchRows: p.batchRows,
    batchRowsPerSecond: p.batchRows / median(batchSeconds),
    batchSpread: spread(batchSeconds),
    batchCalls: batchSeconds.length,
  };
}

export async function runKiln(
  tasks: readonly Task[],
  config: BenchConfig = benchConfig(),
  threads = 2,
  name = 'kiln',
): Promise<CompetitorResult> {
  NAME = name;
  setKernelThreads(threads);
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  const backend = kernelBackend();
  const threadNote = backend !== 'typescript' ? `, ${threads} thread${threads === 1 ? '' : 's'}` : ', 1 thread (no wasm)';
  const result = emptyResult(NAME, `kiln ${pkg.version} (node ${process.version}, ${backend}${threadNote})`);
  result.backend = backend;
  result.threads = backend !== 'typescript' ? threads : 1;
  if (tasks.includes('train')) {
    for (const w of config.workloads) result.train.push(await trainWorkload(config, w));
  }
  const timed = tasks.includes('matmul') ? await benchMatmuls(config, result.threads, result) : [];
  if (tasks.includes('predict')) {
    result.predict = benchPredict(config);
    progress(NAME, `predict: ${result.predict.singleRowMicros.toFixed(1)} µs/row, ${result.predict.batchRowsPerSecond.toFixed(0)} rows/s`);
  }
  // On 1 thread, what the fused multiply-add build gains over the plain one, product by product:
  // last in the process, because calling a second runtime's kernels slowed the engine's own calls
  // into its kernels for the rest of the process (small products ~1/3 slower when it ran between
  // the timed products).
  if (timed.length > 0 && result.threads === 1 && backend === 'wasm-simd-fma') {
    const fused = wasmRuntime();
    const plain = createWasmRuntime(false);
    if (fused && plain) for (const { c, r } of timed) r.fmaSpeedup = fmaSpeedup(config, c, fused, plain);
  }
  return result;
}

/**
 * A process that keeps one CPU busy (a JS busy loop pinned there with taskset), to measure Kiln
 * when another process wants the second core. Resolves once it runs; stop() kills it.
 */
async function busyCore(cpu: number): Promise<{ stop(): void }> {
  const child = spawn('taskset', ['-c', String(cpu), process.execPath, '-e', 'process.send("up"); for (;;);'], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the busy process exited (${code}) before it started`)));
  });
  return { stop: () => void child.kill('SIGKILL') };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = parseArgs(process.argv.slice(2));
  const threads = Number(args.values.get('threads') ?? '2');
  if (threads !== 1 && threads !== 2) throw new Error(`--threads must be 1 or 2, not ${args.values.get('threads')}`);
  const name = args.values.get('name') ?? (threads === 2 ? 'kiln' : `kiln-${threads}t`);
  // --busy-core N: the tasks run while a busy process is pinned to CPU N (see busyCore).
  const busyCpu = args.values.get('busy-core');
  const busy = busyCpu === undefined ? null : await busyCore(Number(busyCpu));
  try {
    emitResult(await runKiln(args.tasks, benchConfig(), threads, name), args.json);
  } finally {
    busy?.stop();
  }
}
