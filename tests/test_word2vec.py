"""word2vec trainer: kernels against the SGNS gradient, planted structure, errors, CLI, resume."""
import bz2
import gzip
import json
import lzma
import os

import numpy as np
import pytest

from negsample import NegsampleError
from negsample.cli import main
from negsample.kernels.sgns import MAX_EXP, SIG, cbow, sgns_per_example, sgns_shared
from negsample.vectors import KeyedVectors
from negsample.samplers import unfiltered
from negsample.sgns import train_sgns
from negsample.word2vec import Word2Vec, build_vocab

NF = unfiltered()


# ----------------------------------------------------------------------------- corpora

def planted_corpus(n_sentences=3000, seed=0):
    """Two topics that never mix: animals appear with animal-context words, tools with tool words.
    Within each topic, synonym pairs (cat/kitten, hammer/mallet) share exactly the same contexts."""
    rng = np.random.default_rng(seed)
    topics = {
        "animal": (["cat", "kitten", "dog", "puppy"], ["fur", "paws", "purr", "bark", "tail", "meow", "pet"]),
        "tool": (["hammer", "mallet", "saw", "drill"], ["nail", "wood", "cut", "bolt", "steel", "bench", "screw"]),
    }
    sents = []
    for _ in range(n_sentences):
        heads, ctx = topics["animal" if rng.random() < 0.5 else "tool"]
        words = list(rng.choice(ctx, size=6))
        words.insert(int(rng.integers(0, 7)), str(rng.choice(heads)))
        sents.append(words)
    return sents


def write_corpus(path, sents, opener=open):
    with opener(path, "wt", encoding="utf-8") as fh:
        for s in sents:
            fh.write(" ".join(s) + "\n")
    return str(path)


# ----------------------------------------------------------------------------- kernels

def sgns_reference_step(W_in, W_out, c, targets, labels, lr):
    """One SGNS update for context c against targets, straight from the DESIGN formula."""
    v = W_in[c].astype(np.float64).copy()
    U = W_out[targets].astype(np.float64)
    g = lr * (labels - 1.0 / (1.0 + np.exp(-(U @ v))))
    return g


def table_sigmoid(f):
    k = np.clip(((f + MAX_EXP) * (len(SIG) / (2 * MAX_EXP))).astype(int), 0, len(SIG) - 1)
    return SIG[k]


def test_shared_kernel_matches_dense_block_update():
    """Sentence of 3 distinct words, window 1 forced by window=1: centre 1 has contexts 0 and 2.
    Check the kernel's updates against V += G U, U += G^T V computed in numpy."""
    rng = np.random.default_rng(0)
    V, d, k = 6, 8, 3
    W_in = (rng.standard_normal((V, d)) * 0.3).astype(np.float32)
    W_out = (rng.standard_normal((V, d)) * 0.3).astype(np.float32)
    ids = np.array([0, 1], dtype=np.int32)   # two words: each is the other's only context
    offsets = np.array([0, 2], dtype=np.int64)
    keep = np.ones(V, dtype=np.float32)
    # noise concentrated on word 5: every negative is 5 (duplicates must accumulate)
    prob = np.zeros(V)
    prob[5] = 1.0
    alias = np.full(V, 5, dtype=np.int64)
    a0, b0 = W_in.copy(), W_out.copy()
    lr = np.float32(0.1)
    stats = np.zeros(11)
    sgns_shared(W_in, W_out, ids, offsets, 0, 1, keep, prob, alias, NF, 1, k, lr, 7, stats)
    # expected, processing centre 0 then centre 1 sequentially
    Wi, Wo = a0.astype(np.float64), b0.astype(np.float64)
    for centre, ctx in ((0, 1), (1, 0)):
        targets = np.array([centre] + [5] * k)
        y = np.array([1.0] + [0.0] * k)
        U = Wo[targets].copy()
        v = Wi[ctx].copy()
        g = lr * (y - table_sigmoid((U @ v).astype(np.float32)))
        Wi[ctx] = v + g @ U
        np.add.at(Wo, targets, np.outer(g, v))
    np.testing.assert_allclose(W_in, Wi, atol=2e-6)
    np.testing.assert_allclose(W_out, Wo, atol=2e-6)
    assert stats[0] == 2  # pairs


