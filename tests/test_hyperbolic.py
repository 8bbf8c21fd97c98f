"""Poincaré embeddings: the distance and its Riemannian gradient against closed forms, the update
staying in the ball, negatives never ancestors, reconstruction on a hand-made hierarchy,
training, persistence, the CLI."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from negsample import NegsampleError
from negsample.hyperbolic import Hierarchy, PoincareModel, load_hierarchy, poincare_distance, reconstruction
from negsample.kernels import poincare as P
from negsample.kernels.noise import N_FILTER_COUNTS
from negsample.samplers import NegativeSampler


def tree(branching=3, depth=3):
    """A complete tree's transitive closure: node 0 the root; (child, ancestor) for every ancestor."""
    parent = [-1]
    frontier = [0]
    for _ in range(depth):
        nxt = []
        for p in frontier:
            for _ in range(branching):
                parent.append(p)
                nxt.append(len(parent) - 1)
        frontier = nxt
    pairs = []
    for c in range(1, len(parent)):
        a = parent[c]
        while a >= 0:
            pairs.append((c, a))
            a = parent[a]
    return Hierarchy([f"n{i}" for i in range(len(parent))], np.array(pairs, np.int64))


def test_distance_closed_forms():
    rng = np.random.default_rng(0)
    X = rng.uniform(-0.5, 0.5, (20, 3))
    X[0] = 0.0
    for i in range(1, 20):
        r = np.linalg.norm(X[i])
        assert P.distance(X, 0, i) == pytest.approx(2 * math.atanh(r), rel=1e-12)  # from the origin
        for j in range(20):
            assert P.distance(X, i, j) == pytest.approx(float(poincare_distance(X[i], X[j])), rel=1e-9, abs=1e-12)
    # two points on one diameter: |2 artanh(a) - 2 artanh(b)|
    Y = np.array([[0.3, 0.0], [-0.6, 0.0], [0.9, 0.0]])
    assert P.distance(Y, 0, 1) == pytest.approx(2 * math.atanh(0.3) + 2 * math.atanh(0.6), rel=1e-12)
    assert P.distance(Y, 0, 2) == pytest.approx(2 * math.atanh(0.9) - 2 * math.atanh(0.3), rel=1e-12)
    assert P.distance(Y, 1, 1) == 0.0


def test_euclidean_gradient_formula_and_finite_differences():
    rng = np.random.default_rng(1)
    X = rng.uniform(-0.6, 0.6, (2, 4))
    gu = np.zeros(4)
    gx = np.zeros(4)
    d = P.distance_grad(X, 0, 1, 1.0, gu, gx)
    assert d == pytest.approx(P.distance(X, 0, 1))
    u, v = X[0], X[1]
    a, b = 1 - u @ u, 1 - v @ v
    g = 1 + 2 * (u - v) @ (u - v) / (a * b)
    paper = 4 / (b * math.sqrt(g * g - 1)) * ((v @ v - 2 * u @ v + 1) / a ** 2 * u - v / a)  # Nickel & Kiela eq. 4
    np.testing.assert_allclose(gu, paper, rtol=1e-12)
    h = 1e-6
    for j in range(4):
        for row, grad in ((0, gu), (1, gx)):
            Xp, Xm = X.copy(), X.copy()
            Xp[row, j] += h
            Xm[row, j] -= h
            fd = (P.distance(Xp, 0, 1) - P.distance(Xm, 0, 1)) / (2 * h)
            assert grad[j] == pytest.approx(fd, rel=1e-6, abs=1e-8)


def test_riemannian_gradient_of_distance_has_unit_norm():
    """grad_R d = (1 - |u|^2)^2 / 4 grad_E d; its length in the metric (2 / (1 - |u|^2))^2 I is 1."""
    rng = np.random.default_rng(2)
    for _ in range(50):
        X = rng.normal(size=(2, 5))
        X *= rng.uniform(0.01, 0.99, (2, 1)) / np.linalg.norm(X, axis=1, keepdims=True)
        gu = np.zeros(5)
        P.distance_grad(X, 0, 1, 1.0, gu, np.zeros(5))
        lam = 2 / (1 - X[0] @ X[0])
        riem = (1 - X[0] @ X[0]) ** 2 / 4 * gu
        assert lam * np.linalg.norm(riem) == pytest.approx(1.0, rel=1e-9)


def test_rsgd_step_closed_form_and_projection():
    X = np.array([[0.3, -0.4], [0.6, 0.7]])
    g = np.array([0.5, -1.0])
    expect = X[0] - 0.1 * (1 - 0.25) ** 2 / 4 * g
    P.rsgd_step(X, 0, g, 0.1, 1e-5)
    np.testing.assert_allclose(X[0], expect, rtol=1e-14)
    # a step that would leave the ball is projected back to radius 1 - eps, same direction
    before = X[1].copy()
    P.rsgd_step(X, 1, np.array([-1e6, -1e6]), 1.0, 1e-3)
    assert np.linalg.norm(X[1]) == pytest.approx(1 - 1e-3, rel=1e-12)
    assert X[1] @ before > 0


