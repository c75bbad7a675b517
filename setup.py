"""Build the Cython kernels, with OpenMP where the compiler supports it.

Environment variables
---------------------
DEEPINIT_FAIL_NO_OPENMP=1
    Make a compiler without OpenMP support a build error instead of a warned
    serial fallback (set in ``.ci/run``).
DEEPINIT_NATIVE=1
    Add ``-march=native``. Off by default: a built package must run on other CPUs.
"""

import os
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import warnings
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

KERNEL_DIR = Path("src/deepinit/_kernels")

OPENMP_TEST = textwrap.dedent(
    """
    #include <omp.h>
    #include <stdio.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        printf("%d", n == omp_get_max_threads());
        return 0;
    }
    """
)


def _env_flag(name):
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def openmp_flags():
    """Return (compile_args, link_args) for OpenMP, or ([], []) when unsupported."""
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    cc = cc.split()
    candidates = [(["-fopenmp"], ["-fopenmp"])]
    if sys.platform == "darwin":
        candidates.append((["-Xpreprocessor", "-fopenmp"], ["-lomp"]))
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "omp_test.c"
        src.write_text(OPENMP_TEST)
        exe = Path(tmp) / "omp_test"
        for cflags, lflags in candidates:
            cmd = [*cc, *cflags, str(src), "-o", str(exe), *lflags]
            try:
                subprocess.run(cmd, check=True, capture_output=True)
                out = subprocess.run([str(exe)], check=True, capture_output=True, text=True)
            except (OSError, subprocess.CalledProcessError):
                continue
            if out.stdout.strip() == "1":
                return cflags, lflags
    message = (
        "deepinit: the C compiler does not support OpenMP; the kernels will be built "
        "serial (single-threaded). Install a compiler with OpenMP (e.g. gcc, or "
        "libomp on macOS) for multicore speed."
    )
    if _env_flag("DEEPINIT_FAIL_NO_OPENMP"):
        raise RuntimeError(message + " (DEEPINIT_FAIL_NO_OPENMP is set.)")
    warnings.warn(message, stacklevel=1)
    return [], []


def extensions():
    omp_c, omp_l = openmp_flags()
    # No -ffast-math: it licenses the compiler to reassociate sums, which would
    # break bitwise reproducibility and the float64 gradient check.
    compile_args = ["-O3", "-fno-math-errno", "-fno-trapping-math", *omp_c]
    if _env_flag("DEEPINIT_NATIVE"):
        compile_args.append("-march=native")
    exts = []
    for pyx in sorted(KERNEL_DIR.glob("*.pyx")):
        exts.append(
            Extension(
                f"deepinit._kernels.{pyx.stem}",
                [str(pyx)],
                include_dirs=[np.get_include()],
                define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
                extra_compile_args=compile_args,
                extra_link_args=omp_l,
            )
        )
    return cythonize(
        exts,
        include_path=["src"],
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
            "nonecheck": False,
        },
    )


setup(ext_modules=extensions())
