"""Time a full SGD training step (forward, backward, update): deepinit vs PyTorch vs numpy.

The paper's network: 1024 inputs, 5 hidden layers of 1000 tanh units, 9 softmax
outputs, float32. For each batch size, the implementations at every thread count
run in alternation, after warm-up, for several rounds; the median round is
reported.
Ratios compare implementations measured in the same run (absolute times on a
shared machine are noise; ratios are the result).

Each implementation runs in its own worker process, started with its thread
count in OMP_NUM_THREADS (one worker per implementation and thread count):
deepinit, PyTorch and numpy's BLAS each bring their
own thread pool, and pools sharing one process spin against each other (on 2
cores that made every implementation 10-30x slower at 2 threads). The sgemm peak
is measured in a process of its own too. Before each round the machine is left
idle for ``settle`` seconds (default 0.3): after each call, OpenBLAS (numpy's
BLAS) keeps one thread spinning for about 0.1 s (a whole core for 105 ms,
measured here), and without the pause that thread took a core from whichever
implementation ran after numpy (PyTorch: 1,100 -> 675 examples/s at batch 10
on 2 threads, when the order put it there). After its timed rounds, each worker
reports its peak resident memory (``ru_maxrss``); a table of it and a table of
the speedup over threads follow the timings. The speedup table has one more
row, ``separate``: at t threads, t one-thread deepinit processes training at
once in the same rounds, what the machine's cores give to independent runs at
that moment (on a shared VM, often less than t times one), against which one
run's speedup over threads can be read.

    python bench/bench_train_step.py                 # batches 1, 10, 100; threads 1, 2, 4, ... and all
    python bench/bench_train_step.py --json out.json
    python bench/bench_train_step.py --batches 10 --threads 2 --rounds 9

Two more rows are not training steps. ``gemms`` times only the step's 17 matrix
products in PyTorch's BLAS (:class:`TorchGemms`), what any step made of separate
BLAS calls costs before its activations, loss, biases and update; the ratio to it
tells how close a step comes to BLAS speed on the same shapes. ``stream`` only
moves the weights as a step must (read once, then read and written once:
:class:`WeightStream`); the ratio to it compares a step with that memory traffic
alone, measured in the same rounds (the compute reference is the sgemm peak's
column).

PyTorch (``pip install torch==2.13.0``) is optional: without it its columns
(``pytorch`` and ``gemms``) are skipped. ``bench/bench_all.py`` runs this with the other
benchmarks in one command.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

SIZES = (1024, 1000, 1000, 1000, 1000, 1000, 9)
LR = 0.01
# The speed targets deepinit is held to on a 2-core machine (docs/performance.md,
# "Where it stands"): examples/s at least this many times PyTorch's at each batch
# size and thread count, in the same run; and a speedup from 1 to 2 threads.
RATIO_TARGETS = {1: 4.0, 10: 3.0, 100: 1.2}
SPEEDUP_TARGET = 1.8


def step_flops(batch: int, sizes=SIZES, update: bool = True) -> float:
    """Floating-point operations of one SGD step (multiply-add = 2) at batch size ``batch``.

    The matrix products (forward, weight gradient, back-propagated gradient) and,
    with ``update``, the SGD update of the weights (2 per weight).
    """
    pairs = list(zip(sizes, sizes[1:]))
    fwd = sum(2 * batch * i * o for i, o in pairs)
    grad_w = sum(2 * batch * i * o for i, o in pairs)
    grad_in = sum(2 * batch * i * o for i, o in pairs[1:])  # no gradient w.r.t. the inputs
    sgd = sum(2 * i * o for i, o in pairs) if update else 0
    return float(fwd + grad_w + grad_in + sgd)


def n_parameters(sizes=SIZES) -> int:
    """Number of the network's weights and biases."""
    return sum((i + 1) * o for i, o in zip(sizes, sizes[1:]))


