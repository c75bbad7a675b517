"""Shared fixtures: the real MNIST test set, read from the ``shared/`` folder beside the repo."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

MNIST_TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """Directory of the official t10k files (env ``DEEPINIT_MNIST_DIR`` overrides); skip if absent.

    The files are never copied into the repo, so tests read them in place.
    """
    default = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
    directory = Path(os.environ.get("DEEPINIT_MNIST_DIR") or default)
    missing = [name for name in MNIST_TEST_FILES if not (directory / name).is_file()]
    if missing:
        pytest.skip(f"real MNIST test set not found at {directory}: missing {', '.join(missing)}")
    return directory


@pytest.fixture(scope="session")
def mnist_test_set(mnist_dir: Path):
    """The 10,000 real test digits: X (10000, 784) float32 in [0, 1], y (10000,) int32."""
    from deepinit.datasets.mnist import load_idx_pair

    X, y = load_idx_pair(mnist_dir / MNIST_TEST_FILES[0], mnist_dir / MNIST_TEST_FILES[1])
    # Shared by every test of the session: read-only so that no test can alter another's data.
    X.flags.writeable = False
    y.flags.writeable = False
    return X, y


@pytest.fixture(scope="session")
def blobs(tmp_path_factory):
    """A small learnable 3-class problem (20 inputs) as an .npz file with explicit splits.

    600 training, 200 validation and 200 test examples around 3 fixed centers.
    """
    rng = np.random.default_rng(0)
    centers = rng.uniform(0.2, 0.8, (3, 20))

    def draw(n):
        y = rng.integers(0, 3, n)
        return np.clip(centers[y] + rng.normal(0, 0.1, (n, 20)), 0, 1).astype(np.float32), y

    x, y = draw(600)
    xv, yv = draw(200)
    xt, yt = draw(200)
    path = tmp_path_factory.mktemp("data") / "blobs.npz"
    np.savez(path, x=x, y=y, x_valid=xv, y_valid=yv, x_test=xt, y_test=yt)
    return str(path)

