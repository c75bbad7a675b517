"""The dataset interface that training, monitoring and sweeps rely on."""

from __future__ import annotations

import abc
from typing import Any

import numpy as np

SPLITS = ("valid", "test")


class Dataset(abc.ABC):
    """A classification dataset: fixed evaluation splits and a training sequence.

    Inputs are float32 in [0, 1] with shape ``(n, n_inputs)`` (images flattened
    row-major); labels are int32 in ``[0, n_classes)``.

    The training sequence is indexed: training example ``k`` is a pure function
    of the dataset's configuration (seeds included) and ``k``. Finite sets walk
    through epochs, each a fresh permutation; streams generate example ``k`` from
    ``(seed, k)`` and never repeat one. Either way a run can restart at any
    example count and see exactly the data it would have seen.

    Attributes
    ----------
    name : str
        Registry name (or path, for user files).
    n_inputs, n_classes : int
    class_names : tuple of str, length n_classes
    image_shape : tuple of int or None
        ``(height, width)`` when the inputs are images, for previews and figures.
    n_train : int or None
        Training set size; None for an infinite stream.
    """

    name: str
    n_inputs: int
    n_classes: int
    class_names: tuple[str, ...]
    image_shape: tuple[int, int] | None = None
    n_train: int | None = None

    @property
    def is_stream(self) -> bool:
        """True for an infinite stream (online learning: no example is seen twice)."""
        return self.n_train is None

    @abc.abstractmethod
    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The fixed ``"valid"`` or ``"test"`` set as ``(X, y)``: (n, n_inputs) float32, (n,) int32."""

    @abc.abstractmethod
    def fill_train(self, start: int, X_out: np.ndarray, y_out: np.ndarray) -> None:
        """Write training examples ``start .. start + len(X_out) - 1`` into the buffers.

        Parameters
        ----------
        start : int
            Index of the first example in the training sequence (>= 0).
        X_out : (n, n_inputs) float32 or float64, C-contiguous
        y_out : (n,) int32
        """

    @abc.abstractmethod
    def describe(self) -> dict[str, Any]:
        """JSON-serializable description (name, sizes, seeds, source) for run files."""
