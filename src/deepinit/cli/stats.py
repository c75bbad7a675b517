"""``deepinit stats``: read run files back as tables or JSON."""

from __future__ import annotations

import click

from ._console import out


@click.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path())
@click.option("--points", type=click.IntRange(min=2), default=20, show_default=True,
              help="Learning-curve rows to show (evenly spaced, first and last always).")
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON on stdout.")
@click.option("--layers", is_flag=True,
              help="Per-layer monitoring tables (activations, gradients, weights, Jacobians) with histograms.")
@click.option("--at", "at", multiple=True, metavar="UPDATE|first|last|all",
              help="Monitoring points for --layers: an update count (the nearest point), first, last or all; "
                   "repeatable [default: first and last].")
@click.option("--table", is_flag=True,
              help="Sweep: the paper's table, best --select setting per --by group, test error over seeds.")
@click.option("--by", default=None, metavar="KEY,KEY",
              help="Sweep: the swept options that make the rows of --table [default: all but --select and seed] "
                   "(or the groups of --trials).")
@click.option("--select", default=None, metavar="KEY,KEY",
              help="Sweep: swept options chosen on validation error per row [default: lr, or the random priors].")
@click.option("--metric", type=click.Choice(["best", "final"]), default="best", show_default=True,
              help="Sweep: each run's errors at its best validation point (early stopping) or at its end.")
@click.option("--trials", is_flag=True, help="Random-search sweep: best validation error vs number of trials.")
@click.option("--csv", "as_csv", is_flag=True, help="Sweep: print the table as CSV on stdout.")
def stats(runs, points, as_json, layers, at, table, by, select, metric, trials, as_csv) -> None:
    """Summarize run files, or a sweep directory.

    Works on a run in progress too: it shows what has been recorded so far.
    Several files give one comparison table. With --layers: what monitoring
    recorded for every layer at the chosen points (docs/monitoring.md).

    With a sweep directory: every cell with its status and errors; with
    --table, the paper's Table 1 layout (deepinit stats SWEEP --table --by
    activation,init); with --trials, the random-search curve.
    """
    import json
    from pathlib import Path

    from ..errors import DeepinitError
    from ..runfile import read_run

    sweep_dirs = [p for p in runs if Path(p).is_dir()]
    if sweep_dirs:
        if len(runs) > 1:
            raise DeepinitError("give one sweep directory, or run files (not both, not several directories)")
        from ._sweep_stats import show_sweep

        show_sweep(runs[0], table=table, by=None if by is None else _keys(by), select=None if select is None else _keys(select),
                   metric=metric, trials=trials, as_json=as_json, as_csv=as_csv)
        return
    if table or trials or as_csv or by is not None or select is not None:
        raise DeepinitError("--table, --trials, --by, --select and --csv read a sweep; give a sweep directory")

    loaded = [read_run(path) for path in runs]
    if layers:
        if as_json:
            payload = [_layers_json(run, at) for run in loaded]
            out.print(json.dumps(payload[0] if len(payload) == 1 else payload), markup=False, soft_wrap=True)
        else:
            for run in loaded:
                _show_layers(run, at)
        return
    if as_json:
        payload = [_as_dict(run) for run in loaded]
        out.print(json.dumps(payload[0] if len(payload) == 1 else payload), markup=False, soft_wrap=True)
    elif len(loaded) == 1:
        _show_run(loaded[0], points)
    else:
        _show_comparison(loaded)


def _keys(text: str) -> list[str]:
    from ..sweep.definition import option_key

    return [option_key(k) for k in text.split(",") if k.strip()]


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


