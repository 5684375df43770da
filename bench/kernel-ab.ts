/**
 * Kernel A/B: two versions of the product kernels (src/engine/kernels/wasm/assembly/kernels.ts)
 * compiled fresh and instantiated on one shared memory in one process, each product alternating
 * between them sample by sample. On a shared VM where the same product measured in two processes a
 * minute apart can differ by 1.8×, the ratio of adjacent samples is the steady figure.
 *
 *   npm run bench:kernels -- [--base HEAD] [--cases f:128x784x512,dw:128x784x512,...] [--rounds 7] [--plain]
 *
 * A = the file at git ref `--base` (default HEAD), B = the working tree's. Cases are
 * `kind:NxIxU` as in the bench's matmul part: f = forward X(N×I)·W(I×U)+b, dw = Xᵀ·dY
 * (accumulating), dx = dY·Wᵀ, s = the few-row kernel (gemmSmall, N < 4). The default is every
 * product training uses plus single-row predicts. Printed per case: GFLOP/s of each (median of
 * the samples), both as a share of the wasm SIMD ceiling sampled in the same process, and B/A as
 * the median of the per-pair ratios with their range. `--plain` compares the multiply + add
 * builds instead of the fused ones.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { compileKernels, KERNELS_SOURCE } from '../scripts/build-wasm.js';
import type { KernelExports } from '../src/engine/kernels/wasm/runtime.js';
import { PeakMeter } from './simd-peak.js';
import { flops as productFlops, median, parseArgs, randomMatrix } from './workloads.js';

type Kernels = Pick<KernelExports, 'gemmT' | 'gemmSmall'>;

/** Inner sizes up to this fit the products' scratch panel (K × 16 floats). */
const MAX_INNER = 4096;

type Kind = 'f' | 'dw' | 'dx' | 's';
interface Case {
  kind: Kind;
  n: number;
  inDim: number;
  units: number;
}

const DEFAULT_CASES =
  'f:64x784x128,dw:64x784x128,f:64x128x10,dw:64x128x10,dx:64x128x10,' +
  'f:128x784x512,dw:128x784x512,f:128x512x512,dw:128x512x512,dx:128x512x512,f:128x512x10,dw:128x512x10,dx:128x512x10,' +
  's:1x784x128,s:1x784x512,s:1x128x10';

