"""gensim users: parameter aliases give the same model, train() continues, callbacks, whole-model
save/load, KeyedVectors queries equal gensim's, compressed vectors and limit=."""
import bz2
import gzip
import lzma

import numpy as np
import pytest

from negsample import NegsampleError
from negsample.vectors import KeyedVectors
from negsample.word2vec import Word2Vec


def _sentences(n=600, seed=0):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(40)]
    return [list(rng.choice(words[: 20 + (i % 2) * 20], 8)) for i in range(n)]


def test_gensim_names_give_the_same_model():
    s = _sentences()
    ours = Word2Vec(dim=12, window=3, lr=0.03, min_lr=0.001, threads=1, arch="cbow", max_vocab=35, min_count=1,
                    epochs=2, seed=7).fit(s, progress=False)
    theirs = Word2Vec(s, vector_size=12, window=3, alpha=0.03, min_alpha=0.001, workers=1, sg=0, max_final_vocab=35,
                      min_count=1, epochs=2, seed=7)
    np.testing.assert_array_equal(ours.W_in, theirs.W_in)
    assert ours.vocab.words == theirs.vocab.words and len(ours.vocab) == 35
    with pytest.raises(NegsampleError, match="vector_size=8 conflicts with dim=16"):
        Word2Vec(vector_size=8, dim=16)
    with pytest.raises(NegsampleError, match="hierarchical softmax"):
        Word2Vec(hs=1)
    with pytest.raises(NegsampleError, match="unexpected argument 'sentence'"):
        Word2Vec(sentence=s)


def test_train_continues_and_callbacks_run():
    s = _sentences()
    seen = []
    m = Word2Vec(dim=8, min_count=1, epochs=2, threads=1, seed=1,
                 callbacks=[lambda model, epoch, loss: seen.append((epoch, loss))]).fit(s, progress=False)
    before = m.W_in.copy()
    m.train(s, epochs=3, progress=False)
    assert [e for e, _ in seen] == [0, 1, 2, 3, 4] and m.epochs_trained == 5
    assert not np.array_equal(before, m.W_in)
    assert seen[-1][1] < seen[0][1]             # the loss keeps falling across the continued epochs
    with pytest.raises(NegsampleError, match="call fit"):
        Word2Vec().train(s)


def test_one_pass_generator_is_refused():
    gen = (sent for sent in _sentences(50))
    with pytest.raises(NegsampleError, match="one-pass iterator"):
        Word2Vec(min_count=1).fit(gen, progress=False)


def test_whole_model_save_load(tmp_path):
    m = Word2Vec(dim=8, min_count=1, epochs=1, threads=1, negatives="per-example").fit(_sentences(200), progress=False)
    m.save(tmp_path / "m.npz")
    back = Word2Vec.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(back.W_in, m.W_in)
    np.testing.assert_array_equal(back.W_out, m.W_out)
    assert back.vocab.words == m.vocab.words and back.negatives == "per-example" and back.config.dim == 8
    back.train(_sentences(200), epochs=1, progress=False)      # a loaded model continues training


@pytest.fixture(scope="module")
def pair():
    gensim = pytest.importorskip("gensim")
    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(300)]
    vecs = rng.standard_normal((300, 16)).astype(np.float32)
    g = gensim.models.KeyedVectors(16)
    g.add_vectors(words, vecs)
    return KeyedVectors(words, vecs), g


def test_keyed_vectors_queries_equal_gensims(pair, tmp_path):
    ours, g = pair
    assert ours.doesnt_match(["w1", "w2", "w3", "w4"]) == g.doesnt_match(["w1", "w2", "w3", "w4"])
    assert ours.n_similarity(["w1", "w2"], ["w3"]) == pytest.approx(g.n_similarity(["w1", "w2"], ["w3"]), abs=1e-5)
    assert ours.distance("w5", "w6") == pytest.approx(g.distance("w5", "w6"), abs=1e-5)
    assert ours.rank("w7", "w8") == g.rank("w7", "w8")
    np.testing.assert_allclose(ours.get_vector("w9", norm=True), g.get_vector("w9", norm=True), atol=1e-6)
    assert [w for w, _ in ours.similar_by_word("w10", topn=5)] == [w for w, _ in g.similar_by_word("w10", topn=5)]
    pairs = tmp_path / "pairs.tsv"
    rng = np.random.default_rng(0)
    pairs.write_text("".join(f"w{a}\tw{b}\t{s:.2f}\n" for a, b, s in zip(rng.integers(0, 300, 50),
                                                                       rng.integers(0, 300, 50), rng.random(50) * 10))
                     + "w1\tunknown\t5.0\n")
    (p1, _), (s1, _), oov1 = ours.evaluate_word_pairs(str(pairs))
    (p2, _), (s2, _), oov2 = g.evaluate_word_pairs(str(pairs))
    assert p1 == pytest.approx(p2, abs=1e-6) and s1 == pytest.approx(s2, abs=1e-6) and oov1 == pytest.approx(oov2)


@pytest.mark.parametrize("opener", [gzip.open, bz2.open, lzma.open])
@pytest.mark.parametrize("binary", [True, False])
def test_compressed_vectors_and_limit(pair, tmp_path, opener, binary):
    ours, g = pair
    plain = tmp_path / "v.bin"
    g.save_word2vec_format(str(plain), binary=binary)
    packed = tmp_path / "v.packed"                  # no telling suffix: detected from the content
    with opener(packed, "wb") as fh:
        fh.write(plain.read_bytes())
    kv = KeyedVectors.load_word2vec_format(packed)
    assert kv.index_to_key == ours.index_to_key
    np.testing.assert_allclose(kv.vectors, ours.vectors, rtol=1e-6)
    head = KeyedVectors.load_word2vec_format(packed, limit=7)
    assert head.index_to_key == ours.index_to_key[:7]
