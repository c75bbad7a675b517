"""A dense feedforward classifier over one flat parameter buffer.

:class:`Network` is the thin Python layer over the kernels of
``deepinit._kernels._dense``: it validates its inputs once, allocates every
work buffer once per batch size, and hands raw buffers to the kernels. The
layout of ``params`` (and of the per-layer activation buffers) is documented in
that module and in ``docs/network.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._kernels import dense as _dense
from ._kernels._openmp_helpers import effective_n_threads
from .choices import ACTIVATIONS, COSTS, DTYPES, INIT_SCHEMES
from .errors import DeepinitError
from .initializers import init_weights, target_variance

MAX_LAYERS = 64  # the kernels keep per-layer offsets in a fixed-size array


def _aligned_zeros(n: int, dtype: np.dtype, align: int = 64) -> np.ndarray:
    """A (n,) array of zeros whose data starts on an ``align``-byte boundary.

    numpy's large arrays start 16 bytes past a page boundary. Aligned to 64 bytes,
    the 1000-float rows of the paper's weight matrices (and of the activation and
    delta buffers) start on 32-byte boundaries, so that no 32-byte vector load of
    a row straddles two cache lines (half of them did).
    """
    itemsize = np.dtype(dtype).itemsize
    buf = np.zeros(n + align // itemsize, dtype)
    start = (-buf.ctypes.data % align) // itemsize
    return buf[start : start + n]


@dataclass(frozen=True)
class LayerInit:
    """What an initialization produced for one layer (reported and stored in run files)."""

    layer: int
    fan_in: int
    fan_out: int
    target_std: float
    realized_std: float


class Network:
    """Dense feedforward classifier: ``n_inputs -> hidden... -> n_outputs``.

    Parameters
    ----------
    sizes : sequence of int
        Layer sizes, inputs first and outputs last, e.g. ``(1024, 1000, 1000, 9)``.
    activation : str or sequence of str
        Hidden-layer activation, one for all or one per hidden layer; see
        :data:`ACTIVATIONS`.
    cost : str
        Output layer and cost: ``"softmax-nll"`` (softmax, negative
        log-likelihood), ``"sigmoid-squared"`` or ``"linear-squared"`` (sigmoid
        or linear outputs, half the summed squared error against the one-hot target).
    dtype : {"float32", "float64"}
    n_threads : int or None
        OpenMP threads (None: ``OMP_NUM_THREADS`` or every CPU).

    Attributes
    ----------
    params : ndarray of shape (n_params,)
        Every weight and bias, layer after layer: ``W_0, b_0, W_1, b_1, ...``.
    weights : list of ndarray
        ``weights[l]`` is a view of ``params`` with shape ``(sizes[l], sizes[l+1])``:
        row i holds the outgoing weights of unit i of layer l (fan_in = shape[0]).
    biases : list of ndarray
        ``biases[l]`` is a view of ``params`` with shape ``(sizes[l+1],)``.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str | Sequence[str] = "tanh",
        cost: str = "softmax-nll",
        dtype: str = "float32",
        n_threads: int | None = None,
    ) -> None:
        sizes = tuple(int(n) for n in sizes)
        if len(sizes) < 2:
            raise DeepinitError("a network needs at least an input and an output size")
        if len(sizes) - 1 > MAX_LAYERS:
            raise DeepinitError(f"at most {MAX_LAYERS} layers are supported, got {len(sizes) - 1}")
        if min(sizes) < 1:
            raise DeepinitError(f"every layer needs at least one unit, got sizes {list(sizes)}")
        if cost not in COSTS:
            raise DeepinitError(f"unknown cost {cost!r}; use one of {', '.join(COSTS)}")
        if sizes[-1] < 2:
            raise DeepinitError("a classifier needs at least 2 outputs (classes)")
        n_hidden = len(sizes) - 2
        acts = [activation] * n_hidden if isinstance(activation, str) else list(activation)
        if len(acts) != n_hidden:
            raise DeepinitError(f"{len(acts)} activations given for {n_hidden} hidden layers")
        for a in acts:
            if a not in ACTIVATIONS:
                raise DeepinitError(f"unknown activation {a!r}; use one of {', '.join(ACTIVATIONS)}")
        if dtype not in DTYPES:
            raise DeepinitError(f"unknown dtype {dtype!r}; use float32 or float64")

        self.sizes = sizes
        self.activations = tuple(acts)
        self.cost = cost
        self.dtype = np.dtype(dtype)
        self.n_threads = effective_n_threads(n_threads)
        self._sizes = np.asarray(sizes, dtype=np.intp)
        self._acts = np.asarray([_dense.ACTIVATIONS[a] for a in acts], dtype=np.intc)
        self._cost = _dense.COSTS[cost]

        self.params = _aligned_zeros(sum((i + 1) * o for i, o in zip(sizes, sizes[1:])), self.dtype)
        self.weights, self.biases = [], []
        offset = 0
        for n_in, n_out in zip(sizes, sizes[1:]):
            self.weights.append(self.params[offset : offset + n_in * n_out].reshape(n_in, n_out))
            offset += n_in * n_out
            self.biases.append(self.params[offset : offset + n_out])
            offset += n_out
        self._work: dict[tuple[str, int], tuple[np.ndarray, ...]] = {}

    # ------------------------------------------------------------------ #
    @property
    def n_layers(self) -> int:
        """Number of weight layers (hidden layers + the output layer)."""
        return len(self.sizes) - 1

    @property
    def n_inputs(self) -> int:
        return self.sizes[0]

    @property
    def n_classes(self) -> int:
        return self.sizes[-1]

    def initialize(self, scheme: str, seed: int, scale: float = 1.0) -> list[LayerInit]:
        """Draw every weight from ``scheme`` (biases 0) with ``numpy.random.default_rng(seed)``.

        Layers are drawn in order from one generator, in float64, then cast to the
        network's dtype. Returns the target and realized weight std per layer.
        """
        if scheme not in INIT_SCHEMES:
            raise DeepinitError(f"unknown init scheme {scheme!r}; use one of {', '.join(INIT_SCHEMES)}")
        if not scale > 0:
            raise DeepinitError(f"init scale must be positive, got {scale}")
        rng = np.random.default_rng(seed)
        report = []
        for layer, (W, b) in enumerate(zip(self.weights, self.biases)):
            fan_in, fan_out = W.shape
            W[...] = init_weights(scheme, fan_in, fan_out, rng, scale)
            b[...] = 0
            report.append(
                LayerInit(
                    layer=layer + 1,
                    fan_in=fan_in,
                    fan_out=fan_out,
                    target_std=float(np.sqrt(target_variance(scheme, fan_in, fan_out, scale))),
                    realized_std=float(W.std(dtype=np.float64)),
                )
            )
        return report

    # ------------------------------------------------------------------ #
    # Buffers: allocated once per (purpose, batch size) and reused.
    def _buffers(self, purpose: str, batch: int) -> tuple[np.ndarray, ...]:
        # The work buffer's size depends on the thread count (see work_size).
        key = (purpose, batch, self.n_threads)
        if key not in self._work:
            n_act = batch * sum(self.sizes[1:])
            # Aligned like params: rows of activations and deltas are vector-loaded too.
            acts = _aligned_zeros(n_act, self.dtype)
            work = _aligned_zeros(_dense.work_size(self._sizes, batch, self.n_threads), self.dtype)
            if purpose == "train":
                bufs = (acts, _aligned_zeros(n_act, self.dtype), work)
            else:
                bufs = (acts, work)
            self._work[key] = bufs
        return self._work[key]

    def _check_X(self, X: np.ndarray) -> np.ndarray:
        if X.ndim != 2 or X.shape[1] != self.n_inputs:
            raise DeepinitError(f"inputs must have shape (n, {self.n_inputs}), got {X.shape}")
        if X.dtype != self.dtype or not X.flags.c_contiguous:
            X = np.ascontiguousarray(X, dtype=self.dtype)
        return X

    def _check_y(self, y: np.ndarray, n: int) -> np.ndarray:
        y = np.ascontiguousarray(y, dtype=np.int32)
        if y.shape != (n,):
            raise DeepinitError(f"labels must have shape ({n},), got {y.shape}")
        if n and (y.min() < 0 or y.max() >= self.n_classes):
            raise DeepinitError(f"labels must lie in [0, {self.n_classes}), got [{y.min()}, {y.max()}]")
        return y

    def split_layers(self, flat: np.ndarray, batch: int) -> list[np.ndarray]:
        """Views of an activation-layout buffer: one ``(batch, sizes[l])`` array per layer l >= 1."""
        out, offset = [], 0
        for n in self.sizes[1:]:
            out.append(flat[offset : offset + batch * n].reshape(batch, n))
            offset += batch * n
        return out

    # ------------------------------------------------------------------ #
    def forward(self, X: np.ndarray, pre_activations: bool = False):
        """Forward pass of one batch.

        Parameters
        ----------
        X : (B, n_inputs) array
        pre_activations : bool
            Also return each layer's pre-activations s.

        Returns
        -------
        activations : list of (B, sizes[l]) arrays, l = 1..L (the last: outputs,
            e.g. softmax probabilities). Freshly allocated.
        pre : list of (B, sizes[l]) arrays, only if ``pre_activations``.
        """
        X = self._check_X(X)
        B = X.shape[0]
        a = np.empty(B * sum(self.sizes[1:]), self.dtype)
        s = np.empty(B * sum(self.sizes[1:]) if pre_activations else 0, self.dtype)
        work = _aligned_zeros(_dense.work_size(self._sizes, B, self.n_threads), self.dtype)
        _dense.forward(self.params, self._sizes, self._acts, self._cost, X, a, s, work, self.n_threads)
        acts = self.split_layers(a, B)
        return (acts, self.split_layers(s, B)) if pre_activations else acts

    def gradient(self, X: np.ndarray, y: np.ndarray):
        """Gradient of the mean cost over the batch ``(X, y)``; parameters unchanged.

        Returns
        -------
        cost : float
            Mean cost over the batch.
        grad : (n_params,) array
            dC/dparams in the layout of :attr:`params`.
        deltas : list of (B, sizes[l]) arrays, l = 1..L
            The back-propagated gradients dC/ds of each layer's pre-activations.
        activations : list of (B, sizes[l]) arrays, l = 1..L
        """
        X = self._check_X(X)
        y = self._check_y(y, X.shape[0])
        B = X.shape[0]
        grad = np.empty_like(self.params)
        a = np.empty(B * sum(self.sizes[1:]), self.dtype)
        d = np.empty_like(a)
        work = _aligned_zeros(_dense.work_size(self._sizes, B, self.n_threads), self.dtype)
        cost, _ = _dense.gradient(
            self.params, self._sizes, self._acts, self._cost, X, y, grad, a, d, work, self.n_threads
        )
        return cost, grad, self.split_layers(d, B), self.split_layers(a, B)

    def train_steps(self, X: np.ndarray, y: np.ndarray, batch_size: int, lr: float):
        """SGD on consecutive minibatches of ``(X, y)``, in one kernel call.

        Parameters
        ----------
        X : (n_steps * batch_size, n_inputs) array
        y : (n_steps * batch_size,) int array
        batch_size : int
        lr : float
            Learning rate of the update ``theta -= lr * dC/dtheta`` (C: mean cost
            of the minibatch).

        Returns
        -------
        costs : (n_steps,) float64 — summed cost of each minibatch, before its update.
        errors : (n_steps,) int32 — misclassified examples of each minibatch, before its update.
        """
        X = self._check_X(X)
        n = X.shape[0]
        if batch_size < 1 or n % batch_size:
            raise DeepinitError(f"{n} examples do not split into minibatches of {batch_size}")
        y = self._check_y(y, n)
        n_steps = n // batch_size
        costs = np.empty(n_steps, np.float64)
        errors = np.empty(n_steps, np.int32)
        a, d, work = self._buffers("train", batch_size)
        _dense.train_steps(
            self.params, self._sizes, self._acts, self._cost, X, y, batch_size, float(lr),
            a, d, work, costs, errors, self.n_threads,
        )
        return costs, errors

    def evaluate(self, X: np.ndarray, y: np.ndarray, batch_size: int = 256) -> tuple[float, float]:
        """Mean cost and error rate over a whole set, computed in batches.

        Returns
        -------
        (mean_cost, error_rate) : (float, float)
        """
        X = self._check_X(X)
        y = self._check_y(y, X.shape[0])
        if X.shape[0] == 0:
            raise DeepinitError("cannot evaluate on an empty set")
        a, work = self._buffers("eval", batch_size)
        total, n_err = _dense.evaluate(
            self.params, self._sizes, self._acts, self._cost, X, y, batch_size, a, work, self.n_threads
        )
        return total / X.shape[0], n_err / X.shape[0]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Network outputs (softmax probabilities for ``softmax-nll``), shape (B, n_classes)."""
        return self.forward(X)[-1]
