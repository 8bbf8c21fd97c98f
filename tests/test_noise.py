"""The noise core (negsample.kernels.noise) and NegativeSampler: every distribution passes a
chi-square test through the one draw every kernel uses; each filter's counts are exact on
hand-made cases; seed streams are reproducible and independent."""
import numpy as np
import pytest
import scipy.sparse as sp
from numba import njit
from scipy import stats

from negsample import NegsampleError
from negsample.distributions import unigram
from negsample.kernels import noise as core
from negsample.samplers import NegativeSampler, as_sampler


def chi2_pvalue(draws, p):
    counts = np.bincount(draws.ravel(), minlength=p.size)
    keep = p > 0
    assert counts[~keep].sum() == 0, "a zero-probability id was drawn"
    return stats.chisquare(counts[keep], p[keep] * draws.size).pvalue


COUNTS = np.array([500, 120, 80, 40, 7, 3, 1, 0, 60, 9], dtype=float)


@pytest.mark.parametrize("noise,alpha,expected", [
    ("frequency", 0.75, unigram(COUNTS, 0.75)),                      # word counts^alpha
    ("frequency", 1.0, COUNTS / COUNTS.sum()),                         # degree / popularity^1
    ("frequency", 0.0, (COUNTS > 0) / (COUNTS > 0).sum()),             # alpha 0: uniform over the seen
    ("uniform", 0.75, np.full(10, 0.1)),
    (np.arange(10, dtype=float), 0.75, np.arange(10) / 45.0),          # custom weights
    ([(0.8, "frequency"), (0.2, "uniform")], 1.0, 0.8 * COUNTS / COUNTS.sum() + 0.02),   # mixture
])
@pytest.mark.parametrize("mode", ["per-example", "shared"])
def test_every_distribution_passes_chi_square_through_the_core(noise, alpha, expected, mode):
    s = NegativeSampler(negative=8, noise=noise, ns_exponent=alpha, mode=mode, exclude_self=False).fit(COUNTS)
    np.testing.assert_allclose(s.table_.probabilities, expected, atol=1e-12)
    if mode == "per-example":
        neg, mask = s.sample(np.zeros(30_000, np.int64), rng=3)
        assert mask.all()
        assert chi2_pvalue(neg, expected) > 1e-3
    else:  # one pool per call: pools over many calls follow q
        pools = np.concatenate([s.sample([0], rng=i)[0].ravel() for i in range(3000)])
        assert chi2_pvalue(pools, expected) > 1e-3


def test_chi_square_has_power_against_a_wrong_distribution():
    s = NegativeSampler(negative=8, noise="frequency", ns_exponent=0.75, exclude_self=False).fit(COUNTS)
    neg, _ = s.sample(np.zeros(30_000, np.int64), rng=1)
    wrong = unigram(COUNTS, 0.7)
    assert chi2_pvalue(neg, wrong) < 1e-6


def test_kernel_draw_matches_alias_table_masses():
    # the raw numba draw on a large Zipf table, binned into 20 groups of equal mass
    w = 1.0 / np.arange(1, 50_001) ** 1.1
    s = NegativeSampler(noise=w, exclude_self=False).fit(n=w.size)
    out = np.empty(400_000, np.int64)
    core.sample_noise(s.table_.prob, s.table_.alias, 11, out)
    p = w / w.sum()
    edges = np.unique(np.searchsorted(np.cumsum(p), np.linspace(0, 1, 21)[1:-1]))
    edges = edges[edges > 0]
    bins = np.searchsorted(edges, out, side="right")
    mass = np.add.reduceat(p, np.r_[0, edges])
    assert mass.size > 10
    assert stats.chisquare(np.bincount(bins, minlength=mass.size), mass * out.size).pvalue > 1e-3


@njit
def _fill_uniforms(seed, u):
    for k in range(u.shape[0]):
        st = core.stream_state(seed, k)
        for j in range(u.shape[1]):
            st, u[k, j] = core.rng_uniform(st)


def test_seed_streams_are_reproducible_and_distinct():
    s = NegativeSampler(negative=16, noise="uniform", exclude_self=False).fit(n=1000)
    a1, _ = s.sample(np.arange(50), rng=5)
    a2, _ = s.sample(np.arange(50), rng=5)
    b, _ = s.sample(np.arange(50), rng=6)
    np.testing.assert_array_equal(a1, a2)
    assert (a1 != b).mean() > 0.9
    # anchor b always uses stream b: batching does not change an anchor's draws
    part, _ = s.sample(np.arange(10), rng=5)
    np.testing.assert_array_equal(part, a1[:10])
    # different streams of one seed give uncorrelated uniforms
    u = np.empty((4, 20_000))
    _fill_uniforms(7, u)
    c = np.corrcoef(u)
    assert np.abs(c[np.triu_indices(4, 1)]).max() < 0.03
    assert abs(u.mean() - 0.5) < 0.01 and abs(u.var() - 1 / 12) < 0.002
    assert core.stream_seed(1, 2, 3) == core.stream_seed(1, 2, 3) != core.stream_seed(1, 3, 2)


