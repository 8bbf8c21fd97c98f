"""The noise core (numba only): the one RNG, the one alias draw and the one filtered draw that
every kernel drawing a negative goes through (docs/design.md, "The noise core").

RNG. A 64-bit linear congruential generator with Knuth's MMIX constants,
    state <- state * 6364136223846793005 + 1442695040888963407  (mod 2^64),
and uniforms u in [0, 1) from the top 53 bits. Full period 2^64; a step is one multiply-add,
cheap enough for the innermost loops. Seed streams: ``stream_state(seed, stream)`` hashes the
pair (seed, stream) with splitmix64, so threads, chunks, walks and epochs each get their own
stream from one user seed: a kernel is called with ``seed`` = ``stream_seed(seed, a, b, ...)``
(Python) and starts from ``stream_state``. The same (seed, stream) always gives the same draws.

Alias draw. One uniform u: column = floor(u n), coin = frac(u n); the draw is ``column`` if
coin < prob[column], else ``alias[column]`` (Walker / Vose, exact masses; ``AliasTable``).

Filtered draw. A candidate c for an anchor is a *false negative* when (checked in this order)
  1 self     c == avoid (the anchor itself, or its positive: the centre word, the positive item)
  2 known    c is in row ``row`` of the known-positive CSR (sorted rows; disabled: 1-entry indptr)
  3 time     |times[c] - anchor_time| <= delta            (disabled: delta < 0; NaN = no time)
  4 label    labels[c] == anchor_label                   (disabled: empty labels; < 0 = no label)
A rejected draw is redrawn from the same noise up to ``max_redraw`` times; if still rejected it
is dropped (-1). ``counts`` (int64 or float64, at least ``N_FILTER_COUNTS``) accumulates
  [0] rejected (first draws that were false negatives), [1] redrawn, [2] dropped,
  [3..6] first-draw rejections by reason (self, known, time, label).

The filter arrays travel together as one tuple, built by ``negsample.samplers``:
    filt = (kp_indptr int64 (R+1,), kp_indices int64 (nnz,), times float64 (n,) or (0,),
            labels int64 (n,) or (0,), delta float64, max_redraw int64)
"""
from __future__ import annotations

import numpy as np
from numba import njit

_A = np.uint64(6364136223846793005)
_C = np.uint64(1442695040888963407)
_INV_2_53 = 1.0 / 9007199254740992.0

from .streams import N_FILTER_COUNTS, REASONS, stream_seed  # noqa: F401  (re-exported)


# --------------------------------------------------------------------------- RNG

@njit(nogil=True, cache=True, inline="always")
def rng_next(state):
    """One LCG step."""
    return np.uint64(state) * _A + _C


@njit(nogil=True, cache=True, inline="always")
def rng_uniform(state):
    """(new state, u in [0, 1)) from the top 53 bits of the advanced state."""
    state = np.uint64(state) * _A + _C
    return state, (state >> np.uint64(11)) * _INV_2_53


@njit(nogil=True, cache=True, inline="always")
def _splitmix64(x):
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@njit(nogil=True, cache=True, inline="always")
def stream_state(seed, stream):
    """Initial RNG state of stream ``stream`` of ``seed`` (splitmix64 of both: nearby seeds and
    streams give unrelated sequences)."""
    return _splitmix64(_splitmix64(np.uint64(seed)) ^ np.uint64(stream))


# --------------------------------------------------------------------------- alias draw

@njit(nogil=True, cache=True, inline="always")
def alias_draw(prob, alias, u):
    """One draw from the alias table (prob, alias) with one uniform u in [0, 1)."""
    n = prob.shape[0]
    x = u * n
    column = int(x)
    if column >= n:
        column = n - 1
    if x - column < prob[column]:
        return column
    return alias[column]


@njit(nogil=True, cache=True, inline="always")
def noise_draw(state, prob, alias):
    """(new state, one unfiltered draw from the noise)."""
    state = np.uint64(state) * _A + _C
    return state, alias_draw(prob, alias, (state >> np.uint64(11)) * _INV_2_53)


# --------------------------------------------------------------------------- filters

@njit(nogil=True, cache=True, inline="always")
def csr_contains(indptr, indices, row, item):
    """True if ``item`` is in row ``row`` of a CSR structure with sorted rows (binary search);
    False for a row outside the structure."""
    if row < 0 or row + 1 >= indptr.shape[0]:
        return False
    lo = indptr[row]
    hi = indptr[row + 1]
    while lo < hi:
        mid = (lo + hi) >> 1
        v = indices[mid]
        if v < item:
            lo = mid + 1
        elif v > item:
            hi = mid
        else:
            return True
    return False


@njit(nogil=True, cache=True, inline="always")
def reject_reason(c, row, avoid, filt, anchor_time, anchor_label):
    """0 if candidate c is a true negative for the anchor, else the first filter that rejects it:
    1 self, 2 known positive, 3 time window, 4 same label (see the module docstring)."""
    if c == avoid:
        return 1
    if csr_contains(filt[0], filt[1], row, c):
        return 2
    delta = filt[4]
    if delta >= 0.0 and abs(filt[2][c] - anchor_time) <= delta:
        return 3
    if anchor_label >= 0 and filt[3].shape[0] > 0 and filt[3][c] == anchor_label:
        return 4
    return 0


