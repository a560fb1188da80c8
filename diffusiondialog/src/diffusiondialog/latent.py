"""Latent modules: the residual projection, the response-latent pooling and the denoiser."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import BartConfig

from diffusiondialog.bart_layers import DecoderLayer, padding_allowed


class ResidualProjection(nn.Module):
    """d -> 4d -> d GELU FFN, residual add, LayerNorm (the official `latent_proj` pattern)."""

    def __init__(self, dim: int, dropout: float) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)
        self.norm = nn.LayerNorm(dim)
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.dropout(self.fc2(F.gelu(self.fc1(x))), self.dropout, self.training)
        return self.norm(x + h)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps (cos half first, as in improved-diffusion)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class LatentDenoiser(nn.Module):
    """Predicts z0 from (x_t, t) by cross-attending to the encoded context.

    Input projection + timestep MLP + per-slot positions, summed, then BART decoder layers with
    non-causal self-attention over the latent slots. The last hidden state is the x0 estimate.
    """

    def __init__(self, cfg: BartConfig, slots: int, layers: int, time_dim: int = 128) -> None:
        super().__init__()
        d = cfg.d_model
        self.slots, self.time_dim = slots, time_dim
        self.input_proj = ResidualProjection(d, cfg.dropout)
        self.time_mlp = nn.Sequential(nn.Linear(time_dim, 4 * time_dim), nn.SiLU(),
                                      nn.Linear(4 * time_dim, d * slots))
        self.slot_positions = nn.Parameter(torch.randn(slots, d) * cfg.init_std)
        self.layers = nn.ModuleList(DecoderLayer(cfg, latent_prefix=False) for _ in range(layers))

    def forward(self, xt: torch.Tensor, t: torch.Tensor, context: torch.Tensor,
                context_mask: torch.Tensor) -> torch.Tensor:
        temb = self.time_mlp(timestep_embedding(t, self.time_dim)).view_as(xt)
        h = self.input_proj(xt) + temb + self.slot_positions
        allowed = padding_allowed(context_mask)
        for layer in self.layers:
            h = layer(h, None, context, allowed)
        return h


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.to(x.dtype)[..., None]
    return (x * m).sum(1) / m.sum(1).clamp(min=1)


def reparameterise(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """z = mu + sigma * eps. The caller draws eps, so each call site keeps its own RNG order."""
    return mu + torch.exp(0.5 * logvar) * eps


def gaussian_kl(mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor,
                logvar_p: torch.Tensor) -> torch.Tensor:
    """KL(N(mu_q, var_q) || N(mu_p, var_p)) per dimension (diagonal Gaussians), in nats."""
    return 0.5 * (logvar_p - logvar_q
                  + (logvar_q.exp() + (mu_q - mu_p) ** 2) / logvar_p.exp() - 1.0)


PRIORS = ("learned", "standard")


def check_prior(prior: str, field: str = "model.cvae.prior") -> None:
    if prior not in PRIORS:
        raise ValueError(f"{field} must be one of {PRIORS}, got {prior!r}")


class GaussianLatent(nn.Module):
    """The CVAE baseline's latent (DialogVED-style): diagonal Gaussians over z in R^latent_dim.

    prior p(z|c): MLP on the masked mean of the context encoder states ("standard": N(0, I)).
    posterior q(z|c,r): MLP on [that context summary; the response latent slot state].
    `to_decoder` maps z to `slots` vectors of size d, consumed by the decoder's per-layer
    latent K/V prefix exactly like DiffusionDialog's z0.
    """

    def __init__(self, d: int, slots: int, latent_dim: int, prior: str = "learned") -> None:
        super().__init__()
        check_prior(prior)
        self.slots, self.latent_dim, self.d = slots, latent_dim, d
        self.prior_net = (nn.Sequential(nn.Linear(d, d), nn.Tanh(), nn.Linear(d, 2 * latent_dim))
                          if prior == "learned" else None)
        self.posterior_net = nn.Sequential(nn.Linear(d + slots * d, d), nn.Tanh(),
                                           nn.Linear(d, 2 * latent_dim))
        self.out = nn.Linear(latent_dim, slots * d)

    def prior(self, enc: torch.Tensor, enc_mask: torch.Tensor):
        if self.prior_net is None:
            zeros = enc.new_zeros(enc.shape[0], self.latent_dim)
            return zeros, zeros
        mu, logvar = self.prior_net(masked_mean(enc, enc_mask)).chunk(2, dim=-1)
        return mu, logvar

    def posterior(self, enc: torch.Tensor, enc_mask: torch.Tensor, response: torch.Tensor):
        h = torch.cat([masked_mean(enc, enc_mask), response.flatten(1)], dim=-1)
        mu, logvar = self.posterior_net(h).chunk(2, dim=-1)
        return mu, logvar

    def to_decoder(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(z).view(z.shape[0], self.slots, self.d)
