"""Dense feedforward network kernels: forward, backward, fused SGD, evaluation.

Layout (shared with deepinit.network, documented in docs/network.md)
----------------------------------------------------------------------
A network with layer sizes ``n_0 (inputs), n_1, ..., n_L (outputs)`` keeps all its
parameters in one flat C-contiguous buffer ``params``; layer ``l = 0..L-1`` holds
``W_l`` of shape ``(n_l, n_{l+1})`` row-major (row i = input unit i, so
``fan_in = n_l = W.shape[0]``), followed by ``b_l`` of shape ``(n_{l+1},)``:
``s_{l+1} = z_l @ W_l + b_l`` and ``z_{l+1} = f(s_{l+1})``.

Per-example buffers for a batch of ``B`` rows hold one ``(B, n_l)`` block per layer
``l = 1..L``, one after the other (the "activation layout").

Determinism
-----------
Every output element is a sum in a fixed order, computed by one thread: over
the input units for the forward pass, in two parts split at a row that does not
depend on the thread count (the bias and the first part, then the second part
added; see _forward_layer), over fixed SIMD-width lanes for the dot products of
the backward pass, over the batch for the weight gradient. The partition of
work between threads therefore never changes a result: the outputs are bitwise
identical for any ``n_threads``.
"""

from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.math cimport exp, log
from libc.stdint cimport int32_t

from ._activations cimport (
    activate, mul_derivative, sigmoid,
    ACT_SIGMOID, ACT_TANH, ACT_SOFTSIGN, ACT_RELU, ACT_HARDTANH, ACT_LINEAR,
    COST_SOFTMAX_NLL, COST_SIGMOID_SQUARED, COST_LINEAR_SQUARED,
)

ACTIVATIONS = {
    "sigmoid": ACT_SIGMOID,
    "tanh": ACT_TANH,
    "softsign": ACT_SOFTSIGN,
    "relu": ACT_RELU,
    "hardtanh": ACT_HARDTANH,
    "linear": ACT_LINEAR,
}
COSTS = {
    "softmax-nll": COST_SOFTMAX_NLL,
    "sigmoid-squared": COST_SIGMOID_SQUARED,
    "linear-squared": COST_LINEAR_SQUARED,
}

# Work partition: the backward pass gives each thread one range of rows of W
# (blocks of ROW_BLOCK, _row_start); the forward pass splits (part of the sums,
# group of COL_ALIGN columns, the widest micro-kernel tile) pairs into one range
# per thread (_forward_layer), so that on two threads each takes the backward's
# rows. None of these can change a result (see Determinism above); they only
# set the grain of the parallelism.
cdef enum:
    COL_ALIGN = 16
    ROW_BLOCK = 16
    PART_MAJOR_ROWS = 72
    MAX_PARTS = 256
    PRIVATE_PACK_ROWS = 72
    PRIVATE_PACK_VALUES = 327680


# --------------------------------------------------------------------------- #
# Layer kernels (nogil, raw pointers, one task = one block of output elements)
# --------------------------------------------------------------------------- #

cdef extern from "_simd.h" nogil:
    # Register-blocked micro-kernels (GCC/Clang vector extensions); see _simd.h.
    void di_forward_cols_float(const float* z, Py_ssize_t ldz, const float* W, Py_ssize_t ldw,
                               Py_ssize_t n_in, const float* b, float* out, Py_ssize_t ldo,
                               Py_ssize_t B, Py_ssize_t j0, Py_ssize_t j1)
    void di_forward_cols_double(const double* z, Py_ssize_t ldz, const double* W, Py_ssize_t ldw,
                                Py_ssize_t n_in, const double* b, double* out, Py_ssize_t ldo,
                                Py_ssize_t B, Py_ssize_t j0, Py_ssize_t j1)
    void di_backward_rows_float(const float* z, Py_ssize_t ldz, const float* delta, Py_ssize_t ldd,
                                float* W, Py_ssize_t n, Py_ssize_t B, Py_ssize_t i0, Py_ssize_t i1,
                                float lr, float* dW, float* dz, Py_ssize_t ldo, const float* dp)
    void di_backward_rows_double(const double* z, Py_ssize_t ldz, const double* delta, Py_ssize_t ldd,
                                 double* W, Py_ssize_t n, Py_ssize_t B, Py_ssize_t i0, Py_ssize_t i1,
                                 double lr, double* dW, double* dz, Py_ssize_t ldo, const double* dp)
    int di_backward_packs(Py_ssize_t B)
    void di_pack_delta_float(const float* delta, Py_ssize_t ldd, Py_ssize_t B, Py_ssize_t n,
                             int pairs, Py_ssize_t t, Py_ssize_t nt, float* pk)
    void di_pack_delta_double(const double* delta, Py_ssize_t ldd, Py_ssize_t B, Py_ssize_t n,
                              int pairs, Py_ssize_t t, Py_ssize_t nt, double* pk)
    int di_set_wide_kernels(int on)
    ctypedef struct di_range:
        unsigned long long lohi
    void di_range_init(di_range* r, Py_ssize_t lo, Py_ssize_t hi)
    Py_ssize_t di_range_take(di_range* r, int back)


