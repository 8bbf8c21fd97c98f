"""Hard-negative mining: exact (blocked) or FAISS search, hardness bands, false-negative filters.

Scores are inner products (cosine similarities with ``normalize=True``). For a query q with
positive score s_p (the best score among its known positives) a candidate n with score s_n is
- hard:       s_n >= s_p                               (at or above the positive)
- semi-hard:  s_p - margin < s_n < s_p                 (below the positive, within the margin)
- easy:       s_n <= s_p - margin                      (far; drawn uniformly at random from the corpus)
- range:      any score; only the rank range selects
``rank_range=(lo, hi)`` keeps candidates ranked lo..hi-1 (0 = the best) in the query's retrieved
list, skipping the very top; ``relative_margin=r`` keeps s_n < r * s_p (NV-Retriever's
TopK-PercPos); ``max_score`` drops near-duplicates of the positive (s_n >= max_score).
False-negative filters (each counted): known positives (CSR query -> ids), the same label,
a temporal window |t_n - t_q| <= delta.

Exact search runs over blocks of queries and corpus with a running top-n per query, so memory is
O(block_q x block_c + Q n), never Q x N. ``mining_bias`` measures what ANN search changes.
"""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from ._common import NegsampleError, Progress, as_rng, check_positive_int
from .kernels.csr import csr_contains

__all__ = ["mine_negatives", "MinedNegatives", "search", "mining_bias", "BANDS", "INDEXES"]

BANDS = ("hard", "semi-hard", "easy", "range")
INDEXES = ("exact", "faiss-flat", "faiss-ivf", "faiss-hnsw")
FILTERS = ("known_positive", "same_label", "time_window", "near_duplicate", "rank_range", "band",
           "relative_margin")


@dataclass
class MinedNegatives:
    """ids (Q, k) int64 (-1 where fewer than k passed), scores (Q, k) float32 (nan there),
    positive_scores (Q,), removed: candidates removed per filter, n_found (Q,)."""

    ids: np.ndarray
    scores: np.ndarray
    positive_scores: np.ndarray
    removed: dict = field(default_factory=dict)
    candidates_per_query: int = 0
    index: str = "exact"
    seconds: float = 0.0

    @property
    def n_found(self):
        return (self.ids >= 0).sum(1)


# --------------------------------------------------------------------------- validation

