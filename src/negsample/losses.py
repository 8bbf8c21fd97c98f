"""Contrastive losses with negatives, in PyTorch (optional extra: ``pip install negsample[torch]``).

Two call forms.

Pair form: anchor (B, d), positive (B, d), negatives (B, K, d) or None for in-batch negatives (the
other rows' positives; logits (B, B), diagonal = positives). Scores are dot products, or cosine
similarities with ``normalize=True``.

Metric-learning form (pytorch-metric-learning's): ``(embeddings (B, d), labels (B,), indices_tuple=None,
ref_emb=None, ref_labels=None)``: positives are the other rows with the anchor's label (several per
class), negatives the rows of other labels, or exactly the pairs of a miner's indices tuple
((a, p, n) triplets or (a1, p, a2, n) pairs); see ``metric_loss``.

Losses (z = score / tau; every function returns the mean over anchors or positive pairs):
- SGNS:       L = -ln s(a.p) - sum_j ln s(-a.n_j)
- InfoNCE:    L = -ln e^{z+} / (e^{z+} + sum_j e^{z_j}) = softplus(LSE_j z_j - z+); optional logQ
              correction (z - ln q(candidate), Yi et al. 2019) and masks of false negatives.
- NT-Xent:    InfoNCE per positive pair (a, p) against the negatives of a (other positives of a
              are not in the denominator; pytorch-metric-learning's NTXentLoss).
- SupCon:     L_a = LSE_{j in P(a) u N(a)} z_aj - mean_{p in P(a)} z_ap (Khosla et al. 2020).
- debiased (Chuang et al. 2020): Ng = max((R - N tau+ e^{z+}) / (1 - tau+), N e^{-1/t}), R = sum_j e^{z_j},
              L = -ln e^{z+} / (e^{z+} + Ng), N = number of (unmasked) negatives.
- hard (Robinson et al. 2021): as debiased with R = N sum_j w_j e^{z_j} / sum_j w_j, w_j = e^{beta z_j}.
              Both are evaluated in log space: ln R by log-sum-exp, ln(R - N tau+ e^{z+}) as
              ln R + ln(-expm1(ln(N tau+) + z+ - ln R)), the clamp as a max of logs, and
              L = softplus(ln Ng - z+), so loss and gradients stay finite at any temperature and norm.
              Where R - N tau+ e^{z+} is not positive to within machine precision, Ng is the clamp.
- triplet:    L = max(0, d(a,p) - d(a,n) + margin); the semi-hard variant picks, per anchor, the
              closest negative with d(a,p) < d(a,n) < d(a,p) + margin (else the farthest one).

Memory: in-batch and metric-form losses compute logits in chunks of ``chunk_size`` anchors; with
gradient enabled each chunk's gradient (with respect to its anchors, the candidates and tau) is
computed right after its forward and accumulated, and the backward only scales the accumulated
gradients (``_ChunkedGrad``), so at most chunk x N logits (N = candidates) exist at a time, never
B x N, and nothing is recomputed. (Evaluate under ``torch.no_grad()`` to skip that gradient work;
double backward through a chunked loss is not supported.)

``gather_across_workers=True`` (torch.distributed): each worker's anchors see the candidates of every
worker (see ``negsample.distributed``); labels, ids, logQ and masks are gathered with them. The
returned loss on worker r is W * (sum of its anchors' losses) / (count over all workers), so the mean
over workers is the loss of one process on the concatenated batch, and gradients, summed over workers
in the gather's backward and then averaged by DistributedDataParallel, equal that process's.

``temperature="auto"`` with ``controller=temperature.EntropyController(...)`` holds the entropy of the
negative weights near a target (see ``temperature``); ``return_stats=True`` adds diagnostics.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from . import distributed as _dist
from ._common import NegsampleError
from .temperature import EntropyController

__all__ = ["sgns_loss", "info_nce", "debiased_info_nce", "hard_info_nce", "metric_loss", "ntxent_loss",
           "supcon_loss", "triplet_margin", "semi_hard_triplet", "SGNSLoss", "InfoNCELoss", "NTXentLoss",
           "SupConLoss", "DebiasedInfoNCELoss", "HardInfoNCELoss", "TripletMarginLoss", "SemiHardTripletLoss",
           "MemoryQueue", "negative_stats"]

_NEG_INF = float("-inf")


# --------------------------------------------------------------------------- validation

def _check_float_tensor(name, x, dim=None):
    if not isinstance(x, torch.Tensor):
        raise NegsampleError(f"{name} must be a torch tensor, got {type(x).__name__}")
    if not torch.is_floating_point(x):
        raise NegsampleError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if dim is not None and x.dim() != dim:
        raise NegsampleError(f"{name} must have {dim} dimensions, got shape {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise NegsampleError(f"{name} contains NaN or infinite values")


def _check_pair(anchor, positive):
    if not isinstance(anchor, torch.Tensor) or not isinstance(positive, torch.Tensor):
        raise NegsampleError("anchor and positive must be torch tensors")
    if anchor.dim() != 2:
        raise NegsampleError(f"anchor must be (B, d), got shape {tuple(anchor.shape)}")
    if positive.shape != anchor.shape:
        raise NegsampleError(f"positive must have the anchor's shape {tuple(anchor.shape)}, got {tuple(positive.shape)}")
    if anchor.shape[0] == 0:
        raise NegsampleError("empty batch: anchor has 0 rows")
    if not torch.is_floating_point(anchor) or not torch.is_floating_point(positive):
        raise NegsampleError("anchor and positive must be floating-point tensors")
    if not torch.isfinite(anchor).all() or not torch.isfinite(positive).all():
        raise NegsampleError("anchor/positive contain NaN or infinite values")


def _check_negatives(anchor, negatives):
    if not isinstance(negatives, torch.Tensor):
        raise NegsampleError("negatives must be a torch tensor (B, K, d)")
    if negatives.dim() != 3 or negatives.shape[0] != anchor.shape[0] or negatives.shape[2] != anchor.shape[1]:
        raise NegsampleError(f"negatives must be (B, K, d) = ({anchor.shape[0]}, K, {anchor.shape[1]}), "
                             f"got {tuple(negatives.shape)}")
    if negatives.shape[1] == 0:
        raise NegsampleError("negatives has K = 0 negatives per anchor")
    if not torch.is_floating_point(negatives):
        raise NegsampleError("negatives must be a floating-point tensor")
    if not torch.isfinite(negatives).all():
        raise NegsampleError("negatives contain NaN or infinite values")


def _check_tau(temperature):
    if isinstance(temperature, str):
        raise NegsampleError(f"temperature must be a number > 0 or 'auto', got {temperature!r}")
    if isinstance(temperature, torch.Tensor):
        if temperature.numel() != 1:
            raise NegsampleError(f"temperature must be a scalar, got shape {tuple(temperature.shape)}")
        t = float(temperature.detach())
    else:
        try:
            t = float(temperature)
        except (TypeError, ValueError):
            raise NegsampleError(f"temperature must be a number > 0, got {temperature!r}") from None
    if not math.isfinite(t) or t <= 0:
        raise NegsampleError(f"temperature must be > 0, got {temperature!r}")
    return t


def _tau_float(tau):
    return float(tau.detach()) if isinstance(tau, torch.Tensor) else float(tau)


def _resolve_tau(temperature, controller):
    """(tau used now, controller to update or None)."""
    if isinstance(temperature, str) and temperature == "auto":
        if not isinstance(controller, EntropyController):
            raise NegsampleError("temperature='auto' needs controller=EntropyController(target_entropy=...)")
        return controller.tau, controller
    if controller is not None:
        raise NegsampleError("controller is only used with temperature='auto'")
    _check_tau(temperature)
    return temperature, None


def _check_chunk(chunk_size):
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise NegsampleError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
    return chunk_size


def _check_debias(tau_plus, beta):
    try:
        tp, b = float(tau_plus), float(beta)
    except (TypeError, ValueError):
        raise NegsampleError(f"tau_plus and beta must be numbers, got {tau_plus!r}, {beta!r}") from None
    if not 0.0 <= tp < 1.0:
        raise NegsampleError(f"tau_plus must be in [0, 1), got {tau_plus!r}")
    if not math.isfinite(b) or b < 0:
        raise NegsampleError(f"beta must be >= 0, got {beta!r}")
    return tp, b


def _check_logq(logq, shape, what, like):
    """what: the message's start, e.g. 'logq must be (B,) = (4,)'."""
    try:
        logq = torch.as_tensor(logq, dtype=like.dtype, device=like.device)
    except (TypeError, ValueError, RuntimeError):
        raise NegsampleError(f"{what}; got a {type(logq).__name__}") from None
    if tuple(logq.shape) not in shape:
        raise NegsampleError(f"{what}, got {tuple(logq.shape)}")
    if bool(torch.isfinite(logq).all()):
        return logq
    if bool(torch.isnan(logq).any()):
        raise NegsampleError("logq contains NaN")
    if bool((logq == _NEG_INF).any()):
        raise NegsampleError("logq contains -inf (a candidate of probability 0 cannot have been sampled; "
                             "drop it or give its true sampling probability)")
    if bool((logq == float("inf")).any()):
        raise NegsampleError("logq contains +inf (ln q must be <= 0 for a probability)")
    return logq


