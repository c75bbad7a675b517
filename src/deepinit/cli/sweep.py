"""``deepinit sweep``: grids and random searches of training runs, resumable, shardable."""

from __future__ import annotations

import dataclasses
import os

import click

from ..config import TrainConfig
from ..errors import DeepinitError
from ._console import err, out
from .train import config_options


def _cores() -> int:
    """Cores this process may run on (its CPU affinity, not the whole machine)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def _parse_shard(ctx, param, value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    k, sep, n = value.partition("/")
    if not sep or not k.strip().isdigit() or not n.strip().isdigit() or not 1 <= int(k) <= int(n):
        raise click.BadParameter(f"{value!r}: write K/N with 1 <= K <= N, e.g. --shard 1/4")
    return int(k), int(n)


def _slurm_shard() -> tuple[int, int] | None:
    """The shard of a SLURM job array task (``sbatch --array=...``), if this is one."""
    env = os.environ
    if "SLURM_ARRAY_TASK_ID" not in env:
        return None
    try:
        task, lo = int(env["SLURM_ARRAY_TASK_ID"]), int(env.get("SLURM_ARRAY_TASK_MIN", 0))
        count = int(env.get("SLURM_ARRAY_TASK_COUNT") or int(env["SLURM_ARRAY_TASK_MAX"]) - lo + 1)
        step = int(env.get("SLURM_ARRAY_TASK_STEP", 1))
    except (KeyError, ValueError):
        raise DeepinitError("SLURM_ARRAY_TASK_* variables are incomplete; pass --shard K/N explicitly") from None
    if step != 1:
        raise DeepinitError("the SLURM array has a step; use a contiguous --array=0-N or pass --shard K/N")
    return task - lo + 1, count


# One command-line option per TrainConfig field, under the field's name.
_CONFIG_NAMES = [f.name for f in dataclasses.fields(TrainConfig)]


@click.command()
@click.argument("sweep_dir", type=click.Path(file_okay=False))
@click.option("-f", "--file", "sweep_file", type=click.Path(dir_okay=False), default=None,
              help="A TOML sweep file (docs/sweeps.md); command-line values add to and override it.")
@click.option("--grid", multiple=True, metavar="OPTION=V1,V2,...",
              help="A grid axis over any train option, e.g. --grid lr=0.1,0.03,0.01 (repeatable).")
@click.option("--seeds", default=None, metavar="SEEDS",
              help="Seeds, e.g. 0-4 or 0,3,7: each sets --init-seed and --data-seed (innermost axis).")
@click.option("--random", "trials", type=click.IntRange(min=0), default=None, metavar="N",
              help="Random search: N trials drawn from the --prior distributions.")
@click.option("--prior", multiple=True, metavar="OPTION=KIND:ARGS",
              help="A random-search prior: loguniform:A:B, uniform:A:B, int:A:B, logint:A:B or choice:X,Y "
                   "(e.g. --prior lr=loguniform:1e-4:1e-1; repeatable).")
@click.option("--random-seed", type=click.IntRange(min=0), default=None,
              help="Seed of the random-search draws [default: 0].")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Cells trained at the same time [default: cores // --threads].")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="OpenMP threads per cell; jobs x threads may not exceed the cores.")
@click.option("--shard", callback=_parse_shard, default=None, metavar="K/N",
              help="Run only shard K of N (1-based; default: from SLURM_ARRAY_TASK_ID when set).")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="local processes, or a Dask distributed cluster (pip install \"deepinit[dask]\").")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Dask scheduler address (tcp://host:8786); without it, a local Dask cluster of --jobs workers.")
@click.option("--retry-failed", is_flag=True, help="Run cells that failed before again.")
@click.option("--redefine", is_flag=True,
              help="Replace the definition of an existing sweep (cells in both keep their runs).")
@click.option("--reclaim", is_flag=True,
              help="Rerun cells marked running by other hosts (only when no other shard is still running).")
@click.option("--dry-run", is_flag=True, help="List the cells (of this shard) and exit; write nothing.")
@click.option("-q", "--quiet", is_flag=True, help="No progress display (errors and the final line still print).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout at the end.")
@config_options
@click.pass_context
def sweep(ctx, sweep_dir, sweep_file, grid, seeds, trials, prior, random_seed, jobs, threads, shard, executor,
          scheduler, retry_failed, redefine, reclaim, dry_run, quiet, as_json, **options) -> int:
    """Run a grid or random search of training runs in SWEEP_DIR.

    Any train option can be swept (--grid, --prior) or fixed (given as for
    deepinit train). Each cell is one run file, named by an id derived from its
    full configuration; SWEEP_DIR/manifest.json lists the cells, their status
    and errors. Running the same command again resumes: completed cells are
    skipped, failed cells are retried only with --retry-failed. With no
    definition option, an existing sweep resumes as it was defined.

    \b
    Examples:
      deepinit sweep sweeps/t1 --grid activation=tanh,softsign --grid init=standard,normalized \\
          --grid lr=0.1,0.03,0.01 --seeds 0-4 --updates 20000
      deepinit sweep sweeps/t1 --shard 2/8            # one task of a job array
      deepinit sweep sweeps/r1 --random 50 --prior lr=loguniform:1e-4:1e-1 --prior depth=int:1:5
      deepinit stats sweeps/t1 --table --by activation,init
    """
    import json
    import signal

    from ..sweep.definition import SweepDefinition, shard as take_shard
    from ..sweep.manifest import SweepDir, count_statuses, skip_reason

    given = {name: options[name] for name in _CONFIG_NAMES
             if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE}
    defines = bool(sweep_file or grid or seeds is not None or trials is not None or prior
                   or random_seed is not None or given)
    target = SweepDir(sweep_dir)
    if defines:
        base = SweepDefinition.from_toml(sweep_file) if sweep_file else None
        definition = SweepDefinition.from_options(base, fixed=given, grid=list(grid), seeds=seeds, trials=trials,
                                                  priors=list(prior), random_seed=random_seed)
        if not (definition.grid or definition.seeds or definition.trials) and not target.exists():
            raise DeepinitError("nothing to sweep: give --grid, --seeds or --random (or a sweep --file)")
    elif target.exists():
        definition = target.definition()
    else:
        raise DeepinitError(f"{sweep_dir!r} holds no sweep yet; define one with --grid, --seeds, --random or --file")
    cells = definition.cells()
    shard = shard or _slurm_shard()
    mine = take_shard(cells, *shard) if shard else cells
    where = f"shard {shard[0]}/{shard[1]}: " if shard else ""

    if executor == "local":
        cores = _cores()
        jobs = jobs or max(1, cores // threads)
        if jobs * threads > cores:
            raise DeepinitError(f"--jobs {jobs} x --threads {threads} = {jobs * threads} threads on {cores} cores; "
                                "lower --jobs or --threads (processes x threads may not exceed the cores)")
    elif scheduler is None:
        jobs = jobs or max(1, _cores() // threads)
    elif jobs is not None:
        raise DeepinitError("--jobs sizes the local Dask cluster; with --scheduler the cluster's workers decide")

    if dry_run:
        _show_cells(definition, mine, target, where, len(cells))
        return 0
    _check_datasets(mine)
    manifest = target.prepare(definition, cells, redefine=redefine)
    entries = manifest["cells"]
    todo = [c.id for c in mine if not skip_reason(entries[c.id], retry_failed, reclaim)]
    counts = count_statuses(entries[c.id]["status"] for c in mine)
    if not quiet:
        err.print(f"[bold]deepinit sweep[/] {target.path}  {where}{len(mine)} of {len(cells)} cells; "
                  f"{len(todo)} to run ({_counts_text(counts)}); "
                  + (f"{jobs} jobs x {threads} threads" if executor == "local" or scheduler is None
                     else f"Dask at {scheduler}, {threads} threads per cell"))

    from ..sweep.execute import run_dask, run_local

    # SLURM and most schedulers stop a job with SIGTERM: end as on Ctrl-C, recording
    # the interrupted cells, rather than dying with them marked running.
    # A shell starts background jobs with SIGINT ignored; `kill -INT` must still stop a
    # sweep, and its workers (spawned processes) must not inherit the ignored SIGINT.
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    view = _SweepView(enabled=not quiet, names={c.id: _label(c) for c in mine}, total=len(todo))
    try:
        with view:
            if executor == "local":
                outcomes = run_local(target, todo, jobs, threads, view, retry_failed, reclaim)
            else:
                outcomes = run_dask(target, todo, scheduler, jobs, threads, view, retry_failed, reclaim)
    except KeyboardInterrupt:
        raise DeepinitError(f"interrupted; run the same command again to resume the sweep in {sweep_dir!r}") from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)

    ran = count_statuses(o.status for o in outcomes if not o.skipped)
    entries = target.read()["cells"]  # one read of the manifest, not one per cell
    final = count_statuses(entries[c.id]["status"] for c in mine)
    failed = [o for o in outcomes if o.status == "failed" and not o.skipped]
    if as_json:
        out.print(json.dumps({
            "sweep_dir": str(target.path), "shard": list(shard) if shard else None, "cells": len(cells),
            "shard_cells": len(mine), "ran": ran, "status": final,
            "failed": [{"id": o.id, "error": o.error} for o in failed],
        }), markup=False, soft_wrap=True)
    err.print(f"{where}ran {sum(ran.values())} cells ({_counts_text(ran) or 'none'}); "
              f"now {_counts_text(final)}")
    if failed:
        err.print(f"[red]{len(failed)} cells failed[/]; errors: deepinit stats {sweep_dir}; "
                  "rerun with --retry-failed to try them again")
        return 1
    return 0


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {s}" for s, n in counts.items())


def _label(cell) -> str:
    from ..sweep.definition import format_value

    return " ".join(f"{k}={format_value(v)}" for k, v in cell.params.items()) or cell.id


def _check_datasets(cells) -> None:
    """Build each distinct dataset once before anything runs: a wrong path fails here, in one line."""
    from ..datasets import get_dataset

    seen = set()
    for cell in cells:
        c = cell.config
        key = (c.dataset, c.data_dir, c.valid_size, c.test_size)
        if key in seen:
            continue
        seen.add(key)
        dataset = get_dataset(c.dataset, seed=c.data_seed, data_dir=c.data_dir,
                              valid_size=c.valid_size, test_size=c.test_size)
        c.total_updates(dataset.n_train)


def _show_cells(definition, cells, target, where: str, total: int) -> None:
    from rich.table import Table

    from ..sweep.definition import format_value

    entries = target.read()["cells"] if target.exists() else {}
    keys = definition.swept_keys()
    table = Table(title=f"{where}{len(cells)} of {total} cells (dry run: nothing written)", title_justify="left")
    for col in ("#", *keys, "status", "run file"):
        table.add_column(col, justify="right" if col == "#" else "left")
    for c in cells:
        status = entries.get(c.id, {}).get("status", "new")
        table.add_row(str(c.index), *(format_value(c.params[k]) for k in keys), status, c.file)
    out.print(table)


class _SweepView:
    """The rich display of a running sweep: one bar for the sweep, one per running cell (stderr)."""

    def __init__(self, enabled: bool, names: dict[str, str], total: int) -> None:
        self.enabled = enabled
        self.names = names
        self.total = total
        self.bar = None
        self.overall = None
        self.tasks: dict[str, int] = {}
        self.counts: dict[str, int] = {}

    def __enter__(self):
        if self.enabled and self.total:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=err)
            self.overall = self.bar.add_task("[bold]sweep", total=self.total, info="")
            self.bar.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()

    def progress(self, cell_id: str, update: int, total: int) -> None:
        if self.bar is None:
            return
        if cell_id not in self.tasks:
            self.tasks[cell_id] = self.bar.add_task(f"  {self.names.get(cell_id, cell_id)}", total=total, info="")
        self.bar.update(self.tasks[cell_id], completed=update)

    def finished(self, outcome) -> None:
        self.counts[outcome.status] = self.counts.get(outcome.status, 0) + 1
        if self.bar is None:
            return
        task = self.tasks.pop(outcome.id, None)
        if task is not None:
            self.bar.remove_task(task)
        name = self.names.get(outcome.id, outcome.id)
        if outcome.status == "failed" and not outcome.skipped:
            self.bar.console.print(f"[red]failed[/] {name}: {outcome.error}", markup=True, highlight=False)
        elif outcome.status == "completed" and outcome.result and not outcome.skipped:
            r = outcome.result
            self.bar.console.print(f"[green]done[/] {name}: best valid {r['best_valid_error']:.2%}, "
                                   f"test {r['test_error_at_best_valid']:.2%} ({r['elapsed_s']:.0f} s)")
        elif outcome.status == "diverged" and not outcome.skipped:
            self.bar.console.print(f"[yellow]diverged[/] {name}: {outcome.error}")
        self.bar.update(self.overall, advance=1, info=_counts_text(self.counts))
