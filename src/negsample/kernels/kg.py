"""Knowledge-graph embedding kernels (numba only: arrays in, arrays out).

Models (score f(h, r, t), higher = more plausible; "complex" rows are [real | imaginary] halves):

  TransE    f = -||h + r - t||_p                       E (n, d), R (m, d), p = 1 or 2
  DistMult  f = sum_j h_j r_j t_j                       E (n, d), R (m, d)
  ComplEx   f = Re sum_j h_j r_j conj(t_j)              E (n, 2d), R (m, 2d)
  RotatE    f = -|| h o e^{i theta} - t ||              E (n, 2d), R (m, d) = phases theta;
            p = 1: sum of the complex moduli (Sun et al. 2019); p = 2: the L2 norm (PyKEEN)

Every score is written as f = sim(q, e) of a *query* q built from the two fixed parts and the
candidate entity e, so one query serves the true entity and all its corruptions:

  corrupt the tail (side 0): q from (h, r), e = t        corrupt the head (side 1): q from (t, r), e = h
  TransE   q = h + r,        sim = -||q - e||_p          q = t - r
  DistMult q = h o r,        sim = q . e                 q = r o t
  ComplEx  q = h o r,        sim = q . e (real layout)   q = conj(r) o t
  RotatE   q = h o e^{i th}, sim = -||q - e||            q = e^{-i th} o t      (|e^{i th}| = 1)

Losses per positive with scores f+ and negatives f_1..f_k, weights w_j (uniform 1/k, or
self-adversarial w = softmax(alpha f_j), no gradient through w; Sun et al. 2019):
  nssa    L = -ln s(gamma + f+) - sum_j w_j ln s(-gamma - f_j)        (PyKEEN's NSSALoss without its 1/2)
  margin  L = sum_j w_j max(0, gamma - f+ + f_j)                      (margin ranking, TransE)
The gradients of a block of positives are summed (mean over the block) into row buffers and
applied once per row at the end of the block with SGD, AdaGrad, Adam or lazy Adam. Each block
is one optimizer step. Steps are counted in rounds: block b of every thread in epoch e is round
r = e B + b (B blocks per thread and epoch), whose ``threads`` steps are numbered r threads + 1 ..
(r + 1) threads; a row's gradient application takes the step after max(T[row], r threads), so a
row that all threads touch in a round gets one step per thread and no zero-gradient steps, however
the threads interleave.

  ADAM         torch.optim.Adam: every row moves at every step, a row without gradient by its
               decaying momentum. Done lazily: a row keeps T[row], the step it is current to;
               when it is next used (or at ``adam_catch_up``) the zero-gradient steps
               k = 1..n in between are applied in closed form (to all rows of a block before
               its gradients are taken, and to every row at the end of an epoch),
                 W -= m / (sqrt(v) + eps) * sum_k scale[T + k] (beta1 / sqrt(beta2))^k,
                 m *= beta1^n, v *= beta2^n,
               with scale[t] = lr sqrt(1 - beta2^t) / (1 - beta1^t) (eps taken out of the sum:
               exact when eps << sqrt(v)); with normalised entities (TransE, DistMult) the
               steps are applied one by one, each followed by the renormalisation. Rare rows
               (most entities of a large graph) thus keep moving for ~10 steps after each
               gradient, as with dense Adam.
  LAZY_ADAM    a row's moments and weights move only when it has a gradient (like
               torch.optim.SparseAdam), and its bias correction uses the row's own step count
               T[row] (SparseAdam uses the global step).
Threads (GIL released) either run disjoint chunks of positives at once on the shared tables, each
making its own steps (Hogwild, ``train_chunk``), or split every block between them and apply its
summed gradient once (synchronous, ``grad_part`` then ``apply_part``).

Negatives come only from the noise core (``negsample.kernels.noise``): per block, the tails of
tail-corrupted positives are drawn with ``draw_negatives`` (per-example) or one pool from
``sample_noise`` filtered per positive with ``filter_negatives`` (shared), with the filter
tuple of the (h, r) -> tails CSR (row h * n_relations + r) and the true tail as ``avoid``;
heads likewise with the (t, r) -> heads CSR (row t * n_relations + r).
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .noise import draw_negatives, filter_negatives, rng_uniform, sample_noise, stream_state

TRANSE, DISTMULT, COMPLEX, ROTATE = 0, 1, 2, 3
NSSA, MARGIN = 0, 1
SGD, ADAGRAD, ADAM, LAZY_ADAM = 0, 1, 2, 3
TAIL, HEAD = 0, 1

# reassociation and contraction for vectorised reductions, but no "no NaN / no inf" assumptions
_FM = {"reassoc", "contract", "arcp", "nsz"}


# --------------------------------------------------------------------------- prefetch

@intrinsic
def _prefetch(typingctx, arr, row, col):
    """llvm.prefetch (read, high locality) of the address of arr[row, col]."""
    sig = types.void(arr, row, col)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1], args[2]])
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


@njit(nogil=True, cache=True, inline="always")
def prefetch_row(W, row):
    """Ask the CPU to fetch row ``row`` of W (one request per 64-byte line): the tables are
    gathered by random rows, and fetching the next rows while computing on the current ones
    hides memory latency on large graphs."""
    step = max(1, 64 // W.itemsize)
    for j in range(0, W.shape[1], step):
        _prefetch(W, row, j)


# --------------------------------------------------------------------------- queries and scores

@njit(nogil=True, cache=True, inline="always")
def query(model, side, E, R, a, r, q):
    """q (De,) = the query of the fixed entity a (the head for side 0, the tail for side 1) and
    relation r (see the module table)."""
    De = E.shape[1]
    if model == TRANSE:
        if side == TAIL:
            for j in range(De):
                q[j] = E[a, j] + R[r, j]
        else:
            for j in range(De):
                q[j] = E[a, j] - R[r, j]
    elif model == DISTMULT:
        for j in range(De):
            q[j] = E[a, j] * R[r, j]
    elif model == COMPLEX:
        d = De // 2
        for j in range(d):
            ar, ai = E[a, j], E[a, d + j]
            rr, ri = R[r, j], R[r, d + j]
            if side == TAIL:
                q[j] = ar * rr - ai * ri
                q[d + j] = ar * ri + ai * rr
            else:
                q[j] = rr * ar + ri * ai
                q[d + j] = rr * ai - ri * ar
    else:
        d = De // 2
        for j in range(d):
            c = math.cos(R[r, j])
            s = math.sin(R[r, j])
            ar, ai = E[a, j], E[a, d + j]
            if side == TAIL:
                q[j] = ar * c - ai * s
                q[d + j] = ar * s + ai * c
            else:
                q[j] = ar * c + ai * s
                q[d + j] = ai * c - ar * s


@njit(nogil=True, cache=True, fastmath=_FM)
def sim(model, pnorm, q, E, e):
    """f = sim(q, E[e]) (float32): a dot product (DistMult, ComplEx) or minus a distance."""
    De = E.shape[1]
    acc = np.float32(0.0)
    if model == DISTMULT or model == COMPLEX:
        for j in range(De):
            acc += q[j] * E[e, j]
        return acc
    if model == ROTATE and pnorm == 1:
        d = De // 2
        for j in range(d):
            xr = q[j] - E[e, j]
            xi = q[d + j] - E[e, d + j]
            acc += math.sqrt(xr * xr + xi * xi)
        return -acc
    if pnorm == 1:
        for j in range(De):
            acc += abs(q[j] - E[e, j])
        return -acc
    for j in range(De):
        x = q[j] - E[e, j]
        acc += x * x
    return -math.sqrt(acc)


@njit(nogil=True, cache=True, fastmath=_FM)
def sim_grad(model, pnorm, q, E, e, coef, gq, G, slot, f):
    """gq += coef * df/dq and G[slot] += coef * df/de for f = sim(q, E[e]) (f given: the L2
    distance is -f)."""
    De = E.shape[1]
    if model == DISTMULT or model == COMPLEX:
        for j in range(De):
            gq[j] += coef * E[e, j]
            G[slot, j] += coef * q[j]
        return
    if model == ROTATE and pnorm == 1:
        d = De // 2
        for j in range(d):
            xr = q[j] - E[e, j]
            xi = q[d + j] - E[e, d + j]
            m = math.sqrt(xr * xr + xi * xi)
            if m > 0.0:
                cr = coef * xr / m
                ci = coef * xi / m
                gq[j] -= cr
                gq[d + j] -= ci
                G[slot, j] += cr
                G[slot, d + j] += ci
        return
    if pnorm == 1:   # d|x|/dx = sign(x) (0 at 0), written branch-free so the loop vectorises
        for j in range(De):
            x = q[j] - E[e, j]
            c = coef * (np.float32(x > 0.0) - np.float32(x < 0.0))
            gq[j] -= c
            G[slot, j] += c
        return
    n = -f
    if n > 0.0:
        c = coef / n
        for j in range(De):
            x = c * (q[j] - E[e, j])
            gq[j] -= x
            G[slot, j] += x


@njit(nogil=True, cache=True, inline="always")
def query_backprop(model, side, E, R, a, r, q, gq, GE, sa, GR, sr):
    """Chain rule through the query: GE[sa] += dq/da^T gq, GR[sr] += dq/dr^T gq."""
    De = E.shape[1]
    if model == TRANSE:
        for j in range(De):
            GE[sa, j] += gq[j]
            if side == TAIL:
                GR[sr, j] += gq[j]
            else:
                GR[sr, j] -= gq[j]
    elif model == DISTMULT:
        for j in range(De):
            GE[sa, j] += gq[j] * R[r, j]
            GR[sr, j] += gq[j] * E[a, j]
    elif model == COMPLEX:
        d = De // 2
        for j in range(d):
            ar, ai = E[a, j], E[a, d + j]
            rr, ri = R[r, j], R[r, d + j]
            gr_, gi_ = gq[j], gq[d + j]
            if side == TAIL:   # q = a o r
                GE[sa, j] += gr_ * rr + gi_ * ri
                GE[sa, d + j] += -gr_ * ri + gi_ * rr
                GR[sr, j] += gr_ * ar + gi_ * ai
                GR[sr, d + j] += -gr_ * ai + gi_ * ar
            else:              # q = conj(r) o a
                GE[sa, j] += gr_ * rr - gi_ * ri
                GE[sa, d + j] += gr_ * ri + gi_ * rr
                GR[sr, j] += gr_ * ar + gi_ * ai
                GR[sr, d + j] += gr_ * ai - gi_ * ar
    else:
        d = De // 2
        for j in range(d):
            c = math.cos(R[r, j])
            s = math.sin(R[r, j])
            gr_, gi_ = gq[j], gq[d + j]
            if side == TAIL:   # q = a o e^{i th}
                GE[sa, j] += gr_ * c + gi_ * s
                GE[sa, d + j] += -gr_ * s + gi_ * c
                GR[sr, j] += -gr_ * q[d + j] + gi_ * q[j]
            else:              # q = e^{-i th} o a
                GE[sa, j] += gr_ * c - gi_ * s
                GE[sa, d + j] += gr_ * s + gi_ * c
                GR[sr, j] += gr_ * q[d + j] - gi_ * q[j]


@njit(nogil=True, cache=True)
def score_triples(model, pnorm, E, R, heads, rels, tails, out):
    """out[i] = f(heads[i], rels[i], tails[i])."""
    q = np.empty(E.shape[1], np.float32)
    for i in range(heads.shape[0]):
        query(model, TAIL, E, R, heads[i], rels[i], q)
        out[i] = sim(model, pnorm, q, E, tails[i])


@njit(nogil=True, cache=True)
def triple_grad(model, pnorm, side, E, R, h, r, t, gE, gR):
    """Gradient of f(h, r, t) through the side's query: gE (n, De), gR (m, Dr) += df/dparams."""
    q = np.empty(E.shape[1], np.float32)
    gq = np.zeros(E.shape[1], np.float32)
    a, e = (h, t) if side == TAIL else (t, h)
    query(model, side, E, R, a, r, q)
    sim_grad(model, pnorm, q, E, e, np.float32(1.0), gq, gE, e, sim(model, pnorm, q, E, e))
    query_backprop(model, side, E, R, a, r, q, gq, gE, a, gR, r)


