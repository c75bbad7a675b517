"""Shapeset-3x2 generation rate (images/s) at 1, 2 and all threads; learnability baselines.

Rate: renders batches of training examples into a preallocated buffer (as the
trainer does through ``ShapesetDataset.fill_train``) and reports the best and
median rate over repeats, for float32 and float64 outputs. Every repeat renders
a new range of the stream, so nothing is cached.

Learnability (``--learnability``): the numbers of docs/shapeset.md, with numpy
only: softmax regression on raw pixels and on the contrast image
``|x - background|`` (20,000 examples, SGD), and a one-hidden-layer tanh MLP
trained online on the training stream; all scored on the first 10,000
examples of the fixed test set.

Usage::

    python bench/bench_shapeset.py                 # rate table
    python bench/bench_shapeset.py --json          # JSON on stdout
    python bench/bench_shapeset.py --batch 20000 --repeats 7 --threads 1,2,4
    python bench/bench_shapeset.py --learnability [--mlp-examples 1000000] [--json]

``bench/bench_all.py`` runs :func:`generation_rates` with the other benchmarks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np

from deepinit._kernels._openmp_helpers import effective_n_threads, openmp_enabled
from deepinit.datasets.shapeset import ShapesetDataset


def measure(n_threads: int, batch: int, repeats: int, dtype) -> dict:
    """Rates (images/s) of ``repeats`` renders of ``batch`` examples each."""
    dataset = ShapesetDataset(seed=0)
    dataset.n_threads = n_threads
    X = np.zeros((batch, dataset.n_inputs), dtype=dtype)   # touched: no page faults in the timing
    y = np.zeros(batch, dtype=np.int32)
    dataset.fill_train(0, X, y)                            # warm-up (thread pool start)
    rates = []
    for r in range(repeats):
        t0 = time.perf_counter()
        dataset.fill_train((r + 1) * batch, X, y)
        rates.append(batch / (time.perf_counter() - t0))
    return {
        "threads": n_threads,
        "dtype": np.dtype(dtype).name,
        "batch": batch,
        "repeats": repeats,
        "best_images_per_s": max(rates),
        "median_images_per_s": statistics.median(rates),
    }


def generation_rates(counts=None, batch: int = 20_000, repeats: int = 5) -> dict:
    """:func:`measure` at each thread count, for float32 and float64.

    Parameters
    ----------
    counts : sequence of int, optional
        Thread counts; default 1, 2 and all.
    batch, repeats : int
        Examples per render call, and render calls per measurement.

    Returns
    -------
    dict
        Machine details and ``results``: one :func:`measure` row per thread count and dtype.
    """
    n_all = effective_n_threads(None)
    counts = list(counts) if counts else sorted({1, 2, n_all})
    rows = [measure(t, batch, repeats, dtype) for t in counts for dtype in (np.float32, np.float64)]
    return {
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "openmp": openmp_enabled(),
        "all_threads": n_all,
        "batch": batch,
        "repeats": repeats,
        "results": rows,
    }


def print_rates(info: dict) -> None:
    """Print a :func:`generation_rates` result as a table."""
    print(f"Shapeset-3x2 generation, {info['cpu_count']} CPUs, OpenMP {'on' if info['openmp'] else 'off'}, "
          f"batch {info['batch']}, {info['repeats']} repeats")
    print(f"{'threads':>7}  {'dtype':>7}  {'best img/s':>12}  {'median img/s':>12}  {'us/img/thread':>13}")
    for r in info["results"]:
        per = 1e6 * r["threads"] / r["median_images_per_s"]
        print(f"{r['threads']:>7}  {r['dtype']:>7}  {r['best_images_per_s']:>12,.0f}  "
              f"{r['median_images_per_s']:>12,.0f}  {per:>13.2f}")


def _softmax_grad(Z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """d(mean NLL)/dZ for logits Z (B, 9) and labels y (B,), in place on Z."""
    Z -= Z.max(1, keepdims=True)
    np.exp(Z, out=Z)
    Z /= Z.sum(1, keepdims=True)
    Z[np.arange(len(y)), y] -= 1
    Z /= len(y)
    return Z


def linear_error(features: str, n_train=20_000, epochs=10, lr=0.01, batch=20, seed=0) -> dict:
    """Softmax regression by minibatch SGD; inputs centred with the training mean."""
    from deepinit.datasets.shapeset import EVAL_SEED, STREAM_TEST, generate

    X, y = generate(n_train, seed=seed)
    Xt, yt = generate(10_000, seed=EVAL_SEED, stream=STREAM_TEST)
    if features == "contrast":   # the frame pixel is always background
        X, Xt = np.abs(X - X[:, :1]), np.abs(Xt - Xt[:, :1])
    mu = X.mean(0)
    X -= mu
    Xt -= mu
    rng = np.random.default_rng(seed)
    W = np.zeros((X.shape[1], 9), np.float32)
    b = np.zeros(9, np.float32)
    for _ in range(epochs):
        for idx in rng.permutation(n_train)[: n_train - n_train % batch].reshape(-1, batch):
            G = _softmax_grad(X[idx] @ W + b, y[idx])
            W -= lr * X[idx].T @ G
            b -= lr * G.sum(0)
    return {
        "model": f"linear softmax, {features} pixels",
        "settings": f"{n_train} examples, {epochs} epochs, lr {lr}, batch {batch}",
        "train_error": float(((X @ W + b).argmax(1) != y).mean()),
        "test_error": float(((Xt @ W + b).argmax(1) != yt).mean()),
    }


def mlp_error(n_examples=1_000_000, hidden=500, lr=0.05, batch=20, seed=0, report_every=250_000) -> dict:
    """One tanh hidden layer, normalized initialization, online SGD on fresh examples."""
    from deepinit.datasets.shapeset import EVAL_SEED, STREAM_TEST, generate

    Xt, yt = generate(10_000, seed=EVAL_SEED, stream=STREAM_TEST)
    rng = np.random.default_rng(seed)
    r1, r2 = np.sqrt(6 / (1024 + hidden)), np.sqrt(6 / (hidden + 9))
    W1 = rng.uniform(-r1, r1, (1024, hidden)).astype(np.float32)
    W2 = rng.uniform(-r2, r2, (hidden, 9)).astype(np.float32)
    b1 = np.zeros(hidden, np.float32)
    b2 = np.zeros(9, np.float32)
    curve = []
    chunk = min(report_every, n_examples)
    X = np.empty((chunk, 1024), np.float32)
    y = np.empty(chunk, np.int32)
    from deepinit.datasets.shapeset import ShapesetDataset

    stream = ShapesetDataset(seed=seed)
    for start in range(0, n_examples - chunk + 1, chunk):
        stream.fill_train(start, X, y)
        for lo in range(0, chunk - batch + 1, batch):
            xb, yb = X[lo:lo + batch], y[lo:lo + batch]
            A = np.tanh(xb @ W1 + b1)
            G = _softmax_grad(A @ W2 + b2, yb)
            dA = (G @ W2.T) * (1 - A * A)
            W2 -= lr * A.T @ G
            b2 -= lr * G.sum(0)
            W1 -= lr * xb.T @ dA
            b1 -= lr * dA.sum(0)
        error = float(((np.tanh(Xt @ W1 + b1) @ W2 + b2).argmax(1) != yt).mean())
        curve.append([start + chunk, error])
    return {
        "model": f"MLP 1024-{hidden}-9 tanh, normalized init",
        "settings": f"online, {n_examples} examples, lr {lr}, batch {batch}",
        "test_error": curve[-1][1],
        "curve": curve,
    }


def learnability(mlp_examples: int) -> dict:
    """The linear baselines (raw and contrast pixels) and the MLP baseline, with chance error."""
    return {
        "chance_error": 8 / 9,
        "results": [
            linear_error("raw"),
            linear_error("contrast"),
            mlp_error(n_examples=mlp_examples),
        ],
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=20_000, help="examples per render call")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", default=None,
                        help="comma-separated thread counts [default: 1,2,all]")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--learnability", action="store_true",
                        help="train the linear and MLP baselines instead (minutes)")
    parser.add_argument("--mlp-examples", type=int, default=1_000_000,
                        help="training examples of the MLP baseline")
    args = parser.parse_args(argv)

    if args.learnability:
        t0 = time.perf_counter()
        res = learnability(args.mlp_examples)
        res["seconds"] = time.perf_counter() - t0
        if args.json:
            print(json.dumps(res, indent=2))
            return
        print(f"chance error {res['chance_error']:.3f}")
        for r in res["results"]:
            print(f"{r['model']:<44} {r['settings']:<48} test error {r['test_error']:.3f}")
            for n, e in r.get("curve", []):
                print(f"    after {n:>9,} examples: {e:.3f}")
        return

    counts = [int(t) for t in args.threads.split(",")] if args.threads else None
    info = generation_rates(counts, args.batch, args.repeats)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print_rates(info)


if __name__ == "__main__":
    main()
