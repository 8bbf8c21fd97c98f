"""The theory's claims, each checked by the core of its experiment (experiments/, docs/experiments.md)
on tiny synthetic data, plus the estimators behind them: NCE approaches the maximum-likelihood
fit as k grows (not merely the true parameters), the debiased loss's negative term is an unbiased
estimate of the true negatives' term, hard mining concentrates false negatives, masking / the
temporal window remove them, the SGNS optimum moves with k and the noise exponent, training
without negatives collapses, and small windows give syntactic neighbours, large ones topical."""
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def experiment(name):
    spec = importlib.util.spec_from_file_location(f"experiment_{name}", EXPERIMENTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------- NCE

def test_nce_distance_to_the_mle_falls_with_k():
    """On the same data, the NCE estimate (learned ln Z) moves towards the maximum-likelihood
    estimate as k grows, and its learned c towards the fitted density's ln Z."""
    pytest.importorskip("torch")
    E = experiment("nce_mle")
    res = E.run("ci", seed=0, seeds=2, ks=(1, 8, 64), noise_k=(), n=300, lbfgs_steps=200)
    d = res["dist_to_mle"]
    assert d[0] > d[1] > d[2] and d[2] < 0.4 * d[0], d
    assert res["log_z_error"][2] < res["log_z_error"][0]


def test_nce_noise_far_from_the_data_fails():
    """At k = 2 a noise narrower than the data (it never proposes the tails) gives parameter errors
    orders of magnitude above a noise that covers the data (moment-matched Gaussian, the data
    distribution itself)."""
    pytest.importorskip("torch")
    E = experiment("nce_mle")
    rng = np.random.default_rng(7)
    errs = {}
    for name in ("narrow Gaussian (0.5 std)", "moment-matched Gaussian", "the data distribution"):
        e = []
        for i in range(2):
            r = np.random.default_rng(100 + i)
            x = E.sample_data(300, r)
            draw, logq = E.noises(x)[name]
            y = draw(2 * 300, rng)
            model, _ = E.fit_nce_noise(x, y, logq(x), logq(y), 2, 200)
            e.append(float(np.sum((E.params(model) - E.true_params()) ** 2)))
        errs[name] = np.mean(e)
    assert errs["narrow Gaussian (0.5 std)"] > 10 * max(errs["moment-matched Gaussian"], errs["the data distribution"])


# ----------------------------------------------------------------------------- debiased contrastive loss

def test_debiased_negative_term_is_unbiased_for_the_true_negatives():
    """Chuang et al.'s estimator: with N negatives of which a share tau+ are false (drawn from the
    positive class) and the positive from that class, Ng = (sum_j e^{s_j/t} - N tau+ e^{s+/t}) /
    (1 - tau+) has expectation N E_{true neg}[e^{s/t}]. Read Ng back from ``debiased_info_nce``
    (L = ln(1 + Ng / e^{s+/t})) over 1000 draws: its mean matches the true-negative term within 4
    standard errors, while plain InfoNCE's sum (tau+ = 0) is biased upwards by the false negatives."""
    torch = pytest.importorskip("torch")
    from negsample.losses import debiased_info_nce

    rng = np.random.default_rng(0)
    t, tau_plus, N, trials = 0.5, 0.3, 10, 1000

    def unit(cos):       # 2-D unit vectors with cosine `cos` to the anchor e1
        return np.stack([cos, np.sqrt(1 - cos ** 2)], -1)

    pos_cos = rng.uniform(0.6, 0.8, trials)                  # the positive class: cosines in [0.6, 0.8]
    false = np.zeros((trials, N), bool)
    false[:, :int(tau_plus * N)] = True                      # tau+ N false negatives per anchor
    neg_cos = np.where(false, rng.uniform(0.6, 0.8, (trials, N)), rng.uniform(-0.5, 0.3, (trials, N)))
    a = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    ng = {}
    for tp in (tau_plus, 0.0):
        vals = []
        for i in range(trials):
            p = torch.tensor(unit(pos_cos[i:i + 1]), dtype=torch.float64)
            n = torch.tensor(unit(neg_cos[i])[None], dtype=torch.float64)
            L = float(debiased_info_nce(a, p, n, temperature=t, tau_plus=tp))
            vals.append(math.exp(pos_cos[i] / t) * math.expm1(L))
        ng[tp] = np.array(vals)
    # E over true negatives of e^{s/t}, s ~ U(-0.5, 0.3): (t / 0.8) (e^{0.3/t} - e^{-0.5/t})
    target = N * (t / 0.8) * (math.exp(0.3 / t) - math.exp(-0.5 / t))
    se = ng[tau_plus].std() / math.sqrt(trials)
    assert abs(ng[tau_plus].mean() - target) < 4 * se, (ng[tau_plus].mean(), target, se)
    assert ng[0.0].mean() > target + 10 * ng[0.0].std() / math.sqrt(trials)


# ----------------------------------------------------------------------------- false negatives in training

def test_masking_beats_plain_infonce_and_the_time_window_removes_same_session_false_negatives():
    """Half the negatives are false (r = 0.5, half of them from the anchor's session): masking them
    gives clearly better class structure than plain InfoNCE; the sampler's time-window filter
    removes the same-session half of them (and only that half)."""
    pytest.importorskip("torch")
    E = experiment("false_negatives")
    res = E.run("ci", seed=0)
    acc = {r["method"]: r["accuracy"] for r in res["rows"]}
    fn = {r["method"]: r["false_negative_share"] for r in res["rows"]}
    assert acc["masked"] > acc["plain"] + 0.04, acc
    assert fn["masked"] == 0 and 0.45 < fn["plain"] < 0.55 and 0.18 < fn["temporal"] < 0.32, fn


def test_hard_mining_concentrates_false_negatives():
    """With half of the classmates unlabelled, the hardest-negative miner picks them (they are the
    nearest items) at many times the rate of random negatives, and trains a worse encoder."""
    pytest.importorskip("torch")
    E = experiment("hardness")
    res = E.run("ci", seed=0)
    row = {r["mode"]: r for r in res["rows"]}
    assert row["hard"]["false_negative_share"] > 5 * row["random"]["false_negative_share"] > 0
    assert row["hard"]["accuracy"] < row["random"]["accuracy"]


# ----------------------------------------------------------------------------- the SGNS optimum

def test_sgns_offset_follows_ln_k_and_the_noise_exponent_and_no_negatives_collapse():
    E = experiment("sgns_optimum")
    res = E.run("ci", seed=0, alphas=(0.0, 1.0), ks=(1, 5), collapse_steps=400)
    runs = {(r["alpha"], r["k"]): r for r in res["runs"]}
    for (alpha, k), r in runs.items():
        assert abs(r["slope_vs_lnp"] - (1 - alpha)) < 0.15, (alpha, k, r["slope_vs_lnp"])
        assert r["r_exact"] > 0.9
    # alpha = 1: x - PMI moves by -ln k
    shift = runs[(1.0, 5)]["mean_x_minus_pmi"] - runs[(1.0, 1)]["mean_x_minus_pmi"]
    assert abs(shift + math.log(5)) < 0.15, shift
    # alpha = 0: PMI - ln k misses, the exact optimum does not
    assert runs[(0.0, 5)]["r_pmi"] < runs[(0.0, 5)]["r_exact"] - 0.2
    c0, c5 = res["collapse"]["0"], res["collapse"]["5"]
    assert c0["mean_cos"] > 0.95 and c0["effective_rank"] < 1.5 and c0["mean_score"] > 1.0
    assert c5["mean_cos"] < 0.8 and c5["effective_rank"] > 1.5


# ----------------------------------------------------------------------------- window size

def test_small_windows_give_syntactic_neighbours_large_ones_topical():
    E = experiment("window_size")
    res = E.run("ci", seed=0)
    by = {r["window"]: r for r in res["synthetic"]}
    assert by[1]["syntactic"] > 0.9 and by[1]["topical"] < 0.2
    assert by[8]["topical"] > 0.6 and by[8]["syntactic"] < 0.3


# ----------------------------------------------------------------------------- temperature

def test_automatic_temperature_holds_its_entropy_target():
    """InfoNCELoss(temperature="auto", target_entropy=0.8 ln K) on in-batch negatives: the entropy
    of the negative weights stays within 5% of the target over the second half of training, while
    the fixed tau it starts from (0.1) sits far below it; the controller's history is the tau used
    and the entropy seen at every step."""
    pytest.importorskip("torch")
    E = experiment("temperature")
    res = E.run("ci", seed=0)
    row = {r["kind"]: r for r in res["rows"]}
    auto, fixed = row["auto"], row["fixed"]
    assert auto["entropy_second_half_max_dev"] < 0.05, auto["entropy_second_half_max_dev"]
    assert abs(fixed["entropy_end"] - auto["target"]) > 0.15 * auto["target"]
    assert auto["tau_end"] > 1.5 * 0.1          # it had to raise tau to get there
