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
Every output element is a sum in a fixed order (over the input units for the
forward pass, over fixed SIMD-width lanes for the dot products of the backward
pass, over the batch for the weight gradient), computed by one thread, or, in the
forward pass of small batches, by one thread after another, each adding its own
input units in that order to the partial sum the one before it left. The
partition of work between threads therefore never changes a result: the outputs
are bitwise identical for any ``n_threads``.
"""

from cython cimport floating
from cython.parallel cimport prange
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
# (blocks of ROW_BLOCK, _row_start). The forward pass of small batches (see
# _forward_layer) gives each thread the same rows of W, in a pipeline over
# blocks of PIPE_COLS columns (_forward_layer_rows); that of larger batches
# splits the columns into one range per thread (bounds multiple of COL_ALIGN,
# the widest micro-kernel tile) and the batch into tiles of BATCH_TILE rows
# (DI_MC, the wide forward's chunk, for the wide kernels where every thread has
# a column range of its own). None of these can change a result (see
# Determinism above); they only set the grain of the parallelism.
cdef enum:
    COL_ALIGN = 16
    ROW_BLOCK = 16
    BATCH_TILE = 32
    PIPE_COLS = 128
    PIPE_MAX_BLOCKS = 64
    PIPE_DEFAULT_ROWS = 2
    PIPE_MAX_PARTS = 2


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
                                float lr, float* dW, float* dz, Py_ssize_t ldo)
    void di_backward_rows_double(const double* z, Py_ssize_t ldz, const double* delta, Py_ssize_t ldd,
                                 double* W, Py_ssize_t n, Py_ssize_t B, Py_ssize_t i0, Py_ssize_t i1,
                                 double lr, double* dW, double* dz, Py_ssize_t ldo)
    int di_set_wide_kernels(int on)
    int di_wide_kernels
    enum: DI_MC   # rows of float a wide forward call reads and packs W once for
    enum: DI_WIDE_FWD_ROWS   # from this batch size the forward is bound by compute
    void di_flag_wait(const int* flag, int value)
    void di_flag_set(int* flag, int value)


cdef inline Py_ssize_t _row_start(Py_ssize_t n, Py_ssize_t t, Py_ssize_t nt) noexcept nogil:
    """First row of W of part t of nt (part t: _row_start(t) to _row_start(t + 1)):
    whole blocks of ROW_BLOCK, as evenly as they go."""
    return min(t * ((n + ROW_BLOCK - 1) // ROW_BLOCK) // nt * ROW_BLOCK, n)


cdef inline void _forward_cols(const floating* z, Py_ssize_t ldz, const floating* W,
                               Py_ssize_t n_rows, const floating* b, floating* out,
                               Py_ssize_t B, Py_ssize_t n_out,
                               Py_ssize_t j0, Py_ssize_t j1) noexcept nogil:
    """out[:B, j0:j1] = b[j0:j1] + z[:B, :n_rows] @ W[:n_rows, j0:j1], or out += the
    product when b is NULL (rows of z ldz apart, rows of W and out n_out apart)."""
    if floating is float:
        di_forward_cols_float(z, ldz, W, n_out, n_rows, b, out, n_out, B, j0, j1)
    else:
        di_forward_cols_double(z, ldz, W, n_out, n_rows, b, out, n_out, B, j0, j1)


cdef inline void _activate_block(floating* s_out, floating* a_out, Py_ssize_t n_out,
                                 Py_ssize_t b0, Py_ssize_t b1, Py_ssize_t j0, Py_ssize_t j1,
                                 int act) noexcept nogil:
    """Copy the sums a_out[b0:b1, j0:j1] to s_out (when not NULL), then apply f in place."""
    cdef Py_ssize_t j, r
    cdef floating* out
    for r in range(b0, b1):
        out = a_out + r * n_out
        if s_out != NULL:
            for j in range(j0, j1):
                s_out[r * n_out + j] = out[j]
        activate(out + j0, j1 - j0, act)


cdef void _forward_task(const floating* z, const floating* W, const floating* b,
                        floating* s_out, floating* a_out,
                        Py_ssize_t B, Py_ssize_t n_in, Py_ssize_t n_out,
                        Py_ssize_t j0, Py_ssize_t j1, Py_ssize_t b0, Py_ssize_t b1,
                        int act) noexcept nogil:
    """a_out[b0:b1, j0:j1] = f(z[b0:b1] @ W[:, j0:j1] + b[j0:j1]); s_out likewise before f."""
    _forward_cols(z + b0 * n_in, n_in, W, n_in, b, a_out + b0 * n_out, b1 - b0, n_out, j0, j1)
    _activate_block(s_out, a_out, n_out, b0, b1, j0, j1, act)


cdef void _forward_layer_rows(const floating* z, const floating* W, const floating* b,
                              floating* s_out, floating* a_out,
                              Py_ssize_t B, Py_ssize_t n_in, Py_ssize_t n_out,
                              int act, Py_ssize_t nt) noexcept nogil:
    """The forward pass split by rows of W, pipelined over blocks of columns.

    Part t takes rows _row_start(n_in, t, nt) to _row_start(n_in, t + 1, nt) of W,
    the backward pass's rows of part t, and adds them to every block of columns
    in turn, once part t - 1 has added its own (part 0 starts from the bias); the
    last part applies the activation. Each sum still runs over i in order, so the
    result is the same bits as one thread's. Why rows: the backward pass splits W
    by rows, and with the forward's columns split between the threads each core
    read and wrote half of the lines of W that the other core had just used, a
    transfer between their caches (2-thread training step at batch 10: 1.16x
    faster with this split, bench/bench_ab.py).
    """
    cdef int done[PIPE_MAX_BLOCKS]   # done[k]: how many parts have added to block k
    # Blocks of PIPE_COLS columns (wider for layers of more than 8192 units); a
    # multiple of 32, the wide tiles' width. Narrower blocks read W in shorter
    # pieces of each row (64 columns: 0.8x); wider ones leave part t + 1 waiting
    # longer for the first block (256: 0.9-1.0x).
    cdef Py_ssize_t width = max(<Py_ssize_t>PIPE_COLS,
                                (n_out + PIPE_MAX_BLOCKS * 32 - 1) // (PIPE_MAX_BLOCKS * 32) * 32)
    cdef Py_ssize_t n_blk = (n_out + width - 1) // width
    cdef Py_ssize_t t, k, i0, i1, j0, j1
    for k in range(n_blk):
        done[k] = 0
    # One part per thread. With fewer threads than parts (the runtime may give
    # fewer), chunks of one part in order still finish: a part only waits for a
    # lower one.
    for t in prange(nt, schedule="static", chunksize=1, num_threads=nt):
        i0 = _row_start(n_in, t, nt)
        i1 = _row_start(n_in, t + 1, nt)
        for k in range(n_blk):
            j0 = k * width
            j1 = min(j0 + width, n_out)
            di_flag_wait(&done[k], <int>t)
            _forward_cols(z + i0, n_in, W + i0 * n_out, i1 - i0, b if t == 0 else NULL,
                          a_out, B, n_out, j0, j1)
            if t == nt - 1:
                _activate_block(s_out, a_out, n_out, 0, B, j0, j1, act)
            di_flag_set(&done[k], <int>(t + 1))


cdef void _forward_layer(const floating* z, const floating* W, const floating* b,
                         floating* s_out, floating* a_out,
                         Py_ssize_t B, Py_ssize_t n_in, Py_ssize_t n_out,
                         int act, int n_threads) noexcept nogil:
    cdef Py_ssize_t nt = min(<Py_ssize_t>n_threads, (n_in + ROW_BLOCK - 1) // ROW_BLOCK)
    # Split by rows where that measured faster (2 threads, bench/bench_ab.py): the
    # wide kernels below the packed forward's DI_WIDE_FWD_ROWS (batch 4: 1.64x,
    # 10: 1.16x, 32: 1.03x), the default ones up to PIPE_DEFAULT_ROWS rows (batch
    # 1: 1.07-1.13x, 2: 1.02-1.06x, in AVX2 and AVX-512 builds; from 3 rows the
    # narrower pieces of the default kernels' column chunks cost more than the
    # transfers: batch 10 0.91-0.98x). Up to PIPE_MAX_PARTS threads: part t starts
    # t blocks late, so the pipeline is busy K / (K + nt - 1) of the time (K = 8
    # blocks of a 1000-unit layer: 89% for 2 threads, 35% for 16), and no machine
    # with more than 2 cores has measured it yet.
    if 1 < nt <= PIPE_MAX_PARTS and n_out >= 2 * PIPE_COLS and (
            B <= PIPE_DEFAULT_ROWS or (di_wide_kernels and B < DI_WIDE_FWD_ROWS)):
        _forward_layer_rows(z, W, b, s_out, a_out, B, n_in, n_out, act, nt)
        return
    # Each thread takes one contiguous range of columns (so that it reads long
    # runs of each row of W) per tile of the batch. Range bounds are multiples
    # of COL_ALIGN, so every column is computed by the same code path whatever
    # the number of threads.
    cdef Py_ssize_t n_groups = (n_out + COL_ALIGN - 1) // COL_ALIGN
    cdef Py_ssize_t n_col = min(<Py_ssize_t>n_threads, n_groups)
    # The wide forward reads and packs all of W once per call: with 32-row tiles,
    # batch 100 read it 4 times (+11% training step at batch 100 on one thread
    # with 128-row tiles). It takes long tiles wherever every thread has a column
    # range of its own; short tiles parallelize narrow layers (the 9-unit output
    # layer) over the batch. Tiles are split evenly: 100 rows = 1 tile, 150 = 2 x 75.
    cdef Py_ssize_t tile = DI_MC if di_wide_kernels and n_col >= n_threads else BATCH_TILE
    cdef Py_ssize_t n_tile = (B + tile - 1) // tile
    cdef Py_ssize_t task, cb, tb
    # Column-range major: with static chunks each thread gets whole column ranges
    # (all the batch tiles of one range), so a short last tile never leaves one
    # thread with more rows than another.
    for task in prange(n_col * n_tile, schedule="static", num_threads=n_threads):
        cb = task // n_tile
        tb = task % n_tile
        _forward_task(z, W, b, s_out, a_out, B, n_in, n_out,
                      min(cb * n_groups // n_col * COL_ALIGN, n_out),
                      min((cb + 1) * n_groups // n_col * COL_ALIGN, n_out),
                      tb * B // n_tile, (tb + 1) * B // n_tile, act)


cdef void _backward_task(const floating* z, floating* W, const floating* delta,
                         floating* dz_out, floating* dW_out, floating lr,
                         Py_ssize_t B, Py_ssize_t n_in, Py_ssize_t n_out,
                         Py_ssize_t i0, Py_ssize_t i1, int act_below) noexcept nogil:
    """Rows i0:i1 of W: back-propagate delta, then form the weight gradient.

    dz_out[:, i] = (delta @ W[i, :]) * f'(z[:, i])   (skipped when dz_out is NULL)
    g = z[:, i] @ delta                              (into dW_out[i] when not NULL)
    W[i, :] -= lr * g                                (only when dW_out is NULL)

    In the fused form each row of W is read once and written once, and it is
    used for dz before it is updated.
    """
    cdef Py_ssize_t r
    if floating is float:
        di_backward_rows_float(z, n_in, delta, n_out, W, n_out, B, i0, i1, lr, dW_out, dz_out, n_in)
    else:
        di_backward_rows_double(z, n_in, delta, n_out, W, n_out, B, i0, i1, lr, dW_out, dz_out, n_in)
    if dz_out != NULL:
        for r in range(B):
            mul_derivative(dz_out + r * n_in + i0, z + r * n_in + i0, i1 - i0, act_below)


cdef void _backward_layer(const floating* z, floating* W, floating* b,
                          const floating* delta, floating* dz_out,
                          floating* dW_out, floating* db_out, floating lr,
                          Py_ssize_t B, Py_ssize_t n_in,
                          Py_ssize_t n_out, int act_below, int n_threads) noexcept nogil:
    """One layer of back-propagation.

    Gradient form (dW_out, db_out not NULL): write dC/dW and dC/db, leave W, b.
    Fused form (dW_out, db_out NULL): apply W -= lr dC/dW and b -= lr dC/db in
    place.
    """
    cdef Py_ssize_t n_row = (n_in + ROW_BLOCK - 1) // ROW_BLOCK
    cdef Py_ssize_t n_col = (n_out + COL_ALIGN - 1) // COL_ALIGN
    cdef Py_ssize_t nt = min(<Py_ssize_t>n_threads, n_row)
    cdef Py_ssize_t t, c, i, i1
    # One parallel loop, so one synchronization per layer: part t takes the rows
    # of W that the pipelined forward gives it (_row_start), in blocks of
    # ROW_BLOCK, then its share of the bias's column blocks (a serial bias loop
    # was 3% of a 2-thread step; a second parallel loop cost a barrier).
    for t in prange(nt, schedule="static", chunksize=1, num_threads=nt):
        i = _row_start(n_in, t, nt)
        i1 = _row_start(n_in, t + 1, nt)
        while i < i1:
            _backward_task(z, W, delta, dz_out, dW_out, lr, B, n_in, n_out,
                           i, min(i + ROW_BLOCK, i1), act_below)
            i = i + ROW_BLOCK
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
                       floating* a_buf, floating* s_buf, int n_threads) noexcept nogil:
    """Forward through the L layers; the output layer is left *before* its cost."""
    cdef Py_ssize_t l, p_off = 0, a_off = 0, n_in, n_out
    cdef const floating* z = x
    for l in range(L):
        n_in = sizes[l]
        n_out = sizes[l + 1]
        _forward_layer(z, params + p_off, params + p_off + n_in * n_out,
                       s_buf + a_off if s_buf != NULL else NULL, a_buf + a_off,
                       B, n_in, n_out, acts[l] if l < L - 1 else ACT_LINEAR, n_threads)
        z = a_buf + a_off
        p_off += (n_in + 1) * n_out
        a_off += B * n_out


cdef void _net_backward(floating* params, const Py_ssize_t* sizes, const int* acts,
                        Py_ssize_t L, const floating* x, Py_ssize_t B,
                        const floating* a_buf, floating* d_buf, floating* grad,
                        floating lr, int n_threads) noexcept nogil:
    """Back-propagate the output delta already in d_buf's last block.

    With ``grad`` not NULL, write the gradient (params layout) and leave params;
    with ``grad`` NULL, update params in place (fused SGD step with rate lr).
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
            acts[l - 1] if l > 0 else ACT_LINEAR, n_threads,
        )


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
    below 16 a backward in one pass per pair of rows of W; from 48 rows (forward) and 16
    (backward), packed and tiled ones. They compute every result with the same sums in the
    same order as the default kernels, so results are the same bits either way
    (only the speed differs). Returns whether they are now in use.
    """
    return bool(di_set_wide_kernels(on))


def forward(floating[::1] params, const Py_ssize_t[::1] sizes, const int[::1] acts,
            int cost, const floating[:, ::1] X, floating[::1] a_out,
            floating[::1] s_out, int n_threads):
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
    n_threads : OpenMP threads.
    """
    cdef Py_ssize_t L = sizes.shape[0] - 1, B = X.shape[0]
    cdef int32_t n_err = 0
    cdef floating* s_ptr = &s_out[0] if s_out.shape[0] > 0 else NULL
    with nogil:
        _net_forward(&params[0], &sizes[0], &acts[0] if acts.shape[0] else NULL,
                     L, &X[0, 0], B, &a_out[0], s_ptr, n_threads)
        _output_cost(&a_out[0] + _out_offset(&sizes[0], L, B), NULL, NULL,
                     B, sizes[L], cost, 1, &n_err)


