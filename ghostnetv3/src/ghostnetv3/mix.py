"""Mixup and CutMix on a batch (the paper reports both hurt compact models; off by default)."""

from __future__ import annotations

import math

import torch


def mix_batch(x: torch.Tensor, target: torch.Tensor, mixup_alpha: float, cutmix_alpha: float,
              prob: float, switch_prob: float, generator: torch.Generator
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix the batch with its flipped copy; `target` holds per-sample class probabilities."""
    if (mixup_alpha <= 0 and cutmix_alpha <= 0) or float(torch.rand(1, generator=generator)) >= prob:
        return x, target
    use_cutmix = cutmix_alpha > 0 and (
        mixup_alpha <= 0 or float(torch.rand(1, generator=generator)) < switch_prob)
    alpha = cutmix_alpha if use_cutmix else mixup_alpha
    lam = _beta(alpha, generator)
    flipped = x.flip(0)
    if use_cutmix:
        h, w = x.shape[-2:]
        cut = math.sqrt(1 - lam)
        ch, cw = int(h * cut), int(w * cut)
        cy = int(torch.randint(h, (1,), generator=generator))
        cx = int(torch.randint(w, (1,), generator=generator))
        y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, h)
        x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, w)
        x = x.clone()
        x[..., y0:y1, x0:x1] = flipped[..., y0:y1, x0:x1]
        lam = 1 - (y1 - y0) * (x1 - x0) / (h * w)  # the area actually pasted
    else:
        x = lam * x + (1 - lam) * flipped
    return x, lam * target + (1 - lam) * target.flip(0)


def _beta(alpha: float, generator: torch.Generator) -> float:
    """Beta(alpha, alpha) from two seeded Gamma draws via uniforms (torch's Beta takes no
    generator): X / (X + Y) with X, Y ~ Gamma(alpha) by Marsaglia-Tsang."""
    def gamma(a: float) -> float:
        boost = 1.0
        if a < 1:
            boost = float(torch.rand(1, generator=generator)) ** (1 / a)
            a += 1
        d = a - 1 / 3
        c = 1 / math.sqrt(9 * d)
        while True:
            z = float(torch.randn(1, generator=generator))
            v = (1 + c * z) ** 3
            u = float(torch.rand(1, generator=generator))
            if v > 0 and math.log(u) < 0.5 * z * z + d - d * v + d * math.log(v):
                return d * v * boost

    a, b = gamma(alpha), gamma(alpha)
    return a / (a + b)