def _check_mask(mask, shape, what, device):
    try:
        mask = torch.as_tensor(mask, device=device)
    except (TypeError, ValueError, RuntimeError):
        raise NegsampleError(f"mask must be a boolean tensor {what}") from None
    if mask.dtype != torch.bool:
        if mask.dtype.is_floating_point or mask.dtype.is_complex:
            raise NegsampleError(f"mask must be boolean (True = excluded), got dtype {mask.dtype}")
        mask = mask != 0
    if tuple(mask.shape) != tuple(shape):
        raise NegsampleError(f"mask must be {what} = {tuple(shape)}, got {tuple(mask.shape)}")
    return mask


def _check_keys(name, keys, shape, device):
    keys = torch.as_tensor(keys, device=device)
    if keys.dtype.is_floating_point or keys.dtype.is_complex or keys.dtype == torch.bool:
        raise NegsampleError(f"{name} must be integers, got dtype {keys.dtype}")
    if tuple(keys.shape) != tuple(shape):
        raise NegsampleError(f"{name} must have shape {tuple(shape)}, got {tuple(keys.shape)}")
    return keys.long()


# --------------------------------------------------------------------------- row maths

def _debiased_log_ng(log_r, zp, n, inv_tau, tau_plus):
    """ln Ng = ln max((R - n tau+ e^{zp}) / (1 - tau+), n e^{-1/t}), all in log space.

    log_r, n broadcast against zp; n >= 1. Where R - n tau+ e^{zp} <= eps R the first term is taken as
    0 (its value there is rounding noise) and the clamp decides."""
    clamp = torch.log(n) - inv_tau
    if tau_plus == 0.0:
        first = log_r
    else:
        d = torch.log(n * tau_plus) + zp - log_r
        eps = torch.finfo(zp.dtype).eps
        valid = d < -eps
        d_safe = torch.where(valid, d, torch.full_like(d, -1.0))
        first = torch.where(valid, log_r + torch.log(-torch.expm1(d_safe)) - math.log1p(-tau_plus),
                            torch.full_like(d, _NEG_INF))
    return torch.maximum(first, clamp)


def _softplus(x):
    """ln(1 + e^x) without torch's linear cut-off above 20; softplus(-inf) = 0 with zero gradient."""
    return torch.clamp(x, min=0) + torch.log1p(torch.exp(-torch.abs(x)))


@dataclass
class _Cols:
    """Positive / negative columns of a chunk of rows: either pc (c,) the single positive column of
    each row with excl (c, N) bool or None (True = not a negative), or P / Nc (c, N) counts."""
    pc: torch.Tensor | None = None
    excl: torch.Tensor | None = None
    P: torch.Tensor | None = None
    Nc: torch.Tensor | None = None

    def _nc(self, dtype):
        Nc = (~self.excl).to(dtype)
        Nc[torch.arange(Nc.shape[0], device=Nc.device), self.pc] = 0.0
        return Nc


def _row_losses(z, cols, kind, inv_tau, tau_plus, beta):
    """Per-row loss sums and weights from logits z (c, N).

    kind: 'pairs' (InfoNCE / NT-Xent / debiased / hard, one term per positive pair, weight = number
    of pairs) or 'supcon' (weight 1 per anchor with a positive and at least two candidates)."""
    if cols.pc is not None:
        return _rows_single(z, cols.pc, cols.excl, inv_tau, tau_plus, beta)
    P, Nc = cols.P, cols.Nc
    if P.dtype == torch.bool:
        return _rows_sets(z, P, Nc, kind, inv_tau, tau_plus, beta)
    n = Nc.sum(1)
    has_neg = n > 0
    if kind == "supcon":
        PN = P + Nc
        npos = P.sum(1)
        valid = (npos > 0) & (PN.sum(1) > 1)
        logPN = torch.where(valid.unsqueeze(1), torch.log(PN), torch.zeros_like(PN))
        lse = torch.logsumexp(z + logPN, dim=1)
        mean_pos = (P * z).sum(1) / npos.clamp(min=1)
        return torch.where(valid, lse - mean_pos, torch.zeros_like(lse)), valid.to(z.dtype)
    logN = torch.where(has_neg.unsqueeze(1), torch.log(Nc), torch.zeros_like(Nc))
    log_r = _log_r(z + logN, n, beta)
    if tau_plus == 0.0 and beta == 0.0:
        log_ng = torch.where(has_neg, log_r, torch.full_like(log_r, _NEG_INF)).unsqueeze(1)
        terms = _softplus(log_ng - z)
    else:
        log_ng = _debiased_log_ng(log_r.unsqueeze(1), z, n.clamp(min=1).unsqueeze(1), inv_tau, tau_plus)
        terms = torch.where(has_neg.unsqueeze(1), _softplus(log_ng - z), torch.zeros_like(z))
    return (P * terms).sum(1), P.sum(1)


def _rows_sets(z, P, Nc, kind, inv_tau, tau_plus, beta):
    """The same with boolean P / Nc (sets: labels decide), in fewer passes over the chunk."""
    npos = P.sum(1).to(z.dtype)
    if kind == "supcon":
        PN = P | Nc
        valid = (npos > 0) & (PN.sum(1) > 1)
        lse = torch.logsumexp(z.masked_fill(~PN & valid.unsqueeze(1), _NEG_INF), dim=1)
        mean_pos = torch.where(P, z, 0.0).sum(1) / npos.clamp(min=1)
        return torch.where(valid, lse - mean_pos, torch.zeros_like(lse)), valid.to(z.dtype)
    n = Nc.sum(1).to(z.dtype)
    has_neg = n > 0
    log_r = _log_r(z.masked_fill(~Nc & has_neg.unsqueeze(1), _NEG_INF), n, beta)
    if tau_plus == 0.0 and beta == 0.0:
        terms = _softplus(torch.where(has_neg, log_r, torch.full_like(log_r, _NEG_INF)).unsqueeze(1) - z)
    else:
        log_ng = _debiased_log_ng(log_r.unsqueeze(1), z, n.clamp(min=1).unsqueeze(1), inv_tau, tau_plus)
        terms = torch.where(has_neg.unsqueeze(1), _softplus(log_ng - z), 0.0)
    return torch.where(P, terms, 0.0).sum(1), npos


def _log_r(zn, n, beta):
    """ln R: ln sum_j e^{z_j} (beta = 0) or ln(n sum_j w_j e^{z_j} / sum_j w_j), w_j = e^{beta z_j};
    zn (c, N) holds ln(count) + z (-inf for non-negatives), n (c,) the counts."""
    if beta == 0.0:
        return torch.logsumexp(zn, dim=1)
    return (torch.log(n.clamp(min=1)) + torch.logsumexp((1.0 + beta) * zn, dim=1)
            - torch.logsumexp(beta * zn, dim=1))


def _rows_single(z, pc, excl, inv_tau, tau_plus, beta):
    """Rows with one positive column each; excl (c, N) True = not a candidate (never the positive)."""
    c, N = z.shape
    zp = z.gather(1, pc.unsqueeze(1)).squeeze(1)
    ones = torch.ones(c, dtype=z.dtype, device=z.device)
    if tau_plus == 0.0 and beta == 0.0:  # InfoNCE: LSE over the positive and the negatives, minus z+
        zm = z if excl is None else z.masked_fill(excl, _NEG_INF)
        return torch.logsumexp(zm, dim=1) - zp, ones
    drop = torch.zeros(c, N, dtype=torch.bool, device=z.device) if excl is None else excl.clone()
    drop[torch.arange(c, device=z.device), pc] = True
    n = (N - drop.sum(1)).to(z.dtype)
    has_neg = n > 0
    zn = z.masked_fill(drop, _NEG_INF)
    if not bool(has_neg.all()):
        zn = torch.where(has_neg.unsqueeze(1), zn, torch.zeros_like(zn))
    log_r = _log_r(zn, n, beta)
    log_ng = _debiased_log_ng(log_r, zp, n.clamp(min=1), inv_tau, tau_plus)
    terms = torch.where(has_neg, _softplus(log_ng - zp), torch.zeros_like(zp))
    return terms, ones


