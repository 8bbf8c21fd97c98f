"""NCE with a learned ln Z approaches the maximum-likelihood fit as k grows, and works best with a
noise close to the data.

Model: negsample.nce's unnormalised 1-D Gaussian mixture (2 components), ln p~(x) =
logsumexp_m(w_m - (x - mu_m)^2 / (2 sigma_m^2)), c = ln Z learned (``NCELoss``). Data: n draws
from 0.3 N(-2, 0.5^2) + 0.7 N(1.5, 1). For each seed the maximum-likelihood estimate (MLE: the
same model, normalised exactly, fitted by L-BFGS) is computed on the same data; NCE is fitted
with k = 1..256 noise samples per data point (nested draws: k uses the first k n of one noise
sample). Distance = Euclidean distance between the NCE and MLE parameter vectors (mu, ln sigma,
mixture weights; components sorted by mu), averaged over seeds; also |c - ln Z(theta)|, how far
the learned normaliser is from the fitted density's true one.

Noise choice (second part): at fixed k, noises from far to close to the data: a narrow Gaussian
(half the data's std), a wide one (3x), uniform over the data range, the moment-matched Gaussian,
and the data distribution itself. Error = squared distance to the true parameters and to the MLE.

    .venv/bin/python experiments/nce_mle.py            # docs/experiments/nce_mle.*
"""
from __future__ import annotations

import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

NAME = "nce_mle"
TRUE = {"mu": np.array([-2.0, 1.5]), "sigma": np.array([0.5, 1.0]), "w": np.array([0.3, 0.7])}
SCALES = {
    "full": dict(n=1000, seeds=8, ks=(1, 2, 4, 8, 16, 32, 64, 128, 256), noise_k=(1, 4, 16), noise_seeds=10),
    "ci": dict(n=300, seeds=3, ks=(1, 8, 64), noise_k=(2,), noise_seeds=3),
}


def sample_data(n, rng):
    comp = rng.random(n) < TRUE["w"][0]
    return np.where(comp, rng.normal(TRUE["mu"][0], TRUE["sigma"][0], n), rng.normal(TRUE["mu"][1], TRUE["sigma"][1], n))


def data_log_density(u):
    """ln of the true data density (used as the 'data' noise)."""
    lp = [np.log(w) - 0.5 * ((u - m) / s) ** 2 - np.log(s * math.sqrt(2 * math.pi))
          for m, s, w in zip(TRUE["mu"], TRUE["sigma"], TRUE["w"])]
    return np.logaddexp(*lp)


def params(model):
    """(mu, ln sigma, weights) sorted by mu, as one vector."""
    mu = model.mu.detach().numpy()
    order = np.argsort(mu)
    return np.concatenate([mu[order], model.log_sigma.detach().numpy()[order],
                           model.mixture_weights().detach().numpy()[order]])


def true_params():
    return np.concatenate([TRUE["mu"], np.log(TRUE["sigma"]), TRUE["w"]])


def fit_mle(x, steps=300):
    import torch

    from negsample.nce import UnnormalisedGaussianMixture1D

    xt = torch.as_tensor(x)
    model = UnnormalisedGaussianMixture1D(2, mu_init=[-1.0, 1.0])
    opt = torch.optim.LBFGS(list(model.parameters()), lr=1.0, max_iter=steps, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-10, tolerance_change=1e-14)

    def closure():
        opt.zero_grad()
        loss = -(model(xt) - model.log_partition()).mean()
        loss.backward()
        return loss

    opt.step(closure)
    return model


def fit_nce_noise(x, y, log_q_x, log_q_y, k, steps=300):
    """NCE fit (negsample.nce.NCELoss, learned ln Z) with given noise samples y (k n of them) and
    noise log-densities at the data and noise points. Returns (model, c)."""
    import torch

    from negsample.nce import NCELoss, UnnormalisedGaussianMixture1D

    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    lqx, lqy = torch.as_tensor(log_q_x), torch.as_tensor(log_q_y)
    model = UnnormalisedGaussianMixture1D(2, mu_init=[-1.0, 1.0])
    crit = NCELoss(k)
    opt = torch.optim.LBFGS(list(model.parameters()) + list(crit.parameters()), lr=1.0, max_iter=steps,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-10, tolerance_change=1e-14)

    def closure():
        opt.zero_grad()
        loss = crit(model(xt), model(yt), lqx, lqy)
        loss.backward()
        return loss

    opt.step(closure)
    return model, float(crit.log_z.detach())


def gaussian_noise(mean, std):
    def draw(n, rng):
        return rng.normal(mean, std, n)

    def logq(u):
        return -0.5 * ((u - mean) / std) ** 2 - math.log(std * math.sqrt(2 * math.pi))
    return draw, logq


NOISE_NAMES = ("narrow Gaussian (0.5 std)", "wide Gaussian (3 std)", "uniform over the data range",
               "moment-matched Gaussian", "the data distribution")


