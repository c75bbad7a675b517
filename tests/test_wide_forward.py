"""The wide (64-byte vector) forward kernel of AVX-512 builds gives the default kernel's bits.

deepinit turns it on at import on Intel CPUs (``deepinit._kernels.WIDE_FORWARD``) for
batches of 16 rows or more; elsewhere it is off. It must never change a result: the
same parameters after training, the same activations and the same costs, bit for
bit, in float32 and float64, for any thread count, for layer widths that leave a
partial vector (masked lanes), and for batches larger than one chunk of rows.
"""

import numpy as np
import pytest

import numpy_reference as ref
from deepinit._kernels import WIDE_FORWARD, dense, is_intel
from deepinit.network import Network

# Widths: 9 (one partial vector), 17, 33 and 50 (full + partial panels), 1000 and
# 1024 as in the paper's network, in a short stack.
SIZES = (1024, 50, 33, 17, 9)


def has_wide_kernel():
    previous = WIDE_FORWARD
    available = dense.set_wide_forward(True)
    dense.set_wide_forward(previous)
    return available


pytestmark = pytest.mark.skipif(not has_wide_kernel(), reason="this build has no wide kernel (no AVX-512)")


@pytest.fixture
def wide():
    """Set the kernel choice for one test, and restore deepinit's own choice after it."""
    yield lambda on: dense.set_wide_forward(on)
    dense.set_wide_forward(WIDE_FORWARD)


def train_and_forward(dtype, n_threads, batch, sizes=SIZES, steps=3):
    net = Network(sizes, "tanh", dtype=dtype, n_threads=n_threads)
    net.initialize("normalized", seed=3)
    rng = np.random.default_rng(4)
    X = rng.uniform(0, 1, (steps * batch, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], steps * batch).astype(np.int32)
    costs, errors = net.train_steps(X, y, batch_size=batch, lr=0.05)
    acts, pres = net.forward(X[: 2 * batch], pre_activations=True)
    evaluation = net.evaluate(X, y, batch_size=batch)
    return net.params.copy(), costs, errors, acts, pres, evaluation


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch", [16, 37, 150])  # the threshold, uneven row groups, two chunks
def test_wide_forward_gives_the_same_bits_as_the_default_kernel(wide, dtype, batch):
    results = {}
    for on in (False, True):
        assert wide(on) is on
        for n_threads in (1, 2, 3):
            results[on, n_threads] = train_and_forward(dtype, n_threads, batch)
    first = results[False, 1]
    assert not np.array_equal(first[0], Network(SIZES, "tanh", dtype=dtype).params)  # it trained
    for key, other in results.items():
        params, costs, errors, acts, pres, evaluation = other
        np.testing.assert_array_equal(params, first[0], err_msg=str(key))
        np.testing.assert_array_equal(costs, first[1], err_msg=str(key))
        np.testing.assert_array_equal(errors, first[2], err_msg=str(key))
        for a, b in zip(acts + pres, first[3] + first[4]):
            np.testing.assert_array_equal(a, b, err_msg=str(key))
        assert evaluation == first[5]


def test_wide_forward_matches_numpy_on_the_papers_layer_width(wide):
    assert wide(True)
    net = Network((1000, 1000, 9), "tanh", dtype="float64", n_threads=2)
    net.initialize("normalized", seed=0)
    X = np.random.default_rng(1).uniform(0, 1, (40, 1000))
    acts, pres = net.forward(X, pre_activations=True)
    ref_pres, ref_acts = ref.forward(net, net.params, X)
    for got, want in zip(pres + acts, ref_pres + ref_acts):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


def test_deepinit_uses_the_wide_kernel_on_intel_only():
    # Only AVX-512 builds reach here (see pytestmark); DEEPINIT_WIDE_FORWARD overrides.
    import os

    forced = os.environ.get("DEEPINIT_WIDE_FORWARD", "").strip()
    expected = forced == "1" if forced in ("0", "1") else is_intel()
    assert WIDE_FORWARD is expected
