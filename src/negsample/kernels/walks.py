"""Random-walk kernels on CSR graphs (numba only).

- ``deepwalk_walks``: uniform next-node choice (weighted graphs: alias table per node).
- ``node2vec_walks``: second-order biased walks (Grover & Leskovec), unnormalised transition
  weight from (prev t, cur v) to x: w_vx / p if x == t, w_vx if x ~ t, w_vx / q otherwise.
  Strategy: rejection sampling on the fly (like PecanPy's SparseOTF, no per-edge tables, O(E)
  memory): propose x from the first-order distribution of v, accept with probability
  bias(x) / max(1/p, 1, 1/q). Neighbour tests use binary search in the sorted CSR rows.
Each walk k starts at ``starts[k]`` and uses its own seeded 64-bit LCG stream.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .csr import csr_contains as _has_edge

_A = np.uint64(6364136223846793005)
_C = np.uint64(1442695040888963407)
_INV = 1.0 / 9007199254740992.0


@njit(nogil=True, cache=True, inline="always")
def _u01(state):
    state = state * _A + _C
    return state, (state >> np.uint64(11)) * _INV


@njit(nogil=True, cache=True, inline="always")
def _first_order(indptr, indices, aprob, aalias, weighted, v, state):
    lo = indptr[v]
    deg = indptr[v + 1] - lo
    state, u = _u01(state)
    x = u * deg
    col = int(x)
    if col >= deg:
        col = deg - 1
    if weighted:
        if x - col >= aprob[lo + col]:
            col = aalias[lo + col]
    return state, indices[lo + col]


@njit(nogil=True, cache=True)
def deepwalk_walks(indptr, indices, aprob, aalias, weighted, starts, length, seed, out):
    """out[k, :] = a uniform (or weight-proportional) walk of ``length`` nodes from starts[k];
    a walk that reaches a node without out-edges stops, the rest of its row is -1."""
    for k in range(starts.shape[0]):
        state = (np.uint64(seed) + np.uint64(k) * np.uint64(0x9E3779B97F4A7C15)) * _A + _C
        v = starts[k]
        out[k, 0] = v
        for s in range(1, length):
            if indptr[v + 1] == indptr[v]:
                for r in range(s, length):
                    out[k, r] = -1
                break
            state, v = _first_order(indptr, indices, aprob, aalias, weighted, v, state)
            out[k, s] = v


@njit(nogil=True, cache=True)
def node2vec_walks(indptr, indices, aprob, aalias, weighted, starts, length, p, q, seed, out):
    """node2vec (p, q) walks by rejection sampling (see module docstring)."""
    inv_p = 1.0 / p
    inv_q = 1.0 / q
    upper = max(inv_p, 1.0, inv_q)
    for k in range(starts.shape[0]):
        state = (np.uint64(seed) + np.uint64(k) * np.uint64(0x9E3779B97F4A7C15)) * _A + _C
        v = starts[k]
        out[k, 0] = v
        if indptr[v + 1] == indptr[v]:
            for r in range(1, length):
                out[k, r] = -1
            continue
        state, x = _first_order(indptr, indices, aprob, aalias, weighted, v, state)
        if length > 1:
            out[k, 1] = x
        t = v
        v = x
        for s in range(2, length):
            if indptr[v + 1] == indptr[v]:
                for r in range(s, length):
                    out[k, r] = -1
                break
            while True:
                state, x = _first_order(indptr, indices, aprob, aalias, weighted, v, state)
                if x == t:
                    bias = inv_p
                elif _has_edge(indptr, indices, t, x):
                    bias = 1.0
                else:
                    bias = inv_q
                state, u = _u01(state)
                if u * upper < bias:
                    break
            out[k, s] = x
            t = v
            v = x
