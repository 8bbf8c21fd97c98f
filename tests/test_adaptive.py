"""Adaptive negatives (negsample.kernels.adaptive): dynamic negatives pick the top-scoring
candidates, softmax sampling follows exp(s/T), self-adversarial weights are the softmax, the
generator's proposals obey the noise core's filters and it learns from its reward, seeded runs
reproduce, and the recsys trainer reports cost / hardness / false-negative statistics."""
import numpy as np
import pytest
import scipy.sparse as sp
from numba import njit
from scipy import stats

from negsample import NegsampleError
from negsample.kernels import adaptive as ad
from negsample.kernels import noise as core
from negsample.recsys import ImplicitModel
from negsample.samplers import NegativeGenerator, NegativeSampler


@njit(cache=True)
def _dns(prob, alias, filt, row, avoid, M, k, P, Q, seed, counts):
    """Hand-made model: candidates scored by P[row] . Q[c]; returns (candidates, chosen)."""
    state = core.stream_state(seed, 0)
    cand = np.empty(M, np.int64)
    state, n = ad.draw_candidates(state, prob, alias, filt, row, avoid, 0.0, -1, M, cand, counts)
    sc = np.empty(n)
    for m in range(n):
        sc[m] = np.dot(P[row], Q[cand[m]])
    idx = np.empty(k, np.int64)
    kk = ad.top_k(sc, n, k, idx)
    out = np.empty(kk, np.int64)
    for m in range(kk):
        out[m] = cand[idx[m]]
    return cand[:n], out


def test_dns_picks_the_top_scoring_candidates_on_a_hand_made_model():
    n_items = 50
    Q = np.zeros((n_items, 2))
    Q[:, 0] = np.arange(n_items)            # score of item c for user 0 = c
    P = np.array([[1.0, 0.0]])
    s = NegativeSampler(negative=3, noise="uniform", known_positives=[[49, 48]]).fit(n=n_items)
    prob, alias, filt = s.kernel_noise()
    counts = np.zeros(core.N_FILTER_COUNTS, np.int64)
    for seed in range(20):
        cand, chosen = _dns(prob, alias, filt, 0, 47, 12, 3, P, Q, seed, counts)
        expected = np.sort(np.unique(cand))[::-1][:3]     # the 3 highest distinct... or repeats
        top3 = np.sort(cand)[::-1][:3]
        np.testing.assert_array_equal(chosen, top3)       # top-k of the candidates, best first
        assert not set(cand) & {49, 48, 47}               # known positives and the positive filtered
        assert len(expected) >= 1
    assert counts[0] > 0 and counts[4] > 0                # the filters rejected draws (known)


def test_top_k_ties_and_short_pools():
    idx = np.empty(4, np.int64)
    assert ad.top_k(np.array([1.0, 3.0, 3.0, 0.5]), 4, 2, idx) == 2 and list(idx[:2]) == [1, 2]
    assert ad.top_k(np.array([2.0, 1.0]), 2, 4, idx) == 2 and list(idx[:2]) == [0, 1]


def test_self_adversarial_weights_equal_the_softmax():
    rng = np.random.default_rng(0)
    for alpha in (0.0, 0.5, 2.0):
        s = rng.normal(size=7) * 3
        w = np.empty(7)
        h = ad.softmax_weights(s, 7, alpha, w)
        e = np.exp(alpha * s)
        np.testing.assert_allclose(w, e / e.sum(), rtol=1e-12)
        np.testing.assert_allclose(h, -(w * np.log(w)).sum(), rtol=1e-12)
    w = np.empty(2)
    ad.softmax_weights(np.array([1000.0, 0.0]), 2, 1.0, w)      # no overflow
    np.testing.assert_allclose(w, [1.0, 0.0], atol=1e-300)


@njit(cache=True)
def _softmax_draws(scores, T, n_draws, seed):
    state = core.stream_state(seed, 0)
    out = np.empty(n_draws, np.int64)
    work = np.empty(scores.shape[0])
    idx = np.empty(1, np.int64)
    for r in range(n_draws):
        state, kk = ad.softmax_sample(state, scores, scores.shape[0], 1, T, work, idx)
        out[r] = idx[0]
    return out


