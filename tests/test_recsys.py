"""Recsys: interaction loading, leave-last-out, metrics by hand, negatives through the noise core
(filters, any noise, counts), persistence without pickle, divergence, the CLI."""
import json
import zipfile

import numpy as np
import pytest
import scipy.sparse as sp
from scipy import stats

from negsample import NegsampleError
from negsample.cli import main
from negsample.recsys import (ImplicitModel, Interactions, evaluate, fairness_by_decile, leave_last_out,
                              load_interactions, most_popular_scores, train_two_tower)
from negsample.samplers import NegativeSampler


def write(tmp_path, text, name="inter.tsv"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def small_matrix(U=30, I=40, per_user=5, seed=0):
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(U), per_user)
    items = np.concatenate([rng.choice(I, per_user, replace=False) for _ in range(U)])
    return sp.csr_matrix((np.ones(users.size, np.float32), (users, items)), shape=(U, I))


def test_loading_merges_duplicates_and_maps_ids(tmp_path):
    path = write(tmp_path, "user\titem\trating\ttimestamp\nalice\tx\t3\t10\nbob\ty\t5\t11\nalice\tx\t1\t30\nalice\tz\t2\t20\n")
    d = load_interactions(path)
    assert d.n_users == 2 and d.n_items == 3 and len(d) == 3 and d.duplicates_merged == 1
    ax = [i for i in range(3) if d.user_ids[d.users[i]] == "alice" and d.item_ids[d.items[i]] == "x"][0]
    assert d.weights[ax] == 4 and d.timestamps[ax] == 30  # summed weight, latest time
    with pytest.raises(NegsampleError, match="interactions file not found"):
        load_interactions(str(tmp_path / "nope.tsv"))


def test_leave_last_out_rules(tmp_path):
    path = write(tmp_path, "user\titem\ttimestamp\nu1\ta\t5\nu1\tb\t9\nu1\tc\t7\nu2\ta\t1\nu3\tb\t3\nu3\tc\t3\n")
    d = load_interactions(path)
    train, test = leave_last_out(d)
    u = {name: i for i, name in enumerate(d.user_ids)}
    it = {name: i for i, name in enumerate(d.item_ids)}
    assert d.items[test[u["u1"]]] == it["b"]          # latest timestamp
    assert test[u["u2"]] == -1                         # a single interaction stays in training
    assert d.items[test[u["u3"]]] == it["c"]          # tie: the later line in the file
    assert train.sum() == len(d) - 2


def test_metrics_by_hand():
    train = sp.csr_matrix(np.array([[1, 0, 0, 0, 0], [0, 0, 0, 0, 0]], dtype=np.float32))
    scores = np.array([[9.0, 5.0, 4.0, 3.0, 1.0],    # item 0 is a training item: excluded
                       [1.0, 2.0, 3.0, 4.0, 5.0]])
    res = evaluate(lambda us: scores[us], train, np.array([0, 1]), np.array([2, 0]), k=2)
    # user 0: ranking 1, 2 -> held-out 2 at rank 1 -> hit, ndcg 1/log2(3); user 1: top-2 = 4, 3 -> miss
    assert res["recall@k"] == pytest.approx(0.5)
    assert res["ndcg@k"] == pytest.approx((1 / np.log2(3)) / 2)
    assert res["coverage"] == pytest.approx(4 / 5)  # items 1, 2, 3, 4 shown
    with pytest.raises(NegsampleError, match="k=6 is larger than the catalogue"):
        evaluate(lambda us: scores[us], train, np.array([0, 1]), np.array([2, 0]), k=6)