def test_points_never_leave_the_ball():
    h = tree(3, 3)
    m = PoincareModel(dim=2, negative=5, epochs=15, burn_in=2, lr=50.0, eps=1e-5, threads=2, seed=3).fit(h)
    norms = m.norms()
    assert np.all(norms < 1.0) and norms.max() > 0.99  # the huge rate pushes points to the boundary, not past
    assert np.all(np.isfinite(m.vectors_))


def test_negatives_are_never_ancestors_or_self():
    h = tree(3, 3)
    n = h.n_nodes
    kp = h.ancestors_csr(include_self=True)
    anc = {(int(c), int(a)) for c, a in h.pairs}
    s = NegativeSampler(negative=8, noise="uniform", known_positives=kp).fit(n=n, n_rows=n)
    prob, alias, filt = s.kernel_noise()
    X = np.random.default_rng(0).uniform(-0.5, 0.5, (n, 2)) / 2
    counts = np.zeros(N_FILTER_COUNTS, np.int64)
    out = np.empty(8, np.int64)
    cand = np.empty(8 * 5, np.int64)
    cd = np.empty(8 * 5)
    state = np.uint64(12345)
    for hard in (0, 5):
        for c, a in h.pairs:
            state = P.draw_pair_negatives(X, c, a, 8, hard, prob, alias, filt, state, cand, cd, out, counts)
            for x in out:
                if x >= 0:
                    assert x != c and x != a and (int(c), int(x)) not in anc
            if hard:
                # the k kept are the k closest of the candidates drawn
                dist = [P.distance(X, c, x) for x in cand if x >= 0]
                kept = sorted(P.distance(X, c, x) for x in out if x >= 0)
                np.testing.assert_allclose(kept, sorted(dist)[:len(kept)])
    assert counts[0] > 0 and counts[4] > 0  # ancestors (or the node itself) were drawn, and redrawn
    assert counts[1] >= counts[0]


def test_reconstruction_hand_made():
    # root <- a <- b, and c <- root (closure pairs), points on two axes of the disc
    h = Hierarchy(["root", "a", "b", "c"], np.array([[1, 0], [2, 1], [2, 0], [3, 0]]))
    X = np.array([[0.0, 0.0], [0.5, 0.0], [0.7, 0.0], [0.0, 0.9]])
    # a: ancestor root at 2 artanh(.5) = 1.10; non-ancestor b at 2 artanh(.7) - 2 artanh(.5) = 0.64 is
    #    closer, c (3.46) farther -> rank 2, AP 1/2
    # b: ancestors a (0.64) and root (1.73); c (4.02) farther -> ranks 1, 1, AP 1
    # c: ancestor root (2.94); a (3.46) and b (4.02) farther -> rank 1, AP 1
    r = reconstruction(X, h, threads=1)
    assert r["pairs"] == 4 and r["nodes"] == 3
    assert r["mean_rank"] == pytest.approx((2 + 1 + 1 + 1) / 4)
    assert r["map"] == pytest.approx((0.5 + 1 + 1) / 3)
    # ties count one half: a at the origin, root and c mirrored -> exactly equal distances
    X2 = np.array([[0.5, 0.0], [0.0, 0.0], [0.0, 0.7], [-0.5, 0.0]])
    # a: root and c tie (ln 3), b farther -> rank 1.5, AP 1 / 1.5
    # b: a (1.73) then root (2.26) tied with c -> ranks 1 and 1.5; AP (1/1 + 2/2.5) / 2 = 0.9
    # c: root at 2 ln 3 = 2.20; a (ln 3) closer, b (2.26) farther -> rank 2, AP 1/2
    r2 = reconstruction(X2, h, threads=2)
    assert r2["mean_rank"] == pytest.approx((1.5 + 1 + 1.5 + 2) / 4)
    assert r2["map"] == pytest.approx((1 / 1.5 + 0.9 + 0.5) / 3)


