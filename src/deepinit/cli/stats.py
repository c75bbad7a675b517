"""``deepinit stats``: read run files back as tables or JSON."""

from __future__ import annotations

import click

from ._console import out


@click.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--points", type=click.IntRange(min=2), default=20, show_default=True,
              help="Learning-curve rows to show (evenly spaced, first and last always).")
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON on stdout.")
def stats(runs, points, as_json) -> None:
    """Summarize run files: config, final errors and the learning curve.

    Works on a run in progress too: it shows what has been recorded so far.
    Several files give one comparison table.
    """
    import json

    from ..runfile import read_run

    loaded = [read_run(path) for path in runs]
    if as_json:
        payload = [_as_dict(run) for run in loaded]
        out.print(json.dumps(payload[0] if len(payload) == 1 else payload), markup=False, soft_wrap=True)
    elif len(loaded) == 1:
        _show_run(loaded[0], points)
    else:
        _show_comparison(loaded)


def _as_dict(run) -> dict:
    return {
        "path": str(run.path),
        "attrs": run.attrs,
        "config": run.config,
        "dataset": run.dataset,
        "network": run.network,
        "runtime": run.runtime,
        "init": {k: v.tolist() for k, v in run.init.items()},
        "curves": {k: v.tolist() for k, v in run.curves.items()},
    }


def _pct(x: float) -> str:
    return "-" if x != x else f"{x:.2%}"


def _num(x: float) -> str:
    return "-" if x != x else f"{x:.4f}"


def _status(run) -> str:
    style = {"completed": "green", "running": "cyan", "diverged": "yellow"}.get(run.status, "red")
    text = f"[{style}]{run.status}[/]"
    if run.status == "running":
        text += f" (last checkpoint {run.attrs.get('updated', '?')}, update {run.attrs.get('update', 0):,}"
        text += f" of {run.attrs.get('total_updates', 0):,})"
    if run.error:
        text += f"  {run.error}"
    return text


def _best(run) -> int | None:
    import numpy as np

    valid = run.curves["valid_error"]
    if len(valid) == 0 or np.isnan(valid).all():
        return None
    return int(np.nanargmin(valid))


def _show_run(run, points: int) -> None:
    import numpy as np
    from rich.table import Table

    c = run.curves
    out.print(f"[bold]{run.path}[/]  {_status(run)}")
    cfg = Table(title="configuration", title_justify="left", show_header=False, box=None)
    cfg.add_column(style="bold")
    cfg.add_column()
    net = run.network
    cfg.add_row("dataset", f"{run.dataset.get('name', run.config['dataset'])}")
    cfg.add_row("network", f"{'-'.join(map(str, net['sizes']))}  {', '.join(sorted(set(net['activations'])))}  {net['cost']}  {net['dtype']}")
    skip = {"dataset", "activation", "cost", "dtype", "depth", "width", "hidden"}
    for key, value in run.config.items():
        if key not in skip and value is not None:
            cfg.add_row(key, str(value))
    cfg.add_row("threads", f"{run.runtime.get('n_threads')} (OpenMP {'on' if run.runtime.get('openmp') else 'off'})")
    cfg.add_row("deepinit", f"{run.attrs.get('deepinit_version')} (run-file schema {run.attrs.get('schema_version')})")
    out.print(cfg)

    if len(c["update"]):
        res = Table(title="result", title_justify="left", show_header=False, box=None)
        res.add_column(style="bold")
        res.add_column()
        res.add_row("updates", f"{int(c['update'][-1]):,} ({int(c['examples'][-1]):,} examples, {c['wall_time'][-1]:.1f} s)")
        res.add_row("final valid / test error", f"{_pct(c['valid_error'][-1])} / {_pct(c['test_error'][-1])}")
        best = _best(run)
        if best is not None:
            res.add_row("best valid error", f"{_pct(c['valid_error'][best])} at update {int(c['update'][best]):,}, "
                        f"test error there {_pct(c['test_error'][best])}")
        out.print(res)

        curve = Table(title="learning curve", title_justify="left")
        for col in ("update", "examples", "train cost", "train err", "valid cost", "valid err", "test err", "time (s)"):
            curve.add_column(col, justify="right")
        n = len(c["update"])
        rows = sorted(set(np.linspace(0, n - 1, min(points, n)).round().astype(int).tolist()))
        for k in rows:
            curve.add_row(
                f"{int(c['update'][k]):,}", f"{int(c['examples'][k]):,}", _num(c["train_cost"][k]),
                _pct(c["train_error"][k]), _num(c["valid_cost"][k]), _pct(c["valid_error"][k]),
                _pct(c["test_error"][k]), f"{c['wall_time'][k]:.1f}",
            )
        out.print(curve)


def _show_comparison(runs) -> None:
    from pathlib import Path

    from rich.table import Table

    # Runs of one directory (a sweep, a batch of runs) are named by file name
    # under a title that gives the directory once.
    parents = {run.path.resolve().parent for run in runs}
    common = parents.pop() if len(parents) == 1 else None
    table = Table(title=f"runs in {common}" if common else "runs", title_justify="left")
    for col in ("run", "dataset", "activation", "init", "lr", "status", "updates", "valid err", "test err", "best valid"):
        right = col in ("lr", "updates") or "err" in col or "valid" in col
        table.add_column(col, justify="right" if right else "left", overflow="fold")
    for run in runs:
        c = run.curves
        best = _best(run)
        table.add_row(
            run.path.name if common else str(run.path), Path(str(run.config.get("dataset"))).name,
            str(run.config.get("activation")),
            str(run.config.get("init")), f"{run.config.get('lr'):g}", run.status,
            f"{int(c['update'][-1]):,}" if len(c["update"]) else "0",
            _pct(c["valid_error"][-1]) if len(c["update"]) else "-",
            _pct(c["test_error"][-1]) if len(c["update"]) else "-",
            _pct(c["valid_error"][best]) if best is not None else "-",
        )
    out.print(table)
