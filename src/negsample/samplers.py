"""Negative samplers over a noise distribution (numpy/numba level, no torch).

- ``PerExampleSampler``: k independent negatives per anchor, (B, k).
- ``SharedSampler``: one pool of k negatives for a whole batch, (k,) — the GEMM-friendly layout.
- ``in_batch_logq``: ln q of in-batch candidates, for the logQ correction s_ij - ln q(j).
- ``KnownPositiveFilter``: rejects known positives (CSR rows anchor -> positive ids) and,
  optionally, the anchor itself. Policy: a rejected draw is redrawn from the same noise up to
  ``max_resample`` times; if still rejected it is dropped (id -1, mask False). Counts of rejected,
  resampled and dropped draws are returned so users can see the false-negative pressure.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from ._common import NegsampleError, as_rng, check_positive_int
from .distributions import AliasTable
from .kernels.csr import csr_contains as _is_known

__all__ = [
    "PerExampleSampler",
    "SharedSampler",
    "KnownPositiveFilter",
    "FilterStats",
    "in_batch_logq",
]


def _as_table(noise) -> AliasTable:
    if isinstance(noise, AliasTable):
        return noise
    return AliasTable(noise, name="noise weights")


class PerExampleSampler:
    """k negatives per anchor, i.i.d. from the noise distribution (with replacement).

    ``sample(n_anchors, rng) -> (n_anchors, k) int64``.
    """

    def __init__(self, noise, k: int):
        self.table = _as_table(noise)
        self.k = check_positive_int("k", k)

    def sample(self, n_anchors: int, rng=None) -> np.ndarray:
        n_anchors = check_positive_int("n_anchors", n_anchors, minimum=0)
        return self.table.sample((n_anchors, self.k), as_rng(rng))


class SharedSampler:
    """One pool of k negatives shared by every anchor of a batch.

    ``sample(rng) -> (k,) int64``. With ``unique=True`` the pool has k distinct ids (successive
    sampling proportional to weight); k larger than the support is an error then.
    """

    def __init__(self, noise, k: int, unique: bool = False):
        self.table = _as_table(noise)
        self.k = check_positive_int("k", k)
        self.unique = bool(unique)
        if self.unique and self.k > self.table.support_size:
            raise NegsampleError(
                f"k={self.k} is larger than the candidate pool: only {self.table.support_size} "
                "categories have non-zero weight")

    def sample(self, rng=None) -> np.ndarray:
        rng = as_rng(rng)
        if self.unique:
            return self.table.sample_without_replacement(self.k, rng)
        return self.table.sample(self.k, rng)


def in_batch_logq(candidate_ids, probabilities) -> np.ndarray:
    """ln q(j) for each in-batch candidate j, to subtract from the logits (Yi et al. 2019).

    candidate_ids: (B,) ints; probabilities: (n,) sampling probability of each item (e.g. its
    frequency in the training stream). Returns (B,) float64.
    """
    ids = np.asarray(candidate_ids)
    p = np.asarray(probabilities, dtype=np.float64)
    if ids.size and (ids.min() < 0 or ids.max() >= p.size):
        raise NegsampleError(f"candidate ids must lie in [0, {p.size}), got range [{ids.min()}, {ids.max()}]")
    q = p[ids]
    if np.any(~np.isfinite(q)) or np.any(q <= 0):
        raise NegsampleError("in-batch candidates need finite, positive sampling probabilities for logQ")
    return np.log(q)


# --------------------------------------------------------------------------- filtering

@njit(nogil=True, cache=True)
def _filter_kernel(indptr, indices, n_rows, anchors, negatives, exclude_self, prob, alias, rng,
                   max_resample, counts):
    """In place: redraw rejected negatives up to max_resample times, then mark them -1.

    counts[0] = rejected draws (first pass), counts[1] = redraws made, counts[2] = dropped.
    """
    n = prob.shape[0]
    B, K = negatives.shape
    for b in range(B):
        a = anchors[b]
        for j in range(K):
            c = negatives[b, j]
            rejected = (exclude_self and c == a) or (a < n_rows and _is_known(indptr, indices, a, c))
            if not rejected:
                continue
            counts[0] += 1
            tries = 0
            while rejected and tries < max_resample:
                column = rng.integers(0, n)
                coin = rng.random()
                c = column if coin < prob[column] else alias[column]
                tries += 1
                counts[1] += 1
                rejected = (exclude_self and c == a) or (a < n_rows and _is_known(indptr, indices, a, c))
            if rejected:
                negatives[b, j] = -1
                counts[2] += 1
            else:
                negatives[b, j] = c


@dataclass
class FilterStats:
    """What a filter did: ``rejected`` draws were false negatives (known positive or the anchor),
    ``resampled`` redraws were made, ``dropped`` draws stayed rejected and were removed."""

    rejected: int
    resampled: int
    dropped: int
    total: int

    @property
    def rejection_rate(self) -> float:
        return self.rejected / self.total if self.total else 0.0


class KnownPositiveFilter:
    """Reject negatives that are known positives of their anchor, and the anchor itself.

    known_positives: a scipy.sparse matrix (rows = anchors, columns = ids), or a (indptr, indices)
    CSR pair, or a list of iterables. ``apply(anchors, negatives, noise, rng)`` returns
    ``(negatives, mask, FilterStats)``: a copy of negatives where every surviving entry is
    neither a known positive nor (with ``exclude_self``) the anchor; dropped entries are -1 and
    ``mask`` is False there.
    """

    def __init__(self, known_positives, exclude_self: bool = True, max_resample: int = 10):
        self.indptr, self.indices = _to_csr(known_positives)
        self.exclude_self = bool(exclude_self)
        self.max_resample = check_positive_int("max_resample", max_resample, minimum=0)

    @property
    def n_rows(self) -> int:
        return int(self.indptr.shape[0] - 1)

    def is_known(self, anchor: int, item: int) -> bool:
        return bool(anchor < self.n_rows and _is_known(self.indptr, self.indices, int(anchor), int(item)))

    def apply(self, anchors, negatives, noise, rng=None):
        table = _as_table(noise)
        anchors = np.asarray(anchors, dtype=np.int64).ravel()
        neg = np.array(negatives, dtype=np.int64, copy=True)
        squeeze = neg.ndim == 1
        if squeeze:  # a shared pool: broadcast to every anchor
            neg = np.broadcast_to(neg, (anchors.size, neg.size)).copy()
        if neg.ndim != 2 or neg.shape[0] != anchors.size:
            raise NegsampleError(
                f"negatives must have shape (n_anchors, k) = ({anchors.size}, k) or (k,), got {np.shape(negatives)}")
        if anchors.size and anchors.min() < 0:
            raise NegsampleError("anchor ids must be >= 0")
        if neg.size and (neg.min() < 0 or neg.max() >= table.n):
            raise NegsampleError(f"negative ids must lie in [0, {table.n})")
        counts = np.zeros(3, dtype=np.int64)
        _filter_kernel(self.indptr, self.indices, self.n_rows, anchors, neg, self.exclude_self,
                       table.prob, table.alias, as_rng(rng), self.max_resample, counts)
        stats = FilterStats(rejected=int(counts[0]), resampled=int(counts[1]), dropped=int(counts[2]),
                            total=int(neg.size))
        return neg, neg >= 0, stats


def _to_csr(known):
    """(indptr int64, indices int64 sorted within rows) from scipy.sparse, (indptr, indices), or lists."""
    try:
        import scipy.sparse as sp
    except ImportError:  # pragma: no cover - scipy is a core dependency
        sp = None
    if sp is not None and sp.issparse(known):
        m = sp.csr_matrix(known)
        m.sum_duplicates()
        m.sort_indices()
        return m.indptr.astype(np.int64), m.indices.astype(np.int64)
    if isinstance(known, tuple) and len(known) == 2:
        indptr = np.asarray(known[0], dtype=np.int64)
        indices = np.asarray(known[1], dtype=np.int64)
        if indptr.ndim != 1 or indptr.size < 1 or indptr[0] != 0 or np.any(np.diff(indptr) < 0) \
                or indptr[-1] != indices.size:
            raise NegsampleError("known positives CSR: indptr must start at 0, be non-decreasing and end at len(indices)")
        indices = indices.copy()
        for r in range(indptr.size - 1):
            indices[indptr[r]:indptr[r + 1]].sort()
        return indptr, indices
    rows = [np.unique(np.asarray(list(r), dtype=np.int64)) for r in known]
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([r.size for r in rows])
    indices = np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)
    return indptr, indices
