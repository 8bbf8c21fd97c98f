"""`negsample word2vec train|eval|query`: the command-line face of word2vec.py, vectors.py and
evaluate.py (parse, call, print)."""
from __future__ import annotations

import sys
import warnings
from importlib import resources

from .._common import NegsampleError
from ._options import (adaptive_kwargs, add_adaptive, add_negatives, add_output, add_run_options, print_json,
                       say, subparser)

SAMPLE_HELP = ("subsampling threshold t: keep a word of frequency f with probability sqrt(t/f) + t/f; 0 "
               "disables it. Our default 1e-4 is the word2vec C tool's and gensim's recommendation for "
               "large corpora; gensim's constructor default is 1e-3, which keeps more of the frequent "
               "words (slower, slightly worse analogies on corpus-en)")


def bundled(name: str) -> str:
    """Path of a file shipped in negsample/data (demo corpus, evaluation sets)."""
    return str(resources.files("negsample").joinpath("data", name))


def add_cli(subparsers):
    p = subparsers.add_parser("word2vec", help="skip-gram / CBOW with negative sampling: train, evaluate, query",
                              description="word2vec with negative sampling (see docs/word2vec.md).")
    sub = p.add_subparsers(dest="w2v_command", metavar="SUBCOMMAND")

    t = subparser(sub, "train", help="train word vectors on a corpus (plain, .gz, .bz2, .xz; one sentence per line)")
    t.add_argument("corpus", help="the corpus file")
    add_output(t, help="vectors file to write (word2vec C format)")
    t.add_argument("--format", choices=["binary", "text"], default="binary", help="vectors file format")
    add_training_args(t)
    t.add_argument("--checkpoint-dir", metavar="DIR", help="save a checkpoint after each epoch here")
    t.add_argument("--resume", action="store_true",
                   help="continue from the checkpoint in --checkpoint-dir (--epochs may be raised)")
    t.add_argument("--save-model", metavar="PATH", help="also save the whole model (for Word2Vec.load)")
    add_run_options(t)
    t.set_defaults(func=cmd_train)

    e = subparser(sub, "eval", help="analogy accuracy and similarity correlation of a vectors file")
    e.add_argument("vectors", help="vectors file (word2vec text or binary, optionally .gz/.bz2/.xz)")
    e.add_argument("--analogies", nargs="+", metavar="FILE", help="questions-words files (default: bundled Google set)")
    e.add_argument("--similarity", nargs="+", metavar="FILE",
                   help="word-pair files (default: bundled WordSim353 and SimLex-999)")
    e.add_argument("--restrict-vocab", type=int, default=30000, help="answers come from the N most frequent words")
    e.add_argument("--method", choices=["add", "mul"], default="add", help="3CosAdd or 3CosMul")
    e.add_argument("--json", action="store_true", help="print one JSON object with the results")
    e.add_argument("--quiet", action="store_true", help="print only the totals")
    e.set_defaults(func=cmd_eval)

    q = subparser(sub, "query", help="nearest neighbours of a word, or an analogy a:b :: c:?")
    q.add_argument("vectors", help="vectors file")
    q.add_argument("word", nargs="?", help="the word whose neighbours to show")
    q.add_argument("--analogy", nargs=3, metavar=("A", "B", "C"), help="solve A : B :: C : ?")
    q.add_argument("--topn", type=int, default=10, help="how many answers")
    q.add_argument("--method", choices=["add", "mul"], default="add", help="3CosAdd or 3CosMul")
    q.add_argument("--json", action="store_true", help="print the answers as JSON")
    q.set_defaults(func=cmd_query)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def add_training_args(t, defaults=None):
    d = dict(dim=100, window=5, negative=5, ns_exponent=0.75, sample=1e-4, min_count=5, epochs=5)
    d.update(defaults or {})
    t.add_argument("--dim", type=int, default=d["dim"], help="vector dimension")
    t.add_argument("--window", type=int, default=d["window"], help="maximum window radius (dynamic: b ~ U{1..window})")
    add_negatives(t, d["negative"], d["ns_exponent"], modes=("shared", "per-example"), noise_of="word count",
                  mode_help="share each window's negatives among its context words (faster) or draw k per "
                            "pair like word2vec/gensim")
    t.add_argument("--noise-weights", metavar="FILE",
                   help="custom noise: 'word<TAB>weight' lines (words not listed get weight 0)")
    t.add_argument("--noise-mix", type=float, default=None, metavar="PI",
                   help="with --noise-weights: q = PI * custom + (1 - PI) * count^alpha (default: custom only)")
    t.add_argument("--word-times", metavar="FILE",
                   help="'word<TAB>time' lines: with --time-window, negatives whose time is within the window "
                        "of the centre word's are rejected (words not listed are never filtered)")
    t.add_argument("--time-window", type=float, default=None, metavar="DELTA", help="reject |t_neg - t_centre| <= DELTA")
    t.add_argument("--word-labels", metavar="FILE",
                   help="'word<TAB>label' lines: negatives with the centre word's label are rejected")
    t.add_argument("--max-redraw", type=int, default=10, help="redraws of a rejected negative before it is dropped")
    add_adaptive(t)
    t.add_argument("--sample", type=float, default=d["sample"], help=SAMPLE_HELP)
    t.add_argument("--min-count", type=int, default=d["min_count"], help="drop words seen fewer times")
    t.add_argument("--max-vocab", type=int, default=None, help="keep at most this many words (most frequent)")
    t.add_argument("--epochs", type=int, default=d["epochs"], help="passes over the corpus")
    t.add_argument("--lr", type=float, default=None,
                   help="initial learning rate (default 0.025 for skip-gram, 0.05 for CBOW)")
    t.add_argument("--min-lr", type=float, default=0.0001, help="final learning rate (linear decay)")
    t.add_argument("--arch", choices=["skipgram", "cbow"], default="skipgram",
                   help="skip-gram, or CBOW (the mean of the context vectors predicts the centre)")