def _show_run(run, points: int) -> None:
    import numpy as np
    from rich.table import Table

    from ..runfile import curve_summary

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
    if run.monitor is not None:
        out.print(f"[bold]monitoring[/]  {_monitor_summary(run)}  (per layer: deepinit stats --layers)")

    if len(c["update"]):
        res = Table(title="result", title_justify="left", show_header=False, box=None)
        res.add_column(style="bold")
        res.add_column()
        res.add_row("updates", f"{int(c['update'][-1]):,} ({int(c['examples'][-1]):,} examples, {c['wall_time'][-1]:.1f} s)")
        res.add_row("final valid / test error", f"{_pct(c['valid_error'][-1])} / {_pct(c['test_error'][-1])}")
        best = curve_summary(c)
        if best["best_update"] is not None:
            res.add_row("best valid error", f"{_pct(best['best_valid_error'])} at update {best['best_update']:,}, "
                        f"test error there {_pct(best['test_error_at_best_valid'])}")
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

    from ..runfile import curve_summary

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
        table.add_row(
            run.path.name if common else str(run.path), Path(str(run.config.get("dataset"))).name,
            str(run.config.get("activation")),
            str(run.config.get("init")), f"{run.config.get('lr'):g}", run.status,
            f"{int(c['update'][-1]):,}" if len(c["update"]) else "0",
            _pct(c["valid_error"][-1]) if len(c["update"]) else "-",
            _pct(c["test_error"][-1]) if len(c["update"]) else "-",
            _pct(curve_summary(c)["best_valid_error"]),
        )
    out.print(table)


# --------------------------------------------------------------------------- #
# --layers: the monitoring record
# --------------------------------------------------------------------------- #

def _monitor_summary(run) -> str:
    mon = run.monitor
    a = mon["@attrs"]
    upd = mon["update"]
    if len(upd) == 0:
        return "no point recorded yet"
    text = (f"{len(upd)} points, updates {int(upd[0]):,}..{int(upd[-1]):,} (every {a.get('every', 0):,}"
            f" + {a.get('log_points', 0)} log-spaced), probe {a.get('probe_size')} {a.get('probe_split', 'test')} examples")
    elapsed = run.attrs.get("elapsed_s", 0.0)
    if elapsed:
        text += f", {a.get('seconds', 0.0):.1f} s = {a.get('seconds', 0.0) / elapsed:.1%} of the run's time"
    return text


def _layers_json(run, at) -> dict:
    from ._layers import clean, point_dict, require_monitor, select_points, theory_dict

    mon = require_monitor(run)
    idx = select_points(mon["update"], at)
    return clean({
        "path": str(run.path),
        "status": run.status,
        "network": run.network,
        "monitor": {
            "attrs": mon["@attrs"],
            "n_points": len(mon["update"]),
            "update": mon["update"],
            "points": [point_dict(mon, k) for k in idx],
            "theory": theory_dict(mon),
        },
    })


def _g(x) -> str:
    """A statistic, compactly: 4 significant digits, '-' for NaN."""
    x = float(x)
    if x != x:
        return "-"
    return f"{x:.4g}" if x == 0 or 1e-3 <= abs(x) < 1e5 else f"{x:.3g}"


