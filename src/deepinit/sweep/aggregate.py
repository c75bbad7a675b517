"""From a sweep's run files to the paper's tables and to random-search curves.

The table (Glorot & Bengio 2010, Table 1): cells are grouped by ``by`` keys
(activation, init); within a group, each setting of the ``select`` keys (the
learning rate, maybe the depth) is scored by its validation error averaged over
seeds; the best setting is kept and its test error reported as mean and
standard deviation over seeds.

Per run, errors are taken at the point of best validation error (``metric
"best"``: early stopping on the validation set) or at the end (``"final"``).
A diverged run counts as infinitely bad on validation: it is never selected
while another setting finished.

The random-search curve (Bengio 2012, sec. 3.4): for n = 1..N trials, the mean
and standard deviation of the best validation error over all subsets of n of
the N trials, computed exactly from order statistics; and the best of the
first n trials, in trial order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DeepinitError
from ..runfile import curve_summary, read_run
from .definition import SEED, SweepDefinition
from .manifest import DONE, SweepDir

METRICS = ("best", "final")


@dataclass
class CellResult:
    """One cell's outcome, read from its run file (or the manifest when there is none)."""

    id: str
    index: int
    params: dict[str, Any]
    trial: int | None
    status: str
    error: str | None
    updates: int
    valid_error: float    # at the chosen metric; inf if diverged, nan if not finished
    test_error: float

    @property
    def done(self) -> bool:
        return self.status in DONE


def load_results(sweep: SweepDir, metric: str = "best") -> tuple[SweepDefinition, list[CellResult]]:
    """Every cell of the sweep with its errors (run files are read without their arrays)."""
    if metric not in METRICS:
        raise DeepinitError(f"--metric must be one of {', '.join(METRICS)}, got {metric!r}")
    manifest = sweep.read()
    results = []
    for cid, entry in manifest["cells"].items():
        status, error, summary = entry["status"], entry.get("error"), None
        path = sweep.path / entry["file"]
        if path.exists():
            try:
                run = read_run(path, arrays=False)
            except DeepinitError as exc:
                status, error = "failed", str(exc)
            else:
                summary = curve_summary(run.curves)
                if run.status in DONE:   # the run file is the truth about finished runs
                    status, error = run.status, run.error or None
        valid = test = math.nan
        if status == "diverged":
            valid = math.inf
        elif status == "completed" and summary is not None:
            if metric == "best":
                valid, test = summary["best_valid_error"], summary["test_error_at_best_valid"]
            else:
                valid, test = summary["valid_error"], summary["test_error"]
        results.append(CellResult(cid, entry["index"], entry["params"], entry.get("trial"), status, error,
                                  summary["updates"] if summary else 0, valid, test))
    results.sort(key=lambda r: r.index)
    return SweepDefinition.from_dict(manifest["definition"]), results


def _key(values: tuple) -> str:
    import json

    return json.dumps(values)


