"""Kernels against numpy, float64 gradient checks, and thread-count determinism."""

import os
import subprocess
import sys

import numpy as np
import pytest

import numpy_reference as ref
from deepinit._kernels import WIDE_KERNELS, dense
from deepinit.errors import DeepinitError
from deepinit.network import ACTIVATIONS, COSTS, Network

EPS = 1e-4  # central differences, as recommended by Bengio 2012, sec. 4.1


def make_net(activation="tanh", cost="softmax-nll", dtype="float64", sizes=(7, 6, 5, 4), seed=0, n_threads=1):
    net = Network(sizes, activation, cost=cost, dtype=dtype, n_threads=n_threads)
    net.initialize("normalized", seed=seed)
    rng = np.random.default_rng(seed + 1)
    net.biases[0][...] = rng.normal(0, 0.3, net.biases[0].shape)  # non-zero biases exercise db
    return net


def batch(net, n=5, seed=2):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, (n, net.n_inputs)).astype(net.dtype)
    y = rng.integers(0, net.n_classes, n).astype(np.int32)
    return X, y


def away_from_kinks(net, X, margin=1e-3):
    """True when no hidden pre-activation sits within margin of a kink of relu / hardtanh."""
    pres, _ = ref.forward(net, net.params, X)
    for act, s in zip(net.activations, pres[:-1]):
        if act == "relu" and np.min(np.abs(s)) < margin:
            return False
        if act == "hardtanh" and np.min(np.abs(np.abs(s) - 1)) < margin:
            return False
    return True


@pytest.mark.parametrize("cost", COSTS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradient_matches_central_differences(activation, cost):
    net = make_net(activation, cost)
    if activation == "hardtanh":
        net.initialize("normalized", seed=0, scale=3.0)  # put some units in the flat region
    X, y = batch(net)
    assert away_from_kinks(net, X), "test batch too close to a kink; pick another seed"
    c, grad, _, _ = net.gradient(X, y)
    assert c == pytest.approx(ref.cost(net, net.params, X, y), rel=1e-12)
    numeric = np.empty_like(grad)
    p = net.params
    for k in range(p.size):
        old = p[k]
        p[k] = old + EPS
        up = net.gradient(X, y)[0]
        p[k] = old - EPS
        down = net.gradient(X, y)[0]
        p[k] = old
        numeric[k] = (up - down) / (2 * EPS)
    # Relative error per element, with a floor on the denominator so that exact
    # zeros (dead relu units, saturated hardtanh) compare on an absolute scale.
    rel = np.abs(numeric - grad) / np.maximum(np.abs(numeric) + np.abs(grad), 1e-6)
    assert rel.max() < 1e-6, f"max relative error {rel.max():.2e} at {rel.argmax()}"
    assert np.abs(grad).max() > 1e-3  # the check compared something


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-12), ("float32", 2e-5)])
@pytest.mark.parametrize("cost", COSTS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_forward_and_backward_match_numpy(activation, cost, dtype, rtol):
    # Widths that are not multiples of the kernels' block sizes, and a batch
    # larger than one batch tile, so that every edge path runs.
    net = make_net(activation, cost, dtype, sizes=(37, 70, 45, 9), n_threads=2)
    X, y = batch(net, n=41)
    params64 = net.params.astype(np.float64)
    X64 = X.astype(np.float64)
    acts, pres = net.forward(X, pre_activations=True)
    ref_pres, ref_acts = ref.forward(net, params64, X64)
    for got, want in zip(acts + pres, ref_acts + ref_pres):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)
    _, grad, deltas, _ = net.gradient(X, y)
    ref_grad, ref_deltas = ref.gradient(net, params64, X64, y)
    scale = np.abs(ref_grad).max()
    np.testing.assert_allclose(grad, ref_grad, rtol=rtol, atol=rtol * scale)
    for got, want in zip(deltas, ref_deltas):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * np.abs(want).max())


