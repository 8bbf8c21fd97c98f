"""Alias-table construction (numba only): Vose's O(n) build. Draws from a table are the noise
core's (``negsample.kernels.noise.alias_draw``); the Python API is
``negsample.distributions.AliasTable``.
"""
import numpy as np
from numba import njit


@njit(nogil=True, cache=True, error_model="numpy")
def vose_core(p, prob, alias, scaled, small, large):
    """Vose's alias method, allocation-free. p: (n,) float64 summing to 1; fills prob (n,) float64
    and alias (n,) int64; scaled (n,) float64 and small, large (n,) int64 are scratch."""
    n = p.shape[0]
    for i in range(n):
        prob[i] = 0.0
        alias[i] = i
        scaled[i] = p[i] * n
    ns = 0
    nl = 0
    for i in range(n):
        if scaled[i] < 1.0:
            small[ns] = i
            ns += 1
        else:
            large[nl] = i
            nl += 1
    while ns > 0 and nl > 0:
        ns -= 1
        s = small[ns]
        l = large[nl - 1]
        prob[s] = scaled[s]
        alias[s] = l
        # (scaled[l] + scaled[s]) - 1 is more accurate than scaled[l] - (1 - scaled[s])
        scaled[l] = (scaled[l] + scaled[s]) - 1.0
        if scaled[l] < 1.0:
            nl -= 1
            small[ns] = l
            ns += 1
    # leftovers hold (up to rounding) exactly one column of mass each
    while nl > 0:
        nl -= 1
        prob[large[nl]] = 1.0
    while ns > 0:
        ns -= 1
        prob[small[ns]] = 1.0


@njit(nogil=True, cache=True)
def build_alias_kernel(p):
    """Vose's alias method. p: (n,) float64 summing to 1. Returns prob (n,) float64, alias (n,) int64."""
    n = p.shape[0]
    prob = np.empty(n, dtype=np.float64)
    alias = np.empty(n, dtype=np.int64)
    vose_core(p, prob, alias, np.empty(n, dtype=np.float64), np.empty(n, dtype=np.int64),
              np.empty(n, dtype=np.int64))
    return prob, alias
