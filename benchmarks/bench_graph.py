"""Graph embeddings: negsample (walk kernels + shared-negative SGNS) vs PecanPy walks + gensim
Word2Vec, same settings, one run: walk+training time, link-prediction AUC per negative type (same
held-out split and negatives for both), node-classification macro-F1 where labels exist.

    .venv/bin/python benchmarks/bench_graph.py [--graphs email-Enron polblogs football]
        [--walks-per-node 10] [--walk-length 80] [--window 10] [--dim 128] [--negative 5]
        [--p 1 --q 1]      # e.g. --p 0.5 --q 2 for node2vec walks on both sides
    .venv/bin/python benchmarks/bench_graph.py --compare-negatives [--graphs email-Enron polblogs] [--seeds 1 2]
        # ours only: uniform / degree / dynamic / self-adversarial TRAINING negatives (per-example),
        # link prediction against uniform, degree and 2-hop (hard) EVALUATION negatives

Graphs are used undirected (the usual setting for these data). PecanPy 2.0.9 imports numpy
aliases removed in numpy 2 (np.bool8, ...); this script restores them before importing it.
PecanPy's SparseOTF mode is used (default p = q = 1: DeepWalk-equivalent first-order walks; with
--p/--q both sides run node2vec's second-order walks, ours by rejection sampling).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from negsample.graph import embed, link_prediction, load_edgelist, load_labels, node_classification, split_edges

HERE = os.path.dirname(os.path.abspath(__file__))
GRAPHS = os.path.abspath(os.path.join(HERE, "..", "..", "shared", "data", "graphs"))


def pecanpy_gensim(train, args):
    for name, val in dict(bool8=np.bool_, object0=np.object_, int0=np.intp, uint0=np.uintp, void0=np.void,
                          bytes0=np.bytes_, str0=np.str_, float_=np.float64, complex_=np.complex128,
                          string_=np.bytes_, unicode_=np.str_, longfloat=np.longdouble, singlecomplex=np.complex64,
                          cfloat=np.complex128, longcomplex=np.clongdouble, clongfloat=np.clongdouble).items():
        if not hasattr(np, name):
            setattr(np, name, val)
    from gensim.models import Word2Vec
    from pecanpy import pecanpy

    edges = train.edge_list()
    with tempfile.NamedTemporaryFile("w", suffix=".edg", delete=False) as fh:
        for u, v in edges:
            fh.write(f"{u}\t{v}\n")
        path = fh.name
    t0 = time.perf_counter()
    g = pecanpy.SparseOTF(p=args.p, q=args.q, workers=args.threads, verbose=False, random_state=1)
    g.read_edg(path, weighted=False, directed=False)
    walks = g.simulate_walks(num_walks=args.walks_per_node, walk_length=args.walk_length)
    t_walk = time.perf_counter() - t0
    t1 = time.perf_counter()
    model = Word2Vec(walks, vector_size=args.dim, window=args.window, min_count=0, sg=1, hs=0,
                     negative=args.negative, workers=args.threads, epochs=args.epochs, seed=1)
    t_train = time.perf_counter() - t1
    os.unlink(path)
    Z = np.zeros((train.n_nodes, args.dim), np.float32)
    for key in model.wv.index_to_key:
        Z[int(key)] = model.wv[key]
    return Z, t_walk, t_train


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--graphs", nargs="+", default=["email-Enron", "polblogs", "football"])
    ap.add_argument("--walks-per-node", type=int, default=10)
    ap.add_argument("--walk-length", type=int, default=80)
    ap.add_argument("--window", type=int, default=10)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--negative", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--p", type=float, default=1.0, help="node2vec return parameter (both sides)")
    ap.add_argument("--q", type=float, default=1.0, help="node2vec in-out parameter (both sides)")
    ap.add_argument("--negatives", choices=["shared", "per-example"], default="shared",
                    help="our SGNS negatives (gensim always draws per example)")
    ap.add_argument("--compare-negatives", action="store_true",
                    help="compare our training negative types instead of running PecanPy+gensim")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1], help="seeds for --compare-negatives")
    ap.add_argument("--kinds", nargs="+", help="subset of the training negative types to compare")
    args = ap.parse_args()
    if args.compare_negatives:
        return compare_negatives(args)
    print(f"settings: {args.walks_per_node} walks/node x {args.walk_length}, window {args.window}, dim {args.dim}, "
          f"negative {args.negative}, {args.epochs} epoch, {args.threads} threads; undirected graphs; "
          f"{'DeepWalk walks' if (args.p, args.q) == (1.0, 1.0) else f'node2vec walks p={args.p} q={args.q}'}; "
          f"our negatives: {args.negatives}")
    method = "deepwalk" if (args.p, args.q) == (1.0, 1.0) else "node2vec"
    # compile our kernels outside the timings
    tiny = load_edgelist(os.path.join(GRAPHS, "karate.edges.tsv"), directed=False)
    embed(tiny, dim=8, walks_per_node=1, walk_length=5, method=method, p=args.p, q=args.q)
    for name in args.graphs:
        g = load_edgelist(os.path.join(GRAPHS, f"{name}.edges.tsv"), directed=False)
        train, test = split_edges(g, 0.1, seed=0)
        t0 = time.perf_counter()
        ours, st = embed(train, method=method, p=args.p, q=args.q, negatives=args.negatives, dim=args.dim,
                         window=args.window, negative=args.negative, walks_per_node=args.walks_per_node,
                         walk_length=args.walk_length, epochs=args.epochs, threads=args.threads, seed=1)
        t_ours = time.perf_counter() - t0
        theirs, tw, tt = pecanpy_gensim(train, args)
        t_theirs = tw + tt
        print(f"\n{name}: {g.n_nodes} nodes, {g.stats['edges']} edges, {len(test)} held out")
        print(f"  time   ours {t_ours:7.2f} s (walks {st['walk_seconds']:.2f} + train {st['train_seconds']:.2f})   "
              f"PecanPy+gensim {t_theirs:7.2f} s (walks {tw:.2f} + train {tt:.2f})   speed-up {t_theirs / t_ours:.2f}x")
        lp_o = link_prediction(g, vectors=ours, split=(train, test), seed=0)
        lp_t = link_prediction(g, vectors=theirs, split=(train, test), seed=0)
        for kind in lp_o["types"]:
            for scorer in ("dot", "hadamard-lr"):
                a, b = lp_o["types"][kind][scorer], lp_t["types"][kind][scorer]
                print(f"  linkpred {kind:<8} {scorer:<12} AUC ours {a['auc']:.4f} theirs {b['auc']:.4f} "
                      f"(diff {a['auc'] - b['auc']:+.4f})  MRR {a['mrr']:.3f}/{b['mrr']:.3f}  Hits@10 "
                      f"{a['hits@10']:.3f}/{b['hits@10']:.3f}")
        labels = os.path.join(GRAPHS, f"{name}.labels.tsv")
        if os.path.exists(labels):
            full_o, _ = embed(g, method=method, p=args.p, q=args.q, negatives=args.negatives, dim=args.dim, window=args.window, negative=args.negative,
                              walks_per_node=args.walks_per_node, walk_length=args.walk_length, epochs=args.epochs,
                              threads=args.threads, seed=1)
            full_t, _, _ = pecanpy_gensim(g, args)
            nodes, y = load_labels(labels, g)
            co, ct = node_classification(full_o, nodes, y), node_classification(full_t, nodes, y)
            print(f"  node classification macro-F1 ours {co['macro_f1']:.4f} theirs {ct['macro_f1']:.4f}; "
                  f"micro-F1 ours {co['micro_f1']:.4f} theirs {ct['micro_f1']:.4f}")


def compare_negatives(args):
    """Training negatives that adapt to the model (issue 17) against fixed ones, scored on hard
    (2-hop) evaluation negatives."""
    from negsample import NegativeSampler

    kinds = {
        "uniform": dict(ns_exponent=0.0),
        "degree^0.75": dict(ns_exponent=0.75),
        "dynamic M=20": dict(ns_exponent=0.75, candidates=20),
        "self-adversarial a=1": dict(ns_exponent=0.75, adversarial_temperature=1.0),
        "dynamic + nbr filter": dict(ns_exponent=0.75, candidates=20, filter_neighbours=True),
        "degree + nbr filter": dict(ns_exponent=0.75, filter_neighbours=True),
    }
    if args.kinds:
        kinds = {k: v for k, v in kinds.items() if k in args.kinds}
    print(f"training negatives compared (per-example, k={args.negative}); {args.walks_per_node} walks/node x "
          f"{args.walk_length}, window {args.window}, dim {args.dim}, seeds {args.seeds}")
    tiny = load_edgelist(os.path.join(GRAPHS, "karate.edges.tsv"), directed=False)
    for kw in kinds.values():   # compile outside the timings
        kw = {k: v for k, v in kw.items() if k != "filter_neighbours"}
        embed(tiny, dim=8, walks_per_node=1, walk_length=5,
              negatives=NegativeSampler(negative=2, mode="per-example", **kw))
    for name in args.graphs:
        g = load_edgelist(os.path.join(GRAPHS, f"{name}.edges.tsv"), directed=False)
        train, test = split_edges(g, 0.1, seed=0)
        print(f"\n{name}: {g.n_nodes} nodes, {g.stats['edges']} edges, {len(test)} held out")
        print(f"  {'training negatives':<22} {'train s':>7} {'scores/pos':>10}   "
              + "   ".join(f"{e + ' AUC/MRR':>17}" for e in ("uniform", "degree", "2hop")) + "   (dot scorer; mean of seeds)")
        for label, kw in kinds.items():
            rows, secs, cost = [], [], []
            for seed in args.seeds:
                kw = dict(kw)
                if kw.pop("filter_neighbours", False):     # never push a node away from its training neighbours
                    kw["known_positives"] = train.csr
                sampler = NegativeSampler(negative=args.negative, mode="per-example", **kw)
                vecs, st = embed(train, dim=args.dim, window=args.window, walks_per_node=args.walks_per_node,
                                 walk_length=args.walk_length, epochs=args.epochs, threads=args.threads, seed=seed,
                                 negatives=sampler)
                secs.append(st["train_seconds"])
                cost.append(args.negative if st["adaptive"] is None or kw.get("candidates") is None
                            else st["adaptive"]["extra_scores_per_positive"])
                lp = link_prediction(g, vectors=vecs, split=(train, test), seed=0)
                rows.append([(lp["types"][e]["dot"]["auc"], lp["types"][e]["dot"]["mrr"])
                             for e in ("uniform", "degree", "2hop")])
            r = np.mean(np.array(rows), axis=0)
            print(f"  {label:<22} {np.mean(secs):7.2f} {np.mean(cost):10.1f}   "
                  + "   ".join(f"{auc:8.4f}/{mrr:.4f}" for auc, mrr in r))


if __name__ == "__main__":
    main()
