/**
 * The WebAssembly SIMD backend: one shared linear memory that holds the engine's float32
 * buffers (so kernels run on them in place), the compiled kernels, and an optional helper
 * thread that shares the column chunks of each large matrix product. Shared memory never detaches views when
 * it grows, and shared memory is what lets a second thread work on the same buffers.
 *
 * Where WebAssembly SIMD or shared memory is missing, `wasmRuntime()` returns null and the
 * engine stays on its plain TypeScript kernels.
 */
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { KERNELS_FMA_WASM_BASE64, KERNELS_WASM_BASE64 } from './binary.js';
import { ShareChooser } from './share-chooser.js';

const PAGE = 65536;
const MAX_PAGES = 65536; // 4 GiB, wasm32's limit
const ALIGN = 64; // a cache line, and v128-aligned

/** What the compiled kernels export (bench/kernel-ab.ts instantiates them too). */
export interface KernelExports {
  gemmSmall(c: number, a: number, b: number, bias: number, m: number, k: number, n: number, accumulate: number): void;
  gemmT(
    c: number,
    a: number,
    b: number,
    bias: number,
    m: number,
    k: number,
    n: number,
    accumulate: number,
    pack: number,
    j0: number,
    j1: number,
    transA: number,
    transB: number,
  ): void;
  adam(
    p: number,
    g: number,
    m: number,
    v: number,
    vhat: number,
    n: number,
    alpha: number,
    beta1: number,
    beta2: number,
    epsilon: number,
  ): void;
  reluForward(y: number, x: number, n: number): void;
  reluBackward(dx: number, dy: number, x: number, n: number): void;
  columnSumAccumulate(dbias: number, dy: number, n: number, units: number): void;
  zero(ptr: number, bytes: number): void;
}

/**
 * Control block layout (Int32 slots) shared with the helper thread. `state`: 0 idle, 1 a task
 * is open for the helper to join, 2 the helper joined it. `next`: the next chunk to take;
 * `chunk`: its size (columns of a product, elements of an update); `helperChunks`: how many the
 * helper has taken in all (tests check it takes part); `failed`: the helper's share threw. Float arguments go in a
 * Float64 view after the Int32 slots.
 */
const CTRL = { seq: 0, done: 1, state: 2, next: 3, chunks: 4, chunk: 5, task: 6, helperChunks: 7, failed: 8, args: 9 } as const;
const ARGS = 13;
const FLOAT_ARGS = 4;
const CONTROL_BYTES = 8 * Math.ceil((4 * (CTRL.args + ARGS)) / 8);
const OPEN = 1;
const JOINED = 2;
const TASK = { gemm: 0, adam: 1 } as const;
const HELPER_SPINS = 50_000;
/** How long the main thread spins for the helper's last chunk before it sleeps (see waitForHelper). */
const MAIN_SPIN_MS = 1;
/**
 * Chunks per task: enough for one thread to take over when the other is late, and small enough
 * that neither waits long for the other's last one at the end of a product (a chunk costs one
 * atomic add). In-process A/B runs on the big model: 64 chunks trained a median 3% faster than 8
 * (5 runs), and 16 was within noise of 64; 32 sits between.
 */
const TARGET_CHUNKS = 32;
/** Updates smaller than this stay on one thread (the handoff would cost more). */
const MIN_SHARED_UPDATE = 64 * 1024;

export class WasmRuntime {
  readonly memory: WebAssembly.Memory;
  readonly kernels: KernelExports;
  private readonly module: WebAssembly.Module;
  private readonly buffers = new WeakSet<ArrayBufferLike>();
  private top: number;
  private readonly free = new Map<number, number[]>();
  private readonly registry: FinalizationRegistry<{ offset: number; bytes: number }>;
  private helper: Helper | null = null;
  private threads = 1;
  private readonly chooser = new ShareChooser();
  private readonly mainPack = { offset: 0, bytes: 0 };
  private helperPack = { offset: 0, bytes: 0 };

  /**
   * @param fusedMultiplyAdd whether `module` is the relaxed-SIMD build, whose products round
   * once per step (results differ from the other build's in the last bits)
   */
  constructor(
    module: WebAssembly.Module,
    readonly fusedMultiplyAdd: boolean,
  ) {
    this.module = module;
    this.memory = new WebAssembly.Memory({ initial: 16, maximum: MAX_PAGES, shared: true });
    const instance = new WebAssembly.Instance(module, { env: { memory: this.memory, abort: () => undefined } });
    this.kernels = instance.exports as unknown as KernelExports;
    this.buffers.add(this.memory.buffer);
    this.top = ALIGN; // offset 0 stays unused so a null pointer is never a real buffer
    this.registry = new FinalizationRegistry(({ offset, bytes }) => this.release(offset, bytes));
  }

