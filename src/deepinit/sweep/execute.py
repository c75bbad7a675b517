"""Running a sweep's cells: one cell (:func:`run_cell`), and the local and Dask executors.

:func:`run_cell` is what every executor runs, in a worker process or on a Dask
worker: claim the cell in the manifest, train it into its run file, record the
outcome. A cell's failure is recorded, never raised, so one failing cell never
stops the others.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

from .. import _signals
from ..errors import DeepinitError
from .manifest import SweepDir

INTERRUPTED = "interrupted (KeyboardInterrupt)"
PROGRESS_SECONDS = 0.5  # at most one progress message per cell per this many seconds
# Thread pools of BLAS libraries a worker process may load (numpy's, through the
# monitor): each is held to the cell's thread count so that jobs x threads never
# exceeds the cores.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")


# Set in the local executor's worker processes: once interrupted, a worker starts
# no further cell (the pool may already have queued one for it).
_in_worker = False
_worker_stopped = False


def _init_worker() -> None:
    """A worker process holds SIGINT and SIGTERM: they stop its cell between chunks (see _signals)."""
    global _in_worker
    _in_worker = True
    _signals.hold_for_process()


@dataclass
class CellOutcome:
    """What running (or skipping) one cell gave."""

    id: str
    status: str                 # the cell's status after this attempt
    skipped: str = ""           # why it was not run: completed, diverged, failed, running
    error: str | None = None
    result: dict | None = None  # deepinit.runfile.curve_summary(...) plus timing


class Display(Protocol):
    """What executors report to (the command line's progress view, or nothing)."""

    def progress(self, cell_id: str, update: int, total: int) -> None: ...

    def finished(self, outcome: CellOutcome) -> None: ...


def run_cell(sweep_path: str, cell_id: str, n_threads: int | None = None, retry_failed: bool = False,
             reclaim: bool = False, progress: Any = None) -> CellOutcome:
    """Claim and train one cell, and record the outcome in the manifest.

    Parameters
    ----------
    sweep_path : str
        The sweep directory (on a filesystem every worker sees).
    cell_id : str
        The cell, as in the manifest.
    n_threads : int or None
        OpenMP threads for this cell's kernels.
    retry_failed, reclaim : bool
        See :meth:`SweepDir.claim`.
    progress : callable or queue, optional
        Receives ``(cell_id, update, total)`` during training, through
        ``progress(...)`` or ``progress.put(...)`` (a multiprocessing queue).

    Returns
    -------
    CellOutcome
        Never raises for a failure of the cell (it is recorded instead); only
        KeyboardInterrupt propagates, after recording status ``interrupted``.
    """
    from ..config import TrainConfig
    from ..runfile import curve_summary
    from ..training import train

    global _worker_stopped
    # A worker told to stop (now, or while it was between cells) takes no new cell from its queue.
    _worker_stopped = _worker_stopped or (_in_worker and _signals.requested())
    if _worker_stopped:
        raise KeyboardInterrupt
    sweep = SweepDir(sweep_path)
    entry = None
    try:
        entry, why = sweep.claim(cell_id, retry_failed=retry_failed, reclaim=reclaim)
        if entry is None:
            return CellOutcome(cell_id, why, skipped=why)
        path = sweep.path / entry["file"]
        report = _reporter(cell_id, progress)
        config = TrainConfig.from_dict(entry["config"])
        adopted = _adopt_existing(path, entry["config"])
        if adopted is not None:
            sweep.finish(cell_id, *adopted)
            return CellOutcome(cell_id, adopted[0], error=adopted[1], result=adopted[2])
        start = time.perf_counter()
        # The file, if any, is an earlier attempt at this very cell (checked above).
        record = train(config, path, overwrite=True, n_threads=n_threads,
                       callback=(lambda p: report(p.update, p.total_updates)) if report else None)
        result = {**curve_summary(record.curves), "elapsed_s": round(time.perf_counter() - start, 3),
                  "examples": record.examples}
        error = record.error or None
        sweep.finish(cell_id, record.status, error, result)
        return CellOutcome(cell_id, record.status, error=error, result=result)
    except KeyboardInterrupt:
        # Also when the interrupt came during the claim: the cell is released if the claim was written.
        _worker_stopped = _in_worker
        sweep.release([cell_id], "interrupted", INTERRUPTED, own=True)
        raise
    except Exception as exc:  # noqa: BLE001 - one failing cell must not stop the sweep
        if entry is None:  # the manifest itself failed: nothing of this cell to record
            raise
        error = str(exc) if isinstance(exc, DeepinitError) else f"{type(exc).__name__}: {exc}"
        sweep.finish(cell_id, "failed", error, None)
        return CellOutcome(cell_id, "failed", error=error)


def _reporter(cell_id: str, progress: Any) -> Callable[[int, int], None] | None:
    if progress is None:
        return None
    # A queue (from a worker process) takes the tuple; a display's method takes its fields.
    send = progress.put if hasattr(progress, "put") else (lambda message: progress(*message))
    last = [0.0]

    def report(update: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_SECONDS or update == total:
            last[0] = now
            send((cell_id, update, total))

    return report


def _adopt_existing(path: Path, config: dict) -> tuple[str, str | None, dict] | None:
    """A finished run of this cell already at ``path`` (manifest out of date): its outcome.

    Returns None when there is no file, or an unfinished attempt at this cell
    (to be replaced). Raises DeepinitError when the file is something else: it
    is never overwritten.
    """
    from ..runfile import curve_summary, read_run

    if not path.exists():
        return None
    try:
        run = read_run(path, arrays=False)
    except DeepinitError:
        run = None
    if run is None or run.config != config:
        raise DeepinitError(f"{str(path)!r} exists and is not a run of this cell; move it away to run the cell")
    if run.status in ("completed", "diverged"):
        examples = int(run.curves["examples"][-1]) if len(run.curves["examples"]) else 0
        return run.status, run.error or None, {**curve_summary(run.curves), "elapsed_s": run.attrs.get("elapsed_s"),
                                               "examples": examples}
    return None


# --------------------------------------------------------------------------- #
# Executors
# --------------------------------------------------------------------------- #

def thread_environment(n_threads: int) -> dict[str, str]:
    return {name: str(n_threads) for name in THREAD_VARIABLES}


def run_local(sweep: SweepDir, cell_ids: list[str], jobs: int, threads: int, display: Display,
              retry_failed: bool = False, reclaim: bool = False) -> list[CellOutcome]:
    """Run cells in ``jobs`` worker processes of ``threads`` OpenMP threads each.

    ``jobs == 1`` runs in this process. Worker processes are started with
    ``spawn`` (no fork of a process holding OpenMP and HDF5 state). A worker that
    dies (killed, out of memory) fails the cells it held; the others go on in
    a new pool.
    """
    if jobs == 1:
        outcomes = []
        for cid in cell_ids:
            outcomes.append(run_cell(str(sweep.path), cid, threads, retry_failed, reclaim, display.progress))
            display.finished(outcomes[-1])
        return outcomes

    import multiprocessing as mp
    import queue as queue_module
    import threading
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = mp.get_context("spawn")
    outcomes: list[CellOutcome] = []
    saved = {k: os.environ.get(k) for k in THREAD_VARIABLES}
    os.environ.update(thread_environment(threads))  # inherited by the spawned workers
    with ctx.Manager() as manager:
        progress_queue = manager.Queue()
        stop = threading.Event()

        def pump() -> None:  # progress messages from the workers -> the display
            while not stop.is_set():
                try:
                    display.progress(*progress_queue.get(timeout=0.2))
                except queue_module.Empty:
                    pass
                except (EOFError, OSError):
                    return

        pumper = threading.Thread(target=pump, daemon=True)
        pumper.start()
        todo = list(cell_ids)
        submitted: list[str] = []
        try:
            while todo:
                pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker)
                submitted.extend(todo)
                try:
                    futures = {pool.submit(run_cell, str(sweep.path), cid, threads, retry_failed, reclaim,
                                           progress_queue): cid for cid in todo}
                    todo = []
                    broken: list[str] = []
                    pending = set(futures)
                    while pending:
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for fut in done:
                            try:
                                outcome = fut.result()
                            except BrokenProcessPool:
                                broken.append(futures[fut])
                                continue
                            outcomes.append(outcome)
                            display.finished(outcome)
                except KeyboardInterrupt:
                    _interrupt(pool)
                    raise
                finally:
                    pool.shutdown(wait=True, cancel_futures=True)
                if broken:
                    # Cells claimed by the dead worker fail; the others never started: run them again.
                    died = set(sweep.release(broken, "failed", "the worker process died (killed, or out of memory?)"))
                    for cid in broken:
                        if cid in died:
                            outcome = CellOutcome(cid, "failed", error=sweep.cell(cid)["error"])
                            outcomes.append(outcome)
                            display.finished(outcome)
                        else:
                            todo.append(cid)
        except KeyboardInterrupt:
            # The pool is down. A worker interrupted at the edge of a cell (claim written,
            # handler not yet reached) left it claimed by a process that is gone now.
            sweep.release(submitted, "interrupted", INTERRUPTED)
            raise
        finally:
            stop.set()
            pumper.join()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    return outcomes


def _interrupt(pool) -> None:
    """Stop a pool on Ctrl-C or SIGTERM: queued cells never start, running ones record ``interrupted``.

    A Ctrl-C in a terminal reaches the workers already (one process group); a
    SIGTERM sent to this process alone does not, hence the SIGINT to each.
    """
    import signal

    for fut in list(getattr(pool, "_pending_work_items", {}).values()):
        fut.future.cancel()
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            os.kill(proc.pid, signal.SIGINT)
        except (ProcessLookupError, OSError):
            pass


def run_dask(sweep: SweepDir, cell_ids: list[str], scheduler: str | None, jobs: int, threads: int,
             display: Display, retry_failed: bool = False, reclaim: bool = False) -> list[CellOutcome]:
    """Run cells on a Dask distributed cluster (``scheduler`` address), or a local one.

    Each cell is one task; its run file is written by the worker, so the sweep
    directory must be on a filesystem all workers share. Give each worker as
    many task slots as it can run cells of ``threads`` threads (``dask worker
    ADDRESS --nthreads 1`` with ``--threads`` = its cores, for example).
    Without ``scheduler``, a LocalCluster of ``jobs`` single-slot worker
    processes is started (and stopped at the end).
    """
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise DeepinitError('the Dask executor needs the dask extra: pip install "deepinit[dask]"') from None

    cluster = None
    try:
        if scheduler:
            client = Client(scheduler, timeout="20s")
        else:
            cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                   env=thread_environment(threads), dashboard_address=None)
            client = Client(cluster)
    except OSError as exc:
        raise DeepinitError(f"cannot reach the Dask scheduler {scheduler!r} ({exc}); check --scheduler") from None
    outcomes: list[CellOutcome] = []
    try:
        futures = [client.submit(run_cell, str(sweep.path), cid, threads, retry_failed, reclaim,
                                 key=f"deepinit-cell-{cid}", pure=False) for cid in cell_ids]
        ids = {fut.key: cid for fut, cid in zip(futures, cell_ids)}
        for fut in as_completed(futures):
            try:
                outcome = fut.result()
            except Exception as exc:  # noqa: BLE001 - a lost worker or an unpicklable error
                outcome = CellOutcome(ids[fut.key], "failed", error=f"dask task failed: {type(exc).__name__}: {exc}")
                _record_task_failure(sweep, outcome)
            outcomes.append(outcome)
            display.finished(outcome)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return outcomes


def _record_task_failure(sweep: SweepDir, outcome: CellOutcome) -> None:
    """A task that died with its worker left the cell claimed: record the failure
    (unless the cell has an outcome by now; checked and written under one lock)."""
    sweep.finish(outcome.id, "failed", outcome.error, None, only_from=("running", "pending"))
