"""Poincaré embeddings of hierarchies trained with negative sampling (Nickel & Kiela 2017).

Data: the transitive closure of a hierarchy as (child, ancestor) pairs (``load_hierarchy``: a
``child<TAB>ancestor`` file, plain or .gz/.bz2/.xz, '#' lines skipped, e.g. the WordNet closures
in ../shared/data/hierarchy).

Training (``negsample.kernels.poincare``): points in the unit ball, initialised uniformly in
(-init, init)^d; for each pair (u, v) k negatives v' are drawn from the sampler's noise
(uniform, or count^ns_exponent with count = the node's number of pairs) through the noise core,
filtered so that no negative is an ancestor of u or u itself (known-positive CSR: row u -> the
ancestors of u and u), and the ancestor v is avoided; a rejected draw is redrawn (up to the
sampler's ``max_redraw``) or dropped and counted in ``sampler.stats_``. Loss
-ln softmax(-d(u, v) | -d(u, v'_j)) over hyperbolic distances, Riemannian SGD with the ball's
metric, ``burn_in`` epochs at lr / ``burn_in_factor`` first (the paper's burn-in; with
``burn_in_noise`` set, the burn-in draws its negatives from that noise instead, e.g. the paper's
"frequency" during the burn-in and uniform afterwards), Hogwild threads. ``hard`` = M > 1: hard
negatives, the k closest to u in the ball of M k filtered draws.

Evaluation (``reconstruction``): every node u with ancestors ranks each of them by distance
among all nodes that are not its ancestors and not u; mean rank over the pairs and mean average
precision over the nodes (the paper's reconstruction; gensim's ReconstructionEvaluation counts
u itself as a closer non-ancestor, which adds 1 to every rank).
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ._common import NegsampleError, Progress, as_rng, check_finite_float, check_positive_int
from .samplers import NegativeSampler

__all__ = ["Hierarchy", "load_hierarchy", "PoincareModel", "reconstruction", "poincare_distance",
           "plot_embedding"]

KIND = "poincare-model"
FORMAT_VERSION = 1


@dataclass
class Hierarchy:
    """Node names (index = id) and (m, 2) int64 (child, ancestor) pairs of a transitive closure."""

    names: list
    pairs: np.ndarray

    @property
    def n_nodes(self):
        return len(self.names)

    def ancestors_csr(self, include_self=False):
        """(indptr (n+1,), indices) int64: row u = the sorted ancestors of u (and u itself)."""
        n = self.n_nodes
        rows = [self.pairs[:, 0]]
        cols = [self.pairs[:, 1]]
        if include_self:
            rows.append(np.arange(n, dtype=np.int64))
            cols.append(np.arange(n, dtype=np.int64))
        key = np.unique(np.concatenate(rows) * np.int64(n) + np.concatenate(cols))
        r, c = key // n, key % n
        indptr = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(r, minlength=n), out=indptr[1:])
        return indptr, np.ascontiguousarray(c, dtype=np.int64)

    def stats(self):
        return {"nodes": self.n_nodes, "pairs": int(len(self.pairs)),
                "nodes_with_ancestors": int(np.unique(self.pairs[:, 0]).size)}


def load_hierarchy(path) -> Hierarchy:
    """Read (child, ancestor) pairs; node ids in order of first appearance. Self pairs and
    duplicate pairs are dropped."""
    from .io import read_fields

    path = os.fspath(path)
    index = {}
    pairs = []
    for _, (child, ancestor) in read_fields(path, 2, "hierarchy file", "child<TAB>ancestor"):
        a = index.setdefault(child, len(index))
        b = index.setdefault(ancestor, len(index))
        if a != b:
            pairs.append((a, b))
    if not pairs:
        raise NegsampleError(f"{path}: no (child, ancestor) pairs")
    arr = np.unique(np.asarray(pairs, np.int64), axis=0)
    return Hierarchy(list(index), arr)


def poincare_distance(u, v) -> np.ndarray:
    """d(u, v) = arcosh(1 + 2 |u - v|^2 / ((1 - |u|^2)(1 - |v|^2))) for points (..., d) in the ball."""
    u = np.asarray(u, np.float64)
    v = np.asarray(v, np.float64)
    num = 2.0 * np.sum((u - v) ** 2, axis=-1)
    den = (1.0 - np.sum(u * u, axis=-1)) * (1.0 - np.sum(v * v, axis=-1))
    return np.arccosh(np.maximum(1.0 + num / den, 1.0))


def reconstruction(vectors, hierarchy: Hierarchy, threads=2, max_nodes=None, seed=0) -> dict:
    """Mean rank and MAP of the closure's ancestors (module docstring). ``max_nodes``: evaluate a
    seeded random sample of that many nodes with ancestors (None: all)."""
    from .kernels.poincare import reconstruction_chunk

    X = np.ascontiguousarray(vectors, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] != hierarchy.n_nodes:
        raise NegsampleError(f"vectors must have shape ({hierarchy.n_nodes}, d), got {X.shape}")
    indptr, indices = hierarchy.ancestors_csr()
    n = hierarchy.n_nodes
    if max_nodes is not None and max_nodes < n:
        cand = np.flatnonzero(np.diff(indptr) > 0)
        keep = as_rng(seed).choice(cand, size=min(max_nodes, cand.size), replace=False)
        mask = np.zeros(n, bool)
        mask[keep] = True
        counts = np.where(mask, np.diff(indptr), 0)
        sel = np.repeat(mask, np.diff(indptr))
        indptr = np.zeros(n + 1, np.int64)
        np.cumsum(counts, out=indptr[1:])
        indices = np.ascontiguousarray(indices[sel])
    rank_sum = np.zeros(n)
    ap = np.zeros(n)
    n_pos = np.zeros(n, np.int64)
    t0 = time.perf_counter()
    # chunks of equal work: about the same number of nodes each (every node scans all n)
    bounds = np.linspace(0, n, max(1, threads) * 8 + 1).astype(np.int64)

    def run(i):
        reconstruction_chunk(X, indptr, indices, bounds[i], bounds[i + 1], rank_sum, ap, n_pos)

    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(run, range(len(bounds) - 1)))
    else:
        for i in range(len(bounds) - 1):
            run(i)
    has = n_pos > 0
    return {"mean_rank": float(rank_sum.sum() / max(n_pos.sum(), 1)), "map": float(ap[has].mean()) if has.any()
            else float("nan"), "nodes": int(has.sum()), "pairs": int(n_pos.sum()),
            "seconds": time.perf_counter() - t0}


class PoincareModel:
    """Poincaré-ball embeddings of a hierarchy (module docstring).

    >>> model = PoincareModel(dim=10, negative=50, epochs=50).fit(load_hierarchy("mammal-closure.tsv"))
    >>> model.evaluate(hierarchy)          # {"mean_rank": ..., "map": ...}
    """

    def __init__(self, dim=10, negative=50, negatives=None, noise="uniform", ns_exponent=1.0, epochs=50, lr=0.5,
                 burn_in=10, burn_in_factor=10.0, burn_in_noise="frequency", hard=0, init=1e-3, eps=1e-5, threads=2,
                 seed=1):
        self.dim = check_positive_int("dim", dim)
        if isinstance(negatives, NegativeSampler):
            if negatives.known_positives is not None or negatives.times is not None or negatives.labels is not None:
                raise NegsampleError("the Poincaré trainer builds the ancestor filter itself; pass a sampler "
                                     "without known_positives, times or labels")
            if negatives.adaptive is not None:
                raise NegsampleError("the Poincaré trainer has no adaptive negatives (candidates, adversarial "
                                     "weights, generator); use hard=M for hyperbolic-distance hard negatives")
            self.sampler = negatives
        elif negatives in (None, "per-example"):
            self.sampler = NegativeSampler(negative=negative, noise=noise, ns_exponent=ns_exponent)
        else:
            raise NegsampleError(f"negatives must be 'per-example' or a NegativeSampler, got {negatives!r}")
        if self.sampler.mode != "per-example":
            raise NegsampleError(f"the Poincaré trainer draws negatives per pair, not {self.sampler.mode!r}")
        self.negative = self.sampler.negative
        self.epochs = check_positive_int("epochs", epochs, minimum=0)
        self.lr = check_finite_float("lr", lr, minimum=0.0, strict_min=True)
        self.burn_in = check_positive_int("burn_in", burn_in, minimum=0)
        self.burn_in_factor = check_finite_float("burn_in_factor", burn_in_factor, minimum=1.0)
        if burn_in_noise not in (None, "uniform", "frequency"):
            raise NegsampleError(f"burn_in_noise must be None, 'uniform' or 'frequency', got {burn_in_noise!r}")
        self.burn_in_noise = burn_in_noise
        self.hard = check_positive_int("hard", hard, minimum=0)
        self.init = check_finite_float("init", init, minimum=0.0, maximum=0.5)
        self.eps = check_finite_float("eps", eps, minimum=1e-12, maximum=0.1)
        self.threads = check_positive_int("threads", threads)
        self.seed = check_positive_int("seed", seed, minimum=0)
        self.vectors_ = None
        self.names = None
        self.stats_ = {}

    def fit(self, hierarchy: Hierarchy, progress=False, callback=None) -> "PoincareModel":
        """Train on the hierarchy's pairs; ``callback(model, epoch)`` after each epoch (burn-in
        epochs included, numbered from 0). Returns self."""
        from .kernels.noise import N_FILTER_COUNTS, stream_seed
        from .kernels.poincare import train_chunk

        if not isinstance(hierarchy, Hierarchy):
            raise NegsampleError("fit needs a Hierarchy (see load_hierarchy)")
        n = hierarchy.n_nodes
        pairs = hierarchy.pairs
        kp = hierarchy.ancestors_csr(include_self=True)
        if int(np.diff(kp[0]).max()) >= n:
            raise NegsampleError("a node is related to every other node: no negatives can be drawn")
        counts = (np.bincount(pairs[:, 0], minlength=n) + np.bincount(pairs[:, 1], minlength=n)).astype(np.float64)
        filt_sampler = self.sampler.copy(known_positives=kp).fit(counts, n_rows=n)
        self.sampler.fit(counts)
        prob, alias, filt = filt_sampler.kernel_noise()
        burn_tables = (prob, alias)
        if self.burn_in and self.burn_in_noise not in (None, self.sampler.noise):  # only the alias table differs
            burn_tables = self.sampler.copy(noise=self.burn_in_noise).fit(counts).kernel_noise()[:2]
        rng = as_rng(self.seed)
        X = rng.uniform(-self.init, self.init, (n, self.dim))
        self.vectors_, self.names = X, list(hierarchy.names)
        child = np.ascontiguousarray(pairs[:, 0])
        anc = np.ascontiguousarray(pairs[:, 1])
        m = len(pairs)
        threads = min(self.threads, max(1, m // 64))
        bounds = np.linspace(0, m, threads + 1).astype(np.int64)
        total = self.burn_in + self.epochs
        bar = Progress(total, unit="epochs", desc="poincare", enabled=progress)
        losses = []
        t0 = time.perf_counter()
        for epoch in range(total):
            lr = self.lr / self.burn_in_factor if epoch < self.burn_in else self.lr
            q, q_alias = burn_tables if epoch < self.burn_in else (prob, alias)
            order = rng.permutation(m).astype(np.int64)
            fcounts = [np.zeros(N_FILTER_COUNTS, np.int64) for _ in range(threads)]
            st = [np.zeros(4) for _ in range(threads)]

            def run(i):
                train_chunk(X, child, anc, order, bounds[i], bounds[i + 1], lr, self.negative, self.hard, q, q_alias,
                            filt, np.uint64(stream_seed(self.seed, epoch, i)), self.eps, fcounts[i], st[i])

            if threads == 1:
                run(0)
            else:
                with ThreadPoolExecutor(threads) as pool:
                    list(pool.map(run, range(threads)))
            tot = np.sum(st, axis=0)
            draws = self.negative * max(self.hard, 1)
            self.sampler.record(np.sum(fcounts, axis=0), int(tot[1]) * draws)
            if tot[3] or not np.isfinite(X).all():
                raise NegsampleError(f"training diverged in epoch {epoch + 1} (non-finite loss or vectors); lower lr")
            losses.append(float(tot[0] / max(tot[1], 1)))
            bar.update(epoch + 1, loss=losses[-1], lr=lr)
            if callback is not None:
                callback(self, epoch)
        bar.close()
        seconds = time.perf_counter() - t0
        self.stats_ = {"train_seconds": seconds, "epoch_losses": losses, "pairs": int(m), "threads": threads,
                       "pairs_per_second": m * total / seconds if seconds > 0 else float("nan"),
                       "filter": self.sampler.stats_.as_dict()}
        return self

    # ------------------------------------------------------------------ queries
    def _fitted(self):
        if self.vectors_ is None:
            raise NegsampleError("the model is not trained: call fit() or load()")

    def index(self, name):
        self._fitted()
        try:
            return self.names.index(str(name))
        except ValueError:
            raise NegsampleError(f"unknown node {name!r}") from None

    def distance(self, a, b) -> float:
        self._fitted()
        return float(poincare_distance(self.vectors_[self.index(a)], self.vectors_[self.index(b)]))

    def nearest(self, name, k=10):
        """The k nodes closest to ``name`` in the ball: [(name, distance), ...]."""
        from .kernels.poincare import all_distances

        u = self.index(name)
        d = np.empty(len(self.names))
        all_distances(self.vectors_, u, d)
        d[u] = np.inf
        top = np.argsort(d, kind="stable")[:check_positive_int("k", k)]
        return [(self.names[i], float(d[i])) for i in top]

    def norms(self) -> np.ndarray:
        """Euclidean norms of the points (general concepts near 0, specific ones near 1)."""
        self._fitted()
        return np.linalg.norm(self.vectors_, axis=1)

    def evaluate(self, hierarchy: Hierarchy, threads=None, max_nodes=None) -> dict:
        """Reconstruction mean rank and MAP of ``hierarchy`` (its names mapped onto the model's)."""
        self._fitted()
        if list(hierarchy.names) != self.names:
            idx = {nm: i for i, nm in enumerate(self.names)}
            missing = [nm for nm in hierarchy.names if nm not in idx]
            if missing:
                raise NegsampleError(f"{len(missing)} nodes of the hierarchy are not in the model "
                                     f"(first: {missing[0]!r})")
            order = np.array([idx[nm] for nm in hierarchy.names])
            X = self.vectors_[order]
        else:
            X = self.vectors_
        return reconstruction(X, hierarchy, threads=self.threads if threads is None else threads, max_nodes=max_nodes)

    # ------------------------------------------------------------------ persistence
    def params(self) -> dict:
        return {"dim": self.dim, "negative": self.negative, "noise": self.sampler.noise
                if isinstance(self.sampler.noise, str) else "custom", "ns_exponent": self.sampler.ns_exponent,
                "epochs": self.epochs, "lr": self.lr, "burn_in": self.burn_in, "burn_in_factor": self.burn_in_factor,
                "burn_in_noise": self.burn_in_noise,
                "hard": self.hard, "init": self.init, "eps": self.eps, "threads": self.threads, "seed": self.seed}

    def save(self, path, inputs=()):
        from . import io

        self._fitted()
        io.save_arrays(path, KIND, {"vectors": self.vectors_}, meta={
            "params": self.params(), "stats": {k: v for k, v in self.stats_.items() if k != "epoch_losses"}},
            strings={"names": self.names}, version=FORMAT_VERSION, inputs=inputs)

    @classmethod
    def load(cls, path) -> "PoincareModel":
        from . import io

        arrays, strings, meta, _ = io.load_arrays(path, KIND, FORMAT_VERSION, required=("vectors",),
                                                  required_strings=("names",))
        p = meta.get("params")
        if not isinstance(p, dict):
            raise NegsampleError(f"{path}: poincare-model file has no parameters")
        try:
            noise = p.get("noise", "uniform")
            m = cls(dim=p["dim"], negative=p["negative"], noise=noise if noise in ("uniform", "frequency") else "uniform",
                    ns_exponent=p["ns_exponent"], epochs=p["epochs"], lr=p["lr"], burn_in=p["burn_in"],
                    burn_in_factor=p["burn_in_factor"], burn_in_noise=p.get("burn_in_noise"),  # None: older files
                    hard=p["hard"], init=p["init"], eps=p["eps"], threads=p["threads"], seed=p["seed"])
        except KeyError as exc:
            raise NegsampleError(f"{path}: poincare-model parameters lack {exc.args[0]!r}") from None
        X = io.check_array(arrays, "vectors", path, np.float64, 2, (len(strings["names"]), m.dim), finite=True)
        if len(X) and np.max(np.sum(X * X, axis=1)) >= 1.0:
            raise NegsampleError(f"{path}: vectors lie outside the unit ball")
        m.vectors_ = np.ascontiguousarray(X, dtype=np.float64)
        m.names = strings["names"]
        m.stats_ = dict(meta.get("stats") or {})
        return m


def plot_embedding(vectors, names, path, hierarchy: Hierarchy | None = None, label=None, edges=True, title=None,
                   inputs=()):
    """Draw a 2-D Poincaré embedding (the unit disc, the points, the closure's direct parent
    edges when ``hierarchy`` is given, and the names of the ``label`` nodes (default: the 40
    closest to the centre) to a PNG / PDF / SVG file. Needs matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .io import atomic_write

    X = np.asarray(vectors, np.float64)
    if X.ndim != 2 or X.shape[1] != 2:
        raise NegsampleError(f"plot_embedding needs 2-D vectors, got shape {X.shape}")
    fig, ax = plt.subplots(figsize=(9, 9))
    ax.add_patch(plt.Circle((0, 0), 1.0, fill=False, color="0.3", lw=1))
    if hierarchy is not None and edges:
        # direct parent of a child: its ancestor with the most ancestors of its own
        depth = np.bincount(hierarchy.pairs[:, 0], minlength=hierarchy.n_nodes)
        best = {}
        for c, a in hierarchy.pairs:
            if c not in best or depth[a] > depth[best[c]]:
                best[c] = a
        for c, a in best.items():
            ax.plot([X[c, 0], X[a, 0]], [X[c, 1], X[a, 1]], color="0.8", lw=0.4, zorder=1)
    ax.scatter(X[:, 0], X[:, 1], s=4, color="tab:blue", zorder=2)
    if label is None:
        label = [names[i] for i in np.argsort(np.linalg.norm(X, axis=1))[:40]]
    where = {nm: i for i, nm in enumerate(names)}
    for nm in label:
        if nm in where:
            i = where[nm]
            ax.annotate(nm.split(".")[0], (X[i, 0], X[i, 1]), fontsize=7, zorder=3)
    ax.set_xlim(-1.05, 1.05)
    ax.set_ylim(-1.05, 1.05)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title)
    ext = os.path.splitext(os.fspath(path))[1].lower().lstrip(".") or "png"
    with atomic_write(path, "wb", inputs=inputs, what="plot") as fh:
        fig.savefig(fh, format=ext, dpi=150, bbox_inches="tight")
    plt.close(fig)