def _row_stats(z, lq, tau, cols, w):
    """Detached per-row diagnostics (c, 10) of the negative weights q_j ∝ c_j e^{z_j}: negatives n,
    entropy, dH/dtau, active fraction, hardest negative score, mean positive score, effective margin
    tau LSE_j z_j, mean negative score, has a positive, loss weight w (positive pairs)."""
    with torch.no_grad():
        pc = cols.pc
        if pc is not None:
            P = None
            Nc = cols._nc(torch.float64) if cols.excl is not None else torch.ones_like(z, dtype=torch.float64)
            if cols.excl is None:
                Nc[torch.arange(Nc.shape[0], device=Nc.device), pc] = 0.0
        else:
            P, Nc = cols.P, cols.Nc.double()
        z = z.detach().double()
        n = Nc.sum(1)
        has = n > 0
        logN = torch.log(Nc)
        logN = torch.where(has.unsqueeze(1), logN, torch.zeros_like(logN))
        zn = z + logN
        lse = torch.logsumexp(zn, dim=1, keepdim=True)
        logq = zn - lse
        q = torch.where(Nc > 0, logq.exp(), torch.zeros_like(logq))
        ent = -(q * torch.where(Nc > 0, logq - logN, torch.zeros_like(logq))).sum(1)
        s = z if lq is None else z + lq.double()
        s = s * tau
        es, ez = (q * s).sum(1, keepdim=True), (q * z).sum(1, keepdim=True)
        slope = (q * (s - es) * (z - ez)).sum(1) / tau ** 2
        per_entry = torch.where(Nc > 0, q / Nc.clamp(min=1), torch.zeros_like(q))
        active = ((per_entry > 1.0 / (10.0 * n.clamp(min=1).unsqueeze(1))) * Nc).sum(1) / n.clamp(min=1)
        hardest = s.masked_fill(Nc <= 0, _NEG_INF).max(1).values
        if pc is not None:
            pos = s.gather(1, pc.unsqueeze(1)).squeeze(1)
            has_pos = torch.ones_like(pos)
        else:
            npos = P.double().sum(1)
            pos = (P.double() * s).sum(1) / npos.clamp(min=1)
            has_pos = (npos > 0).double()
        eff = tau * lse.squeeze(1)
        mean_neg = (Nc * s).sum(1) / n.clamp(min=1)
        out = torch.stack([n, ent, slope, active, hardest, pos, eff, mean_neg, has_pos, w.detach().double()], dim=1)
        zero_rows = ~has
        out[zero_rows, 1:5] = 0.0
        out[zero_rows, 6:8] = 0.0
        return out.float()


def _summarise(rowstats, loss_rows_sum, tau, plain_pairs, gather):
    """Reduce per-row stats (M, 10) to the diagnostics dict (global over workers when gathering)."""
    st = rowstats.double()
    n, has = st[:, 0], (st[:, 0] > 0).double()
    has_pos, w = st[:, 8], st[:, 9]
    sums = torch.stack([has.sum(), (has * torch.log(n.clamp(min=1))).sum(), (has * st[:, 1]).sum(),
                        (has * st[:, 2]).sum(), (has * st[:, 3]).sum(), (has * has_pos * (st[:, 5] - st[:, 4])).sum(),
                        (has_pos * st[:, 5]).sum(), (has * st[:, 6]).sum(), (has * st[:, 7]).sum(),
                        (has * has_pos).sum(), has_pos.sum(), (w * torch.log1p(n)).sum(), w.sum(),
                        loss_rows_sum.detach().double(), n.sum(), torch.tensor(float(len(n)), dtype=torch.float64)])
    if gather:
        sums = _dist.all_reduce_sum(sums)
    s = sums.tolist()
    rows, both = max(s[0], 1.0), max(s[9], 1.0)
    out = {"entropy": s[2] / rows, "max_entropy": s[1] / rows, "entropy_slope": s[3] / rows,
           "active_fraction": s[4] / rows, "pos_minus_hardest": s[5] / both,
           "mean_pos": s[6] / max(s[10], 1.0), "effective_margin": s[7] / rows, "mean_neg": s[8] / rows,
           "negatives_per_anchor": s[14] / max(s[15], 1.0), "temperature": _tau_float(tau)}
    if plain_pairs:  # I >= mean over positive pairs of ln(1 + unmasked negatives of the anchor) - L
        out["mi_bound"] = s[11] / max(s[12], 1.0) - s[13] / max(s[12], 1.0)
    return out


def _update_controller(controller, stats):
    controller.observe(stats["entropy"], stats["entropy_slope"], max_entropy=stats["max_entropy"])


# --------------------------------------------------------------------------- the chunked engine

@dataclass
class _Spec:
    """Which candidate columns are positives / negatives / excluded for each anchor row.

    pos_cols (M,): one positive column per row (instance discrimination); else pos_labels =
    (row labels (M,), column labels (N,), column has label (N,)): same label = positive; else pairs =
    (a1, p, a2, n): explicit positive and negative pairs. self_cols (M,): the anchor's own column
    (-1 = none). excl_keys: [(row keys (M,), column keys (N,), column has key (N,))], equal keys =
    excluded. mask (M, N): True = excluded. logq (N,) subtracted from z. Exclusions never remove
    the designated positive of pos_cols; with labels / pairs they remove the pair entirely."""
    n_cols: int
    pos_cols: torch.Tensor | None = None
    pos_labels: tuple | None = None
    pairs: tuple | None = None
    multiset: bool = False
    self_cols: torch.Tensor | None = None
    excl_keys: list = field(default_factory=list)
    mask: torch.Tensor | None = None
    logq: torch.Tensor | None = None

    def masks(self, s, e, dtype, device):
        c, N = e - s, self.n_cols
        r = torch.arange(c, device=device)
        if self.pos_cols is not None and self.self_cols is None and not self.excl_keys and self.mask is None:
            return _Cols(pc=self.pos_cols[s:e])
        excl = torch.zeros(c, N, dtype=torch.bool, device=device)
        if self.self_cols is not None:
            sc = self.self_cols[s:e]
            ok = sc >= 0
            excl[r[ok], sc[ok]] = True
        for rk, ck, chas in self.excl_keys:
            excl |= (rk[s:e].unsqueeze(1) == ck.unsqueeze(0)) & chas.unsqueeze(0)
        if self.mask is not None:
            excl |= self.mask[s:e]
        if self.pos_cols is not None:
            pc = self.pos_cols[s:e]
            excl[r, pc] = False
            return _Cols(pc=pc, excl=excl)
        if self.pairs is not None:
            a1, p, a2, n = self.pairs
            P = torch.zeros(c, N, dtype=dtype, device=device)
            Nc = torch.zeros(c, N, dtype=dtype, device=device)
            for rows, cols, out in ((a1, p, P), (a2, n, Nc)):
                lo, hi = torch.searchsorted(rows, torch.tensor([s, e], device=device)).tolist()
                if hi > lo:
                    out.index_put_((rows[lo:hi] - s, cols[lo:hi]), torch.ones(hi - lo, dtype=dtype, device=device),
                                   accumulate=self.multiset)
            keep = (~excl).to(dtype)
            return _Cols(P=P * keep, Nc=Nc * keep)
        rl, cl, chas = self.pos_labels
        same = (rl[s:e].unsqueeze(1) == cl.unsqueeze(0)) & chas.unsqueeze(0)
        keep = ~excl
        return _Cols(P=same & keep, Nc=~same & keep)


def _chunk_fn(a, cands, tau, start, spec, kind, tau_plus, beta, need_stats):
    z = (a @ cands.T) / tau
    if spec.logq is not None:
        z = z - spec.logq.unsqueeze(0)
    cols = spec.masks(start, start + a.shape[0], z.dtype, z.device)
    loss, w = _row_losses(z, cols, kind, 1.0 / tau, tau_plus, beta)
    if need_stats:
        st = _row_stats(z, spec.logq, _tau_float(tau), cols, w)
    else:
        st = z.new_zeros(0)
    return loss, w.detach(), st


class _ChunkedGrad(torch.autograd.Function):
    """Chunked loss with its gradient computed chunk by chunk during the forward.

    For each chunk of anchors the logits (c x N) are built with autograd, the chunk's summed loss
    is differentiated at once with respect to the chunk's anchors, the candidates and tau, and the
    graph is freed; the gradients are accumulated (M x d, N x d). The backward only scales them by
    the upstream gradient (the loss enters linearly). Memory: O((M + N) d + chunk x N); time: one
    forward and one backward per chunk — unlike activation checkpointing, nothing is recomputed.
    """

    @staticmethod
    def forward(ctx, anchors, cands, tau, run):
        total, wsum, stats, grads = run(anchors, cands, tau)
        ctx.grads = grads
        ctx.mark_non_differentiable(wsum, stats)
        return total, wsum, stats

    @staticmethod
    def backward(ctx, g_total, g_w, g_st):
        out = tuple(None if g is None else g * g_total for g in ctx.grads)
        ctx.grads = None
        return out + (None,)


