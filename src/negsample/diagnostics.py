"""Diagnostics: does a trained SGNS model sit at the optimum the theory predicts, and what does
the noise distribution do to frequent and rare items (docs/experiments.md, docs/design.md).

The SGNS optimum (Levy & Goldberg 2014). The trainer (``negsample.sgns``) sees, per epoch,
M[c, t] (context c, centre t) training pairs and updates x_ct = v_c . u_t (v = W_in, u = W_out)
towards J = sum_ct M_ct ln s(x_ct) + k sum_c M_c sum_t q'_c(t) ln s(-x_ct). Setting dJ/dx = 0:
    exact:  x*_ct = ln M_ct - ln k - ln q(t) - ln A_ct,   A_ct = sum_{w != t} M_cw / (1 - q(w))
(A_ct: the negatives of a pair exclude its own centre w and are redrawn, so a draw of t comes
with probability q(t) / (1 - q(w)); without that filter A_ct = M_c). With q = the pair marginal
(unigram^1) and the filter ignored this is the textbook
    pmi:    x*_ct = PMI(c, t) - ln k,     PMI = ln(M_ct D / (M_c M_t)), D = sum M.
For another noise the difference is a shift per target: x*_ct - (PMI - ln k) ~ -ln(q(t) / p(t)),
p(t) = M_t / D; with q ∝ count^alpha that is (1 - alpha) ln p(t) + const: frequent targets sit
above PMI - ln k, rare ones below. Shared negatives (one pool per window, ``mode="shared"``) give
every pair k draws from the same q, so the expected objective and its optimum are the same; only
the variance of the updates differs.

M is computed as the trainer sees the corpus: subsampling (keep w with min(1, sqrt(t/f) + t/f),
one seeded realisation) before windowing, and the dynamic window b ~ U{1..window}, so a pair at
distance d counts (window - d + 1) / window per epoch. ``optimum_check`` compares x with both
predictions on the pairs with M_ct >= ``min_count``, overall and by frequency bucket of the
target t (Pearson r, offset = mean(x - x*), RMSE). ``spectrum`` gives the singular values of the
implicit matrix W_in W_out^T (rank <= dim) next to those of SPPMI = max(PMI - ln k, 0).

The noise report (``noise_report``) holds for any counts (words, node degrees, item popularity):
per frequency decile the share of tokens p, of negative draws q ∝ count^alpha, the lift q / p,
the expected coverage in N draws (1 - (1 - q_j)^N) and the expected share of output-vector
gradient at initialisation, (p + k q) / (1 + k) (every update has |s| = 1/2 there). The lift of a
rare item against a frequent one is (c_rare / c_frequent)^(alpha - 1): 10^2 against 10^9 with
alpha = 0.75 gives 10^1.75 = 56. Items never drawn in N draws: sum_j (1 - q_j)^N.

matplotlib (extra ``plot``) is imported only inside the plotting functions.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from ._common import NegsampleError, check_finite_float, check_positive_int

__all__ = ["cooccurrence", "optimum_check", "OptimumReport", "predicted_optimum", "spectrum", "noise_report",
           "NoiseReport", "lift", "expected_never_drawn", "plot_noise_report", "check_word2vec",
           "encode_for_model"]


# --------------------------------------------------------------------------- co-occurrence

def _validate_sequences(ids, offsets, n):
    ids = np.asarray(ids)
    offsets = np.asarray(offsets, dtype=np.int64)
    if ids.ndim != 1:
        raise NegsampleError(f"ids must be a 1-D array of token ids, got shape {ids.shape}")
    if ids.size and (ids.min() < 0 or ids.max() >= n):
        raise NegsampleError(f"token ids must lie in [0, {n}), got [{ids.min()}, {ids.max()}]")
    if offsets.ndim != 1 or offsets.size < 1 or offsets[0] != 0 or offsets[-1] != ids.size \
            or np.any(np.diff(offsets) < 0):
        raise NegsampleError("offsets must start at 0, be non-decreasing and end at len(ids)")
    return ids.astype(np.int64, copy=False), offsets


def cooccurrence(ids, offsets, n, window, sample=0.0, counts=None, dynamic=True, seed=0):
    """Expected training pairs per epoch as the SGNS trainer forms them: (n, n) scipy CSR float64
    with M[c, t] = number of (context c, centre t) pairs (symmetric).

    ids (N,) ints in [0, n), offsets (S+1,) sentence bounds; ``sample`` > 0 subsamples tokens
    with the trainer's keep probability (from ``counts``, default the token counts of ``ids``;
    one realisation from ``seed``); ``dynamic`` weights distance d by (window - d + 1) / window
    (b ~ U{1..window}), else 1."""
    import scipy.sparse as sp

    from .distributions import subsample_keep_prob

    n = check_positive_int("n", n)
    window = check_positive_int("window", window)
    sample = check_finite_float("sample", sample, minimum=0.0)
    ids, offsets = _validate_sequences(ids, offsets, n)
    if sample > 0:
        if counts is None:
            counts = np.bincount(ids, minlength=n)
        counts = np.asarray(counts, dtype=np.float64)
        if counts.shape != (n,):
            raise NegsampleError(f"counts must have {n} entries, got {counts.shape}")
        keep = subsample_keep_prob(counts, sample)
        mask = np.random.default_rng(seed).random(ids.size) < keep[ids]
        cum = np.zeros(ids.size + 1, np.int64)
        np.cumsum(mask, out=cum[1:])
        ids = ids[mask]
        offsets = cum[offsets]
    sent = np.repeat(np.arange(offsets.size - 1, dtype=np.int32), np.diff(offsets))
    M = sp.csr_matrix((n, n), dtype=np.float64)
    for d in range(1, window + 1):
        if d >= ids.size:
            break
        same = sent[:-d] == sent[d:]
        a, b = ids[:-d][same], ids[d:][same]
        if a.size == 0:
            continue
        w = (window - d + 1) / window if dynamic else 1.0
        part = sp.csr_matrix((np.full(a.size, w), (a, b)), shape=(n, n))
        M = M + part + part.T
    M.sum_duplicates()
    return M.tocsr()


# --------------------------------------------------------------------------- the optimum

def _pair_arrays(M, min_count):
    M = M.tocoo()
    keep = M.data >= min_count
    return M.row[keep].astype(np.int64), M.col[keep].astype(np.int64), M.data[keep]


def predicted_optimum(M, negative, q=None, exclude_self=True, min_count=0.0):
    """Predicted x*_ct on the pairs with M_ct >= min_count: (rows c, cols t, M_ct, pmi - ln k,
    exact). ``q`` (n,): the noise the model was trained with (default: the pair marginal, i.e.
    unigram^1 of the pairs); ``exclude_self``: the negatives of a pair skip its centre (as the
    trainer's filter does). See the module docstring."""
    import scipy.sparse as sp

    if not sp.issparse(M):
        M = sp.csr_matrix(np.asarray(M, dtype=np.float64))
    M = M.tocsr()
    n = M.shape[0]
    if M.shape != (n, n):
        raise NegsampleError(f"the co-occurrence matrix must be square, got {M.shape}")
    negative = check_positive_int("negative", negative)
    marg = np.asarray(M.sum(axis=1)).ravel()
    D = float(marg.sum())
    if D <= 0:
        raise NegsampleError("the co-occurrence matrix is empty: no training pairs")
    if q is None:
        q = marg / D
    q = np.asarray(q, dtype=np.float64)
    if q.shape != (n,) or np.any(~np.isfinite(q)) or np.any(q < 0):
        raise NegsampleError(f"the noise q must be {n} finite non-negative probabilities")
    q = q / q.sum()
    r, c, m = _pair_arrays(M, max(float(min_count), np.finfo(float).tiny))
    if r.size == 0:
        raise NegsampleError(f"no pair co-occurs at least {min_count} times; lower min_count or use more data")
    with np.errstate(divide="ignore"):
        pmi = np.log(m) + math.log(D) - np.log(marg[r]) - np.log(marg[c]) - math.log(negative)
        if exclude_self:
            inv = 1.0 / np.maximum(1.0 - q, 1e-300)
            R = M @ inv                                 # R_c = sum_w M_cw / (1 - q_w)
            A = R[r] - m * inv[c]
        else:
            A = marg[r]
        # no negative pressure (c co-occurs with t only, and t's own pairs never draw t): x* = +inf
        A = np.where(A > 1e-9 * marg[r], A, 0.0)
        exact = np.log(m) - math.log(negative) - np.log(q[c]) - np.log(A)
    return r, c, m, pmi, exact


def _pair_scores(W_in, W_out, r, c, chunk=262_144):
    x = np.empty(r.size, np.float64)
    for s in range(0, r.size, chunk):
        a = W_in[r[s:s + chunk]].astype(np.float64)
        b = W_out[c[s:s + chunk]].astype(np.float64)
        x[s:s + chunk] = np.einsum("ij,ij->i", a, b)
    return x


def _agreement(x, pred):
    """Pearson r, offset mean(x - pred), RMSE of x - pred."""
    diff = x - pred
    if x.size >= 2 and np.std(x) > 0 and np.std(pred) > 0:
        r = float(np.corrcoef(x, pred)[0, 1])
    else:
        r = float("nan")
    return {"pearson": r, "offset": float(diff.mean()) if diff.size else float("nan"),
            "rmse": float(np.sqrt(np.mean(diff ** 2))) if diff.size else float("nan")}


@dataclass
class OptimumReport:
    """``overall`` / ``buckets``: agreement of x = v_c . u_t with the two predictions ("pmi":
    PMI - ln k; "exact": the stationary point for the noise and filter used), on ``pairs`` pairs
    with M_ct >= ``min_count``; buckets by the target's frequency (quantiles over the pairs).
    ``unbounded``: pairs left out because their exact optimum is +inf (context c occurs only
    with t, whose negatives never include t itself)."""

    negative: int
    pairs: int
    min_count: float
    overall: dict
    buckets: list
    weighted: dict = field(default_factory=dict)
    spectrum: dict | None = None
    settings: dict = field(default_factory=dict)
    unbounded: int = 0

    def as_dict(self) -> dict:
        return {"negative": self.negative, "pairs": self.pairs, "min_count": self.min_count, "unbounded": self.unbounded,
                "overall": self.overall, "weighted": self.weighted, "buckets": self.buckets,
                "spectrum": self.spectrum, "settings": self.settings}

    def format(self) -> str:
        o = self.overall
        lines = [f"SGNS optimum check: {self.pairs:,} pairs with M_ct >= {self.min_count:g} (k = {self.negative}"
                 + (f"; {self.unbounded:,} more have no negative pressure, optimum +inf" if self.unbounded else "") + ")",
                 f"  x = v_c.u_t against PMI - ln k:  r = {o['pmi']['pearson']:.3f}, offset = "
                 f"{o['pmi']['offset']:+.3f}, RMSE = {o['pmi']['rmse']:.3f}",
                 f"  x against the exact optimum (noise q, self-exclusion):  r = {o['exact']['pearson']:.3f}, "
                 f"offset = {o['exact']['offset']:+.3f}, RMSE = {o['exact']['rmse']:.3f}",
                 "  by target frequency:",
                 f"    {'count of t':>19} {'pairs':>9} {'r(pmi)':>7} {'off(pmi)':>9} {'r(exact)':>9} "
                 f"{'off(exact)':>10} {'RMSE(exact)':>11}"]
        for b in self.buckets:
            lines.append(f"    {b['min_target_count']:>9,}-{b['max_target_count']:<9,} {b['pairs']:>9,} "
                         f"{b['pmi']['pearson']:>7.3f} {b['pmi']['offset']:>+9.3f} {b['exact']['pearson']:>9.3f} "
                         f"{b['exact']['offset']:>+10.3f} {b['exact']['rmse']:>11.3f}")
        if self.spectrum:
            s = self.spectrum
            lines.append(f"  spectrum of W_in W_out^T (dim {s['dim']}): effective rank {s['effective_rank']:.1f}; "
                         "top singular values " + ", ".join(f"{v:.3g}" for v in s["implicit"][:6]))
            if s.get("sppmi"):
                lines.append("  spectrum of SPPMI = max(PMI - ln k, 0): top " +
                             ", ".join(f"{v:.3g}" for v in s["sppmi"][:6]) +
                             f"; top-{len(s['sppmi'])} energy share {s['sppmi_energy_top']:.3f}")
        return "\n".join(lines)


def optimum_check(W_in, W_out, M, negative, q=None, exclude_self=True, min_count=5.0, buckets=5,
                  target_counts=None, max_pairs=2_000_000, seed=0, with_spectrum=True, spectrum_top=10):
    """Compare x_ct = W_in[c] . W_out[t] with the predicted optimum (``predicted_optimum``) on the
    co-occurring pairs. W_in, W_out (n, d); M (n, n) training-pair counts (``cooccurrence``);
    ``q`` the training noise (n,); buckets by ``target_counts`` (default: the pair marginal of t).
    At most ``max_pairs`` pairs (a seeded random subset) are scored. Returns an OptimumReport."""
    W_in = np.asarray(W_in)
    W_out = np.asarray(W_out)
    if W_in.ndim != 2 or W_out.shape != W_in.shape:
        raise NegsampleError(f"W_in and W_out must be (n, d) of the same shape, got {W_in.shape} and {W_out.shape}")
    if M.shape[0] != W_in.shape[0]:
        raise NegsampleError(f"the co-occurrence matrix has {M.shape[0]} ids, the vectors {W_in.shape[0]}")
    if not (np.all(np.isfinite(W_in)) and np.all(np.isfinite(W_out))):
        raise NegsampleError("the vectors contain NaN or infinite values")
    buckets = check_positive_int("buckets", buckets)
    r, c, m, pmi, exact = predicted_optimum(M, negative, q, exclude_self, min_count)
    if r.size > max_pairs:
        pick = np.sort(np.random.default_rng(seed).choice(r.size, max_pairs, replace=False))
        r, c, m, pmi, exact = r[pick], c[pick], m[pick], pmi[pick], exact[pick]
    x = _pair_scores(W_in, W_out, r, c)
    finite = np.isfinite(pmi) & np.isfinite(exact)
    unbounded = int(np.sum(~finite))
    r, c, m, pmi, exact, x = r[finite], c[finite], m[finite], pmi[finite], exact[finite], x[finite]
    overall = {"pmi": _agreement(x, pmi), "exact": _agreement(x, exact)}
    w = m / m.sum()
    weighted = {}
    for name, pred in (("pmi", pmi), ("exact", exact)):
        d = x - pred
        mx, mp = np.sum(w * x), np.sum(w * pred)
        cov = np.sum(w * (x - mx) * (pred - mp))
        den = math.sqrt(np.sum(w * (x - mx) ** 2) * np.sum(w * (pred - mp) ** 2))
        weighted[name] = {"pearson": float(cov / den) if den > 0 else float("nan"),
                          "offset": float(np.sum(w * d)), "rmse": float(math.sqrt(np.sum(w * d ** 2)))}
    tc = np.asarray(target_counts, dtype=np.float64) if target_counts is not None else \
        np.asarray(M.sum(axis=1)).ravel()
    tgt = tc[c]
    order = np.argsort(tgt, kind="stable")
    rows = []
    for part in np.array_split(order, min(buckets, max(1, order.size))):
        if part.size == 0:
            continue
        rows.append({"min_target_count": int(round(tgt[part].min())), "max_target_count": int(round(tgt[part].max())),
                     "pairs": int(part.size), "mean_pair_count": float(m[part].mean()),
                     "pmi": _agreement(x[part], pmi[part]), "exact": _agreement(x[part], exact[part])})
    spec = spectrum(W_in, W_out, M, negative, top=spectrum_top) if with_spectrum else None
    return OptimumReport(negative=int(negative), pairs=int(x.size), min_count=float(min_count), overall=overall,
                         buckets=rows, weighted=weighted, spectrum=spec, unbounded=unbounded)


def spectrum(W_in, W_out, M=None, negative=None, top=10):
    """Singular values of the implicit matrix W_in W_out^T (from the QR factors: O(n d^2)), its
    effective rank exp(H(sigma / sum sigma)), and, given the pair counts M and k, the top
    singular values of SPPMI = max(PMI - ln k, 0) and their share of its squared Frobenius norm."""
    W_in = np.asarray(W_in, dtype=np.float64)
    W_out = np.asarray(W_out, dtype=np.float64)
    _, r1 = np.linalg.qr(W_in)
    _, r2 = np.linalg.qr(W_out)
    sv = np.linalg.svd(r1 @ r2.T, compute_uv=False)
    p = sv / sv.sum() if sv.sum() > 0 else np.full(sv.size, 1.0 / sv.size)
    p = p[p > 0]
    out = {"dim": int(W_in.shape[1]), "implicit": sv[:top].tolist(),
           "implicit_energy_top": float(np.sum(sv[:top] ** 2) / max(np.sum(sv ** 2), 1e-300)),
           "effective_rank": float(np.exp(-np.sum(p * np.log(p))))}
    if M is not None and negative is not None:
        S = sppmi(M, negative)
        k = int(min(top, min(S.shape) - 1))
        if S.nnz and k >= 1:
            from scipy.sparse.linalg import svds

            vals = np.sort(svds(S, k=k, return_singular_vectors=False, random_state=0))[::-1]
            out["sppmi"] = vals.tolist()
            out["sppmi_energy_top"] = float(np.sum(vals ** 2) / S.multiply(S).sum())
    return out


def sppmi(M, negative):
    """SPPMI = max(PMI - ln k, 0) as a sparse matrix (Levy & Goldberg's explicit counterpart)."""
    import scipy.sparse as sp

    M = sp.csr_matrix(M, dtype=np.float64)
    marg = np.asarray(M.sum(axis=1)).ravel()
    D = marg.sum()
    C = M.tocoo()
    val = np.log(C.data) + math.log(D) - np.log(marg[C.row]) - np.log(marg[C.col]) - math.log(negative)
    keep = val > 0
    return sp.csr_matrix((val[keep], (C.row[keep], C.col[keep])), shape=M.shape)


# --------------------------------------------------------------------------- word2vec models

def encode_for_model(vocab, corpus, max_tokens=None):
    """(ids int32, offsets int64) of a corpus (path or iterable of token lists) encoded with a
    trained model's vocabulary (out-of-vocabulary tokens dropped, like training); at most
    ``max_tokens`` in-vocabulary tokens (whole sentences)."""
    from .word2vec import encode_corpus

    fh, offsets = encode_corpus(corpus, vocab)
    try:
        fh.seek(0)
        total = int(offsets[-1])
        if max_tokens is not None and total > max_tokens:
            s = int(np.searchsorted(offsets, max_tokens, side="right")) - 1
            s = max(s, 1)
            offsets = offsets[:s + 1]
            total = int(offsets[-1])
        ids = np.fromfile(fh, dtype=np.int32, count=total)
    finally:
        fh.close()
    return ids, offsets


def check_word2vec(model, corpus, min_count=5.0, buckets=5, max_tokens=None, max_pairs=2_000_000, seed=0,
                   with_spectrum=True, window=None, sample=None):
    """The optimum check for a trained ``Word2Vec`` (its W_in, W_out, vocabulary, window,
    subsampling, k and noise) on the corpus it was trained on. Skip-gram only (CBOW's input is a
    mean of contexts, so x_ct has no single-pair optimum)."""
    if model.W_in is None or model.W_out is None:
        raise NegsampleError("the model is not trained: the optimum check needs W_in and W_out")
    cfg = model.config
    if cfg.arch != "skipgram":
        raise NegsampleError("the optimum check applies to skip-gram models (CBOW predicts from a mean of contexts)")
    sampler = model.sampler
    if sampler.table_ is None or sampler.table_.n != len(model.vocab):
        sampler.fit(model.vocab.counts, keys=model.vocab.words, n_rows=len(model.vocab))
    q = sampler.table_.probabilities
    ids, offsets = encode_for_model(model.vocab, corpus, max_tokens)
    window = cfg.window if window is None else window
    sample = cfg.sample if sample is None else sample
    M = cooccurrence(ids, offsets, len(model.vocab), window, sample=sample, counts=model.vocab.counts, seed=seed)
    rep = optimum_check(model.W_in, model.W_out, M, sampler.negative, q=q, exclude_self=sampler.exclude_self,
                        min_count=min_count, buckets=buckets, target_counts=model.vocab.counts, max_pairs=max_pairs,
                        seed=seed, with_spectrum=with_spectrum)
    rep.settings = {"window": int(window), "sample": float(sample), "ns_exponent": float(sampler.ns_exponent),
                    "negatives": sampler.mode, "tokens": int(offsets[-1]), "vocab": len(model.vocab),
                    "epochs": int(cfg.epochs)}
    return rep


# --------------------------------------------------------------------------- the noise report

def lift(rare_count, frequent_count, ns_exponent=0.75):
    """How much the noise q ∝ count^alpha raises a rare item's share relative to a frequent one,
    compared with sampling by frequency: (q_r / q_f) / (p_r / p_f) = (c_r / c_f)^(alpha - 1)."""
    a = check_finite_float("ns_exponent", ns_exponent, minimum=0.0)
    r = check_finite_float("rare_count", rare_count, minimum=0.0, strict_min=True)
    f = check_finite_float("frequent_count", frequent_count, minimum=0.0, strict_min=True)
    return float(np.exp((a - 1.0) * (math.log(r) - math.log(f))))


def expected_never_drawn(q, draws):
    """Expected number of items with q_j > 0 never drawn in ``draws`` independent draws:
    sum_j (1 - q_j)^draws (items with q_j = 0 are never drawn and not counted)."""
    q = np.asarray(q, dtype=np.float64)
    q = q[q > 0]
    return float(np.sum(np.exp(draws * np.log1p(-np.minimum(q, 1.0 - 1e-16)))))


@dataclass
class NoiseReport:
    """Per frequency bucket (``table``, most frequent first) and in total; see ``noise_report``."""

    ns_exponent: float
    negative: int
    draws: float
    items: int
    total_count: float
    table: list
    never_drawn: float
    never_drawn_uniform_counts: float
    lift_extremes: dict
    perplexity_p: float
    perplexity_q: float
    p: np.ndarray = field(repr=False, default=None)
    q: np.ndarray = field(repr=False, default=None)

    def as_dict(self) -> dict:
        return {"ns_exponent": self.ns_exponent, "negative": self.negative, "draws": self.draws, "items": self.items,
                "total_count": self.total_count, "table": self.table, "never_drawn": self.never_drawn,
                "never_drawn_if_alpha_1": self.never_drawn_uniform_counts, "lift_extremes": self.lift_extremes,
                "perplexity_p": self.perplexity_p, "perplexity_q": self.perplexity_q}

    def format(self) -> str:
        L = self.lift_extremes
        lines = [f"Noise q ∝ count^{self.ns_exponent:g} over {self.items:,} items ({self.total_count:,.0f} "
                 f"occurrences), k = {self.negative}, {self.draws:,.0f} draws",
                 f"  {'bucket':>6} {'items':>8} {'counts':>21} {'token share':>11} {'draw share':>10} "
                 f"{'lift q/p':>8} {'coverage':>8} {'grad share':>10}"]
        for b in self.table:
            lines.append(f"  {b['bucket']:>6} {b['items']:>8,} {b['min_count']:>10,.0f}-{b['max_count']:<10,.0f} "
                         f"{b['token_share']:>11.4f} {b['draw_share']:>10.4f} {b['lift']:>8.2f} "
                         f"{b['coverage']:>8.3f} {b['grad_share']:>10.4f}")
        lines.append(f"  rarest item ({L['rare_count']:,.0f}) against the most frequent ({L['frequent_count']:,.0f}): "
                     f"lift {L['lift']:.3g}x")
        lines.append(f"  expected items never drawn in {self.draws:,.0f} draws: {self.never_drawn:,.1f} "
                     f"(with alpha = 1: {self.never_drawn_uniform_counts:,.1f})")
        lines.append(f"  effective number of items (perplexity): tokens {self.perplexity_p:,.1f}, "
                     f"negatives {self.perplexity_q:,.1f}")
        return "\n".join(lines)


def _perplexity(p):
    p = p[p > 0]
    return float(np.exp(-np.sum(p * np.log(p))))


def noise_report(counts, ns_exponent=0.75, negative=5, draws=None, buckets=10, noise=None):
    """Noise report for ``counts`` (n,) (word counts, node degrees, item popularity) and noise
    q ∝ count^ns_exponent (or the given ``noise`` probabilities). ``draws``: negatives drawn
    (default negative x sum(counts), one epoch with k negatives per occurrence). Buckets hold
    equal numbers of items ranked by count, most frequent first. Per bucket: items, count range,
    token share sum p, draw share sum q, lift = draw share / token share, coverage = mean over
    its items of 1 - (1 - q_j)^draws, grad share = sum (p + k q) / (1 + k)."""
    from .distributions import unigram, validate_weights

    c = validate_weights(counts, name="counts")
    negative = check_positive_int("negative", negative)
    buckets = check_positive_int("buckets", buckets)
    alpha = check_finite_float("ns_exponent", ns_exponent, minimum=0.0)
    p = c / c.sum()
    q = unigram(c, alpha) if noise is None else validate_weights(noise, name="noise") / np.sum(noise)
    if q.size != c.size:
        raise NegsampleError(f"noise has {q.size} entries for {c.size} counts")
    N = float(negative * c.sum()) if draws is None else check_finite_float("draws", draws, minimum=0.0)
    order = np.argsort(-c, kind="stable")
    cover = -np.expm1(N * np.log1p(-np.minimum(q, 1.0 - 1e-16)))
    table = []
    for i, part in enumerate(np.array_split(order, min(buckets, c.size))):
        ps, qs = float(p[part].sum()), float(q[part].sum())
        table.append({"bucket": i + 1, "items": int(part.size), "min_count": float(c[part].min()),
                      "max_count": float(c[part].max()), "token_share": ps, "draw_share": qs,
                      "lift": qs / ps if ps > 0 else float("inf"), "coverage": float(cover[part].mean()),
                      "grad_share": (ps + negative * qs) / (1 + negative)})
    nz = c[c > 0]
    lf = {"rare_count": float(nz.min()), "frequent_count": float(nz.max()),
          "lift": lift(nz.min(), nz.max(), alpha) if noise is None else float("nan")}
    return NoiseReport(ns_exponent=alpha, negative=negative, draws=N, items=int(c.size), total_count=float(c.sum()),
                       table=table, never_drawn=expected_never_drawn(q, N),
                       never_drawn_uniform_counts=expected_never_drawn(p, N), lift_extremes=lf,
                       perplexity_p=_perplexity(p), perplexity_q=_perplexity(q), p=p, q=q)


def plot_noise_report(report: NoiseReport, path, title=None, alphas=(0.0, 0.5, 1.0)):
    """Two panels: per bucket the token, draw and gradient shares; and q against p for every item
    (log-log) with the exponent used and ``alphas`` for reference. Writes a PNG to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .distributions import unigram
    from .io import atomic_write

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    b = np.arange(1, len(report.table) + 1)
    w = 0.27
    ax1.bar(b - w, [t["token_share"] for t in report.table], w, label="tokens p")
    ax1.bar(b, [t["draw_share"] for t in report.table], w, label=f"negative draws q (alpha={report.ns_exponent:g})")
    ax1.bar(b + w, [t["grad_share"] for t in report.table], w, label=f"gradient at init (k={report.negative})")
    ax1.set_yscale("log")
    ax1.set_xlabel("frequency bucket (1 = most frequent items)")
    ax1.set_ylabel("share")
    ax1.set_xticks(b)
    ax1.legend(fontsize=8)
    ax1.set_title("share per bucket")
    p = report.p
    order = np.argsort(-p)
    rank = np.arange(1, p.size + 1)
    ax2.loglog(rank, p[order], "k-", lw=1.5, label="p (alpha = 1)")
    counts = p * report.total_count
    for a in alphas:
        if a == 1.0:
            continue
        ax2.loglog(rank, unigram(counts, a)[order], "--", lw=1, label=f"alpha = {a:g}")
    ax2.loglog(rank, report.q[order], "r-", lw=1.5, label=f"q used (alpha = {report.ns_exponent:g})")
    ax2.set_xlabel("item rank by frequency")
    ax2.set_ylabel("probability")
    ax2.legend(fontsize=8)
    ax2.set_title(f"never drawn in {report.draws:,.0f} draws: {report.never_drawn:,.1f}")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = os.fspath(path)
    with atomic_write(path, "wb", what="plot") as fh:
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)
    return path