@pytest.mark.parametrize("mode", ["per-example", "per-user"])
def test_known_positives_are_never_negatives_and_are_counted(mode):
    """Items 0, 1, 2 are known positives of every user and the most popular (the noise favours
    them): the instrumented kernel never uses them as negatives; the core's counts say why.
    (Per-user: 5 items -> 5 groups of one per user and epoch, 5 draws each: the same total.)"""
    rng = np.random.default_rng(0)
    U, I = 30, 40
    users = np.repeat(np.arange(U), 5)
    items = np.concatenate([np.r_[0, 1, 2, rng.choice(np.arange(3, I), 2, replace=False)] for _ in range(U)])
    X = sp.csr_matrix((np.ones(users.size, np.float32), (users, items)), shape=(U, I))
    sampler = NegativeSampler(negative=5, ns_exponent=1.0, mode=mode)
    m = ImplicitModel(dim=8, negatives=sampler, epochs=10, threads=1).fit(X, instrument=True)
    assert m.neg_count[:3].sum() == 0
    f = m.stats["filter"]
    assert f["rejected"] > 0 and f["by_reason"]["known"] > 0
    assert (f["by_reason"]["self"] > 0) == (mode == "per-example")  # per-user draws avoid the whole row
    assert f["total"] == 10 * users.size * 5
    assert m.neg_count.sum() == f["total"] - f["dropped"] == m.stats["negatives_used"]
    assert sampler.stats_.rejected == f["rejected"]  # reported through sampler.record too
    # without the known-positive filter they are drawn (the filter is what removes them)
    m2 = ImplicitModel(dim=8, negatives=sampler.copy(), epochs=2, threads=1, exclude_known=False).fit(X, instrument=True)
    assert m2.neg_count[:3].sum() > 0 and m2.stats["filter"]["by_reason"]["known"] == 0


@pytest.mark.parametrize("mode", ["per-example", "shared", "per-user"])
def test_negatives_follow_any_sampler_noise(mode):
    """Custom noise weights reach the kernel: instrumented negative counts pass a chi-square test
    against q (the positive item 0 has weight 0, so no draw is rejected)."""
    U, I = 20, 12
    X = sp.csr_matrix((np.ones(U, np.float32), (np.arange(U), np.zeros(U, int))), shape=(U, I))
    w = np.r_[0.0, np.arange(1, I, dtype=float)]
    s = NegativeSampler(negative=4, noise=w, mode=mode)
    m = ImplicitModel(dim=4, negatives=s, epochs=200, threads=1).fit(X, instrument=True)
    q = w / w.sum()
    assert m.stats["filter"]["rejected"] == 0
    cnt = m.neg_count[1:]
    p = stats.chisquare(cnt, q[1:] * cnt.sum()).pvalue
    if mode != "shared":
        assert p > 1e-3
    assert stats.chisquare(cnt, np.full(I - 1, cnt.sum() / (I - 1))).pvalue < 1e-6  # not uniform
    # uniform and mixture noises are accepted as well
    for noise in ("uniform", [(0.5, "frequency"), (0.5, "uniform")]):
        ImplicitModel(dim=4, negatives=NegativeSampler(noise=noise, mode=mode), epochs=1, threads=1).fit(X)


def test_time_filter_uses_the_positive_items_time():
    """Items with a time within the window of the positive item's time are never negatives."""
    U, I = 25, 30
    X = sp.csr_matrix((np.ones(U, np.float32), (np.arange(U), np.full(U, 10))), shape=(U, I))
    times = np.arange(I, dtype=float)   # item 10's window of 2: items 8..12
    s = NegativeSampler(negative=5, noise="uniform", times=times, time_window=2.0)
    m = ImplicitModel(dim=4, negatives=s, epochs=20, threads=1).fit(X, instrument=True)
    assert m.neg_count[8:13].sum() == 0 and m.neg_count.sum() > 0
    assert m.stats["filter"]["by_reason"]["time"] > 0
    # per-user groups share negatives across positives: no single positive's time to compare with
    with pytest.raises(NegsampleError, match="time-window and label filters compare a negative with one positive"):
        ImplicitModel(dim=4, negatives=s.copy(mode="per-user"), epochs=1, threads=1).fit(X)


def test_seeded_single_thread_runs_are_reproducible():
    X = small_matrix()
    a = ImplicitModel(dim=8, epochs=3, threads=1, seed=4).fit(X)
    b = ImplicitModel(dim=8, epochs=3, threads=1, seed=4).fit(X)
    c = ImplicitModel(dim=8, epochs=3, threads=1, seed=5).fit(X)
    np.testing.assert_array_equal(a.item_factors, b.item_factors)
    assert not np.array_equal(a.item_factors, c.item_factors)


