# Per-element activation functions: the innermost of the three kernel layers.
#
# Every derivative is written in terms of the activation's *output* a = f(s), so the
# backward pass needs only the stored activations, never the pre-activations.

from cython cimport floating
from libc.math cimport exp, expf, tanh, fabs, fabsf

cdef extern from "_simd.h" nogil:
    # Vectorized float32 tanh and sigmoid, in place (relative error ~1.3e-7).
    void di_tanh_f(float* x, Py_ssize_t n)
    void di_sigmoid_f(float* x, Py_ssize_t n)

# Hidden-layer activations. Codes are shared with deepinit.activations (Python side).
cdef enum:
    ACT_SIGMOID = 0
    ACT_TANH = 1
    ACT_SOFTSIGN = 2
    ACT_RELU = 3
    ACT_HARDTANH = 4
    ACT_LINEAR = 5

# Output layer + cost.
cdef enum:
    COST_SOFTMAX_NLL = 0       # softmax outputs, negative log-likelihood
    COST_SIGMOID_SQUARED = 1   # sigmoid outputs, 1/2 sum of squared errors
    COST_LINEAR_SQUARED = 2    # linear outputs, 1/2 sum of squared errors


cdef inline floating sigmoid(floating x) noexcept nogil:
    if floating is float:
        return (<float>1) / (1 + expf(-x))
    else:
        return 1 / (1 + exp(-x))


cdef inline floating fabs_(floating x) noexcept nogil:
    if floating is float:
        return fabsf(x)
    else:
        return fabs(x)


cdef inline void activate(floating* x, Py_ssize_t n, int act) noexcept nogil:
    """In place: x[k] <- f(x[k]) for k < n. The switch is outside the loops."""
    cdef Py_ssize_t k
    if act == ACT_SIGMOID:
        if floating is float:
            di_sigmoid_f(x, n)
        else:
            for k in range(n):
                x[k] = sigmoid(x[k])
    elif act == ACT_TANH:
        if floating is float:
            di_tanh_f(x, n)
        else:
            for k in range(n):
                x[k] = tanh(x[k])
    elif act == ACT_SOFTSIGN:
        for k in range(n):
            x[k] = x[k] / (1 + fabs_(x[k]))
    elif act == ACT_RELU:
        # Written so that a NaN stays NaN (x > 0 would map it to 0 and hide it).
        for k in range(n):
            x[k] = 0 if x[k] < 0 else x[k]
    elif act == ACT_HARDTANH:
        for k in range(n):
            x[k] = -1 if x[k] < -1 else (1 if x[k] > 1 else x[k])
    # ACT_LINEAR: identity


cdef inline void mul_derivative(floating* g, const floating* a, Py_ssize_t n,
                                int act) noexcept nogil:
    """In place: g[k] <- g[k] * f'(s[k]), with f'(s) written in terms of a = f(s)."""
    cdef Py_ssize_t k
    if act == ACT_SIGMOID:
        for k in range(n):
            g[k] = g[k] * (a[k] * (1 - a[k]))
    elif act == ACT_TANH:
        for k in range(n):
            g[k] = g[k] * (1 - a[k] * a[k])
    elif act == ACT_SOFTSIGN:
        # a = s / (1 + |s|)  =>  1 - |a| = 1 / (1 + |s|)  =>  f'(s) = (1 - |a|)^2
        for k in range(n):
            g[k] = g[k] * ((1 - fabs_(a[k])) * (1 - fabs_(a[k])))
    elif act == ACT_RELU:
        for k in range(n):
            g[k] = g[k] if a[k] > 0 else 0
    elif act == ACT_HARDTANH:
        for k in range(n):
            g[k] = g[k] if (a[k] > -1 and a[k] < 1) else 0
    # ACT_LINEAR: derivative 1