def test_per_example_kernel_matches_sgns_gradient():
    rng = np.random.default_rng(1)
    V, d, k = 5, 6, 2
    W_in = (rng.standard_normal((V, d)) * 0.3).astype(np.float32)
    W_out = (rng.standard_normal((V, d)) * 0.3).astype(np.float32)
    ids = np.array([2, 3], dtype=np.int32)
    prob = np.zeros(V)
    prob[4] = 1.0
    alias = np.full(V, 4, dtype=np.int64)
    a0, b0 = W_in.copy(), W_out.copy()
    sgns_per_example(W_in, W_out, ids, np.array([0, 2], dtype=np.int64), 0, 1, np.ones(V, np.float32),
                     prob, alias, NF, 1, k, np.float32(0.05), 3, np.zeros(11))
    Wi, Wo = a0.astype(np.float64), b0.astype(np.float64)
    for centre, ctx in ((2, 3), (3, 2)):
        neu1e = np.zeros(d)
        for t, y in [(centre, 1.0)] + [(4, 0.0)] * k:
            g = 0.05 * (y - table_sigmoid(np.float32(Wi[ctx] @ Wo[t])))
            neu1e += g * Wo[t]
            Wo[t] += g * Wi[ctx]
        Wi[ctx] += neu1e
    np.testing.assert_allclose(W_in, Wi, atol=2e-6)
    np.testing.assert_allclose(W_out, Wo, atol=2e-6)


def test_cbow_kernel_matches_the_cbow_gradient():
    """Sentence [0, 1, 2], window 1: centre 0 has context {1}, centre 1 has {0, 2} (h is their
    mean), centre 2 has {1}; every negative is word 4. Checked against the CBOW update in numpy:
    h = mean v_c, g_t = lr (y_t - s(h . u_t)), u_t += g_t h, v_c += sum_t g_t u_t."""
    rng = np.random.default_rng(2)
    V, d, k = 5, 6, 2
    W_in = (rng.standard_normal((V, d)) * 0.3).astype(np.float32)
    W_out = (rng.standard_normal((V, d)) * 0.3).astype(np.float32)
    prob = np.zeros(V)
    prob[4] = 1.0
    alias = np.full(V, 4, dtype=np.int64)
    a0, b0 = W_in.copy(), W_out.copy()
    stats = np.zeros(11)
    cbow(W_in, W_out, np.array([0, 1, 2], dtype=np.int32), np.array([0, 3], dtype=np.int64), 0, 1,
         np.ones(V, np.float32), prob, alias, NF, 1, k, 0.05, 3, stats)
    Wi, Wo = a0.astype(np.float64), b0.astype(np.float64)
    for centre, ctx in ((0, [1]), (1, [0, 2]), (2, [1])):
        h = Wi[ctx].mean(axis=0)
        neu1e = np.zeros(d)
        for t, y in [(centre, 1.0)] + [(4, 0.0)] * k:
            g = 0.05 * (y - table_sigmoid(np.float32(h @ Wo[t])))
            neu1e += g * Wo[t]
            Wo[t] += g * h
        for c in ctx:
            Wi[c] += neu1e
    np.testing.assert_allclose(W_in, Wi, atol=2e-6)
    np.testing.assert_allclose(W_out, Wo, atol=2e-6)
    assert stats[0] == 3 and stats[2] == 3 * (1 + k)   # centres, loss terms


# ----------------------------------------------------------------------------- learning

@pytest.mark.parametrize("negatives,arch", [("shared", "skipgram"), ("per-example", "skipgram"),
                                            ("shared", "cbow")])
def test_planted_structure_is_learned(negatives, arch):
    sents = planted_corpus()
    model = Word2Vec(dim=20, window=3, negative=5, sample=0, min_count=1, epochs=5, threads=2,
                     negatives=negatives, lr=0.05, seed=3, arch=arch).fit(sents, progress=False)
    kv = model.wv
    # the synonym that shares every context is the nearest neighbour
    assert kv.most_similar("cat", topn=1)[0][0] in {"kitten", "dog", "puppy"}
    for a, b in (("cat", "kitten"), ("hammer", "mallet"), ("dog", "puppy"), ("saw", "drill")):
        assert kv.similarity(a, b) > kv.similarity(a, "hammer" if a in ("cat", "dog") else "cat") + 0.3
    animals = {"cat", "kitten", "dog", "puppy", "fur", "paws", "purr", "bark", "tail", "meow", "pet"}
    top = [w for w, _ in kv.most_similar("kitten", topn=6)]
    if arch == "skipgram":
        # and the topics separate
        assert len(set(top) & animals) >= 5
    else:
        # CBOW ranks by substitutability: the other animal heads come first (gensim's CBOW
        # gives the same picture on this corpus; topic words follow without topic order)
        assert set(top[:3]) == {"cat", "dog", "puppy"}
    assert model.stats["loss"] < model.stats["epoch_losses"][0] or model.stats["epoch_losses"][0] < 0.5
    assert model.stats["arch"] == arch