def test_one_name_per_concept():
    with pytest.raises(TypeError):
        ImplicitModel(shared=True)
    assert ImplicitModel(negatives="shared").negatives == "shared"
    assert ImplicitModel(negative=3, ns_exponent=0.5).sampler.negative == 3
    with pytest.raises(NegsampleError, match="negatives must be one of per-user, per-example, shared"):
        ImplicitModel(negatives="in-batch")
    with pytest.raises(NegsampleError, match="loss must be one of softmax, bpr, sgns"):
        ImplicitModel(loss="warp")
    with pytest.raises(NegsampleError, match="negatives 'per-user' train loss softmax, not 'bpr'"):
        ImplicitModel(loss="bpr")
    with pytest.raises(NegsampleError, match="train loss bpr or sgns, not 'softmax'"):
        ImplicitModel(negatives="per-example", loss="softmax")
    with pytest.raises(NegsampleError, match="weighting 'sample' draws interactions one by one"):
        ImplicitModel(weighting="sample")
    with pytest.raises(NegsampleError, match="adaptive negatives .* need mode 'per-example'"):
        ImplicitModel(negatives=NegativeSampler(mode="per-user", candidates=10))
    # None = the mode's default
    assert (ImplicitModel().epochs, ImplicitModel().negative, ImplicitModel().loss) == (10, 50, "softmax")
    m = ImplicitModel(negatives="per-example")
    assert (m.epochs, m.negative, m.loss, m.sampler.candidates) == (40, 2, "bpr", 10)


def test_divergence_is_an_error_naming_the_learning_rate():
    X = small_matrix()
    with pytest.raises(NegsampleError, match=r"training diverged at epoch \d+ \(non-finite .*lower the learning rate"):
        ImplicitModel(dim=16, epochs=30, lr=50.0, reg=0.0, init_std=1.0, loss="sgns", negatives="per-example",
                      threads=1).fit(X)
    with pytest.raises(NegsampleError, match=r"training diverged at epoch 1 \(non-finite"):
        ImplicitModel(dim=16, epochs=3, lr=1e38, init_std=1.0, threads=1).fit(X)


def test_size_checked_before_allocating():
    X = sp.csr_matrix((np.ones(1, np.float32), ([0], [0])), shape=(10**7, 10**6))
    with pytest.raises(NegsampleError, match="GiB.*lower the dimension"):
        ImplicitModel(dim=100_000).fit(X)


def test_save_load_round_trip_without_pickle(tmp_path):
    X = small_matrix()
    m = ImplicitModel(dim=8, epochs=2, threads=1).fit(X, holdout="last")
    m.set_ids([f"u{i}" for i in range(30)], [f"i{i}" for i in range(40)])
    path = tmp_path / "m.npz"
    m.save(path)
    with zipfile.ZipFile(path) as zf:  # plain arrays, strings as UTF-8 blobs
        assert all(n.endswith(".npy") for n in zf.namelist())
    r = ImplicitModel.load(path)
    np.testing.assert_array_equal(r.item_factors, m.item_factors)
    np.testing.assert_array_equal(r.scores([3]), m.scores([3]))
    assert r.user_ids[3] == "u3" and r.item_index("i7") == 7 and r.holdout == "last"
    assert r.train_fingerprint == m.train_fingerprint


