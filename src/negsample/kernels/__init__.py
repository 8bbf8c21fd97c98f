"""Kernels only: arrays in, arrays out (no files, no classes). Importing this package loads
nothing; each module imports numba itself (docs/design.md).

- ``noise``: the one RNG (seed streams), the one alias draw, the one filtered draw;
- ``streams``: seed-stream arithmetic and the core's constants without numba;
- ``alias``: Vose's alias-table build;
- ``sgns``: skip-gram / CBOW negative-sampling updates (per-example and shared negatives);
- ``walks``, ``graph``: random walks and graph evaluation negatives;
- ``mining``: hard-negative selection and easy-band draws;
- ``signatures``, ``native``: the C interfaces of the native library (declared once) and its build
  and trusted loading (no numba/LLVM in a training process), with the numba JIT as fallback.
"""
