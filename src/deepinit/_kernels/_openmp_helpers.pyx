"""OpenMP status and the effective thread count (the only module that asks OpenMP)."""


def openmp_enabled():
    """True when the kernels were compiled with OpenMP support."""
    return bool(DEEPINIT_OPENMP_ENABLED)


def max_threads():
    """Threads an OpenMP parallel region would use by default.

    OpenMP's own answer, which honours ``OMP_NUM_THREADS`` (read once, when the
    OpenMP runtime starts) and the CPU affinity mask. 1 without OpenMP.
    """
    return omp_get_max_threads()


def effective_n_threads(n_threads=None):
    """Resolve a user thread request to the count the kernels will use.

    Parameters
    ----------
    n_threads : int or None
        ``None`` or ``-1``: every thread OpenMP would use (``OMP_NUM_THREADS``
        honoured). A positive int: exactly that many (more than the CPUs
        oversubscribes them, which is allowed but slow).
        Negative ``-k``: all but ``k - 1`` of the CPUs, as in scikit-learn.

    Returns
    -------
    int
        At least 1; always 1 when built without OpenMP.
    """
    if n_threads is not None and (not isinstance(n_threads, int) or n_threads == 0):
        raise ValueError(f"n_threads must be a non-zero int or None, got {n_threads!r}")
    if not DEEPINIT_OPENMP_ENABLED:
        return 1
    default = omp_get_max_threads()
    if n_threads is None or n_threads == -1:
        return default
    if n_threads < 0:
        return max(1, omp_get_num_procs() + n_threads + 1)
    return n_threads
