"""The training loop: minibatch SGD in compiled chunks, evaluation, checkpoints.

Python runs once per *chunk* of minibatches (at most ``CHUNK_STEPS``), never per
minibatch: the dataset fills a preallocated chunk buffer, then one kernel call
trains on the whole chunk without the GIL.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from . import _signals
from ._kernels import KERNEL_BUILD, WIDE_KERNELS
from ._kernels._openmp_helpers import openmp_enabled
from .config import TrainConfig
from .datasets import get_dataset
from .monitor import Monitor, MonitorConfig
from .network import Network
from .runfile import RunWriter, check_output_path

CHUNK_STEPS = 100          # minibatches per kernel call
CHECKPOINT_SECONDS = 30.0  # at most one run-file write per this many seconds (and at the end)
EVAL_BATCH = 250


@dataclass
class Progress:
    """What a progress callback receives after every chunk."""

    update: int
    total_updates: int
    examples: int
    elapsed: float
    train_cost: float       # mean cost per example over the last chunk
    valid_error: float      # latest evaluation (nan before the first)
    test_error: float
    evaluated: bool         # True when this call follows an evaluation


def build(config: TrainConfig, n_threads: int | None = None):
    """Validate ``config`` and build its dataset and (uninitialized) network."""
    config.validate()
    dataset = get_dataset(
        config.dataset,
        seed=config.data_seed,
        data_dir=config.data_dir,
        valid_size=config.valid_size,
        test_size=config.test_size,
    )
    if n_threads is not None and hasattr(dataset, "n_threads"):
        dataset.n_threads = n_threads
    net = Network(
        [dataset.n_inputs, *config.hidden_sizes(), dataset.n_classes],
        config.activation,
        cost=config.cost,
        dtype=config.dtype,
        n_threads=n_threads,
    )
    return dataset, net


def train(
    config: TrainConfig,
    output: str | Path,
    *,
    overwrite: bool = False,
    n_threads: int | None = None,
    callback: Callable[[Progress], None] | None = None,
    on_start: Callable[..., None] | None = None,
    checkpoint_seconds: float = CHECKPOINT_SECONDS,
) -> RunWriter:
    """Train one network as configured and record it in the run file ``output``.

    Every input is validated (and the output path checked) before any work or
    any write. The run file is written at the start, at most every
    ``checkpoint_seconds`` at evaluation points, and at the end, always
    atomically. On an exception (KeyboardInterrupt included) the file records
    status ``failed`` (or ``interrupted``) with the error, and the exception
    propagates.

    ``on_start(net, dataset, config, record)`` is called once everything is
    validated and initialized, just before training starts; ``callback`` after
    every chunk of minibatches.

    Returns
    -------
    RunWriter
        The final in-memory record (status, curves, ...).
    """
    dataset, net = build(config, n_threads)
    total = config.total_updates(dataset.n_train)
    path = check_output_path(output, overwrite)
    X_valid, y_valid = dataset.split("valid")
    X_test, y_test = dataset.split("test")
    init_report = net.initialize(config.init, seed=config.init_seed, scale=config.init_scale)

    record = RunWriter(
        path=path,
        config=config.to_dict(),
        dataset=dataset.describe(),
        network={
            "sizes": list(net.sizes),
            "activations": list(net.activations),
            "cost": net.cost,
            "dtype": str(net.dtype),
        },
        runtime={"n_threads": net.n_threads, "openmp": openmp_enabled(), "kernels": KERNEL_BUILD,
                 "wide_kernels": WIDE_KERNELS},
        total_updates=total,
    )
    for li in init_report:
        for key in ("fan_in", "fan_out", "target_std", "realized_std"):
            record.init[key].append(getattr(li, key))
    monitor = None
    if config.monitor:
        # The paper's probe set: a fixed set of test examples (docs/monitoring.md).
        monitor = Monitor(net, X_test, y_test, MonitorConfig.from_train_config(config), config.lr, total)
        record.monitor = monitor

    B = config.batch_size
    X = np.empty((CHUNK_STEPS * B, net.n_inputs), net.dtype)
    y = np.empty(CHUNK_STEPS * B, np.int32)
    start = time.perf_counter()
    last_write = -math.inf
    # The interval's per-minibatch costs, summed exactly (math.fsum) when a point is
    # recorded: a running float sum of per-chunk sums would depend on where the
    # chunks were cut, and monitoring points cut them (the curve must not change).
    interval_costs: list[np.ndarray] = []
    interval_err = 0.0
    interval_examples = 0
    valid_err = test_err = math.nan

    def evaluate_point() -> None:
        nonlocal interval_err, interval_examples, valid_err, test_err
        valid_cost, valid_err = net.evaluate(X_valid, y_valid, EVAL_BATCH)
        test_cost, test_err = net.evaluate(X_test, y_test, EVAL_BATCH)
        n = interval_examples
        record.add_point(
            update=record.update,
            examples=record.examples,
            wall_time=time.perf_counter() - start,
            train_cost=math.fsum(np.concatenate(interval_costs).tolist()) / n if n else math.nan,
            train_error=interval_err / n if n else math.nan,
            valid_cost=valid_cost,
            valid_error=valid_err,
            test_cost=test_cost,
            test_error=test_err,
        )
        interval_costs.clear()
        interval_err = 0.0
        interval_examples = 0

    def monitor_point(final: bool = False) -> None:
        if monitor is not None:
            monitor.record(record.update, record.examples, time.perf_counter() - start, final=final)

    def checkpoint(force: bool = False) -> None:
        nonlocal last_write
        now = time.perf_counter()
        if force or now - last_write >= checkpoint_seconds:
            record.elapsed = now - start
            record.write(net.weights, net.biases)
            last_write = now

    if on_start is not None:
        on_start(net, dataset, config, record)
    # Ctrl-C and SIGTERM stop the run between chunks, never inside a write (see _signals).
    with _signals.held():
        try:
            evaluate_point()
            monitor_point(final=total == 0)
            checkpoint(force=True)
            while record.update < total:
                _signals.raise_if_requested()  # between chunks: nothing is half written here
                next_eval = (record.update // config.eval_every + 1) * config.eval_every
                # Chunks also stop at monitoring points. This cannot change training:
                # each update is the same computation however the updates are chunked.
                next_monitor = monitor.next_point(record.update) if monitor is not None else None
                steps = min(CHUNK_STEPS, next_eval - record.update, total - record.update,
                            (total if next_monitor is None else next_monitor) - record.update)
                n = steps * B
                dataset.fill_train(record.examples, X[:n], y[:n])
                costs, errors = net.train_steps(X[:n], y[:n], B, config.lr)
                record.update += steps
                record.examples += n
                chunk_cost = float(costs.sum())
                interval_costs.append(costs)
                interval_err += float(errors.sum())
                interval_examples += n
                diverged = not math.isfinite(chunk_cost) or not np.isfinite(net.params).all()
                evaluated = diverged or record.update == total or record.update % config.eval_every == 0
                if evaluated:
                    evaluate_point()
                monitored = monitor is not None and (diverged or record.update == total or record.update == next_monitor)
                if monitored:
                    # At divergence too: the point records where the NaN and inf are.
                    monitor_point(final=diverged or record.update == total)
                if callback is not None:
                    callback(
                        Progress(record.update, total, record.examples, time.perf_counter() - start,
                                 chunk_cost / n, valid_err, test_err, evaluated)
                    )
                if diverged:
                    # The parameters are no longer finite: more updates cannot recover them.
                    record.status = "diverged"
                    record.error = f"the cost became non-finite by update {record.update}; try a smaller --lr"
                    break
                if evaluated or monitored:
                    checkpoint()
            else:
                record.status = "completed"
            checkpoint(force=True)
        except KeyboardInterrupt as exc:
            # A held signal names itself (SIGINT: Ctrl-C; SIGTERM: a job scheduler or kill).
            by = exc.args[0] if exc.args else "KeyboardInterrupt"
            record.status, record.error = "interrupted", f"interrupted by {by}"
            checkpoint(force=True)
            raise
        except Exception as exc:
            record.status, record.error = "failed", f"{type(exc).__name__}: {exc}"
            checkpoint(force=True)
            raise
    return record
