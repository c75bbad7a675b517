"""Shapeset-3x2 (Glorot & Bengio 2010, section 2.1): an infinite stream of shape images.

32x32 grey images holding one or two objects, each a triangle, a parallelogram
or an ellipse; the label is the unordered set of shapes present (9 classes,
drawn uniformly). The renderer is the compiled kernel
``deepinit._kernels._shapeset``; this module validates, allocates and defines
the streams. Every distribution is documented in docs/shapeset.md.

Streams
-------
Example ``k`` of a stream is a pure function of ``(seed, stream, k)``:

========== ============ ======= ==============================================
split      seed         stream  indices
========== ============ ======= ==============================================
training   user's seed  0       0, 1, 2, ... (never repeats)
validation 0 (fixed)    1       0 .. valid_size - 1
test       0 (fixed)    2       0 .. test_size - 1
========== ============ ======= ==============================================

Validation and test therefore do not depend on the data seed (every run is
scored on the same sets), and no training stream can produce them: the stream
id is hashed into every example's random key.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ..errors import DeepinitError
from .base import SPLITS, Dataset

STREAM_TRAIN = 0
STREAM_VALID = 1
STREAM_TEST = 2
EVAL_SEED = 0
DEFAULT_VALID_SIZE = 10_000
DEFAULT_TEST_SIZE = 10_000
_SPLIT_STREAMS = {"valid": STREAM_VALID, "test": STREAM_TEST}
_U64 = 2**64


def _kernel():
    from .._kernels import _shapeset

    return _shapeset


def _class_names() -> tuple[str, ...]:
    return tuple("+".join(shapes) for shapes in _kernel().CLASS_SHAPES)


def _check_u64(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value < _U64:
        raise DeepinitError(f"{name} must be an integer in [0, 2**64), got {value!r}")
    return int(value)


def _check_size(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise DeepinitError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _threads(n_threads: int | None) -> int:
    from .._kernels._openmp_helpers import effective_n_threads

    return effective_n_threads(n_threads)


def generate(
    n: int,
    seed: int = 0,
    stream: int = STREAM_TRAIN,
    start: int = 0,
    n_threads: int | None = None,
    dtype: Any = np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """Render examples ``start .. start + n - 1`` of stream ``(seed, stream)``.

    Parameters
    ----------
    n : int
        Number of examples (>= 0).
    seed, stream : int in [0, 2**64)
        Select the stream; the training stream of a dataset with data seed
        ``s`` is ``(s, STREAM_TRAIN)``.
    start : int
        Index of the first example (>= 0).
    n_threads : int or None
        OpenMP threads, as in ``effective_n_threads``. The result does not
        depend on it.
    dtype : float32 or float64

    Returns
    -------
    X : (n, 1024) ndarray of dtype, values in [0, 1]
        Images, row-major 32x32.
    y : (n,) int32
        Labels in [0, 9); names in ``ShapesetDataset.class_names``.
    """
    X, y, _ = _generate(n, seed, stream, start, n_threads, dtype, with_meta=False)
    return X, y


def generate_with_metadata(
    n: int,
    seed: int = 0,
    stream: int = STREAM_TRAIN,
    start: int = 0,
    n_threads: int | None = None,
    dtype: Any = np.float32,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Like `generate`, and also what the renderer drew and measured (for tests).

    Returns
    -------
    X : (n, 1024) ndarray of dtype
    y : (n,) int32
    meta : dict of str to (n,) float64
        One array per name in ``deepinit._kernels._shapeset.META_FIELDS``:
        ``label``, ``n_objects``, ``overlap`` (fraction of object 1's
        sub-sample coverage that object 2 covers), ``background``, ``attempts``,
        and per object ``j`` in 1, 2: ``kindj`` (0 triangle, 1 parallelogram,
        2 ellipse, -1 absent), ``greyj``, ``areaj`` (analytic, px^2), ``massj``
        (rasterized coverage, px^2, before occlusion), ``xminj``, ``yminj``,
        ``xmaxj``, ``ymaxj`` (bounding box, pixels) and ``geomj_0`` ..
        ``geomj_7`` (a polygon's vertices x0, y0, x1, y1, ..., NaN after a
        triangle's third; an ellipse's centre and semi-axis vectors
        cx, cy, a1x, a1y, a2x, a2y). NaN for an absent object.
    """
    X, y, meta = _generate(n, seed, stream, start, n_threads, dtype, with_meta=True)
    fields = _kernel().META_FIELDS
    return X, y, {name: meta[:, j] for j, name in enumerate(fields)}


def _generate(n, seed, stream, start, n_threads, dtype, with_meta):
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise DeepinitError(f"n must be a non-negative integer, got {n!r}")
    seed = _check_u64("seed", seed)
    stream = _check_u64("stream", stream)
    start = _check_u64("start", start)
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise DeepinitError(f"dtype must be float32 or float64, got {dtype}")
    kernel = _kernel()
    X = np.empty((n, kernel.IMAGE_SIZE**2), dtype=dtype)
    y = np.empty(n, dtype=np.int32)
    meta = np.empty((n, len(kernel.META_FIELDS))) if with_meta else None
    kernel.render(seed, stream, start, X, y, meta, _threads(n_threads))
    return X, y, meta


