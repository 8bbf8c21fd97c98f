"""Noise-contrastive estimation (Gutmann & Hyvarinen 2010) for unnormalised models.

A model gives ln p~(x; theta); its normalised log-density is ln p~(x) - c with c = ln Z learned
as a free parameter. With k noise samples per data point from q, NCE classifies data vs noise by
    G(u) = ln p~(u) - c - ln(k q(u)),      h(u) = s(G(u)),
and maximises J = E_data ln h(x) + k E_noise ln(1 - h(y)). ``nce_loss`` returns -J (per data
point). The estimator is consistent and approaches maximum likelihood as k grows.

``UnnormalisedGaussianMixture1D`` and ``fit_nce`` fit a 1-D mixture with an unnormalised density
exp(logsumexp_m(w_m - (x - mu_m)^2 / (2 sigma_m^2))) by NCE, recovering mu, sigma, the weights and
ln Z.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._common import NegsampleError, check_positive_int

__all__ = ["nce_loss", "NCELoss", "UnnormalisedGaussianMixture1D", "fit_nce"]


def nce_loss(log_unnormalised_data, log_unnormalised_noise, log_q_data, log_q_noise, k, log_z=0.0):
    """-J = -(mean_x ln s(G(x)) + k mean_y ln s(-G(y))), G(u) = ln p~(u) - log_z - ln k - ln q(u).

    log_unnormalised_data, log_q_data: (N,) at the data points; log_unnormalised_noise,
    log_q_noise: (M,) at the noise samples (M = k N in the usual setting); log_z: scalar tensor
    (a learnable parameter) or float.
    """
    k = check_positive_int("k", k)
    tensors = (log_unnormalised_data, log_unnormalised_noise, log_q_data, log_q_noise)
    if any(not isinstance(t, torch.Tensor) or not torch.is_floating_point(t) for t in tensors):
        raise NegsampleError("nce_loss inputs must be floating-point torch tensors")
    if any(t.dim() != 1 for t in tensors):
        raise NegsampleError("nce_loss inputs must be 1-D tensors")
    if not all(bool(torch.isfinite(t).all()) for t in tensors):
        raise NegsampleError("nce_loss inputs contain NaN or infinite values (a noise log-probability of -inf "
                             "means a sample the noise cannot produce)")
    if not math.isfinite(float(log_z.detach() if isinstance(log_z, torch.Tensor) else log_z)):
        raise NegsampleError(f"log_z must be finite, got {log_z!r}")
    if log_unnormalised_data.shape != log_q_data.shape or log_unnormalised_noise.shape != log_q_noise.shape:
        raise NegsampleError("model and noise log-densities must have matching shapes for data and for noise")
    if log_unnormalised_data.numel() == 0 or log_unnormalised_noise.numel() == 0:
        raise NegsampleError("nce_loss needs at least one data point and one noise sample")
    lk = math.log(k)
    g_data = log_unnormalised_data - log_z - lk - log_q_data
    g_noise = log_unnormalised_noise - log_z - lk - log_q_noise
    return -(F.logsigmoid(g_data).mean() + k * F.logsigmoid(-g_noise).mean())


class NCELoss(nn.Module):
    """NCE with the log-partition c = ln Z as a learnable parameter."""

    def __init__(self, k, log_z_init=0.0):
        super().__init__()
        self.k = check_positive_int("k", k)
        self.log_z = nn.Parameter(torch.tensor(float(log_z_init), dtype=torch.float64))

    def forward(self, log_unnormalised_data, log_unnormalised_noise, log_q_data, log_q_noise):
        return nce_loss(log_unnormalised_data, log_unnormalised_noise, log_q_data, log_q_noise, self.k,
                        self.log_z)


class UnnormalisedGaussianMixture1D(nn.Module):
    """ln p~(x) = logsumexp_m(w_m - (x - mu_m)^2 / (2 sigma_m^2)); w_0 fixed at 0 (c absorbs scale).

    Its true ln Z = logsumexp_m(w_m + ln(sigma_m sqrt(2 pi))).
    """

    def __init__(self, n_components=2, mu_init=None, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        mu = torch.as_tensor(mu_init, dtype=torch.float64) if mu_init is not None else \
            torch.randn(n_components, generator=g, dtype=torch.float64)
        self.mu = nn.Parameter(mu.clone())
        self.log_sigma = nn.Parameter(torch.zeros(n_components, dtype=torch.float64))
        self.w_rest = nn.Parameter(torch.zeros(n_components - 1, dtype=torch.float64))

    @property
    def weights_log(self):
        return torch.cat([torch.zeros(1, dtype=torch.float64), self.w_rest])

    def forward(self, x):
        sigma = self.log_sigma.exp()
        z = self.weights_log - (x.unsqueeze(-1) - self.mu) ** 2 / (2 * sigma ** 2)
        return torch.logsumexp(z, dim=-1)

    def log_partition(self):
        return torch.logsumexp(self.weights_log + self.log_sigma + 0.5 * math.log(2 * math.pi), dim=0)

    def mixture_weights(self):
        return torch.softmax(self.weights_log + self.log_sigma, dim=0)


def fit_nce(data, k, noise_mean=0.0, noise_std=None, n_components=2, mu_init=None, steps=200, seed=0,
            noise=None):
    """Fit ``UnnormalisedGaussianMixture1D`` to 1-D data by NCE with Gaussian noise and k noise
    samples per data point (full batch, L-BFGS). Returns (model, log_z (float), final loss).

    noise: optional pre-drawn noise samples (>= k len(data)), so several k can share draws.
    """
    x = torch.as_tensor(np.asarray(data, dtype=np.float64))
    if x.dim() != 1 or x.numel() < 2:
        raise NegsampleError("data must be a 1-D array with at least 2 points")
    k = check_positive_int("k", k)
    if noise_std is None:
        noise_std = 2.0 * float(x.std())
    n_noise = k * x.numel()
    if noise is None:
        rng = np.random.default_rng(seed)
        y = torch.as_tensor(rng.normal(noise_mean, noise_std, size=n_noise))
    else:
        noise = np.asarray(noise, dtype=np.float64)
        if noise.size < n_noise:
            raise NegsampleError(f"need {n_noise} noise samples, got {noise.size}")
        y = torch.as_tensor(noise[:n_noise])
    log_q = lambda u: -0.5 * ((u - noise_mean) / noise_std) ** 2 - math.log(noise_std * math.sqrt(2 * math.pi))  # noqa: E731
    lq_x, lq_y = log_q(x), log_q(y)
    model = UnnormalisedGaussianMixture1D(n_components, mu_init=mu_init, seed=seed)
    crit = NCELoss(k)
    params = list(model.parameters()) + list(crit.parameters())
    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=steps, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-10, tolerance_change=1e-14)

    def closure():
        opt.zero_grad()
        loss = crit(model(x), model(y), lq_x, lq_y)
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        final = float(crit(model(x), model(y), lq_x, lq_y))
    return model, float(crit.log_z.detach()), final
