"""The figures of ``deepinit plot``, one function per figure (imported inside the command).

Each function takes a :class:`Context` and returns a matplotlib Figure. Figures
over training: one axes, colour = layer, line style (or marker) = run.
Histogram figures: one row per run, shared x axis, colour = layer, each curve
a density (counts / (all values x bin width)), so that layers and runs with
different bin edges compare.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from ..errors import DeepinitError
from ._layers import percentile_index, select_points

LINESTYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P")


@dataclass
class Context:
    runs: list            # runs with monitoring data
    labels: list[str]
    all_runs: list        # every run (learning curves need no monitoring)
    all_labels: list[str]
    x_axis: str           # "updates" or "examples"
    xscale: str           # "linear" or "log"
    at: str               # point of the histogram figures 6-8


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #

def _colors(n: int) -> list:
    cmap = plt.get_cmap("tab10" if n <= 10 else "viridis")
    return [cmap(i if n <= 10 else i / max(1, n - 1)) for i in range(n)]


def _x(ctx: Context, mon: dict[str, Any]) -> np.ndarray:
    return mon["update"] if ctx.x_axis == "updates" else mon["examples"]


def _time_axis(ax, ctx: Context) -> None:
    ax.set_xlabel("updates (minibatches)" if ctx.x_axis == "updates" else "training examples seen")
    if ctx.xscale == "log":
        ax.set_xscale("symlog", linthresh=1.0)
    ax.grid(True, alpha=0.3)


def _legends(ax, n_layers: int, labels: list[str], first_layer: int = 1, markers: bool = False,
             extra: list | None = None) -> None:
    """Legends outside the axes, on the right: layer colours, then runs (line style,
    and marker when ``markers``) and any extra entries."""
    colors = _colors(n_layers)
    handles = [Line2D([], [], color=colors[l], lw=2, label=f"layer {l + first_layer}") for l in range(n_layers)]
    first = ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8,
                      title="hidden layer", title_fontsize=8)
    run_handles = list(extra or [])
    if len(labels) > 1:
        for r, label in enumerate(labels):
            run_handles.append(Line2D([], [], color="0.3", ls=LINESTYLES[r % len(LINESTYLES)],
                                      marker=MARKERS[r % len(MARKERS)] if markers else None, label=label))
    if run_handles:
        # A second ax.legend() replaces the first: keep the first as a plain artist.
        ax.add_artist(first)
        ax.legend(handles=run_handles, loc="lower left", bbox_to_anchor=(1.01, 0.0), fontsize=8)


def _title(ctx: Context, text: str) -> str:
    return text if len(ctx.labels) != 1 else f"{text}\n{ctx.labels[0]}"


def _n_hidden(ctx: Context) -> int:
    return max(run.monitor["activation"]["mean"].shape[1] for run in ctx.runs)


def _density(counts: np.ndarray, under: int, over: int, nan: int, edges: np.ndarray) -> np.ndarray:
    total = counts.sum() + under + over + nan
    return counts / (max(total, 1) * np.diff(edges))


def _central_range(counts: np.ndarray, edges: np.ndarray, mass: float = 0.001) -> tuple[float, float]:
    """Edges around all but ``mass`` of the in-range values on each side."""
    total = counts.sum()
    if total <= 0:
        return float(edges[0]), float(edges[-1])
    cum = np.cumsum(counts)
    lo = int(np.searchsorted(cum, mass * total, side="right"))
    hi = int(np.searchsorted(cum, (1 - mass) * total, side="left")) + 1
    return float(edges[lo]), float(edges[min(hi, len(edges) - 1)])


def _hist_rows(ctx: Context, group: str, at: str, layers: slice | None, xlabel: str, title: str,
               symmetric_zoom: bool):
    """One row per run: histogram densities of ``group`` per layer at point ``at``."""
    n = len(ctx.runs)
    fig, axes = plt.subplots(n, 1, figsize=(7.5, 3.2 * n + 0.6), sharex=True, squeeze=False)
    span = [np.inf, -np.inf]
    n_layers = 0
    for r, run in enumerate(ctx.runs):
        mon = run.monitor
        g = mon[group]
        k = select_points(mon["update"], [at])[0]
        ax = axes[r, 0]
        idx = range(g["hist"].shape[1])[layers] if layers is not None else range(g["hist"].shape[1])
        colors = _colors(len(idx))
        n_layers = max(n_layers, len(idx))
        for c, l in enumerate(idx):
            edges = g["edges"][l]
            counts = g["hist"][k, l].astype(np.float64)
            dens = _density(counts, g["underflow"][k, l], g["overflow"][k, l], g["nan"][k, l], edges)
            ax.stairs(dens, edges, color=colors[c], lw=1.4, label=f"layer {l + 1}")
            lo, hi = _central_range(counts, edges)
            span = [min(span[0], lo), max(span[1], hi)]
            out_of_range = int(g["underflow"][k, l] + g["overflow"][k, l] + g["nan"][k, l])
            if out_of_range:
                ax.annotate(f"layer {l + 1}: {out_of_range:,} values out of range",
                            xy=(0.01, 0.97 - 0.07 * c), xycoords="axes fraction", fontsize=7, va="top")
        when = f"update {int(mon['update'][k]):,}" + (" (initialization)" if int(mon["update"][k]) == 0 else "")
        ax.set_title(f"{ctx.labels[r]} - {when}", fontsize=10)
        ax.set_ylabel("density")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="upper right")
    if symmetric_zoom and np.isfinite(span).all():
        R = max(abs(span[0]), abs(span[1]))
        axes[-1, 0].set_xlim(-R, R)
    axes[-1, 0].set_xlabel(xlabel)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- #
# Figures over training
# --------------------------------------------------------------------------- #

def fig2(ctx: Context):
    """Activation mean (line) and std (vertical bars, as in the paper) of every hidden layer."""
    from matplotlib.transforms import offset_copy

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    H = _n_hidden(ctx)
    colors = _colors(H)
    n_series = H * len(ctx.runs)
    for r, run in enumerate(ctx.runs):
        mon = run.monitor
        x = _x(ctx, mon)
        A = mon["activation"]
        for l in range(A["mean"].shape[1]):
            # Shift each layer's bars a few points sideways so that they do not hide each other.
            shift = 2.5 * ((r * H + l) - (n_series - 1) / 2)
            tr = offset_copy(ax.transData, fig=fig, x=shift, y=0, units="points")
            m, sd = A["mean"][:, l], A["std"][:, l]
            ax.errorbar(x, m, yerr=sd, color=colors[l], ls=LINESTYLES[r % 4], lw=1.6,
                        marker=".", ms=4, elinewidth=0.9, capsize=1.5, alpha=0.9, transform=tr)
            # The shifted transform hides the data from autoscaling: declare it.
            ok = np.isfinite(m) & np.isfinite(sd)
            ax.update_datalim(np.column_stack([np.r_[x[ok], x[ok]], np.r_[m[ok] - sd[ok], m[ok] + sd[ok]]]))
    ax.autoscale_view()
    _time_axis(ax, ctx)
    ax.set_ylabel("activation value: mean (line) and std (bars)")
    ax.set_title(_title(ctx, "Activations of each hidden layer during training (Fig. 2)"), fontsize=11)
    _legends(ax, H, ctx.labels)
    fig.tight_layout()
    return fig


def fig3(ctx: Context):
    """98th percentile (markers alone) and std (lines with markers) of the activations."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    H = _n_hidden(ctx)
    colors = _colors(H)
    for r, run in enumerate(ctx.runs):
        mon = run.monitor
        x = _x(ctx, mon)
        A = mon["activation"]
        p98 = percentile_index(mon, 98.0)
        for l in range(A["mean"].shape[1]):
            ax.plot(x, A["std"][:, l], color=colors[l], ls=LINESTYLES[r % 4], lw=1.5,
                    marker=MARKERS[r % len(MARKERS)], ms=2.5)
            ax.plot(x, A["percentiles"][:, l, p98], color=colors[l], ls="none",
                    marker=MARKERS[r % len(MARKERS)], ms=4, mfc="none", mew=1.0)
    _time_axis(ax, ctx)
    ax.set_ylabel("activation value")
    ax.set_title(_title(ctx, "98th percentile (markers alone) and standard deviation (lines)\n"
                             "of the activations during training (Figs. 3, 10)"), fontsize=11)
    extra = [Line2D([], [], color="0.3", lw=1.5, marker="o", ms=2.5, label="std"),
             Line2D([], [], color="0.3", ls="none", marker="o", mfc="none", label="98th percentile")]
    _legends(ax, H, ctx.labels, markers=True, extra=extra)
    fig.tight_layout()
    return fig


