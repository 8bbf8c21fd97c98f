"""KeyedVectors queries and formats (round trips with gensim), evaluation against gensim's."""
import numpy as np
import pytest

from negsample import NegsampleError
from negsample.evaluate import evaluate_analogies, evaluate_similarity
from negsample.vectors import KeyedVectors

gensim_models = pytest.importorskip("gensim.models")


@pytest.fixture()
def kv():
    rng = np.random.default_rng(0)
    words = ["king", "queen", "man", "woman", "paris", "france", "berlin", "germany", "café", "naïve"]
    vecs = rng.standard_normal((len(words), 12)).astype(np.float32)
    # plant a perfect analogy: queen = king - man + woman
    vecs[1] = vecs[0] - vecs[2] + vecs[3]
    return KeyedVectors(words, vecs)


def test_queries(kv):
    assert kv.analogy("man", "king", "woman")[0][0] == "queen"
    assert kv.analogy("man", "king", "woman", method="mul")[0][0] == "queen"
    sims = kv.most_similar("king", topn=3)
    assert len(sims) == 3 and "king" not in [w for w, _ in sims]
    assert sims[0][1] >= sims[1][1] >= sims[2][1]
    # a vector query finds the word itself
    assert kv.most_similar(kv["paris"], topn=1)[0][0] == "paris"
    n = kv.vectors / np.linalg.norm(kv.vectors, axis=1, keepdims=True)
    assert kv.similarity("paris", "france") == pytest.approx(float(n[4] @ n[5]), abs=1e-6)
    with pytest.raises(NegsampleError, match="'kings' is not in the vocabulary; close matches: king"):
        kv.most_similar("kings")
    with pytest.raises(NegsampleError, match="query vector has 3 dimensions"):
        kv.most_similar(np.ones(3))


def test_most_similar_agrees_with_gensim(kv):
    g = gensim_models.KeyedVectors(12)
    g.add_vectors(kv.index_to_key, kv.vectors)
    for pos, neg in ((["king"], []), (["king", "woman"], ["man"]), (["paris", "germany"], ["france"])):
        ours = kv.most_similar(positive=pos, negative=neg, topn=4)
        theirs = g.most_similar(positive=pos, negative=neg, topn=4)
        assert [w for w, _ in ours] == [w for w, _ in theirs]
        np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], atol=1e-5)


@pytest.mark.parametrize("binary", [True, False])
def test_round_trip_with_gensim(tmp_path, kv, binary):
    ours_path = tmp_path / "ours.vec"
    kv.save_word2vec_format(ours_path, binary=binary)
    g = gensim_models.KeyedVectors.load_word2vec_format(str(ours_path), binary=binary)
    assert list(g.index_to_key) == kv.index_to_key
    np.testing.assert_allclose(g.vectors, kv.vectors, rtol=1e-6, atol=1e-7)
    theirs_path = tmp_path / "gensim.vec"
    g.save_word2vec_format(str(theirs_path), binary=binary)
    back = KeyedVectors.load_word2vec_format(theirs_path)  # format auto-detected
    assert back.index_to_key == kv.index_to_key
    np.testing.assert_allclose(back.vectors, kv.vectors, rtol=1e-6, atol=1e-7)


def test_native_format_memory_mapped(tmp_path, kv):
    kv.save(tmp_path / "model")
    back = KeyedVectors.load(tmp_path / "model", mmap=True)
    assert isinstance(back.vectors, np.ndarray) and back.index_to_key == kv.index_to_key
    np.testing.assert_array_equal(back.vectors, kv.vectors)


