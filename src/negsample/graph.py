"""Graph embeddings (DeepWalk / node2vec walks + SGNS) and link prediction against negatives of
stated hardness.

- Input: edge lists (tab, comma or space separated; optional weight column; ``#`` comments; the
  shared files' ``# directed=... nodes=... edges=...`` header is honoured), node ids of any kind
  mapped to 0..n-1, stored as scipy.sparse CSR (symmetrised when undirected). Self-loops are
  dropped and duplicate edges merged (weights summed); both are counted; isolated nodes reported.
- Walks: ``negsample.kernels.walks`` (rejection-sampled node2vec, PecanPy SparseOTF-like),
  in Python threads over chunks of start nodes, seeded.
- Training: ``negsample.word2vec.train_sgns`` on the walks, noise ~ degree^alpha.
- Link prediction: a random spanning forest of the graph is never held out (so the training
  graph keeps the components connected); ``test_fraction`` of the other edges are held out. Each
  held-out edge (u, v) is ranked against ``n_negatives`` negatives (u, x) of one type:
  uniform non-edges, degree-matched non-edges (x ~ degree), or hard 2-hop non-edges (x shares a
  neighbour with u, no edge u-x). Scores: dot product z_u.z_x, and Hadamard features z_u*z_x with
  scikit-learn's logistic regression (fit on training edges vs uniform non-edges). Reported per
  type: AUC (positives vs all negatives), MRR and Hits@10 (rank of v among its negatives).
- Node classification: logistic regression on the embeddings, stratified 5-fold CV, micro and
  macro F1.
"""
from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from numba import njit

from ._common import NegsampleError, check_finite_float, check_positive_int
from .kernels.csr import csr_contains
from .kernels.walks import deepwalk_walks, node2vec_walks

__all__ = ["Graph", "load_edgelist", "from_edges", "random_walks", "embed", "split_edges",
           "sample_negatives", "link_prediction", "node_classification", "load_labels"]

NEGATIVE_TYPES = ("uniform", "degree", "2hop")


@dataclass
class Graph:
    csr: sp.csr_matrix            # (n, n), float32 weights, symmetric when undirected
    node_ids: list                # original ids, index = internal id
    directed: bool
    weighted: bool
    stats: dict = field(default_factory=dict)

    @property
    def n_nodes(self):
        return self.csr.shape[0]

    def degrees(self):
        return np.diff(self.csr.indptr)

    def edge_list(self):
        """Edges once each: (m, 2) int64 (u < v for undirected)."""
        coo = self.csr.tocoo()
        e = np.stack([coo.row, coo.col], 1).astype(np.int64)
        return e if self.directed else e[e[:, 0] < e[:, 1]]


def from_edges(src, dst, n_nodes=None, weights=None, directed=False, node_ids=None):
    src = np.asarray(src, np.int64)
    dst = np.asarray(dst, np.int64)
    n = int(n_nodes if n_nodes is not None else (max(src.max(), dst.max()) + 1 if src.size else 0))
    w = np.ones(src.size, np.float32) if weights is None else np.asarray(weights, np.float32)
    loops = src == dst
    n_loops = int(loops.sum())
    src, dst, w = src[~loops], dst[~loops], w[~loops]
    if not directed:
        a, b = np.minimum(src, dst), np.maximum(src, dst)
        src, dst = a, b
    key = src * n + dst
    uniq, inv = np.unique(key, return_inverse=True)
    dups = int(key.size - uniq.size)
    wsum = np.bincount(inv, weights=w).astype(np.float32)
    s, d = uniq // n, uniq % n
    if not directed:
        s, d, wsum = np.r_[s, d], np.r_[d, s], np.r_[wsum, wsum]
    csr = sp.csr_matrix((wsum, (s, d)), shape=(n, n))
    csr.sort_indices()
    deg = np.diff(csr.indptr) + (np.diff(csr.T.tocsr().indptr) if directed else 0)
    stats = {"nodes": n, "edges": int(uniq.size), "self_loops_dropped": n_loops, "duplicate_edges_merged": dups,
             "isolated_nodes": int((deg == 0).sum())}
    weighted = weights is not None and not np.allclose(wsum, wsum[0] if wsum.size else 1.0)
    return Graph(csr, node_ids if node_ids is not None else [str(i) for i in range(n)], directed, weighted, stats)


