"""Gaussian diffusion on the latent: q(x_t|x_0), x0-parameterised MSE loss, DDIM sampling."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from diffusiondialog.schedule import make_betas, respace

# predict_x0(x_t, t) -> x0 estimate; t is a (B,) long tensor of *original* timesteps.
Denoise = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _expand(values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    out = values.to(like.device)[t].to(like.dtype)
    return out.view(-1, *([1] * (like.dim() - 1)))


class GaussianDiffusion:
    """Fixed-variance DDPM with T steps; all schedule arithmetic is done in float64."""

    def __init__(self, steps: int = 2000, schedule: str = "sqrt") -> None:
        betas = make_betas(schedule, steps)
        self.steps = steps
        self.betas = torch.from_numpy(betas)
        self.alphas_cumprod = torch.from_numpy(np.cumprod(1.0 - betas))
        self.alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64),
                                              self.alphas_cumprod[:-1]])

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Closed form x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps."""
        ab = _expand(self.alphas_cumprod, t, x0)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def q_step(self, x_prev: torch.Tensor, t: int, noise: torch.Tensor) -> torch.Tensor:
        """One forward step q(x_t | x_{t-1}) (used to check the closed form by iteration)."""
        beta = float(self.betas[t])
        return (1 - beta) ** 0.5 * x_prev + beta**0.5 * noise

    def posterior(self, x0: torch.Tensor, xt: torch.Tensor, t: int) -> tuple[torch.Tensor, float]:
        """Mean and variance of q(x_{t-1} | x_t, x_0)."""
        ab, ab_prev, beta = (float(self.alphas_cumprod[t]), float(self.alphas_cumprod_prev[t]),
                             float(self.betas[t]))
        c0 = beta * ab_prev**0.5 / (1 - ab)
        ct = (1 - ab_prev) * (1 - beta) ** 0.5 / (1 - ab)
        return c0 * x0 + ct * xt, beta * (1 - ab_prev) / (1 - ab)

    def eps_from_x0(self, xt: torch.Tensor, t: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        ab = _expand(self.alphas_cumprod, t, xt)
        return (xt - ab.sqrt() * x0) / (1 - ab).sqrt()

    def x0_from_eps(self, xt: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        ab = _expand(self.alphas_cumprod, t, xt)
        return (xt - (1 - ab).sqrt() * eps) / ab.sqrt()

    def sample_t(self, batch: int, generator: torch.Generator | None, device: torch.device):
        """Uniform timestep sampler (the official code's 'uniform' sampler, weights all 1)."""
        return torch.randint(0, self.steps, (batch,), generator=generator, device=device)

    def x0_loss(self, pred_x0: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        """Per-sample MSE averaged over all latent dimensions ('RESCALED_MSE' with fixed sigma)."""
        return ((pred_x0 - x0) ** 2).flatten(1).mean(dim=1)

    @torch.no_grad()
    def ddim_sample(
        self,
        denoise: Denoise,
        x_T: torch.Tensor,
        sample_steps: int = 50,
        spacing: str = "stride",
        clamp: float | None = 1.0,
        eta: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """DDIM from x_T over the respaced steps; returns the final (optionally clamped) x0.

        `clamp` reproduces the official clip_denoised=True (x0 clamped to [-1, 1] every step);
        None switches it off.
        """
        kept = respace(self.steps, sample_steps, spacing)
        x = x_T
        for i in reversed(range(len(kept))):
            t = torch.full((x.shape[0],), kept[i], dtype=torch.long, device=x.device)
            x0 = denoise(x, t)
            if clamp is not None:
                x0 = x0.clamp(-clamp, clamp)
            if i == 0:
                return x0
            ab = float(self.alphas_cumprod[kept[i]])
            ab_prev = float(self.alphas_cumprod[kept[i - 1]])
            eps = (x - ab**0.5 * x0) / (1 - ab) ** 0.5
            sigma = eta * ((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)) ** 0.5
            x = ab_prev**0.5 * x0 + (1 - ab_prev - sigma**2) ** 0.5 * eps
            if sigma > 0:
                x = x + sigma * torch.randn(x.shape, generator=generator, device=x.device,
                                            dtype=x.dtype)
        return x
