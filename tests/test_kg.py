"""Knowledge-graph embeddings: scores and gradients against autograd, the loss and one optimizer
step against torch, filtered ranks on a hand-made graph, Bernoulli and frequency corruption,
the known-triple filter, persistence, training on nations, the CLI."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from conftest import requires_module
from negsample import NegsampleError
from negsample.kg import (KGModel, bernoulli_head_prob, known_csr, load_kg, rank_triples)
from negsample.kernels import kg as K
from negsample.kernels.noise import N_FILTER_COUNTS

MODELS = ("transe", "distmult", "complex", "rotate")


def random_model(model, n_ent=7, n_rel=3, dim=4, p_norm=None, seed=0):
    m = KGModel(model, dim=dim, p_norm=p_norm, threads=1)
    rng = np.random.default_rng(seed)
    m.entity_, m.relation_ = m._init_params(n_ent, n_rel, rng)
    m.entity_ += rng.normal(0, 0.3, m.entity_.shape).astype(np.float32)
    if m.normalize_entities:
        m.entity_ /= np.linalg.norm(m.entity_, axis=1, keepdims=True)
    m.entities = [f"e{i}" for i in range(n_ent)]
    m.relations = [f"r{i}" for i in range(n_rel)]
    return m


def torch_score(model, p_norm, E, R, h, r, t):
    """Independent torch implementation of the four scores (float64, complex dtype)."""
    import torch

    if model == "transe":
        return -torch.linalg.vector_norm(E[h] + R[r] - E[t], ord=p_norm)
    if model == "distmult":
        return (E[h] * R[r] * E[t]).sum()
    d = E.shape[1] // 2
    hc = torch.complex(E[h, :d], E[h, d:])
    tc = torch.complex(E[t, :d], E[t, d:])
    if model == "complex":
        rc = torch.complex(R[r, :d], R[r, d:])
        return torch.real((hc * rc * torch.conj(tc)).sum())
    rc = torch.polar(torch.ones_like(R[r]), R[r])
    diff = hc * rc - tc
    if p_norm == 1:
        return -diff.abs().sum()
    return -torch.sqrt((diff.abs() ** 2).sum())


# --------------------------------------------------------------------------- scores and gradients

@requires_module("torch")
@pytest.mark.parametrize("model,p_norm", [("transe", 1), ("transe", 2), ("distmult", 2), ("complex", 2),
                                          ("rotate", 1), ("rotate", 2)])
def test_score_and_gradient_match_autograd(model, p_norm):
    import torch

    m = random_model(model, p_norm=p_norm)
    E = torch.tensor(m.entity_, dtype=torch.float64, requires_grad=True)
    R = torch.tensor(m.relation_, dtype=torch.float64, requires_grad=True)
    triples = np.array([[0, 1, 2], [3, 0, 3], [5, 2, 1], [6, 1, 4]])
    ours = m.score(triples)
    for (h, r, t), s in zip(triples, ours):
        ref = torch_score(model, p_norm, E, R, h, r, t)
        assert s == pytest.approx(ref.item(), rel=1e-5, abs=1e-5)
        gE_ref, gR_ref = torch.autograd.grad(ref, (E, R))
        for side in (K.TAIL, K.HEAD):  # both queries give the gradient of the same score
            gE = np.zeros_like(m.entity_)
            gR = np.zeros_like(m.relation_)
            K.triple_grad(m.model_code, m.p_norm, side, m.entity_, m.relation_, h, r, t, gE, gR)
            np.testing.assert_allclose(gE, gE_ref.numpy(), rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(gR, gR_ref.numpy(), rtol=1e-4, atol=1e-5)


@requires_module("torch")
@pytest.mark.parametrize("loss,gamma,adv", [("nssa", 6.0, 0.0), ("nssa", 2.0, 1.5), ("margin", 1.0, 0.0),
                                            ("margin", 3.0, 0.7)])
def test_positive_loss_and_derivatives(loss, gamma, adv):
    import torch

    rng = np.random.default_rng(1)
    fpos = float(rng.normal(-2, 1))
    fneg = rng.normal(-3, 1.5, 6)
    valid = np.array([True, True, False, True, True, True])
    w = np.empty(6)
    dneg = np.empty(6)
    L, dpos = K.positive_loss(K.NSSA if loss == "nssa" else K.MARGIN, gamma, adv, fpos, fneg, valid, w, dneg)
    fp = torch.tensor(fpos, dtype=torch.float64, requires_grad=True)
    fn = torch.tensor(fneg[valid], dtype=torch.float64, requires_grad=True)
    weights = torch.softmax(adv * fn.detach(), 0)  # self-adversarial weights, no gradient through them
    if loss == "nssa":
        ref = -torch.nn.functional.logsigmoid(gamma + fp) - (weights * torch.nn.functional.logsigmoid(-gamma - fn)).sum()
    else:
        ref = (weights * torch.relu(gamma - fp + fn)).sum()
    gp, gn = torch.autograd.grad(ref, (fp, fn))
    assert L == pytest.approx(ref.item(), rel=1e-10)
    assert dpos == pytest.approx(gp.item(), rel=1e-10, abs=1e-12)
    np.testing.assert_allclose(dneg[valid], gn.numpy(), rtol=1e-10, atol=1e-12)
    assert dneg[2] == 0.0 and w[2] == 0.0
    np.testing.assert_allclose(w[valid], weights.numpy(), rtol=1e-10)


def _train_blocks(m, triples, n_ent, n_rel, optimizer, batch=None, seed=7):
    """One train_chunk call over ``triples`` in blocks of ``batch`` (default: one block), then
    Adam's rows brought to the last step; returns the negatives drawn."""
    a = np.asarray(triples, np.int64)
    prob, alias, ft, fh = m._prepare_noise(a, n_ent, n_rel)
    n = len(a)
    batch = n if batch is None else batch
    steps = -(-n // batch)
    order = np.arange(n, dtype=np.int64)
    side = np.empty(n, np.int64)
    negs = np.empty((n, m.negative), np.int64)
    cols = [np.ascontiguousarray(a[:, i]) for i in range(3)]
    K.corrupt_chunk(*cols, order, 0, n, batch, n_rel, m.p_head_, prob, alias, ft, fh, m.negative, False,
                    np.uint64(seed), side, negs, np.zeros(N_FILTER_COUNTS, np.int64))
    E, R = m.entity_, m.relation_
    opt = {"sgd": K.SGD, "adagrad": K.ADAGRAD, "adam": K.ADAM, "lazy_adam": K.LAZY_ADAM}[optimizer]
    state = dict(EM=np.zeros_like(E), EV=np.zeros_like(E), ET=np.zeros(len(E), np.int64), RM=np.zeros_like(R),
                 RV=np.zeros_like(R), RT=np.zeros(len(R), np.int64))
    stats = np.zeros(4)
    scale = K.adam_scale(m.lr, 0.9, 0.999, 1e-8, steps)
    K.train_chunk(m.model_code, m.p_norm, K.NSSA if m.loss == "nssa" else K.MARGIN, m.margin,
                  m.adversarial_temperature, E, R, state["EM"], state["EV"], state["ET"], state["RM"], state["RV"],
                  state["RT"], opt, m.lr, 0.9, 0.999, 1e-8, m.reg, m.normalize_entities, *cols, order, 0, n,
                  m.p_head_, prob, alias, ft, fh, m.negative, False, batch, np.uint64(seed),
                  np.zeros(N_FILTER_COUNTS, np.int64), stats, 0, 1, scale)
    if opt == K.ADAM:
        K.adam_catch_up(E, state["EM"], state["EV"], state["ET"], steps, scale, 0.9, 0.999, 1e-8,
                        m.normalize_entities)
        K.adam_catch_up(R, state["RM"], state["RV"], state["RT"], steps, scale, 0.9, 0.999, 1e-8, False)
    assert stats[1] == n and stats[3] == 0
    return side, negs, stats


def _one_block(m, triples, n_ent, n_rel, optimizer, seed=7):
    return _train_blocks(m, triples, n_ent, n_rel, optimizer, None, seed)


def _torch_block_loss(m, E, R, triples, side, negs):
    """The mean loss of a block of positives with the kernel's negatives (weights detached)."""
    import torch

    total = 0.0
    for (h, r, t), sd, ng in zip(triples, side, negs):
        fp = torch_score(m.model, m.p_norm, E, R, h, r, t)
        fn = torch.stack([torch_score(m.model, m.p_norm, E, R, h, r, c) if sd == K.TAIL
                          else torch_score(m.model, m.p_norm, E, R, c, r, t) for c in ng])
        w = torch.softmax(m.adversarial_temperature * fn.detach(), 0)
        if m.loss == "nssa":
            L = -torch.nn.functional.logsigmoid(m.margin + fp) - (w * torch.nn.functional.logsigmoid(-m.margin - fn)).sum()
        else:
            L = (w * torch.relu(m.margin - fp + fn)).sum()
        if m.reg:
            L = L + m.reg * ((E[h] ** 2).sum() + (E[t] ** 2).sum() + (R[r] ** 2).sum())
        total = total + L
    return total / len(triples)


@requires_module("torch")
@pytest.mark.parametrize("model,loss,adv,optimizer,reg", [
    ("transe", "margin", 0.0, "sgd", 0.0), ("transe", "nssa", 1.0, "adam", 0.0),
    ("distmult", "nssa", 0.0, "sgd", 0.01), ("complex", "nssa", 0.5, "adagrad", 0.0),
    ("rotate", "nssa", 1.0, "sgd", 0.0), ("rotate", "nssa", 0.0, "adam", 0.0)])
def test_training_step_matches_torch(model, loss, adv, optimizer, reg):
    """A block of positives with the negatives the kernel draws: the kernel's update equals a
    torch optimizer step on the mean loss (self-adversarial weights detached)."""
    import torch

    n_ent, n_rel = 9, 3
    m = random_model(model, n_ent, n_rel, dim=3)
    m.loss, m.adversarial_temperature, m.lr, m.reg, m.negative = loss, adv, 0.05, reg, 4
    m.sampler = m.sampler.copy(negative=4)
    m.margin = 2.0
    m.corruption = "bernoulli"
    triples = np.array([[0, 0, 1], [2, 1, 3], [4, 2, 5], [1, 0, 6], [7, 1, 8], [3, 2, 0]])
    E0, R0 = m.entity_.copy(), m.relation_.copy()
    side, negs, stats = _one_block(m, triples, n_ent, n_rel, optimizer)
    assert (negs >= 0).all() and stats[2] == negs.size
    E = torch.tensor(E0, dtype=torch.float64, requires_grad=True)
    R = torch.tensor(R0, dtype=torch.float64, requires_grad=True)
    _torch_block_loss(m, E, R, triples, side, negs).backward()
    opt = {"sgd": torch.optim.SGD, "adagrad": lambda p, lr: torch.optim.Adagrad(p, lr=lr, eps=1e-8),
           "adam": lambda p, lr: torch.optim.Adam(p, lr=lr, eps=1e-8)}[optimizer]([E, R], lr=m.lr)
    opt.step()
    E1, R1 = E.detach().numpy(), R.detach().numpy()
    if m.normalize_entities:
        E1 = E1 / np.linalg.norm(E1, axis=1, keepdims=True)
    np.testing.assert_allclose(m.entity_, E1, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(m.relation_, R1, rtol=2e-4, atol=2e-5)
    assert not np.allclose(m.entity_, E0)


@requires_module("torch")
@pytest.mark.parametrize("model", ["rotate", "transe"])
def test_adam_over_blocks_matches_dense_torch_adam(model):
    """Several blocks (optimizer steps) on a graph where most entities miss most steps: the
    kernel's Adam, which catches a row up lazily, ends where torch.optim.Adam (every row moves
    every step) ends; the lazy variant, whose rows stand still without a gradient, does not."""
    import torch

    n_ent, n_rel, batch = 40, 3, 2
    rng = np.random.default_rng(3)
    triples = np.stack([rng.integers(0, n_ent, 12), rng.integers(0, n_rel, 12), rng.integers(0, n_ent, 12)], 1)
    ends = {}
    for optimizer in ("adam", "lazy_adam"):
        m = random_model(model, n_ent, n_rel, dim=3)
        m.lr, m.negative, m.margin = 0.05, 2, 2.0
        m.sampler = m.sampler.copy(negative=2)
        E0, R0 = m.entity_.copy(), m.relation_.copy()
        side, negs, _ = _train_blocks(m, triples, n_ent, n_rel, optimizer, batch=batch)
        ends[optimizer] = m.entity_.copy(), m.relation_.copy()
    E = torch.tensor(E0, dtype=torch.float64, requires_grad=True)
    R = torch.tensor(R0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([E, R], lr=m.lr, eps=1e-8)
    for b0 in range(0, len(triples), batch):
        opt.zero_grad()
        sl = slice(b0, b0 + batch)
        _torch_block_loss(m, E, R, triples[sl], side[sl], negs[sl]).backward()
        opt.step()
        if m.normalize_entities:
            with torch.no_grad():
                E /= torch.linalg.vector_norm(E, dim=1, keepdim=True)
    E1, R1 = E.detach().numpy(), R.detach().numpy()
    untouched_at_end = np.setdiff1d(np.arange(n_ent), np.r_[triples[-batch:, [0, 2]].ravel(), negs[-batch:].ravel()])
    assert len(untouched_at_end) > n_ent // 2
    # float32 kernel against float64 torch over 6 steps of size ~lr: agreement to 1e-4
    np.testing.assert_allclose(ends["adam"][0], E1, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(ends["adam"][1], R1, rtol=1e-3, atol=1e-4)
    # lazy Adam leaves rows still while they have no gradient: hundreds of times further off
    assert np.abs(ends["lazy_adam"][0] - E1).max() > 1e-2


def test_sync_threads_deterministic_and_independent_of_thread_count():
    """parallel="sync": each step's block is split across threads and applied once, so two
    2-thread runs are identical and equal a 1-thread run up to float summation order; Hogwild
    threads (each its own steps) give a different trajectory. "auto" picks sync on a graph a step
    covers and Hogwild on one it does not."""
    rng = np.random.default_rng(5)
    n_ent, n_rel = 30, 4
    triples = np.stack([rng.integers(0, n_ent, 300), rng.integers(0, n_rel, 300), rng.integers(0, n_ent, 300)], 1)

    def fit(threads, parallel, batch=64):
        m = KGModel("rotate", dim=8, negative=4, lr=0.01, batch_size=batch, epochs=3, threads=threads,
                    parallel=parallel, seed=3)
        m.fit(triples, n_entities=n_ent, n_relations=n_rel)
        return m

    a, b, one = fit(2, "sync"), fit(2, "sync"), fit(1, "sync")
    assert a.stats_["parallel"] == "sync" and a.stats_["threads"] == 2
    np.testing.assert_array_equal(a.entity_, b.entity_)
    np.testing.assert_array_equal(a.relation_, b.relation_)
    np.testing.assert_allclose(a.entity_, one.entity_, atol=1e-5)
    np.testing.assert_allclose(a.relation_, one.relation_, atol=1e-5)
    hog = fit(2, "hogwild")
    assert hog.stats_["parallel"] == "hogwild" and np.abs(hog.entity_ - a.entity_).max() > 1e-3
    assert fit(2, "auto").stats_["parallel"] == "sync"             # 64 * (4 + 2) >= 30 entities
    assert fit(2, "auto", batch=2).stats_["parallel"] == "hogwild"  # 2 * 6 < 30
    with pytest.raises(NegsampleError, match="parallel must be one of"):
        KGModel("rotate", parallel="gpu")


# --------------------------------------------------------------------------- ranks

def test_filtered_rank_hand_made_graph():
    """DistMult with dim 1: f(h, r, t) = e_h * w_r * e_t, values chosen to give ties."""
    m = KGModel("distmult", dim=1, threads=1)
    m.entity_ = np.array([[1.0], [2.0], [3.0], [2.0], [0.5]], np.float32)
    m.relation_ = np.array([[1.0]], np.float32)
    m.entities, m.relations = list("abcde"), ["r"]
    test = np.array([[0, 0, 1]])
    # tail query (a, r, ?): scores 1*[1, 2, 3, 2, 0.5]; true tail b scores 2; c is higher, d ties
    # head query (?, r, b): scores 2*[1, 2, 3, 2, 0.5]; true head a scores 2; b, c, d are higher
    raw = m.evaluate(test, filtered=False)
    assert raw["ranks"]["tail"][0] == 2.5   # 1 greater + (1 tie)/2 + 1
    assert raw["ranks"]["head"][0] == 4.0   # 3 greater + 1
    known = np.array([[0, 0, 2], [3, 0, 1]])  # (a, r, c) and (d, r, b) are true: filtered out
    f = m.evaluate(test, known=known)
    assert f["ranks"]["tail"][0] == 1.5     # the tie d remains
    assert f["ranks"]["head"][0] == 3.0     # d removed, b and c remain
    assert f["both"]["mrr"] == pytest.approx((1 / 1.5 + 1 / 3.0) / 2)
    assert f["both"]["hits@1"] == 0.0 and f["both"]["hits@3"] == 1.0
    assert f["tail"]["hits@1"] == 0.0 and f["head"]["mr"] == 3.0
    assert set(f["per_relation"]) == {"r"}


@pytest.mark.parametrize("model", MODELS)
def test_ranks_equal_brute_force(model):
    rng = np.random.default_rng(3)
    m = random_model(model, n_ent=30, n_rel=4, dim=5)
    test = np.stack([rng.integers(0, 30, 40), rng.integers(0, 4, 40), rng.integers(0, 30, 40)], 1)
    known = np.stack([rng.integers(0, 30, 300), rng.integers(0, 4, 300), rng.integers(0, 30, 300)], 1)
    res = m.evaluate(test, known=known, threads=2)
    allk = {tuple(x) for x in np.concatenate([known, test])}
    for i, (h, r, t) in enumerate(test):
        st = np.empty(30, np.float32)
        K.score_all(m.model_code, m.p_norm, m.entity_, m.relation_, h, r, K.TAIL, st)
        cand = [e for e in range(30) if e != t and (h, r, e) not in allk]
        g = sum(st[e] > st[t] for e in cand)
        eq = sum(st[e] == st[t] for e in cand)
        assert res["ranks"]["tail"][i] == g + 1 + eq / 2
        sh = np.empty(30, np.float32)
        K.score_all(m.model_code, m.p_norm, m.entity_, m.relation_, t, r, K.HEAD, sh)
        np.testing.assert_allclose(sh[h], st[t], rtol=1e-5, atol=1e-5)  # both queries score the same triple
        cand = [e for e in range(30) if e != h and (e, r, t) not in allk]
        g = sum(sh[e] > sh[h] for e in cand)
        eq = sum(sh[e] == sh[h] for e in cand)
        assert res["ranks"]["head"][i] == g + 1 + eq / 2


# --------------------------------------------------------------------------- corruption

def test_bernoulli_probabilities_hand_made_graph():
    # relation 0 is one-to-many: head 0 has tails 1, 2, 3 -> tph 3, hpt 1 -> p_head 3/4
    # relation 1: (1,0) (2,0) (3,0) (4,0) (1,5) (2,5): tph = 6/4 = 1.5, hpt = 6/2 = 3 -> 1/3
    triples = np.array([[0, 0, 1], [0, 0, 2], [0, 0, 3], [1, 1, 0], [2, 1, 0], [3, 1, 0], [4, 1, 0], [1, 1, 5],
                        [2, 1, 5], [0, 0, 1]])  # a duplicate changes nothing
    p = bernoulli_head_prob(triples, 3)
    np.testing.assert_allclose(p, [0.75, 1 / 3, 0.5])
    m = KGModel("transe", negative=1, corruption="bernoulli", batch_size=64)
    reps = np.repeat(triples[:9], 2000, axis=0)
    side, negs = m.corrupt(reps, n_entities=6, n_relations=3, seed=3)
    for r, pr in ((0, 0.75), (1, 1 / 3)):
        s = side[reps[:, 1] == r]
        sigma = math.sqrt(pr * (1 - pr) / s.size)
        assert abs(s.mean() - pr) < 4 * sigma
    # uniform corruption: 1/2
    side_u, _ = KGModel("transe", negative=1).corrupt(reps, n_entities=6, n_relations=3, seed=3)
    assert abs(side_u.mean() - 0.5) < 4 * math.sqrt(0.25 / side_u.size)


def _dense_graph(seed=0, n_ent=8, n_rel=2, density=0.45):
    rng = np.random.default_rng(seed)
    all_t = np.array([(h, r, t) for h in range(n_ent) for r in range(n_rel) for t in range(n_ent) if h != t])
    return all_t[rng.random(len(all_t)) < density]


@pytest.mark.parametrize("mode", ["per-example", "shared"])
def test_filtered_corruption_never_returns_a_known_triple(mode):
    train = _dense_graph()
    known = {tuple(x) for x in train}
    m = KGModel("distmult", negative=6, negatives=mode, filtered=True, corruption="bernoulli", batch_size=16)
    side, negs = m.corrupt(train, n_entities=8, n_relations=2, seed=5)
    made = dropped = 0
    for (h, r, t), sd, ng in zip(train, side, negs):
        for c in ng:
            if c < 0:
                dropped += 1
                continue
            made += 1
            assert c != (t if sd == K.TAIL else h)
            assert ((h, r, c) if sd == K.TAIL else (c, r, t)) not in known
    st = m.sampler.stats_
    assert st.by_reason["known"] > 0 and st.dropped == dropped and st.total == negs.size
    assert made > 0.9 * negs.size
    # the same draws without the filter do hit known triples (so the check above has teeth)
    m2 = KGModel("distmult", negative=6, negatives=mode, filtered=False, corruption="bernoulli", batch_size=16)
    side2, negs2 = m2.corrupt(train, n_entities=8, n_relations=2, seed=5)
    hits = sum(((h, r, c) if sd == K.TAIL else (c, r, t)) in known
               for (h, r, t), sd, ng in zip(train, side2, negs2) for c in ng)
    assert hits > 0.2 * negs2.size
    assert m2.sampler.stats_.by_reason["known"] == 0 and (negs2 >= 0).all()


def test_known_csr_rows():
    tr = np.array([[0, 1, 2], [0, 1, 1], [3, 0, 2], [0, 1, 2]])
    indptr, indices = known_csr(tr, 4, 2, "tail")
    row = 0 * 2 + 1
    assert list(indices[indptr[row]:indptr[row + 1]]) == [1, 2]
    indptr, indices = known_csr(tr, 4, 2, "head")
    row = 2 * 2 + 0
    assert list(indices[indptr[row]:indptr[row + 1]]) == [3]
    assert indptr.size == 4 * 2 + 1


def test_frequency_noise_chi_square():
    from scipy.stats import chisquare

    rng = np.random.default_rng(2)
    n_ent = 12
    h = rng.choice(n_ent, 3000, p=np.arange(1, n_ent + 1) / np.arange(1, n_ent + 1).sum())
    t = rng.integers(0, n_ent, 3000)
    keep = h != t
    train = np.stack([h[keep], np.zeros(keep.sum(), np.int64), t[keep]], 1)
    m = KGModel("distmult", negative=4, noise="frequency", ns_exponent=0.75, batch_size=128)
    side, negs = m.corrupt(train, n_entities=n_ent, n_relations=1, seed=11)
    counts = np.bincount(train[:, 0], minlength=n_ent) + np.bincount(train[:, 2], minlength=n_ent)
    q = counts ** 0.75 / (counts ** 0.75).sum()
    expected = np.zeros(n_ent)
    for (hh, _, tt), sd in zip(train, side):  # the true entity is redrawn: q restricted to the others
        true = tt if sd == K.TAIL else hh
        qq = q.copy()
        qq[true] = 0
        expected += 4 * qq / qq.sum()
    observed = np.bincount(negs.ravel(), minlength=n_ent)
    assert observed.sum() == negs.size
    assert chisquare(observed, expected * observed.sum() / expected.sum()).pvalue > 1e-3
    # and it is not uniform
    assert chisquare(observed).pvalue < 1e-6


# --------------------------------------------------------------------------- model API

def test_fit_predict_save_load(tmp_path):
    train = _dense_graph(1, n_ent=10, n_rel=2, density=0.3)
    m = KGModel("complex", dim=8, negative=4, epochs=3, batch_size=8, threads=2, filtered=True)
    m.fit(train)
    assert len(m.stats_["epoch_losses"]) == 3 and m.sampler.stats_.total == 3 * len(train) * 4
    path = tmp_path / "m.npz"
    m.save(path)
    m2 = KGModel.load(path)
    np.testing.assert_array_equal(m2.entity_, m.entity_)
    assert m2.params() == m.params()
    np.testing.assert_array_equal(m2.score(train), m.score(train))
    top = m2.predict("0", head="1", topn=3)
    assert len(top) == 3 and top[0][1] >= top[1][1] >= top[2][1]
    ex = m2.predict(0, head=1, topn=10, exclude=train)
    assert not any((1, 0, int(e)) in {tuple(x) for x in train} for e, _ in ex)
    with pytest.raises(NegsampleError, match="unknown relation"):
        m2.predict("nope", head="1")
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros(3))
    with pytest.raises(NegsampleError):
        KGModel.load(bad)


def test_bad_input_and_divergence():
    with pytest.raises(NegsampleError, match="model must be"):
        KGModel("transr")
    with pytest.raises(NegsampleError, match="shape"):
        KGModel("transe", epochs=1).fit(np.zeros((3, 2), np.int64))
    with pytest.raises(NegsampleError, match="lower lr"):
        KGModel("distmult", dim=4, optimizer="sgd", lr=1e30, epochs=3, margin=0.0, normalize_entities=False).fit(_dense_graph())


def test_nations_training(shared_data):
    data = load_kg(shared_data / "kg" / "nations")
    assert data.stats()["train"] == 1592 and data.n_entities == 14
    m = KGModel("distmult", dim=32, negative=8, epochs=30, lr=5e-3, batch_size=128, threads=2, seed=1).fit(data)
    res = m.evaluate(data.test, known=data.all_triples())
    random = KGModel("distmult", dim=32, epochs=0, threads=2).fit(data).evaluate(data.test, known=data.all_triples())
    assert res["both"]["mrr"] > 0.6 and random["both"]["mrr"] < 0.5
    assert res["both"]["hits@10"] >= res["both"]["hits@3"] >= res["both"]["hits@1"]


# --------------------------------------------------------------------------- CLI

def _write_split(tmp_path):
    rng = np.random.default_rng(4)
    names = [f"n{i}" for i in range(12)]
    rels = ["likes", "knows"]
    triples = {(names[h], rels[r], names[t]) for h, r, t in zip(rng.integers(0, 12, 120), rng.integers(0, 2, 120),
                                                                rng.integers(0, 12, 120)) if h != t}
    triples = sorted(triples)
    for name, part in (("train", triples[:-10]), ("valid", triples[-10:-5]), ("test", triples[-5:] + [("zz", "likes", "n1")])):
        (tmp_path / f"g.{name}.tsv").write_text("".join(f"{h}\t{r}\t{t}\n" for h, r, t in part))
    return tmp_path / "g"


def test_cli_train_eval_predict(tmp_path, capsys):
    from negsample.cli import main

    prefix = _write_split(tmp_path)
    model = tmp_path / "m.npz"
    assert main(["kg", "train", str(prefix), "-o", str(model), "--model", "transe", "--dim", "8", "--epochs", "2",
                 "--negative", "3", "--corruption", "bernoulli", "--filtered", "--eval", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["data"]["dropped"]["test"] == 1 and out["test"]["triples"] == 5
    assert out["params"]["corruption"] == "bernoulli" and out["filter"]["total"] == 2 * out["data"]["train"] * 3
    assert main(["kg", "eval", str(model), str(prefix), "--json", "--per-relation"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["both"]["mrr"] == pytest.approx(out["test"]["both"]["mrr"]) and ev["dropped_unknown"] == 1
    assert set(ev["per_relation"]) <= {"likes", "knows"}
    assert main(["kg", "predict", str(model), "likes", "--head", "n0", "--topn", "4"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and all(len(ln.split("\t")) == 2 for ln in lines)
    # errors: one line, exit 2
    assert main(["kg", "predict", str(model), "likes", "--head", "nobody"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("negsample: error: unknown entity") and err.count("\n") == 1
    assert main(["kg", "train", str(tmp_path / "missing"), "-o", str(tmp_path / "x.npz")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["kg", "eval", str(prefix) + ".train.tsv", str(prefix)]) == 2
    assert "not a negsample kg-model file" in capsys.readouterr().err


def test_sampler_options_reach_the_kg_model_or_are_refused():
    from negsample import NegativeSampler
    from negsample.hyperbolic import PoincareModel

    m = KGModel("distmult", negatives=NegativeSampler(negative=4, adversarial_temperature=2.0))
    assert m.adversarial_temperature == 2.0
    with pytest.raises(NegsampleError, match="not the KG trainer"):
        KGModel("distmult", negatives=NegativeSampler(negative=4, candidates=16))
    with pytest.raises(NegsampleError, match="no adaptive negatives"):
        PoincareModel(negatives=NegativeSampler(negative=4, candidates=16))


def test_corrupt_does_not_change_the_trained_model():
    train = np.array([[0, 0, 1], [0, 0, 2], [0, 0, 3], [4, 1, 5]])
    m = KGModel("transe", dim=4, negative=2, corruption="bernoulli", epochs=1, threads=1).fit(train)
    before = m.p_head_.copy()
    m.corrupt(train[:1], n_entities=6, n_relations=2)
    np.testing.assert_array_equal(m.p_head_, before)


def test_epochs_zero_cli_summary_is_one_line(tmp_path, capsys):
    from negsample.cli import main

    prefix = tmp_path / "g"
    for split, rows in (("train", [("a", "r", "b"), ("b", "r", "c")]), ("valid", [("a", "r", "c")]),
                        ("test", [("a", "r", "c")])):
        (tmp_path / f"g.{split}.tsv").write_text("".join("\t".join(r) + "\n" for r in rows))
    assert main(["kg", "train", str(prefix), "-o", str(tmp_path / "m.npz"), "--model", "transe", "--dim", "4",
                 "--epochs", "0", "--threads", "1"]) == 0
    assert "n/a (no epoch ran)" in capsys.readouterr().err
