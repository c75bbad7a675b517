"""Per-layer monitoring during training: what Glorot & Bengio (2010) plot in Figs. 2-4, 6-10.

At initialization and then at a fixed cadence, :class:`Monitor` runs the network
on a fixed *probe set* (by default the first 300 test examples, as in the paper)
and records, for every hidden layer, statistics of the activations, the
pre-activations and the back-propagated gradients dC/ds; for every weight layer,
statistics of the weights and of the weight gradients dC/dW; the singular values
of the layer Jacobians; and, at initialization, the variances that the paper's
linear-regime analysis (its eqs. 5-7) predicts. Everything is documented in
``docs/monitoring.md``; the run-file layout in ``docs/run-file.md``.

The heavy lifting (moments, histograms, percentiles, saturation) is done by the
compiled kernels of ``deepinit._kernels._stats``; the Jacobian spectra by LAPACK
through numpy. Nothing here modifies the network: ``Network.gradient`` leaves the parameters
untouched, so a monitored run trains bitwise identically to an unmonitored one.

Layers are numbered from 1 as in the paper and the run file: hidden layers
``1..H`` (``H = L - 1``), weight layers ``1..L`` (``W_l`` maps layer ``l-1`` to
``l``; ``W_L`` feeds the output layer).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._blas_threads import serial_blas
from ._kernels import _stats, dense
from .config import TrainConfig
from .errors import DeepinitError

#: Percentiles of the activations recorded at every point (the paper plots the 98th).
PERCENTILES = (2.0, 10.0, 25.0, 50.0, 75.0, 90.0, 98.0)
#: Unbounded quantities get histogram edges +-R, R = 2**ceil(log2(EDGE_RMS * rms at init)).
EDGE_RMS = 8.0
#: Jacobian singular values get edges [0, R], R = 2**ceil(log2(EDGE_SV * max at init)).
EDGE_SV = 2.0
#: f'(0)**2 of each activation: the gain of the linear regime (see docs/monitoring.md).
SLOPE_SQ_AT_0 = {
    "tanh": 1.0, "softsign": 1.0, "hardtanh": 1.0, "linear": 1.0,
    "sigmoid": 1.0 / 16.0,   # f'(0) = 1/4
    "relu": 0.5,             # no linear regime at 0; half the units pass (He et al. 2015)
}
#: Activation ranges: bounded activations get these fixed histogram edges.
BOUNDED_RANGE = {"tanh": (-1.0, 1.0), "softsign": (-1.0, 1.0), "hardtanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0)}

UNIT_QUANTITIES = ("activation", "preactivation", "backprop_grad")   # one column per hidden layer
WEIGHT_QUANTITIES = ("weight", "weight_grad")                        # one column per weight layer


@dataclass(frozen=True)
class MonitorConfig:
    """What to record and when (the ``monitor_*`` fields of ``TrainConfig``).

    Parameters
    ----------
    every : int
        A monitoring point every this many updates (plus update 0 and the last update).
    log_points : int
        Up to this many extra points log-spaced in ``[1, every)``, to catch the
        early dynamics (0: none).
    probe_size : int
        Examples of the probe set: the first ``probe_size`` of the test split.
    bins : int
        Histogram bins per quantity and layer (plus an underflow and an overflow count).
    saturation : float
        Saturation threshold t: ``|a| >= t`` for tanh, softsign and hardtanh,
        ``a <= 1 - t`` or ``a >= t`` for the sigmoid. ReLU units count as
        saturated (dead) when they are 0 on the whole probe set.
    jacobian_examples : int
        Probe examples whose layer Jacobians are decomposed (0: no Jacobians).
    jacobian_every : int
        Decompose the Jacobians at update 0, at the last point, and at the first
        point at or after every multiple of this many updates.
    """

    # Defaults live in one place: TrainConfig (what `deepinit train` offers).
    every: int = TrainConfig.monitor_every
    log_points: int = TrainConfig.monitor_log_points
    probe_size: int = TrainConfig.probe_size
    bins: int = TrainConfig.monitor_bins
    saturation: float = TrainConfig.saturation_threshold
    jacobian_examples: int = TrainConfig.jacobian_examples
    jacobian_every: int = TrainConfig.jacobian_every

    @classmethod
    def from_train_config(cls, config) -> "MonitorConfig":
        return cls(
            every=config.monitor_every,
            log_points=config.monitor_log_points,
            probe_size=config.probe_size,
            bins=config.monitor_bins,
            saturation=config.saturation_threshold,
            jacobian_examples=config.jacobian_examples,
            jacobian_every=config.jacobian_every,
        )

    def validate(self) -> None:
        """Raise DeepinitError (naming the command-line option) for impossible values."""
        if self.every < 1:
            raise DeepinitError(f"--monitor-every must be >= 1, got {self.every}")
        if self.log_points < 0:
            raise DeepinitError(f"--monitor-log-points must be >= 0, got {self.log_points}")
        if self.probe_size < 1:
            raise DeepinitError(f"--probe-size must be >= 1, got {self.probe_size}")
        if not 2 <= self.bins <= 10_000:
            raise DeepinitError(f"--monitor-bins must be in [2, 10000], got {self.bins}")
        if not 0.5 < self.saturation <= 1.0:
            raise DeepinitError(f"--saturation-threshold must be in (0.5, 1], got {self.saturation}")
        if self.jacobian_examples < 0:
            raise DeepinitError(f"--jacobian-examples must be >= 0, got {self.jacobian_examples}")
        if self.jacobian_every < 1:
            raise DeepinitError(f"--jacobian-every must be >= 1, got {self.jacobian_every}")


def schedule(total_updates: int, every: int, log_points: int) -> np.ndarray:
    """The planned monitoring points, in updates: sorted, unique, within [0, total].

    Update 0, up to ``log_points`` points log-spaced in [1, every) (rounded, so
    fewer when they collide), every multiple of ``every``, and ``total_updates``.

    Returns
    -------
    (n_points,) int64
    """
    pts = [0, total_updates]
    if log_points > 0 and every > 1:
        pts += np.rint(np.logspace(0.0, math.log10(every), log_points + 1)[:-1]).astype(np.int64).tolist()
    pts += range(every, total_updates + 1, every)
    return np.unique(np.asarray([p for p in pts if 0 <= p <= total_updates], dtype=np.int64))


def pow2_ceil(x: float) -> float:
    """The smallest power of two >= x (1.0 for x not finite or <= 0): the grid of the edges."""
    if not (math.isfinite(x) and x > 0):
        return 1.0
    return float(2.0 ** math.ceil(math.log2(x)))


def derivative_from_output(act: str, a: np.ndarray) -> np.ndarray:
    """f'(s) written in terms of a = f(s), as the kernels compute it (float64)."""
    a = a.astype(np.float64)
    if act == "tanh":
        return 1.0 - a * a
    if act == "sigmoid":
        return a * (1.0 - a)
    if act == "softsign":
        return (1.0 - np.abs(a)) ** 2
    if act == "relu":
        return (a > 0).astype(np.float64)
    if act == "hardtanh":
        return ((a > -1) & (a < 1)).astype(np.float64)
    return np.ones_like(a)


