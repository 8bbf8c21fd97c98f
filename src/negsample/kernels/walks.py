"""Random-walk kernels on CSR graphs (numba only), on the noise core's RNG.

- ``deepwalk_walks``: uniform next-node choice (weighted graphs: an alias table per node's row).
- ``node2vec_walks``: second-order biased walks (Grover & Leskovec), unnormalised transition
  weight from (prev t, cur v) to x: w_vx / p if x == t, w_vx if x ~ t, w_vx / q otherwise.
  Strategy: rejection sampling on the fly (like PecanPy's SparseOTF, no per-edge tables, O(E)
  memory): propose x from the first-order distribution of v, accept with probability
  bias(x) / max(1/p, 1, 1/q). Neighbour tests use binary search in the sorted CSR rows.
Walk k starts at ``starts[k]`` and uses RNG stream k of ``seed`` (``noise.stream_state``).
"""
from __future__ import annotations

from numba import njit

from .noise import alias_draw, csr_contains, rng_uniform, stream_state


@njit(nogil=True, cache=True, inline="always")
def _first_order(indptr, indices, aprob, aalias, weighted, v, state):
    lo = indptr[v]
    hi = indptr[v + 1]
    state, u = rng_uniform(state)
    if weighted:
        col = alias_draw(aprob[lo:hi], aalias[lo:hi], u)
    else:
        deg = hi - lo
        col = int(u * deg)
        if col >= deg:
            col = deg - 1
    return state, indices[lo + col]


@njit(nogil=True, cache=True)
def deepwalk_walks(indptr, indices, aprob, aalias, weighted, starts, length, seed, out):
    """out[k, :] = a uniform (or weight-proportional) walk of ``length`` nodes from starts[k];
    a walk that reaches a node without out-edges stops, the rest of its row is -1."""
    for k in range(starts.shape[0]):
        state = stream_state(seed, k)
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
        state = stream_state(seed, k)
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
                elif csr_contains(indptr, indices, t, x):
                    bias = 1.0
                else:
                    bias = inv_q
                state, u = rng_uniform(state)
                if u * upper < bias:
                    break
            out[k, s] = x
            t = v
            v = x