def _show_layers(run, at) -> None:
    import numpy as np
    from rich.markup import escape
    from rich.table import Table

    from ..monitor import BOUNDED_RANGE
    from ._layers import percentile_index, require_monitor, select_points, sparkline

    mon = require_monitor(run)
    out.print(f"[bold]{run.path}[/]  {_status(run)}")
    out.print(f"monitoring: {_monitor_summary(run)}")
    acts = run.network["activations"]
    p98 = percentile_index(mon, 98.0)
    A, S, D, W, G = (mon[k] for k in ("activation", "preactivation", "backprop_grad", "weight", "weight_grad"))
    J = mon.get("jacobian")
    H, L = A["mean"].shape[1], W["mean"].shape[1]
    sizes = run.network["sizes"]
    hist_cols = ("activations", "dC/ds", "s", "weights", "dC/dW")

    def table(title: str, cols: tuple[str, ...]) -> Table:
        t = Table(title=title, title_justify="left")
        for col in cols:
            # Histograms never wrap: a folded sparkline is unreadable.
            t.add_column(col, justify="left" if col in hist_cols + ("act", "shape") else "right",
                         no_wrap=col in hist_cols)
        return t

    def spark(g, k, l, crop=True):
        return sparkline(g["hist"][k, l], g["underflow"][k, l], g["overflow"][k, l], g["edges"][l], crop=crop)

    def bad(groups, k, l):
        n = sum(int(g[key][k, l]) for g in groups for key in ("nan", "inf"))
        return f"[red]{n:,}[/]" if n else "0"

    for k in select_points(mon["update"], at):
        title = f"point {k}: update {int(mon['update'][k]):,} ({int(mon['examples'][k]):,} examples)"
        if k == 0 and int(mon["update"][0]) == 0:
            title += ", at initialization"
        t = table(f"{title} - activations of the hidden layers",
                  ("layer", "act", "mean", "std", "p98", "saturated", "activations", "Jacobian σ̄", "NaN/inf"))
        for l in range(H):
            jac = "-"
            if J is not None and int(J["n_examples"][k, l]) > 0:
                jac = f"{J['mean'][k, l]:.3f}"
            t.add_row(str(l + 1), acts[l], _g(A["mean"][k, l]), _g(A["std"][k, l]),
                      _g(A["percentiles"][k, l, p98]), f"{A['saturation'][k, l]:.1%}",
                      spark(A, k, l, crop=acts[l] not in BOUNDED_RANGE), jac, bad((A,), k, l))
        out.print(t)
        t = table(f"{title} - pre-activations s and back-propagated gradients dC/ds",
                  ("layer", "s mean", "s std", "s", "dC/ds mean", "dC/ds std", "dC/ds", "NaN/inf"))
        for l in range(H):
            t.add_row(str(l + 1), _g(S["mean"][k, l]), _g(S["std"][k, l]), spark(S, k, l),
                      _g(D["mean"][k, l]), _g(D["std"][k, l]), spark(D, k, l), bad((S, D), k, l))
        out.print(t)
        t = table(f"{title} - weight layers",
                  ("layer", "shape", "W std", "weights", "dC/dW std", "dC/dW", "lr·‖dC/dW‖/‖W‖", "NaN/inf"))
        for l in range(L):
            t.add_row(str(l + 1), f"{sizes[l]}x{sizes[l + 1]}", _g(W["std"][k, l]), spark(W, k, l),
                      _g(G["std"][k, l]), spark(G, k, l), _g(W["update_ratio"][k, l]), bad((W, G), k, l))
        out.print(t)
    th = mon.get("theory")
    if th is not None:
        t = Table(title="at initialization: measured vs Glorot & Bengio's linear-regime variances (eqs. 5, 6, 7)",
                  title_justify="left")
        for col in ("layer", "Var[z]", "eq. 5", "ratio", "Var[dC/ds]", "eq. 6", "ratio", "Var[dC/dW]", "eq. 7", "ratio"):
            t.add_column(escape(col), justify="right")

        def trio(meas, pred):
            with np.errstate(divide="ignore", invalid="ignore"):
                return _g(meas), _g(pred), _g(meas / pred)

        for l in range(L):
            unit = (trio(th["activation_var"][l], th["activation_var_predicted"][l]) + trio(
                th["backprop_grad_var"][l], th["backprop_grad_var_predicted"][l])) if l < H else ("",) * 6
            t.add_row(str(l + 1), *unit, *trio(th["weight_grad_var"][l], th["weight_grad_var_predicted"][l]))
        out.print(t)
        a = th["@attrs"]
        out.print(escape(f"Var[x] = {_g(a['input_var'])}, E[x²] = {_g(a['input_mean_square'])} (eq. 5 assumes "
                         f"zero-mean inputs: see docs/monitoring.md); Var[dC/ds] at the output = "
                         f"{_g(a['output_grad_var'])}"))