def _pairwise_cosines(kv, words):
    X = np.array([kv[w] for w in words], dtype=np.float64)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return (X @ X.T)[np.triu_indices(len(words), 1)]


@pytest.mark.parametrize("arch", ["cbow", "skipgram"])
def test_similarity_structure_agrees_with_gensim(arch):
    """Same corpus and settings as gensim (per-example negatives = gensim's algorithm): the
    Spearman correlation of all pairwise cosines between our vectors and gensim's is about as
    high as between two gensim runs with different seeds (0.75-0.89 measured)."""
    gensim = pytest.importorskip("gensim")
    from scipy.stats import spearmanr

    sents = planted_corpus()
    ours = Word2Vec(dim=20, window=3, negative=5, sample=0, min_count=1, epochs=5, threads=2, lr=0.05,
                    seed=3, arch=arch, negatives="per-example").fit(sents, progress=False)
    ref = gensim.models.Word2Vec(sents, vector_size=20, window=3, negative=5, sample=0, min_count=1,
                                 epochs=5, workers=2, alpha=0.05, seed=3, sg=int(arch == "skipgram"))
    words = list(ours.vocab.words)
    rho = spearmanr(_pairwise_cosines(ours.wv, words), _pairwise_cosines(ref.wv, words)).statistic
    assert rho > 0.7, rho


def test_seeded_reproducibility_single_thread():
    sents = planted_corpus(400)
    a = Word2Vec(dim=8, min_count=1, epochs=2, threads=1, seed=5).fit(sents, progress=False).W_in
    b = Word2Vec(dim=8, min_count=1, epochs=2, threads=1, seed=5).fit(sents, progress=False).W_in
    c = Word2Vec(dim=8, min_count=1, epochs=2, threads=1, seed=6).fit(sents, progress=False).W_in
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_train_sgns_on_integer_sequences():
    rng = np.random.default_rng(0)
    # two communities of ids, walks stay inside one
    walks = [rng.integers(0, 10, 20) if i % 2 else rng.integers(10, 20, 20) for i in range(400)]
    ids = np.concatenate(walks).astype(np.int32)
    offsets = np.arange(0, ids.size + 1, 20)
    W_in, W_out, st = train_sgns(ids, offsets, np.bincount(ids, minlength=20), dim=16, window=4, epochs=3, seed=1)
    assert W_in.shape == (20, 16) and W_in.dtype == np.float32 and st["words_per_sec"] > 0
    n = W_in / np.linalg.norm(W_in, axis=1, keepdims=True)
    sim = n @ n.T
    within = (sim[:10, :10].sum() - 10) / 90
    across = sim[:10, 10:].mean()
    assert within > across + 0.3
    with pytest.raises(NegsampleError, match=r"token ids must lie in \[0, 19\)"):
        train_sgns(ids, offsets, np.ones(19), dim=4)
    with pytest.raises(NegsampleError, match="offsets must start at 0"):
        train_sgns(ids, offsets[1:], np.ones(20), dim=4)


def _zipf_sentences(n_sentences=1500, length=20, V=40, seed=0):
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, V + 1) ** 1.2
    return [[f"w{i}" for i in rng.choice(V, size=length, p=p / p.sum())] for _ in range(n_sentences)]


