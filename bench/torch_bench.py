#!/usr/bin/env python3
"""PyTorch side of Kiln's benchmark (optional), single-threaded.

Run by bench/run.ts, which passes the benchmark configuration as JSON:
    python3 bench/torch_bench.py --json --config '<json>' [--tasks train,matmul,predict]
Prints one line `BENCH_RESULT {json}` on stdout, progress as `# ...` lines on stderr. Exits with
status 3 when torch or numpy cannot be imported, so the caller can skip it.
"""

import argparse
import json
import math
import os
import sys
import time

NAME = "torch-1t"
RESULT_PREFIX = "BENCH_RESULT "
UNAVAILABLE = 3


def progress(message):
    print(f"# [{NAME}] {message}", file=sys.stderr, flush=True)


def _threads_arg(argv):
    for flag, value in zip(argv, argv[1:]):
        if flag == "--threads":
            return value
    return "1"


# BLAS and OpenMP read their thread counts when loaded: pin them before importing numpy/torch.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, _threads_arg(sys.argv))

try:
    import numpy as np
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - depends on the machine
    progress(f"unavailable: {exc}")
    sys.exit(UNAVAILABLE)


# --- data: the same counter-based hash as bench/workloads.ts, vectorized --------------------------

GOLDEN = 0x6D2B79F5
M32 = 0xFFFFFFFF


def hash32(seed, count):
    """uint32 hashes of stream `seed` for indices 0..count-1 (mulberry32's output function)."""
    i = np.arange(1, count + 1, dtype=np.uint64)
    a = ((np.uint64(seed & M32) + i * np.uint64(GOLDEN)) & np.uint64(M32)).astype(np.uint32)
    with np.errstate(over="ignore"):
        t = (a ^ (a >> np.uint32(15))) * (a | np.uint32(1))
        t = (t + (t ^ (t >> np.uint32(7))) * (t | np.uint32(61))) ^ t
        return t ^ (t >> np.uint32(14))


def synthetic_data(rows, seed, input_size, classes):
    x = (hash32(seed, rows * input_size).astype(np.float64) / 4294967296.0).astype(np.float32)
    label_seed = (seed ^ 0x9E3779B9) & M32
    y = np.floor(hash32(label_seed, rows).astype(np.float64) / 4294967296.0 * classes).astype(np.float32)
    return x.reshape(rows, input_size), y


def checksum(x, y):
    # Sequential float64 sum, as the TypeScript side does; compared with a relative tolerance.
    return float(math.fsum(x.astype(np.float64).ravel())) + float(math.fsum(y.astype(np.float64) * 1000))


def random_matrix(size, seed, zero_fraction=0.0):
    u = hash32(seed, size).astype(np.float64) / 4294967296.0
    m = np.where(u < zero_fraction, 0.0, u * 2 - 1).astype(np.float32)
    return m


# --- timing -----------------------------------------------------------------------------------------


def median(values):
    s = sorted(values)
    n = len(s)
    if n == 0:
        return float("nan")
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def spread(values):
    if len(values) < 2:
        return 0.0
    return (max(values) - min(values)) / median(values)


def iqr_spread(values):
    if len(values) < 4:
        return spread(values)
    s = sorted(values)
    at = lambda q: s[min(len(s) - 1, int(q * len(s)))]  # noqa: E731
    return (at(0.75) - at(0.25)) / median(s)


def time_calls(fn, samples, sample_ms, warmup_ms=None):
    warmup_ms = sample_ms if warmup_ms is None else warmup_ms
    calls = 0
    start = time.perf_counter()
    while True:
        fn()
        calls += 1
        if (time.perf_counter() - start) * 1000 >= warmup_ms and calls >= 2:
            break
    per_call_ms = (time.perf_counter() - start) * 1000 / calls
    reps = max(1, math.ceil(sample_ms / max(per_call_ms, 1e-6)))
    out = []
    for _ in range(samples):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        out.append((time.perf_counter() - t0) / reps)
    return out


