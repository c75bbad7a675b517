"""Statistics kernels for monitoring: moments, histograms, percentiles, saturation.

Segments
--------
Every kernel works on *segments* of one flat C-contiguous buffer: segment ``g``
is ``values[starts[g]:stops[g]]``. One call therefore covers every layer of a
network at once, whether the layers lie back to back (the activation layout of
``deepinit._kernels._dense``) or with gaps (the weights inside the flat
parameter buffer, between which lie the biases).

Non-finite values
-----------------
NaN and +-inf are never dropped silently. The moments and percentiles are those
of the finite values; NaN and infinities are counted separately
(:func:`moments`). Histograms put -inf into the underflow count, +inf into the
overflow count and NaN into its own count, so that
``sum(counts) + under + over + nan`` is always the segment's length.

Determinism and parallelism
---------------------------
Work is cut into tasks of a fixed partition: (segment, block of ``BLOCK``
elements) for the moments and histograms, (segment, block of columns) for dead
units, whole segments for percentiles. Floating-point partial sums are kept per
task and combined in task order, so every result is bitwise identical for any
``n_threads``; histogram and saturation counts are integers, exact in any order.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport fabs, floor, sqrt, isnan, isinf, NAN
from libc.stdint cimport int64_t

import numpy as np

from ._activations cimport (
    ACT_SIGMOID, ACT_TANH, ACT_SOFTSIGN, ACT_RELU, ACT_HARDTANH, ACT_LINEAR,
)
from ._openmp_helpers cimport omp_get_thread_num


cdef enum:
    GRAIN = 131072       # elements per thread below which fewer threads are used
    BLOCK = 16384        # elements per moment/histogram task
    COL_BLOCK = 64       # units per dead-unit task
    SMALL = 16           # selection: insertion sort below this many elements
    LANES = 8            # fixed partial sums of the moment loops
    SUBHIST = 4          # interleaved sub-histograms per task (a power of two)
    MAX_BINS = 10000     # histogram bins per call
    MAX_Q = 64           # percentiles per call


# --------------------------------------------------------------------------- #
# Task tables (Python level, before the nogil regions)
# --------------------------------------------------------------------------- #

def _check_segments(Py_ssize_t n, starts, stops):
    starts = np.ascontiguousarray(starts, dtype=np.intp)
    stops = np.ascontiguousarray(stops, dtype=np.intp)
    if starts.ndim != 1 or starts.shape != stops.shape:
        raise ValueError("starts and stops must be 1-D arrays of the same length")
    if starts.size and (starts.min() < 0 or stops.max() > n or (stops < starts).any()):
        raise ValueError(f"segments must lie within the {n} values, with start <= stop")
    return starts, stops


def _threads_for(Py_ssize_t n_elements, int n_threads):
    """Threads worth starting for n_elements: one per GRAIN elements, at most n_threads.

    A parallel region costs a few microseconds on an idle machine but up to a
    scheduler time slice on a busy one; the monitoring buffers are small, so
    small calls stay serial. Results never depend on the thread count.
    """
    return max(1, min(n_threads, n_elements // GRAIN))


def _element_tasks(starts, stops):
    """(segment, lo, hi) of every block of BLOCK elements, segment by segment."""
    seg, lo, hi = [], [], []
    for g in range(starts.shape[0]):
        for b0 in range(starts[g], stops[g], BLOCK):
            seg.append(g)
            lo.append(b0)
            hi.append(min(b0 + BLOCK, stops[g]))
    return (np.asarray(seg, dtype=np.intp), np.asarray(lo, dtype=np.intp),
            np.asarray(hi, dtype=np.intp))


# --------------------------------------------------------------------------- #
# Moments
# --------------------------------------------------------------------------- #

cdef void _sum_task(const floating* x, Py_ssize_t lo, Py_ssize_t hi, double* s,
                    int64_t* n_finite, int64_t* n_nan, int64_t* n_inf) noexcept nogil:
    """Sum and counts of x[lo:hi], in LANES fixed partial sums combined in lane order.

    Branch-free (a value is finite iff v - v == 0), so that the compiler can
    vectorize across lanes without reassociating any sum: the result is the
    same bits whatever the vector width.
    """
    cdef double acc[LANES]
    cdef int64_t fin[LANES]
    cdef int64_t nan = 0
    cdef Py_ssize_t k, j, b, n_full = lo + (hi - lo) // LANES * LANES
    cdef double v, total = 0
    cdef int64_t n_fin = 0
    cdef bint ok
    for j in range(LANES):
        acc[j] = 0
        fin[j] = 0
    for b in range((hi - lo) // LANES):
        k = lo + b * LANES
        for j in range(LANES):
            v = x[k + j]
            ok = v - v == 0
            acc[j] += v if ok else 0.0
            fin[j] += ok
    for k in range(n_full, hi):
        v = x[k]
        ok = v - v == 0
        acc[k - n_full] += v if ok else 0.0
        fin[k - n_full] += ok
    for j in range(LANES):
        total += acc[j]
        n_fin += fin[j]
    for k in range(lo, hi):     # NaN are rare: count them apart, inf = the rest
        nan += isnan(<double>x[k])
    s[0] = total
    n_finite[0] = n_fin
    n_nan[0] = nan
    n_inf[0] = (hi - lo) - n_fin - nan


cdef double _ssd_task(const floating* x, Py_ssize_t lo, Py_ssize_t hi,
                      double mean) noexcept nogil:
    """Sum of squared deviations from ``mean`` of the finite values of x[lo:hi] (lanes as above)."""
    cdef double acc[LANES]
    cdef Py_ssize_t k, j, b, n_full = lo + (hi - lo) // LANES * LANES
    cdef double v, d, total = 0
    for j in range(LANES):
        acc[j] = 0
    for b in range((hi - lo) // LANES):
        k = lo + b * LANES
        for j in range(LANES):
            v = x[k + j]
            d = v - mean
            acc[j] += d * d if v - v == 0 else 0.0
    for k in range(n_full, hi):
        v = x[k]
        d = v - mean
        acc[k - n_full] += d * d if v - v == 0 else 0.0
    for j in range(LANES):
        total += acc[j]
    return total


def moments(const floating[::1] values, starts, stops, double[::1] mean_out,
            double[::1] std_out, int64_t[::1] finite_out, int64_t[::1] nan_out,
            int64_t[::1] inf_out, int n_threads):
    """Mean and standard deviation of each segment's finite values, in float64.

    Two passes (the mean, then the squared deviations from it), each summing
    fixed blocks in parallel and combining the block sums in block order.

    Parameters
    ----------
    values : (n,) float32 or float64 buffer.
    starts, stops : (n_seg,) int, segment g is ``values[starts[g]:stops[g]]``.
    mean_out, std_out : (n_seg,) float64
        Mean and population standard deviation (ddof 0) of the finite values;
        NaN when a segment has none.
    finite_out, nan_out, inf_out : (n_seg,) int64
        Counts of finite, NaN and infinite (either sign) values.
    n_threads : int
    """
    starts, stops = _check_segments(values.shape[0], starts, stops)
    cdef Py_ssize_t n_seg = starts.shape[0]
    if not (mean_out.shape[0] == std_out.shape[0] == finite_out.shape[0]
            == nan_out.shape[0] == inf_out.shape[0] == n_seg):
        raise ValueError("every output needs one entry per segment")
    seg_a, lo_a, hi_a = _element_tasks(starts, stops)
    cdef const Py_ssize_t[::1] seg = seg_a
    cdef const Py_ssize_t[::1] lo = lo_a
    cdef const Py_ssize_t[::1] hi = hi_a
    cdef Py_ssize_t n_task = seg.shape[0], t, g
    cdef double[::1] sums = np.zeros(n_task)
    cdef int64_t[:, ::1] counts = np.zeros((n_task, 3), dtype=np.int64)
    cdef double[::1] means = np.zeros(n_seg)
    cdef const floating* x = &values[0] if values.shape[0] else NULL
    n_threads = _threads_for((stops - starts).sum(), n_threads)
    for g in range(n_seg):
        mean_out[g] = 0
        std_out[g] = 0
        finite_out[g] = 0
        nan_out[g] = 0
        inf_out[g] = 0
    if n_task == 0:
        for g in range(n_seg):
            mean_out[g] = NAN
            std_out[g] = NAN
        return
    with nogil:
        for t in prange(n_task, schedule="static", num_threads=n_threads):
            _sum_task(x, lo[t], hi[t], &sums[t], &counts[t, 0], &counts[t, 1], &counts[t, 2])
        for t in range(n_task):                       # fixed order
            g = seg[t]
            mean_out[g] += sums[t]
            finite_out[g] += counts[t, 0]
            nan_out[g] += counts[t, 1]
            inf_out[g] += counts[t, 2]
        for g in range(n_seg):
            mean_out[g] = mean_out[g] / finite_out[g] if finite_out[g] else NAN
            means[g] = mean_out[g]
        for t in prange(n_task, schedule="static", num_threads=n_threads):
            sums[t] = _ssd_task(x, lo[t], hi[t], means[seg[t]])
        for t in range(n_task):
            std_out[seg[t]] += sums[t]
        for g in range(n_seg):
            std_out[g] = sqrt(std_out[g] / finite_out[g]) if finite_out[g] else NAN


# --------------------------------------------------------------------------- #
# Histograms into fixed edges
# --------------------------------------------------------------------------- #

cdef void _hist_task(const floating* x, Py_ssize_t lo, Py_ssize_t hi,
                     const double* edges, Py_ssize_t nb, int64_t* acc) noexcept nogil:
    """Count x[lo:hi] into acc = [bin 0 .. bin nb-1, under, over, nan].

    Bin k holds edges[k] <= v < edges[k+1]; the last bin also holds v ==
    edges[nb] (numpy.histogram's convention). The index is guessed from the
    first and last edge, then corrected against the edges themselves, so the
    counts are exact for any increasing edges (and need no correction at all
    for uniform ones, except at rounding boundaries). Consecutive values go to
    SUBHIST interleaved sub-histograms, summed at the end: peaked data (most
    values in a few bins) would otherwise wait on the previous increment of the
    same counter.
    """
    cdef int64_t sub[SUBHIST][MAX_BINS + 3]
    cdef Py_ssize_t k, i, h, w = nb + 3
    cdef double v, e0 = edges[0], en = edges[nb]
    cdef double scale = nb / (en - e0)
    for h in range(SUBHIST):
        for i in range(w):
            sub[h][i] = 0
    for k in range(lo, hi):
        v = x[k]
        h = k & (SUBHIST - 1)
        if v >= e0 and v <= en:
            i = <Py_ssize_t>((v - e0) * scale)
            if i >= nb:
                i = nb - 1
            while i > 0 and v < edges[i]:
                i -= 1
            while i < nb - 1 and v >= edges[i + 1]:
                i += 1
            sub[h][i] += 1
        elif v < e0:
            sub[h][nb] += 1
        elif v > en:
            sub[h][nb + 1] += 1
        else:
            sub[h][nb + 2] += 1       # NaN: every comparison is false
    for h in range(SUBHIST):
        for i in range(w):
            acc[i] += sub[h][i]


def histogram(const floating[::1] values, starts, stops, const double[:, ::1] edges,
              int64_t[:, ::1] counts_out, int64_t[::1] under_out, int64_t[::1] over_out,
              int64_t[::1] nan_out, int n_threads):
    """Histogram of each segment into its own fixed, increasing bin edges.

    Parameters
    ----------
    values : (n,) float32 or float64 buffer.
    starts, stops : (n_seg,) int, the segments.
    edges : (n_seg, n_bins + 1) float64, strictly increasing along each row.
    counts_out : (n_seg, n_bins) int64
        ``counts_out[g, k]``: values v of segment g with ``edges[g, k] <= v <
        edges[g, k+1]`` (the last bin is closed on the right), exactly as
        ``numpy.histogram(segment, edges[g])``.
    under_out, over_out : (n_seg,) int64
        Values below the first edge (-inf included) and above the last (+inf
        included): out-of-range values are counted, never dropped.
    nan_out : (n_seg,) int64
        NaN values.
    n_threads : int
    """
    starts, stops = _check_segments(values.shape[0], starts, stops)
    cdef Py_ssize_t n_seg = starts.shape[0], nb = edges.shape[1] - 1
    if edges.shape[0] != n_seg or not 1 <= nb <= MAX_BINS:
        raise ValueError(f"edges must have shape (n_segments, n_bins + 1) with 1 <= n_bins <= {MAX_BINS}")
    if counts_out.shape[0] != n_seg or counts_out.shape[1] != nb:
        raise ValueError("counts_out must have shape (n_segments, n_bins)")
    if not (under_out.shape[0] == over_out.shape[0] == nan_out.shape[0] == n_seg):
        raise ValueError("under_out, over_out and nan_out need one entry per segment")
    e = np.asarray(edges)
    if n_seg and not (np.isfinite(e).all() and (np.diff(e, axis=1) > 0).all()):
        raise ValueError("histogram edges must be finite and strictly increasing")
    seg_a, lo_a, hi_a = _element_tasks(starts, stops)
    cdef const Py_ssize_t[::1] seg = seg_a
    cdef const Py_ssize_t[::1] lo = lo_a
    cdef const Py_ssize_t[::1] hi = hi_a
    cdef Py_ssize_t n_task = seg.shape[0], t, g, k, th
    cdef Py_ssize_t width = nb + 3
    n_threads = _threads_for((stops - starts).sum(), n_threads)
    # One accumulator per thread and segment: integer counts, exact in any order.
    cdef int64_t[:, :, ::1] acc = np.zeros((n_threads, max(n_seg, 1), width), dtype=np.int64)
    cdef const floating* x = &values[0] if values.shape[0] else NULL
    with nogil:
        for t in prange(n_task, schedule="static", num_threads=n_threads):
            _hist_task(x, lo[t], hi[t], &edges[seg[t], 0], nb,
                       &acc[omp_get_thread_num(), seg[t], 0])
        for g in range(n_seg):
            for k in range(nb):
                counts_out[g, k] = 0
            under_out[g] = 0
            over_out[g] = 0
            nan_out[g] = 0
            for th in range(n_threads):
                for k in range(nb):
                    counts_out[g, k] += acc[th, g, k]
                under_out[g] += acc[th, g, nb]
                over_out[g] += acc[th, g, nb + 1]
                nan_out[g] += acc[th, g, nb + 2]


# --------------------------------------------------------------------------- #
# Percentiles by selection
# --------------------------------------------------------------------------- #

cdef inline void _swap(floating* a, Py_ssize_t i, Py_ssize_t j) noexcept nogil:
    cdef floating t = a[i]
    a[i] = a[j]
    a[j] = t


cdef void _sift_down(floating* a, Py_ssize_t root, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t child
    while 2 * root + 1 < n:
        child = 2 * root + 1
        if child + 1 < n and a[child] < a[child + 1]:
            child += 1
        if a[root] < a[child]:
            _swap(a, root, child)
            root = child
        else:
            return


cdef void _heapsort(floating* a, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n // 2 - 1, -1, -1):
        _sift_down(a, i, n)
    for i in range(n - 1, 0, -1):
        _swap(a, 0, i)
        _sift_down(a, 0, i)


cdef void _multiselect(floating* a, Py_ssize_t lo, Py_ssize_t hi, const Py_ssize_t* ks,
                       Py_ssize_t nk, int budget) noexcept nogil:
    """Rearrange a[lo:hi] (finite values) so that a[k] holds the value of rank k
    for every k of ``ks`` (ascending, within [lo, hi)).

    Afterwards a[lo:k] <= a[k] <= a[k+1:hi] for each such k. Quickselect on
    several ranks at once (as numpy.partition with a list of kth): a median-of-
    three pivot and a three-way partition, so that runs of equal values
    (saturated units at exactly +-1, dead ReLUs at 0) shrink the range at once
    instead of making it quadratic; the ranks are split between the two sides
    and the left side is recursed into. ``budget`` bounds the rounds on any
    path: when it runs out the range is heapsorted, which bounds the worst case
    by O(n log n).
    """
    cdef Py_ssize_t lt, gt, i, j, mid
    cdef floating p, x0, x1, x2, v
    while nk > 0 and hi - lo > SMALL:
        if budget == 0:
            _heapsort(a + lo, hi - lo)
            return
        budget -= 1
        mid = lo + (hi - lo) // 2
        x0 = a[lo]
        x1 = a[mid]
        x2 = a[hi - 1]
        if x0 < x1:
            p = x1 if x1 < x2 else (x2 if x0 < x2 else x0)
        else:
            p = x0 if x0 < x2 else (x2 if x1 < x2 else x1)
        lt = lo
        i = lo
        gt = hi
        while i < gt:
            if a[i] < p:
                _swap(a, lt, i)
                lt += 1
                i += 1
            elif a[i] > p:
                gt -= 1
                _swap(a, i, gt)
            else:
                i += 1
        # ks[:i] lie left of the pivot run, ks[j:] right of it; those between are done.
        i = 0
        while i < nk and ks[i] < lt:
            i += 1
        j = i
        while j < nk and ks[j] < gt:
            j += 1
        if i > 0:
            _multiselect(a, lo, lt, ks, i, budget)
        ks += j
        nk -= j
        lo = gt
    if nk > 0:  # insertion sort of the small rest
        for i in range(lo + 1, hi):
            v = a[i]
            j = i - 1
            while j >= lo and a[j] > v:
                a[j + 1] = a[j]
                j -= 1
            a[j + 1] = v


cdef void _percentiles_task(const floating* x, Py_ssize_t lo, Py_ssize_t hi,
                            const double* q, Py_ssize_t n_q, floating* work,
                            double* out) noexcept nogil:
    """Percentiles q (ascending, in [0, 100]) of the finite values of x[lo:hi].

    numpy's default ("linear") definition: the value at fractional rank
    ``q / 100 * (m - 1)`` of the m finite values, interpolated between the two
    order statistics around it. All the order statistics needed (at most
    2 n_q ranks) are selected in one multi-rank selection.
    """
    cdef Py_ssize_t ks[2 * MAX_Q]
    cdef Py_ssize_t k, m = 0, i, r, nk = 0, budget = 8
    cdef double v, pos, frac, v0, v1, d
    ks[0] = 0
    for k in range(lo, hi):
        v = x[k]
        if not (isnan(v) or isinf(v)):
            work[m] = x[k]
            m += 1
    if m == 0:
        for i in range(n_q):
            out[i] = NAN
        return
    for i in range(n_q):
        r = <Py_ssize_t>floor((q[i] / 100.0) * (m - 1))
        for k in range(r, min(r + 2, m)):
            if nk == 0 or ks[nk - 1] < k:
                ks[nk] = k
                nk += 1
    k = m
    while k > 1:
        budget += 2
        k >>= 1
    _multiselect(work, 0, m, ks, nk, <int>budget)
    for i in range(n_q):
        pos = (q[i] / 100.0) * (m - 1)
        r = <Py_ssize_t>floor(pos)
        if r > m - 1:
            r = m - 1
        frac = pos - r
        v0 = work[r]
        if frac > 0 and r + 1 < m:
            v1 = work[r + 1]
            d = v1 - v0
            # numpy's _lerp: exact at both ends, monotonic in frac.
            out[i] = v1 - d * (1 - frac) if frac >= 0.5 else v0 + d * frac
        else:
            out[i] = v0


def percentiles(const floating[::1] values, starts, stops, q, double[:, ::1] out,
                floating[::1] work, int n_threads):
    """Percentiles of each segment's finite values (exact, by selection).

    Matches ``numpy.percentile(finite_values, q)`` (method "linear") up to the
    rounding of the interpolation. One multi-rank selection per segment:
    O(n log n_q) on average, against O(n log n) for a sort.

    Parameters
    ----------
    values : (n,) float32 or float64 buffer.
    starts, stops : (n_seg,) int, the segments.
    q : (n_q,) float, percentiles in [0, 100], ascending.
    out : (n_seg, n_q) float64, NaN for a segment without finite values.
    work : (sum of segment lengths,) same dtype as values; scratch.
    n_threads : int
        Segments are computed in parallel (one segment per task).
    """
    starts, stops = _check_segments(values.shape[0], starts, stops)
    q_a = np.ascontiguousarray(q, dtype=np.float64)
    if q_a.ndim != 1 or (q_a.size and (not np.isfinite(q_a).all() or q_a.min() < 0
                                       or q_a.max() > 100 or (np.diff(q_a) < 0).any())):
        raise ValueError("q must be ascending percentiles in [0, 100]")
    if q_a.shape[0] > MAX_Q:
        raise ValueError(f"at most {MAX_Q} percentiles per call")
    cdef Py_ssize_t n_seg = starts.shape[0], n_q = q_a.shape[0], g
    if out.shape[0] != n_seg or out.shape[1] != n_q:
        raise ValueError("out must have shape (n_segments, n_q)")
    lengths = stops - starts
    offs_a = (np.cumsum(lengths) - lengths).astype(np.intp)   # start of each segment's work
    total = int(lengths.sum())
    if work.shape[0] < total:
        raise ValueError(f"work needs at least {total} elements")
    if n_q == 0 or n_seg == 0:
        return
    cdef const Py_ssize_t[::1] st = starts
    cdef const Py_ssize_t[::1] sp = stops
    cdef const Py_ssize_t[::1] offs = offs_a
    cdef const double[::1] qv = q_a
    cdef const floating* x = &values[0] if values.shape[0] else NULL
    cdef floating* w = &work[0] if work.shape[0] else NULL
    n_threads = _threads_for(total, n_threads)
    with nogil:
        for g in prange(n_seg, schedule="dynamic", num_threads=n_threads):
            _percentiles_task(x, st[g], sp[g], &qv[0], n_q, w + offs[g], &out[g, 0])


# --------------------------------------------------------------------------- #
# Saturation
# --------------------------------------------------------------------------- #

cdef int64_t _saturated_task(const floating* x, Py_ssize_t lo, Py_ssize_t hi, int act,
                             double t) noexcept nogil:
    """Values of x[lo:hi] saturated for a bounded activation (NaN never counts)."""
    cdef Py_ssize_t k
    cdef int64_t n = 0
    cdef double v
    if act == ACT_SIGMOID:
        for k in range(lo, hi):
            v = x[k]
            n += (v <= 1 - t) or (v >= t)
    elif act == ACT_TANH or act == ACT_SOFTSIGN or act == ACT_HARDTANH:
        for k in range(lo, hi):
            n += fabs(x[k]) >= t
    return n


cdef int64_t _dead_task(const floating* x, Py_ssize_t start, Py_ssize_t n_rows,
                        Py_ssize_t n_cols, Py_ssize_t j0, Py_ssize_t j1) noexcept nogil:
    """Units j0:j1 of a (n_rows, n_cols) block whose value is <= 0 on every row."""
    cdef char alive[COL_BLOCK]
    cdef Py_ssize_t r, j
    cdef int64_t dead = 0
    cdef const floating* row
    for j in range(j1 - j0):
        alive[j] = 0
    for r in range(n_rows):
        row = x + start + r * n_cols
        for j in range(j0, j1):
            alive[j - j0] |= not (row[j] <= 0)   # NaN: not known to be dead
    for j in range(j1 - j0):
        dead += not alive[j]
    return dead


def saturation(const floating[::1] values, starts, stops, n_cols, acts, double threshold,
               int64_t[::1] count_out, int n_threads):
    """Count saturated values (bounded activations) or dead units (ReLU) per segment.

    Each segment is a (n_rows, n_cols[g]) row-major block of activations a = f(s).

    ============================  ===============================================
    activation                    counted
    ============================  ===============================================
    tanh, softsign, hardtanh      values with ``|a| >= threshold``
    sigmoid                       values with ``a <= 1 - threshold`` or ``a >= threshold``
    relu                          units (columns) with ``a <= 0`` on every row
    linear                        nothing (0): a linear unit cannot saturate
    ============================  ===============================================

    Parameters
    ----------
    values : (n,) float32 or float64 buffer.
    starts, stops : (n_seg,) int, the segments; each length a multiple of n_cols[g].
    n_cols : (n_seg,) int, units per row of each segment.
    acts : (n_seg,) int, activation codes (``deepinit._kernels.dense.ACTIVATIONS``).
    threshold : float in (0.5, 1) for sigmoid, (0, 1] otherwise.
    count_out : (n_seg,) int64
        Saturated values, or dead units for relu.
    n_threads : int
    """
    starts, stops = _check_segments(values.shape[0], starts, stops)
    cols_a = np.ascontiguousarray(n_cols, dtype=np.intp)
    acts_a = np.ascontiguousarray(acts, dtype=np.intc)
    cdef Py_ssize_t n_seg = starts.shape[0]
    if cols_a.shape != (n_seg,) or acts_a.shape != (n_seg,) or count_out.shape[0] != n_seg:
        raise ValueError("n_cols, acts and count_out need one entry per segment")
    if n_seg and (cols_a.min() < 1 or ((stops - starts) % cols_a).any()):
        raise ValueError("every segment must hold whole rows of n_cols[g] values")
    # Tasks: element blocks for bounded activations, column blocks for relu.
    seg, lo, hi = [], [], []
    for g in range(n_seg):
        if acts_a[g] == ACT_RELU:
            for j0 in range(0, cols_a[g], COL_BLOCK):
                seg.append(g)
                lo.append(j0)
                hi.append(min(j0 + COL_BLOCK, cols_a[g]))
        elif acts_a[g] != ACT_LINEAR:
            for b0 in range(starts[g], stops[g], BLOCK):
                seg.append(g)
                lo.append(b0)
                hi.append(min(b0 + BLOCK, stops[g]))
    cdef const Py_ssize_t[::1] tseg = np.asarray(seg, dtype=np.intp)
    cdef const Py_ssize_t[::1] tlo = np.asarray(lo, dtype=np.intp)
    cdef const Py_ssize_t[::1] thi = np.asarray(hi, dtype=np.intp)
    cdef const Py_ssize_t[::1] st = starts
    cdef const Py_ssize_t[::1] sp = stops
    cdef const Py_ssize_t[::1] nc = cols_a
    cdef const int[::1] ac = acts_a
    cdef Py_ssize_t n_task = tseg.shape[0], t, g2
    cdef int64_t[::1] part = np.zeros(max(n_task, 1), dtype=np.int64)
    cdef const floating* x = &values[0] if values.shape[0] else NULL
    n_threads = _threads_for((stops - starts).sum(), n_threads)
    with nogil:
        for t in prange(n_task, schedule="static", num_threads=n_threads):
            g2 = tseg[t]
            if ac[g2] == ACT_RELU:
                part[t] = _dead_task(x, st[g2], (sp[g2] - st[g2]) // nc[g2], nc[g2], tlo[t], thi[t])
            else:
                part[t] = _saturated_task(x, tlo[t], thi[t], ac[g2], threshold)
        for g2 in range(n_seg):
            count_out[g2] = 0
        for t in range(n_task):
            count_out[tseg[t]] += part[t]