def test_subsampling_removes_frequent_words_as_the_formula_says():
    """Window 1: a sentence whose kept tokens number m trains 2 (m - 1) pairs, so the pairs per
    epoch have expectation 2 sum_s (sum_i keep_i - 1 + P(m = 0)) with keep from
    min(1, sqrt(t/f) + t/f). Measured through Word2Vec; without subsampling it is 2 (n - 1)."""
    from negsample.distributions import subsample_keep_prob

    sents = _zipf_sentences()
    vocab = build_vocab(sents, min_count=1)
    epochs, t = 4, 2e-3
    keep = subsample_keep_prob(vocab.counts, t)
    assert keep[0] < 0.2 and keep[-1] == 1.0           # the test corpus has words on both sides
    expected = 0.0
    for sent in sents:
        k = keep[[vocab.index[w] for w in sent]]
        expected += 2 * (k.sum() - 1 + np.prod(1 - k))
    m = Word2Vec(dim=4, window=1, sample=t, min_count=1, epochs=epochs, threads=1, negatives="per-example",
                 seed=3).fit(sents, progress=False)
    assert m.stats["pairs"] / epochs == pytest.approx(expected, rel=0.01)
    full = Word2Vec(dim=4, window=1, sample=0, min_count=1, epochs=1, threads=1).fit(sents, progress=False)
    assert full.stats["pairs"] == 2 * 19 * len(sents)
    assert m.stats["pairs"] / epochs < 0.7 * full.stats["pairs"]


@pytest.mark.parametrize("alpha", [0.0, 0.75, 1.0])
def test_negatives_follow_the_noise_exponent(alpha):
    """Per-example mode draws k negatives per (context, centre w) pair from q ∝ count^alpha and
    rejects a first draw equal to w ("self"). So the self-rejections counted by the kernel have
    expectation k sum_w pairs(w) q(w), which depends on alpha (1/V-like for alpha = 0, sum p^2-like
    for alpha = 1): measured through Word2Vec within 5 standard errors (Poisson)."""
    from negsample.distributions import unigram

    sents = _zipf_sentences(600)
    vocab = build_vocab(sents, min_count=1)
    q = unigram(vocab.counts, alpha)
    pairs_as_centre = np.zeros(len(vocab))
    for sent in sents:                       # window 1: each token is the centre of its neighbours' pairs
        for i, w in enumerate(sent):
            pairs_as_centre[vocab.index[w]] += (i > 0) + (i < len(sent) - 1)
    k, epochs = 5, 3
    m = Word2Vec(dim=4, window=1, sample=0, min_count=1, epochs=epochs, threads=1, negatives="per-example",
                 negative=k, ns_exponent=alpha, seed=5).fit(sents, progress=False)
    expected = epochs * k * float(pairs_as_centre @ q)
    got = m.stats["filter"]["self"]
    assert abs(got - expected) < 5 * np.sqrt(expected), (alpha, got, expected)
    for a in {0.0, 0.75, 1.0} - {alpha}:        # the count tells the exponents apart
        assert abs(epochs * k * float(pairs_as_centre @ unigram(vocab.counts, a)) - expected) > 10 * np.sqrt(expected)


@pytest.mark.parametrize("kernel", [sgns_per_example, sgns_shared])
def test_dynamic_window_distance_distribution(kernel):
    """The window radius is b ~ U{1..window} per centre word, so a context at distance d is used with
    probability (window - d + 1) / window (a fixed window would use every d <= window). Measured in
    the kernel: with one-hot input vectors, a tiny learning rate and all noise on an unused id,
    W_out[w, c] accumulates the same g for every use of c as a context of w."""
    L, window, S = 13, 5, 4000
    V = L + 1                                   # id L: the noise's only word, never in a sentence
    ids = np.tile(np.arange(L, dtype=np.int32), S)
    offsets = np.arange(0, ids.size + 1, L, dtype=np.int64)
    W_in = (0.01 * np.eye(V, dtype=np.float32))
    W_out = np.zeros((V, V), np.float32)
    prob = np.zeros(V)
    prob[L] = 1.0
    alias = np.full(V, L, np.int64)
    kernel(W_in, W_out, ids, offsets, 0, S, np.ones(V, np.float32), prob, alias, NF, window, 1,
           np.float32(1e-6), 11, np.zeros(11))
    w = L // 2                                   # a centre with contexts up to distance 6 on both sides
    uses = W_out[w, :L] / W_out[w, w - 1]        # relative to distance 1 (always used)
    for d in range(1, window + 2):
        p = max(window - d + 1, 0) / window
        for c in (w - d, w + d):
            se = np.sqrt(p * (1 - p) / S) + 1e-3
            assert abs(uses[c] - p) < 5 * se, (d, c, uses[c], p)


# ----------------------------------------------------------------------------- input handling

