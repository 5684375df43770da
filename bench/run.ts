/**
 * `npm run bench`: runs every competitor in its own child process (Kiln, tfjs-cpu, tfjs-wasm and,
 * when a python3 with torch exists, PyTorch on one thread), collects their JSON results and prints
 * one table per measurement with Kiln/peer speed ratios. BENCH_QUICK=1 for a ~30 s smoke run.
 *
 * In the full run each task (train, matmul, predict) is run for every competitor before the next
 * task starts, so competitors are measured close together in time on a noisy shared machine.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ALL_TASKS,
  RESULT_PREFIX,
  benchConfig,
  emptyResult,
  matmulLabel,
  type BenchConfig,
  type CompetitorResult,
  type MatmulResult,
  type Task,
} from './workloads.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CHILD_TIMEOUT_MS = 10 * 60 * 1000;
/** Status with which torch_bench.py says that torch or numpy is missing. */
const PYTHON_UNAVAILABLE = 3;

interface Competitor {
  name: string;
  /** Builds the command for a list of tasks; null when the competitor is unavailable. */
  command(tasks: readonly Task[]): { file: string; args: string[] } | null;
  optional: boolean;
}

function nodeCompetitor(name: string, script: string, extra: string[] = []): Competitor {
  return {
    name,
    optional: false,
    command: (tasks) => ({
      file: process.execPath,
      args: ['--import', 'tsx', path.join(ROOT, 'bench', script), '--json', '--tasks', tasks.join(','), ...extra],
    }),
  };
}

/** The first of $BENCH_PYTHON, python3, /usr/bin/python3 that can import torch and numpy. */
function findTorchPython(): { python: string | null; tried: string[] } {
  const candidates = [process.env['BENCH_PYTHON'], 'python3', '/usr/bin/python3'].filter((c): c is string => !!c);
  const tried: string[] = [];
  for (const python of [...new Set(candidates)]) {
    const probe = spawnSync(python, ['-c', 'import torch, numpy'], { stdio: 'ignore', timeout: 120_000 });
    tried.push(python);
    if (probe.status === 0) return { python, tried };
  }
  return { python: null, tried };
}

function torchCompetitor(config: BenchConfig, python: string): Competitor {
  return {
    name: 'torch-1t',
    optional: true,
    command: (tasks) => ({
      file: python,
      args: [
        path.join(ROOT, 'bench', 'torch_bench.py'),
        '--json',
        '--threads',
        '1',
        '--tasks',
        tasks.join(','),
        '--config',
        JSON.stringify(config),
      ],
    }),
  };
}

// ── ONNX Runtime (onnxruntime-node) ─────────────────────────────────────────────────────────────
// PLACEHOLDER: not measured yet because Kiln has no ONNX exporter. onnxruntime-node 1.30 is
// installed and loads. Once an exporter exists, add bench/ort.ts: export the two predict models
// (784-128-10 and 784-512-512-10, softmax output), create InferenceSessions with
// { intraOpNumThreads: 1, interOpNumThreads: 1, executionProviders: ['cpu'] }, time
// session.run() on a Float32Array the way kiln.ts's benchPredict does, emit a CompetitorResult
// with only `predict` filled, and register it here with ORT_ENABLED = true and nodeCompetitor('ort', 'ort.ts').
const ORT_ENABLED = false;
const ORT_SKIP_NOTE = 'onnxruntime-node: not measured yet (Kiln has no ONNX exporter; placeholder in bench/run.ts)';

interface ChildOutcome {
  result: CompetitorResult | null;
  skipped: boolean;
  error: string | null;
}

