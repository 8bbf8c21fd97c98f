"""Temperature diagnostics for softmax-over-negatives losses (InfoNCE and friends).

With negative scores s_j (j = 1..K) and temperature tau:
- weights     p_j = softmax(s_j / tau)                                   ``negative_weights``
- entropy     H(tau) = -sum_j p_j ln p_j  (0 .. ln K, rises with tau)    ``negative_entropy``
- slope       dH/dtau = Var_p(s) / tau^3                                 ``entropy_slope``
- margin      among K easy negatives of score beta, InfoNCE acts like a margin
              m_eff = beta + tau ln K (a positive at that score has loss ln 2)  ``effective_margin``
- MI bound    I(X; Z) >= ln N - L_InfoNCE, N = 1 + K                   ``mutual_information_bound``
- ``EntropyController`` adapts tau each step to hold H near a target with a damped Newton step
  tau <- tau + (H* - H) / (dH/dtau), clipped to [tau_min, tau_max] and to a max relative change.

Functions accept numpy arrays or torch tensors of shape (..., K) and reduce over the last axis.
"""
from __future__ import annotations

import math

import numpy as np

from ._common import NegsampleError

__all__ = ["negative_weights", "negative_entropy", "entropy_slope", "effective_margin",
           "mutual_information_bound", "EntropyController"]


def _is_torch(x):
    return type(x).__module__.startswith("torch")


def _check_tau(tau):
    if _is_torch(tau):
        if not bool((tau > 0).all()):
            raise NegsampleError("temperature tau must be > 0")
        return tau
    t = np.asarray(tau, dtype=np.float64)
    if not np.all(np.isfinite(t)) or np.any(t <= 0):
        raise NegsampleError(f"temperature tau must be finite and > 0, got {tau!r}")
    return tau


def negative_weights(scores, tau):
    """p_j = softmax(s_j / tau) over the last axis. scores: (..., K)."""
    _check_tau(tau)
    if _is_torch(scores):
        import torch

        return torch.softmax(scores / tau, dim=-1)
    z = np.asarray(scores, dtype=np.float64) / tau
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def negative_entropy(scores, tau):
    """H = -sum_j p_j ln p_j of the weights above, shape (...)."""
    _check_tau(tau)
    if _is_torch(scores):
        import torch

        logp = torch.log_softmax(scores / tau, dim=-1)
        return -(logp.exp() * logp).sum(-1)
    z = np.asarray(scores, dtype=np.float64) / tau
    z = z - z.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return -(np.exp(logp) * logp).sum(axis=-1)


def entropy_slope(scores, tau):
    """dH/dtau = Var_p(s) / tau^3, shape (...)."""
    p = negative_weights(scores, tau)
    if _is_torch(scores):
        mean = (p * scores).sum(-1, keepdim=True)
        return (p * (scores - mean) ** 2).sum(-1) / tau ** 3
    s = np.asarray(scores, dtype=np.float64)
    mean = (p * s).sum(axis=-1, keepdims=True)
    return (p * (s - mean) ** 2).sum(axis=-1) / np.asarray(tau, dtype=np.float64) ** 3


def effective_margin(beta, tau, k):
    """m_eff = beta + tau ln k: the score a positive needs, against k easy negatives of score beta,
    for its InfoNCE loss to be ln 2 (positive weight 1/2)."""
    _check_tau(tau)
    if np.any(np.asarray(k) < 1):
        raise NegsampleError(f"k must be >= 1, got {k!r}")
    return beta + tau * np.log(k)


def mutual_information_bound(loss, n):
    """I(X; Z) >= ln n - loss for an InfoNCE loss over n = 1 + K candidates."""
    if np.any(np.asarray(n) < 2):
        raise NegsampleError(f"n (candidates per anchor, 1 + K) must be >= 2, got {n!r}")
    return np.log(n) - loss


class EntropyController:
    """Hold the entropy of negative weights near ``target_entropy`` by adapting tau.

    ``step(scores)`` takes the current negative scores (..., K) (any batch shape; entropies are
    averaged), updates and returns tau. The update is a damped Newton step on H(tau) - H*,
    using dH/dtau = Var_p(s)/tau^3, limited to a relative change of ``max_rel_change`` per step
    and clipped to [tau_min, tau_max].
    """

    def __init__(self, target_entropy, tau_init=0.1, tau_min=1e-3, tau_max=10.0, damping=0.5,
                 max_rel_change=0.5):
        if not (0 < tau_min < tau_max) or not (tau_min <= tau_init <= tau_max):
            raise NegsampleError(f"need 0 < tau_min <= tau_init <= tau_max, got {tau_min}, {tau_init}, {tau_max}")
        if not math.isfinite(target_entropy) or target_entropy < 0:
            raise NegsampleError(f"target_entropy must be finite and >= 0, got {target_entropy!r}")
        if not 0 < damping <= 1:
            raise NegsampleError(f"damping must be in (0, 1], got {damping!r}")
        self.target = float(target_entropy)
        self.tau = float(tau_init)
        self.tau_min, self.tau_max = float(tau_min), float(tau_max)
        self.damping = float(damping)
        self.max_rel_change = float(max_rel_change)
        self.history: list[tuple[float, float]] = []

    def step(self, scores):
        s = scores.detach().cpu().double().numpy() if _is_torch(scores) else np.asarray(scores, dtype=np.float64)
        if s.shape[-1] < 2:
            raise NegsampleError("the entropy controller needs at least 2 negatives per anchor")
        if s.shape[-1] > 0 and self.target > math.log(s.shape[-1]):
            raise NegsampleError(f"target entropy {self.target:.3f} exceeds ln K = {math.log(s.shape[-1]):.3f}")
        h = float(np.mean(negative_entropy(s, self.tau)))
        slope = float(np.mean(entropy_slope(s, self.tau)))
        self.history.append((self.tau, h))
        err = self.target - h
        if slope > 1e-12:
            delta = self.damping * err / slope
        else:  # flat: scores nearly equal -> push tau down/up by the max step
            delta = math.copysign(self.max_rel_change * self.tau, err)
        limit = self.max_rel_change * self.tau
        delta = max(-limit, min(limit, delta))
        self.tau = min(self.tau_max, max(self.tau_min, self.tau + delta))
        return self.tau