function parseCases(list: string): Case[] {
  return list.split(',').map((text) => {
    const match = /^(f|dw|dx|s):(\d+)x(\d+)x(\d+)$/.exec(text.trim());
    if (!match) throw new Error(`bad case "${text}": expected kind:NxIxU with kind f, dw, dx or s`);
    const [n, inDim, units] = [Number(match[2]), Number(match[3]), Number(match[4])];
    if (match[1] === 's' && n >= 4) throw new Error(`bad case "${text}": the few-row kernel takes N < 4`);
    // The inner size: I for forward, N for dW (Xᵀ·dY), U for dX (dY·Wᵀ).
    const inner = match[1] === 'dw' ? n : match[1] === 'dx' ? units : inDim;
    if (inner > MAX_INNER) throw new Error(`bad case "${text}": inner size ${inner} is over ${MAX_INNER}`);
    return { kind: match[1] as Kind, n, inDim, units };
  });
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const base = args.values.get('base') ?? 'HEAD';
  const cases = parseCases(args.values.get('cases') ?? DEFAULT_CASES);
  const rounds = Number(args.values.get('rounds') ?? '7');
  const fma = !process.argv.includes('--plain');
  if (fma) setFlagsFromString('--experimental-wasm-relaxed-simd');

  const dir = mkdtempSync(join(tmpdir(), 'kiln-kernel-ab-'));
  let baseBytes: Uint8Array;
  let headBytes: Uint8Array;
  try {
    const baseSource = join(dir, 'kernels.ts');
    writeFileSync(baseSource, execFileSync('git', ['show', `${base}:${KERNELS_SOURCE}`]));
    [baseBytes, headBytes] = await Promise.all([compileKernels(fma, baseSource), compileKernels(fma, KERNELS_SOURCE)]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const memory = new WebAssembly.Memory({ initial: 4096, maximum: 65536, shared: true });
  const instantiate = (bytes: Uint8Array): Kernels =>
    new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array(bytes)), { env: { memory, abort: () => undefined } })
      .exports as unknown as Kernels;
  const a = instantiate(baseBytes);
  const b = instantiate(headBytes);
  const meter = await PeakMeter.create(1, 20, fma, 50);
  const ceiling = (): number => {
    const sample = meter.sample();
    return sample.flops / sample.wall;
  };

  // A bump allocator over the shared memory, above the first MiB (the kernels' own data).
  let top = 1 << 20;
  let seed = 1;
  const alloc = (count: number): number => {
    const at = top;
    top += Math.ceil((count * 4) / 64) * 64;
    if (top > memory.buffer.byteLength) memory.grow(Math.ceil((top - memory.buffer.byteLength) / 65536));
    new Float32Array(memory.buffer, at, count).set(randomMatrix(count, seed++));
    return at;
  };
  const pack = alloc(MAX_INNER * 16);

  console.log(
    `kernel A/B · A = ${base}, B = working tree · ${fma ? 'fused multiply-add' : 'multiply + add'} builds · ${rounds} pairs per case`,
  );
  for (const c of cases) {
    top = pack + MAX_INNER * 16 * 4;
    const { n, inDim, units } = c;
    const x = alloc(n * inDim);
    const w = alloc(inDim * units);
    const bias = alloc(units);
    const out = alloc(n * units);
    const dy = alloc(n * units);
    const dw = alloc(inDim * units);
    const dx = alloc(n * inDim);
    const run = (k: Kernels): void => {
      if (c.kind === 'f') k.gemmT(out, x, w, bias, n, inDim, units, 0, pack, 0, units, 0, 0);
      else if (c.kind === 'dw') k.gemmT(dw, x, dy, 0, inDim, n, units, 1, pack, 0, units, 1, 0);
      else if (c.kind === 'dx') k.gemmT(dx, dy, w, 0, n, units, inDim, 0, pack, 0, inDim, 0, 1);
      else k.gemmSmall(out, x, w, bias, n, inDim, units, 0);
    };
    const flops = productFlops(c);
    const reps = Math.max(1, Math.round(1e8 / flops));
    const sample = (k: Kernels): number => {
      const t0 = performance.now();
      for (let r = 0; r < reps; r++) run(k);
      return (performance.now() - t0) / 1000 / reps;
    };
    // Until V8's optimizing compiler has both versions (it compiles hot functions in the background).
    const warm = performance.now() + 400;
    while (performance.now() < warm) {
      sample(a);
      sample(b);
    }
    const ta: number[] = [];
    const tb: number[] = [];
    for (let r = 0; r < rounds; r++) {
      if (r % 2 === 0) {
        ta.push(sample(a));
        tb.push(sample(b));
      } else {
        tb.push(sample(b));
        ta.push(sample(a));
      }
    }
    const peaks = Array.from({ length: 5 }, ceiling);
    const ratios = ta.map((t, i) => t / tb[i]!).sort((p, q) => p - q);
    const rate = (seconds: number[]): number => flops / median(seconds);
    const share = (seconds: number[]): string => `${Math.round((100 * rate(seconds)) / median(peaks))}%`;
    const label = `${c.kind} ${n}×${inDim}×${units}`.padEnd(18);
    console.log(
      `${label} A ${(rate(ta) / 1e9).toFixed(1).padStart(5)}  B ${(rate(tb) / 1e9).toFixed(1).padStart(5)} GFLOP/s ` +
        `(${share(ta)}, ${share(tb)} of ${(median(peaks) / 1e9).toFixed(1)})  B/A ${median(ratios).toFixed(2)}× ` +
        `[${ratios[0]!.toFixed(2)}–${ratios[ratios.length - 1]!.toFixed(2)}]`,
    );
  }
  await meter.close();
}

await main();
