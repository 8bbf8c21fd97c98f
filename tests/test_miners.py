"""Batch miners (PML's indices-tuple form) against pytorch-metric-learning and by brute force."""
import pytest

torch = pytest.importorskip("torch")

from negsample import NegsampleError  # noqa: E402
from negsample.losses import ntxent_loss, supcon_loss  # noqa: E402
from negsample.miners import BatchHardMiner, PairMiner, TripletMiner  # noqa: E402

torch.set_num_threads(1)  # the machine is shared; small ops run best on one thread


def batch(seed=0, B=40, d=8, classes=6):
    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(B, d, generator=g, dtype=torch.float64)
    labels = torch.randint(0, classes, (B,), generator=g)
    ref = torch.randn(30, d, generator=g, dtype=torch.float64)
    ref_labels = torch.randint(0, classes, (30,), generator=g)
    return emb, labels, ref, ref_labels


def test_triplet_and_batch_hard_miners_equal_pml():
    pytest.importorskip("pytorch_metric_learning")
    from pytorch_metric_learning import miners as M
    from pytorch_metric_learning.distances import CosineSimilarity
    emb, labels, ref, ref_labels = batch()
    for args in ((emb, labels), (emb, labels, ref, ref_labels)):
        for t in ("all", "hard", "semihard", "easy"):
            theirs = M.TripletMarginMiner(margin=0.2, type_of_triplets=t, distance=CosineSimilarity())(*args)
            ours = TripletMiner(0.2, t, chunk_size=7, max_elements=5000)(*args)  # chunked rows and triplet blocks
            assert len(ours[0]) > 0
            assert all(torch.equal(x, y) for x, y in zip(ours, theirs)), t
            # PML's default distance (L2 on unit vectors) = our distance='euclidean'
            theirs = M.TripletMarginMiner(margin=0.2, type_of_triplets=t)(*args)
            ours = TripletMiner(0.2, t, distance="euclidean")(*args)
            assert all(torch.equal(x, y) for x, y in zip(ours, theirs)), t
        theirs = M.BatchHardMiner()(*args)
        ours = BatchHardMiner(chunk_size=7)(*args)
        assert all(torch.equal(x, y) for x, y in zip(ours, theirs))


def test_pair_miner_bands_by_brute_force():
    emb, labels, _, _ = batch(1)
    e = torch.nn.functional.normalize(emb, dim=-1)
    S = e @ e.T
    B = len(labels)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(B, dtype=torch.bool)
    r = torch.where(same & ~eye, S, torch.full_like(S, float("inf"))).min(1).values
    for band, cond in (("hard", lambda s, r: s >= r), ("semihard", lambda s, r: (s > r - 0.2) & (s < r)),
                       ("easy", lambda s, r: s <= r - 0.2), ("all", lambda s, r: torch.ones_like(s, dtype=torch.bool))):
        a1, p, a2, n = PairMiner(band, 0.2, chunk_size=9)(emb, labels)
        assert set(zip(a1.tolist(), p.tolist())) == {(i, j) for i in range(B) for j in range(B) if same[i, j] and i != j}
        expected = {(i, j) for i in range(B) for j in range(B)
                    if not same[i, j] and bool(cond(S[i, j], r[i])) and (band == "all" or torch.isfinite(r[i]))}
        assert set(zip(a2.tolist(), n.tolist())) == expected
        assert len(expected) > 0


def test_false_negative_filters_are_applied_and_counted():
    emb, labels, _, _ = batch(2)
    B = len(labels)
    ids = torch.arange(B)
    ids[5] = ids[17]                       # rows 5 and 17 are the same example (a duplicate)
    labels = labels.clone()
    labels[5] = (labels[17] + 1) % 6        # ... labelled differently by mistake
    mask = torch.zeros(B, B, dtype=torch.bool)
    mask[0, :] = True                       # row 0 never paired
    miner = PairMiner("all", max_negative_similarity=0.9, max_negative_ratio=1.0, chunk_size=8)
    a1, p, a2, n = miner(emb, labels, ids=ids, mask=mask)
    pairs = set(zip(a2.tolist(), n.tolist()))
    assert (5, 17) not in pairs and (17, 5) not in pairs
    assert 0 not in a1.tolist() and 0 not in a2.tolist()
    e = torch.nn.functional.normalize(emb, dim=-1)
    S = e @ e.T
    assert all(float(S[i, j]) < 0.9 for i, j in pairs)
    st = miner.stats
    assert st["excluded_same_id"] == 2 and st["excluded_mask"] > 0 and st["negative_pairs"] == len(a2)
    assert st["excluded_ratio"] > 0   # ratio 1.0: negatives above the anchor's hardest positive dropped
    # without the filters those pairs come back
    a1b, pb, a2b, nb = PairMiner("all")(emb, labels)
    assert (5, 17) in set(zip(a2b.tolist(), nb.tolist())) and len(a2b) > len(a2)
    # triplets honour the same filters
    a, pp, nn_ = TripletMiner(0.5, "all")(emb, labels, ids=ids, mask=mask)
    assert not any((x, y) in {(5, 17), (17, 5)} for x, y in zip(a.tolist(), nn_.tolist()))


def test_miner_output_feeds_our_losses_and_pml():
    pytest.importorskip("pytorch_metric_learning")
    from pytorch_metric_learning import losses as L
    emb, labels, _, _ = batch(3)
    for it in (TripletMiner(0.3, "semihard")(emb, labels), PairMiner("semihard", 0.3)(emb, labels),
               BatchHardMiner()(emb, labels)):
        assert float(ntxent_loss(emb, labels, it, temperature=0.1)) == pytest.approx(
            float(L.NTXentLoss(temperature=0.1)(emb, labels, it)), abs=1e-6)
        assert float(supcon_loss(emb, labels, it)) == pytest.approx(float(L.SupConLoss()(emb, labels, it)), abs=1e-6)


def test_miner_errors():
    emb, labels, _, _ = batch()
    with pytest.raises(NegsampleError, match="type must be one of"):
        TripletMiner(type="medium")
    with pytest.raises(NegsampleError, match="labels must have shape"):
        PairMiner()(emb, labels[:3])
    with pytest.raises(NegsampleError, match="NaN or infinite"):
        PairMiner()(emb * float("nan"), labels)
    with pytest.raises(NegsampleError, match="max_negative_ratio needs a similarity"):
        PairMiner(distance="euclidean", max_negative_ratio=0.9)
    with pytest.raises(NegsampleError, match="ref_emb and ref_labels go together"):
        PairMiner()(emb, labels, emb)