@pytest.mark.parametrize("suffix,opener", [(".gz", gzip.open), (".bz2", bz2.open), (".xz", lzma.open), (".txt", open)])
def test_compressed_corpora(tmp_path, suffix, opener):
    path = write_corpus(tmp_path / f"c{suffix}", planted_corpus(300), opener)
    model = Word2Vec(dim=8, min_count=1, epochs=1, threads=1).fit(path, progress=False)
    assert model.stats["raw_words"] == 300 * 7 and model.stats["vocab_size"] == 22


def test_non_utf8_lines_are_counted(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"good words here\nbad \xff\xfe bytes here\nmore good words\n" * 5)
    with pytest.warns(UserWarning, match="5 of 15 lines had invalid UTF-8"):
        model = Word2Vec(dim=4, min_count=1, epochs=1, threads=1).fit(str(path), progress=False)
    assert model.stats["bad_utf8_lines"] == 5


@pytest.mark.parametrize("kwargs,message", [
    ({"dim": 0}, "dim must be >= 1"),
    ({"negative": 0}, "negative must be >= 1"),
    ({"window": 0}, "window must be >= 1"),
    ({"sample": -1e-4}, "sample must be >= 0"),
    ({"epochs": 0}, "epochs must be >= 1"),
    ({"lr": 0}, "lr must be > 0"),
    ({"threads": 0}, "threads must be >= 1"),
    ({"negatives": "hard"}, "negatives must be one of"),
    ({"arch": "glove"}, "arch must be one of"),
    ({"ns_exponent": -1}, "ns_exponent must be >= 0"),
])
def test_invalid_hyper_parameters(kwargs, message):
    with pytest.raises(NegsampleError, match=message):
        Word2Vec(**kwargs)


def test_corpus_errors(tmp_path):
    with pytest.raises(NegsampleError, match="corpus not found"):
        Word2Vec().fit(str(tmp_path / "missing.txt"), progress=False)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    with pytest.raises(NegsampleError, match="corpus is empty"):
        Word2Vec().fit(str(empty), progress=False)
    rare = tmp_path / "rare.txt"
    rare.write_text("a b c d\n")
    with pytest.raises(NegsampleError, match="no word reaches min_count=5"):
        Word2Vec(min_count=5).fit(str(rare), progress=False)
    broken = tmp_path / "broken.xz"
    broken.write_bytes(lzma.compress(b"some text\n" * 1000)[:50])
    with pytest.raises(NegsampleError, match="corrupt or truncated|cannot read corpus"):
        Word2Vec(min_count=1).fit(str(broken), progress=False)


# ----------------------------------------------------------------------------- checkpoints, CLI

def test_checkpoint_and_resume(tmp_path):
    corpus = write_corpus(tmp_path / "c.txt", planted_corpus(300))
    ck = tmp_path / "ck"
    full = Word2Vec(dim=8, min_count=1, epochs=3, threads=1, seed=2)
    full.fit(corpus, checkpoint_dir=str(ck), progress=False)
    assert (ck / "word2vec-checkpoint.npz").exists()
    assert [p for p in os.listdir(ck) if p.endswith(".tmp") or p.endswith(".int32")] == []
    # resuming a finished run restores its weights and trains nothing more
    resumed = Word2Vec(dim=8, min_count=1, epochs=3, threads=1, seed=2)
    resumed.fit(corpus, checkpoint_dir=str(ck), resume=True, progress=False)
    assert resumed.stats["start_epoch"] == 3 and resumed.stats["epochs_run"] == 0
    np.testing.assert_array_equal(resumed.W_in, full.W_in)
    with pytest.raises(NegsampleError, match="has dimension 8, not 9"):
        Word2Vec(dim=9, min_count=1, epochs=3, threads=1, seed=2).fit(
            corpus, checkpoint_dir=str(ck), resume=True, progress=False)
    with pytest.raises(NegsampleError, match="was made with arch='skipgram', not 'cbow'"):
        Word2Vec(dim=8, min_count=1, epochs=3, threads=1, seed=2, arch="cbow").fit(
            corpus, checkpoint_dir=str(ck), resume=True, progress=False)


