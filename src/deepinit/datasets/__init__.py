"""Dataset registry: names (``shapeset``, ``mnist``) and user files (``.npz``, ``.h5``).

``get_dataset(spec, **options)`` is the one entry point. ``spec`` is a registered
name or the path of a user's array file. Options that are None are "not given";
an option given to a dataset whose factory does not take it is an error, not
silently ignored.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any, Callable

from ..errors import DeepinitError
from .base import SPLITS, Dataset

DEFAULT_DATASET = "shapeset"

# name -> "module:factory". Imported on first use so that `deepinit --help`
# stays fast and a broken optional dataset cannot break the others.
_REGISTRY: dict[str, str] = {
    "shapeset": "deepinit.datasets.shapeset:make",
    "mnist": "deepinit.datasets.mnist:make",
}
ARRAY_SUFFIXES = (".npz", ".h5", ".hdf5")
_ARRAYS = "deepinit.datasets.arrays:make"


def dataset_names() -> list[str]:
    """Registered dataset names."""
    return sorted(_REGISTRY)


def _factory(target: str) -> Callable[..., Dataset]:
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)


def get_dataset(spec: str, **options: Any) -> Dataset:
    """Build a dataset from a registered name or a path to an ``.npz``/``.h5`` file.

    Parameters
    ----------
    spec : str
        ``"shapeset"``, ``"mnist"``, or a file path ending in .npz, .h5 or .hdf5.
    **options
        Passed to the dataset's factory (e.g. ``seed``, ``data_dir``,
        ``valid_size``, ``test_size``). None means "not given".

    Raises
    ------
    DeepinitError
        Unknown name, missing file, or an option the dataset does not take.
    """
    if spec in _REGISTRY:
        target, label = _REGISTRY[spec], spec
        args: tuple = ()
    elif spec.lower().endswith(ARRAY_SUFFIXES):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise DeepinitError(f"dataset file {spec!r} does not exist; give the path of an existing .npz or .h5 file")
        target, label, args = _ARRAYS, str(path), (path,)
    else:
        raise DeepinitError(
            f"unknown dataset {spec!r}; use one of {', '.join(dataset_names())} "
            f"or the path of a {'/'.join(ARRAY_SUFFIXES)} file"
        )
    factory = _factory(target)
    accepted = inspect.signature(factory).parameters
    given = {k: v for k, v in options.items() if v is not None}
    for key in given:
        if key not in accepted:
            raise DeepinitError(
                f"option {key.replace('_', '-')!r} does not apply to dataset {label!r}; remove it"
            )
    return factory(*args, **given)


__all__ = ["DEFAULT_DATASET", "SPLITS", "Dataset", "dataset_names", "get_dataset"]
