/**
 * Kiln's side of the benchmark. Run by run.ts as a child process:
 *   tsx bench/kiln.ts --json [--tasks train,matmul,predict]
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Sequential, Trainer, type LayerSpec, type ModelSpec } from '../src/engine/index.js';
import { matmulBias, matmulTransposeAAccumulate, matmulTransposeB } from '../src/engine/kernels/matmul.js';
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

const NAME = 'kiln';

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

function benchMatmul(config: BenchConfig, c: MatmulCase): MatmulResult {
  const { n, inDim, units } = c;
  const x = randomMatrix(n * inDim, 11, c.zeroFraction);
  const w = randomMatrix(inDim * units, 12);
  const bias = randomMatrix(units, 13);
  const dy = randomMatrix(n * units, 14);
  const out = new Float32Array(n * units);
  const dw = new Float32Array(inDim * units);
  const dx = new Float32Array(n * inDim);
  let fn: () => void;
  switch (c.kernel) {
    case 'forward':
      fn = () => matmulBias(out, x, w, bias, n, inDim, units);
      break;
    case 'dW':
      // The accumulator is cleared per call, as zeroGrad does once per training step.
      fn = () => {
        dw.fill(0);
        matmulTransposeAAccumulate(dw, x, dy, n, inDim, units);
      };
      break;
    case 'dX':
      fn = () => matmulTransposeB(dx, dy, w, n, inDim, units);
      break;
  }
  return matmulResult(c, timeCalls(fn, config.matmulSamples, config.matmulSampleMs));
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

export async function runKiln(tasks: readonly Task[], config: BenchConfig = benchConfig()): Promise<CompetitorResult> {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  const result = emptyResult(NAME, `kiln ${pkg.version} (node ${process.version})`);
  if (tasks.includes('train')) {
    for (const w of config.workloads) result.train.push(await trainWorkload(config, w));
  }
  if (tasks.includes('matmul')) {
    for (const c of config.matmulCases) {
      const r = benchMatmul(config, c);
      progress(NAME, `matmul ${matmulLabel(r)}: ${r.gflops.toFixed(2)} GFLOP/s`);
      result.matmul.push(r);
    }
  }
  if (tasks.includes('predict')) {
    result.predict = benchPredict(config);
    progress(NAME, `predict: ${result.predict.singleRowMicros.toFixed(1)} µs/row, ${result.predict.batchRowsPerSecond.toFixed(0)} rows/s`);
  }
  return result;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = parseArgs(process.argv.slice(2));
  emitResult(await runKiln(args.tasks), args.json);
}