def _read_word_values(path, what, numeric=True):
    from ..io import open_input

    out = {}
    try:
        with open_input(path, what + "s file") as fh:
            for lineno, raw in enumerate(fh, 1):
                line = raw.decode("utf-8", errors="strict").strip()
                if not line or line.startswith("#"):
                    continue
                parts = line.split()
                if len(parts) != 2:
                    raise NegsampleError(f"{path}: line {lineno} is not 'word<TAB>{what}'")
                if numeric:
                    try:
                        out[parts[0]] = float(parts[1])
                    except ValueError:
                        raise NegsampleError(f"{path}: line {lineno} has a non-numeric {what} {parts[1]!r}") from None
                else:
                    out[parts[0]] = parts[1]
    except UnicodeDecodeError:
        raise NegsampleError(f"{path} is not UTF-8 text") from None
    if not out:
        raise NegsampleError(f"{path}: no 'word<TAB>{what}' lines")
    return out


def sampler_from_args(args):
    from ..samplers import NegativeSampler

    noise = "frequency"
    if args.noise_weights:
        weights = _read_word_values(args.noise_weights, "weight")
        noise = weights if args.noise_mix is None else [(args.noise_mix, weights), (1.0 - args.noise_mix, "frequency")]
    elif args.noise_mix is not None:
        raise NegsampleError("--noise-mix needs --noise-weights")
    if (args.word_times is None) != (args.time_window is None):
        raise NegsampleError("the time filter needs both --word-times and --time-window")
    times = _read_word_values(args.word_times, "time") if args.word_times else None
    labels = _read_word_values(args.word_labels, "label", numeric=False) if args.word_labels else None
    return NegativeSampler(negative=args.negative, noise=noise, ns_exponent=args.ns_exponent, mode=args.negatives,
                           times=times, time_window=args.time_window, labels=labels, max_redraw=args.max_redraw,
                           **adaptive_kwargs(args))


def model_from_args(args):
    from ..word2vec import Word2Vec

    return Word2Vec(dim=args.dim, window=args.window, sample=args.sample, min_count=args.min_count,
                    max_vocab=args.max_vocab, epochs=args.epochs, lr=args.lr, min_lr=args.min_lr,
                    threads=args.threads, seed=args.seed, negatives=sampler_from_args(args), arch=args.arch)


