"""Weight initialization schemes.

Convention (read this if you come from PyTorch or Keras)
--------------------------------------------------------
deepinit stores the weights of a layer as ``W`` of shape ``(fan_in, fan_out)``:
row ``i`` holds the outgoing weights of input unit ``i``, and ``s = z @ W + b``.
So ``fan_in = W.shape[0]`` (size of the layer below) and
``fan_out = W.shape[1]`` (size of the layer above). This is Glorot & Bengio's
``s^i = z^i W^i + b^i`` (their eq. 2) and Keras's ``Dense`` kernel layout;
PyTorch's ``nn.Linear.weight`` is the transpose, ``(fan_out, fan_in)``. Every
scheme below is written in terms of fan_in and fan_out, never in terms of the
array's shape, so nothing is swapped silently.

Schemes and their weight variance
---------------------------------
===================  ===========================================  =========================
name                 distribution                                 Var[W]
===================  ===========================================  =========================
standard             U[-1/sqrt(fan_in), 1/sqrt(fan_in)]           1 / (3 fan_in)
                     (Glorot & Bengio eq. 1)
normalized           U[-sqrt(6/(fan_in+fan_out)), +...]           2 / (fan_in + fan_out)
                     (Glorot & Bengio eq. 16, "Xavier")
normalized-x4        4 x normalized, for sigmoid units            32 / (fan_in + fan_out)
                     (Bengio 2012, sec. 3.1; the sigmoid's slope
                     at 0 is 1/4)
lecun-uniform        U[-sqrt(3/fan_in), +...]                     1 / fan_in
lecun-normal         N(0, 1/fan_in)                               1 / fan_in
he-uniform           U[-sqrt(6/fan_in), +...]                     2 / fan_in
he-normal            N(0, 2/fan_in)                               2 / fan_in
orthogonal           a random matrix with orthonormal columns     1 / max(fan_in, fan_out)
                     (fan_in >= fan_out) or rows (otherwise),
                     Haar-distributed (Saxe et al. 2014)
===================  ===========================================  =========================

``scale`` multiplies the weights of any scheme (so the variance by scale**2).
Biases always start at 0.
"""

from __future__ import annotations

import math

import numpy as np

from .choices import INIT_SCHEMES
from .errors import DeepinitError


def target_variance(scheme: str, fan_in: int, fan_out: int, scale: float = 1.0) -> float:
    """The variance of each weight under ``scheme`` (the table above) times scale**2."""
    base = {
        "standard": 1.0 / (3.0 * fan_in),
        "normalized": 2.0 / (fan_in + fan_out),
        "normalized-x4": 32.0 / (fan_in + fan_out),
        "lecun-uniform": 1.0 / fan_in,
        "lecun-normal": 1.0 / fan_in,
        "he-uniform": 2.0 / fan_in,
        "he-normal": 2.0 / fan_in,
        "orthogonal": 1.0 / max(fan_in, fan_out),
    }
    if scheme not in base:
        raise DeepinitError(f"unknown init scheme {scheme!r}; use one of {', '.join(INIT_SCHEMES)}")
    return base[scheme] * scale * scale


def _orthogonal(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    # QR of a Gaussian matrix, with the signs of R's diagonal folded back into Q
    # so that Q is Haar-distributed (Mezzadri 2007), not biased by the QR routine.
    a = rng.standard_normal((max(fan_in, fan_out), min(fan_in, fan_out)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))
    # q has orthonormal columns, shape (max, min); give it shape (fan_in, fan_out).
    w = q if fan_in >= fan_out else q.T
    # Orthonormal columns (or rows) have unit norm: entry variance 1/max(fan_in, fan_out).
    return w


def init_weights(
    scheme: str, fan_in: int, fan_out: int, rng: np.random.Generator, scale: float = 1.0
) -> np.ndarray:
    """Draw one layer's weights.

    Parameters
    ----------
    scheme : str
        One of :data:`deepinit.choices.INIT_SCHEMES`.
    fan_in, fan_out : int
        Sizes of the layer below and above.
    rng : numpy.random.Generator
    scale : float
        Multiplies every weight.

    Returns
    -------
    W : ndarray of shape (fan_in, fan_out), float64
    """
    if scheme in ("standard", "normalized", "normalized-x4", "lecun-uniform", "he-uniform"):
        # Uniform U[-a, a] has variance a^2 / 3.
        a = math.sqrt(3.0 * target_variance(scheme, fan_in, fan_out))
        w = rng.uniform(-a, a, size=(fan_in, fan_out))
    elif scheme in ("lecun-normal", "he-normal"):
        w = rng.standard_normal((fan_in, fan_out)) * math.sqrt(target_variance(scheme, fan_in, fan_out))
    elif scheme == "orthogonal":
        w = _orthogonal(fan_in, fan_out, rng)
    else:
        raise DeepinitError(f"unknown init scheme {scheme!r}; use one of {', '.join(INIT_SCHEMES)}")
    return w * scale if scale != 1.0 else w
