"""`negsample word2vec train|eval|query` — the command-line face of word2vec.py, vectors.py and
evaluate.py."""
from __future__ import annotations

import json
import sys
import warnings
from importlib import resources

from .._common import NegsampleError


def bundled(name: str) -> str:
    """Path of a file shipped in negsample/data (demo corpus, evaluation sets)."""
    return str(resources.files("negsample").joinpath("data", name))


def add_cli(subparsers):
    p = subparsers.add_parser("word2vec", help="skip-gram with negative sampling: train, evaluate, query")
    sub = p.add_subparsers(dest="w2v_command", metavar="SUBCOMMAND")

    t = sub.add_parser("train", help="train word vectors on a corpus (plain, .gz, .bz2, .xz)")
    t.add_argument("corpus")
    t.add_argument("-o", "--output", required=True, help="vectors file to write")
    t.add_argument("--format", choices=["binary", "text"], default="binary")
    add_training_args(t)
    t.add_argument("--checkpoint-dir", help="save a checkpoint after each epoch here")
    t.add_argument("--resume", action="store_true", help="continue from the checkpoint in --checkpoint-dir")
    t.add_argument("--json", action="store_true", help="print one JSON object with the run's numbers")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="analogy accuracy and similarity correlation of a vectors file")
    e.add_argument("vectors")
    e.add_argument("--analogies", nargs="+", metavar="FILE", help="questions-words files (default: bundled Google set)")
    e.add_argument("--similarity", nargs="+", metavar="FILE", help="word-pair files (default: bundled WordSim353, SimLex-999)")
    e.add_argument("--restrict-vocab", type=int, default=30000)
    e.add_argument("--method", choices=["add", "mul"], default="add", help="3CosAdd or 3CosMul")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_eval)

    q = sub.add_parser("query", help="nearest neighbours of a word, or an analogy a:b :: c:?")
    q.add_argument("vectors")
    q.add_argument("word", nargs="?")
    q.add_argument("--analogy", nargs=3, metavar=("A", "B", "C"))
    q.add_argument("--topn", type=int, default=10)
    q.add_argument("--method", choices=["add", "mul"], default="add")
    q.set_defaults(func=cmd_query)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def add_training_args(t, defaults=None):
    d = dict(dim=100, window=5, negative=5, ns_exponent=0.75, sample=1e-4, min_count=5, epochs=5,
             threads=2, seed=1)
    d.update(defaults or {})
    t.add_argument("--dim", type=int, default=d["dim"])
    t.add_argument("--window", type=int, default=d["window"])
    t.add_argument("--negative", type=int, default=d["negative"], help="negatives per positive (k)")
    t.add_argument("--ns-exponent", type=float, default=d["ns_exponent"], help="noise q ∝ count^alpha")
    t.add_argument("--sample", type=float, default=d["sample"], help="subsampling threshold t")
    t.add_argument("--min-count", type=int, default=d["min_count"])
    t.add_argument("--max-vocab", type=int, default=None)
    t.add_argument("--epochs", type=int, default=d["epochs"])
    t.add_argument("--threads", type=int, default=d["threads"])
    t.add_argument("--lr", type=float, default=None,
                   help="initial learning rate (default 0.025 for skip-gram, 0.05 for CBOW)")
    t.add_argument("--min-lr", type=float, default=0.0001)
    t.add_argument("--seed", type=int, default=d["seed"])
    t.add_argument("--arch", choices=["skipgram", "cbow"], default="skipgram",
                   help="skip-gram (default) or CBOW (mean of the context vectors predicts the centre)")
    t.add_argument("--negatives", choices=["shared", "per-example"], default="shared",
                   help="share each window's negatives among its context words (default; faster) "
                        "or draw k per pair like word2vec/gensim")


def model_from_args(args):
    from ..word2vec import Word2Vec

    return Word2Vec(dim=args.dim, window=args.window, negative=args.negative,
                    ns_exponent=args.ns_exponent, sample=args.sample, min_count=args.min_count,
                    max_vocab=args.max_vocab, epochs=args.epochs, lr=args.lr, min_lr=args.min_lr,
                    threads=args.threads, seed=args.seed, negatives=args.negatives,
                    arch=args.arch)