def fig9(ctx: Context):
    """Standard deviation of dC/dW of the layers feeding the hidden layers, over training."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    H = _n_hidden(ctx)
    colors = _colors(H)
    for r, run in enumerate(ctx.runs):
        mon = run.monitor
        x = _x(ctx, mon)
        G = mon["weight_grad"]
        for l in range(min(H, G["std"].shape[1])):
            ax.plot(x, G["std"][:, l], color=colors[l], ls=LINESTYLES[r % 4], lw=1.5, marker=".", ms=3)
    _time_axis(ax, ctx)
    ax.set_yscale("log")
    ax.set_ylabel("std of dC/dW (probe-set gradient)")
    ax.set_title(_title(ctx, "Weight-gradient standard deviation per layer during training (Fig. 9)"), fontsize=11)
    _legends(ax, H, ctx.labels)
    fig.tight_layout()
    return fig


def jacobian(ctx: Context):
    """Mean singular value of dz_l/dz_{l-1} per hidden layer, at the points where it was computed."""
    runs = [(r, run) for r, run in enumerate(ctx.runs) if "jacobian" in run.monitor]
    if not runs:
        raise DeepinitError("no run recorded Jacobians (trained with --jacobian-examples 0)")
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    H = _n_hidden(ctx)
    colors = _colors(H)
    for r, run in runs:
        mon = run.monitor
        J = mon["jacobian"]
        x = _x(ctx, mon)
        for l in range(J["mean"].shape[1]):
            ok = J["n_examples"][:, l] > 0
            ax.plot(x[ok], J["mean"][ok, l], color=colors[l], ls=LINESTYLES[r % 4], lw=1.5,
                    marker=MARKERS[r % len(MARKERS)], ms=4)
    _time_axis(ax, ctx)
    ax.set_ylabel("mean singular value of dz_l / dz_(l-1)")
    ax.set_title(_title(ctx, "Layer Jacobians: mean singular value\n"
                             "(paper, at initialization: ~0.8 normalized, ~0.5 standard)"), fontsize=11)
    _legends(ax, H, ctx.labels, markers=True)
    fig.tight_layout()
    return fig


def saturation(ctx: Context):
    """Fraction of saturated values (dead units for relu) per hidden layer over training."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    H = _n_hidden(ctx)
    colors = _colors(H)
    thresholds = set()
    for r, run in enumerate(ctx.runs):
        mon = run.monitor
        x = _x(ctx, mon)
        S = mon["activation"]["saturation"]
        thresholds.add(mon["@attrs"].get("saturation_threshold"))
        for l in range(S.shape[1]):
            ax.plot(x, 100 * S[:, l], color=colors[l], ls=LINESTYLES[r % 4], lw=1.5, marker=".", ms=3)
    _time_axis(ax, ctx)
    top = max((100 * np.nanmax(run.monitor["activation"]["saturation"], initial=0.0) for run in ctx.runs),
              default=0.0)
    ax.set_ylim(0, max(1.0, 1.05 * top))   # 0-1% when nothing saturates, not a range around 0
    ax.set_ylabel("saturated (%)")
    t = ", ".join(f"{v:g}" for v in sorted(v for v in thresholds if v is not None))
    ax.set_title(_title(ctx, f"Saturation per hidden layer during training (threshold {t})"), fontsize=11)
    _legends(ax, H, ctx.labels)
    fig.tight_layout()
    return fig


