"""Kernels only: arrays in, arrays out (no files, no classes). Importing this package loads
nothing; each module imports numba itself.

- ``sgns``: skip-gram negative-sampling updates (per-example and shared negatives);
- ``alias``: Vose's alias table build and O(1) draws;
- ``walks``: DeepWalk / node2vec random walks on CSR graphs;
- ``csr``: ``csr_contains``, membership in a CSR row with sorted column indices;
- ``native``: the SGNS and alias-build cores compiled ahead of time into a shared library
  called through ctypes (no numba/LLVM in the training process), with the numba JIT as fallback.
"""
