"""MovieLens 100K: negsample's ImplicitModel against implicit ALS, implicit BPR and LightFM WARP,
each tuned by a grid of the same size on leave-last-out, then checked on a second split held out
of all tuning (a global time cutoff); plus the fairness of each negative type (per popularity
decile: coverage, share of draws, share of the negatives' gradient norm), plotted.

Needs implicit (0.7.3) and LightFM (1.17, builds with `pip install --no-build-isolation
lightfm==1.17`), so it runs in its own venv (benchmarks/requirements-bench.txt):

    PYTHONPATH=src /work/venvs/recsys/bin/python benchmarks/bench_recsys.py [--threads 2]
        [--methods ours,als,bpr,warp] [--json benchmarks/results/recsys_bench.json]
        [--plot benchmarks/results/recsys_fairness.png]

Splits (both over all 943 users' histories):
- leave-last-out (LLO, the tuning split): each user's latest interaction (by time, file order
  breaking ties) is the test item; all grids are tuned here (selection by Recall@10, NDCG@10 to
  break ties).
- time cutoff (TIME, never tuned on): interactions before the 90th percentile of time train;
  each user with training history and a later interaction with an item not in their history is
  tested on the first such item.
Metrics: Recall@10 (= hit rate, one test item), NDCG@10, over all items except the user's
training items (implicit's `ranking_metrics_at_k` protocol: agreement printed). Training time is
the fit call alone (threads as given; implicit with BLAS at 1 thread).
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import time

import numpy as np
import scipy.sparse as sp

from negsample.recsys import (ImplicitModel, evaluate, fairness_by_decile, leave_last_out, load_interactions,
                              most_popular_scores)
from negsample.samplers import NegativeGenerator, NegativeSampler

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.abspath(os.path.join(HERE, "..", "..", "shared", "data", "recsys", "ml-100k.tsv"))
if not os.path.exists(DATA):
    DATA = "/work/shared/data/recsys/ml-100k.tsv"

# the grids: 8 configurations per method (2 x 2 x 2)
GRIDS = {
    "ours": {"dim": [64, 128], "epochs": [20, 40], "ns_exponent": [0.0, 0.5]},
    "als": {"factors": [64, 128], "regularization": [0.01, 0.1], "alpha": [1.0, 10.0]},
    "bpr": {"factors": [64, 128], "learning_rate": [0.01, 0.05], "iterations": [100, 300]},
    "warp": {"no_components": [64, 128], "learning_rate": [0.02, 0.05], "epochs": [20, 50]},
}
OURS_FIXED = {}          # everything else: the library's defaults


# --------------------------------------------------------------------------- splits

def time_cutoff_split(d, quantile=0.9):
    """(train mask, test users, test items): train = before the cutoff; test = each user's first
    later interaction with an item outside their training history."""
    cut = np.quantile(d.timestamps, quantile)
    train = d.timestamps < cut
    order = np.lexsort((np.arange(len(d)), d.timestamps))
    seen = set(zip(d.users[train].tolist(), d.items[train].tolist()))
    has_train = np.bincount(d.users[train], minlength=d.n_users) > 0
    test = {}
    for e in order:
        if train[e]:
            continue
        u, i = int(d.users[e]), int(d.items[e])
        if u in test or not has_train[u] or (u, i) in seen:
            continue
        test[u] = i
    tu = np.array(sorted(test), dtype=np.int64)
    return train, tu, np.array([test[u] for u in tu], dtype=np.int64)


def splits(d):
    mask, test = leave_last_out(d)
    tu = np.flatnonzero(test >= 0)
    llo = (d.to_csr(mask), tu, d.items[test[tu]])
    m2, tu2, ti2 = time_cutoff_split(d)
    return {"LLO": llo, "TIME": (d.to_csr(m2), tu2, ti2)}


# --------------------------------------------------------------------------- methods

def fit_ours(train, threads, seed=1, negatives=None, **params):
    kw = dict(OURS_FIXED)
    kw.update(params)
    m = ImplicitModel(threads=threads, seed=seed, negatives=negatives, **kw)
    t0 = time.perf_counter()
    m.fit(train)
    return m.scores, time.perf_counter() - t0, m


def fit_implicit(kind, train, threads, seed=1, **params):
    from threadpoolctl import threadpool_limits

    if kind == "als":
        from implicit.cpu.als import AlternatingLeastSquares as cls
        params = {"iterations": 15, **params}
    else:
        from implicit.cpu.bpr import BayesianPersonalizedRanking as cls
        params = {"regularization": 0.01, **params}
    binary = train.copy()
    binary.data[:] = 1.0
    with threadpool_limits(1, "blas"):
        m = cls(num_threads=threads, random_state=seed, **params)
        t0 = time.perf_counter()
        m.fit(binary, show_progress=False)
        t = time.perf_counter() - t0
    return (lambda us: m.user_factors[us] @ m.item_factors.T), t, m


def fit_warp(train, threads, seed=1, epochs=20, **params):
    from lightfm import LightFM

    binary = train.tocoo(copy=True)
    binary.data[:] = 1.0
    m = LightFM(loss="warp", random_state=seed, **params)
    t0 = time.perf_counter()
    m.fit(binary, epochs=epochs, num_threads=threads)
    t = time.perf_counter() - t0
    ub, uf = m.get_user_representations()      # (biases, embeddings)
    ib, itf = m.get_item_representations()
    return (lambda us: uf[us] @ itf.T + ib[None, :] + ub[us][:, None]), t, m


def fit(method, train, threads, seed=1, **params):
    if method == "ours":
        return fit_ours(train, threads, seed, **params)
    if method in ("als", "bpr"):
        return fit_implicit(method, train, threads, seed, **params)
    return fit_warp(train, threads, seed, **params)


def run(method, params, split, threads, seed=1):
    train, tu, ti = split
    score, t, model = fit(method, train, threads, seed, **params)
    r = evaluate(score, train, tu, ti, k=10)
    return {"recall": r["recall@k"], "ndcg": r["ndcg@k"], "coverage": r["coverage"], "seconds": t}, model


def grid(method):
    g = GRIDS[method]
    keys = list(g)
    return [dict(zip(keys, vals)) for vals in itertools.product(*(g[k] for k in keys))]


# --------------------------------------------------------------------------- fairness

NEGATIVE_TYPES = {
    "popularity^0.75": lambda k: NegativeSampler(negative=k, ns_exponent=0.75),
    "uniform": lambda k: NegativeSampler(negative=k, noise="uniform"),
    "dynamic (M=20)": lambda k: NegativeSampler(negative=k, ns_exponent=0.0, candidates=20),
    "self-adversarial (alpha=0.5)": lambda k: NegativeSampler(negative=k, ns_exponent=0.0,
                                                              adversarial_temperature=0.5),
    "generator (M=20)": lambda k: NegativeSampler(negative=k, ns_exponent=0.0, candidates=20,
                                                  generator=NegativeGenerator(dim=16)),
}


def fairness(split, k, dim, epochs):
    train, tu, ti = split
    hidden = sp.csr_matrix((np.ones(tu.size, np.float32), (tu, ti)), shape=train.shape)
    out = {}
    for name, make in NEGATIVE_TYPES.items():
        m = ImplicitModel(dim=dim, epochs=epochs, threads=1, seed=1, negatives=make(k))
        m.fit(train, instrument=True, monitor_positives=hidden)
        f = fairness_by_decile(m.item_popularity, m.neg_count, m.neg_grad)
        r = evaluate(m.scores, train, tu, ti, k=10)
        out[name] = {"fairness": f, "adaptive": m.stats["adaptive"], "recall": r["recall@k"], "ndcg": r["ndcg@k"],
                     "seconds": m.stats["train_seconds"]}
    return out


def plot(fair, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    deciles = np.arange(1, 11)
    for name, r in fair.items():
        f = r["fairness"]
        for ax, key in zip(axes, ("coverage", "negative_share", "gradient_share")):
            ax.plot(deciles, f[key], marker="o", label=name)
    inter = next(iter(fair.values()))["fairness"]["interaction_share"]
    for ax, title in zip(axes, ("coverage: share of the decile's items ever used as a negative",
                                "share of negatives", "share of the negatives' gradient norm")):
        if ax is not axes[0]:
            ax.plot(deciles, inter, "k--", label="share of interactions")
            ax.set_yscale("log")
        ax.set_xlabel("item popularity decile (10 = most popular)")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.suptitle("MovieLens 100K leave-last-out: where each negative type puts its negatives and gradient")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)


# --------------------------------------------------------------------------- main

def agreement(split, threads):
    """implicit's ranking_metrics_at_k on our model and on implicit's BPR vs our evaluate."""
    from implicit.evaluation import ranking_metrics_at_k

    train, tu, ti = split
    test = sp.csr_matrix((np.ones(tu.size, np.float32), (tu, ti)), shape=train.shape)
    rows = []
    _, _, ours = fit_ours(train, threads, epochs=5)
    _, _, bpr = fit_implicit("bpr", train, threads, iterations=20)
    for name, model, score in (("ours", ours, ours.scores),
                               ("implicit BPR", bpr, lambda us: bpr.user_factors[us] @ bpr.item_factors.T)):
        theirs = ranking_metrics_at_k(model, train, test, K=10, show_progress=False)
        mine = evaluate(score, train, tu, ti, k=10)
        rows.append((name, mine["recall@k"], theirs["precision"], mine["ndcg@k"], theirs["ndcg"]))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--methods", default="ours,als,bpr,warp")
    ap.add_argument("--skip-fairness", action="store_true")
    ap.add_argument("--json", default=os.path.join(HERE, "results", "recsys_bench.json"))
    ap.add_argument("--plot", default=os.path.join(HERE, "results", "recsys_fairness.png"))
    args = ap.parse_args()
    d = load_interactions(args.data)
    sp_ = splits(d)
    for name, (train, tu, ti) in sp_.items():
        print(f"{name}: {train.nnz} training interactions, {tu.size} test users")
    # warm the numba kernels outside the timings
    fit_ours(sp_["LLO"][0], args.threads, epochs=1, dim=8)
    print("\nagreement with implicit.evaluation.ranking_metrics_at_k (LLO):")
    for name, r_ours, r_imp, n_ours, n_imp in agreement(sp_["LLO"], args.threads):
        print(f"  {name:<14} Recall@10 evaluate {r_ours:.6f} vs implicit precision {r_imp:.6f}; "
              f"NDCG@10 {n_ours:.6f} vs {n_imp:.6f}")
    results = {"grids": GRIDS, "runs": {}, "best": {}, "default": {}}
    for split_name in sp_:
        pop = evaluate(most_popular_scores(sp_[split_name][0]), *sp_[split_name], k=10)
        results["runs"].setdefault("most-popular", {})[split_name] = {"recall": pop["recall@k"], "ndcg": pop["ndcg@k"]}
    for method in args.methods.split(","):
        runs = []
        for params in grid(method):
            r, _ = run(method, params, sp_["LLO"], args.threads)
            runs.append({"params": params, **r})
            print(f"  {method:<5} {json.dumps(params):<62} R@10 {r['recall']:.4f} N@10 {r['ndcg']:.4f} "
                  f"{r['seconds']:6.2f} s", flush=True)
        best = max(runs, key=lambda x: (x["recall"], x["ndcg"]))
        held, _ = run(method, best["params"], sp_["TIME"], args.threads)
        results["runs"][method] = runs
        results["best"][method] = {"params": best["params"], "LLO": {k: best[k] for k in ("recall", "ndcg", "seconds")},
                                   "TIME": held}
    if "ours" in args.methods:
        for split_name in sp_:
            r, m = run("ours", {}, sp_[split_name], args.threads)
            results["default"][split_name] = r
    print(f"\n{'method (best of its grid on LLO)':<34} {'LLO R@10':>8} {'N@10':>7} {'fit s':>6}   "
          f"{'TIME R@10':>9} {'N@10':>7}")
    for split_name in ("most-popular",):
        r = results["runs"]["most-popular"]
        print(f"{'most-popular':<34} {r['LLO']['recall']:8.4f} {r['LLO']['ndcg']:7.4f} {'':>6}   "
              f"{r['TIME']['recall']:9.4f} {r['TIME']['ndcg']:7.4f}")
    for method, b in results["best"].items():
        print(f"{method + ' ' + json.dumps(b['params']):<34.34} {b['LLO']['recall']:8.4f} {b['LLO']['ndcg']:7.4f} "
              f"{b['LLO']['seconds']:6.2f}   {b['TIME']['recall']:9.4f} {b['TIME']['ndcg']:7.4f}")
        print(f"    {json.dumps(b['params'])}")
    if results["default"]:
        a, b = results["default"]["LLO"], results["default"]["TIME"]
        print(f"{'ours, library defaults':<34} {a['recall']:8.4f} {a['ndcg']:7.4f} {a['seconds']:6.2f}   "
              f"{b['recall']:9.4f} {b['ndcg']:7.4f}")
    if not args.skip_fairness:
        fair = fairness(sp_["LLO"], k=5, dim=64, epochs=20)
        results["fairness"] = fair
        print("\nnegative types (k=5, dim 64, 20 epochs, 1 thread, instrumented): LLO quality, cost, hardness, "
              "false negatives")
        print(f"{'negatives':<30} {'R@10':>6} {'N@10':>6} {'fit s':>6} {'scores/pos':>10} {'gen/pos':>7} "
              f"{'margin':>7} {'hard':>6} {'filtered':>8} {'hidden FN':>9}")
        for name, r in fair.items():
            a = r["adaptive"]
            print(f"{name:<30} {r['recall']:6.4f} {r['ndcg']:6.4f} {r['seconds']:6.2f} "
                  f"{a['cost']['scores_per_positive']:10.1f} {a['cost']['generator_scores_per_positive']:7.1f} "
                  f"{a['hardness']['mean_margin']:7.2f} {a['hardness']['hard_fraction']:6.3f} "
                  f"{a['false_negatives']['filtered_rate']:8.4f} {a['false_negatives'].get('hidden_rate', 0):9.5f}")
        print("\nper popularity decile (1 = least popular ... 10 = most popular):")
        for key in ("coverage", "negative_share", "gradient_share"):
            print(f"  {key}")
            for name, r in fair.items():
                print(f"    {name:<30} " + " ".join(f"{x:6.3f}" for x in r["fairness"][key]))
        try:
            plot(fair, args.plot)
            print(f"\nplot written to {args.plot}")
        except ImportError:
            print("(matplotlib not installed: no plot)")
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as fh:
        json.dump(results, fh, indent=1, default=float)
    print(f"results written to {args.json}")


if __name__ == "__main__":
    main()