def best_table(definition: SweepDefinition, results: list[CellResult], by: list[str] | None = None,
               select: list[str] | None = None) -> list[dict[str, Any]]:
    """The paper's table: per group of ``by``, the ``select`` setting best on validation.

    Parameters
    ----------
    by : list of str or None
        Swept keys that make the rows (e.g. ``["activation", "init"]``)
        [default: every swept key but ``select`` and ``seed``].
    select : list of str or None
        Swept keys chosen on validation error per row [default: ``lr`` when
        swept; with random search, every prior]. Every other swept key must
        be ``seed``: cells that differ only by seed are replicates.

    Returns
    -------
    list of dict
        One row per group, in sweep order: the ``by`` values, the selected
        values (``selected``), ``n_seeds`` (replicates finished at the selected
        setting) and ``n_expected``, ``valid_error`` (mean over seeds),
        ``test_error_mean``, ``test_error_std`` (sample std, ddof=1; NaN for
        one seed), ``settings`` (settings with a finished run) and
        ``unfinished`` (cells of the group not completed or diverged).
    """
    swept = [k for k in definition.swept_keys() if k != SEED]
    if select is None:
        select = [k for k in swept if k in definition.priors] or (["lr"] if "lr" in swept else [])
    if by is None:
        by = [k for k in swept if k not in select]
    for key in [*by, *select]:
        if key not in swept:
            raise DeepinitError(f"{key!r} is not swept in this sweep; swept options: {', '.join(swept) or 'none'}")
    both = set(by) & set(select)
    if both:
        raise DeepinitError(f"{sorted(both)} both in --by and --select; put each swept option in one")
    rest = [k for k in swept if k not in by and k not in select]
    if rest:
        raise DeepinitError(
            f"swept options {rest} are neither grouped (--by) nor selected on validation (--select); "
            "add each to one of them")
    groups: dict[str, dict[str, list[CellResult]]] = {}
    by_values: dict[str, tuple] = {}
    sel_values: dict[str, tuple] = {}
    for r in results:
        g = _key(tuple(r.params[k] for k in by))
        s = _key(tuple(r.params[k] for k in select))
        by_values[g] = tuple(r.params[k] for k in by)
        sel_values[s] = tuple(r.params[k] for k in select)
        groups.setdefault(g, {}).setdefault(s, []).append(r)
    n_expected = len(definition.seeds) if definition.seeds is not None else 1
    rows = []
    for g, settings in groups.items():
        scored = []
        for s, cells in settings.items():
            done = [c for c in cells if c.done]
            if done:
                scored.append((float(np.mean([c.valid_error for c in done])), s, done))
        row: dict[str, Any] = {**dict(zip(by, by_values[g])), "selected": {}, "n_seeds": 0,
                               "n_expected": n_expected, "valid_error": math.nan,
                               "test_error_mean": math.nan, "test_error_std": math.nan,
                               "settings": len(scored),
                               "unfinished": sum(not c.done for cells in settings.values() for c in cells)}
        if scored:
            # min() keeps the first of equal scores: ties go to the earlier setting of the sweep.
            valid, s, done = min(scored, key=lambda t: t[0])
            tests = np.array([c.test_error for c in done], dtype=float)
            row.update(selected=dict(zip(select, sel_values[s])), n_seeds=len(done), valid_error=valid)
            if math.isfinite(valid):
                row.update(test_error_mean=float(tests.mean()),
                           test_error_std=float(tests.std(ddof=1)) if len(tests) > 1 else math.nan)
        rows.append(row)
    return rows


def best_of_n(errors) -> dict[str, np.ndarray]:
    """The expected best of n trials, for n = 1..N, over all n-subsets of the N trials.

    With the errors sorted e(1) <= ... <= e(N), the best of a random n-subset is
    e(k) with probability C(N-k, n-1) / C(N, n); mean and standard deviation
    follow exactly. ``first`` is the best of the first n trials in trial order.

    Returns
    -------
    dict
        ``n`` (N,), ``mean`` (N,), ``std`` (N,), ``first`` (N,).
    """
    e = np.asarray(errors, dtype=float)
    N = len(e)
    srt = np.sort(e)
    mean, std = np.empty(N), np.empty(N)
    for n in range(1, N + 1):
        p = np.array([math.comb(N - k, n - 1) for k in range(1, N + 1)], dtype=float) / math.comb(N, n)
        mean[n - 1] = p @ srt
        std[n - 1] = math.sqrt(max(p @ (srt - mean[n - 1]) ** 2, 0.0))
    return {"n": np.arange(1, N + 1), "mean": mean, "std": std, "first": np.minimum.accumulate(e)}


def trials_curve(definition: SweepDefinition, results: list[CellResult], by: list[str]) -> list[dict[str, Any]]:
    """Best validation error versus the number of random-search trials, per group of ``by``.

    A trial's error is its validation error averaged over seeds; trials with an
    unfinished cell are left out; a diverged trial counts as error 1 (100%).
    """
    if not definition.trials:
        raise DeepinitError("this sweep is a grid, not a random search (--random N); the trials curve needs trials")
    for key in by:
        if key not in definition.grid:
            raise DeepinitError(f"--by {key!r}: group random searches by grid options only "
                                f"({', '.join(definition.grid) or 'none in this sweep'})")
    groups: dict[str, dict[int, list[CellResult]]] = {}
    labels: dict[str, dict] = {}
    for r in results:
        g = _key(tuple(r.params[k] for k in by))
        labels[g] = {k: r.params[k] for k in by}
        groups.setdefault(g, {}).setdefault(r.trial, []).append(r)
    curves = []
    for g, trials in groups.items():
        errors, skipped = [], 0
        for t in sorted(trials):
            cells = trials[t]
            if all(c.done for c in cells):
                errors.append(float(np.mean([min(c.valid_error, 1.0) for c in cells])))
            else:
                skipped += 1
        curve = best_of_n(errors) if errors else {k: np.empty(0) for k in ("n", "mean", "std", "first")}
        curves.append({**labels[g], "trials": len(errors), "unfinished_trials": skipped,
                       **{k: v.tolist() for k, v in curve.items()}})
    return curves
