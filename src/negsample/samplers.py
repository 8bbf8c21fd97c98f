"""``NegativeSampler``: the one object that says how negatives are drawn, accepted by every
trainer (``Word2Vec``, ``graph.embed``, ``ImplicitModel``, ``train_two_tower``, ``mine_negatives``).

It holds
- the noise distribution: ``"frequency"`` (q ∝ count^ns_exponent, where the trainer supplies the
  counts: word counts, node degrees, item popularity), ``"uniform"``, custom weights (an array
  over the ids, or a mapping key -> weight resolved against the trainer's keys), or a mixture
  ``[(pi_1, noise_1), (pi_2, noise_2), ...]`` of any of these (q = sum_m pi_m q_m, pi normalised);
- ``negative``: how many negatives per positive (k);
- ``mode``: ``"per-example"`` (k fresh draws per positive), ``"shared"`` (one pool of k per
  window / block, the GEMM-friendly layout), ``"per-user"`` (k fresh draws per group of one
  anchor row's positives, filtered with that row, shared by the group: the recommender's
  sampled softmax; ``sample`` draws k per anchor as per-example does) or ``"in-batch"`` (the
  other positives of the batch are the negatives; ``logq`` gives the correction ln q);
- the false-negative filters of the noise core (``negsample.kernels.noise``): the anchor itself
  (``exclude_self``), known positives (CSR rows anchor -> ids), a time window
  |t_neg - t_anchor| <= ``time_window`` over ``times``, the same ``labels``; a rejected draw is
  redrawn up to ``max_redraw`` times, then dropped; ``stats_`` counts rejected / redrawn / dropped.

``fit(counts, keys=None)`` resolves the noise against the trainer's ids (scikit-learn style: the
resolved ``table_`` (AliasTable) and ``filter_`` (the kernels' filter tuple) appear after it);
``sample(anchors)`` draws for anchors in Python through the same numba core the trainers use.

>>> sampler = NegativeSampler(negative=5, noise="frequency", ns_exponent=0.75).fit(counts)
>>> neg, mask = sampler.sample(anchors=np.array([0, 1, 2]), rng=0)     # (3, 5), -1 = dropped
"""
from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ._common import NegsampleError, as_rng, check_finite_float, check_positive_int
from .distributions import AliasTable, unigram, validate_weights

__all__ = ["NegativeSampler", "NegativeGenerator", "FilterStats", "MODES", "as_sampler", "in_batch_logq", "to_csr",
           "unfiltered"]

MODES = ("per-example", "shared", "per-user", "in-batch")
MAX_NEGATIVE_WITHOUT_SUPPORT = 100   # more negatives than drawable ids is refused above this
NOISES = ("frequency", "uniform")


@dataclass
class FilterStats:
    """What the false-negative filters did: ``rejected`` first draws were false negatives
    (``by_reason``: self / known / time / label), ``redrawn`` redraws were made, ``dropped`` draws
    stayed rejected and were removed, out of ``total`` negatives asked for."""

    rejected: int = 0
    redrawn: int = 0
    dropped: int = 0
    total: int = 0
    by_reason: dict = field(default_factory=dict)

    @property
    def rejection_rate(self) -> float:
        return self.rejected / self.total if self.total else 0.0

    @classmethod
    def from_counts(cls, counts, total) -> "FilterStats":
        from .kernels.streams import REASONS

        c = [int(x) for x in np.asarray(counts).ravel()[:7]]
        return cls(rejected=c[0], redrawn=c[1], dropped=c[2], total=int(total),
                   by_reason={r: c[3 + i] for i, r in enumerate(REASONS)})

    def as_dict(self) -> dict:
        return {"rejected": self.rejected, "redrawn": self.redrawn, "dropped": self.dropped,
                "total": self.total, "by_reason": dict(self.by_reason)}


