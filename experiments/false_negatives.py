"""False negatives at a known rate: plain InfoNCE vs masked vs debiased vs a temporal window.

Data (synthetic): items in sessions of L = 20 consecutive time steps; each session has one of
C = 20 classes (a class returns in many sessions). x_i = mu_class + nu_session + z_i in R^32:
class means in 8 of the 32 dimensions (N(0, 1.5^2)), a session offset (N(0, 0.3^2) in all), an
item part z_i ~ N(0, 1). The positive of an anchor is another item of its session within 3 time steps
(time-contrastive). Each of the K = 16 negatives is, with probability r, a false negative (an
item of the anchor's class: half of them from the anchor's own session, as consecutive frames or
clicks would be, half from another session of the class), else an item of another class. Rates
r = 2%, 10%, 25%, 50%. Encoder: linear 32 -> 8, Adam, cosine scores, tau = 0.2, the same steps,
negatives and seeds for every method:
- plain:     InfoNCE over all K negatives;
- masked:    InfoNCE with the false negatives masked out (oracle labels; ``info_nce(mask=...)``);
- debiased:  Chuang et al. 2020 with tau+ = r (``debiased_info_nce``);
- temporal:  the sampler's time-window filter (``NegativeSampler(times, time_window=L).filter``)
             redraws every negative within L of the anchor's time from uniform noise: it removes
             the same-session false negatives, not the others (and its redraws are false
             negatives at the base rate 1/C).
Metric: 1-NN class accuracy of held-out sessions against the training items, and the share of
false negatives left among the negatives each method trains on.

    .venv/bin/python experiments/false_negatives.py       # docs/experiments/false_negatives.*
"""
from __future__ import annotations

import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

from negsample.samplers import NegativeSampler  # noqa: E402

NAME = "false_negatives"
METHODS = ("plain", "masked", "debiased", "temporal")
SCALES = {
    "full": dict(rates=(0.02, 0.1, 0.25, 0.5), classes=20, items=4000, test_items=1000, session=20, steps=400,
                 batch=256, negative=16, same_session=0.5, seeds=3, classmate_rates=(0.5,)),
    "ci": dict(rates=(0.5,), classes=20, items=1000, test_items=400, session=20, steps=100, batch=128, negative=16,
               same_session=0.5, seeds=1),
}
D_IN, D_OUT, TAU = 32, 8, 0.2


def make_data(C, items, test_items, session, rng, class_dims=8, class_spread=1.5, session_spread=0.3):
    """(X, y, sess) for train + test items (test = the last whole sessions): sessions of
    ``session`` consecutive items, one class each; x = mu_class + nu_session + z."""
    n_sess = (items + test_items) // session
    sess_class = np.concatenate([np.arange(C), rng.integers(0, C, max(0, n_sess - C))])[:n_sess]
    rng.shuffle(sess_class)
    means = np.zeros((C, D_IN))
    means[:, :class_dims] = rng.normal(0.0, class_spread, size=(C, class_dims))
    sess = np.repeat(np.arange(n_sess), session)
    y = sess_class[sess]
    X = means[y] + rng.normal(0.0, session_spread, size=(n_sess, D_IN))[sess] + rng.normal(0.0, 1.0, size=(y.size, D_IN))
    return X, y, sess


class Planter:
    """Draws planted negatives (``draw``): each a false negative with probability ``rate`` (same
    class; from the anchor's own session with probability ``same_session``, else from another
    session of the class), else an item of another class. Sessions are contiguous blocks of
    ``session`` items."""

    def __init__(self, y, sess, session):
        self.y, self.sess, self.session, self.n = y, sess, session, y.size
        self.order = np.argsort(y, kind="stable")
        self.first = np.searchsorted(y[self.order], np.arange(y.max() + 2))
        self.sessions_of_class = np.array([np.unique(sess[y == k]).size for k in range(y.max() + 1)])

    def draw(self, a_idx, K, rate, same_session, rng):
        y, sess, n = self.y, self.sess, self.n
        a = np.repeat(a_idx, K)
        c = y[a]
        kind = np.where(rng.random(a.size) < rate, np.where(rng.random(a.size) < same_session, 1, 2), 0)
        kind = np.where((kind == 2) & (self.sessions_of_class[c] < 2), 1, kind)   # a class seen in one session
        start = sess[a] * self.session
        own = np.minimum(start + (a - start + rng.integers(1, self.session, a.size)) % self.session, n - 1)
        out = np.where(kind == 1, own, rng.integers(0, n, a.size))
        lo, hi = self.first[c], self.first[c + 1]
        for _ in range(100):   # rejection: other-class items, and same-class items of other sessions
            bad2 = (kind == 2) & ((y[out] != c) | (sess[out] == sess[a]))
            bad0 = (kind == 0) & (y[out] == c)
            if not (bad2.any() or bad0.any()):
                break
            mate = self.order[lo + (rng.random(a.size) * (hi - lo)).astype(np.int64)]
            out = np.where(bad2, mate, np.where(bad0, rng.integers(0, n, a.size), out))
        return out.reshape(a_idx.size, K)