def _run_chunks(anchors, cands, tau, *, spec, kind, chunk, tau_plus, beta, need_stats, eager):
    M = anchors.shape[0]
    tau_t = isinstance(tau, torch.Tensor)
    if eager:
        ga = torch.zeros_like(anchors) if anchors.requires_grad else None
        gc = torch.zeros_like(cands) if cands.requires_grad else None
        gt = torch.zeros_like(tau) if tau_t and tau.requires_grad else None
        c_ = cands.detach().requires_grad_(gc is not None)
        t_ = tau.detach().requires_grad_(gt is not None) if tau_t else tau
    total = anchors.new_zeros(())
    wsum = anchors.new_zeros(())
    stats = []
    for s in range(0, M, chunk):
        e = min(M, s + chunk)
        if eager:
            with torch.enable_grad():
                a_ = anchors[s:e].detach().requires_grad_(ga is not None)
                loss, w, st = _chunk_fn(a_, c_, t_, s, spec, kind, tau_plus, beta, need_stats)
                lsum = loss.sum()
                targets = [(x, acc) for x, acc in ((a_, ga), (c_, gc), (t_, gt)) if acc is not None]
                if targets:
                    grads = torch.autograd.grad(lsum, [x for x, _ in targets], allow_unused=True)
                    for (x, acc), g in zip(targets, grads):
                        if g is None:
                            continue
                        if x is a_:
                            acc[s:e] += g
                        else:
                            acc += g
            total = total + lsum.detach()
        else:
            loss, w, st = _chunk_fn(anchors[s:e], cands, tau, s, spec, kind, tau_plus, beta, need_stats)
            total = total + loss.sum()
        wsum = wsum + w.sum()
        if need_stats:
            stats.append(st)
    st = torch.cat(stats) if need_stats else anchors.new_zeros(0)
    if eager:
        return total, wsum.detach(), st, (ga, gc, gt)
    return total, wsum.detach(), st


def _engine(anchors, cands, tau, spec, kind, chunk, tau_plus=0.0, beta=0.0, need_stats=False):
    """(sum of row losses, sum of weights, per-row stats or None) over anchors (M, d) x cands (N, d).

    One chunk, or no gradient needed: plain evaluation. Several chunks with gradient:
    ``_ChunkedGrad`` (at most chunk x N logits alive at a time)."""
    M = anchors.shape[0]
    needs_grad = torch.is_grad_enabled() and (anchors.requires_grad or cands.requires_grad
                                              or (isinstance(tau, torch.Tensor) and tau.requires_grad))
    run = partial(_run_chunks, spec=spec, kind=kind, chunk=chunk, tau_plus=tau_plus, beta=beta,
                  need_stats=need_stats)
    if needs_grad and M > chunk:
        total, wsum, st = _ChunkedGrad.apply(anchors, cands, tau, partial(run, eager=True))
    else:
        total, wsum, st = run(anchors, cands, tau, eager=False)
    return total, wsum, (st if need_stats else None)


def _reduce(total, wsum, gather):
    """Local mean, or W * local sum / global count when gathering (see the module docstring)."""
    if gather and _dist.is_distributed():
        gw = _dist.all_reduce_sum(wsum.detach().reshape(1).double())[0]
        return total * (_dist.world_size() / float(gw.clamp(min=1)))
    return total / wsum.detach().clamp(min=1)


def _gather(x, gather, sizes=None):
    if gather:
        return _dist.all_gather_with_grad(x, sizes if _dist.is_distributed() else None)
    return x, 0, [x.shape[0]]


def _gather_keys(x, gather, sizes=None):
    return _dist.all_gather_no_grad(x, sizes) if gather else x


# --------------------------------------------------------------------------- SGNS

def sgns_loss(anchor, positive, negatives, return_stats=False):
    """-ln s(a.p) - sum_j ln s(-a.n_j), mean over the batch. negatives: (B, K, d)."""
    _check_pair(anchor, positive)
    _check_negatives(anchor, negatives)
    pos, neg = _scores(anchor, positive, negatives, normalize=False)
    loss = -(F.logsigmoid(pos) + F.logsigmoid(-neg).sum(-1)).mean()
    if return_stats:
        return loss, negative_stats(pos, neg, 1.0)
    return loss


def _scores(anchor, positive, negatives, normalize):
    """s+ (B,), s- (B, K) for explicit negatives."""
    if normalize:
        anchor, positive = F.normalize(anchor, dim=-1), F.normalize(positive, dim=-1)
        negatives = F.normalize(negatives, dim=-1)
    pos = (anchor * positive).sum(-1)
    neg = torch.einsum("bd,bkd->bk", anchor, negatives)
    return pos, neg


def negative_stats(pos, neg, tau, neg_mask=None):
    """Diagnostics from scores: pos (B,), neg (B, K); neg_mask True = a real negative."""
    with torch.no_grad():
        neg = neg.detach().float()
        if neg_mask is None:
            neg_mask = torch.ones_like(neg, dtype=torch.bool)
        k = neg_mask.sum(-1).clamp(min=1).float()
        z = (neg / tau).masked_fill(~neg_mask, float("-inf"))
        logp = torch.log_softmax(z, dim=-1)
        p = logp.exp()
        ent = -(p * torch.where(neg_mask, logp, torch.zeros_like(logp))).sum(-1)
        active = ((p > 1.0 / (10.0 * k.unsqueeze(-1))) & neg_mask).float().sum(-1) / k
        hardest = neg.masked_fill(~neg_mask, float("-inf")).max(-1).values
        return {"entropy": float(ent.mean()), "max_entropy": float(torch.log(k).mean()),
                "active_fraction": float(active.mean()),
                "pos_minus_hardest": float((pos.detach().float() - hardest).mean()),
                "mean_pos": float(pos.detach().float().mean()),
                "mean_neg": float(neg.masked_fill(~neg_mask, 0).sum() / neg_mask.sum().clamp(min=1))}


# --------------------------------------------------------------------------- explicit negatives

def _explicit(anchor, positive, negatives, tau, normalize, logq, mask, kind_params, need_stats):
    """Dense (B, 1 + K) path: candidates [positive, negatives] per anchor."""
    tau_plus, beta = kind_params
    pos, neg = _scores(anchor, positive, negatives, normalize)
    B, K = neg.shape
    z = torch.cat([pos.unsqueeze(1), neg], dim=1) / tau
    lq = None
    if logq is not None:
        lq = _check_logq(logq, {(B, 1 + K), (1 + K,)}, f"logq must be (B, 1+K) = ({B}, {1 + K}) or (1+K,)", z)
        lq = lq.expand(B, 1 + K)
        z = z - lq
    excl = None
    if mask is not None:
        mask = _check_mask(mask, (B, K), "(B, K)", z.device)
        excl = torch.cat([torch.zeros(B, 1, dtype=torch.bool, device=z.device), mask], dim=1)
    cols = _Cols(pc=torch.zeros(B, dtype=torch.long, device=z.device), excl=excl)
    loss, w = _row_losses(z, cols, "pairs", 1.0 / tau, tau_plus, beta)
    st = _row_stats(z, lq, _tau_float(tau), cols, w) if need_stats else None
    return loss.sum(), w.sum(), st


# --------------------------------------------------------------------------- InfoNCE

def _memory_parts(memory, anchor):
    if memory is None:
        return None
    if not isinstance(memory, MemoryQueue):
        raise NegsampleError(f"memory must be a MemoryQueue, got {type(memory).__name__}")
    if memory.dim != anchor.shape[1]:
        raise NegsampleError(f"memory holds {memory.dim}-dim entries but the embeddings are {anchor.shape[1]}-dim")
    if len(memory) == 0:
        return None
    return memory.embeddings.to(dtype=anchor.dtype, device=anchor.device), memory.labels, memory.ids


