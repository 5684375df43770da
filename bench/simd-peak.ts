/**
 * The WebAssembly SIMD ceiling of this machine, in GFLOP/s: a tiny hand-assembled wasm module
 * whose functions do nothing but independent multiply-adds on registers, in a loop, with the
 * arithmetic Kiln's kernels do: `f32x4.relaxed_madd` (one fused multiply-add per lane and step)
 * when they run their relaxed-SIMD build, `f32x4.mul` + `f32x4.add` when they run the plain one.
 * The ceiling is how fast this engine (V8) on this CPU can issue that arithmetic.
 *
 *   tsx bench/simd-peak.ts --json
 *
 * Each function `peakN(iters) -> f32` keeps N v128 accumulators, and each loop iteration
 * updates every one of them `UNROLL` times: acc ← acc·m + a (8 flops per update, fused or not). The chains
 * are independent, so with enough of them the loop is bound by the multiply and add
 * throughput, not their latency. The best N is the 1-thread ceiling; the 2-thread ceiling runs
 * that function on two worker threads at once and adds up their rates.
 */
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { kernelBackend } from '../src/engine/index.js';
import { QUICK, RESULT_PREFIX, median, progress, spread, type PeakResult, type PeakVariant } from './workloads.js';

const NAME = 'wasm-peak';
/** Accumulator counts tried; x64 has 16 xmm registers, and two hold m and a. */
export const ACCUMULATORS = [4, 8, 10, 12, 14] as const;
const UNROLL = 4;

// ── the module, byte by byte ─────────────────────────────────────────────────────────────────────

function uleb(value: number): number[] {
  const out: number[] = [];
  let v = value >>> 0;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

function f32(value: number): number[] {
  return [...new Uint8Array(new Float32Array([value]).buffer)];
}

function utf8(text: string): number[] {
  const bytes = [...Buffer.from(text, 'utf8')];
  return [...uleb(bytes.length), ...bytes];
}

function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

const OP = {
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  i32Const: 0x41,
  i32Sub: 0x6b,
  f32Const: 0x43,
  loop: 0x03,
  voidBlock: 0x40,
  brIf: 0x0d,
  end: 0x0b,
  simd: 0xfd,
  v128: 0x7b,
} as const;
const F32X4_SPLAT = [OP.simd, ...uleb(0x13)];
const F32X4_EXTRACT_LANE = [OP.simd, ...uleb(0x1f)];
const F32X4_ADD = [OP.simd, ...uleb(0xe4)];
const F32X4_MUL = [OP.simd, ...uleb(0xe6)];
const F32X4_RELAXED_MADD = [OP.simd, ...uleb(0x105)];

/** Body of peakN: param 0 = iterations; locals 1..N accumulators, N+1 = m, N+2 = a. */
function peakBody(n: number, fma: boolean): number[] {
  const m = n + 1;
  const a = n + 2;
  const code: number[] = [];
  // acc_i = splat(1 + i/64); m = splat(0.9999); a = splat(0.0001): every chain converges to 1.0,
  // so nothing overflows or goes denormal however long it runs.
  for (let i = 0; i < n; i++) code.push(OP.f32Const, ...f32(1 + i / 64), ...F32X4_SPLAT, OP.localSet, 1 + i);
  code.push(OP.f32Const, ...f32(0.9999), ...F32X4_SPLAT, OP.localSet, m);
  code.push(OP.f32Const, ...f32(0.0001), ...F32X4_SPLAT, OP.localSet, a);
  code.push(OP.loop, OP.voidBlock);
  for (let u = 0; u < UNROLL; u++) {
    for (let i = 0; i < n; i++) {
      if (fma) code.push(OP.localGet, 1 + i, OP.localGet, m, OP.localGet, a, ...F32X4_RELAXED_MADD, OP.localSet, 1 + i);
      else code.push(OP.localGet, 1 + i, OP.localGet, m, ...F32X4_MUL, OP.localGet, a, ...F32X4_ADD, OP.localSet, 1 + i);
    }
  }
  code.push(OP.localGet, 0, OP.i32Const, 1, OP.i32Sub, OP.localTee, 0, OP.brIf, 0, OP.end);
  // Return lane 0 of the sum of all accumulators, so no chain is dead code.
  code.push(OP.localGet, 1);
  for (let i = 1; i < n; i++) code.push(OP.localGet, 1 + i, ...F32X4_ADD);
  code.push(...F32X4_EXTRACT_LANE, 0, OP.end);
  const body = [...uleb(1), ...uleb(n + 2), OP.v128, ...code];
  return [...uleb(body.length), ...body];
}

/**
 * A module exporting `peak<N>(iters: i32) -> f32` for every N in `accumulators`, with fused
 * multiply-adds when `fma` (relaxed SIMD: on Node 20 V8 needs its flag, which the kernels'
 * runtime turns on when it loads their relaxed-SIMD build).
 */
export function peakModuleBytes(accumulators: readonly number[] = ACCUMULATORS, fma = false): Uint8Array<ArrayBuffer> {
  const count = accumulators.length;
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    // type 0: (i32) -> f32
    ...section(1, [...uleb(1), 0x60, ...uleb(1), 0x7f, ...uleb(1), 0x7d]),
    ...section(3, [...uleb(count), ...accumulators.map(() => 0)]),
    ...section(7, [...uleb(count), ...accumulators.flatMap((n, i) => [...utf8(`peak${n}`), 0x00, ...uleb(i)])]),
    ...section(10, [...uleb(count), ...accumulators.flatMap((n) => peakBody(n, fma))]),
  ];
  return new Uint8Array(bytes);
}