@njit(nogil=True, cache=True, inline="always")
def refilter(state, prob, alias, filt, row, avoid, anchor_time, anchor_label, c, counts):
    """(new state, c or its replacement or -1): candidate c (a fresh draw, a shared-pool entry, a
    given negative) checked by the filters; a false negative is redrawn from the noise up to
    filt[5] times, then dropped. The one filter loop of the package; counts as in the module
    docstring."""
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
def filtered_draw(state, prob, alias, filt, row, avoid, anchor_time, anchor_label, counts):
    """(new state, negative id or -1): one draw from the noise with the false-negative filters
    applied (redraw up to filt[5] times, then drop); counts updated (module docstring)."""
    state, c = noise_draw(state, prob, alias)
    return refilter(state, prob, alias, filt, row, avoid, anchor_time, anchor_label, c, counts)


@njit(nogil=True, cache=True, inline="always")
def mark_row(filt, row, mark, value):
    """mark[c] = value for every c in row ``row`` of the known-positive CSR (for ``marked_draw``;
    set before an anchor row's draws, cleared with value 0 after)."""
    kp_indptr = filt[0]
    if row < 0 or row + 1 >= kp_indptr.shape[0]:
        return
    kp_indices = filt[1]
    for k in range(kp_indptr[row], kp_indptr[row + 1]):
        mark[kp_indices[k]] = value


@njit(nogil=True, cache=True, inline="always")
def marked_draw(state, prob, alias, filt, mark, counts):
    """(new state, id or -1): ``filtered_draw(..., row, avoid=-1, ...)`` for an anchor row whose
    only filter is its known positives, pre-marked in ``mark`` (uint8 (n,), by ``mark_row``): the
    same draws, redraws, drops and counts, with an O(1) check instead of a binary search per draw
    (for kernels that draw many negatives for one row; the time / label filters are not applied)."""
    state, c = noise_draw(state, prob, alias)
    if mark[c] == 0:
        return state, c
    counts[0] += 1
    counts[4] += 1  # first-draw rejection, reason "known"
    for _ in range(filt[5]):
        counts[1] += 1
        state, d = noise_draw(state, prob, alias)
        if mark[d] == 0:
            return state, d
    counts[2] += 1
    return state, -1


@njit(nogil=True, cache=True, inline="always")
def anchor_time_of(filt, a):
    """The anchor's time when anchors share the candidates' id space (words, nodes)."""
    if filt[4] >= 0.0:
        return filt[2][a]
    return 0.0


@njit(nogil=True, cache=True, inline="always")
def anchor_label_of(filt, a):
    """The anchor's label when anchors share the candidates' id space (words, nodes)."""
    if filt[3].shape[0] > 0:
        return filt[3][a]
    return -1


# --------------------------------------------------------------------------- batch entry points

@njit(nogil=True, cache=True)
def draw_negatives(prob, alias, filt, rows, avoid, anchor_times, anchor_labels, negative, seed, out, counts):
    """out[b, j] = filtered draw j for anchor b (-1 where dropped). rows / avoid (B,) int64:
    the anchor's known-positive row and the id to avoid (-1: none); anchor_times (B,) float64 and
    anchor_labels (B,) int64 (only read when the time / label filter is on). Anchor b uses RNG
    stream b of ``seed``, so a result does not depend on how anchors are batched."""
    B = rows.shape[0]
    for b in range(B):
        state = stream_state(seed, b)
        at = anchor_times[b] if anchor_times.shape[0] > 0 else 0.0
        al = anchor_labels[b] if anchor_labels.shape[0] > 0 else -1
        for j in range(negative):
            state, c = filtered_draw(state, prob, alias, filt, rows[b], avoid[b], at, al, counts)
            out[b, j] = c


@njit(nogil=True, cache=True)
def filter_negatives(prob, alias, filt, rows, avoid, anchor_times, anchor_labels, negatives, seed, counts):
    """In place: every entry of negatives (B, K) that is a false negative for its anchor is
    redrawn from the noise (up to filt[5] times) or dropped (-1). Same counts as filtered_draw."""
    B, K = negatives.shape
    for b in range(B):
        state = stream_state(seed, b)
        at = anchor_times[b] if anchor_times.shape[0] > 0 else 0.0
        al = anchor_labels[b] if anchor_labels.shape[0] > 0 else -1
        for j in range(K):
            state, negatives[b, j] = refilter(state, prob, alias, filt, rows[b], avoid[b], at, al, negatives[b, j],
                                              counts)


@njit(nogil=True, cache=True)
def sample_noise(prob, alias, seed, out):
    """out[j] = unfiltered draw j (stream 0 of ``seed``)."""
    state = stream_state(seed, 0)
    for j in range(out.shape[0]):
        state, out[j] = noise_draw(state, prob, alias)
