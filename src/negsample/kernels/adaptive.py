"""Adaptive negatives (numba only): helpers any kernel calls after drawing candidates through the
noise core (``negsample.kernels.noise``). They know candidate ids and scores, not models: the
calling kernel scores the candidates with its own model (dot product, TransE distance, ...).
API and usage: docs/design-adaptive.md.

(a) Dynamic negatives (DNS, Zhang et al. 2013; WARP-like): ``draw_candidates`` makes M filtered
    draws, the kernel scores them, ``top_k`` keeps the k highest, or ``softmax_sample`` draws k
    with probability ∝ exp(score / T) (with replacement).
(b) Self-adversarial weights (Sun et al. 2019, RotatE): ``softmax_weights`` gives
    w_j = exp(alpha s_j) / sum_l exp(alpha s_l) over a positive's negatives; the kernel multiplies
    each negative's loss gradient by w_j (times the group size k, so alpha = 0 is the plain sum)
    and passes no gradient through w.
(c) Generator negatives (IRGAN / KBGAN style): a second, small embedding model g (user / anchor
    vectors G_a, item vectors G_c) proposes negatives from the filtered candidates,
    pi(c) = softmax_c(G_a[a] . G_c[c] / T) (``generator_propose``), is rewarded by how well its
    proposals fool the main model (e.g. r = s(x_an - x_ap), the probability the negative outranks
    the positive) and learns by REINFORCE with a running-mean baseline
    (``generator_update``): grad log pi(j) wrt logit_c = [c = j] - pi(c). The main model trains
    on the proposals, then the generator on its rewards, in turn for each positive. Because the
    candidates come from ``noise.filtered_draw``, every proposal has passed the false-negative
    filters.

Cost (extra scores per positive beyond the k the plain sampler scores): DNS M - k main-model
scores; generator M generator scores (dimension of g) + its update over M candidates;
self-adversarial none.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .noise import filtered_draw, rng_uniform


@njit(nogil=True, cache=True, inline="always")
def draw_candidates(state, prob, alias, filt, row, avoid, anchor_time, anchor_label, m, out, counts):
    """(new state, n): M = ``m`` filtered draws from the noise into out[0:n] (draws the filters
    dropped are left out, so n <= m); counts as ``noise.filtered_draw``."""
    n = 0
    for _ in range(m):
        state, c = filtered_draw(state, prob, alias, filt, row, avoid, anchor_time, anchor_label, counts)
        if c >= 0:
            out[n] = c
            n += 1
    return state, n


@njit(nogil=True, cache=True, inline="always")
def top_k(scores, n, k, out_idx):
    """kk = min(k, n): out_idx[0:kk] = indices (into scores[0:n]) of the kk highest scores, best
    first (ties: the lower index). Partial selection, O(n kk) (n is small: M candidates)."""
    kk = k if k < n else n
    for r in range(kk):
        best = -1
        for c in range(n):
            taken = False
            for q in range(r):
                if out_idx[q] == c:
                    taken = True
                    break
            if taken:
                continue
            if best < 0 or scores[c] > scores[best]:
                best = c
        out_idx[r] = best
    return kk


@njit(nogil=True, cache=True, inline="always")
def softmax_weights(scores, n, alpha, out_w):
    """out_w[0:n] = softmax(alpha * scores[0:n]) (max subtracted); returns its entropy (nats)."""
    if n == 0:
        return 0.0
    mx = scores[0]
    for c in range(1, n):
        if scores[c] > mx:
            mx = scores[c]
    z = 0.0
    for c in range(n):
        out_w[c] = np.exp(alpha * (scores[c] - mx))
        z += out_w[c]
    h = 0.0
    for c in range(n):
        out_w[c] /= z
        if out_w[c] > 0.0:
            h -= out_w[c] * np.log(out_w[c])
    return h


@njit(nogil=True, cache=True, inline="always")
def sample_from(state, p, n):
    """(new state, index c in [0, n) drawn with probability p[c]) (p sums to 1; one uniform of the
    core's RNG; inverse CDF)."""
    state, u = rng_uniform(state)
    acc = 0.0
    for c in range(n):
        acc += p[c]
        if u < acc:
            return state, c
    return state, n - 1


@njit(nogil=True, cache=True, inline="always")
def softmax_sample(state, scores, n, k, temperature, work, out_idx):
    """(new state, kk = k if n > 0 else 0): out_idx[0:kk] drawn with replacement from [0, n) with
    probability ∝ exp(scores / temperature); ``work`` (>= n) holds the probabilities after."""
    if n == 0:
        return state, 0
    softmax_weights(scores, n, 1.0 / temperature, work)
    for r in range(k):
        state, out_idx[r] = sample_from(state, work, n)
    return state, k


@njit(nogil=True, cache=True, inline="always")
def generator_logits(Ga, Gc, a, cand, n, temperature, out):
    """out[0:n] = G_a[a] . G_c[cand[c]] / temperature."""
    d = Ga.shape[1]
    for c in range(n):
        s = 0.0
        j = cand[c]
        for x in range(d):
            s += Ga[a, x] * Gc[j, x]
        out[c] = s / temperature


@njit(nogil=True, cache=True, inline="always")
def generator_propose(state, Ga, Gc, a, cand, n, k, temperature, probs, out_idx):
    """(new state, kk): the generator's k proposals for anchor a among cand[0:n], drawn with
    replacement from pi = softmax(G_a[a] . G_c[cand] / T); probs[0:n] = pi (needed by the
    update); out_idx[0:kk] indices into cand. kk = 0 when n = 0."""
    if n == 0:
        return state, 0
    generator_logits(Ga, Gc, a, cand, n, temperature, probs)
    softmax_weights(probs, n, 1.0, probs)
    for r in range(k):
        state, out_idx[r] = sample_from(state, probs, n)
    return state, k


@njit(nogil=True, cache=True, inline="always")
def generator_update(Ga, Gc, a, cand, n, probs, chosen, kk, rewards, baseline, lr, temperature, reg, grad_a):
    """One REINFORCE ascent step on E_pi[r]: for each proposal chosen[m] with advantage
    A_m = rewards[m] - baseline, d log pi(j) / d logit_c = [c = j] - pi(c), logit_c =
    G_a[a].G_c[cand[c]] / T; averaged over the kk proposals. ``grad_a`` (>= dim) is scratch.
    L2 ``reg`` on the rows touched. Returns the mean reward (for the caller's baseline)."""
    if kk == 0:
        return baseline
    d = Ga.shape[1]
    mean_r = 0.0
    for m in range(kk):
        mean_r += rewards[m]
    mean_r /= kk
    for x in range(d):
        grad_a[x] = 0.0
    for c in range(n):
        coef = 0.0
        for m in range(kk):
            ind = 1.0 if chosen[m] == c else 0.0
            coef += (rewards[m] - baseline) * (ind - probs[c])
        coef /= kk * temperature
        if coef == 0.0:
            continue
        j = cand[c]
        for x in range(d):
            grad_a[x] += coef * Gc[j, x]
            Gc[j, x] += lr * (coef * Ga[a, x] - reg * Gc[j, x])
    for x in range(d):
        Ga[a, x] += lr * (grad_a[x] - reg * Ga[a, x])
    return mean_r