function runChild(competitor: Competitor, tasks: readonly Task[]): Promise<ChildOutcome> {
  const command = competitor.command(tasks);
  if (!command) return Promise.resolve({ result: null, skipped: true, error: null });
  return new Promise((resolve) => {
    const child = spawn(command.file, command.args, {
      cwd: ROOT,
      env: { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    const otherStderr: string[] = [];
    let pending = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        if (line.startsWith('# ')) process.stderr.write(`  ${line.slice(2)}\n`);
        else if (line.trim()) otherStderr.push(line);
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ result: null, skipped: false, error: err.message });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (competitor.optional && code === PYTHON_UNAVAILABLE) {
        resolve({ result: null, skipped: true, error: null });
        return;
      }
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
      if (code === 0 && line) {
        resolve({ result: JSON.parse(line.slice(RESULT_PREFIX.length)) as CompetitorResult, skipped: false, error: null });
        return;
      }
      const tail = [...otherStderr, ...stdout.split('\n')].filter((l) => l.trim()).slice(-15);
      resolve({ result: null, skipped: false, error: `exit ${code ?? signal}\n    ${tail.join('\n    ')}` });
    });
  });
}

// ── formatting ──────────────────────────────────────────────────────────────────────────────────

type Align = 'l' | 'r';

function table(headers: string[], rows: string[][], align: Align[]): string {
  const widths = headers.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const fmt = (cells: string[]): string =>
    cells
      .map((cell, c) => (align[c] === 'l' ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
      .join('  ')
      .trimEnd();
  return [fmt(headers), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(fmt)].join('\n');
}

const int = (v: number): string => Math.round(v).toLocaleString('en-US');
const gf = (v: number): string => (v >= 10 ? v.toFixed(1) : v.toFixed(2));
/** ± half the relative range; nothing for a single sample. */
const pct = (s: number, samples: number): string => (samples > 1 ? ` ±${Math.round((s / 2) * 100)}%` : '');
const ratio = (v: number): string => (Number.isFinite(v) ? `${v >= 10 ? v.toFixed(1) : v.toFixed(2)}×` : '—');

function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    if (line) return line.split(':')[1]!.trim();
  } catch {
    // not Linux
  }
  return os.cpus()[0]?.model ?? 'unknown CPU';
}

