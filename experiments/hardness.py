"""Easy vs semi-hard vs hard vs mixed negatives for the same encoder and data, with and without
planted false negatives.

Data (synthetic): 30 classes in 5 superclasses of 6; class centre = superclass centre
(N(0, 2^2) in 16 of 32 dimensions) + class offset (N(0, 0.6^2) in the same 16); items
x = centre + N(0, I_32). So random negatives are mostly other superclasses (easy), and the
confusable ones are the other classes of the same superclass. Positive of an anchor: another item
of its class (a labelled pair). Encoder: linear 32 -> 16, InfoNCE (cosine, tau = 0.1), K = 8
negatives, Adam; every ``refresh`` steps the training items are re-embedded and negatives are
mined again with ``negsample.mining.mine_negatives`` (exact search) or drawn by the noise core:
- random:     uniform over the catalogue minus the known positives (``NegativeSampler``);
- easy:       band "easy" (s_n <= s_p - 0.3, drawn uniformly among those);
- semi-hard:  band "semi-hard" (s_p - 0.3 < s_n < s_p, the closest such), short lists filled with
              random negatives;
- hard:       the K highest-scoring candidates that are not known positives (band "range");
- mixed:      K/2 hard + K/2 random.
Known positives (excluded from mining) are the anchor's classmates. Planted false negatives: only
a fraction of the classmates is labelled (known); the rest stay in the candidate pool, unlabelled.
Metric: held-out 1-NN class accuracy (fine) and superclass accuracy; the share of false
negatives among the mined negatives.

    .venv/bin/python experiments/hardness.py       # docs/experiments/hardness.*
"""
from __future__ import annotations

import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

from negsample.mining import mine_negatives  # noqa: E402
from negsample.samplers import NegativeSampler  # noqa: E402

NAME = "hardness"
MODES = ("random", "easy", "semi-hard", "hard", "mixed")
SCALES = {
    "full": dict(unlabelled=(0.0, 0.5), items=3000, test_items=1500, steps=500, batch=256, refresh=50, seeds=3),
    "ci": dict(unlabelled=(0.5,), items=900, test_items=600, steps=150, batch=128, refresh=50, seeds=1,
               modes=("random", "hard")),
}
D_IN, D_OUT, K, TAU, MARGIN = 32, 16, 8, 0.1, 0.3
SUPER, PER_SUPER = 5, 6


def make_data(n, rng, centres=None):
    if centres is None:
        sup = rng.normal(0.0, 2.0, size=(SUPER, 16))
        off = rng.normal(0.0, 0.6, size=(SUPER, PER_SUPER, 16))
        centres = np.zeros((SUPER * PER_SUPER, D_IN))
        centres[:, :16] = (sup[:, None, :] + off).reshape(-1, 16)
    y = rng.integers(0, SUPER * PER_SUPER, n)
    return centres[y] + rng.normal(0.0, 1.0, size=(n, D_IN)), y, centres