def _inbatch_spec(anchor, positive, negatives, labels, negative_labels, ids, logq, mask, memory, symmetric,
                  normalize, gather):
    """Build (anchors, candidates, spec) for the in-batch forms of info_nce / debiased / hard."""
    B, d = anchor.shape
    dev = anchor.device
    if normalize:
        anchor, positive = F.normalize(anchor, dim=-1), F.normalize(positive, dim=-1)
        if negatives is not None:
            negatives = F.normalize(negatives, dim=-1)
    mem = _memory_parts(memory, anchor)
    if labels is not None:
        labels = _check_keys("labels", labels, (B,), dev)
    if ids is not None:
        ids = _check_keys("ids", ids, (B,), dev)
    K = 0
    if negatives is not None:
        K = negatives.shape[1]
        if symmetric:
            raise NegsampleError("symmetric=True does not take in-batch hard negatives")
        if negative_labels is not None:
            negative_labels = _check_keys("negative_labels", negative_labels, (B, K), dev)
    elif negative_labels is not None:
        raise NegsampleError("negative_labels needs negatives")
    sizes = _dist.gather_sizes(B, dev) if (gather and _dist.is_distributed()) else [B]
    # candidate blocks, in column order: [rows (gathered)], [hard negatives (gathered)], [memory]
    if symmetric:
        local = torch.cat([anchor, positive], dim=0)
        cands, off, _ = _gather(local, gather, [2 * n for n in sizes])
        anchors = local
        r = torch.arange(2 * B, device=dev)
        pos_cols = off + (r + B) % (2 * B)
        self_cols = off + r
        row_lab = torch.cat([labels, labels]) if labels is not None else None
        row_ids = torch.cat([ids, ids]) if ids is not None else None
        block_sizes = [2 * n for n in sizes]
        col_lab = _gather_keys(row_lab, gather, block_sizes) if labels is not None else None
        col_ids = _gather_keys(row_ids, gather, block_sizes) if ids is not None else None
        n_rows_cols = cands.shape[0]
    else:
        cands, off, _ = _gather(positive, gather, sizes)
        anchors = anchor
        pos_cols = off + torch.arange(B, device=dev)
        self_cols = None
        row_lab, row_ids = labels, ids
        col_lab = _gather_keys(labels, gather, sizes) if labels is not None else None
        col_ids = _gather_keys(ids, gather, sizes) if ids is not None else None
        n_rows_cols = cands.shape[0]
        if negatives is not None:
            gneg, _, _ = _gather(negatives.reshape(B * K, d), gather, [K * n for n in sizes])
            cands = torch.cat([cands, gneg], dim=0)
            n_neg_cols = gneg.shape[0]
            if labels is not None:
                nl = (_gather_keys(negative_labels.reshape(-1), gather, [K * n for n in sizes])
                      if negative_labels is not None else torch.zeros(n_neg_cols, dtype=torch.long, device=dev))
                col_lab = torch.cat([col_lab, nl])
    has_lab = torch.ones(cands.shape[0], dtype=torch.bool, device=dev)
    if negatives is not None and negative_labels is None:
        has_lab[n_rows_cols:] = False
    has_ids = torch.ones(cands.shape[0], dtype=torch.bool, device=dev)
    has_ids[n_rows_cols:] = False  # ids describe the batch rows; hard negatives carry none
    if col_ids is not None:
        col_ids = torch.cat([col_ids, torch.zeros(cands.shape[0] - n_rows_cols, dtype=torch.long, device=dev)])
    if mem is not None:
        m_emb, m_lab, m_ids = mem
        M = m_emb.shape[0]
        cands = torch.cat([cands, F.normalize(m_emb, dim=-1) if normalize else m_emb], dim=0)
        if col_lab is not None:
            col_lab = torch.cat([col_lab, m_lab if m_lab is not None else torch.zeros(M, dtype=torch.long, device=dev)])
            has_lab = torch.cat([has_lab, torch.full((M,), m_lab is not None, dtype=torch.bool, device=dev)])
        if col_ids is not None:
            col_ids = torch.cat([col_ids, m_ids if m_ids is not None else torch.zeros(M, dtype=torch.long, device=dev)])
            has_ids = torch.cat([has_ids, torch.full((M,), m_ids is not None, dtype=torch.bool, device=dev)])
    N = cands.shape[0]
    spec = _Spec(n_cols=N, pos_cols=pos_cols, self_cols=self_cols)
    if row_lab is not None:
        spec.excl_keys.append((row_lab, col_lab, has_lab[:N]))
    if row_ids is not None:
        spec.excl_keys.append((row_ids, col_ids, has_ids[:N]))
    if mask is not None:
        spec.mask = _check_mask(mask, (anchors.shape[0], N), "(anchors, candidates)", dev)
    if logq is not None:
        if symmetric:
            raise NegsampleError("logq is not supported with symmetric=True")
        if mem is not None:
            raise NegsampleError("logq is not supported together with a memory queue")
        shapes = {(B,)} if negatives is None else {(B * (1 + K),)}
        what = (f"in-batch logq must be (B,) = ({B},)" if negatives is None else
                f"in-batch logq must be (B (1 + K),) = ({B * (1 + K)},) [positives, then negatives row-major]")
        lq = _check_logq(logq, shapes, what, anchor)
        glq = _gather_keys(lq[:B], gather, sizes)
        if negatives is not None:
            glq = torch.cat([glq, _gather_keys(lq[B:], gather, [K * n for n in sizes])])
        spec.logq = glq
    return anchors, cands, spec


def info_nce(anchor, positive, negatives=None, temperature=0.07, logq=None, mask=None, normalize=False,
             symmetric=False, chunk_size=1024, return_stats=False, *, in_batch=None, labels=None,
             negative_labels=None, ids=None, memory=None, controller=None, gather_across_workers=False):
    """InfoNCE with explicit negatives (B, K, d) or in-batch negatives (``negatives=None``).

    temperature: > 0, a scalar tensor (learnable), or 'auto' with ``controller`` (an
    ``EntropyController``; its tau is used and updated once per call from the negative weights'
    entropy). logq: ln q of each candidate, subtracted from z — explicit: (B, 1+K) or (1+K,)
    [positive, negatives]; in-batch: (B,) (column j = positive j), or (B (1+K),) with ``in_batch``
    hard negatives. mask: True = a false negative to exclude — explicit (B, K); in-batch
    (anchors, candidates) in column order [rows of every worker, hard negatives of every worker,
    memory]. ``in_batch=True`` with ``negatives``: every anchor's K hard negatives are candidates of
    every anchor, after the B in-batch positives (sentence-transformers' MultipleNegativesRankingLoss).
    labels (B,): item/class id of each positive; a candidate with the anchor's label other than its
    own positive is an accidental hit and is excluded (negative_labels (B, K) label the hard
    negatives, memory entries carry theirs). ids (B,): example ids, same exclusion against the
    memory queue's ids. memory: a ``MemoryQueue`` whose entries are extra negatives (no gradient).
    symmetric: in-batch NT-Xent (SimCLR): every one of the 2B rows of cat(anchor, positive) is an
    anchor, its pair is the positive and the other 2B - 2 rows are negatives.
    gather_across_workers: see the module docstring.
    """
    _check_pair(anchor, positive)
    tau, ctrl = _resolve_tau(temperature, controller)
    chunk = _check_chunk(chunk_size)
    if in_batch is None:
        in_batch = negatives is None
    need_stats = return_stats or ctrl is not None
    if not in_batch:
        if negatives is None:
            raise NegsampleError("in_batch=False needs negatives (B, K, d)")
        if gather_across_workers or memory is not None or symmetric:
            raise NegsampleError("gather_across_workers, memory and symmetric need in-batch negatives "
                                 "(negatives=None or in_batch=True)")
        if labels is not None or ids is not None or negative_labels is not None:
            raise NegsampleError("labels/ids apply to in-batch candidates; with explicit negatives pass mask=")
        _check_negatives(anchor, negatives)
        total, wsum, rowstats = _explicit(anchor, positive, negatives, tau, normalize, logq, mask, (0.0, 0.0),
                                          need_stats)
        gather = False
    else:
        if negatives is not None:
            _check_negatives(anchor, negatives)
        gather = bool(gather_across_workers)
        anchors, cands, spec = _inbatch_spec(anchor, positive, negatives, labels, negative_labels, ids, logq, mask,
                                             memory, symmetric, normalize, gather)
        total, wsum, rowstats = _engine(anchors, cands, tau, spec, "pairs", chunk, need_stats=need_stats)
    loss = _reduce(total, wsum, gather)
    if need_stats:
        st = _summarise(rowstats, total, tau, True, gather)
        if ctrl is not None:
            _update_controller(ctrl, st)
        if return_stats:
            return loss, st
    return loss


# --------------------------------------------------------------------------- debiased / hard

def debiased_info_nce(anchor, positive, negatives=None, temperature=0.5, tau_plus=0.1, normalize=True,
                      return_stats=False, **kwargs):
    """Debiased contrastive loss (Chuang et al. 2020); tau_plus = class prior of false negatives.
    Takes the keyword options of ``hard_info_nce``."""
    return hard_info_nce(anchor, positive, negatives, temperature, beta=0.0, tau_plus=tau_plus,
                         normalize=normalize, return_stats=return_stats, **kwargs)


def hard_info_nce(anchor, positive, negatives=None, temperature=0.5, beta=1.0, tau_plus=0.1, normalize=True,
                  return_stats=False, *, mask=None, labels=None, ids=None, memory=None, symmetric=False,
                  chunk_size=1024, gather_across_workers=False):
    """Hardness-weighted debiased loss (Robinson et al. 2021), evaluated in log space (stable at any
    temperature and norm); beta = 0 gives the debiased loss, beta = tau_plus = 0 plain InfoNCE (up to
    the lower clamp of Ng). negatives (B, K, d) explicit or None (in-batch, chunked; mask, labels,
    ids, memory, symmetric, gather_across_workers as in ``info_nce``). N counts unmasked negatives."""
    _check_pair(anchor, positive)
    _check_tau(temperature)
    tau = temperature
    tp, b = _check_debias(tau_plus, beta)
    chunk = _check_chunk(chunk_size)
    gather = False
    if negatives is not None:
        _check_negatives(anchor, negatives)
        if gather_across_workers or memory is not None or symmetric or labels is not None or ids is not None:
            raise NegsampleError("gather_across_workers, memory, symmetric, labels and ids need in-batch "
                                 "negatives (negatives=None)")
        total, wsum, rowstats = _explicit(anchor, positive, negatives, tau, normalize, None, mask, (tp, b),
                                          return_stats)
    else:
        if anchor.shape[0] < 2 and memory is None and not gather_across_workers:
            raise NegsampleError("in-batch negatives need a batch of at least 2")
        gather = bool(gather_across_workers)
        anchors, cands, spec = _inbatch_spec(anchor, positive, None, labels, None, ids, None, mask, memory,
                                             symmetric, normalize, gather)
        total, wsum, rowstats = _engine(anchors, cands, tau, spec, "pairs", chunk, tp, b, need_stats=return_stats)
    loss = _reduce(total, wsum, gather)
    if return_stats:
        st = _summarise(rowstats, total, tau, False, gather)
        return loss, st
    return loss