function report(config: BenchConfig, results: CompetitorResult[], skipped: string[]): string {
  const kiln = results.find((r) => r.competitor === 'kiln');
  const peers = results.filter((r) => r.competitor !== 'kiln');
  const names = results.map((r) => r.competitor);
  const out: string[] = [];

  // 1. Training
  const epochs = config.workloads[0]!;
  out.push(
    `1. Training throughput, samples/s (higher is better): median of ${epochs.timedEpochs} whole epochs after ${epochs.warmupEpochs} warm-up, ` +
      'Adam, sparse CE, shuffle on; ± is half the (max−min)/median range. Ratios: Kiln/peer (>1 = Kiln faster).',
  );
  const trainRows = config.workloads.map((w) => {
    const cell = (r: CompetitorResult): string => {
      const t = r.train.find((x) => x.workload === w.id);
      return t ? `${int(t.samplesPerSecond)}${pct(t.spread, t.epochSeconds.length)}` : '—';
    };
    const kt = kiln?.train.find((x) => x.workload === w.id);
    const ratios = peers.map((p) => {
      const pt = p.train.find((x) => x.workload === w.id);
      return kt && pt ? ratio(kt.samplesPerSecond / pt.samplesPerSecond) : '—';
    });
    return [w.label, int(w.rows), ...results.map(cell), ...ratios];
  });
  out.push(
    table(['workload', 'rows/epoch', ...names, ...peers.map((p) => `kiln/${p.competitor}`)], trainRows, [
      'l',
      'r',
      ...names.map((): Align => 'r'),
      ...peers.map((): Align => 'r'),
    ]),
  );
  const losses = config.workloads.map(
    (w) =>
      `${w.label}: ` +
      results
        .map((r) => {
          const t = r.train.find((x) => x.workload === w.id);
          return `${r.competitor} ${t ? t.finalLoss.toFixed(3) : '—'}`;
        })
        .join(', '),
  );
  out.push(`final-epoch training loss (sanity: same data, same model): ${losses.join('; ')}`);
  for (const w of config.workloads) {
    const sums = results.map((r) => r.train.find((x) => x.workload === w.id)?.dataChecksum).filter((s): s is number => s !== undefined);
    if (sums.some((s) => Math.abs(s - sums[0]!) > 1e-7 * Math.abs(sums[0]!))) {
      out.push(`WARNING: ${w.label}: competitors trained on different data (checksums ${sums.join(', ')})`);
    }
  }

  // 2. Matmul
  out.push('');
  out.push(
    `2. Matmul GFLOP/s (2·N·I·U per call; median of ${config.matmulSamples} samples). forward = X(N×I)·W(I×U)+b, ` +
      'dW = Xᵀ·dY, dX = dY·Wᵀ.',
  );
  out.push(
    '   Kiln: src/engine/kernels/matmul.ts (matmulBias, matmulTransposeAAccumulate, matmulTransposeB). tfjs: fused.matMul / matMul with ' +
      'transpose flags. torch: addmm / mm.',
  );
  out.push('   relu50: X has 50% exact zeros, as a hidden layer sees after relu (Kiln skips zero inputs).');
  const keyOf = (m: Pick<MatmulResult, 'kernel' | 'n' | 'inDim' | 'units' | 'variant'>): string => matmulLabel(m);
  const matmulRows = config.matmulCases.map((c) => {
    const variant: MatmulResult['variant'] = c.zeroFraction > 0 ? 'relu50' : 'dense';
    const key = keyOf({ ...c, variant });
    const find = (r: CompetitorResult | undefined): MatmulResult | undefined => r?.matmul.find((m) => keyOf(m) === key);
    const usage = c.kernel === 'dX' && !c.dxUsedInTraining ? `${c.origin} (unused)` : c.origin;
    const km = find(kiln);
    return [
      key,
      usage,
      ...results.map((r) => {
        const m = find(r);
        return m ? gf(m.gflops) : '—';
      }),
      ...peers.map((p) => {
        const pm = find(p);
        return km && pm ? ratio(km.gflops / pm.gflops) : '—';
      }),
    ];
  });
  out.push(
    table(['kernel N×I×U', 'layer', ...names, ...peers.map((p) => `kiln/${p.competitor}`)], matmulRows, [
      'l',
      'l',
      ...names.map((): Align => 'r'),
      ...peers.map((): Align => 'r'),
    ]),
  );

  // 3. Predict
  const p = config.predict;
  out.push('');
  out.push(
    `3. Predict, Float32Array in → out. Latency: median of ${int(p.singleCalls)} single-row calls (± is half the IQR/median); ` +
      `throughput: ${int(p.batchRows)} rows per call in chunks of ${p.chunk}. Ratios are speed ratios Kiln/peer (>1 = Kiln faster).`,
  );
  const single = `1 row ${[784, ...p.singleHidden, 10].join('-')}, µs (lower is better)`;
  const batch = `${int(p.batchRows)} rows ${[784, ...p.batchHidden, 10].join('-')}, rows/s`;
  const kp = kiln?.predict;
  out.push(
    table(
      ['measurement', ...names, ...peers.map((q) => `kiln/${q.competitor}`)],
      [
        [
          single,
          ...results.map((r) =>
            r.predict ? `${r.predict.singleRowMicros.toFixed(1)}${pct(r.predict.singleRowSpread, p.singleCalls)}` : '—',
          ),
          ...peers.map((q) => (kp && q.predict ? ratio(q.predict.singleRowMicros / kp.singleRowMicros) : '—')),
        ],
        [
          batch,
          ...results.map((r) =>
            r.predict ? `${int(r.predict.batchRowsPerSecond)}${pct(r.predict.batchSpread, r.predict.batchCalls)}` : '—',
          ),
          ...peers.map((q) => (kp && q.predict ? ratio(kp.batchRowsPerSecond / q.predict.batchRowsPerSecond) : '—')),
        ],
      ],
      ['l', ...names.map((): Align => 'r'), ...peers.map((): Align => 'r')],
    ),
  );
  if (!ORT_ENABLED) out.push(ORT_SKIP_NOTE);

  const notes = results.flatMap((r) => r.notes.map((n) => `${r.competitor}: ${n}`));
  if (skipped.length || notes.length) out.push('');
  for (const s of skipped) out.push(`skipped: ${s}`);
  for (const n of notes) out.push(`note: ${n}`);
  return out.join('\n');
}

