"""Contrastive losses with negatives, in PyTorch (optional extra: ``pip install negsample[torch]``).

Shapes: anchor (B, d), positive (B, d), negatives (B, K, d) or None for in-batch negatives (the
other rows' positives; logits (B, B), diagonal = positives). Scores are dot products, or cosine
similarities with ``normalize=True``. Every function returns a scalar (mean over anchors) and,
with ``return_stats=True``, ``(loss, stats)`` where stats holds the mean entropy of the negative
weights softmax(s_j / tau), the fraction of negatives with weight > 1/(10 K), the mean gap between
the positive and the hardest negative score, and (InfoNCE) the MI bound ln N - L.

- SGNS:       L = -ln s(a.p) - sum_j ln s(-a.n_j)
- InfoNCE:    L = -ln e^{s+/tau} / (e^{s+/tau} + sum_j e^{s_j/tau}); optional logQ correction
              (logits/tau - ln q(candidate), Yi et al. 2019) and a mask of false negatives;
              in-batch logits are computed in chunks of anchors, each chunk recomputed in the
              backward pass (activation checkpointing), so memory is O(chunk x B), not O(B^2).
- debiased (Chuang et al. 2020): Ng = max((sum_j e^{s_j/t} - N tau+ e^{s+/t}) / (1 - tau+), N e^{-1/t}),
              L = -ln e^{s+/t} / (e^{s+/t} + Ng), N = number of negatives.
- hard (Robinson et al. 2021): as debiased with sum_j e^{s_j/t} replaced by
              N sum_j w_j e^{s_j/t} / sum_j w_j, w_j = e^{beta s_j/t}.
- triplet:    L = max(0, d(a,p) - d(a,n) + margin); the semi-hard variant picks, per anchor, the
              closest negative with d(a,p) < d(a,n) < d(a,p) + margin (else the farthest one).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ._common import NegsampleError

__all__ = ["sgns_loss", "info_nce", "debiased_info_nce", "hard_info_nce", "triplet_margin",
           "semi_hard_triplet", "SGNSLoss", "InfoNCELoss", "DebiasedInfoNCELoss", "HardInfoNCELoss",
           "TripletMarginLoss", "SemiHardTripletLoss", "negative_stats"]


# --------------------------------------------------------------------------- validation

def _check_pair(anchor, positive):
    if not isinstance(anchor, torch.Tensor) or not isinstance(positive, torch.Tensor):
        raise NegsampleError("anchor and positive must be torch tensors")
    if anchor.dim() != 2:
        raise NegsampleError(f"anchor must be (B, d), got shape {tuple(anchor.shape)}")
    if positive.shape != anchor.shape:
        raise NegsampleError(f"positive must have the anchor's shape {tuple(anchor.shape)}, got {tuple(positive.shape)}")
    if anchor.shape[0] == 0:
        raise NegsampleError("empty batch: anchor has 0 rows")
    if not torch.isfinite(anchor).all() or not torch.isfinite(positive).all():
        raise NegsampleError("anchor/positive contain NaN or infinite values")


def _check_negatives(anchor, negatives):
    if negatives.dim() != 3 or negatives.shape[0] != anchor.shape[0] or negatives.shape[2] != anchor.shape[1]:
        raise NegsampleError(f"negatives must be (B, K, d) = ({anchor.shape[0]}, K, {anchor.shape[1]}), "
                             f"got {tuple(negatives.shape)}")
    if negatives.shape[1] == 0:
        raise NegsampleError("negatives has K = 0 negatives per anchor")
    if not torch.isfinite(negatives).all():
        raise NegsampleError("negatives contain NaN or infinite values")


def _check_tau(temperature):
    t = float(temperature) if not isinstance(temperature, torch.Tensor) else float(temperature.detach().min())
    if not math.isfinite(t) or t <= 0:
        raise NegsampleError(f"temperature must be > 0, got {temperature!r}")


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


# --------------------------------------------------------------------------- InfoNCE

def _inbatch_chunk_loss(a, p_all, rows, tau, logq, mask, symmetric_z):
    """Summed InfoNCE loss of the anchors a (rows of the batch) against all candidates."""
    logits = a @ p_all.T / tau
    if logq is not None:
        logits = logits - logq.unsqueeze(0)
    n = logits.shape[1]
    if symmetric_z:  # NT-Xent: candidates are all 2B rows except the anchor itself
        self_mask = torch.zeros_like(logits, dtype=torch.bool)
        self_mask[torch.arange(len(rows)), rows] = True
        logits = logits.masked_fill(self_mask, float("-inf"))
        half = n // 2
        target = (rows + half) % n
    else:
        target = rows
    if mask is not None:
        drop = mask.clone()
        drop[torch.arange(len(rows)), target] = False  # never mask the positive
        logits = logits.masked_fill(drop, float("-inf"))
    return F.cross_entropy(logits, target, reduction="sum")


def info_nce(anchor, positive, negatives=None, temperature=0.07, logq=None, mask=None, normalize=False,
             symmetric=False, chunk_size=1024, return_stats=False):
    """InfoNCE with explicit negatives (B, K, d) or in-batch negatives (``negatives=None``).

    logq: ln q of each candidate, subtracted from logits / tau — (B,) for in-batch candidates
    (column j = positive j), or (B, 1 + K) / (1 + K,) for explicit candidates [positive, negs].
    mask: True marks a false negative to exclude — (B, K) explicit, (B, B) in-batch.
    symmetric: in-batch NT-Xent (SimCLR): every one of the 2B rows of cat(anchor, positive) is an
    anchor, its pair is the positive and the other 2B - 2 rows are negatives (matches
    pytorch-metric-learning's NTXentLoss with normalize=True).
    """
    _check_pair(anchor, positive)
    _check_tau(temperature)
    tau = temperature
    B = anchor.shape[0]
    if negatives is not None:
        _check_negatives(anchor, negatives)
        pos, neg = _scores(anchor, positive, negatives, normalize)
        logits = torch.cat([pos.unsqueeze(1), neg], dim=1) / tau
        if logq is not None:
            logq = torch.as_tensor(logq, dtype=logits.dtype, device=logits.device)
            if logq.shape not in (logits.shape, logits.shape[1:]):
                raise NegsampleError(f"logq must be (B, 1+K) = {tuple(logits.shape)} or (1+K,), got {tuple(logq.shape)}")
            logits = logits - logq
        neg_mask = None
        if mask is not None:
            mask = torch.as_tensor(mask, dtype=torch.bool, device=logits.device)
            if mask.shape != neg.shape:
                raise NegsampleError(f"mask must be (B, K) = {tuple(neg.shape)}, got {tuple(mask.shape)}")
            logits = torch.cat([logits[:, :1], logits[:, 1:].masked_fill(mask, float("-inf"))], dim=1)
            neg_mask = ~mask
        loss = F.cross_entropy(logits, torch.zeros(B, dtype=torch.long, device=logits.device))
        if return_stats:
            st = negative_stats(pos, neg, float(tau), neg_mask)
            st["mi_bound"] = math.log(1 + neg.shape[1]) - float(loss)
            return loss, st
        return loss

    # in-batch
    if normalize:
        anchor, positive = F.normalize(anchor, dim=-1), F.normalize(positive, dim=-1)
    if symmetric:
        if logq is not None:
            raise NegsampleError("logq is not supported with symmetric=True")
        z = torch.cat([anchor, positive], dim=0)
        anchors, cands = z, z
        n_rows = 2 * B
    else:
        anchors, cands = anchor, positive
        n_rows = B
    if logq is not None:
        logq = torch.as_tensor(logq, dtype=anchor.dtype, device=anchor.device)
        if logq.shape != (B,):
            raise NegsampleError(f"in-batch logq must be (B,) = ({B},), got {tuple(logq.shape)}")
    if mask is not None:
        mask = torch.as_tensor(mask, dtype=torch.bool, device=anchor.device)
        if mask.shape != (n_rows, n_rows):
            raise NegsampleError(f"in-batch mask must be ({n_rows}, {n_rows}), got {tuple(mask.shape)}")
    chunk = max(1, int(chunk_size))
    total = anchor.new_zeros(())
    needs_grad = torch.is_grad_enabled() and (anchor.requires_grad or positive.requires_grad)
    for s in range(0, n_rows, chunk):
        rows = torch.arange(s, min(s + chunk, n_rows), device=anchor.device)
        m = mask[s:s + chunk] if mask is not None else None
        if needs_grad and n_rows > chunk:
            part = checkpoint(_inbatch_chunk_loss, anchors[s:s + chunk], cands, rows, tau, logq, m, symmetric,
                              use_reentrant=False)
        else:
            part = _inbatch_chunk_loss(anchors[s:s + chunk], cands, rows, tau, logq, m, symmetric)
        total = total + part
    loss = total / n_rows
    if return_stats:
        with torch.no_grad():
            sim = anchor @ positive.T
            pos = sim.diagonal()
            off = ~torch.eye(B, dtype=torch.bool, device=sim.device)
            neg = sim[off].view(B, B - 1) if B > 1 else sim.new_zeros(B, 1)
            st = negative_stats(pos, neg, float(tau))
            st["mi_bound"] = math.log(n_rows if not symmetric else 2 * B - 1) - float(loss)
        return loss, st
    return loss


def _debiased_core(pos, neg, tau, tau_plus, beta):
    """pos (B,), neg (B, N) raw scores -> per-anchor loss (B,)."""
    N = neg.shape[1]
    pos_e = torch.exp(pos / tau)
    neg_e = torch.exp(neg / tau)
    if beta:
        imp = torch.exp(beta * neg / tau)
        reweighted = N * (imp * neg_e).sum(-1) / imp.sum(-1)
    else:
        reweighted = neg_e.sum(-1)
    ng = (reweighted - N * tau_plus * pos_e) / (1.0 - tau_plus)
    ng = torch.clamp(ng, min=N * math.exp(-1.0 / tau))
    return -torch.log(pos_e / (pos_e + ng))


def _neg_scores(anchor, positive, negatives, normalize):
    if negatives is not None:
        _check_negatives(anchor, negatives)
        return _scores(anchor, positive, negatives, normalize)
    if normalize:
        anchor, positive = F.normalize(anchor, dim=-1), F.normalize(positive, dim=-1)
    B = anchor.shape[0]
    if B < 2:
        raise NegsampleError("in-batch negatives need a batch of at least 2")
    sim = anchor @ positive.T
    off = ~torch.eye(B, dtype=torch.bool, device=sim.device)
    return sim.diagonal(), sim[off].view(B, B - 1)


def debiased_info_nce(anchor, positive, negatives=None, temperature=0.5, tau_plus=0.1, normalize=True,
                      return_stats=False):
    """Debiased contrastive loss (Chuang et al. 2020); tau_plus = class prior of false negatives."""
    return hard_info_nce(anchor, positive, negatives, temperature, beta=0.0, tau_plus=tau_plus,
                         normalize=normalize, return_stats=return_stats)


def hard_info_nce(anchor, positive, negatives=None, temperature=0.5, beta=1.0, tau_plus=0.1, normalize=True,
                  return_stats=False):
    """Hardness-weighted debiased loss (Robinson et al. 2021); beta = 0 gives the debiased loss,
    beta = tau_plus = 0 plain InfoNCE (up to the lower clamp of Ng)."""
    _check_pair(anchor, positive)
    _check_tau(temperature)
    if not 0.0 <= float(tau_plus) < 1.0:
        raise NegsampleError(f"tau_plus must be in [0, 1), got {tau_plus!r}")
    if not math.isfinite(float(beta)) or beta < 0:
        raise NegsampleError(f"beta must be >= 0, got {beta!r}")
    pos, neg = _neg_scores(anchor, positive, negatives, normalize)
    loss = _debiased_core(pos, neg, temperature, float(tau_plus), float(beta)).mean()
    if return_stats:
        return loss, negative_stats(pos, neg, float(temperature) / (1.0 + float(beta)))
    return loss


# --------------------------------------------------------------------------- triplets

def _dist(a, b, distance):
    if distance == "euclidean":
        return (a - b).pow(2).sum(-1).clamp(min=1e-12).sqrt()
    if distance == "cosine":
        return 1.0 - F.cosine_similarity(a, b, dim=-1)
    raise NegsampleError(f"distance must be 'euclidean' or 'cosine', got {distance!r}")


def triplet_margin(anchor, positive, negative, margin=1.0, distance="euclidean", return_stats=False):
    """mean max(0, d(a,p) - d(a,n) + margin); negative: (B, d) or (B, K, d) (all K triplets)."""
    _check_pair(anchor, positive)
    if margin < 0:
        raise NegsampleError(f"margin must be >= 0, got {margin!r}")
    dp = _dist(anchor, positive, distance)
    if negative.dim() == 2:
        if negative.shape != anchor.shape:
            raise NegsampleError(f"negative must be (B, d) or (B, K, d), got {tuple(negative.shape)}")
        dn = _dist(anchor, negative, distance).unsqueeze(1)
    else:
        _check_negatives(anchor, negative)
        dn = _dist(anchor.unsqueeze(1), negative, distance)
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
    dp = _dist(anchor, positive, distance)
    dn = _dist(anchor.unsqueeze(1), negatives, distance)
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


# --------------------------------------------------------------------------- modules

class SGNSLoss(nn.Module):
    """nn.Module form of ``sgns_loss``: forward(anchor (B,d), positive (B,d), negatives (B,K,d))."""

    def forward(self, anchor, positive, negatives):
        return sgns_loss(anchor, positive, negatives)


class InfoNCELoss(nn.Module):
    """nn.Module form of ``info_nce``; ``learn_temperature=True`` makes tau a parameter (log-param)."""

    def __init__(self, temperature=0.07, normalize=False, symmetric=False, chunk_size=1024,
                 learn_temperature=False):
        super().__init__()
        _check_tau(temperature)
        self.normalize, self.symmetric, self.chunk_size = normalize, symmetric, chunk_size
        log_t = torch.tensor(math.log(temperature))
        if learn_temperature:
            self.log_temperature = nn.Parameter(log_t)
        else:
            self.register_buffer("log_temperature", log_t)

    @property
    def temperature(self):
        return self.log_temperature.exp()

    def forward(self, anchor, positive, negatives=None, logq=None, mask=None):
        return info_nce(anchor, positive, negatives, self.temperature, logq=logq, mask=mask,
                        normalize=self.normalize, symmetric=self.symmetric, chunk_size=self.chunk_size)


class DebiasedInfoNCELoss(nn.Module):
    def __init__(self, temperature=0.5, tau_plus=0.1, normalize=True):
        super().__init__()
        self.temperature, self.tau_plus, self.normalize = temperature, tau_plus, normalize

    def forward(self, anchor, positive, negatives=None):
        return debiased_info_nce(anchor, positive, negatives, self.temperature, self.tau_plus, self.normalize)


class HardInfoNCELoss(nn.Module):
    def __init__(self, temperature=0.5, beta=1.0, tau_plus=0.1, normalize=True):
        super().__init__()
        self.temperature, self.beta, self.tau_plus, self.normalize = temperature, beta, tau_plus, normalize

    def forward(self, anchor, positive, negatives=None):
        return hard_info_nce(anchor, positive, negatives, self.temperature, self.beta, self.tau_plus,
                             self.normalize)


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
