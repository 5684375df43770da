/**
 * onnxruntime-node side of the predict benchmark. Run by run.ts as a child process:
 *   tsx bench/ort.ts --json [--threads 1]
 * The two predict models are built exactly as kiln.ts builds them (same spec, same seed, so the
 * same weights), exported with Kiln's own exporter (src/onnx, `exportOnnx`) and run in an
 * InferenceSession with one intra-op thread (`createOnnxSession`). A call is `runOnnx`:
 * Float32Array in, a Tensor around it, `session.run`, the output's Float32Array out.
 *
 * Every ORT call alternates with the same call to Kiln's `Sequential.predict` (one kernel
 * thread, as the API process serves) in this process, so the Kiln/ORT ratios the goals are
 * judged on compare calls made under the same machine load (`pairedKiln` in the result).
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { kernelBackend, Sequential, setKernelThreads } from '../src/engine/index.js';
import { createOnnxSession, exportOnnx, runOnnx } from '../src/onnx/index.js';
import { mlpSpec } from './kiln.js';
import { PeakMeter } from './simd-peak.js';
import {
  benchConfig,
  emitResult,
  emptyResult,
  iqrSpread,
  flopsPerRow,
  median,
  parseArgs,
  progress,
  spread,
  syntheticData,
  type BenchConfig,
  type BothCoresBatch,
  type CompetitorResult,
  type PredictResult,
} from './workloads.js';

/**
 * Runs `a` and `b` alternately (the order flips every round, so neither always goes first) and
 * returns the per-call seconds of each. Interleaved calls see the same machine load, which makes
 * their ratio steadier than the ratio of two separate runs on a busy machine.
 */
async function interleave(
  a: () => Promise<void>,
  b: () => void,
  rounds: number,
  warmup: number,
  budgetMs = Number.POSITIVE_INFINITY,
  minRounds = rounds,
  gapMs = 0,
): Promise<{ a: number[]; b: number[] }> {
  const gap = (): Promise<void> | undefined => (gapMs > 0 ? new Promise((resolve) => setTimeout(resolve, gapMs)) : undefined);
  for (let i = 0; i < warmup; i++) {
    await a();
    b();
  }
  const ta: number[] = [];
  const tb: number[] = [];
  const start = performance.now();
  for (let i = 0; i < rounds && (i < minRounds || performance.now() - start < budgetMs); i++) {
    const timeA = async (): Promise<void> => {
      const t0 = performance.now();
      await a();
      ta.push((performance.now() - t0) / 1000);
      await gap();
    };
    const timeB = async (): Promise<void> => {
      const t0 = performance.now();
      b();
      tb.push((performance.now() - t0) / 1000);
      await gap();
    };
    if (i % 2 === 0) {
      await timeA();
      await timeB();
    } else {
      await timeB();
      await timeA();
    }
  }
  return { a: ta, b: tb };
}

function predictResult(p: BenchConfig['predict'], singleSeconds: number[], batchSeconds: number[]): PredictResult {
  return {
    singleRowMicros: median(singleSeconds) * 1e6,
    singleRowSpread: iqrSpread(singleSeconds),
    batchRows: p.batchRows,
    batchRowsPerSecond: p.batchRows / median(batchSeconds),
    batchSpread: spread(batchSeconds),
    batchCalls: batchSeconds.length,
  };
}

/** The pause after each timed call of the both-cores pairs (see benchPredict). */
const BOTH_CORES_GAP_MS = 100;

interface PredictPairs {
  ort: PredictResult;
  kiln: PredictResult;
  bothCores: BothCoresBatch;
  ceiling: { gflops: number; flopsPerRow: number };
}

/**
 * Measures ORT, interleaved call by call with Kiln's Sequential.predict on one kernel thread;
 * then the batch again with both cores on each side (Kiln `setKernelThreads(2)`, as
 * `PREDICT_THREADS=2` serves, and ORT `intraOpNumThreads: 2`). One core's wasm SIMD ceiling is
 * sampled right after the 1-thread pairs.
 */
