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

Per-user mode (``train_users``, sampled softmax, row-wise Adagrad): see its docstring.

Adaptive negatives (``negsample.kernels.adaptive``; ``adaptive`` = the sampler's
``kernel_adaptive()`` tuple (M, T_cand, alpha_adv, use_generator, g_lr, g_T, g_reg, g_decay)):
M > 0 draws M filtered candidates per positive and keeps k of them: the top-scoring (T_cand = 0)
or k sampled ∝ exp(x_uc / T_cand), or the generator's proposals (G_users (U, dg), G_items
(I, dg), trained after each positive with reward r = s(x_uj - x_ui) for BPR, s(x_uj) for SGNS;
``gstate[0]`` = the running reward baseline); alpha_adv > 0 weights negative j by
k softmax(alpha_adv x_uj) (no gradient through the weights). ``monitor_indptr/indices``: a CSR of
positives unknown to training (e.g. the held-out items; 1-entry indptr: off): how often the chosen
negatives / the candidates are such hidden false negatives is counted.

``stats`` (float64, ``N_STATS``) accumulates the slice's counters (names in ``STATS``; margins
are x_uj - x_ui of the negatives used / of all candidates, "hard" counts x_uj >= x_ui,
"extra_scores" are main-model scores beyond the k a plain sampler computes, "generator_scores"
the generator's, "groups" the per-user kernel's steps);
``counts`` (``N_FILTER_COUNTS``) the noise core's filter counts. ``neg_count`` / ``neg_grad``
(n_items,) or (0,): per-item number of times used as a negative and the sum of the negative's
gradient norm |dL/dq_j| = c_e w_j g |p_u| (instrumentation for the fairness report).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .adaptive import (draw_candidates, generator_propose, generator_update, softmax_sample,
                       softmax_weights, top_k)
from .noise import (anchor_label_of, anchor_time_of, csr_contains, filtered_draw, mark_row, marked_draw, noise_draw,
                    refilter, rng_uniform, stream_state)

SHARED_BLOCK = 64
STATS = ("loss", "loss_terms", "positives", "negatives", "extra_scores", "margin_sum", "hard",
         "candidate_margin_sum", "candidates", "monitor_hits", "candidate_monitor_hits", "reward_sum",
         "weight_entropy", "generator_scores", "groups")