# --------------------------------------------------------------------------- metric-learning form

_METRIC_KINDS = {"ntxent": ("pairs", True), "supcon": ("supcon", False), "debiased": ("pairs", False),
                 "hard": ("pairs", False)}


def _check_indices_tuple(indices_tuple, n_rows, n_cols, dev):
    if not isinstance(indices_tuple, (tuple, list)) or len(indices_tuple) not in (3, 4):
        raise NegsampleError("indices_tuple must be (anchor, positive, negative) triplets or "
                             "(anchor1, positive, anchor2, negative) pairs of 1-D index tensors")
    t = []
    for x in indices_tuple:
        x = torch.as_tensor(x, device=dev)
        if x.dim() != 1 or x.dtype.is_floating_point or x.dtype == torch.bool:
            raise NegsampleError("indices_tuple entries must be 1-D integer tensors")
        t.append(x.long())
    if len(t) == 3:
        a, p, n = t
        if not (len(a) == len(p) == len(n)):
            raise NegsampleError("indices_tuple triplets (a, p, n) must have equal lengths")
        t = [a, p, a, n]
    a1, p, a2, n = t
    if len(a1) != len(p) or len(a2) != len(n):
        raise NegsampleError("indices_tuple pairs (a1, p) and (a2, n) must have equal lengths")
    for x, hi, what in ((a1, n_rows, "anchor"), (a2, n_rows, "anchor"), (p, n_cols, "positive"),
                        (n, n_cols, "negative")):
        if len(x) and (int(x.min()) < 0 or int(x.max()) >= hi):
            raise NegsampleError(f"indices_tuple {what} index out of range [0, {hi})")
    o1, o2 = torch.argsort(a1, stable=True), torch.argsort(a2, stable=True)
    return a1[o1], p[o1], a2[o2], n[o2]


def metric_loss(embeddings, labels=None, indices_tuple=None, ref_emb=None, ref_labels=None, *, loss="ntxent",
                temperature=None, tau_plus=0.1, beta=1.0, normalize=True, chunk_size=1024, ids=None, ref_ids=None,
                mask=None, memory=None, controller=None, gather_across_workers=False, return_stats=False):
    """Metric-learning form (pytorch-metric-learning's signature), chunked.

    embeddings (B, d), labels (B,). Candidates: ``ref_emb`` (M, d) with ``ref_labels`` if given, else
    the batch itself (each anchor's own row excluded), then the entries of ``memory`` (a
    ``MemoryQueue``). Positives: candidates with the anchor's label, or the (a1, p) pairs of
    ``indices_tuple``; negatives: candidates of other labels, or its (a2, n) pairs (triplets
    (a, p, n) count as (a, p, a, n)). Indices index the anchors (rows) and the candidate columns.
    ids (B,) / ref_ids / the memory's ids: a candidate with the anchor's id is the same example and
    is neither positive nor negative; mask (B, N): True = exclude the pair.

    loss: 'ntxent' (per positive pair against the anchor's negatives, mean over pairs; = PML's
    NTXentLoss, tau default 0.07), 'supcon' (mean over anchors with a positive; = PML's SupConLoss,
    tau default 0.1), 'debiased' / 'hard' (the debiased / hardness-weighted form of 'ntxent', tau
    default 0.5). normalize=True: cosine similarity (PML's default distance).
    """
    if loss not in _METRIC_KINDS:
        raise NegsampleError(f"loss must be one of {sorted(_METRIC_KINDS)}, got {loss!r}")
    kind, plain = _METRIC_KINDS[loss]
    if temperature is None:
        temperature = {"ntxent": 0.07, "supcon": 0.1}.get(loss, 0.5)
    tau, ctrl = _resolve_tau(temperature, controller)
    tp, b = (0.0, 0.0)
    if loss == "debiased":
        tp, b = _check_debias(tau_plus, 0.0)
    elif loss == "hard":
        tp, b = _check_debias(tau_plus, beta)
    chunk = _check_chunk(chunk_size)
    _check_float_tensor("embeddings", embeddings, 2)
    B, d = embeddings.shape
    if B == 0:
        raise NegsampleError("empty batch: embeddings has 0 rows")
    dev = embeddings.device
    if labels is None and indices_tuple is None:
        raise NegsampleError("labels or indices_tuple is required")
    if labels is not None:
        labels = _check_keys("labels", labels, (B,), dev)
    if ids is not None:
        ids = _check_keys("ids", ids, (B,), dev)
    if (ref_emb is None) != (ref_labels is None) and indices_tuple is None:
        raise NegsampleError("ref_emb and ref_labels go together")
    gather = bool(gather_across_workers)
    emb = F.normalize(embeddings, dim=-1) if normalize else embeddings
    sizes = _dist.gather_sizes(B, dev) if (gather and _dist.is_distributed()) else [B]
    if ref_emb is None:
        if ref_ids is not None:
            raise NegsampleError("ref_ids needs ref_emb")
        cands, off, _ = _gather(emb, gather, sizes)
        col_lab = _gather_keys(labels, gather, sizes) if labels is not None else None
        col_ids = _gather_keys(ids, gather, sizes) if ids is not None else None
        self_cols = off + torch.arange(B, device=dev)
    else:
        _check_float_tensor("ref_emb", ref_emb, 2)
        if ref_emb.shape[1] != d:
            raise NegsampleError(f"ref_emb must be (M, {d}), got {tuple(ref_emb.shape)}")
        Mr = ref_emb.shape[0]
        rsizes = _dist.gather_sizes(Mr, dev) if (gather and _dist.is_distributed()) else [Mr]
        cands, _, _ = _gather(F.normalize(ref_emb, dim=-1) if normalize else ref_emb, gather, rsizes)
        col_lab = (_gather_keys(_check_keys("ref_labels", ref_labels, (Mr,), dev), gather, rsizes)
                   if ref_labels is not None else None)
        col_ids = (_gather_keys(_check_keys("ref_ids", ref_ids, (Mr,), dev), gather, rsizes)
                   if ref_ids is not None else None)
        self_cols = None
    n_main = cands.shape[0]
    has_lab = torch.ones(n_main, dtype=torch.bool, device=dev)
    has_ids = torch.ones(n_main, dtype=torch.bool, device=dev)
    if col_ids is None:
        has_ids[:] = False
        col_ids = torch.zeros(n_main, dtype=torch.long, device=dev)
    if labels is not None and col_lab is None and indices_tuple is None:
        raise NegsampleError("ref_labels is required with labels and ref_emb")
    mem = _memory_parts(memory, embeddings)
    if mem is not None:
        m_emb, m_lab, m_ids = mem
        Mm = m_emb.shape[0]
        cands = torch.cat([cands, F.normalize(m_emb, dim=-1) if normalize else m_emb], dim=0)
        if col_lab is not None:
            if m_lab is None and indices_tuple is None:
                raise NegsampleError("the memory queue holds no labels; enqueue labels with the embeddings")
            col_lab = torch.cat([col_lab, m_lab if m_lab is not None else torch.zeros(Mm, dtype=torch.long, device=dev)])
            has_lab = torch.cat([has_lab, torch.full((Mm,), m_lab is not None, dtype=torch.bool, device=dev)])
        col_ids = torch.cat([col_ids, m_ids if m_ids is not None else torch.zeros(Mm, dtype=torch.long, device=dev)])
        has_ids = torch.cat([has_ids, torch.full((Mm,), m_ids is not None, dtype=torch.bool, device=dev)])
    N = cands.shape[0]
    spec = _Spec(n_cols=N, self_cols=self_cols)
    if indices_tuple is not None:
        spec.pairs = _check_indices_tuple(indices_tuple, B, N, dev)
        spec.multiset = kind == "pairs"  # PML's NTXent counts repeated pairs; SupCon's masks are sets
        spec.self_cols = None
    else:
        spec.pos_labels = (labels, col_lab, has_lab)
    if ids is not None:
        spec.excl_keys.append((ids, col_ids, has_ids))
    if mask is not None:
        spec.mask = _check_mask(mask, (B, N), "(B, candidates)", dev)
    need_stats = return_stats or ctrl is not None
    total, wsum, rowstats = _engine(emb, cands, tau, spec, kind, chunk, tp, b, need_stats=need_stats)
    out = _reduce(total, wsum, gather)
    if need_stats:
        st = _summarise(rowstats, total, tau, plain, gather)
        if ctrl is not None:
            _update_controller(ctrl, st)
        if return_stats:
            return out, st
    return out


def ntxent_loss(embeddings, labels=None, indices_tuple=None, ref_emb=None, ref_labels=None, temperature=0.07,
                **kwargs):
    """pytorch-metric-learning's NTXentLoss (cosine, several positives per class), chunked."""
    return metric_loss(embeddings, labels, indices_tuple, ref_emb, ref_labels, loss="ntxent",
                       temperature=temperature, **kwargs)