def test_softmax_sampling_follows_exp_score_over_t():
    scores = np.array([0.0, 0.5, 1.0, 2.0, -1.0])
    T = 0.7
    draws = _softmax_draws(scores, T, 40_000, 3)
    p = np.exp(scores / T) / np.exp(scores / T).sum()
    assert stats.chisquare(np.bincount(draws, minlength=5), p * draws.size).pvalue > 1e-3
    flat = np.full(5, 1 / 5)
    assert stats.chisquare(np.bincount(draws, minlength=5), flat * draws.size).pvalue < 1e-6


@njit(cache=True)
def _propose(prob, alias, filt, Ga, Gc, rows, avoid, times, M, k, seed, counts):
    out = np.empty((rows.shape[0], k), np.int64)
    cand = np.empty(M, np.int64)
    probs = np.empty(M)
    idx = np.empty(k, np.int64)
    for b in range(rows.shape[0]):
        state = core.stream_state(seed, b)
        state, n = ad.draw_candidates(state, prob, alias, filt, rows[b], avoid[b], times[avoid[b]], -1, M, cand,
                                      counts)
        state, kk = ad.generator_propose(state, Ga, Gc, rows[b], cand, n, k, 1.0, probs, idx)
        for m in range(k):
            out[b, m] = cand[idx[m]] if m < kk else -1
    return out


def test_generator_proposals_obey_the_filters():
    rng = np.random.default_rng(1)
    U, I = 40, 60
    known = [rng.choice(I, 8, replace=False) for _ in range(U)]
    times = rng.uniform(0, 100, I)
    s = NegativeSampler(noise="uniform", known_positives=known, times=times, time_window=5.0).fit(n=I)
    prob, alias, filt = s.kernel_noise()
    Ga = rng.normal(size=(U, 4)) * 3
    Gc = rng.normal(size=(I, 4)) * 3                       # a peaked generator: it has favourites
    rows = np.repeat(np.arange(U), 20)
    avoid = rng.integers(0, I, rows.size)
    counts = np.zeros(core.N_FILTER_COUNTS, np.int64)
    out = _propose(prob, alias, filt, Ga, Gc, rows, avoid, times, 10, 3, 7, counts)
    assert (out >= 0).mean() > 0.99
    for b in range(rows.size):
        for c in out[b][out[b] >= 0]:
            assert c != avoid[b] and c not in known[rows[b]] and abs(times[c] - times[avoid[b]]) > 5.0
    assert counts[4] > 0 and counts[5] > 0                 # known / time rejections happened


def test_generator_update_is_the_reinforce_gradient():
    """One update equals lr * (r - b) * d log pi(j) / d theta computed by finite differences."""
    rng = np.random.default_rng(2)
    Ga = rng.normal(size=(1, 3))
    Gc = rng.normal(size=(5, 3))
    cand = np.array([0, 2, 3, 4])
    T = 0.8

    def logpi(Ga, Gc, j):
        z = Ga[0] @ Gc[cand].T / T
        return z[j] - np.log(np.exp(z).sum())

    probs = np.empty(4)
    ad.generator_logits(Ga, Gc, 0, cand, 4, T, probs)
    ad.softmax_weights(probs, 4, 1.0, probs)
    chosen, r, base, lr = np.array([1]), np.array([0.9]), 0.4, 1e-3
    Ga2, Gc2 = Ga.copy(), Gc.copy()
    ad.generator_update(Ga2, Gc2, 0, cand, 4, probs, chosen, 1, r, base, lr, T, 0.0, np.empty(3))
    eps = 1e-6
    for x in range(3):
        e = np.zeros((1, 3))
        e[0, x] = eps
        g = (logpi(Ga + e, Gc, 1) - logpi(Ga - e, Gc, 1)) / (2 * eps)
        assert Ga2[0, x] - Ga[0, x] == pytest.approx(lr * (r[0] - base) * g, rel=1e-4, abs=1e-12)
    e = np.zeros_like(Gc)
    e[3, 1] = eps
    g = (logpi(Ga, Gc + e, 1) - logpi(Ga, Gc - e, 1)) / (2 * eps)
    assert Gc2[3, 1] - Gc[3, 1] == pytest.approx(lr * (r[0] - base) * g, rel=1e-4)
    assert np.array_equal(Gc2[1], Gc[1])                   # not a candidate: untouched


def _matrix(U=40, I=50, per=6, seed=0):
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(U), per)
    items = np.concatenate([(u % 10) * 5 + rng.choice(8, per, replace=False) for u in range(U)]) % I
    X = sp.csr_matrix((np.ones(users.size, np.float32), (users, items)), shape=(U, I))
    X.sum_duplicates()
    return X