def load_edgelist(path, directed=None, weighted=None):
    """Read an edge list (see module docstring). directed=None: the header's value, else False."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise NegsampleError(f"edge list not found: {path}")
    header_directed = None
    header_nodes = None
    src, dst, wts = [], [], []
    index: dict = {}
    n_fields = None
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            s = line.strip()
            if not s:
                continue
            if s.startswith("#"):
                for tok in s[1:].split():
                    if tok.startswith("directed="):
                        header_directed = tok.split("=", 1)[1].lower() == "true"
                    elif tok.startswith("nodes="):
                        try:
                            header_nodes = int(tok.split("=", 1)[1])
                        except ValueError:
                            pass
                continue
            parts = s.replace(",", " ").split() if ("," in s and "\t" not in s) else s.split()
            if len(parts) < 2 or len(parts) > 3:
                raise NegsampleError(f"{path}: line {lineno} is not 'source target [weight]': {s[:80]!r}")
            if n_fields is None:
                n_fields = len(parts)
            if len(parts) == 3:
                try:
                    wts.append(float(parts[2]))
                except ValueError:
                    raise NegsampleError(f"{path}: line {lineno} has a non-numeric weight {parts[2]!r}") from None
                if not np.isfinite(wts[-1]) or wts[-1] <= 0:
                    raise NegsampleError(f"{path}: line {lineno} has weight {parts[2]!r}; weights must be finite and > 0")
            elif wts:
                raise NegsampleError(f"{path}: line {lineno} has no weight but earlier lines do")
            for tok, lst in ((parts[0], src), (parts[1], dst)):
                i = index.get(tok)
                if i is None:
                    i = index[tok] = len(index)
                lst.append(i)
    if not src:
        raise NegsampleError(f"{path}: the edge list is empty")
    node_ids = list(index)
    n = len(node_ids)
    # the shared files number nodes 0..n-1 and may list isolated nodes only in the header
    if header_nodes is not None and header_nodes > n and all(t.isdigit() for t in node_ids):
        order = sorted(range(n), key=lambda i: int(node_ids[i]))
        if [int(node_ids[i]) for i in order] == list(range(n)) or max(int(t) for t in node_ids) < header_nodes:
            remap = np.array([int(t) for t in node_ids], np.int64)
            src = remap[np.asarray(src)]
            dst = remap[np.asarray(dst)]
            node_ids = [str(i) for i in range(header_nodes)]
            n = header_nodes
    directed = bool(header_directed) if directed is None else bool(directed)
    use_w = bool(wts) if weighted is None else (bool(weighted) and bool(wts))
    g = from_edges(src, dst, n, np.asarray(wts) if use_w else None, directed, node_ids)
    return g


def load_labels(path, graph: Graph):
    """node<TAB>label file (header optional) -> (node indices, labels) for nodes in the graph."""
    if not os.path.exists(path):
        raise NegsampleError(f"labels file not found: {path}")
    pos = {k: i for i, k in enumerate(graph.node_ids)}
    nodes, labels = [], []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.split()
            if not parts or line.startswith("#"):
                continue
            if len(parts) < 2:
                raise NegsampleError(f"{path}: line {lineno} is not 'node label'")
            if lineno == 1 and parts[0] not in pos:
                continue  # header
            if parts[0] in pos:
                nodes.append(pos[parts[0]])
                labels.append(parts[1])
    if not nodes:
        raise NegsampleError(f"{path}: no labelled node of the graph")
    return np.asarray(nodes), np.asarray(labels)


# --------------------------------------------------------------------------- walks

def _edge_alias(graph: Graph):
    if not graph.weighted:
        return np.zeros(1), np.zeros(1, np.int64)
    from .kernels.alias import build_alias_kernel

    indptr, w = graph.csr.indptr, graph.csr.data.astype(np.float64)
    aprob = np.ones(w.size)
    aalias = np.zeros(w.size, np.int64)
    for v in range(graph.n_nodes):
        lo, hi = indptr[v], indptr[v + 1]
        if hi > lo:
            p, a = build_alias_kernel(w[lo:hi] / w[lo:hi].sum())
            aprob[lo:hi], aalias[lo:hi] = p, a
    return aprob, aalias


def random_walks(graph: Graph, method="deepwalk", walks_per_node=10, walk_length=80, p=1.0, q=1.0, seed=1,
                 threads=2):
    """(walks_per_node * n, walk_length) int32 walks (rows that hit a sink end in -1)."""
    if method not in ("deepwalk", "node2vec"):
        raise NegsampleError(f"method must be 'deepwalk' or 'node2vec', got {method!r}")
    walks_per_node = check_positive_int("walks_per_node", walks_per_node)
    walk_length = check_positive_int("walk_length", walk_length, minimum=2)
    p = check_finite_float("p", p, minimum=0.0, strict_min=True)
    q = check_finite_float("q", q, minimum=0.0, strict_min=True)
    threads = check_positive_int("threads", threads)
    n = graph.n_nodes
    rng = np.random.default_rng(seed)
    starts = np.concatenate([rng.permutation(n) for _ in range(walks_per_node)]).astype(np.int64)
    out = np.empty((starts.size, walk_length), np.int32)
    indptr = graph.csr.indptr.astype(np.int64)
    indices = graph.csr.indices.astype(np.int64)
    aprob, aalias = _edge_alias(graph)
    bounds = np.linspace(0, starts.size, 4 * threads + 1).astype(np.int64)

    def run(c):
        a, b = bounds[c], bounds[c + 1]
        if method == "deepwalk" or (p == 1.0 and q == 1.0):
            deepwalk_walks(indptr, indices, aprob, aalias, graph.weighted, starts[a:b], walk_length,
                           seed * 1_000_003 + c, out[a:b])
        else:
            node2vec_walks(indptr, indices, aprob, aalias, graph.weighted, starts[a:b], walk_length, p, q,
                           seed * 1_000_003 + c, out[a:b])

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(run, range(len(bounds) - 1)))
    return out


def _walks_to_sequences(walks):
    valid = walks >= 0
    lengths = valid.sum(1)
    keep = lengths >= 2
    ids = walks[keep][valid[keep]].astype(np.int32)
    offsets = np.zeros(keep.sum() + 1, np.int64)
    offsets[1:] = np.cumsum(lengths[keep])
    return ids, offsets


def embed(graph: Graph, method="deepwalk", p=1.0, q=1.0, walk_length=80, walks_per_node=10, window=10, dim=128,
          negative=5, ns_exponent=0.75, epochs=1, lr=0.0125, threads=2, seed=1, negatives="shared", sample=1e-3,
          progress=False):
    """Walks + SGNS; noise ~ degree^ns_exponent; frequent nodes subsampled with threshold
    ``sample`` (1e-3, gensim's default, which improved link prediction on polblogs and football).
    Returns (vectors (n, dim) float32, stats)."""
    from .word2vec import train_sgns

    t0 = time.perf_counter()
    walks = random_walks(graph, method, walks_per_node, walk_length, p, q, seed, threads)
    t_walk = time.perf_counter() - t0
    ids, offsets = _walks_to_sequences(walks)
    if ids.size == 0:
        raise NegsampleError("the graph has no edges to walk on")
    deg = np.bincount(graph.csr.indices, minlength=graph.n_nodes).astype(np.float64) + np.diff(graph.csr.indptr)
    counts = np.maximum(deg, 0)
    if counts.sum() == 0:
        raise NegsampleError("the graph has no edges")
    W_in, _, st = train_sgns(ids, offsets, counts, dim=dim, window=window, negative=negative,
                             ns_exponent=ns_exponent, sample=sample, epochs=epochs, lr=lr, threads=threads,
                             seed=seed, negatives=negatives, progress=progress)
    stats = {"walk_seconds": t_walk, "train_seconds": st["train_seconds"],
             "total_seconds": time.perf_counter() - t0, "walks": int(walks.shape[0]), "tokens": int(ids.size),
             "sgns_negatives": negatives, "kernel_backend": st["kernel_backend"]}
    return W_in, stats


# --------------------------------------------------------------------------- link prediction

def split_edges(graph: Graph, test_fraction=0.1, seed=0):
    """(train graph, test edges (m, 2)). A random spanning forest is never held out."""
    if not 0 < test_fraction < 1:
        raise NegsampleError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    edges = graph.edge_list()
    m = edges.shape[0]
    und = sp.csr_matrix((rng.random(m) + 1e-3, (edges[:, 0], edges[:, 1])), shape=(graph.n_nodes,) * 2)
    forest = sp.csgraph.minimum_spanning_tree(und + und.T).tocoo()
    fk = set(zip(np.minimum(forest.row, forest.col).tolist(), np.maximum(forest.row, forest.col).tolist()))
    key_u, key_v = (edges[:, 0], edges[:, 1]) if graph.directed else (edges.min(1), edges.max(1))
    protected = np.fromiter(((a, b) in fk or (b, a) in fk for a, b in zip(key_u.tolist(), key_v.tolist())), bool, m)
    candidates = np.flatnonzero(~protected)
    n_test = min(int(round(test_fraction * m)), candidates.size)
    test = rng.choice(candidates, n_test, replace=False)
    keep = np.ones(m, bool)
    keep[test] = False
    w = graph.csr[edges[keep, 0], edges[keep, 1]].A1 if graph.weighted else None
    train = from_edges(edges[keep, 0], edges[keep, 1], graph.n_nodes, w, graph.directed, graph.node_ids)
    train.stats["held_out_edges"] = int(n_test)
    return train, edges[test]


@njit(nogil=True, cache=True)
def _sample_negatives_kernel(indptr, indices, sources, kind, m, deg_prob, deg_alias, seed, out):
    """kind 0 uniform, 1 degree-matched, 2 two-hop; -1 where nothing was found in 200 tries."""
    n = indptr.shape[0] - 1
    state = np.uint64(seed) * np.uint64(6364136223846793005) + np.uint64(1442695040888963407)
    for r in range(sources.shape[0]):
        u = sources[r]
        for j in range(m):
            out[r, j] = -1
            for _ in range(200):
                state = state * np.uint64(6364136223846793005) + np.uint64(1442695040888963407)
                x01 = (state >> np.uint64(11)) * (1.0 / 9007199254740992.0)
                if kind == 0:
                    x = min(int(x01 * n), n - 1)
                elif kind == 1:
                    y = x01 * n
                    col = min(int(y), n - 1)
                    x = col if (y - col) < deg_prob[col] else deg_alias[col]
                else:
                    du = indptr[u + 1] - indptr[u]
                    if du == 0:
                        break
                    w = indices[indptr[u] + min(int(x01 * du), du - 1)]
                    state = state * np.uint64(6364136223846793005) + np.uint64(1442695040888963407)
                    x02 = (state >> np.uint64(11)) * (1.0 / 9007199254740992.0)
                    dw = indptr[w + 1] - indptr[w]
                    x = indices[indptr[w] + min(int(x02 * dw), dw - 1)]
                if x == u:
                    continue
                if not csr_contains(indptr, indices, u, x):
                    out[r, j] = x
                    break


def sample_negatives(full: Graph, sources, kind="uniform", m=50, seed=0, neighbours: Graph | None = None):
    """(len(sources), m) negatives x for each source u: no edge u-x in ``full``; kind 'uniform',
    'degree' (x ~ degree) or '2hop' (x shares a neighbour with u in ``neighbours``, default full).
    -1 marks a slot where no such node was found."""
    if kind not in NEGATIVE_TYPES:
        raise NegsampleError(f"negative type must be one of {NEGATIVE_TYPES}, got {kind!r}")
    from .distributions import AliasTable

    sym = full.csr if not full.directed else ((full.csr + full.csr.T) > 0).astype(np.float32).tocsr()
    sym.sort_indices()
    sources = np.asarray(sources, np.int64)
    out = np.empty((sources.size, m), np.int64)
    deg = np.diff(sym.indptr).astype(np.float64)
    table = AliasTable(deg + (deg.sum() == 0))
    if kind == "2hop" and neighbours is not None:
        nb = neighbours.csr if not neighbours.directed else ((neighbours.csr + neighbours.csr.T) > 0).tocsr()
        # two-hop proposals walk the neighbour graph; the non-edge test still uses the full graph
        prop = _sample_2hop(nb, sym, sources, m, seed)
        return prop
    _sample_negatives_kernel(sym.indptr.astype(np.int64), sym.indices.astype(np.int64), sources,
                             NEGATIVE_TYPES.index(kind), m, table.prob, table.alias, seed, out)
    return out


def _sample_2hop(nb, full_sym, sources, m, seed):
    # propose via nb, reject edges of the full graph: run the kernel on nb then filter
    out = np.empty((sources.size, m), np.int64)
    _sample_negatives_kernel(nb.indptr.astype(np.int64), nb.indices.astype(np.int64), sources, 2, m,
                             np.ones(1), np.zeros(1, np.int64), seed, out)
    for r in range(sources.size):
        u = sources[r]
        row = full_sym.indices[full_sym.indptr[u]:full_sym.indptr[u + 1]]
        bad = np.isin(out[r], row)
        out[r, bad] = -1
    return out


def _ranking_metrics(pos, neg):
    """pos (P,), neg (P, M) with nan for missing -> (MRR, Hits@10) of each positive among its negatives."""
    valid = ~np.isnan(neg)
    better = ((neg > pos[:, None]) & valid).sum(1) + 0.5 * ((neg == pos[:, None]) & valid).sum(1)
    rank = 1 + better
    return float(np.mean(1.0 / rank)), float(np.mean(rank <= 10))


def link_prediction(graph: Graph, vectors=None, test_fraction=0.1, negative_types=NEGATIVE_TYPES, n_negatives=50,
                    seed=0, embed_kwargs=None, split=None):
    """Hold out edges, embed the training graph (unless ``vectors`` given with ``split``), and
    score held-out edges against each negative type. Returns a dict of metrics per type and scorer."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    train, test = split if split is not None else split_edges(graph, test_fraction, seed)
    if vectors is None:
        vectors, _ = embed(train, **(embed_kwargs or {}))
    Z = np.asarray(vectors, np.float64)
    if Z.shape[0] != graph.n_nodes:
        raise NegsampleError(f"vectors have {Z.shape[0]} rows for {graph.n_nodes} nodes")
    rng = np.random.default_rng(seed)
    # Hadamard + logistic regression, fit on training edges vs uniform non-edges of the training graph
    tr_edges = train.edge_list()
    pick = rng.choice(tr_edges.shape[0], min(20000, tr_edges.shape[0]), replace=False)
    tr_pos = tr_edges[pick]
    tr_neg_x = sample_negatives(graph, tr_pos[:, 0], "uniform", 1, seed + 11)[:, 0]
    ok = tr_neg_x >= 0
    X = np.vstack([Z[tr_pos[:, 0]] * Z[tr_pos[:, 1]], Z[tr_pos[ok, 0]] * Z[tr_neg_x[ok]]])
    y = np.r_[np.ones(len(tr_pos)), np.zeros(ok.sum())]
    clf = LogisticRegression(max_iter=1000).fit(X, y)
    results = {"test_edges": int(len(test)), "train_edges": int(tr_edges.shape[0]), "types": {}}
    src, dst = test[:, 0], test[:, 1]
    for kind in negative_types:
        neg = sample_negatives(graph, src, kind, n_negatives, seed + 101 + NEGATIVE_TYPES.index(kind),
                               neighbours=train if kind == "2hop" else None)
        valid = neg >= 0
        res = {"negatives_found": float(valid.mean())}
        for scorer in ("dot", "hadamard-lr"):
            if scorer == "dot":
                ps = np.einsum("ij,ij->i", Z[src], Z[dst])
                ns = np.einsum("ij,ikj->ik", Z[src], Z[np.where(valid, neg, 0)])
            else:
                ps = clf.decision_function(Z[src] * Z[dst])
                flat = np.where(valid, neg, 0).ravel()
                ns = clf.decision_function(np.repeat(Z[src], neg.shape[1], 0) * Z[flat]).reshape(neg.shape)
            ns = np.where(valid, ns, np.nan)
            allneg = ns[valid]
            if allneg.size == 0:
                res[scorer] = {"auc": float("nan"), "mrr": float("nan"), "hits@10": float("nan")}
                continue
            auc = roc_auc_score(np.r_[np.ones(ps.size), np.zeros(allneg.size)], np.r_[ps, allneg])
            mrr, hits = _ranking_metrics(ps, ns)
            res[scorer] = {"auc": float(auc), "mrr": mrr, "hits@10": hits}
        results["types"][kind] = res
    return results


def node_classification(vectors, nodes, labels, seed=0, folds=5):
    """Stratified k-fold logistic regression on the node vectors: micro and macro F1."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.preprocessing import StandardScaler
    from sklearn.pipeline import make_pipeline

    X = np.asarray(vectors)[nodes]
    _, counts = np.unique(labels, return_counts=True)
    folds = int(min(folds, counts.min()))
    if folds < 2:
        raise NegsampleError("every class needs at least 2 labelled nodes for cross-validation")
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    pred = cross_val_predict(clf, X, labels, cv=StratifiedKFold(folds, shuffle=True, random_state=seed))
    return {"micro_f1": float(f1_score(labels, pred, average="micro")),
            "macro_f1": float(f1_score(labels, pred, average="macro")), "nodes": int(len(nodes)), "folds": folds}
