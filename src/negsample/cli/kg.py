"""`negsample kg train|eval|predict`: the command-line face of negsample.kg.

TRIPLES arguments are a ``head<TAB>relation<TAB>tail`` file or a prefix P with P.train.tsv,
P.valid.tsv and P.test.tsv next to it (the layout of ../shared/data/kg).
"""
from __future__ import annotations

import sys

from .._common import NegsampleError
from ._options import add_negatives, format_loss, add_output, add_run_options, print_json, say, subparser

MODELS = ("transe", "distmult", "complex", "rotate")


def add_cli(subparsers):
    p = subparsers.add_parser("kg", help="knowledge-graph embeddings (TransE, DistMult, ComplEx, RotatE) with "
                                         "corruption negatives; filtered link prediction")
    sub = p.add_subparsers(dest="kg_command", metavar="SUBCOMMAND")

    t = subparser(sub, "train", help="train a model on training triples")
    t.add_argument("triples", help="training triples file, or a prefix P with P.train.tsv (+ .valid/.test.tsv)")
    add_output(t, help="model file to write (.npz, negsample archive)")
    t.add_argument("--model", choices=MODELS, default="rotate", help="scoring function")
    t.add_argument("--dim", type=int, default=100, help="embedding dimension (complex components for complex/rotate)")
    add_negatives(t, negative=32, modes=("per-example", "shared"), noise_of="entity count",
                  mode_help="k fresh corruptions per positive, or one pool per block of --batch-size positives")
    t.add_argument("--noise", choices=("uniform", "frequency"), default="uniform",
                   help="distribution of the replacement entity (frequency: count^ALPHA, see --ns-exponent)")
    t.add_argument("--corruption", choices=("uniform", "bernoulli"), default="uniform",
                   help="which side to corrupt: head or tail with probability 1/2, or Bernoulli tph/(tph+hpt)")
    t.add_argument("--filtered", action="store_true", help="redraw corruptions that are known training triples")
    t.add_argument("--loss", choices=("nssa", "margin"), default=None,
                   help="self-adversarial log-sigmoid loss or margin ranking (default: nssa)")
    t.add_argument("--margin", type=float, default=None,
                   help="margin gamma (default: 6 for transe/rotate, 0 for distmult/complex)")
    t.add_argument("--adversarial-temperature", type=float, default=None,
                   help="self-adversarial weights softmax(T * score) over each positive's negatives; 0: uniform "
                        "(default: 1 for rotate, 0 otherwise)")
    t.add_argument("--p-norm", type=int, choices=(1, 2), default=None,
                   help="distance norm of transe/rotate (rotate 1: sum of complex moduli, 2: L2 as PyKEEN; "
                        "default 1)")
    t.add_argument("--optimizer", choices=("adam", "lazy_adam", "adagrad", "sgd"), default="adam",
                   help="adam: torch.optim.Adam's semantics (every row follows its momentum each step); lazy_adam: "
                        "rows move only with a gradient")
    t.add_argument("--parallel", choices=("auto", "hogwild", "sync"), default="auto",
                   help="threads: hogwild (each thread its own steps on shared tables), sync (each step split "
                        "across threads, one summed update; deterministic), auto (sync when a step touches about "
                        "every entity)")
    t.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    t.add_argument("--reg", type=float, default=0.0, help="L2 penalty on the rows of each positive")
    t.add_argument("--batch-size", type=int, default=256, help="positives per optimizer step (per thread)")
    t.add_argument("--epochs", type=int, default=50, help="passes over the training triples")
    t.add_argument("--eval", action="store_true", help="evaluate on the test split of a prefix after training")
    add_run_options(t)
    t.set_defaults(func=cmd_train)

    e = subparser(sub, "eval", help="filtered link prediction (MRR, Hits@1/3/10) of a model on test triples")
    e.add_argument("model", help="model file written by `negsample kg train`")
    e.add_argument("triples", help="test triples file, or a prefix P (P.test.tsv is evaluated)")
    e.add_argument("--known", nargs="*", metavar="FILE", default=None,
                   help="files of true triples to filter (default with a prefix: its train, valid and test)")
    e.add_argument("--raw", action="store_true", help="rank among all entities without filtering known triples")
    e.add_argument("--per-relation", action="store_true", help="also print the metrics of each relation")
    add_run_options(e, with_seed=False)
    e.set_defaults(func=cmd_eval)

    pr = subparser(sub, "predict", help="top-k tails of (HEAD, RELATION, ?) or heads of (?, RELATION, TAIL)")
    pr.add_argument("model", help="model file written by `negsample kg train`")
    pr.add_argument("relation", help="relation name")
    g = pr.add_mutually_exclusive_group(required=True)
    g.add_argument("--head", help="head entity: predict tails")
    g.add_argument("--tail", help="tail entity: predict heads")
    pr.add_argument("-n", "--topn", type=int, default=10, help="number of answers")
    pr.add_argument("--exclude", nargs="*", metavar="FILE", default=None,
                    help="leave out answers that form a triple in these files (e.g. the training triples)")
    pr.add_argument("--json", action="store_true", help="print the answers as a JSON list")
    pr.set_defaults(func=cmd_predict)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _metrics_line(name, m):
    return (f"{name:<6} MRR {m['mrr']:.4f}  MR {m['mr']:.1f}  Hits@1 {m['hits@1']:.4f}  Hits@3 {m['hits@3']:.4f}  "
            f"Hits@10 {m['hits@10']:.4f}  ({m['count']} ranks)")


