"""`negsample diagnose`: the SGNS optimum check of a trained word2vec model against its corpus,
and the noise report (with an optional plot) for a model's vocabulary or any counts file
(the command-line face of negsample.diagnostics)."""
from __future__ import annotations

import importlib
import os

from .._common import NegsampleError
from ._options import add_run_options, print_json, say, subparser


def add_cli(subparsers):
    p = subparser(subparsers, "diagnose",
                  help="SGNS optimum check (v.u against PMI - ln k) and noise report per frequency decile",
                  description="Check a trained skip-gram model against the SGNS optimum v_c.u_t = PMI(c, t) - ln k "
                              "on the corpus it was trained on, and report what the noise q ∝ count^alpha does per "
                              "frequency decile (draw share, lift, coverage, gradient share). Give a MODEL (saved "
                              "with `negsample word2vec train --save-model`) and/or --counts FILE.")
    p.add_argument("model", nargs="?", help="a whole word2vec model (word2vec train --save-model PATH)")
    p.add_argument("--corpus", metavar="PATH",
                   help="the corpus the model was trained on (enables the optimum check); 'demo' = the bundled "
                        "demo corpus")
    p.add_argument("--counts", metavar="FILE",
                   help="noise report for these counts instead of a model's vocabulary: 'key<TAB>count' or "
                        "'count' per line (words, node degrees, item popularity)")
    p.add_argument("--negative", type=int, default=None, metavar="K",
                   help="negatives per positive (default: the model's, else 5)")
    p.add_argument("--ns-exponent", type=float, default=None, metavar="ALPHA",
                   help="noise q ∝ count^ALPHA (default: the model's, else 0.75)")
    p.add_argument("--draws", type=float, default=None,
                   help="negative draws for coverage / never-drawn counts (default: K x total count, one epoch)")
    p.add_argument("--buckets", type=int, default=10, help="frequency buckets of the noise report")
    p.add_argument("--min-pair-count", type=float, default=5.0,
                   help="optimum check: only pairs co-occurring at least this often (expected per epoch)")
    p.add_argument("--optimum-buckets", type=int, default=5, help="optimum check: buckets of target frequency")
    p.add_argument("--max-tokens", type=int, default=None,
                   help="optimum check: read at most this many in-vocabulary tokens of the corpus")
    p.add_argument("--no-spectrum", action="store_true", help="skip the singular values (faster)")
    p.add_argument("--plot", metavar="PNG", help="write the noise plot here (needs matplotlib)")
    add_run_options(p, seed=0, with_threads=False)
    p.set_defaults(func=cmd_diagnose)


def read_counts(path):
    """(keys or None, counts) from 'key<TAB>count' or 'count' lines ('#' comments)."""
    import numpy as np

    from ..io import open_input

    keys, counts = [], []
    try:
        with open_input(path, "counts file") as fh:
            for lineno, raw in enumerate(fh, 1):
                line = raw.decode("utf-8").strip()
                if not line or line.startswith("#"):
                    continue
                parts = line.split()
                if len(parts) > 2:
                    raise NegsampleError(f"{path}: line {lineno} is not 'key<TAB>count' or 'count'")
                try:
                    value = float(parts[-1])
                except ValueError:
                    raise NegsampleError(f"{path}: line {lineno} has a non-numeric count {parts[-1]!r}") from None
                keys.append(parts[0] if len(parts) == 2 else None)
                counts.append(value)
    except UnicodeDecodeError:
        raise NegsampleError(f"{path} is not UTF-8 text") from None
    if not counts:
        raise NegsampleError(f"{path}: no counts")
    return (keys if all(k is not None for k in keys) else None), np.asarray(counts, dtype=np.float64)


def _corpus_path(corpus):
    if corpus == "demo" and not os.path.exists(corpus):
        from .word2vec import bundled

        return bundled("demo-en.txt.xz")
    return corpus


def cmd_diagnose(args):
    from .. import diagnostics as D
    from ..io import check_output_path

    if args.model is None and args.counts is None:
        raise NegsampleError("give a MODEL (word2vec train --save-model) or --counts FILE")
    if args.corpus and args.model is None:
        raise NegsampleError("--corpus needs a MODEL: the optimum check compares its vectors with the corpus")
    if args.max_tokens is not None and args.max_tokens < 1:
        raise NegsampleError(f"--max-tokens must be >= 1, got {args.max_tokens}")
    corpus = _corpus_path(args.corpus) if args.corpus else None
    if corpus is not None:
        from ..word2vec import open_corpus

        open_corpus(corpus).close()
    if args.plot:
        check_output_path(args.plot, inputs=[x for x in (args.model, corpus, args.counts) if x], what="plot")
        importlib.import_module("matplotlib")  # fail early, naming the extra to install
    model = None
    if args.model:
        from ..word2vec import Word2Vec

        model = Word2Vec.load(args.model)
    negative = args.negative if args.negative is not None else (model.sampler.negative if model else 5)
    alpha = args.ns_exponent if args.ns_exponent is not None else (model.sampler.ns_exponent if model else 0.75)
    if args.counts:
        _, counts = read_counts(args.counts)
        source = args.counts
    else:
        counts = model.vocab.counts
        source = f"the vocabulary of {args.model}"
    noise = D.noise_report(counts, ns_exponent=alpha, negative=negative, draws=args.draws, buckets=args.buckets)
    result = {"noise": noise.as_dict(), "noise_source": source}
    if args.plot:
        D.plot_noise_report(noise, args.plot, title=f"noise report: {os.path.basename(source)}")
        result["plot"] = args.plot
    if not args.json:
        print(noise.format())
    if corpus is not None:
        if args.negative is not None or args.ns_exponent is not None:
            say(args, "negsample: note: the optimum check uses the model's own k and noise, not --negative / "
                      "--ns-exponent")
        rep = D.check_word2vec(model, corpus, min_count=args.min_pair_count, buckets=args.optimum_buckets,
                               max_tokens=args.max_tokens, seed=args.seed, with_spectrum=not args.no_spectrum)
        result["optimum"] = rep.as_dict()
        if not args.json:
            s = rep.settings
            print()
            print(f"corpus {args.corpus}: {s['tokens']:,} tokens, window {s['window']}, sample {s['sample']:g}, "
                  f"noise alpha {s['ns_exponent']:g}, {s['negatives']} negatives")
            print(rep.format())
    if args.json:
        print_json(result)
    elif args.plot:
        say(args, f"wrote {args.plot}")
    return 0
