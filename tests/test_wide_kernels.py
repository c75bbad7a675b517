"""The wide (64-byte vector) kernels of AVX-512 builds give the default kernels' bits.

deepinit turns them on at import on Intel CPUs (``deepinit._kernels.WIDE_KERNELS``):
for batches of 4 rows or more (below 48 rows the forward reads W in place instead
of packing it, below 16 the backward takes one pass per pair of rows of W instead
of its two-pass tiles); elsewhere they are off. They must never change a result:
the same parameters after training, the same gradients, activations and costs, bit
for bit, in float32 and float64, for any thread count, for layer widths that leave
a partial vector (masked lanes) or an odd row of W, for rows longer than one
1024-column block of the dot products, and for batches larger than one chunk of
rows or than the packed copy of z.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numpy_reference as ref
from deepinit._kernels import WIDE_KERNELS, dense, is_intel
from deepinit.network import Network

# Widths: 1100 (two blocks of the backward's dot products, whose lanes restart at
# column 1024), 64 (whole vectors: the dot-product tiles store to dz directly, but
# for the last 4 of the 1100 rows of W), 50, 33 and 17 (full and partial vectors;
# odd numbers of rows of W), 9 (one partial vector).
SIZES = (30, 40, 1100, 64, 50, 33, 17, 9)


def has_wide_kernel():
    previous = WIDE_KERNELS
    available = dense.set_wide_kernels(True)
    dense.set_wide_kernels(previous)
    return available


pytestmark = pytest.mark.skipif(not has_wide_kernel(), reason="this build has no wide kernel (no AVX-512)")


@pytest.fixture
def wide():
    """Set the kernel choice for one test, and restore deepinit's own choice after it."""
    yield lambda on: dense.set_wide_kernels(on)
    dense.set_wide_kernels(WIDE_KERNELS)


def train_and_forward(dtype, n_threads, batch, sizes=SIZES, steps=3):
    net = Network(sizes, "tanh", dtype=dtype, n_threads=n_threads)
    net.initialize("normalized", seed=3)
    rng = np.random.default_rng(4)
    X = rng.uniform(0, 1, (steps * batch, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], steps * batch).astype(np.int32)
    costs, errors = net.train_steps(X, y, batch_size=batch, lr=0.05)
    acts, pres = net.forward(X[: 2 * batch], pre_activations=True)
    evaluation = net.evaluate(X, y, batch_size=batch)
    cost, grad, deltas, _ = net.gradient(X[:batch], y[:batch])
    return net.params.copy(), costs, errors, acts, pres, evaluation, (grad, cost, deltas)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
# Below the few-rows threshold (3), few rows (4; 10 in one pass; 11 in two passes of
# the backward), the backward's tile threshold (12), 15 and 16 (two row groups of the
# forward),
# four row groups of the in-place forward (47), the packed forward's threshold (48),
# two chunks of rows (packed forward), and more rows than the gradient tiles' packed
# copy of z holds (DI_ZP_ROWS = 256: z read in place).
@pytest.mark.parametrize("batch", [3, 4, 10, 11, 12, 15, 16, 47, 48, 150, 300])
def test_wide_kernels_give_the_same_bits_as_the_default_kernels(wide, dtype, batch):
    results = {}
    for on in (False, True):
        assert wide(on) is on
        for n_threads in (1, 2, 3):
            results[on, n_threads] = train_and_forward(dtype, n_threads, batch)
    first = results[False, 1]
    assert not np.array_equal(first[0], Network(SIZES, "tanh", dtype=dtype).params)  # it trained
    for key, other in results.items():
        params, costs, errors, acts, pres, evaluation, (grad, cost, deltas) = other
        np.testing.assert_array_equal(params, first[0], err_msg=str(key))
        np.testing.assert_array_equal(costs, first[1], err_msg=str(key))
        np.testing.assert_array_equal(errors, first[2], err_msg=str(key))
        for a, b in zip(acts + pres, first[3] + first[4]):
            np.testing.assert_array_equal(a, b, err_msg=str(key))
        assert evaluation == first[5]
        np.testing.assert_array_equal(grad, first[6][0], err_msg=str(key))
        assert cost == first[6][1]
        for a, b in zip(deltas, first[6][2]):  # the back-propagated gradients dC/ds
            np.testing.assert_array_equal(a, b, err_msg=str(key))


@settings(max_examples=30, deadline=None)
@given(
    widths=st.lists(st.integers(1, 70), min_size=2, max_size=4),
    batch=st.integers(1, 140),
    dtype=st.sampled_from(["float32", "float64"]),
    n_threads=st.integers(1, 3),
)
def test_wide_kernels_give_the_same_bits_on_random_shapes(widths, batch, dtype, n_threads):
    # Any layer widths (1 unit, fewer rows than a tile, every partial vector) and any
    # batch from 1 row to past one forward chunk of 128 rows.
    sizes = (*widths, 3)
    results = []
    try:
        for on in (False, True):
            dense.set_wide_kernels(on)
            results.append(train_and_forward(dtype, n_threads, batch, sizes=sizes, steps=2))
    finally:
        dense.set_wide_kernels(WIDE_KERNELS)
    (p0, c0, e0, a0, s0, v0, g0), (p1, c1, e1, a1, s1, v1, g1) = results
    np.testing.assert_array_equal(p0, p1)
    np.testing.assert_array_equal(c0, c1)
    np.testing.assert_array_equal(g0[0], g1[0])
    for x, y in zip(a0 + s0 + g0[2], a1 + s1 + g1[2]):
        np.testing.assert_array_equal(x, y)
    assert v0 == v1


