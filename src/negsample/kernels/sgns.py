"""Skip-gram negative-sampling kernels (numba only: arrays in, arrays out).

Both kernels train on a contiguous int32 token-id array split into sentences by ``offsets``
and update ``W_in`` (V, d) and ``W_out`` (V, d) float32 in place, Hogwild style (several
threads may run on disjoint sentence ranges at once; the GIL is released).

Per (centre w, context c) pair the SGNS objective (DESIGN.md) is
    J = ln s(v_c . u_w) + sum_{i=1..k} ln s(-v_c . u_ni),      s = logistic,
with v = W_in rows and u = W_out rows (the C tool's syn0 / syn1neg: the context word's input
vector predicts the centre word). Gradient ascent with step lr:
    g_t = lr (label_t - s(v_c . u_t)),   u_t += g_t v_c,   v_c += sum_t g_t u_t.

- ``sgns_per_example``: every pair draws k fresh negatives (word2vec / gensim behaviour).
- ``cbow``: CBOW with negative sampling (the mean of the context vectors predicts the centre;
  k negatives per centre word), the word2vec C tool's / gensim's ``sg=0``.
- ``sgns_shared``: all context words of one centre share the same k negatives (Ji et al.,
  pWord2Vec). With B contexts and T = 1 + k targets the window is a (B x T) block:
  logits L = V_ctx U_tgt^T, G = lr (Y - s(L)), dV = G U_tgt, dU = G^T V_ctx, all computed from
  the same snapshot and then added back, so duplicate negatives simply accumulate. A negative
  equal to the centre word is redrawn. Windows wider than ``max_batch`` are processed in parts.

Subsampling keeps token t with probability keep[t]; the window radius is b ~ U{1..window}.
Negatives come from the noise core (``negsample.kernels.noise``): the alias table (prob, alias)
in O(1) and the false-negative filters of ``filt`` (the centre word itself, known positives of
the centre word's row, a time window, the same label; redraw up to max_redraw times, then drop).
The RNG is the core's, started at ``stream_state(seed, 0)``, so a run is reproducible for a fixed
chunking and thread count 1.

``stats`` (float64, at least STATS_SIZE) accumulates: [0] pairs (CBOW: centre words) trained,
[1] loss sum, [2] loss terms, [3:10] the filter counts (rejected, redrawn, dropped, by reason),
[10] logits that were not finite or beyond 1e30 (training diverged; the trainer stops).

The ``*_core`` functions allocate nothing (scratch buffers are arguments), so the same code also
compiles ahead of time into a small shared library (``negsample.kernels.native``) that training
calls through ctypes without loading numba/LLVM; ``sgns_shared`` / ``sgns_per_example`` are the
JIT entries that allocate the scratch and call the cores.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .noise import anchor_label_of, anchor_time_of, filtered_draw, rng_uniform, stream_state

# fast math without the no-NaN / no-Inf assumptions, so divergence stays detectable
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}
STATS_SIZE = 11
_STAT_FILTER = 3
_STAT_DIVERGED = 10
_DIVERGED = np.float32(1e30)
MAX_EXP = 8.0  # logits are clipped to [-MAX_EXP, MAX_EXP] (the C tool uses 6)
SIG_TABLE_SIZE = 2048
_grid = (np.arange(SIG_TABLE_SIZE) + 0.5) / SIG_TABLE_SIZE * (2 * MAX_EXP) - MAX_EXP
SIG = (1.0 / (1.0 + np.exp(-_grid))).astype(np.float32)        # s(f) on a grid, like the C tool's expTable
LOGSIG = (-np.log1p(np.exp(-_grid))).astype(np.float32)        # ln s(f) on the same grid


@njit(nogil=True, cache=True, inline="always")
def _window(state, i, n, window):
    """Dynamic window around position i of n kept tokens: b ~ U{1..window}; returns the context
    range [lo, hi) (it includes i) and the advanced RNG state."""
    state, u = rng_uniform(state)
    b = 1 + int(u * window)
    return max(i - b, 0), min(i + b + 1, n), state


@njit(nogil=True, cache=True, inline="always")
def _table_index(f):
    """Index of logit f in the SIG / LOGSIG tables (clipped to [-MAX_EXP, MAX_EXP]; NaN -> 0)."""
    if f >= MAX_EXP:
        return SIG_TABLE_SIZE - 1
    if f > -MAX_EXP:
        return int((f + MAX_EXP) * (SIG_TABLE_SIZE / (2.0 * MAX_EXP)))
    return 0


@njit(nogil=True, cache=True, inline="always")
def _shared_targets(w, prob, alias, filt, state, tgt, valid, counts):
    """tgt[0] = centre w, tgt[1:] = k filtered negatives for w (noise core: a false negative is
    redrawn, then dropped; a dropped column has tgt = w and valid[t] = 0). Returns the RNG state."""
    tgt[0] = w
    valid[0] = 1.0
    at = anchor_time_of(filt, w)
    al = anchor_label_of(filt, w)
    for t in range(1, tgt.shape[0]):
        state, c = filtered_draw(state, prob, alias, filt, w, w, at, al, counts)
        if c < 0:
            tgt[t] = w
            valid[t] = 0.0
        else:
            tgt[t] = c
            valid[t] = 1.0
    return state


@njit(nogil=True, cache=True, inline="always")
def _targets_step(vec, W_out, w, prob, alias, filt, negative, lr, neu1e, state, stats):
    """Input vector ``vec`` (d,) against the centre w and k fresh filtered negatives (a dropped
    draw is skipped), one target at a time: g_t = lr (y_t - s(vec . u_t)), neu1e += g_t u_t (from
    u_t before its update), u_t += g_t vec. Returns (loss sum, loss terms, RNG state)."""
    d = vec.shape[0]
    loss = 0.0
    terms = 0
    counts = stats[_STAT_FILTER:_STAT_FILTER + 7]
    at = anchor_time_of(filt, w)
    al = anchor_label_of(filt, w)
    for t in range(negative + 1):
        if t == 0:
            target = w
        else:
            state, target = filtered_draw(state, prob, alias, filt, w, w, at, al, counts)
            if target < 0:
                continue
        f = np.float32(0.0)
        for x in range(d):
            f += vec[x] * W_out[target, x]
        if not (abs(f) < _DIVERGED):
            stats[_STAT_DIVERGED] += 1.0
        kk = _table_index(f)
        if t == 0:
            g = (1.0 - SIG[kk]) * lr
            loss -= LOGSIG[kk]
        else:
            g = -SIG[kk] * lr
            loss -= LOGSIG[SIG_TABLE_SIZE - 1 - kk]
        terms += 1
        for x in range(d):  # one pass: read u_t once, update neu1e and u_t
            u = W_out[target, x]
            neu1e[x] += g * u
            W_out[target, x] = u + g * vec[x]
    return loss, terms, state


@njit(nogil=True, cache=True)
def _max_sentence_length(offsets, s_begin, s_end):
    maxlen = 0
    for s in range(s_begin, s_end):
        ln = offsets[s + 1] - offsets[s]
        if ln > maxlen:
            maxlen = ln
    return maxlen


@njit(nogil=True, cache=True)
def _subsample_sentence(ids, start, end, keep, state, buf):
    """Copy the kept tokens of ids[start:end] into buf; returns (count, state)."""
    n = 0
    for p in range(start, end):
        t = ids[p]
        kp = keep[t]
        if kp < 1.0:
            state, u = rng_uniform(state)
            if u >= kp:
                continue
        buf[n] = t
        n += 1
    return n, state


@njit(nogil=True, cache=True, fastmath=FASTMATH, error_model="numpy")
def sgns_per_example_core(W_in, W_out, ids, offsets, s_begin, s_end, keep, prob, alias, filt,
                          window, negative, lr, seed, stats, buf, neu1e):
    """Per-example SGNS over sentences [s_begin, s_end), allocation-free: scratch ``buf`` (int32,
    at least the longest sentence) and ``neu1e`` (float32, (d,)) come from the caller."""
    d = W_in.shape[1]
    state = stream_state(seed, 0)
    pairs = 0
    loss = 0.0
    terms = 0
    for s in range(s_begin, s_end):
        n, state = _subsample_sentence(ids, offsets[s], offsets[s + 1], keep, state, buf)
        for i in range(n):
            w = buf[i]
            lo, hi, state = _window(state, i, n, window)
            for j in range(lo, hi):
                if j == i:
                    continue
                c = buf[j]
                for x in range(d):
                    neu1e[x] = 0.0
                pair_loss, pair_terms, state = _targets_step(W_in[c], W_out, w, prob, alias, filt, negative,
                                                             lr, neu1e, state, stats)
                loss += pair_loss
                terms += pair_terms
                for x in range(d):
                    W_in[c, x] += neu1e[x]
                pairs += 1
    stats[0] += pairs
    stats[1] += loss
    stats[2] += terms
    return state


@njit(nogil=True, cache=True, fastmath=FASTMATH, error_model="numpy")
def sgns_shared_core(W_in, W_out, ids, offsets, s_begin, s_end, keep, prob, alias, filt,
                     window, negative, lr, seed, stats, buf, ctx, tgt, valid, U, dU, acc, v, gs):
    """Shared-negatives SGNS over sentences [s_begin, s_end), allocation-free. Scratch from the
    caller: buf int32 (longest sentence + 1,), ctx int32 (max_batch,), tgt int32 (T,), valid
    float32 (T,), U and dU float32 (T, d) (snapshot of the target rows and their accumulated
    updates), acc and v float32 (d,), gs float32 (T,), with T = negative + 1."""
    d = W_in.shape[1]
    T = negative + 1
    max_batch = ctx.shape[0]
    counts = stats[_STAT_FILTER:_STAT_FILTER + 7]
    state = stream_state(seed, 0)
    pairs = 0
    loss = 0.0
    terms = 0
    for s in range(s_begin, s_end):
        n, state = _subsample_sentence(ids, offsets[s], offsets[s + 1], keep, state, buf)
        for i in range(n):
            w = buf[i]
            lo, hi, state = _window(state, i, n, window)
            if hi - lo <= 1:
                continue
            state = _shared_targets(w, prob, alias, filt, state, tgt, valid, counts)
            for t in range(T):
                row = tgt[t]
                for x in range(d):
                    U[t, x] = W_out[row, x]
                for x in range(d):
                    dU[t, x] = 0.0
            j = lo
            while j < hi:
                B = 0
                while j < hi and B < max_batch:
                    if j != i:
                        ctx[B] = buf[j]
                        B += 1
                    j += 1
                for bb in range(B):
                    c = ctx[bb]
                    for x in range(d):
                        v[x] = W_in[c, x]
                    # logits and scaled gradients g_t = lr (y_t - s(v . u_t))
                    for t in range(T):
                        f = np.float32(0.0)
                        for x in range(d):
                            f += v[x] * U[t, x]
                        if not (abs(f) < _DIVERGED):
                            stats[_STAT_DIVERGED] += 1.0
                        k = _table_index(f)
                        if t == 0:
                            gs[t] = (1.0 - SIG[k]) * lr
                            loss -= LOGSIG[k]
                        else:
                            gs[t] = -SIG[k] * lr * valid[t]
                            loss -= LOGSIG[SIG_TABLE_SIZE - 1 - k] * valid[t]
                    terms += T
                    # dU_t += g_t v  and  v += sum_t g_t u_t  (both from the snapshot)
                    for x in range(d):
                        acc[x] = 0.0
                    for t in range(T):
                        g = gs[t]
                        for x in range(d):
                            dU[t, x] += g * v[x]
                        for x in range(d):
                            acc[x] += g * U[t, x]
                    for x in range(d):
                        W_in[c, x] += acc[x]
                pairs += B
            for t in range(T):
                row = tgt[t]
                for x in range(d):
                    W_out[row, x] += dU[t, x]
    stats[0] += pairs
    stats[1] += loss
    stats[2] += terms
    return state


@njit(nogil=True, cache=True, fastmath=FASTMATH, error_model="numpy")
def cbow_core(W_in, W_out, ids, offsets, s_begin, s_end, keep, prob, alias, filt,
              window, negative, lr, seed, stats, buf, h, neu1e):
    """CBOW with negative sampling over sentences [s_begin, s_end), allocation-free (scratch:
    buf int32 (longest sentence + 1,), h and neu1e float32 (d,)).

    Per centre w with context set C (the dynamic window, |C| >= 1): h = (1/|C|) sum_{c in C} v_c;
    for the targets t in {w} + k negatives, g_t = lr (label_t - s(h . u_t)), u_t += g_t h, and
    every context row gets v_c += sum_t g_t u_t (unscaled, as in the C tool and gensim's
    cbow_mean=1). ``stats[0]`` counts centre words trained."""
    d = W_in.shape[1]
    state = stream_state(seed, 0)
    centres = 0
    loss = 0.0
    terms = 0
    for s in range(s_begin, s_end):
        n, state = _subsample_sentence(ids, offsets[s], offsets[s + 1], keep, state, buf)
        for i in range(n):
            w = buf[i]
            lo, hi, state = _window(state, i, n, window)
            count = hi - lo - 1
            if count <= 0:
                continue
            for x in range(d):
                h[x] = 0.0
            for j in range(lo, hi):
                if j != i:
                    c = buf[j]
                    for x in range(d):
                        h[x] += W_in[c, x]
            inv = np.float32(1.0 / count)
            for x in range(d):
                h[x] *= inv
                neu1e[x] = 0.0
            centre_loss, centre_terms, state = _targets_step(h, W_out, w, prob, alias, filt, negative, lr,
                                                             neu1e, state, stats)
            loss += centre_loss
            terms += centre_terms
            for j in range(lo, hi):
                if j != i:
                    c = buf[j]
                    for x in range(d):
                        W_in[c, x] += neu1e[x]
            centres += 1
    stats[0] += centres
    stats[1] += loss
    stats[2] += terms
    return state


@njit(nogil=True, cache=True)
def cbow(W_in, W_out, ids, offsets, s_begin, s_end, keep, prob, alias, filt,
         window, negative, lr, seed, stats):
    """CBOW with negative sampling (JIT entry: allocates the scratch). Returns the RNG state."""
    buf = np.empty(_max_sentence_length(offsets, s_begin, s_end) + 1, dtype=np.int32)
    d = W_in.shape[1]
    return cbow_core(W_in, W_out, ids, offsets, s_begin, s_end, keep, prob, alias, filt,
                     window, negative, lr, seed, stats, buf, np.empty(d, dtype=np.float32),
                     np.empty(d, dtype=np.float32))


@njit(nogil=True, cache=True)
def sgns_per_example(W_in, W_out, ids, offsets, s_begin, s_end, keep, prob, alias, filt,
                     window, negative, lr, seed, stats):
    """Per-example SGNS over sentences [s_begin, s_end) (JIT entry: allocates the scratch).
    Returns the RNG state. See module docstring."""
    buf = np.empty(_max_sentence_length(offsets, s_begin, s_end) + 1, dtype=np.int32)
    neu1e = np.empty(W_in.shape[1], dtype=np.float32)
    return sgns_per_example_core(W_in, W_out, ids, offsets, s_begin, s_end, keep, prob, alias, filt,
                                 window, negative, lr, seed, stats, buf, neu1e)


@njit(nogil=True, cache=True)
def sgns_shared(W_in, W_out, ids, offsets, s_begin, s_end, keep, prob, alias, filt,
                window, negative, lr, seed, stats, max_batch=16):
    """Shared-negatives SGNS over sentences [s_begin, s_end): one pool of k negatives per centre
    word, the window's (B x (1+k)) block updated as small dense products (JIT entry: allocates
    the scratch). Returns the RNG state. See module docstring."""
    d = W_in.shape[1]
    T = negative + 1
    buf = np.empty(_max_sentence_length(offsets, s_begin, s_end) + 1, dtype=np.int32)
    return sgns_shared_core(W_in, W_out, ids, offsets, s_begin, s_end, keep, prob, alias, filt,
                            window, negative, lr, seed, stats, buf,
                            np.empty(max_batch, dtype=np.int32), np.empty(T, dtype=np.int32),
                            np.empty(T, dtype=np.float32), np.empty((T, d), dtype=np.float32),
                            np.empty((T, d), dtype=np.float32), np.empty(d, dtype=np.float32),
                            np.empty(d, dtype=np.float32), np.empty(T, dtype=np.float32))
