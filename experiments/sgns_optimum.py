"""Does skip-gram with negative sampling reach v_c.u_t = PMI(c, t) - ln k, and what do k, the noise
exponent alpha and shared negatives change? And what does a model trained without negatives do?

Corpus: synthetic topic sentences (V words with Zipf-like frequencies, T topics; every sentence
draws its words from one topic), so PMI has real structure and is known from the counts.
Trainer: negsample's SGNS engine (``train_sgns``, the native kernels), dim = V (no rank limit),
window 3, no subsampling, per-example and shared negatives, k in {1, 3, 10}, alpha in
{0, 0.5, 0.75, 1}. Check: ``negsample.diagnostics.optimum_check`` on pairs with M_ct >= 10.
Claims tested:
1. with alpha = 1 the offset mean(x - PMI) follows -ln k;
2. with alpha != 1 the offset against PMI - ln k moves with the target's frequency with slope
   1 - alpha in ln p(t) (x* = PMI - ln k - ln(q(t)/p(t))), and the exact stationary point of
   ``diagnostics`` fits (r ~ 1) for every alpha;
3. shared negatives reach the same optimum as per-example ones;
4. without negatives (only the ln s(v.u) term) the vectors collapse: every score grows, the
   implicit matrix becomes rank one, the correlation with PMI is lost.

    .venv/bin/python experiments/sgns_optimum.py            # docs/experiments/sgns_optimum.*
"""
from __future__ import annotations

import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

from negsample import diagnostics as D  # noqa: E402
from negsample.samplers import NegativeSampler  # noqa: E402
from negsample.sgns import train_sgns  # noqa: E402

NAME = "sgns_optimum"
SCALES = {
    "full": dict(V=100, topics=8, sentences=8000, length=12, epochs=12, ks=(1, 3, 10), alphas=(0.0, 0.5, 0.75, 1.0),
                 modes=("per-example", "shared"), min_count=10, collapse_steps=3000),
    "ci": dict(V=40, topics=4, sentences=2500, length=10, epochs=10, ks=(1, 5), alphas=(0.5, 1.0),
               modes=("per-example",), min_count=10, collapse_steps=800),
}


def topic_corpus(V, topics, sentences, length, seed):
    """(ids int32, offsets): each sentence draws ``length`` words from one topic's distribution
    (a Dirichlet(0.3) topic profile times Zipf frequencies 1/rank)."""
    rng = np.random.default_rng(seed)
    zipf = 1.0 / np.arange(1, V + 1)
    phi = rng.dirichlet(np.full(V, 0.3), size=topics) * zipf
    phi /= phi.sum(1, keepdims=True)
    z = rng.integers(0, topics, sentences)
    ids = np.concatenate([rng.choice(V, size=length, p=phi[t]) for t in z]).astype(np.int32)
    return ids, np.arange(0, ids.size + 1, length, dtype=np.int64)


def offset_slope(W_in, W_out, M, k, min_count):
    """Least-squares slope of x - (PMI - ln k) against ln p(t) over the pairs."""
    r, c, m, pmi, _ = D.predicted_optimum(M, k, min_count=min_count)
    x = D._pair_scores(W_in, W_out, r, c)
    marg = np.asarray(M.sum(1)).ravel()
    lp = np.log(marg[c] / marg.sum())
    return float(np.polyfit(lp, x - pmi, 1)[0]), float(np.mean(x - (pmi + math.log(k))))


