"""Recsys: interaction loading, leave-last-out, metrics by hand, excluded positives, training."""
import json

import numpy as np
import pytest
import scipy.sparse as sp

from negsample import NegsampleError
from negsample.cli import main
from negsample.distributions import AliasTable
from negsample.recsys import (ImplicitModel, _train_kernel, evaluate, fairness_by_decile, leave_last_out,
                              load_interactions, most_popular_scores, train_two_tower)


def write(tmp_path, text, name="inter.tsv"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_loading_merges_duplicates_and_maps_ids(tmp_path):
    path = write(tmp_path, "user\titem\trating\ttimestamp\nalice\tx\t3\t10\nbob\ty\t5\t11\nalice\tx\t1\t30\nalice\tz\t2\t20\n")
    d = load_interactions(path)
    assert d.n_users == 2 and d.n_items == 3 and len(d) == 3 and d.duplicates_merged == 1
    ax = [i for i in range(3) if d.user_ids[d.users[i]] == "alice" and d.item_ids[d.items[i]] == "x"][0]
    assert d.weights[ax] == 4 and d.timestamps[ax] == 30  # summed weight, latest time
    csv = write(tmp_path, "1,10\n1,11\n2,10\n", "i.csv")  # no header: user, item
    d2 = load_interactions(csv)
    assert d2.n_users == 2 and d2.n_items == 2 and d2.timestamps is None
    with pytest.raises(NegsampleError, match="interactions file not found"):
        load_interactions(str(tmp_path / "nope.tsv"))
    with pytest.raises(NegsampleError, match="line 3 has 1 fields, expected 2"):
        load_interactions(write(tmp_path, "1,10\n1,11\n2\n", "bad.csv"))


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


def test_kernel_never_uses_known_positives_as_negatives():
    """Instrumented run: items that are known positives of every user are never counted as
    negatives, though they are the most popular (the noise favours them)."""
    rng = np.random.default_rng(0)
    U, I = 30, 40
    users = np.repeat(np.arange(U), 5)
    items = np.concatenate([np.r_[0, 1, 2, rng.integers(3, I, 2)] for _ in range(U)])
    known = sp.csr_matrix((np.ones(users.size), (users, items)), shape=(U, I))
    known.sum_duplicates()
    known.sort_indices()
    pop = np.bincount(items, minlength=I).astype(float) + 1
    table = AliasTable(pop)
    P = rng.standard_normal((U, 8)).astype(np.float32) * 0.1
    Q = rng.standard_normal((I, 8)).astype(np.float32) * 0.1
    b = np.zeros(I, np.float32)
    neg_count, neg_grad, stats = np.zeros(I), np.zeros(I), np.zeros(4)
    order = np.arange(users.size)
    for epoch in range(20):
        _train_kernel(P, Q, b, users, items, order, 0, users.size, known.indptr.astype(np.int64),
                      known.indices.astype(np.int64), table.prob, table.alias, 5, np.float32(0.05),
                      np.float32(0.0), epoch, True, False, neg_count, neg_grad, stats)
    assert neg_count[:3].sum() == 0
    assert stats[2] > 0  # and draws of them were rejected and counted
    assert neg_count.sum() == 20 * users.size * 5 - stats[3]


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
    train = sp.csr_matrix((np.ones(mask.sum(), np.float32), (d.users[mask], d.items[mask])), shape=(943, 1682))
    tu = np.flatnonzero(test >= 0)
    ti = d.items[test[tu]]
    pop = evaluate(most_popular_scores(train), train, tu, ti, k=10)
    model = ImplicitModel(dim=32, epochs=8, ns_exponent=0.5, threads=2).fit(d, mask)
    ours = evaluate(model.scores, train, tu, ti, k=10)
    assert ours["recall@k"] > pop["recall@k"] + 0.01
    assert ours["coverage"] > pop["coverage"]


def test_two_tower_with_logq_trains():
    pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    from negsample.recsys import Interactions
    U, I = 50, 60
    users = rng.integers(0, U, 2000)
    items = (users + rng.integers(0, 3, 2000)) % I  # each user likes 3 neighbouring items
    d = Interactions(users, items, np.ones(2000, np.float32), None, [str(i) for i in range(U)],
                     [str(i) for i in range(I)])
    P, Qf = train_two_tower(d, dim=16, epochs=15, batch_size=256, temperature=0.2, lr=0.05)
    assert P.shape == (U, 16) and Qf.shape == (I, 16)
    top = np.argsort(-(P @ Qf.T), 1)[:, :3]
    hits = np.mean([len(set(top[u]) & {(u + j) % I for j in range(3)}) / 3 for u in range(U)])
    assert hits > 0.6


def test_cli_train_eval_recommend(tmp_path, capsys):
    rng = np.random.default_rng(1)
    rows = ["user\titem\ttimestamp"]
    for u in range(40):
        for t, i in enumerate(rng.choice(30, 6, replace=False)):
            rows.append(f"u{u}\ti{(i + u) % 30}\t{t}")
    rows.append("u0\ti0\t99")
    rows.append("u0\ti0\t100")  # a duplicate, merged
    path = write(tmp_path, "\n".join(rows) + "\n")
    model = str(tmp_path / "m.npz")
    assert main(["recsys", "train", path, "-o", model, "--dim", "8", "--epochs", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["duplicates_merged"] == 1 and out["users"] == 40
    assert main(["recsys", "eval", model, path, "--k", "5", "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 <= res["recall@k"] <= 1 and res["users"] == 40 and "most_popular" in res
    assert main(["recsys", "recommend", model, "u3", "--k", "4"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 4
    assert main(["recsys", "recommend", model, "nobody"]) == 2
    assert "unknown user 'nobody'" in capsys.readouterr().err
    with pytest.raises(NegsampleError, match="loss must be 'sgns' or 'bpr'"):
        ImplicitModel(loss="warp")
