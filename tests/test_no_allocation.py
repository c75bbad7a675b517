"""No allocation in the steady state: repeated ``Network.train_steps`` calls reuse their buffers.

``Network`` allocates its activation and gradient buffers once per batch size
(``Network._buffers``) and the kernels run every minibatch of a call in those
buffers. After a warm-up call, further calls on the same shapes must allocate
nothing but the small per-call ``costs`` and ``errors`` arrays they return.

Measured with ``tracemalloc``: numpy reports its data allocations to it, and
Python objects are traced too. Memory that C code takes from ``malloc``
directly is not seen.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from deepinit._kernels import dense as _dense
from deepinit.network import Network

SIZES = (64, 50, 50, 9)
BATCH = 500     # large, so that any per-minibatch or per-layer buffer dwarfs the bound
STEPS = 20      # minibatches per call
CALLS = 5
SLACK = 8_192   # bytes: Python objects and the kernel call's argument views, whatever the sizes


def make_net(n_threads: int) -> tuple[Network, np.ndarray, np.ndarray]:
    """A small tanh network and ``STEPS`` minibatches of random data."""
    net = Network(SIZES, "tanh", n_threads=n_threads)
    net.initialize("normalized", seed=0)
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (BATCH * STEPS, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], BATCH * STEPS).astype(np.int32)
    return net, X, y


def steady_state_peak(net: Network, X: np.ndarray, y: np.ndarray) -> int:
    """Peak bytes traced during ``CALLS`` calls of ``train_steps``, after a warm-up call."""
    net.train_steps(X, y, BATCH, 0.01)   # warm-up: allocates the cached buffers
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        for _ in range(CALLS):
            costs, errors = net.train_steps(X, y, BATCH, 0.01)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert costs.shape == errors.shape == (STEPS,)
    return peak - base


def allowed_bytes() -> int:
    """Two calls' returned arrays alive at once (the previous result and the new one), plus slack."""
    returned = STEPS * (np.dtype(np.float64).itemsize + np.dtype(np.int32).itemsize)
    return 2 * returned + SLACK


def test_bound_is_below_every_buffer():
    """The bound would catch one buffer of the smallest layer (the outputs) at this batch size."""
    smallest = BATCH * min(SIZES[1:]) * np.dtype(np.float32).itemsize
    assert allowed_bytes() < smallest / 2


@pytest.mark.parametrize("n_threads", [1, 2])
def test_train_steps_allocates_nothing_in_steady_state(n_threads):
    net, X, y = make_net(n_threads)
    peak = steady_state_peak(net, X, y)
    assert peak < allowed_bytes(), (
        f"{CALLS} calls of train_steps allocated up to {peak} bytes at once after warm-up "
        f"(allowed {allowed_bytes()}): a buffer is allocated per call, minibatch or layer"
    )


def test_measurement_catches_per_call_buffers(monkeypatch):
    """The check fails for a version that allocates its buffers on every call."""

    def uncached(self, purpose, batch):
        n_act = batch * sum(self.sizes[1:])
        n_work = _dense.work_size(self._sizes, batch, self.n_threads)
        return np.empty(n_act, self.dtype), np.empty(n_act, self.dtype), np.empty(n_work, self.dtype)

    monkeypatch.setattr(Network, "_buffers", uncached)
    net, X, y = make_net(1)
    assert steady_state_peak(net, X, y) > allowed_bytes()
