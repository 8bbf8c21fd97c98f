"""`negsample graph embed|linkpred|classify`: the command-line face of negsample.graph."""
from __future__ import annotations

import sys

from .._common import NegsampleError
from ._options import (adaptive_kwargs, add_adaptive, add_negatives, add_output, add_run_options, print_json,
                       say, subparser)


def _add_embed_args(p):
    p.add_argument("--method", choices=["deepwalk", "node2vec"], default="deepwalk", help="walk strategy")
    p.add_argument("--p", type=float, default=1.0, help="node2vec return parameter")
    p.add_argument("--q", type=float, default=1.0, help="node2vec in-out parameter")
    p.add_argument("--walk-length", type=int, default=80, help="nodes per walk")
    p.add_argument("--walks-per-node", type=int, default=10, help="walks started at every node")
    p.add_argument("--window", type=int, default=10, help="maximum window radius over the walks")
    p.add_argument("--dim", type=int, default=128, help="vector dimension")
    add_negatives(p, 5, 0.75, modes=("shared", "per-example"), noise_of="degree",
                  mode_help="share each window's negatives (several times faster) or draw k per pair (slower, "
                            "higher AUC on some graphs: see benchmarks/RESULTS.md)")
    add_adaptive(p)
    p.add_argument("--epochs", type=int, default=1, help="passes over the walks")
    p.add_argument("--lr", type=float, default=0.0125,
                   help="initial learning rate (half word2vec's: better link prediction on walks)")
    p.add_argument("--sample", type=float, default=1e-3, help="subsampling threshold for frequent nodes (0: off)")
    d = p.add_mutually_exclusive_group()
    d.add_argument("--directed", dest="directed", action="store_true", default=None,
                   help="treat edges as directed (default: the file header's directed=..., else undirected)")
    d.add_argument("--undirected", dest="directed", action="store_false", help="treat edges as undirected")
    add_run_options(p)


def _embed_kwargs(args):
    negatives = args.negatives
    adaptive = adaptive_kwargs(args)
    if adaptive:
        from ..samplers import NegativeSampler

        negatives = NegativeSampler(negative=args.negative, ns_exponent=args.ns_exponent, mode=args.negatives,
                                    **adaptive)
    return dict(method=args.method, p=args.p, q=args.q, walk_length=args.walk_length,
                walks_per_node=args.walks_per_node, window=args.window, dim=args.dim, negative=args.negative,
                ns_exponent=args.ns_exponent, sample=args.sample, epochs=args.epochs, lr=args.lr, threads=args.threads,
                seed=args.seed, negatives=negatives, progress=not (args.quiet or args.json))


