"""Hard-negative mining at scale.

Part 1 (FAISS at scale): 100k queries x 1M corpus vectors, d 384, synthetic clustered data —
generator: 2,000 Gaussian cluster centres N(0, I), each point = centre + 0.35 N(0, I), L2
normalised; each query is a perturbed corpus point (centre + noise) whose source point is its
positive. negsample.mine_negatives with index faiss-ivf (nlist 1024, nprobe 16): wall time, peak
RSS, and recall@k of the IVF candidates against exact search on a sample of 1,000 queries
(exact search of all 100k x 1M x 384 would cost 3.8e13 flops on 2 cores).

Part 2 (against sentence-transformers): 10k x 100k with sentence_transformers.util.mine_hard_negatives
(its exact path and its FAISS path) vs negsample, same embeddings (a stub model returns the
precomputed vectors, so embedding cost is excluded), same rule: top-ranked negatives, 3 per query,
positives excluded. Each run in its own subprocess: time and peak RSS ratios.

    .venv/bin/python benchmarks/bench_mining.py [--skip-large] [--skip-st]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np


def make_data(n_corpus, n_queries, d, n_clusters=2000, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, d)).astype(np.float32)
    C = np.empty((n_corpus, d), np.float32)
    for s in range(0, n_corpus, 100_000):
        m = min(100_000, n_corpus - s)
        lab = rng.integers(0, n_clusters, m)
        C[s:s + m] = centres[lab] + 0.35 * rng.standard_normal((m, d)).astype(np.float32)
    C /= np.linalg.norm(C, axis=1, keepdims=True)
    pos = rng.choice(n_corpus, n_queries, replace=False)
    Q = C[pos] + 0.05 * rng.standard_normal((n_queries, d)).astype(np.float32)
    Q /= np.linalg.norm(Q, axis=1, keepdims=True)
    return Q, C, pos


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_large(args):
    from negsample.mining import mine_negatives, search

    t0 = time.perf_counter()
    Q, C, pos = make_data(args.corpus, args.queries, args.dim)
    t_gen = time.perf_counter() - t0
    rss_data = rss_mb()
    t0 = time.perf_counter()
    res = mine_negatives(Q, C, [[int(p)] for p in pos], k=args.k, band="range", rank_range=(0, 30),
                         index="faiss-ivf", normalize=False, nlist=1024, nprobe=16)
    t_mine = time.perf_counter() - t0
    rss_after = rss_mb()
    rng = np.random.default_rng(1)
    sample = rng.choice(args.queries, min(1000, args.queries), replace=False)
    ex_ids, _ = search(Q[sample], C, args.k, index="exact", normalize=False)
    ann_ids, _ = search(Q[sample], C, args.k, index="faiss-ivf", normalize=False, nlist=1024, nprobe=16)
    recall = np.mean([len(np.intersect1d(a, b)) / args.k for a, b in zip(ex_ids, ann_ids)])
    print("RESULT " + json.dumps({"generate_s": t_gen, "mine_s": t_mine, "peak_rss_mb": rss_after,
                                  "data_rss_mb": rss_data, "recall_at_k": float(recall), "k": args.k,
                                  "found": int((res.ids >= 0).sum()), "removed": res.removed}))


class StubModel:
    """Just enough of SentenceTransformer for mine_hard_negatives: texts 'q<i>' / 'c<i>' map to rows."""

    def __init__(self, Q, C):
        import torch

        self.Q, self.C = torch.from_numpy(Q), torch.from_numpy(C)
        self.device = torch.device("cpu")

        class Card:
            base_model = "stub"
        self.model_card_data = Card()

    def _enc(self, texts, **kw):
        import torch

        rows = [self.Q[int(t[1:])] if t[0] == "q" else self.C[int(t[1:])] for t in texts]
        out = torch.stack(rows)
        return out.numpy() if kw.get("convert_to_numpy") else out

    def encode_document(self, texts, **kw):
        return self._enc(texts, **kw)

    def encode_query(self, texts, **kw):
        return self._enc(texts, **kw)

    encode = encode_document

    def get_embedding_dimension(self):
        return self.C.shape[1]

    get_sentence_embedding_dimension = get_embedding_dimension

    def similarity_pairwise(self, a, b):
        import torch

        return (torch.as_tensor(a) * torch.as_tensor(b)).sum(-1)

    def similarity(self, a, b):
        import torch

        a = torch.as_tensor(a)
        b = torch.as_tensor(b)
        return a @ b.T


def worker_st(args, variant):
    Q, C, pos = make_data(args.st_corpus, args.st_queries, args.dim, seed=2)
    if variant.startswith("st"):  # imports before the baseline, so only the mining counts
        import torch
        from datasets import Dataset  # noqa: F401
        from sentence_transformers.util import mine_hard_negatives  # noqa: F401
    else:
        import negsample.mining  # noqa: F401
    base = rss_mb()
    t0 = time.perf_counter()
    if variant.startswith("st"):
        torch.set_num_threads(2)
        ds = Dataset.from_dict({"query": [f"q{i}" for i in range(len(Q))], "answer": [f"c{p}" for p in pos]})
        out = mine_hard_negatives(ds, StubModel(Q, C), corpus=[f"c{i}" for i in range(len(C))], num_negatives=3,
                                  range_max=50, sampling_strategy="top", use_faiss=variant == "st-faiss",
                                  batch_size=4096, verbose=False, output_format="n-tuple")
        n = len(out)
    else:
        from negsample.mining import mine_negatives

        res = mine_negatives(Q, C, [[int(p)] for p in pos], k=3, band="range", rank_range=(0, 50),
                             index="exact" if variant == "ours-exact" else "faiss-flat", normalize=False)
        n = int((res.ids >= 0).all(1).sum())
    t = time.perf_counter() - t0
    print("RESULT " + json.dumps({"variant": variant, "seconds": t, "peak_rss_mb": rss_mb(),
                                  "extra_rss_mb": rss_mb() - base, "rows": n}))


def sub(args, extra):
    cmd = [sys.executable, __file__] + extra + [f"--{k.replace('_', '-')}={v}" for k, v in
                                                 (("queries", args.queries), ("corpus", args.corpus),
                                                  ("dim", args.dim), ("k", args.k),
                                                  ("st_queries", args.st_queries), ("st_corpus", args.st_corpus))]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        return {"failed": out.stderr.strip().splitlines()[-1][:300] if out.stderr.strip() else "failed"}
    return json.loads([ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")][-1][7:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=100_000)
    ap.add_argument("--corpus", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--st-queries", type=int, default=10_000)
    ap.add_argument("--st-corpus", type=int, default=100_000)
    ap.add_argument("--skip-large", action="store_true")
    ap.add_argument("--skip-st", action="store_true")
    ap.add_argument("--worker")
    args = ap.parse_args()
    if args.worker == "large":
        return worker_large(args)
    if args.worker:
        return worker_st(args, args.worker)
    if not args.skip_large:
        r = sub(args, ["--worker", "large"])
        print(f"FAISS IVF mining, {args.queries:,} queries x {args.corpus:,} corpus, d {args.dim}: "
              + (f"FAILED {r['failed']}" if "failed" in r else
                 f"mining {r['mine_s']:.1f} s (data generation {r['generate_s']:.1f} s not counted), peak RSS "
                 f"{r['peak_rss_mb']:.0f} MB (the data alone {r['data_rss_mb']:.0f} MB), recall@{r['k']} vs exact "
                 f"(1,000 sampled queries) {r['recall_at_k']:.4f}, negatives found {r.get('found')}"))
    if not args.skip_st:
        print(f"\n{args.st_queries:,} x {args.st_corpus:,}, d {args.dim}, 3 top-ranked negatives per query "
              "(range 0-50, positives excluded):")
        res = {}
        for v in ("ours-exact", "ours-faiss", "st-exact", "st-faiss"):
            res[v] = r = sub(args, ["--worker", v])
            print(f"  {v:<11} " + (f"FAILED {r['failed']}" if "failed" in r else
                                  f"{r['seconds']:7.2f} s, peak RSS {r['peak_rss_mb']:6.0f} MB "
                                  f"(+{r['extra_rss_mb']:.0f} MB over the data), {r['rows']} rows"))
        for ours, theirs in (("ours-exact", "st-exact"), ("ours-faiss", "st-faiss")):
            a, b = res[ours], res[theirs]
            if "failed" not in a and "failed" not in b:
                print(f"  {theirs}/{ours}: time {b['seconds'] / a['seconds']:.2f}x, extra memory "
                      f"{b['extra_rss_mb'] / max(a['extra_rss_mb'], 1):.2f}x")


if __name__ == "__main__":
    main()
