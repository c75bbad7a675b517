"""numpy's BLAS, kept off the cores that deepinit's OpenMP kernels use.

After each multithreaded call, OpenBLAS (numpy's BLAS) keeps a helper thread
spinning for about 0.1 s in case another call follows: a whole core for 105 ms,
measured on the project's 2-core machine. The training kernels that run next
then share that core with it, and every OpenMP barrier waits for the thread
that lost its core: 100 updates of the paper's network at batch 10 on 2 threads
took 379 ms (median) right after a monitoring-sized matrix product, against
260 ms after the same product on one BLAS thread. So the little linear algebra
deepinit does with numpy between kernel calls (the monitor's pre-activations
and Jacobian spectra) runs on the calling thread, as scikit-learn does around
its OpenMP code (via threadpoolctl).
"""

from __future__ import annotations

import contextlib

_controller = None


def serial_blas() -> contextlib.AbstractContextManager:
    """A context manager in which numpy's BLAS (and LAPACK) use one thread, the caller's.

    The BLAS libraries are looked up once, at the first call (threadpoolctl
    inspects the libraries loaded in the process, which takes milliseconds).
    """
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")
