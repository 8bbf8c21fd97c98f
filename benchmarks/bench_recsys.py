"""MovieLens 100K: negsample's ImplicitModel against implicit ALS, implicit BPR and LightFM WARP,
each tuned by a grid of the same size on leave-last-out, then checked on a second split held out
of all tuning (leave-two-out); plus the fairness of each negative type (per popularity
decile: coverage, share of draws, share of the negatives' gradient norm), plotted.

Needs implicit (0.7.3) and LightFM (1.17, builds with `pip install --no-build-isolation
lightfm==1.17`), so it runs in its own venv (benchmarks/requirements-bench.txt):

    PYTHONPATH=src /work/venvs/recsys/bin/python benchmarks/bench_recsys.py [--threads 2]
        [--methods ours,als,bpr,warp] [--json benchmarks/results/recsys_bench.json]
        [--plot benchmarks/results/recsys_fairness.png]
    ... benchmarks/bench_recsys.py --halves benchmarks/results/recsys_bench.json   (the picks of a
        full run on two random halves of the users: smaller samples none of them was tuned on)

Splits (over all 943 users' histories):
- leave-last-out (LLO) and leave-three-out (L3O): the tuning splits. LLO: each user's latest
  interaction (by time, file order breaking ties) is the test item; L3O: the three latest leave
  training and the earliest of them is the test item. Each grid point is scored by its mean
  Recall@10 over both splits and seeds 1-3 (NDCG@10 breaks ties).
- leave-two-out (L2O, never tuned on): each user's two latest interactions leave training and
  the earlier of them is the test item (users with >= 3 interactions): other test items, and
  the LLO test item is not trained on. (A global time cutoff was tried first: on ML-100K it
  leaves only 90-134 test users, too few to separate the methods.)
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

# the grids: 8 configurations per method (2 x 2 x 2); ours: per-user sampled softmax (the library's
# defaults otherwise: k = 50 from popularity^0.5, 10 epochs, lr 0.1), none slower than the defaults
GRIDS = {
    "ours": {"reg": [0.01, 0.03], "steps_per_user": [5, 10], "item_context": [True, False]},
    "als": {"factors": [64, 128], "regularization": [0.01, 0.1], "alpha": [1.0, 10.0]},
    "bpr": {"factors": [64, 128], "learning_rate": [0.01, 0.05], "iterations": [100, 300]},
    "warp": {"no_components": [64, 128], "learning_rate": [0.02, 0.05], "epochs": [20, 50]},
}
SEEDS = (1, 2, 3)
OURS_FIXED = {}          # everything else: the library's defaults
# the library's previous default (issue 17's first round): per-example BPR, k = 2 dynamic negatives
# (top of M = 10 candidates from popularity^0.5), 40 epochs, lr 0.05, reg 0.03
OURS_BEFORE = {"negatives": "per-example"}


# --------------------------------------------------------------------------- splits

def leave_k_out_split(d, k):
    """(train mask, test users, test items): each user's k latest interactions (by time, file order
    breaking ties) leave training; the earliest of them is the test item (users with at least
    k + 1 interactions). k = 2 (L2O) and k = 3 (L3O) have test items disjoint from each other's and
    from leave-last-out's, and none of the later held-out items is trained on."""
    n = len(d)
    order = np.lexsort((np.arange(n), d.timestamps, d.users))
    u_sorted = d.users[order]
    starts = np.r_[0, np.flatnonzero(u_sorted[1:] != u_sorted[:-1]) + 1]
    ends = np.r_[starts[1:], n]
    train = np.ones(n, bool)
    tu, ti = [], []
    for s_, e_ in zip(starts, ends):
        if e_ - s_ < k + 1:
            continue
        train[order[e_ - k:e_]] = False
        tu.append(d.users[order[e_ - k]])
        ti.append(d.items[order[e_ - k]])
    return train, np.array(tu, np.int64), np.array(ti, np.int64)


def splits(d):
    mask, test = leave_last_out(d)
    tu = np.flatnonzero(test >= 0)
    out = {"LLO": (d.to_csr(mask), tu, d.items[test[tu]])}
    for name, k in (("L3O", 3), ("L2O", 2)):
        m, tu_k, ti_k = leave_k_out_split(d, k)
        out[name] = (d.to_csr(m), tu_k, ti_k)
    return out