# ----------------------------------------------------------------------------- filters, exact counts

def _counts_of(sampler):
    st = sampler.stats_
    return st.rejected, st.redrawn, st.dropped, st.by_reason


def test_self_filter_counts_exact_when_nothing_else_can_be_drawn():
    # noise puts all mass on id 2: anchor 2 can never get a negative, anchor 0 always can
    s = NegativeSampler(negative=3, noise=np.array([0, 0, 1.0]), max_redraw=4).fit(n=3)
    neg, mask = s.sample([2, 0], rng=0)
    assert neg.tolist() == [[-1, -1, -1], [2, 2, 2]]
    rej, red, drop, why = _counts_of(s)
    assert (rej, red, drop) == (3, 12, 3) and why["self"] == 3 and why["known"] == 0


def test_known_positive_filter_counts_exact():
    # two ids of equal mass; anchor row 0 knows id 1, so about half the first draws are rejected,
    # each rejected draw is redrawn until it hits id 0; the counts obey the identities exactly
    known = sp.csr_matrix(np.array([[0, 1], [0, 0]]))
    s = NegativeSampler(negative=50, noise="uniform", known_positives=known, exclude_self=False,
                        max_redraw=100).fit(n=2)
    neg, mask = s.sample([0, 1], rng=3)
    assert mask.all() and (neg[0] == 0).all()
    rej, red, drop, why = _counts_of(s)
    assert rej == why["known"] and drop == 0
    # every redraw but the last of each rejected slot hit id 1 again
    assert red >= rej and 10 < rej < 40
    # max_redraw 0: rejected first draws are dropped immediately (gensim's "skip")
    s0 = s.copy(max_redraw=0).fit(n=2)
    neg0, mask0 = s0.sample([0], rng=3)
    r0, red0, d0, _ = _counts_of(s0)
    assert red0 == 0 and d0 == r0 == int((~mask0).sum()) == int((neg0 == -1).sum())


def test_time_and_label_filters_counts_exact():
    times = np.array([0.0, 1.0, 5.0, 9.0])
    labels = np.array(["a", "a", "b", "c"])
    s = NegativeSampler(negative=4, noise="uniform", times=times, time_window=1.5, exclude_self=False,
                        max_redraw=0).fit(n=4)
    neg, mask = s.filter([0], [[0, 1, 2, 3]], rng=0)[:2]
    assert neg.tolist() == [[-1, -1, 2, 3]]          # |t - 0| <= 1.5 rejects ids 0 and 1
    assert s.stats_.by_reason["time"] == 2 and s.stats_.dropped == 2
    s = NegativeSampler(negative=4, noise="uniform", labels=labels, exclude_self=False, max_redraw=0).fit(n=4)
    neg, _, st = s.filter([1], [[0, 1, 2, 3, 0]], rng=0)
    assert neg.tolist() == [[-1, -1, 2, 3, -1]] and st.by_reason["label"] == 3
    # order of reasons: self first, then known, time, label
    s = NegativeSampler(negative=1, noise="uniform", known_positives=[[0, 1], [], [], []], times=times,
                        time_window=100, labels=labels, max_redraw=0).fit(n=4)
    _, _, st = s.filter([0], [[0, 1, 2, 3]], rng=0)
    assert st.by_reason == {"self": 1, "known": 1, "time": 2, "label": 0} and st.rejected == 4


def test_filtered_sample_never_returns_a_false_negative_under_pressure():
    rng = np.random.default_rng(7)
    n = 30
    known = [sorted(set(rng.choice(n, 10, replace=False).tolist()) | {0, 1}) for _ in range(n)]
    s = NegativeSampler(negative=8, noise=1.0 / np.arange(1, n + 1), known_positives=known,
                        max_redraw=50).fit(n=n)
    anchors = rng.integers(0, n, 4000)
    neg, mask = s.sample(anchors, rng=1)
    for a, row, m in zip(anchors, neg, mask):
        assert all((c not in known[a] and c != a) if ok else c == -1 for c, ok in zip(row, m))
    assert s.stats_.rejected > 0 and s.stats_.redrawn >= s.stats_.rejected


