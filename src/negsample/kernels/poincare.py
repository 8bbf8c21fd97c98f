"""Poincaré-ball embedding kernels (numba only: arrays in, arrays out), Nickel & Kiela (2017).

Points x in the open unit ball B^d. Distance
    d(u, x) = arcosh(1 + 2 ||u - x||^2 / ((1 - ||u||^2) (1 - ||x||^2)))
with Euclidean gradient (a = 1 - ||u||^2, b = 1 - ||x||^2, g = 1 + 2 ||u - x||^2 / (a b))
    dd/du = 4 / (b sqrt(g^2 - 1)) * ((||x||^2 - 2 <u, x> + 1) / a^2 * u - x / a)
and symmetrically for x. Loss of a (child u, ancestor v) pair with negatives v'_1..v'_k:
    L = -ln( e^{-d(u, v)} / (e^{-d(u, v)} + sum_j e^{-d(u, v'_j)}) ),
so dL/dd(u, v) = 1 - p_0 and dL/dd(u, v'_j) = -p_j with p = softmax(-d) over {v, v'_1..v'_k}.
Riemannian SGD with the ball's metric (conformal factor (2 / (1 - ||x||^2))^2): the Riemannian
gradient is (1 - ||x||^2)^2 / 4 times the Euclidean one, and
    x <- proj(x - lr (1 - ||x||^2)^2 / 4 grad_E),  proj(x) = x (1 - eps) / ||x|| when ||x|| >= 1 - eps,
so points never leave the ball. Hogwild: threads run disjoint chunks of pairs on the shared table.

Negatives come from the noise core: ``filtered_draw`` with the known-positive row of the child
(its ancestors and itself) and the ancestor as ``avoid``. Hard negatives (``hard`` = M > 1): M k
candidates are drawn the same way and the k closest to the child in the ball are kept.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from .noise import filtered_draw, stream_state


@njit(nogil=True, cache=True, inline="always")
def _sqnorm(X, a):
    s = 0.0
    for j in range(X.shape[1]):
        s += X[a, j] * X[a, j]
    return s


@njit(nogil=True, cache=True)
def distance(X, u, x):
    """Poincaré distance d(X[u], X[x])."""
    uu = 0.0
    xx = 0.0
    diff = 0.0
    for j in range(X.shape[1]):
        uu += X[u, j] * X[u, j]
        xx += X[x, j] * X[x, j]
        t = X[u, j] - X[x, j]
        diff += t * t
    g = 1.0 + 2.0 * diff / ((1.0 - uu) * (1.0 - xx))
    if g < 1.0:
        g = 1.0
    return math.log(g + math.sqrt(g * g - 1.0))


@njit(nogil=True, cache=True)
def distance_grad(X, u, x, coef, gu, gx):
    """gu += coef * dd/du and gx += coef * dd/dx for d = d(X[u], X[x]); returns d."""
    D = X.shape[1]
    uu = 0.0
    xx = 0.0
    ux = 0.0
    for j in range(D):
        uu += X[u, j] * X[u, j]
        xx += X[x, j] * X[x, j]
        ux += X[u, j] * X[x, j]
    a = 1.0 - uu
    b = 1.0 - xx
    diff = uu - 2.0 * ux + xx
    if diff < 0.0:
        diff = 0.0
    g = 1.0 + 2.0 * diff / (a * b)
    if g < 1.0:
        g = 1.0
    s = math.sqrt(g * g - 1.0)
    d = math.log(g + s)
    if s <= 1e-15 or coef == 0.0:
        return d
    cu = coef * 4.0 / (b * s)
    cx = coef * 4.0 / (a * s)
    fu = (xx - 2.0 * ux + 1.0) / (a * a)
    fx = (uu - 2.0 * ux + 1.0) / (b * b)
    for j in range(D):
        gu[j] += cu * (fu * X[u, j] - X[x, j] / a)
        gx[j] += cx * (fx * X[x, j] - X[u, j] / b)
    return d


@njit(nogil=True, cache=True)
def rsgd_step(X, a, g, lr, eps):
    """X[a] <- proj(X[a] - lr (1 - ||X[a]||^2)^2 / 4 g) (module docstring)."""
    D = X.shape[1]
    nn = _sqnorm(X, a)
    scale = lr * (1.0 - nn) * (1.0 - nn) / 4.0
    s = 0.0
    for j in range(D):
        X[a, j] -= scale * g[j]
        s += X[a, j] * X[a, j]
    limit = 1.0 - eps
    if s >= limit * limit:
        f = limit / math.sqrt(s)
        for j in range(D):
            X[a, j] *= f


@njit(nogil=True, cache=True)
def draw_pair_negatives(X, u, v, negative, hard, prob, alias, filt, state, cand, cd, out, counts):
    """k = ``negative`` negatives of pair (u, v) into out (-1 = dropped): filtered draws from the
    core (row u, avoid v); with hard = M > 1, the k closest to u of M k draws. Returns the state."""
    if hard <= 1:
        for j in range(negative):
            state, c = filtered_draw(state, prob, alias, filt, u, v, 0.0, -1, counts)
            out[j] = c
        return state
    m = negative * hard
    for j in range(m):
        state, c = filtered_draw(state, prob, alias, filt, u, v, 0.0, -1, counts)
        cand[j] = c
        cd[j] = distance(X, u, c) if c >= 0 else np.inf
    for j in range(negative):  # partial selection of the k nearest
        best = j
        for i in range(j + 1, m):
            if cd[i] < cd[best]:
                best = i
        cd[j], cd[best] = cd[best], cd[j]
        cand[j], cand[best] = cand[best], cand[j]
        out[j] = cand[j]
    return state


@njit(nogil=True, cache=True)
def train_chunk(X, child, anc, order, start, end, lr, negative, hard, prob, alias, filt, seed, eps, counts, stats):
    """Riemannian SGD on pairs order[start:end] (child[p], anc[p]), one step per pair for the
    child, the ancestor and the negatives (computed from the same snapshot). stats (4,) +=
    [loss sum, pairs, negatives used, diverged flag].

    With g_t = 1 + 2 |u - x_t|^2 / (a b_t) and s_t = sqrt(g_t^2 - 1), e^{-d_t} = 1 / (g_t + s_t),
    so the softmax over the targets needs no exp / log: p_t = w_t / sum w, w_t = 1 / (g_t + s_t)."""
    D = X.shape[1]
    K = negative
    M = K * max(hard, 1)
    cand = np.empty(M, np.int64)
    cd = np.empty(M)
    tgt = np.empty(K + 1, np.int64)
    xx = np.empty(K + 1)
    ux = np.empty(K + 1)
    sq = np.empty(K + 1)
    w = np.empty(K + 1)
    gu = np.empty(D)
    G = np.empty((K + 1, D))
    state = stream_state(seed, 0)
    for i in range(start, end):
        p = order[i]
        u = child[p]
        tgt[0] = anc[p]
        state = draw_pair_negatives(X, u, tgt[0], K, hard, prob, alias, filt, state, cand, cd, tgt[1:], counts)
        uu = 0.0
        for j in range(D):
            uu += X[u, j] * X[u, j]
        a = 1.0 - uu
        total = 0.0
        nv = 0
        for t in range(K + 1):
            x = tgt[t]
            if x < 0:
                w[t] = 0.0
                continue
            s_xx = 0.0
            s_ux = 0.0
            for j in range(D):
                s_xx += X[x, j] * X[x, j]
                s_ux += X[u, j] * X[x, j]
            xx[t] = s_xx
            ux[t] = s_ux
            diff = uu - 2.0 * s_ux + s_xx
            if diff < 0.0:
                diff = 0.0
            g = 1.0 + 2.0 * diff / (a * (1.0 - s_xx))
            if g < 1.0:
                g = 1.0
            st = math.sqrt(g * g - 1.0)
            sq[t] = st
            w[t] = 1.0 / (g + st)
            total += w[t]
            nv += t > 0
        loss = math.log(total / w[0])
        if not np.isfinite(loss):
            stats[3] = 1.0
            return
        stats[0] += loss
        stats[1] += 1.0
        stats[2] += nv
        for j in range(D):
            gu[j] = 0.0
        for t in range(K + 1):
            x = tgt[t]
            for j in range(D):
                G[t, j] = 0.0
            if x < 0 or sq[t] <= 1e-15:
                continue
            coef = (1.0 if t == 0 else 0.0) - w[t] / total
            b = 1.0 - xx[t]
            cu = coef * 4.0 / (b * sq[t])
            cx = coef * 4.0 / (a * sq[t])
            fu = (xx[t] - 2.0 * ux[t] + 1.0) / (a * a)
            fx = (uu - 2.0 * ux[t] + 1.0) / (b * b)
            for j in range(D):
                gu[j] += cu * (fu * X[u, j] - X[x, j] / a)
                G[t, j] += cx * (fx * X[x, j] - X[u, j] / b)
        rsgd_step(X, u, gu, lr, eps)
        for t in range(K + 1):
            if tgt[t] >= 0:
                rsgd_step(X, tgt[t], G[t], lr, eps)


@njit(nogil=True, cache=True)
def all_distances(X, u, out):
    """out[x] = d(X[u], X[x]) for every x."""
    for x in range(X.shape[0]):
        out[x] = distance(X, u, x)


@njit(nogil=True, cache=True)
def reconstruction_chunk(X, indptr, indices, start, end, rank_sum, ap, n_pos):
    """Reconstruction (Nickel & Kiela 2017) for nodes u in [start, end) with positives
    indices[indptr[u]:indptr[u+1]] (sorted; the closure's ancestors): each positive is ranked by
    distance to u among the nodes that are neither positives nor u itself, rank = 1 + #closer
    + #equally close / 2. rank_sum[u] = sum of its positives' ranks, ap[u] = average precision
    of the ranking of all non-self nodes (positives sorted by distance; the i-th has position
    rank_i + i - 1 among all), n_pos[u] = number of positives (0: skipped)."""
    n = X.shape[0]
    for u in range(start, end):
        lo = indptr[u]
        hi = indptr[u + 1]
        m = hi - lo
        n_pos[u] = m
        if m == 0:
            continue
        pd = np.empty(m)
        for i in range(m):
            pd[i] = distance(X, u, indices[lo + i])
        pd.sort()
        less = np.zeros(m + 1)
        ties = np.zeros(m)
        ptr = lo
        for x in range(n):
            while ptr < hi and indices[ptr] < x:
                ptr += 1
            if x == u or (ptr < hi and indices[ptr] == x):
                continue
            dx = distance(X, u, x)
            kl = np.searchsorted(pd, dx, side="left")
            kr = np.searchsorted(pd, dx, side="right")
            less[kr] += 1.0
            for i in range(kl, kr):
                ties[i] += 0.5
        acc = 0.0
        rs = 0.0
        c = 0.0
        for i in range(m):
            c += less[i]
            r = 1.0 + c + ties[i]
            rs += r
            acc += (i + 1.0) / (r + i)
        rank_sum[u] = rs
        ap[u] = acc / m
