"""Noise distributions, the alias method, and frequent-item subsampling.

Math (docs/design.md, "The math we implement"):
- noise:       q(c) = f(c)^alpha / sum_c' f(c')^alpha, alpha >= 0 (0.75 is word2vec's default)
- alias:       Walker/Vose tables built in O(n); a draw is one uniform column i ~ U{0..n-1} and
               one coin u ~ U[0,1): return i if u < prob[i] else alias[i]. O(1) per draw, and the
               probabilities are exact up to float64 rounding (no 1e8-entry unigram table as in
               the C tool, no binary search over a cumulative table as in gensim).
- subsampling: keep an occurrence of w with p(w) = min(1, sqrt(t / f(w)) + t / f(w)),
               f(w) = count(w) / total.
"""
from __future__ import annotations

import numpy as np

from ._common import NegsampleError, as_rng

__all__ = [
    "AliasTable",
    "alias_draw",
    "build_alias",
    "unigram",
    "uniform",
    "custom",
    "mixture",
    "subsample_keep_prob",
    "validate_weights",
]


# --------------------------------------------------------------------------- validation

def validate_weights(weights, name: str = "weights") -> np.ndarray:
    """Return weights as a 1-D float64 array, or raise NegsampleError saying what is wrong.

    Rejected: not 1-D, empty, NaN or infinite entries, negative entries, all zeros.
    """
    try:
        w = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise NegsampleError(f"{name} must be numeric: {exc}") from None
    if w.ndim != 1:
        raise NegsampleError(f"{name} must be 1-D, got shape {w.shape}")
    if w.size == 0:
        raise NegsampleError(f"{name} is empty: a distribution needs at least one category")
    bad = ~np.isfinite(w)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise NegsampleError(f"{name} contains NaN or infinite values ({int(bad.sum())} entries, first at index {i})")
    neg = w < 0
    if neg.any():
        i = int(np.flatnonzero(neg)[0])
        raise NegsampleError(f"{name} contains negative values ({int(neg.sum())} entries, first at index {i}: {w[i]!r})")
    total = w.sum()
    if total <= 0:
        raise NegsampleError(f"{name} are all zero: nothing can be sampled")
    if not np.isfinite(total):
        raise NegsampleError(f"{name} overflow when summed; rescale them")
    return w


# The draw is the noise core's (``negsample.kernels.noise.alias_draw(prob, alias, u)``), imported
# on first use so that a process which only builds tables (word2vec training, with the native
# kernel library) never loads numba/LLVM.
def __getattr__(name):
    if name == "alias_draw":
        from .kernels.noise import alias_draw

        return alias_draw
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_alias(p) -> tuple[np.ndarray, np.ndarray]:
    """Vose tables (prob float64 (n,), alias int64 (n,)) for probabilities p (n,) summing to 1,
    built by the native kernel library when it is available, else by the numba kernel."""
    from .kernels import native

    return native.build_alias(np.ascontiguousarray(p, dtype=np.float64))


# --------------------------------------------------------------------------- the table