@pytest.mark.parametrize("sampler", [
    NegativeSampler(negative=2, candidates=10),
    NegativeSampler(negative=2, candidates=10, candidate_temperature=0.5),
    NegativeSampler(negative=3, adversarial_temperature=1.0),
    NegativeSampler(negative=2, candidates=8, generator=NegativeGenerator(dim=4)),
], ids=["dynamic", "dynamic-softmax", "self-adversarial", "generator"])
def test_recsys_adaptive_negatives_are_reproducible_and_reported(sampler):
    X = _matrix()
    a = ImplicitModel(dim=8, epochs=4, threads=1, seed=3, negatives=sampler.copy()).fit(X, instrument=True)
    b = ImplicitModel(dim=8, epochs=4, threads=1, seed=3, negatives=sampler.copy()).fit(X, instrument=True)
    np.testing.assert_array_equal(a.item_factors, b.item_factors)
    rep = a.stats["adaptive"]
    assert rep["kind"] == sampler.adaptive
    known = X.tolil().rows
    # the filters hold whatever picks the negatives: no user's item was used as its negative
    assert a.stats["filter"]["by_reason"]["known"] > 0
    if sampler.candidates:
        assert rep["cost"]["candidates_per_positive"] == pytest.approx(sampler.candidates, rel=0.05)
    if sampler.adaptive == "dynamic":
        # top-k of M: the chosen negatives are harder than the average candidate
        assert rep["hardness"]["mean_margin"] > rep["hardness"]["candidate_mean_margin"]
        assert rep["cost"]["extra_scores_per_positive"] == pytest.approx(8, rel=0.05)
    if sampler.adaptive == "generator":
        assert rep["cost"]["generator_scores_per_positive"] == pytest.approx(8, rel=0.05)
        assert 0 < rep["mean_reward"] < 1 and a.generator_factors_[0].shape == (40, 4)
    if sampler.adaptive == "self-adversarial":
        assert 0 < rep["weight_entropy"] < np.log(3) + 1e-9
    assert len(known) == 40


def test_dynamic_negatives_are_harder_than_plain_ones():
    X = _matrix()
    kw = dict(dim=8, epochs=6, threads=1, seed=1)
    plain = ImplicitModel(negatives=NegativeSampler(negative=2), **kw).fit(X)
    dns = ImplicitModel(negatives=NegativeSampler(negative=2, candidates=20), **kw).fit(X)
    assert dns.stats["adaptive"]["hardness"]["hard_fraction"] > plain.stats["adaptive"]["hardness"]["hard_fraction"]
    assert dns.stats["adaptive"]["hardness"]["mean_margin"] > plain.stats["adaptive"]["hardness"]["mean_margin"]


def test_hidden_false_negatives_are_counted():
    X = _matrix()
    rng = np.random.default_rng(0)
    hidden = sp.csr_matrix((np.ones(40, np.float32), (np.arange(40), rng.integers(0, 50, 40))), shape=X.shape)
    hidden = hidden - hidden.multiply(X)       # not a training item
    hidden.eliminate_zeros()
    m = ImplicitModel(dim=8, epochs=3, threads=1, negatives=NegativeSampler(negative=2, candidates=10,
                                                                             noise="uniform")).fit(
        X, monitor_positives=hidden)
    fn = m.stats["adaptive"]["false_negatives"]
    # uniform candidates hit a user's one hidden item at rate about 1 / (items not known)
    assert 0.005 < fn["candidate_hidden_rate"] < 0.05
    assert "hidden_rate" in fn


def test_sampler_parameters_are_validated():
    with pytest.raises(NegsampleError, match="candidates .* must be >= negative"):
        NegativeSampler(negative=5, candidates=3)
    with pytest.raises(NegsampleError, match="generator negatives need candidates"):
        NegativeSampler(generator=True)
    with pytest.raises(NegsampleError, match="need mode 'per-example'"):
        NegativeSampler(mode="shared", candidates=10)
    with pytest.raises(NegsampleError, match="candidate_temperature needs candidates"):
        NegativeSampler(candidate_temperature=1.0)
    s = NegativeSampler(negative=2, candidates=10, generator={"dim": 8})
    assert s.generator.dim == 8 and s.copy().generator.dim == 8 and "candidates=10" in repr(s)
    assert NegativeSampler(adversarial_temperature=0.5).kernel_adaptive()[2] == 0.5