def fig11(ctx: Context):
    """Test error (solid) and validation error (dotted) of every run over training."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    colors = _colors(len(ctx.all_runs))
    for r, run in enumerate(ctx.all_runs):
        c = run.curves
        x = c["update"] if ctx.x_axis == "updates" else c["examples"]
        ax.plot(x, 100 * c["test_error"], color=colors[r], lw=1.8, marker=".", ms=4,
                label=f"{ctx.all_labels[r]} (test)")
        ax.plot(x, 100 * c["valid_error"], color=colors[r], lw=1.0, ls=":", label=f"{ctx.all_labels[r]} (valid)")
    _time_axis(ax, ctx)
    ax.set_ylabel("error (%)")
    ax.set_title(_title(ctx, "Learning curves: test (solid) and validation (dotted) error (Fig. 11)")
                 if len(ctx.all_runs) == 1 else "Learning curves: test (solid) and validation (dotted) error (Fig. 11)",
                 fontsize=11)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- #
# Histogram figures
# --------------------------------------------------------------------------- #

def fig4(ctx: Context):
    return _hist_rows(ctx, "activation", "last", None, "activation value",
                      "Activation histograms at the end of training (Fig. 4)", symmetric_zoom=False)


def fig6(ctx: Context):
    return _hist_rows(ctx, "activation", ctx.at, None, "activation value",
                      "Activation histograms per hidden layer (Fig. 6)", symmetric_zoom=False)


def fig7(ctx: Context):
    return _hist_rows(ctx, "backprop_grad", ctx.at, None, "back-propagated gradient dC/ds (per example)",
                      "Back-propagated gradient histograms per hidden layer (Fig. 7)", symmetric_zoom=True)


def fig8(ctx: Context):
    H = _n_hidden(ctx)
    return _hist_rows(ctx, "weight_grad", ctx.at, slice(0, H), "weight gradient dC/dW (probe-set mean cost)",
                      "Weight-gradient histograms of the layers feeding hidden layers 1..H (Fig. 8)",
                      symmetric_zoom=True)


# --------------------------------------------------------------------------- #
# Theory at initialization
# --------------------------------------------------------------------------- #

def theory(ctx: Context):
    """Measured (markers, solid) vs predicted (dashed) variances per layer at initialization."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.2))
    colors = _colors(len(ctx.runs))
    panels = (
        ("activation_var", "Var[z]: activations (eq. 5)"),
        ("backprop_grad_var", "Var[dC/ds]: back-propagated (eq. 6)"),
        ("weight_grad_var", "Var[dC/dW] per example (eq. 7)"),
    )
    for r, run in enumerate(ctx.runs):
        th = run.monitor.get("theory")
        if th is None:
            continue
        for ax, (key, title) in zip(axes, panels):
            meas, pred = th[key], th[key + "_predicted"]
            layers = np.arange(1, len(meas) + 1)
            ax.plot(layers, meas, color=colors[r], marker=MARKERS[r % len(MARKERS)], lw=1.5,
                    label=f"{ctx.labels[r]} measured")
            ax.plot(layers, pred, color=colors[r], ls="--", lw=1.2, label=f"{ctx.labels[r]} predicted")
            ax.set_title(title, fontsize=10)
            ax.set_yscale("log")
            ax.set_xlabel("layer")
            ax.set_xticks(layers)
            ax.grid(True, alpha=0.3, which="both")
    axes[0].legend(fontsize=7)
    fig.suptitle("At initialization: measured variances vs the linear-regime analysis (Glorot & Bengio eqs. 5-7)",
                 fontsize=11)
    fig.tight_layout()
    return fig
