"""Per-example SGNS with negatives that adapt to the model (numba JIT; graph walks and word2vec
with ``NegativeSampler(candidates=..., adversarial_temperature=...)``).

Per (centre w, context c) pair with input vector v = W_in[c] (docs/design.md):
- dynamic negatives (DNS): M candidates are drawn through the noise core (``filtered_draw``:
  every candidate passed the false-negative filters, the centre itself included), scored with
  the current model s_m = v . u_m, and the k highest kept (``top_k``), or k drawn with
  probability ∝ exp(s_m / T) (``softmax_sample``);
- self-adversarial weights (Sun et al. 2019): negative j's gradient is scaled by
  k softmax(alpha s_j) over the pair's k negatives (no gradient through the weights; alpha -> 0
  is the plain sum);
then g_t = lr (y_t - s(v . u_t)) w_t, u_t += g_t v, v += sum_t g_t u_t (u_t before its update).
``astats`` accumulates [extra scores computed (M per pair), sum of the chosen negatives' scores,
chosen negatives, sum of the weights' entropy, weighted groups, sum of all candidates' scores].
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .adaptive import draw_candidates, softmax_sample, softmax_weights, top_k
from .noise import anchor_label_of, anchor_time_of, filtered_draw, stream_state
from .sgns import (FASTMATH, LOGSIG, SIG, SIG_TABLE_SIZE, _DIVERGED, _STAT_DIVERGED, _STAT_FILTER,
                   _max_sentence_length, _subsample_sentence, _table_index, _window)


@njit(nogil=True, cache=True, fastmath=FASTMATH, error_model="numpy")
def sgns_adaptive(W_in, W_out, ids, offsets, s_begin, s_end, keep, prob, alias, filt, window, negative, lr, seed,
                  stats, adaptive, astats):
    d = W_in.shape[1]
    M = adaptive[0]
    cand_t = adaptive[1]
    alpha = adaptive[2]
    k = negative
    buf = np.empty(_max_sentence_length(offsets, s_begin, s_end) + 1, dtype=np.int32)
    pool = max(M, k)
    cand = np.empty(pool, np.int64)
    cscore = np.empty(pool, np.float64)
    work = np.empty(pool, np.float64)
    sel = np.empty(pool, np.int64)
    negs = np.empty(k, np.int64)
    nscore = np.empty(k, np.float64)
    weights = np.empty(k, np.float64)
    neu1e = np.empty(d, np.float32)
    counts = stats[_STAT_FILTER:_STAT_FILTER + 7]
    state = stream_state(seed, 0)
    pairs = 0
    loss = 0.0
    terms = 0
    for s in range(s_begin, s_end):
        n, state = _subsample_sentence(ids, offsets[s], offsets[s + 1], keep, state, buf)
        for i in range(n):
            w = buf[i]
            at = anchor_time_of(filt, w)
            al = anchor_label_of(filt, w)
            lo, hi, state = _window(state, i, n, window)
            for j in range(lo, hi):
                if j == i:
                    continue
                c = buf[j]
                # choose the negatives
                kk = 0
                if M > 0:
                    state, nc = draw_candidates(state, prob, alias, filt, w, w, at, al, M, cand, counts)
                    for m in range(nc):
                        f = 0.0
                        for x in range(d):
                            f += W_in[c, x] * W_out[cand[m], x]
                        cscore[m] = f
                        astats[5] += f
                    astats[0] += nc
                    if cand_t > 0.0:
                        state, kk = softmax_sample(state, cscore, nc, k, cand_t, work, sel)
                    else:
                        kk = top_k(cscore, nc, k, sel)
                    for m in range(kk):
                        negs[m] = cand[sel[m]]
                        nscore[m] = cscore[sel[m]]
                else:
                    for m in range(k):
                        state, cc = filtered_draw(state, prob, alias, filt, w, w, at, al, counts)
                        if cc >= 0:
                            f = 0.0
                            for x in range(d):
                                f += W_in[c, x] * W_out[cc, x]
                            negs[kk] = cc
                            nscore[kk] = f
                            kk += 1
                for m in range(kk):
                    weights[m] = 1.0
                    astats[1] += nscore[m]
                astats[2] += kk
                if alpha > 0.0 and kk > 0:
                    astats[3] += softmax_weights(nscore, kk, alpha, weights)
                    astats[4] += 1
                    for m in range(kk):
                        weights[m] *= kk
                # the update: positive w, then the negatives, from the same input vector
                for x in range(d):
                    neu1e[x] = 0.0
                for t in range(kk + 1):
                    target = w if t == 0 else negs[t - 1]
                    f = np.float32(0.0)
                    for x in range(d):
                        f += W_in[c, x] * W_out[target, x]
                    if not (abs(f) < _DIVERGED):
                        stats[_STAT_DIVERGED] += 1.0
                    idx = _table_index(f)
                    if t == 0:
                        g = (1.0 - SIG[idx]) * lr
                        loss -= LOGSIG[idx]
                    else:
                        g = -SIG[idx] * lr * weights[t - 1]
                        loss -= LOGSIG[SIG_TABLE_SIZE - 1 - idx] * weights[t - 1]
                    terms += 1
                    for x in range(d):
                        u = W_out[target, x]
                        neu1e[x] += g * u
                        W_out[target, x] = u + g * W_in[c, x]
                for x in range(d):
                    W_in[c, x] += neu1e[x]
                pairs += 1
    stats[0] += pairs
    stats[1] += loss
    stats[2] += terms
    return state
