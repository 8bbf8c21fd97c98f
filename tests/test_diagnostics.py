"""Diagnostics: co-occurrence as the trainer sees it, the SGNS optimum check on planted corpora,
the spectrum, the noise report (against the noise core's draws) and `negsample diagnose`."""
import json
import math

import numpy as np
import pytest
import scipy.sparse as sp

from negsample import NegsampleError
from negsample import diagnostics as D
from negsample.cli import main
from negsample.distributions import AliasTable, unigram
from negsample.samplers import NegativeSampler
from negsample.sgns import train_sgns


def planted_pairs(V=30, n=10_000, seed=0):
    """Sentences of two tokens (w, c) drawn from a planted joint P(w, c) with Zipf-like marginals:
    with window 1 every sentence is exactly the pairs (w, c) and (c, w)."""
    rng = np.random.default_rng(seed)
    A = rng.gamma(0.5, size=(V, V))
    A = A + A.T
    f = np.minimum(rng.zipf(1.5, V).astype(float), 50)
    P = A * np.outer(f, f)
    P /= P.sum()
    flat = rng.choice(V * V, size=n, p=P.ravel())
    ids = np.stack([flat // V, flat % V], 1).ravel().astype(np.int32)
    return ids, np.arange(0, ids.size + 1, 2, dtype=np.int64)


# ----------------------------------------------------------------------------- co-occurrence

def test_cooccurrence_by_hand_dynamic_window():
    ids = np.array([0, 1, 2, 3, 4, 1], np.int32)
    offsets = np.array([0, 4, 6])              # sentences [0 1 2 3] and [4 1]
    M = D.cooccurrence(ids, offsets, 5, window=2).toarray()
    E = np.zeros((5, 5))
    for a, b, w in ((0, 1, 1), (1, 2, 1), (2, 3, 1), (0, 2, .5), (1, 3, .5), (4, 1, 1)):
        E[a, b] += w
        E[b, a] += w
    np.testing.assert_allclose(M, E)
    F = D.cooccurrence(ids, offsets, 5, window=2, dynamic=False).toarray()
    assert F[0, 2] == 1.0 and F[1, 3] == 1.0
    with pytest.raises(NegsampleError, match=r"token ids must lie in \[0, 5\)"):
        D.cooccurrence(ids + 5, offsets, 5, window=2)


@pytest.mark.parametrize("sample", [0.0, 1e-2])
def test_cooccurrence_total_matches_the_trainers_pairs(sample):
    """M sums to the pairs the kernel trains per epoch (dynamic window, subsampling): a dynamic
    window makes it (W + 1) per token instead of 2W, subsampling removes frequent tokens."""
    rng = np.random.default_rng(1)
    V = 50
    p = 1.0 / np.arange(1, V + 1)
    ids = rng.choice(V, size=60_000, p=p / p.sum()).astype(np.int32)
    offsets = np.arange(0, ids.size + 1, 30, dtype=np.int64)
    counts = np.bincount(ids, minlength=V)
    M = D.cooccurrence(ids, offsets, V, window=5, sample=sample, counts=counts)
    _, _, st = train_sgns(ids, offsets, counts, dim=4, window=5, sample=sample, epochs=4, threads=1,
                          negatives="per-example", seed=2)
    per_epoch = st["pairs"] / 4
    assert per_epoch == pytest.approx(M.sum(), rel=0.01)
    if sample == 0:
        # 30-token sentences, window 5: 2 * sum_d (30 - d)(6 - d)/5 pairs each
        assert M.sum() == pytest.approx(2000 * 2 * sum((30 - d) * (6 - d) / 5 for d in range(1, 6)))


# ----------------------------------------------------------------------------- the optimum

@pytest.mark.parametrize("mode", ["per-example", "shared"])
def test_trained_vectors_reach_the_exact_optimum_and_alpha_shifts_pmi(mode):
    """Planted corpus, noise alpha = 0.75, dim = V (no rank limit): x = v.u matches the exact
    optimum (r > 0.99, offset ~ 0); against PMI - ln k the offset rises with the target's
    frequency as -ln(q/p) = (1 - alpha) ln p + const says, so PMI - ln k fits worse."""
    V = 30
    ids, offsets = planted_pairs(V)
    counts = np.bincount(ids, minlength=V)
    s = NegativeSampler(negative=5, ns_exponent=0.75, mode=mode)
    W_in, W_out, _ = train_sgns(ids, offsets, counts, dim=V, window=1, negatives=s, epochs=40, lr=0.05, seed=1,
                                threads=1)
    M = D.cooccurrence(ids, offsets, V, window=1)
    rep = D.optimum_check(W_in, W_out, M, 5, q=s.table_.probabilities, min_count=20, buckets=4)
    ex, pm = rep.overall["exact"], rep.overall["pmi"]
    assert ex["pearson"] > 0.99 and abs(ex["offset"]) < 0.1 and ex["rmse"] < 0.15, rep.format()
    assert pm["pearson"] < ex["pearson"] - 0.05 and pm["rmse"] > 3 * ex["rmse"]
    offsets_pmi = [b["pmi"]["offset"] for b in rep.buckets]
    assert all(a < b for a, b in zip(offsets_pmi, offsets_pmi[1:])), offsets_pmi
    assert offsets_pmi[-1] - offsets_pmi[0] > 0.8
    assert all(abs(b["exact"]["offset"]) < 0.1 for b in rep.buckets)
    # vectors that never saw the corpus fail the same check
    rng = np.random.default_rng(0)
    bad = D.optimum_check(rng.normal(size=W_in.shape), rng.normal(size=W_out.shape), M, 5,
                          q=s.table_.probabilities, min_count=20, with_spectrum=False)
    assert abs(bad.overall["exact"]["pearson"]) < 0.3


def test_predicted_optimum_formulas_by_hand():
    M = sp.csr_matrix(np.array([[0, 4.0, 2.0], [4.0, 0, 1.0], [2.0, 1.0, 6.0]]))
    q = np.array([0.5, 0.3, 0.2])
    r, c, m, pmi, exact = D.predicted_optimum(M, 2, q=q, exclude_self=True)
    marg = np.array([6.0, 5.0, 9.0])
    for i in range(r.size):
        a, b = r[i], c[i]
        assert pmi[i] == pytest.approx(math.log(m[i] * 20 / (marg[a] * marg[b])) - math.log(2))
        A = sum(M[a, w] / (1 - q[w]) for w in range(3) if w != b)
        assert exact[i] == pytest.approx(math.log(m[i] / (2 * q[b] * A)))
    _, _, _, _, plain = D.predicted_optimum(M, 2, q=q, exclude_self=False)
    np.testing.assert_allclose(plain, np.log(m / (2 * q[c] * marg[r])))
    # unigram^1 noise without the filter: exactly PMI - ln k
    _, _, _, pmi1, ex1 = D.predicted_optimum(M, 2, q=None, exclude_self=False)
    np.testing.assert_allclose(ex1, pmi1)


def test_spectrum_of_the_implicit_matrix():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(40, 6)), rng.normal(size=(40, 6))
    s = D.spectrum(A, B, top=6)
    np.testing.assert_allclose(s["implicit"], np.linalg.svd(A @ B.T, compute_uv=False)[:6], rtol=1e-10)
    u = rng.normal(size=(40, 1))
    assert D.spectrum(u @ np.ones((1, 6)), u @ np.ones((1, 6)))["effective_rank"] == pytest.approx(1.0, abs=1e-6)


# ----------------------------------------------------------------------------- the noise report

def test_lift_and_report_by_hand():
    assert D.lift(100, 1e9, 0.75) == pytest.approx(10 ** 1.75)       # 56.2-fold
    assert D.lift(100, 1e9, 1.0) == pytest.approx(1.0)
    assert D.lift(100, 1e9, 0.0) == pytest.approx(1e7)
    counts = np.array([1e9, 1e6, 1e3, 100.0])
    rep = D.noise_report(counts, ns_exponent=0.75, negative=5, buckets=4, draws=1e4)
    q = unigram(counts, 0.75)
    p = counts / counts.sum()
    for row, pj, qj in zip(rep.table, p, q):
        assert row["token_share"] == pytest.approx(pj) and row["draw_share"] == pytest.approx(qj)
        assert row["lift"] == pytest.approx(qj / pj)
        assert row["grad_share"] == pytest.approx((pj + 5 * qj) / 6)
        assert row["coverage"] == pytest.approx(1 - (1 - qj) ** 1e4)
    assert rep.table[3]["lift"] / rep.table[0]["lift"] == pytest.approx(D.lift(100, 1e9, 0.75))
    assert rep.lift_extremes["lift"] == pytest.approx(10 ** 1.75)
    assert rep.never_drawn == pytest.approx(sum((1 - qj) ** 1e4 for qj in q))
    assert "lift 56.2x" in rep.format()


def test_never_drawn_matches_the_noise_core():
    """Expected items never drawn in N draws against the noise core's alias draws (Monte Carlo
    over 200 seeds; the mean lies within 4 standard errors)."""
    rng = np.random.default_rng(0)
    counts = np.floor(1e5 / np.arange(1, 2001) ** 1.1) + 1
    for alpha in (0.75, 1.0):
        rep = D.noise_report(counts, ns_exponent=alpha, draws=3000)
        table = AliasTable(unigram(counts, alpha))
        missed = [counts.size - np.unique(table.sample(3000, rng=int(rng.integers(1 << 62)))).size
                  for _ in range(200)]
        assert abs(np.mean(missed) - rep.never_drawn) < 4 * np.std(missed) / math.sqrt(200) + 0.5
    # alpha < 1 flattens the noise: fewer items are never drawn than with alpha = 1
    assert D.noise_report(counts, 0.75, draws=3000).never_drawn < D.noise_report(counts, 1.0, draws=3000).never_drawn


def test_noise_report_errors():
    with pytest.raises(NegsampleError, match="counts contains negative values"):
        D.noise_report([1, -1])
    with pytest.raises(NegsampleError, match="ns_exponent must be >= 0"):
        D.noise_report([1, 2], ns_exponent=-1)


# ----------------------------------------------------------------------------- CLI

def _planted_text(tmp_path, V=30, n=10_000):
    ids, _ = planted_pairs(V, n)
    words = [f"w{i}" for i in range(V)]
    path = tmp_path / "planted.txt"
    path.write_text("".join(f"{words[a]} {words[b]}\n" for a, b in ids.reshape(-1, 2)))
    return path


def test_cli_diagnose_on_a_planted_corpus(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    corpus = _planted_text(tmp_path)
    model = tmp_path / "m.npz"
    assert main(["word2vec", "train", str(corpus), "-o", str(tmp_path / "v.bin"), "--save-model", str(model),
                 "--dim", "30", "--window", "1", "--min-count", "1", "--sample", "0", "--epochs", "40", "--lr", "0.05",
                 "--negatives", "per-example", "--ns-exponent", "1", "--threads", "1", "--quiet"]) == 0
    plot = tmp_path / "noise.png"
    assert main(["diagnose", str(model), "--corpus", str(corpus), "--plot", str(plot), "--min-pair-count", "20",
                 "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    opt = res["optimum"]
    assert opt["overall"]["exact"]["pearson"] > 0.99 and abs(opt["overall"]["exact"]["offset"]) < 0.1
    # alpha = 1: PMI - ln k is nearly the exact optimum (only the self-exclusion differs)
    assert opt["overall"]["pmi"]["pearson"] > 0.97
    assert opt["settings"]["window"] == 1 and opt["settings"]["ns_exponent"] == 1.0
    assert res["noise"]["ns_exponent"] == 1.0 and len(res["noise"]["table"]) == 10
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # text output: the noise table and the check
    assert main(["diagnose", str(model), "--corpus", str(corpus), "--no-spectrum", "--ns-exponent", "0.75"]) == 0
    out = capsys.readouterr().out
    assert "Noise q ∝ count^0.75" in out and "SGNS optimum check" in out and "by target frequency" in out


def test_cli_diagnose_counts_file_and_errors(tmp_path, capsys):
    counts = tmp_path / "degrees.tsv"
    counts.write_text("# node degree\na\t1000000000\nb\t100\n")
    assert main(["diagnose", "--counts", str(counts), "--buckets", "2", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["noise"]["lift_extremes"]["lift"] == pytest.approx(10 ** 1.75)
    assert main(["diagnose"]) == 2
    assert "give a MODEL" in capsys.readouterr().err
    assert main(["diagnose", "--counts", str(counts), "--corpus", str(counts)]) == 2
    assert "--corpus needs a MODEL" in capsys.readouterr().err
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tlots\n")
    assert main(["diagnose", "--counts", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "non-numeric count 'lots'" in err and len(err.strip().splitlines()) == 1
    assert main(["diagnose", str(counts)]) == 2
    assert "is not a negsample word2vec-model file" in capsys.readouterr().err


def test_cli_plot_without_matplotlib_is_one_line(tmp_path, capsys, monkeypatch):
    import sys

    counts = tmp_path / "c.txt"
    counts.write_text("5\n3\n1\n")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["diagnose", "--counts", str(counts), "--plot", str(tmp_path / "n.png")]) == 2
    err = capsys.readouterr().err
    assert "pip install 'negsample[plot]'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "n.png").exists()
