"""The names a user can choose, in one light module (no numpy, no kernels).

The command line builds its options from these; ``deepinit._kernels._dense``
maps the activation and cost names to kernel codes, and a test checks that
both agree.
"""

ACTIVATIONS = ("sigmoid", "tanh", "softsign", "relu", "hardtanh", "linear")
COSTS = ("softmax-nll", "sigmoid-squared", "linear-squared")
INIT_SCHEMES = (
    "standard",
    "normalized",
    "normalized-x4",
    "lecun-uniform",
    "lecun-normal",
    "he-uniform",
    "he-normal",
    "orthogonal",
)
DTYPES = ("float32", "float64")
