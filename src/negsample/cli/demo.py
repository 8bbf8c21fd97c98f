"""`negsample demo`: train word vectors on the bundled public-domain corpus (State of the Union,
Shakespeare, Moby-Dick; 2.9M tokens), then print analogy/similarity scores and neighbours."""
from __future__ import annotations

import sys
import time

DEMO_WORDS = ("king", "whale", "war", "love", "america", "ship", "liberty")


def add_cli(subparsers):
    from ._options import add_output, add_run_options, subparser
    from .word2vec import add_training_args

    p = subparser(subparsers, "demo", help="train word vectors on the bundled demo corpus and show results")
    add_output(p, help="where to write the vectors (binary)", required=False, default="demo-vectors.bin")
    add_training_args(p, defaults=dict(epochs=10, min_count=5))
    p.add_argument("--words", nargs="+", default=list(DEMO_WORDS), help="words whose neighbours to show")
    add_run_options(p)
    p.set_defaults(func=cmd_demo)


def cmd_demo(args):
    from ..io import check_output_path
    from .word2vec import bundled, model_from_args, print_evaluation, run_evaluation

    corpus = bundled("demo-en.txt.xz")
    check_output_path(args.output, inputs=[corpus])
    arch = "CBOW" if args.arch == "cbow" else f"skip-gram, {args.negatives} negatives"
    if not args.json:
        print(f"negsample demo: {arch} (k={args.negative}), dim {args.dim}, "
              f"window {args.window}, {args.epochs} epochs, {args.threads} threads on {corpus}", flush=True)
    t0 = time.perf_counter()
    model = model_from_args(args).fit(corpus, progress=not (args.quiet or args.json))
    st = model.stats
    if args.json:
        from ._options import print_json

        model.save_vectors(args.output, binary=True)
        res = run_evaluation(model.wv, [bundled("questions-words.txt")],
                             [bundled("wordsim353.tsv"), bundled("simlex999.txt")], restrict_vocab=30000)
        print_json({"stats": st, "evaluation": res, "output": args.output})
        return 0
    print(f"trained {st['vocab_size']:,} words on {st['raw_words']:,} raw words/epoch: "
          f"{st['train_seconds']:.1f} s training ({st['words_per_sec']:,.0f} words/s), "
          f"{time.perf_counter() - t0:.1f} s in all; final loss {st['loss']:.4f}")
    model.save_vectors(args.output, binary=True)
    print(f"vectors written to {args.output}\n")
    kv = model.wv
    res = run_evaluation(kv, [bundled("questions-words.txt")],
                         [bundled("wordsim353.tsv"), bundled("simlex999.txt")], restrict_vocab=30000)
    print_evaluation(res)
    print("\nnearest neighbours (cosine):")
    for w in args.words:
        if w not in kv:
            print(f"  {w:<10} (not in vocabulary)")
            continue
        nn = kv.most_similar(w, topn=6)
        print(f"  {w:<10} " + ", ".join(f"{x} {s:.2f}" for x, s in nn))
    for a, b, c in (("man", "king", "woman"), ("france", "paris", "england")):
        if all(x in kv for x in (a, b, c)):
            top = kv.analogy(a, b, c, topn=3)
            print(f"  {a}:{b} :: {c}:?  -> " + ", ".join(f"{x} {s:.2f}" for x, s in top))
    sys.stdout.flush()
    return 0