def one_nn_accuracy(Z_train, y_train, Z_test, y_test):
    a = Z_train / np.linalg.norm(Z_train, axis=1, keepdims=True)
    b = Z_test / np.linalg.norm(Z_test, axis=1, keepdims=True)
    return float(np.mean(y_train[np.argmax(b @ a.T, axis=1)] == y_test))


def train(method, X, y, sess, rate, s, seed, positive="session", same_session=None):
    """Train the linear encoder with one method; returns (W (D_IN, D_OUT), share of false
    negatives among the negatives the loss used). positive: "session" (an item of the anchor's
    session within 3 steps) or "class" (a classmate from another session)."""
    import torch

    from negsample.losses import debiased_info_nce, info_nce

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    n, L = X.shape[0], s["session"]
    times = np.arange(n, dtype=np.float64)
    window = NegativeSampler(noise="uniform", times=times, time_window=float(L), max_redraw=50).fit(n=n)
    enc = torch.nn.Linear(D_IN, D_OUT, bias=False).double()
    opt = torch.optim.Adam(enc.parameters(), lr=1e-2)
    Xt = torch.as_tensor(X)
    planter = Planter(y, sess, L)
    fn_used, neg_used = 0, 0
    for step in range(s["steps"]):
        a_idx = rng.integers(0, n, s["batch"])
        if positive == "class":
            p_idx = planter.draw(a_idx, 1, 1.0, 0.0, rng)[:, 0]
        else:  # another item of the session within 3 steps
            off = rng.integers(1, 4, a_idx.size) * rng.choice([-1, 1], a_idx.size)
            p_idx = a_idx + off
            bad = (p_idx < 0) | (p_idx >= n) | (sess[np.clip(p_idx, 0, n - 1)] != sess[a_idx])
            p_idx = np.where(bad, a_idx - off, p_idx)
        neg = planter.draw(a_idx, s["negative"], rate, s["same_session"] if same_session is None else same_session,
                           rng)
        if method == "temporal":
            neg, ok, _ = window.filter(a_idx, neg, avoid=p_idx, rng=int(rng.integers(1 << 62)))
            neg = np.where(ok, neg, rng.integers(0, n, neg.shape))
        false = y[neg] == y[a_idx][:, None]
        za, zp, zn = enc(Xt[a_idx]), enc(Xt[p_idx]), enc(Xt[neg])
        if method == "debiased":
            loss = debiased_info_nce(za, zp, zn, temperature=TAU, tau_plus=rate, normalize=True)
        elif method == "masked":
            loss = info_nce(za, zp, zn, temperature=TAU, normalize=True, mask=torch.as_tensor(false))
        else:
            loss = info_nce(za, zp, zn, temperature=TAU, normalize=True)
        if method != "masked":
            fn_used += int(false.sum())
        neg_used += false.size
        opt.zero_grad()
        loss.backward()
        opt.step()
    clamped = float("nan")
    if method == "debiased":   # share of anchors whose negative estimate hits the floor N e^{-1/t} (no gradient)
        with torch.no_grad():
            za, zp, zn = (torch.nn.functional.normalize(z, dim=-1) for z in (za, zp, zn))
            sp, sn = (za * zp).sum(-1), torch.einsum("bd,bkd->bk", za, zn)
            K = sn.shape[1]
            est = (torch.exp(sn / TAU).sum(-1) - K * rate * torch.exp(sp / TAU)) / (1 - rate)
            clamped = float((est < K * math.exp(-1 / TAU)).double().mean())
    return enc.weight.detach().numpy().T, fn_used / max(neg_used, 1), clamped


