"""Multi-precision training (paper Algorithm A.2) and evaluation.

For every batch and every bit-width b in the list: switch the network to b, forward, backward,
then step BOTH optimizers (weights + BN with weight decay; quantization scales without weight
decay, at the ALRS rate of b). With a HASB sampler the per-layer bits of each pass are drawn by
the roulette instead (mixed-precision SuperNet, Algorithm A.3).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from double_rounding.alrs import ALRS
from double_rounding.convert import parameter_groups, quant_layers, set_layer_bits, set_precision


def unwrap(model: nn.Module) -> nn.Module:
    """The network inside a DDP wrapper (precision switches act on it)."""
    return model.module if hasattr(model, "module") else model


class MultiPrecisionTrainer:
    def __init__(self, model: nn.Module, bits: list[int], lr: float = 5e-4,
                 weight_decay: float = 5e-5, alrs: ALRS | None = None, total_steps: int = 1,
                 kd_weight: float = 0.0, sampler=None) -> None:
        self.model = model
        self.net = unwrap(model)
        self.bits = sorted(bits, reverse=True)
        self.base_lr = lr
        self.alrs = alrs or ALRS(mode="none", high=self.bits[0])
        self.total_steps = max(1, total_steps)
        self.kd_weight = kd_weight  # in-place distillation from the highest bit (our choice)
        self.sampler = sampler
        weights, scales = parameter_groups(self.net)
        self.opt_weights = torch.optim.Adam(weights, lr=lr, weight_decay=weight_decay)
        self.opt_scales = torch.optim.Adam(scales, lr=lr, weight_decay=0.0)
        self.step_count = 0
        self.epoch = 0

    def lr_now(self) -> float:
        """Cosine schedule without warm-up, as in the paper."""
        return 0.5 * self.base_lr * (1 + math.cos(math.pi * self.step_count / self.total_steps))

    def scale_grads(self, bits: int) -> list[list[torch.Tensor | None]]:
        """Per quantized layer: gradients of its weight scale and its b-bit activation scale."""
        out = []
        for _, layer in quant_layers(self.net):
            w_scale = (layer.wq.scale if layer.wq.scheme == "double_rounding"
                       else layer.wq.scales[str(bits)])
            out.append([w_scale.grad, layer.aq.scales[str(bits)].grad])
        return out

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        self.model.train()
        lr = self.lr_now()
        stats: dict[str, float] = {"lr": lr}
        teacher = None
        for b in self.bits:
            if self.sampler is None:
                set_precision(self.net, b)
            else:
                set_layer_bits(self.net, self.sampler.sample(b, self.epoch))
            logits = self.model(x)
            loss = F.cross_entropy(logits, y)
            if teacher is not None and self.kd_weight > 0:
                kd = F.kl_div(F.log_softmax(logits, 1), F.softmax(teacher, 1),
                              reduction="batchmean")
                loss = loss + self.kd_weight * kd
            if b == self.bits[0]:
                teacher = logits.detach()
            loss.backward()
            scale_lr = self.alrs.rate(lr, b, self.scale_grads(b))
            for group in self.opt_weights.param_groups:
                group["lr"] = lr
            for group in self.opt_scales.param_groups:
                group["lr"] = scale_lr
            self.opt_weights.step()
            self.opt_scales.step()
            self.opt_weights.zero_grad(set_to_none=True)
            self.opt_scales.zero_grad(set_to_none=True)
            stats[f"loss_w{b}"] = loss.item()
            stats[f"scale_lr_w{b}"] = scale_lr
        self.step_count += 1
        return stats


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable, bits: int | list[int] | None) -> float:
    """Top-1 accuracy (%) at a uniform bit-width, or per-layer bits when given a list."""
    net = unwrap(model)
    net.eval()
    if isinstance(bits, list):
        set_layer_bits(net, bits)
    else:
        set_precision(net, bits)
    correct = total = 0
    for x, y in batches:
        correct += (net(x).argmax(1) == y).sum().item()
        total += len(y)
    return 100.0 * correct / max(total, 1)
