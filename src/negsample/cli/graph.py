"""`negsample graph embed|linkpred|classify`: the command-line face of negsample.graph."""
from __future__ import annotations

import json

import scipy.sparse as sp

from .._common import NegsampleError
from ..graph import (NEGATIVE_TYPES, Graph, embed, link_prediction, load_edgelist, load_labels,
                     node_classification)


def _add_embed_args(p):
    p.add_argument("--method", choices=["deepwalk", "node2vec"], default="deepwalk")
    p.add_argument("--p", type=float, default=1.0)
    p.add_argument("--q", type=float, default=1.0)
    p.add_argument("--walk-length", type=int, default=80)
    p.add_argument("--walks-per-node", type=int, default=10)
    p.add_argument("--window", type=int, default=10)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--negative", type=int, default=5)
    p.add_argument("--ns-exponent", type=float, default=0.75, help="negatives ~ degree^alpha")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--lr", type=float, default=0.0125,
                   help="initial learning rate (0.0125: half word2vec's, better link prediction on walks)")
    p.add_argument("--sample", type=float, default=1e-3, help="subsampling threshold for frequent nodes")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--sgns-negatives", choices=["shared", "per-example"], default="shared",
                   help="share each window's negatives (default; several times faster) or draw k per pair "
                        "(slower, higher AUC on some graphs: see benchmarks/RESULTS.md)")
    d = p.add_mutually_exclusive_group()
    d.add_argument("--directed", dest="directed", action="store_true", default=None,
                   help="treat edges as directed (default: the file header's directed=..., else undirected)")
    d.add_argument("--undirected", dest="directed", action="store_false")
    p.add_argument("--json", action="store_true")


def _embed_kwargs(args):
    return dict(method=args.method, p=args.p, q=args.q, walk_length=args.walk_length,
                walks_per_node=args.walks_per_node, window=args.window, dim=args.dim, negative=args.negative,
                ns_exponent=args.ns_exponent, sample=args.sample, epochs=args.epochs, lr=args.lr, threads=args.threads,
                seed=args.seed, negatives=args.sgns_negatives)


def add_cli(subparsers):
    p = subparsers.add_parser("graph", help="graph embeddings, link prediction, node classification")
    sub = p.add_subparsers(dest="graph_command", metavar="SUBCOMMAND")
    e = sub.add_parser("embed", help="DeepWalk/node2vec walks + SGNS")
    e.add_argument("edges")
    e.add_argument("-o", "--output", required=True)
    e.add_argument("--format", choices=["binary", "text"], default="text")
    _add_embed_args(e)
    e.set_defaults(func=cmd_embed)
    lp = sub.add_parser("linkpred", help="held-out edges ranked against uniform / degree / 2-hop negatives")
    lp.add_argument("edges")
    lp.add_argument("--test-fraction", type=float, default=0.1)
    lp.add_argument("--negatives", default="uniform,degree,2hop")
    lp.add_argument("--n-negatives", type=int, default=50)
    _add_embed_args(lp)
    lp.set_defaults(func=cmd_linkpred)
    c = sub.add_parser("classify", help="node classification F1 from vectors and labels")
    c.add_argument("vectors")
    c.add_argument("labels")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_classify)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def cmd_embed(args):
    from ..vectors import KeyedVectors

    g = load_edgelist(args.edges, directed=args.directed)
    vecs, st = embed(g, **_embed_kwargs(args))
    KeyedVectors(g.node_ids, vecs).save_word2vec_format(args.output, binary=args.format == "binary")
    out = dict(g.stats, **st, output=args.output)
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{g.stats['nodes']} nodes, {g.stats['edges']} edges ({g.stats['self_loops_dropped']} self-loops dropped, "
              f"{g.stats['duplicate_edges_merged']} duplicates merged, {g.stats['isolated_nodes']} isolated); "
              f"walks {st['walk_seconds']:.2f} s + training {st['train_seconds']:.2f} s; wrote {args.output}")
    return 0


def cmd_linkpred(args):
    g = load_edgelist(args.edges, directed=args.directed)
    kinds = [k.strip() for k in args.negatives.split(",") if k.strip()]
    for k in kinds:
        if k not in NEGATIVE_TYPES:
            raise NegsampleError(f"unknown negative type {k!r}; choose from {', '.join(NEGATIVE_TYPES)}")
    res = link_prediction(g, test_fraction=args.test_fraction, negative_types=kinds, n_negatives=args.n_negatives,
                          seed=args.seed, embed_kwargs=_embed_kwargs(args))
    if args.json:
        print(json.dumps(res))
    else:
        print(f"{res['test_edges']} held-out edges, {args.n_negatives} negatives each")
        print(f"{'negatives':<10} {'scorer':<12} {'AUC':>7} {'MRR':>7} {'Hits@10':>8}")
        for kind, r in res["types"].items():
            for scorer in ("dot", "hadamard-lr"):
                m = r[scorer]
                print(f"{kind:<10} {scorer:<12} {m['auc']:7.4f} {m['mrr']:7.4f} {m['hits@10']:8.4f}")
    return 0


def cmd_classify(args):
    from ..vectors import KeyedVectors

    kv = KeyedVectors.load_word2vec_format(args.vectors)
    g = Graph(sp.csr_matrix((len(kv), len(kv))), kv.index_to_key, False, False)
    nodes, labels = load_labels(args.labels, g)
    res = node_classification(kv.vectors, nodes, labels)
    print(json.dumps(res) if args.json else
          f"{res['nodes']} labelled nodes, {res['folds']}-fold CV: micro-F1 {res['micro_f1']:.4f}, macro-F1 {res['macro_f1']:.4f}")
    return 0