N_STATS = len(STATS)


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
                bpr, shared, adaptive, G_users, G_items, gstate, monitor_indptr, monitor_indices,
                neg_count, neg_grad, stats, counts):
    """SGD over interactions order[start:end] (see the module docstring). P (U, d), Q (I, d),
    b (I,) float32 updated in place; users, items (n,) int64; conf (n,) float32 (per-interaction
    gradient scale, 1 for unweighted); order (m,) int64 interaction indices."""
    d = P.shape[1]
    n_items = Q.shape[0]
    M = adaptive[0]
    cand_t = adaptive[1]
    adv = adaptive[2]
    use_gen = adaptive[3]
    state = stream_state(seed, 0)
    gu = np.empty(d, np.float32)
    pool = np.empty(negative, np.int64)
    negs = np.empty(negative, np.int64)
    nscore = np.empty(negative, np.float64)
    w = np.ones(negative, np.float64)
    rewards = np.empty(negative, np.float64)
    cand = np.empty(max(M, 1), np.int64)
    cscore = np.empty(max(M, 1), np.float64)
    work = np.empty(max(M, 1), np.float64)
    sel = np.empty(negative, np.int64)
    grad_g = np.empty(G_users.shape[1], np.float64)
    monitor = monitor_indptr.shape[0] > 1
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
        xi = score(P, Q, b, u, i)
        stats[2] += 1
        # ---- negatives for this positive, through the noise core (+ adaptive selection)
        kk = 0
        n = 0
        if M > 0:
            state, n = draw_candidates(state, prob, alias, filt, u, i, at, al, M, cand, counts)
            if use_gen:
                state, kk = generator_propose(state, G_users, G_items, u, cand, n, negative, adaptive[5],
                                              work, sel)
                stats[13] += n
                for m in range(kk):
                    negs[m] = cand[sel[m]]
                    nscore[m] = score(P, Q, b, u, negs[m])
            else:
                for m in range(n):
                    cscore[m] = score(P, Q, b, u, cand[m])
                if cand_t > 0.0:
                    state, kk = softmax_sample(state, cscore, n, negative, cand_t, work, sel)
                else:
                    kk = top_k(cscore, n, negative, sel)
                for m in range(kk):
                    negs[m] = cand[sel[m]]
                    nscore[m] = cscore[sel[m]]
                for m in range(n):
                    stats[7] += cscore[m] - xi
                stats[4] += n - kk
            stats[8] += n
            if monitor:
                for m in range(n):
                    if csr_contains(monitor_indptr, monitor_indices, u, cand[m]):
                        stats[10] += 1
        else:
            if shared and ((t - start) % SHARED_BLOCK == 0):
                for m in range(negative):
                    state, pool[m] = noise_draw(state, prob, alias)
            for m in range(negative):
                if shared:
                    state, c = refilter(state, prob, alias, filt, u, i, at, al, pool[m], counts)
                else:
                    state, c = filtered_draw(state, prob, alias, filt, u, i, at, al, counts)
                if c >= 0:
                    negs[kk] = c
                    nscore[kk] = score(P, Q, b, u, c)
                    kk += 1
        if adv > 0.0 and kk > 0:
            stats[12] += softmax_weights(nscore, kk, adv, w)
            for m in range(kk):
                w[m] *= kk
        # ---- generator step: rewards of its proposals under the current (pre-update) model
        if use_gen and kk > 0:
            for m in range(kk):
                z = nscore[m] - xi if bpr else nscore[m]
                rewards[m] = 1.0 / (1.0 + np.exp(-z))
            mean_r = generator_update(G_users, G_items, u, cand, n, work, sel, kk, rewards, gstate[0],
                                      adaptive[4], adaptive[5], adaptive[6], grad_g)
            gstate[0] = adaptive[7] * gstate[0] + (1.0 - adaptive[7]) * mean_r
            stats[11] += mean_r * kk
        # ---- updates of the main model
        for x in range(d):
            gu[x] = 0.0
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
            xj = nscore[m]
            wm = np.float32(w[m])
            stats[3] += 1
            stats[5] += xj - xi
            if xj >= xi:
                stats[6] += 1
            if monitor and csr_contains(monitor_indptr, monitor_indices, u, j):
                stats[9] += 1
            if bpr:
                sz = one / (one + np.exp(-(xi - xj)))
                g = (one - sz) * lr * ce * wm
                if track:
                    stats[0] -= wm * np.log(max(sz, 1e-12))
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
                g = sj * lr * ce * wm
                if track:
                    stats[0] -= wm * np.log(max(one - sj, 1e-12))
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


# --------------------------------------------------------------------------- per-user sampled softmax

# accumulator columns of train_users' ``acc_items`` (I, ACC_STRIDE): one 64-byte line per item, so
# threads updating different items never share a cache line (float32 accumulators packed 16 to a
# line made every popular negative's update a cache-line transfer between cores)
ACC_STRIDE = 16
ACC_Q, ACC_B, ACC_Y = 0, 1, 2


@njit(nogil=True, cache=True, inline="always")
def adagrad_row(W, r, g, reg, lr, A, a_row, a_col):
    """Row-wise Adagrad ascent step on row r of W (d,): v = g - reg W[r]; A[a_row, a_col] +=
    mean(v^2); W[r] += lr v / sqrt(A[a_row, a_col] + 1e-6)."""
    d = W.shape[1]
    sq = np.float32(0.0)
    for x in range(d):
        v = g[x] - reg * W[r, x]
        sq += v * v
    A[a_row, a_col] += sq / d
    step = lr / np.sqrt(A[a_row, a_col] + np.float32(1e-6))
    for x in range(d):
        W[r, x] += step * (g[x] - reg * W[r, x])


