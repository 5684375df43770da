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
import { Sequential, setKernelThreads } from '../src/engine/index.js';
import { createOnnxSession, exportOnnx, runOnnx } from '../src/onnx/index.js';
import { mlpSpec } from './kiln.js';
import {
  benchConfig,
  emitResult,
  emptyResult,
  iqrSpread,
  median,
  parseArgs,
  progress,
  spread,
  syntheticData,
  type BenchConfig,
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
): Promise<{ a: number[]; b: number[] }> {
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
    };
    const timeB = (): void => {
      const t0 = performance.now();
      b();
      tb.push((performance.now() - t0) / 1000);
    };
    if (i % 2 === 0) {
      await timeA();
      timeB();
    } else {
      timeB();
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

/** Measures ORT, interleaved call by call with Kiln's Sequential.predict on one kernel thread. */
async function benchPredict(name: string, config: BenchConfig, threads: number): Promise<{ ort: PredictResult; kiln: PredictResult }> {
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
  const batchTimes = await interleave(
    async () => {
      for (let start = 0; start < p.batchRows; start += p.chunk) {
        const rows = Math.min(p.chunk, p.batchRows - start);
        const out = await runOnnx(bigSession, batch.subarray(start * rowSize, (start + rows) * rowSize), rows, inputShape);
        sink += out[0]!;
      }
    },
    () => {
      sink += big.predict(batch, p.batchRows, p.chunk)[0]!;
    },
    p.batchRepeats.max,
    1,
    p.batchRepeats.budgetMs * 2,
    p.batchRepeats.min,
  );
  await singleSession.release();
  await bigSession.release();
  if (Number.isNaN(sink)) progress(name, 'predict produced NaN');
  return { ort: predictResult(p, singleTimes.a, batchTimes.a), kiln: predictResult(p, singleTimes.b, batchTimes.b) };
}

export async function runOrt(threads = 1, config: BenchConfig = benchConfig()): Promise<CompetitorResult> {
  const name = `ort-${threads}t`;
  const require = createRequire(import.meta.url);
  const pkg = require('onnxruntime-node/package.json') as { version: string };
  const result = emptyResult(name, `onnxruntime-node ${pkg.version} (cpu, intraOpNumThreads ${threads}, graph optimization all)`);
  const { ort, kiln } = await benchPredict(name, config, threads);
  result.predict = ort;
  result.pairedKiln = kiln;
  progress(name, `predict: ${ort.singleRowMicros.toFixed(1)} µs/row, ${ort.batchRowsPerSecond.toFixed(0)} rows/s`);
  progress(name, `interleaved kiln-1t: ${kiln.singleRowMicros.toFixed(1)} µs/row, ${kiln.batchRowsPerSecond.toFixed(0)} rows/s`);
  return result;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = parseArgs(process.argv.slice(2));
  const threads = Number(args.values.get('threads') ?? '1');
  emitResult(await runOrt(threads), args.json);
}