def unfiltered(max_redraw=10):
    """The kernels' filter tuple with every filter off but the anchor itself (which kernels pass
    as ``avoid``): (kp_indptr, kp_indices, times, labels, delta, max_redraw)."""
    return (np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros(0, np.int64), -1.0,
            np.int64(max_redraw))


def to_csr(known, n_rows=None, name="known positives"):
    """(indptr int64, indices int64 sorted within rows) from a scipy.sparse matrix, an
    (indptr, indices) pair, or a list of id iterables (one per row)."""
    import scipy.sparse as sp

    if sp.issparse(known):
        m = sp.csr_matrix(known, copy=True)
        m.sum_duplicates()
        m.sort_indices()
        indptr, indices = m.indptr.astype(np.int64), m.indices.astype(np.int64)
    elif isinstance(known, tuple) and len(known) == 2:
        indptr = np.asarray(known[0], dtype=np.int64)
        indices = np.asarray(known[1], dtype=np.int64)
        if indptr.ndim != 1 or indptr.size < 1 or indptr[0] != 0 or np.any(np.diff(indptr) < 0) \
                or indptr[-1] != indices.size:
            raise NegsampleError(f"{name} CSR: indptr must start at 0, be non-decreasing and end at len(indices)")
        indices = indices.copy()
        for r in range(indptr.size - 1):
            indices[indptr[r]:indptr[r + 1]].sort()
    else:
        try:
            rows = [np.unique(np.asarray(list(r), dtype=np.int64)) for r in known]
        except (TypeError, ValueError):
            raise NegsampleError(f"{name} must be a scipy.sparse matrix, an (indptr, indices) pair "
                                 "or a list of id lists") from None
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([r.size for r in rows])
        indices = np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)
    if indices.size and indices.min() < 0:
        raise NegsampleError(f"{name} contain negative ids")
    if n_rows is not None and indptr.size - 1 > n_rows:
        raise NegsampleError(f"{name} have {indptr.size - 1} rows for {n_rows} anchors")
    return np.ascontiguousarray(indptr), np.ascontiguousarray(indices)


def _resolve_attribute(values, n, keys, name, dtype):
    """Per-id attribute (times / labels) as an array over the n ids. A mapping may leave ids out:
    they get no time (NaN) or no label (-1) and are never filtered by that attribute."""
    if isinstance(values, Mapping):
        if keys is None:
            raise NegsampleError(f"{name} given as a mapping need the trainer's keys to resolve")
        missing = None if dtype is np.int64 else float("nan")
        values = [values.get(k, missing) for k in keys]
    if dtype is np.int64:
        raw = np.asarray(values, dtype=object if any(v is None for v in values) else None) \
            if isinstance(values, list) else np.asarray(values)
        if raw.dtype.kind in "iu":
            arr = raw.astype(np.int64)
        else:  # string / object labels -> integer codes, None -> -1
            present = np.array([v is not None for v in raw.tolist()], dtype=bool)
            arr = np.full(raw.size, -1, np.int64)
            if present.any():
                _, codes = np.unique(np.asarray([str(v) for v in raw[present].tolist()]), return_inverse=True)
                arr[present] = codes
    else:
        try:
            arr = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise NegsampleError(f"{name} must be numeric") from None
        if np.any(np.isinf(arr)):
            raise NegsampleError(f"{name} contain infinite values")
    if arr.ndim != 1 or arr.size != n:
        raise NegsampleError(f"{name} have {arr.size} entries for {n} ids")
    return np.ascontiguousarray(arr)