@njit(nogil=True, cache=True)
def score_all(model, pnorm, E, R, a, r, side, out):
    """out[e] = score of every entity e as the tail (side 0, a = head) or head (side 1, a = tail)."""
    q = np.empty(E.shape[1], np.float32)
    query(model, side, E, R, a, r, q)
    for e in range(E.shape[0]):
        out[e] = sim(model, pnorm, q, E, e)


# --------------------------------------------------------------------------- evaluation

@njit(nogil=True, cache=True)
def rank_chunk(model, pnorm, E, R, heads, rels, tails, side, start, end, kp_indptr, kp_indices,
               greater, equal):
    """Filtered ranks of the true entity of queries [start, end): for each query the number of
    candidates scoring strictly higher (``greater``) and equal (``equal``), over all entities
    except the true one and those in the query's known-positive CSR row (row a * n_relations + r,
    a = head for side 0 / tail for side 1; sorted rows; a 1-entry indptr disables the filter).
    Optimistic rank = greater + 1, pessimistic = greater + equal + 1, realistic = their mean.
    A non-finite true score counts every candidate as greater."""
    n_ent = E.shape[0]
    n_rel = R.shape[0]
    q = np.empty(E.shape[1], np.float32)
    n_rows = kp_indptr.shape[0] - 1
    for i in range(start, end):
        r = rels[i]
        if side == TAIL:
            a, true = heads[i], tails[i]
        else:
            a, true = tails[i], heads[i]
        query(model, side, E, R, a, r, q)
        s_true = sim(model, pnorm, q, E, true)
        row = a * n_rel + r
        lo = hi = 0
        if row < n_rows:
            lo = kp_indptr[row]
            hi = kp_indptr[row + 1]
        ptr = lo
        g = 0
        eq = 0
        finite = np.isfinite(s_true)
        for e in range(n_ent):
            while ptr < hi and kp_indices[ptr] < e:
                ptr += 1
            if ptr < hi and kp_indices[ptr] == e:
                continue
            if e == true:
                continue
            if not finite:
                g += 1
                continue
            s = sim(model, pnorm, q, E, e)
            if s > s_true:
                g += 1
            elif s == s_true:
                eq += 1
        greater[i] = g
        equal[i] = eq