def test_sampler_validation_and_shorthand():
    with pytest.raises(NegsampleError, match="mode must be one of"):
        NegativeSampler(mode="hard")
    with pytest.raises(NegsampleError, match="negative must be >= 1"):
        NegativeSampler(negative=0)
    with pytest.raises(NegsampleError, match="needs both times and time_window"):
        NegativeSampler(times=[1.0])
    with pytest.raises(NegsampleError, match="noise weights have 3 entries for 4 ids"):
        NegativeSampler(noise=np.ones(3)).fit(np.ones(4))
    with pytest.raises(NegsampleError, match="not fitted"):
        NegativeSampler().sample([0])
    with pytest.raises(NegsampleError, match="none of the weighted keys"):
        NegativeSampler(noise={"zebra": 1.0}).fit(np.ones(2), keys=["a", "b"])
    s = NegativeSampler(noise={"b": 3.0, "zebra": 1.0}).fit(np.ones(2), keys=["a", "b"])
    assert s.table_.probabilities.tolist() == [0.0, 1.0]
    assert as_sampler("shared", negative=7).negative == 7
    with pytest.raises(NegsampleError, match="negatives must be one of shared, per-example"):
        as_sampler("in-batch", modes=("shared", "per-example"))
    with pytest.raises(NegsampleError, match="supports negatives shared, per-example, not 'in-batch'"):
        as_sampler(NegativeSampler(mode="in-batch"), modes=("shared", "per-example"))


def test_in_batch_logq():
    from negsample.samplers import in_batch_logq

    p = np.array([0.5, 0.25, 0.25])
    np.testing.assert_allclose(in_batch_logq([0, 2, 2], p), np.log([0.5, 0.25, 0.25]))
    with pytest.raises(NegsampleError, match="positive sampling probabilities"):
        in_batch_logq([0], [0.0, 1.0])
    with pytest.raises(NegsampleError, match=r"must lie in \[0, 3\)"):
        in_batch_logq([3], p)
    s = NegativeSampler(noise="frequency", ns_exponent=1.0, mode="in-batch").fit([1.0, 3.0])
    np.testing.assert_allclose(s.logq([1, 0]), np.log([0.75, 0.25]))
    with pytest.raises(NegsampleError, match="in-batch negatives are the batch's other positives"):
        s.sample([0])


@njit
def _draw_both(prob, alias, filt, rows, k, seed, out_f, out_m, counts_f, counts_m):
    mark = np.zeros(prob.shape[0], np.uint8)
    for b in range(rows.shape[0]):
        st_f = core.stream_state(seed, b)
        st_m = st_f
        core.mark_row(filt, rows[b], mark, 1)
        for j in range(k):
            st_f, out_f[b, j] = core.filtered_draw(st_f, prob, alias, filt, rows[b], -1, 0.0, -1, counts_f)
            st_m, out_m[b, j] = core.marked_draw(st_m, prob, alias, filt, mark, counts_m)
        core.mark_row(filt, rows[b], mark, 0)
    return mark.sum()


@pytest.mark.parametrize("max_redraw", [0, 2, 10])
def test_marked_draw_is_the_known_positive_filtered_draw(max_redraw):
    """marked_draw (a row's known positives pre-marked, O(1) checks) gives exactly filtered_draw's
    draws, drops and counts, whatever the redraw limit; the marks are cleared after each row."""
    rng = np.random.default_rng(0)
    n, R = 40, 30
    known = sp.random(R, n, density=0.4, format="csr", random_state=1)
    w = 1.0 / np.arange(1, n + 1)   # popular ids are often known: many rejections and redraws
    s = NegativeSampler(negative=5, noise=w, known_positives=known, max_redraw=max_redraw).fit(n=n, n_rows=R)
    prob, alias, filt = s.kernel_noise()
    rows = rng.integers(0, R, 200)
    out_f, out_m = np.empty((200, 25), np.int64), np.empty((200, 25), np.int64)
    c_f, c_m = np.zeros(core.N_FILTER_COUNTS, np.int64), np.zeros(core.N_FILTER_COUNTS, np.int64)
    assert _draw_both(prob, alias, filt, rows, 25, 7, out_f, out_m, c_f, c_m) == 0
    np.testing.assert_array_equal(out_m, out_f)
    np.testing.assert_array_equal(c_m, c_f)
    assert c_f[4] > 100 and (max_redraw > 0 or c_f[2] == c_f[0])
