"""Temperature diagnostics for softmax-over-negatives losses (InfoNCE and friends).

With negative scores s_j (j = 1..K) and temperature tau:
- weights     p_j = softmax(s_j / tau)                                   ``negative_weights``
- entropy     H(tau) = -sum_j p_j ln p_j  (0 .. ln K, rises with tau)    ``negative_entropy``
- slope       dH/dtau = Var_p(s) / tau^3                                 ``entropy_slope``
- margin      among K easy negatives of score beta, InfoNCE acts like a margin
              m_eff = beta + tau ln K (a positive at that score has loss ln 2)  ``effective_margin``
- MI bound    I(X; Z) >= mean_a (ln N_a - L_a), N_a = 1 + the anchor's UNMASKED negatives
                                                                        ``mutual_information_bound``
- ``EntropyController`` adapts tau each step to hold H near a target with a damped Newton step
  tau <- tau + (H* - H) / (dH/dtau), clipped to [tau_min, tau_max] and to a max relative change.
  The losses drive it with ``temperature="auto"`` (``controller.observe(H, dH/dtau)`` once per step);
  ``controller.history`` / ``taus`` / ``entropies`` hold (tau used, entropy observed) per step.

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


def mutual_information_bound(loss, n=None, mask=None):
    """I(X; Z) >= mean_a ln N_a - mean_a L_a for an InfoNCE loss.

    N_a = 1 + the number of anchor a's negatives that were NOT masked: give ``n`` (scalar or (B,)
    candidates per anchor, each >= 1) or ``mask`` (B, K), True = a masked (excluded) negative, as the
    losses take it. ``loss``: the mean loss (scalar) or per-anchor losses (B,). Since L_a >= 0 the
    bound never exceeds mean_a ln N_a <= ln(1 + max unmasked K).
    """
    if (n is None) == (mask is None):
        raise NegsampleError("give exactly one of n (candidates per anchor) and mask (B, K)")
    if mask is not None:
        m = mask.detach().cpu().numpy() if _is_torch(mask) else np.asarray(mask)
        if m.ndim != 2:
            raise NegsampleError(f"mask must be (B, K), got shape {m.shape}")
        n = 1 + (~m.astype(bool)).sum(axis=1)
    n = np.asarray(n.detach().cpu().numpy() if _is_torch(n) else n, dtype=np.float64)
    if n.size == 0 or not np.all(np.isfinite(n)) or np.any(n < 1):
        raise NegsampleError(f"n (candidates per anchor, 1 + unmasked negatives) must be >= 1, got {n!r}")
    L = np.asarray(loss.detach().cpu().numpy() if _is_torch(loss) else loss, dtype=np.float64)
    if not np.all(np.isfinite(L)):
        raise NegsampleError("loss must be finite")
    if L.ndim > 0 and n.ndim > 0 and L.shape != n.shape:
        raise NegsampleError(f"per-anchor loss {L.shape} and n {n.shape} must match")
    return float(np.mean(np.log(n)) - np.mean(L))


class EntropyController:
    """Hold the entropy of negative weights near ``target_entropy`` by adapting tau.

    ``step(scores)`` takes the current negative scores (..., K) (any batch shape; entropies are
    averaged), updates and returns tau. The update is a damped Newton step on H(tau) - H*,
    using dH/dtau = Var_p(s)/tau^3, limited to a relative change of ``max_rel_change`` per step
    and clipped to [tau_min, tau_max].
    """

    def __init__(self, target_entropy, tau_init=0.1, tau_min=1e-3, tau_max=10.0, damping=0.5,
                 max_rel_change=0.5):
        try:
            target_entropy, tau_init, tau_min, tau_max = (float(target_entropy), float(tau_init), float(tau_min),
                                                          float(tau_max))
            damping, max_rel_change = float(damping), float(max_rel_change)
        except (TypeError, ValueError):
            raise NegsampleError("EntropyController arguments must be numbers") from None
        if not 0 < max_rel_change < 1:
            raise NegsampleError(f"max_rel_change must be in (0, 1), got {max_rel_change!r}")
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

    @property
    def taus(self):
        """tau used at each step, (steps,)."""
        return np.array([t for t, _ in self.history], dtype=np.float64)

    @property
    def entropies(self):
        """mean entropy of the negative weights observed at each step, (steps,)."""
        return np.array([h for _, h in self.history], dtype=np.float64)

    def step(self, scores):
        """Observe negative scores (..., K) at the current tau, update and return tau."""
        s = scores.detach().cpu().double().numpy() if _is_torch(scores) else np.asarray(scores, dtype=np.float64)
        if s.shape[-1] < 2:
            raise NegsampleError("the entropy controller needs at least 2 negatives per anchor")
        h = float(np.mean(negative_entropy(s, self.tau)))
        slope = float(np.mean(entropy_slope(s, self.tau)))
        return self.observe(h, slope, max_entropy=math.log(s.shape[-1]))

    def observe(self, entropy, slope, max_entropy=None):
        """One step from a measured mean entropy H and slope dH/dtau at the current tau (as the losses
        report them); ``max_entropy`` (mean ln K) checks the target is reachable. Returns the new tau."""
        h, slope = float(entropy), float(slope)
        if not math.isfinite(h) or not math.isfinite(slope):
            raise NegsampleError(f"entropy and slope must be finite, got {entropy!r}, {slope!r}")
        if max_entropy is not None and self.target > float(max_entropy) + 1e-12:
            raise NegsampleError(f"target entropy {self.target:.3f} exceeds ln K = {float(max_entropy):.3f}")
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