def train_without_negatives(M, V, dim, steps, k, seed, lr=0.01, batch=256):
    """SGD on sampled pairs (c, t) ~ M with J = ln s(v_c.u_t) (k = 0) or the SGNS objective with k
    negatives drawn through the noise core (unigram^0.75). Returns the history of (step, mean
    pairwise cosine of W_in, effective rank, mean score) and (W_in, W_out)."""
    rng = np.random.default_rng(seed)
    W_in = ((rng.random((V, dim)) - 0.5) / dim)
    W_out = np.zeros((V, dim))
    C = M.tocoo()
    p = C.data / C.data.sum()
    counts = np.asarray(M.sum(1)).ravel()
    sampler = NegativeSampler(negative=max(k, 1), ns_exponent=0.75).fit(counts) if k else None
    hist = []

    def sig(x):
        return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))

    for step in range(steps + 1):
        if step % max(1, steps // 20) == 0:
            n = W_in / np.maximum(np.linalg.norm(W_in, axis=1, keepdims=True), 1e-12)
            cos = (n @ n.T)[np.triu_indices(V, 1)].mean()
            spec = D.spectrum(W_in, W_out) if np.any(W_out) else {"effective_rank": float("nan")}
            hist.append((step, float(cos), spec["effective_rank"], float(np.mean(W_in @ W_out.T))))
        if step == steps:
            break
        pick = rng.choice(p.size, size=batch, p=p)
        cc, tt = C.row[pick], C.col[pick]
        v, u = W_in[cc], W_out[tt]
        g = 1.0 - sig(np.einsum("ij,ij->i", v, u))
        dv = g[:, None] * u
        du = g[:, None] * v
        np.add.at(W_out, tt, lr * du)
        if k:
            neg, ok = sampler.sample(tt, rng=int(rng.integers(1 << 62)))
            neg = np.where(ok, neg, 0)
            un = W_out[neg]                                      # (B, k, d)
            gn = sig(np.einsum("id,ikd->ik", v, un)) * ok
            dv -= np.einsum("ik,ikd->id", gn, un)
            np.add.at(W_out, neg.ravel(), -lr * (gn[:, :, None] * v[:, None, :]).reshape(-1, dim))
        np.add.at(W_in, cc, lr * dv)
    return hist, (W_in, W_out)


def run(scale="full", seed=0, **overrides):
    s = dict(SCALES[scale], **overrides)
    V = s["V"]
    ids, offsets = topic_corpus(V, s["topics"], s["sentences"], s["length"], seed)
    counts = np.bincount(ids, minlength=V)
    M = D.cooccurrence(ids, offsets, V, window=3)
    runs = []
    for mode in s["modes"]:
        for alpha in s["alphas"]:
            for k in s["ks"]:
                sampler = NegativeSampler(negative=k, ns_exponent=alpha, mode=mode)
                W_in, W_out, _ = train_sgns(ids, offsets, counts, dim=V, window=3, negatives=sampler,
                                            epochs=s["epochs"], lr=0.025, seed=seed + 1, threads=1)
                rep = D.optimum_check(W_in, W_out, M, k, q=sampler.table_.probabilities, min_count=s["min_count"],
                                      with_spectrum=False)
                slope, mean_off = offset_slope(W_in, W_out, M, k, s["min_count"])
                runs.append({"mode": mode, "alpha": alpha, "k": k, "pairs": rep.pairs,
                             "r_pmi": rep.overall["pmi"]["pearson"], "rmse_pmi": rep.overall["pmi"]["rmse"],
                             "offset_pmi": rep.overall["pmi"]["offset"],
                             "r_exact": rep.overall["exact"]["pearson"], "rmse_exact": rep.overall["exact"]["rmse"],
                             "offset_exact": rep.overall["exact"]["offset"],
                             "slope_vs_lnp": slope, "mean_x_minus_pmi": mean_off})
                if mode == s["modes"][0] and alpha == 0.75 and k == s["ks"][-1]:
                    r, c, m, pmi, exact = D.predicted_optimum(M, k, q=sampler.table_.probabilities,
                                                              min_count=s["min_count"])
                    x = D._pair_scores(W_in, W_out, r, c)
                    scatter = {"x": x.tolist(), "pmi": pmi.tolist(), "exact": exact.tolist(), "k": k}
    collapse = {}
    for k in (0, 5):
        hist, (Wi, Wo) = train_without_negatives(M, V, V, s["collapse_steps"], k, seed)
        rep = D.optimum_check(Wi, Wo, M, max(k, 1), min_count=s["min_count"], with_spectrum=False)
        collapse[str(k)] = {"history": hist, "r_pmi": rep.overall["pmi"]["pearson"],
                            "mean_cos": hist[-1][1], "effective_rank": hist[-1][2], "mean_score": hist[-1][3]}
    if "scatter" not in locals():
        scatter = None
    return {"scale": scale, "settings": {k: v for k, v in s.items()}, "tokens": int(ids.size), "runs": runs,
            "scatter": scatter, "collapse": collapse}


def table(res):
    rows = [(r["mode"], r["alpha"], r["k"], r["r_pmi"], r["offset_pmi"], r["rmse_pmi"], r["r_exact"], r["offset_exact"],
             r["rmse_exact"], r["slope_vs_lnp"], 1 - r["alpha"], r["mean_x_minus_pmi"], -math.log(r["k"]))
            for r in res["runs"]]
    md = _common.markdown_table(["negatives", "alpha", "k", "r (PMI - ln k)", "offset", "RMSE", "r (exact)",
                                 "offset", "RMSE", "slope of x - (PMI - ln k) on ln p(t)", "predicted 1 - alpha",
                                 "mean x - PMI", "-ln k"], rows)
    c0, c5 = res["collapse"]["0"], res["collapse"]["5"]
    md += "\n" + _common.markdown_table(
        ["training", "r with PMI", "mean cosine of W_in rows", "effective rank of W_in W_out^T", "mean score v.u"],
        [("no negatives (ln s(v.u) only)", c0["r_pmi"], c0["mean_cos"], c0["effective_rank"], c0["mean_score"]),
         ("k = 5, alpha = 0.75", c5["r_pmi"], c5["mean_cos"], c5["effective_rank"], c5["mean_score"])])
    return md


def figure(res, path):
    plt = _common.pyplot()
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.3))
    sc = res["scatter"]
    if sc:
        ax[0].scatter(sc["pmi"], sc["x"], s=3, alpha=0.4, label="PMI - ln k")
        ax[0].scatter(sc["exact"], sc["x"], s=3, alpha=0.4, label="exact optimum (q, self-exclusion)")
        lo, hi = min(sc["x"]), max(sc["x"])
        ax[0].plot([lo, hi], [lo, hi], "k--", lw=1)
        ax[0].set_xlabel("predicted x*")
        ax[0].set_ylabel("trained v_c . u_t")
        ax[0].set_title(f"alpha = 0.75, k = {sc['k']}, per-example")
        ax[0].legend(fontsize=8, markerscale=3)
    runs = [r for r in res["runs"] if r["mode"] == res["settings"]["modes"][0]]
    for alpha in res["settings"]["alphas"]:
        rr = [r for r in runs if r["alpha"] == alpha]
        ax[1].plot([math.log(r["k"]) for r in rr], [r["mean_x_minus_pmi"] for r in rr], "o-", label=f"alpha = {alpha:g}")
    ks = np.log(res["settings"]["ks"])
    ax[1].plot(ks, -ks, "k--", label="-ln k")
    ax[1].set_xlabel("ln k")
    ax[1].set_ylabel("mean (x - PMI)")
    ax[1].legend(fontsize=8)
    ax[1].set_title("offset against PMI")
    for mode, mk in zip(res["settings"]["modes"], ("o", "s")):
        rr = [r for r in res["runs"] if r["mode"] == mode and r["k"] == res["settings"]["ks"][-1]]
        ax[2].plot([r["alpha"] for r in rr], [r["slope_vs_lnp"] for r in rr], mk, label=f"measured ({mode})")
    a = np.linspace(0, 1, 11)
    ax[2].plot(a, 1 - a, "k--", label="1 - alpha")
    ax[2].set_xlabel("noise exponent alpha")
    ax[2].set_ylabel("slope of x - (PMI - ln k) on ln p(t)")
    ax[2].legend(fontsize=8)
    ax[2].set_title("the noise exponent's shift")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    # collapse figure next to it
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
    for k, lab in (("0", "no negatives"), ("5", "k = 5")):
        h = np.array(res["collapse"][k]["history"], dtype=float)
        ax[0].plot(h[:, 0], h[:, 1], label=lab)
        ax[1].plot(h[:, 0], h[:, 2], label=lab)
    ax[0].set_xlabel("step")
    ax[0].set_ylabel("mean cosine between word vectors")
    ax[1].set_xlabel("step")
    ax[1].set_ylabel("effective rank of W_in W_out^T")
    ax[0].legend()
    fig.tight_layout()
    fig.savefig(path.replace(".png", "_collapse.png"), dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    _common.main_for(NAME, run, table, figure, __doc__.splitlines()[0])
