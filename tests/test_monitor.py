"""Monitoring: the statistics kernels and every recorded statistic against numpy."""

import numpy as np
import pytest
import threadpoolctl
from hypothesis import given, settings
from hypothesis import strategies as st

from deepinit._kernels import _stats, dense
from deepinit.errors import DeepinitError
from deepinit.monitor import (
    PERCENTILES,
    Monitor,
    MonitorConfig,
    jacobian_singular_values,
    pow2_ceil,
    schedule,
    weight_gram,
)
from deepinit.network import Network

import numpy_reference as ref

Q = np.asarray(PERCENTILES)


def segments(rng, dtype, n_seg=4, gap=True):
    """A flat buffer with n_seg segments (gaps between them), NaN, inf, ties."""
    lengths = rng.integers(1, 3000, n_seg)
    lengths[0] = 300_000  # many blocks, and enough values for several threads (GRAIN)
    gaps = rng.integers(0, 7, n_seg) if gap else np.zeros(n_seg, int)
    starts, stops, off = [], [], 0
    for n, g in zip(lengths, gaps):
        off += g
        starts.append(off)
        off += n
        stops.append(off)
    x = (rng.standard_normal(off) * rng.uniform(0.01, 10)).astype(dtype)
    x[rng.integers(0, off, 20)] = np.nan
    x[rng.integers(0, off, 5)] = np.inf
    x[rng.integers(0, off, 5)] = -np.inf
    x[starts[1] : starts[1] + lengths[1] // 2] = 1.0  # a run of ties (saturated units)
    return x, np.asarray(starts), np.asarray(stops)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_moments_match_numpy_and_do_not_depend_on_threads(dtype):
    rng = np.random.default_rng(1)
    x, starts, stops = segments(rng, dtype)
    n = len(starts)
    results = []
    for threads in (1, 2, 3):
        out = [np.empty(n), np.empty(n)] + [np.empty(n, np.int64) for _ in range(3)]
        _stats.moments(x, starts, stops, *out, threads)
        results.append(out)
    for r in results[1:]:
        for a, b in zip(results[0], r):
            assert a.tobytes() == b.tobytes()  # bitwise, for any thread count
    mean, std, fin, nan, inf = results[0]
    for g in range(n):
        seg = x[starts[g] : stops[g]].astype(np.float64)
        finite = seg[np.isfinite(seg)]
        np.testing.assert_allclose(mean[g], finite.mean(), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(std[g], finite.std(), rtol=1e-12)
        assert (fin[g], nan[g], inf[g]) == (finite.size, np.isnan(seg).sum(), np.isinf(seg).sum())


def test_moments_of_an_empty_or_all_nan_segment_are_nan():
    x = np.array([np.nan, np.inf, 1.0, 3.0])
    out = [np.empty(2), np.empty(2)] + [np.empty(2, np.int64) for _ in range(3)]
    _stats.moments(x, [0, 2], [2, 4], *out, 2)
    assert np.isnan(out[0][0]) and np.isnan(out[1][0]) and out[0][1] == 2.0 and out[1][1] == 1.0
    assert list(out[3]) == [1, 0] and list(out[4]) == [1, 0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_histogram_counts_are_exactly_numpys(dtype):
    rng = np.random.default_rng(2)
    x, starts, stops = segments(rng, dtype)
    n, nb = len(starts), 37
    # Uniform edges, one range per segment; values land exactly on some edges.
    edges = np.stack([np.linspace(-r, r, nb + 1) for r in (0.5, 1.0, 2.0, 3.0)])
    x[starts[2] : starts[2] + 10] = edges[2, :10]
    x[starts[3]] = edges[3, -1]  # the last edge belongs to the last bin
    counts = np.empty((n, nb), np.int64)
    under, over, nan = (np.empty(n, np.int64) for _ in range(3))
    _stats.histogram(x, starts, stops, edges, counts, under, over, nan, 2)
    for g in range(n):
        seg = x[starts[g] : stops[g]]
        expected, _ = np.histogram(seg[~np.isnan(seg)], edges[g])
        np.testing.assert_array_equal(counts[g], expected)
        assert under[g] == np.sum(seg < edges[g, 0])  # -inf included
        assert over[g] == np.sum(seg > edges[g, -1])  # +inf included
        assert nan[g] == np.isnan(seg).sum()
        assert counts[g].sum() + under[g] + over[g] + nan[g] == seg.size  # nothing dropped


def test_histogram_with_non_uniform_edges_and_bad_edges():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(5000)
    edges = np.sort(rng.uniform(-2, 2, 12))[None, :]
    counts = np.empty((1, 11), np.int64)
    u, o, n = (np.empty(1, np.int64) for _ in range(3))
    _stats.histogram(x, [0], [5000], edges, counts, u, o, n, 1)
    np.testing.assert_array_equal(counts[0], np.histogram(x, edges[0])[0])
    with pytest.raises(ValueError, match="increasing"):
        _stats.histogram(x, [0], [5000], edges[:, ::-1].copy(), counts, u, o, n, 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_percentiles_match_numpy(dtype):
    rng = np.random.default_rng(4)
    x, starts, stops = segments(rng, dtype)
    n = len(starts)
    q = np.array([0, 1, 2, 10, 25, 50, 75, 90, 98, 99.5, 100.0])
    out = np.empty((n, q.size))
    _stats.percentiles(x, starts, stops, q, out, np.empty(int((stops - starts).sum()), dtype), 2)
    for g in range(n):
        seg = x[starts[g] : stops[g]]
        finite = seg[np.isfinite(seg)].astype(np.float64)
        np.testing.assert_allclose(out[g], np.percentile(finite, q), rtol=1e-12, atol=1e-15)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([-1.0, -0.5, 0.0, 0.25, 1.0, 2.0, np.nan]), min_size=0, max_size=60),
       st.lists(st.floats(0, 100), min_size=1, max_size=8))
def test_percentiles_of_small_sets_with_many_ties(values, q):
    x = np.asarray(values, dtype=np.float64)
    q = np.sort(np.asarray(q))
    out = np.empty((1, q.size))
    _stats.percentiles(x, [0], [x.size], q, out, np.empty(max(x.size, 1)), 1)
    finite = x[np.isfinite(x)]
    if finite.size == 0:
        assert np.isnan(out).all()
    else:
        np.testing.assert_allclose(out[0], np.percentile(finite, q), rtol=1e-12, atol=1e-15)


def test_selection_stays_fast_on_adversarial_inputs():
    # Sorted, reversed, all-equal and organ-pipe inputs must not go quadratic.
    import time

    n = 200_000
    inputs = [np.arange(n, dtype=np.float64), np.arange(n, 0, -1, dtype=np.float64), np.ones(n),
              np.concatenate([np.arange(n // 2), np.arange(n // 2, 0, -1)]).astype(np.float64)]
    out = np.empty((1, Q.size))
    t0 = time.perf_counter()
    for x in inputs:
        _stats.percentiles(x, [0], [n], Q, out, np.empty(n), 1)
        np.testing.assert_allclose(out[0], np.percentile(x, Q))
    assert time.perf_counter() - t0 < 2.0


def test_saturation_counts():
    rng = np.random.default_rng(5)
    P, n = 50, 30
    a_tanh = np.tanh(rng.standard_normal((P, n)) * 3)
    a_sig = 1 / (1 + np.exp(-rng.standard_normal((P, n)) * 4))
    a_relu = np.maximum(rng.standard_normal((P, n)) - 1.5, 0)
    a_relu[:, :7] = 0.0  # 7 units certainly dead
    a_relu[3, 0] = np.nan  # NaN is not known to be dead
    a_lin = rng.standard_normal((P, n))
    x = np.concatenate([a.ravel() for a in (a_tanh, a_sig, a_relu, a_lin)])
    starts = np.arange(4) * P * n
    codes = [dense.ACTIVATIONS[a] for a in ("tanh", "sigmoid", "relu", "linear")]
    count = np.empty(4, np.int64)
    _stats.saturation(x, starts, starts + P * n, [n] * 4, codes, 0.9, count, 2)
    assert count[0] == np.sum(np.abs(a_tanh) >= 0.9)
    assert count[1] == np.sum((a_sig <= 0.1) | (a_sig >= 0.9))
    dead = np.all(np.nan_to_num(a_relu, nan=1.0) <= 0, axis=0)
    assert count[2] == dead.sum() and dead.sum() >= 6
    assert count[3] == 0


def test_schedule_and_edges_grid():
    s = schedule(10_000, 1000, 10)
    assert s[0] == 0 and s[-1] == 10_000 and np.all(np.diff(s) > 0)
    assert set(range(1000, 10_001, 1000)) <= set(s.tolist())
    early = s[(s > 0) & (s < 1000)]
    assert 5 <= early.size <= 10 and early[0] == 1
    np.testing.assert_array_equal(schedule(50, 1000, 0), [0, 50])
    np.testing.assert_array_equal(schedule(0, 10, 3), [0])
    assert pow2_ceil(3.0) == 4.0 and pow2_ceil(0.3) == 0.5 and pow2_ceil(0.0) == 1.0
    assert pow2_ceil(float("nan")) == 1.0


# --------------------------------------------------------------------------- #
# Monitor.record against an independent numpy computation
# --------------------------------------------------------------------------- #

def small_net(acts=("tanh", "sigmoid", "softsign"), dtype="float64", init="normalized"):
    net = Network([12, 10, 9, 8, 3], list(acts), dtype=dtype, n_threads=2)
    net.initialize(init, seed=3)
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (40, 12))
    y = rng.integers(0, 3, 40)
    return net, X, y


def test_every_recorded_statistic_matches_numpy():
    net, X, y = small_net()
    cfg = MonitorConfig(bins=20, saturation=0.6, jacobian_examples=3, probe_size=35)
    mon = Monitor(net, X, y, cfg, lr=0.1, total_updates=100)
    mon.record(0, 0, 0.0)
    P = 35
    Xp, yp = X[:P], y[:P]
    # Moments and percentiles against the plain-numpy network (to rounding) ...
    pres, acts = ref.forward(net, net.params, Xp)
    grad, deltas = ref.gradient(net, net.params, Xp, yp)
    # ... histograms against numpy.histogram of the very arrays the monitor saw (exactly).
    _, _, k_deltas, k_acts = net.gradient(Xp, yp)
    k_pres = [(Xp if l == 0 else k_acts[l - 1]) @ net.weights[l] + net.biases[l] for l in range(3)]
    t = mon.tree()
    H = 3
    for name, values, same in (("activation", acts, k_acts), ("preactivation", pres, k_pres),
                               ("backprop_grad", [d * P for d in deltas], [d * P for d in k_deltas])):
        g = t[name]
        for l in range(H):
            v = values[l].ravel()
            np.testing.assert_allclose(g["mean"][0, l], v.mean(), rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(g["std"][0, l], v.std(), rtol=1e-9)
            exact = same[l].ravel()
            np.testing.assert_array_equal(g["hist"][0, l], np.histogram(exact, g["edges"][l])[0])
            assert g["underflow"][0, l] == np.sum(exact < g["edges"][l, 0])
            assert g["overflow"][0, l] == np.sum(exact > g["edges"][l, -1])
            assert g["hist"][0, l].sum() + g["underflow"][0, l] + g["overflow"][0, l] == v.size
    for l, act in enumerate(net.activations):
        a = acts[l]
        np.testing.assert_allclose(t["activation"]["percentiles"][0, l], np.percentile(a, Q), rtol=1e-9, atol=1e-12)
        sat = np.mean((a <= 0.4) | (a >= 0.6)) if act == "sigmoid" else np.mean(np.abs(a) >= 0.6)
        np.testing.assert_allclose(t["activation"]["saturation"][0, l], sat)
    assert t["activation"]["edges"][1, 0] == 0.0 and t["activation"]["edges"][1, -1] == 1.0  # sigmoid
    np.testing.assert_array_equal(t["activation"]["edges"][0, [0, -1]], [-1, 1])
    # Weights and probe-set weight gradients, per layer.
    off = 0
    for l, (n_in, n_out) in enumerate(zip(net.sizes, net.sizes[1:])):
        W = net.weights[l]
        gW = grad[off : off + n_in * n_out]
        off += (n_in + 1) * n_out
        np.testing.assert_allclose(t["weight"]["std"][0, l], W.std(), rtol=1e-9)
        np.testing.assert_allclose(t["weight_grad"]["mean"][0, l], gW.mean(), rtol=1e-7, atol=1e-12)
        np.testing.assert_allclose(t["weight_grad"]["std"][0, l], gW.std(), rtol=1e-7)
        np.testing.assert_allclose(t["weight"]["update_ratio"][0, l],
                                   0.1 * np.linalg.norm(gW) / np.linalg.norm(W), rtol=1e-7)
        np.testing.assert_array_equal(t["weight"]["hist"][0, l], np.histogram(W, t["weight"]["edges"][l])[0])
        R = t["weight"]["edges"][l, -1]
        assert R == pow2_ceil(8 * np.sqrt(np.mean(W.astype(float) ** 2))) and t["weight"]["edges"][l, 0] == -R
    # Jacobians: explicit diag(f'(s)) W^T of each example, numpy's SVD.
    for l, act in enumerate(net.activations):
        svs = []
        for p in range(3):
            J = ref.FUNCS[act][1](pres[l][p], acts[l][p])[:, None] * net.weights[l].T
            svs.append(np.linalg.svd(J, compute_uv=False))
        np.testing.assert_allclose(t["jacobian"]["mean"][0, l], np.concatenate(svs).mean(), rtol=1e-8)
        assert t["jacobian"]["n_examples"][0, l] == 3
        assert t["jacobian"]["hist"][0, l].sum() + t["jacobian"]["overflow"][0, l] == sum(s.size for s in svs)


def test_theory_at_initialization_follows_eqs_5_to_7():
    net, X, y = small_net(acts=("tanh", "tanh", "sigmoid"))
    mon = Monitor(net, X, y, MonitorConfig(probe_size=40, jacobian_examples=0), lr=0.1, total_updates=10)
    mon.record(0, 0, 0.0)
    th = mon.tree()["theory"]
    n = net.sizes
    wv = [W.var() for W in net.weights]
    slope = [1.0, 1.0, 1 / 16]
    var_x = X.var()
    assert th["@attrs"]["input_var"] == pytest.approx(var_x)
    # eq. 5 by hand, layer by layer
    assert th["activation_var_predicted"][0] == pytest.approx(var_x * n[0] * wv[0])
    assert th["activation_var_predicted"][1] == pytest.approx(var_x * n[0] * wv[0] * n[1] * wv[1])
    assert th["activation_var_predicted"][2] == pytest.approx(var_x * n[0] * wv[0] * n[1] * wv[1] * n[2] * wv[2] / 16)
    # eq. 6: from the measured output-layer variance down
    _, deltas = ref.gradient(net, net.params, X, y)
    vd = (deltas[-1] * 40).var()
    assert th["@attrs"]["output_grad_var"] == pytest.approx(vd)
    assert th["backprop_grad_var_predicted"][2] == pytest.approx(vd * slope[2] * n[4] * wv[3])
    assert th["backprop_grad_var_predicted"][0] == pytest.approx(
        vd * slope[2] * n[4] * wv[3] * slope[1] * n[3] * wv[2] * slope[0] * n[2] * wv[1])
    # eq. 7 and the measured per-example weight-gradient variance, formed explicitly
    pres, acts = ref.forward(net, net.params, X)
    for l in range(4):
        z = X if l == 0 else acts[l - 1]
        per_example = np.einsum("pi,pj->pij", z, deltas[l] * 40)
        assert th["weight_grad_var"][l] == pytest.approx(per_example.var(), rel=1e-9)
    np.testing.assert_allclose(th["weight_grad_var_predicted"][0], var_x * th["backprop_grad_var_predicted"][0])
    np.testing.assert_allclose(th["weight_grad_var_predicted"][3], th["activation_var_predicted"][2] * vd)
    np.testing.assert_allclose(th["activation_var"], [a.var() for a in acts[:3]], rtol=1e-9)


def test_relu_and_linear_layers_and_float32():
    net, X, y = small_net(acts=("relu", "linear", "hardtanh"), dtype="float32", init="he-normal")
    mon = Monitor(net, X, y, MonitorConfig(bins=10, jacobian_examples=2), lr=0.1, total_updates=10)
    mon.record(0, 0, 0.0)
    t = mon.tree()
    a, _ = net.forward(X[:40], pre_activations=True)
    dead = np.all(a[0] <= 0, axis=0).mean()
    assert t["activation"]["saturation"][0, 0] == pytest.approx(dead)
    assert t["activation"]["saturation"][0, 1] == 0.0  # linear never saturates
    assert t["activation"]["edges"][0, 0] == 0.0 and t["activation"]["edges"][1, 0] < 0  # relu [0, R]; linear +-R
    assert np.isfinite(t["jacobian"]["mean"][0]).all()


def test_non_finite_values_are_counted_never_a_crash():
    net, X, y = small_net()
    mon = Monitor(net, X, y, MonitorConfig(probe_size=40, jacobian_examples=2), lr=0.1, total_updates=10)
    mon.record(0, 0, 0.0)
    net.weights[1][0, :] = np.nan
    net.weights[0][0, 0] = np.inf
    mon.record(5, 50, 1.0, final=True)
    t = mon.tree()
    assert t["weight"]["nan"][1, 1] == net.sizes[2] and t["weight"]["inf"][1, 0] == 1
    assert t["activation"]["nan"][1, 1] > 0 and t["backprop_grad"]["nan"][1].sum() > 0
    assert t["jacobian"]["nonfinite"][1, 1] == 2 and np.isnan(t["jacobian"]["mean"][1, 1])
    np.testing.assert_array_equal(t["update"], [0, 5])
    for name in ("activation", "preactivation", "backprop_grad", "weight", "weight_grad"):
        g = t[name]
        n_values = g["hist"].sum(-1) + g["underflow"] + g["overflow"] + g["nan"]
        assert (n_values[1] == n_values[0]).all(), name  # nothing dropped
    np.testing.assert_array_equal(mon.tree()["activation"]["edges"], t["activation"]["edges"])


def test_edges_are_fixed_for_the_run_and_the_same_for_the_same_init():
    net, X, y = small_net()
    a = Monitor(net, X, y, MonitorConfig(jacobian_examples=1), lr=0.1, total_updates=10)
    a.record(0, 0, 0.0)
    first = {k: a.tree()[k]["edges"].copy() for k in ("preactivation", "backprop_grad", "weight", "jacobian")}
    net.params *= 3
    a.record(1, 10, 0.0)
    net2, _, _ = small_net()
    b = Monitor(net2, X, y, MonitorConfig(jacobian_examples=1), lr=0.1, total_updates=10)
    b.record(0, 0, 0.0)
    for k, edges in first.items():
        np.testing.assert_array_equal(a.tree()[k]["edges"], edges)
        np.testing.assert_array_equal(b.tree()[k]["edges"], edges)
        assert np.log2(edges[:, -1]).round(12).tolist() == np.round(np.log2(edges[:, -1])).tolist()  # powers of 2
    assert a.tree()["preactivation"]["overflow"][1].sum() > 0  # grown past them: counted, not dropped


def test_jacobian_schedule():
    net, X, y = small_net()
    mon = Monitor(net, X, y, MonitorConfig(every=10, log_points=0, jacobian_examples=1, jacobian_every=25),
                  lr=0.1, total_updates=60)
    for u in mon.planned.tolist():
        mon.record(u, u, 0.0, final=u == 60)
    t = mon.tree()
    np.testing.assert_array_equal(t["update"], [0, 10, 20, 30, 40, 50, 60])
    np.testing.assert_array_equal(t["jacobian"]["n_examples"][:, 0], [1, 0, 0, 1, 0, 1, 1])
    assert np.isnan(t["jacobian"]["mean"][1]).all() and (t["jacobian"]["hist"][1] == 0).all()


def test_jacobian_singular_values_of_a_wide_layer():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((5, 9))  # n_out > n_in: the other Gram matrix
    a = np.tanh(rng.standard_normal(9))
    sv = jacobian_singular_values(W, a, "tanh")
    J = (1 - a * a)[:, None] * W.T
    np.testing.assert_allclose(sv, np.linalg.svd(J, compute_uv=False), rtol=1e-10, atol=1e-12)


def test_jacobian_singular_values_of_a_tall_layer_with_a_shared_gram_matrix():
    """The Gram matrix W^T W, computed once for a layer's examples, gives each
    example the same values as computing it alone, and those are the SVD's."""
    rng = np.random.default_rng(1)
    W = rng.standard_normal((9, 6)).astype(np.float32)  # n_out <= n_in: W^T W
    gram = weight_gram(W)
    assert gram.dtype == np.float64 and gram.shape == (6, 6)
    assert weight_gram(W.T) is None   # the wide layer's Gram matrix depends on the example
    for seed in (2, 3):
        a = np.tanh(np.random.default_rng(seed).standard_normal(6))
        shared = jacobian_singular_values(W, a, "tanh", gram)
        np.testing.assert_array_equal(shared, jacobian_singular_values(W, a, "tanh"))
        J = (1 - a * a)[:, None] * W.T.astype(np.float64)
        np.testing.assert_allclose(shared, np.linalg.svd(J, compute_uv=False), rtol=1e-9, atol=1e-12)


def test_monitor_config_validation():
    with pytest.raises(DeepinitError, match="--saturation-threshold"):
        MonitorConfig(saturation=0.4).validate()
    with pytest.raises(DeepinitError, match="--monitor-every"):
        MonitorConfig(every=0).validate()
    with pytest.raises(DeepinitError, match="--monitor-bins"):
        MonitorConfig(bins=1).validate()


# --------------------------------------------------------------------------- #
# The paper's analysis at initialization (Glorot & Bengio 2010, sec. 4.2, Figs. 6-7)
# --------------------------------------------------------------------------- #

@pytest.mark.slow
def test_paper_gradients_at_initialization_5_tanh_layers_on_shapeset():
    """5 tanh layers of 1000 units, 300 Shapeset-3x2 test examples, standard vs normalized init."""
    from deepinit.datasets import get_dataset

    data = get_dataset("shapeset", seed=0, valid_size=10, test_size=300)
    X, y = data.split("test")
    found = {}
    for init in ("standard", "normalized"):
        net = Network([data.n_inputs] + [1000] * 5 + [data.n_classes], "tanh")
        net.initialize(init, seed=0)
        mon = Monitor(net, X, y, MonitorConfig(jacobian_examples=1), lr=0.01, total_updates=0)
        mon.record(0, 0, 0.0, final=True)
        t = mon.tree()
        found[init] = (t["activation"]["std"][0], t["backprop_grad"]["std"][0], t["jacobian"]["mean"][0])
    act, grad, jac = found["standard"]
    # Standard init: activations shrink going up, back-propagated gradients shrink going down.
    assert np.all(np.diff(act) < 0) and act[0] / act[-1] > 4, act
    assert np.all(np.diff(grad) > 0) and grad[-1] / grad[0] > 4, grad
    assert 0.4 < jac.mean() < 0.6, jac  # the paper: about 0.5
    act, grad, jac = found["normalized"]
    # Normalized init: both stay nearly constant across layers.
    assert act.max() / act.min() < 2.0, act
    assert grad.max() / grad.min() < 2.0, grad
    assert 0.7 < jac.mean() < 0.9, jac  # the paper: about 0.8


def test_a_network_without_hidden_layers():
    net = Network([12, 3], [], dtype="float64")
    net.initialize("normalized", seed=0)
    X = np.random.default_rng(0).uniform(0, 1, (20, 12))
    mon = Monitor(net, X, np.arange(20) % 3, MonitorConfig(), lr=0.1, total_updates=5)
    mon.record(0, 0, 0.0)
    mon.record(5, 50, 0.1, final=True)
    t = mon.tree()
    assert t["activation"]["mean"].shape == (2, 0) and t["jacobian"]["mean"].shape == (2, 0)
    assert t["weight"]["std"].shape == (2, 1) and t["theory"]["weight_grad_var"].shape == (1,)


def test_a_point_runs_numpys_blas_on_the_calling_thread(monkeypatch):
    # A multithreaded BLAS call leaves a helper thread spinning ~0.1 s, on a core the
    # training kernels need next (see deepinit._blas_threads).
    net, X, y = small_net()
    mon = Monitor(net, X, y, MonitorConfig(jacobian_examples=1), lr=0.1, total_updates=10)
    seen = []
    inner = Monitor._record

    def spy(self, update, final):
        seen.append([lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"])
        inner(self, update, final)

    monkeypatch.setattr(Monitor, "_record", spy)
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        before = [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]
        mon.record(0, 0, 0.0, final=True)
        after = [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]
    if not before or max(before) < 2:
        pytest.skip("numpy's BLAS here is single-threaded")
    assert seen == [[1] * len(before)]
    assert after == before  # the limit is lifted after the point