@dataclass
class NegativeGenerator:
    """The generator of generator negatives (IRGAN / KBGAN style, ``negsample.kernels.adaptive``):
    a second embedding model of dimension ``dim`` (vectors initialised N(0, init_std^2)) proposing
    negatives among the filtered candidates with pi(c) = softmax(g_a . h_c / temperature), trained
    by REINFORCE with learning rate ``lr``, L2 ``reg`` and a running-mean reward baseline
    (b <- decay b + (1 - decay) mean reward, ``baseline_decay``)."""

    dim: int = 16
    lr: float = 0.05
    temperature: float = 1.0
    reg: float = 0.0
    baseline_decay: float = 0.9
    init_std: float = 0.1

    def __post_init__(self):
        self.dim = check_positive_int("generator dim", self.dim)
        self.lr = check_finite_float("generator lr", self.lr, minimum=0.0)
        self.temperature = check_finite_float("generator temperature", self.temperature, minimum=0.0,
                                              strict_min=True)
        self.reg = check_finite_float("generator reg", self.reg, minimum=0.0)
        self.baseline_decay = check_finite_float("generator baseline_decay", self.baseline_decay, minimum=0.0,
                                                 maximum=1.0)
        self.init_std = check_finite_float("generator init_std", self.init_std, minimum=0.0)


