"""``deepinit plot``: Glorot & Bengio's figures from run files (matplotlib, the ``plot`` extra).

Figures over training put every run on the same axes (colour = layer, line
style = run); histogram figures put one row of axes per run, sharing the x
axis, as the paper's figures stack standard over normalized initialization.
"""

from __future__ import annotations

import click

from ..errors import DeepinitError
from ._console import err, out

# name: (file stem, needs monitoring data, what it shows)
FIGURES = {
    "fig2": ("fig2-activation-mean-std", True, "activation mean and std per layer over training (Fig. 2)"),
    "fig3": ("fig3-activation-p98-std", True, "98th percentile and std of activations over training (Figs. 3, 10)"),
    "fig4": ("fig4-final-activation-hist", True, "activation histograms at the last point (Fig. 4)"),
    "fig6": ("fig6-activation-hist", True, "activation histograms per layer at --at (Fig. 6)"),
    "fig7": ("fig7-backprop-grad-hist", True, "back-propagated gradient histograms at --at (Fig. 7)"),
    "fig8": ("fig8-weight-grad-hist", True, "weight-gradient histograms at --at (Fig. 8)"),
    "fig9": ("fig9-weight-grad-std", True, "weight-gradient std per layer over training (Fig. 9)"),
    "fig11": ("fig11-learning-curves", False, "test error over training (Fig. 11)"),
    "jacobian": ("jacobian-singular-values", True, "mean singular value of the layer Jacobians over training"),
    "saturation": ("saturation", True, "fraction of saturated units per layer over training"),
    "theory": ("theory-at-init", True, "variances at initialization: measured vs eqs. 5-7"),
}


def _parse_figures(value: str) -> list[str]:
    names = [v.strip().lower() for v in value.split(",") if v.strip()]
    if not names or names == ["all"]:
        return list(FIGURES)
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise DeepinitError(f"unknown figure {unknown[0]!r}; use 'all' or some of {', '.join(FIGURES)}")
    return list(dict.fromkeys(names))


@click.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output-dir", type=click.Path(file_okay=False), default=None,
              help="Directory for the figures [default: RUN-figures beside a single run, else ./figures].")
@click.option("-f", "--figures", "figures", default="all", show_default=True, metavar="NAMES",
              help="Comma-separated: " + ", ".join(FIGURES) + ", or all.")
@click.option("--at", "at", default="first", show_default=True, metavar="UPDATE|first|last",
              help="Monitoring point of the histogram figures 6-8 (the nearest to an update count).")
@click.option("--x", "x_axis", type=click.Choice(["updates", "examples"]), default="updates", show_default=True,
              help="Horizontal axis of the figures over training.")
@click.option("--xscale", type=click.Choice(["linear", "log"]), default="linear", show_default=True,
              help="log: a symmetric-log axis that keeps update 0 and spreads the early points.")
@click.option("--labels", default=None, metavar="A,B,...", help="Legend label of each run [default: activation and init].")
@click.option("--format", "fmt", type=click.Choice(["png", "pdf", "svg"]), default="png", show_default=True)
@click.option("--dpi", type=click.IntRange(min=30, max=1200), default=150, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace figure files that already exist.")
def plot(runs, output_dir, figures, at, x_axis, xscale, labels, fmt, dpi, overwrite) -> None:
    """Draw Glorot & Bengio's figures from one or more run files.

    Several runs are overlaid (e.g. standard vs normalized initialization).
    Works on a run in progress too. Needs matplotlib: pip install "deepinit[plot]".
    """
    from pathlib import Path

    try:
        import matplotlib
    except ImportError:
        raise DeepinitError('deepinit plot needs matplotlib; install it with: pip install "deepinit[plot]"') from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..runfile import read_run

    names = _parse_figures(figures)
    loaded = [read_run(path) for path in runs]
    run_labels = _labels(loaded, labels)
    if output_dir is None:
        output_dir = loaded[0].path.with_name(loaded[0].path.stem + "-figures") if len(loaded) == 1 else Path("figures")
    output_dir = Path(output_dir)

    monitored = [k for k, run in enumerate(loaded) if run.monitor is not None and len(run.monitor["update"])]
    explicit = figures.strip().lower() != "all"
    todo = []
    for name in names:
        stem, needs_monitor, _ = FIGURES[name]
        if needs_monitor and not monitored:
            if explicit:
                raise DeepinitError(
                    f"figure {name!r} needs monitoring data, and no run has any (trained with --no-monitor?)")
            continue
        todo.append((name, output_dir / f"{stem}.{fmt}"))
    if not todo:
        raise DeepinitError("nothing to plot: no run has monitoring data and no learning-curve figure was asked for")
    existing = [str(p) for _, p in todo if p.exists()]
    if existing and not overwrite:
        raise DeepinitError(f"{existing[0]!r} already exists (and {len(existing) - 1} more); "
                            "pass --overwrite to replace the figures or choose another --output-dir")
    skipped = [run_labels[k] for k in range(len(loaded)) if k not in monitored]
    if skipped and any(FIGURES[n][1] for n, _ in todo):
        err.print(f"no monitoring data in {', '.join(skipped)}: left out of the per-layer figures")
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DeepinitError(f"cannot create {str(output_dir)!r} ({exc.strerror or exc})") from None

    from . import _figures

    ctx = _figures.Context(
        runs=[loaded[k] for k in monitored], labels=[run_labels[k] for k in monitored],
        all_runs=loaded, all_labels=run_labels, x_axis=x_axis, xscale=xscale, at=at,
    )
    for name, path in todo:
        fig = getattr(_figures, name)(ctx)
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        plt.close(fig)
        out.print(str(path), markup=False, highlight=False)


def _labels(runs, labels: str | None) -> list[str]:
    if labels is not None:
        parts = [p.strip() for p in labels.split(",")]
        if len(parts) != len(runs):
            raise DeepinitError(f"--labels gives {len(parts)} labels for {len(runs)} runs")
        return parts
    auto = [f"{run.config.get('activation')} {run.config.get('init')}" for run in runs]
    if len(set(auto)) < len(auto):
        auto = [run.path.stem for run in runs]
    return auto
