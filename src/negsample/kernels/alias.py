"""Alias-method kernels (numba only): Vose's O(n) table build and O(1) draws.

A table over n categories is (prob, alias): draw a column i ~ U{0..n-1} and a coin u ~ U[0,1);
return i if u < prob[i] else alias[i]. The Python API is ``negsample.distributions.AliasTable``.
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


@njit(nogil=True, cache=True, inline="always")
def alias_draw(prob, alias, column, coin):
    """One alias draw from a column index in [0, n) and a coin in [0, 1). Numba-callable."""
    if coin < prob[column]:
        return column
    return alias[column]


@njit(nogil=True, cache=True, inline="always")
def alias_draw_uniform(prob, alias, u):
    """One alias draw from a single uniform u in [0, 1): column = floor(u n), coin = frac(u n).

    Handy inside kernels with a cheap RNG; the coin has 53 - log2(n) bits of resolution.
    """
    n = prob.shape[0]
    x = u * n
    column = int(x)
    if column >= n:
        column = n - 1
    coin = x - column
    if coin < prob[column]:
        return column
    return alias[column]


@njit(nogil=True, cache=True)
def select_kernel(packed, u, out, start):
    """out[start + j] = alias draw from uniform u[j]; packed[i] = (prob[i], alias[i]) so one
    cache line serves both lookups of a draw."""
    n = packed.shape[0]
    for j in range(u.shape[0]):
        x = u[j] * n
        column = min(int(x), n - 1)
        coin = x - column
        a = int(packed[column, 1])
        take = coin < packed[column, 0]
        out[start + j] = a + (column - a) * take  # branch-free select
