"""Weight and activation fake quantizers with LSQ-style straight-through gradients.

Weights (scheme "double_rounding"): one learned scale s_h per layer. The first rounding gives the
stored `high`-bit integers q_h = clip(round(W / s_h)); a lower bit-width l is obtained from q_h by
the second rounding q_l = clip(round(q_h / 2^d)), d = high - l, and dequantized as q_l * s_h * 2^d.
Gradients pass straight through both roundings, so the shared scale receives LSQ's gradient of the
effective step s_h * 2^d, which carries the factor 2^d (tests compare with the closed form).

Scheme "requantize" (Any-Precision / MultiQuant style, FP32 stored) keeps one scale per bit-width
and quantizes the float weights directly at every bit-width; it is the comparison arm.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from double_rounding.rounding import check_rule, int_range, round_float

WEIGHT_SCHEMES = ("double_rounding", "requantize")


class _RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, rule: str) -> torch.Tensor:
        return round_float(x, rule)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad, None


class _GradScale(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, factor: float) -> torch.Tensor:
        ctx.factor = factor
        return x.clone()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad * ctx.factor, None


def round_ste(x: torch.Tensor, rule: str) -> torch.Tensor:
    """Round in the forward pass, identity gradient in the backward pass."""
    return _RoundSTE.apply(x, rule)


def grad_scale(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Exactly the value of x, gradient multiplied by `factor` (LSQ's step-size scaling).

    A custom function rather than the (x - x*f).detach() + x*f trick, which can move x by one
    ulp and would break bit-identity between training and the exported int8 model.
    """
    return _GradScale.apply(x, factor)


def validate_bits(bits: list[int] | tuple[int, ...], field: str = "bits") -> list[int]:
    """A bit list must be non-empty, unique integers in [2, 8]; returned sorted high -> low."""
    if not isinstance(bits, (list, tuple)) or len(bits) == 0:
        raise ValueError(f"{field} must be a non-empty list of bit-widths, got {bits!r}")
    out = []
    for b in bits:
        if isinstance(b, bool) or not isinstance(b, int) or not 2 <= b <= 8:
            raise ValueError(f"{field} entries must be integers in [2, 8] (int8 storage), got {b!r}")
        out.append(int(b))
    if len(set(out)) != len(out):
        raise ValueError(f"{field} has duplicate bit-widths: {bits!r}")
    return sorted(out, reverse=True)


def lsq_init_scale(x: torch.Tensor, bits: int, signed: bool) -> float:
    """LSQ initial step 2 * mean|x| / sqrt(p), with a floor so an all-zero tensor stays usable."""
    p = int_range(bits, signed)[1]
    return max(2.0 * x.detach().abs().mean().item() / math.sqrt(p), 1e-8)