/** Flops one call of peakN(iters) does. */
export function peakFlops(n: number, iters: number): number {
  return n * UNROLL * 8 * iters;
}

type PeakFn = (iters: number) => number;

export interface PeakSample {
  flops: number;
  /** Seconds. */
  wall: number;
  cpu: number;
}

/** GFLOP/s of samples by wall time (median), and per core by CPU time (median). */
export function rates(samples: readonly PeakSample[]): { wall: number; perCore: number; wallSpread: number; perCoreSpread: number } {
  const wall = samples.map((s) => s.flops / s.wall / 1e9);
  const perCore = samples.map((s) => s.flops / Math.max(s.cpu, 1e-6) / 1e9);
  return { wall: median(wall), perCore: median(perCore), wallSpread: spread(wall), perCoreSpread: spread(perCore) };
}

function peakExports(fma: boolean): Record<string, PeakFn> {
  const instance = new WebAssembly.Instance(new WebAssembly.Module(peakModuleBytes(ACCUMULATORS, fma)));
  return instance.exports as unknown as Record<string, PeakFn>;
}

/**
 * Runs fn for ~warmupMs in calls of ~1 ms, so V8 tiers it up from its baseline compiler
 * (Liftoff) to TurboFan first: tier-up only takes effect on the next call, never inside one.
 * Returns iterations per ~1 ms call.
 */
function warmUp(fn: PeakFn, warmupMs: number): number {
  let iters = 256;
  const start = performance.now();
  while (performance.now() - start < warmupMs) {
    const t0 = performance.now();
    fn(iters);
    const ms = performance.now() - t0;
    if (ms < 0.5) iters *= 2;
  }
  return iters;
}

