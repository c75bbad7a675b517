"""Compiled kernels (Cython + OpenMP). Import the Python wrappers, not these modules."""