  /** Whether a typed array lives in this runtime's memory (so kernels can use it in place). */
  owns(array: Float32Array): boolean {
    return this.buffers.has(array.buffer);
  }

  /**
   * A zeroed float32 array in wasm memory. Its block returns to the pool when the array is
   * garbage-collected, so callers must keep the returned array alive while any subarray of it
   * is in use (GrowableBuffer and the model arenas do).
   */
  allocFloat32(length: number): Float32Array {
    const bytes = sizeClass(Math.max(length, 1) * 4);
    const offset = this.take(bytes);
    const array = new Float32Array(this.memory.buffer, offset, length);
    this.kernels.zero(offset, length * 4); // a pooled block is not clean
    this.registry.register(array, { offset, bytes });
    return array;
  }

  /** Scratch memory that is never returned (pack buffers, copies of foreign operands). */
  scratch(bytes: number): number {
    return this.take(sizeClass(bytes));
  }

  private take(bytes: number): number {
    const list = this.free.get(bytes);
    if (list && list.length > 0) return list.pop()!;
    const offset = this.top;
    const end = offset + bytes;
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      const pages = Math.ceil((end - have) / PAGE);
      // Grow generously to keep growth rare.
      this.memory.grow(Math.min(Math.max(pages, have / PAGE / 2), MAX_PAGES - have / PAGE));
      this.buffers.add(this.memory.buffer);
    }
    this.top = end;
    return offset;
  }

  private release(offset: number, bytes: number): void {
    let list = this.free.get(bytes);
    if (!list) this.free.set(bytes, (list = []));
    list.push(offset);
  }

  /** A byte offset of scratch for `bytes`, reused between calls (main thread only). */
  mainScratch(bytes: number): number {
    if (this.mainPack.bytes < bytes) {
      this.mainPack.offset = this.scratch(bytes);
      this.mainPack.bytes = sizeClass(bytes);
    }
    return this.mainPack.offset;
  }

  setThreads(threads: number): void {
    this.threads = Math.max(1, Math.min(2, Math.floor(threads)));
    if (this.threads === 1 && this.helper) {
      void this.helper.worker.terminate();
      this.helper = null;
    }
  }

  /**
   * C = A @ B (+ bias) or C += A @ B over wasm byte offsets, shared out in column chunks between
   * this thread and the helper when the product is large enough to pay for the handoff. Every
   * output element is computed the same way whoever computes it, so results do not depend on
   * the thread count.
   */
  gemm(
    c: number,
    a: number,
    b: number,
    bias: number,
    m: number,
    k: number,
    n: number,
    accumulate: boolean,
    transA = false,
    transB = false,
  ): void {
    const acc = accumulate ? 1 : 0;
    const ta = transA ? 1 : 0;
    const tb = transB ? 1 : 0;
    if (m < 4 && !transA && !transB) {
      this.kernels.gemmSmall(c, a, b, bias, m, k, n, acc);
      return;
    }
    // K rows of up to 16 floats: the kernels' panels are 8 wide, their narrow path's up to 16.
    const packBytes = k * 64;
    const pack = this.mainScratch(packBytes);
    const panels = Math.ceil(n / 8);
    // Products up to 16 columns wide run in one pass over the rows (gemmT's narrow path),
    // which a column split would cut in two; they are small enough not to need the helper.
    if (this.threads === 1 || n <= 16 || m * k * n < 256 * 1024) {
      this.kernels.gemmT(c, a, b, bias, m, k, n, acc, pack, 0, n, ta, tb);
      return;
    }
    this.sharedOrAlone(
      `gemm ${m} ${k} ${n} ${acc}${ta}${tb}`,
      () => this.kernels.gemmT(c, a, b, bias, m, k, n, acc, pack, 0, n, ta, tb),
      () => {
        // Column chunks of whole 8-wide panels; the narrow tail goes with the last one.
        const helper = this.ensureHelper(packBytes);
        const chunkCols = 8 * Math.ceil(panels / TARGET_CHUNKS);
        const args = [c, a, b, bias, m, k, n, acc, helper.pack, 0, 0, ta, tb];
        this.share(helper, TASK.gemm, args, [], Math.ceil(n / chunkCols), chunkCols, (j0) =>
          this.kernels.gemmT(c, a, b, bias, m, k, n, acc, pack, j0, Math.min(n, j0 + chunkCols), ta, tb),
        );
      },
    );
  }

  /**
   * The Adam update of `n` float32 parameters (byte offsets; vhat 0 without AMSGrad), shared
   * with the helper when it is large. Every element is updated on its own, and chunks are
   * multiples of 4 elements, so the SIMD lanes and the scalar tail meet the same elements for
   * any thread count.
   */
  adam(
    p: number,
    g: number,
    m: number,
    v: number,
    vhat: number,
    n: number,
    alpha: number,
    beta1: number,
    beta2: number,
    epsilon: number,
  ): void {
    if (this.threads === 1 || n < MIN_SHARED_UPDATE) {
      this.kernels.adam(p, g, m, v, vhat, n, alpha, beta1, beta2, epsilon);
      return;
    }
    this.sharedOrAlone(
      `adam ${n}`,
      () => this.kernels.adam(p, g, m, v, vhat, n, alpha, beta1, beta2, epsilon),
      () => {
        const helper = this.ensureHelper(0);
        const chunk = 4 * Math.ceil(n / TARGET_CHUNKS / 4);
        this.share(helper, TASK.adam, [p, g, m, v, vhat, n], [alpha, beta1, beta2, epsilon], Math.ceil(n / chunk), chunk, (i0) => {
          const o = 4 * i0;
          this.kernels.adam(p + o, g + o, m + o, v + o, vhat ? vhat + o : 0, Math.min(chunk, n - i0), alpha, beta1, beta2, epsilon);
        });
      },
    );
  }

  /** Runs a large task of this kind shared with the helper or alone, as the chooser says, and times it for the chooser. */
  private sharedOrAlone(kind: string, alone: () => void, shared: () => void): void {
    const share = this.chooser.share();
    const start = performance.now();
    if (share) shared();
    else alone();
    this.chooser.record(kind, share, performance.now() - start);
  }

  /**
   * Runs `chunks` chunks of a task on this thread and the helper: both take chunks from a
   * shared counter until none is left. A helper that is late (its core busy with another
   * process) takes fewer, or none: the task never waits for it to be scheduled. A chunk's
   * result does not depend on who computes it, so neither does the task's.
   */
  private share(
    helper: Helper,
    task: number,
    args: number[],
    floats: number[],
    chunks: number,
    chunk: number,
    run: (start: number) => void,
  ): void {
    const control = helper.control;
    for (let i = 0; i < args.length; i++) control[CTRL.args + i] = args[i]!;
    for (let i = 0; i < floats.length; i++) helper.floats[i] = floats[i]!;
    control[CTRL.task] = task;
    control[CTRL.chunks] = chunks;
    control[CTRL.chunk] = chunk;
    Atomics.store(control, CTRL.next, 0);
    Atomics.store(control, CTRL.done, 0);
    Atomics.store(control, CTRL.failed, 0);
    Atomics.store(control, CTRL.state, OPEN);
    helper.seq += 1;
    Atomics.store(control, CTRL.seq, helper.seq);
    Atomics.notify(control, CTRL.seq);
    try {
      for (let i = Atomics.add(control, CTRL.next, 1); i < chunks; i = Atomics.add(control, CTRL.next, 1)) run(i * chunk);
    } finally {
      // Close the task to a helper that has not joined yet; one that has is finishing its chunk,
      // and must be done with it before the next task rewrites the control block.
      if (Atomics.compareExchange(control, CTRL.state, OPEN, 0) !== OPEN) {
        waitForHelper(control);
        Atomics.store(control, CTRL.state, 0);
      }
    }
    if (Atomics.load(control, CTRL.failed) !== 0) throw new Error(`the kernel helper thread failed on its share of a task (${task})`);
  }

  /** Large tasks run on this thread alone, and how often that choice changed (see ShareChooser). */
  sharingStats(): { aloneTasks: number; switches: number } {
    return { aloneTasks: this.chooser.aloneTasks, switches: this.chooser.switches };
  }

  /** Chunks of shared work the helper thread has taken so far (0 without a helper). */
  helperChunks(): number {
    return this.helper ? Atomics.load(this.helper.control, CTRL.helperChunks) : 0;
  }

  private ensureHelper(packBytes: number): Helper {
    if (!this.helper) {
      const shared = new SharedArrayBuffer(CONTROL_BYTES + 8 * FLOAT_ARGS);
      const control = new Int32Array(shared, 0, CONTROL_BYTES / 4);
      const floats = new Float64Array(shared, CONTROL_BYTES, FLOAT_ARGS);
      const worker = new Worker(HELPER_SOURCE, { eval: true, workerData: { module: this.module, memory: this.memory, shared } });
      worker.unref();
      // A helper made again after setThreads(1) reuses the last one's pack: scratch is never freed.
      this.helper = { worker, control, floats, seq: 0, pack: this.helperPack.offset, packBytes: this.helperPack.bytes };
    }
    if (this.helper.packBytes < packBytes) {
      this.helper.packBytes = sizeClass(Math.max(packBytes, 64 * 1024));
      this.helper.pack = this.scratch(this.helper.packBytes);
      this.helperPack = { offset: this.helper.pack, bytes: this.helper.packBytes };
    }
    return this.helper;
  }
}