async function benchPredict(name: string, config: BenchConfig, threads: number): Promise<PredictPairs> {
  setKernelThreads(1);
  const p = config.predict;
  const inputShape = [config.inputSize];
  const single = new Sequential(mlpSpec(p.singleHidden, config.classes, config.inputSize), { seed: config.modelSeed });
  const singleSession = await createOnnxSession(exportOnnx(single, { name: 'bench' }), { intraOpNumThreads: threads });
  const row = syntheticData(1, config.dataSeed + 1).x;
  // The exported graph must compute what the engine computes.
  const check = await runOnnx(singleSession, row, 1, inputShape);
  const expected = single.predict(row, 1);
  const diff = Math.max(...Array.from(check, (v, i) => Math.abs(v - expected[i]!)));
  if (!(diff < 1e-4)) throw new Error(`ONNX output differs from the engine's by ${diff}`);
  let sink = 0;
  const singleTimes = await interleave(
    async () => {
      sink += (await runOnnx(singleSession, row, 1, inputShape))[0]!;
    },
    () => {
      sink += single.predict(row, 1)[0]!;
    },
    p.singleCalls,
    Math.min(500, p.singleCalls),
  );
  const big = new Sequential(mlpSpec(p.batchHidden, config.classes, config.inputSize), { seed: config.modelSeed });
  const bigSession = await createOnnxSession(exportOnnx(big, { name: 'bench' }), { intraOpNumThreads: threads });
  const batch = syntheticData(p.batchRows, config.dataSeed + 2).x;
  const rowSize = config.inputSize;
  // ORT gets the rows in chunks of p.chunk, as Sequential.predict splits them.
  const ortBatch = (session: typeof bigSession) => async (): Promise<void> => {
    for (let start = 0; start < p.batchRows; start += p.chunk) {
      const rows = Math.min(p.chunk, p.batchRows - start);
      const out = await runOnnx(session, batch.subarray(start * rowSize, (start + rows) * rowSize), rows, inputShape);
      sink += out[0]!;
    }
  };
  const kilnBatch = (): void => {
    sink += big.predict(batch, p.batchRows, p.chunk)[0]!;
  };
  const batchTimes = await interleave(
    ortBatch(bigSession),
    kilnBatch,
    p.batchRepeats.max,
    1,
    p.batchRepeats.budgetMs * 2,
    p.batchRepeats.min,
  );
  const meter = await PeakMeter.create(1, 20, kernelBackend() === 'wasm-simd-fma', 50);
  const ceilingSamples: number[] = [];
  for (let i = 0; i < 7; i++) {
    const sample = meter.sample();
    ceilingSamples.push(sample.flops / sample.wall / 1e9);
  }
  await meter.close();
  await singleSession.release();
  await bigSession.release();

  const both = 2;
  setKernelThreads(both);
  const bothSession = await createOnnxSession(exportOnnx(big, { name: 'bench' }), { intraOpNumThreads: both });
  let bothTimes: { a: number[]; b: number[] };
  try {
    // A few calls first: the helper thread starts, and Kiln settles whether sharing pays. A pause
    // after each timed call: ORT's pool thread keeps the second core busy for a while after a run
    // (Kiln's 2-thread predicts ran at ~0.5× with 2 ms pauses, ~0.6× with 20 ms, unchanged with
    // 100 ms), and Kiln's helper spins ~0.4 ms.
    bothTimes = await interleave(
      ortBatch(bothSession),
      kilnBatch,
      p.batchRepeats.max,
      5,
      p.batchRepeats.budgetMs * 2,
      p.batchRepeats.min,
      BOTH_CORES_GAP_MS,
    );
  } finally {
    setKernelThreads(1);
    await bothSession.release();
  }
  if (Number.isNaN(sink)) progress(name, 'predict produced NaN');
  const rowsPerSecond = (seconds: number[]): number => p.batchRows / median(seconds);
  return {
    ort: predictResult(p, singleTimes.a, batchTimes.a),
    kiln: predictResult(p, singleTimes.b, batchTimes.b),
    bothCores: {
      kilnThreads: both,
      ortThreads: both,
      gapMs: BOTH_CORES_GAP_MS,
      kilnRowsPerSecond: rowsPerSecond(bothTimes.b),
      ortRowsPerSecond: rowsPerSecond(bothTimes.a),
      kilnSpread: spread(bothTimes.b),
      ortSpread: spread(bothTimes.a),
      pairs: bothTimes.b.length,
    },
    ceiling: { gflops: median(ceilingSamples), flopsPerRow: flopsPerRow(config.inputSize, p.batchHidden, config.classes) },
  };
}

export async function runOrt(threads = 1, config: BenchConfig = benchConfig()): Promise<CompetitorResult> {
  const name = `ort-${threads}t`;
  const require = createRequire(import.meta.url);
  const pkg = require('onnxruntime-node/package.json') as { version: string };
  const result = emptyResult(name, `onnxruntime-node ${pkg.version} (cpu, intraOpNumThreads ${threads}, graph optimization all)`);
  const { ort, kiln, bothCores, ceiling } = await benchPredict(name, config, threads);
  result.predict = ort;
  result.pairedKiln = kiln;
  result.bothCores = bothCores;
  result.predictCeiling = ceiling;
  progress(name, `predict: ${ort.singleRowMicros.toFixed(1)} µs/row, ${ort.batchRowsPerSecond.toFixed(0)} rows/s`);
  progress(name, `interleaved kiln-1t: ${kiln.singleRowMicros.toFixed(1)} µs/row, ${kiln.batchRowsPerSecond.toFixed(0)} rows/s`);
  progress(
    name,
    `both cores: kiln ${bothCores.kilnRowsPerSecond.toFixed(0)} rows/s, ort ${bothCores.ortRowsPerSecond.toFixed(0)} rows/s; ` +
      `1-core wasm SIMD ceiling ${ceiling.gflops.toFixed(1)} GFLOP/s = ${((ceiling.gflops * 1e9) / ceiling.flopsPerRow).toFixed(0)} rows/s`,
  );
  return result;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = parseArgs(process.argv.slice(2));
  const threads = Number(args.values.get('threads') ?? '1');
  emitResult(await runOrt(threads), args.json);
}