def one_nn(Z, y, Zt, yt):
    a = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    b = Zt / np.linalg.norm(Zt, axis=1, keepdims=True)
    pred = y[np.argmax(b @ a.T, axis=1)]
    return float(np.mean(pred == yt)), float(np.mean(pred // PER_SUPER == yt // PER_SUPER))


def negatives_for(mode, Z, anchors, positives, known, sampler, rng):
    """(len(anchors), K) negative ids for the anchors under the current embeddings Z."""
    n = Z.shape[0]
    rand, ok = sampler.sample(anchors, rng=int(rng.integers(1 << 62)))
    rand = np.where(ok, rand, rng.integers(0, n, rand.shape))
    if mode == "random":
        return rand, 0
    pos = [[int(p)] for p in positives]
    kn = [known[a] for a in anchors]
    Q = Z[anchors]
    if mode == "easy":
        res = mine_negatives(Q, Z, pos, negative=K, band="easy", margin=MARGIN, exclude=kn,
                             seed=int(rng.integers(1 << 31)))
    elif mode == "semi-hard":
        res = mine_negatives(Q, Z, pos, negative=K, band="semi-hard", margin=MARGIN, exclude=kn)
    else:
        res = mine_negatives(Q, Z, pos, negative=K, band="range", exclude=kn)
    ids = res.ids
    if mode == "mixed":
        ids = np.concatenate([ids[:, :K // 2], rand[:, :K - K // 2]], axis=1)
    missing = ids < 0
    return np.where(missing, rand, ids), int(missing.sum())


def train(mode, X, y, known, s, seed):
    """Returns (W, share of false negatives among the negatives used, share filled in at random)."""
    import torch

    from negsample.losses import info_nce

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    n = X.shape[0]
    sampler = NegativeSampler(negative=K, noise="uniform", known_positives=known, max_redraw=50).fit(n=n, n_rows=n)
    enc = torch.nn.Linear(D_IN, D_OUT, bias=False).double()
    opt = torch.optim.Adam(enc.parameters(), lr=1e-2)
    Xt = torch.as_tensor(X)
    labelled = [np.array([j for j in known[i] if j != i]) for i in range(n)]
    fn = tot = filled = 0
    for step in range(s["steps"]):
        if step % s["refresh"] == 0:
            with torch.no_grad():
                Z = enc(Xt).numpy().astype(np.float32)
            # one labelled positive per item for this round; negatives mined for every item
            pos = np.array([lab[rng.integers(lab.size)] if lab.size else i for i, lab in enumerate(labelled)])
            neg_all, miss = negatives_for(mode, Z, np.arange(n), pos, known, sampler, rng)
            filled += miss
        a = rng.integers(0, n, s["batch"])
        neg = neg_all[a]
        false = y[neg] == y[a][:, None]
        fn += int(false.sum())
        tot += false.size
        loss = info_nce(enc(Xt[a]), enc(Xt[pos[a]]), enc(Xt[neg]), temperature=TAU, normalize=True)
        opt.zero_grad()
        loss.backward()
        opt.step()
    rounds = math.ceil(s["steps"] / s["refresh"])
    return enc.weight.detach().numpy().T, fn / max(tot, 1), filled / (rounds * n * K)


def known_positives(y, unlabelled, rng):
    """Per item: itself and the labelled share of its classmates (the rest are unlabelled)."""
    n = y.size
    lab = rng.random(n) >= unlabelled          # an item's class membership is known to others
    out = []
    for i in range(n):
        mates = np.flatnonzero((y == y[i]) & lab)
        out.append(np.union1d(mates, [i]))
    return out


def run(scale="full", seed=0, **overrides):
    import torch

    torch.set_num_threads(1)
    s = dict(SCALES[scale], **overrides)
    modes = s.get("modes", MODES)
    rows = []
    for u in s["unlabelled"]:
        for mode in modes:
            acc, sup, fns, fill = [], [], [], []
            for r in range(s["seeds"]):
                rng = np.random.default_rng(seed * 100 + r)
                X, y, centres = make_data(s["items"], rng)
                Xt, yt, _ = make_data(s["test_items"], rng, centres)
                known = known_positives(y, u, rng)
                W, fn, filled = train(mode, X, y, known, s, seed * 100 + r)
                a, b = one_nn(X @ W, y, Xt @ W, yt)
                acc.append(a)
                sup.append(b)
                fns.append(fn)
                fill.append(filled)
            rows.append({"unlabelled": u, "mode": mode, "accuracy": float(np.mean(acc)),
                         "accuracy_se": float(np.std(acc) / math.sqrt(len(acc))), "accuracies": acc,
                         "superclass_accuracy": float(np.mean(sup)), "false_negative_share": float(np.mean(fns)),
                         "filled_share": float(np.mean(fill))})
    rng = np.random.default_rng(seed * 100)
    X, y, centres = make_data(s["items"], rng)
    Xt, yt, _ = make_data(s["test_items"], rng, centres)
    raw = one_nn(X, y, Xt, yt)
    return {"scale": scale, "settings": s, "rows": rows, "raw_accuracy": raw[0], "raw_superclass_accuracy": raw[1]}


def table(res):
    md = _common.markdown_table(
        ["classmates unlabelled", "negatives", "1-NN class accuracy", "(s.e.)", "superclass accuracy",
         "false negatives among them", "filled in at random"],
        [(f"{r['unlabelled']:.0%}", r["mode"], r["accuracy"], r["accuracy_se"], r["superclass_accuracy"],
          f"{r['false_negative_share']:.1%}", f"{r['filled_share']:.1%}") for r in res["rows"]])
    md += (f"\nRaw inputs (no training): class accuracy {res['raw_accuracy']:.3f}, superclass "
           f"{res['raw_superclass_accuracy']:.3f}.\n")
    return md


def figure(res, path):
    plt = _common.pyplot()
    us = res["settings"]["unlabelled"]
    modes = res["settings"].get("modes", MODES)
    fig, ax = plt.subplots(figsize=(7, 4))
    w = 0.8 / len(us)
    for j, u in enumerate(us):
        rr = [next(r for r in res["rows"] if r["unlabelled"] == u and r["mode"] == m) for m in modes]
        ax.bar(np.arange(len(modes)) + j * w, [r["accuracy"] for r in rr], w, yerr=[r["accuracy_se"] for r in rr],
               label=f"{u:.0%} of classmates unlabelled", capsize=2)
        for i, r in enumerate(rr):
            ax.text(i + j * w, r["accuracy"] + 0.01, f"FN {r['false_negative_share']:.0%}", ha="center", fontsize=7)
    ax.axhline(res["raw_accuracy"], color="k", ls="--", lw=1, label="raw inputs")
    ax.set_xticks(np.arange(len(modes)) + w * (len(us) - 1) / 2)
    ax.set_xticklabels(modes)
    ax.set_ylabel("held-out 1-NN class accuracy")
    ax.legend(fontsize=8)
    ax.set_title("negative hardness (FN = false negatives among the negatives)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    _common.main_for(NAME, run, table, figure, __doc__.splitlines()[0])