class ShapesetDataset(Dataset):
    """Shapeset-3x2: an infinite training stream and fixed validation/test sets.

    Parameters
    ----------
    seed : int in [0, 2**64)
        Data seed: selects the training stream. The evaluation sets do not
        depend on it.
    valid_size, test_size : int
        Sizes of the fixed validation and test sets.

    Attributes
    ----------
    n_threads : int or None
        Threads used to render (None: all OpenMP would use). The trainer may
        set it; the data do not depend on it.
    """

    name = "shapeset"
    n_inputs = 1024
    n_classes = 9
    image_shape = (32, 32)
    n_train = None

    def __init__(self, seed: int = 0, valid_size: int = DEFAULT_VALID_SIZE,
                 test_size: int = DEFAULT_TEST_SIZE) -> None:
        self.seed = _check_u64("seed", seed)
        self.valid_size = _check_size("valid_size", valid_size)
        self.test_size = _check_size("test_size", test_size)
        self.class_names = _class_names()
        self.n_threads: int | None = None
        self._splits: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The fixed ``"valid"`` or ``"test"`` set: (n, 1024) float32, (n,) int32.

        Rendered on first use and cached; the arrays are read-only.
        """
        if name not in _SPLIT_STREAMS:
            raise DeepinitError(f"unknown split {name!r}; use one of {', '.join(SPLITS)}")
        if name not in self._splits:
            size = self.valid_size if name == "valid" else self.test_size
            X, y = generate(size, seed=EVAL_SEED, stream=_SPLIT_STREAMS[name], n_threads=self.n_threads)
            X.flags.writeable = False
            y.flags.writeable = False
            self._splits[name] = (X, y)
        return self._splits[name]

    def fill_train(self, start: int, X_out: np.ndarray, y_out: np.ndarray) -> None:
        """Render training examples ``start .. start + len(X_out) - 1`` into the buffers.

        Parameters
        ----------
        start : int
            Index of the first example of the training stream (>= 0).
        X_out : (n, 1024) float32 or float64, C-contiguous, writeable
        y_out : (n,) int32, writeable
        """
        start = _check_u64("start", start)
        if not isinstance(X_out, np.ndarray) or X_out.dtype not in (np.float32, np.float64):
            raise ValueError("X_out must be a float32 or float64 ndarray")
        if X_out.ndim != 2 or X_out.shape[1] != self.n_inputs or not X_out.flags.c_contiguous:
            raise ValueError(f"X_out must be C-contiguous with shape (n, {self.n_inputs}), got {X_out.shape}")
        if not isinstance(y_out, np.ndarray) or y_out.dtype != np.int32 or y_out.shape != (X_out.shape[0],):
            raise ValueError(f"y_out must be an int32 ndarray of shape ({X_out.shape[0]},)")
        _kernel().render(self.seed, STREAM_TRAIN, start, X_out, y_out, None, _threads(self.n_threads))

    def describe(self) -> dict[str, Any]:
        """Name, seeds, split sizes, stream ids, generator version and parameters (JSON-able)."""
        kernel = _kernel()
        return {
            "name": self.name,
            "seed": self.seed,
            "valid_size": self.valid_size,
            "test_size": self.test_size,
            "generator": kernel.GENERATOR_VERSION,
            "streams": {"train": STREAM_TRAIN, "valid": STREAM_VALID, "test": STREAM_TEST},
            "eval_seed": EVAL_SEED,
            "class_names": list(self.class_names),
            "params": dict(kernel.PARAMS),
        }

    def __repr__(self) -> str:
        return (f"ShapesetDataset(seed={self.seed}, valid_size={self.valid_size}, "
                f"test_size={self.test_size})")


def make(seed: int = 0, valid_size: int | None = None, test_size: int | None = None) -> ShapesetDataset:
    """Registry factory: ``get_dataset("shapeset", seed=..., valid_size=..., test_size=...)``.

    Parameters
    ----------
    seed : int
        Data seed of the training stream.
    valid_size, test_size : int or None
        Sizes of the fixed evaluation sets; None for 10,000 each.
    """
    return ShapesetDataset(
        seed=seed,
        valid_size=DEFAULT_VALID_SIZE if valid_size is None else valid_size,
        test_size=DEFAULT_TEST_SIZE if test_size is None else test_size,
    )


__all__ = [
    "DEFAULT_TEST_SIZE", "DEFAULT_VALID_SIZE", "EVAL_SEED", "STREAM_TEST", "STREAM_TRAIN",
    "STREAM_VALID", "ShapesetDataset", "generate", "generate_with_metadata", "make",
]