def test_resume_continues_an_interrupted_run(tmp_path, monkeypatch):
    """Interrupt after epoch 1 (raise inside the epoch hook), then resume: epochs 2..3 run."""
    corpus = write_corpus(tmp_path / "c.txt", planted_corpus(300))
    ck = str(tmp_path / "ck")
    import negsample.word2vec as w2v

    original = w2v.Word2Vec._save_checkpoint

    def save_then_stop(self, path, epochs_done, *rest):
        original(self, path, epochs_done, *rest)
        if epochs_done == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(w2v.Word2Vec, "_save_checkpoint", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        Word2Vec(dim=8, min_count=1, epochs=3, threads=1, seed=2).fit(corpus, checkpoint_dir=ck, progress=False)
    monkeypatch.setattr(w2v.Word2Vec, "_save_checkpoint", original)
    resumed = Word2Vec(dim=8, min_count=1, epochs=3, threads=1, seed=2).fit(
        corpus, checkpoint_dir=ck, resume=True, progress=False)
    assert resumed.stats["start_epoch"] == 1 and resumed.stats["epochs_run"] == 2


def test_cli_train_json_eval_query(tmp_path, capsys):
    corpus = write_corpus(tmp_path / "c.txt.gz", planted_corpus(1500), gzip.open)
    out = tmp_path / "v.bin"
    rc = main(["word2vec", "train", corpus, "-o", str(out), "--dim", "16", "--window", "3", "--min-count", "1",
               "--epochs", "3", "--threads", "2", "--sample", "0", "--lr", "0.05", "--json", "--quiet"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("words_per_sec", "train_seconds", "vocab_size", "raw_words"):
        assert key in summary
    assert summary["vocab_size"] == 22 and summary["raw_words"] == 1500 * 7
    kv = KeyedVectors.load_word2vec_format(out)
    assert len(kv) == 22 and kv.vector_size == 16
    assert main(["word2vec", "query", str(out), "kitten", "--topn", "3"]) == 0
    assert "nearest to 'kitten'" in capsys.readouterr().out
    assert main(["word2vec", "query", str(out), "--analogy", "cat", "kitten", "dog"]) == 0
    assert "cat : kitten :: dog : ?" in capsys.readouterr().out
    assert main(["word2vec", "query", str(out), "unicorn"]) == 2
    assert "'unicorn' is not in the vocabulary" in capsys.readouterr().err
    # text format output
    out_txt = tmp_path / "v.txt"
    assert main(["word2vec", "train", corpus, "-o", str(out_txt), "--format", "text", "--dim", "4",
                 "--min-count", "1", "--epochs", "1", "--quiet"]) == 0
    assert open(out_txt).readline().strip() == "22 4"
    # CBOW from the command line
    assert main(["word2vec", "train", corpus, "-o", str(tmp_path / "cb.bin"), "--arch", "cbow", "--dim", "8",
                 "--min-count", "1", "--epochs", "1", "--json", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["arch"] == "cbow"


@pytest.mark.parametrize("argv,message", [
    (["--dim", "0"], "dim must be >= 1"),
    (["--negative", "0"], "negative must be >= 1"),
    (["--window", "0"], "window must be >= 1"),
    (["--sample", "-1"], "sample must be >= 0"),
])
def test_cli_bad_hyper_parameters_exit_2(tmp_path, capsys, argv, message):
    corpus = write_corpus(tmp_path / "c.txt", planted_corpus(50))
    assert main(["word2vec", "train", corpus, "-o", str(tmp_path / "v.bin"), "--quiet"] + argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_missing_corpus_and_no_truncated_output(tmp_path, capsys):
    out = tmp_path / "v.bin"
    assert main(["word2vec", "train", str(tmp_path / "nope.txt"), "-o", str(out), "--quiet"]) == 2
    assert "corpus not found" in capsys.readouterr().err
    assert not out.exists() and os.listdir(tmp_path) == []


def test_corpus_that_is_an_empty_directory(tmp_path):
    # a directory is a corpus of its files (gensim's PathLineSentences); an empty one is an error
    with pytest.raises(NegsampleError, match="corpus directory has no files"):
        Word2Vec().fit(str(tmp_path), progress=False)


def test_demo_runs_on_the_bundled_corpus(tmp_path, capsys):
    out = tmp_path / "demo.bin"
    assert main(["demo", "-o", str(out), "--epochs", "1", "--dim", "16", "--quiet", "--words", "whale", "zzzz"]) == 0
    text = capsys.readouterr().out
    assert "analogies questions-words.txt: accuracy" in text and "similarity wordsim353.tsv: Spearman" in text
    assert "whale" in text and "zzzz       (not in vocabulary)" in text
    assert KeyedVectors.load_word2vec_format(out).vector_size == 16
