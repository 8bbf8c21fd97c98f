"""Context combining (kernels.sgns.sgns_block): the block update against its formula in numpy,
block=1 identical to the per-window shared kernel, native identical to the JIT, prefetching
without effect on results, the negatives filtered against every centre of the block, and
learning on a planted corpus."""
import numpy as np
import pytest

from negsample.kernels import native
from negsample.kernels.alias import build_alias_kernel
from negsample.kernels.sgns import MAX_EXP, SIG, sgns_block, sgns_shared
from negsample.samplers import unfiltered
from negsample.word2vec import Word2Vec

NF = unfiltered()


def table_sigmoid(f):
    k = np.clip(((f + MAX_EXP) * (len(SIG) / (2 * MAX_EXP))).astype(int), 0, len(SIG) - 1)
    return SIG[k]


def _problem(seed=0, V=300, d=32, n_tokens=40_000, sentence=37):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, V, n_tokens).astype(np.int32)
    offsets = np.append(np.arange(0, n_tokens, sentence), n_tokens).astype(np.int64)
    keep = rng.uniform(0.2, 1.0, V).astype(np.float32)
    w = rng.random(V) ** 3
    prob, alias = build_alias_kernel(w / w.sum())
    W_in = (rng.random((V, d), dtype=np.float32) - 0.5) / d
    return ids, offsets, keep, prob, alias, W_in


def _run(kernel, ids, offsets, keep, prob, alias, W0, *extra, **kw):
    W_in, W_out, st = W0.copy(), np.zeros_like(W0), np.zeros(12)
    state = kernel(W_in, W_out, ids, offsets, 0, len(offsets) - 1, keep, prob, alias, NF, 5, 5, 0.025, 11, st,
                   *extra, **kw)
    return W_in, W_out, st, state


def test_block_update_matches_its_formula():
    """Sentence [0 1 2 3 4], window 1 (b = 1 always), block 2, keep 1, every negative word 7
    (never a centre): block {0, 1} has inputs 0 (covered by centre 1), 1 (by 0), 2 (by 1);
    block {2, 3} inputs 1, 2 (by 3), 3, 4; block {4} input 3. Computed in numpy from each block's
    snapshot: g = lr (y - s(v.u)), the K shared negatives weighted by m_j k / K."""
    rng = np.random.default_rng(0)
    V, d, k = 8, 6, 3
    W_in = (rng.standard_normal((V, d)) * 0.4).astype(np.float32)
    W_out = (rng.standard_normal((V, d)) * 0.4).astype(np.float32)
    prob = np.zeros(V)
    prob[7] = 1.0
    alias = np.full(V, 7, dtype=np.int64)
    sent = [0, 1, 2, 3, 4]
    a0, b0 = W_in.copy(), W_out.copy()
    lr = 0.1
    st = np.zeros(12)
    sgns_block(W_in, W_out, np.array(sent, np.int32), np.array([0, 5], np.int64), 0, 1, np.ones(V, np.float32),
               prob, alias, NF, 1, k, lr, 5, st, 2, 2, 1)          # block 2, K = 2 negatives
    Wi, Wo = a0.astype(np.float64), b0.astype(np.float64)
    K = 2
    pairs = inputs = 0
    for centres in ([0, 1], [2, 3], [4]):
        cover = {}
        for i in centres:
            for j in (i - 1, i + 1):
                if 0 <= j < len(sent):
                    cover.setdefault(j, []).append(i)
        inputs += len(cover)
        V0, U0 = Wi.copy(), Wo.copy()
        dV, dU = np.zeros_like(Wi), np.zeros_like(Wo)
        for j, cs in sorted(cover.items()):
            v = V0[sent[j]]
            for i in cs:                                   # positives: centre words covering j
                g = lr * (1 - table_sigmoid(np.float32(v @ U0[sent[i]])))
                dV[sent[j]] += g * U0[sent[i]]
                dU[sent[i]] += g * v
                pairs += 1
            for _ in range(K):                              # the shared negatives, weighted m_j k / K
                g = -lr * table_sigmoid(np.float32(v @ U0[7])) * len(cs) * k / K
                dV[sent[j]] += g * U0[7]
                dU[7] += g * v
        Wi, Wo = Wi + dV, Wo + dU
    np.testing.assert_allclose(W_in, Wi, atol=3e-6)
    np.testing.assert_allclose(W_out, Wo, atol=3e-6)
    assert st[0] == pairs == 8
    assert st[11] == pairs + inputs * K == 8 + 8 * 2        # logits: positives + inputs x K


