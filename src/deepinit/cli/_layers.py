"""Reading the ``/monitor`` group of a run file for ``stats --layers`` and ``plot``.

Pure numpy over the dict that ``deepinit.runfile.read_run`` returns as
``Run.monitor`` (layout: docs/run-file.md). No rich, no matplotlib here.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from ..errors import DeepinitError

SPARK = " ▁▂▃▄▅▆▇█"
UNIT_GROUPS = ("activation", "preactivation", "backprop_grad")
WEIGHT_GROUPS = ("weight", "weight_grad")


def require_monitor(run) -> dict[str, Any]:
    """The run's monitor tree, or a one-line error saying how to get one."""
    mon = run.monitor
    if mon is None or len(mon.get("update", ())) == 0:
        raise DeepinitError(
            f"{str(run.path)!r} has no monitoring data; it was trained with --no-monitor "
            "(or has not reached its first checkpoint yet)"
        )
    return mon


def select_points(updates: np.ndarray, at: Iterable[str]) -> list[int]:
    """Indices of the monitoring points named by ``at``.

    Parameters
    ----------
    updates : (n_mon,) int array, the update count of each point.
    at : strings ``first``, ``last``, ``all`` or an update count (the nearest
        point is taken; the earlier one on a tie). Empty: first and last.

    Returns
    -------
    Sorted unique point indices.
    """
    n = len(updates)
    at = list(at) or ["first", "last"]
    chosen: set[int] = set()
    for item in at:
        key = str(item).strip().lower()
        if key == "all":
            chosen.update(range(n))
        elif key == "first":
            chosen.add(0)
        elif key == "last":
            chosen.add(n - 1)
        else:
            try:
                target = int(key.replace(",", "").replace("_", ""))
            except ValueError:
                raise DeepinitError(
                    f"--at {item!r}: give an update count, 'first', 'last' or 'all'"
                ) from None
            chosen.add(int(np.argmin(np.abs(np.asarray(updates, dtype=np.int64) - target))))
    return sorted(chosen)


def sparkline(counts: np.ndarray, under: int, over: int, edges: np.ndarray, width: int = 16,
              crop: bool = True) -> str:
    """A histogram as about ``width`` unicode block characters, with its range.

    With ``crop``, the bins are first cropped to the central range holding all
    but 0.1% of the in-range values on each side (kept symmetric about 0 for
    symmetric edges, so that the middle character is always 0): unbounded
    quantities get wide fixed edges, in which the distribution at one point
    may fill a few characters only. The bins are then summed in ``width`` groups.
    Heights are relative to the tallest group; an empty group is a space, any
    other at least ``▁``. ``◂`` / ``▸`` mark values left out on either side
    (under/overflow or cropped), and the range shown follows.
    """
    counts = np.asarray(counts, dtype=np.float64)
    edges = np.asarray(edges, dtype=np.float64)
    nb = counts.size
    total = counts.sum()
    lo, hi = 0, nb
    if crop and total > 0:
        cum = np.cumsum(counts)
        lo = int(np.searchsorted(cum, 0.001 * total, side="right"))
        hi = int(np.searchsorted(cum, 0.999 * total, side="left")) + 1
        if math.isclose(edges[0], -edges[-1]):   # symmetric: crop symmetrically
            half = max(nb // 2 - lo, hi - (nb - nb // 2), 1)
            lo, hi = nb // 2 - half, nb - nb // 2 + half
        if hi - lo < width:          # at least one bin per character where possible
            grow = width - (hi - lo)
            lo = max(0, lo - grow // 2)
            hi = min(nb, lo + width)
            lo = max(0, hi - width)
    lo, hi = max(0, lo), min(nb, hi)
    shown = counts[lo:hi]
    n_chars = max(1, min(width, shown.size))
    cuts = np.linspace(0, shown.size, n_chars + 1).round().astype(int)[:-1]
    groups = np.add.reduceat(shown, cuts) if shown.size else np.zeros(1)
    top = groups.max()
    chars = []
    for c in groups:
        if c <= 0 or top <= 0:
            chars.append(SPARK[0])
        else:
            chars.append(SPARK[max(1, int(math.ceil(c / top * (len(SPARK) - 1))))])
    left = under > 0 or counts[:lo].sum() > 0
    right = over > 0 or counts[hi:].sum() > 0
    body = ("◂" if left else " ") + "".join(chars) + ("▸" if right else " ")
    return f"{body} {edge_range(edges[[lo, hi]])}"


def edge_range(edges: np.ndarray) -> str:
    """``[lo, hi]`` of one layer's edges, compactly (``±R`` when symmetric)."""
    lo, hi = float(edges[0]), float(edges[-1])
    if math.isclose(lo, -hi):
        return f"±{_short(hi)}"
    return f"[{_short(lo)}, {_short(hi)}]"


def _short(x: float) -> str:
    return f"{x:.3g}" if 1e-3 <= abs(x) < 1e4 or x == 0 else f"{x:.2e}"


def clean(x: Any) -> Any:
    """Arrays and numpy scalars to plain lists/numbers, NaN and inf to None (valid JSON)."""
    if isinstance(x, dict):
        return {k: clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean(v) for v in x]
    if isinstance(x, np.ndarray):
        return clean(x.tolist())
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _group_entry(g: dict[str, Any], k: int, l: int) -> dict[str, Any]:
    entry = {}
    for key, arr in g.items():
        if key in ("@attrs", "edges"):
            continue
        entry[key] = arr[k, l]
    entry["edges"] = [float(g["edges"][l, 0]), float(g["edges"][l, -1])]
    return entry


def point_dict(mon: dict[str, Any], k: int) -> dict[str, Any]:
    """Everything recorded at point ``k``, layer by layer (JSON-ready after :func:`clean`)."""
    q = [float(v) for v in np.atleast_1d(mon["@attrs"]["percentiles"])]
    H = mon["activation"]["mean"].shape[1]
    L = mon["weight"]["mean"].shape[1]
    hidden = []
    for l in range(H):
        row: dict[str, Any] = {"layer": l + 1}
        for name in UNIT_GROUPS:
            row[name] = _group_entry(mon[name], k, l)
        pct = row["activation"].pop("percentiles")
        row["activation"]["percentiles"] = {f"{v:g}": p for v, p in zip(q, pct)}
        if "jacobian" in mon:
            row["jacobian"] = _group_entry(mon["jacobian"], k, l)
        hidden.append(row)
    weights = []
    for l in range(L):
        row = {"layer": l + 1}
        for name in WEIGHT_GROUPS:
            row[name] = _group_entry(mon[name], k, l)
        weights.append(row)
    return {
        "index": k,
        "update": mon["update"][k],
        "examples": mon["examples"][k],
        "wall_time": mon["wall_time"][k],
        "hidden_layers": hidden,
        "weight_layers": weights,
    }


def theory_dict(mon: dict[str, Any]) -> dict[str, Any] | None:
    """The ``/monitor/theory`` group as plain values (None when absent)."""
    th = mon.get("theory")
    if th is None:
        return None
    return {**{k: v for k, v in th.items() if k != "@attrs"}, **th.get("@attrs", {})}


def percentile_index(mon: dict[str, Any], q: float) -> int:
    """Column of percentile ``q`` in ``activation/percentiles``; error if not recorded."""
    qs = [float(v) for v in np.atleast_1d(mon["@attrs"]["percentiles"])]
    for i, v in enumerate(qs):
        if abs(v - q) < 1e-9:
            return i
    raise DeepinitError(f"the run file records the percentiles {qs}, not {q:g}")