class WeightQuantizer(nn.Module):
    """Quantizes one layer's weights at any bit-width in `bits`."""

    def __init__(
        self,
        weight: torch.Tensor,
        bits: list[int],
        scheme: str = "double_rounding",
        rule: str = "half_up",
        lsq_grad_scale: bool = True,
    ) -> None:
        super().__init__()
        if scheme not in WEIGHT_SCHEMES:
            raise ValueError(f"weight scheme {scheme!r} is unknown; expected one of {WEIGHT_SCHEMES}")
        self.bits = validate_bits(bits)
        self.high = self.bits[0]
        self.scheme = scheme
        self.rule = check_rule(rule)
        self.lsq_grad_scale = lsq_grad_scale
        if scheme == "double_rounding":
            self.scale = nn.Parameter(torch.tensor(self.shared_init(weight)))
        else:
            self.scales = nn.ParameterDict(
                {str(b): nn.Parameter(torch.tensor(lsq_init_scale(weight, b, True))) for b in self.bits}
            )

    @torch.no_grad()
    def shared_init(self, weight: torch.Tensor, grid: int = 48) -> float:
        """Initial shared scale: the one minimising the quantization MSE summed over the bit list
        (our choice; the paper gives no init). LSQ's init at the highest bit alone makes the
        lowest bit-width's step 2^d times larger, which rounds almost every weight to 0 at 2 bits.
        """
        w = weight.detach().float().reshape(-1)
        w = w[:: max(1, w.numel() // 16384)]  # a strided subsample keeps big layers cheap
        hi = lsq_init_scale(w, self.high, True)
        lo = lsq_init_scale(w, self.bits[-1], True) / 2 ** (self.high - self.bits[-1])
        best, best_err = hi, float("inf")
        n_h, p_h = int_range(self.high)
        for s in torch.logspace(math.log10(min(lo, hi)), math.log10(max(lo, hi)), grid).tolist():
            q_h = round_float(w / s, self.rule).clamp(n_h, p_h)
            err = 0.0
            for b in self.bits:
                d = self.high - b
                n, p = int_range(b)
                q = round_float(q_h / 2**d, self.rule).clamp(n, p)
                err += (q * s * 2**d - w).pow(2).mean().item()
            if err < best_err:
                best, best_err = s, err
        return best

    def check(self, bits: int) -> None:
        if bits not in self.bits:
            if bits > self.high:
                raise ValueError(
                    f"bit-width {bits} is above the stored precision {self.high} "
                    f"(model bits {self.bits})"
                )
            raise ValueError(f"bit-width {bits} is not in the trained bit list {self.bits}")

    def step_scale(self, weight: torch.Tensor, bits: int) -> torch.Tensor:
        """The learned scale that multiplies the integers, with LSQ's gradient scaling applied."""
        s = self.scale if self.scheme == "double_rounding" else self.scales[str(bits)]
        if self.lsq_grad_scale:
            s = grad_scale(s, 1.0 / math.sqrt(weight.numel() * int_range(bits)[1]))
        return s

    def integers(self, weight: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(float-valued integers q_bits, effective step) of the training path; keeps autograd."""
        self.check(bits)
        s = self.step_scale(weight, bits)
        if self.scheme == "requantize":
            n, p = int_range(bits)
            return round_ste((weight / s).clamp(n, p), self.rule), s
        n_h, p_h = int_range(self.high)
        # clip before rounding (as LSQ): same values, gradient region decided by the unrounded v
        q_h = round_ste((weight / s).clamp(n_h, p_h), self.rule)
        delta = self.high - bits
        if delta == 0:
            return q_h, s
        n, p = int_range(bits)
        q_l = round_ste((q_h / 2**delta).clamp(n, p), self.rule)
        return q_l, s * 2**delta

    def forward(self, weight: torch.Tensor, bits: int) -> torch.Tensor:
        q, step = self.integers(weight, bits)
        return q * step

    @torch.no_grad()
    def stored_int8(self, weight: torch.Tensor) -> torch.Tensor:
        """The int8 tensor that is stored: the first rounding at the highest bit-width."""
        if self.scheme != "double_rounding":
            raise ValueError("only the double_rounding scheme stores int8 weights")
        q, _ = self.integers(weight, self.high)
        return q.to(torch.int8)


class ActivationQuantizer(nn.Module):
    """Per-bit-width learned activation scales (unsigned after ReLU, signed elsewhere).

    `signed="auto"` decides at calibration: a layer whose calibration input has negative values
    (residual sums, MobileNetV2 linear bottlenecks) gets a signed grid, otherwise unsigned.
    """

    def __init__(self, bits: list[int], signed: bool | str = "auto", rule: str = "half_up",
                 lsq_grad_scale: bool = True) -> None:
        super().__init__()
        self.bits = validate_bits(bits)
        if signed not in (True, False, "auto"):
            raise ValueError(f"activation signed must be true, false or 'auto', got {signed!r}")
        self.signed_mode = signed
        self.rule = check_rule(rule)
        self.lsq_grad_scale = lsq_grad_scale
        self.scales = nn.ParameterDict({str(b): nn.Parameter(torch.tensor(1.0)) for b in self.bits})
        # buffers so that calibration state travels with checkpoints and DDP broadcasts
        self.register_buffer("initialized", torch.zeros(len(self.bits), dtype=torch.bool))
        self.register_buffer("signed", torch.tensor(signed is True))

    def forward(self, x: torch.Tensor, bits: int) -> torch.Tensor:
        if bits not in self.bits:
            raise ValueError(f"activation bit-width {bits} is not in the trained list {self.bits}")
        idx = self.bits.index(bits)
        if not bool(self.initialized[idx]):
            self.calibrate(x, bits)
        signed = bool(self.signed)
        n, p = int_range(bits, signed)
        s = self.scales[str(bits)]
        if self.lsq_grad_scale:
            s = grad_scale(s, 1.0 / math.sqrt(x[0].numel() * p))
        return round_ste((x / s).clamp(n, p), self.rule) * s

    @torch.no_grad()
    def calibrate(self, x: torch.Tensor, bits: int) -> None:
        if self.signed_mode == "auto" and not bool(self.initialized.any()):
            self.signed.fill_(bool((x < 0).any()))
        self.scales[str(bits)].fill_(lsq_init_scale(x, bits, bool(self.signed)))
        self.initialized[self.bits.index(bits)] = True
