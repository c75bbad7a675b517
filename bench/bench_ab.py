"""Compare two builds of deepinit's dense kernels in one process, in alternation.

On a shared machine two builds timed one after the other differ by more than the
change between them (the neighbours' load moves by 10-50% within a minute). This
loads both compiled modules into one process, builds the same network twice,
and alternates ``train_steps`` calls of the two, so that the machine's load hits
both alike; it reports the best and median step time of each and the median of
the per-pair ratios, and checks that both builds produced the same parameters,
bit for bit.

    # build the old version somewhere else first, e.g.
    #   git worktree add /tmp/old HEAD~1 && (cd /tmp/old && python setup.py build_ext --inplace)
    python bench/bench_ab.py /tmp/old/src/deepinit/_kernels/_dense_v4.*.so \\
        src/deepinit/_kernels/_dense_v4.*.so --batch 10 --threads 2

The two files must be builds of the same module (same name, e.g. both
``_dense_v4``); they are copied to a temporary directory first, so that a
rebuild in place does not change what is being timed. ``--wide 0,1`` with the
same file twice times the default kernels against the wide ones (AVX-512).
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_train_step import LR, SIZES, data


def load(path: Path, workdir: Path, tag: str, wide: bool | None = None):
    """Import the compiled module at ``path`` under its own name, from a private copy.

    ``wide``: whether its wide kernels run (AVX-512 builds); None: deepinit's own
    choice for this CPU.
    """
    name = path.name.split(".")[0]
    copy = workdir / tag / path.name
    copy.parent.mkdir()
    shutil.copy2(path, copy)
    spec = importlib.util.spec_from_file_location(f"deepinit._kernels.{name}", copy)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if hasattr(module, "set_wide_kernels"):
        from deepinit._kernels import WIDE_KERNELS

        module.set_wide_kernels(WIDE_KERNELS if wide is None else wide)
    return module


def compare(path_a: Path, path_b: Path, batch: int, threads: int, rounds: int, steps: int | None = None,
            wide: tuple[bool | None, bool | None] = (None, None)) -> dict:
    """Alternate ``rounds`` timed calls of ``steps`` training steps of each build.

    Returns
    -------
    dict
        ``a`` and ``b``: ms per step of each round; ``ratio``: the median of the
        per-round ratios a / b (above 1: b is faster); ``same_bits``.
    """
    from deepinit.network import Network

    steps = steps or (100 if batch <= 10 else 10)
    with tempfile.TemporaryDirectory() as tmp:
        mods = {"a": load(path_a, Path(tmp), "a", wide[0]), "b": load(path_b, Path(tmp), "b", wide[1])}
        X, y = data(batch, steps)
        cost, errors = np.empty(steps), np.empty(steps, np.int32)
        nets = {}
        for key in mods:
            nets[key] = Network(SIZES, "tanh", n_threads=threads)
            nets[key].initialize("normalized", seed=0)

        bufs = {}
        for key in mods:
            bufs[key] = nets[key]._buffers("train", batch)
            if "work" not in inspect.signature(mods[key].train_steps).parameters:
                bufs[key] = bufs[key][:2]  # a build from before the forward's work buffer

        def run(key):
            net = nets[key]
            mods[key].train_steps(net.params, net._sizes, net._acts, net._cost, X, y, batch, LR,
                                  *bufs[key], cost, errors, threads)

        for key in mods:
            run(key)  # warm-up
        times = {key: [] for key in mods}
        for _ in range(rounds):
            for key in mods:
                t = time.perf_counter()
                run(key)
                times[key].append((time.perf_counter() - t) / steps * 1e3)
        a, b = np.array(times["a"]), np.array(times["b"])
        return {"a": a, "b": b, "ratio": float(np.median(a / b)),
                "same_bits": bool(np.array_equal(nets["a"].params, nets["b"].params))}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", type=Path, help="compiled module of build A (e.g. the old one)")
    parser.add_argument("b", type=Path, help="compiled module of build B (the same module, rebuilt)")
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--wide", metavar="A,B", help="run the wide kernels (1) or not (0) in build A and B, "
                        "e.g. 0,1 with the same file twice; default: deepinit's choice for this CPU")
    args = parser.parse_args(argv)
    wide = (None, None)
    if args.wide:
        try:
            wide = tuple(bool(int(x)) for x in args.wide.split(","))
            assert len(wide) == 2
        except (ValueError, AssertionError):
            sys.exit(f"bench_ab: --wide {args.wide!r}: give two flags, e.g. 0,1")
    if args.a.name.split(".")[0] != args.b.name.split(".")[0]:
        sys.exit(f"bench_ab: {args.a.name} and {args.b.name} are different modules; give two builds of one")
    r = compare(args.a, args.b, args.batch, args.threads, args.rounds, wide=wide)
    for key in ("a", "b"):
        print(f"{key}: ms a step, best {r[key].min():.3f}, median {np.median(r[key]):.3f}")
    print(f"batch {args.batch}, {args.threads} threads: median of the per-round ratios a / b = {r['ratio']:.3f}"
          f" (above 1: b is faster); same parameters bit for bit: {r['same_bits']}")


if __name__ == "__main__":
    main()