def test_training_reconstructs_a_tree_and_save_load(tmp_path):
    h = tree(3, 3)
    untrained = reconstruction(PoincareModel(dim=2, epochs=0, burn_in=0).fit(h).vectors_, h, threads=1)
    m = PoincareModel(dim=5, negative=10, epochs=60, burn_in=5, lr=1.0, noise="frequency", burn_in_noise=None,
                      threads=2, seed=1).fit(h)
    ev = m.evaluate(h, threads=2)
    assert ev["map"] > 0.95 and untrained["map"] < 0.6
    # general concepts near the origin: the root is the closest point to 0
    assert np.argmin(m.norms()) == 0
    assert m.sampler.stats_.total == 65 * len(h.pairs) * 10 and m.sampler.stats_.by_reason["known"] > 0
    path = tmp_path / "p.npz"
    m.save(path)
    m2 = PoincareModel.load(path)
    np.testing.assert_array_equal(m2.vectors_, m.vectors_)
    assert m2.params() == m.params() and m2.distance("n1", "n0") == pytest.approx(m.distance("n1", "n0"))
    assert len(m2.nearest("n0", k=3)) == 3
    # a file whose vectors leave the ball is refused
    from negsample import io

    io.save_arrays(tmp_path / "bad.npz", "poincare-model", {"vectors": np.full((40, 5), 0.9)},
                   meta={"params": m.params()}, strings={"names": m.names})
    with pytest.raises(NegsampleError, match="outside the unit ball"):
        PoincareModel.load(tmp_path / "bad.npz")


def test_hard_negatives_option_trains():
    h = tree(3, 3)
    m = PoincareModel(dim=5, negative=5, epochs=40, burn_in=5, hard=4, threads=1, seed=2).fit(h)
    assert m.evaluate(h)["map"] > 0.9
    assert m.sampler.stats_.total == 45 * len(h.pairs) * 5 * 4


def test_bad_input():
    with pytest.raises(NegsampleError, match="negatives"):
        PoincareModel(negatives="shared")
    with pytest.raises(NegsampleError, match="lr"):
        PoincareModel(lr=0)
    h = Hierarchy(["a", "b"], np.array([[0, 1]]))
    with pytest.raises(NegsampleError, match="no negatives"):
        PoincareModel().fit(h)


def test_mammals(shared_data):
    h = load_hierarchy(shared_data / "hierarchy" / "wordnet-mammal-closure.tsv")
    assert h.stats() == {"nodes": 1182, "pairs": 6542, "nodes_with_ancestors": 1181}
    m = PoincareModel(dim=5, negative=10, epochs=15, burn_in=3, threads=2).fit(h)
    assert m.evaluate(h)["map"] > 0.5
    assert m.nearest("dog.n.01", k=1)[0][0] != "dog.n.01"


def test_cli_train_eval(tmp_path, capsys):
    from negsample.cli import main

    h = tree(3, 2)
    f = tmp_path / "closure.tsv"
    f.write_text("# a comment\n" + "".join(f"{h.names[c]}\t{h.names[a]}\n" for c, a in h.pairs))
    model = tmp_path / "m.npz"
    assert main(["hierarchy", "train", str(f), "-o", str(model), "--dim", "3", "--epochs", "20", "--negative", "4",
                 "--eval", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["eval"]["pairs"] == len(h.pairs) and out["filter"]["total"] > 0
    assert main(["hierarchy", "eval", str(model), str(f), "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["map"] == pytest.approx(out["eval"]["map"])
    assert main(["hierarchy", "eval", str(model), str(tmp_path / "nope.tsv")]) == 2
    assert capsys.readouterr().err.startswith("negsample: error: hierarchy file not found")


def test_burn_in_noise_switches_after_the_burn_in(tmp_path):
    """burn_in_noise: the burn-in's negatives come from that noise (the vectors after the burn-in
    equal a run whose only noise it is), the later epochs' from the main noise (the final vectors
    differ from that run's continuation); the setting survives save/load."""
    h = tree(4, 3)
    kw = dict(dim=3, negative=4, burn_in=2, threads=1, seed=5)
    after_burn_in = {}

    def keep(model, epoch):
        if epoch == 1:
            after_burn_in["X"] = model.vectors_.copy()

    mixed = PoincareModel(noise="uniform", burn_in_noise="frequency", epochs=3, **kw).fit(h, callback=keep)
    freq_burn_in = PoincareModel(noise="frequency", epochs=0, burn_in_noise=None, **kw).fit(h)
    uniform_burn_in = PoincareModel(noise="uniform", epochs=0, burn_in_noise=None, **kw).fit(h)
    freq_all = PoincareModel(noise="frequency", epochs=3, burn_in_noise=None, **kw).fit(h)
    np.testing.assert_array_equal(after_burn_in["X"], freq_burn_in.vectors_)
    assert not np.array_equal(after_burn_in["X"], uniform_burn_in.vectors_)
    assert not np.array_equal(mixed.vectors_, freq_all.vectors_)
    mixed.save(tmp_path / "m.npz")
    assert PoincareModel.load(tmp_path / "m.npz").burn_in_noise == "frequency"
    with pytest.raises(NegsampleError, match="burn_in_noise"):
        PoincareModel(burn_in_noise="zipf")