cdef inline Py_ssize_t _row_start(Py_ssize_t n, Py_ssize_t t, Py_ssize_t nt) noexcept nogil:
    """First row of W of part t of nt (part t: _row_start(t) to _row_start(t + 1)):
    whole blocks of ROW_BLOCK, as evenly as they go."""
    return min(t * ((n + ROW_BLOCK - 1) // ROW_BLOCK) // nt * ROW_BLOCK, n)


cdef inline void _forward_cols(const floating* z, Py_ssize_t ldz, const floating* W,
                               Py_ssize_t n_rows, const floating* b, floating* out,
                               Py_ssize_t B, Py_ssize_t n_out,
                               Py_ssize_t j0, Py_ssize_t j1) noexcept nogil:
    """out[:B, j0:j1] = b[j0:j1] + z[:B, :n_rows] @ W[:n_rows, j0:j1] (rows of z ldz
    apart, rows of W and out n_out apart)."""
    if floating is float:
        di_forward_cols_float(z, ldz, W, n_out, n_rows, b, out, n_out, B, j0, j1)
    else:
        di_forward_cols_double(z, ldz, W, n_out, n_rows, b, out, n_out, B, j0, j1)


cdef inline void _finish_block(const floating* part, floating* s_out, floating* a_out,
                               Py_ssize_t n_out, Py_ssize_t B, Py_ssize_t j0, Py_ssize_t j1,
                               int act) noexcept nogil:
    """Columns j0:j1 of the B rows of a_out: add the second parts of the sums (when
    part is not NULL), copy the sums to s_out (when not NULL), then apply f in
    place; row by row, so that each row segment is read once."""
    cdef Py_ssize_t j, r
    cdef floating* out
    cdef const floating* q
    for r in range(B):
        out = a_out + r * n_out
        if part != NULL:
            q = part + r * n_out
            for j in range(j0, j1):
                out[j] = out[j] + q[j]
        if s_out != NULL:
            for j in range(j0, j1):
                s_out[r * n_out + j] = out[j]
        activate(out + j0, j1 - j0, act)


cdef void _forward_layer(const floating* z, const floating* W, const floating* b,
                         floating* s_out, floating* a_out, floating* part,
                         const floating* zeros, Py_ssize_t B, Py_ssize_t n_in,
                         Py_ssize_t n_out, int act, int n_threads) noexcept nogil:
    """a_out = f(z @ W + b) (s_out: the sums before f, when not NULL), in two parts.

    Every sum is split at row h = _row_start(n_in, 1, 2) of W, whatever the
    thread count: a_out = (b + z[:, :h] @ W[:h]) + z[:, h:] @ W[h:], each part
    summed over i in order (the second from a bias of ``zeros``, into ``part``,
    (B, n_out)), then the two added. Layers of at most ROW_BLOCK inputs have one
    part.

    Small batches give each thread one contiguous range of the (part, group of
    COL_ALIGN columns) pairs, in that order: on two threads, one part each. Each
    thread then reads the rows of W that the backward pass gives it
    (_row_start), whole rows, with no wait for the other. (A split by columns had
    each core read half of the lines of W that the other core had just written
    in the backward pass; a split by rows that kept one order of the sums had to
    pass blocks of 128 columns from thread to thread, and the two parts train
    1.10-1.14x faster than that at batch 10 on 2 threads, 1.17-1.27x at batch 1,
    bench/bench_ab.py.) From PART_MAJOR_ROWS rows, where the forward is bound by
    compute, each thread takes both parts of a range of columns instead, and then
    adds its own parts (by parts on 2 threads: 1.02-1.03x at batch 48 to 64,
    0.985-0.997x at 72 and 80, 0.96-1.00x at 90 and 100).

    Then each thread adds the parts and applies f on columns _row_start(n_out)
    of its number: the inputs it reads in the next layer, on two threads.
    """
    cdef Py_ssize_t h = _row_start(n_in, 1, 2)
    cdef Py_ssize_t n_part = 2 if 0 < h < n_in else 1
    cdef Py_ssize_t n_groups = (n_out + COL_ALIGN - 1) // COL_ALIGN
    cdef Py_ssize_t n_work = n_part * n_groups
    cdef Py_ssize_t nt = min(<Py_ssize_t>n_threads, n_work)
    cdef bint by_part = B < PART_MAJOR_ROWS or n_groups < nt
    cdef Py_ssize_t t, w0, w1, p, j0, j1, i0, i1
    if n_part == 1:
        h = n_in
    with parallel(num_threads=nt):
        for t in prange(nt, schedule="static", chunksize=1):
            if by_part:   # work units p * n_groups + group
                w0 = t * n_work // nt
                w1 = (t + 1) * n_work // nt
            else:         # both parts of groups t * n_groups // nt onwards
                w0 = t * n_groups // nt
                w1 = (t + 1) * n_groups // nt
            for p in range(n_part):
                if by_part:
                    j0 = max(w0 - p * n_groups, 0)
                    j1 = min(w1 - p * n_groups, n_groups)
                else:
                    j0 = w0
                    j1 = w1
                if j0 >= j1:
                    continue
                j0 = j0 * COL_ALIGN
                j1 = min(j1 * COL_ALIGN, n_out)
                i0 = 0 if p == 0 else h
                i1 = h if p == 0 else n_in
                _forward_cols(z + i0, n_in, W + i0 * n_out, i1 - i0, b if p == 0 else zeros,
                              a_out if p == 0 else part, B, n_out, j0, j1)
        for t in prange(nt, schedule="static", chunksize=1):
            _finish_block(part if n_part == 2 else NULL, s_out, a_out, n_out, B,
                          _row_start(n_out, t, nt), _row_start(n_out, t + 1, nt), act)


cdef void _backward_task(const floating* z, floating* W, const floating* delta,
                         const floating* dp, floating* dz_out, floating* dW_out,
                         floating lr, Py_ssize_t B, Py_ssize_t n_in, Py_ssize_t n_out,
                         Py_ssize_t i0, Py_ssize_t i1, int act_below) noexcept nogil:
    """Rows i0:i1 of W: back-propagate delta, then form the weight gradient.

    dz_out[:, i] = (delta @ W[i, :]) * f'(z[:, i])   (skipped when dz_out is NULL)
    g = z[:, i] @ delta                              (into dW_out[i] when not NULL)
    W[i, :] -= lr * g                                (only when dW_out is NULL)

    In the fused form each row of W is read once and written once, and it is
    used for dz before it is updated. ``dp``: delta packed by di_pack_delta
    where di_backward_packs(B), else NULL.
    """
    cdef Py_ssize_t r
    if floating is float:
        di_backward_rows_float(z, n_in, delta, n_out, W, n_out, B, i0, i1, lr, dW_out, dz_out, n_in, dp)
    else:
        di_backward_rows_double(z, n_in, delta, n_out, W, n_out, B, i0, i1, lr, dW_out, dz_out, n_in, dp)
    if dz_out != NULL:
        for r in range(B):
            mul_derivative(dz_out + r * n_in + i0, z + r * n_in + i0, i1 - i0, act_below)


cdef void _backward_layer(const floating* z, floating* W, floating* b,
                          const floating* delta, floating* dz_out,
                          floating* dW_out, floating* db_out, floating lr,
                          Py_ssize_t B, Py_ssize_t n_in, Py_ssize_t n_out,
                          int act_below, floating* work, int n_threads) noexcept nogil:
    """One layer of back-propagation.

    Gradient form (dW_out, db_out not NULL): write dC/dW and dC/db, leave W, b.
    Fused form (dW_out, db_out NULL): apply W -= lr dC/dW and b -= lr dC/db in
    place. ``work``: (2 B + 1) x n_out values, for delta packed as the wide
    backward reads it (di_backward_packs, di_pack_delta), or one such pack per
    thread, _pack_stride(B, n_out) apart (_private_packs).
    """
    cdef Py_ssize_t n_row = (n_in + ROW_BLOCK - 1) // ROW_BLOCK
    cdef Py_ssize_t nt = min(<Py_ssize_t>n_threads, n_row, <Py_ssize_t>MAX_PARTS)
    cdef Py_ssize_t t
    cdef di_range ranges[MAX_PARTS]
    # Part t: the blocks of ROW_BLOCK rows from row _row_start(t), the rows the
    # forward pass gives thread t (their lines of W are in its core's cache).
    for t in range(nt):
        di_range_init(&ranges[t], _row_start(n_in, t, nt) // ROW_BLOCK,
                      (_row_start(n_in, t + 1, nt) + ROW_BLOCK - 1) // ROW_BLOCK)
    cdef floating* dp
    if not di_backward_packs(B):
        # One parallel loop, so one synchronization per layer (a second cost
        # a barrier, which small batches feel).
        for t in prange(nt, schedule="static", chunksize=1, num_threads=nt):
            _backward_part(z, W, b, delta, NULL, dz_out, dW_out, db_out, lr, B, n_in,
                           n_out, act_below, ranges, t, nt)
        return
    if _private_packs(B, n_out, nt):
        # Every tile reads all of delta's columns. For large batches whose
        # packs still fit in a core's L2 beside its other data, each thread
        # packs all of delta for itself, _pack_stride apart, and starts at once:
        # no barrier, and no reading of the packs in the other cores' caches
        # (training step on 2 threads, bench_ab: batch 100 1.016-1.029x, 128
        # 1.058x, 160 1.017x; 64 1.000x, 192 1.002x, 256 0.977-0.984x).
        for t in prange(nt, schedule="static", chunksize=1, num_threads=nt):
            dp = work + t * _pack_stride(B, n_out)
            if floating is float:
                di_pack_delta_float(delta, n_out, B, n_out, dz_out != NULL, 0, 1, dp)
            else:
                di_pack_delta_double(delta, n_out, B, n_out, dz_out != NULL, 0, 1, dp)
            _backward_part(z, W, b, delta, dp, dz_out, dW_out, db_out, lr, B, n_in,
                           n_out, act_below, ranges, t, nt)
        return
    # Smaller batches pack delta together (the packing, a larger share of
    # their work, split between the threads), then wait for each other (the
    # barrier at the end of the first loop) before the tiles start.
    with parallel(num_threads=nt):
        for t in prange(nt, schedule="static", chunksize=1):
            if floating is float:
                di_pack_delta_float(delta, n_out, B, n_out, dz_out != NULL, t, nt, work)
            else:
                di_pack_delta_double(delta, n_out, B, n_out, dz_out != NULL, t, nt, work)
        for t in prange(nt, schedule="static", chunksize=1):
            _backward_part(z, W, b, delta, work, dz_out, dW_out, db_out, lr, B, n_in,
                           n_out, act_below, ranges, t, nt)


cdef void _backward_part(const floating* z, floating* W, floating* b,
                         const floating* delta, const floating* dp, floating* dz_out,
                         floating* dW_out, floating* db_out, floating lr,
                         Py_ssize_t B, Py_ssize_t n_in, Py_ssize_t n_out, int act_below,
                         di_range* ranges, Py_ssize_t t, Py_ssize_t nt) noexcept nogil:
    """Thread t's share of _backward_layer: the row blocks of part t in order,
    then what is left of the other parts from their ends (di_range_take), then
    its share of the bias's column blocks (a serial bias loop was 3% of a
    2-thread step). With fewer threads than parts, one that runs part t after
    part t - 1 finds it partly done by then; every block is taken once."""
    cdef Py_ssize_t n_col = (n_out + COL_ALIGN - 1) // COL_ALIGN
    cdef Py_ssize_t u, c, k
    for u in range(nt):
        k = di_range_take(&ranges[(t + u) % nt], u != 0)
        while k >= 0:
            _backward_task(z, W, delta, dp, dz_out, dW_out, lr, B, n_in, n_out,
                           k * ROW_BLOCK, min((k + 1) * ROW_BLOCK, n_in), act_below)
            k = di_range_take(&ranges[(t + u) % nt], u != 0)
    for c in range(t * n_col // nt, (t + 1) * n_col // nt):
        _bias_task(delta, b, db_out, lr, B, n_out,
                   c * COL_ALIGN, min((c + 1) * COL_ALIGN, n_out))


cdef void _bias_task(const floating* delta, floating* b, floating* db_out, floating lr,
                     Py_ssize_t B, Py_ssize_t n_out, Py_ssize_t j0, Py_ssize_t j1) noexcept nogil:
    """Columns j0:j1 (at most COL_ALIGN) of the bias: g = sum of delta over the batch
    rows, in order; then db_out[j] = g, or b[j] -= lr * g when db_out is NULL."""
    cdef floating g[COL_ALIGN]
    cdef Py_ssize_t j, r, n = j1 - j0
    for j in range(n):
        g[j] = 0
    for r in range(B):  # rows outer: contiguous loads, the same order of sums per column
        for j in range(n):
            g[j] = g[j] + delta[r * n_out + j0 + j]
    for j in range(n):
        if db_out != NULL:
            db_out[j0 + j] = g[j]
        else:
            b[j0 + j] -= lr * g[j]


cdef double _output_cost(floating* out, const int32_t* y, floating* delta,
                         Py_ssize_t B, Py_ssize_t K, int cost, floating scale,
                         int32_t* n_errors) noexcept nogil:
    """Turn the output pre-activations into outputs, in place, and score them.

    Returns the summed cost over the B examples (float64). When ``y`` is not
    NULL, adds the misclassified count (argmax, first maximum) to n_errors; when
    ``delta`` is not NULL also writes delta = scale * dC/ds for each example.
    """
    cdef Py_ssize_t r, k, best
    cdef floating* o
    cdef floating m, t, diff
    cdef double total = 0, z, logz, c
    for r in range(B):
        o = out + r * K
        if cost == COST_SOFTMAX_NLL:
            # log-sum-exp with the max subtracted; the cost from the logits, not
            # from log(p), so that a tiny p_y gives a large finite cost, not inf.
            m = o[0]
            for k in range(1, K):
                if o[k] > m:
                    m = o[k]
            z = 0
            for k in range(K):
                z += exp(<double>(o[k] - m))
            logz = m + log(z)
            if y != NULL:
                total += logz - o[y[r]]
            for k in range(K):
                o[k] = <floating>exp(<double>o[k] - logz)
        else:
            if cost == COST_SIGMOID_SQUARED:
                activate(o, K, ACT_SIGMOID)
            if y != NULL:
                c = 0
                for k in range(K):
                    diff = o[k] - (1 if k == y[r] else 0)
                    c += <double>diff * diff
                total += 0.5 * c
        if y != NULL:
            best = 0
            for k in range(1, K):
                if o[k] > o[best]:
                    best = k
            n_errors[0] += best != y[r]
        if delta != NULL:
            for k in range(K):
                t = 1 if k == y[r] else 0
                delta[r * K + k] = (o[k] - t) * scale
            if cost == COST_SIGMOID_SQUARED:
                mul_derivative(delta + r * K, o, K, ACT_SIGMOID)
    return total


# --------------------------------------------------------------------------- #
# Whole-network passes over the flat parameter buffer
# --------------------------------------------------------------------------- #

cdef void _net_forward(const floating* params, const Py_ssize_t* sizes, const int* acts,
                       Py_ssize_t L, const floating* x, Py_ssize_t B,
                       floating* a_buf, floating* s_buf, floating* work,
                       int n_threads) noexcept nogil:
    """Forward through the L layers; the output layer is left *before* its cost.

    ``work``: work_size values: the second parts of the sums (see
    _forward_layer), B x max(n_1..n_L), then a bias of zeros for them.
    """
    cdef Py_ssize_t l, j, p_off = 0, a_off = 0, n_in, n_out
    cdef Py_ssize_t n_max = _widest(sizes, L)
    cdef const floating* z = x
    cdef floating* zeros = work + B * n_max
    for j in range(n_max):
        zeros[j] = 0
    for l in range(L):
        n_in = sizes[l]
        n_out = sizes[l + 1]
        _forward_layer(z, params + p_off, params + p_off + n_in * n_out,
                       s_buf + a_off if s_buf != NULL else NULL, a_buf + a_off,
                       work, zeros, B, n_in, n_out, acts[l] if l < L - 1 else ACT_LINEAR,
                       n_threads)
        z = a_buf + a_off
        p_off += (n_in + 1) * n_out
        a_off += B * n_out


cdef void _net_backward(floating* params, const Py_ssize_t* sizes, const int* acts,
                        Py_ssize_t L, const floating* x, Py_ssize_t B,
                        const floating* a_buf, floating* d_buf, floating* grad,
                        floating lr, floating* work, int n_threads) noexcept nogil:
    """Back-propagate the output delta already in d_buf's last block.

    With ``grad`` not NULL, write the gradient (params layout) and leave params;
    with ``grad`` NULL, update params in place (fused SGD step with rate lr).
    ``work``: as for _net_forward; the backward packs delta there
    (_backward_layer), over the forward's zeros, which _net_forward rewrites.
    """
    cdef Py_ssize_t l, p_off = 0, a_off = 0, n_in, n_out
    cdef Py_ssize_t[64] p_offs, a_offs   # L <= 64, checked by the Python wrappers
    for l in range(L):
        p_offs[l] = p_off
        a_offs[l] = a_off
        p_off += (sizes[l] + 1) * sizes[l + 1]
        a_off += B * sizes[l + 1]
    for l in range(L - 1, -1, -1):
        n_in = sizes[l]
        n_out = sizes[l + 1]
        _backward_layer(
            x if l == 0 else a_buf + a_offs[l - 1],
            params + p_offs[l], params + p_offs[l] + n_in * n_out,
            d_buf + a_offs[l],
            NULL if l == 0 else d_buf + a_offs[l - 1],
            grad + p_offs[l] if grad != NULL else NULL,
            grad + p_offs[l] + n_in * n_out if grad != NULL else NULL,
            lr, B, n_in, n_out,
            acts[l - 1] if l > 0 else ACT_LINEAR, work, n_threads,
        )


cdef inline bint _private_packs(Py_ssize_t B, Py_ssize_t n, Py_ssize_t nt) noexcept nogil:
    """Whether the backward pass of a layer of n outputs gives each of its nt
    threads a packed delta (B, n) of its own (see _backward_layer)."""
    return nt > 1 and B >= PRIVATE_PACK_ROWS and (2 * B + 1) * n <= PRIVATE_PACK_VALUES


cdef inline Py_ssize_t _pack_stride(Py_ssize_t B, Py_ssize_t n) noexcept nogil:
    """Values between the threads' private packs of a (B, n) delta: (2 B + 1) n,
    rounded up to 16 (each pack starts on a 64-byte line, as work does)."""
    return ((2 * B + 1) * n + 15) // 16 * 16


cdef inline Py_ssize_t _widest(const Py_ssize_t* sizes, Py_ssize_t L) noexcept nogil:
    """max(n_1, ..., n_L)."""
    cdef Py_ssize_t l, n = 0
    for l in range(1, L + 1):
        n = max(n, sizes[l])
    return n


cdef inline Py_ssize_t _out_offset(const Py_ssize_t* sizes, Py_ssize_t L,
                                   Py_ssize_t B) noexcept nogil:
    cdef Py_ssize_t l, off = 0
    for l in range(1, L):
        off += B * sizes[l]
    return off


# --------------------------------------------------------------------------- #
# Python entry points: caller-allocated buffers, n_threads, no allocation
# --------------------------------------------------------------------------- #

def set_wide_kernels(bint on):
    """Use (or not) the 64-byte-vector kernels for batches of 4 rows or more (see _simd.h).

    Only AVX-512 builds have them: below 48 rows, a forward that reads W in place,
    below 12 a backward in one pass per pair of rows of W; from 48 rows (forward) and 12
    (backward), packed and tiled ones. They compute every result with the same sums in the
    same order as the default kernels, so results are the same bits either way
    (only the speed differs). Returns whether they are now in use.
    """
    return bool(di_set_wide_kernels(on))


def work_size(const Py_ssize_t[::1] sizes, Py_ssize_t batch_size, int n_threads=1):
    """Length of the ``work`` buffer the passes below need for batches of up to
    ``batch_size`` rows on ``n_threads`` threads, with n = max(n_1..n_L): the
    forward pass's partial sums (batch_size x n), then n zeros (a bias for
    them); in the backward pass, delta packed twice, (2 batch_size + 1) x n,
    once, or once per thread (_private_packs)."""
    cdef Py_ssize_t L = sizes.shape[0] - 1, l, n_l, B = batch_size
    cdef Py_ssize_t nt = min(max(n_threads, 1), <Py_ssize_t>MAX_PARTS)
    cdef Py_ssize_t size = (2 * B + 1) * _widest(&sizes[0], L)
    for l in range(1, L + 1):  # a layer's backward uses at most nt threads
        n_l = sizes[l]
        if _private_packs(B, n_l, nt):
            size = max(size, nt * _pack_stride(B, n_l))
    return size


def forward(floating[::1] params, const Py_ssize_t[::1] sizes, const int[::1] acts,
            int cost, const floating[:, ::1] X, floating[::1] a_out,
            floating[::1] s_out, floating[::1] work, int n_threads):
    """Forward pass of a batch; every layer's activations into ``a_out``.

    Parameters
    ----------
    params : (n_params,) parameter buffer (see module docstring).
    sizes : (L + 1,) layer sizes, inputs first.
    acts : (L - 1,) activation codes of the hidden layers.
    cost : output/cost code; the output block of ``a_out`` receives the outputs
        (softmax probabilities, sigmoid or linear outputs).
    X : (B, n_0) inputs.
    a_out : (B * (n_1 + ... + n_L),) activations, activation layout.
    s_out : same shape as a_out for the pre-activations, or empty to skip them.
    work : (work_size(sizes, B, n_threads),) work buffer.
    n_threads : OpenMP threads.
    """
    cdef Py_ssize_t L = sizes.shape[0] - 1, B = X.shape[0]
    cdef int32_t n_err = 0
    cdef floating* s_ptr = &s_out[0] if s_out.shape[0] > 0 else NULL
    with nogil:
        _net_forward(&params[0], &sizes[0], &acts[0] if acts.shape[0] else NULL,
                     L, &X[0, 0], B, &a_out[0], s_ptr, &work[0], n_threads)
        _output_cost(&a_out[0] + _out_offset(&sizes[0], L, B), NULL, NULL,
                     B, sizes[L], cost, 1, &n_err)


def gradient(floating[::1] params, const Py_ssize_t[::1] sizes, const int[::1] acts,
             int cost, const floating[:, ::1] X, const int32_t[::1] y,
             floating[::1] grad_out, floating[::1] a_buf, floating[::1] d_buf,
             floating[::1] work, int n_threads):
    """Gradient of the mean cost over a batch; parameters are left unchanged.

    Parameters
    ----------
    grad_out : (n_params,) receives dC/dparams, params layout.
    a_buf, d_buf : (B * (n_1 + ... + n_L),) receive the activations and the
        back-propagated gradients dC/ds of every layer, activation layout.
    work : (work_size(sizes, B, n_threads),) work buffer.

    Returns
    -------
    (cost, n_errors) : float, int
        The mean cost over the batch and the number of misclassified examples.
    """
    cdef Py_ssize_t L = sizes.shape[0] - 1, B = X.shape[0]
    cdef Py_ssize_t off = _out_offset(&sizes[0], L, B)
    cdef int32_t n_err = 0
    cdef double total
    with nogil:
        _net_forward(&params[0], &sizes[0], &acts[0] if acts.shape[0] else NULL,
                     L, &X[0, 0], B, &a_buf[0], NULL, &work[0], n_threads)
        total = _output_cost(&a_buf[0] + off, &y[0], &d_buf[0] + off, B, sizes[L],
                             cost, (<floating>1) / B, &n_err)
        _net_backward(&params[0], &sizes[0], &acts[0] if acts.shape[0] else NULL,
                      L, &X[0, 0], B, &a_buf[0], &d_buf[0], &grad_out[0], 0, &work[0],
                      n_threads)
    return total / B, n_err


def train_steps(floating[::1] params, const Py_ssize_t[::1] sizes, const int[::1] acts,
                int cost, const floating[:, ::1] X, const int32_t[::1] y,
                Py_ssize_t batch_size, double lr, floating[::1] a_buf,
                floating[::1] d_buf, floating[::1] work, double[::1] cost_out,
                int32_t[::1] errors_out, int n_threads):
    """Run ``len(X) // batch_size`` SGD steps in one call, without the GIL.

    Step t uses rows ``[t * batch_size, (t + 1) * batch_size)`` of X and y,
    minimizes the mean cost of its minibatch, and records that minibatch's
    summed cost in ``cost_out[t]`` and its error count in ``errors_out[t]``
    (both measured before the step's update).

    Parameters
    ----------
    a_buf, d_buf : (batch_size * (n_1 + ... + n_L),) work buffers.
    work : (work_size(sizes, batch_size, n_threads),) work buffer.
    cost_out : (n_steps,) float64; errors_out : (n_steps,) int32.
    """
    cdef Py_ssize_t L = sizes.shape[0] - 1, B = batch_size
    cdef Py_ssize_t n_steps = X.shape[0] // B, t
    cdef Py_ssize_t off = _out_offset(&sizes[0], L, B)
    cdef Py_ssize_t n0 = sizes[0]
    cdef const int* acts_ptr = &acts[0] if acts.shape[0] else NULL
    cdef floating rate = <floating>lr
    cdef int32_t n_err
    with nogil:
        for t in range(n_steps):
            _net_forward(&params[0], &sizes[0], acts_ptr, L, &X[0, 0] + t * B * n0, B,
                         &a_buf[0], NULL, &work[0], n_threads)
            n_err = 0
            cost_out[t] = _output_cost(&a_buf[0] + off, &y[0] + t * B, &d_buf[0] + off,
                                       B, sizes[L], cost, (<floating>1) / B, &n_err)
            errors_out[t] = n_err
            _net_backward(&params[0], &sizes[0], acts_ptr, L, &X[0, 0] + t * B * n0, B,
                          &a_buf[0], &d_buf[0], NULL, rate, &work[0], n_threads)


def evaluate(floating[::1] params, const Py_ssize_t[::1] sizes, const int[::1] acts,
             int cost, const floating[:, ::1] X, const int32_t[::1] y,
             Py_ssize_t batch_size, floating[::1] a_buf, floating[::1] work, int n_threads):
    """Summed cost and error count over a whole set, in batches of ``batch_size``.

    Parameters
    ----------
    a_buf : (batch_size * (n_1 + ... + n_L),) work buffer.
    work : (work_size(sizes, batch_size, n_threads),) work buffer.

    Returns
    -------
    (cost_sum, n_errors) : float, int
    """
    cdef Py_ssize_t L = sizes.shape[0] - 1, n = X.shape[0], start, B, k
    cdef const int* acts_ptr = &acts[0] if acts.shape[0] else NULL
    cdef int32_t n_err = 0
    cdef double total = 0
    with nogil:
        for k in range((n + batch_size - 1) // batch_size):
            start = k * batch_size
            B = min(batch_size, n - start)
            _net_forward(&params[0], &sizes[0], acts_ptr, L, &X[start, 0], B,
                         &a_buf[0], NULL, &work[0], n_threads)
            total += _output_cost(&a_buf[0] + _out_offset(&sizes[0], L, B), &y[start],
                                  NULL, B, sizes[L], cost, 1, &n_err)
    return total, n_err