def _summary(res):
    return {k: v for k, v in res.items() if k != "ranks"}


def cmd_train(args):
    from ..io import check_output_path
    from ..kg import KGModel, load_kg, resolve_split

    train, valid, test = resolve_split(args.triples)
    check_output_path(args.output, [train, valid, test])
    data = load_kg(train, valid, test)
    model = KGModel(args.model, dim=args.dim, negative=args.negative, negatives=args.negatives, noise=args.noise,
                    ns_exponent=args.ns_exponent, corruption=args.corruption, filtered=args.filtered, loss=args.loss,
                    margin=args.margin, adversarial_temperature=args.adversarial_temperature, p_norm=args.p_norm,
                    optimizer=args.optimizer, lr=args.lr, reg=args.reg, batch_size=args.batch_size,
                    epochs=args.epochs, threads=args.threads, seed=args.seed, parallel=args.parallel)
    say(args, f"{data.n_entities} entities, {data.n_relations} relations, {len(data.train)} training triples")
    model.fit(data, progress=not (args.quiet or args.json))
    model.save(args.output, inputs=[train])
    st = model.stats_
    out = {"data": data.stats(), "params": model.params(), "train_seconds": st["train_seconds"],
           "final_loss": st["epoch_losses"][-1] if st["epoch_losses"] else None, "filter": st["filter"],
           "output": args.output}
    if args.eval:
        if len(data.test) == 0:
            raise NegsampleError("--eval needs a prefix with a .test.tsv split")
        res = model.evaluate(data.test, known=data.all_triples())
        out["test"] = _summary(res)
    if args.json:
        print_json(out)
    else:
        fs = st["filter"]
        say(args, f"trained {args.model} in {st['train_seconds']:.2f} s, final loss {format_loss(out['final_loss'])}; "
                  f"corruptions redrawn {fs['redrawn']}, dropped {fs['dropped']} of {fs['total']}; "
                  f"wrote {args.output}")
        if args.eval:
            for side in ("head", "tail", "both"):
                print(_metrics_line(side, out["test"][side]))
    return 0


def _read_known(model, files):
    import numpy as np

    from ..kg import read_triples

    arrs = []
    for f in files:
        a, _ = model.map_triples(read_triples(f))
        arrs.append(a)
    return np.concatenate(arrs) if arrs else None


def cmd_eval(args):
    import os

    from ..kg import KGModel, read_triples, resolve_split

    model = KGModel.load(args.model)
    model.threads = args.threads
    if os.path.isfile(args.triples):
        test_path, known_files = args.triples, []
    else:
        train, valid, test_path = resolve_split(args.triples)
        if test_path is None:
            raise NegsampleError(f"no test split {args.triples}.test.tsv")
        known_files = [f for f in (train, valid) if f]
    if args.known is not None:
        known_files = args.known
    test, dropped = model.map_triples(read_triples(test_path))
    if len(test) == 0:
        raise NegsampleError(f"{test_path}: no triple with entities and relations known to the model")
    known = None if args.raw else _read_known(model, known_files)
    res = model.evaluate(test, known=known, filtered=not args.raw, per_relation=args.per_relation)
    out = _summary(res)
    out["dropped_unknown"] = dropped
    if args.json:
        print_json(out)
        return 0
    kind = "raw" if args.raw else "filtered"
    say(args, f"{len(test)} test triples ({dropped} dropped: unknown entity or relation), {kind} ranks, "
              f"{res['seconds']:.2f} s")
    for side in ("head", "tail", "both"):
        print(_metrics_line(side, res[side]))
    if args.per_relation:
        for name, m in res["per_relation"].items():
            print(_metrics_line("", m).replace("MRR", f"{name} MRR", 1).lstrip())
    return 0


def cmd_predict(args):
    from ..kg import KGModel

    model = KGModel.load(args.model)
    exclude = _read_known(model, args.exclude) if args.exclude else None
    ans = model.predict(args.relation, head=args.head, tail=args.tail, topn=args.topn, exclude=exclude)
    if args.json:
        print_json([{"entity": e, "score": s} for e, s in ans])
    else:
        for e, s in ans:
            sys.stdout.write(f"{e}\t{s:.4f}\n")
    return 0
