"""Graph: loading, node2vec transition probabilities, held-out edges, negatives, CLI."""
import json

import numpy as np
import pytest
from scipy import stats

from negsample import NegsampleError
from negsample.cli import main
from negsample.graph import (embed, from_edges, link_prediction, load_edgelist, load_labels, node_classification,
                             random_walks, sample_negatives, split_edges)


def test_loader_counts_and_errors(tmp_path):
    p = tmp_path / "g.tsv"
    p.write_text("# a comment\na\tb\nb\tc\nc\tc\nb\ta\nc,d\n")
    g = load_edgelist(p)
    assert g.n_nodes == 4 and not g.directed
    assert g.stats["self_loops_dropped"] == 1 and g.stats["duplicate_edges_merged"] == 1 and g.stats["edges"] == 3
    (tmp_path / "w.tsv").write_text("1 2 0.5\n2 3 2.0\n")
    gw = load_edgelist(tmp_path / "w.tsv")
    assert gw.weighted and gw.csr[gw.node_ids.index("2"), gw.node_ids.index("3")] == 2.0
    (tmp_path / "bad.tsv").write_text("1 2\n3\n")
    with pytest.raises(NegsampleError, match="line 2 is not 'source target"):
        load_edgelist(tmp_path / "bad.tsv")
    (tmp_path / "empty.tsv").write_text("# nothing\n\n")
    with pytest.raises(NegsampleError, match="the edge list is empty"):
        load_edgelist(tmp_path / "empty.tsv")
    (tmp_path / "badw.tsv").write_text("1 2 x\n")
    with pytest.raises(NegsampleError, match="line 1 has a non-numeric weight"):
        load_edgelist(tmp_path / "badw.tsv")
    with pytest.raises(NegsampleError, match="edge list not found"):
        load_edgelist(tmp_path / "none.tsv")


def test_shared_header_and_isolated_nodes(shared_data):
    g = load_edgelist(shared_data / "graphs" / "polblogs.edges.tsv")
    assert g.directed and g.n_nodes == 1490 and g.stats["isolated_nodes"] > 0
    nodes, labels = load_labels(shared_data / "graphs" / "polblogs.labels.tsv", g)
    assert len(nodes) == 1490 and set(labels) == {"0", "1"}


def test_node2vec_transitions_match_biased_probabilities():
    """From (prev=0, cur=1) on a small graph the next-node frequencies follow w/p, w, w/q."""
    edges = [(0, 1), (1, 2), (1, 3), (1, 4), (0, 2), (3, 5), (4, 5)]
    g = from_edges(*np.array(edges).T, 6)
    p, q = 0.5, 4.0
    # neighbours of 1: 0 (return, 1/p), 2 (also a neighbour of 0: 1), 3 and 4 (distance 2: 1/q)
    expected = np.array([1 / p, 1.0, 1 / q, 1 / q])
    expected /= expected.sum()
    # walks of length 3 from node 0 whose first step went to 1
    walks = random_walks(g, "node2vec", walks_per_node=40000, walk_length=3, p=p, q=q, seed=3)
    sel = walks[(walks[:, 0] == 0) & (walks[:, 1] == 1)]
    counts = np.array([(sel[:, 2] == x).sum() for x in (0, 2, 3, 4)])
    assert counts.sum() > 5000
    assert stats.chisquare(counts, expected * counts.sum()).pvalue > 1e-3
    # and deepwalk is uniform over the 4 neighbours
    walks = random_walks(g, "deepwalk", walks_per_node=20000, walk_length=3, seed=4)
    sel = walks[(walks[:, 0] == 0) & (walks[:, 1] == 1)]
    counts = np.array([(sel[:, 2] == x).sum() for x in (0, 2, 3, 4)])
    assert stats.chisquare(counts).pvalue > 1e-3


def test_held_out_edges_never_in_training_and_negatives_are_non_edges():
    rng = np.random.default_rng(0)
    src, dst = rng.integers(0, 200, 1500), rng.integers(0, 200, 1500)
    g = from_edges(src, dst, 200)
    train, test = split_edges(g, 0.2, seed=1)
    assert len(test) == round(0.2 * g.stats["edges"]) or len(test) > 0
    for u, v in test:
        assert train.csr[u, v] == 0 and train.csr[v, u] == 0 and g.csr[u, v] > 0
    assert train.stats["edges"] + len(test) == g.stats["edges"]
    full = g.csr.toarray() > 0
    trn = train.csr.toarray() > 0
    for kind in ("uniform", "degree", "2hop"):
        neg = sample_negatives(g, test[:, 0], kind, 20, seed=2, neighbours=train if kind == "2hop" else None)
        for u, row in zip(test[:, 0], neg):
            for x in row[row >= 0]:
                assert x != u and not full[u, x]
                if kind == "2hop":
                    assert (trn[u] & trn[x]).any()  # a common neighbour in the training graph
    with pytest.raises(NegsampleError, match="test_fraction must be in"):
        split_edges(g, 1.5)