class NegativeSampler:
    """How negatives are drawn (see the module docstring for each argument).

    Adaptive negatives (``negsample.kernels.adaptive``; trainers that support them say so):
    ``candidates=M``: draw M filtered candidates per positive and keep ``negative`` of them: the
    highest-scoring under the current model (dynamic negatives), or, with
    ``candidate_temperature=T``, k drawn with probability ∝ exp(score / T);
    ``adversarial_temperature=alpha``: weight each negative's loss by softmax(alpha score) over the
    positive's negatives (self-adversarial, no gradient through the weights);
    ``generator=NegativeGenerator(...)`` (or True for the defaults): a small generator model picks
    the negatives among the M candidates and learns to fool the trainer's model.
    """

    def __init__(self, negative=5, noise="frequency", ns_exponent=0.75, mode="per-example",
                 known_positives=None, times=None, time_window=None, labels=None, exclude_self=True,
                 max_redraw=10, candidates=None, candidate_temperature=None, adversarial_temperature=None,
                 generator=None):
        self.negative = check_positive_int("negative", negative)
        self.ns_exponent = check_finite_float("ns_exponent", ns_exponent, minimum=0.0)
        if mode not in MODES:
            raise NegsampleError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.mode = mode
        _check_noise_spec(noise)
        self.noise = noise
        self.known_positives = known_positives
        if (times is None) != (time_window is None):
            raise NegsampleError("the time filter needs both times and time_window")
        self.times = times
        self.time_window = None if time_window is None else check_finite_float("time_window", time_window,
                                                                                minimum=0.0)
        self.labels = labels
        self.exclude_self = bool(exclude_self)
        self.max_redraw = check_positive_int("max_redraw", max_redraw, minimum=0)
        self.candidates = None if candidates is None else check_positive_int("candidates", candidates)
        if self.candidates is not None and self.candidates < self.negative:
            raise NegsampleError(f"candidates ({self.candidates}) must be >= negative ({self.negative})")
        self.candidate_temperature = (None if candidate_temperature is None else
                                      check_finite_float("candidate_temperature", candidate_temperature,
                                                         minimum=0.0, strict_min=True))
        self.adversarial_temperature = (None if adversarial_temperature is None else
                                        check_finite_float("adversarial_temperature", adversarial_temperature,
                                                           minimum=0.0))
        if generator is True:
            generator = NegativeGenerator()
        elif isinstance(generator, Mapping):
            generator = NegativeGenerator(**generator)
        elif generator is not None and generator is not False and not isinstance(generator, NegativeGenerator):
            raise NegsampleError("generator must be a NegativeGenerator, a dict of its parameters, True or None")
        self.generator = generator or None
        if self.candidate_temperature is not None and self.candidates is None:
            raise NegsampleError("candidate_temperature needs candidates=M (the pool it samples from)")
        if self.generator is not None:
            if self.candidates is None:
                raise NegsampleError("generator negatives need candidates=M (the pool the generator picks from)")
            if self.candidate_temperature is not None:
                raise NegsampleError("generator and candidate_temperature are exclusive: the generator picks")
        if self.adaptive and mode != "per-example":
            raise NegsampleError(f"adaptive negatives (candidates, adversarial weights, generator) need mode "
                                 f"'per-example', not {mode!r}")
        self.table_: AliasTable | None = None
        self.filter_ = None
        self.stats_ = FilterStats()

    def __repr__(self):
        noise = self.noise if isinstance(self.noise, str) else type(self.noise).__name__
        filters = [n for n, v in (("known_positives", self.known_positives), ("time", self.times),
                                  ("labels", self.labels)) if v is not None]
        extra = "".join(f", {k}={v!r}" for k, v in (("candidates", self.candidates),
                                                      ("candidate_temperature", self.candidate_temperature),
                                                      ("adversarial_temperature", self.adversarial_temperature),
                                                      ("generator", self.generator)) if v is not None)
        return (f"NegativeSampler(negative={self.negative}, noise={noise!r}, ns_exponent={self.ns_exponent}, "
                f"mode={self.mode!r}, filters={filters}, max_redraw={self.max_redraw}{extra})")

    @property
    def adaptive(self) -> str | None:
        """The adaptive kind: "generator", "dynamic-softmax", "dynamic", "self-adversarial" (also
        combined with one of the others: see ``self_adversarial``), or None."""
        if self.generator is not None:
            return "generator"
        if self.candidates is not None:
            return "dynamic-softmax" if self.candidate_temperature is not None else "dynamic"
        if self.adversarial_temperature is not None:
            return "self-adversarial"
        return None

    def kernel_adaptive(self):
        """(M, candidate_temperature, adversarial_temperature, use_generator, generator lr,
        generator temperature, generator reg, baseline decay): the adaptive parameters as the
        kernels take them (0 = off)."""
        g = self.generator
        return (int(self.candidates or 0), float(self.candidate_temperature or 0.0),
                float(self.adversarial_temperature or 0.0), g is not None,
                float(g.lr) if g else 0.0, float(g.temperature) if g else 1.0, float(g.reg) if g else 0.0,
                float(g.baseline_decay) if g else 0.0)

    @property
    def filtered(self) -> bool:
        """True when a filter beyond excluding the anchor itself is on."""
        return self.known_positives is not None or self.times is not None or self.labels is not None

    def copy(self, **changes) -> "NegativeSampler":
        args = dict(negative=self.negative, noise=self.noise, ns_exponent=self.ns_exponent, mode=self.mode,
                    known_positives=self.known_positives, times=self.times, time_window=self.time_window,
                    labels=self.labels, exclude_self=self.exclude_self, max_redraw=self.max_redraw,
                    candidates=self.candidates, candidate_temperature=self.candidate_temperature,
                    adversarial_temperature=self.adversarial_temperature, generator=self.generator)
        args.update(changes)
        return NegativeSampler(**args)

    # ------------------------------------------------------------------ fit
    def noise_probabilities(self, counts=None, keys=None, n=None) -> np.ndarray:
        """The resolved noise q over the ids, (n,) float64 summing to 1."""
        if counts is not None:
            counts = validate_weights(counts, name="counts")
            n = counts.size
        if n is None:
            raise NegsampleError("the noise needs counts (or the number of ids) to resolve")
        return _resolve_noise(self.noise, counts, keys, n, self.ns_exponent)

    def fit(self, counts=None, keys=None, n=None, n_rows=None) -> "NegativeSampler":
        """Resolve the noise and the filters against the trainer's ids: ``counts`` (n,) (needed by
        ``"frequency"`` noise), ``keys`` (n,) names of the ids (for mappings), ``n_rows`` the
        number of anchor rows of the known-positive filter. Returns self."""
        q = self.noise_probabilities(counts, keys, n)
        n = q.size
        self.table_ = AliasTable(q, name="noise weights")
        if self.negative > max(MAX_NEGATIVE_WITHOUT_SUPPORT, self.table_.support_size):
            # with replacement this is well defined, but it is a mistake that would run for hours
            raise NegsampleError(f"negative={self.negative} is more than the {self.table_.support_size} ids the noise "
                                 "can draw; lower --negative")
        if self.known_positives is not None:
            kp_indptr, kp_indices = to_csr(self.known_positives, n_rows=n_rows)
            if kp_indices.size and kp_indices.max() >= n:
                raise NegsampleError(f"known positives contain id {int(kp_indices.max())}, outside the {n} ids")
        else:
            kp_indptr, kp_indices = np.zeros(1, np.int64), np.zeros(0, np.int64)
        times = (_resolve_attribute(self.times, n, keys, "times", np.float64) if self.times is not None
                 else np.zeros(0, np.float64))
        labels = (_resolve_attribute(self.labels, n, keys, "labels", np.int64) if self.labels is not None
                  else np.zeros(0, np.int64))
        delta = float(self.time_window) if self.times is not None else -1.0
        self.filter_ = (kp_indptr, kp_indices, times, labels, delta, np.int64(self.max_redraw))
        self.stats_ = FilterStats()
        return self

    def _fitted(self):
        if self.table_ is None:
            raise NegsampleError("the sampler is not fitted: call fit(counts) first")

    def kernel_noise(self):
        """(prob, alias, filter tuple): what the numba kernels take."""
        self._fitted()
        return self.table_.prob, self.table_.alias, self.filter_

    def record(self, counts, total):
        """Add kernel filter counts (N_FILTER_COUNTS entries) to ``stats_``."""
        add = FilterStats.from_counts(counts, total)
        s = self.stats_
        s.rejected += add.rejected
        s.redrawn += add.redrawn
        s.dropped += add.dropped
        s.total += add.total
        for r, v in add.by_reason.items():
            s.by_reason[r] = s.by_reason.get(r, 0) + v

    # ------------------------------------------------------------------ draws
    def _anchor_arrays(self, anchors, avoid, rows, anchor_times, anchor_labels):
        anchors = np.asarray(anchors, dtype=np.int64).ravel()
        B = anchors.size
        n = self.table_.n

        def arr(x, default, dtype, name):
            if x is None:
                return default
            a = np.asarray(x, dtype=dtype).ravel()
            if a.size != B:
                raise NegsampleError(f"{name} has {a.size} entries for {B} anchors")
            return np.ascontiguousarray(a)

        if avoid is None:
            if self.exclude_self and B and (anchors.min() < 0 or anchors.max() >= n):
                raise NegsampleError(f"anchor ids must lie in [0, {n}) to exclude the anchor itself "
                                     "(pass avoid= or exclude_self=False)")
            avoid = anchors if self.exclude_self else np.full(B, -1, np.int64)
        avoid = arr(avoid, None, np.int64, "avoid")
        rows = arr(rows, anchors, np.int64, "rows")
        times, labels = self.filter_[2], self.filter_[3]
        if times.size:
            if anchor_times is None:
                if B and (anchors.min() < 0 or anchors.max() >= n):
                    raise NegsampleError("anchor_times are needed when anchors are not ids of the noise")
                anchor_times = times[anchors]
            anchor_times = arr(anchor_times, None, np.float64, "anchor_times")
        else:
            anchor_times = np.zeros(0, np.float64)
        if labels.size:
            if anchor_labels is None:
                if B and (anchors.min() < 0 or anchors.max() >= n):
                    raise NegsampleError("anchor_labels are needed when anchors are not ids of the noise")
                anchor_labels = labels[anchors]
            anchor_labels = arr(anchor_labels, None, np.int64, "anchor_labels")
        else:
            anchor_labels = np.zeros(0, np.int64)
        return anchors, avoid, rows, anchor_times, anchor_labels

    def sample(self, anchors, avoid=None, rows=None, anchor_times=None, anchor_labels=None, rng=None):
        """Negatives for each anchor: (negatives (B, negative) int64, mask (B, negative) bool);
        dropped draws are -1 with mask False. ``avoid`` (B,): the id to exclude per anchor
        (default: the anchor itself with ``exclude_self``); ``rows``: the known-positive row per
        anchor (default: the anchor id); ``anchor_times`` / ``anchor_labels``: the anchor's time
        / label (default: ``times[anchor]`` / ``labels[anchor]``). Mode "shared" draws one pool of
        ``negative`` ids and then filters it per anchor."""
        from .kernels.noise import N_FILTER_COUNTS, draw_negatives, filter_negatives, sample_noise

        self._fitted()
        if self.mode == "in-batch":
            raise NegsampleError("in-batch negatives are the batch's other positives: use logq() for the "
                                 "correction and the losses' in-batch form")
        anchors, avoid, rows, at, al = self._anchor_arrays(anchors, avoid, rows, anchor_times, anchor_labels)
        seed = _seed_from(rng)
        counts = np.zeros(N_FILTER_COUNTS, np.int64)
        prob, alias, filt = self.kernel_noise()
        if self.mode in ("per-example", "per-user"):
            out = np.empty((anchors.size, self.negative), np.int64)
            draw_negatives(prob, alias, filt, rows, avoid, at, al, self.negative, seed, out, counts)
        else:
            pool = np.empty(self.negative, np.int64)
            sample_noise(prob, alias, seed, pool)
            out = np.tile(pool, (anchors.size, 1))
            filter_negatives(prob, alias, filt, rows, avoid, at, al, out, seed ^ 0x5DEECE66D, counts)
        self.record(counts, out.size)
        return out, out >= 0

    def filter(self, anchors, negatives, avoid=None, rows=None, anchor_times=None, anchor_labels=None, rng=None):
        """Apply the filters to given negatives (B, K) (or a shared pool (K,)): false negatives are
        redrawn from the noise or dropped (-1). Returns (negatives, mask, FilterStats of this call)."""
        from .kernels.noise import N_FILTER_COUNTS, filter_negatives

        self._fitted()
        anchors, avoid, rows, at, al = self._anchor_arrays(anchors, avoid, rows, anchor_times, anchor_labels)
        neg = np.array(negatives, dtype=np.int64, copy=True)
        if neg.ndim == 1:
            neg = np.tile(neg, (anchors.size, 1))
        if neg.ndim != 2 or neg.shape[0] != anchors.size:
            raise NegsampleError(f"negatives must have shape (n_anchors, K) = ({anchors.size}, K) or (K,), "
                                 f"got {np.shape(negatives)}")
        if neg.size and (neg.min() < 0 or neg.max() >= self.table_.n):
            raise NegsampleError(f"negative ids must lie in [0, {self.table_.n})")
        counts = np.zeros(N_FILTER_COUNTS, np.int64)
        prob, alias, filt = self.kernel_noise()
        filter_negatives(prob, alias, filt, rows, avoid, at, al, neg, _seed_from(rng), counts)
        self.record(counts, neg.size)
        return neg, neg >= 0, FilterStats.from_counts(counts, neg.size)

    def logq(self, candidate_ids) -> np.ndarray:
        """ln q(j) of candidates under the fitted noise (for the logQ correction s_ij - ln q(j))."""
        self._fitted()
        return in_batch_logq(candidate_ids, self.table_.probabilities)


