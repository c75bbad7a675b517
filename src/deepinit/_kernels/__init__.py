"""Compiled kernels (Cython + OpenMP). Use the Python wrappers, not these modules.

``dense`` is the fastest build of the dense-layer kernels that this CPU can run.
``_dense`` is compiled for baseline x86-64 (or the native target of a
non-x86 platform); on x86-64 it is compiled again for the x86-64-v3 level
(AVX2, FMA) as ``_dense_v3`` and the x86-64-v4 level (AVX-512) as ``_dense_v4``.
The choice is made once, at import, from the CPU's features, so one built
package runs everywhere and fast where it can.

On Intel CPUs the v4 build also runs its forward and backward passes at
batches of 4 rows or more with 64-byte vectors (two 512-bit FMA units do
twice the work of 256-bit ones there, unlike AMD Zen 4's); the sums and their
order are the same, so this never changes a result. ``DEEPINIT_WIDE_KERNELS=0|1``
overrides that choice.

``DEEPINIT_KERNELS=baseline|v3|v4`` forces a build (e.g. to compare them);
asking for one the CPU cannot run is an error. Results are bitwise identical
for any thread count within one build, not across builds: FMA instructions
round differently. Run files record the build used.
"""

import importlib
import os

from ._cpu import is_intel, x86_level

_BUILDS = {"v4": ("_dense_v4", 4), "v3": ("_dense_v3", 3), "baseline": ("_dense", 0)}


def _load():
    forced = os.environ.get("DEEPINIT_KERNELS", "").strip().lower()
    level = x86_level()
    if forced:
        if forced not in _BUILDS:
            raise ImportError(f"DEEPINIT_KERNELS={forced!r}: use one of {', '.join(_BUILDS)}")
        module, needed = _BUILDS[forced]
        if level < needed:
            raise ImportError(f"DEEPINIT_KERNELS={forced!r}: this CPU does not support x86-64-{forced}")
        return forced, importlib.import_module(f"{__name__}.{module}")
    for name, (module, needed) in _BUILDS.items():
        if level >= needed:
            try:
                return name, importlib.import_module(f"{__name__}.{module}")
            except ImportError:  # not built (a compiler without -march=x86-64-vN)
                continue
    raise ImportError("no build of deepinit's dense kernels could be imported")


def _wide_kernels_wanted():
    forced = os.environ.get("DEEPINIT_WIDE_KERNELS", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    return is_intel()


KERNEL_BUILD, dense = _load()
WIDE_KERNELS = dense.set_wide_kernels(_wide_kernels_wanted())

__all__ = ["KERNEL_BUILD", "WIDE_KERNELS", "dense"]
