"""Skip-gram negative-sampling kernels (numba only: arrays in, arrays out).

Both kernels train on a contiguous int32 token-id array split into sentences by ``offsets``
and update ``W_in`` (V, d) and ``W_out`` (V, d) float32 in place, Hogwild style (several
threads may run on disjoint sentence ranges at once; the GIL is released).

Per (centre w, context c) pair the SGNS objective (docs/design.md) is
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

- ``sgns_block``: context combining (Rengasamy et al. 2017, after pWord2Vec): ``block``
  consecutive centre words share one set of K = ``block_negatives`` negatives. The block's inputs
  are the positions covered by at least one of its windows, each loaded and updated once per
  block; input j is scored against every centre whose window covers it (label 1) and against the
  K shared negatives (label 0) with weight m_j k / K, m_j = the number of windows covering j, so
  the expected gradient is the per-pair objective's. A negative rejected by the filter of any
  centre of the block is redrawn, then dropped. With ``prefetch`` the next block is planned
  (windows, negatives) one block ahead and its rows prefetched into the cache. ``block=1, K=k``
  is ``sgns_shared`` (same pairs, same RNG stream).

Subsampling keeps token t with probability keep[t]; the window radius is b ~ U{1..window}.
Negatives come from the noise core (``negsample.kernels.noise``): the alias table (prob, alias)
in O(1) and the false-negative filters of ``filt`` (the centre word itself, known positives of
the centre word's row, a time window, the same label; redraw up to max_redraw times, then drop).
The RNG is the core's, started at ``stream_state(seed, 0)``, so a run is reproducible for a fixed
chunking and thread count 1.

``stats`` (float64, at least STATS_SIZE) accumulates: [0] pairs (CBOW: centre words) trained,
[1] loss sum, [2] loss terms, [3:10] the filter counts (rejected, redrawn, dropped, by reason),
[10] logits that were not finite or beyond 1e30 (training diverged; the trainer stops), [11] logits
computed (dot products: the FLOP count is 6 d per logit; ``sgns_block`` only).

The ``*_core`` functions allocate nothing (scratch buffers are arguments), so the same code also
compiles ahead of time into a small shared library (``negsample.kernels.native``) that training
calls through ctypes without loading numba/LLVM; ``sgns_shared`` / ``sgns_per_example`` are the
JIT entries that allocate the scratch and call the cores.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from llvmlite import ir as _ir
from numba import types as _types
from numba.core import cgutils as _cgutils
from numba.extending import intrinsic as _intrinsic

from .noise import (anchor_label_of, anchor_time_of, filtered_draw, noise_draw, reject_reason, rng_uniform,
                    stream_state)

# fast math without the no-NaN / no-Inf assumptions, so divergence stays detectable
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}
STATS_SIZE = 12
_STAT_FILTER = 3
_STAT_DIVERGED = 10
_STAT_LOGITS = 11
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


# --------------------------------------------------------------------------- context combining

@_intrinsic
def prefetch_row(typingctx, arr, row):
    """Prefetch the cache lines of row ``row`` of a 2-D C-contiguous array (LLVM's prefetch:
    read, keep in all cache levels); no effect on results."""
    sig = _types.void(arr, row)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        zero = context.get_constant(_types.intp, 0)
        r = context.cast(builder, args[1], signature.args[1], _types.intp)
        shape = _cgutils.unpack_tuple(builder, ary.shape)
        ptr = _cgutils.get_item_pointer2(context, builder, ary.data, shape,
                                         _cgutils.unpack_tuple(builder, ary.strides), aryty.layout, [r, zero],
                                         wraparound=False, boundscheck=False)
        i8p = _ir.IntType(8).as_pointer()
        fnty = _ir.FunctionType(_ir.VoidType(), [i8p, _ir.IntType(32), _ir.IntType(32), _ir.IntType(32)])
        fn = _cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        base = builder.bitcast(ptr, i8p)
        size = context.get_constant(_types.intp, context.get_abi_sizeof(context.get_data_type(aryty.dtype)))
        nbytes = builder.mul(shape[1], size)
        with _cgutils.for_range_slice(builder, zero, nbytes, context.get_constant(_types.intp, 64)) as (off, _):
            builder.call(fn, [builder.gep(base, [off]), _ir.Constant(_ir.IntType(32), 0),
                              _ir.Constant(_ir.IntType(32), 3), _ir.Constant(_ir.IntType(32), 1)])
        return context.get_dummy_value()
    return sig, codegen


@njit(nogil=True, cache=True, inline="always")
def _plan_block(state, buf, n, i0, M, window, lo_, hi_, inp, inw, tgt):
    """Windows of the centres i0..i0+M-1 (lo_, hi_; tgt[:M] = the centre words) and the input
    positions they cover, with their window counts (inp, inw). Returns (state, inputs)."""
    span_lo = n
    span_hi = 0
    for m in range(M):
        lo, hi, state = _window(state, i0 + m, n, window)
        lo_[m] = lo
        hi_[m] = hi
        span_lo = min(span_lo, lo)
        span_hi = max(span_hi, hi)
        tgt[m] = buf[i0 + m]
    nI = 0
    for p in range(span_lo, span_hi):
        c = 0
        for m in range(M):
            if lo_[m] <= p < hi_[m] and p != i0 + m:
                c += 1
        if c > 0:
            inp[nI] = p
            inw[nI] = c
            nI += 1
    return state, nI


@njit(nogil=True, cache=True, inline="always")
def _block_negatives(tgt, valid, M, K, prob, alias, filt, state, counts):
    """tgt[M:M+K] = negatives shared by the centres tgt[:M]: a draw that the filter rejects for
    any centre is redrawn (up to filt[5] times), then dropped (tgt = tgt[0], valid = 0)."""
    max_redraw = filt[5]
    for t in range(M, M + K):
        state, c = noise_draw(state, prob, alias)
        ok = True
        for attempt in range(max_redraw + 1):
            ok = True
            for m in range(M):
                w = tgt[m]
                r = reject_reason(c, w, w, filt, anchor_time_of(filt, w), anchor_label_of(filt, w))
                if r != 0:
                    if attempt == 0:
                        counts[0] += 1
                        counts[2 + r] += 1
                    ok = False
                    break
            if ok or attempt == max_redraw:
                break
            counts[1] += 1
            state, c = noise_draw(state, prob, alias)
        if ok:
            tgt[t] = c
            valid[t] = 1.0
        else:
            counts[2] += 1
            tgt[t] = tgt[0]
            valid[t] = 0.0
    return state


from .sgns_layout import GROUP  # noqa: E402  targets per pass (6 = 1 + k for the default k = 5)


@njit(nogil=True, cache=True, fastmath=FASTMATH, error_model="numpy", inline="always")
def _dots6(V, j, U, tg):
    """The 6 dot products of V[j] with U[tg:tg + 6] in one pass over the dimensions."""
    d = V.shape[1]
    f0 = f1 = f2 = f3 = f4 = f5 = np.float32(0.0)
    for x in range(d):
        vx = V[j, x]
        f0 += vx * U[tg, x]
        f1 += vx * U[tg + 1, x]
        f2 += vx * U[tg + 2, x]
        f3 += vx * U[tg + 3, x]
        f4 += vx * U[tg + 4, x]
        f5 += vx * U[tg + 5, x]
    return f0, f1, f2, f3, f4, f5


@njit(nogil=True, cache=True, fastmath=FASTMATH, error_model="numpy")
def sgns_block_core(W_in, W_out, ids, offsets, s_begin, s_end, keep, prob, alias, filt,
                    window, negative, lr, seed, stats, buf, block, block_negatives, prefetch,
                    lo_, hi_, inp, inw, tgt, valid, U, V, G):
    """Context-combining SGNS over sentences [s_begin, s_end), allocation-free (module
    docstring). Scratch (two plan slots each, the current block's and the next one's): lo_, hi_
    int64 (2 block,), inp, inw int64 (2 NI,), NI = block + 2 window + 1, tgt int32 and valid
    float32 (2 T,), T = block + block_negatives; U float32 (TG, d), the snapshot of the target
    rows padded with zero rows to TG = T rounded up to a multiple of GROUP; V float32 (NI, d),
    the block's input rows; G float32 (NI, TG), their scaled gradients.

    Loop order (what the compiler vectorises well): each input's logits against GROUP targets
    in one pass over the dimensions (GROUP accumulators, the input row loaded once), its update
    v += sum_t g_t u_t in one pass per GROUP targets, and each target's update
    u_t += sum_j g_jt v_j in one pass per two inputs, written straight to W_out."""
    d = W_in.shape[1]
    counts = stats[_STAT_FILTER:_STAT_FILTER + 7]
    state = stream_state(seed, 0)
    K = block_negatives
    T_max = block + K
    TG = U.shape[0]
    SL = lo_.shape[0] // 2
    SI = inp.shape[0] // 2
    negscale = negative / K
    pairs = 0
    logits = 0
    loss = 0.0
    terms = 0.0
    for t in range(TG):
        for x in range(d):
            U[t, x] = 0.0
    for s in range(s_begin, s_end):
        n, state = _subsample_sentence(ids, offsets[s], offsets[s + 1], keep, state, buf)
        cur = 0
        i0 = 0
        M = min(block, n)
        state, nI = _plan_block(state, buf, n, 0, M, window, lo_[:SL], hi_[:SL], inp[:SI], inw[:SI], tgt[:T_max])
        if nI > 0:
            state = _block_negatives(tgt[:T_max], valid[:T_max], M, K, prob, alias, filt, state, counts)
        while i0 < n:
            # ---- plan the next block (windows, inputs, negatives) and prefetch its rows
            nxt = 1 - cur
            i1 = i0 + M
            M1 = min(block, n - i1)
            nI1 = 0
            if M1 > 0:
                nt = tgt[nxt * T_max:(nxt + 1) * T_max]
                ni = inp[nxt * SI:(nxt + 1) * SI]
                state, nI1 = _plan_block(state, buf, n, i1, M1, window, lo_[nxt * SL:(nxt + 1) * SL],
                                         hi_[nxt * SL:(nxt + 1) * SL], ni, inw[nxt * SI:(nxt + 1) * SI], nt)
                if nI1 > 0:
                    state = _block_negatives(nt, valid[nxt * T_max:(nxt + 1) * T_max], M1, K, prob, alias, filt,
                                             state, counts)
                    if prefetch:
                        for t in range(M1 + K):
                            prefetch_row(W_out, nt[t])
                        for j in range(nI1):
                            prefetch_row(W_in, buf[ni[j]])
            # ---- train the current block from the snapshot of its target rows
            if nI > 0:
                T = M + K
                Tg = ((T + GROUP - 1) // GROUP) * GROUP
                ct = tgt[cur * T_max:(cur + 1) * T_max]
                cv = valid[cur * T_max:(cur + 1) * T_max]
                clo = lo_[cur * SL:(cur + 1) * SL]
                chi = hi_[cur * SL:(cur + 1) * SL]
                ci = inp[cur * SI:(cur + 1) * SI]
                cw = inw[cur * SI:(cur + 1) * SI]
                for t in range(T):
                    row = ct[t]
                    for x in range(d):
                        U[t, x] = W_out[row, x]
                for t in range(T, Tg):                 # padding rows of a shorter last block
                    for x in range(d):
                        U[t, x] = 0.0
                for j in range(nI):
                    p = ci[j]
                    c = buf[p]
                    for x in range(d):
                        V[j, x] = W_in[c, x]
                    wgt = cw[j] * negscale
                    for tg in range(0, Tg, GROUP):
                        f0, f1, f2, f3, f4, f5 = _dots6(V, j, U, tg)
                        for q in range(GROUP):
                            t = tg + q
                            G[j, t] = 0.0
                            if t >= T:
                                continue
                            if t < M:
                                if not (clo[t] <= p < chi[t] and p != i0 + t):
                                    continue
                            elif cv[t] == 0.0:
                                continue
                            f = f0 if q == 0 else f1 if q == 1 else f2 if q == 2 else f3 if q == 3 else \
                                f4 if q == 4 else f5
                            if not (abs(f) < _DIVERGED):
                                stats[_STAT_DIVERGED] += 1.0
                            k = _table_index(f)
                            logits += 1
                            if t < M:
                                G[j, t] = (1.0 - SIG[k]) * lr
                                loss -= LOGSIG[k]
                                terms += 1.0
                                pairs += 1
                            else:
                                G[j, t] = -SIG[k] * lr * wgt
                                loss -= LOGSIG[SIG_TABLE_SIZE - 1 - k] * wgt
                                terms += wgt
                    # v += sum_t g_t u_t  (from the snapshot), GROUP targets per pass
                    for tg in range(0, Tg, GROUP):
                        g0 = G[j, tg]
                        g1 = G[j, tg + 1]
                        g2 = G[j, tg + 2]
                        g3 = G[j, tg + 3]
                        g4 = G[j, tg + 4]
                        g5 = G[j, tg + 5]
                        for x in range(d):
                            W_in[c, x] += (g0 * U[tg, x] + g1 * U[tg + 1, x] + g2 * U[tg + 2, x]
                                           + g3 * U[tg + 3, x] + g4 * U[tg + 4, x] + g5 * U[tg + 5, x])
                # u_t += sum_j g_jt v_j  (the inputs as loaded), two inputs per pass
                for t in range(T):
                    row = ct[t]
                    j = 0
                    while j + 1 < nI:
                        ga = G[j, t]
                        gb = G[j + 1, t]
                        for x in range(d):
                            W_out[row, x] += ga * V[j, x] + gb * V[j + 1, x]
                        j += 2
                    if j < nI:
                        ga = G[j, t]
                        for x in range(d):
                            W_out[row, x] += ga * V[j, x]
            i0 = i1
            M = M1
            nI = nI1
            cur = nxt
    stats[0] += pairs
    stats[1] += loss
    stats[2] += terms
    stats[_STAT_LOGITS] += logits
    return state


@njit(nogil=True, cache=True)
def sgns_block(W_in, W_out, ids, offsets, s_begin, s_end, keep, prob, alias, filt,
               window, negative, lr, seed, stats, block=4, block_negatives=0, prefetch=1):
    """Context-combining SGNS (JIT entry: allocates the scratch; block_negatives 0 means
    ``negative``). Returns the RNG state. See module docstring."""
    if stats.shape[0] < STATS_SIZE:
        raise ValueError("sgns_block needs 12 stats entries")
    d = W_in.shape[1]
    K = block_negatives if block_negatives > 0 else negative
    T = block + K
    TG = ((T + GROUP - 1) // GROUP) * GROUP
    NI = block + 2 * window + 1
    buf = np.empty(_max_sentence_length(offsets, s_begin, s_end) + 1, dtype=np.int32)
    return sgns_block_core(W_in, W_out, ids, offsets, s_begin, s_end, keep, prob, alias, filt,
                           window, negative, lr, seed, stats, buf, block, K, prefetch,
                           np.empty(2 * block, np.int64), np.empty(2 * block, np.int64),
                           np.empty(2 * NI, np.int64), np.empty(2 * NI, np.int64), np.empty(2 * T, np.int32),
                           np.empty(2 * T, np.float32), np.empty((TG, d), np.float32), np.empty((NI, d), np.float32),
                           np.empty((NI, TG), np.float32))