def _seed_from(rng) -> int:
    """A 63-bit kernel seed from an int seed, a numpy Generator or None."""
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return int(rng) & ((1 << 63) - 1)
    return int(as_rng(rng).integers(0, 1 << 63))


def _check_noise_spec(noise, depth=0):
    if isinstance(noise, str):
        if noise not in NOISES:
            raise NegsampleError(f"noise must be one of {', '.join(NOISES)}, custom weights, a mapping or a "
                                 f"mixture list, got {noise!r}")
        return
    if isinstance(noise, Mapping) or isinstance(noise, np.ndarray):
        return
    if isinstance(noise, (list, tuple)):
        if noise and all(isinstance(x, tuple) and len(x) == 2 for x in noise):
            if depth > 0:
                raise NegsampleError("nested mixtures are not supported")
            for w, spec in noise:
                check_finite_float("mixture weight", w, minimum=0.0)
                _check_noise_spec(spec, depth + 1)
            return
        return  # a plain list of weights
    raise NegsampleError(f"noise must be 'frequency', 'uniform', weights, a mapping or a mixture list, "
                         f"got {type(noise).__name__}")


def _resolve_noise(noise, counts, keys, n, alpha):
    if isinstance(noise, str):
        if noise == "uniform":
            return np.full(n, 1.0 / n)
        if counts is None:
            raise NegsampleError("frequency noise needs the counts of the ids")
        return unigram(counts, alpha)
    if isinstance(noise, Mapping):
        if keys is None:
            raise NegsampleError("noise weights given as a mapping need the trainer's keys")
        w = np.array([float(noise.get(k, 0.0)) for k in keys], dtype=np.float64)
        w = validate_weights(w, name="noise weights (none of the weighted keys is in the vocabulary)"
                             if not np.any(w) else "noise weights")
        return w / w.sum()
    if isinstance(noise, (list, tuple)) and noise and all(isinstance(x, tuple) and len(x) == 2 for x in noise):
        pis = validate_weights([float(w) for w, _ in noise], name="mixture weights")
        parts = [_resolve_noise(spec, counts, keys, n, alpha) for _, spec in noise]
        q = sum(p * d for p, d in zip(pis / pis.sum(), parts))
        return q / q.sum()
    w = validate_weights(noise, name="noise weights")
    if w.size != n:
        raise NegsampleError(f"noise weights have {w.size} entries for {n} ids")
    return w / w.sum()