def weight_gram(W: np.ndarray) -> np.ndarray | None:
    """``W^T W`` in float64 where :func:`jacobian_singular_values` uses it (n_out <= n_in), else None.

    The same for every example of a layer: computed once per layer, it spares
    each further example a (n_out, n_in) x (n_in, n_out) product (about 30 ms of
    the 140 ms an example takes on a 1000 x 1000 layer).
    """
    n_in, n_out = W.shape
    if n_out > n_in:
        return None
    W = W.astype(np.float64)
    return W.T @ W


def jacobian_singular_values(W: np.ndarray, a: np.ndarray, act: str,
                             gram: np.ndarray | None = None) -> np.ndarray:
    """Singular values of the layer Jacobian dz_l/dz_{l-1} = diag(f'(s_l)) W_l^T of one example.

    Parameters
    ----------
    W : (n_in, n_out) array, the layer's weights (deepinit's layout).
    a : (n_out,) array, the layer's activations for the example.
    act : str, the layer's activation.
    gram : (n_out, n_out) float64 array, optional
        ``weight_gram(W)``, shared by the examples of a layer; computed here when
        not given.

    Returns
    -------
    (min(n_in, n_out),) float64, descending. Computed as the square roots of the
    eigenvalues of the smaller Gram matrix (``D W^T W D`` or ``W D^2 W^T``) with
    LAPACK's symmetric eigensolver, about twice as fast as an SVD for the
    1000 x 1000 layers of the paper; the squaring costs absolute accuracy
    ``~ sqrt(eps) * max singular value`` on the smallest singular values only.
    """
    d = derivative_from_output(act, a)
    n_in, n_out = W.shape
    if n_out <= n_in:
        if gram is None:
            gram = weight_gram(W)
        gram = gram * np.outer(d, d)
    else:
        W = W.astype(np.float64)
        gram = (W * (d * d)) @ W.T
    ev = np.linalg.eigvalsh(gram)
    return np.sqrt(np.clip(ev, 0.0, None))[::-1]


