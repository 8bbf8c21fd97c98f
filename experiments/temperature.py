"""Fixed temperature vs the automatic one (the entropy controller): the entropy of the negative
weights over training, and the final metric.

Data: the hardness experiment's synthetic classes (30 classes in 5 superclasses, 32-d inputs);
positive = another item of the anchor's class; in-batch negatives (batch 256, the other rows'
positives, same-class rows excluded through ``labels=``). Encoder: linear 32 -> 16, Adam,
cosine scores. Temperature: fixed tau in {0.05, 0.1, 0.2, 0.5}, or
``InfoNCELoss(temperature="auto", target_entropy=H*)`` with H* = 0.5 ln K and 0.8 ln K (K ~ 255
candidates), whose controller adapts tau once per step (history in ``loss.controller.history``).
Recorded: the mean entropy H of the softmax over each anchor's negatives at the tau in use, every
step; final held-out 1-NN class accuracy (3 seeds).

    .venv/bin/python experiments/temperature.py      # docs/experiments/temperature.*
"""
from __future__ import annotations

import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402
import hardness  # noqa: E402

NAME = "temperature"
SCALES = {
    "full": dict(taus=(0.05, 0.1, 0.2, 0.5), targets=(0.5, 0.8), items=3000, test_items=1500, steps=400, batch=256,
                 seeds=3),
    "ci": dict(taus=(0.1,), targets=(0.8,), items=800, test_items=400, steps=80, batch=128, seeds=1),
}


def train(setting, X, y, s, seed):
    """setting: ("fixed", tau) or ("auto", fraction of ln K). Returns (W, entropy per step,
    tau per step, ln K)."""
    import torch

    from negsample.losses import InfoNCELoss

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    n = X.shape[0]
    lnK = math.log(s["batch"] - 1)
    kind, value = setting
    if kind == "fixed":
        loss_fn = InfoNCELoss(temperature=value, normalize=True, return_stats=True)
    else:
        loss_fn = InfoNCELoss(temperature="auto", target_entropy=value * lnK, normalize=True, return_stats=True)
    enc = torch.nn.Linear(hardness.D_IN, hardness.D_OUT, bias=False).double()
    opt = torch.optim.Adam(enc.parameters(), lr=1e-2)
    Xt = torch.as_tensor(X)
    by_class = [np.flatnonzero(y == c) for c in range(y.max() + 1)]
    ent, taus = [], []
    for step in range(s["steps"]):
        a = rng.choice(n, s["batch"], replace=False)
        p = np.array([by_class[y[i]][rng.integers(by_class[y[i]].size)] for i in a])
        tau_used = float(loss_fn.temperature)
        loss, st = loss_fn(enc(Xt[a]), enc(Xt[p]), labels=torch.as_tensor(y[a]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        ent.append(float(st["entropy"]))
        taus.append(tau_used)
    if kind == "auto":   # the controller's own record: (tau used, entropy observed) per step
        hist = np.array(loss_fn.controller.history)
        assert np.allclose(hist[:, 0], taus) and np.allclose(hist[:, 1], ent, atol=1e-6)
    return enc.weight.detach().numpy().T, ent, taus, lnK


def run(scale="full", seed=0, **overrides):
    import torch

    torch.set_num_threads(1)
    s = dict(SCALES[scale], **overrides)
    settings = [("fixed", t) for t in s["taus"]] + [("auto", f) for f in s["targets"]]
    rows = []
    for kind, value in settings:
        accs, ents, taus = [], [], []
        for r in range(s["seeds"]):
            rng = np.random.default_rng(seed * 100 + r)
            X, y, centres = hardness.make_data(s["items"], rng)
            Xt, yt, _ = hardness.make_data(s["test_items"], rng, centres)
            W, ent, tau, lnK = train((kind, value), X, y, s, seed * 100 + r)
            accs.append(hardness.one_nn(X @ W, y, Xt @ W, yt)[0])
            ents.append(ent)
            taus.append(tau)
        e = np.mean(ents, axis=0)
        half = len(e) // 2
        rows.append({"kind": kind, "value": value,
                     "label": f"fixed tau = {value:g}" if kind == "fixed" else f"auto, H* = {value:g} ln K",
                     "target": value * lnK if kind == "auto" else None, "lnK": lnK,
                     "accuracy": float(np.mean(accs)), "accuracy_se": float(np.std(accs) / math.sqrt(len(accs))),
                     "entropy_start": float(np.mean(e[:10])), "entropy_end": float(np.mean(e[-20:])),
                     "entropy_second_half_max_dev": (float(np.max(np.abs(e[half:] - value * lnK)) / (value * lnK))
                                                     if kind == "auto" else None),
                     "tau_end": float(np.mean(np.array(taus)[:, -20:])),
                     "entropy": e.tolist(), "tau": np.mean(taus, axis=0).tolist()})
    return {"scale": scale, "settings": s, "rows": rows}


def table(res):
    return _common.markdown_table(
        ["temperature", "entropy, first 10 steps", "entropy, last 20 steps", "tau at the end",
         "max deviation from H* (2nd half)", "1-NN class accuracy", "(s.e.)"],
        [(r["label"], r["entropy_start"], r["entropy_end"], r["tau_end"],
          "-" if r["entropy_second_half_max_dev"] is None else f"{r['entropy_second_half_max_dev']:.1%}",
          r["accuracy"], r["accuracy_se"]) for r in res["rows"]]) + \
        f"\nln K = {res['rows'][0]['lnK']:.2f} (the entropy of uniform weights over the in-batch negatives).\n"


def figure(res, path):
    plt = _common.pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    for r in res["rows"]:
        ls = "-" if r["kind"] == "auto" else "--"
        ax[0].plot(r["entropy"], ls, label=r["label"])
        ax[1].plot(r["tau"], ls, label=r["label"])
    ax[0].axhline(res["rows"][0]["lnK"], color="k", lw=0.8)
    ax[0].set_xlabel("step")
    ax[0].set_ylabel("entropy of the negative weights (nats)")
    ax[0].legend(fontsize=7)
    ax[1].set_yscale("log")
    ax[1].set_xlabel("step")
    ax[1].set_ylabel("tau")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    _common.main_for(NAME, run, table, figure, __doc__.splitlines()[0])