def time_repeats(fn, repeats):
    fn()
    out = []
    start = time.perf_counter()
    while len(out) < repeats["min"] or (len(out) < repeats["max"] and (time.perf_counter() - start) * 1000 < repeats["budgetMs"]):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def time_each(fn, calls, warmup):
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


# --- models -----------------------------------------------------------------------------------------


def mlp(hidden, classes, input_size, softmax):
    layers = []
    width = input_size
    for units in hidden:
        layers += [nn.Linear(width, units), nn.ReLU()]
        width = units
    layers.append(nn.Linear(width, classes))
    if softmax:
        layers.append(nn.Softmax(dim=1))
    model = nn.Sequential(*layers)
    for m in model:
        if isinstance(m, nn.Linear):  # Keras's defaults: glorot_uniform kernel, zero bias
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return model


def train_workload(config, w):
    x_np, y_np = synthetic_data(w["rows"], config["dataSeed"], config["inputSize"], config["classes"])
    x = torch.from_numpy(x_np)
    y = torch.from_numpy(y_np).long()
    # Logits + CrossEntropyLoss: softmax fused into the loss, as Kiln does for softmax + sparse CE.
    model = mlp(w["hidden"], config["classes"], config["inputSize"], softmax=False)
    optimizer = torch.optim.Adam(model.parameters(), lr=config["learningRate"], betas=(0.9, 0.999), eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    rows, batch = w["rows"], w["batchSize"]
    generator = torch.Generator().manual_seed(config["dataSeed"])
    ends = []
    last_loss = float("nan")
    start = time.perf_counter()
    for epoch in range(w["warmupEpochs"] + w["timedEpochs"]):
        perm = torch.randperm(rows, generator=generator)  # shuffle on
        loss_sum = 0.0
        for s in range(0, rows, batch):
            idx = perm[s : s + batch]
            xb = x.index_select(0, idx)
            yb = y.index_select(0, idx)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * idx.numel()
        last_loss = loss_sum / rows
        ends.append(time.perf_counter())
        previous = ends[-2] if len(ends) > 1 else start
        progress(f"{w['label']}: epoch {epoch + 1} {ends[-1] - previous:.2f} s")
    epoch_seconds = [t - (ends[i - 1] if i else start) for i, t in enumerate(ends)][w["warmupEpochs"] :]
    return {
        "workload": w["id"],
        "rows": rows,
        "batchSize": batch,
        "epochSeconds": epoch_seconds,
        "samplesPerSecond": rows / median(epoch_seconds),
        "spread": spread(epoch_seconds),
        "finalLoss": last_loss,
        "dataChecksum": checksum(x_np, y_np),
    }


def bench_matmul(config, c):
    n, i, u = c["n"], c["inDim"], c["units"]
    x = torch.from_numpy(random_matrix(n * i, 11, c["zeroFraction"]).reshape(n, i))
    w = torch.from_numpy(random_matrix(i * u, 12).reshape(i, u))
    bias = torch.from_numpy(random_matrix(u, 13))
    dy = torch.from_numpy(random_matrix(n * u, 14).reshape(n, u))
    out = torch.empty(n, u)
    dw = torch.empty(i, u)
    dx = torch.empty(n, i)
    kernel = c["kernel"]
    if kernel == "forward":
        fn = lambda: torch.addmm(bias, x, w, out=out)  # noqa: E731  (what nn.Linear runs)
    elif kernel == "dW":
        fn = lambda: torch.mm(x.t(), dy, out=dw)  # noqa: E731
    else:
        fn = lambda: torch.mm(dy, w.t(), out=dx)  # noqa: E731
    seconds = time_calls(fn, config["matmulSamples"], config["matmulSampleMs"])
    return {
        "kernel": kernel,
        "n": n,
        "inDim": i,
        "units": u,
        "variant": "relu50" if c["zeroFraction"] > 0 else "dense",
        "gflops": 2 * n * i * u / median(seconds) / 1e9,
        "spread": spread(seconds),
    }


def bench_predict(config):
    p = config["predict"]
    size = config["inputSize"]
    single = mlp(p["singleHidden"], config["classes"], size, softmax=True).eval()
    row, _ = synthetic_data(1, config["dataSeed"] + 1, size, config["classes"])
    big = mlp(p["batchHidden"], config["classes"], size, softmax=True).eval()
    batch, _ = synthetic_data(p["batchRows"], config["dataSeed"] + 2, size, config["classes"])
    chunk = p["chunk"]
    classes = config["classes"]

    # numpy float32 in, numpy float32 out, like Kiln's Float32Array API.
    def predict_rows(model, x):
        with torch.inference_mode():
            if x.shape[0] <= chunk:
                return model(torch.from_numpy(x)).numpy()
            out = np.empty((x.shape[0], classes), dtype=np.float32)
            for s in range(0, x.shape[0], chunk):
                out[s : s + chunk] = model(torch.from_numpy(x[s : s + chunk])).numpy()
            return out

    single_seconds = time_each(lambda: predict_rows(single, row), p["singleCalls"], min(500, p["singleCalls"]))
    batch_seconds = time_repeats(lambda: predict_rows(big, batch), p["batchRepeats"])
    return {
        "singleRowMicros": median(single_seconds) * 1e6,
        "singleRowSpread": iqr_spread(single_seconds),
        "batchRows": p["batchRows"],
        "batchRowsPerSecond": p["batchRows"] / median(batch_seconds),
        "batchSpread": spread(batch_seconds),
        "batchCalls": len(batch_seconds),
    }


def blas_library():
    """Which BLAS shared object torch's matmuls went through (Debian's torch uses the system one)."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = {line.split()[-1] for line in maps if "blas" in line.lower() and "/" in line}
    except OSError:
        return "unknown"
    # e.g. "openblas-pthread/libblas.so.3" (OpenBLAS) or "blas/libblas.so.3" (reference BLAS)
    names = sorted(os.path.basename(os.path.dirname(p)) + "/" + os.path.basename(p) for p in paths)
    return ", ".join(names) or "built-in"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--config", required=True, help="BenchConfig as JSON (from bench/workloads.ts)")
    parser.add_argument("--tasks", default="train,matmul,predict")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    config = json.loads(args.config)
    tasks = args.tasks.split(",")

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(config["modelSeed"])

    result = {"competitor": NAME, "version": "", "train": [], "matmul": [], "predict": None, "notes": []}
    if "train" in tasks:
        for w in config["workloads"]:
            result["train"].append(train_workload(config, w))
    if "matmul" in tasks:
        for c in config["matmulCases"]:
            r = bench_matmul(config, c)
            label = f"{r['kernel']} {r['n']}×{r['inDim']}×{r['units']}{' relu50' if r['variant'] == 'relu50' else ''}"
            progress(f"matmul {label}: {r['gflops']:.2f} GFLOP/s")
            result["matmul"].append(r)
    if "predict" in tasks:
        result["predict"] = bench_predict(config)
        pr = result["predict"]
        progress(f"predict: {pr['singleRowMicros']:.1f} µs/row, {pr['batchRowsPerSecond']:.0f} rows/s")

    blas = blas_library()
    result["version"] = f"torch {torch.__version__} (threads={torch.get_num_threads()}, BLAS {blas})"
    if "blas/libblas" in blas and "openblas" not in blas and "blis" not in blas:
        result["notes"].append(
            "torch is using the reference (netlib) BLAS, so its matmuls are ~20x slower than usual; "
            "apt-get install libopenblas0-pthread for representative figures"
        )
    if args.json:
        print(RESULT_PREFIX + json.dumps(result), flush=True)
    else:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