def cmd_train(args):
    model = model_from_args(args)
    if args.resume and not args.checkpoint_dir:
        raise NegsampleError("--resume needs --checkpoint-dir")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(args.corpus, checkpoint_dir=args.checkpoint_dir, resume=args.resume,
                  progress=not args.quiet)
    for w in caught:
        print(f"negsample: warning: {w.message}", file=sys.stderr)
    model.save_vectors(args.output, binary=args.format == "binary")
    st = model.stats
    summary = {k: st[k] for k in ("words_per_sec", "train_seconds", "vocab_size", "raw_words", "loss",
                                  "epochs_run", "start_epoch", "prep_seconds", "bad_utf8_lines",
                                  "negatives", "arch", "threads", "epoch_losses", "kernel_backend")}
    summary["output"] = args.output
    if args.json:
        print(json.dumps(summary))
    elif not args.quiet:
        print(f"trained {summary['vocab_size']} words x {args.dim} dims on {summary['raw_words']:,} raw words "
              f"in {summary['train_seconds']:.1f} s ({summary['words_per_sec']:,.0f} words/s, "
              f"final loss {summary['loss']:.4f}); wrote {args.output}", file=sys.stderr)
    return 0


def run_evaluation(kv, analogies, similarity, restrict_vocab=30000, method="add"):
    from ..evaluate import evaluate_analogies, evaluate_similarity

    out = {"analogies": {}, "similarity": {}}
    for path in analogies:
        r = evaluate_analogies(kv, path, restrict_vocab=restrict_vocab, method=method)
        out["analogies"][path] = r
    for path in similarity:
        out["similarity"][path] = evaluate_similarity(kv, path)
    return out


def print_evaluation(res, stream=None):
    import os

    stream = stream if stream is not None else sys.stdout  # looked up at call time (tests swap it)
    for path, r in res["analogies"].items():
        print(f"analogies {os.path.basename(path)}: accuracy {100 * r['total']:.2f}% "
              f"({r['correct']}/{r['attempted']}, {r['skipped_oov']} skipped as OOV); "
              f"semantic {100 * r['semantic']:.2f}%, syntactic {100 * r['syntactic']:.2f}%", file=stream)
        for name, s in r["sections"].items():
            acc = f"{100 * s['accuracy']:6.2f}%" if s["attempted"] else "    n/a"
            print(f"    {name:<32} {acc}  ({s['correct']}/{s['attempted']})", file=stream)
    for path, r in res["similarity"].items():
        print(f"similarity {os.path.basename(path)}: Spearman {r['spearman']:.4f}, Pearson {r['pearson']:.4f} "
              f"({r['evaluated']} pairs, {r['oov_pairs']} OOV)", file=stream)


def cmd_eval(args):
    from ..vectors import KeyedVectors

    kv = KeyedVectors.load_word2vec_format(args.vectors)
    analogies = args.analogies if args.analogies else [bundled("questions-words.txt")]
    similarity = args.similarity if args.similarity else [bundled("wordsim353.tsv"), bundled("simlex999.txt")]
    res = run_evaluation(kv, analogies, similarity, args.restrict_vocab, args.method)
    if args.json:
        for r in res["similarity"].values():
            r["oov_examples"] = [list(p) for p in r["oov_examples"]]
        print(json.dumps(res))
    else:
        print_evaluation(res)
    return 0


def cmd_query(args):
    from ..vectors import KeyedVectors

    if not args.word and not args.analogy:
        raise NegsampleError("give a WORD or --analogy A B C")
    kv = KeyedVectors.load_word2vec_format(args.vectors)
    if args.analogy:
        a, b, c = args.analogy
        res = kv.analogy(a, b, c, topn=args.topn, method=args.method)
        print(f"{a} : {b} :: {c} : ?")
    else:
        res = kv.most_similar(args.word, topn=args.topn)
        print(f"nearest to {args.word!r}:")
    for word, score in res:
        print(f"  {word:<24} {score:.4f}")
    return 0
