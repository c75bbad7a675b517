"""``deepinit data``: look at and export the generated datasets."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import click

from ..errors import DeepinitError
from ._console import err, out

PNG_DEFAULT = 36        # samples in a --preview grid
PNG_MAX = 400
TERMINAL_DEFAULT = 8    # samples in the terminal preview
TERMINAL_MAX = 32
TERMINAL_PER_ROW = 4
EXPORT_CHUNK = 16_384   # examples rendered per block while exporting (64 MiB of float32)
# Ten shades, dark to light, for terminals without colour (one character per pixel
# column and per two pixel rows, which keeps the aspect ratio of a character cell).
_SHADES = " .:-=+*#%@"


@click.group()
def data() -> None:
    """Look at and export the generated datasets."""


@data.command()
@click.option("--preview", "preview", type=click.Path(dir_okay=False), default=None, metavar="FILE.png",
              help="Write a labelled grid of samples as a PNG (needs matplotlib).")
@click.option("--export", "export", type=click.Path(dir_okay=False), default=None, metavar="FILE.h5",
              help="Write -n examples as an HDF5 array file (x, y, class_names, image_shape).")
@click.option("-n", "n", type=click.IntRange(min=1), default=None,
              help=f"Examples to export (required with --export) or to preview "
                   f"[default: {PNG_DEFAULT} in a PNG, {TERMINAL_DEFAULT} in the terminal].")
@click.option("--seed", type=click.IntRange(0, 2**64 - 1), default=0, show_default=True,
              help="Data seed: the training stream of `deepinit train --data-seed SEED`.")
@click.option("--start", type=click.IntRange(min=0), default=0, show_default=True,
              help="Index of the first example of the stream.")
@click.option("-j", "--threads", type=int, default=None,
              help="OpenMP threads [default: $OMP_NUM_THREADS or all cores]. The images do not depend on it.")
@click.option("--overwrite", is_flag=True, help="Replace FILE.h5 / FILE.png if it exists.")
def shapeset(preview, export, n, seed, start, threads, overwrite) -> None:
    """Shapeset-3x2: 32x32 images of 1 or 2 triangles, parallelograms, ellipses (9 classes).

    With no --preview and no --export, draws a few samples in the terminal.
    The examples are those of the training stream with data seed SEED, from
    index START on (docs/shapeset.md).
    """
    import numpy as np

    from ..datasets.shapeset import ShapesetDataset

    if threads == 0:
        raise click.BadParameter("must be a non-zero integer", param_hint="'-j' / '--threads'")
    if export is not None and n is None:
        raise click.UsageError("--export needs the number of examples: add -n N")
    for path in (export, preview):
        if path is not None:
            _check_target(Path(path), overwrite)
    dataset = ShapesetDataset(seed=seed)
    dataset.n_threads = threads

    if export is not None:
        _export(dataset, Path(export), n, start, np)
        err.print(f"wrote {n:,} examples to {export}")
    if preview is not None:
        count = n if (n is not None and export is None) else PNG_DEFAULT
        if count > PNG_MAX:
            raise DeepinitError(f"a preview grid shows at most {PNG_MAX} samples; use -n {PNG_MAX} or less")
        X, y = _render(dataset, start, count, np)
        _write_png(Path(preview), X, y, dataset.class_names, seed, start)
        err.print(f"wrote a preview of {count} samples to {preview}")
    if export is None and preview is None:
        count = n if n is not None else TERMINAL_DEFAULT
        if count > TERMINAL_MAX:
            raise DeepinitError(f"the terminal preview shows at most {TERMINAL_MAX} samples; "
                                f"use --preview FILE.png for more")
        X, y = _render(dataset, start, count, np)
        _print_terminal(X, y, dataset.class_names, start)


def _check_target(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise DeepinitError(f"{path} already exists; pass --overwrite to replace it or choose another name")
    if not path.parent.is_dir():
        raise DeepinitError(f"directory {path.parent} does not exist; create it first")


def _render(dataset, start, count, np):
    X = np.empty((count, dataset.n_inputs), dtype=np.float32)
    y = np.empty(count, dtype=np.int32)
    dataset.fill_train(start, X, y)
    return X, y


def _atomic_target(path: Path):
    """A temporary file beside ``path`` (same filesystem, so os.replace is atomic)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(tmp)


