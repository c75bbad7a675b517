"""Sweeps: many training runs from one definition (docs/sweeps.md).

- :mod:`.definition`: grid axes, seeds, random-search priors, fixed options; cells and their ids.
- :mod:`.manifest`: the sweep directory and its manifest, safe for concurrent shards.
- :mod:`.execute`: running cells, locally in processes or on a Dask cluster.
- :mod:`.aggregate`: the paper's tables and random-search curves from a finished sweep.
"""
