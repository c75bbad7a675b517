"""Initialization schemes: variances, bounds, the fan convention, orthogonality."""

import numpy as np
import pytest

from deepinit.choices import INIT_SCHEMES
from deepinit.errors import DeepinitError
from deepinit.initializers import init_weights, target_variance
from deepinit.network import Network


@pytest.mark.parametrize("scheme", INIT_SCHEMES)
@pytest.mark.parametrize("fan_in, fan_out", [(400, 100), (100, 400)])
def test_variance_matches_the_documented_target(scheme, fan_in, fan_out):
    W = init_weights(scheme, fan_in, fan_out, np.random.default_rng(0), scale=1.5)
    assert W.shape == (fan_in, fan_out)
    assert W.var() == pytest.approx(target_variance(scheme, fan_in, fan_out, 1.5), rel=0.03)
    assert abs(W.mean()) < 0.02 * W.std() * 10


def test_paper_formulas_and_fan_convention():
    # Standard init (Glorot & Bengio eq. 1): U[-1/sqrt(n), 1/sqrt(n)], n = size of the
    # layer *below* (fan_in = W.shape[0]); normalized (eq. 16) uses both fans.
    rng = np.random.default_rng(0)
    W = init_weights("standard", 100, 2500, rng)
    assert np.abs(W).max() <= 0.1 and np.abs(W).max() > 0.0999
    W = init_weights("normalized", 100, 2500, rng)
    bound = np.sqrt(6 / 2600)
    assert np.abs(W).max() <= bound and np.abs(W).max() > 0.999 * bound
    assert target_variance("normalized-x4", 10, 30) == pytest.approx(16 * target_variance("normalized", 10, 30))


@pytest.mark.parametrize("fan_in, fan_out", [(50, 20), (20, 50), (30, 30)])
def test_orthogonal_has_orthonormal_columns_or_rows(fan_in, fan_out):
    W = init_weights("orthogonal", fan_in, fan_out, np.random.default_rng(3))
    gram = W.T @ W if fan_in >= fan_out else W @ W.T
    np.testing.assert_allclose(gram, np.eye(min(fan_in, fan_out)), atol=1e-12)


def test_network_initialize_reports_and_is_seeded():
    net = Network((30, 20, 10, 4), "tanh")
    report = net.initialize("standard", seed=5)
    assert [(r.fan_in, r.fan_out) for r in report] == [(30, 20), (20, 10), (10, 4)]
    assert report[0].target_std == pytest.approx(1 / np.sqrt(90))
    assert all(np.all(b == 0) for b in net.biases)
    first = net.params.copy()
    net.initialize("standard", seed=5)
    np.testing.assert_array_equal(first, net.params)
    net.initialize("standard", seed=6)
    assert not np.array_equal(first, net.params)
    with pytest.raises(DeepinitError, match="unknown init scheme"):
        net.initialize("glorot", seed=0)