# --------------------------------------------------------------------------- training

@njit(nogil=True, cache=True, inline="always")
def _slot(slot_of, rows, n, x):
    """Buffer slot of table row x within the current block (allocated on first use)."""
    s = slot_of[x]
    if s < 0:
        s = n
        slot_of[x] = s
        rows[s] = x
        n += 1
    return s, n


def adam_scale(lr, beta1, beta2, eps, steps):
    """(steps + 1, 2) float64: row t = [lr sqrt(1 - beta2^t) / (1 - beta1^t), eps sqrt(1 - beta2^t)]
    (row 0 unused): Adam's bias-corrected step size and epsilon at global step t."""
    t = np.arange(steps + 1, dtype=np.float64)
    t[0] = 1.0
    bc2 = np.sqrt(1.0 - beta2 ** t)
    out = np.empty((steps + 1, 2))
    out[:, 0] = lr * bc2 / (1.0 - beta1 ** t)
    out[:, 1] = eps * bc2
    return out


@njit(nogil=True, cache=True, fastmath=_FM)
def _catch_up(W, M, V, row, last, n, scale, beta1, beta2, eps):
    """Apply dense Adam's n zero-gradient steps last+1..last+n to row W[row] (module docstring)."""
    if n <= 0 or last <= 0:   # nothing pending, or the row never had a gradient (m = v = 0)
        return
    rho = beta1 / math.sqrt(beta2)
    c = 0.0
    rk = 1.0
    top = scale.shape[0] - 1
    for k in range(1, n + 1):
        rk *= rho
        c += scale[min(last + k, top), 0] * rk
        if rk < 1e-9:
            break
    d1 = np.float32(beta1 ** n)
    d2 = np.float32(beta2 ** n)
    c32 = np.float32(c)
    eps32 = np.float32(eps)
    for j in range(W.shape[1]):
        m = M[row, j]
        v = V[row, j]
        W[row, j] -= c32 * m / (np.sqrt(v) + eps32)
        M[row, j] = m * d1
        V[row, j] = v * d2