def test_malformed_and_truncated_files(tmp_path, kv):
    with pytest.raises(NegsampleError, match="vectors file not found"):
        KeyedVectors.load_word2vec_format(tmp_path / "none.bin")
    bad = tmp_path / "bad.txt"
    bad.write_text("hello world\nfoo 1 2\n")
    with pytest.raises(NegsampleError, match="bad header"):
        KeyedVectors.load_word2vec_format(bad)
    kv.save_word2vec_format(tmp_path / "v.bin", binary=True)
    data = (tmp_path / "v.bin").read_bytes()
    (tmp_path / "cut.bin").write_bytes(data[: len(data) - 30])
    with pytest.raises(NegsampleError, match="truncated binary file"):
        KeyedVectors.load_word2vec_format(tmp_path / "cut.bin", binary=True)
    kv.save_word2vec_format(tmp_path / "v.txt", binary=False)
    lines = (tmp_path / "v.txt").read_text().splitlines()
    (tmp_path / "short.txt").write_text("\n".join(lines[:5]) + "\n")
    with pytest.raises(NegsampleError, match="truncated text file: 4 of 10 vectors read"):
        KeyedVectors.load_word2vec_format(tmp_path / "short.txt", binary=False)
    lines[3] = lines[3].rsplit(" ", 1)[0]
    (tmp_path / "ragged.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(NegsampleError, match="line 4 has 11 values, expected 12"):
        KeyedVectors.load_word2vec_format(tmp_path / "ragged.txt", binary=False)
    lines = (tmp_path / "v.txt").read_text().splitlines()
    lines[2] = lines[2].split(" ")[0] + " x" * 12
    (tmp_path / "nan.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(NegsampleError, match="line 3 has a non-numeric value"):
        KeyedVectors.load_word2vec_format(tmp_path / "nan.txt", binary=False)
    with pytest.raises(NegsampleError, match="duplicate key 'a'"):
        KeyedVectors(["a", "b", "a"], np.zeros((3, 2)))


# ----------------------------------------------------------------------------- evaluation

def test_analogies_hand_made(tmp_path, kv):
    path = tmp_path / "q.txt"
    path.write_text(": family\nman king woman queen\nMAN KING WOMAN queen\nman king woman paris\n"
                    ": capital\nfrance paris germany berlin\nfrance paris germany unicorn\n")
    r = evaluate_analogies(kv, path, restrict_vocab=None)
    assert r["sections"]["family"]["correct"] == 2 and r["sections"]["family"]["attempted"] == 3
    assert r["skipped_oov"] == 1 and r["attempted"] == 4
    assert r["total"] == pytest.approx(r["correct"] / 4)
    # restrict_vocab 4 keeps only king, queen, man, woman: the capital questions become OOV
    r4 = evaluate_analogies(kv, path, restrict_vocab=4)
    assert r4["sections"]["capital"]["attempted"] == 0 and r4["skipped_oov"] == 3  # + "paris" in family
    with pytest.raises(NegsampleError, match="line 2 is not 'a b c d'"):
        (tmp_path / "bad.txt").write_text(": s\na b c\n")
        evaluate_analogies(kv, tmp_path / "bad.txt")


def test_similarity_hand_made(tmp_path, kv):
    path = tmp_path / "ws.tsv"
    path.write_text("# comment\nking\tqueen\t9\nman\twoman\t8\nparis\tfrance\t7\nberlin\tunicorn\t1\nking\tparis\t2\n")
    r = evaluate_similarity(kv, path)
    assert r["pairs"] == 5 and r["oov_pairs"] == 1 and r["evaluated"] == 4
    n = kv.get_normed_vectors()
    model = [n[0] @ n[1], n[2] @ n[3], n[4] @ n[5], n[0] @ n[4]]
    from scipy.stats import spearmanr
    assert r["spearman"] == pytest.approx(spearmanr([9, 8, 7, 2], model).statistic)


def test_evaluation_agrees_with_gensim_on_real_sets(shared_data):
    """Vectors with some structure (random + a planted offset) over the real eval vocabulary."""
    rng = np.random.default_rng(1)
    words = []
    for line in open(shared_data / "eval" / "questions-words.txt"):
        if not line.startswith(":"):
            words.extend(line.split())
    vocab = list(dict.fromkeys(w.lower() for w in words))[:1500]
    vecs = rng.standard_normal((len(vocab), 30)).astype(np.float32)
    kv = KeyedVectors(vocab, vecs)
    g = gensim_models.KeyedVectors(30)
    g.add_vectors(vocab, vecs)
    qw = shared_data / "eval" / "questions-words.txt"
    ours = evaluate_analogies(kv, qw, restrict_vocab=1000)
    score, sections = g.evaluate_word_analogies(str(qw), restrict_vocab=1000)
    assert ours["total"] == pytest.approx(score, abs=1e-12)
    theirs_total = [s for s in sections if s["section"] == "Total accuracy"][0]
    assert ours["correct"] == len(theirs_total["correct"])
    for f in ("wordsim353.tsv", "simlex999.txt"):
        r = evaluate_similarity(kv, shared_data / "eval" / f)
        pearson, spearman, oov = g.evaluate_word_pairs(str(shared_data / "eval" / f))
        assert r["spearman"] == pytest.approx(spearman.statistic, abs=1e-9)
        assert 100 * r["oov_ratio"] == pytest.approx(oov, abs=1e-9)
