"""Adaptive Learning Rate Scaling (ALRS, paper Eqs. 6-7) for the quantization-scale optimizer.

lambda_b = eta_b * (lambda - (1/L) * sum_i min(maxabs(clipgrad(grad s_b^i, 1.0)), 1.0))
eta_b    = 10^(-d/2) for even d, 5 * 10^(-(d+1)/2) for odd d, with d = high - b.

Taken literally the subtracted mean lies in [0, 1] while lambda is ~5e-4, so lambda_b turns
negative as soon as scale gradients are larger than lambda. Modes:
  "literal":  the formula as printed (a negative rate is used as is: gradient ascent on scales)
  "relative": lambda_b = eta_b * lambda * (1 - g), g the same gradient term (our variant, the
              default): the subtraction made relative to lambda, so the rate stays in
              [0, eta_b * lambda] and shrinks as the clipped scale gradients grow; floored at
              floor_fraction * eta_b * lambda only when g > 1 - floor_fraction
  "clamped":  the formula, floored at floor_fraction * eta_b * lambda (with lambda ~1e-3 and
              scale gradients ~1e-2 it sits at the floor almost always: a constant rate)
  "eta":      lambda_b = eta_b * lambda (the plain per-bit scaling)
  "none":     lambda_b = lambda (ALRS off)
Every bound that binds is counted: the per-layer norm clip, the min(., 1), and the floor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

ALRS_MODES = ("literal", "relative", "clamped", "eta", "none")


def eta(bits: int, high: int) -> float:
    delta = high - bits
    if delta < 0:
        raise ValueError(f"bit-width {bits} is above the highest bit-width {high}")
    if delta % 2 == 0:
        return 10.0 ** (-delta / 2)
    return 5.0 * 10.0 ** (-(delta + 1) / 2)


def scale_gradient_term(layer_grads: list[list[torch.Tensor | None]], clip: float = 1.0,
                        bounds: dict[str, int] | None = None) -> float:
    """(1/L) sum_i min(maxabs(clipgrad(grad_i, clip)), 1) over the L layers' scale gradients.

    `bounds`, when given, counts the layers where the norm clip or the min(., 1) bound.
    """
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
            if bounds is not None:
                bounds["norm_clip"] += 1
        peak = g.abs().max().item()
        if peak > 1.0 and bounds is not None:
            bounds["max_one"] += 1
        total += min(peak, 1.0)
    return total / len(layer_grads)


@dataclass
class ALRS:
    mode: str = "relative"
    high: int = 8
    floor_fraction: float = 0.01
    clamp_events: int = 0
    calls: int = 0
    bounds: dict[str, int] = field(default_factory=lambda: {"norm_clip": 0, "max_one": 0,
                                                              "layers": 0})
    # running min / max / sum / count of rate / (eta_b * lambda): how much the rate adapts
    factor_stats: list[float] = field(default_factory=lambda: [math.inf, -math.inf, 0.0, 0.0])

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
        self.bounds["layers"] += len(layer_grads)
        term = scale_gradient_term(layer_grads, bounds=self.bounds)
        lr = e * base_lr * (1.0 - term) if self.mode == "relative" else e * (base_lr - term)
        if self.mode in ("clamped", "relative"):
            floor = self.floor_fraction * e * base_lr
            if lr < floor:
                self.clamp_events += 1
                lr = floor
        if base_lr > 0:
            f = lr / (e * base_lr)
            lo, hi, total, n = self.factor_stats
            self.factor_stats = [min(lo, f), max(hi, f), total + f, n + 1]
        return lr

    def summary(self) -> dict:
        """How often each bound bound, and the spread of the adaptive factor."""
        lo, hi, total, n = self.factor_stats
        return {"mode": self.mode, "calls": self.calls, "floor_events": self.clamp_events,
                "norm_clip_events": self.bounds["norm_clip"],
                "max_one_events": self.bounds["max_one"], "layer_terms": self.bounds["layers"],
                "factor_min": lo if n else None, "factor_max": hi if n else None,
                "factor_mean": total / n if n else None}

    def state_dict(self) -> dict:
        return {"clamp_events": self.clamp_events, "calls": self.calls,
                "bounds": dict(self.bounds), "factor_stats": list(self.factor_stats)}

    def load_state_dict(self, state: dict) -> None:
        self.clamp_events, self.calls = int(state["clamp_events"]), int(state["calls"])
        self.bounds = {k: int(v) for k, v in state["bounds"].items()}
        self.factor_stats = [float(v) for v in state["factor_stats"]]