@njit(nogil=True, cache=True, fastmath=_FM)
def _catch_up_normalized(W, M, V, row, last, n, scale, beta1, beta2):
    """Dense Adam's n zero-gradient steps with the row renormalised after each (as a per-step
    projection does), step by step until (beta1 / sqrt(beta2))^k < 1e-9, then only the decay."""
    rho = beta1 / math.sqrt(beta2)
    b1 = np.float32(beta1)
    b2 = np.float32(beta2)
    rk = 1.0
    k = 0
    while k < n and rk >= 1e-9:
        k += 1
        rk *= rho
        idx = min(last + k, scale.shape[0] - 1)
        step = np.float32(scale[idx, 0])
        eps_t = np.float32(scale[idx, 1])
        for j in range(W.shape[1]):
            m = M[row, j] * b1
            v = V[row, j] * b2
            M[row, j] = m
            V[row, j] = v
            W[row, j] -= step * m / (np.sqrt(v) + eps_t)
        _normalize_row(W, row)
    if k < n:
        d1 = np.float32(beta1 ** (n - k))
        d2 = np.float32(beta2 ** (n - k))
        for j in range(W.shape[1]):
            M[row, j] *= d1
            V[row, j] *= d2


@njit(nogil=True, cache=True, inline="always")
def _bring_to(W, M, V, T, row, t, scale, beta1, beta2, eps, normalize):
    """Bring row W[row] to global step t (dense Adam's zero-gradient steps since T[row])."""
    last = T[row]
    if 0 < last < t:
        if normalize:
            _catch_up_normalized(W, M, V, row, last, t - last, scale, beta1, beta2)
        else:
            _catch_up(W, M, V, row, last, t - last, scale, beta1, beta2, eps)
        T[row] = t


@njit(nogil=True, cache=True)
def adam_catch_up(W, M, V, T, t, scale, beta1, beta2, eps, normalize):
    """Bring every row of W to global step t (dense Adam, zero gradients since T[row]); rows
    that moved are renormalised when ``normalize``."""
    for row in range(W.shape[0]):
        _bring_to(W, M, V, T, row, t, scale, beta1, beta2, eps, normalize)


@njit(nogil=True, cache=True, inline="always")
def _normalize_row(W, row):
    acc = 0.0
    for j in range(W.shape[1]):
        acc += W[row, j] * W[row, j]
    if acc > 0.0:
        inv = 1.0 / math.sqrt(acc)
        for j in range(W.shape[1]):
            W[row, j] *= inv