// The helper thread of a two-thread meter: runs peakN(iters) each time `seq` changes.
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { bytes, name, control, warmupMs } = workerData;
const fn = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports[name];
let iters = 256;
const start = performance.now();
while (performance.now() - start < warmupMs) {
  const t0 = performance.now();
  fn(iters);
  if (performance.now() - t0 < 0.5) iters *= 2;
}
Atomics.store(control, 2, 1);
Atomics.notify(control, 2);
let seen = 0;
let sink = 0;
for (;;) {
  while (Atomics.load(control, 0) === seen) Atomics.wait(control, 0, seen, 1000);
  seen = Atomics.load(control, 0);
  if (seen < 0) break;
  sink += fn(control[3]);
  Atomics.store(control, 1, seen);
  Atomics.notify(control, 1);
}
control[4] = sink === sink ? 0 : 1;
`;

/**
 * Measures the ceiling on `threads` threads (1 or 2) in samples of ~sampleMs, so a benchmark can
 * take one ceiling sample next to each of its own samples: under a varying machine load, the
 * ratio of two adjacent samples is steadier than the ratio of two medians taken apart.
 */
export class PeakMeter {
  private constructor(
    readonly fma: boolean,
    readonly threads: number,
    readonly accumulators: number,
    readonly scan: PeakVariant[],
    private readonly fn: PeakFn,
    private readonly iters: number,
    private readonly helper: { worker: Worker; control: Int32Array; seq: number } | null,
  ) {}

  /**
   * Picks the fastest accumulator count on this machine, then sizes samples to ~sampleMs. `fma`:
   * fused multiply-adds (relaxed SIMD), as the kernels' relaxed-SIMD build does.
   */
  static async create(threads: number, sampleMs: number, fma: boolean, warmupMs = 150): Promise<PeakMeter> {
    const exports = peakExports(fma);
    const scan: PeakVariant[] = [];
    let best: { n: number; rate: number } | null = null;
    for (const n of ACCUMULATORS) {
      const fn = exports[`peak${n}`]!;
      const iters = warmUp(fn, warmupMs) * 4;
      // The best of a few short samples: a scan for the fastest code, not a load measurement.
      const rates: number[] = [];
      for (let s = 0; s < 5; s++) {
        const t0 = performance.now();
        fn(iters);
        rates.push(peakFlops(n, iters) / ((performance.now() - t0) / 1000) / 1e9);
      }
      const rate = Math.max(...rates);
      scan.push({ accumulators: n, gflops: rate, spread: spread(rates) });
      if (!best || rate > best.rate) best = { n, rate };
    }
    const n = best!.n;
    const fn = exports[`peak${n}`]!;
    const iters = Math.max(1, Math.round((best!.rate * 1e9 * (sampleMs / 1000)) / peakFlops(n, 1)));
    let helper: PeakMeter['helper'] = null;
    if (threads >= 2) {
      const control = new Int32Array(new SharedArrayBuffer(4 * 5));
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { bytes: peakModuleBytes(ACCUMULATORS, fma), name: `peak${n}`, control, warmupMs },
      });
      worker.unref();
      const failed = new Promise<never>((_, reject) => worker.once('error', reject));
      const ready = (async () => {
        while (Atomics.load(control, 2) === 0) await new Promise((r) => setTimeout(r, 5));
      })();
      await Promise.race([ready, failed]);
      helper = { worker, control, seq: 0 };
    }
    return new PeakMeter(fma, Math.min(2, Math.max(1, threads)), n, scan, fn, iters, helper);
  }

  /**
   * One sample over all threads: its flops, its wall time (until the last thread is done) and
   * the process CPU time it used. flops / CPU time is the rate per core, which preemption by
   * other processes does not change.
   */
  sample(): PeakSample {
    const h = this.helper;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    if (h) {
      h.control[3] = this.iters;
      Atomics.store(h.control, 1, 0);
      h.seq += 1;
      Atomics.store(h.control, 0, h.seq);
      Atomics.notify(h.control, 0);
    }
    this.fn(this.iters);
    if (h) while (Atomics.load(h.control, 1) !== h.seq) Atomics.wait(h.control, 1, 0, 50);
    const wall = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    return { flops: peakFlops(this.accumulators, this.iters) * this.threads, wall, cpu: (cpu.user + cpu.system) / 1e6 };
  }

  async close(): Promise<void> {
    if (!this.helper) return;
    Atomics.store(this.helper.control, 0, -1);
    Atomics.notify(this.helper.control, 0);
    await this.helper.worker.terminate();
  }
}

/** Standalone: the scan, then 1- and 2-thread samples (fused when relaxed SIMD can run). */
export async function measurePeak(quick: boolean = QUICK, fma: boolean = kernelBackend() === 'wasm-simd-fma'): Promise<PeakResult> {
  const samples = quick ? 3 : 9;
  const sampleMs = quick ? 10 : 30;
  const one = await PeakMeter.create(1, sampleMs, fma);
  for (const v of one.scan) progress(NAME, `${v.accumulators} accumulators: ${v.gflops.toFixed(1)} GFLOP/s (best of 5)`);
  const r1 = rates(Array.from({ length: samples }, () => one.sample()));
  const two = await PeakMeter.create(2, sampleMs, fma);
  const r2 = rates(Array.from({ length: samples }, () => two.sample()));
  await two.close();
  progress(NAME, `1 thread: ${r1.wall.toFixed(1)} GFLOP/s wall, ${r1.perCore.toFixed(1)} per CPU-second`);
  progress(NAME, `2 threads: ${r2.wall.toFixed(1)} GFLOP/s wall, ${r2.perCore.toFixed(1)} per CPU-second per core`);
  return {
    fma,
    unroll: UNROLL,
    variants: one.scan,
    bestAccumulators: one.accumulators,
    oneThread: r1,
    twoThreads: r2,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await measurePeak();
  if (process.argv.includes('--json')) process.stdout.write(RESULT_PREFIX + JSON.stringify(result) + '\n');
  else process.stdout.write(JSON.stringify(result, null, 2) + '\n');
}
