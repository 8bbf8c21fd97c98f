"""Graph embeddings (DeepWalk / node2vec walks + SGNS) and link prediction against negatives of
stated hardness.

- Input: edge lists (tab, comma or space separated; optional weight column; ``#`` comments; the
  shared files' ``# directed=... nodes=... edges=...`` header is honoured), node ids of any kind
  mapped to 0..n-1, stored as scipy.sparse CSR (symmetrised when undirected). Self-loops are
  dropped and duplicate edges merged (weights summed); both are counted; isolated nodes reported.
- Walks: ``negsample.kernels.walks`` (rejection-sampled node2vec, PecanPy SparseOTF-like),
  in Python threads over chunks of start nodes, seeded (chunk c: stream ``stream_seed(seed, c)``).
- Training: the SGNS engine (``negsample.sgns``) on the walks with a ``NegativeSampler``
  (default noise degree^ns_exponent; any noise and the core's false-negative filters).
- Link prediction: a random spanning forest of the graph is never held out (so the training
  graph keeps the components connected); ``test_fraction`` of the other edges are held out. Each
  held-out edge (u, v) is ranked against ``eval_negative`` negatives (u, x) of each evaluation
  type: uniform non-edges, degree-matched non-edges (x ~ degree), or hard 2-hop non-edges (x shares
  a neighbour with u, no edge u-x). All three are drawn through the noise core: x == u and the
  edges of u in the full graph are rejected, redrawn up to 200 times, then dropped. Scores: dot product z_u.z_x, and Hadamard features z_u*z_x with
  scikit-learn's logistic regression (fit on training edges vs uniform non-edges). Reported per
  type: AUC (positives vs all negatives), MRR and Hits@10 (rank of v among its negatives).
- Node classification: logistic regression on the embeddings, stratified 5-fold CV, micro and
  macro F1.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ._common import NegsampleError, check_finite_float, check_positive_int
from .kernels.streams import stream_seed
from .samplers import NegativeSampler, as_sampler

__all__ = ["Graph", "as_graph", "save_embeddings", "load_embeddings", "load_edgelist", "from_edges", "random_walks", "embed", "split_edges",
           "sample_negatives", "link_prediction", "node_classification", "load_labels", "EVAL_NEGATIVES"]

EVAL_NEGATIVES = ("uniform", "degree", "2hop")


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


def as_graph(data, directed=None, weighted=None, num_nodes=None) -> Graph:
    """A Graph from what users of networkx / PyG / PecanPy have at hand:
    - a ``Graph`` (returned as is) or the path of an edge list (``load_edgelist``);
    - a networkx ``Graph`` / ``DiGraph`` (node ids kept, as strings; a ``weight`` attribute is used);
    - a scipy.sparse adjacency matrix (n, n) (values = weights; directed unless ``directed=False``
      or the matrix is symmetric);
    - a (2, E) ``edge_index`` (numpy or torch, PyG's convention; ``num_nodes`` for isolated nodes);
    - a list of (u, v) or (u, v, weight) pairs with ids of any hashable kind (e.g. strings)."""
    if isinstance(data, Graph):
        return data
    if isinstance(data, (str, os.PathLike)):
        return load_edgelist(data, directed=directed, weighted=weighted)
    mod = type(data).__module__
    if mod.startswith("networkx"):
        nodes = list(data.nodes())
        index = {v: i for i, v in enumerate(nodes)}
        edges = list(data.edges(data="weight", default=1.0))
        if not edges:
            raise NegsampleError("the networkx graph has no edges")
        src = [index[u] for u, _, _ in edges]
        dst = [index[v] for _, v, _ in edges]
        w = np.asarray([float(x) for _, _, x in edges])
        _check_weights(w)
        use_w = (weighted is None and not np.all(w == 1.0)) or bool(weighted)
        is_directed = data.is_directed() if directed is None else bool(directed)
        return from_edges(src, dst, len(nodes), w if use_w else None, is_directed, [str(v) for v in nodes])
    if sp.issparse(data):
        m = sp.csr_matrix(data)
        if m.shape[0] != m.shape[1]:
            raise NegsampleError(f"an adjacency matrix must be square, got {m.shape}")
        coo = m.tocoo()
        w = coo.data.astype(np.float64)
        _check_weights(w)
        symmetric = (abs(m - m.T) > 1e-12).nnz == 0
        is_directed = (not symmetric) if directed is None else bool(directed)
        keep = np.ones(coo.nnz, bool) if is_directed else coo.row <= coo.col
        use_w = (weighted is None and not np.all(w == 1.0)) or bool(weighted)
        return from_edges(coo.row[keep], coo.col[keep], m.shape[0], w[keep] if use_w else None, is_directed)
    if mod.startswith("torch"):
        data = data.detach().cpu().numpy()
    if isinstance(data, np.ndarray) and data.ndim == 2 and data.shape[0] == 2 and data.dtype.kind in "iu":
        if data.size and data.min() < 0:
            raise NegsampleError("edge_index has negative node ids")
        n = int(num_nodes if num_nodes is not None else (data.max() + 1 if data.size else 0))
        if data.size and data.max() >= n:
            raise NegsampleError(f"edge_index has node id {int(data.max())} but num_nodes={n}")
        if data.shape[1] == 0:
            raise NegsampleError("edge_index has no edges")
        return from_edges(data[0], data[1], n, None, True if directed is None else bool(directed))
    try:
        pairs = list(data)
    except TypeError:
        raise NegsampleError(f"cannot make a graph from {type(data).__name__}: give an edge-list path, a networkx "
                             "graph, a scipy.sparse adjacency, a (2, E) edge_index or (u, v) pairs") from None
    if not pairs or any(len(p) not in (2, 3) for p in pairs):
        raise NegsampleError("edge pairs must be (u, v) or (u, v, weight) and there must be at least one")
    index: dict = {}
    for p in pairs:
        for v in p[:2]:
            index.setdefault(v, len(index))
    w = np.asarray([float(p[2]) for p in pairs]) if len(pairs[0]) == 3 else None
    if w is not None:
        _check_weights(w)
    return from_edges([index[p[0]] for p in pairs], [index[p[1]] for p in pairs], len(index), w,
                      bool(directed), [str(v) for v in index])


def _check_weights(w):
    if not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise NegsampleError("edge weights must be finite and > 0")


def save_embeddings(path, vectors, node_ids, inputs=()):
    """Node vectors with their ids: ``.npz`` (negsample archive: vectors + node ids, loads with
    ``load_embeddings``) or ``.npy`` (the (n, dim) array in node order, ids one per line in
    ``PATH.ids.txt``). Other suffixes: the word2vec text format."""
    from .io import atomic_write, save_arrays

    path = os.fspath(path)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if path.endswith(".npz"):
        save_arrays(path, "node-embeddings", {"vectors": vectors}, strings={"node_ids": list(node_ids)}, inputs=inputs)
    elif path.endswith(".npy"):
        with atomic_write(path, "wb", inputs=inputs) as fh:
            np.save(fh, vectors)
        with atomic_write(path + ".ids.txt", "w", inputs=inputs) as fh:
            fh.write("".join(f"{v}\n" for v in node_ids))
    else:
        from .vectors import KeyedVectors

        KeyedVectors(node_ids, vectors).save_word2vec_format(path, binary=False, inputs=inputs)


def load_embeddings(path):
    """(vectors (n, dim) float32, node ids) from a ``save_embeddings`` .npz archive."""
    from .io import check_array, load_arrays

    arrays, strings, _, _ = load_arrays(path, "node-embeddings", required=("vectors",), required_strings=("node_ids",))
    ids = strings["node_ids"]
    vecs = check_array(arrays, "vectors", path, dtype=np.float32, shape=(len(ids), None), finite=True)
    return vecs, ids


def load_edgelist(path, directed=None, weighted=None):
    """Read an edge list (see module docstring). directed=None: the header's value, else False."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise NegsampleError(f"edge list not found: {path}")
    if not os.path.isfile(path):
        raise NegsampleError(f"edge list {path} is not a regular file")
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
            if len(parts) == 3 and n_fields == 2:
                raise NegsampleError(f"{path}: line {lineno} has a weight but the lines before it do not")
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
    if header_nodes is not None and header_nodes > max(100 * n, n + 1_000_000):
        raise NegsampleError(f"{path}: the header claims {header_nodes:,} nodes but the edges mention only {n:,}; "
                             "refusing to allocate for that many isolated nodes")
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
    if not os.path.isfile(path):
        raise NegsampleError(f"labels file {path} is not a regular file")
    pos = {k: i for i, k in enumerate(graph.node_ids)}
    nodes, labels = [], []
    try:
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
    except UnicodeDecodeError as exc:
        raise NegsampleError(f"{path} is not UTF-8 text (byte {exc.start} of a line)") from None
    if not nodes:
        raise NegsampleError(f"{path}: no labelled node of the graph")
    return np.asarray(nodes), np.asarray(labels)


# --------------------------------------------------------------------------- walks

def _edge_alias(graph: Graph):
    if not graph.weighted:
        return np.zeros(1), np.zeros(1, np.int64)
    from .distributions import build_alias

    indptr, w = graph.csr.indptr, graph.csr.data.astype(np.float64)
    aprob = np.ones(w.size)
    aalias = np.zeros(w.size, np.int64)
    for v in range(graph.n_nodes):
        lo, hi = indptr[v], indptr[v + 1]
        if hi > lo:
            p, a = build_alias(w[lo:hi] / w[lo:hi].sum())
            aprob[lo:hi], aalias[lo:hi] = p, a
    return aprob, aalias


def random_walks(graph: Graph, method="deepwalk", walks_per_node=10, walk_length=80, p=1.0, q=1.0, seed=1,
                 threads=2, progress=False):
    """(walks_per_node * n, walk_length) int32 walks (rows that hit a sink end in -1)."""
    from ._common import Progress
    from .kernels.walks import deepwalk_walks, node2vec_walks

    graph = as_graph(graph)
    if method not in ("deepwalk", "node2vec"):
        raise NegsampleError(f"method must be 'deepwalk' or 'node2vec', got {method!r}")
    walks_per_node = check_positive_int("walks_per_node", walks_per_node)
    walk_length = check_positive_int("walk_length", walk_length, minimum=2)
    p = check_finite_float("p", p, minimum=0.0, strict_min=True)
    q = check_finite_float("q", q, minimum=0.0, strict_min=True)
    threads = check_positive_int("threads", threads)
    seed = check_positive_int("seed", seed, minimum=0)
    n = graph.n_nodes
    _check_walk_memory(n * walks_per_node, walk_length)
    rng = np.random.default_rng(seed)
    starts = np.concatenate([rng.permutation(n) for _ in range(walks_per_node)]).astype(np.int64)
    out = np.empty((starts.size, walk_length), np.int32)
    indptr = graph.csr.indptr.astype(np.int64)
    indices = graph.csr.indices.astype(np.int64)
    aprob, aalias = _edge_alias(graph)
    n_chunks = max(4 * threads, starts.size // 20_000)
    bounds = np.linspace(0, starts.size, n_chunks + 1).astype(np.int64)
    bar = Progress(starts.size, unit="walks", desc="walks", enabled=progress)
    done = [0]

    def run(c):
        a, b = bounds[c], bounds[c + 1]
        if method == "deepwalk" or (p == 1.0 and q == 1.0):
            deepwalk_walks(indptr, indices, aprob, aalias, graph.weighted, starts[a:b], walk_length,
                           stream_seed(seed, c), out[a:b])
        else:
            node2vec_walks(indptr, indices, aprob, aalias, graph.weighted, starts[a:b], walk_length, p, q,
                           stream_seed(seed, c), out[a:b])
        done[0] += int(b - a)
        bar.update(done[0])

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(run, range(len(bounds) - 1)))
    bar.close()
    return out


def _check_walk_memory(n_walks, walk_length):
    from .io import _physical_memory

    need = 4.0 * n_walks * walk_length
    if need > 0.8 * _physical_memory():
        raise NegsampleError(f"{n_walks:,} walks of {walk_length} nodes need {need / 2**30:.1f} GiB, more than this "
                             "machine's memory; lower --walks-per-node or --walk-length")


def _walks_to_sequences(walks):
    valid = walks >= 0
    lengths = valid.sum(1)
    keep = lengths >= 2
    ids = walks[keep][valid[keep]].astype(np.int32)
    offsets = np.zeros(keep.sum() + 1, np.int64)
    offsets[1:] = np.cumsum(lengths[keep])
    return ids, offsets


def node_degrees(graph: Graph) -> np.ndarray:
    """Degree of each node (in + out for directed graphs), float64 (n,)."""
    return np.bincount(graph.csr.indices, minlength=graph.n_nodes).astype(np.float64) + np.diff(graph.csr.indptr)


def embed(graph: Graph, method="deepwalk", p=1.0, q=1.0, walk_length=80, walks_per_node=10, window=10, dim=128,
          negative=5, ns_exponent=0.75, negatives="shared", epochs=1, lr=0.0125, threads=2, seed=1, sample=1e-3,
          progress=False):
    """Walks + SGNS. ``negatives``: "shared" | "per-example" or a NegativeSampler (default noise
    degree^ns_exponent; its filters apply with node ids as anchors, e.g. known_positives = the
    adjacency to never push neighbours apart). Frequent nodes are subsampled with threshold
    ``sample`` (1e-3, gensim's default, which improved link prediction on polblogs and football).
    Returns (vectors (n, dim) float32, stats)."""
    from .sgns import SGNS_MODES, train_sgns

    sampler = as_sampler(negatives, negative, ns_exponent, default_mode="shared", modes=SGNS_MODES)
    graph = as_graph(graph)
    t0 = time.perf_counter()
    walks = random_walks(graph, method, walks_per_node, walk_length, p, q, seed, threads, progress=progress)
    t_walk = time.perf_counter() - t0
    ids, offsets = _walks_to_sequences(walks)
    del walks
    if ids.size == 0:
        raise NegsampleError("the graph has no edges to walk on")
    counts = node_degrees(graph)
    if counts.sum() == 0:
        raise NegsampleError("the graph has no edges")
    W_in, _, st = train_sgns(ids, offsets, counts, dim=dim, window=window, negatives=sampler, sample=sample,
                             epochs=epochs, lr=lr, threads=threads, seed=seed, progress=progress,
                             keys=graph.node_ids)
    stats = {"walk_seconds": t_walk, "train_seconds": st["train_seconds"],
             "total_seconds": time.perf_counter() - t0, "walks": int(offsets.size - 1), "tokens": int(ids.size),
             "negatives": sampler.mode, "negative": sampler.negative, "kernel_backend": st["kernel_backend"],
             "filter": st["filter"], "adaptive": st.get("adaptive")}
    return W_in, stats


# --------------------------------------------------------------------------- link prediction

def split_edges(graph: Graph, test_fraction=0.1, seed=0):
    """(train graph, test edges (m, 2)). A random spanning forest is never held out."""
    graph = as_graph(graph)
    test_fraction = check_finite_float("test_fraction", test_fraction)
    if not 0 < test_fraction < 1:
        raise NegsampleError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    edges = graph.edge_list()
    m = edges.shape[0]
    if m == 0:
        raise NegsampleError("the graph has no edges to hold out")
    und = sp.csr_matrix((rng.random(m) + 1e-3, (edges[:, 0], edges[:, 1])), shape=(graph.n_nodes,) * 2)
    forest = sp.csgraph.minimum_spanning_tree(und + und.T).tocoo()
    fk = set(zip(np.minimum(forest.row, forest.col).tolist(), np.maximum(forest.row, forest.col).tolist()))
    key_u, key_v = (edges[:, 0], edges[:, 1]) if graph.directed else (edges.min(1), edges.max(1))
    protected = np.fromiter(((a, b) in fk or (b, a) in fk for a, b in zip(key_u.tolist(), key_v.tolist())), bool, m)
    candidates = np.flatnonzero(~protected)
    n_test = min(int(round(test_fraction * m)), candidates.size)
    if n_test == 0:
        raise NegsampleError(f"cannot hold out edges: the graph's {m} edges are all in its spanning forest (a tree) "
                             "or test_fraction is too small for so few edges")
    test = rng.choice(candidates, n_test, replace=False)
    keep = np.ones(m, bool)
    keep[test] = False
    w = graph.csr[edges[keep, 0], edges[keep, 1]].A1 if graph.weighted else None
    train = from_edges(edges[keep, 0], edges[keep, 1], graph.n_nodes, w, graph.directed, graph.node_ids)
    train.stats["held_out_edges"] = int(n_test)
    return train, edges[test]


def _symmetric(g: Graph):
    sym = g.csr if not g.directed else ((g.csr + g.csr.T) > 0).astype(np.float32).tocsr()
    sym.sort_indices()
    return sym


def sample_negatives(full: Graph, sources, kind="uniform", negative=50, seed=0, neighbours: Graph | None = None,
                     max_redraw=200, return_stats=False):
    """(len(sources), negative) evaluation negatives x for each source u, drawn through the noise
    core: no edge u-x in ``full`` and x != u (rejected draws redrawn up to ``max_redraw`` times,
    then -1). kind 'uniform', 'degree' (x ~ degree) or '2hop' (x is a neighbour of a neighbour of u
    in ``neighbours``, default ``full``). With ``return_stats`` also the FilterStats."""
    from .kernels.graph import two_hop_negatives
    from .kernels.noise import N_FILTER_COUNTS
    from .samplers import FilterStats

    if kind not in EVAL_NEGATIVES:
        raise NegsampleError(f"evaluation negatives must be one of {', '.join(EVAL_NEGATIVES)}, got {kind!r}")
    negative = check_positive_int("negative", negative)
    sym = _symmetric(full)
    sources = np.ascontiguousarray(sources, np.int64)
    if sources.size and (sources.min() < 0 or sources.max() >= full.n_nodes):
        raise NegsampleError(f"source nodes must lie in [0, {full.n_nodes})")
    deg = np.diff(sym.indptr).astype(np.float64)
    sampler = NegativeSampler(negative=negative, noise="uniform" if kind != "degree" else "frequency",
                              ns_exponent=1.0, known_positives=(sym.indptr.astype(np.int64), sym.indices.astype(np.int64)),
                              max_redraw=max_redraw)
    sampler.fit(deg + (deg.sum() == 0) if kind == "degree" else None, n=full.n_nodes, n_rows=full.n_nodes)
    if kind != "2hop":
        out, _ = sampler.sample(sources, rng=int(seed))
        stats = sampler.stats_
    else:
        nb = _symmetric(neighbours) if neighbours is not None else sym
        out = np.empty((sources.size, negative), np.int64)
        counts = np.zeros(N_FILTER_COUNTS, np.int64)
        two_hop_negatives(nb.indptr.astype(np.int64), nb.indices.astype(np.int64), sources, sampler.filter_,
                          stream_seed(seed, 2), out, counts)
        stats = FilterStats.from_counts(counts, out.size)
    return (out, stats) if return_stats else out


def _ranking_metrics(pos, neg):
    """pos (P,), neg (P, M) with nan for missing -> (MRR, Hits@10) of each positive among its negatives."""
    valid = ~np.isnan(neg)
    better = ((neg > pos[:, None]) & valid).sum(1) + 0.5 * ((neg == pos[:, None]) & valid).sum(1)
    rank = 1 + better
    return float(np.mean(1.0 / rank)), float(np.mean(rank <= 10))


def link_prediction(graph: Graph, vectors=None, test_fraction=0.1, eval_negatives=EVAL_NEGATIVES, eval_negative=50,
                    seed=0, embed_kwargs=None, split=None):
    """Hold out edges, embed the training graph (unless ``vectors`` given with ``split``), and
    score held-out edges against ``eval_negative`` negatives of each type in ``eval_negatives``.
    Returns a dict of metrics per type and scorer."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    graph = as_graph(graph)
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
    if not ok.any():
        raise NegsampleError("link prediction needs non-edges to train its scorer, but the graph is complete")
    if not np.all(np.isfinite(Z)):
        raise NegsampleError("the vectors contain NaN or infinite values")
    clf = LogisticRegression(max_iter=1000).fit(X, y)
    results = {"test_edges": int(len(test)), "train_edges": int(tr_edges.shape[0]), "types": {}}
    src, dst = test[:, 0], test[:, 1]
    for kind in eval_negatives:
        neg = sample_negatives(graph, src, kind, eval_negative, seed + 101 + EVAL_NEGATIVES.index(kind),
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
