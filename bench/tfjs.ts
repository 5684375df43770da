/**
 * TensorFlow.js side of the benchmark, one backend per process:
 *   tsx bench/tfjs.ts --backend cpu|wasm --json [--tasks train,matmul,predict]
 * The wasm backend loads its .wasm binaries from node_modules (no network); in Node it runs
 * single-threaded with SIMD.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import {
  benchConfig,
  emitResult,
  emptyResult,
  iqrSpread,
  matmulLabel,
  matmulResult,
  median,
  parseArgs,
  progress,
  randomMatrix,
  spread,
  syntheticData,
  timeCalls,
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

export type TfjsBackend = 'cpu' | 'wasm';

export async function initBackend(backend: TfjsBackend): Promise<string[]> {
  const notes: string[] = [];
  if (backend === 'wasm') {
    const require = createRequire(import.meta.url);
    const dist = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
    setWasmPaths(dist);
  }
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs backend ${backend} failed to initialize`);
  await tf.ready();
  if (tf.getBackend() !== backend) throw new Error(`tfjs is on backend ${tf.getBackend()}, not ${backend}`);
  if (backend === 'wasm') {
    notes.push(
      `simd=${String(tf.env().getBool('WASM_HAS_SIMD_SUPPORT'))} threads=${String(tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT'))}`,
    );
  }
  return notes;
}

export function tfMlp(hidden: readonly number[], classes: number, inputSize: number, seed: number): tf.Sequential {
  const model = tf.sequential();
  const units = [...hidden, classes];
  units.forEach((u, i) => {
    model.add(
      tf.layers.dense({
        units: u,
        activation: i === units.length - 1 ? 'softmax' : 'relu',
        kernelInitializer: tf.initializers.glorotUniform({ seed: seed + i }),
        ...(i === 0 ? { inputShape: [inputSize] } : {}),
      }),
    );
  });
  return model;
}

function lastLoss(history: tf.History): number {
  const values = history.history['loss'] ?? [];
  const last = values[values.length - 1];
  if (last === undefined) return Number.NaN;
  return typeof last === 'number' ? last : last.dataSync()[0]!;
}

async function trainWorkload(name: string, config: BenchConfig, w: Workload): Promise<TrainResult> {
  const data = syntheticData(w.rows, config.dataSeed, config.inputSize, config.classes);
  const model = tfMlp(w.hidden, config.classes, config.inputSize, config.modelSeed);
  // Keras Adam defaults, as Kiln's: β1 0.9, β2 0.999, ε 1e-7 (tfjs's backend epsilon).
  model.compile({ optimizer: tf.train.adam(config.learningRate), loss: 'sparseCategoricalCrossentropy' });
  const xs = tf.tensor2d(data.x, [w.rows, config.inputSize]);
  const ys = tf.tensor2d(data.y, [w.rows, 1]);
  const ends: number[] = [];
  const start = performance.now();
  const timedEpochs = name === 'tfjs-cpu' ? w.tfjsCpuTimedEpochs : w.timedEpochs;
  const history = await model.fit(xs, ys, {
    epochs: w.warmupEpochs + timedEpochs,
    batchSize: w.batchSize,
    shuffle: true,
    verbose: 0,
    // No periodic event-loop yields: as close to a tight loop as tfjs gets.
    yieldEvery: 'never',
    callbacks: {
      onEpochEnd: async (epoch) => {
        ends.push(performance.now());
        progress(name, `${w.label}: epoch ${epoch + 1} ${((ends.at(-1)! - (ends.at(-2) ?? start)) / 1000).toFixed(2)} s`);
      },
    },
  });
  xs.dispose();
  ys.dispose();
  model.optimizer.dispose(); // Adam's slots are not the model's to dispose
  model.dispose();
  const epochSeconds = ends.map((t, i) => (t - (i === 0 ? start : ends[i - 1]!)) / 1000).slice(w.warmupEpochs);
  return {
    workload: w.id,
    rows: w.rows,
    batchSize: w.batchSize,
    epochSeconds,
    samplesPerSecond: w.rows / median(epochSeconds),
    spread: spread(epochSeconds),
    finalLoss: lastLoss(history),
    dataChecksum: data.checksum,
  };
}

function benchMatmul(config: BenchConfig, c: MatmulCase): MatmulResult {
  const { n, inDim, units } = c;
  const x = tf.tensor2d(randomMatrix(n * inDim, 11, c.zeroFraction), [n, inDim]);
  const w = tf.tensor2d(randomMatrix(inDim * units, 12), [inDim, units]);
  const bias = tf.tensor1d(randomMatrix(units, 13));
  const dy = tf.tensor2d(randomMatrix(n * units, 14), [n, units]);
  // The cpu and wasm backends compute synchronously inside the op call, so timing the op (and
  // disposing its output) measures the kernel without a readback.
  let op: () => tf.Tensor;
  switch (c.kernel) {
    case 'forward':
      op = () => tf.fused.matMul({ a: x, b: w, bias }); // what tfjs-layers' Dense runs
      break;
    case 'dW':
      op = () => tf.matMul(x, dy, true, false);
      break;
    case 'dX':
      op = () => tf.matMul(dy, w, false, true);
      break;
  }
  const seconds = timeCalls(() => op().dispose(), config.matmulSamples, config.matmulSampleMs);
  tf.dispose([x, w, bias, dy]);
  return matmulResult(c, seconds);
}

function benchPredict(config: BenchConfig): PredictResult {
  const p = config.predict;
  const single = tfMlp(p.singleHidden, config.classes, config.inputSize, config.modelSeed);
  const row = syntheticData(1, config.dataSeed + 1).x;
  let sink = 0;
  // Float32Array in, Float32Array out, as Kiln's Sequential.predict.
  const predictRows = (model: tf.Sequential, x: Float32Array, rows: number, batchSize: number): Float32Array => {
    const input = tf.tensor2d(x, [rows, config.inputSize]);
    const out = model.predict(input, { batchSize });
    if (Array.isArray(out)) throw new Error('expected a single output tensor');
    const values = out.dataSync() as Float32Array;
    input.dispose();
    out.dispose();
    return values;
  };
  const singleSeconds = timeEach(
    () => {
      sink += predictRows(single, row, 1, 1)[0]!;
    },
    p.singleCalls,
    Math.min(500, p.singleCalls),
  );
  const big = tfMlp(p.batchHidden, config.classes, config.inputSize, config.modelSeed);
  const batch = syntheticData(p.batchRows, config.dataSeed + 2).x;
  const batchSeconds = timeRepeats(() => {
    sink += predictRows(big, batch, p.batchRows, p.chunk)[0]!;
  }, p.batchRepeats);
  single.dispose();
  big.dispose();
  if (Number.isNaN(sink)) throw new Error('predict produced NaN');
  return {
    singleRowMicros: median(singleSeconds) * 1e6,
    singleRowSpread: iqrSpread(singleSeconds),
    batchRows: p.batchRows,
    batchRowsPerSecond: p.batchRows / median(batchSeconds),
    batchSpread: spread(batchSeconds),
    batchCalls: batchSeconds.length,
  };
}

export async function runTfjs(
  backend: TfjsBackend,
  tasks: readonly Task[],
  config: BenchConfig = benchConfig(),
): Promise<CompetitorResult> {
  const name = `tfjs-${backend}`;
  const notes = await initBackend(backend);
  const result = emptyResult(name, `@tensorflow/tfjs ${tf.version.tfjs} (${backend}${notes.length ? ', ' + notes.join(' ') : ''})`);
  result.notes.push(...notes);
  if (tasks.includes('train')) {
    for (const w of config.workloads) result.train.push(await trainWorkload(name, config, w));
  }
  if (tasks.includes('matmul')) {
    for (const c of config.matmulCases) {
      const r = benchMatmul(config, c);
      progress(name, `matmul ${matmulLabel(r)}: ${r.gflops.toFixed(2)} GFLOP/s`);
      result.matmul.push(r);
    }
  }
  if (tasks.includes('predict')) {
    result.predict = benchPredict(config);
    progress(name, `predict: ${result.predict.singleRowMicros.toFixed(1)} µs/row, ${result.predict.batchRowsPerSecond.toFixed(0)} rows/s`);
  }
  const leaked = tf.memory().numTensors;
  if (leaked > 0) result.notes.push(`${leaked} tensors still allocated at exit`);
  return result;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = parseArgs(process.argv.slice(2));
  const backend = args.values.get('backend') ?? 'cpu';
  if (backend !== 'cpu' && backend !== 'wasm') throw new Error(`--backend must be cpu or wasm, not ${backend}`);
  emitResult(await runTfjs(backend, args.tasks), args.json);
}
