"""`negsample plot loss|embeddings|noise|entropy`: figures from the files other commands write."""
from __future__ import annotations

import json
import os

from .._common import NegsampleError
from ._options import add_output, say, subparser


def add_cli(subparsers):
    p = subparsers.add_parser("plot", help="figures: loss per epoch, 2-D embeddings, noise coverage, entropy",
                              description="Figures (PNG) from the outputs of the other commands; needs the "
                                          "[plot] extra (matplotlib).")
    sub = p.add_subparsers(dest="plot_command", metavar="FIGURE")
    lo = subparser(sub, "loss", help="training loss per epoch from the --json output of a train command")
    lo.add_argument("runs", nargs="+", help="JSON files written by `... train --json` (one curve each)")
    add_output(lo, help="PNG to write")
    lo.add_argument("--quiet", action="store_true", help="no summary line")
    lo.set_defaults(func=cmd_loss)
    em = subparser(sub, "embeddings", help="a 2-D PCA projection of vectors (word2vec format or .npz node embeddings)")
    em.add_argument("vectors", help="vectors file")
    add_output(em, help="PNG to write")
    em.add_argument("--labels", metavar="FILE", help="'key<TAB>label' lines: colour points by label")
    em.add_argument("--limit", type=int, default=2000, help="plot the first N vectors")
    em.add_argument("--annotate", type=int, default=30, help="write the names of the first N points")
    em.add_argument("--quiet", action="store_true", help="no summary line")
    em.set_defaults(func=cmd_embeddings)
    no = subparser(sub, "noise", help="share of negative draws per frequency decile for several exponents")
    no.add_argument("model", help="a model saved by `word2vec train --save-model` (its word counts are used)")
    add_output(no, help="PNG to write")
    no.add_argument("--ns-exponent", type=float, nargs="+", default=[0.0, 0.5, 0.75, 1.0], metavar="ALPHA",
                    help="exponents to compare")
    no.add_argument("--quiet", action="store_true", help="no summary line")
    no.set_defaults(func=cmd_noise)
    en = subparser(sub, "entropy", help="temperature and entropy history (JSON list of [tau, entropy])")
    en.add_argument("history", help="JSON file: [[tau, entropy], ...] or {\"history\": [...], \"target\": H}")
    add_output(en, help="PNG to write")
    en.add_argument("--quiet", action="store_true", help="no summary line")
    en.set_defaults(func=cmd_entropy)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _json(path):
    if not os.path.isfile(path):
        raise NegsampleError(f"file not found: {path}")
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read().strip()
        return json.loads(text.splitlines()[-1] if text.startswith("{") and "\n" in text else text)
    except (json.JSONDecodeError, UnicodeDecodeError, IndexError) as exc:
        raise NegsampleError(f"{path} is not JSON: {exc}") from None


def cmd_loss(args):
    from ..io import check_output_path
    from ..plots import loss_curve

    check_output_path(args.output, inputs=args.runs)
    runs = {}
    for path in args.runs:
        data = _json(path)
        losses = data.get("epoch_losses") if isinstance(data, dict) else None
        if not losses:
            raise NegsampleError(f"{path} has no 'epoch_losses' (write it with `... train --json`)")
        runs[os.path.basename(path)] = [float("nan") if x is None else x for x in losses]
    loss_curve(runs, args.output)
    say(args, f"wrote {args.output}")
    return 0


def cmd_embeddings(args):
    from ..io import check_output_path
    from ..plots import embedding_2d

    check_output_path(args.output, inputs=[args.vectors])
    if args.limit < 2:
        raise NegsampleError(f"--limit must be >= 2, got {args.limit}")
    if args.vectors.endswith(".npz"):
        from ..graph import load_embeddings

        vecs, names = load_embeddings(args.vectors)
        vecs, names = vecs[:args.limit], names[:args.limit]
    else:
        from ..vectors import KeyedVectors

        kv = KeyedVectors.load_word2vec_format(args.vectors, limit=args.limit)
        vecs, names = kv.vectors, kv.index_to_key
    labels = None
    if args.labels:
        from .word2vec import _read_word_values

        lab = _read_word_values(args.labels, "label", numeric=False)
        labels = [lab.get(n, "(none)") for n in names]
    embedding_2d(vecs, args.output, labels=labels, names=names, annotate=args.annotate)
    say(args, f"wrote {args.output} ({len(names)} points)")
    return 0


def cmd_noise(args):
    from ..io import check_output_path
    from ..plots import noise_coverage
    from ..word2vec import Word2Vec

    check_output_path(args.output, inputs=[args.model])
    model = Word2Vec.load(args.model)
    noise_coverage(model.vocab.counts, args.output, exponents=args.ns_exponent)
    say(args, f"wrote {args.output}")
    return 0


def cmd_entropy(args):
    from ..io import check_output_path
    from ..plots import entropy_history

    check_output_path(args.output, inputs=[args.history])
    data = _json(args.history)
    target = None
    if isinstance(data, dict):
        target = data.get("target")
        data = data.get("history")
    entropy_history(data, args.output, target=target)
    say(args, f"wrote {args.output}")
    return 0
