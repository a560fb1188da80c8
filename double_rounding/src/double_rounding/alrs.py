"""Adaptive Learning Rate Scaling (ALRS, paper Eqs. 6-7) for the quantization-scale optimizer.

lambda_b = eta_b * (lambda - (1/L) * sum_i min(maxabs(clipgrad(grad s_b^i, 1.0)), 1.0))
eta_b    = 10^(-d/2) for even d, 5 * 10^(-(d+1)/2) for odd d, with d = high - b.

Taken literally the subtracted mean lies in [0, 1] while lambda is ~5e-4, so lambda_b turns
negative as soon as scale gradients are larger than lambda. Modes:
  "literal": the formula as printed (a negative rate is used as is: gradient ascent on scales)
  "clamped": the formula, floored at floor_fraction * eta_b * lambda (clamp events are counted)
  "eta":     lambda_b = eta_b * lambda (the plain per-bit scaling)
  "none":    lambda_b = lambda (ALRS off)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

ALRS_MODES = ("literal", "clamped", "eta", "none")


def eta(bits: int, high: int) -> float:
    delta = high - bits
    if delta < 0:
        raise ValueError(f"bit-width {bits} is above the highest bit-width {high}")
    if delta % 2 == 0:
        return 10.0 ** (-delta / 2)
    return 5.0 * 10.0 ** (-(delta + 1) / 2)


def scale_gradient_term(layer_grads: list[list[torch.Tensor | None]], clip: float = 1.0) -> float:
    """(1/L) sum_i min(maxabs(clipgrad(grad_i, clip)), 1) over the L layers' scale gradients."""
    if not layer_grads:
        return 0.0
    total = 0.0
    for grads in layer_grads:
        flat = [g.detach().reshape(-1) for g in grads if g is not None]
        if not flat:
            continue
        g = torch.cat(flat)
        norm = g.norm().item()
        if norm > clip:  # clip_grad_norm_ semantics: rescale the layer's vector to norm `clip`
            g = g * (clip / norm)
        total += min(g.abs().max().item(), 1.0)
    return total / len(layer_grads)


@dataclass
class ALRS:
    mode: str = "clamped"
    high: int = 8
    floor_fraction: float = 0.01
    clamp_events: int = 0
    calls: int = 0

    def __post_init__(self) -> None:
        if self.mode not in ALRS_MODES:
            raise ValueError(f"alrs.mode {self.mode!r} is unknown; expected one of {ALRS_MODES}")

    def rate(self, base_lr: float, bits: int, layer_grads: list[list[torch.Tensor | None]]) -> float:
        self.calls += 1
        if self.mode == "none":
            return base_lr
        e = eta(bits, self.high)
        if self.mode == "eta":
            return e * base_lr
        term = scale_gradient_term(layer_grads)
        lr = e * (base_lr - term)
        if self.mode == "clamped":
            floor = self.floor_fraction * e * base_lr
            if lr < floor:
                self.clamp_events += 1
                lr = floor
        return lr
