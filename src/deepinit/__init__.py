"""deepinit: train deep feedforward networks with compiled OpenMP kernels and watch
every layer while they train (Glorot & Bengio 2010, Erhan et al. 2010)."""

from ._version import __version__

__all__ = ["__version__"]