@njit(nogil=True, cache=True, fastmath=_FM)
def _apply(W, M, V, T, row, G, s, optimizer, lr, beta1, beta2, eps, t, scale):
    """One optimizer step of table row W[row] with gradient G[s] (ADAM: the step after max(T[row],
    t), t = the steps completed before the block's round); G[s] is zeroed."""
    D = W.shape[1]
    if optimizer == ADAM or optimizer == LAZY_ADAM:
        if optimizer == ADAM:   # the row is current to step >= t (train_chunk); this is the next one
            tr = max(T[row], t) + 1
            T[row] = tr
            tr = min(tr, scale.shape[0] - 1)
            step = np.float32(scale[tr, 0])
            eps_t = np.float32(scale[tr, 1])
        else:
            T[row] += 1
            tr = T[row]
            bc1 = 1.0 - beta1 ** tr
            bc2 = 1.0 - beta2 ** tr
            step = np.float32(lr * math.sqrt(bc2) / bc1)
            eps_t = np.float32(eps * math.sqrt(bc2))
        b1 = np.float32(beta1)
        b2 = np.float32(beta2)
        c1 = np.float32(1.0 - beta1)
        c2 = np.float32(1.0 - beta2)
        for j in range(D):
            g = G[s, j]
            m = b1 * M[row, j] + c1 * g
            v = b2 * V[row, j] + c2 * g * g
            M[row, j] = m
            V[row, j] = v
            W[row, j] -= step * m / (np.sqrt(v) + eps_t)
            G[s, j] = 0.0
    elif optimizer == ADAGRAD:
        lr32 = np.float32(lr)
        eps32 = np.float32(eps)
        for j in range(D):
            g = G[s, j]
            v = V[row, j] + g * g
            V[row, j] = v
            W[row, j] -= lr32 * g / (np.sqrt(v) + eps32)
            G[s, j] = 0.0
    else:
        lr32 = np.float32(lr)
        for j in range(D):
            W[row, j] -= lr32 * G[s, j]
            G[s, j] = 0.0


@njit(nogil=True, cache=True, inline="always")
def _log_sigmoid(x):
    if x >= 0.0:
        return -math.log1p(math.exp(-x))
    return x - math.log1p(math.exp(x))


@njit(nogil=True, cache=True, inline="always")
def _sigmoid(x):
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


@njit(nogil=True, cache=True)
def positive_loss(loss, gamma, adv, fpos, fneg, valid, w, dneg):
    """Loss of one positive with score fpos and negative scores fneg[valid]; fills the weights w
    and dL/df_j in dneg, returns (L, dL/df+)."""
    K = fneg.shape[0]
    nv = 0
    fmax = -np.inf
    for j in range(K):
        if valid[j]:
            nv += 1
            if fneg[j] > fmax:
                fmax = fneg[j]
    total = 0.0
    for j in range(K):
        w[j] = 0.0
        dneg[j] = 0.0
        if valid[j]:
            w[j] = math.exp(adv * (fneg[j] - fmax)) if adv > 0.0 else 1.0
            total += w[j]
    for j in range(K):
        if valid[j]:
            w[j] /= total
    if loss == NSSA:
        L = -_log_sigmoid(gamma + fpos)
        dpos = -_sigmoid(-gamma - fpos)
        for j in range(K):
            if valid[j]:
                L -= w[j] * _log_sigmoid(-gamma - fneg[j])
                dneg[j] = w[j] * _sigmoid(gamma + fneg[j])
        return L, dpos
    L = 0.0
    dpos = 0.0
    for j in range(K):
        if valid[j]:
            m = gamma - fpos + fneg[j]
            if m > 0.0:
                L += w[j] * m
                dneg[j] = w[j]
                dpos -= w[j]
    return L, dpos


@njit(nogil=True, cache=True)
def assign_sides(heads, rels, tails, order, b0, B, n_rel, p_head, state, side, pos_in, rows_t, avoid_t, rows_h,
                 avoid_h):
    """Choose the corrupted side of positives order[b0:b0+B] (head with probability p_head[r])
    and fill the core's anchor arrays: rows_t = h * n_rel + r, avoid_t = t for tail corruption;
    rows_h = t * n_rel + r, avoid_h = h for head corruption. Returns (state, n_tail, n_head)."""
    nt = 0
    nh = 0
    for i in range(B):
        p = order[b0 + i]
        h, r, t = heads[p], rels[p], tails[p]
        state, u = rng_uniform(state)
        if u < p_head[r]:
            side[i] = HEAD
            pos_in[i] = nh
            rows_h[nh] = t * n_rel + r
            avoid_h[nh] = h
            nh += 1
        else:
            side[i] = TAIL
            pos_in[i] = nt
            rows_t[nt] = h * n_rel + r
            avoid_t[nt] = t
            nt += 1
    return state, nt, nh