def _export(dataset, path: Path, n: int, start: int, np) -> None:
    """Write examples start..start+n-1 of the training stream as an array file.

    Datasets ``x`` (n, 1024) float32 in [0, 1] and ``y`` (n,) int32; root
    attributes ``class_names``, ``image_shape`` and ``source`` (the dataset's
    ``describe()`` as JSON, plus the first index). Rendered in blocks, straight
    into a reused buffer, so memory stays bounded for any n.
    """
    import h5py

    tmp = _atomic_target(path)
    try:
        with h5py.File(tmp, "w") as f:
            xs = f.create_dataset("x", shape=(n, dataset.n_inputs), dtype=np.float32,
                                  chunks=(min(n, 1024), dataset.n_inputs))
            ys = f.create_dataset("y", shape=(n,), dtype=np.int32)
            X = np.empty((min(n, EXPORT_CHUNK), dataset.n_inputs), dtype=np.float32)
            y = np.empty(min(n, EXPORT_CHUNK), dtype=np.int32)
            for lo in range(0, n, EXPORT_CHUNK):
                k = min(EXPORT_CHUNK, n - lo)
                dataset.fill_train(start + lo, X[:k], y[:k])
                xs[lo:lo + k] = X[:k]
                ys[lo:lo + k] = y[:k]
            f.attrs["class_names"] = list(dataset.class_names)
            f.attrs["image_shape"] = np.array(dataset.image_shape, dtype=np.int64)
            source = dataset.describe()
            source["exported"] = {"split": "train", "start": start, "n": n}
            f.attrs["source"] = json.dumps(source)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _write_png(path: Path, X, y, class_names, seed: int, start: int) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise DeepinitError('--preview needs matplotlib; install it with: pip install "deepinit[plot]"') from None
    count = len(X)
    cols = min(count, 6 if count <= 36 else 10)
    rows = -(-count // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.8 * rows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k < count:
            ax.imshow(X[k].reshape(32, 32), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(f"{start + k}: {class_names[y[k]]}", fontsize=6.5)
    fig.suptitle(f"Shapeset-3x2, seed {seed}", fontsize=9)
    fig.tight_layout()
    tmp = _atomic_target(path)
    try:
        fig.savefig(tmp, dpi=120, format="png")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if tmp.exists():
            tmp.unlink()


def _print_terminal(X, y, class_names, start: int) -> None:
    """Samples side by side: half-block cells in colour terminals, shade characters otherwise."""
    from rich.text import Text

    colour = out.color_system is not None
    images = X.reshape(len(X), 32, 32)
    for lo in range(0, len(X), TERMINAL_PER_ROW):
        block = range(lo, min(lo + TERMINAL_PER_ROW, len(X)))
        for row in range(0, 32, 2):
            line = Text()
            for k in block:
                top, bottom = images[k, row], images[k, row + 1]
                for c in range(32):
                    if colour:
                        t, b = int(round(255 * float(top[c]))), int(round(255 * float(bottom[c])))
                        line.append("\u2580", style=f"rgb({t},{t},{t}) on rgb({b},{b},{b})")
                    else:
                        v = 0.5 * (float(top[c]) + float(bottom[c]))
                        line.append(_SHADES[min(int(v * len(_SHADES)), len(_SHADES) - 1)])
                line.append("  ")
            out.print(line)
        labels = Text()
        for k in block:
            labels.append(f"{start + k}: {class_names[y[k]]}"[:32].ljust(34))
        out.print(labels)
        out.print()
