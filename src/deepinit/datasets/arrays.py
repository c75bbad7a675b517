"""A user's own data from an ``.npz`` or HDF5 (``.h5``/``.hdf5``) file.

File format (see docs/datasets.md):

- ``x``: inputs, (n, d) or (n, height, width); ``y``: (n,) integer labels >= 0.
- optional ``x_valid``/``y_valid`` and ``x_test``/``y_test``: the same for fixed
  evaluation splits.
- optional ``class_names`` (one string per class) and ``image_shape``
  ((height, width) for 2-D ``x``): HDF5 root attributes or datasets, npz arrays.

Inputs: uint8 is divided by 255; every other numeric type must already lie in
[0, 1] and is used as is. Nothing is rescaled silently: other ranges, NaN and
inf are errors that say how to fix the file.

A split the file lacks is carved out of ``x``/``y`` with the fixed seed
``SPLIT_SEED``, independent of the data-order seed: the test split takes the
first ``test_size`` examples of ``default_rng(SPLIT_SEED).permutation(n)``, the
validation split the next ``valid_size``, training the rest (each kept in file
order).
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DeepinitError
from .finite import FiniteDataset, check_seed, file_sha256

SPLIT_SEED = 2010
DEFAULT_FRACTION = 0.1
SPLIT_KEYS = {"train": ("x", "y"), "valid": ("x_valid", "y_valid"), "test": ("x_test", "y_test")}
ARRAY_KEYS = tuple(k for pair in SPLIT_KEYS.values() for k in pair)
META_KEYS = ("class_names", "image_shape")
_FORMAT_HELP = "store inputs as 'x' and labels as 'y' (optionally x_valid/y_valid, x_test/y_test); see docs/datasets.md"


# -- reading ------------------------------------------------------------------


def _check_names(path: Path, names: list[str]) -> None:
    """Require ``x`` and ``y``; reject names that look like misspelt split arrays.

    ``X``, ``x_val`` or ``y_train`` silently ignored would mean training on the
    wrong arrays or carving a split the user did not ask for; other names
    (the user's metadata) are ignored.
    """
    for name in names:
        lower = name.lower()
        if name not in ARRAY_KEYS + META_KEYS and (lower in ("x", "y") or lower.startswith(("x_", "y_"))):
            raise DeepinitError(f"{path}: unknown array {name!r}; the array names are {', '.join(ARRAY_KEYS)}")
    missing = [k for k in ("x", "y") if k not in names]
    if missing:
        found = ", ".join(sorted(names)) or "nothing"
        raise DeepinitError(f"{path}: no {' and '.join(map(repr, missing))} array (found {found}); {_FORMAT_HELP}")


def _read_npz(path: Path) -> dict[str, Any]:
    loaded = np.load(path, allow_pickle=False)
    if not isinstance(loaded, np.lib.npyio.NpzFile):  # np.load also reads .npy files
        raise DeepinitError(
            f"{path} is a single .npy array, not an .npz archive; save with numpy.savez(path, x=..., y=...)"
        )
    with loaded as npz:
        _check_names(path, list(npz.files))
        return {k: npz[k] for k in ARRAY_KEYS + META_KEYS if k in npz.files}


def _read_hdf5(path: Path) -> dict[str, Any]:
    import h5py  # only when an HDF5 file is used

    with h5py.File(path, "r") as f:
        _check_names(path, list(f.keys()))
        content: dict[str, Any] = {}
        for key in ARRAY_KEYS + META_KEYS:
            if key in f:
                if not isinstance(f[key], h5py.Dataset):
                    raise DeepinitError(f"{path}: {key!r} is an HDF5 group, not a dataset; {_FORMAT_HELP}")
                content[key] = f[key][()]
            elif key in META_KEYS and key in f.attrs:
                content[key] = f.attrs[key]
        return content


def _read(path: Path) -> dict[str, Any]:
    """Arrays and metadata of the file, keyed by their names in the format."""
    reader = _read_npz if path.suffix.lower() == ".npz" else _read_hdf5
    try:
        return reader(path)
    except DeepinitError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to parse a user's file is a user-facing error
        kind = "npz" if reader is _read_npz else "HDF5"
        raise DeepinitError(
            f"cannot read {path} as an {kind} file ({type(exc).__name__}: {exc}); "
            f"check that it is a complete {kind} file of numeric arrays"
        ) from None


# -- metadata -----------------------------------------------------------------


def _class_names(path: Path, value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = np.asarray(value).ravel().tolist()
    names = [n.decode("utf-8") if isinstance(n, bytes) else n for n in names]
    if not names or not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
        raise DeepinitError(f"{path}: class_names must be distinct strings, one per class; got {names!r}")
    return tuple(names)


def _resolve_image_shape(
    path: Path, value: Any, from_x: tuple[int, int] | None, n_inputs: int
) -> tuple[int, int] | None:
    """The stored image_shape, checked against ``n_inputs`` and the (h, w) of 3-D ``x``; else that (h, w)."""
    if value is None:
        return from_x
    shape = np.asarray(value)
    if shape.shape != (2,) or shape.dtype.kind not in "iu" or (shape <= 0).any():
        raise DeepinitError(f"{path}: image_shape must be two positive integers (height, width); got {value!r}")
    stored = (int(shape[0]), int(shape[1]))
    if stored[0] * stored[1] != n_inputs:
        raise DeepinitError(
            f"{path}: image_shape {stored} does not match the {n_inputs} inputs per example; fix or remove image_shape"
        )
    if from_x is not None and stored != from_x:
        raise DeepinitError(
            f"{path}: image_shape {stored} disagrees with the {from_x} images in 'x'; fix or remove image_shape"
        )
    return stored


# -- inputs -------------------------------------------------------------------


def _flat_inputs(path: Path, xs: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], tuple[int, int] | None]:
    """Check input dimensions; return the inputs as (n, d) and (h, w) when they were images."""
    trailing = xs["x"].shape[1:]
    for key, x in xs.items():
        if x.ndim not in (2, 3) or 0 in x.shape[1:]:
            raise DeepinitError(
                f"{path}: {key!r} has shape {x.shape}; give (n, d) vectors or (n, height, width) images"
            )
        if len(x) == 0:
            raise DeepinitError(f"{path}: {key!r} is empty; give at least one example")
        if x.shape[1:] != trailing:
            raise DeepinitError(
                f"{path}: {key!r} has examples of shape {x.shape[1:]}, 'x' of shape {trailing}; make them agree"
            )
    image_shape = (int(trailing[0]), int(trailing[1])) if len(trailing) == 2 else None
    return {k: x.reshape(len(x), -1) for k, x in xs.items()}, image_shape


def _unit_range(path: Path, xs: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], str]:
    """Inputs as float32 in [0, 1], and the scaling applied.

    uint8 means pixels 0..255, divided by 255; anything else must already be in
    [0, 1]. Min-max scaling is deliberately not done: it would depend on which
    examples are in the training split and would put evaluation inputs outside
    [0, 1]; the user should decide how their data is normalized.
    """
    for key, x in xs.items():
        if x.dtype.kind not in "biuf":
            raise DeepinitError(
                f"{path}: {key!r} has dtype {x.dtype}; store numeric inputs (uint8 or floats in [0, 1])"
            )
    if any(x.dtype == np.uint8 for x in xs.values()):
        if any(x.dtype != np.uint8 for x in xs.values()):
            dtypes = ", ".join(f"{k}: {x.dtype}" for k, x in xs.items())
            raise DeepinitError(
                f"{path}: inputs mix uint8 with other dtypes ({dtypes}); store all input arrays with one dtype"
            )
        if max(int(x.max()) for x in xs.values()) <= 1:
            raise DeepinitError(
                f"{path}: uint8 inputs are read as pixels 0..255 and divided by 255, but these are all 0 or 1; "
                "store binary inputs as bool or float32"
            )
        scaled = {k: x.astype(np.float32) for k, x in xs.items()}
        for x in scaled.values():
            x /= 255  # correctly rounded float32 division: exactly 0 and 1 at the ends
        return scaled, "uint8 / 255"
    for key, x in xs.items():
        if x.dtype.kind == "f" and not np.isfinite(x).all():
            bad = int(x.size - np.count_nonzero(np.isfinite(x)))
            raise DeepinitError(f"{path}: {key!r} has {bad} NaN or infinite values; remove or replace them")
    lo = min(float(x.min()) for x in xs.values())
    hi = max(float(x.max()) for x in xs.values())
    if lo < 0 or hi > 1:
        raise DeepinitError(
            f"{path}: inputs range over [{lo:g}, {hi:g}], deepinit needs [0, 1]; store pixels as uint8 "
            "(divided by 255 on loading) or scale the inputs into [0, 1], e.g. with the training split's min and max"
        )
    return {k: x.astype(np.float32) for k, x in xs.items()}, "none (inputs already in [0, 1])"


# -- labels -------------------------------------------------------------------


def _labels(path: Path, key: str, y: np.ndarray, n: int, x_key: str) -> np.ndarray:
    """Labels as int64 (n,); integral floats and bools accepted, negatives rejected."""
    if y.ndim != 1:
        raise DeepinitError(f"{path}: {key!r} has shape {y.shape}; give one integer label per example, shape (n,)")
    if len(y) != n:
        raise DeepinitError(f"{path}: {x_key!r} has {n} examples but {key!r} has {len(y)} labels; make them equal")
    if y.dtype.kind == "f":
        if not np.isfinite(y).all() or (y != np.round(y)).any():
            raise DeepinitError(f"{path}: {key!r} has non-integer labels; labels are class indices 0, 1, 2, ...")
    elif y.dtype.kind not in "biu":
        raise DeepinitError(f"{path}: {key!r} has dtype {y.dtype}; labels are integer class indices 0, 1, 2, ...")
    if len(y) and y.min() < 0:
        raise DeepinitError(f"{path}: {key!r} has negative labels; labels are class indices 0, 1, 2, ...")
    return y.astype(np.int64)


def _resolve_classes(path: Path, ys: dict[str, np.ndarray], names: tuple[str, ...] | None) -> tuple[str, ...]:
    top = max(int(y.max()) for y in ys.values())
    if names is not None:
        if top >= len(names):
            raise DeepinitError(
                f"{path}: label {top} is out of range for {len(names)} class_names; fix the labels or class_names"
            )
        return names
    if not any((y == 0).any() for y in ys.values()):
        # Almost always 1-based labels, which would add an empty class 0.
        raise DeepinitError(
            f"{path}: no example has label 0, so the labels look 1-based; labels are 0-based "
            "(subtract 1), or store class_names to declare every class"
        )
    if top < 1:
        raise DeepinitError(f"{path}: all labels are 0; a classification dataset needs at least two classes")
    n_examples = sum(len(y) for y in ys.values())
    if top >= n_examples:
        # Labels that are ids or codes rather than class indices (would make mostly empty output units).
        raise DeepinitError(
            f"{path}: label {top} implies {top + 1} classes for only {n_examples} examples; labels must be "
            "class indices 0 .. n_classes-1 (map them with numpy.unique(y, return_inverse=True)) or store class_names"
        )
    return tuple(str(c) for c in range(top + 1))


# -- splits -------------------------------------------------------------------


def _split_size(name: str, size: int | float | None, n: int) -> int:
    """Resolve a split size (count, fraction in (0, 1), or None for 10%) to a count >= 1."""
    option = f"{name}-size"
    if size is None:
        return max(1, round(DEFAULT_FRACTION * n))
    if isinstance(size, bool) or not isinstance(size, numbers.Real):
        raise DeepinitError(f"{option} must be a count or a fraction in (0, 1), got {size!r}")
    if isinstance(size, numbers.Integral):
        count = int(size)
    elif 0 < size < 1:
        count = round(float(size) * n)
    else:
        raise DeepinitError(
            f"{option} {size!r} is neither a whole count nor a fraction in (0, 1); give e.g. 1000 or 0.1"
        )
    if count < 1:
        raise DeepinitError(f"{option} {size!r} gives no examples out of {n}; choose a larger {option}")
    return count


def _carve(n: int, n_valid: int, n_test: int) -> dict[str, np.ndarray]:
    """Indices of the train/valid/test parts of ``n`` examples (split seed, not data seed).

    The test part comes first in the permutation, so it does not depend on
    ``n_valid`` (nor on whether the file has its own validation split).
    """
    perm = np.random.default_rng(SPLIT_SEED).permutation(n)
    parts = {"test": perm[:n_test], "valid": perm[n_test : n_test + n_valid], "train": perm[n_test + n_valid :]}
    return {k: np.sort(v) for k, v in parts.items()}


def _check_split_pairs(path: Path, content: dict[str, Any], sizes: dict[str, Any]) -> None:
    for split, (xk, yk) in SPLIT_KEYS.items():
        if (xk in content) != (yk in content):
            have, lack = (xk, yk) if xk in content else (yk, xk)
            raise DeepinitError(f"{path}: has {have!r} but no {lack!r}; store both or neither")
        if split in sizes and sizes[split] is not None and xk in content:
            raise DeepinitError(
                f"{path} already has a {split} split ({xk}/{yk}); remove the {split}-size option"
            )


def _make_splits(
    path: Path,
    xs: dict[str, np.ndarray],
    ys: dict[str, np.ndarray],
    present: list[str],
    valid_size: int | float | None,
    test_size: int | float | None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(X, y) per split: the file's own splits, the missing ones carved from x/y."""
    n = len(xs["x"])
    sizes = {"valid": valid_size, "test": test_size}
    wanted = {s: 0 if s in present else _split_size(s, sizes[s], n) for s in sizes}
    if wanted["valid"] + wanted["test"] >= n:
        raise DeepinitError(
            f"{path}: carving {wanted['valid']} validation and {wanted['test']} test examples from {n} "
            "leaves none to train on; choose a smaller valid-size/test-size"
        )
    if not any(wanted.values()):  # nothing to carve: keep x/y without a copy
        return {s: (xs[SPLIT_KEYS[s][0]], ys[SPLIT_KEYS[s][1]]) for s in SPLIT_KEYS}
    parts = _carve(n, wanted["valid"], wanted["test"])
    splits = {}
    for s, (xk, yk) in SPLIT_KEYS.items():
        from_file = s in present and s != "train"
        splits[s] = (xs[xk], ys[yk]) if from_file else (xs["x"][parts[s]], ys["y"][parts[s]])
    return splits


# -- factory ------------------------------------------------------------------


def make(
    path: str | os.PathLike,
    seed: int = 0,
    valid_size: int | float | None = None,
    test_size: int | float | None = None,
) -> FiniteDataset:
    """Load a user's ``.npz``/HDF5 file as a FiniteDataset.

    Parameters
    ----------
    path : str or path-like
        The file; format in the module docstring and docs/datasets.md.
    seed : int, default 0
        Seed of the training order only; never changes the splits.
    valid_size, test_size : int or float, optional
        Size of a split the file lacks, carved from ``x``/``y``: a count, or a
        fraction in (0, 1) of ``len(x)``. Default 10% (at least 1). Giving a
        size for a split the file has is an error.

    Returns
    -------
    FiniteDataset
        Inputs (n, d) float32 in [0, 1], labels int32.
    """
    seed = check_seed(seed)
    path = Path(path).expanduser()
    if not path.is_file():
        raise DeepinitError(f"dataset file {path} does not exist; give the path of an existing .npz or .h5 file")
    content = _read(path)
    _check_split_pairs(path, content, {"valid": valid_size, "test": test_size})
    present = [s for s, (xk, _) in SPLIT_KEYS.items() if xk in content]
    xs = {SPLIT_KEYS[s][0]: np.asarray(content[SPLIT_KEYS[s][0]]) for s in present}
    xs, shape_from_x = _flat_inputs(path, xs)
    xs, scaling = _unit_range(path, xs)
    ys = {yk: _labels(path, yk, np.asarray(content[yk]), len(xs[xk]), xk) for xk, yk in map(SPLIT_KEYS.get, present)}
    class_names = _resolve_classes(path, ys, _class_names(path, content.get("class_names")))
    image_shape = _resolve_image_shape(path, content.get("image_shape"), shape_from_x, xs["x"].shape[1])
    splits = _make_splits(path, xs, ys, present, valid_size, test_size)
    info = {
        "source": str(path.resolve()),
        "sha256": file_sha256(path),
        "input_dtype": str(content["x"].dtype),
        "input_scaling": scaling,
        "split_origin": {
            s: "file" if s in present else f"carved from x/y with split seed {SPLIT_SEED}" for s in ("valid", "test")
        },
        "split_seed": SPLIT_SEED,
    }
    return FiniteDataset(
        str(path),
        splits["train"],
        splits["valid"],
        splits["test"],
        class_names=class_names,
        seed=seed,
        image_shape=image_shape,
        info=info,
    )
