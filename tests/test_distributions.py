"""Alias tables, noise distributions and subsampling: exact masses, goodness of fit, validation."""
import numpy as np
import pytest
from numba import njit
from scipy import stats

from negsample import NegsampleError
from negsample.distributions import (
    AliasTable,
    alias_draw,
    custom,
    mixture,
    subsample_keep_prob,
    uniform,
    unigram,
)


def zipf(n, s=1.0):
    return 1.0 / np.arange(1, n + 1) ** s


# ----------------------------------------------------------------------------- exact tables

@pytest.mark.parametrize("weights", [
    [1.0],
    [1, 2, 3, 4],
    [0, 5, 0, 1e-9, 3],
    zipf(1000),
    zipf(100_000, 1.2),
    np.random.default_rng(3).random(5000) ** 8,  # very uneven
])
def test_alias_table_masses_equal_probabilities(weights):
    table = AliasTable(weights)
    w = np.asarray(weights, dtype=np.float64)
    p = w / w.sum()
    np.testing.assert_allclose(table.probabilities, p, rtol=0, atol=1e-15)
    # Each column holds 1/n of mass: prob[i] for i itself, the rest for alias[i].
    assert np.all(table.prob >= 0) and np.all(table.prob <= 1)
    assert np.all((table.alias >= 0) & (table.alias < table.n))
    np.testing.assert_allclose(table.column_masses(), p, rtol=0, atol=1e-12)


def test_zero_weight_categories_never_drawn_and_never_aliases():
    table = AliasTable([0, 3, 0, 1])
    for i in (0, 2):
        assert table.prob[i] == 0.0
        assert i not in set(table.alias[table.prob < 1])
    draws = table.sample(100_000, np.random.default_rng(0))
    assert set(np.unique(draws)) <= {1, 3}


# ----------------------------------------------------------------------------- goodness of fit

def chi_square_pvalue(draws, p):
    counts = np.bincount(draws, minlength=p.size)
    expected = p * draws.size
    keep = expected > 0
    assert counts[~keep].sum() == 0, "a zero-probability category was drawn"
    return stats.chisquare(counts[keep], expected[keep]).pvalue


@pytest.mark.parametrize("weights,size", [
    ([1, 2, 3, 4], 200_000),
    ([0.5, 0.25, 0.125, 0.0625, 0.0625], 200_000),
])
def test_chi_square_small(weights, size):
    table = AliasTable(weights)
    draws = table.sample(size, np.random.default_rng(11))
    assert chi_square_pvalue(draws, table.probabilities) > 1e-3


def test_chi_square_zipf_binned():
    n = 50_000
    table = AliasTable(zipf(n))
    draws = table.sample(2_000_000, np.random.default_rng(5))
    # bin the long tail so every cell expects >= 5 draws
    edges = np.unique(np.concatenate([np.arange(200), np.geomspace(200, n, 60).astype(int), [n]]))
    counts = np.add.reduceat(np.bincount(draws, minlength=n), edges[:-1])
    probs = np.add.reduceat(table.probabilities, edges[:-1])
    assert stats.chisquare(counts, probs * draws.size).pvalue > 1e-3


def test_chi_square_detects_a_wrong_distribution():
    """The test above has power: draws from Zipf(1.0) are rejected against Zipf(1.05)."""
    n = 1000
    draws = AliasTable(zipf(n)).sample(500_000, np.random.default_rng(2))
    wrong = zipf(n, 1.05)
    wrong /= wrong.sum()
    assert chi_square_pvalue(draws, wrong) < 1e-6


def test_numba_draws_inside_a_kernel():
    @njit
    def draw_many(prob, alias, u1):
        out = np.empty(u1.size, dtype=np.int64)
        for j in range(u1.size):
            out[j] = alias_draw(prob, alias, u1[j])
        return out

    table = AliasTable([5, 1, 1, 3])
    rng = np.random.default_rng(9)
    a = draw_many(table.prob, table.alias, rng.random(200_000))
    assert chi_square_pvalue(a, table.probabilities) > 1e-3


def test_seeded_reproducibility_and_shapes():
    table = AliasTable(zipf(1000))
    a = table.sample((7, 5), np.random.default_rng(42))
    b = table.sample((7, 5), np.random.default_rng(42))
    c = table.sample((7, 5), np.random.default_rng(43))
    assert a.shape == (7, 5) and a.dtype == np.int64
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(table.sample(70_000, 1)[:40_000], table.sample(40_000, 1))  # chunking is stable
    assert table.sample(0, 0).shape == (0,)