class AliasTable:
    """Walker/Vose alias table over categories 0..n-1 with probabilities proportional to weights.

    Build: O(n). Draw: O(1) — ``sample(size, rng)`` runs the noise core (``negsample.kernels.noise``):
    its RNG seeded from ``rng`` (an int seed or a numpy Generator, so results are reproducible),
    column = floor(u n), coin = frac(u n). Inside a numba kernel use ``alias_draw(prob, alias, u)``
    from the core with the arrays ``table.prob`` (float64, (n,)) and ``table.alias`` (int64, (n,)).
    """

    def __init__(self, weights, name: str = "weights"):
        w = validate_weights(weights, name=name)
        self.probabilities = w / w.sum()
        self.prob, self.alias = build_alias(self.probabilities)

    @property
    def n(self) -> int:
        return int(self.prob.shape[0])

    def __len__(self) -> int:
        return self.n

    @property
    def support_size(self) -> int:
        """Number of categories with non-zero probability."""
        return int(np.count_nonzero(self.probabilities))

    def __repr__(self) -> str:
        return f"AliasTable(n={self.n}, support={self.support_size})"

    def column_masses(self) -> np.ndarray:
        """Probability mass the table assigns to each category (exact, from the tables):
        m[i] = (prob[i] + sum_{j: alias[j] = i} (1 - prob[j])) / n. Equals ``probabilities``."""
        n = self.n
        mass = self.prob.copy()
        np.add.at(mass, self.alias, 1.0 - self.prob)
        return mass / n

    def sample(self, size, rng=None) -> np.ndarray:
        """Draw ``size`` (int or shape tuple) categories with replacement, int64 (noise core)."""
        from .kernels.noise import sample_noise
        from .samplers import _seed_from

        shape = (size,) if np.isscalar(size) else tuple(size)
        if any(int(s) < 0 for s in shape):
            raise NegsampleError(f"size must be non-negative, got {size!r}")
        total = int(np.prod(shape)) if shape else 1
        out = np.empty(total, dtype=np.int64)
        sample_noise(self.prob, self.alias, _seed_from(rng), out)
        return out.reshape(shape)

    def sample_without_replacement(self, k: int, rng=None) -> np.ndarray:
        """k distinct categories, drawn successively proportional to weight (rejection on repeats).

        Raises NegsampleError when k exceeds the number of categories with non-zero weight.
        """
        rng = as_rng(rng)
        k = int(k)
        support = self.support_size
        if k < 0:
            raise NegsampleError(f"k must be >= 0, got {k}")
        if k > support:
            raise NegsampleError(
                f"k={k} is larger than the candidate pool: only {support} categories have non-zero weight")
        if k == 0:
            return np.empty(0, dtype=np.int64)
        if k > support // 2:
            # Dense case: Efraimidis-Spirakis keys, exact for successive sampling.
            p = self.probabilities
            nz = np.flatnonzero(p)
            keys = np.log(rng.random(nz.size)) / p[nz]
            order = np.argsort(-keys, kind="stable")[:k]
            return nz[order].astype(np.int64)
        chosen: list[int] = []
        seen: set[int] = set()
        while len(chosen) < k:
            for c in self.sample(2 * (k - len(chosen)) + 8, rng):
                c = int(c)
                if c not in seen:
                    seen.add(c)
                    chosen.append(c)
                    if len(chosen) == k:
                        break
        return np.asarray(chosen, dtype=np.int64)


# --------------------------------------------------------------------------- distributions

def unigram(counts, alpha: float = 0.75) -> np.ndarray:
    """Noise probabilities q(c) = counts(c)^alpha / Z. Zero counts stay zero (even for alpha = 0).

    Returns (n,) float64 summing to 1.
    """
    c = validate_weights(counts, name="counts")
    try:
        alpha = float(alpha)
    except (TypeError, ValueError):
        raise NegsampleError(f"alpha must be a number, got {alpha!r}") from None
    if not np.isfinite(alpha) or alpha < 0:
        raise NegsampleError(f"alpha must be a finite number >= 0, got {alpha!r}")
    w = np.zeros_like(c)
    nz = c > 0
    # work in log space so large counts with alpha > 1 do not overflow
    logw = alpha * np.log(c[nz])
    w[nz] = np.exp(logw - logw.max())
    return w / w.sum()


def uniform(n: int) -> np.ndarray:
    """Uniform noise over n categories."""
    n = int(n)
    if n < 1:
        raise NegsampleError(f"uniform distribution needs n >= 1, got {n}")
    return np.full(n, 1.0 / n)


def custom(weights) -> np.ndarray:
    """Validated, normalised custom weights."""
    w = validate_weights(weights)
    return w / w.sum()


def mixture(distributions, mix_weights) -> np.ndarray:
    """Mixture sum_m pi_m q_m of distributions over the same categories, pi normalised."""
    dists = [custom(d) for d in distributions]
    if not dists:
        raise NegsampleError("mixture needs at least one distribution")
    sizes = {d.size for d in dists}
    if len(sizes) != 1:
        raise NegsampleError(f"mixture components have different sizes: {sorted(sizes)}")
    pi = validate_weights(mix_weights, name="mix_weights")
    if pi.size != len(dists):
        raise NegsampleError(f"{len(dists)} distributions but {pi.size} mixture weights")
    pi = pi / pi.sum()
    return np.sum([p * d for p, d in zip(pi, dists)], axis=0)


def subsample_keep_prob(counts, t: float = 1e-4) -> np.ndarray:
    """Keep probability p(w) = min(1, sqrt(t/f) + t/f), f = count/total; 1 where count is 0.

    t <= 0 disables subsampling (p = 1 everywhere). Returns (n,) float64.
    """
    c = validate_weights(counts, name="counts")
    t = float(t)
    if not np.isfinite(t) or t < 0:
        raise NegsampleError(f"subsampling threshold t must be >= 0, got {t!r}")
    if t == 0:
        return np.ones_like(c)
    f = c / c.sum()
    keep = np.ones_like(c)
    nz = f > 0
    r = t / f[nz]
    keep[nz] = np.minimum(1.0, np.sqrt(r) + r)
    return keep