def run(scale="full", seed=0, **overrides):
    import torch

    torch.set_num_threads(1)
    s = dict(SCALES[scale], **overrides)
    rows = []
    # main arm: time-contrastive positives; second arm (Chuang et al.'s setting): the positive and the
    # false negatives are both classmates from other sessions
    arms = [("session neighbour", rate, METHODS, None) for rate in s["rates"]] + \
        [("classmate", rate, ("plain", "masked", "debiased"), 0.0) for rate in s.get("classmate_rates", ())]
    for positive, rate, methods, same in arms:
        accs = {m: [] for m in methods}
        fns = {m: [] for m in methods}
        clamps = []
        raw = []
        for r in range(s["seeds"]):
            rng = np.random.default_rng(seed * 100 + r)
            X, y, sess = make_data(s["classes"], s["items"], s["test_items"], s["session"], rng)
            tr = slice(0, s["items"])
            te = slice(s["items"], None)
            raw.append(one_nn_accuracy(X[tr], y[tr], X[te], y[te]))
            for m in methods:
                W, fn, clamped = train(m, X[tr], y[tr], sess[tr], rate, s, seed * 100 + r,
                                       positive="class" if positive == "classmate" else "session", same_session=same)
                if m == "debiased":
                    clamps.append(clamped)
                accs[m].append(one_nn_accuracy(X[tr] @ W, y[tr], X[te] @ W, y[te]))
                fns[m].append(fn)
        for m in methods:
            rows.append({"positive": positive, "rate": rate, "method": m, "accuracy": float(np.mean(accs[m])),
                         "accuracy_se": float(np.std(accs[m]) / math.sqrt(len(accs[m]))), "accuracies": accs[m],
                         "false_negative_share": float(np.mean(fns[m])),
                         "clamped": float(np.mean(clamps)) if m == "debiased" else float("nan")})
        if positive == "session neighbour":
            rows.append({"positive": positive, "rate": rate, "method": "raw inputs (no training)",
                         "accuracy": float(np.mean(raw)), "accuracy_se": 0.0, "accuracies": raw,
                         "false_negative_share": float("nan"), "clamped": float("nan")})
    return {"scale": scale, "settings": s, "rows": rows}


def paired(res, rate, method, positive="session neighbour"):
    """(mean, s.e.) of accuracy(method) - accuracy(plain) over the seeds (same data and negatives)."""
    rows = {r["method"]: r for r in res["rows"] if r["rate"] == rate and r.get("positive", positive) == positive}
    d = np.array(rows[method]["accuracies"]) - np.array(rows["plain"]["accuracies"])
    return float(d.mean()), float(d.std(ddof=1) / math.sqrt(d.size)) if d.size > 1 else float("nan")


def table(res):
    out = []
    for r in res["rows"]:
        if r["method"] in METHODS and r["method"] != "plain":
            m, se = paired(res, r["rate"], r["method"], r.get("positive", "session neighbour"))
            diff = f"{m:+.3f} ± {se:.3f}" if np.isfinite(se) else f"{m:+.3f}"
        else:
            diff = "-"
        out.append((r.get("positive", "session neighbour"), f"{r['rate']:.0%}", r["method"], r["accuracy"], diff,
                    "-" if not np.isfinite(r["false_negative_share"]) else f"{r['false_negative_share']:.1%}",
                    "-" if not np.isfinite(r.get("clamped", float("nan"))) else f"{r['clamped']:.0%}"))
    return _common.markdown_table(
        ["positive", "false-negative rate r", "method", "1-NN class accuracy (held out)",
         "minus plain (paired over seeds, s.e.)", "false negatives among the negatives used",
         "debiased: anchors at the floor N e^{-1/t}"], out)


def figure(res, path):
    plt = _common.pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for m in METHODS:
        rr = [r for r in res["rows"] if r["method"] == m and r.get("positive", "session neighbour") != "classmate"]
        ax.errorbar([r["rate"] for r in rr], [r["accuracy"] for r in rr], yerr=[r["accuracy_se"] for r in rr],
                    fmt="o-", label=m, capsize=2)
    ax.set_xscale("log")
    ax.set_xlabel("false-negative rate r")
    ax.set_ylabel("held-out 1-NN class accuracy")
    ax.legend()
    ax.set_title("false negatives: plain, masked, debiased, temporal window")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    _common.main_for(NAME, run, table, figure, __doc__.splitlines()[0])