def add_cli(subparsers):
    from ..graph import EVAL_NEGATIVES

    p = subparsers.add_parser("graph", help="graph embeddings, link prediction, node classification",
                              description="DeepWalk / node2vec walks + SGNS (see docs/graph.md).")
    sub = p.add_subparsers(dest="graph_command", metavar="SUBCOMMAND")
    e = subparser(sub, "embed", help="DeepWalk/node2vec walks + SGNS")
    e.add_argument("edges", help="edge list: 'source target [weight]' per line, '#' comments")
    add_output(e, help="vectors file to write: .npz (vectors + node ids), .npy (+ PATH.ids.txt) or the word2vec "
                       "format (--format)")
    e.add_argument("--format", choices=["binary", "text"], default="text",
                   help="word2vec format of outputs not ending in .npz / .npy")
    _add_embed_args(e)
    e.set_defaults(func=cmd_embed)
    lp = subparser(sub, "linkpred", help="held-out edges ranked against uniform / degree / 2-hop negatives")
    lp.add_argument("edges", help="edge list")
    lp.add_argument("--test-fraction", type=float, default=0.1, help="share of edges held out (never a spanning forest)")
    lp.add_argument("--eval-negatives", default=",".join(EVAL_NEGATIVES),
                    help=f"comma-separated evaluation negative types ({', '.join(EVAL_NEGATIVES)})")
    lp.add_argument("--eval-negative", type=int, default=50, metavar="K",
                    help="evaluation negatives per held-out edge")
    _add_embed_args(lp)
    lp.set_defaults(func=cmd_linkpred)
    c = subparser(sub, "classify", help="node classification F1 from vectors and labels")
    c.add_argument("vectors", help="vectors file (from graph embed)")
    c.add_argument("labels", help="'node<TAB>label' file (header optional)")
    c.add_argument("--seed", type=int, default=0, help="seed of the cross-validation folds")
    c.add_argument("--json", action="store_true", help="print one JSON object")
    c.add_argument("--quiet", action="store_true", help="no summary line")
    c.set_defaults(func=cmd_classify)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def cmd_embed(args):
    from ..graph import embed, load_edgelist
    from ..io import check_output_path
    from ..vectors import KeyedVectors

    check_output_path(args.output, inputs=[args.edges])
    g = load_edgelist(args.edges, directed=args.directed)
    vecs, st = embed(g, **_embed_kwargs(args))
    if args.output.endswith((".npz", ".npy")):
        from ..graph import save_embeddings

        save_embeddings(args.output, vecs, g.node_ids, inputs=[args.edges])
    else:
        KeyedVectors(g.node_ids, vecs).save_word2vec_format(args.output, binary=args.format == "binary",
                                                            inputs=[args.edges])
    out = dict(g.stats, **st, output=args.output)
    if args.json:
        print_json(out)
    else:
        say(args, f"{g.stats['nodes']} nodes, {g.stats['edges']} edges ({g.stats['self_loops_dropped']} self-loops "
                  f"dropped, {g.stats['duplicate_edges_merged']} duplicates merged, {g.stats['isolated_nodes']} "
                  f"isolated); walks {st['walk_seconds']:.2f} s + training {st['train_seconds']:.2f} s; "
                  f"wrote {args.output}")
    return 0


def cmd_linkpred(args):
    from ..graph import EVAL_NEGATIVES, link_prediction, load_edgelist

    kinds = [k.strip() for k in args.eval_negatives.split(",") if k.strip()]
    if not kinds:
        raise NegsampleError("--eval-negatives names no type")
    for k in kinds:
        if k not in EVAL_NEGATIVES:
            raise NegsampleError(f"unknown evaluation negative type {k!r}; choose from {', '.join(EVAL_NEGATIVES)}")
    if args.eval_negative < 1:
        raise NegsampleError(f"--eval-negative must be >= 1, got {args.eval_negative}")
    import sklearn  # noqa: F401  (a missing extra is reported before any work)

    g = load_edgelist(args.edges, directed=args.directed)
    res = link_prediction(g, test_fraction=args.test_fraction, eval_negatives=kinds, eval_negative=args.eval_negative,
                          seed=args.seed, embed_kwargs=_embed_kwargs(args))
    if args.json:
        print_json(res)
    else:
        print(f"{res['test_edges']} held-out edges, {args.eval_negative} negatives each")
        print(f"{'negatives':<10} {'scorer':<12} {'AUC':>7} {'MRR':>7} {'Hits@10':>8}")
        for kind, r in res["types"].items():
            for scorer in ("dot", "hadamard-lr"):
                m = r[scorer]
                print(f"{kind:<10} {scorer:<12} {m['auc']:7.4f} {m['mrr']:7.4f} {m['hits@10']:8.4f}")
    return 0


def cmd_classify(args):
    import scipy.sparse as sp

    from ..graph import Graph, load_labels, node_classification
    from ..vectors import KeyedVectors

    kv = KeyedVectors.load_word2vec_format(args.vectors)
    g = Graph(sp.csr_matrix((len(kv), len(kv))), kv.index_to_key, False, False)
    nodes, labels = load_labels(args.labels, g)
    res = node_classification(kv.vectors, nodes, labels, seed=args.seed)
    if args.json:
        print_json(res)
    else:
        print(f"{res['nodes']} labelled nodes, {res['folds']}-fold CV: micro-F1 {res['micro_f1']:.4f}, "
              f"macro-F1 {res['macro_f1']:.4f}", file=sys.stdout)
    return 0