class _Series:
    """The per-point arrays of one quantity (moments, counts, histograms), grown point by point."""

    def __init__(self, n_layers: int, n_bins: int, extra: tuple[str, ...] = ()) -> None:
        self.n_layers = n_layers
        self.n_bins = n_bins
        self.fields: dict[str, list[np.ndarray]] = {
            k: [] for k in ("mean", "std", "nan", "inf", "hist", "underflow", "overflow", *extra)
        }
        self.edges: np.ndarray | None = None   # (n_layers, n_bins + 1), fixed at the first point

    def append(self, **values: np.ndarray) -> None:
        for key, value in values.items():
            self.fields[key].append(value)

    def tree(self, dtypes: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, rows in self.fields.items():
            dtype = dtypes.get(key, np.float64)
            shape = {"hist": (self.n_layers, self.n_bins), "percentiles": (self.n_layers, len(PERCENTILES))}
            tail = shape.get(key, (self.n_layers,))
            out[key] = np.asarray(rows, dtype=dtype).reshape((len(rows), *tail))
        out["edges"] = (self.edges if self.edges is not None
                        else np.zeros((self.n_layers, self.n_bins + 1))).astype(np.float64)
        return out


class Monitor:
    """Records per-layer statistics of a network on a fixed probe set.

    Parameters
    ----------
    net : Network
    probe_X : (P, n_inputs) array
    probe_y : (P,) int array
    config : MonitorConfig
    lr : float
        The learning rate, for the relative update size ``lr ||dC/dW|| / ||W||``.
    total_updates : int or None
        The run's budget, for the schedule of :meth:`next_point` (None: no
        schedule; points are taken only when :meth:`record` is called).

    Notes
    -----
    Call :meth:`record` at each point (the training loop follows
    :meth:`next_point`); :meth:`tree` gives everything recorded so far as the
    nested dict of arrays that ``RunWriter`` stores under ``/monitor``.
    """

    def __init__(self, net, probe_X: np.ndarray, probe_y: np.ndarray, config: MonitorConfig,
                 lr: float, total_updates: int | None = None) -> None:
        config.validate()
        P = min(config.probe_size, probe_X.shape[0])
        if P < 1:
            raise DeepinitError("the probe set for monitoring is empty; the dataset has no test examples")
        self.net = net
        self.config = config
        self.lr = float(lr)
        self.X = np.ascontiguousarray(probe_X[:P], dtype=net.dtype)
        self.y = np.ascontiguousarray(probe_y[:P], dtype=np.int32)
        self.P = P
        self.H = net.n_layers - 1
        self.L = net.n_layers
        self.hidden_sizes = list(net.sizes[1:-1])
        self.acts = list(net.activations)
        self.planned = schedule(total_updates, config.every, config.log_points) if total_updates is not None else None
        nb = config.bins
        self.series = {q: _Series(self.H, nb) for q in UNIT_QUANTITIES}
        self.series["activation"].fields.update(percentiles=[], saturation=[])
        self.series["weight"] = _Series(self.L, nb, ("update_ratio",))
        self.series["weight_grad"] = _Series(self.L, nb)
        self.n_jac = min(config.jacobian_examples, P)
        self.jacobian = _Series(self.H, nb, ("n_examples", "nonfinite")) if self.n_jac else None
        if self.jacobian is not None:
            # Singular values: mean and histogram only (finite and >= 0: no underflow).
            for key in ("std", "nan", "inf", "underflow"):
                del self.jacobian.fields[key]
        self.points: dict[str, list] = {"update": [], "examples": [], "wall_time": [], "seconds": []}
        self.theory: dict[str, np.ndarray] | None = None
        self.theory_attrs: dict[str, float] = {}
        self._last_jacobian_update = -1

        # Segments (start, stop) of the unit buffer: activations, pre-activations,
        # back-propagated gradients of each hidden layer, for P examples.
        sizes = np.asarray(self.hidden_sizes, dtype=np.intp) * P
        offs = np.concatenate([[0], np.cumsum(np.tile(sizes, 3))]).astype(np.intp)
        self._unit_starts, self._unit_stops = offs[:-1], offs[1:]
        # Segments of the weights inside the flat parameter buffer (biases skipped).
        starts, off = [], 0
        for n_in, n_out in zip(net.sizes, net.sizes[1:]):
            starts.append(off)
            off += (n_in + 1) * n_out
        self._w_starts = np.asarray(starts, dtype=np.intp)
        self._w_stops = self._w_starts + np.asarray([i * o for i, o in zip(net.sizes, net.sizes[1:])], dtype=np.intp)
        self._act_codes = np.asarray([dense.ACTIVATIONS[a] for a in self.acts], dtype=np.intc)
        self._units = np.empty(int(offs[-1]), net.dtype)
        self._work = np.empty(int(sizes.sum()), net.dtype)

    # ------------------------------------------------------------------ #
    @property
    def n_points(self) -> int:
        return len(self.points["update"])

    def next_point(self, update: int) -> int | None:
        """The first planned point after ``update`` (None when none is left)."""
        if self.planned is None:
            raise ValueError("Monitor was built without total_updates: no schedule")
        k = int(np.searchsorted(self.planned, update, side="right"))
        return int(self.planned[k]) if k < len(self.planned) else None

    def _jacobian_due(self, update: int, final: bool) -> bool:
        if self.jacobian is None:
            return False
        if self._last_jacobian_update < 0 or final:
            return True
        every = self.config.jacobian_every
        return update // every > self._last_jacobian_update // every

    # ------------------------------------------------------------------ #
    def _stats(self, values, starts, stops, series: _Series, first: bool, edges_fn=None):
        """Moments and histogram of the segments of ``values`` into ``series``.

        At the first point the edges are chosen (``edges_fn(mean, std)``) before
        the histogram is taken; they never change afterwards.
        """
        n = len(starts)
        nt = self.net.n_threads
        mean, std = np.empty(n), np.empty(n)
        fin, nan, inf = (np.empty(n, np.int64) for _ in range(3))
        _stats.moments(values, starts, stops, mean, std, fin, nan, inf, nt)
        if first:
            series.edges = edges_fn(mean, std)
        hist = np.empty((n, series.n_bins), np.int64)
        under, over, nan2 = (np.empty(n, np.int64) for _ in range(3))
        _stats.histogram(values, starts, stops, series.edges, hist, under, over, nan2, nt)
        series.append(mean=mean, std=std, nan=nan, inf=inf, hist=hist, underflow=under, overflow=over)
        return mean, std, fin

    def _symmetric_edges(self, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
        """+-R per layer, R = 2**ceil(log2(EDGE_RMS * rms)), rms from this point's moments."""
        nb = self.config.bins
        rows = []
        for m, s in zip(mean, std):
            R = pow2_ceil(EDGE_RMS * math.sqrt(m * m + s * s)) if math.isfinite(m) and math.isfinite(s) else 1.0
            rows.append(np.linspace(-R, R, nb + 1))
        return np.asarray(rows).reshape(len(mean), nb + 1)

    def _activation_edges(self, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
        """The activation's range when bounded; [0, R] for relu; +-R for linear."""
        nb = self.config.bins
        rows = []
        for act, m, s in zip(self.acts, mean, std):
            rms = math.sqrt(m * m + s * s) if math.isfinite(m) and math.isfinite(s) else float("nan")
            if act in BOUNDED_RANGE:
                lo, hi = BOUNDED_RANGE[act]
            elif act == "relu":
                lo, hi = 0.0, pow2_ceil(EDGE_RMS * rms)
            else:
                hi = pow2_ceil(EDGE_RMS * rms)
                lo = -hi
            rows.append(np.linspace(lo, hi, nb + 1))
        return np.asarray(rows).reshape(len(mean), nb + 1)

    # ------------------------------------------------------------------ #
    def record(self, update: int, examples: int, wall_time: float, final: bool = False) -> None:
        """Compute and store one monitoring point for the network's current parameters.

        Never raises on non-finite values: NaN and inf are counted (and excluded
        from the moments and percentiles), histogram edges stay those of point 0.
        """
        t0 = time.perf_counter()
        # A diverging network overflows on purpose here (s, P * delta): no warnings,
        # the NaN and inf are counted instead. BLAS on this thread only: a spinning
        # BLAS helper would take a core from the training kernels (see _blas_threads).
        with np.errstate(all="ignore"), serial_blas():
            self._record(update, final)
        self.points["update"].append(int(update))
        self.points["examples"].append(int(examples))
        self.points["wall_time"].append(float(wall_time))
        self.points["seconds"].append(time.perf_counter() - t0)

    def _record(self, update: int, final: bool) -> None:
        net, P, H = self.net, self.P, self.H
        first = self.n_points == 0
        nt = net.n_threads
        _, grad, deltas, acts = net.gradient(self.X, self.y)
        # Pre-activations s_l = z_(l-1) W_l + b_l from the kernel's activations, by
        # BLAS: three times cheaper than a second forward pass through the kernels
        # (net.forward(..., pre_activations=True)), and equal to it up to rounding.
        pres = []
        for l in range(H):
            z = self.X if l == 0 else acts[l - 1]
            pres.append(np.add(z @ net.weights[l], net.biases[l]))

        # Hidden-unit quantities, one flat buffer: [a_1..a_H, s_1..s_H, P*delta_1..P*delta_H].
        # The kernel's deltas are gradients of the *mean* cost over the probe set;
        # times P they are per-example gradients d(-log P(y|x))/ds, the paper's.
        U = self._units
        k = 0
        for group, scale in ((acts, None), (pres, None), (deltas, P)):
            for l in range(H):
                block = group[l].ravel()
                if scale is None:
                    U[k : k + block.size] = block
                else:
                    np.multiply(block, scale, out=U[k : k + block.size])
                k += block.size
        s0, s1 = self._unit_starts, self._unit_stops
        if H:
            a_mean, a_std, _ = self._stats(U, s0[:H], s1[:H], self.series["activation"], first,
                                           self._activation_edges)
            self._stats(U, s0[H : 2 * H], s1[H : 2 * H], self.series["preactivation"], first,
                        self._symmetric_edges)
            d_mean, d_std, _ = self._stats(U, s0[2 * H :], s1[2 * H :], self.series["backprop_grad"], first,
                                           self._symmetric_edges)
            pct = np.empty((H, len(PERCENTILES)))
            _stats.percentiles(U, s0[:H], s1[:H], np.asarray(PERCENTILES), pct, self._work, nt)
            sat = np.empty(H, np.int64)
            _stats.saturation(U, s0[:H], s1[:H], np.asarray(self.hidden_sizes, dtype=np.intp),
                              self._act_codes, self.config.saturation, sat, nt)
            denom = np.asarray([n if a == "relu" else n * P for n, a in zip(self.hidden_sizes, self.acts)], float)
            self.series["activation"].append(percentiles=pct, saturation=sat / denom)
        else:
            self.series["activation"].append(percentiles=np.empty((0, len(PERCENTILES))), saturation=np.empty(0))
            for q in UNIT_QUANTITIES:
                empty = np.empty(0)
                self.series[q].edges = np.empty((0, self.config.bins + 1))
                self.series[q].append(mean=empty, std=empty, nan=empty, inf=empty,
                                      hist=np.empty((0, self.config.bins)), underflow=empty, overflow=empty)

        # Weights and their gradient on the probe set (mean cost), inside the flat buffers.
        w_mean, w_std, w_n = self._stats(net.params, self._w_starts, self._w_stops, self.series["weight"],
                                         first, self._symmetric_edges)
        g_mean, g_std, g_n = self._stats(grad, self._w_starts, self._w_stops, self.series["weight_grad"],
                                         first, self._symmetric_edges)
        with np.errstate(divide="ignore", invalid="ignore"):
            w_norm = np.sqrt(w_n * (w_std**2 + w_mean**2))
            g_norm = np.sqrt(g_n * (g_std**2 + g_mean**2))
            self.series["weight"].append(update_ratio=self.lr * g_norm / w_norm)

        if self._jacobian_due(update, final):
            self._record_jacobian(acts)
            self._last_jacobian_update = update
        elif self.jacobian is not None:
            self.jacobian.append(mean=np.full(H, np.nan), hist=np.zeros((H, self.config.bins)),
                                 overflow=np.zeros(H),
                                 n_examples=np.zeros(H), nonfinite=np.zeros(H))
        if first:
            self._record_theory(deltas, grad, acts)

    def _record_jacobian(self, acts: list[np.ndarray]) -> None:
        """Singular values of dz_l/dz_{l-1} for every hidden layer l, on the first probe examples."""
        H, nb, net = self.H, self.config.bins, self.net
        per_layer, nonfinite = [], np.zeros(H, np.int64)
        for l in range(H):
            W = net.weights[l]
            svs = []
            finite_W = bool(np.isfinite(W).all())
            gram = weight_gram(W) if finite_W and self.n_jac > 1 else None
            for p in range(self.n_jac):
                a = acts[l][p]
                if not (finite_W and np.isfinite(a).all()):
                    nonfinite[l] += 1   # counted, never decomposed (LAPACK would fail on NaN)
                    continue
                svs.append(jacobian_singular_values(W, a, self.acts[l], gram))
            per_layer.append(np.concatenate(svs) if svs else np.empty(0))
        if self.jacobian.edges is None:
            rows = []
            for sv in per_layer:
                R = pow2_ceil(EDGE_SV * float(sv.max())) if sv.size else 1.0
                rows.append(np.linspace(0.0, R, nb + 1))
            self.jacobian.edges = np.asarray(rows).reshape(H, nb + 1)
        flat = np.concatenate(per_layer) if per_layer else np.empty(0)
        lens = np.asarray([sv.size for sv in per_layer], dtype=np.intp)
        stops = np.cumsum(lens).astype(np.intp)
        starts = (stops - lens).astype(np.intp)
        hist = np.empty((H, nb), np.int64)
        under, over, nan = (np.empty(H, np.int64) for _ in range(3))
        _stats.histogram(flat, starts, stops, self.jacobian.edges, hist, under, over, nan, net.n_threads)
        mean = np.asarray([sv.mean() if sv.size else np.nan for sv in per_layer])
        self.jacobian.append(mean=mean, hist=hist, overflow=over,
                             n_examples=self.n_jac - nonfinite, nonfinite=nonfinite)

    def _record_theory(self, deltas, grad, acts) -> None:
        """Eqs. 5-7 of the paper at initialization, beside the same quantities measured.

        See docs/monitoring.md for the formulas and their caveats.
        """
        net, P, H, L = self.net, self.P, self.H, self.L
        sizes = net.sizes
        X = self.X.astype(np.float64)
        var_x = float(X.var())
        wvar = np.asarray([float(W.astype(np.float64).var()) for W in net.weights])
        slope = np.asarray([SLOPE_SQ_AT_0[a] for a in self.acts])
        # eq. 5: Var[z_i] = Var[x] prod_{m <= i} f'(0)^2 n_{m-1} Var[W_m]
        gain_up = slope * np.asarray(sizes[:H], float) * wvar[:H]
        act_pred = var_x * np.cumprod(gain_up)
        # eq. 6: Var[delta_i] = Var[delta_L] prod_{m = i}^{L-1} f'(0)^2 n_{m+1} Var[W_{m+1}]
        d_out = deltas[-1].astype(np.float64) * P
        var_d_out = float(d_out.var())
        gain_down = slope * np.asarray(sizes[2:], float) * wvar[1:]
        grad_pred = var_d_out * np.cumprod(gain_down[::-1])[::-1]
        # eq. 7: Var[dC/dW_l] = Var[z_{l-1}] Var[delta_l] (both predicted), per example.
        z_pred = np.concatenate([[var_x], act_pred])
        d_pred = np.concatenate([grad_pred, [var_d_out]])
        wg_pred = z_pred * d_pred
        # Per-example weight gradients z_{l-1}^T delta_l, pooled over examples and
        # entries, without forming them: E[g] and E[g^2] factor over (j, k).
        wg_meas = np.empty(L)
        for l in range(L):
            z = X if l == 0 else acts[l - 1].astype(np.float64)
            d = deltas[l].astype(np.float64) * P
            n = P * z.shape[1] * d.shape[1]
            eg = float((z.sum(1) * d.sum(1)).sum()) / n
            eg2 = float(((z * z).sum(1) * (d * d).sum(1)).sum()) / n
            wg_meas[l] = eg2 - eg * eg
        self.theory = {
            "activation_var": np.asarray(self.series["activation"].fields["std"][0], float) ** 2,
            "activation_var_predicted": act_pred,
            "backprop_grad_var": np.asarray(self.series["backprop_grad"].fields["std"][0], float) ** 2,
            "backprop_grad_var_predicted": grad_pred,
            "weight_grad_var": wg_meas,
            "weight_grad_var_predicted": wg_pred,
            "weight_var": wvar,
            "slope_sq": slope.astype(float),
        }
        self.theory_attrs = {
            "input_var": var_x,
            "input_mean_square": float((X * X).mean()),
            "output_grad_var": var_d_out,
        }

    # ------------------------------------------------------------------ #
    def tree(self) -> dict[str, Any]:
        """Everything recorded so far, as ``{"@attrs": {...}, name: array | subtree}``.

        The layout is the ``/monitor`` group of docs/run-file.md.
        """
        cfg = self.config
        counts = {"nan": np.int64, "inf": np.int64, "hist": np.int32, "underflow": np.int64,
                  "overflow": np.int64, "n_examples": np.int32, "nonfinite": np.int32}
        tree: dict[str, Any] = {
            "@attrs": {
                "every": cfg.every,
                "log_points": cfg.log_points,
                "probe_size": self.P,
                "probe_split": "test",
                "bins": cfg.bins,
                "saturation_threshold": cfg.saturation,
                "jacobian_examples": self.n_jac,
                "jacobian_every": cfg.jacobian_every,
                "percentiles": np.asarray(PERCENTILES),
                "seconds": float(sum(self.points["seconds"])),
            },
            "update": np.asarray(self.points["update"], np.int64),
            "examples": np.asarray(self.points["examples"], np.int64),
            "wall_time": np.asarray(self.points["wall_time"], np.float64),
            "seconds": np.asarray(self.points["seconds"], np.float64),
        }
        for name, series in self.series.items():
            tree[name] = series.tree(counts)
        if self.jacobian is not None:
            tree["jacobian"] = self.jacobian.tree(counts)
        if self.theory is not None:
            tree["theory"] = {"@attrs": dict(self.theory_attrs), **self.theory}
        return tree
