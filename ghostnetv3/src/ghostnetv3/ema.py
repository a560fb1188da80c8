"""Exponential moving average of the weights (timm ModelEmaV2 semantics).

After update t (t = 0, 1, ...): ema <- d_t * ema + (1 - d_t) * model, for every floating
parameter and buffer (BN running statistics included); integer buffers (num_batches_tracked) are
copied. With warm-up (timm ModelEmaV3), d_t = min(decay, (1 + t) / (10 + t)): without it a short
run's EMA keeps a large share of the random initial weights (0.98^60 = 30 % after 60 steps), whose
blend with trained weights does not match the averaged BN statistics.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class ModelEma(nn.Module):
    def __init__(self, model: nn.Module, decay: float, warmup: bool = True) -> None:
        super().__init__()
        self.module = copy.deepcopy(model).eval()
        self.decay, self.warmup = decay, warmup
        self.updates = 0  # restored from the step count on resume (trainer)
        for p in self.module.parameters():
            p.requires_grad_(False)

    def current_decay(self) -> float:
        t = self.updates
        return min(self.decay, (1 + t) / (10 + t)) if self.warmup else self.decay

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = self.current_decay()
        ours = self.module.state_dict()
        for key, value in model.state_dict().items():
            if value.is_floating_point():
                ours[key].mul_(d).add_(value.detach(), alpha=1 - d)
            else:
                ours[key].copy_(value)
        self.updates += 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)