def gradient(floating[::1] params, const Py_ssize_t[::1] sizes, const int[::1] acts,
             int cost, const floating[:, ::1] X, const int32_t[::1] y,
             floating[::1] grad_out, floating[::1] a_buf, floating[::1] d_buf,
             int n_threads):
    """Gradient of the mean cost over a batch; parameters are left unchanged.

    Parameters
    ----------
    grad_out : (n_params,) receives dC/dparams, params layout.
    a_buf, d_buf : (B * (n_1 + ... + n_L),) receive the activations and the
        back-propagated gradients dC/ds of every layer, activation layout.

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
                     L, &X[0, 0], B, &a_buf[0], NULL, n_threads)
        total = _output_cost(&a_buf[0] + off, &y[0], &d_buf[0] + off, B, sizes[L],
                             cost, (<floating>1) / B, &n_err)
        _net_backward(&params[0], &sizes[0], &acts[0] if acts.shape[0] else NULL,
                      L, &X[0, 0], B, &a_buf[0], &d_buf[0], &grad_out[0], 0, n_threads)
    return total / B, n_err


def train_steps(floating[::1] params, const Py_ssize_t[::1] sizes, const int[::1] acts,
                int cost, const floating[:, ::1] X, const int32_t[::1] y,
                Py_ssize_t batch_size, double lr, floating[::1] a_buf,
                floating[::1] d_buf, double[::1] cost_out,
                int32_t[::1] errors_out, int n_threads):
    """Run ``len(X) // batch_size`` SGD steps in one call, without the GIL.

    Step t uses rows ``[t * batch_size, (t + 1) * batch_size)`` of X and y,
    minimizes the mean cost of its minibatch, and records that minibatch's
    summed cost in ``cost_out[t]`` and its error count in ``errors_out[t]``
    (both measured before the step's update).

    Parameters
    ----------
    a_buf, d_buf : (batch_size * (n_1 + ... + n_L),) work buffers.
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
                         &a_buf[0], NULL, n_threads)
            n_err = 0
            cost_out[t] = _output_cost(&a_buf[0] + off, &y[0] + t * B, &d_buf[0] + off,
                                       B, sizes[L], cost, (<floating>1) / B, &n_err)
            errors_out[t] = n_err
            _net_backward(&params[0], &sizes[0], acts_ptr, L, &X[0, 0] + t * B * n0, B,
                          &a_buf[0], &d_buf[0], NULL, rate, n_threads)


def evaluate(floating[::1] params, const Py_ssize_t[::1] sizes, const int[::1] acts,
             int cost, const floating[:, ::1] X, const int32_t[::1] y,
             Py_ssize_t batch_size, floating[::1] a_buf, int n_threads):
    """Summed cost and error count over a whole set, in batches of ``batch_size``.

    Parameters
    ----------
    a_buf : (batch_size * (n_1 + ... + n_L),) work buffer.

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
                         &a_buf[0], NULL, n_threads)
            total += _output_cost(&a_buf[0] + _out_offset(&sizes[0], L, B), &y[start],
                                  NULL, B, sizes[L], cost, 1, &n_err)
    return total, n_err
