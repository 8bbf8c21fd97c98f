"""Samplers: shapes, distributions, shared pools, and the known-positive filter policy."""
import numpy as np
import pytest
import scipy.sparse as sp
from scipy import stats

from negsample import NegsampleError
from negsample.distributions import AliasTable, unigram
from negsample.samplers import KnownPositiveFilter, PerExampleSampler, SharedSampler, in_batch_logq


def test_per_example_shape_and_distribution():
    q = unigram([50, 20, 10, 5, 1], alpha=0.75)
    sampler = PerExampleSampler(q, k=5)
    neg = sampler.sample(40_000, np.random.default_rng(0))
    assert neg.shape == (40_000, 5) and neg.dtype == np.int64
    counts = np.bincount(neg.ravel(), minlength=5)
    assert stats.chisquare(counts, q * neg.size).pvalue > 1e-3


def test_shared_pool_and_unique_pool():
    sampler = SharedSampler(AliasTable([1, 1, 1, 1, 1, 1]), k=4, unique=True)
    pool = sampler.sample(np.random.default_rng(1))
    assert pool.shape == (4,) and len(set(pool.tolist())) == 4
    with pytest.raises(NegsampleError, match="k=7 is larger than the candidate pool: only 6"):
        SharedSampler([1] * 6, k=7, unique=True)
    with pytest.raises(NegsampleError, match="k must be >= 1"):
        PerExampleSampler([1, 2], k=0)


def test_filter_never_returns_known_positive_or_anchor():
    rng = np.random.default_rng(7)
    n = 30
    # heavy false-negative pressure: each anchor knows 10 of 30 items, and popular items at that
    known = [set(rng.choice(n, size=10, replace=False).tolist()) | {0, 1} for _ in range(n)]
    weights = 1.0 / np.arange(1, n + 1)
    flt = KnownPositiveFilter([sorted(s) for s in known], exclude_self=True, max_resample=50)
    anchors = rng.integers(0, n, size=5000)
    neg = PerExampleSampler(weights, k=8).sample(anchors.size, rng)
    out, mask, st = flt.apply(anchors, neg, weights, rng)
    assert out.shape == neg.shape
    for a, row, m in zip(anchors, out, mask):
        for c, ok in zip(row, m):
            if ok:
                assert c not in known[a] and c != a
            else:
                assert c == -1
    # the count of rejections is exact: compare with a direct recount of the input draws
    expected_rejected = sum(int(c in known[a] or c == a) for a, row in zip(anchors, neg) for c in row)
    assert st.rejected == expected_rejected > 0
    assert st.resampled >= st.rejected
    assert 0.0 < st.rejection_rate < 1.0


def test_filter_drops_when_nothing_is_left_and_counts_it():
    # anchor 0 knows every item but item 3 (weight 0 in the noise): every redraw fails
    weights = np.array([1.0, 1.0, 1.0, 0.0])
    known = sp.csr_matrix(np.array([[1, 1, 1, 0]]))
    flt = KnownPositiveFilter(known, exclude_self=False, max_resample=3)
    out, mask, st = flt.apply([0, 0], [[0, 1], [2, 2]], weights, np.random.default_rng(0))
    assert not mask.any() and (out == -1).all()
    assert st.rejected == 4 and st.resampled == 12 and st.dropped == 4


def test_filter_on_shared_pool_and_csr_input():
    known = sp.csr_matrix((np.ones(3), ([0, 1, 1], [2, 0, 3])), shape=(2, 5))
    flt = KnownPositiveFilter(known, exclude_self=True)
    assert flt.is_known(1, 3) and not flt.is_known(0, 3) and not flt.is_known(9, 0)
    pool = np.array([0, 1, 2, 3, 4])
    out, mask, st = flt.apply([0, 1], pool, [1, 1, 1, 1, 1], np.random.default_rng(3))
    assert out.shape == (2, 5)
    bad = {0: {0, 2}, 1: {0, 1, 3}}
    for a in (0, 1):
        assert not (set(out[a][mask[a]].tolist()) & bad[a])
    assert st.rejected == 5


def test_filter_input_errors():
    flt = KnownPositiveFilter([[1], [0]])
    with pytest.raises(NegsampleError, match="negatives must have shape"):
        flt.apply([0, 1, 0], np.zeros((2, 3), dtype=int), [1, 1])
    with pytest.raises(NegsampleError, match=r"negative ids must lie in \[0, 2\)"):
        flt.apply([0], [[5]], [1, 1])
    with pytest.raises(NegsampleError, match="indptr must start at 0"):
        KnownPositiveFilter((np.array([1, 2]), np.array([0])))


def test_in_batch_logq():
    p = np.array([0.5, 0.25, 0.25])
    np.testing.assert_allclose(in_batch_logq([0, 2, 2], p), np.log([0.5, 0.25, 0.25]))
    with pytest.raises(NegsampleError, match="positive sampling probabilities"):
        in_batch_logq([0], [0.0, 1.0])
    with pytest.raises(NegsampleError, match=r"must lie in \[0, 3\)"):
        in_batch_logq([3], p)