def test_block_one_is_the_shared_kernel():
    """Same pairs, negatives and RNG stream as the per-window kernel; the weights agree up to the
    float32 rounding of a different summation order (the block kernel's loop order)."""
    args = _problem()
    a = _run(sgns_shared, *args)
    for prefetch in (0, 1):
        b = _run(sgns_block, *args, 1, 5, prefetch)
        np.testing.assert_allclose(a[0], b[0], atol=1e-4)
        np.testing.assert_allclose(a[1], b[1], atol=1e-4)
        assert np.abs(b[1]).max() > 0.05
        np.testing.assert_array_equal(a[2][[0, 2, 3, 4, 5, 6, 7, 8, 9, 10]], b[2][[0, 2, 3, 4, 5, 6, 7, 8, 9, 10]])
        np.testing.assert_allclose(a[2][1], b[2][1], rtol=1e-4)        # loss sum
        assert a[3] == b[3]


def test_prefetch_changes_nothing_and_blocks_change_the_work():
    args = _problem(seed=1)
    a = _run(sgns_block, *args, 4, 5, 0)
    b = _run(sgns_block, *args, 4, 5, 1)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    one = _run(sgns_block, *args, 1, 5, 1)
    # about the same pairs, far fewer logits: inputs are scored against one negative set per block
    assert abs(b[2][0] - one[2][0]) < 0.01 * one[2][0]
    assert b[2][11] < 0.7 * one[2][11]


@pytest.mark.skipif(native.backend() != "native", reason="native kernels unavailable")
def test_native_block_matches_the_jit():
    """Bit for bit with K = k; with K != k the negative weight k/K != 1 lets fast-math reassociate
    lr * weight * s differently in the two builds: equal up to float32 rounding."""
    args = _problem(seed=2)
    a = _run(native.sgns_block, *args, block=3, block_negatives=5, prefetch=1)
    b = _run(sgns_block, *args, 3, 5, 1)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[2], b[2])
    assert a[3] == b[3]
    a = _run(native.sgns_block, *args, block=3, block_negatives=8, prefetch=1)
    b = _run(sgns_block, *args, 3, 8, 1)
    np.testing.assert_allclose(a[0], b[0], atol=1e-3)
    np.testing.assert_allclose(a[2], b[2], rtol=1e-4)
    assert a[3] == b[3]


def test_negatives_avoid_every_centre_of_the_block():
    """Noise on words 0..3 only, sentences made of those words: a negative equal to any centre of
    its block is rejected (counted as 'self'), so with block 4 most draws are rejected."""
    V, d = 6, 4
    prob, alias = build_alias_kernel(np.array([0.25, 0.25, 0.25, 0.25, 0.0, 0.0]))
    ids = np.tile(np.array([0, 1, 2, 3], np.int32), 50)
    offsets = np.arange(0, ids.size + 1, 4, dtype=np.int64)
    st1 = np.zeros(12)
    st4 = np.zeros(12)
    W = np.full((V, d), 0.01, np.float32)
    sgns_block(W.copy(), np.zeros_like(W), ids, offsets, 0, len(offsets) - 1, np.ones(V, np.float32), prob, alias,
               NF, 2, 5, 0.025, 3, st1, 1, 5, 1)
    sgns_block(W.copy(), np.zeros_like(W), ids, offsets, 0, len(offsets) - 1, np.ones(V, np.float32), prob, alias,
               NF, 2, 5, 0.025, 3, st4, 4, 5, 1)
    first1 = st1[3] / (50 * 4 * 5)        # rejected first draws per draw: P(draw == the centre) = 1/4
    assert abs(first1 - 0.25) < 0.05
    assert st4[3] == st4[6] > 0           # all rejections are 'self'
    assert st4[5] > 0                     # some dropped after max_redraw: every word is a centre


def test_word2vec_with_blocks_learns_the_planted_topics():
    from test_word2vec import planted_corpus

    sents = planted_corpus(n_sentences=3000)
    m = Word2Vec(dim=16, window=3, negative=5, min_count=1, epochs=5, threads=1, sample=0, block=4, seed=3)
    m.fit(sents, progress=False)
    assert m.stats["block"] == 4 and m.stats["logits"] > 0
    wv = m.wv
    same = np.mean([wv.similarity(a, b) for a, b in (("cat", "kitten"), ("hammer", "mallet"), ("dog", "puppy"))])
    cross = np.mean([wv.similarity(a, b) for a, b in (("cat", "hammer"), ("kitten", "drill"), ("puppy", "saw"))])
    assert same > cross + 0.3