@njit(nogil=True, cache=True, fastmath=FASTMATH, error_model="numpy")
def train_users(P, Y, Q, b, acc_users, acc_items, indptr, indices, conf, user_order, start, end, prob, alias, filt,
                log_kq, negative, steps, alpha, lr, reg, seed, monitor_indptr, monitor_indices, neg_count, neg_grad,
                stats, counts):
    """One epoch of the per-user sampled softmax over users user_order[start:end].

    User u's n interactions (CSR row u of indptr / indices, weights conf) are shuffled and cut
    into s = min(steps, n) groups T_1..T_s. For group T:
      p = P_u + |C|^-alpha sum_{j in C} Y_j, C = u's items outside T (item context; Y of shape
          (0, d): p = P_u)
      k <= ``negative`` filtered draws j ~ q (row u's known positives rejected: ``marked_draw``;
          the sampler's time / label filters do not apply), shared by T
      L_T = -sum_{i in T} c_i ln( e^{x_ui} / (e^{x_ui} + sum_j e^{x_uj - ln(k q_j)}) ),
          x_ui = p . Q_i + b_i, log_kq[j] = ln(k q_j) (the logQ correction of sampled softmax)
    Row-wise Adagrad (``adagrad_row``; accumulators acc_users (U, 1), acc_items (I, ACC_STRIDE)
    float32, columns ACC_Q / ACC_B / ACC_Y): the rows of T's
    positives and negatives at once, P_u with the group's gradient / |T|, and the Y rows once per
    user with the sum of the context gradients of the groups they were context to.
    P (U, d), Y (I, d) or (0, d), Q (I, d), b (I,) float32 updated in place (Hogwild across
    threads). stats / counts / monitor / neg_count / neg_grad as in ``train_epoch``; "margin"
    and "hard" compare a negative's x_uj with the mean x_ui of its group's positives."""
    d = Q.shape[1]
    context = Y.shape[0] > 0
    monitor = monitor_indptr.shape[0] > 1
    instrument = neg_count.shape[0] == Q.shape[0]
    state = stream_state(seed, 0)
    max_n = 1
    for r in range(start, end):
        u = user_order[r]
        max_n = max(max_n, indptr[u + 1] - indptr[u])
    perm = np.empty(max_n, np.int64)
    negs = np.empty(negative, np.int64)
    xs = np.empty(max_n + negative, np.float32)
    gs = np.empty(max_n + negative, np.float32)
    p = np.empty(d, np.float32)
    gp = np.empty(d, np.float32)
    gv = np.empty(d, np.float32)
    ctx_sum = np.empty(d, np.float32)
    ctx_grad = np.empty(d, np.float32)
    group_grad = np.empty((max(steps, 1), d), np.float32)
    mark = np.zeros(Q.shape[0], np.uint8)  # the current user's known positives (marked_draw)
    one = np.float32(1.0)
    for r in range(start, end):
        u = user_order[r]
        lo = indptr[u]
        n = indptr[u + 1] - lo
        if n == 0:
            continue
        for a in range(n):
            perm[a] = lo + a
        for a in range(n - 1, 0, -1):  # Fisher-Yates
            state, v = rng_uniform(state)
            j = int(v * (a + 1))
            tmp = perm[a]
            perm[a] = perm[j]
            perm[j] = tmp
        n_groups = min(steps, n)
        mark_row(filt, u, mark, 1)
        if context:
            for x in range(d):
                ctx_sum[x] = 0.0
                ctx_grad[x] = 0.0
            for a in range(n):
                j = indices[perm[a]]
                for x in range(d):
                    ctx_sum[x] += Y[j, x]
        for t in range(n_groups):
            t0 = (t * n) // n_groups
            t1 = ((t + 1) * n) // n_groups
            nt = t1 - t0
            n_ctx = n - nt
            norm = np.float32(n_ctx ** -alpha) if (context and n_ctx > 0) else np.float32(0.0)
            for x in range(d):
                p[x] = P[u, x]
            if norm > 0:
                for x in range(d):
                    gv[x] = ctx_sum[x]
                for a in range(t0, t1):
                    j = indices[perm[a]]
                    for x in range(d):
                        gv[x] -= Y[j, x]
                for x in range(d):
                    p[x] += norm * gv[x]
            kk = 0
            for m in range(negative):
                state, c = marked_draw(state, prob, alias, filt, mark, counts)
                if c >= 0:
                    negs[kk] = c
                    kk += 1
            # scores; softmax over each positive and the shared negatives (logQ-corrected)
            mx = np.float32(-1e30)
            pos_mean = 0.0
            for a in range(nt + kk):
                it = indices[perm[t0 + a]] if a < nt else negs[a - nt]
                sc = b[it]
                for x in range(d):
                    sc += p[x] * Q[it, x]
                if a < nt:
                    pos_mean += sc
                else:
                    stats[5] += sc  # margin, completed below
                    sc -= log_kq[it]
                xs[a] = sc
                if sc > mx:
                    mx = sc
            pos_mean /= nt
            for a in range(nt, nt + kk):
                if xs[a] + log_kq[negs[a - nt]] >= pos_mean:
                    stats[6] += 1
            stats[5] -= kk * pos_mean
            Z = np.float32(0.0)
            for a in range(nt, nt + kk):
                xs[a] = np.exp(xs[a] - mx)
                Z += xs[a]
            acc = np.float32(0.0)
            for a in range(nt):
                e = np.exp(xs[a] - mx)
                den = e + Z
                ce = conf[perm[t0 + a]]
                stats[0] -= ce * np.log(max(e / den, np.float32(1e-30)))
                gs[a] = ce * (one - e / den)
                acc += ce / den
            for a in range(nt, nt + kk):
                gs[a] = -xs[a] * acc
            stats[1] += nt
            stats[2] += nt
            stats[3] += kk
            stats[14] += 1
            # updates: the group's item rows, then the user's row
            for x in range(d):
                gp[x] = 0.0
            pn = 0.0
            if instrument:
                for x in range(d):
                    pn += p[x] * p[x]
                pn = np.sqrt(pn)
            for a in range(nt + kk):
                it = indices[perm[t0 + a]] if a < nt else negs[a - nt]
                g = gs[a]
                # the user's gradient from the old row, then Adagrad on the row (adagrad_row, fused)
                sq = np.float32(0.0)
                for x in range(d):
                    gp[x] += g * Q[it, x]
                    v = g * p[x] - reg * Q[it, x]
                    sq += v * v
                acc_items[it, ACC_Q] += sq / d
                step = lr / np.sqrt(acc_items[it, ACC_Q] + np.float32(1e-6))
                for x in range(d):
                    Q[it, x] += step * (g * p[x] - reg * Q[it, x])
                acc_items[it, ACC_B] += g * g
                b[it] += lr / np.sqrt(acc_items[it, ACC_B] + np.float32(1e-6)) * g
                if a >= nt:
                    if monitor and csr_contains(monitor_indptr, monitor_indices, u, it):
                        stats[9] += 1
                    if instrument:
                        neg_count[it] += 1.0
                        neg_grad[it] += abs(g) * pn
            inv_n = one / nt  # the mean over the group (weights have mean 1 over the data, so they still count)
            for x in range(d):
                gv[x] = gp[x] * inv_n
            adagrad_row(P, u, gv, reg, lr, acc_users, u, 0)
            if norm > 0:
                for x in range(d):
                    group_grad[t, x] = norm * gv[x]
                    ctx_grad[x] += group_grad[t, x]
        mark_row(filt, u, mark, 0)
        # context rows: item j (in group t) was context to every group but t
        if context and n_groups > 1:
            for t in range(n_groups):
                for a in range((t * n) // n_groups, ((t + 1) * n) // n_groups):
                    j = indices[perm[a]]
                    for x in range(d):
                        gv[x] = ctx_grad[x] - group_grad[t, x]
                    adagrad_row(Y, j, gv, reg, lr, acc_items, j, ACC_Y)
