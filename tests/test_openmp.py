"""This build must have OpenMP; the thread count honours OMP_NUM_THREADS."""

import subprocess
import sys

import pytest

from deepinit._kernels import _dense
from deepinit._kernels._openmp_helpers import effective_n_threads, openmp_enabled
from deepinit.choices import ACTIVATIONS, COSTS


def test_openmp_is_enabled_in_this_build():
    assert openmp_enabled(), "the kernels were built without OpenMP (see the warning of the build)"


def test_omp_num_threads_is_honoured():
    code = "from deepinit._kernels._openmp_helpers import effective_n_threads as f; print(f(), f(3), f(-1))"
    out = subprocess.run([sys.executable, "-c", code], env={"OMP_NUM_THREADS": "1", "PATH": ""},
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["1", "3", "1"]


def test_effective_n_threads_rejects_zero():
    assert effective_n_threads(2) == 2
    with pytest.raises(ValueError):
        effective_n_threads(0)


def test_user_facing_names_match_the_kernel_codes():
    assert set(ACTIVATIONS) == set(_dense.ACTIVATIONS)
    assert set(COSTS) == set(_dense.COSTS)
