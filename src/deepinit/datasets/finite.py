"""Finite, in-memory datasets (MNIST, user array files) walked through in epochs.

The training sequence of a finite dataset is a sequence of epochs. Training
example ``k`` lies in epoch ``e = k // n_train`` at position ``p = k % n_train``
and is the training example with index ``perm_e[p]``, where::

    perm_e = np.random.default_rng([seed, e]).permutation(n_train)

Each epoch therefore visits every training example exactly once, in an order
that depends only on ``(seed, e)``: a run restarted at any example count sees
exactly the data it would have seen, and no state other than ``seed`` is needed.
"""

from __future__ import annotations

import hashlib
import numbers
import os
from typing import Any

import numpy as np

from ..errors import DeepinitError
from .base import SPLITS, Dataset


def check_seed(seed: Any) -> int:
    """Return ``seed`` as a Python int, or raise DeepinitError if it is not a non-negative integer."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise DeepinitError(f"seed must be a non-negative integer, got {seed!r}; pass e.g. --seed 0")
    return int(seed)


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, recorded in ``describe()`` so a run names its exact data."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _as_split(
    name: str, X: np.ndarray, y: np.ndarray, n_inputs: int | None, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Validate one split; return read-only C-contiguous float32 / int32 views of it.

    Read-only because ``split()`` hands out the stored arrays themselves (no
    copy per evaluation); a caller that modified them would corrupt later runs.
    Views, so that the caller's own arrays keep their flags.
    """
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
        raise DeepinitError(
            f"{name} split has inputs of shape {X.shape} and labels of shape {y.shape}; "
            "give (n, n_inputs) inputs and (n,) labels"
        )
    if len(X) == 0:
        raise DeepinitError(f"{name} split is empty; give at least one example")
    if n_inputs is not None and X.shape[1] != n_inputs:
        raise DeepinitError(
            f"{name} split has {X.shape[1]} inputs per example, the training split {n_inputs}; make them agree"
        )
    if y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= n_classes:
        raise DeepinitError(
            f"{name} labels must be integers in [0, {n_classes}) for {n_classes} classes; "
            "fix the labels or the class names"
        )
    X = np.ascontiguousarray(X, dtype=np.float32).view()
    y = np.ascontiguousarray(y, dtype=np.int32).view()
    # Also rejects NaN: every comparison with NaN is False.
    if not (X.min() >= 0.0 and X.max() <= 1.0):
        raise DeepinitError(f"{name} split has inputs outside [0, 1]; scale the inputs into [0, 1]")
    X.flags.writeable = False
    y.flags.writeable = False
    return X, y


