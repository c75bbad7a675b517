"""Time a full SGD training step (forward, backward, update): deepinit vs PyTorch vs numpy.

The paper's network: 1024 inputs, 5 hidden layers of 1000 tanh units, 9 softmax
outputs, float32. For each batch size and thread count, the implementations run
in alternation, after warm-up, for several rounds; the median round is reported.
Ratios compare implementations measured in the same run (absolute times on a
shared machine are noise; ratios are the result).

Each implementation runs in its own worker process, started with its thread
count in OMP_NUM_THREADS: deepinit, PyTorch and numpy's BLAS each bring their
own thread pool, and pools sharing one process spin against each other (on 2
cores that made every implementation 10-30x slower at 2 threads).

    python bench/bench_train_step.py                 # batches 1, 10, 100; threads 1, 2 (and all)
    python bench/bench_train_step.py --json out.json
    python bench/bench_train_step.py --batches 10 --threads 2 --rounds 9

PyTorch (``pip install torch==2.13.0``) and threadpoolctl are optional: without
them their columns are skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import time

import numpy as np

SIZES = (1024, 1000, 1000, 1000, 1000, 1000, 9)
LR = 0.01


def step_flops(batch: int, sizes=SIZES) -> float:
    """Floating-point operations of one SGD step (multiply-add = 2)."""
    pairs = list(zip(sizes, sizes[1:]))
    fwd = sum(2 * batch * i * o for i, o in pairs)
    grad_w = sum(2 * batch * i * o for i, o in pairs)
    grad_in = sum(2 * batch * i * o for i, o in pairs[1:])  # no gradient w.r.t. the inputs
    update = sum(2 * i * o for i, o in pairs)
    return float(fwd + grad_w + grad_in + update)


def data(batch: int, n_steps: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, (batch * n_steps, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], batch * n_steps).astype(np.int32)
    return X, y


# --------------------------------------------------------------------------- #
class Deepinit:
    name = "deepinit"

    def __init__(self, threads: int):
        from deepinit.network import Network

        self.net = Network(SIZES, "tanh", n_threads=threads)
        self.net.initialize("normalized", seed=0)

    def run(self, X, y, batch):
        self.net.train_steps(X, y, batch, LR)  # one kernel call for all the steps


class Torch:
    name = "pytorch"

    def __init__(self, threads: int):
        import torch

        torch.set_num_threads(threads)
        torch.manual_seed(0)
        layers = []
        for k, (i, o) in enumerate(zip(SIZES, SIZES[1:])):
            layers.append(torch.nn.Linear(i, o))
            if k < len(SIZES) - 2:
                layers.append(torch.nn.Tanh())
        self.torch = torch
        self.model = torch.nn.Sequential(*layers)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR)
        self.loss = torch.nn.CrossEntropyLoss()

    def run(self, X, y, batch):
        torch = self.torch
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
        for s in range(0, len(X), batch):
            self.opt.zero_grad(set_to_none=True)
            self.loss(self.model(Xt[s : s + batch]), yt[s : s + batch]).backward()
            self.opt.step()


class Numpy:
    name = "numpy"

    def __init__(self, threads: int):
        rng = np.random.default_rng(0)
        self.W = [rng.uniform(-0.05, 0.05, (i, o)).astype(np.float32) for i, o in zip(SIZES, SIZES[1:])]
        self.b = [np.zeros(o, np.float32) for o in SIZES[1:]]

    def run(self, X, y, batch):
        W, b = self.W, self.b
        for s in range(0, len(X), batch):
            z = [X[s : s + batch]]
            for l in range(len(W)):
                a = z[-1] @ W[l] + b[l]
                z.append(np.tanh(a) if l < len(W) - 1 else a)
            out = z[-1]
            p = np.exp(out - out.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(p)), y[s : s + batch]] -= 1
            delta = p / len(p)
            for l in range(len(W) - 1, -1, -1):
                gW = z[l].T @ delta
                gb = delta.sum(axis=0)
                if l > 0:
                    delta = (delta @ W[l].T) * (1 - z[l] * z[l])
                W[l] -= LR * gW
                b[l] -= LR * gb


# --------------------------------------------------------------------------- #
def sgemm_peak(threads: int) -> float | None:
    """Measured large-matrix sgemm GFLOP/s at this thread count (PyTorch's BLAS), or None."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    a = torch.rand(2048, 2048)
    b = torch.rand(2048, 2048)
    a @ b
    best = 0.0
    for _ in range(5):
        t = time.perf_counter()
        a @ b
        best = max(best, 2 * 2048**3 / (time.perf_counter() - t) / 1e9)
    return best


def blas_limits(threads: int):
    """Limit numpy's BLAS to ``threads`` (a context manager; a no-op without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=threads, user_api="blas")


def _worker(conn, cls, threads, batch, target_s):
    """Build one implementation, warm it up, size a round, then time rounds on request."""
    with blas_limits(threads):
        impl = cls(threads)
        n = max(1, int(20 / batch))
        X, y = data(batch, n)
        impl.run(X, y, batch)  # warm-up
        t = time.perf_counter()
        impl.run(X, y, batch)
        per_step = (time.perf_counter() - t) / n
        X, y = data(batch, max(3, int(target_s / max(per_step, 1e-6))), seed=1)
        conn.send("ready")
        while conn.recv() == "run":
            t = time.perf_counter()
            impl.run(X, y, batch)
            conn.send(len(X) / (time.perf_counter() - t))


def measure(classes, threads, batch, rounds, target_s):
    """Median examples/s per implementation, alternating implementations each round."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    old = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(threads)  # inherited by the workers
    workers = {}
    try:
        for cls in classes:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(child, cls, threads, batch, target_s))
            proc.start()
            parent.recv()  # ready: built and warmed up
            workers[cls.name] = (proc, parent)
    finally:
        if old is None:
            os.environ.pop("OMP_NUM_THREADS")
        else:
            os.environ["OMP_NUM_THREADS"] = old
    rates = {name: [] for name in workers}
    for _ in range(rounds):
        for name, (_, conn) in workers.items():
            conn.send("run")
            rates[name].append(conn.recv())
    for proc, conn in workers.values():
        conn.send("stop")
        proc.join()
    return {name: statistics.median(r) for name, r in rates.items()}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", default="1,10,100")
    parser.add_argument("--threads", default=None, help="comma list [default: 1,2 and all cores]")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.4, help="target duration of one round")
    parser.add_argument("--json", dest="json_path", default=None)
    args = parser.parse_args(argv)

    from deepinit._kernels import KERNEL_BUILD
    from deepinit._kernels._openmp_helpers import openmp_enabled

    cores = os.cpu_count() or 1
    threads = [int(t) for t in args.threads.split(",")] if args.threads else sorted({1, 2, cores})
    batches = [int(b) for b in args.batches.split(",")]
    classes = [Deepinit, Numpy]
    try:
        import torch  # noqa: F401

        classes.insert(1, Torch)
    except ImportError:
        print("PyTorch not installed: no PyTorch column (pip install torch==2.13.0)")

    results, peaks = [], {}
    print(f"{'threads':>7} {'batch':>5} {'impl':>9} {'examples/s':>11} {'GFLOP/s':>8} {'% peak':>7} {'vs pytorch':>10} {'vs numpy':>9}")
    for t in threads:
        peak = peaks[t] = sgemm_peak(t)
        for batch in batches:
            rates = measure(classes, t, batch, args.rounds, args.seconds)
            for name, rate in rates.items():
                gflops = rate / batch * step_flops(batch) / 1e9
                row = {
                    "threads": t, "batch": batch, "impl": name, "examples_per_s": rate,
                    "gflops": gflops, "fraction_of_sgemm_peak": gflops / peak if peak else None,
                    "ratio_to_pytorch": rate / rates["pytorch"] if "pytorch" in rates else None,
                    "ratio_to_numpy": rate / rates["numpy"],
                }
                results.append(row)
                pct = f"{gflops / peak:.1%}" if peak else "-"
                vs_torch = f"{row['ratio_to_pytorch']:.2f}x" if row["ratio_to_pytorch"] else "-"
                print(f"{t:>7} {batch:>5} {name:>9} {rate:>11,.0f} {gflops:>8.1f} {pct:>7} "
                      f"{vs_torch:>10} {row['ratio_to_numpy']:>8.2f}x")
        if peak:
            print(f"{t:>7} threads: sgemm peak {peak:.1f} GFLOP/s (2048x2048, PyTorch)")
    report = {
        "network": list(SIZES),
        "machine": {"cpu_count": cores, "platform": platform.platform(), "processor": platform.processor()},
        "openmp": openmp_enabled(),
        "kernels": KERNEL_BUILD,
        "sgemm_peak_gflops": peaks,
        "results": results,
    }
    if args.json_path:
        with open(args.json_path, "w") as fh:
            json.dump(report, fh, indent=2)
    return report


if __name__ == "__main__":
    main()