def cmd_train(args):
    from ..io import check_output_path

    if args.resume and not args.checkpoint_dir:
        raise NegsampleError("--resume needs --checkpoint-dir")
    check_output_path(args.output, inputs=[args.corpus], what="output")
    if args.save_model:
        check_output_path(args.save_model, inputs=[args.corpus, args.output], what="model")
        if args.save_model == args.output:
            raise NegsampleError("--save-model and --output must be different files")
    model = model_from_args(args)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(args.corpus, checkpoint_dir=args.checkpoint_dir, resume=args.resume,
                  progress=not (args.quiet or args.json))
    for w in caught:
        print(f"negsample: warning: {w.message}", file=sys.stderr)
    model.save_vectors(args.output, binary=args.format == "binary", inputs=[args.corpus])
    if args.save_model:
        model.save(args.save_model)
    st = model.stats
    summary = {k: st.get(k) for k in ("words_per_sec", "train_seconds", "vocab_size", "raw_words", "loss",
                                      "epochs_run", "start_epoch", "prep_seconds", "bad_utf8_lines",
                                      "negatives", "arch", "threads", "epoch_losses", "kernel_backend", "filter")}
    summary["output"] = args.output
    if args.json:
        print_json(summary)
    else:
        say(args, f"trained {summary['vocab_size']} words x {args.dim} dims on {summary['raw_words']:,} raw words "
                  f"in {summary['train_seconds']:.1f} s ({summary['words_per_sec']:,.0f} words/s, "
                  f"final loss {summary['loss']:.4f}); wrote {args.output}")
    return 0


def run_evaluation(kv, analogies, similarity, restrict_vocab=30000, method="add"):
    from ..evaluate import evaluate_analogies, evaluate_similarity

    out = {"analogies": {}, "similarity": {}}
    for path in analogies:
        out["analogies"][path] = evaluate_analogies(kv, path, restrict_vocab=restrict_vocab, method=method)
    for path in similarity:
        out["similarity"][path] = evaluate_similarity(kv, path)
    return out


def print_evaluation(res, stream=None, sections=True):
    import os

    stream = stream if stream is not None else sys.stdout  # looked up at call time (tests swap it)
    for path, r in res["analogies"].items():
        print(f"analogies {os.path.basename(path)}: accuracy {100 * r['total']:.2f}% "
              f"({r['correct']}/{r['attempted']}, {r['skipped_oov']} skipped as OOV); "
              f"semantic {100 * r['semantic']:.2f}%, syntactic {100 * r['syntactic']:.2f}%", file=stream)
        if sections:
            for name, s in r["sections"].items():
                acc = f"{100 * s['accuracy']:6.2f}%" if s["attempted"] else "    n/a"
                print(f"    {name:<32} {acc}  ({s['correct']}/{s['attempted']})", file=stream)
    for path, r in res["similarity"].items():
        print(f"similarity {os.path.basename(path)}: Spearman {r['spearman']:.4f}, Pearson {r['pearson']:.4f} "
              f"({r['evaluated']} pairs, {r['oov_pairs']} OOV)", file=stream)


def _restrict(value):
    if value < 1:
        raise NegsampleError(f"--restrict-vocab must be >= 1, got {value}")
    return value


def cmd_eval(args):
    from ..vectors import KeyedVectors

    restrict = _restrict(args.restrict_vocab)
    kv = KeyedVectors.load_word2vec_format(args.vectors)
    analogies = args.analogies if args.analogies else [bundled("questions-words.txt")]
    similarity = args.similarity if args.similarity else [bundled("wordsim353.tsv"), bundled("simlex999.txt")]
    res = run_evaluation(kv, analogies, similarity, restrict, args.method)
    if args.json:
        for r in res["similarity"].values():
            r["oov_examples"] = [list(p) for p in r["oov_examples"]]
        print_json(res)
    else:
        print_evaluation(res, sections=not args.quiet)
    return 0


def cmd_query(args):
    from ..vectors import KeyedVectors

    if not args.word and not args.analogy:
        raise NegsampleError("give a WORD or --analogy A B C")
    if args.topn < 1:
        raise NegsampleError(f"--topn must be >= 1, got {args.topn}")
    kv = KeyedVectors.load_word2vec_format(args.vectors)
    if args.analogy:
        a, b, c = args.analogy
        res = kv.analogy(a, b, c, topn=args.topn, method=args.method)
        title = f"{a} : {b} :: {c} : ?"
    else:
        res = kv.most_similar(args.word, topn=args.topn)
        title = f"nearest to {args.word!r}:"
    if args.json:
        print_json([[w, s] for w, s in res])
        return 0
    print(title)
    for word, score in res:
        print(f"  {word:<24} {score:.4f}")
    return 0