def test_fused_training_step_equals_gradient_then_update():
    net = make_net("softsign", "softmax-nll", "float32", sizes=(33, 40, 21, 5), n_threads=2)
    X, y = batch(net, n=10)
    lr = np.float32(0.05)
    before = net.params.copy()
    c, grad, _, _ = net.gradient(X, y)
    # w - lr*g rounded twice (numpy; builds without FMA) or once (FMA builds:
    # x86-64-v3/v4); float64 holds lr*g exactly, so the second is exact-then-round.
    two_roundings = net.params - lr * grad
    one_rounding = (net.params.astype(np.float64) - np.float64(lr) * grad.astype(np.float64)).astype(np.float32)
    costs, errors = net.train_steps(X, y, batch_size=10, lr=float(lr))
    assert costs[0] / 10 == pytest.approx(c, rel=1e-6)
    assert np.all((net.params == two_roundings) | (net.params == one_rounding))
    assert np.mean(net.params != before) > 0.9  # the step moved (nearly) every parameter


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_training_is_bitwise_identical_for_any_thread_count(activation, dtype):
    results = []
    for n_threads in (1, 2, 3, 5):
        net = make_net(activation, "softmax-nll", dtype, sizes=(100, 130, 70, 9), n_threads=n_threads)
        X, y = batch(net, n=200, seed=7)
        costs, errors = net.train_steps(X, y, batch_size=10, lr=0.1)
        acts = net.forward(X[:50])
        results.append((net.params.copy(), costs, errors, acts[-1]))
    first = results[0]
    assert not np.array_equal(first[0], make_net(activation, "softmax-nll", dtype, sizes=(100, 130, 70, 9)).params)
    for other in results[1:]:
        for a, b in zip(first, other):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("wide", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch_size", [1, 2, 3, 10, 47, 60, 72])
def test_two_part_forward_gives_the_bits_of_one_thread(wide, dtype, batch_size):
    """The forward pass sums each unit in two parts, split at a row of W that does
    not depend on the thread count (_dense.pyx, _forward_layer): 1 thread computes
    both, 2 threads one each, 3 and 5 threads share (part, column group) ranges that
    cut parts and columns unevenly. Layers of 300, 257 and 9000 units (partial
    column groups, many groups), inputs of 70 (the second part ends with a partial
    block of 6 rows), 40 and 12 (12 < 16 rows: one part only). Batches that take
    every forward kernel (stream, chunks, wide in place, wide packed from 48 rows),
    split by parts (below 72 rows) and by columns (72).
    Training, the forward pass with pre-activations and the gradient must be the
    bits of one thread, with and without the wide kernels."""
    if wide and not dense.set_wide_kernels(True):
        pytest.skip("this build has no wide kernel (no AVX-512)")
    try:
        dense.set_wide_kernels(wide)
        results = []
        for n_threads in (1, 2, 3, 5):
            out = []
            for sizes in ((70, 300, 257, 9), (40, 9000, 5), (12, 40, 3)):
                net = make_net("tanh", "softmax-nll", dtype, sizes=sizes, n_threads=n_threads)
                X, y = batch(net, n=3 * batch_size, seed=11)
                costs, errors = net.train_steps(X, y, batch_size=batch_size, lr=0.1)
                acts, pres = net.forward(X[:batch_size], pre_activations=True)
                cost, grad, _, _ = net.gradient(X[:batch_size], y[:batch_size])
                out += [net.params.copy(), costs, errors, *acts, *pres, cost, grad]
            results.append(out)
        trained = make_net("tanh", "softmax-nll", dtype, sizes=(70, 300, 257, 9)).params
        assert not np.array_equal(results[0][0], trained)
        for other in results[1:]:
            for a, b in zip(results[0], other):
                np.testing.assert_array_equal(a, b)
    finally:
        dense.set_wide_kernels(WIDE_KERNELS)


@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize("batch_size", [2, 10, 60])
def test_two_part_forward_matches_numpy(n_threads, batch_size):
    """Both parts of every sum, and the bias, reach the outputs: against the numpy
    reference, on layers with two parts (70 and 300 inputs) and one (12)."""
    for sizes in ((70, 300, 257, 9), (12, 40, 3)):
        net = make_net("tanh", "softmax-nll", "float64", sizes=sizes, n_threads=n_threads)
        for b in net.biases:
            b[...] = np.linspace(-0.5, 0.5, b.size)
        X, _ = batch(net, n=batch_size, seed=2)
        acts, pres = net.forward(X, pre_activations=True)
        want_pres, want_acts = ref.forward(net, net.params, X)
        for got, want in zip(pres + acts, want_pres + want_acts):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


def test_evaluate_matches_reference_and_batching():
    net = make_net("tanh", "softmax-nll", "float64", sizes=(20, 30, 6), n_threads=2)
    X, y = batch(net, n=97)
    mean_cost, err = net.evaluate(X, y, batch_size=16)
    assert mean_cost == pytest.approx(ref.cost(net, net.params, X, y), rel=1e-12)
    pred = ref.forward(net, net.params, X)[1][-1].argmax(axis=1)
    assert err == pytest.approx(np.mean(pred != y))
    assert net.evaluate(X, y, batch_size=97) == pytest.approx((mean_cost, err), rel=1e-12)


def test_nll_stays_finite_for_confident_wrong_predictions():
    net = make_net("linear", "softmax-nll", "float32", sizes=(2, 3))
    net.weights[0][...] = [[200, -200, 0], [0, 0, 0]]
    net.biases[0][...] = 0
    X = np.array([[1.0, 0.0]], np.float32)
    c, grad, _, _ = net.gradient(X, np.array([1], np.int32))
    assert np.isfinite(c) and c == pytest.approx(400, rel=1e-5)
    assert np.all(np.isfinite(grad))


def test_nan_propagates_instead_of_being_hidden():
    net = make_net("relu", "softmax-nll", "float32", sizes=(4, 5, 3))
    X = np.full((2, 4), np.nan, np.float32)
    out = net.forward(X)
    assert np.isnan(out[0]).all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(sizes=(4, 0, 3)), "at least one unit"),
        (dict(sizes=(4, 3), activation="swish"), None),
        (dict(sizes=(4, 5, 3), activation="swish"), "unknown activation"),
        (dict(sizes=(4, 5, 3), cost="hinge"), "unknown cost"),
        (dict(sizes=(4, 5, 1)), "at least 2 outputs"),
        (dict(sizes=(4, 5, 3), dtype="float16"), "unknown dtype"),
    ],
)
def test_bad_network_configuration_is_a_clear_error(kwargs, match):
    if match is None:  # no hidden layer: the activation list is empty, nothing to check
        Network(**kwargs)
        return
    with pytest.raises(DeepinitError, match=match):
        Network(**kwargs)