def _as_matrix(x, name):
    try:
        a = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError):
        raise NegsampleError(f"{name} must be a numeric matrix") from None
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise NegsampleError(f"{name} must be a non-empty 2-D array (n, d), got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise NegsampleError(f"{name} contains NaN or infinite values")
    return np.ascontiguousarray(a)


def _normalize(a):
    n = np.linalg.norm(a, axis=1, keepdims=True)
    n[n == 0] = 1.0
    return np.ascontiguousarray(a / n, dtype=np.float32)


def _positives_csr(positives, n_queries, n_corpus):
    import scipy.sparse as sp

    if positives is None:
        return np.zeros(n_queries + 1, np.int64), np.zeros(0, np.int64)
    if sp.issparse(positives):
        m = sp.csr_matrix(positives)
        m.sort_indices()
        indptr, indices = m.indptr.astype(np.int64), m.indices.astype(np.int64)
    else:
        rows = []
        for r in positives:
            if r is None:
                rows.append(np.zeros(0, np.int64))
            elif np.isscalar(r):
                rows.append(np.array([int(r)], np.int64))
            else:
                rows.append(np.unique(np.asarray(list(r), dtype=np.int64)))
        indptr = np.zeros(len(rows) + 1, np.int64)
        indptr[1:] = np.cumsum([len(r) for r in rows])
        indices = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    if indptr.size - 1 != n_queries:
        raise NegsampleError(f"positives has {indptr.size - 1} rows but there are {n_queries} queries")
    if indices.size and (indices.min() < 0 or indices.max() >= n_corpus):
        raise NegsampleError(f"positive ids must lie in [0, {n_corpus})")
    return indptr, indices


# --------------------------------------------------------------------------- search

def _topk_rows(s, m):
    """Indices (unordered) and values of the m largest entries of each row of s (B, N)."""
    _torch = _load_torch()
    if _torch is not None:
        vals, idx = _torch.topk(_torch.from_numpy(s), m, dim=1, sorted=False)
        return idx.numpy(), vals.numpy()
    idx = np.argpartition(s, s.shape[1] - m, axis=1)[:, -m:] if m < s.shape[1] else \
        np.broadcast_to(np.arange(s.shape[1]), s.shape).copy()
    return idx, np.take_along_axis(s, idx, 1)


_TORCH = []


def _load_torch():
    """torch (for its fast topk) when installed, else None; imported on first use only."""
    if not _TORCH:
        try:
            import torch
            _TORCH.append(torch)
        except ImportError:  # pragma: no cover - optional extra
            _TORCH.append(None)
    return _TORCH[0]


def _exact_topn(Q, C, n, block_q=1024, block_c=32768, progress=None):
    """Top-n inner products per query by blocked matmul with a running merge.
    Memory: one (block_q, block_c) score block plus the (Q, n) results."""
    nq, nc = Q.shape[0], C.shape[0]
    n = min(n, nc)
    ids = np.empty((nq, n), np.int64)
    scores = np.empty((nq, n), np.float32)
    for qs in range(0, nq, block_q):
        q = Q[qs:qs + block_q]
        best_s = np.full((q.shape[0], 0), -np.inf, np.float32)
        best_i = np.zeros((q.shape[0], 0), np.int64)
        for cs in range(0, nc, block_c):
            s = q @ C[cs:cs + block_c].T
            part, vals = _topk_rows(s, min(n, s.shape[1]))
            cand_s = np.concatenate([best_s, vals], 1)
            cand_i = np.concatenate([best_i, part.astype(np.int64) + cs], 1)
            keep, best_s = _topk_rows(cand_s, min(n, cand_s.shape[1]))
            best_i = np.take_along_axis(cand_i, keep.astype(np.int64), 1)
        order = np.argsort(-best_s, axis=1, kind="stable")
        scores[qs:qs + q.shape[0]] = np.take_along_axis(best_s, order, 1)
        ids[qs:qs + q.shape[0]] = np.take_along_axis(best_i, order, 1)
        if progress is not None:
            progress.update(min(qs + block_q, nq))
    return ids, scores


def _faiss():
    try:
        import faiss
    except ImportError:
        raise NegsampleError("FAISS is not installed: pip install negsample[faiss] (faiss-cpu)") from None
    return faiss


def _faiss_index(C, kind, nlist=None, nprobe=16, hnsw_m=32, ef_search=128, seed=0):
    faiss = _faiss()
    d = C.shape[1]
    if kind == "faiss-flat":
        index = faiss.IndexFlatIP(d)
    elif kind == "faiss-ivf":
        nlist = nlist or max(1, min(int(4 * np.sqrt(C.shape[0])), C.shape[0] // 39 or 1))
        quant = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFFlat(quant, d, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(seed)
        train = C if C.shape[0] <= 64 * nlist else C[rng.choice(C.shape[0], 64 * nlist, replace=False)]
        index.train(train)
        index.nprobe = min(nprobe, nlist)
    elif kind == "faiss-hnsw":
        index = faiss.IndexHNSWFlat(d, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = ef_search
    else:
        raise NegsampleError(f"index must be one of {INDEXES}, got {kind!r}")
    index.add(C)
    return index


def search(query_emb, corpus_emb, n, index="exact", normalize=True, progress=False, **index_params):
    """Top-n candidates per query: (ids (Q, n) int64, scores (Q, n) float32), best first."""
    Q = _as_matrix(query_emb, "query embeddings")
    C = _as_matrix(corpus_emb, "corpus embeddings")
    if Q.shape[1] != C.shape[1]:
        raise NegsampleError(f"dimension mismatch: queries have {Q.shape[1]} dims, corpus {C.shape[1]}")
    if normalize:
        Q, C = _normalize(Q), _normalize(C)
    n = min(check_positive_int("n", n), C.shape[0])
    bar = Progress(Q.shape[0], unit="queries", desc="search", enabled=progress)
    if index == "exact":
        ids, scores = _exact_topn(Q, C, n, progress=bar)
    else:
        idx = _faiss_index(C, index, **index_params)
        ids = np.empty((Q.shape[0], n), np.int64)
        scores = np.empty((Q.shape[0], n), np.float32)
        for s in range(0, Q.shape[0], 4096):
            sc, ii = idx.search(Q[s:s + 4096], n)
            ids[s:s + 4096], scores[s:s + 4096] = ii, sc
            bar.update(min(s + 4096, Q.shape[0]))
    bar.close()
    return ids, scores


# --------------------------------------------------------------------------- filtering kernel

@njit(nogil=True, cache=True, inline="always")
def _false_negative(indptr, indices, q, c, qlab, clab, use_lab, qt, ct, delta, use_time):
    """Which false-negative filter rejects candidate c for query q: 0 known positive, 1 same
    label, 2 temporal window; -1 if none."""
    if csr_contains(indptr, indices, q, c):
        return 0
    if use_lab and qlab[q] == clab[c]:
        return 1
    if use_time and abs(ct[c] - qt[q]) <= delta:
        return 2
    return -1


@njit(nogil=True, cache=True)
def _select_kernel(cand_ids, cand_scores, pos_scores, indptr, indices, k, band, margin, rel_margin,
                   use_rel, rank_lo, rank_hi, max_score, use_max, qlab, clab, use_lab, qt, ct, delta, use_time,
                   out_ids, out_scores, removed):
    """band: 0 hard, 1 semi-hard, 3 range. removed[f] counts per filter (see FILTERS order)."""
    nq, n = cand_ids.shape
    for q in range(nq):
        found = 0
        sp = pos_scores[q]
        for r in range(n):
            if found == k:
                break
            c = cand_ids[q, r]
            if c < 0:
                continue
            s = cand_scores[q, r]
            f = _false_negative(indptr, indices, q, c, qlab, clab, use_lab, qt, ct, delta, use_time)
            if f >= 0:
                removed[f] += 1
                continue
            if use_max and s >= max_score:
                removed[3] += 1
                continue
            if r < rank_lo or r >= rank_hi:
                removed[4] += 1
                continue
            if band == 0 and not (s >= sp):
                removed[5] += 1
                continue
            if band == 1 and not (sp - margin < s and s < sp):
                removed[5] += 1
                continue
            if use_rel and not (s < rel_margin * sp):
                removed[6] += 1
                continue
            out_ids[q, found] = c
            out_scores[q, found] = s
            found += 1


@njit(nogil=True, cache=True)
def _easy_kernel(Q, C, pos_scores, indptr, indices, k, margin, draws, qlab, clab, use_lab, qt, ct, delta,
                 use_time, out_ids, out_scores, removed):
    """Easy negatives: uniform random corpus items with s_n <= s_p - margin (filters applied)."""
    nq = Q.shape[0]
    d = Q.shape[1]
    m = draws.shape[1]
    for q in range(nq):
        found = 0
        for t in range(m):
            if found == k:
                break
            c = draws[q, t]
            dup = False
            for j in range(found):
                if out_ids[q, j] == c:
                    dup = True
            if dup:
                continue
            f = _false_negative(indptr, indices, q, c, qlab, clab, use_lab, qt, ct, delta, use_time)
            if f >= 0:
                removed[f] += 1
                continue
            s = 0.0
            for x in range(d):
                s += Q[q, x] * C[c, x]
            if not (s <= pos_scores[q] - margin):
                removed[5] += 1
                continue
            out_ids[q, found] = c
            out_scores[q, found] = s
            found += 1


# --------------------------------------------------------------------------- API

def mine_negatives(query_emb, corpus_emb, positives, k=5, band="semi-hard", rank_range=None, margin=None,
                   relative_margin=None, exclude=None, labels=None, timestamps=None, max_score=None,
                   index="exact", normalize=True, n_candidates=None, seed=0, progress=False, **index_params):
    """Mine k negatives per query (see module docstring for every rule).

    query_emb (Q, d), corpus_emb (N, d); positives: CSR / list of lists (query -> corpus ids) or
    one id per query; exclude: extra ids to treat as known positives (same formats);
    labels: (query_labels (Q,), corpus_labels (N,)); timestamps: (query_times, corpus_times, delta).
    """
    t0 = time.perf_counter()
    Q = _as_matrix(query_emb, "query embeddings")
    C = _as_matrix(corpus_emb, "corpus embeddings")
    if Q.shape[1] != C.shape[1]:
        raise NegsampleError(f"dimension mismatch: queries have {Q.shape[1]} dims, corpus {C.shape[1]}")
    if band not in BANDS:
        raise NegsampleError(f"band must be one of {BANDS}, got {band!r}")
    if index not in INDEXES:
        raise NegsampleError(f"index must be one of {INDEXES}, got {index!r}")
    k = check_positive_int("k", k)
    nq, nc = Q.shape[0], C.shape[0]
    indptr, indices = _positives_csr(positives, nq, nc)
    if exclude is not None:
        e_ptr, e_idx = _positives_csr(exclude, nq, nc)
        rows = [np.union1d(indices[indptr[i]:indptr[i + 1]], e_idx[e_ptr[i]:e_ptr[i + 1]]) for i in range(nq)]
        known_ptr = np.zeros(nq + 1, np.int64)
        known_ptr[1:] = np.cumsum([len(r) for r in rows])
        known_idx = np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, np.int64)
    else:
        known_ptr, known_idx = indptr, indices
    max_known = int(np.max(np.diff(known_ptr))) if nq else 0
    if k > nc - max_known:
        raise NegsampleError(f"k={k} is larger than the candidate pool: the corpus has {nc} items and a query "
                             f"has up to {max_known} known positives")
    if normalize:
        Q, C = _normalize(Q), _normalize(C)
    # positive scores: the best positive per query
    pos_scores = np.full(nq, np.nan, np.float32)
    for i in range(nq):
        p = indices[indptr[i]:indptr[i + 1]]
        if p.size:
            pos_scores[i] = float(np.max(C[p] @ Q[i]))
    needs_pos = band in ("hard", "semi-hard", "easy") or relative_margin is not None
    if needs_pos and np.isnan(pos_scores).any():
        raise NegsampleError(f"band {band!r} / relative_margin need a positive for every query; "
                             f"{int(np.isnan(pos_scores).sum())} queries have none")
    if band in ("semi-hard", "easy"):
        if margin is None:
            raise NegsampleError(f"band {band!r} needs a margin")
    margin = 0.0 if margin is None else float(margin)
    if margin < 0:
        raise NegsampleError(f"margin must be >= 0, got {margin}")
    if rank_range is not None:
        lo, hi = (int(rank_range[0]), int(rank_range[1]))
        if not 0 <= lo < hi:
            raise NegsampleError(f"rank_range must be (lo, hi) with 0 <= lo < hi, got {rank_range!r}")
    else:
        lo, hi = 0, 1 << 62
    use_lab = labels is not None
    if use_lab:
        qlab, clab = (np.asarray(labels[0]), np.asarray(labels[1]))
        if qlab.shape != (nq,) or clab.shape != (nc,):
            raise NegsampleError(f"labels must be (query_labels ({nq},), corpus_labels ({nc},))")
        _, inv = np.unique(np.concatenate([qlab, clab]), return_inverse=True)
        qlab, clab = inv[:nq].astype(np.int64), inv[nq:].astype(np.int64)
    else:
        qlab = clab = np.zeros(1, np.int64)
    use_time = timestamps is not None
    if use_time:
        qt, ct, delta = np.asarray(timestamps[0], np.float64), np.asarray(timestamps[1], np.float64), float(timestamps[2])
        if qt.shape != (nq,) or ct.shape != (nc,):
            raise NegsampleError(f"timestamps must be (query_times ({nq},), corpus_times ({nc},), delta)")
    else:
        qt = ct = np.zeros(1)
        delta = 0.0
    out_ids = np.full((nq, k), -1, np.int64)
    out_scores = np.full((nq, k), np.nan, np.float32)
    removed = np.zeros(len(FILTERS), np.int64)
    if band == "easy":
        rng = as_rng(seed)
        draws = rng.integers(0, nc, size=(nq, max(8 * k, 64)))
        _easy_kernel(Q, C, pos_scores, known_ptr, known_idx, k, margin, draws, qlab, clab, use_lab, qt, ct,
                     delta, use_time, out_ids, out_scores, removed)
        n = draws.shape[1]
    else:
        n = n_candidates or min(nc, max(hi if rank_range is not None else 0, 0) + 4 * k + max_known + 16)
        n = min(int(n), nc)
        cand_ids, cand_scores = search(Q, C, n, index=index, normalize=False, progress=progress, **index_params)
        _select_kernel(cand_ids, cand_scores, pos_scores, known_ptr, known_idx, k, 0 if band == "hard" else (1 if band == "semi-hard" else 3),
                       margin, float(relative_margin or 0.0), relative_margin is not None, lo, hi,
                       float(max_score or 0.0), max_score is not None, qlab, clab, use_lab, qt, ct, delta, use_time,
                       out_ids, out_scores, removed)
    return MinedNegatives(out_ids, out_scores, pos_scores, dict(zip(FILTERS, removed.tolist())), n, index,
                          time.perf_counter() - t0)


def mining_bias(query_emb, corpus_emb, positives, k=10, index="faiss-hnsw", band="range", **kwargs):
    """What ANN search changes compared with exact search, measured:
    recall of the exact top-k candidates, and the shift of the mined negatives' scores
    (mean difference, quantiles, Kolmogorov-Smirnov statistic)."""
    from scipy import stats

    params = {key: kwargs.pop(key) for key in list(kwargs) if key in ("nlist", "nprobe", "hnsw_m", "ef_search")}
    ex_ids, _ = search(query_emb, corpus_emb, k, index="exact")
    ann_ids, _ = search(query_emb, corpus_emb, k, index=index, **params)
    hits = sum(len(np.intersect1d(a, b)) for a, b in zip(ex_ids, ann_ids))
    recall = hits / ex_ids.size
    exact = mine_negatives(query_emb, corpus_emb, positives, k, band=band, index="exact", **kwargs)
    ann = mine_negatives(query_emb, corpus_emb, positives, k, band=band, index=index, **kwargs, **params)
    a = exact.scores[np.isfinite(exact.scores)]
    b = ann.scores[np.isfinite(ann.scores)]
    qs = [0.1, 0.5, 0.9]
    return {"index": index, "recall_at_k": recall, "k": k,
            "exact_mean_score": float(a.mean()) if a.size else float("nan"),
            "ann_mean_score": float(b.mean()) if b.size else float("nan"),
            "mean_shift": float(b.mean() - a.mean()) if a.size and b.size else float("nan"),
            "quantile_shift": {str(q): float(np.quantile(b, q) - np.quantile(a, q)) for q in qs} if a.size and b.size else {},
            "ks_statistic": float(stats.ks_2samp(a, b).statistic) if a.size and b.size else float("nan"),
            "found_exact": int(np.isfinite(exact.scores).sum()), "found_ann": int(np.isfinite(ann.scores).sum())}