// ── main ───────────────────────────────────────────────────────────────────────────────────────

async function main(): Promise<void> {
  const started = performance.now();
  const config = benchConfig();
  const loadBefore = os.loadavg()[0]!;
  const competitors: Competitor[] = [
    nodeCompetitor('kiln', 'kiln.ts'),
    nodeCompetitor('tfjs-cpu', 'tfjs.ts', ['--backend', 'cpu']),
    nodeCompetitor('tfjs-wasm', 'tfjs.ts', ['--backend', 'wasm']),
  ];
  const skipped: string[] = [];
  const { python, tried } = findTorchPython();
  if (python) competitors.push(torchCompetitor(config, python));
  else skipped.push(`PyTorch: no python with torch and numpy (tried ${tried.join(', ')}); on Debian: apt-get install python3-torch`);

  const header =
    `Kiln benchmark · ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC · node ${process.version} · ` +
    `${cpuModel()} × ${os.cpus().length} · ${config.quick ? 'QUICK (smoke run, figures not meaningful)' : 'full run'}`;
  process.stderr.write(`${header}\n`);

  // Full run: task by task, so the competitors of one table run close together in time.
  // Quick run: one process per competitor, to save the start-up time.
  const schedule: Task[][] = config.quick ? [[...ALL_TASKS]] : ALL_TASKS.map((t) => [t]);
  const merged = new Map<string, CompetitorResult>();
  const failed = new Set<string>();
  for (const tasks of schedule) {
    for (const competitor of competitors) {
      if (failed.has(competitor.name)) continue;
      process.stderr.write(`▶ ${competitor.name}: ${tasks.join(', ')}\n`);
      const t0 = performance.now();
      const outcome = await runChild(competitor, tasks);
      process.stderr.write(`  (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
      if (outcome.skipped) {
        skipped.push(`${competitor.name}: unavailable`);
        failed.add(competitor.name);
      } else if (outcome.error || !outcome.result) {
        process.stderr.write(`✗ ${competitor.name} failed: ${outcome.error ?? 'no result'}\n`);
        skipped.push(`${competitor.name} (${tasks.join(', ')}): failed, see the log above`);
        if (competitor.optional) failed.add(competitor.name);
      } else {
        const r = outcome.result;
        const into = merged.get(competitor.name) ?? emptyResult(r.competitor, r.version);
        into.version = r.version;
        into.train.push(...r.train);
        into.matmul.push(...r.matmul);
        into.predict = r.predict ?? into.predict;
        for (const note of r.notes) if (!into.notes.includes(note)) into.notes.push(note);
        merged.set(competitor.name, into);
      }
    }
  }
  const results = competitors.map((c) => merged.get(c.name)).filter((r): r is CompetitorResult => !!r);
  const seconds = (performance.now() - started) / 1000;

  const lines = [
    '',
    header,
    `load average (1 min): ${loadBefore.toFixed(2)} at start, ${os.loadavg()[0]!.toFixed(2)} at end; every competitor single-threaded`,
    ...results.map((r) => `  ${r.competitor.padEnd(10)} ${r.version}`),
    '',
    report(config, results, skipped),
    '',
    `total bench time: ${seconds.toFixed(0)} s`,
  ];
  process.stdout.write(lines.join('\n') + '\n');

  const dir = path.join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, config.quick ? 'latest-quick.json' : 'latest.json');
  writeFileSync(
    file,
    JSON.stringify(
      { date: new Date().toISOString(), node: process.version, cpu: cpuModel(), cores: os.cpus().length, seconds, config, results },
      null,
      2,
    ),
  );
  process.stdout.write(`results: ${path.relative(ROOT, file)}\n`);
  if (results.length === 0 || !merged.has('kiln')) process.exitCode = 1;
}

await main();
