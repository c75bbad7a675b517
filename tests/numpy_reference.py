"""A plain numpy MLP, written for clarity, against which the kernels are checked."""

import numpy as np

FUNCS = {
    "sigmoid": (lambda s: 1 / (1 + np.exp(-s)), lambda s, a: a * (1 - a)),
    "tanh": (np.tanh, lambda s, a: 1 - a * a),
    "softsign": (lambda s: s / (1 + np.abs(s)), lambda s, a: 1 / (1 + np.abs(s)) ** 2),
    "relu": (lambda s: np.maximum(s, 0), lambda s, a: (s > 0).astype(s.dtype)),
    "hardtanh": (lambda s: np.clip(s, -1, 1), lambda s, a: (np.abs(s) < 1).astype(s.dtype)),
    "linear": (lambda s: s, lambda s, a: np.ones_like(s)),
}


def unpack(net, params):
    """(W_l, b_l) views of a flat parameter vector in the network's layout."""
    out, off = [], 0
    for n_in, n_out in zip(net.sizes, net.sizes[1:]):
        W = params[off : off + n_in * n_out].reshape(n_in, n_out)
        off += n_in * n_out
        out.append((W, params[off : off + n_out]))
        off += n_out
    return out


def forward(net, params, X):
    """Return (pre-activations, activations) per layer; last layer = outputs."""
    z, pres, acts = X, [], []
    layers = unpack(net, params)
    for l, (W, b) in enumerate(layers):
        s = z @ W + b
        if l < len(layers) - 1:
            a = FUNCS[net.activations[l]][0](s)
        elif net.cost == "softmax-nll":
            e = np.exp(s - s.max(axis=1, keepdims=True))
            a = e / e.sum(axis=1, keepdims=True)
        elif net.cost == "sigmoid-squared":
            a = 1 / (1 + np.exp(-s))
        else:
            a = s
        pres.append(s)
        acts.append(a)
        z = a
    return pres, acts


def cost(net, params, X, y):
    """Mean cost over the batch."""
    pres, acts = forward(net, params, X)
    out, s = acts[-1], pres[-1]
    if net.cost == "softmax-nll":
        m = s.max(axis=1, keepdims=True)
        logz = (m + np.log(np.exp(s - m).sum(axis=1, keepdims=True)))[:, 0]
        return float(np.mean(logz - s[np.arange(len(y)), y]))
    t = np.eye(net.n_classes)[y]
    return float(np.mean(0.5 * ((out - t) ** 2).sum(axis=1)))


def gradient(net, params, X, y):
    """Analytic gradient by plain back-propagation; returns (grad, deltas)."""
    pres, acts = forward(net, params, X)
    B = X.shape[0]
    t = np.eye(net.n_classes, dtype=params.dtype)[y]
    out = acts[-1]
    delta = (out - t) / B
    if net.cost == "sigmoid-squared":
        delta = delta * out * (1 - out)
    layers = unpack(net, params)
    grads, deltas = [None] * len(layers), [None] * len(layers)
    for l in range(len(layers) - 1, -1, -1):
        deltas[l] = delta
        z = X if l == 0 else acts[l - 1]
        W, _ = layers[l]
        grads[l] = (z.T @ delta, delta.sum(axis=0))
        if l > 0:
            delta = (delta @ W.T) * FUNCS[net.activations[l - 1]][1](pres[l - 1], acts[l - 1])
    flat = np.concatenate([np.concatenate([gW.ravel(), gb]) for gW, gb in grads])
    return flat, deltas