def parameter_mb(sizes=SIZES) -> float:
    """Size of the network's float32 weights and biases, in MB (10**6 bytes)."""
    return n_parameters(sizes) * 4 / 1e6


def default_threads(cores: int | None = None) -> list[int]:
    """Thread counts to measure: 1, 2, the powers of two below ``cores``, and ``cores``."""
    cores = cores or os.cpu_count() or 1
    return sorted({1, 2, cores} | {2**k for k in range(cores.bit_length()) if 2**k <= cores})


def data(batch: int, n_steps: int, seed: int = 0):
    """``n_steps`` minibatches of random inputs in [0, 1) and labels: ``(X, y)``."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, (batch * n_steps, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], batch * n_steps).astype(np.int32)
    return X, y


# --------------------------------------------------------------------------- #
# One class per implementation: ``name`` (its column), ``module`` (imported
# before the worker's idle memory is read), ``update`` (whether its step updates
# the weights, for its flop count; None: not a step, no flops),
# ``__init__(threads)`` builds the network, ``run(X, y, batch)`` trains on every
# minibatch of (X, y).
class Deepinit:
    """deepinit: one ``Network.train_steps`` kernel call for all the minibatches."""

    name = "deepinit"
    module = "deepinit.network"
    update = True

    def __init__(self, threads: int):
        from deepinit.network import Network

        self.net = Network(SIZES, "tanh", n_threads=threads)
        self.net.initialize("normalized", seed=0)

    def run(self, X, y, batch):
        self.net.train_steps(X, y, batch, LR)  # one kernel call for all the steps


class Torch:
    """PyTorch: ``nn.Sequential`` of ``Linear`` and ``Tanh``, ``CrossEntropyLoss``, ``optim.SGD``."""

    name = "pytorch"
    module = "torch"
    update = True

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


class TorchGemms:
    """Not a training step: only a step's 17 matrix products, in PyTorch's BLAS.

    With the weights stored as ``nn.Linear`` stores them, ``(out, in)``: the
    forward's ``z_l @ W_l.T`` (6), the weight gradients' ``delta_l.T @ z_l`` (6)
    and the back-propagated ``delta_l @ W_l`` (5), into preallocated outputs:
    what any step built on separate BLAS calls costs before its activations,
    loss, biases and update. Its flop count is the step's without the update's (2
    per weight). Weights are drawn in the normalized-init range and the output delta
    is fixed, so the values stay of order one from step to step.
    """

    name = "gemms"
    module = "torch"
    update = False

    def __init__(self, threads: int):
        import torch

        torch.set_num_threads(threads)
        gen = torch.Generator().manual_seed(0)
        self.torch = torch
        self.W = [(torch.rand(o, i, generator=gen) * 2 - 1) * (6 / (i + o)) ** 0.5
                  for i, o in zip(SIZES, SIZES[1:])]
        self.gW = [torch.empty_like(w) for w in self.W]
        self.batch = None

    def _buffers(self, batch):
        """Activations z_1..z_L and deltas delta_0..delta_{L-1} for ``batch`` rows (once per batch size)."""
        torch = self.torch
        if self.batch != batch:
            self.z = [torch.empty(batch, n) for n in SIZES[1:]]
            self.d = [torch.empty(batch, n) for n in SIZES[1:]]
            self.d[-1] = torch.rand(batch, SIZES[-1], generator=torch.Generator().manual_seed(1)) / batch
            self.batch = batch

    def run(self, X, y, batch):
        torch = self.torch
        self._buffers(batch)
        Xt, W, gW, z, d = torch.from_numpy(X), self.W, self.gW, self.z, self.d
        L = len(W)
        for s in range(0, len(X), batch):
            inputs = [Xt[s : s + batch]] + z[:-1]
            for l in range(L):
                torch.matmul(inputs[l], W[l].T, out=z[l])
            for l in range(L - 1, -1, -1):
                torch.matmul(d[l].T, inputs[l], out=gW[l])
                if l > 0:
                    torch.matmul(d[l], W[l], out=d[l - 1])


class WeightStream:
    """Not a training step: the least memory traffic a step can have, and nothing else.

    Each "step" reads the network's float32 parameters once (``np.max``, as the
    forward pass reads W) and then reads and writes them once (``np.multiply`` by
    1 in place, as the fused backward pass and update do): the 60 MB a step of
    the paper's network must move, in two plain passes of numpy's vectorized
    loops, on ``threads`` Python threads over contiguous slices (numpy releases
    the GIL in both; numpy's BLAS is not used). Measured in the same rounds as
    the steps, so that the ratio to it (``vs stream``) compares a step with the
    plain traffic of its weights at that moment (on a shared VM that rate moves
    by 2-3x from one minute to the next). It is a reference, not a bound: a step
    can find part of W still in the cores' caches (the layer it last wrote, the
    layer it reads just before writing it), and numpy's in-place loop runs at
    85-90% of a hand-written one; above 1, a step is faster than two plain passes
    over its weights.
    """

    name = "stream"
    module = "numpy"
    update = None  # not a step: no flops

    def __init__(self, threads: int):
        from concurrent.futures import ThreadPoolExecutor

        n = n_parameters(SIZES)
        self.params = np.random.default_rng(0).uniform(-0.05, 0.05, n).astype(np.float32)
        edges = [n * k // threads for k in range(threads + 1)]
        self.slices = [self.params[a:b] for a, b in zip(edges, edges[1:])]
        self.pool = ThreadPoolExecutor(threads) if threads > 1 else None

    @staticmethod
    def _pass(w):
        np.max(w)
        np.multiply(w, 1.0, out=w)

    def run(self, X, y, batch):
        for _ in range(0, len(X), batch):
            if self.pool is None:
                self._pass(self.slices[0])
            else:
                list(self.pool.map(self._pass, self.slices))


class Numpy:
    """Plain numpy: matrix products, softmax and back-propagation written out."""

    name = "numpy"
    module = "numpy"
    update = True

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
    """Large-matrix sgemm GFLOP/s at this thread count (PyTorch's BLAS, best of 5), or None without PyTorch.

    Runs in the calling process: :func:`measure_sgemm_peak` runs it in a fresh one.
    """
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
    """Limit numpy's BLAS to ``threads`` (a context manager)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads, user_api="blas")


def peak_rss_mb() -> float | None:
    """Peak resident memory of this process so far (``ru_maxrss``) in MB, or None where not available."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss * (1 if sys.platform == "darwin" else 1024) / 1e6  # bytes on macOS, KiB elsewhere


def have_torch() -> bool:
    """Whether PyTorch is installed (without importing it into this process)."""
    return importlib.util.find_spec("torch") is not None


@contextlib.contextmanager
def omp_threads(threads: int):
    """Set ``OMP_NUM_THREADS`` to ``threads`` in the block: the processes started there inherit it."""
    old = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("OMP_NUM_THREADS")
        else:
            os.environ["OMP_NUM_THREADS"] = old


def _spawn():
    """A multiprocessing context that starts fresh interpreters (no inherited thread pools)."""
    import multiprocessing as mp

    return mp.get_context("spawn")


def measure_sgemm_peak(threads: int) -> float | None:
    """:func:`sgemm_peak` in a fresh process started with ``OMP_NUM_THREADS=threads``."""
    if not have_torch():
        return None
    from concurrent.futures import ProcessPoolExecutor

    with omp_threads(threads), ProcessPoolExecutor(1, mp_context=_spawn()) as pool:
        return pool.submit(sgemm_peak, threads).result()


SETTLE_S = 0.3
#: Name of the reference row in the scaling table: t one-thread deepinit processes at once.
SEPARATE = "separate"


def _worker(conn, cls, threads, batch, target_s):
    """Build one implementation, warm it up, size a round, then serve requests on ``conn``.

    Requests: ``"run"`` times one round (reply: the examples trained and the
    round's start and end on ``time.perf_counter``, a clock that all processes
    share on Linux, macOS and Windows); ``"stats"`` replies
    the peak resident memory in MB, ``peak_rss_mb`` (so far) and ``idle_rss_mb``
    (after importing the library, before building the network), and the
    worker's ``OMP_NUM_THREADS``; ``"stop"`` ends.
    """
    importlib.import_module(cls.module)
    idle_mb = peak_rss_mb()
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
        while (request := conn.recv()) != "stop":
            if request == "run":
                t = time.perf_counter()
                impl.run(X, y, batch)
                conn.send((len(X), t, time.perf_counter()))
            else:  # "stats"
                conn.send({"peak_rss_mb": peak_rss_mb(), "idle_rss_mb": idle_mb,
                           "omp_num_threads": os.environ.get("OMP_NUM_THREADS")})


def measure(classes, threads, batch: int, rounds: int, target_s: float,
            settle: float = SETTLE_S, separate: bool = False) -> dict:
    """Time each implementation at each thread count in a worker of its own, alternating
    all of them round by round.

    Each round starts after ``settle`` seconds of idleness, so that no thread
    pool of the implementation timed before it is still spinning (see the
    module docstring). The thread counts alternate too: the speedup over threads
    then compares rounds taken under the same load of the neighbours, as the
    ratios between implementations do (measured one thread count after the
    other, minutes apart, the 1-to-2-thread speedup of one build at batch 10
    ranged 1.15-2.14x over five runs).

    With ``separate``, each thread count t above 1 also gets t one-thread
    deepinit workers that train at once, each its own network, in every round
    (:data:`SEPARATE`): what the t cores give to independent runs (a sweep's
    processes), the ceiling for one run's speedup over threads on this machine
    at that moment. Their round's examples/s: all the examples they trained,
    over the time from the first start to the last end.

    Parameters
    ----------
    threads : sequence of int
        Thread counts; each worker starts with its count in ``OMP_NUM_THREADS``.
    separate : bool
        Also time the separate one-thread processes (above).

    Returns
    -------
    dict
        Per (thread count, implementation name, or :data:`SEPARATE`):
        ``examples_per_s`` (median of the rounds), ``rounds`` (each round's
        examples/s), and the worker's ``peak_rss_mb``, ``idle_rss_mb`` and
        ``omp_num_threads`` after its rounds (see :func:`_worker`; of the separate
        processes, the largest peak and the first's other values).
    """
    ctx = _spawn()

    def start(cls, t):
        with omp_threads(t):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(child, cls, t, batch, target_s))
            proc.start()
        child.close()  # the worker's end: if the worker dies, recv() raises instead of waiting
        parent.recv()  # ready: built and warmed up (one at a time: each sizes its rounds alone)
        return proc, parent

    groups = {}  # key -> the workers that train at once in its rounds
    for t in threads:
        for cls in classes:
            groups[t, cls.name] = [start(cls, t)]
        if separate and t > 1:
            groups[t, SEPARATE] = [start(Deepinit, 1) for _ in range(t)]
    rates = {key: [] for key in groups}
    for _ in range(rounds):
        for key, members in groups.items():
            time.sleep(settle)
            for _, conn in members:
                conn.send("run")
            spans = [conn.recv() for _, conn in members]
            n = sum(s[0] for s in spans)
            rates[key].append(n / (max(s[2] for s in spans) - min(s[1] for s in spans)))
    out = {}
    for key, members in groups.items():
        stats = []
        for proc, conn in members:
            conn.send("stats")
            stats.append(conn.recv())
            conn.send("stop")
            proc.join()
        peaks = [s["peak_rss_mb"] for s in stats]
        out[key] = {"examples_per_s": statistics.median(rates[key]), "rounds": rates[key], **stats[0],
                    "peak_rss_mb": None if None in peaks else max(peaks)}
    return out


# --------------------------------------------------------------------------- #
def run(batches=(1, 10, 100), threads=None, rounds: int = 5, seconds: float = 0.4,
        settle: float = SETTLE_S) -> dict:
    """Measure every batch size at every thread count; print the timing table as it goes.

    Parameters
    ----------
    batches : sequence of int
        Minibatch sizes.
    threads : sequence of int, optional
        Thread counts; default :func:`default_threads`.
    rounds : int
        Timed rounds per implementation (the median is reported).
    seconds : float
        Target duration of one round.
    settle : float
        Idle seconds before each round (see :func:`measure`).

    Returns
    -------
    dict
        ``network``, ``machine``, ``openmp``, ``kernels``, ``parameters_mb``,
        ``sgemm_peak_gflops`` (per thread count), ``results`` (one row per thread
        count, batch size and implementation: examples/s, GFLOP/s, fraction of the
        sgemm peak (None for ``stream``), ratios to PyTorch, to the step's GEMMs
        alone (``gemms``, see :class:`TorchGemms`), to numpy and to the weights'
        traffic alone (``stream``, see :class:`WeightStream`), the ratio to
        PyTorch between the fastest rounds and the median of the per-round ratios
        to it (:func:`paired_ratio`),
        each round's examples/s, peak and idle resident memory of the worker in
        MB), ``separate_processes`` (per thread count t and batch size,
        the examples/s of t one-thread deepinit processes training at once, each
        round's, and their largest peak memory; see :func:`measure`) and
        ``scaling`` (see :func:`scaling`; the separate processes as the
        implementation :data:`SEPARATE`) and ``targets`` (see :func:`targets`).
    """
    from deepinit._kernels import KERNEL_BUILD
    from deepinit._kernels._openmp_helpers import openmp_enabled

    threads = list(threads or default_threads())
    classes = [Deepinit, Numpy, WeightStream]
    if have_torch():
        classes[1:1] = [Torch, TorchGemms]
    else:
        print("PyTorch not installed: no PyTorch column (pip install torch==2.13.0)")

    results, separate = [], []
    peaks = {t: measure_sgemm_peak(t) for t in threads}
    for t, peak in peaks.items():
        if peak:
            print(f"{t:>7} threads: sgemm peak {peak:.1f} GFLOP/s (2048x2048, PyTorch)")
    # The ratios compare median rounds; in brackets, the fastest rounds (a neighbour's
    # load can only slow a round down, so these approach the undisturbed speeds); in
    # braces, the median of the per-round ratios (the two ran seconds apart in each
    # round: what the VM's load does over minutes cancels, as in bench_ab.py).
    print(f"{'threads':>7} {'batch':>5} {'impl':>9} {'examples/s':>11} {'GFLOP/s':>8} {'% peak':>7} "
          f"{'vs pytorch [fastest] {paired}':>29} {'vs gemms':>9} {'vs numpy':>9} {'vs stream':>10}")
    updates = {cls.name: cls.update for cls in classes}
    for batch in batches:
        measured = measure(classes, threads, batch, rounds, seconds, settle, separate=True)
        for t in threads:
            # t separate one-thread processes; one of them is deepinit at 1 thread
            m = measured[t, SEPARATE] if t > 1 else measured[t, "deepinit"]
            separate.append({"threads": t, "batch": batch, "impl": SEPARATE,
                             "examples_per_s": m["examples_per_s"], "rounds_examples_per_s": m["rounds"],
                             "peak_rss_mb": m["peak_rss_mb"]})
        for t in threads:
            peak = peaks[t]
            mine = {name: m for (tt, name), m in measured.items() if tt == t and name != SEPARATE}
            rates = {name: m["examples_per_s"] for name, m in mine.items()}
            fastest = {name: max(m["rounds"]) for name, m in mine.items()}
            paired = ({name: paired_ratio(m["rounds"], mine["pytorch"]["rounds"]) for name, m in mine.items()}
                      if "pytorch" in mine else {})
            for name, rate in rates.items():
                gflops = (rate / batch * step_flops(batch, update=updates[name]) / 1e9
                          if updates[name] is not None else None)
                row = {
                    "threads": t, "batch": batch, "impl": name, "examples_per_s": rate,
                    "gflops": gflops, "fraction_of_sgemm_peak": gflops / peak if peak and gflops is not None else None,
                    "ratio_to_pytorch": rate / rates["pytorch"] if "pytorch" in rates else None,
                    "fastest_ratio_to_pytorch": fastest[name] / fastest["pytorch"] if "pytorch" in rates else None,
                    "paired_ratio_to_pytorch": paired.get(name),
                    "ratio_to_gemms": rate / rates["gemms"] if "gemms" in rates else None,
                    "ratio_to_numpy": rate / rates["numpy"],
                    "ratio_to_stream": rate / rates["stream"],
                    "peak_rss_mb": mine[name]["peak_rss_mb"], "idle_rss_mb": mine[name]["idle_rss_mb"],
                    "rounds_examples_per_s": mine[name]["rounds"],
                }
                results.append(row)
                pct = f"{row['fraction_of_sgemm_peak']:.1%}" if row["fraction_of_sgemm_peak"] is not None else "-"
                flops = f"{gflops:>8.1f}" if gflops is not None else f"{'-':>8}"
                vs_torch = (f"{row['ratio_to_pytorch']:.2f}x [{row['fastest_ratio_to_pytorch']:.2f}x] "
                            f"{{{row['paired_ratio_to_pytorch']:.2f}x}}" if row["ratio_to_pytorch"] else "-")
                vs_gemms = f"{row['ratio_to_gemms']:.2f}x" if row["ratio_to_gemms"] else "-"
                print(f"{t:>7} {batch:>5} {name:>9} {rate:>11,.0f} {flops} {pct:>7} "
                      f"{vs_torch:>29} {vs_gemms:>9} {row['ratio_to_numpy']:>8.2f}x "
                      f"{row['ratio_to_stream']:>9.2f}x")
    if have_torch():
        print("gemms: not a training step, only its 17 matrix products in PyTorch's BLAS "
              "(no activations, loss, biases or update)")
    print(f"stream: not a training step, only the weights' least traffic per step "
          f"(read them once, then read and write them once: {3 * parameter_mb():.0f} MB)")
    report = {
        "network": list(SIZES),
        "machine": machine(),
        "openmp": openmp_enabled(),
        "kernels": KERNEL_BUILD,
        "parameters_mb": parameter_mb(),
        "sgemm_peak_gflops": peaks,
        "results": results,
        "separate_processes": separate,
        "scaling": scaling(results + separate),
    }
    report["targets"] = targets(report)
    return report


def machine() -> dict:
    """The CPU count, platform and processor of this machine."""
    return {"cpu_count": os.cpu_count(), "platform": platform.platform(), "processor": platform.processor()}


def paired_ratio(rounds: list[float], base: list[float]) -> float:
    """Median over the rounds of ``rounds[k] / base[k]``: two rates measured in the same round."""
    return statistics.median(a / b for a, b in zip(rounds, base))


def scaling(results: list[dict]) -> list[dict]:
    """Examples/s of each implementation and batch size over thread counts, with the speedup.

    Returns
    -------
    list of dict
        One per batch size and implementation: ``impl``, ``batch``, ``base_threads``
        (the fewest threads measured, normally 1) and ``threads``: a list of
        ``{"threads", "examples_per_s", "speedup", "best_speedup", "paired_speedup"}``,
        relative to ``base_threads``: ``speedup`` from the median rounds,
        ``best_speedup`` from the fastest round at each thread count,
        ``paired_speedup`` the median of the per-round speedups (:func:`paired_ratio`;
        within a round the thread counts ran seconds apart). On a shared machine a round can only
        be slowed down by the neighbours, so the best rounds show what the code
        does when it has the cores it asked for, and the medians what a user got.
    """
    rows = []
    for batch in sorted({r["batch"] for r in results}):
        for impl in dict.fromkeys(r["impl"] for r in results):
            mine = {r["threads"]: r for r in results if r["impl"] == impl and r["batch"] == batch}
            if not mine:  # an implementation measured at some batch sizes only
                continue
            base = min(mine)
            best = {t: max(r["rounds_examples_per_s"]) for t, r in mine.items()}
            rows.append({
                "impl": impl, "batch": batch, "base_threads": base,
                "threads": [{"threads": t, "examples_per_s": r["examples_per_s"],
                             "speedup": r["examples_per_s"] / mine[base]["examples_per_s"],
                             "best_speedup": best[t] / best[base],
                             "paired_speedup": paired_ratio(r["rounds_examples_per_s"],
                                                            mine[base]["rounds_examples_per_s"])}
                            for t, r in sorted(mine.items())],
            })
    return rows


def print_scaling(report: dict) -> None:
    """Print the scaling table of a :func:`run` report: examples/s (speedup) per thread count."""
    counts = sorted({r["threads"] for r in report["results"]})
    base = min(counts)
    print(f"Scaling over threads: median examples/s (speedup over {base} thread{'s' * (base > 1)}; "
          "in brackets, the speedup between the fastest rounds; in braces, the median of the "
          "per-round speedups)")
    heads = [f"{t} thread" + "s" * (t > 1) for t in counts]
    print(f"{'impl':>9} {'batch':>5}" + "".join(f"{head:>35}" for head in heads))
    for row in report["scaling"]:
        cells = {c["threads"]: f"{c['examples_per_s']:,.0f} ({c['speedup']:.2f}x) [{c['best_speedup']:.2f}x] "
                               f"{{{c['paired_speedup']:.2f}x}}"
                 for c in row["threads"]}
        print(f"{row['impl']:>9} {row['batch']:>5}" + "".join(f"{cells.get(t, '-'):>35}" for t in counts))
    if any(row["impl"] == SEPARATE for row in report["scaling"]):
        print(f"{SEPARATE}: at t threads, t one-thread deepinit processes training at once (each its own "
              "network; at 1, deepinit's one thread):\n  what the cores gave independent runs in the same "
              "rounds, the ceiling for one run's speedup")


def print_memory(report: dict) -> None:
    """Print the peak resident memory of each worker of a :func:`run` report, in MB."""
    impls = list(dict.fromkeys(r["impl"] for r in report["results"]))
    print("Peak resident memory of each worker after its timed rounds, MB (ru_maxrss; in parentheses: "
          "above the worker after its imports).")
    print(f"Parameters (float32 weights and biases): {report['parameters_mb']:.2f} MB.")
    print(f"{'threads':>7} {'batch':>5}" + "".join(f"{name:>16}" for name in impls))
    cells = {}
    for r in report["results"]:
        peak, idle = r["peak_rss_mb"], r["idle_rss_mb"]
        cells.setdefault((r["threads"], r["batch"]), {})[r["impl"]] = (
            f"{peak:,.0f} (+{peak - idle:,.0f})" if peak is not None else "-")
    for (t, batch), by_impl in cells.items():
        print(f"{t:>7} {batch:>5}" + "".join(f"{by_impl.get(name, '-'):>16}" for name in impls))


def targets(report: dict) -> list[dict]:
    """The speed targets (:data:`RATIO_TARGETS`, :data:`SPEEDUP_TARGET`), checked against a :func:`run` report.

    Returns
    -------
    list of dict
        One per target that the report measured: ``kind`` (``"ratio"``: deepinit's
        examples/s over PyTorch's at ``batch`` and ``threads``; ``"speedup"``:
        deepinit's examples/s at 2 threads over 1 at ``batch``), ``goal``,
        ``measured`` (between the median rounds, as the tables), ``paired`` (the
        median of the per-round values), ``met`` (``measured >= goal``) and, for
        a speedup, ``separate``: the speedup two one-thread processes got in the
        same rounds (:data:`SEPARATE`), what the machine gave at best to two
        independent runs then. Ratios need PyTorch; without it there are none.
    """
    rows = []
    for r in report["results"]:
        goal = RATIO_TARGETS.get(r["batch"])
        if r["impl"] == "deepinit" and r["threads"] in (1, 2) and goal and r["ratio_to_pytorch"] is not None:
            rows.append({"kind": "ratio", "batch": r["batch"], "threads": r["threads"], "goal": goal,
                         "measured": r["ratio_to_pytorch"], "paired": r["paired_ratio_to_pytorch"],
                         "met": r["ratio_to_pytorch"] >= goal})
    speedups = {(row["impl"], row["batch"]): {c["threads"]: c for c in row["threads"]}
                for row in report["scaling"] if row["base_threads"] == 1}
    for (impl, batch), cells in speedups.items():
        if impl == "deepinit" and 2 in cells:
            ceiling = speedups.get((SEPARATE, batch), {}).get(2)
            rows.append({"kind": "speedup", "batch": batch, "threads": 2, "goal": SPEEDUP_TARGET,
                         "measured": cells[2]["speedup"], "paired": cells[2]["paired_speedup"],
                         "met": cells[2]["speedup"] >= SPEEDUP_TARGET,
                         "separate": ceiling["speedup"] if ceiling else None})
    return rows


def print_targets(report: dict) -> None:
    """Print each target of :func:`targets` with what this run measured and whether it was met."""
    rows = targets(report)
    if not rows:
        print("No targets measured (they need PyTorch, thread counts 1 or 2, batches "
              f"{', '.join(map(str, RATIO_TARGETS))})")
        return
    print("Each target, between the median rounds (in braces, the median of the per-round values)")
    print(f"{'target':<46} {'measured':>18} {'met':>4}")
    for row in rows:
        if row["kind"] == "ratio":
            name = (f"batch {row['batch']}, {row['threads']} thread{'s' * (row['threads'] > 1)}: "
                    f">= {row['goal']:g}x PyTorch")
        else:
            name = f"batch {row['batch']}, 1 -> 2 threads: >= {row['goal']:g}x"
        cell = f"{row['measured']:.2f}x {{{row['paired']:.2f}x}}"
        extra = (f"  (two one-thread processes: {row['separate']:.2f}x)"
                 if row.get("separate") is not None else "")
        print(f"{name:<46} {cell:>18} {'yes' if row['met'] else 'NO':>4}{extra}")
    missed = sum(not row["met"] for row in rows)
    print(f"{len(rows) - missed} of {len(rows)} met")


def write_json(path: str, report: dict) -> None:
    """Write ``report`` to ``path`` as indented JSON."""
    with open(path, "w") as fh:
        json.dump(report, fh, indent=2)


def int_list(text: str) -> list[int]:
    """Parse a comma-separated list of integers, such as ``"1,10,100"``."""
    return [int(v) for v in text.split(",")]


def main(argv=None) -> dict:
    """Command line: time the training step, then print the memory and scaling tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", default="1,10,100")
    parser.add_argument("--threads", default=None, help="comma list [default: 1, 2, powers of two, all cores]")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.4, help="target duration of one round")
    parser.add_argument("--settle", type=float, default=SETTLE_S, help="idle seconds before each round")
    parser.add_argument("--json", dest="json_path", default=None)
    args = parser.parse_args(argv)

    report = run(batches=int_list(args.batches), threads=int_list(args.threads) if args.threads else None,
                 rounds=args.rounds, seconds=args.seconds, settle=args.settle)
    print()
    print_memory(report)
    print()
    print_scaling(report)
    print()
    print_targets(report)
    if args.json_path:
        write_json(args.json_path, report)
    return report


if __name__ == "__main__":
    main()