class FiniteDataset(Dataset):
    """A dataset held in memory: a training set walked in epochs, fixed valid/test sets.

    Parameters
    ----------
    name : str
        Registry name, or the path of the user's file.
    train, valid, test : tuple of (X, y)
        ``X`` is (n, n_inputs) with values in [0, 1] (stored as float32), ``y``
        is (n,) integer labels in ``[0, len(class_names))`` (stored as int32).
    class_names : sequence of str
        One name per class; its length is ``n_classes``.
    seed : int, default 0
        Seed of the training order (the epoch permutations); it never changes
        which examples are in which split.
    image_shape : (int, int) or None
        ``(height, width)`` with ``height * width == n_inputs`` for image data.
    info : dict or None
        Extra JSON-able facts about the source (files, scaling), merged into
        ``describe()``.

    Notes
    -----
    Training example ``k`` is ``train[perm_e[k % n_train]]`` with
    ``e = k // n_train`` and
    ``perm_e = np.random.default_rng([seed, e]).permutation(n_train)``.
    """

    def __init__(
        self,
        name: str,
        train: tuple[np.ndarray, np.ndarray],
        valid: tuple[np.ndarray, np.ndarray],
        test: tuple[np.ndarray, np.ndarray],
        *,
        class_names: tuple[str, ...] | list[str],
        seed: int = 0,
        image_shape: tuple[int, int] | None = None,
        info: dict[str, Any] | None = None,
    ) -> None:
        self.name = str(name)
        self.seed = check_seed(seed)
        self.class_names = tuple(str(c) for c in class_names)
        self.n_classes = len(self.class_names)
        self._X_train, self._y_train = _as_split("training", *train, None, self.n_classes)
        self.n_inputs = int(self._X_train.shape[1])
        self._splits = {
            "valid": _as_split("validation", *valid, self.n_inputs, self.n_classes),
            "test": _as_split("test", *test, self.n_inputs, self.n_classes),
        }
        if image_shape is not None:
            image_shape = (int(image_shape[0]), int(image_shape[1]))
            if image_shape[0] * image_shape[1] != self.n_inputs:
                raise DeepinitError(
                    f"image shape {image_shape} does not match {self.n_inputs} inputs per example; "
                    "give a (height, width) with height * width equal to the number of inputs"
                )
        self.image_shape = image_shape
        self.n_train = int(len(self._X_train))
        self._info = dict(info or {})
        # (epoch, permutation) of the epoch last used: fill_train is called with
        # consecutive ranges, so one cached epoch makes every call but the one
        # per epoch boundary free of permutation work.
        self._perm_cache: tuple[int, np.ndarray] | None = None

    # -- evaluation splits ----------------------------------------------------

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The fixed ``"valid"`` or ``"test"`` split.

        Returns
        -------
        X : (n, n_inputs) float32, read-only
        y : (n,) int32, read-only
        """
        if name not in self._splits:
            raise DeepinitError(f"unknown split {name!r}; use one of {', '.join(SPLITS)}")
        return self._splits[name]

    def train_set(self) -> tuple[np.ndarray, np.ndarray]:
        """The training split in storage order (not epoch order), e.g. for training error.

        Returns
        -------
        X : (n_train, n_inputs) float32, read-only
        y : (n_train,) int32, read-only
        """
        return self._X_train, self._y_train

    # -- training sequence ----------------------------------------------------

    def epoch_permutation(self, epoch: int) -> np.ndarray:
        """Training order of epoch ``epoch``: ``default_rng([seed, epoch]).permutation(n_train)``.

        Returns
        -------
        (n_train,) int64, read-only
        """
        cached = self._perm_cache
        if cached is not None and cached[0] == epoch:
            return cached[1]
        perm = np.random.default_rng([self.seed, epoch]).permutation(self.n_train)
        perm.flags.writeable = False
        self._perm_cache = (epoch, perm)  # one assignment: never a half-updated cache
        return perm

    def fill_train(self, start: int, X_out: np.ndarray, y_out: np.ndarray) -> None:
        """Write training examples ``start .. start + len(X_out) - 1`` into the buffers.

        The range may span any number of epoch boundaries.

        Parameters
        ----------
        start : int
            Index of the first example in the training sequence (>= 0).
        X_out : (n, n_inputs) float32 or float64
        y_out : (n,) int32
        """
        n = self._check_buffers(start, X_out, y_out)
        pos = 0
        while pos < n:
            epoch, offset = divmod(int(start) + pos, self.n_train)
            m = min(n - pos, self.n_train - offset)
            idx = self.epoch_permutation(epoch)[offset : offset + m]
            # mode="clip" lets take write straight into `out`; mode="raise"
            # would go through a temporary (indices are in range by construction).
            if X_out.dtype == np.float32:
                np.take(self._X_train, idx, axis=0, out=X_out[pos : pos + m], mode="clip")
            else:  # float64: take cannot cast, so gather then convert on assignment
                X_out[pos : pos + m] = self._X_train[idx]
            np.take(self._y_train, idx, out=y_out[pos : pos + m], mode="clip")
            pos += m

    def _check_buffers(self, start: int, X_out: np.ndarray, y_out: np.ndarray) -> int:
        """Check the caller's buffers (programming errors, hence ValueError); return n."""
        if isinstance(start, bool) or not isinstance(start, numbers.Integral) or start < 0:
            raise ValueError(f"start must be a non-negative integer, got {start!r}")
        if X_out.ndim != 2 or X_out.shape[1] != self.n_inputs or X_out.dtype not in (np.float32, np.float64):
            raise ValueError(
                f"X_out must be (n, {self.n_inputs}) float32 or float64, got {X_out.shape} {X_out.dtype}"
            )
        if y_out.shape != (len(X_out),) or y_out.dtype != np.int32:
            raise ValueError(f"y_out must be ({len(X_out)},) int32, got {y_out.shape} {y_out.dtype}")
        return len(X_out)

    # -- provenance -----------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """JSON-serializable description: name, sizes, seed, training order rule, source facts."""
        desc: dict[str, Any] = {
            "name": self.name,
            "kind": "finite",
            "n_train": self.n_train,
            "n_valid": int(len(self._splits["valid"][1])),
            "n_test": int(len(self._splits["test"][1])),
            "n_inputs": self.n_inputs,
            "n_classes": self.n_classes,
            "class_names": list(self.class_names),
            "image_shape": list(self.image_shape) if self.image_shape else None,
            "seed": self.seed,
            "train_order": "epochs; epoch e = numpy.random.default_rng([seed, e]).permutation(n_train)",
        }
        desc.update(self._info)
        return desc

    def __repr__(self) -> str:
        sizes = f"{self.n_train}/{len(self._splits['valid'][1])}/{len(self._splits['test'][1])}"
        return f"FiniteDataset({self.name!r}, train/valid/test={sizes}, seed={self.seed})"
