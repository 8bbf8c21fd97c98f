"""Figures people would rather see than read (matplotlib, the optional extra ``[plot]``).

Each function writes one PNG atomically and returns its path:
- ``loss_curve``: training loss per epoch (one or several runs);
- ``decile_shares``: per-decile shares side by side (noise coverage, gradient share, fairness by
  popularity decile), one bar group per decile;
- ``noise_coverage``: the share of negative draws per frequency decile under q ∝ count^alpha for
  several exponents (decile 1 = rarest tenth of the ids, 10 = most frequent);
- ``entropy_history``: temperature and the entropy of the negative weights over training steps
  (the automatic temperature's history), with the target;
- ``embedding_2d``: a 2-D projection (PCA) of embeddings, coloured by label, the first names
  annotated.
"""
from __future__ import annotations

import numpy as np

from ._common import NegsampleError

__all__ = ["loss_curve", "decile_shares", "noise_coverage", "entropy_history", "embedding_2d", "frequency_deciles"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path):
    from .io import atomic_write

    with atomic_write(path, "wb", what="figure") as fh:
        fig.savefig(fh, format="png", dpi=120, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def loss_curve(runs, path, title="training loss per epoch", ylabel="mean loss per term"):
    """runs: a list of per-epoch losses, or {label: losses}."""
    if not isinstance(runs, dict):
        runs = {"loss": list(runs)}
    if not runs or not any(len(v) for v in runs.values()):
        raise NegsampleError("no epoch losses to plot")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, losses in runs.items():
        y = np.asarray(losses, dtype=np.float64)
        ax.plot(np.arange(1, y.size + 1), y, marker="o", label=str(label))
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if len(runs) > 1:
        ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


def frequency_deciles(counts, n_deciles=10):
    """Index groups of ids sorted by count (decile 1 = rarest), equal numbers of ids per group."""
    counts = np.asarray(counts, dtype=np.float64)
    order = np.argsort(counts, kind="stable")
    return np.array_split(order, n_deciles)


def decile_shares(series, path, title, ylabel="share", xlabel="frequency decile (1 = rarest, 10 = most frequent)"):
    """series: {label: per-decile values}; drawn as grouped bars."""
    if not series:
        raise NegsampleError("nothing to plot")
    plt = _pyplot()
    k = len(next(iter(series.values())))
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(7, 4))
    for j, (label, values) in enumerate(series.items()):
        values = np.asarray(values, dtype=np.float64)
        if values.size != k:
            raise NegsampleError(f"series {label!r} has {values.size} values, others {k}")
        ax.bar(np.arange(1, k + 1) + (j - (len(series) - 1) / 2) * width, values, width=width, label=str(label))
    ax.set_xticks(np.arange(1, k + 1))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def noise_coverage(counts, path, exponents=(0.0, 0.5, 0.75, 1.0), title="share of negative draws per decile"):
    """Share of the noise mass q ∝ count^alpha per frequency decile, for each exponent, next to
    the decile's share of the data itself."""
    from .distributions import unigram

    counts = np.asarray(counts, dtype=np.float64)
    groups = frequency_deciles(counts)
    series = {"data (count)": [counts[g].sum() / counts.sum() for g in groups]}
    for a in exponents:
        q = unigram(counts, a)
        series[f"noise alpha={a:g}"] = [q[g].sum() for g in groups]
    return decile_shares(series, path, title)


def entropy_history(history, path, target=None, title="temperature and entropy of the negative weights"):
    """history: a list of (tau, entropy) per step."""
    h = np.asarray(history, dtype=np.float64)
    if h.ndim != 2 or h.shape[1] != 2 or h.shape[0] == 0:
        raise NegsampleError("history must be a non-empty list of (tau, entropy) pairs")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    steps = np.arange(h.shape[0])
    ax.plot(steps, h[:, 1], label="entropy H", color="tab:blue")
    if target is not None:
        ax.axhline(float(target), color="tab:blue", linestyle="--", label="target")
    ax.set_xlabel("step")
    ax.set_ylabel("entropy (nats)")
    ax2 = ax.twinx()
    ax2.plot(steps, h[:, 0], color="tab:red", label="temperature tau")
    ax2.set_ylabel("temperature")
    lines = ax.get_lines() + ax2.get_lines()
    ax.legend(lines, [ln.get_label() for ln in lines], fontsize=8)
    ax.set_title(title)
    return _save(fig, path)


def embedding_2d(vectors, path, labels=None, names=None, annotate=30, title="2-D projection (PCA)"):
    """PCA of the (n, d) vectors to 2-D; points coloured by ``labels`` (optional), the first
    ``annotate`` ``names`` written next to their points."""
    X = np.asarray(vectors, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 2 or X.shape[1] < 2:
        raise NegsampleError(f"need at least 2 vectors of dimension >= 2, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise NegsampleError("the vectors contain NaN or infinite values")
    X = X - X.mean(axis=0)
    _, _, vt = np.linalg.svd(X, full_matrices=False)
    Y = X @ vt[:2].T
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 6))
    if labels is not None:
        labels = np.asarray(labels).astype(str)
        if labels.size != X.shape[0]:
            raise NegsampleError(f"{labels.size} labels for {X.shape[0]} vectors")
        for lab in np.unique(labels):
            m = labels == lab
            ax.scatter(Y[m, 0], Y[m, 1], s=10, label=lab)
        if np.unique(labels).size <= 20:
            ax.legend(fontsize=7, markerscale=2)
    else:
        ax.scatter(Y[:, 0], Y[:, 1], s=6, alpha=0.6)
    if names is not None:
        for i in range(min(int(annotate), len(names))):
            ax.annotate(str(names[i]), Y[i], fontsize=7)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    return _save(fig, path)