def as_sampler(negatives=None, negative=5, ns_exponent=0.75, default_mode="per-example",
               modes=MODES) -> NegativeSampler:
    """The trainers' shorthand: ``negatives`` is a NegativeSampler, a mode string or None (the
    default mode), combined with the simple ``negative`` / ``ns_exponent`` keywords."""
    if isinstance(negatives, str) and negatives not in modes:
        raise NegsampleError(f"negatives must be one of {', '.join(modes)} or a NegativeSampler, got {negatives!r}")
    if isinstance(negatives, NegativeSampler):
        s = negatives
    elif negatives is None or isinstance(negatives, str):
        s = NegativeSampler(negative=negative, ns_exponent=ns_exponent, mode=negatives or default_mode)
    else:
        raise NegsampleError(f"negatives must be a NegativeSampler or one of {', '.join(modes)}, "
                             f"got {type(negatives).__name__}")
    if s.mode not in modes:
        raise NegsampleError(f"this trainer supports negatives {', '.join(modes)}, not {s.mode!r}")
    return s


def in_batch_logq(candidate_ids, probabilities) -> np.ndarray:
    """ln q(j) for each in-batch candidate j, to subtract from the logits (Yi et al. 2019).

    candidate_ids: (B,) ints; probabilities: (n,) sampling probability of each item (e.g. its
    frequency in the training stream). Returns (B,) float64.
    """
    ids = np.asarray(candidate_ids)
    p = np.asarray(probabilities, dtype=np.float64)
    if ids.size and (ids.min() < 0 or ids.max() >= p.size):
        raise NegsampleError(f"candidate ids must lie in [0, {p.size}), got range [{ids.min()}, {ids.max()}]")
    q = p[ids]
    if np.any(~np.isfinite(q)) or np.any(q <= 0):
        raise NegsampleError("in-batch candidates need finite, positive sampling probabilities for logQ")
    return np.log(q)
