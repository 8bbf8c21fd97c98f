"""Recsys training kernel (numba only): SGD over (user, item) interactions with negatives drawn
through the noise core (``negsample.kernels.noise``).

Model: x_ui = p_u . q_i + b_i. Per interaction e = (u, i) with weight c_e and negatives j:
- BPR  (``bpr=True``): L = -c_e sum_j w_j ln s(x_ui - x_uj)
- SGNS (``bpr=False``): L = -c_e [ln s(x_ui) + sum_j w_j ln s(-x_uj)]
with w_j = 1 unless adaptive weights are on, plus L2 ``reg`` on the rows touched (decay
(1 - lr reg) per touch). Negatives come from ``filtered_draw(state, prob, alias, filt, row=u,
avoid=i, anchor_time=time(i), anchor_label=label(i))``: the user's known positives are row u of
the filter's CSR, the positive item is avoided, time/label filters compare with the positive item.
``shared=True``: one pool of k draws per block of ``SHARED_BLOCK`` interactions, each pool entry
checked against every interaction's filters (a rejected entry is redrawn or dropped, counted the
same way as ``noise.filter_negatives``).

RNG: the thread's slice starts at ``stream_state(seed, 0)`` with ``seed = stream_seed(user_seed,
epoch, thread)`` (Python side), so one thread reproduces a run bit for bit.

``stats`` (float64, ``N_STATS``) accumulates the slice's counters (names in ``STATS``);
``counts`` (``N_FILTER_COUNTS``) the noise core's filter counts. ``neg_count`` / ``neg_grad``
(n_items,) or (0,): per-item number of times used as a negative and the sum of the negative's
gradient norm |dL/dq_j| = c_e w_j g |p_u| (instrumentation for the fairness report).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .noise import (anchor_label_of, anchor_time_of, filtered_draw, noise_draw, reject_reason,
                    stream_state)

SHARED_BLOCK = 64
STATS = ("loss", "loss_terms", "positives", "negatives", "extra_scores", "margin_sum", "hard",
         "candidate_margin_sum", "candidates", "monitor_hits", "reward_sum", "baseline", "weight_entropy")
N_STATS = len(STATS)


@njit(nogil=True, cache=True, inline="always")
def refilter(state, prob, alias, filt, row, avoid, anchor_time, anchor_label, c, counts):
    """(new state, c or its replacement or -1): a given candidate c (e.g. a shared-pool entry)
    checked by the noise core's filters; a false negative is redrawn from the noise up to filt[5]
    times, then dropped. Counts as ``noise.filter_negatives``."""
    r = reject_reason(c, row, avoid, filt, anchor_time, anchor_label)
    if r == 0:
        return state, c
    counts[0] += 1
    counts[2 + r] += 1
    for _ in range(filt[5]):
        counts[1] += 1
        state, d = noise_draw(state, prob, alias)
        if reject_reason(d, row, avoid, filt, anchor_time, anchor_label) == 0:
            return state, d
    counts[2] += 1
    return state, -1


@njit(nogil=True, cache=True, inline="always")
def score(P, Q, b, u, i):
    """x_ui = p_u . q_i + b_i."""
    s = b[i]
    for x in range(P.shape[1]):
        s += P[u, x] * Q[i, x]
    return s


# fast-math without the no-NaN / no-inf assumptions: a diverging run must produce inf / NaN that the
# trainer detects, not undefined behaviour; error_model "numpy": no ZeroDivisionError from the kernel
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}


@njit(nogil=True, cache=True, fastmath=FASTMATH, error_model="numpy")
def train_epoch(P, Q, b, users, items, conf, order, start, end, prob, alias, filt, negative, lr, reg, seed,
                bpr, shared, neg_count, neg_grad, stats, counts):
    """SGD over interactions order[start:end] (see the module docstring). P (U, d), Q (I, d),
    b (I,) float32 updated in place; users, items (n,) int64; conf (n,) float32 (per-interaction
    gradient scale, 1 for unweighted); order (m,) int64 interaction indices."""
    d = P.shape[1]
    n_items = Q.shape[0]
    state = stream_state(seed, 0)
    gu = np.empty(d, np.float32)
    pool = np.empty(negative, np.int64)
    negs = np.empty(negative, np.int64)
    instrument = neg_count.shape[0] == n_items
    one = np.float32(1.0)
    decay = one - lr * reg
    for t in range(start, end):
        e = order[t]
        u = users[e]
        i = items[e]
        ce = conf[e]
        at = anchor_time_of(filt, i)
        al = anchor_label_of(filt, i)
        if shared and ((t - start) % SHARED_BLOCK == 0):
            for m in range(negative):
                state, pool[m] = noise_draw(state, prob, alias)
        # ---- negatives for this positive, through the noise core
        kk = 0
        for m in range(negative):
            if shared:
                state, c = refilter(state, prob, alias, filt, u, i, at, al, pool[m], counts)
            else:
                state, c = filtered_draw(state, prob, alias, filt, u, i, at, al, counts)
            if c >= 0:
                negs[kk] = c
                kk += 1
        stats[2] += 1
        # ---- updates
        for x in range(d):
            gu[x] = 0.0
        xi = score(P, Q, b, u, i)
        track = (t & 7) == 0  # loss estimate on every 8th interaction
        if not bpr:
            sg = one / (one + np.exp(-xi))
            g = (one - sg) * lr * ce
            if track:
                stats[0] -= np.log(max(sg, 1e-12))
                stats[1] += 1
            for x in range(d):
                gu[x] += g * Q[i, x]
                Q[i, x] = decay * Q[i, x] + g * P[u, x]
            b[i] += g
        for m in range(kk):
            j = negs[m]
            xj = score(P, Q, b, u, j)
            stats[3] += 1
            stats[5] += xj - xi
            if xj >= xi:
                stats[6] += 1
            if bpr:
                sz = one / (one + np.exp(-(xi - xj)))
                g = (one - sz) * lr * ce
                if track:
                    stats[0] -= np.log(max(sz, 1e-12))
                    stats[1] += 1
                # d/dp_u = g (q_i - q_j); d/dq_i = g p_u; d/dq_j = -g p_u
                for x in range(d):
                    gu[x] += g * (Q[i, x] - Q[j, x])
                for x in range(d):
                    Q[j, x] = decay * Q[j, x] - g * P[u, x]
                for x in range(d):
                    Q[i, x] = decay * Q[i, x] + g * P[u, x]
                b[j] -= g
                b[i] += g
            else:
                sj = one / (one + np.exp(-xj))
                g = sj * lr * ce
                if track:
                    stats[0] -= np.log(max(one - sj, 1e-12))
                    stats[1] += 1
                for x in range(d):
                    gu[x] -= g * Q[j, x]
                for x in range(d):
                    Q[j, x] = decay * Q[j, x] - g * P[u, x]
                b[j] -= g
            if instrument:
                pn = 0.0
                for x in range(d):
                    pn += P[u, x] * P[u, x]
                neg_count[j] += 1.0
                neg_grad[j] += g / lr * np.sqrt(pn)
        for x in range(d):
            P[u, x] = decay * P[u, x] + gu[x]
