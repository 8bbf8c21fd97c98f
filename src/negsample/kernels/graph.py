"""Graph negatives that are not draws from an alias table (numba only), on the noise core.

``two_hop_negatives``: for source u, a candidate x is a neighbour of a random neighbour of u in
the proposal graph (a common-neighbour, "hard" non-edge); the noise core's filter ``filt`` then
rejects x == u and the known positives (the full graph's edges of u), redrawing up to
``filt[5]`` times, then dropping (-1), with the core's counts.
"""
from __future__ import annotations

from numba import njit

from .noise import reject_reason, rng_uniform, stream_state


@njit(nogil=True, cache=True, inline="always")
def _two_hop(indptr, indices, u, state):
    du = indptr[u + 1] - indptr[u]
    state, a = rng_uniform(state)
    w = indices[indptr[u] + min(int(a * du), du - 1)]
    dw = indptr[w + 1] - indptr[w]
    state, b = rng_uniform(state)
    return state, indices[indptr[w] + min(int(b * dw), dw - 1)]


@njit(nogil=True, cache=True)
def two_hop_negatives(indptr, indices, sources, filt, seed, out, counts):
    """out[r, j] = a filtered two-hop negative for sources[r] (-1 if none); source r uses RNG
    stream r of ``seed``."""
    for r in range(sources.shape[0]):
        u = sources[r]
        state = stream_state(seed, r)
        for j in range(out.shape[1]):
            out[r, j] = -1
            if indptr[u + 1] == indptr[u]:
                counts[2] += 1
                continue
            state, x = _two_hop(indptr, indices, u, state)
            reason = reject_reason(x, u, u, filt, 0.0, -1)
            if reason == 0:
                out[r, j] = x
                continue
            counts[0] += 1
            counts[2 + reason] += 1
            for _ in range(filt[5]):
                counts[1] += 1
                state, x = _two_hop(indptr, indices, u, state)
                if reject_reason(x, u, u, filt, 0.0, -1) == 0:
                    out[r, j] = x
                    break
            if out[r, j] < 0:
                counts[2] += 1