interface Helper {
  worker: Worker;
  control: Int32Array;
  floats: Float64Array;
  seq: number;
  pack: number;
  packBytes: number;
}

/** Rounds up to quarter-power-of-two steps (≤ 25% waste), aligned to a cache line. */
function sizeClass(bytes: number): number {
  const aligned = Math.ceil(bytes / ALIGN) * ALIGN;
  if (aligned <= 4096) return aligned;
  const step = 2 ** (Math.floor(Math.log2(aligned)) - 2);
  return Math.ceil(aligned / step) * step;
}

/**
 * Waits for the helper to finish its last chunk of a task: spinning up to MAIN_SPIN_MS (a chunk
 * takes well under that), then sleeping. Spinning is not only about latency: a thread woken by
 * another was often put on the waker's CPU although the other CPU was idle. A main thread that
 * slept here after 2,000 spins was woken onto the helper's CPU, and the two then took turns on one
 * CPU (`perf sched timehist`: ~2 ms turns while the other vCPU idled 10–30 ms at a time) until the
 * load balancer moved one; the next sleep put them together again. On the 2-vCPU VM where this was
 * found, 2-thread predicts of 1,024 rows with 100 ms pauses between calls ran at 15–17 ms or 29–42 ms,
 * about half of them slow; spinning up to 1 ms, at 17–22 ms. A helper descheduled mid-chunk costs
 * at most this spin per task, and the ShareChooser runs such tasks alone when sharing stops paying:
 * with a busy loop pinned to the second vCPU, the small bench model trained at a mean 72,300
 * samples/s with the 1 ms spin against 62,600 with 2,000 spins (6 alternating runs each).
 */