def test_bad_labels_are_rejected_before_any_kernel_runs():
    net = make_net(sizes=(4, 5, 3))
    X = np.zeros((2, 4))
    with pytest.raises(DeepinitError, match="labels must lie"):
        net.gradient(X, np.array([0, 3]))
    with pytest.raises(DeepinitError, match="do not split"):
        net.train_steps(np.zeros((5, 4)), np.zeros(5, np.int32), batch_size=2, lr=0.1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_parameters_and_work_buffers_start_on_64_byte_boundaries(dtype):
    # Weight rows of 1000 floats then start on 32-byte boundaries: no vector load
    # of a row straddles two cache lines (5-8% of a training step, measured).
    net = Network([1024, 1000, 1000, 9], "tanh", dtype=dtype)
    net.initialize("normalized", seed=0)
    X = np.zeros((10, 1024), dtype)
    net.train_steps(X, np.zeros(10, np.int32), 10, 0.1)
    assert net.params.ctypes.data % 64 == 0
    assert net.params.flags.c_contiguous and net.params.size == sum((i + 1) * o for i, o in zip(net.sizes, net.sizes[1:]))
    assert all(b.ctypes.data % 64 == 0 for b in net._buffers("train", 10))
    assert np.shares_memory(net.weights[0], net.params) and net.weights[0].ctypes.data % 64 == 0


def test_backward_blocks_are_each_taken_once_when_a_thread_runs_several_parts(tmp_path):
    """The backward pass's threads take the row blocks of their own part, then the
    rest of the others' from the back (di_range_take). With one OpenMP thread for
    five parts (OMP_THREAD_LIMIT=1), that thread takes most of parts 1-4 from their
    ends before it reaches them: every block must still be taken exactly once (a
    block taken twice is updated twice), so the parameters after training are the
    bits of a 1-thread network."""
    code = (
        "import numpy as np\n"
        "from deepinit.network import Network\n"
        "out = []\n"
        "for n_threads in (1, 5):\n"
        "    net = Network((70, 300, 257, 9), 'tanh', dtype='float64', n_threads=n_threads)\n"
        "    net.initialize('normalized', seed=0)\n"
        "    rng = np.random.default_rng(1)\n"
        "    X = rng.uniform(0, 1, (40, 70)); y = rng.integers(0, 9, 40).astype(np.int32)\n"
        "    net.train_steps(X, y, batch_size=10, lr=0.1)\n"
        "    out.append(net.params.copy())\n"
        "assert np.array_equal(out[0], out[1]), np.abs(out[0] - out[1]).max()\n"
        "print('same')\n"
    )
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "same", res.stderr[-2000:]