@njit(nogil=True, cache=True)
def draw_block(prob, alias, filt_tail, filt_head, rows_t, avoid_t, nt, rows_h, avoid_h, nh, negs_t, negs_h, pool,
               shared, seed, blk, counts):
    """The corruptions of one block through the noise core: negs_t[:nt] (tails) and
    negs_h[:nh] (heads), K = negs_t.shape[1] each, -1 where dropped. Per-example: K filtered
    draws per positive (``draw_negatives``); shared: one pool of K (``sample_noise``) filtered
    per positive (``filter_negatives``). Streams 1 + 2 blk and 2 + 2 blk of ``seed``."""
    K = negs_t.shape[1]
    no_times = np.zeros(0, np.float64)
    no_labels = np.zeros(0, np.int64)
    s_t = stream_state(seed, 1 + 2 * blk)
    s_h = stream_state(seed, 2 + 2 * blk)
    if shared:
        sample_noise(prob, alias, s_t, pool)
        for i in range(nt):
            for j in range(K):
                negs_t[i, j] = pool[j]
        for i in range(nh):
            for j in range(K):
                negs_h[i, j] = pool[j]
        filter_negatives(prob, alias, filt_tail, rows_t[:nt], avoid_t[:nt], no_times, no_labels, negs_t[:nt], s_h,
                         counts)
        filter_negatives(prob, alias, filt_head, rows_h[:nh], avoid_h[:nh], no_times, no_labels, negs_h[:nh],
                         s_h + np.uint64(1), counts)
    else:
        draw_negatives(prob, alias, filt_tail, rows_t[:nt], avoid_t[:nt], no_times, no_labels, K, s_t, negs_t[:nt],
                       counts)
        draw_negatives(prob, alias, filt_head, rows_h[:nh], avoid_h[:nh], no_times, no_labels, K, s_h, negs_h[:nh],
                       counts)


@njit(nogil=True, cache=True)
def _block_buffers(batch, K):
    """Work arrays of one block of up to ``batch`` positives with K corruptions each: (side,
    pos_in, rows_t, avoid_t, rows_h, avoid_h, negs_t, negs_h, pool) as ``assign_sides`` and
    ``draw_block`` fill them."""
    return (np.empty(batch, np.int64), np.empty(batch, np.int64), np.empty(batch, np.int64),
            np.empty(batch, np.int64), np.empty(batch, np.int64), np.empty(batch, np.int64),
            np.empty((batch, K), np.int64), np.empty((batch, K), np.int64), np.empty(K, np.int64))


@njit(nogil=True, cache=True)
def corrupt_chunk(heads, rels, tails, order, start, end, batch, n_rel, p_head, prob, alias, filt_tail, filt_head,
                  negative, shared, seed, side_out, negs_out, counts):
    """The corruptions ``train_chunk`` would draw for positives order[start:end] with the same
    seed and batch: side_out[i] (0 tail / 1 head) and negs_out[i, :] (entity ids, -1 dropped)
    for positive order[i]."""
    K = negative
    side, pos_in, rows_t, avoid_t, rows_h, avoid_h, negs_t, negs_h, pool = _block_buffers(batch, K)
    state = stream_state(seed, 0)
    blk = 0
    for b0 in range(start, end, batch):
        B = min(b0 + batch, end) - b0
        state, nt, nh = assign_sides(heads, rels, tails, order, b0, B, n_rel, p_head, state, side, pos_in, rows_t,
                                     avoid_t, rows_h, avoid_h)
        draw_block(prob, alias, filt_tail, filt_head, rows_t, avoid_t, nt, rows_h, avoid_h, nh, negs_t, negs_h,
                   pool, shared, seed, blk, counts)
        for i in range(B):
            side_out[b0 + i] = side[i]
            for j in range(K):
                negs_out[b0 + i, j] = negs_t[pos_in[i], j] if side[i] == TAIL else negs_h[pos_in[i], j]
        blk += 1


