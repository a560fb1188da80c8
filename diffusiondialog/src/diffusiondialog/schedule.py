"""Noise schedules (sqrt / cosine / linear) and DDIM timestep respacing."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

MAX_BETA = 0.999


def _betas_from_alpha_bar(alpha_bar: Callable[[float], float], steps: int) -> np.ndarray:
    # beta_i = 1 - abar((i+1)/T) / abar(i/T), capped so that no step destroys all signal at once.
    ratios = [1 - alpha_bar((i + 1) / steps) / alpha_bar(i / steps) for i in range(steps)]
    return np.minimum(np.array(ratios, dtype=np.float64), MAX_BETA)


def make_betas(name: str, steps: int) -> np.ndarray:
    """Betas of length `steps` for the named schedule (Diffusion-LM/DiffuSeq conventions)."""
    if steps < 1:
        raise ValueError(f"diffusion.steps must be >= 1, got {steps}")
    if name == "sqrt":
        return _betas_from_alpha_bar(lambda t: 1 - math.sqrt(t + 1e-4), steps)
    if name == "cosine":
        return _betas_from_alpha_bar(
            lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2, steps
        )
    if name == "linear":
        scale = 1000 / steps
        return np.linspace(scale * 1e-4, scale * 0.02, steps, dtype=np.float64)
    raise ValueError(f"diffusion.schedule must be one of sqrt, cosine, linear; got {name!r}")


def respace(total: int, sample_steps: int, spacing: str = "stride") -> list[int]:
    """Kept timesteps, ascending.

    `stride` is the official "ddimN" rule, range(0, T, T // N): ddim50 of T=2000 keeps
    {0, 40, ..., 1960}. `trailing` keeps evenly spaced steps ending at T-1, so even one step
    starts from the fully noised level (stride with N=1 would query t=0 on pure noise).
    """
    if not 1 <= sample_steps <= total:
        raise ValueError(f"sample_steps must be in [1, {total}], got {sample_steps}")
    if spacing == "stride":
        return list(range(0, total, total // sample_steps))[:sample_steps]
    if spacing == "trailing":
        return sorted({int(round(x)) for x in np.linspace(total - 1, 0, sample_steps)})
    raise ValueError(f"sampling.spacing must be 'stride' or 'trailing', got {spacing!r}")