def test_embedding_and_evaluation_on_football(shared_data):
    # short walks keep the test fast; with only ~23k tokens over 115 nodes, the default node
    # subsampling (1e-3, tuned for the usual 10 x 80 walks) would drop about half of them
    g = load_edgelist(shared_data / "graphs" / "football.edges.tsv")
    vecs, st = embed(g, dim=32, walks_per_node=10, walk_length=20, window=5, epochs=2, seed=1, sample=0)
    nodes, labels = load_labels(shared_data / "graphs" / "football.labels.tsv", g)
    res = node_classification(vecs, nodes, labels)
    assert res["macro_f1"] > 0.6  # 12 conferences: chance is about 0.08
    lp = link_prediction(g, test_fraction=0.1, eval_negative=20, seed=0,
                         embed_kwargs=dict(dim=32, walks_per_node=10, walk_length=20, window=5, epochs=2, sample=0))
    assert lp["types"]["uniform"]["dot"]["auc"] > 0.75
    # hard negatives are harder: they measure what uniform ones hide
    assert lp["types"]["2hop"]["dot"]["auc"] < lp["types"]["uniform"]["dot"]["auc"]


def test_cli_embed_linkpred_classify(tmp_path, capsys, shared_data):
    edges = shared_data / "graphs" / "karate.edges.tsv"
    out = tmp_path / "k.vec"
    assert main(["graph", "embed", str(edges), "-o", str(out), "--dim", "8", "--walks-per-node", "5",
                 "--walk-length", "10", "--json"]) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert info["nodes"] == 34 and out.exists() and info["negatives"] == "shared"
    assert main(["graph", "embed", str(edges), "-o", str(out), "--dim", "8", "--walks-per-node", "5",
                 "--walk-length", "10", "--negatives", "per-example", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["negatives"] == "per-example"
    assert main(["graph", "linkpred", str(edges), "--dim", "8", "--walks-per-node", "5", "--walk-length", "10",
                 "--eval-negative", "5", "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(res["types"]) == {"uniform", "degree", "2hop"}
    labels = tmp_path / "labels.tsv"
    labels.write_text("node\tlabel\n" + "".join(f"{i}\t{i % 2}\n" for i in range(34)))
    assert main(["graph", "classify", str(out), str(labels), "--json"]) == 0
    assert "macro_f1" in capsys.readouterr().out
    assert main(["graph", "linkpred", str(edges), "--eval-negatives", "uniform,hardest"]) == 2
    assert "unknown evaluation negative type 'hardest'" in capsys.readouterr().err


def test_inputs_users_have_at_hand(tmp_path):
    import networkx as nx
    import scipy.sparse as sp

    from negsample.graph import as_graph, embed, load_embeddings, save_embeddings

    G = nx.karate_club_graph()
    vecs, st = embed(G, dim=8, walks_per_node=3, walk_length=10, window=3, seed=1)
    assert vecs.shape == (34, 8) and st["tokens"] > 0
    g = as_graph(G)
    assert g.n_nodes == 34 and g.stats["edges"] == 78 and not g.directed and g.weighted    # karate has weights
    A = sp.csr_matrix(nx.to_scipy_sparse_array(G, weight=None))
    ga = as_graph(A)
    assert not ga.directed and ga.stats["edges"] == 78 and not ga.weighted
    ei = as_graph(np.array([[0, 1, 2], [1, 2, 0]]), num_nodes=5)
    assert ei.directed and ei.n_nodes == 5 and ei.stats["isolated_nodes"] == 2
    named = as_graph([("alice", "bob"), ("bob", "carol")])
    assert named.node_ids == ["alice", "bob", "carol"]
    save_embeddings(tmp_path / "e.npz", vecs, g.node_ids)
    back, ids = load_embeddings(tmp_path / "e.npz")
    np.testing.assert_array_equal(back, vecs)
    assert ids == g.node_ids
    with pytest.raises(NegsampleError, match="edge_index has node id 9 but num_nodes=5"):
        as_graph(np.array([[0, 9], [1, 2]]), num_nodes=5)
    with pytest.raises(NegsampleError, match="cannot make a graph from int"):
        as_graph(3)