def supcon_loss(embeddings, labels=None, indices_tuple=None, ref_emb=None, ref_labels=None, temperature=0.1,
                **kwargs):
    """pytorch-metric-learning's SupConLoss (Khosla et al. 2020, cosine), chunked."""
    return metric_loss(embeddings, labels, indices_tuple, ref_emb, ref_labels, loss="supcon",
                       temperature=temperature, **kwargs)


# --------------------------------------------------------------------------- triplets

def _dist_fn(a, b, distance):
    if distance == "euclidean":
        return (a - b).pow(2).sum(-1).clamp(min=1e-12).sqrt()
    if distance == "cosine":
        return 1.0 - F.cosine_similarity(a, b, dim=-1)
    raise NegsampleError(f"distance must be 'euclidean' or 'cosine', got {distance!r}")


def triplet_margin(anchor, positive, negative, margin=1.0, distance="euclidean", return_stats=False):
    """mean max(0, d(a,p) - d(a,n) + margin); negative: (B, d) or (B, K, d) (all K triplets)."""
    _check_pair(anchor, positive)
    if not math.isfinite(float(margin)) or margin < 0:
        raise NegsampleError(f"margin must be >= 0, got {margin!r}")
    if not isinstance(negative, torch.Tensor):
        raise NegsampleError("negative must be a torch tensor (B, d) or (B, K, d)")
    dp = _dist_fn(anchor, positive, distance)
    if negative.dim() == 2:
        if negative.shape != anchor.shape:
            raise NegsampleError(f"negative must be (B, d) or (B, K, d), got {tuple(negative.shape)}")
        if not bool(torch.isfinite(negative).all()):
            raise NegsampleError("negative contains NaN or infinite values")
        dn = _dist_fn(anchor, negative, distance).unsqueeze(1)
    else:
        _check_negatives(anchor, negative)
        dn = _dist_fn(anchor.unsqueeze(1), negative, distance)
    losses = F.relu(dp.unsqueeze(1) - dn + margin)
    loss = losses.mean()
    if return_stats:
        return loss, {"active_fraction": float((losses > 0).float().mean()),
                      "pos_minus_hardest": float((dn.min(1).values - dp).mean())}
    return loss


def semi_hard_triplet(anchor, positive, negatives, margin=0.2, distance="euclidean", return_stats=False):
    """Per anchor pick the semi-hard negative (d(a,p) < d(a,n) < d(a,p) + margin, the closest such);
    without one, the farthest negative (FaceNet / TF-Addons convention). negatives: (B, K, d)."""
    _check_pair(anchor, positive)
    _check_negatives(anchor, negatives)
    if not math.isfinite(float(margin)) or margin < 0:
        raise NegsampleError(f"margin must be >= 0, got {margin!r}")
    dp = _dist_fn(anchor, positive, distance)
    dn = _dist_fn(anchor.unsqueeze(1), negatives, distance)
    semi = (dn > dp.unsqueeze(1)) & (dn < dp.unsqueeze(1) + margin)
    big = torch.finfo(dn.dtype).max
    closest_semi = torch.where(semi, dn, torch.full_like(dn, big)).min(1)
    farthest = dn.max(1)
    has = semi.any(1)
    chosen = torch.where(has, closest_semi.values, farthest.values)
    loss = F.relu(dp - chosen + margin).mean()
    if return_stats:
        return loss, {"semi_hard_fraction": float(has.float().mean())}
    return loss


# --------------------------------------------------------------------------- memory queue

class MemoryQueue(nn.Module):
    """A FIFO of detached embeddings (cross-batch memory, MoCo's queue) with their labels and ids.

    ``enqueue(embeddings (n, d), labels=None, ids=None)`` appends (the oldest entries are dropped
    when more than ``size`` are held); ``dequeue(n)`` removes and returns the n oldest;
    ``embeddings`` / ``labels`` / ``ids`` give the content oldest first. Pass the queue as
    ``memory=`` to the losses: its entries become extra candidates (no gradient); an entry with the
    anchor's label (in the pair form: an accidental hit; in the metric form: a positive) or id (the
    same example: excluded) is treated accordingly. ``exclusion_mask(labels, ids)`` (B, len) is
    True where an entry shares the label or the id.
    """

    def __init__(self, size, dim, dtype=torch.float32):
        super().__init__()
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise NegsampleError(f"size must be an integer >= 1, got {size!r}")
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise NegsampleError(f"dim must be an integer >= 1, got {dim!r}")
        self.size, self.dim = size, dim
        self.register_buffer("_emb", torch.zeros(size, dim, dtype=dtype))
        self.register_buffer("_labels", torch.zeros(size, dtype=torch.long))
        self.register_buffer("_ids", torch.zeros(size, dtype=torch.long))
        self.start, self.count = 0, 0
        self.has_labels, self.has_ids = None, None

    def __len__(self):
        return self.count

    def reset(self):
        self.start, self.count = 0, 0
        self.has_labels, self.has_ids = None, None

    def _order(self):
        return (self.start + torch.arange(self.count, device=self._emb.device)) % self.size

    @property
    def embeddings(self):
        return self._emb[self._order()]

    @property
    def labels(self):
        return self._labels[self._order()] if self.has_labels else None

    @property
    def ids(self):
        return self._ids[self._order()] if self.has_ids else None

    def enqueue(self, embeddings, labels=None, ids=None):
        """Append detached rows; when full, the oldest entries are overwritten."""
        _check_float_tensor("embeddings", embeddings, 2)
        n = embeddings.shape[0]
        if embeddings.shape[1] != self.dim:
            raise NegsampleError(f"embeddings must be (n, {self.dim}), got {tuple(embeddings.shape)}")
        for name, val, flag in (("labels", labels, self.has_labels), ("ids", ids, self.has_ids)):
            if flag is not None and flag != (val is not None):
                raise NegsampleError(f"this queue {'holds' if flag else 'holds no'} {name}; "
                                     f"{'pass' if flag else 'do not pass'} {name}= on every enqueue")
        dev = self._emb.device
        if labels is not None:
            labels = _check_keys("labels", labels, (n,), dev)
        if ids is not None:
            ids = _check_keys("ids", ids, (n,), dev)
        self.has_labels, self.has_ids = labels is not None, ids is not None
        if n == 0:
            return self
        if n > self.size:
            embeddings = embeddings[-self.size:]
            labels = labels[-self.size:] if labels is not None else None
            ids = ids[-self.size:] if ids is not None else None
            n = self.size
        pos = (self.start + self.count + torch.arange(n, device=dev)) % self.size
        with torch.no_grad():
            self._emb[pos] = embeddings.detach().to(self._emb.dtype)
            if labels is not None:
                self._labels[pos] = labels
            if ids is not None:
                self._ids[pos] = ids
        overflow = max(0, self.count + n - self.size)
        self.start = (self.start + overflow) % self.size
        self.count = min(self.size, self.count + n)
        return self

    def dequeue(self, n=None):
        """Remove the n oldest entries (all by default); returns (embeddings, labels, ids)."""
        n = self.count if n is None else n
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= self.count:
            raise NegsampleError(f"can dequeue 0..{self.count} entries, got {n!r}")
        idx = self._order()[:n]
        out = (self._emb[idx].clone(), self._labels[idx].clone() if self.has_labels else None,
               self._ids[idx].clone() if self.has_ids else None)
        self.start = (self.start + n) % self.size
        self.count -= n
        return out

    def exclusion_mask(self, labels=None, ids=None):
        """(B, len) True where an entry has the row's label or id."""
        B = None
        out = None
        for name, keys, mine in (("labels", labels, self.labels), ("ids", ids, self.ids)):
            if keys is None:
                continue
            keys = torch.as_tensor(keys, device=self._emb.device)
            B = keys.shape[0]
            keys = _check_keys(name, keys, (B,), self._emb.device)
            if mine is None:
                raise NegsampleError(f"the queue holds no {name}")
            m = keys.unsqueeze(1) == mine.unsqueeze(0)
            out = m if out is None else out | m
        if out is None:
            raise NegsampleError("exclusion_mask needs labels or ids")
        return out


# --------------------------------------------------------------------------- modules

class SGNSLoss(nn.Module):
    """nn.Module form of ``sgns_loss``: forward(anchor (B,d), positive (B,d), negatives (B,K,d))."""

    def forward(self, anchor, positive, negatives):
        return sgns_loss(anchor, positive, negatives)


def _is_metric_call(args, kwargs):
    """True for the (embeddings, labels, ...) form: the second argument is 1-D or absent."""
    if any(k in kwargs for k in ("indices_tuple", "ref_emb", "ref_labels", "labels")) and len(args) < 2:
        return True
    second = args[1] if len(args) > 1 else kwargs.get("positive")
    return second is None or (isinstance(second, torch.Tensor) and second.dim() == 1)


_METRIC_NAMES = ("embeddings", "labels", "indices_tuple", "ref_emb", "ref_labels")
_PAIR_NAMES = ("anchor", "positive", "negatives", "logq", "mask")


def _metric_args(args, kwargs, names=_METRIC_NAMES):
    if len(args) > len(names):
        raise NegsampleError(f"this form takes at most the positional arguments ({', '.join(names)})")
    call = dict(zip(names, args))
    for k, v in kwargs.items():
        if k in call:
            raise NegsampleError(f"{k} given twice")
        call[k] = v
    return call


