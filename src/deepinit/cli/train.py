"""``deepinit train``: train one network and record it in an HDF5 run file."""

from __future__ import annotations

import click

from ..choices import ACTIVATIONS, COSTS, DTYPES, INIT_SCHEMES
from ..config import TrainConfig, parse_hidden, parse_size
from ..errors import DeepinitError
from ._console import err, out

_DEFAULTS = TrainConfig()


def _callback(parse):
    """A Click callback from a config parser: None passes, ValueError -> BadParameter."""

    def callback(ctx, param, value):
        if value is None:
            return None
        try:
            return parse(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None

    return callback


# The options that make a TrainConfig (one per field). `deepinit sweep` takes
# them too: there they are the options fixed for every cell.
CONFIG_OPTIONS = [
    click.option("-d", "--dataset", default=_DEFAULTS.dataset, show_default=True,
        help="shapeset (Shapeset-3x2, generated), mnist, or the path of a .npz/.h5 file with x, y arrays."),
    click.option("--data-dir", type=click.Path(file_okay=False), default=None,
        help="Directory holding the MNIST IDX .gz files (default: $DEEPINIT_DATA)."),
    click.option("--valid-size", default=None, callback=_callback(parse_size), metavar="N|FRACTION",
        help="Validation set size (datasets that allow it)."),
    click.option("--test-size", default=None, callback=_callback(parse_size), metavar="N|FRACTION",
        help="Test set size (datasets that allow it)."),
    click.option("--depth", type=click.IntRange(min=0), default=_DEFAULTS.depth, show_default=True,
        help="Number of hidden layers."),
    click.option("--width", type=click.IntRange(min=1), default=_DEFAULTS.width, show_default=True,
        help="Units per hidden layer."),
    click.option("--hidden", callback=_callback(parse_hidden), default=None, metavar="W1,W2,...",
        help="Explicit hidden widths; overrides --depth and --width."),
    click.option("-a", "--activation", type=click.Choice(ACTIVATIONS), default=_DEFAULTS.activation,
        show_default=True, help="Hidden-layer activation."),
    click.option("--cost", type=click.Choice(COSTS), default=_DEFAULTS.cost, show_default=True,
        help="Output layer and cost: softmax + negative log-likelihood, or half the squared error."),
    click.option("-i", "--init", type=click.Choice(INIT_SCHEMES), default=_DEFAULTS.init, show_default=True,
        help="Weight initialization (docs/network.md); biases start at 0."),
    click.option("--init-scale", type=float, default=_DEFAULTS.init_scale, show_default=True,
        help="Multiply every initial weight by this."),
    click.option("--lr", type=float, default=_DEFAULTS.lr, show_default=True, help="Learning rate (constant)."),
    click.option("-b", "--batch-size", type=click.IntRange(min=1), default=_DEFAULTS.batch_size, show_default=True,
        help="Minibatch size."),
    click.option("--updates", type=click.IntRange(min=0), default=None,
        help=f"Budget in minibatch updates [default: {TrainConfig.DEFAULT_UPDATES} unless --epochs]."),
    click.option("--epochs", type=float, default=None, help="Budget in passes over a finite training set."),
    click.option("--eval-every", type=click.IntRange(min=1), default=_DEFAULTS.eval_every, show_default=True,
        help="Evaluate validation and test error every this many updates."),
    click.option("--init-seed", type=click.IntRange(min=0), default=_DEFAULTS.init_seed, show_default=True, help="Seed of the weights."),
    click.option("--data-seed", type=click.IntRange(min=0), default=_DEFAULTS.data_seed, show_default=True,
        help="Seed of the training data order (or stream)."),
    click.option("--dtype", type=click.Choice(DTYPES), default=_DEFAULTS.dtype, show_default=True),
    click.option("--monitor/--no-monitor", default=_DEFAULTS.monitor, show_default=True,
        help="Record per-layer statistics on a fixed probe set during training (docs/monitoring.md)."),
    click.option("--monitor-every", type=click.IntRange(min=1), default=_DEFAULTS.monitor_every, show_default=True,
        help="A monitoring point every this many updates (plus update 0 and the last)."),
    click.option("--monitor-log-points", type=click.IntRange(min=0), default=_DEFAULTS.monitor_log_points,
        show_default=True, help="Extra monitoring points log-spaced in the first --monitor-every updates."),
    click.option("--probe-size", type=click.IntRange(min=1), default=_DEFAULTS.probe_size, show_default=True,
        help="Test examples of the monitoring probe set."),
    click.option("--monitor-bins", type=click.IntRange(min=2, max=10_000), default=_DEFAULTS.monitor_bins,
        show_default=True, help="Histogram bins per quantity and layer."),
    click.option("--saturation-threshold", type=float, default=_DEFAULTS.saturation_threshold, show_default=True,
        help="A unit saturates when |a| >= T (tanh, softsign, hardtanh) or a <= 1-T or a >= T (sigmoid)."),
    click.option("--jacobian-examples", type=click.IntRange(min=0), default=_DEFAULTS.jacobian_examples,
        show_default=True, help="Probe examples whose layer-Jacobian singular values are computed (0: none)."),
    click.option("--jacobian-every", type=click.IntRange(min=1), default=_DEFAULTS.jacobian_every, show_default=True,
        help="Jacobian singular values at update 0, at the end and about every this many updates."),
]


def config_options(command):
    """Decorate a Click command with every TrainConfig option."""
    for option in reversed(CONFIG_OPTIONS):
        command = option(command)
    return command


@click.command()
@config_options
@click.option("-j", "--threads", type=int, default=None,
              help="OpenMP threads [default: $OMP_NUM_THREADS or all cores]. Results do not depend on it.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Run file to write [default: runs/DATASET-ACTIVATION-INIT-TIME.h5].")
@click.option("--overwrite", is_flag=True, help="Replace the output file if it exists.")
@click.option("-q", "--quiet", is_flag=True, help="No progress or tables (errors still print).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout at the end.")
def train(output, overwrite, quiet, as_json, threads, valid_size, test_size, **options) -> None:
    """Train one network and record it in an HDF5 run file.

    With no option: a 5x1000 tanh network with normalized initialization on
    Shapeset-3x2 (generated, no download), minibatches of 10, 10,000 updates.
    """
    import json
    from datetime import datetime
    from pathlib import Path

    from .. import training

    config = TrainConfig(valid_size=valid_size, test_size=test_size, **options)
    if threads is not None and threads == 0:
        raise DeepinitError("--threads must be a positive count (or negative: all cores but k-1)")
    if output is None:
        stem = Path(config.dataset).stem if config.dataset.lower().endswith((".npz", ".h5", ".hdf5")) else config.dataset
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        output = Path("runs") / f"{stem}-{config.activation}-{config.init}-{stamp}.h5"

    show = not quiet
    progress = _ProgressView(enabled=show)
    try:
        with progress:
            record = training.train(
                config, output, overwrite=overwrite, n_threads=threads,
                callback=progress.update, on_start=progress.start if show else None,
            )
    except KeyboardInterrupt:
        raise DeepinitError(f"interrupted; {str(output)!r} keeps the progress made so far (status: interrupted)") from None

    summary = _summary(record)
    if show:
        _print_summary(summary)
    if as_json:
        out.print(json.dumps(summary), markup=False, highlight=False, soft_wrap=True)


def _summary(record) -> dict:
    from ..runfile import curve_summary

    return {
        "path": str(record.path),
        "status": record.status,
        "error": record.error or None,
        **curve_summary(record.curves),
        "updates": record.update,
        "examples": record.examples,
        "elapsed_s": round(record.elapsed, 3),
        "examples_per_s": round(record.examples / record.elapsed, 1) if record.elapsed > 0 else None,
    }


def _print_summary(s: dict) -> None:
    from rich.table import Table

    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    style = {"completed": "green", "diverged": "yellow"}.get(s["status"], "red")
    table.add_row("status", f"[{style}]{s['status']}[/]" + (f"  {s['error']}" if s["error"] else ""))
    table.add_row("updates", f"{s['updates']:,} ({s['examples']:,} examples, {s['elapsed_s']:.1f} s"
                  + (f", {s['examples_per_s']:,.0f} examples/s)" if s["examples_per_s"] else ")"))
    table.add_row("valid error", f"{s['valid_error']:.2%} (best {s['best_valid_error']:.2%} at update {s['best_update']:,})")
    table.add_row("test error", f"{s['test_error']:.2%} ({s['test_error_at_best_valid']:.2%} at the best valid)")
    table.add_row("run file", s["path"])
    err.print(table)


class _ProgressView:
    """The rich progress bar and the start-of-run tables (all on stderr)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar = None
        self.task = None
        self.cost_name = "nll"

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()

    def start(self, net, dataset, config, record) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
        from rich.table import Table

        err.print(
            f"[bold]deepinit train[/]  {dataset.name}: {net.n_inputs} inputs, {net.n_classes} classes"
            f"{', online stream' if dataset.is_stream else f', {dataset.n_train:,} training examples'}"
        )
        err.print(
            f"network {'-'.join(map(str, net.sizes))}  {config.activation}, {config.cost}, "
            f"{config.init} init (x{config.init_scale:g}), lr {config.lr:g}, batch {config.batch_size}, "
            f"{record.total_updates:,} updates, {net.dtype}, {net.n_threads} threads"
        )
        table = Table(title="initial weights", title_justify="left")
        for col in ("layer", "fan_in", "fan_out", "target std", "realized std"):
            table.add_column(col, justify="right")
        for k in range(len(record.init["fan_in"])):
            table.add_row(
                str(k + 1), str(record.init["fan_in"][k]), str(record.init["fan_out"][k]),
                f"{record.init['target_std'][k]:.5f}", f"{record.init['realized_std'][k]:.5f}",
            )
        err.print(table)
        if record.monitor is not None:
            mc = record.monitor.config
            err.print(
                f"monitoring {record.monitor.P} test examples every {mc.every:,} updates"
                f"{f' (+{mc.log_points} log-spaced early points)' if mc.log_points else ''}"
                f"{f', Jacobians of {record.monitor.n_jac} examples' if record.monitor.n_jac else ''}"
            )
        err.print(f"writing {record.path}")
        self.cost_name = "nll" if config.cost == "softmax-nll" else "cost"
        self.bar = Progress(
            TextColumn("[bold]training"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("{task.fields[errors]}"),
            TimeRemainingColumn(),
            console=err,
            transient=False,
        )
        self.task = self.bar.add_task("train", total=record.total_updates, rate="", errors="")
        self.bar.start()

    def update(self, p) -> None:
        if self.bar is None:
            return
        rate = p.update / p.elapsed if p.elapsed > 0 else 0.0
        errors = f"train {self.cost_name} {p.train_cost:.3f}"
        if p.valid_error == p.valid_error:  # not nan
            errors += f"  valid {p.valid_error:.2%}  test {p.test_error:.2%}"
        self.bar.update(self.task, completed=p.update, rate=f"{rate:,.0f} upd/s", errors=errors)
