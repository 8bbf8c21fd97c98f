"""A sentence-transformers loss built on negsample's chunked InfoNCE.

``InfoNCERankingLoss(model, scale=20.0)`` is a drop-in for sentence-transformers'
``MultipleNegativesRankingLoss``: ``forward(sentence_features, labels) -> loss`` with input
columns (anchor, positive[, negative_1, ..., negative_K]). Each anchor's candidates are every
positive of the batch and every row's hard negatives (B (1 + K) columns), logits = scale x
cos(anchor, candidate) (``similarity='dot'``: dot products), loss = mean cross-entropy with the
anchor's own positive as target — the same value as MultipleNegativesRankingLoss (tested to 1e-5).

What it adds: the logits are computed in chunks of ``chunk_size`` anchors (memory
O(chunk x B (1 + K)) instead of O(B x B (1 + K))); ``mask_duplicates=True`` drops a
candidate whose text (token ids) equals the anchor's positive (a duplicate in the batch is a false
negative, not a negative); ``gather_across_workers=True`` lets each worker's anchors see every
worker's candidates (``negsample.distributed``); ``return_stats`` keeps the last diagnostics in
``loss.stats``. The ``labels`` argument is ignored, as in MultipleNegativesRankingLoss.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn

from ._common import NegsampleError
from .losses import info_nce

__all__ = ["InfoNCERankingLoss", "text_keys"]


def text_keys(features) -> torch.Tensor:
    """One int64 key per row of a tokenised column (equal keys = equal token sequences)."""
    ids = features.get("input_ids") if isinstance(features, Mapping) else None
    if not isinstance(ids, torch.Tensor) or ids.dim() != 2:
        raise NegsampleError("mask_duplicates needs tokenised columns with 'input_ids' (B, T); "
                             "use mask_duplicates=False for this model")
    mask = features.get("attention_mask")
    rows = ids.detach().cpu().tolist()
    lens = mask.detach().cpu().sum(1).tolist() if isinstance(mask, torch.Tensor) else [len(r) for r in rows]
    keys = []
    for r, n in zip(rows, lens):
        h = hash(tuple(r[:int(n)]))  # ints and tuples of ints hash the same in every process
        keys.append(h & 0x7FFFFFFFFFFFFFFF)
    return torch.tensor(keys, dtype=torch.long, device=ids.device)


class InfoNCERankingLoss(nn.Module):
    """MultipleNegativesRankingLoss on negsample's chunked InfoNCE (see the module docstring).

    model: a SentenceTransformer; scale: inverse temperature (or give ``temperature``);
    similarity: 'cosine' or 'dot'; mask_duplicates: exclude candidates whose text equals the
    anchor's positive; chunk_size: anchors per chunk; gather_across_workers: all workers'
    candidates for every anchor.
    """

    def __init__(self, model, scale=20.0, temperature=None, similarity="cosine", mask_duplicates=True,
                 chunk_size=1024, gather_across_workers=False, return_stats=False):
        super().__init__()
        if temperature is not None:
            scale = 1.0 / float(temperature) if float(temperature) > 0 else float("nan")
        if not math.isfinite(float(scale)) or float(scale) <= 0:
            raise NegsampleError(f"scale (1 / temperature) must be > 0, got {scale!r}")
        if similarity not in ("cosine", "dot"):
            raise NegsampleError(f"similarity must be 'cosine' or 'dot', got {similarity!r}")
        self.model, self.scale, self.similarity = model, float(scale), similarity
        self.mask_duplicates, self.chunk_size = bool(mask_duplicates), chunk_size
        self.gather_across_workers, self.return_stats = gather_across_workers, return_stats
        self.stats = None

    @property
    def temperature(self):
        return 1.0 / self.scale

    def forward(self, sentence_features, labels=None):
        features = list(sentence_features)
        if len(features) < 2:
            raise NegsampleError(f"need at least (anchor, positive) columns, got {len(features)}")
        embeddings = [self.model(f)["sentence_embedding"] for f in features]
        return self.compute_loss_from_embeddings(embeddings, features if self.mask_duplicates else None)

    def compute_loss_from_embeddings(self, embeddings, features=None):
        """embeddings: [anchor (B, d), positive (B, d), negative_1 (B, d), ...]; features (same
        columns, tokenised) enable the duplicate mask."""
        anchor, positive = embeddings[0], embeddings[1]
        negatives = torch.stack(embeddings[2:], dim=1) if len(embeddings) > 2 else None
        labels = negative_labels = None
        if features is not None:
            labels = text_keys(features[1])
            if negatives is not None:
                negative_labels = torch.stack([text_keys(f) for f in features[2:]], dim=1)
        out = info_nce(anchor, positive, negatives, temperature=1.0 / self.scale, normalize=self.similarity == "cosine",
                       in_batch=True, labels=labels, negative_labels=negative_labels, chunk_size=self.chunk_size,
                       gather_across_workers=self.gather_across_workers, return_stats=self.return_stats)
        if self.return_stats:
            out, self.stats = out
        return out

    def get_config_dict(self):
        return {"scale": self.scale, "similarity": self.similarity, "mask_duplicates": self.mask_duplicates,
                "chunk_size": self.chunk_size, "gather_across_workers": self.gather_across_workers}

    @property
    def citation(self):
        return ("@misc{oord2018infonce, title={Representation Learning with Contrastive Predictive Coding}, "
                "author={van den Oord, Aaron and Li, Yazhe and Vinyals, Oriol}, year={2018}, eprint={1807.03748}}")