def test_wide_kernels_match_numpy_on_the_papers_layer_width(wide):
    assert wide(True)
    net = Network((1000, 1000, 9), "tanh", dtype="float64", n_threads=2)
    net.initialize("normalized", seed=0)
    X = np.random.default_rng(1).uniform(0, 1, (40, 1000))
    acts, pres = net.forward(X, pre_activations=True)
    ref_pres, ref_acts = ref.forward(net, net.params, X)
    for got, want in zip(pres + acts, ref_pres + ref_acts):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


def test_wide_backward_matches_numpy_on_the_papers_layer_width(wide):
    # Batch 100 (the paper's width, 8 rows of W a tile): the dot-product tiles store
    # to dz directly; the numpy reference is independent of both kernel families.
    assert wide(True)
    net = Network((1000, 1000, 1000, 9), "tanh", dtype="float64", n_threads=2)
    net.initialize("normalized", seed=0)
    rng = np.random.default_rng(2)
    X, y = rng.uniform(0, 1, (100, 1000)), rng.integers(0, 9, 100).astype(np.int32)
    _, grad, deltas, _ = net.gradient(X, y)
    ref_grad, ref_deltas = ref.gradient(net, net.params, X, y)
    for got, want in zip(deltas, ref_deltas):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-10, atol=1e-15)


def test_deepinit_uses_the_wide_kernels_on_intel_only():
    # Only AVX-512 builds reach here (see pytestmark); DEEPINIT_WIDE_KERNELS overrides.
    import os

    forced = os.environ.get("DEEPINIT_WIDE_KERNELS", "").strip()
    expected = forced == "1" if forced in ("0", "1") else is_intel()
    assert WIDE_KERNELS is expected


def test_wide_forward_fits_a_256k_thread_stack():
    """The wide forward keeps a chunk's buffers on the thread's stack (168 kB for
    float32, 104 kB for float64; 198-204 kB below 48 rows): OpenMP threads with
    OMP_STACKSIZE=256k must run it."""
    code = (
        "import numpy as np\n"
        "from deepinit.network import Network\n"
        "for dtype in ('float32', 'float64'):\n"
        "    net = Network((60, 300, 9), 'tanh', dtype=dtype, n_threads=2)\n"
        "    net.initialize('normalized', seed=0)\n"
        "    X = np.random.default_rng(0).uniform(0, 1, (300, 60)).astype(dtype)\n"
        "    for batch in (10, 30, 150):\n"
        "        net.train_steps(X, np.zeros(300, np.int32), batch, 0.01)\n"
        "print('trained')\n"
    )
    env = {**os.environ, "OMP_STACKSIZE": "256k", "DEEPINIT_WIDE_KERNELS": "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "trained" in done.stdout, (done.returncode, done.stderr[-2000:])


@pytest.mark.parametrize("batch, n_threads", [(72, 2), (100, 3), (150, 2), (200, 2)])
def test_backward_packs_stay_inside_work_size(wide, batch, n_threads):
    # From 72 rows each thread packs delta for itself (while a pack fits in a core's
    # L2): the work buffer grows with the thread count, and the kernels must not
    # write past it. Widths: 9 (tiny packs at any batch), 1100 (private up to 148 rows).
    assert wide(True)
    sizes = np.array([30, 1100, 64, 9], dtype=np.intp)
    n_work = dense.work_size(sizes, batch, n_threads)
    if batch <= 148:
        assert n_work >= n_threads * (2 * batch + 1) * 1100 > dense.work_size(sizes, batch, 1)
    net = Network(tuple(sizes), "tanh", dtype="float32", n_threads=n_threads)
    net.initialize("normalized", seed=0)
    rng = np.random.default_rng(3)
    X = rng.uniform(0, 1, (2 * batch, 30)).astype(np.float32)
    y = rng.integers(0, 9, 2 * batch).astype(np.int32)
    a, d, _ = net._buffers("train", batch)
    canary = np.float32(1234.5)
    work = np.full(n_work + 4096, canary, np.float32)
    reference = Network(tuple(sizes), "tanh", dtype="float32", n_threads=1)
    reference.initialize("normalized", seed=0)
    costs, errors = np.empty(2), np.empty(2, np.int32)
    dense.train_steps(net.params, net._sizes, net._acts, net._cost, X, y, batch, 0.05,
                      a, d, work, costs, errors, n_threads)
    assert np.all(work[n_work:] == canary)
    reference.train_steps(X, y, batch_size=batch, lr=0.05)
    np.testing.assert_array_equal(net.params, reference.params)