function waitForHelper(control: Int32Array): void {
  const deadline = performance.now() + MAIN_SPIN_MS;
  for (let spins = 1; Atomics.load(control, CTRL.done) === 0; spins++) {
    if ((spins & 1023) === 0 && performance.now() > deadline) Atomics.wait(control, CTRL.done, 0, 50);
  }
}

// The helper thread: waits for a new sequence number, joins the task if it is still open,
// takes chunks until none is left, signals. Between tasks it spins HELPER_SPINS loads (~0.4 ms;
// OpenMP runtimes likewise spin a while before they sleep), which spans the serial work between
// the products of a training step: woken from sleep instead, it joined each product late.
// Alternating spin counts epoch by epoch in one process, 50K trained the small model 9–15% and
// the big one 1–3% faster than 2K, and 20K–200K were within noise of each other. (On a day when
// the two vCPUs shared one core's FP units, a spinning helper had slowed the main thread instead;
// the bench notes when its two-thread ceiling shows that.) It reads the arguments only after
// joining, so a late helper that joins a newer task than the one it woke for works on the right one.
const HELPER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, shared } = workerData;
const control = new Int32Array(shared, 0, ${CONTROL_BYTES / 4});
const floats = new Float64Array(shared, ${CONTROL_BYTES}, ${FLOAT_ARGS});
const { gemmT, adam } = new WebAssembly.Instance(module, { env: { memory, abort() {} } }).exports;
const a = ${CTRL.args};
let seen = 0;
for (;;) {
  let spins = 0;
  while (Atomics.load(control, ${CTRL.seq}) === seen) {
    if (++spins > ${HELPER_SPINS}) Atomics.wait(control, ${CTRL.seq}, seen, 1000);
  }
  seen = Atomics.load(control, ${CTRL.seq});
  if (Atomics.compareExchange(control, ${CTRL.state}, ${OPEN}, ${JOINED}) !== ${OPEN}) continue;
  const task = control[${CTRL.task}];
  const chunks = control[${CTRL.chunks}];
  const size = control[${CTRL.chunk}];
  try {
    for (let i = Atomics.add(control, ${CTRL.next}, 1); i < chunks; i = Atomics.add(control, ${CTRL.next}, 1)) {
      Atomics.add(control, ${CTRL.helperChunks}, 1);
      const start = i * size;
      if (task === ${TASK.gemm}) {
        const n = control[a + 6];
        gemmT(control[a], control[a + 1], control[a + 2], control[a + 3], control[a + 4], control[a + 5], n, control[a + 7], control[a + 8], start, Math.min(n, start + size), control[a + 11], control[a + 12]);
      } else {
        const o = 4 * start;
        const vhat = control[a + 4];
        adam(control[a] + o, control[a + 1] + o, control[a + 2] + o, control[a + 3] + o, vhat ? vhat + o : 0, Math.min(size, control[a + 5] - start), floats[0], floats[1], floats[2], floats[3]);
      }
    }
  } catch {
    // A trap in a kernel: the main thread sees the flag and throws; this thread waits for the next task.
    Atomics.store(control, ${CTRL.failed}, 1);
  }
  Atomics.store(control, ${CTRL.done}, 1);
  Atomics.notify(control, ${CTRL.done});
}
`;

let runtime: WasmRuntime | null | undefined;
let fmaWanted = true;
/** fmaWanted when the runtime was made (the build it loaded may differ: relaxed SIMD can be missing). */
let fmaDecided: boolean | null = null;

/**
 * Whether the kernels may use fused multiply-adds (the default) where the runtime can run them.
 * Decided once per process, when the first kernel runs: call this before. It exists to match
 * results computed without them bit for bit, or to stay off a V8 flag (see relaxedSimdModule).
 */
export function useFusedMultiplyAdd(enabled: boolean): void {
  if (fmaDecided !== null && fmaDecided !== enabled) {
    throw new Error('useFusedMultiplyAdd() must be called before the first kernel runs in this process');
  }
  fmaWanted = enabled;
}

/**
 * The relaxed-SIMD build, or null where it cannot run. Node 20's V8 (11.3) has relaxed SIMD
 * behind --experimental-wasm-relaxed-simd; V8 11.4 (Node 22) ships it. V8 reads its wasm feature
 * flags when it validates a module, so turning the flag on here, before the first compile, takes
 * effect without a command-line option. The flag is process-wide, but it only adds
 * instructions to what V8 accepts; nothing that validated before changes.
 */
function relaxedSimdModule(): WebAssembly.Module | null {
  const module = compiled(KERNELS_FMA_WASM_BASE64);
  if (module) return module;
  setFlagsFromString('--experimental-wasm-relaxed-simd');
  return compiled(KERNELS_FMA_WASM_BASE64);
}

/** The module, or null where this runtime does not validate it (no SIMD, no relaxed SIMD). */
function compiled(base64: string): WebAssembly.Module | null {
  const bytes = Buffer.from(base64, 'base64');
  return WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
}

/**
 * The runtime when every given array is float32 in its memory, so a kernel can run on them in
 * place; null otherwise (float64, buffers from elsewhere, no SIMD). Null operands are skipped.
 */
export function wasmRuntimeFor(...arrays: (Float32Array | Float64Array | null)[]): WasmRuntime | null {
  const rt = wasmRuntime();
  if (!rt) return null;
  for (const a of arrays) if (a !== null && !(a instanceof Float32Array && rt.owns(a))) return null;
  return rt;
}

/**
 * A new runtime on the relaxed-SIMD build (`fma`) or the plain SIMD one, or null where that
 * build cannot run. The engine uses one per process (wasmRuntime); tests and benchmarks make
 * others to compare the builds.
 */
export function createWasmRuntime(fma: boolean): WasmRuntime | null {
  try {
    const module = fma ? relaxedSimdModule() : compiled(KERNELS_WASM_BASE64);
    return module ? new WasmRuntime(module, fma) : null;
  } catch {
    return null; // no WebAssembly, or no shared memory
  }
}

/** The shared runtime, or null where WebAssembly SIMD with shared memory is unavailable. */
export function wasmRuntime(): WasmRuntime | null {
  if (runtime === undefined) {
    fmaDecided = fmaWanted;
    runtime = (fmaWanted ? createWasmRuntime(true) : null) ?? createWasmRuntime(false);
  }
  return runtime;
}