@njit(nogil=True, cache=True)
def _block_grads(model, pnorm, loss, gamma, adv, E, R, reg, heads, rels, tails, order, b0, i_lo, i_hi, side, pos_in,
                 negs_t, negs_h, inv_b, slot_e, rows_e, ne, slot_r, rows_r, nr, GE, GR, q, gq, fneg, valid, w, dneg,
                 stats):
    """Gradients of positives order[b0 + i], i in [i_lo, i_hi), of a block (loss weight inv_b each:
    the block's mean), with the block's sides and corruptions, added into GE / GR at the rows' slots
    (``_slot``: allocated on first use; an identity slot map gives dense tables). stats += [loss,
    positives, negatives used, diverged]. Returns (ne, nr, finite)."""
    De = E.shape[1]
    Dr = R.shape[1]
    K = negs_t.shape[1]
    for i in range(i_lo, i_hi):
        p = order[b0 + i]
        h, r, t = heads[p], rels[p], tails[p]
        sd = side[i]
        if sd == TAIL:
            a, true = h, t
        else:
            a, true = t, h
        if i + 1 < i_hi:  # the next positive's rows, while this one computes
            nxt = pos_in[i + 1]
            for j in range(K):
                c = negs_t[nxt, j] if side[i + 1] == TAIL else negs_h[nxt, j]
                if c >= 0:
                    prefetch_row(E, c)
            p1 = order[b0 + i + 1]
            prefetch_row(E, heads[p1])
            prefetch_row(E, tails[p1])
        query(model, sd, E, R, a, r, q)
        fpos = sim(model, pnorm, q, E, true)
        nv = 0
        for j in range(K):
            c = negs_t[pos_in[i], j] if sd == TAIL else negs_h[pos_in[i], j]
            valid[j] = c >= 0
            if c >= 0:
                fneg[j] = sim(model, pnorm, q, E, c)
                nv += 1
        L, dpos = positive_loss(loss, gamma, adv, fpos, fneg, valid, w, dneg)
        if not np.isfinite(L):
            stats[3] = 1.0
            return ne, nr, False
        stats[0] += L
        stats[1] += 1.0
        stats[2] += nv
        for j in range(De):
            gq[j] = 0.0
        st, ne = _slot(slot_e, rows_e, ne, true)
        sim_grad(model, pnorm, q, E, true, np.float32(dpos * inv_b), gq, GE, st, fpos)
        for j in range(K):
            if valid[j] and dneg[j] != 0.0:
                c = negs_t[pos_in[i], j] if sd == TAIL else negs_h[pos_in[i], j]
                sc, ne = _slot(slot_e, rows_e, ne, c)
                sim_grad(model, pnorm, q, E, c, np.float32(dneg[j] * inv_b), gq, GE, sc, fneg[j])
        sa, ne = _slot(slot_e, rows_e, ne, a)
        sr, nr = _slot(slot_r, rows_r, nr, r)
        query_backprop(model, sd, E, R, a, r, q, gq, GE, sa, GR, sr)
        if reg > 0.0:
            cr = np.float32(2.0 * reg * inv_b)
            for j in range(De):
                GE[sa, j] += cr * E[a, j]
                GE[st, j] += cr * E[true, j]
            if model != ROTATE:
                for j in range(Dr):
                    GR[sr, j] += cr * R[r, j]
    return ne, nr, True


@njit(nogil=True, cache=True)
def train_chunk(model, pnorm, loss, gamma, adv, E, R, EM, EV, ET, RM, RV, RT, optimizer, lr, beta1, beta2, eps,
                reg, normalize, heads, rels, tails, order, start, end, p_head, prob, alias, filt_tail, filt_head,
                negative, shared, batch, seed, counts, stats, round0, n_threads, scale):
    """Train on positives order[start:end] in blocks of ``batch`` (see the module docstring).

    E (n, De), R (m, Dr) float32 updated in place; EM/EV/ET, RM/RV/RT the optimizer state (Adam
    moments and per-row steps, see the module docstring; AdaGrad uses V). Block b belongs to
    round r = round0 + b, whose n_threads steps (one per thread) are r n_threads + 1 ..
    (r + 1) n_threads; scale = ``adam_scale(...)`` (ADAM; indices past its end use its last row).
    p_head (m,) float64: probability of corrupting the head for each relation. counts
    (N_FILTER_COUNTS,) int64: filter counts of the core. stats (4,) float64 += [loss sum,
    positives, negatives used, diverged flag]."""
    n_ent, De = E.shape
    n_rel, Dr = R.shape
    K = negative
    cap_e = batch * (2 + K)
    slot_e = np.full(n_ent, -1, np.int64)
    slot_r = np.full(n_rel, -1, np.int64)
    rows_e = np.empty(cap_e, np.int64)
    rows_r = np.empty(batch, np.int64)
    GE = np.zeros((cap_e, De), np.float32)
    GR = np.zeros((batch, Dr), np.float32)
    q = np.empty(De, np.float32)
    gq = np.empty(De, np.float32)
    fneg = np.empty(K)
    valid = np.zeros(K, np.bool_)
    w = np.empty(K)
    dneg = np.empty(K)
    side, pos_in, rows_t, avoid_t, rows_h, avoid_h, negs_t, negs_h, pool = _block_buffers(batch, K)
    state = stream_state(seed, 0)
    blk = 0
    for b0 in range(start, end, batch):
        B = min(b0 + batch, end) - b0
        base = (round0 + blk) * n_threads   # steps completed before this round
        state, nt, nh = assign_sides(heads, rels, tails, order, b0, B, n_rel, p_head, state, side, pos_in, rows_t,
                                     avoid_t, rows_h, avoid_h)
        draw_block(prob, alias, filt_tail, filt_head, rows_t, avoid_t, nt, rows_h, avoid_h, nh, negs_t, negs_h,
                   pool, shared, seed, blk, counts)
        if optimizer == ADAM:  # the block's rows to the round's start before its gradients are taken
            for i in range(B):
                p = order[b0 + i]
                _bring_to(E, EM, EV, ET, heads[p], base, scale, beta1, beta2, eps, normalize)
                _bring_to(E, EM, EV, ET, tails[p], base, scale, beta1, beta2, eps, normalize)
                _bring_to(R, RM, RV, RT, rels[p], base, scale, beta1, beta2, eps, False)
                for j in range(K):
                    c = negs_t[pos_in[i], j] if side[i] == TAIL else negs_h[pos_in[i], j]
                    if c >= 0:
                        _bring_to(E, EM, EV, ET, c, base, scale, beta1, beta2, eps, normalize)
        ne, nr, finite = _block_grads(model, pnorm, loss, gamma, adv, E, R, reg, heads, rels, tails, order, b0, 0, B,
                                      side, pos_in, negs_t, negs_h, 1.0 / B, slot_e, rows_e, 0, slot_r, rows_r, 0, GE,
                                      GR, q, gq, fneg, valid, w, dneg, stats)
        if not finite:
            return
        for s in range(ne):
            e = rows_e[s]
            if s + 2 < ne:
                e2 = rows_e[s + 2]
                prefetch_row(E, e2)
                if optimizer != SGD:
                    prefetch_row(EV, e2)
                if optimizer == ADAM or optimizer == LAZY_ADAM:
                    prefetch_row(EM, e2)
            _apply(E, EM, EV, ET, e, GE, s, optimizer, lr, beta1, beta2, eps, base, scale)
            slot_e[e] = -1
            if normalize:
                _normalize_row(E, e)
        for s in range(nr):
            x = rows_r[s]
            _apply(R, RM, RV, RT, x, GR, s, optimizer, lr, beta1, beta2, eps, base, scale)
            slot_r[x] = -1
        blk += 1


