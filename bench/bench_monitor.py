"""What monitoring costs: its overhead on training the paper's network, at a cadence.

The paper's network (1024 inputs, 5 hidden layers of 1000 tanh units, 9 softmax
outputs, float32, minibatches of 10) on Shapeset-3x2. Three things are timed in
alternation, after a warm-up, for several rounds (medians reported):

- a block of training updates, run as ``deepinit.training`` runs them (chunks
  of at most 100 updates, one kernel call each);
- one monitoring point without Jacobians (forward and gradient on the 300-example
  probe set, moments, percentiles, histograms, saturation, weights);
- one monitoring point with Jacobians (``--jacobian-examples`` examples).

The overhead at a cadence is then

    (t_point + t_jacobian * every / jacobian_every) / (every * t_update)

for the steady state (a long run, as the paper's 5 million updates), and the
same count of points a whole run of ``--updates`` takes (log-spaced early points
included) for a default-length run. ``--end-to-end`` also trains that run through
``deepinit.training.train`` with and without monitoring, ``--repeats`` times in
alternation (slow: whole runs). Ratios are the result; absolute times on a shared machine are noise.

    python bench/bench_monitor.py
    python bench/bench_monitor.py --every 1000 --jacobian-every 10000 --rounds 7
    python bench/bench_monitor.py --end-to-end --updates 3000 --json out.json

``bench/bench_all.py`` runs :func:`measure_overhead` with the other benchmarks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time

import numpy as np

from bench_train_step import SIZES


def median_time(fn, rounds: int) -> list[float]:
    """Durations in seconds of ``rounds`` calls of ``fn``."""
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def cadence_defaults() -> dict:
    """The monitoring cadence and run length of a default ``deepinit train`` (``TrainConfig``)."""
    from deepinit.config import TrainConfig

    d = TrainConfig()
    return {"every": d.monitor_every, "log_points": d.monitor_log_points, "jacobian_every": d.jacobian_every,
            "jacobian_examples": d.jacobian_examples, "probe_size": d.probe_size, "updates": d.DEFAULT_UPDATES}


def measure_overhead(rounds: int = 5, block: int = 200, threads: int | None = None, **cadence) -> dict:
    """Time training updates and monitoring points in alternation; derive the overhead at a cadence.

    Parameters
    ----------
    rounds : int
        Alternated rounds (medians are reported).
    block : int
        Training updates timed per round.
    threads : int, optional
        Kernel threads; default all.
    **cadence
        Any of :func:`cadence_defaults`' keys (``every``, ``log_points``,
        ``jacobian_every``, ``jacobian_examples``, ``probe_size``, ``updates``);
        the others keep their defaults.

    Returns
    -------
    dict
        Seconds per update, per point (and its gradient and statistics parts), per
        Jacobian point, and the overhead in the steady state and over a whole run.
    """
    from deepinit.datasets import get_dataset
    from deepinit.monitor import Monitor, MonitorConfig, schedule
    from deepinit.network import Network
    from deepinit.training import CHUNK_STEPS

    c = {**cadence_defaults(), **cadence}
    data = get_dataset("shapeset", seed=0, valid_size=1000, test_size=max(c["probe_size"], 1000))
    net = Network(SIZES, "tanh", n_threads=threads)
    net.initialize("normalized", seed=0)
    X_test, y_test = data.split("test")
    cfg = MonitorConfig(every=c["every"], log_points=c["log_points"], probe_size=c["probe_size"],
                        jacobian_examples=c["jacobian_examples"], jacobian_every=c["jacobian_every"])
    mon = Monitor(net, X_test, y_test, cfg, lr=0.01, total_updates=c["updates"])
    mon.record(0, 0, 0.0)   # point 0: edges, theory (and a first Jacobian)

    B = 10
    X = np.empty((block * B, SIZES[0]), np.float32)
    y = np.empty(block * B, np.int32)
    data.fill_train(0, X, y)

    def train_block():
        for s in range(0, block, CHUNK_STEPS):
            n = min(CHUNK_STEPS, block - s) * B
            net.train_steps(X[s * B : s * B + n], y[s * B : s * B + n], B, 0.01)

    update = [1]

    def point(jacobian: bool):
        # A point between multiples of jacobian_every has no Jacobian; a final one has.
        mon.record(update[0], update[0] * B, 0.0, final=jacobian)
        update[0] += 1

    train_block()   # warm-up
    point(False)
    t_block, t_point, t_jpoint, t_gradient = [], [], [], []
    for _ in range(rounds):   # alternate, so that machine load hits all of them alike
        t_block += median_time(train_block, 1)
        t_point += median_time(lambda: point(False), 1)
        t_jpoint += median_time(lambda: point(True), 1) if mon.n_jac else [0.0]
        # The part of a point spent in the kernels' forward and backward pass on the probe set.
        t_gradient += median_time(lambda: net.gradient(mon.X, mon.y), 1)
    t_update = statistics.median(t_block) / block
    t_p = statistics.median(t_point)
    t_j = max(0.0, statistics.median(t_jpoint) - t_p) if mon.n_jac else 0.0
    t_grad = statistics.median(t_gradient)

    every, jacobian_every, updates = c["every"], c["jacobian_every"], c["updates"]
    steady = (t_p + t_j * every / jacobian_every) / (every * t_update)
    pts = schedule(updates, every, c["log_points"])
    n_jac, last = 0, -1
    for u in pts.tolist():   # Monitor's rule: update 0, the last point, past each multiple
        if mon.n_jac and (last < 0 or u == pts[-1] or u // jacobian_every > last // jacobian_every):
            n_jac, last = n_jac + 1, u
    whole = (len(pts) * t_p + n_jac * t_j) / (updates * t_update)
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {net.n_threads} threads",
        "load_average": os.getloadavg()[0],
        "network": "-".join(map(str, SIZES)) + " tanh float32, batch 10",
        "rounds": rounds,
        "block": block,
        "cadence": {"every": every, "log_points": c["log_points"], "jacobian_every": jacobian_every,
                    "jacobian_examples": mon.n_jac, "probe_size": mon.P},
        "seconds_per_update": t_update,
        "seconds_per_point": t_p,
        "seconds_gradient": t_grad,
        "seconds_statistics": max(0.0, t_p - t_grad),
        "seconds_jacobians": t_j,
        "overhead_steady_state": steady,
        "run_updates": updates,
        "run_points": len(pts),
        "run_jacobian_points": n_jac,
        "overhead_whole_run": whole,
    }


def print_overhead(result: dict) -> None:
    """Print a :func:`measure_overhead` result."""
    c = result["cadence"]
    n_layers = len(SIZES) - 2
    print(f"{result['network']}; {result['machine']}; load average {result['load_average']:.1f}")
    print(f"training:   {1e3 * result['seconds_per_update']:8.2f} ms per update ({result['rounds']} rounds of "
          f"{result['block']} updates)")
    print(f"monitoring: {1e3 * result['seconds_per_point']:8.1f} ms per point = forward and backward "
          f"{1e3 * result['seconds_gradient']:.0f} + pre-activations and statistics "
          f"{1e3 * result['seconds_statistics']:.0f} ms on {c['probe_size']} probe examples")
    if c["jacobian_examples"]:
        t_j = result["seconds_jacobians"]
        print(f"Jacobians:  {1e3 * t_j:8.1f} ms per point ({c['jacobian_examples']} examples x {n_layers} layers, "
              f"{1e3 * t_j / (c['jacobian_examples'] * n_layers):.0f} ms each)")
    print(f"overhead, steady state (every {c['every']} updates, Jacobians every {c['jacobian_every']}): "
          f"{result['overhead_steady_state']:.2%}")
    print(f"overhead, a whole run of {result['run_updates']} updates ({result['run_points']} points incl. "
          f"{c['log_points']} log-spaced, {result['run_jacobian_points']} with Jacobians): "
          f"{result['overhead_whole_run']:.2%}")


def end_to_end(repeats: int = 2, threads: int | None = None, **cadence) -> dict:
    """Train whole runs through ``deepinit.training.train`` with and without monitoring, alternated.

    Parameters as :func:`measure_overhead`; ``repeats`` pairs of runs.

    Returns
    -------
    dict
        ``end_to_end_updates``, ``end_to_end_seconds`` (``off`` and ``on`` lists), ``end_to_end_monitor_seconds``,
        ``end_to_end_overhead`` and ``end_to_end_monitor_share`` (medians).
    """
    from deepinit.config import TrainConfig
    from deepinit.training import train

    c = {**cadence_defaults(), **cadence}
    elapsed: dict[bool, list[float]] = {False: [], True: []}
    monitor_seconds = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):   # alternate, so that machine load hits both alike
            for monitor in (False, True):
                cfg_run = TrainConfig(updates=c["updates"], monitor=monitor, monitor_every=c["every"],
                                      monitor_log_points=c["log_points"], jacobian_every=c["jacobian_every"],
                                      jacobian_examples=c["jacobian_examples"], probe_size=c["probe_size"],
                                      eval_every=c["updates"], valid_size=1000, test_size=1000)
                record = train(cfg_run, os.path.join(tmp, "run.h5"), overwrite=True, n_threads=threads)
                elapsed[monitor].append(record.elapsed)
                if monitor:
                    monitor_seconds.append(float(sum(record.monitor.points["seconds"])))
    off, on = statistics.median(elapsed[False]), statistics.median(elapsed[True])
    return {
        "end_to_end_updates": c["updates"],
        "end_to_end_seconds": {"off": elapsed[False], "on": elapsed[True]},
        "end_to_end_monitor_seconds": monitor_seconds,
        "end_to_end_overhead": on / off - 1,
        "end_to_end_monitor_share": statistics.median(monitor_seconds) / off,
    }


def print_end_to_end(result: dict) -> None:
    """Print an :func:`end_to_end` result."""
    seconds = result["end_to_end_seconds"]
    off, on = statistics.median(seconds["off"]), statistics.median(seconds["on"])
    print(f"end to end, {result['end_to_end_updates']} updates, {len(seconds['off'])} alternated pairs (medians): "
          f"{off:.1f} s without, {on:.1f} s with monitoring ({result['end_to_end_overhead']:+.2%}); the monitoring "
          f"points themselves took {statistics.median(result['end_to_end_monitor_seconds']):.1f} s "
          f"({result['end_to_end_monitor_share']:.2%})")


def main(argv=None) -> dict:
    """Command line: measure, print, and optionally write JSON."""
    defaults = cadence_defaults()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--every", type=int, default=defaults["every"], help="monitoring cadence (updates)")
    ap.add_argument("--log-points", type=int, default=defaults["log_points"])
    ap.add_argument("--jacobian-every", type=int, default=defaults["jacobian_every"])
    ap.add_argument("--jacobian-examples", type=int, default=defaults["jacobian_examples"])
    ap.add_argument("--probe-size", type=int, default=defaults["probe_size"])
    ap.add_argument("--updates", type=int, default=defaults["updates"], help="length of the whole run")
    ap.add_argument("--block", type=int, default=200, help="training updates timed per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--end-to-end", action="store_true", help="also train the whole run with and without monitoring")
    ap.add_argument("--repeats", type=int, default=2, help="alternated pairs of end-to-end runs")
    ap.add_argument("--json", dest="json_out", default=None, help="write the results to this file")
    args = ap.parse_args(argv)

    cadence = {key: getattr(args, key) for key in defaults}
    result = measure_overhead(rounds=args.rounds, block=args.block, threads=args.threads, **cadence)
    print_overhead(result)
    if args.end_to_end:
        result.update(end_to_end(repeats=args.repeats, threads=args.threads, **cadence))
        print_end_to_end(result)
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump(result, fh, indent=2)
    return result


if __name__ == "__main__":
    main()