class _ContrastiveModule(nn.Module):
    """Shared plumbing: temperature (fixed, learnable or 'auto'), memory queue, diagnostics."""

    default_tau = 0.07

    def __init__(self, temperature, normalize, chunk_size, learn_temperature, target_entropy, controller_kwargs,
                 memory, gather_across_workers, return_stats):
        super().__init__()
        self.normalize, self.chunk_size = normalize, _check_chunk(chunk_size)
        self.gather_across_workers, self.return_stats = gather_across_workers, return_stats
        if memory is not None and not isinstance(memory, MemoryQueue):
            raise NegsampleError(f"memory must be a MemoryQueue, got {type(memory).__name__}")
        self.memory = memory
        self.stats = None
        self.controller = None
        if isinstance(temperature, str):
            if temperature != "auto":
                raise NegsampleError(f"temperature must be a number > 0 or 'auto', got {temperature!r}")
            if target_entropy is None:
                raise NegsampleError("temperature='auto' needs target_entropy= (nats)")
            if learn_temperature:
                raise NegsampleError("temperature='auto' and learn_temperature=True are exclusive")
            self.controller = EntropyController(target_entropy, **(controller_kwargs or {}))
            self.register_buffer("log_temperature", torch.tensor(math.log(self.controller.tau)))
        else:
            t = _check_tau(temperature)
            log_t = torch.tensor(math.log(t))
            if learn_temperature:
                self.log_temperature = nn.Parameter(log_t)
            else:
                self.register_buffer("log_temperature", log_t)

    @property
    def temperature(self):
        if self.controller is not None:
            return self.controller.tau
        return self.log_temperature.exp()

    def _tau_kwargs(self):
        if self.controller is None:
            return {"temperature": self.temperature}
        update = self.training and torch.is_grad_enabled()
        if update:
            return {"temperature": "auto", "controller": self.controller}
        return {"temperature": self.controller.tau}

    def _finish(self, out, enqueue):
        loss, st = out if isinstance(out, tuple) else (out, None)
        self.stats = st
        if self.controller is not None:
            self.log_temperature.fill_(math.log(self.controller.tau))
        if self.memory is not None and self.training and enqueue is not None:
            emb, lab, ids = enqueue
            if self.gather_across_workers and _dist.is_distributed():
                sizes = _dist.gather_sizes(emb.shape[0], emb.device)
                emb = _dist.all_gather_no_grad(emb.detach(), sizes)
                lab = _dist.all_gather_no_grad(lab, sizes) if lab is not None else None
                ids = _dist.all_gather_no_grad(ids, sizes) if ids is not None else None
            self.memory.enqueue(emb.detach(), lab, ids)
        return (loss, st) if self.return_stats else loss

    def _need_stats(self):
        return self.return_stats or self.controller is not None


class InfoNCELoss(_ContrastiveModule):
    """nn.Module form of ``info_nce`` and of the metric-learning NT-Xent.

    forward(anchor (B, d), positive (B, d), negatives=None, logq=None, mask=None, **info_nce options)
    or forward(embeddings (B, d), labels (B,), indices_tuple=None, ref_emb=None, ref_labels=None,
    **metric_loss options) (NT-Xent, pytorch-metric-learning's signature). temperature: a number,
    ``learn_temperature=True`` (tau a parameter, log-parametrised), or 'auto' with
    ``target_entropy`` (an ``EntropyController`` in ``self.controller``, updated once per training
    forward; ``controller_kwargs`` go to it). memory: a ``MemoryQueue`` used as extra negatives and
    filled (detached) after each training forward. return_stats=True: forward returns (loss, stats);
    the last stats are also kept in ``self.stats``.
    """

    def __init__(self, temperature=0.07, normalize=False, symmetric=False, chunk_size=1024,
                 learn_temperature=False, target_entropy=None, controller_kwargs=None, memory=None,
                 gather_across_workers=False, return_stats=False):
        super().__init__(temperature, normalize, chunk_size, learn_temperature, target_entropy, controller_kwargs,
                         memory, gather_across_workers, return_stats)
        self.symmetric = symmetric

    def forward(self, *args, **kwargs):
        common = dict(chunk_size=self.chunk_size, memory=self.memory, gather_across_workers=self.gather_across_workers,
                      return_stats=self._need_stats(), **self._tau_kwargs())
        if _is_metric_call(args, kwargs):
            call = _metric_args(args, kwargs)
            call.setdefault("normalize", self.normalize)
            out = metric_loss(loss="ntxent", **call, **common)
            enq = (call["embeddings"], call.get("labels"), call.get("ids"))
        else:
            call = _metric_args(args, kwargs, _PAIR_NAMES)
            call.setdefault("normalize", self.normalize)
            call.setdefault("symmetric", self.symmetric)
            out = info_nce(**call, **common)
            enq = (call["positive"], call.get("labels"), call.get("ids"))
        return self._finish(out, enq)


class NTXentLoss(InfoNCELoss):
    """pytorch-metric-learning's NTXentLoss (normalize=True: cosine) in our chunked form; takes both
    call forms of ``InfoNCELoss``."""

    def __init__(self, temperature=0.07, normalize=True, **kwargs):
        super().__init__(temperature=temperature, normalize=normalize, **kwargs)


class SupConLoss(_ContrastiveModule):
    """Supervised contrastive loss (Khosla et al. 2020), pytorch-metric-learning's SupConLoss
    signature: forward(embeddings, labels, indices_tuple=None, ref_emb=None, ref_labels=None, **opts);
    options as ``InfoNCELoss``."""

    def __init__(self, temperature=0.1, normalize=True, chunk_size=1024, learn_temperature=False,
                 target_entropy=None, controller_kwargs=None, memory=None, gather_across_workers=False,
                 return_stats=False):
        super().__init__(temperature, normalize, chunk_size, learn_temperature, target_entropy, controller_kwargs,
                         memory, gather_across_workers, return_stats)

    def forward(self, *args, **kwargs):
        call = _metric_args(args, kwargs)
        call.setdefault("normalize", self.normalize)
        out = metric_loss(loss="supcon", chunk_size=self.chunk_size, memory=self.memory,
                          gather_across_workers=self.gather_across_workers, return_stats=self._need_stats(),
                          **self._tau_kwargs(), **call)
        return self._finish(out, (call["embeddings"], call.get("labels"), call.get("ids")))


class HardInfoNCELoss(nn.Module):
    """nn.Module form of ``hard_info_nce`` (pair form) and of its metric-learning form
    (``metric_loss(loss='hard')``), dispatched on the second argument as in ``InfoNCELoss``."""

    _metric_kind = "hard"

    def __init__(self, temperature=0.5, beta=1.0, tau_plus=0.1, normalize=True, chunk_size=1024,
                 gather_across_workers=False, return_stats=False):
        super().__init__()
        _check_tau(temperature)
        _check_debias(tau_plus, beta)
        self.temperature, self.beta, self.tau_plus, self.normalize = temperature, beta, tau_plus, normalize
        self.chunk_size, self.gather_across_workers = _check_chunk(chunk_size), gather_across_workers
        self.return_stats = return_stats
        self.stats = None

    def forward(self, *args, **kwargs):
        common = dict(temperature=self.temperature, tau_plus=self.tau_plus, chunk_size=self.chunk_size,
                      gather_across_workers=self.gather_across_workers, return_stats=self.return_stats)
        if _is_metric_call(args, kwargs):
            call = _metric_args(args, kwargs)
            call.setdefault("normalize", self.normalize)
            out = metric_loss(loss=self._metric_kind, beta=self.beta, **call, **common)
        else:
            call = _metric_args(args, kwargs, _PAIR_NAMES[:3])
            call.setdefault("normalize", self.normalize)
            out = hard_info_nce(beta=self.beta if self._metric_kind == "hard" else 0.0, **call, **common)
        if self.return_stats:
            self.stats = out[1]
        return out


class DebiasedInfoNCELoss(HardInfoNCELoss):
    """nn.Module form of ``debiased_info_nce`` (beta = 0) and of ``metric_loss(loss='debiased')``."""

    _metric_kind = "debiased"

    def __init__(self, temperature=0.5, tau_plus=0.1, normalize=True, **kwargs):
        super().__init__(temperature=temperature, beta=0.0, tau_plus=tau_plus, normalize=normalize, **kwargs)


class TripletMarginLoss(nn.Module):
    def __init__(self, margin=1.0, distance="euclidean"):
        super().__init__()
        self.margin, self.distance = margin, distance

    def forward(self, anchor, positive, negative):
        return triplet_margin(anchor, positive, negative, self.margin, self.distance)


class SemiHardTripletLoss(nn.Module):
    def __init__(self, margin=0.2, distance="euclidean"):
        super().__init__()
        self.margin, self.distance = margin, distance

    def forward(self, anchor, positive, negatives):
        return semi_hard_triplet(anchor, positive, negatives, self.margin, self.distance)
