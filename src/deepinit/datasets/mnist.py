"""MNIST from the four standard IDX files, split as in Glorot & Bengio (2010).

Splits: the first ``60000 - valid_size`` examples of the training files train,
the last ``valid_size`` (default 10,000) validate, and the 10,000 ``t10k``
examples test. Inputs are the pixel bytes divided by 255, as float32.

The files are looked up in ``data_dir``, else in the directory named by the
``DEEPINIT_DATA`` environment variable; in either, also in its ``mnist/``
subdirectory. Uncompressed copies (the same names without ``.gz``) work too.
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path

import numpy as np

from ..errors import DeepinitError
from .finite import FiniteDataset, check_seed, file_sha256
from .idx import read_idx

ENV_VAR = "DEEPINIT_DATA"
TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)
IMAGE_SHAPE = (28, 28)
N_CLASSES = 10
DEFAULT_VALID_SIZE = 10_000
_HOW_TO_GIVE = f"pass --data-dir DIR or set {ENV_VAR} to a directory holding {', '.join(FILES)}"


def load_idx_pair(images_path: str | os.PathLike, labels_path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Load an MNIST images file and its labels file.

    Parameters
    ----------
    images_path, labels_path : str or path-like
        IDX files (gzip-compressed or not), e.g. ``t10k-images-idx3-ubyte.gz``
        and ``t10k-labels-idx1-ubyte.gz``.

    Returns
    -------
    X : (n, 784) float32
        Pixels divided by 255, in [0, 1]; images flattened row-major.
    y : (n,) int32
        Digits 0..9.

    Raises
    ------
    DeepinitError
        Unreadable or corrupt files, images that are not (n, 28, 28) uint8,
        labels that are not (n,) uint8 in 0..9, or differing counts.
    """
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise DeepinitError(
            f"{images_path} holds {images.dtype} data of shape {images.shape}, not (n, 28, 28) uint8 "
            "MNIST images; give the MNIST images file"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DeepinitError(
            f"{labels_path} holds {labels.dtype} data of shape {labels.shape}, not (n,) uint8 "
            "MNIST labels; give the MNIST labels file"
        )
    if len(images) != len(labels):
        raise DeepinitError(
            f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels; "
            "give matching images and labels files"
        )
    if len(labels) and labels.max() >= N_CLASSES:
        raise DeepinitError(f"{labels_path} has labels above 9 (max {labels.max()}); give the MNIST labels file")
    X = images.reshape(len(images), -1).astype(np.float32)
    X /= 255  # correctly rounded float32 division: exactly 0 and 1 at the ends
    return X, labels.astype(np.int32)


def _candidates(root: Path) -> list[Path]:
    return [root, root / "mnist"]


def _find(directory: Path, name: str) -> Path | None:
    """``directory/name``, else its uncompressed twin, else None."""
    for candidate in (directory / name, directory / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def find_files(data_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """Locate the four MNIST files.

    Parameters
    ----------
    data_dir : str or path-like, optional
        Directory with the files (or with a ``mnist/`` subdirectory holding
        them). Default: the ``DEEPINIT_DATA`` environment variable.

    Returns
    -------
    dict
        Standard file name -> path found.

    Raises
    ------
    DeepinitError
        No directory given, or some file missing; the message lists them.
    """
    if data_dir is None:
        env = os.environ.get(ENV_VAR, "").strip()
        if not env:
            raise DeepinitError(f"no MNIST data directory given; {_HOW_TO_GIVE}")
        root, source = Path(env).expanduser(), f"{ENV_VAR}={env}"
    else:
        root, source = Path(data_dir).expanduser(), f"--data-dir {data_dir}"
    if not root.is_dir():
        raise DeepinitError(f"MNIST data directory {root} ({source}) does not exist; {_HOW_TO_GIVE}")
    best: tuple[Path, dict[str, Path]] | None = None
    for directory in _candidates(root):
        found = {name: path for name in FILES if (path := _find(directory, name)) is not None}
        if len(found) == len(FILES):
            return found
        if best is None or len(found) > len(best[1]):
            best = (directory, found)
    directory, found = best
    missing = [name for name in FILES if name not in found]
    raise DeepinitError(
        f"MNIST files missing from {directory} (from {source}): {', '.join(missing)}; {_HOW_TO_GIVE}"
    )


def _check_valid_size(valid_size: int, n: int) -> int:
    if isinstance(valid_size, bool) or not isinstance(valid_size, numbers.Integral):
        raise DeepinitError(f"valid-size for mnist must be a whole number of examples, got {valid_size!r}")
    if not 1 <= valid_size < n:
        raise DeepinitError(
            f"valid-size {valid_size} must be between 1 and {n - 1}, leaving at least one of the "
            f"{n} training-file examples to train on; choose a smaller valid-size"
        )
    return int(valid_size)


def make(
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    valid_size: int | None = None,
) -> FiniteDataset:
    """MNIST: 50,000 train / 10,000 validation / 10,000 test (with the default valid_size).

    Parameters
    ----------
    seed : int, default 0
        Seed of the training order (epoch permutations).
    data_dir : str or path-like, optional
        Directory with the four IDX files; default ``$DEEPINIT_DATA``.
    valid_size : int, optional
        Number of examples, taken from the END of the training files, used for
        validation (default 10,000, as in the paper).

    Returns
    -------
    FiniteDataset
        Inputs (n, 784) float32 in [0, 1]; labels int32 0..9.
    """
    seed = check_seed(seed)
    files = find_files(data_dir)
    X, y = load_idx_pair(files[TRAIN_IMAGES], files[TRAIN_LABELS])
    X_test, y_test = load_idx_pair(files[TEST_IMAGES], files[TEST_LABELS])
    valid_size = _check_valid_size(DEFAULT_VALID_SIZE if valid_size is None else valid_size, len(X))
    n_train = len(X) - valid_size
    info = {
        "source": str(files[TRAIN_IMAGES].parent.resolve()),
        "files": {name: {"path": str(path), "sha256": file_sha256(path)} for name, path in files.items()},
        "valid_size": valid_size,
        "splits": f"train = first {n_train} of the training files, valid = last {valid_size}, test = t10k",
        "input_scaling": "uint8 / 255",
    }
    return FiniteDataset(
        "mnist",
        (X[:n_train], y[:n_train]),
        (X[n_train:], y[n_train:]),
        (X_test, y_test),
        class_names=tuple(str(d) for d in range(N_CLASSES)),
        seed=seed,
        image_shape=IMAGE_SHAPE,
        info=info,
    )
