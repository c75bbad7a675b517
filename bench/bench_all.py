"""Every benchmark of deepinit's speed in one run: training step, memory, scaling, monitoring, Shapeset.

Sections, in this order (each comes from a script of its own in this directory):

1. Training step (``bench_train_step.py``): one full SGD step of the paper's
   network (1024 inputs, 5 x 1000 tanh, 9 softmax outputs, float32) for
   deepinit, PyTorch and numpy, at each batch size and thread count, alternating
   the implementations and the thread counts round by round after warm-up, each
   in a worker process of its own: examples/s, GFLOP/s, fraction of the machine's measured 2048 x 2048
   sgemm peak, ratios to PyTorch and to numpy; and, for scale, two rows that are
   not training steps, with the ratios to them: a step's matrix products alone in
   PyTorch's BLAS (``gemms``) and the weights' least traffic per step alone, read
   once then read and written once (``stream``).
2. Peak memory: each worker's peak resident memory (``ru_maxrss``) after its
   timed rounds, in MB, and how much of it came after the worker's imports;
   the parameters' size for reference.
3. Scaling: examples/s of each implementation and batch size at every thread
   count measured, with the speedup over 1 thread (between the median rounds, and
   between the fastest rounds), from the same alternating rounds; and, for
   reference, t one-thread deepinit processes at once (``separate``): what the
   cores give to independent runs, the ceiling for one run's speedup. Then the
   speed targets, each with what this run measured and whether it was met.
4. Monitoring overhead (``bench_monitor.py``): training updates and monitoring
   points timed in alternation, at the default (paper-like) cadence, at the
   largest thread count; the overhead in the steady state and over a default run.
5. Shapeset-3x2 generation rate (``bench_shapeset.py``): images/s, float32 and
   float64, at every thread count.

Thread counts default to 1, 2, the powers of two below the core count, and the
core count. PyTorch is optional: without it its columns (and the sgemm peak)
are skipped. Quote ratios, not absolute times, on a shared machine.

    python bench/bench_all.py --json bench.json     # everything (a few minutes on 2 cores)
    python bench/bench_all.py --quick               # smoke run: short rounds (under two minutes)
    python bench/bench_all.py --threads 1,2,4 --batches 10 --rounds 9 --only train
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the sibling scripts, from any directory

# Only the training-step module at the top: the spawned workers of section 1 import
# this script again, and must not load deepinit or PyTorch beside the one they time.
import bench_train_step as train_step  # noqa: E402

SECTIONS = ("train", "monitor", "shapeset")
FULL = {"rounds": 5, "seconds": 0.4, "block": 200, "shapeset_batch": 20_000}
QUICK = {"rounds": 2, "seconds": 0.1, "block": 50, "shapeset_batch": 2_000}


def heading(title: str) -> None:
    """Print a section title."""
    print(f"\n## {title}\n", flush=True)


def run(sections=SECTIONS, batches=(1, 10, 100), threads=None, rounds: int = 5, seconds: float = 0.4,
        block: int = 200, shapeset_batch: int = 20_000) -> dict:
    """Run and print the chosen sections.

    Parameters
    ----------
    sections : sequence of str
        Any of ``"train"`` (sections 1 to 3), ``"monitor"``, ``"shapeset"``.
    batches : sequence of int
        Minibatch sizes of the training step.
    threads : sequence of int, optional
        Thread counts; default :func:`bench_train_step.default_threads`.
    rounds : int
        Timed rounds (medians reported) of the training step and of the
        monitoring benchmark; renders per measurement of the Shapeset rate.
    seconds : float
        Target duration of one training-step round.
    block : int
        Training updates per round of the monitoring benchmark.
    shapeset_batch : int
        Examples per Shapeset render call.

    Returns
    -------
    dict
        ``machine``, ``threads``, ``settings``, then ``train_step`` (a
        :func:`bench_train_step.run` report: rows with timings and memory, and
        ``scaling``), ``monitor`` (:func:`bench_monitor.measure_overhead`) and
        ``shapeset`` (:func:`bench_shapeset.generation_rates`) for the sections
        run, and ``seconds``, the duration of the whole run.
    """
    t0 = time.perf_counter()
    threads = list(threads or train_step.default_threads())
    report = {
        "machine": {**train_step.machine(), "load_average": os.getloadavg()[0]},
        "threads": threads,
        "settings": {"batches": list(batches), "rounds": rounds, "seconds": seconds, "block": block,
                     "shapeset_batch": shapeset_batch},
    }
    print(f"{report['machine']['cpu_count']} CPUs, load average {report['machine']['load_average']:.1f}; "
          f"threads {threads}; batches {list(batches)}; {rounds} rounds")
    if "train" in sections:
        heading("1. Training step (median of the rounds)")
        report["train_step"] = steps = train_step.run(batches, threads, rounds, seconds)
        heading("2. Peak memory")
        train_step.print_memory(steps)
        heading("3. Scaling")
        train_step.print_scaling(steps)
        heading("Targets (docs/performance.md)")
        train_step.print_targets(steps)
    if "monitor" in sections:
        import bench_monitor

        heading(f"4. Monitoring overhead, default cadence, {max(threads)} threads")
        report["monitor"] = bench_monitor.measure_overhead(rounds=rounds, block=block, threads=max(threads))
        bench_monitor.print_overhead(report["monitor"])
    if "shapeset" in sections:
        import bench_shapeset

        heading("5. Shapeset-3x2 generation rate")
        report["shapeset"] = bench_shapeset.generation_rates(threads, shapeset_batch, rounds)
        bench_shapeset.print_rates(report["shapeset"])
    report["seconds"] = time.perf_counter() - t0
    print(f"\n{report['seconds']:.0f} s in all")
    return report


def main(argv=None) -> dict:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: {QUICK['rounds']} rounds of {QUICK['seconds']} s, shorter monitoring "
                             "blocks and renders (flags below still override)")
    parser.add_argument("--batches", default="1,10,100", help="training-step batch sizes [default: 1,10,100]")
    parser.add_argument("--threads", default=None,
                        help="comma list of thread counts [default: 1, 2, powers of two, all cores]")
    parser.add_argument("--rounds", type=int, default=None, help=f"timed rounds [default: {FULL['rounds']}]")
    parser.add_argument("--seconds", type=float, default=None,
                        help=f"target duration of one training-step round [default: {FULL['seconds']}]")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma list of sections to run, of {', '.join(SECTIONS)} [default: all]")
    parser.add_argument("--json", dest="json_path", default=None, help="also write every result to this file")
    args = parser.parse_args(argv)

    sections = args.only.split(",")
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}; use {', '.join(SECTIONS)}")
    settings = dict(QUICK if args.quick else FULL)
    settings.update({key: getattr(args, key) for key in ("rounds", "seconds") if getattr(args, key) is not None})
    report = run(sections, train_step.int_list(args.batches),
                 train_step.int_list(args.threads) if args.threads else None, **settings)
    if args.json_path:
        train_step.write_json(args.json_path, report)
    return report


if __name__ == "__main__":
    main()