def test_load_rejects_non_models(tmp_path):
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(NegsampleError, match="not a negsample recsys-model file"):
        ImplicitModel.load(empty)
    other = tmp_path / "other.npz"
    np.savez(other, user_factors=np.zeros((2, 2), np.float32))
    with pytest.raises(NegsampleError, match="not a negsample recsys-model file"):
        ImplicitModel.load(other)
    from negsample.io import save_arrays
    bad = tmp_path / "bad.npz"
    save_arrays(bad, "recsys-model", {"user_factors": np.zeros((2, 3), np.float32),
                                      "item_factors": np.full((4, 3), np.nan, np.float32),
                                      "item_bias": np.zeros(4, np.float32)})
    with pytest.raises(NegsampleError, match="item_factors contains NaN"):
        ImplicitModel.load(bad)
    save_arrays(bad, "recsys-model", {"user_factors": np.zeros((2, 3), np.float32),
                                      "item_factors": np.zeros((4, 3), np.float32),
                                      "item_bias": np.zeros(5, np.float32)})
    with pytest.raises(NegsampleError, match="item_bias has shape"):
        ImplicitModel.load(bad)
    save_arrays(bad, "word2vec-checkpoint", {"x": np.zeros(1)})
    with pytest.raises(NegsampleError, match="is a negsample 'word2vec-checkpoint' file, not a recsys-model"):
        ImplicitModel.load(bad)


def test_fairness_by_decile_shares():
    pop = np.arange(20, dtype=float)
    cnt = np.ones(20)
    grad = np.arange(20, dtype=float)
    f = fairness_by_decile(pop, cnt, grad, n_deciles=10)
    assert f["negative_share"] == pytest.approx([0.1] * 10)
    assert sum(f["gradient_share"]) == pytest.approx(1.0)
    assert f["gradient_share"][-1] > f["gradient_share"][0]


def test_training_beats_most_popular_on_movielens(shared_data):
    d = load_interactions(shared_data / "recsys" / "ml-100k.tsv")
    assert d.n_users == 943 and d.n_items == 1682 and len(d) == 100_000
    mask, test = leave_last_out(d)
    train = d.to_csr(mask)
    tu = np.flatnonzero(test >= 0)
    ti = d.items[test[tu]]
    pop = evaluate(most_popular_scores(train), train, tu, ti, k=10)
    model = ImplicitModel(dim=32, epochs=8, ns_exponent=0.5, threads=2).fit(train)
    ours = evaluate(model.scores, train, tu, ti, k=10)
    assert ours["recall@k"] > pop["recall@k"] + 0.01
    assert ours["coverage"] > pop["coverage"]


def test_two_tower_with_in_batch_sampler_trains():
    pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    U, I = 50, 60
    users = rng.integers(0, U, 2000)
    items = (users + rng.integers(0, 3, 2000)) % I  # each user likes 3 neighbouring items
    X = sp.csr_matrix((np.ones(2000, np.float32), (users, items)), shape=(U, I))
    P, Qf = train_two_tower(X, dim=16, epochs=15, batch_size=256, temperature=0.2, lr=0.05,
                            negatives=NegativeSampler(mode="in-batch", ns_exponent=1.0))
    assert P.shape == (U, 16) and Qf.shape == (I, 16)
    top = np.argsort(-(P @ Qf.T), 1)[:, :3]
    hits = np.mean([len(set(top[u]) & {(u + j) % I for j in range(3)}) / 3 for u in range(U)])
    assert hits > 0.6
    with pytest.raises(NegsampleError, match="negatives must be one of in-batch"):
        train_two_tower(X, negatives="per-example")


def _cli_data(tmp_path):
    rng = np.random.default_rng(1)
    rows = ["user\titem\ttimestamp"]
    for u in range(40):
        for t, i in enumerate(rng.choice(30, 6, replace=False)):
            rows.append(f"u{u}\ti{(i + u) % 30}\t{t}")
    rows.append("u0\ti0\t99")
    rows.append("u0\ti0\t100")  # a duplicate, merged
    return write(tmp_path, "\n".join(rows) + "\n")