def test_sample_without_replacement():
    table = AliasTable([10, 1, 1, 0, 5])
    rng = np.random.default_rng(0)
    for k in range(5):
        s = table.sample_without_replacement(k, rng)
        assert len(set(s.tolist())) == k and 3 not in s
    with pytest.raises(NegsampleError, match="larger than the candidate pool: only 4"):
        table.sample_without_replacement(5, rng)
    # first pick follows the weights
    firsts = np.array([table.sample_without_replacement(1, rng)[0] for _ in range(4000)])
    assert chi_square_pvalue(firsts, table.probabilities) > 1e-3


# ----------------------------------------------------------------------------- validation

@pytest.mark.parametrize("weights,message", [
    ([], "is empty"),
    ([1, np.nan, 2], "NaN or infinite"),
    ([1, np.inf], "NaN or infinite"),
    ([1, -2, 3], "negative values"),
    ([0, 0, 0], "all zero"),
    ([[1, 2], [3, 4]], "must be 1-D"),
    (["a", "b"], "must be numeric"),
])
def test_alias_table_rejects_bad_weights(weights, message):
    with pytest.raises(NegsampleError, match=message):
        AliasTable(weights)


def test_bad_alpha_and_threshold():
    with pytest.raises(NegsampleError, match="alpha must be a finite number >= 0"):
        unigram([1, 2], alpha=-0.5)
    with pytest.raises(NegsampleError, match="alpha must be a finite number >= 0"):
        unigram([1, 2], alpha=float("nan"))
    with pytest.raises(NegsampleError, match="threshold t must be >= 0"):
        subsample_keep_prob([1, 2], t=-1e-4)
    with pytest.raises(NegsampleError, match="n >= 1"):
        uniform(0)
    with pytest.raises(NegsampleError, match="size must be non-negative"):
        AliasTable([1, 2]).sample(-3)


# ----------------------------------------------------------------------------- distributions

def test_unigram_power():
    counts = np.array([100, 10, 1, 0])
    q = unigram(counts, alpha=0.75)
    expected = np.array([100 ** 0.75, 10 ** 0.75, 1, 0])
    np.testing.assert_allclose(q, expected / expected.sum(), rtol=1e-14)
    np.testing.assert_allclose(unigram(counts, alpha=0.0), [1 / 3, 1 / 3, 1 / 3, 0])
    np.testing.assert_allclose(unigram(counts, alpha=1.0), counts / counts.sum())
    # huge counts with alpha > 1 must not overflow
    big = unigram([1e300, 1e299], alpha=2.0)
    np.testing.assert_allclose(big, [100 / 101, 1 / 101])


def test_uniform_custom_mixture():
    np.testing.assert_allclose(uniform(4), [0.25] * 4)
    np.testing.assert_allclose(custom([2, 6]), [0.25, 0.75])
    m = mixture([[1, 0], [0, 1]], [3, 1])
    np.testing.assert_allclose(m, [0.75, 0.25])
    with pytest.raises(NegsampleError, match="different sizes"):
        mixture([[1, 0], [1, 1, 1]], [1, 1])
    with pytest.raises(NegsampleError, match="2 distributions but 3 mixture weights"):
        mixture([[1, 0], [0, 1]], [1, 1, 1])


def test_subsampling_formula_by_hand():
    # total = 1e6; f = count / total
    counts = np.array([500_000, 10_000, 100, 0, 400_000 - 10_100 + 10_000])
    counts[-1] = 1_000_000 - counts[:-1].sum()
    t = 1e-4
    keep = subsample_keep_prob(counts, t)
    # f = 0.5:   sqrt(2e-4) + 2e-4      = 0.014142135623730951 + 0.0002
    assert keep[0] == pytest.approx(0.014342135623730951, rel=1e-12)
    # f = 0.01:  sqrt(0.01) + 0.01      = 0.11
    assert keep[1] == pytest.approx(0.11, rel=1e-12)
    # f = 1e-4:  sqrt(1) + 1 = 2 -> min(1, 2) = 1
    assert keep[2] == 1.0
    assert keep[3] == 1.0  # never-seen word
    np.testing.assert_array_equal(subsample_keep_prob(counts, 0), np.ones(5))