# --------------------------------------------------------------------------- synchronous threads

@njit(nogil=True, cache=True)
def grad_part(model, pnorm, loss, gamma, adv, E, R, reg, heads, rels, tails, order, b0, B, i_lo, i_hi, p_head, prob,
              alias, filt_tail, filt_head, negative, shared, seed, blk, counts, stats, GE, GR, ident_e, ident_r):
    """Synchronous mode, phase 1 (one thread): the block order[b0:b0+B] draws its sides (stream
    2^40 + blk of ``seed``) and corruptions (``draw_block``, block ``blk``) — the same for every
    thread count — and this thread adds the gradients of its positives i in [i_lo, i_hi) into its
    dense tables GE (n, De), GR (m, Dr) (ident_e / ident_r: identity slot maps). Returns finite."""
    n_rel = R.shape[0]
    K = negative
    De = E.shape[1]
    side, pos_in, rows_t, avoid_t, rows_h, avoid_h, negs_t, negs_h, pool = _block_buffers(B, K)
    state = stream_state(seed, (1 << 40) + blk)
    state, nt, nh = assign_sides(heads, rels, tails, order, b0, B, n_rel, p_head, state, side, pos_in, rows_t,
                                 avoid_t, rows_h, avoid_h)
    draw_block(prob, alias, filt_tail, filt_head, rows_t, avoid_t, nt, rows_h, avoid_h, nh, negs_t, negs_h, pool,
               shared, seed, blk, counts)
    no_rows = np.empty(1, np.int64)
    q = np.empty(De, np.float32)
    gq = np.empty(De, np.float32)
    _, _, finite = _block_grads(model, pnorm, loss, gamma, adv, E, R, reg, heads, rels, tails, order, b0, i_lo, i_hi,
                                side, pos_in, negs_t, negs_h, 1.0 / B, ident_e, no_rows, 0, ident_r, no_rows, 0, GE,
                                GR, q, gq, np.empty(K), np.zeros(K, np.bool_), np.empty(K), np.empty(K), stats)
    return finite


@njit(nogil=True, cache=True, fastmath=_FM)
def apply_part(W, M, V, T, G, lo, hi, optimizer, lr, beta1, beta2, eps, t, scale, normalize):
    """Synchronous mode, phase 2 (one thread): rows [lo, hi) of W take optimizer step t + 1 with
    the sum over threads of G (threads, n, D), which is zeroed. ADAM steps every row that ever
    had a gradient (dense Adam: zero gradient where the block has none); the other optimizers
    only rows with a gradient. Moved rows are renormalised when ``normalize``."""
    nT = G.shape[0]
    D = W.shape[1]
    g = np.empty((1, D), np.float32)
    for row in range(lo, hi):
        touched = False
        for j in range(D):
            acc = np.float32(0.0)
            for k in range(nT):
                acc += G[k, row, j]
                G[k, row, j] = 0.0
            g[0, j] = acc
            if acc != 0.0:
                touched = True
        if not touched and (optimizer != ADAM or T[row] == 0):
            continue
        _apply(W, M, V, T, row, g, 0, optimizer, lr, beta1, beta2, eps, t, scale)
        if normalize:
            _normalize_row(W, row)