def test_cli_train_eval_recommend(tmp_path, capsys):
    path = _cli_data(tmp_path)
    model = str(tmp_path / "m.npz")
    assert main(["recsys", "train", path, "-o", model, "--dim", "8", "--epochs", "3", "--negatives", "shared",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["duplicates_merged"] == 1 and out["users"] == 40 and out["holdout"] == "last"
    assert main(["recsys", "eval", model, path, "--topn", "5", "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 <= res["recall@k"] <= 1 and res["users"] == 40 and "most_popular" in res
    assert main(["recsys", "recommend", model, "u3", "--topn", "4"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 4
    assert main(["recsys", "recommend", model, "nobody"]) == 2
    assert "unknown user 'nobody'" in capsys.readouterr().err


def test_cli_errors_are_one_line(tmp_path, capsys):
    path = _cli_data(tmp_path)
    model = str(tmp_path / "m.npz")
    # a model trained on everything cannot be evaluated by leave-last-out
    assert main(["recsys", "train", path, "-o", model, "--dim", "4", "--epochs", "1", "--holdout", "none",
                 "--quiet"]) == 0
    capsys.readouterr()
    assert main(["recsys", "eval", model, path]) == 2
    err = capsys.readouterr().err
    assert "--holdout none" in err and err.count("\n") == 1
    assert main(["recsys", "train", path, "-o", model, "--dim", "4", "--epochs", "1", "--quiet"]) == 0
    assert main(["recsys", "eval", model, path, "--topn", "31"]) == 2
    assert "k=31 is larger than the catalogue (30 items)" in capsys.readouterr().err
    assert main(["recsys", "eval", path, path]) == 2          # not a model
    assert "is not a negsample recsys-model file" in capsys.readouterr().err
    assert main(["recsys", "train", path, "-o", model, "--loss", "sgns", "--quiet"]) == 2
    assert "negatives 'per-user' train loss softmax, not 'sgns'" in capsys.readouterr().err
    assert main(["recsys", "train", path, "-o", model, "--dim", "16", "--epochs", "30", "--lr", "1000",
                 "--reg", "0", "--loss", "sgns", "--negatives", "per-example", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "training diverged" in err and "--lr" in err and err.count("\n") == 1
    assert main(["recsys", "train", path, "-o", path]) == 2   # output = input, refused before work
    assert "is the input file" in capsys.readouterr().err


# --------------------------------------------------------------------------- issue 15: implicit users

def test_loader_headers_separators_and_columns(tmp_path):
    # a header with names outside the usual ones is recognised (text above numbers)
    d = load_interactions(write(tmp_path, "customer_id,article_id\nc1,100\nc2,101\nc1,101\n", "h.csv"))
    assert len(d) == 3 and d.item_ids == ["100", "101"] and "article_id" not in d.item_ids
    # no header: user, item, weight, time by position; ids kept verbatim ("007" stays "007")
    d = load_interactions(write(tmp_path, "1,007,2.5,10\n2,8,1,11\n", "n.csv"))
    assert d.item_ids == ["007", "8"] and d.weights.tolist() == [2.5, 1.0] and d.timestamps.tolist() == [10, 11]
    # explicit options: separator, header, named columns, weight column ignored
    path = write(tmp_path, "a;b;score;when\nx;p;4;2024-01-02\ny;q;5;2024-01-01\n", "s.txt")
    d = load_interactions(path, sep=";", header=True, user_col="b", item_col="a", weight_col=False, time_col="when")
    assert d.user_ids == ["p", "q"] and d.item_ids == ["x", "y"] and d.weights.tolist() == [1, 1]
    assert d.timestamps[0] - d.timestamps[1] == 86400  # dates -> seconds
    d = load_interactions(write(tmp_path, "u1 i1\nu2 i2\n", "w.txt"), header=False)
    assert d.user_ids == ["u1", "u2"]
    df = __import__("pandas").DataFrame({"user_id": ["a", "b"], "item_id": [1, 2], "rating": [3.0, 4.0]})
    df.to_parquet(tmp_path / "x.parquet")
    d = load_interactions(str(tmp_path / "x.parquet"))
    assert d.item_ids == ["1", "2"] and d.weights.tolist() == [3, 4]


@pytest.mark.parametrize("text,message", [
    ("", "empty file, no interactions"),
    ("user\titem\n", "no interactions"),
    ("user,item,rating\nu,i,3\nu,j,lots\n", "weight column 'rating' is not numeric: 'lots' on line 3"),
    ("u1,i1\nu2,i2\nu3,i3,5\n", "line 3 has 3 fields, expected 2"),
    ("user,item,rating\nu,i,-1\n", "negative value on line 2"),
])
def test_loader_errors_are_one_line(tmp_path, text, message):
    with pytest.raises(NegsampleError, match=message):
        load_interactions(write(tmp_path, text, "bad.csv"))
    with pytest.raises(NegsampleError, match="no user column 'who'"):
        load_interactions(write(tmp_path, "user,item\nu,i\n", "ok.csv"), user_col="who")


def _weighted_pairs(U=60, I=20, seed=0):
    """Each user has two items: a (weight 20) and b (weight 0.2); which item is which is random."""
    rng = np.random.default_rng(seed)
    a = np.array([rng.choice(I, 2, replace=False) for _ in range(U)])
    users = np.repeat(np.arange(U), 2)
    X = sp.csr_matrix((np.tile([20.0, 0.2], U).astype(np.float32), (users, a.ravel())), shape=(U, I))
    return X, a


@pytest.mark.parametrize("weighting,mode", [("confidence", "per-example"), ("sample", "per-example"),
                                            ("confidence", "per-user")])
def test_fit_uses_the_matrix_values(weighting, mode):
    """Users must rank their heavy item above their light one when weights count; with the values
    ignored (weighting="none") it is a coin toss. Fails if fit binarises the matrix."""
    X, a = _weighted_pairs()
    U = X.shape[0]

    def heavy_first(m):
        s = m.scores(np.arange(U))
        return np.mean(s[np.arange(U), a[:, 0]] > s[np.arange(U), a[:, 1]])

    kw = dict(dim=8, epochs=60, lr=0.05, negative=3, ns_exponent=0.0, threads=1, seed=3, negatives=mode)
    weighted = heavy_first(ImplicitModel(weighting=weighting, confidence_alpha=1.0, **kw).fit(X))
    ignored = heavy_first(ImplicitModel(weighting="none", **kw).fit(X))
    assert weighted > 0.85
    assert ignored < 0.75


def test_recommend_batched_filters_liked_items_and_maps_ids():
    X = small_matrix(U=30, I=40)
    m = ImplicitModel(dim=8, epochs=3, threads=1).fit(X)
    users = np.array([0, 5, 7])
    ids, scores = m.recommend(users, X[users], N=10)
    assert ids.shape == scores.shape == (3, 10) and ids.dtype == np.int32
    for b, u in enumerate(users):
        assert not set(ids[b]) & set(X[u].indices)                        # liked items filtered
        full = m.scores([u])[0]
        full[X[u].indices] = -np.inf
        np.testing.assert_array_equal(ids[b], np.argsort(-full, kind="stable")[:10])
        assert np.all(np.diff(scores[b]) <= 0)
    one, s1 = m.recommend(5, X[5], N=4)
    assert one.shape == (4,) and list(one) == list(ids[1][:4])
    unfiltered, _ = m.recommend(users, X[users], N=40, filter_already_liked_items=False)
    assert set(X[0].indices) <= set(unfiltered[0])
    with pytest.raises(NegsampleError, match="one row per userid"):
        m.recommend(users, X, N=3)
    sim, simscores = m.similar_items([2, 3], N=5)
    assert sim.shape == (2, 5) and list(sim[:, 0]) == [2, 3] and simscores[0, 0] == pytest.approx(1.0)
    with pytest.raises(NegsampleError, match="no original user ids"):
        m.user_index("u1")
    m.set_ids([f"u{i}" for i in range(30)], [f"i{i}" for i in range(40)])
    assert list(m.user_index(["u5", "u7"])) == [5, 7] and m.item_labels(ids[0][:2]).tolist() == \
        [f"i{j}" for j in ids[0][:2]]


def test_recommend_agrees_with_implicits_ranking_metrics():
    """implicit's ranking_metrics_at_k drives our recommend (its protocol: train items filtered);
    its precision (one test item per user = hit rate) and ndcg equal our evaluate's numbers."""
    pytest.importorskip("implicit")
    from implicit.evaluation import ranking_metrics_at_k

    X = small_matrix(U=60, I=50, per_user=6, seed=2)
    rng = np.random.default_rng(0)
    rows = X.tolil().rows
    test_items = np.array([rng.choice(r) for r in rows])
    train = X.tolil()
    for u, i in enumerate(test_items):
        train[u, i] = 0
    train = train.tocsr()
    train.eliminate_zeros()
    test = sp.csr_matrix((np.ones(60, np.float32), (np.arange(60), test_items)), shape=X.shape)
    m = ImplicitModel(dim=8, epochs=5, threads=1).fit(train)
    theirs = ranking_metrics_at_k(m, train, test, K=10, show_progress=False)
    ours = evaluate(m.scores, train, np.arange(60), test_items, k=10)
    assert theirs["precision"] == pytest.approx(ours["recall@k"])
    assert theirs["ndcg"] == pytest.approx(ours["ndcg@k"])


def test_cli_column_options(tmp_path, capsys):
    rows = ["c\ta\tw"] + [f"cust{u}\tart{(u * 7 + j) % 25}\t{1 + j % 3}" for u in range(30) for j in range(5)]
    path = write(tmp_path, "\n".join(rows) + "\n", "custom.tsv")
    model = str(tmp_path / "m.npz")
    assert main(["recsys", "train", path, "-o", model, "--user-col", "c", "--item-col", "a", "--weight-col", "w",
                 "--dim", "4", "--epochs", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["users"] == 30 and out["items"] == 25 and out["interactions"] == 150
    assert main(["recsys", "train", path, "-o", model, "--no-header", "--dim", "4", "--epochs", "1"]) == 2
    assert "weight column 2 is not numeric: 'w' on line 1" in capsys.readouterr().err


def test_from_implicit_doc_runs():
    """Every ```python block of docs/from-implicit.md, run in order in one namespace."""
    import pathlib
    import re

    text = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "from-implicit.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 4
    ns = {}
    for block in blocks:
        exec(compile(block, "docs/from-implicit.md", "exec"), ns)


def test_per_user_softmax_with_logq_correction_learns_log_popularity():
    """Bias-only model (init_std=0 keeps every vector at 0): the sampled softmax's fixed point is
    the full softmax's, b_i = ln(count_i) + const, only with the logQ correction ln(k q_j): with
    q ∝ popularity^0.5 and no correction the slope of b against ln(count) would be ~0.5 (checked
    by removing it)."""
    rng = np.random.default_rng(0)
    U, I = 400, 30
    pop = 1.0 / np.arange(1, I + 1)
    items = rng.choice(I, (U, 8), p=pop / pop.sum())
    X = sp.csr_matrix((np.ones(items.size, np.float32), (np.repeat(np.arange(U), 8), items.ravel())), shape=(U, I))
    X.data[:] = 1.0
    count = np.bincount(X.indices, minlength=I)
    m = ImplicitModel(dim=4, init_std=0.0, exclude_known=False, reg=0.0, weighting="none", threads=1,
                      negatives=NegativeSampler(negative=20, ns_exponent=0.5, mode="per-user")).fit(X)
    assert np.abs(m.user_factors).max() == 0 and np.abs(m.item_factors).max() == 0
    slope = np.polyfit(np.log(count), m.item_bias, 1)[0]
    assert 0.85 < slope < 1.1


def test_per_user_groups_context_and_user_vectors():
    """Per-user training: every user's interactions are cut into min(steps, n) groups, each with
    k draws (the filter's total); the user vectors the model scores with are
    P_u + n_u^-alpha sum_{j in I_u} y_j, with the context vectors kept; item_context=False has none."""
    X = small_matrix(U=30, I=40, per_user=5)
    m = ImplicitModel(dim=8, epochs=2, steps_per_user=3, negative=4, threads=1, seed=2).fit(X)
    assert m.stats["filter"]["total"] == 2 * 30 * 3 * 4
    Y = m.context_factors
    assert Y.shape == (40, 8)
    plain = ImplicitModel(dim=8, epochs=2, steps_per_user=3, negative=4, threads=1, seed=2, item_context=False).fit(X)
    assert plain.context_factors is None
    binary = X.copy()
    binary.data[:] = 7.0  # values weight the loss, not the context sum
    binary.data[:] = 1.0
    np.testing.assert_allclose(m.user_factors, m.user_offsets + (binary @ Y) * 5 ** -0.5, rtol=1e-5, atol=1e-6)
    # and the context changes the scores (alpha matters)
    other = ImplicitModel(dim=8, epochs=2, steps_per_user=3, negative=4, threads=1, seed=2,
                          context_exponent=1.0).fit(X)
    assert not np.allclose(other.user_factors, m.user_factors)


def test_fold_in_recommends_for_users_unseen_in_training():
    """recalculate_user=True scores a user from their items' context vectors alone: new users who
    hold three items of one cluster get that cluster's other items; for a trained user the fold-in
    vector plus its offset is the trained vector; a model without item context says it cannot."""
    rng = np.random.default_rng(0)
    U, I = 200, 40
    cluster = rng.integers(0, 2, U)
    items = np.array([rng.choice(20, 6, replace=False) + 20 * c for c in cluster])
    X = sp.csr_matrix((np.ones(items.size, np.float32), (np.repeat(np.arange(U), 6), items.ravel())), shape=(U, I))
    m = ImplicitModel(dim=8, epochs=15, negative=10, threads=1, seed=1).fit(X)
    new = sp.csr_matrix((np.ones(6, np.float32), ([0, 0, 0, 1, 1, 1], [1, 2, 3, 21, 22, 23])), shape=(2, I))
    ids, _ = m.recommend([1000, 1001], new, N=10, recalculate_user=True)
    assert not set(ids[0]) & {1, 2, 3} and np.mean(ids[0] < 20) >= 0.9
    assert np.mean(ids[1] >= 20) >= 0.9
    np.testing.assert_allclose(m.user_vectors(X[:5]) + m.user_offsets[:5], m.user_factors[:5], rtol=1e-5, atol=1e-6)
    with pytest.raises(NegsampleError, match="recalculate_user needs user_items"):
        m.recommend(0, N=3, recalculate_user=True)
    plain = ImplicitModel(dim=8, epochs=1, threads=1, item_context=False).fit(X)
    with pytest.raises(NegsampleError, match="need a model trained with item context"):
        plain.recommend([0], X[:1], recalculate_user=True)


def test_cli_recommend_folds_in_users_the_model_has_not_seen(tmp_path, capsys):
    path = _cli_data(tmp_path)
    model = str(tmp_path / "m.npz")
    assert main(["recsys", "train", path, "-o", model, "--dim", "8", "--epochs", "3", "--quiet"]) == 0
    new = write(tmp_path, "user\titem\ttimestamp\nzed\ti1\t1\nzed\ti2\t2\nzed\ti3\t3\n", "new.tsv")
    assert main(["recsys", "recommend", model, "zed", "u3", "--interactions", new, "--topn", "5", "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(res["zed"]) == len(res["u3"]) == 5
    assert not {item for item, _ in res["zed"]} & {"i1", "i2", "i3"}     # its own items are filtered
    # the same scores as the Python API's fold-in
    m = ImplicitModel.load(model)
    rows = sp.csr_matrix((np.ones(3, np.float32), ([0, 0, 0], m.item_index(["i1", "i2", "i3"]))), shape=(1, m.n_items))
    ids, scores = m.recommend([0], rows, N=5, recalculate_user=True)
    assert [item for item, _ in res["zed"]] == list(m.item_labels(ids[0]))
    np.testing.assert_allclose([s for _, s in res["zed"]], scores[0], rtol=1e-5)
    assert main(["recsys", "recommend", model, "zed"]) == 2
    assert "pass --interactions with their items to fold them in" in capsys.readouterr().err
    shared = str(tmp_path / "s.npz")
    assert main(["recsys", "train", path, "-o", shared, "--dim", "4", "--epochs", "1", "--negatives", "shared",
                 "--quiet"]) == 0
    assert main(["recsys", "recommend", shared, "zed", "--interactions", new]) == 2
    assert "no item context to fold users in" in capsys.readouterr().err
