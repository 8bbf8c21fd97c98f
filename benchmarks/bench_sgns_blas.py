"""Issue 4's "vectorised loop nest or BLAS: measure": the shared-negatives SGNS window computed
(a) by negsample's fused numba loops (``negsample.kernels.sgns.sgns_shared``) and (b) by three
small BLAS sgemm calls per window (numba's np.dot: L = V U^T, dU += G^T V, dV = G U), as Intel's
pWord2Vec does. Same data, same RNG stream, one thread, one epoch over a corpus prefix.

    .venv/bin/python benchmarks/bench_sgns_blas.py [--max-lines 40000]
"""
from __future__ import annotations

import argparse
import lzma
import os
import tempfile
import time

import numpy as np
from numba import njit

from negsample.distributions import AliasTable, subsample_keep_prob, unigram
from negsample.kernels.sgns import (LOGSIG, SIG, SIG_TABLE_SIZE, _max_sentence_length, _seed_state,
                                    _shared_targets, _subsample_sentence, _table_index, _window, sgns_shared)
from negsample.word2vec import build_vocab, encode_corpus

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.abspath(os.path.join(HERE, "..", "..", "shared", "data", "text", "corpus-en.txt.xz"))


@njit(nogil=True, cache=True, fastmath=True)
def sgns_shared_blas(W_in, W_out, ids, offsets, s_begin, s_end, keep, prob, alias,
                window, negative, lr, seed, stats, max_batch=16):
    """Shared-negatives SGNS over sentences [s_begin, s_end): one pool of k negatives per centre
    word, the window's (B x (1+k)) block updated as small dense products. See module docstring."""
    d = W_in.shape[1]
    T = negative + 1
    buf = np.empty(_max_sentence_length(offsets, s_begin, s_end) + 1, dtype=np.int32)
    ctx = np.empty(max_batch, dtype=np.int32)
    tgt = np.empty(T, dtype=np.int32)
    valid = np.empty(T, dtype=np.float32)
    U = np.empty((T, d), dtype=np.float32)        # snapshot of the target rows
    dU = np.empty((T, d), dtype=np.float32)       # accumulated target updates
    acc = np.empty(d, dtype=np.float32)
    v = np.empty(d, dtype=np.float32)
    gs = np.empty(T, dtype=np.float32)
    state = _seed_state(seed)
    pairs = 0
    loss = 0.0
    terms = 0
    for s in range(s_begin, s_end):
        n, state = _subsample_sentence(ids, offsets[s], offsets[s + 1], keep, state, buf)
        for i in range(n):
            w = buf[i]
            lo, hi, state = _window(state, i, n, window)
            if hi - lo <= 1:
                continue
            state = _shared_targets(w, prob, alias, state, tgt, valid)
            for t in range(T):
                row = tgt[t]
                for x in range(d):
                    U[t, x] = W_out[row, x]
                for x in range(d):
                    dU[t, x] = 0.0
            j = lo
            while j < hi:
                B = 0
                while j < hi and B < max_batch:
                    if j != i:
                        ctx[B] = buf[j]
                        B += 1
                    j += 1
                V = np.empty((B, d), dtype=np.float32)
                for bb in range(B):
                    V[bb, :] = W_in[ctx[bb], :]
                L = np.dot(V, U.T)                       # (B, T) logits  (BLAS sgemm)
                Gm = np.empty((B, T), dtype=np.float32)
                for bb in range(B):
                    for t in range(T):
                        f = L[bb, t]
                        kk = _table_index(f)
                        if t == 0:
                            Gm[bb, t] = (1.0 - SIG[kk]) * lr
                            loss -= LOGSIG[kk]
                        else:
                            Gm[bb, t] = -SIG[kk] * lr * valid[t]
                            loss -= LOGSIG[SIG_TABLE_SIZE - 1 - kk] * valid[t]
                terms += B * T
                dU += np.dot(Gm.T, V)                    # (T, d)  sgemm
                dV = np.dot(Gm, U)                       # (B, d)  sgemm
                for bb in range(B):
                    c = ctx[bb]
                    for x in range(d):
                        W_in[c, x] += dV[bb, x]
                pairs += B
            for t in range(T):
                row = tgt[t]
                for x in range(d):
                    W_out[row, x] += dU[t, x]
    stats[0] += pairs
    stats[1] += loss
    stats[2] += terms
    return state


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=CORPUS)
    ap.add_argument("--max-lines", type=int, default=40000)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    plain = os.path.join(tmp, "c.txt")
    with lzma.open(args.corpus, "rt") as src, open(plain, "w") as dst:
        for i, line in enumerate(src):
            if i >= args.max_lines:
                break
            dst.write(line)
    vocab = build_vocab(plain, 5)
    path, offsets, _ = encode_corpus(plain, vocab, os.path.join(tmp, "ids"))
    ids = np.fromfile(path, dtype=np.int32)
    table = AliasTable(unigram(vocab.counts, 0.75))
    keep = subsample_keep_prob(vocab.counts, 1e-4).astype(np.float32)
    print(f"{vocab.raw_words:,} raw words, vocabulary {len(vocab):,}; dim 100, window 5, k 5, 1 thread, 1 epoch")
    res = {}
    for name, fn in (("fused loops", sgns_shared), ("BLAS sgemm", sgns_shared_blas)):
        W_in = ((np.random.default_rng(0).random((len(vocab), 100), dtype=np.float32) - 0.5) / 100)
        W_out = np.zeros_like(W_in)
        fn(W_in, W_out, ids, offsets, 0, 10, keep, table.prob, table.alias, 5, 5, np.float32(0.025), 1, np.zeros(3))
        st = np.zeros(3)
        t0 = time.perf_counter()
        fn(W_in, W_out, ids, offsets, 0, len(offsets) - 1, keep, table.prob, table.alias, 5, 5,
           np.float32(0.025), 1, st)
        t = time.perf_counter() - t0
        res[name] = vocab.raw_words / t
        print(f"  {name:<12} {res[name]:>12,.0f} raw words/s   loss {st[1] / st[2]:.4f}")
    print(f"  fused / BLAS: {res['fused loops'] / res['BLAS sgemm']:.2f}x")


if __name__ == "__main__":
    main()
