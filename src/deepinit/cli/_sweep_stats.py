"""``deepinit stats SWEEP_DIR``: a sweep's cells, its paper-style table, its random-search curve.

Tables show errors in percent; ``--json`` and ``--csv`` give fractions (as run
files store them), with NaN as null (JSON) or an empty field (CSV).
"""

from __future__ import annotations

import csv
import json
import math
import sys

from ._console import out

_ROW_FIELDS = ("selected", "n_seeds", "n_expected", "valid_error", "test_error_mean", "test_error_std",
               "settings", "unfinished")


def show_sweep(path: str, *, table: bool, by: list[str] | None, select: list[str] | None, metric: str,
               trials: bool, as_json: bool, as_csv: bool) -> None:
    from ..errors import DeepinitError
    from ..sweep.aggregate import best_table, load_results, trials_curve
    from ..sweep.manifest import SweepDir

    if as_json and as_csv:
        raise DeepinitError("--json and --csv are exclusive; choose one")
    if table and trials:
        raise DeepinitError("--table and --trials are two views; give one at a time")
    sweep = SweepDir(path)
    definition, results = load_results(sweep, metric)
    if table:
        rows = best_table(definition, results, by, select)
        by = [k for k in rows[0] if k not in _ROW_FIELDS] if rows else (by or [])
        select_keys = list(rows[0]["selected"]) if rows and rows[0]["selected"] else (select or [])
        if as_json:
            _json({"sweep_dir": str(sweep.path), "metric": metric, "by": by, "select": select_keys, "rows": rows})
        elif as_csv:
            _csv([{**{k: r[k] for k in by}, **r["selected"], **{k: r[k] for k in _ROW_FIELDS[1:]}}
                  for r in rows])
        else:
            _show_table(sweep, rows, by, select_keys, metric)
    elif trials:
        by = by or []
        curves = trials_curve(definition, results, by)
        if as_json:
            _json({"sweep_dir": str(sweep.path), "metric": metric, "by": by, "curves": curves})
        elif as_csv:
            _csv([{**{k: c[k] for k in by}, "n": n, "mean": m, "std": s, "first": f}
                  for c in curves for n, m, s, f in zip(c["n"], c["mean"], c["std"], c["first"])])
        else:
            _show_trials(sweep, curves, by, metric)
    else:
        keys = definition.swept_keys()
        cells = [{"index": r.index, "id": r.id, **r.params, "status": r.status, "updates": r.updates,
                  "valid_error": r.valid_error, "test_error": r.test_error, "error": r.error} for r in results]
        if as_json:
            _json({"sweep_dir": str(sweep.path), "metric": metric, "definition": definition.to_dict(),
                   "counts": _counts(results), "cells": cells})
        elif as_csv:
            _csv(cells)
        else:
            _show_cells(sweep, definition, results, keys, metric)


def _json(payload: dict) -> None:
    from ._layers import clean

    out.print(json.dumps(clean(payload)), markup=False, soft_wrap=True, highlight=False)


def _csv(rows: list[dict]) -> None:
    if not rows:
        return
    fields = list(dict.fromkeys(k for row in rows for k in row))
    writer = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None or (isinstance(v, float) and not math.isfinite(v)) else
                         ("x".join(map(str, v)) if isinstance(v, list) else v) for k, v in row.items()})


def _pct(x: float) -> str:
    if x != x:
        return "-"
    if math.isinf(x):
        return "diverged"
    return f"{100 * x:.2f}"


def _counts(results) -> dict[str, int]:
    from ..sweep.manifest import count_statuses

    return count_statuses(r.status for r in results)


def _header(sweep, results, metric: str) -> None:
    counts = ", ".join(f"{n} {s}" for s, n in _counts(results).items())
    which = "at the best validation point" if metric == "best" else "at the end of each run"
    out.print(f"[bold]{sweep.path}[/]  {len(results)} cells: {counts}; errors in %, {which}")


def _show_cells(sweep, definition, results, keys, metric: str) -> None:
    from rich.markup import escape
    from rich.table import Table

    from ..sweep.definition import format_value

    _header(sweep, results, metric)
    fixed = ", ".join(f"{k}={format_value(v)}" for k, v in definition.fixed.items())
    if fixed:
        out.print(f"fixed: {escape(fixed)}")
    table = Table()
    for col in ("#", *keys, "status", "updates", "valid err", "test err", "error"):
        table.add_column(col, justify="right" if col in ("#", "updates", "valid err", "test err") else "left",
                         overflow="fold")
    style = {"completed": "green", "diverged": "yellow", "running": "cyan", "pending": "dim"}
    for r in results:
        table.add_row(str(r.index), *(format_value(r.params[k]) for k in keys),
                      f"[{style.get(r.status, 'red')}]{r.status}[/]", f"{r.updates:,}",
                      _pct(r.valid_error), _pct(r.test_error), escape(r.error or ""))
    out.print(table)


def _show_table(sweep, rows, by, select_keys, metric: str) -> None:
    from rich.table import Table

    from ..sweep.definition import format_value

    title = (f"test error (%) of the best {', '.join(select_keys) or 'setting'} per "
             f"{', '.join(by) or 'the whole sweep'} (chosen on mean validation error over seeds); "
             f"errors {'at the best validation point' if metric == 'best' else 'at the end of each run'}")
    table = Table(title=f"{sweep.path}\n{title}", title_justify="left")
    for col in (*by, *(f"best {k}" for k in select_keys), "seeds", "valid err", "test err"):
        table.add_column(col, justify="left" if col in by else "right")
    incomplete = 0
    for r in rows:
        seeds = f"{r['n_seeds']}/{r['n_expected']}"
        if r["n_seeds"] < r["n_expected"]:
            seeds = f"[yellow]{seeds}[/]"
        test = _pct(r["test_error_mean"])
        if r["test_error_std"] == r["test_error_std"]:
            test += f" ± {100 * r['test_error_std']:.2f}"
        table.add_row(*(format_value(r[k]) for k in by),
                      *(format_value(r["selected"][k]) if k in r["selected"] else "-" for k in select_keys),
                      seeds, _pct(r["valid_error"]), test)
        incomplete += r["unfinished"]
    out.print(table)
    if incomplete:
        out.print(f"[yellow]{incomplete} cells not finished[/] (pending, running, failed or interrupted): "
                  "rows may change when they are")


def _show_trials(sweep, curves, by, metric: str) -> None:
    from rich.table import Table

    from ..sweep.definition import format_value

    for c in curves:
        label = ", ".join(f"{k}={format_value(c[k])}" for k in by)
        title = (f"{sweep.path}{'  ' + label if label else ''}\nbest validation error (%) vs number of trials: "
                 f"mean ± std over all subsets of n of the {c['trials']} trials, and the best of the first n")
        table = Table(title=title, title_justify="left")
        for col in ("trials", "best of n: mean", "std", "best of first n"):
            table.add_column(col, justify="right")
        for n, m, s, f in zip(c["n"], c["mean"], c["std"], c["first"]):
            table.add_row(str(n), _pct(m), _pct(s), _pct(f))
        out.print(table)
        if c["unfinished_trials"]:
            out.print(f"[yellow]{c['unfinished_trials']} trials not finished[/] and left out")