TUNING = ("LLO", "L3O")   # the grids are scored here; L2O is held out of all tuning


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
    "per-user softmax (k=50/group)": lambda k: NegativeSampler(negative=50, ns_exponent=0.5, mode="per-user"),
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
        sampler = make(k)
        # per-example types at `epochs`; per-user with its own default (10 epochs)
        m = ImplicitModel(dim=dim, epochs=epochs if sampler.mode == "per-example" else None, threads=1, seed=1,
                          negatives=sampler)
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


def user_halves(d, seed=42):
    """Two disjoint random halves of the users (re-indexed), each an Interactions of its own: the
    same picks checked on smaller samples none of them was tuned on."""
    from negsample.recsys import Interactions

    perm = np.random.default_rng(seed).permutation(d.n_users)
    out = []
    for part in (perm[: d.n_users // 2], perm[d.n_users // 2:]):
        m = np.isin(d.users, part)
        kept, users = np.unique(d.users[m], return_inverse=True)
        out.append(Interactions(users.astype(np.int64), d.items[m], d.weights[m], d.timestamps[m],
                                [d.user_ids[u] for u in kept], d.item_ids))
    return out


def halves(d, picks, threads):
    """The picks of a previous full run (``picks``: method -> params) on two halves of the users,
    seeds 1-3, LLO and L2O; returns {half: {method: {split: {recall, ndcg, seconds}}}}."""
    out = {}
    for h, part in enumerate(user_halves(d)):
        sp_ = splits(part)
        out[h] = {}
        for method, params in picks.items():
            out[h][method] = {}
            for name in ("LLO", "L2O"):
                rs = [run(method, params, sp_[name], threads, seed=seed)[0] for seed in SEEDS]
                out[h][method][name] = {k: float(np.mean([r[k] for r in rs])) for k in ("recall", "ndcg", "seconds")}
            r = out[h][method]
            print(f"  half {h + 1} ({sp_['LLO'][1].size} test users) {method:<5} LLO {r['LLO']['recall']:.4f} / "
                  f"{r['LLO']['ndcg']:.4f}  L2O {r['L2O']['recall']:.4f} / {r['L2O']['ndcg']:.4f}  "
                  f"fit {r['LLO']['seconds']:.2f} s", flush=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--methods", default="ours,als,bpr,warp")
    ap.add_argument("--skip-fairness", action="store_true")
    ap.add_argument("--json", default=os.path.join(HERE, "results", "recsys_bench.json"))
    ap.add_argument("--plot", default=os.path.join(HERE, "results", "recsys_fairness.png"))
    ap.add_argument("--halves", metavar="JSON", help="only re-run the picks recorded in JSON (a previous "
                    "--json output) on two random halves of the users, seeds 1-3, LLO and L2O")
    args = ap.parse_args()
    d = load_interactions(args.data)
    if args.halves:
        with open(args.halves) as fh:
            picks = {m: b["params"] for m, b in json.load(fh)["best"].items()}
        fit_ours(splits(d)["LLO"][0], args.threads, epochs=1, dim=8)
        print(f"picks of {args.halves} on two halves of the users (seeds {SEEDS}; Recall@10 / NDCG@10):")
        res = halves(d, picks, args.threads)
        out = os.path.splitext(args.halves)[0] + "_halves.json"
        with open(out, "w") as fh:
            json.dump({"picks": picks, "halves": res}, fh, indent=1)
        print(f"results written to {out}")
        return
    sp_ = splits(d)
    for name, (train, tu, ti) in sp_.items():
        print(f"{name}: {train.nnz} training interactions, {tu.size} test users")
    # warm the numba kernels outside the timings
    fit_ours(sp_["LLO"][0], args.threads, epochs=1, dim=8)
    print("\nagreement with implicit.evaluation.ranking_metrics_at_k (LLO):")
    for name, r_ours, r_imp, n_ours, n_imp in agreement(sp_["LLO"], args.threads):
        print(f"  {name:<14} Recall@10 evaluate {r_ours:.6f} vs implicit precision {r_imp:.6f}; "
              f"NDCG@10 {n_ours:.6f} vs {n_imp:.6f}")
    results = {"grids": GRIDS, "runs": {}, "best": {}, "before": {}, "seeds": SEEDS}
    for split_name in sp_:
        pop = evaluate(most_popular_scores(sp_[split_name][0]), *sp_[split_name], k=10)
        results["runs"].setdefault("most-popular", {})[split_name] = {"recall": pop["recall@k"], "ndcg": pop["ndcg@k"]}
    print(f"\ngrids on {' + '.join(TUNING)}, seeds {SEEDS} (selection by the mean Recall@10 over both splits and "
          "the seeds, then NDCG@10):")
    for method in args.methods.split(","):
        runs = []
        for params in grid(method):
            rs = [run(method, params, sp_[name], args.threads, seed=seed)[0] for name in TUNING for seed in SEEDS]
            r = {key: float(np.mean([x[key] for x in rs])) for key in ("recall", "ndcg", "seconds")}
            r.update({f"{name}_{key}": float(np.mean([x[key] for x in rs[j * len(SEEDS):(j + 1) * len(SEEDS)]]))
                      for j, name in enumerate(TUNING) for key in ("recall", "ndcg")})
            runs.append({"params": params, **r})
            print(f"  {method:<5} {json.dumps(params):<62} R@10 {r['recall']:.4f} N@10 {r['ndcg']:.4f} "
                  f"(" + ", ".join(f"{name} {r[name + '_recall']:.4f}/{r[name + '_ndcg']:.4f}" for name in TUNING)
                  + f") {r['seconds']:6.2f} s", flush=True)
        best = max(runs, key=lambda x: (x["recall"], x["ndcg"]))
        results["runs"][method] = runs
        results["best"][method] = {"params": best["params"]}
    finalists = [(m, results["best"][m]["params"]) for m in results["best"]]
    if "ours" in args.methods:
        finalists.append(("ours-before", OURS_BEFORE))
    print(f"\nbest configuration of each grid (and ours' previous default), seeds {SEEDS}, LLO, L3O and held-out L2O:")
    for method, params in finalists:
        per = {}
        for split_name in sp_:
            rs = [run("ours" if method == "ours-before" else method, params, sp_[split_name], args.threads,
                      seed=s)[0] for s in SEEDS]
            per[split_name] = {key: [r[key] for r in rs] for key in ("recall", "ndcg", "seconds", "coverage")}
        (results["before"] if method == "ours-before" else results["best"][method]).update(per)
        print(f"  {method:<12} {json.dumps(params)}", flush=True)
    names = list(sp_)
    print(f"\n{'method':<13} {'fit s':>6} " + " ".join(f"{n + ' R@10':>15} {n + ' N@10':>15}" for n in names))
    mp = results["runs"]["most-popular"]
    print(f"{'most-popular':<13} {'':>6} " + " ".join(f"{mp[n]['recall']:15.4f} {mp[n]['ndcg']:15.4f}" for n in names))
    for method in list(results["best"]) + (["ours-before"] if results["before"] else []):
        b = results["before"] if method == "ours-before" else results["best"][method]

        def ms(x):
            return f"{np.mean(x):.4f} ± {np.std(x):.4f}"

        print(f"{method:<13} {np.mean(b['LLO']['seconds']):6.2f} "
              + " ".join(f"{ms(b[n]['recall']):>15} {ms(b[n]['ndcg']):>15}" for n in names))
    if "ours" in results["best"] and len(results["best"]) > 1:
        # the goal: ours >= the best baseline on each split and metric, at <= 3x its time
        ours = results["best"]["ours"]
        print("\nours against the best baseline (3-seed means):")
        for split_name in sp_:
            for key in ("recall", "ndcg"):
                base = max((m for m in results["best"] if m != "ours"),
                           key=lambda m: np.mean(results["best"][m][split_name][key]))
                o, b = np.mean(ours[split_name][key]), np.mean(results["best"][base][split_name][key])
                print(f"  {split_name} {key:<6} ours {o:.4f} vs {base} {b:.4f}: {o - b:+.4f}")
        t_o = np.mean(ours["LLO"]["seconds"])
        for base in (m for m in results["best"] if m != "ours"):
            t_b = np.mean(results["best"][base]["LLO"]["seconds"])
            print(f"  fit time (LLO, mean of 3) ours {t_o:.2f} s vs {base} {t_b:.2f} s: {t_o / t_b:.2f}x")
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
