"""Batch miners in pytorch-metric-learning's form: ``miner(embeddings, labels, ref_emb=None,
ref_labels=None)`` returns an indices tuple that the losses take directly (``metric_loss``,
``NTXentLoss``, ``SupConLoss`` here, and PML's own losses): (a, p, n) triplets or (a1, p, a2, n)
pairs, indexing the rows of ``embeddings`` (a) and of ``ref_emb`` (p, n; the batch itself when
ref_emb is None, each row's own index excluded).

Similarity s: ``distance='cosine'`` (default; PML's CosineSimilarity), ``'dot'``, or
``'euclidean'`` with s = -||a - b|| (on unit vectors with ``normalize=True``: PML's default
LpDistance), so margins are in distance units there. Bands (DESIGN.md, in
similarity terms, r = the reference positive score): hard s_an >= r; semi-hard r - margin < s_an < r;
easy s_an <= r - margin; all = every negative.

- ``TripletMiner(margin, type)``: PML's TripletMarginMiner ('all' = triplets with
  s_ap - s_an <= margin, 'hard' / 'semihard' subsets of it, 'easy' the rest); r = s_ap per triplet.
- ``PairMiner(band, margin)``: every positive pair; the negatives of each anchor in the band,
  r = the anchor's hardest (lowest-scoring) positive.
- ``BatchHardMiner()``: per anchor the hardest positive and the hardest negative (PML's BatchHardMiner).

False-negative filters, applied before the band (each counted in ``miner.stats``): ``ids`` (B,) /
``ref_ids``: a candidate with the anchor's id is the same example (neither positive nor negative);
``mask`` (B, N) True = never pair; ``max_negative_similarity``: negatives scoring at least this are
near-duplicates and dropped; ``max_negative_ratio``: negatives with s_an > ratio * r (r as above)
are dropped (NV-Retriever's "percentage of the positive"). Work is done in chunks of anchors, so
the similarity matrix is never materialised whole (triplets: chunk x N x N bounded by
``max_elements``).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._common import NegsampleError

__all__ = ["BaseMiner", "TripletMiner", "PairMiner", "BatchHardMiner"]

_BANDS = ("all", "hard", "semihard", "easy")


def _keys(name, x, n, device):
    x = torch.as_tensor(x, device=device)
    if x.dtype.is_floating_point or x.dtype.is_complex or x.dtype == torch.bool:
        raise NegsampleError(f"{name} must be integers, got dtype {x.dtype}")
    if tuple(x.shape) != (n,):
        raise NegsampleError(f"{name} must have shape ({n},), got {tuple(x.shape)}")
    return x.long()


def _emb(name, x):
    if not isinstance(x, torch.Tensor) or not torch.is_floating_point(x) or x.dim() != 2:
        raise NegsampleError(f"{name} must be a floating-point tensor (n, d)")
    if x.shape[0] == 0:
        raise NegsampleError(f"{name} has 0 rows")
    if not bool(torch.isfinite(x).all()):
        raise NegsampleError(f"{name} contains NaN or infinite values")
    return x


class BaseMiner(nn.Module):
    """Shared input handling, chunking and false-negative filters; subclasses implement ``_mine``."""

    def __init__(self, distance="cosine", normalize=True, chunk_size=1024, max_negative_similarity=None,
                 max_negative_ratio=None, max_elements=1 << 22):
        super().__init__()
        if distance not in ("cosine", "dot", "euclidean"):
            raise NegsampleError(f"distance must be 'cosine', 'dot' or 'euclidean', got {distance!r}")
        if distance == "euclidean" and max_negative_ratio is not None:
            raise NegsampleError("max_negative_ratio needs a similarity (distance='cosine' or 'dot')")
        self.distance = distance
        if distance == "cosine":
            normalize = True
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise NegsampleError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
        for name, v in (("max_negative_similarity", max_negative_similarity), ("max_negative_ratio", max_negative_ratio)):
            if v is not None and not math.isfinite(float(v)):
                raise NegsampleError(f"{name} must be a finite number, got {v!r}")
        self.normalize, self.chunk_size = normalize, chunk_size
        self.max_negative_similarity, self.max_negative_ratio = max_negative_similarity, max_negative_ratio
        self.max_elements = int(max_elements)
        self.stats: dict = {}

    def forward(self, embeddings, labels, ref_emb=None, ref_labels=None, *, ids=None, ref_ids=None, mask=None):
        with torch.no_grad():
            emb = _emb("embeddings", embeddings).detach()
            B, dev = emb.shape[0], emb.device
            labels = _keys("labels", labels, B, dev)
            if ids is not None:
                ids = _keys("ids", ids, B, dev)
            if (ref_emb is None) != (ref_labels is None):
                raise NegsampleError("ref_emb and ref_labels go together")
            if ref_emb is None:
                if ref_ids is not None:
                    raise NegsampleError("ref_ids needs ref_emb")
                ref, ref_labels, ref_ids, same_batch = emb, labels, ids, True
            else:
                ref = _emb("ref_emb", ref_emb).detach()
                if ref.shape[1] != emb.shape[1]:
                    raise NegsampleError(f"ref_emb must be (M, {emb.shape[1]}), got {tuple(ref.shape)}")
                ref_labels = _keys("ref_labels", ref_labels, ref.shape[0], dev)
                ref_ids = _keys("ref_ids", ref_ids, ref.shape[0], dev) if ref_ids is not None else None
                same_batch = False
            N = ref.shape[0]
            if mask is not None:
                mask = torch.as_tensor(mask, device=dev)
                if mask.dtype != torch.bool or tuple(mask.shape) != (B, N):
                    raise NegsampleError(f"mask must be a boolean tensor (B, N) = ({B}, {N}), True = exclude")
            if self.normalize:
                emb, ref = F.normalize(emb, dim=-1), F.normalize(ref, dim=-1)
            self.stats = {"positive_pairs": 0, "negative_pairs": 0, "triplets": 0, "excluded_same_id": 0,
                          "excluded_mask": 0, "excluded_similarity": 0, "excluded_ratio": 0}
            parts = []
            for s in range(0, B, self.chunk_size):
                e = min(B, s + self.chunk_size)
                sim = -torch.cdist(emb[s:e], ref) if self.distance == "euclidean" else emb[s:e] @ ref.T
                same = labels[s:e].unsqueeze(1) == ref_labels.unsqueeze(0)
                keep = torch.ones_like(same)
                if same_batch:
                    keep[torch.arange(e - s, device=dev), torch.arange(s, e, device=dev)] = False
                if ids is not None and ref_ids is not None:
                    dup = (ids[s:e].unsqueeze(1) == ref_ids.unsqueeze(0)) & keep
                    self.stats["excluded_same_id"] += int((dup & ~same).sum())
                    keep &= ~dup
                if mask is not None:
                    m = mask[s:e] & keep
                    self.stats["excluded_mask"] += int((m & ~same).sum())
                    keep &= ~m
                pos = same & keep
                neg = ~same & keep
                if self.max_negative_similarity is not None:
                    hi = neg & (sim >= float(self.max_negative_similarity))
                    self.stats["excluded_similarity"] += int(hi.sum())
                    neg &= ~hi
                parts.append(self._mine(sim, pos, neg, s))
            out = tuple(torch.cat([p[i] for p in parts]) for i in range(len(parts[0])))
        if len(out) == 3:
            self.stats["triplets"] = len(out[0])
        else:
            self.stats["positive_pairs"], self.stats["negative_pairs"] = len(out[0]), len(out[2])
        return out

    def _ratio_drop(self, s_an, r):
        """Negatives with s_an > ratio * r (False where no ratio is set)."""
        if self.max_negative_ratio is None:
            return torch.zeros_like(s_an, dtype=torch.bool)
        return s_an > float(self.max_negative_ratio) * r

    def _mine(self, sim, pos, neg, start):
        raise NotImplementedError


class TripletMiner(BaseMiner):
    """(a, p, n) with PML's TripletMarginMiner semantics; type 'all' | 'hard' | 'semihard' | 'easy'."""

    def __init__(self, margin=0.2, type="all", **kwargs):  # noqa: A002 (PML's vocabulary)
        super().__init__(**kwargs)
        if type not in _BANDS:
            raise NegsampleError(f"type must be one of {_BANDS}, got {type!r}")
        if not math.isfinite(float(margin)):
            raise NegsampleError(f"margin must be finite, got {margin!r}")
        self.margin, self.type = float(margin), type

    def _mine(self, sim, pos, neg, start):
        c, N = sim.shape
        step = max(1, self.max_elements // max(1, N * N))
        out = [[], [], []]
        for s in range(0, c, step):
            sl = slice(s, min(c, s + step))
            sp, sn = sim[sl].unsqueeze(2), sim[sl].unsqueeze(1)          # (c', N, 1), (c', 1, N)
            valid = pos[sl].unsqueeze(2) & neg[sl].unsqueeze(1)
            if self.max_negative_ratio is not None:
                drop = valid & self._ratio_drop(sn, sp)
                self.stats["excluded_ratio"] += int(drop.sum())
                valid &= ~drop
            m = sp - sn                                                    # s_ap - s_an
            if self.type == "easy":
                valid &= m > self.margin
            else:
                valid &= m <= self.margin
                if self.type == "hard":
                    valid &= m <= 0
                elif self.type == "semihard":
                    valid &= m > 0
            a, p, n = torch.nonzero(valid, as_tuple=True)
            out[0].append(a + s + start)
            out[1].append(p)
            out[2].append(n)
        return tuple(torch.cat(o) for o in out)


class PairMiner(BaseMiner):
    """(a1, p, a2, n): all positive pairs; per anchor the negatives in ``band`` relative to its
    hardest positive r (anchors without a positive keep their negatives only for band 'all')."""

    def __init__(self, band="semihard", margin=0.2, **kwargs):
        super().__init__(**kwargs)
        if band not in _BANDS:
            raise NegsampleError(f"band must be one of {_BANDS}, got {band!r}")
        if not math.isfinite(float(margin)) or margin < 0:
            raise NegsampleError(f"margin must be >= 0, got {margin!r}")
        self.band, self.margin = band, float(margin)

    def _mine(self, sim, pos, neg, start):
        has_pos = pos.any(1, keepdim=True)
        r = torch.where(pos, sim, torch.full_like(sim, float("inf"))).min(1, keepdim=True).values
        r = torch.where(has_pos, r, torch.zeros_like(r))
        sel = neg.clone()
        if self.max_negative_ratio is not None:
            drop = sel & has_pos & self._ratio_drop(sim, r)
            self.stats["excluded_ratio"] += int(drop.sum())
            sel &= ~drop
        if self.band != "all":
            sel &= has_pos
            if self.band == "hard":
                sel &= sim >= r
            elif self.band == "semihard":
                sel &= (sim > r - self.margin) & (sim < r)
            else:
                sel &= sim <= r - self.margin
        a1, p = torch.nonzero(pos, as_tuple=True)
        a2, n = torch.nonzero(sel, as_tuple=True)
        return a1 + start, p, a2 + start, n


class BatchHardMiner(BaseMiner):
    """(a, p, n): per anchor with both, its lowest-scoring positive and highest-scoring negative."""

    def _mine(self, sim, pos, neg, start):
        hp = torch.where(pos, sim, torch.full_like(sim, float("inf"))).min(1)
        s_neg = torch.where(neg, sim, torch.full_like(sim, float("-inf")))
        if self.max_negative_ratio is not None:
            drop = neg & self._ratio_drop(sim, hp.values.unsqueeze(1))
            self.stats["excluded_ratio"] += int(drop.sum())
            s_neg = s_neg.masked_fill(drop, float("-inf"))
        hn = s_neg.max(1)
        ok = pos.any(1) & torch.isfinite(hn.values)
        a = torch.nonzero(ok, as_tuple=True)[0]
        return a + start, hp.indices[a], hn.indices[a]