def noises(x):
    m, s = float(x.mean()), float(x.std())
    lo, hi = float(x.min()) - 1.0, float(x.max()) + 1.0
    out = {"narrow Gaussian (0.5 std)": gaussian_noise(m, 0.5 * s), "wide Gaussian (3 std)": gaussian_noise(m, 3 * s),
           "uniform over the data range": (lambda n, rng: rng.uniform(lo, hi, n),
                                           lambda u: np.full(np.shape(u), -math.log(hi - lo))),
           "moment-matched Gaussian": gaussian_noise(m, s),
           "the data distribution": (lambda n, rng: sample_data(n, rng), data_log_density)}
    return out


def run(scale="full", seed=0, **overrides):
    import torch

    torch.set_num_threads(1)
    s = dict(SCALES[scale], **overrides)
    n, ks = s["n"], s["ks"]
    it = s.get("lbfgs_steps", 300)
    dist = np.zeros((s["seeds"], len(ks)))
    zerr = np.zeros_like(dist)
    truth = np.zeros_like(dist)
    mle_truth = np.zeros(s["seeds"])
    for i in range(s["seeds"]):
        rng = np.random.default_rng(seed * 1000 + i)
        x = sample_data(n, rng)
        mle = params(fit_mle(x, it))
        mle_truth[i] = float(np.sum((mle - true_params()) ** 2))
        draw, logq = gaussian_noise(0.0, 2.0 * float(x.std()))   # fit_nce's default noise: N(0, (2 std)^2)
        y_all = draw(max(ks) * n, rng)
        for j, k in enumerate(ks):
            y = y_all[:k * n]
            model, c = fit_nce_noise(x, y, logq(x), logq(y), k, it)
            th = params(model)
            dist[i, j] = float(np.linalg.norm(th - mle))
            zerr[i, j] = abs(c - float(model.log_partition().detach()))
            truth[i, j] = float(np.sum((th - true_params()) ** 2))
    noise_rows = []
    for k in s["noise_k"]:
        for name in NOISE_NAMES:
            errs, dmle = [], []
            for i in range(s["noise_seeds"]):
                rng = np.random.default_rng(seed * 1000 + 500 + i)
                x = sample_data(n, rng)
                draw, logq = noises(x)[name]
                y = draw(k * n, rng)
                model, _ = fit_nce_noise(x, y, logq(x), logq(y), k, it)
                th = params(model)
                errs.append(float(np.sum((th - true_params()) ** 2)))
                dmle.append(float(np.linalg.norm(th - params(fit_mle(x, it)))))
            noise_rows.append({"k": k, "noise": name, "mse_truth": float(np.mean(errs)),
                               "mse_truth_median": float(np.median(errs)), "dist_mle": float(np.mean(dmle))})
    return {"scale": scale, "n": n, "ks": list(ks), "dist_to_mle": dist.mean(0).tolist(),
            "dist_to_mle_se": (dist.std(0) / math.sqrt(s["seeds"])).tolist(), "dist_all": dist.tolist(),
            "log_z_error": zerr.mean(0).tolist(), "mse_truth": truth.mean(0).tolist(),
            "mle_mse_truth": float(mle_truth.mean()), "noise": noise_rows}


def table(res):
    rows = [(k, d, se, z, t) for k, d, se, z, t in zip(res["ks"], res["dist_to_mle"], res["dist_to_mle_se"],
                                                         res["log_z_error"], res["mse_truth"])]
    md = _common.markdown_table(["k", "distance NCE - MLE", "(s.e.)", "abs(c - ln Z)", "squared error to the truth"],
                                rows)
    md += f"\nMLE's own squared error to the truth: {res['mle_mse_truth']:.4f} (n = {res['n']}).\n\n"
    md += _common.markdown_table(["k", "noise", "squared error to the truth (mean)", "(median)", "distance to the MLE"],
                                 [(r["k"], r["noise"], r["mse_truth"], r["mse_truth_median"], r["dist_mle"])
                                  for r in res["noise"]])
    return md


def figure(res, path):
    plt = _common.pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    ax[0].errorbar(res["ks"], res["dist_to_mle"], yerr=res["dist_to_mle_se"], fmt="o-", label="|theta_NCE - theta_MLE|")
    ax[0].plot(res["ks"], res["log_z_error"], "s--", label="|c - ln Z(theta_NCE)|")
    ax[0].set_xscale("log", base=2)
    ax[0].set_yscale("log")
    ax[0].set_xlabel("noise samples per data point k")
    ax[0].legend()
    ax[0].set_title(f"NCE approaches the MLE (n = {res['n']})")
    ks = sorted({r["k"] for r in res["noise"]})
    names = [r["noise"] for r in res["noise"] if r["k"] == ks[0]]
    w = 0.8 / len(ks)
    for j, k in enumerate(ks):
        vals = [next(r["mse_truth"] for r in res["noise"] if r["k"] == k and r["noise"] == nm) for nm in names]
        ax[1].barh(np.arange(len(names)) + j * w, vals, w, label=f"k = {k}")
    ax[1].axvline(res["mle_mse_truth"], color="k", ls="--", label="MLE")
    ax[1].set_yticks(np.arange(len(names)) + w * (len(ks) - 1) / 2)
    ax[1].set_yticklabels(names, fontsize=8)
    ax[1].set_xscale("log")
    ax[1].set_xlabel("squared error of the parameters")
    ax[1].legend(fontsize=8)
    ax[1].set_title("which noise")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    _common.main_for(NAME, run, table, figure, __doc__.splitlines()[0])
